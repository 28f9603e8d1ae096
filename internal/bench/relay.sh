#!/usr/bin/env bash
# internal/bench/relay.sh: issue 16's relay benchmark, one run. Builds exsim,
# starts the contoso lab (loopback, --port-offset), and drives with Postfix's
# smtp-source (20 sessions, 4 KB messages), one after another:
#   relay    client -> EX01:25 -> 2525 -> 475 -> store, timed until the last
#            DELIVER of the run in EX01's tracking log
#   sink     internal/bench/fsyncsink: go-smtp, one file + fsync per message
#   mailpit  Mailpit v1.33.1, one hop into SQLite
#   edge     client -> EDGE01:25 -> EX01 -> store (until the last DELIVER)
# each with a new connection per message and with connections reused (-d),
# and prints the rates and the ratios. Not part of the test suite.
#
#   internal/bench/relay.sh                 # N=3000 messages per measurement
#   N=1000 OFFSET=13100 internal/bench/relay.sh
#   EXSIM_SRC=/work/main internal/bench/relay.sh   # exsim built from another checkout (before/after)
#   EXSIM_CONFIG=ecdsa.yaml internal/bench/relay.sh # another contoso topology (e.g. certs: {key: ecdsa})
#
# Needs smtp-source (apt-get install -y --no-install-recommends postfix; the
# postfix daemon itself is not used and must not run) and Go. Mailpit is
# installed once into $BENCH_CACHE (default ~/.cache/exsim-bench).
set -euo pipefail

N=${N:-3000}
SESSIONS=${SESSIONS:-20}
LEN=${LEN:-4096}
OFFSET=${OFFSET:-13100}
BENCH_CACHE=${BENCH_CACHE:-$HOME/.cache/exsim-bench}
SMTP_SOURCE=${SMTP_SOURCE:-/usr/sbin/smtp-source}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EXSIM_SRC=${EXSIM_SRC:-$ROOT}

[ -x "$SMTP_SOURCE" ] || { echo "relay.sh: $SMTP_SOURCE missing: apt-get install -y --no-install-recommends postfix" >&2; exit 2; }
NAME=relay.sh
. "$ROOT/internal/bench/lib.sh"
bench_init exsim-bench

echo "building exsim and fsyncsink" >&2
(cd "$ROOT" && go build -o "$WORK/fsyncsink" ./internal/bench/fsyncsink)
if [ ! -x "$BENCH_CACHE/mailpit" ]; then
	echo "installing mailpit v1.33.1 into $BENCH_CACHE" >&2
	mkdir -p "$BENCH_CACHE"
	GOBIN="$BENCH_CACHE" go install github.com/axllent/mailpit@v1.33.1
fi

LAB="$WORK/lab"
start_lab "$LAB"
EX01=127.0.20.1 EDGE01=127.0.10.1
wait_port $EX01 $((OFFSET + 25))
wait_port $EX01 $((OFFSET + 475))
wait_port $EDGE01 $((OFFSET + 25))

SINK_PORT=$((OFFSET + 2600)) MAILPIT_PORT=$((OFFSET + 2601)) MAILPIT_HTTP=$((OFFSET + 2602))
"$WORK/fsyncsink" -listen "127.0.0.1:$SINK_PORT" -dir "$WORK/sink" 2>"$WORK/sink.log" &
PIDS+=($!)
"$BENCH_CACHE/mailpit" --smtp "127.0.0.1:$MAILPIT_PORT" --listen "127.0.0.1:$MAILPIT_HTTP" \
	--database "$WORK/mailpit.db" --smtp-disable-rdns --disable-version-check >"$WORK/mailpit.log" 2>&1 &
PIDS+=($!)
wait_port 127.0.0.1 $SINK_PORT
wait_port 127.0.0.1 $MAILPIT_PORT

# delivered: DELIVER events so far in EX01's tracking logs (the Mailbox
# Transport Delivery family, MSGTRKMD, holds them: reading only those
# keeps the polling's own CPU off the run).
delivered() {
	cat "$LAB"/EX01/TransportRoles/Logs/MessageTracking/MSGTRKMD*.log 2>/dev/null | grep -c ',DELIVER,' || true
}

now() { date +%s.%N; }

# measure NAME MODE HOST PORT WAIT: runs smtp-source (MODE "new" or
# "reused") and prints NAME MODE msg/s; WAIT=deliver times until EX01 has
# delivered all N.
measure() {
	local name=$1 mode=$2 host=$3 port=$4 wait=$5 flags=(-s "$SESSIONS" -l "$LEN" -m "$N")
	[ "$mode" = reused ] && flags+=(-d)
	local base t0 t1
	base=$(delivered)
	t0=$(now)
	"$SMTP_SOURCE" "${flags[@]}" -M client.fabrikam.com -f bench@fabrikam.com -t alice@contoso.com "$host:$port"
	if [ "$wait" = deliver ]; then
		local deadline=$(($(date +%s) + 600))
		while [ "$(delivered)" -lt $((base + N)) ]; do
			[ "$(date +%s)" -lt $deadline ] || { echo "relay.sh: $name $mode: only $(($(delivered) - base)) of $N delivered" >&2; exit 1; }
			sleep 0.01
		done
	fi
	t1=$(now)
	awk -v n="$N" -v a="$t0" -v b="$t1" -v name="$name" -v mode="$mode" 'BEGIN { printf "%s %s %.0f\n", name, mode, n / (b - a) }'
}

{
	for mode in new reused; do
		measure relay $mode $EX01 $((OFFSET + 25)) deliver
		measure sink $mode 127.0.0.1 $SINK_PORT accept
		measure mailpit $mode 127.0.0.1 $MAILPIT_PORT accept
		measure edge $mode $EDGE01 $((OFFSET + 25)) deliver
	done
} | tee "$WORK/rates" >&2

echo
echo "exsim from $EXSIM_SRC ($(git -C "$EXSIM_SRC" rev-parse --short HEAD 2>/dev/null || echo '?'))"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) on $(nproc) CPUs; N=$N, $SESSIONS sessions, $LEN-byte messages"
awk '{ r[$1 " " $2] = $3 }
END {
	printf "| connections | relay msg/s | fsync sink | Mailpit | edge msg/s | relay/sink | relay/Mailpit | edge/Mailpit |\n|---|---|---|---|---|---|---|---|\n"
	split("new reused", m, " ")
	for (i = 1; i <= 2; i++) {
		k = m[i]
		printf "| %s | %d | %d | %d | %d | %.2f | %.2f | %.2f |\n", k, r["relay " k], r["sink " k], r["mailpit " k], r["edge " k],
			r["relay " k] / r["sink " k], r["relay " k] / r["mailpit " k], r["edge " k] / r["mailpit " k]
	}
}' "$WORK/rates"
