#!/usr/bin/env bash
# A two-minute tour of Spool: a private Redis, a worker running a shell script as its exec
# handler, a few hundred jobs flowing through it, some retried, some dead-lettered.
#
#   Scripts/demo.sh [JOBS]        (default 300 jobs)
#
# Everything runs in a temp directory and is stopped on exit.
set -euo pipefail

JOBS="${1:-300}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [[ -x "$ROOT/Scripts/bootstrap.sh" ]]; then
    "$ROOT/Scripts/bootstrap.sh"
fi

echo "==> building spool and spool-exec (debug)"
build_log="$(mktemp /tmp/spool-demo-build.XXXXXX)"
if ! (cd "$ROOT" && swift build --product spool >"$build_log" 2>&1 && swift build --product spool-exec >>"$build_log" 2>&1); then
    cat "$build_log" >&2; rm -f "$build_log"; exit 1
fi
rm -f "$build_log"
SPOOL="$(cd "$ROOT" && swift build --show-bin-path)/spool"

WORK="$(mktemp -d /tmp/spool-demo-XXXXXX)"
WORKER_PID=""
cleanup() {
    local status=$?
    if [[ -n "$WORKER_PID" ]] && kill -0 "$WORKER_PID" 2>/dev/null; then
        kill -TERM "$WORKER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$WORKER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$WORKER_PID" 2>/dev/null || true
    fi
    (cd "$WORK" && "$SPOOL" redis stop >/dev/null 2>&1) || true
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
cd "$WORK"
unset SPOOL_REDIS_URL SPOOL_REDIS_PASSWORD SPOOL_PREFIX

# The handler: a plain script. Job ids end in a hex digit: ...0-...9 succeed, ...a-...d fail
# temporarily (exit 75, retried and then succeed on the next attempt or dead-lettered after 3),
# ...e fails for good (exit 65, straight to the dead letters), ...f fails every time (exit 75).
cat > handler.sh <<'HANDLER'
#!/usr/bin/env bash
payload="$(cat)"
case "${SPOOL_JOB_ID: -1}" in
    [0-9]) exit 0 ;;
    [a-d]) if [[ "$SPOOL_ATTEMPT" -ge 2 ]]; then exit 0; fi
           echo "flaky downstream (attempt $SPOOL_ATTEMPT)" >&2; exit 75 ;;
    e)     echo "cannot process $payload: bad input" >&2; exit 65 ;;
    f)     echo "downstream still down (attempt $SPOOL_ATTEMPT)" >&2; exit 75 ;;
esac
HANDLER
chmod +x handler.sh

echo "==> starting a private Redis in $WORK/.spool"
"$SPOOL" redis start >/dev/null

echo "==> starting a worker: exec handler ./handler.sh, 3 attempts, backoff from 100ms"
"$SPOOL" worker --queue demo --concurrency 8 --max-attempts 3 --backoff-base 100ms --backoff-max 400ms \
    --grace-period 5s --log-level warning --exec ./handler.sh 2>worker.log &
WORKER_PID=$!

echo "==> enqueueing $JOBS jobs"
for i in $(seq 1 "$JOBS"); do echo "{\"n\": $i}"; done | "$SPOOL" enqueue demo --type demo.job --lines 2>/dev/null >ids.txt
echo "    $(wc -l <ids.txt) job ids written to ids.txt"

# Progress straight from Redis (the private one listens on a unix socket).
SOCK="$WORK/.spool/redis.sock"
count() { redis-cli -s "$SOCK" "$@" 2>/dev/null || echo 0; }
deadline=$((SECONDS + 120))
while true; do
    done_count=$(count ZCARD "spool:{demo}:done:default")
    dead_count=$(count XLEN "spool:{demo}:dead:default")
    waiting=$(count ZCARD "spool:{demo}:sched:default")
    printf '    done %4s   waiting to retry %4s   dead-lettered %4s   (of %s)\n' \
        "$done_count" "$waiting" "$dead_count" "$JOBS"
    if (( done_count + dead_count >= JOBS )); then break; fi
    if (( SECONDS > deadline )); then echo "!! not settled within 120s; the worker's log:" >&2; cat worker.log >&2; exit 1; fi
    if ! kill -0 "$WORKER_PID" 2>/dev/null; then echo "!! the worker exited:" >&2; cat worker.log >&2; exit 1; fi
    sleep 0.5
done

echo "==> a dead letter (spool:{demo}:dead:default):"
redis-cli -s "$SOCK" XREVRANGE "spool:{demo}:dead:default" + - COUNT 1 | tail -n +2 | paste - - | grep -E '^(id|dead_reason|dead_error|dead_attempts)\b' | sed 's/^/    /' || true

if "$SPOOL" queues --help >/dev/null 2>&1; then
    echo "==> spool queues"
    "$SPOOL" queues 2>/dev/null || true
fi

echo "==> stopping the worker (SIGTERM: graceful)"
kill -TERM "$WORKER_PID"
wait "$WORKER_PID" || true
WORKER_PID=""
echo "==> stopping the private Redis"
"$SPOOL" redis stop
echo "==> done"
