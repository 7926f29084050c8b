# Sourced by Scripts/asan.sh and Scripts/tsan.sh, from the package root.
#
#   sanitized_tests SANITIZER OPTIONS_VARIABLE "OPTIONS" [swift test arguments...]
#
# Builds the package and its tests with --sanitize=SANITIZER into .build-SHORT (asan, tsan),
# then runs `swift test` with OPTIONS_VARIABLE set to OPTIONS plus a log_path under
# .build-SHORT/reports/, so every report goes to a file (some tests read a child's stderr).
# Prints each failed test and the summary line; the result is judged by the caller.
sanitized_tests() {
    local sanitizer="$1" variable="$2" options="$3"
    shift 3
    local short
    case "$sanitizer" in
    address) short=asan ;;
    thread) short=tsan ;;
    *) echo "unknown sanitizer $sanitizer" >&2; return 2 ;;
    esac
    reports=".build-$short/reports"
    swift build --build-tests --build-path ".build-$short" --sanitize="$sanitizer"
    rm -rf "$reports" && mkdir -p "$reports"
    env "$variable=$options log_path=$PWD/$reports/report" \
        swift test --skip-build --build-path ".build-$short" --sanitize="$sanitizer" "$@" 2>&1 \
        | grep -E '^✘|Test run with' | cut -c1-300 || true
}
