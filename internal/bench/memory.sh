#!/usr/bin/env bash
# internal/bench/memory.sh: issue 16 point 6. Starts the contoso lab (one
# process, loopback, --port-offset), reads its resident set when idle, then
# holds 5,000 idle SMTP connections on EX01's Default Frontend (25) and,
# after closing them, 5,000 idle IMAP connections on EX01's IMAP4 front end
# (143), printing the lab's VmRSS before and after each. Not part of the
# test suite.
#
#   internal/bench/memory.sh
#   CONNS=2000 OFFSET=11700 internal/bench/memory.sh
set -euo pipefail

CONNS=${CONNS:-5000}
OFFSET=${OFFSET:-11700}
SETTLE=${SETTLE:-10}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/exsim-mem.XXXXXX)
LAB_PID=
cleanup() {
	if [ -n "$LAB_PID" ]; then kill "$LAB_PID" 2>/dev/null || true; wait "$LAB_PID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT

(cd "$ROOT" && go build -o "$WORK/exsim" ./cmd/exsim && go build -o "$WORK/idleconns" ./internal/bench/idleconns)
"$WORK/exsim" up --data "$WORK/lab" --port-offset "$OFFSET" --admin "127.0.0.1:$((OFFSET + 9925))" --log-level warn >"$WORK/lab.log" 2>&1 &
LAB_PID=$!
EX01=127.0.20.1
for port in $((OFFSET + 25)) $((OFFSET + 143)); do
	for _ in $(seq 600); do
		(exec 3<>"/dev/tcp/$EX01/$port") 2>/dev/null && break
		sleep 0.1
	done
done
sleep "$SETTLE" # let start-up garbage be collected
echo "idle lab: VmRSS $(awk '/^VmRSS/ { printf "%.1f MB", $2 / 1024 }' /proc/$LAB_PID/status)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) on $(nproc) CPUs"
"$WORK/idleconns" -pid "$LAB_PID" -addr "$EX01:$((OFFSET + 25))" -n "$CONNS"
sleep "$SETTLE"
"$WORK/idleconns" -pid "$LAB_PID" -addr "$EX01:$((OFFSET + 143))" -n "$CONNS"
