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

section "Test (swift test${*:+ $*})"
# A hung test fails the run with its output, rather than at the CI's own time limit without it.
# A full run takes 4-8 minutes; SPOOL_TEST_TIMEOUT changes the limit (a `timeout` duration).
limit="${SPOOL_TEST_TIMEOUT:-40m}"
status=0
timeout --kill-after=30s "$limit" swift test "$@" || status=$?
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "Scripts/test.sh: swift test ran longer than $limit and was stopped: a test hung (the tests above that started and never passed or failed)" >&2
fi
[ "$status" -eq 0 ] || exit "$status"

section "All tests passed"
