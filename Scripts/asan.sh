#!/usr/bin/env bash
# Runs the test suite under AddressSanitizer with leak detection, and sorts what it reports.
#
#   Scripts/asan.sh [swift test arguments...]      e.g. Scripts/asan.sh --filter TLS
#
# Builds with --sanitize=address into .build-asan (the tests' spool, spool-test-worker and
# spool-faults binaries too), runs `swift test` with every report written to
# .build-asan/reports/ (not to the tests' stderr, which some tests read), then prints:
#   - every memory error (use after free, overflow, ...): there must be none;
#   - every leak allocated under Spool's own code (Sources/SpoolRedis, Sources/Spool,
#     Sources/SpoolCLI), in full;
#   - a count of the other leaks: the test and fault-harness helpers, Foundation,
#     swift-argument-parser in a `spool` child exiting on a bad argument, and NIOSSL's
#     context that its init leaks when it throws (once per connection whose TLS setup
#     failed: docs/reliability.md, finding 11; TLSTests guards the "once").
# It exits 1 if there is a memory error or a leak under Spool's code. A leak report at a
# child's exit changes its exit status, so a test that checks a status can fail with leak
# detection on (docs/reliability.md, "AddressSanitizer"). Needs python3.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source Scripts/sanitized-tests.sh
sanitized_tests address ASAN_OPTIONS "detect_leaks=1" "$@"

python3 - "$reports" <<'EOF'
import glob, re, subprocess, sys

text = "".join(open(path, errors="replace").read() for path in glob.glob(sys.argv[1] + "/report*"))
if text:
    text = subprocess.run(["swift", "demangle", "--simplified"], input=text, capture_output=True, text=True, check=True).stdout
errors = re.findall(r"==\d+==ERROR: AddressSanitizer.*?SUMMARY[^\n]*", text, re.S)
leaks = re.findall(r"(?:Direct|Indirect) leak of .*?(?=\n\n|\Z)", text, re.S)
ours = re.compile(r"/Sources/(SpoolRedis|Spool|SpoolCLI)/")
# leaks of dependencies that Spool's code calls into, each understood: NIOSSL's failed init
# (bounded to one per connection, finding 11), and swift-argument-parser's parse, left at
# the exit of a `spool` child that refused its arguments
known = re.compile(r"NIOSSLContext\.init\(configuration:callbackManager:\)|ParsableCommand\.parseAsRoot")
spool_leaks = [leak for leak in leaks if ours.search(leak) and not known.search(leak)]
print(f"AddressSanitizer: {len(errors)} memory errors, {len(leaks)} leak records, "
      f"{len(spool_leaks)} of them under Spool's code")
for report in errors + spool_leaks:
    print(report, "\n")
sys.exit(1 if errors or spool_leaks else 0)
EOF
