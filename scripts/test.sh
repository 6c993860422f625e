#!/usr/bin/env bash
# The one test command: makes sure what the tests need is installed, then
# runs every test. Works on a fresh Debian machine with the Rust toolchain
# (cargo) on PATH; as root it installs missing Debian packages itself,
# otherwise it names them and stops.
#
#   scripts/test.sh              # everything
#   scripts/test.sh --test it cli::   # only what `cargo test --locked ARGS` selects
#
# It needs no stdin and behaves the same with CI=true.
set -euo pipefail

# CI builds once from clean: incremental state would only cost disk.
if [[ ${CI:-} == true ]]; then
    export CARGO_INCREMENTAL=0
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."

apt_updated=no

# have COMMAND: COMMAND is on PATH, or is an executable path (for programs
# packages put off PATH, like Dovecot's /usr/lib/dovecot/lmtp).
have() {
    if [[ $1 == */* ]]; then
        [[ -x $1 ]]
    else
        command -v "$1" >/dev/null 2>&1
    fi
}

# need COMMAND PACKAGE...: succeed when COMMAND is there (see `have`);
# otherwise install the Debian PACKAGEs when running as root with apt-get, or
# say exactly what to install and fail.
need() {
    local command=$1
    shift
    if have "$command"; then
        return 0
    fi
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: $command is missing; installing $*" >&2
        if [[ $apt_updated == no ]]; then
            DEBIAN_FRONTEND=noninteractive apt-get update -q
            apt_updated=yes
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -q -y --no-install-recommends "$@" </dev/null
        have "$command" && return 0
        echo "test.sh: installed $* but $command is still missing" >&2
        return 1
    fi
    echo "test.sh: $command is missing; install it with: sudo apt-get install --no-install-recommends $*" >&2
    return 1
}

if ! command -v cargo >/dev/null 2>&1; then
    echo "test.sh: cargo is missing; install Rust 1.95 with rustup (https://rustup.rs), then open a new shell" >&2
    exit 1
fi

# Rust links through the system C compiler, and ring (TLS) compiles C.
need cc gcc libc6-dev
# The real mail servers, which the tests start themselves through
# scripts/mailservers.sh: Dovecot (IMAP, LMTP), Postfix, openssl for their
# certificate, and mbsync for the ingest benchmark. Postfix's installer asks
# how to configure it; the tests configure it themselves, so answer first.
if ! have postfix && [[ $(id -u) -eq 0 ]] && have debconf-set-selections; then
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
fi
need /usr/lib/dovecot/imap dovecot-imapd
need /usr/lib/dovecot/lmtp dovecot-lmtpd
need sievec dovecot-sieve
need postfix postfix
need openssl openssl
need mbsync isync
# faketime moves the clock of a whole process tree: the date-sensitive tests
# run again on awkward days (see `dated_runs` below).
need faketime faketime

# node-zendesk, the third-party Zendesk client the simulator is tested
# against (tests/it/third_party_client.rs), exactly as its lock pins it.
need node nodejs
need npm npm
npm ci --prefix tests/clients/node --no-audit --no-fund --loglevel=error </dev/null

# The tests whose outcome could hang on the calendar: every pack end to end,
# the demo, the rule runner's schedules, the rules end to end and the
# calendar's clocks and CLI.
DATED_TESTS=(pack_ demo:: runner:: rules_e2e:: calendar)

# Awkward days to run them on, as São Paulo sees them: a Sunday, the Monday
# of Carnaval (a holiday computed from Easter), Christmas Eve at 23:30 (the
# day turns during the run) and New Year's Eve at 23:59 (so does the year).
DATED_AT=(
    "2027-01-03 12:00:00 -0300"
    "2027-02-08 10:00:00 -0300"
    "2026-12-24 23:30:00 -0300"
    "2026-12-31 23:59:00 -0300"
)

# dated_runs: runs DATED_TESTS once per DATED_AT with the system clock of the
# test process and what it starts (the carteiro binary, the certificate)
# moved there by faketime (-m: the multi-threaded library, as the tests and
# carteiro are). The test binary runs directly, so cargo stays on the real
# clock, and so do the mail servers (scripts/mailservers.sh starts them
# without libfaketime). Tests pick their own scenario days or compute them
# from the calendar, so these runs prove that none leans on today's date.
dated_runs() {
    local binary
    binary=$(cargo test --locked --test it --no-run 2>&1 |
        sed -n 's/^ *Executable tests\/it\/main.rs (\(.*\))$/\1/p' | tail -n 1)
    if [[ -z $binary || ! -x $binary ]]; then
        echo "test.sh: cannot find the integration test binary" >&2
        return 1
    fi
    local at
    for at in "${DATED_AT[@]}"; do
        echo "test.sh: the date-sensitive tests with the clock at $at"
        faketime -m --exclude-monotonic "$at" "$binary" "${DATED_TESTS[@]}"
    done
}

if [[ $# -gt 0 ]]; then
    cargo test --locked "$@"
else
    # Doc tests first, so the run closes on the summary of the real suites.
    cargo test --locked --doc
    cargo test --locked --all-targets
    dated_runs
fi
