#!/usr/bin/env bash
# Runs the test suite under ThreadSanitizer and sorts its reports.
#
#   Scripts/tsan.sh [swift test arguments...]      e.g. Scripts/tsan.sh --filter Worker
#
# Builds with --sanitize=thread into .build-tsan (the tests' spool, spool-test-worker and
# spool-faults binaries too, so their reports count), runs `swift test` with every report
# written to .build-tsan/reports/ (not to the tests' stderr, which some tests read), then
# sorts the reports by the pattern their two accesses match:
#   mutex         both accesses inside `withLock` of a Synchronization.Mutex;
#   continuation  one access is `UnsafeContinuation.resume` on a connection thread, the other
#                 the resumed task's own frame.
# On this toolchain (Swift 6.3, Linux) both patterns are reported for correct code. Two small
# programs in Scripts/tsan/ run first as controls: a Mutex shared by two threads, and a
# task's continuations resumed from a Thread. A pattern is set apart only while its control
# is reported too (docs/reliability.md, "ThreadSanitizer"). Every other report is printed
# in full, to be read against the code. Some are the same gap and match neither pattern: an
# object built under a Mutex's lock, then read after it was fetched from the guarded state.
#
# A test that times a slowed process can fail under TSan; the script shows the test result
# but judges only the reports, and always exits 0 once they are sorted. Needs python3.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mkdir -p .build-tsan
controls=()
for control in mutex continuation; do
    mode=()
    if [[ $control == continuation ]]; then mode=(-parse-as-library); fi
    swiftc -sanitize=thread -O "${mode[@]}" "Scripts/tsan/$control.swift" -o ".build-tsan/control-$control"
    count=$(TSAN_OPTIONS=exitcode=0 ".build-tsan/control-$control" 2>&1 | grep -c "WARNING: ThreadSanitizer" || true)
    echo "control $control: $count reports"
    if ((count > 0)); then controls+=("$control"); fi
done
source Scripts/sanitized-tests.sh
sanitized_tests thread TSAN_OPTIONS "exitcode=0 history_size=4" "$@"

python3 - "$reports" "${controls[@]}" <<'EOF'
import glob, re, subprocess, sys

text = "".join(open(path, errors="replace").read() for path in glob.glob(sys.argv[1] + "/report*"))
reports = re.findall(r"WARNING: ThreadSanitizer.*?SUMMARY[^\n]*", text, re.S)
if not reports:
    print("ThreadSanitizer: no reports")
    sys.exit(0)
demangled = subprocess.run(["swift", "demangle", "--simplified"], input="\x00".join(reports),
                           capture_output=True, text=True, check=True).stdout.split("\x00")
source_lines = {}

def line_at(path, number):
    if path not in source_lines:
        try:
            source_lines[path] = open(path).read().split("\n")
        except OSError:
            source_lines[path] = []
    lines = source_lines[path]
    return lines[number - 1] if 0 < number <= len(lines) else ""

def kind(stack):
    frames = re.findall(r"#(\d+) (.*)", stack)[:6]
    if any("Continuation.resume" in frame for _, frame in frames[:1]):
        return "resume"
    for _, frame in frames:
        found = re.search(r"(/\S+\.swift):(\d+)", frame)
        if found and "withLock" in line_at(found.group(1), int(found.group(2))):
            return "locked"
    return "other"

counts = {"mutex": 0, "continuation": 0, "other": 0}
others = []
excused = set(sys.argv[2:])  # the patterns whose control was reported
for report in demangled:
    accesses = re.findall(r"(?:Read|Write|access|read|write) [^\n]*\n((?:[ \t]+#\d[^\n]*\n)+)", report.split("Location is")[0])
    kinds = [kind(stack) for stack in accesses[:2]]
    if "resume" in kinds and "continuation" in excused:
        counts["continuation"] += 1
    elif kinds == ["locked", "locked"] and "mutex" in excused:
        counts["mutex"] += 1
    else:
        counts["other"] += 1
        others.append(report)
print(f"ThreadSanitizer: {len(demangled)} reports: {counts['mutex']} mutex, "
      f"{counts['continuation']} continuation, {counts['other']} other")
for report in others:
    print(report, "\n")
EOF
