#!/usr/bin/env bash
# Builds and tests Spool. Extra arguments go to `swift test`, e.g. Scripts/test.sh --filter Fixture
# The tests start their own redis-server processes; no Redis needs to be running.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

section() {
    printf '\n==> %s\n' "$*"
}

section "Bootstrap"
bash Scripts/bootstrap.sh

section "Build (swift build --build-tests)"
swift build --build-tests

# A hung test fails the run with its output, rather than at the CI's own time limit without it.
# A full run takes about 4 minutes here (7 in CI, building included); SPOOL_TEST_TIMEOUT changes
# the limit of each pass (a `timeout` duration). With arguments, one pass runs them.
limit="${SPOOL_TEST_TIMEOUT:-40m}"
run_tests() {
    local status=0
    timeout --kill-after=30s "$limit" swift test "$@" || status=$?
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
        echo "Scripts/test.sh: swift test ran longer than $limit and was stopped: a test hung (the tests above that started and never passed or failed)" >&2
    fi
    return "$status"
}

if [ "$#" -gt 0 ]; then
    section "Test (swift test $*)"
    run_tests "$@"
else
    # The fault scenarios time what they assert (recovery within its bound, an exit within the
    # grace period): they run in a pass of their own, after the rest, so that ~470 other tests
    # running beside them cannot hold a worker up past a bound (docs/reliability.md).
    section "Test (swift test --skip SpoolFaultsTests)"
    run_tests --skip SpoolFaultsTests
    section "Test: the fault scenarios (swift test --filter SpoolFaultsTests)"
    run_tests --filter SpoolFaultsTests
fi

section "All tests passed"
