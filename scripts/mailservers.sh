#!/usr/bin/env bash
# Real mail servers for carteiro's tests: Dovecot (IMAP, IMAPS, LMTP) and
# Postfix (SMTP), from Debian's packages, on loopback high ports, in a
# throwaway directory, without systemd.
#
#   scripts/mailservers.sh start            # (re)start both; prints READY
#   scripts/mailservers.sh stop             # stop both, wait for the ports to close
#   scripts/mailservers.sh status           # exit 0 iff every port answers
#   scripts/mailservers.sh restart-dovecot  # Dovecot alone (mail on disk is kept)
#   scripts/mailservers.sh stop-dovecot | start-dovecot
#   scripts/mailservers.sh stop-smtp | start-smtp   # Postfix alone (its queue is kept)
#
# Environment (defaults in brackets):
#   MAIL_ROOT        [/tmp/carteiro-mail]  everything lives here; `start` wipes it
#   MAIL_IMAP_PORT   [10143]  IMAP, plain text allowed, STARTTLS offered
#   MAIL_IMAPS_PORT  [10993]  IMAP over TLS
#   MAIL_SMTP_PORT   [10025]  Postfix SMTP (no auth; STARTTLS offered, not required)
#   MAIL_LMTP_PORT   [10024]  Dovecot LMTP (Postfix delivers here)
#   MAIL_SUBMISSION_PORT [10587]  Postfix submission: STARTTLS required, then AUTH
#                    (PLAIN or LOGIN, checked by Dovecot) required to send
#   MAIL_SMTPS_PORT  [10465]  Postfix SMTPS: TLS from the first byte, then AUTH required
#   MAIL_AUTH_PORT   [10026]  Dovecot's SASL service for Postfix (loopback only)
#   MAIL_FAST=1      Dovecot `mail_fsync = never` (for the benchmark) [Dovecot's default]
#   MAIL_OWNER_PID   when set, a detached watcher stops the servers once that
#                    process has exited (the Rust tests pass their own pid)
# Commands other than `start` use the ports recorded by the last `start` in
# MAIL_ROOT ($MAIL_ROOT/ports.env), else the environment, else the defaults.
#
# Conventions:
#   - Any user exists, with password `pw`: log in as `LOCAL` or `LOCAL@example.test`,
#     to IMAP and to SMTP submission/SMTPS alike.
#     Its Maildir is $MAIL_ROOT/vmail/LOCAL/Maildir (LOCAL lower-cased), created
#     on first delivery or login.
#   - SMTP accepts recipients @example.test only (others: 554 Relay access denied
#     at RCPT) and delivers them through Dovecot LMTP.
#   - Bounces: a local part starting with `nobody-` does not exist. SMTP accepts
#     the mail, Dovecot LMTP rejects it with 550 5.1.1, and Postfix sends a real
#     DSN (multipart/report, from MAILER-DAEMON, envelope sender <>) to the
#     sender, which lands in the sender's INBOX when the sender is @example.test.
#   - $MAIL_ROOT/cert.pem is the self-signed certificate of IMAPS, STARTTLS and
#     SMTP STARTTLS (CN and SAN localhost, SAN IP 127.0.0.1); trust it explicitly.
#   - Postfix retries deferred mail every second or so: a mail sent while
#     Dovecot is stopped arrives 1-2 s after `start-dovecot`.
#   - Stopping Dovecot ends its whole process session, like systemd would: open
#     IMAP sessions get `* BYE Server shutting down.` and are closed.
#   - `start` first stops whatever an earlier `start` left running in the same
#     MAIL_ROOT; it fails (exit 1) when another program holds one of the ports.
#     A failed start stops what it started and prints the logs.
#   - Logs: $MAIL_ROOT/dovecot.log, $MAIL_ROOT/postfix.log, $MAIL_ROOT/daemons.out
#     (the daemons' own stdout and stderr), $MAIL_ROOT/watcher.log.
#   - Exit codes: 0 done, 1 failed (or `status`: something is down), 2 usage.
#
# Needs root (Postfix starts as root; Dovecot switches to the `mail` user).
# When dovecot-imapd, dovecot-lmtpd, dovecot-sieve, postfix, isync or openssl
# are missing it
# installs them with apt-get as root, otherwise it prints the exact command and
# exits 1. It never prompts, and works with CI=true and no stdin.
set -euo pipefail

SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
ROOT=${MAIL_ROOT:-/tmp/carteiro-mail}
DOMAIN=example.test
PACKAGES=(dovecot-imapd dovecot-lmtpd dovecot-sieve postfix isync openssl)

say() { echo "mailservers.sh: $*" >&2; }

# ---------------------------------------------------------------- ports

# resolve_ports start|recorded: sets IMAP_PORT IMAPS_PORT SMTP_PORT LMTP_PORT
# SUBMISSION_PORT SMTPS_PORT AUTH_PORT.
resolve_ports() {
    local rec_imap='' rec_imaps='' rec_smtp='' rec_lmtp='' rec_sub='' rec_smtps='' rec_auth='' key value
    if [[ $1 == recorded && -f $ROOT/ports.env ]]; then
        while IFS='=' read -r key value; do
            case $key in
                MAIL_IMAP_PORT) rec_imap=$value ;;
                MAIL_IMAPS_PORT) rec_imaps=$value ;;
                MAIL_SMTP_PORT) rec_smtp=$value ;;
                MAIL_LMTP_PORT) rec_lmtp=$value ;;
                MAIL_SUBMISSION_PORT) rec_sub=$value ;;
                MAIL_SMTPS_PORT) rec_smtps=$value ;;
                MAIL_AUTH_PORT) rec_auth=$value ;;
            esac
        done <"$ROOT/ports.env"
    fi
    IMAP_PORT=${rec_imap:-${MAIL_IMAP_PORT:-10143}}
    IMAPS_PORT=${rec_imaps:-${MAIL_IMAPS_PORT:-10993}}
    SMTP_PORT=${rec_smtp:-${MAIL_SMTP_PORT:-10025}}
    LMTP_PORT=${rec_lmtp:-${MAIL_LMTP_PORT:-10024}}
    SUBMISSION_PORT=${rec_sub:-${MAIL_SUBMISSION_PORT:-10587}}
    SMTPS_PORT=${rec_smtps:-${MAIL_SMTPS_PORT:-10465}}
    AUTH_PORT=${rec_auth:-${MAIL_AUTH_PORT:-10026}}
    local port
    for port in "$IMAP_PORT" "$IMAPS_PORT" "$SMTP_PORT" "$LMTP_PORT" "$SUBMISSION_PORT" "$SMTPS_PORT" "$AUTH_PORT"; do
        if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
            say "invalid port: '$port'"
            exit 2
        fi
    done
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_ports open|closed PORT...: up to 10 s.
wait_ports() {
    local want=$1 port i
    shift
    for port in "$@"; do
        for ((i = 0; i < 100; i++)); do
            if port_open "$port"; then
                [[ $want == open ]] && break
            else
                [[ $want == closed ]] && break
            fi
            sleep 0.1
        done
        if ((i == 100)); then
            say "port $port is still not $want after 10 s"
            return 1
        fi
    done
}

# ---------------------------------------------------------------- processes

# pid_of FILE EXE: the pid in FILE when that process is alive and runs EXE
# (so a stale pid file never makes us signal an unrelated process).
pid_of() {
    local file=$1 exe=$2 pid
    [[ -f $file ]] || return 1
    pid=$(tr -dc '0-9' <"$file")
    [[ -n $pid ]] || return 1
    [[ $(readlink "/proc/$pid/exe" 2>/dev/null) == "$exe" ]] || return 1
    echo "$pid"
}

# alive PID: the process exists and is not a zombie (PID 1 in some
# containers reaps late, and `kill -0` succeeds on a zombie).
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

# wait_gone PID: up to 10 s, then SIGKILL.
wait_gone() {
    local pid=$1 i
    for ((i = 0; i < 100; i++)); do
        alive "$pid" || return 0
        sleep 0.1
    done
    say "pid $pid ignored SIGTERM for 10 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
}

# kill_session SID: ends what is left of session SID, a Dovecot or Postfix
# master's (both call setsid). Without systemd's cgroups, Dovecot's imap
# processes outlive their master and would keep serving their clients.
kill_session() {
    local sid=$1 file line pid state session pids=()
    for file in /proc/[0-9]*/stat; do
        { read -r line <"$file"; } 2>/dev/null || continue # gone meanwhile
        pid=${line%% *}
        read -r state _ _ session _ <<<"${line##*) }"
        [[ $session == "$sid" && $state != Z && $pid != "$sid" ]] || continue
        case $(readlink "/proc/$pid/exe" 2>/dev/null) in
            /usr/sbin/dovecot | /usr/lib/dovecot/* | /usr/lib/postfix/*) pids+=("$pid") ;;
        esac
    done
    ((${#pids[@]} > 0)) || return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for pid in "${pids[@]}"; do
        wait_gone "$pid"
    done
}

dovecot_pid() { pid_of "$ROOT/dovecot-run/master.pid" "$(command -v dovecot || echo /usr/sbin/dovecot)"; }
postfix_pid() { pid_of "$ROOT/postfix-spool/pid/master.pid" /usr/lib/postfix/sbin/master; }

# The port waits only follow a stop: when this root runs nothing, its
# recorded ports may well belong to someone else by now.
stop_dovecot() {
    local pid
    if pid=$(dovecot_pid); then
        kill -TERM "$pid" 2>/dev/null || true
        wait_gone "$pid"
        kill_session "$pid"
        wait_ports closed "$IMAP_PORT" "$IMAPS_PORT" "$LMTP_PORT" "$AUTH_PORT"
    fi
}

stop_postfix() {
    local pid
    if pid=$(postfix_pid); then
        postfix -c "$ROOT/postfix-conf" stop </dev/null >>"$ROOT/daemons.out" 2>&1 ||
            kill -TERM "$pid" 2>/dev/null || true
        wait_gone "$pid"
        kill_session "$pid"
        wait_ports closed "$SMTP_PORT" "$SUBMISSION_PORT" "$SMTPS_PORT"
    fi
}

stop_watcher() {
    local pid
    [[ -f $ROOT/watcher.pid ]] || return 0
    pid=$(tr -dc '0-9' <"$ROOT/watcher.pid")
    rm -f "$ROOT/watcher.pid"
    [[ -n $pid && $pid != "$$" ]] || return 0
    # Only our own watcher: its command line names this script and `__watch`.
    if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "mailservers.sh __watch"; then
        kill -TERM "$pid" 2>/dev/null || true
    fi
}

stop_all() {
    [[ -d $ROOT ]] || return 0
    stop_watcher
    stop_dovecot
    stop_postfix
}

print_logs() {
    local log
    for log in "$ROOT/dovecot.log" "$ROOT/postfix.log" "$ROOT/daemons.out"; do
        [[ -s $log ]] || continue
        echo "----- $log (last 60 lines)" >&2
        tail -n 60 "$log" >&2
    done
}

# fail MESSAGE: says why, shows the logs, and (during `start`) stops what
# was started, so a failed start leaves no daemons behind.
fail() {
    say "$*"
    print_logs
    if [[ ${STARTING:-no} == yes ]]; then
        STARTING=no
        stop_all >/dev/null 2>&1 || true
    fi
    exit 1
}

# ---------------------------------------------------------------- packages

# missing_packages: sets MISSING (Debian packages to install) and
# REQUIRED_MISSING (yes when the servers cannot run without them).
missing_packages() {
    MISSING=()
    REQUIRED_MISSING=no
    if ! command -v dovecot >/dev/null 2>&1 || [[ ! -x /usr/lib/dovecot/imap ]]; then
        MISSING+=(dovecot-imapd)
        REQUIRED_MISSING=yes
    fi
    if [[ ! -x /usr/lib/dovecot/lmtp ]]; then
        MISSING+=(dovecot-lmtpd)
        REQUIRED_MISSING=yes
    fi
    # Pigeonhole's sieve plugin runs a real vacation auto-responder for the
    # outbound ping-pong test (a ~/.dovecot.sieve in a user's home).
    if [[ ! -e /usr/lib/dovecot/modules/lib90_sieve_plugin.so ]]; then
        MISSING+=(dovecot-sieve)
        REQUIRED_MISSING=yes
    fi
    if ! command -v postfix >/dev/null 2>&1; then
        MISSING+=(postfix)
        REQUIRED_MISSING=yes
    fi
    if ! command -v openssl >/dev/null 2>&1; then
        MISSING+=(openssl)
        REQUIRED_MISSING=yes
    fi
    command -v mbsync >/dev/null 2>&1 || MISSING+=(isync)
}

ensure_packages() {
    missing_packages
    ((${#MISSING[@]} == 0)) && return 0

    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        # Test binaries start servers in parallel: one installs, the others
        # wait for it and find everything there.
        exec 9>/var/lock/carteiro-mailservers-install.lock
        flock 9
        missing_packages
        if ((${#MISSING[@]} > 0)); then
            say "installing ${PACKAGES[*]} (missing: ${MISSING[*]})"
            # Postfix asks how to configure itself; we configure it ourselves.
            echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
            export DEBIAN_FRONTEND=noninteractive
            apt-get -o DPkg::Lock::Timeout=300 update -q </dev/null >&2
            apt-get -o DPkg::Lock::Timeout=300 install -q -y --no-install-recommends "${PACKAGES[@]}" </dev/null >&2
        fi
        exec 9>&-
        return 0
    fi
    if [[ $REQUIRED_MISSING == yes ]]; then
        say "missing Debian packages: ${MISSING[*]}. Install them with:"
        echo "    sudo sh -c 'echo \"postfix postfix/main_mailer_type select No configuration\" | debconf-set-selections && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${PACKAGES[*]}'" >&2
        exit 1
    fi
    say "warning: isync (mbsync, for the benchmark) is missing; install it with: sudo apt-get install --no-install-recommends isync"
}

# ---------------------------------------------------------------- configuration

write_config() {
    local mail_uid mail_gid
    mail_uid=$(id -u mail)
    mail_gid=$(id -g mail)

    mkdir -p "$ROOT"/{vmail,postfix-conf,postfix-spool,postfix-data}
    chown mail:mail "$ROOT/vmail"
    chown postfix:postfix "$ROOT/postfix-data"
    cat >"$ROOT/ports.env" <<EOF
MAIL_IMAP_PORT=$IMAP_PORT
MAIL_IMAPS_PORT=$IMAPS_PORT
MAIL_SMTP_PORT=$SMTP_PORT
MAIL_LMTP_PORT=$LMTP_PORT
MAIL_SUBMISSION_PORT=$SUBMISSION_PORT
MAIL_SMTPS_PORT=$SMTPS_PORT
MAIL_AUTH_PORT=$AUTH_PORT
EOF

    # A self-signed leaf certificate (CA:FALSE, so rustls accepts it as its
    # own trust anchor).
    cat >"$ROOT/cert.cnf" <<EOF
[req]
distinguished_name = dn
x509_extensions = ext
prompt = no
[dn]
CN = localhost
[ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
EOF
    openssl req -x509 -config "$ROOT/cert.cnf" -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -nodes -days 30 -keyout "$ROOT/key.pem" -out "$ROOT/cert.pem" </dev/null >"$ROOT/openssl.out" 2>&1 ||
        fail "openssl could not make the certificate"
    chmod 644 "$ROOT/cert.pem"
    chmod 600 "$ROOT/key.pem"

    # Users whose name starts with `nobody-` do not exist: this passdb finds
    # them by their first 7 characters and denies them, which also makes the
    # static userdb (which asks the passdb whether a user exists) report them
    # unknown to LMTP.
    echo 'nobody-:::::::' >"$ROOT/denied-users"

    local fsync=''
    [[ ${MAIL_FAST:-0} == 1 ]] && fsync='mail_fsync = never'

    cat >"$ROOT/dovecot.conf" <<EOF
protocols = imap lmtp
listen = 127.0.0.1
base_dir = $ROOT/dovecot-run
state_dir = $ROOT/dovecot-state
log_path = $ROOT/dovecot.log
info_log_path = $ROOT/dovecot.log
ssl = yes
ssl_cert = <$ROOT/cert.pem
ssl_key = <$ROOT/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = $mail_uid
mail_uid = $mail_uid
mail_gid = $mail_gid
mail_location = maildir:~/Maildir
mail_max_userip_connections = 1000
postmaster_address = postmaster@$DOMAIN
hostname = mail.$DOMAIN
$fsync
passdb {
  driver = passwd-file
  deny = yes
  args = username_format=%7n $ROOT/denied-users
}
passdb {
  driver = static
  args = password=pw
}
userdb {
  driver = static
  args = uid=$mail_uid gid=$mail_gid home=$ROOT/vmail/%n
}
service imap-login {
  inet_listener imap {
    port = $IMAP_PORT
  }
  inet_listener imaps {
    port = $IMAPS_PORT
    ssl = yes
  }
}
# A user with a ~/.dovecot.sieve script gets it run at delivery (the
# outbound tests give one a vacation auto-responder). Vacation replies are
# submitted to our Postfix, like a real responder's.
protocol lmtp {
  mail_plugins = \$mail_plugins sieve
}
plugin {
  sieve = file:~/sieve;active=~/.dovecot.sieve
  sieve_vacation_min_period = 0
}
submission_host = 127.0.0.1:$SMTP_PORT
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
# Postfix asks this one whether a submission client's AUTH is right.
service auth {
  inet_listener {
    address = 127.0.0.1
    port = $AUTH_PORT
  }
}
EOF

    cat >"$ROOT/postfix-conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $ROOT/postfix-spool
data_directory = $ROOT/postfix-data
maillog_file_prefixes = /var, /dev/stdout, $ROOT
maillog_file = $ROOT/postfix.log
myhostname = mail.$DOMAIN
mydomain = $DOMAIN
myorigin = $DOMAIN
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = $DOMAIN
relay_recipient_maps =
relay_transport = lmtp:inet:127.0.0.1:$LMTP_PORT
local_transport = error:5.1.1 no local delivery here
default_transport = error:5.7.1 only $DOMAIN is delivered here
smtpd_relay_restrictions = reject_unauth_destination
alias_maps =
alias_database =
biff = no
smtpd_banner = \$myhostname ESMTP
smtpd_tls_cert_file = $ROOT/cert.pem
smtpd_tls_key_file = $ROOT/key.pem
smtpd_tls_security_level = may
message_size_limit = 52428800
in_flow_delay = 0
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
EOF
    cat >"$ROOT/postfix-conf/master.cf" <<EOF
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
127.0.0.1:$SUBMISSION_PORT inet n - n - - smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_type=dovecot
  -o smtpd_sasl_path=inet:127.0.0.1:$AUTH_PORT
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
127.0.0.1:$SMTPS_PORT inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_type=dovecot
  -o smtpd_sasl_path=inet:127.0.0.1:$AUTH_PORT
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
lmtp      unix  - - n -  - lmtp
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
}

# ---------------------------------------------------------------- starting

# on_the_real_clock COMMAND...: runs COMMAND without libfaketime. The test
# suite's dated runs move the clock of the tests and of carteiro with
# faketime (scripts/test.sh); the mail servers stand for other machines and
# keep the real one. Dovecot's master also clears its children's
# environment, so under faketime it would see time jump back and stall for
# minutes ("Time moved backwards"). The certificate is still made on the
# moved clock, which is the one that checks it.
on_the_real_clock() {
    env -u LD_PRELOAD -u FAKETIME -u FAKETIME_SHARED -u FAKETIME_DONT_FAKE_MONOTONIC "$@"
}

start_dovecot() {
    if dovecot_pid >/dev/null; then
        say "Dovecot is already running for $ROOT"
    else
        # Detached stdio: a daemon holding the caller's pipe hangs `… | tee`.
        on_the_real_clock dovecot -c "$ROOT/dovecot.conf" </dev/null >>"$ROOT/daemons.out" 2>&1 ||
            fail "dovecot did not start"
    fi
    wait_ports open "$IMAP_PORT" "$IMAPS_PORT" "$LMTP_PORT" "$AUTH_PORT" || fail "Dovecot is not listening"
}

start_postfix() {
    if postfix_pid >/dev/null; then
        say "Postfix is already running for $ROOT"
    else
        on_the_real_clock postfix -c "$ROOT/postfix-conf" start </dev/null >>"$ROOT/daemons.out" 2>&1 ||
            fail "postfix did not start"
    fi
    wait_ports open "$SMTP_PORT" "$SUBMISSION_PORT" "$SMTPS_PORT" || fail "Postfix is not listening"
}

# A watcher that stops the servers when MAIL_OWNER_PID has exited. It runs
# in its own session with detached stdio, so it neither holds the caller's
# pipes nor dies with the caller's process group.
start_watcher() {
    local owner=${MAIL_OWNER_PID:-}
    [[ -n $owner ]] || return 0
    [[ $owner =~ ^[0-9]+$ ]] || fail "MAIL_OWNER_PID is not a pid: '$owner'"
    MAIL_ROOT=$ROOT setsid bash "$SELF" __watch "$owner" </dev/null >>"$ROOT/watcher.log" 2>&1 &
}

watch() {
    local owner=$1
    echo "$$" >"$ROOT/watcher.pid"
    trap 'exit 0' TERM
    while alive "$owner"; do
        sleep 0.5
    done
    echo "owner $owner exited at $(date -Is); stopping the servers"
    rm -f "$ROOT/watcher.pid"
    resolve_ports recorded
    stop_all
}

start() {
    ensure_packages
    [[ $(id -u) -eq 0 ]] || {
        say "starting Postfix and Dovecot this way needs root (uid 0); run the tests as root, e.g. in the CI container"
        exit 1
    }
    # Leftovers from an earlier start in the same MAIL_ROOT, on whatever
    # ports it recorded.
    if [[ -d $ROOT ]]; then
        resolve_ports recorded
        stop_all
    fi
    resolve_ports start
    local port
    for port in "$IMAP_PORT" "$IMAPS_PORT" "$SMTP_PORT" "$LMTP_PORT" "$SUBMISSION_PORT" "$SMTPS_PORT" "$AUTH_PORT"; do
        if port_open "$port"; then
            say "port $port on 127.0.0.1 is already in use by another program; choose other ports with MAIL_IMAP_PORT, MAIL_IMAPS_PORT, MAIL_SMTP_PORT, MAIL_LMTP_PORT, MAIL_SUBMISSION_PORT, MAIL_SMTPS_PORT, MAIL_AUTH_PORT"
            exit 1
        fi
    done
    rm -rf "$ROOT"
    mkdir -p "$ROOT"
    STARTING=yes
    write_config
    postfix -c "$ROOT/postfix-conf" check </dev/null >>"$ROOT/daemons.out" 2>&1 || fail "postfix check failed"
    start_dovecot
    start_postfix
    start_watcher
    echo "root=$ROOT imap=$IMAP_PORT imaps=$IMAPS_PORT smtp=$SMTP_PORT lmtp=$LMTP_PORT submission=$SUBMISSION_PORT smtps=$SMTPS_PORT auth=$AUTH_PORT cert=$ROOT/cert.pem"
    echo READY
}

status() {
    local port rc=0 name
    for name in IMAP IMAPS SMTP LMTP SUBMISSION SMTPS AUTH; do
        port=${name}_PORT
        port=${!port}
        if port_open "$port"; then
            echo "$name 127.0.0.1:$port up"
        else
            echo "$name 127.0.0.1:$port down"
            rc=1
        fi
    done
    return "$rc"
}

# ---------------------------------------------------------------- main

# started_here: the servers of MAIL_ROOT were configured by `start`.
started_here() {
    [[ -f $ROOT/dovecot.conf && -f $ROOT/postfix-conf/main.cf ]] || {
        say "no servers were started in $ROOT; run \`MAIL_ROOT=$ROOT $SELF start\` first"
        exit 1
    }
}

command=${1:-start}
case $command in
    start) start ;;
    stop)
        resolve_ports recorded
        stop_all
        echo STOPPED
        ;;
    status)
        resolve_ports recorded
        status
        ;;
    restart-dovecot)
        started_here
        resolve_ports recorded
        stop_dovecot
        start_dovecot
        echo READY
        ;;
    stop-dovecot)
        resolve_ports recorded
        stop_dovecot
        echo STOPPED
        ;;
    start-dovecot)
        started_here
        resolve_ports recorded
        start_dovecot
        echo READY
        ;;
    stop-smtp)
        resolve_ports recorded
        stop_postfix
        echo STOPPED
        ;;
    start-smtp)
        started_here
        resolve_ports recorded
        start_postfix
        echo READY
        ;;
    __watch) watch "${2:?owner pid}" ;;
    *)
        say "unknown command '$command'; use start, stop, status, restart-dovecot, stop-dovecot, start-dovecot, stop-smtp or start-smtp"
        exit 2
        ;;
esac
