#!/usr/bin/env bash
# Builds the benchmarks in release and runs `spool-bench all`: Spool's push, process, pickup
# latency and memory beside the raw Redis ceiling, against a private redis-server it starts.
# Arguments go to `spool-bench all`, e.g. Scripts/bench.sh --quick --json bench.json
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

for product in spool-bench spool spool-test-worker; do
    printf '==> swift build -c release --product %s\n' "$product"
    swift build -c release --product "$product" 2>&1 | grep -E "warning:|error:|Compiling|Build of" || true
    test "${PIPESTATUS[0]}" -eq 0
done

bin="$(swift build -c release --show-bin-path)"
revision="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! git diff --quiet HEAD 2>/dev/null; then revision="$revision+dirty"; fi

printf '\n==> spool-bench all %s\n' "$*"
exec "$bin/spool-bench" all --revision "$revision" "$@"
