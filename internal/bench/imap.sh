#!/usr/bin/env bash
# internal/bench/imap.sh: issue 16's IMAP benchmark, one run. Builds exsim and
# internal/bench/imapload, starts the contoso lab (loopback, --port-offset)
# and a private Dovecot (its own config in a temporary directory,
# passwd-file, implicit TLS; no system service), seeds alice's INBOX with the
# same N messages (IMAP APPEND into exsim; files written into a Dovecot
# Maildir and imported into an mdbox with doveadm: Dovecot's APPENDs fsync
# one by one), then runs the same load, one after another, against:
#   exsim-993        EX01's IMAP4 front end (993), which relays to the back
#                    end (1993) as Exchange's Client Access proxy does
#   exsim-1993       EX01's IMAP4 back end directly: the difference is the
#                    front end hop's cost
#   dovecot-maildir  Debian's dovecot-imapd on a Maildir
#   dovecot-mdbox    the same Dovecot on an mdbox
# and prints each run's table and a summary with the ratios. Not part of the
# test suite.
#
#   internal/bench/imap.sh                        # N=10000, 10 clients, 30 s each
#   N=2000 DURATION=10s OFFSET=14400 internal/bench/imap.sh
#   EXSIM_SRC=/tmp/base internal/bench/imap.sh    # exsim built from another tree (before/after)
#   ROUNDS=2 internal/bench/imap.sh               # the four runs twice, alternating
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
DOVEADM=${DOVEADM:-/usr/bin/doveadm}
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
# load's (mail_max_userip_connections is 10 by default). Two users with the
# same messages: alice@contoso.com in a Maildir (the format most Dovecot
# installations use), mdbox@contoso.com in an mdbox (Dovecot's own format,
# which its documentation recommends for speed).
DC="$WORK/dovecot"
DOVECOT_PORT=$((OFFSET + 3993))
mkdir -p "$DC/run" "$DC/home"
chown nobody:nogroup "$DC/home"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	-keyout "$DC/key.pem" -out "$DC/cert.pem" 2>/dev/null
{
	echo "alice@contoso.com:{PLAIN}P@ssw0rd:65534:65534::$DC/home/alice::userdb_mail=maildir:~/Maildir"
	echo "mdbox@contoso.com:{PLAIN}P@ssw0rd:65534:65534::$DC/home/mdbox::userdb_mail=mdbox:~/mdbox"
} >"$DC/passwd"
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
  driver = passwd-file
  args = $DC/passwd
}
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
DOVECOT_PID=$!
wait_port 127.0.0.1 $DOVECOT_PORT

load() { # load NAME ADDR [imapload flags...]
	local name=$1 addr=$2
	shift 2
	"$WORK/imapload" -name "$name" -addr "$addr" -tls -clients "$CLIENTS" -duration "$DURATION" -warmup "$WARMUP" ${MIX:+-mix "$MIX"} "$@"
}

echo "seeding $N messages into alice's INBOX on exsim and Dovecot" >&2
load exsim $EX01:$((OFFSET + 993)) -seed "$N" -duration 0
"$WORK/imapload" -seed "$N" -duration 0 -maildir "$DC/home/alice/Maildir"
chown -R nobody:nogroup "$DC/home"
"$DOVEADM" -c "$DC/dovecot.conf" import -u mdbox@contoso.com "maildir:$DC/home/alice/Maildir" "" all
load dovecot-maildir 127.0.0.1:$DOVECOT_PORT -seed "$N" -duration 0 # Dovecot indexes the Maildir
load dovecot-mdbox 127.0.0.1:$DOVECOT_PORT -user mdbox@contoso.com -seed "$N" -duration 0

# cpu_ticks PID: the CPU time, in clock ticks, of PID, of its children that
# ended (Dovecot's imap processes end with their connection) and of those
# alive. The machine's load changes how much CPU a server gets, not what a
# command costs it: commands per CPU second compare the servers under any
# load.
cpu_ticks() {
	local t c
	t=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$1/stat")
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$c/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}
LAB_PID=${PIDS[0]}

: >"$WORK/totals"
LOADS=()
for round in $(seq "$ROUNDS"); do
	for target in "exsim-993 $EX01:$((OFFSET + 993)) $LAB_PID" "exsim-1993 $EX01:$((OFFSET + 1993)) $LAB_PID" \
		"dovecot-maildir 127.0.0.1:$DOVECOT_PORT $DOVECOT_PID alice@contoso.com" \
		"dovecot-mdbox 127.0.0.1:$DOVECOT_PORT $DOVECOT_PID mdbox@contoso.com"; do
		set -- $target
		echo "round $round: $1" >&2
		c0=$(cpu_ticks "$3")
		load "$1" "$2" ${4:+-user "$4"} | tee "$WORK/out" >&2 || true # errors are counted in the summary
		c1=$(cpu_ticks "$3")
		total=$(grep '^total ' "$WORK/out" || echo "total $1 0 failed 0")
		echo "$total $((c1 - c0))" >>"$WORK/totals"
		LOADS+=("$(cut -d' ' -f1 /proc/loadavg)")
	done
done

echo
echo "exsim from $EXSIM_SRC ($(git -C "$EXSIM_SRC" rev-parse --short HEAD 2>/dev/null || echo '?')), Dovecot $("$DOVECOT" --version | cut -d' ' -f1)"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) on $(nproc) CPUs, 1-min load after each run: ${LOADS[*]}"
echo "N=$N messages, $CLIENTS clients, $DURATION after $WARMUP warm-up, mix ${MIX:-default}"
echo
# totals: total NAME CMD/S ERRORS COMMANDS(warm-up included) CPU-TICKS
awk -v hz="$(getconf CLK_TCK)" '{ if ($2 == "exsim-993") n++; r[n, $2] = $3; e[n] += $4; c[n, $2] = $6 > 0 ? $5 / ($6 / hz) : 0 }
END {
	h = "| round | exsim 993 | exsim 1993 | Dovecot Maildir | Dovecot mdbox | 993/Maildir | 993/mdbox | 993/1993 (front end hop) |"
	printf "commands per second\n\n%s errors |\n|---|---|---|---|---|---|---|---|---|\n", h
	for (i = 1; i <= n; i++) {
		a = r[i, "exsim-993"]; b = r[i, "exsim-1993"]; m = r[i, "dovecot-maildir"]; d = r[i, "dovecot-mdbox"]
		printf "| %d | %d | %d | %d | %d | %.2f | %.2f | %.2f | %s |\n", i, a, b, m, d, a / m, a / d, a / b, e[i]
	}
	printf "\ncommands per CPU second of the server (exsim: the lab process; Dovecot: all its processes)\n\n%s\n|---|---|---|---|---|---|---|---|\n", h
	for (i = 1; i <= n; i++) {
		a = c[i, "exsim-993"]; b = c[i, "exsim-1993"]; m = c[i, "dovecot-maildir"]; d = c[i, "dovecot-mdbox"]
		printf "| %d | %d | %d | %d | %d | %.2f | %.2f | %.2f |\n", i, a, b, m, d, a / m, a / d, a / b
	}
}' "$WORK/totals"
