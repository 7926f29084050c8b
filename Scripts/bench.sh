#!/usr/bin/env bash
# Builds the benchmarks in release and runs `spool-bench all`: Spool's push, process, pickup
# latency and memory beside the raw Redis ceiling, against a private redis-server it starts.
# Arguments go to `spool-bench all`, e.g. Scripts/bench.sh --quick --json bench.json, or
# Scripts/bench.sh --rounds 3 (each figure the median of three rounds, as the targets are).
# A first argument naming another mode runs that one instead, e.g.
# Scripts/bench.sh cluster --jobs 20000 (3 queues: one Redis vs a 3-master cluster), or tls, queue.
set -euo pipefail

mode=all
case "${1:-}" in
    cluster | tls | queue | redis | micro) mode="$1"; shift ;;
esac

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# spool-exec: the exec trampoline `spool worker` looks for beside itself (without it the exec
# measurement runs the slow fallback, the spool binary as trampoline)
for product in spool-bench spool spool-exec spool-test-worker; do
    printf '==> swift build -c release --product %s\n' "$product"
    # grep's "no match" must not hide a failed build: pipefail reports swift build's status
    swift build -c release --product "$product" 2>&1 | { grep -E "warning:|error:|Compiling|Build of" || true; }
done

bin="$(swift build -c release --show-bin-path)"
revision="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! git diff --quiet HEAD 2>/dev/null; then revision="$revision+dirty"; fi

printf '\n==> spool-bench %s %s\n' "$mode" "$*"
if [ "$mode" != all ]; then
    exec "$bin/spool-bench" "$mode" "$@"
fi
exec "$bin/spool-bench" all --revision "$revision" "$@"
