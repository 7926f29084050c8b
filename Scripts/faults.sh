#!/usr/bin/env bash
# The full fault-injection run: every scenario of `spool-faults list`, 3 seeds, 50k jobs
# (the lag scenario caps itself at 6k). Prints one Markdown table row per scenario and seed;
# exits non-zero if any run failed its criteria, or could not run here (partition-* need root:
# a network namespace and nftables; they print "not runnable here: <reason>"). One seed takes
# about 40 minutes on a 2-core machine. See docs/reliability.md.
#
#   Scripts/faults.sh                     # the full form
#   JOBS=5000 SEEDS=1 Scripts/faults.sh   # a reduced run
#   Scripts/faults.sh worker-kill poison  # selected scenarios
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS="${JOBS:-50000}"
SEEDS="${SEEDS:-1,2,3}"
swift build -c release --product spool-faults >&2
swift build -c release --product spool-test-worker >&2
scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then scenarios=(all); fi
exec .build/release/spool-faults run "${scenarios[@]}" --full --jobs "$JOBS" --seed "$SEEDS"
