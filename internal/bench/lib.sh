# internal/bench/lib.sh: what the benchmark scripts share; sourced, not run.
# The caller sets NAME (its name in messages), OFFSET and EXSIM_SRC.

# bench_init PREFIX: a temporary directory WORK, and PIDS, where callers
# add the processes they start: those are killed and the directory removed
# on exit.
bench_init() {
	WORK=$(mktemp -d "/tmp/$1.XXXXXX")
	PIDS=()
	trap bench_cleanup EXIT
}

bench_cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}

# wait_port HOST PORT: until something accepts there (60 s).
wait_port() {
	for _ in $(seq 600); do
		if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "$NAME: nothing listens on $1:$2" >&2
	exit 1
}

# start_lab DIR: builds exsim from EXSIM_SRC into WORK and starts the
# contoso lab on loopback at OFFSET with its data in DIR; with EXSIM_CONFIG,
# that topology instead (the contoso addresses and names, other settings:
# for example `certs: {key: ecdsa}` to weigh the TLS persona's RSA).
start_lab() {
	(cd "$EXSIM_SRC" && go build -o "$WORK/exsim" ./cmd/exsim)
	"$WORK/exsim" up ${EXSIM_CONFIG:+--config "$EXSIM_CONFIG"} --data "$1" --port-offset "$OFFSET" --admin "127.0.0.1:$((OFFSET + 9925))" --log-level warn >"$WORK/lab.log" 2>&1 &
	PIDS+=($!)
}
