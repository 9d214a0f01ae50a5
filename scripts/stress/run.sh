#!/usr/bin/env bash
# `npm run test:stress`: the whole suite (`npm test`, arguments passed on) with CPU-burning processes
# beside it, to shake out tests that assume an idle machine (tight timers, fixed sleeps, races).
#
#   STRESS_BURNERS   number of busy-loop processes (default 2, one per core on the project's 2-core machine)
#   STRESS_NICE      their niceness (default 0: they compete with the suite on equal terms)
#
# The burners are always killed on exit (normal end, failure, Ctrl-C); the exit status is the suite's.
set -euo pipefail
cd "$(dirname "$0")/../.."

BURNERS="${STRESS_BURNERS:-2}"
NICE="${STRESS_NICE:-0}"
pids=()

stop_burners() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  pids=()
}
trap stop_burners EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for ((i = 0; i < BURNERS; i++)); do
  nice -n "$NICE" node -e 'for (;;) {}' &
  pids+=($!)
done
echo "stress: ${BURNERS} CPU burners (nice ${NICE}, pids ${pids[*]}) beside \`npm test $*\` on $(nproc) cores" >&2

started=$SECONDS
status=0
npm test -- "$@" || status=$?
echo "stress: suite exited ${status} after $((SECONDS - started)) s under load" >&2
exit "$status"
