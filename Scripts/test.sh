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
swift test "$@"

section "All tests passed"
