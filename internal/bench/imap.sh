#!/usr/bin/env bash
# internal/bench/imap.sh: issue 16's IMAP benchmark, one run. Builds exsim and
# internal/bench/imapload, starts the contoso lab (loopback, --port-offset)
# and a private Dovecot (its own config in a temporary directory, Maildir,
# passwd-file, implicit TLS; no system service), seeds alice's INBOX on both
# with the same N messages (IMAP APPEND into exsim, files written into
# Dovecot's Maildir: its APPENDs fsync one by one), then runs the same load, one after
# another, against:
#   exsim-993   EX01's IMAP4 front end (993), which relays to the back end
#               (1993) as Exchange's Client Access proxy does
#   exsim-1993  EX01's IMAP4 back end directly: the difference is the
#               front end hop's cost
#   dovecot     Dovecot, Debian's dovecot-imapd
# and prints each run's table and a summary with the ratios. Not part of the
# test suite.
#
#   internal/bench/imap.sh                        # N=10000, 10 clients, 30 s each
#   N=2000 DURATION=10s OFFSET=14400 internal/bench/imap.sh
#   EXSIM_SRC=/work/main internal/bench/imap.sh   # exsim built from another checkout (before/after)
#   ROUNDS=2 internal/bench/imap.sh               # the three runs twice, alternating
#
# Needs dovecot-imapd (apt-get install -y --no-install-recommends
# dovecot-imapd; the system's dovecot service is not used), openssl and Go.
# Runs as root (Dovecot drops to nobody for the mail and to its own users
# for logins and auth).
set -euo pipefail

N=${N:-10000}
CLIENTS=${CLIENTS:-10}
DURATION=${DURATION:-30s}
WARMUP=${WARMUP:-5s}
ROUNDS=${ROUNDS:-1}
OFFSET=${OFFSET:-14400}
MIX=${MIX:-}
DOVECOT=${DOVECOT:-/usr/sbin/dovecot}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EXSIM_SRC=${EXSIM_SRC:-$ROOT}

[ -x "$DOVECOT" ] || { echo "imap.sh: $DOVECOT missing: apt-get install -y --no-install-recommends dovecot-imapd" >&2; exit 2; }
command -v openssl >/dev/null || { echo "imap.sh: openssl missing: apt-get install -y openssl" >&2; exit 2; }
NAME=imap.sh
. "$ROOT/internal/bench/lib.sh"
bench_init exsim-imap
chmod 755 "$WORK" # Dovecot's auth and mail processes do not run as root

echo "building exsim and imapload" >&2
(cd "$ROOT" && go build -o "$WORK/imapload" ./internal/bench/imapload)
start_lab "$WORK/lab"
EX01=127.0.20.1
wait_port $EX01 $((OFFSET + 993))
wait_port $EX01 $((OFFSET + 1993))

# A private Dovecot: Debian's defaults except what running it unprivileged
# in a temporary directory needs, and a per-user connection limit above the
# load's (mail_max_userip_connections is 10 by default).
DC="$WORK/dovecot"
DOVECOT_PORT=$((OFFSET + 3993))
mkdir -p "$DC/run" "$DC/home"
chown nobody:nogroup "$DC/home"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	-keyout "$DC/key.pem" -out "$DC/cert.pem" 2>/dev/null
echo 'alice@contoso.com:{PLAIN}P@ssw0rd' >"$DC/passwd"
chmod 644 "$DC/passwd" "$DC/key.pem"
cat >"$DC/dovecot.conf" <<EOF
base_dir = $DC/run
state_dir = $DC/run
log_path = $DC/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <$DC/cert.pem
ssl_key = <$DC/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {
  driver = passwd-file
  args = $DC/passwd
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$DC/home/%u
}
mail_location = maildir:~/Maildir
first_valid_uid = 1
mail_max_userip_connections = 100
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    port = $DOVECOT_PORT
    ssl = yes
  }
}
EOF
"$DOVECOT" -F -c "$DC/dovecot.conf" >"$DC/stdout.log" 2>&1 &
PIDS+=($!)
wait_port 127.0.0.1 $DOVECOT_PORT

load() { # load NAME ADDR [imapload flags...]
	local name=$1 addr=$2
	shift 2
	"$WORK/imapload" -name "$name" -addr "$addr" -tls -clients "$CLIENTS" -duration "$DURATION" -warmup "$WARMUP" ${MIX:+-mix "$MIX"} "$@"
}

echo "seeding $N messages into alice's INBOX on exsim and Dovecot" >&2
load exsim $EX01:$((OFFSET + 993)) -seed "$N" -duration 0
"$WORK/imapload" -seed "$N" -duration 0 -maildir "$DC/home/alice@contoso.com/Maildir"
chown -R nobody:nogroup "$DC/home"
load dovecot 127.0.0.1:$DOVECOT_PORT -seed "$N" -duration 0 # Dovecot indexes the Maildir

: >"$WORK/totals"
LOADS=()
for round in $(seq "$ROUNDS"); do
	for target in "exsim-993 $EX01:$((OFFSET + 993))" "exsim-1993 $EX01:$((OFFSET + 1993))" "dovecot 127.0.0.1:$DOVECOT_PORT"; do
		set -- $target
		echo "round $round: $1" >&2
		load "$1" "$2" | tee "$WORK/out" >&2 || true # errors are counted in the summary
		grep '^total ' "$WORK/out" >>"$WORK/totals" || echo "total $1 0 failed" >>"$WORK/totals"
		LOADS+=("$(cut -d' ' -f1 /proc/loadavg)")
	done
done

echo
echo "exsim from $EXSIM_SRC ($(git -C "$EXSIM_SRC" rev-parse --short HEAD 2>/dev/null || echo '?')), $("$DOVECOT" --version | cut -d' ' -f1) as dovecot"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) on $(nproc) CPUs, 1-min load after each run: ${LOADS[*]}"
echo "N=$N messages, $CLIENTS clients, $DURATION after $WARMUP warm-up, mix ${MIX:-default}"
echo
awk '{ r[NR] = $3; n[NR] = $2; e[NR] = $4 }
END {
	printf "| round | exsim 993 cmd/s | exsim 1993 cmd/s | Dovecot cmd/s | 993/Dovecot | 1993/Dovecot | 993/1993 (front end hop) | errors |\n|---|---|---|---|---|---|---|---|\n"
	for (i = 1; i + 2 <= NR; i += 3) {
		printf "| %d | %d | %d | %d | %.2f | %.2f | %.2f | %d |\n", (i + 2) / 3, r[i], r[i + 1], r[i + 2],
			r[i] / r[i + 2], r[i + 1] / r[i + 2], r[i] / r[i + 1], e[i] + e[i + 1] + e[i + 2]
	}
}' "$WORK/totals"
