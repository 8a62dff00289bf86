#!/usr/bin/env bash
# Side-by-side benchmark: feedwall against NSD, Knot and BIND (Debian
# packages) and a bare recvmmsg/sendmmsg reflector (the kernel-path ceiling),
# all serving the same zone on loopback.
#
#   benches/dnsperf-compare.sh            # default run (a few minutes)
#   benches/dnsperf-compare.sh --quick    # one short round (well under a minute)
#
# Options:
#   --quick          1 round, 1 s per run (Knot TCP 0.5 s)
#   --rounds N       rounds of every mix on every server (default 3)
#   --duration S     seconds per run (default 2; Knot's TCP run: --knot-tcp-duration, default 1)
#   --servers LIST   comma-separated subset of feedwall,nsd,knot,bind,reflector
#   --mixes LIST     comma-separated subset of udp-small,tcp-full,nxdomain,refused-zone,refused-acl
#   --out DIR        keep the raw outputs, results.tsv and report.json in DIR
#   --keep           keep the temporary directory (configs, zone, logs)
# Environment:
#   FEEDWALL=PATH    feedwall binary to test (default: cargo build --release
#                    in this repo, target dir ${CARGO_TARGET_DIR:-<repo>/target})
#   SERVER_CPU=0 CLIENT_CPU=1   cores for the servers and for the load client
#   DNSPERF_OPTS     dnsperf load options (default "-c 8 -q 500")
#   TCP_OPTS         tcp-load options (default "--connections 2 --pipeline 8")
#   BENCH_NICE       nice value of servers and load client (default -10 when
#                    root, so other work on the machine disturbs the runs
#                    less; the "runq wait %" column shows what remains). With
#                    sched_autogroup on, nice only counts inside a session,
#                    so each server and each load run gets its own session
#                    (setsid) whose autogroup gets the same nice value.
#
# Each server gets one worker thread (feedwall --workers 1: one UDP thread and
# one TCP runtime thread; NSD server-count 1; Knot udp-workers 1 and
# tcp-workers 1; BIND -n 1) and every thread of it is pinned with taskset to
# SERVER_CPU; the load client is pinned to CLIENT_CPU. The mixes run in
# alternating rounds (every server once per mix, then the next mix; the
# server order rotates each round), and each run records the server's CPU
# time (utime+stime of the process and its children, /proc/PID/stat; the
# per-thread ns figure of /proc/PID/task/*/schedstat when it agrees) so the
# servers are compared per server-CPU-second: one dnsperf process saturates
# (near 300k q/s) before the fastest servers do.
#
# The reflector (`feedwall bench reflector --tcp`) is the ceiling: on UDP a
# recvmmsg/sendmmsg loop echoing each query with QR set; on TCP one poll(2)
# thread answering every query with a fixed 4000-record answer written with
# writev straight from one buffer (no lookup, no copy in user space).
#
# Mixes:
#   udp-small     dnsperf/UDP: small A answers (8-15 records) and TXT list
#                 summaries over 16 names, a quarter asked in upper case
#   tcp-full      feedwall bench tcp-load/TCP, pipelined: full 4000-record
#                 chunks (64 KB answers) over 4 names, every answer checked
#                 for 4000 records (Debian's dnsperf 2.10 cannot read them)
#   nxdomain      dnsperf/UDP: names inside the zone that do not exist
#   refused-zone  dnsperf/UDP: names outside the zone, from an allowed
#                 source: every server answers REFUSED
#   refused-acl   dnsperf/UDP from 127.0.0.2, a source outside the ACL, for
#                 the udp-small names: feedwall's ACL answers REFUSED, BIND's
#                 allow-query REFUSED, Knot's mod-queryacl NOTAUTH; NSD 4.6
#                 has no query ACL, so it has no row here
# Every server runs with an ACL admitting 127.0.0.1 only where the software
# has one (feedwall always; Knot mod-queryacl; BIND allow-query), in every
# mix, the way each would be deployed for this job (Knot's mod-queryacl
# measured at no visible cost: 309-320k q/CPU-s with and without it). NSD
# rate limiting is off
# (rrl-ratelimit: 0), BIND gets max-records-per-type 0; NSD, Knot and BIND
# give minimal responses (no NS in authority), as feedwall does.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
export PATH="$PATH:/usr/sbin:/sbin"

ROUNDS=3
DURATION=2
KNOT_TCP_DURATION=1
SERVERS="feedwall,nsd,knot,bind,reflector"
MIXES="udp-small,tcp-full,nxdomain,refused-zone,refused-acl"
OUT_DIR=""
KEEP=0
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
DNSPERF_OPTS=${DNSPERF_OPTS:-"-c 8 -q 500"}
TCP_OPTS=${TCP_OPTS:-"--connections 2 --pipeline 8"}
if [ "$(id -u)" = 0 ]; then BENCH_NICE=${BENCH_NICE:--10}; else BENCH_NICE=${BENCH_NICE:-0}; fi
ZONE=feedwall.internal
TTL=300

die() {
    echo "dnsperf-compare: FAILED: $*" >&2
    exit 1
}
say() { echo "$*"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --quick) ROUNDS=1; DURATION=1; KNOT_TCP_DURATION=0.5 ;;
        --rounds) ROUNDS=${2:?}; shift ;;
        --duration) DURATION=${2:?}; shift ;;
        --knot-tcp-duration) KNOT_TCP_DURATION=${2:?}; shift ;;
        --servers) SERVERS=${2:?}; shift ;;
        --mixes) MIXES=${2:?}; shift ;;
        --out) OUT_DIR=${2:?}; shift ;;
        --keep) KEEP=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer"
[[ $DURATION =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--duration must be a number of seconds"
[[ $KNOT_TCP_DURATION =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--knot-tcp-duration must be a number of seconds"
IFS=, read -r -a SERVER_LIST <<< "$SERVERS"
IFS=, read -r -a MIX_LIST <<< "$MIXES"
for s in "${SERVER_LIST[@]}"; do
    case "$s" in feedwall|nsd|knot|bind|reflector) ;; *) die "unknown server $s" ;; esac
done
for m in "${MIX_LIST[@]}"; do
    case "$m" in udp-small|tcp-full|nxdomain|refused-zone|refused-acl) ;; *) die "unknown mix $m" ;; esac
done
has_server() { [[ ",$SERVERS," == *",$1,"* ]]; }
[[ ",$SERVERS," == *",feedwall,"* ]] || die "--servers must include feedwall (it builds the zone)"

# ---------------------------------------------------------------- tools ---
# command:package. A missing tool is installed when we are root on Debian,
# otherwise the run stops here: a benchmark that silently skips a peer is
# worse than none.
TOOLS=(taskset:util-linux setsid:util-linux timeout:coreutils python3:python3 dig:bind9-dnsutils dnsperf:dnsperf)
has_server nsd && TOOLS+=(nsd:nsd nsd-checkconf:nsd)
has_server knot && TOOLS+=(knotd:knot knotc:knot)
has_server bind && TOOLS+=(named:bind9)
missing_pkgs=()
for t in "${TOOLS[@]}"; do
    command -v "${t%%:*}" > /dev/null 2>&1 || missing_pkgs+=("${t##*:}")
done
if [ ${#missing_pkgs[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null 2>&1; then
        say "installing missing packages: ${missing_pkgs[*]}"
        # Keep the packages' own services from starting on port 53 while we
        # install (only if the machine has no policy of its own).
        made_policy=0
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y --no-install-recommends "${missing_pkgs[@]}" \
            || { apt-get update && apt-get install -y --no-install-recommends "${missing_pkgs[@]}"; } \
            || { [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d; die "apt-get install ${missing_pkgs[*]} failed"; }
        [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
    else
        die "missing tools (packages: ${missing_pkgs[*]}); run as root to install them, or: sudo apt-get install -y ${missing_pkgs[*]}"
    fi
    for t in "${TOOLS[@]}"; do
        command -v "${t%%:*}" > /dev/null 2>&1 || die "${t%%:*} still missing after installing ${t##*:}"
    done
fi
NCPU=$(getconf _NPROCESSORS_ONLN)
[ "$NCPU" -ge 2 ] || die "needs at least 2 cores (server and load client on different cores); this machine has $NCPU"
[ "$SERVER_CPU" != "$CLIENT_CPU" ] || die "SERVER_CPU and CLIENT_CPU must differ"
HZ=$(getconf CLK_TCK)

# ------------------------------------------------------------- feedwall ---
FEEDWALL_ORIGIN="given by FEEDWALL"
if [ -z "${FEEDWALL:-}" ]; then
    FEEDWALL_ORIGIN="built from $(git -C "$REPO" describe --always --dirty 2> /dev/null || echo '?')"
    command -v cargo > /dev/null 2>&1 || die "cargo not found: install Rust or set FEEDWALL=/path/to/feedwall"
    say "building feedwall (cargo build --release) ..."
    (cd "$REPO" && cargo build --release --quiet) || die "cargo build --release failed"
    FEEDWALL="${CARGO_TARGET_DIR:-$REPO/target}/release/feedwall"
fi
[ -x "$FEEDWALL" ] || die "FEEDWALL=$FEEDWALL is not an executable"
"$FEEDWALL" bench tcp-load --help > /dev/null 2>&1 || die "$FEEDWALL has no 'bench tcp-load' helper (too old a build?)"

# ------------------------------------------------------ temp + cleanup ---
TMP=$(mktemp -d "${TMPDIR:-/tmp}/feedwall-bench.XXXXXX")
ALL_PIDS=()
cleanup() {
    local rc=$? p i
    trap - EXIT INT TERM
    for p in "${ALL_PIDS[@]}"; do kill -TERM "$p" 2> /dev/null || true; done
    for i in $(seq 1 50); do
        local alive=0
        for p in "${ALL_PIDS[@]}"; do kill -0 "$p" 2> /dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in "${ALL_PIDS[@]}"; do kill -KILL "$p" 2> /dev/null || true; done
    if [ -n "$OUT_DIR" ] && [ -d "$TMP/runs" ]; then
        mkdir -p "$OUT_DIR" && cp -r "$TMP/runs" "$TMP/results.tsv" "$OUT_DIR/" 2> /dev/null || true
        [ -f "$TMP/report.json" ] && cp "$TMP/report.json" "$TMP/report.txt" "$OUT_DIR/" 2> /dev/null || true
    fi
    if [ "$KEEP" = 1 ]; then
        echo "kept $TMP"
    else
        rm -rf "$TMP"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$TMP/runs" "$TMP/data"
: > "$TMP/results.tsv"

# ------------------------------------------------------- /proc helpers ---
# utime+stime (clock ticks) of one process: all its threads.
proc_ticks() {
    local line rest
    { read -r line < "/proc/$1/stat"; } 2> /dev/null || return 1
    rest=${line##*) }
    # shellcheck disable=SC2086
    set -- $rest
    echo $((${12} + ${13}))
}
# CPU sample of a list of pids (fails if one is gone: a server process
# died). Prints: utime+stime ticks (/proc/PID/stat, every thread, including
# exited ones), on-CPU ns and run-queue wait ns summed over the live threads
# (/proc/PID/task/TID/schedstat: ns resolution, where stat has 10 ms), and
# the thread ids (the ns figures are used only when the set is unchanged).
cpu_sample() {
    local ticks=0 ns=0 wait=0 tasks="" p t f line
    for p in "$@"; do
        t=$(proc_ticks "$p") || return 1
        ticks=$((ticks + t))
        for f in /proc/"$p"/task/*/schedstat; do
            { read -r line < "$f"; } 2> /dev/null || continue
            # shellcheck disable=SC2086
            set -- $line
            ns=$((ns + $1))
            wait=$((wait + $2))
            t=${f%/schedstat}
            tasks+="${t##*/},"
        done
    done
    echo "$ticks $ns $wait ${tasks:-none}"
}
# The pid and all its descendants (NSD forks a main and a server process).
tree_pids() {
    local f line rest pid root=$1
    local -A kids=()
    for f in /proc/[0-9]*/stat; do
        { read -r line < "$f"; } 2> /dev/null || continue
        pid=${line%% *}
        rest=${line##*) }
        # shellcheck disable=SC2086
        set -- $rest
        kids[$2]+="$pid "
    done
    local queue=("$root") out=() p
    while [ ${#queue[@]} -gt 0 ]; do
        p=${queue[0]}
        queue=("${queue[@]:1}")
        out+=("$p")
        # shellcheck disable=SC2206
        queue+=(${kids[$p]:-})
    done
    echo "${out[@]}"
}

# Free loopback ports (UDP and TCP both free), picked together.
PORTS=($(python3 - << 'EOF'
import socket
held, ports = [], []
while len(ports) < 5:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    p = u.getsockname()[1]
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        t.bind(("127.0.0.1", p))
    except OSError:
        continue
    held += [u, t]
    ports.append(p)
print(" ".join(map(str, ports)))
EOF
))
declare -A PORT=([feedwall]=${PORTS[0]} [nsd]=${PORTS[1]} [knot]=${PORTS[2]} [bind]=${PORTS[3]} [reflector]=${PORTS[4]})
declare -A PID=() TREE=()

# ----------------------------------------------------------------- zone ---
D=$TMP/data
python3 "$HERE/compare/lists.py" "$D" "$ZONE"
list_args=(--list "big=$D/big.txt")
for i in 0 1 2 3 4 5 6 7; do list_args+=(--list "s$i=$D/s$i.txt"); done
"$FEEDWALL" snapshot build --zone "$ZONE" "${list_args[@]}" --allow 127.0.0.1/32 --ttl "$TTL" --serial 1 --out "$D/snap.fw" > "$TMP/build.log" 2>&1 \
    || { cat "$TMP/build.log"; die "feedwall snapshot build failed"; }
"$FEEDWALL" snapshot inspect "$D/snap.fw" --json --names > "$D/dump.json" || die "feedwall snapshot inspect failed"
python3 "$HERE/compare/zone.py" "$D/dump.json" "$TTL" > "$D/zone.db" 2> "$TMP/zone.log" || { cat "$TMP/zone.log"; die "zone file generation failed"; }

# -------------------------------------------------------------- servers ---
# `setsid sh -c "$PINNED" sh CPU CMD...` runs CMD pinned to core CPU, at
# BENCH_NICE, in a session (and so an autogroup) of its own, keeping the pid
# (setsid does not fork: a background job of a non-interactive shell, or a
# child of timeout, leads no process group).
PINNED='echo "$1" > /proc/self/autogroup 2> /dev/null; n=$1; c=$2; shift 2; exec nice -n "$n" taskset -c "$c" "$@"'

start_bg() { # name logfile cmd... : starts a server pinned to SERVER_CPU
    local name=$1 log=$2
    shift 2
    setsid sh -c "$PINNED" sh "$BENCH_NICE" "$SERVER_CPU" "$@" > "$log" 2>&1 < /dev/null &
    PID[$name]=$!
    ALL_PIDS+=($!)
}

wait_ready() { # name: until the server answers the zone's SOA (or dies)
    local name=$1 port=${PORT[$1]} i out
    for i in $(seq 1 150); do
        kill -0 "${PID[$name]}" 2> /dev/null || { tail -20 "$TMP/$name.log" >&2; die "$name exited during start-up (log above)"; }
        out=$(dig +norec +noedns +time=1 +tries=1 -p "$port" @127.0.0.1 "$ZONE" SOA 2> /dev/null || true)
        if [[ $out == *"status: NOERROR"* ]]; then
            # Settle, then record the process tree (children are forked at start).
            sleep 0.3
            TREE[$name]=$(tree_pids "${PID[$name]}")
            # shellcheck disable=SC2206
            ALL_PIDS+=(${TREE[$name]})
            return 0
        fi
        sleep 0.2
    done
    tail -20 "$TMP/$name.log" >&2
    die "$name did not answer on 127.0.0.1:$port within 30 s"
}

start_feedwall() {
    start_bg feedwall "$TMP/feedwall.log" "$FEEDWALL" dns --snapshot "$D/snap.fw" --listen "127.0.0.1:${PORT[feedwall]}" --workers 1 --ready-file "$TMP/feedwall.ready"
}

start_nsd() {
    mkdir -p "$TMP/nsd"
    cat > "$TMP/nsd/nsd.conf" << EOF
server:
  ip-address: 127.0.0.1@${PORT[nsd]}
  server-count: 1
  reuseport: no
  username: ""
  chroot: ""
  database: ""
  zonesdir: "$TMP/nsd"
  zonelistfile: "$TMP/nsd/zone.list"
  xfrdfile: "$TMP/nsd/xfrd.state"
  xfrdir: "$TMP/nsd"
  pidfile: "$TMP/nsd/nsd.pid"
  logfile: "$TMP/nsd/nsd.log"
  verbosity: 1
  hide-version: yes
  minimal-responses: yes
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
  tcp-count: 256
  zonefiles-check: no
remote-control:
  control-enable: no
zone:
  name: $ZONE
  zonefile: "$D/zone.db"
EOF
    nsd-checkconf "$TMP/nsd/nsd.conf" || die "nsd-checkconf rejected the bench config"
    start_bg nsd "$TMP/nsd.log" nsd -d -c "$TMP/nsd/nsd.conf"
}

start_knot() {
    mkdir -p "$TMP/knot/db"
    cat > "$TMP/knot/knot.conf" << EOF
server:
  rundir: "$TMP/knot"
  pidfile: "$TMP/knot/knot.pid"
  listen: 127.0.0.1@${PORT[knot]}
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
log:
  - target: "$TMP/knot/knot.log"
    any: notice
database:
  storage: "$TMP/knot/db"
mod-queryacl:
  - id: devices
    address: 127.0.0.1
template:
  - id: default
    storage: "$TMP/knot"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: $ZONE
    file: "$D/zone.db"
    module: mod-queryacl/devices
EOF
    knotc -c "$TMP/knot/knot.conf" conf-check > /dev/null || die "knotc conf-check rejected the bench config"
    start_bg knot "$TMP/knot.log" knotd -c "$TMP/knot/knot.conf"
}

start_bind() {
    mkdir -p "$TMP/bind"
    cat > "$TMP/bind/named.conf" << EOF
options {
  directory "$TMP/bind";
  pid-file "$TMP/bind/named.pid";
  session-keyfile "$TMP/bind/session.key";
  managed-keys-directory "$TMP/bind";
  listen-on port ${PORT[bind]} { 127.0.0.1; };
  listen-on-v6 { none; };
  recursion no;
  minimal-responses yes;
  max-records-per-type 0;
  allow-query { 127.0.0.1; };
  allow-transfer { none; };
  notify no;
  dnssec-validation no;
  querylog no;
};
controls { };
zone "$ZONE" { type primary; file "$D/zone.db"; };
EOF
    start_bg bind "$TMP/bind.log" named -g -n 1 -c "$TMP/bind/named.conf"
}

start_reflector() {
    start_bg reflector "$TMP/reflector.log" "$FEEDWALL" bench reflector --listen "127.0.0.1:${PORT[reflector]}" --workers 1 --tcp --tcp-answers 4000
}

for s in "${SERVER_LIST[@]}"; do "start_$s"; done
for s in "${SERVER_LIST[@]}"; do wait_ready "$s"; done

# ------------------------------------------------------------------ mixes ---
mix_client() { case "$1" in tcp-full) echo tcp-load ;; *) echo dnsperf ;; esac; }
mix_queries() {
    case "$1" in
        udp-small|refused-acl) echo "$D/q-small.txt" ;;
        nxdomain) echo "$D/q-nx.txt" ;;
        refused-zone) echo "$D/q-oz.txt" ;;
    esac
}
mix_source() { case "$1" in refused-acl) echo 127.0.0.2 ;; *) echo 127.0.0.1 ;; esac; }
# Accepted RCODEs per mix and server (comma-separated).
mix_expect() { # mix server
    if [ "$2" = reflector ]; then echo NOERROR; return; fi
    case "$1" in
        udp-small|tcp-full) echo NOERROR ;;
        nxdomain) echo NXDOMAIN ;;
        refused-zone) echo REFUSED ;;
        refused-acl) if [ "$2" = knot ]; then echo NOTAUTH; else echo REFUSED; fi ;;
    esac
}
mix_applies() { # mix server
    [ "$1" = refused-acl ] && [ "$2" = nsd ] && return 1 # NSD 4.6: no query ACL
    return 0
}

# ---------------------------------------------------- equivalence check ---
# One dig per server and mix (no EDNS, like dnsperf): same RCODE and answer
# count everywhere; sizes are shown (they may differ by name compression).
say ""
say "== equivalence check (dig, no EDNS): status / answers / bytes"
check_fail=0
printf '%-13s' "mix"
for s in "${SERVER_LIST[@]}"; do printf ' %-26s' "$s"; done
echo
for m in "${MIX_LIST[@]}"; do
    if [ "$m" = tcp-full ]; then
        q=("0.big.$ZONE" A); dig_opts=(+tcp)
    else
        read -r -a q < "$(mix_queries "$m")"; dig_opts=()
    fi
    printf '%-13s' "$m"
    for s in "${SERVER_LIST[@]}"; do
        if ! mix_applies "$m" "$s"; then printf ' %-26s' "n/a"; continue; fi
        out=$(dig +norec +noedns +time=2 +tries=1 "${dig_opts[@]}" -b "$(mix_source "$m")" -p "${PORT[$s]}" @127.0.0.1 "${q[@]}" 2>&1 || true)
        st=$(sed -n 's/.*status: \([A-Z]*\).*/\1/p' <<< "$out" | head -1)
        an=$(sed -n 's/.*ANSWER: \([0-9]*\).*/\1/p' <<< "$out" | head -1)
        sz=$(sed -n 's/.*MSG SIZE  rcvd: \([0-9]*\).*/\1/p' <<< "$out" | head -1)
        printf ' %-26s' "${st:-none} / ${an:--} / ${sz:--}"
        if [[ ",$(mix_expect "$m" "$s")," != *",${st:-none},"* ]]; then check_fail=1; fi
        if [ "$m" = tcp-full ] && [ "$s" != reflector ] && [ "${an:-0}" != 4000 ]; then check_fail=1; fi
    done
    echo
done
[ $check_fail = 0 ] || die "a server does not answer as expected (table above)"

# ------------------------------------------------------------ environment ---
say ""
say "== machine"
say "date       $(date -u +%Y-%m-%dT%H:%M:%SZ)"
say "kernel     $(uname -r), $NCPU cores: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
say "load avg   $(cut -d' ' -f1-3 /proc/loadavg) (before the runs)"
say "busy       $(ps -eo pcpu=,comm= --sort=-pcpu 2> /dev/null | head -3 | awk '{printf "%s %s%%; ", $2, $1}')"
say "feedwall   $FEEDWALL ($("$FEEDWALL" --version 2>&1 | head -1), $FEEDWALL_ORIGIN)"
has_server nsd && say "nsd        $(nsd -v 2>&1 | head -1); build: $(nsd -v 2>&1 | grep -o -E -- '--(disable-recvmmsg|enable-recvmmsg|enable-checking|disable-checking|enable-ratelimit)' | tr '\n' ' ')"
has_server knot && say "knot       $(knotd -V 2>&1 | head -1)"
has_server bind && say "bind       $(named -v 2>&1 | head -1)"
say "dnsperf    $(dnsperf -h 2>&1 | sed -n 's/^Version //p' | head -1) opts: $DNSPERF_OPTS"
say "tcp-load   $TCP_OPTS"
say "pinning    servers on core $SERVER_CPU, load client on core $CLIENT_CPU, both at nice $BENCH_NICE; $ROUNDS round(s), ${DURATION}s per run (Knot tcp-full ${KNOT_TCP_DURATION}s)"
for s in "${SERVER_LIST[@]}"; do say "$(printf '%-10s' "$s") 127.0.0.1:${PORT[$s]} pids ${TREE[$s]}"; done

# ----------------------------------------------------------------- runs ---
run_one() { # round mix server
    local r=$1 m=$2 s=$3 out="$TMP/runs/$1-$2-$3.out" dur=$DURATION before after t0 t1 rc=0
    local -a cmd
    # shellcheck disable=SC2086
    if [ "$m" = tcp-full ]; then
        [ "$s" = knot ] && dur=$KNOT_TCP_DURATION
        local names=()
        while read -r n; do names+=(--name "$n"); done < "$D/tcp-names.txt"
        cmd=("$FEEDWALL" bench tcp-load --server "127.0.0.1:${PORT[$s]}" "${names[@]}" --qtype A $TCP_OPTS --duration "$dur")
        [ "$s" != reflector ] && cmd+=(--expect-answers 4000)
    else
        cmd=(dnsperf -s 127.0.0.1 -p "${PORT[$s]}" -a "$(mix_source "$m")" -d "$(mix_queries "$m")" -l "$dur" -t 2 $DNSPERF_OPTS)
    fi
    local -a before after
    # shellcheck disable=SC2086
    before=($(cpu_sample ${TREE[$s]})) || die "$s lost a process before round $r $m"
    t0=$(date +%s.%N)
    timeout -k 2 "$(awk -v d="$dur" 'BEGIN { print int(d) + 30 }')" setsid sh -c "$PINNED" sh "$BENCH_NICE" "$CLIENT_CPU" "${cmd[@]}" > "$out" 2>&1 || rc=$?
    t1=$(date +%s.%N)
    # shellcheck disable=SC2086
    after=($(cpu_sample ${TREE[$s]})) || die "$s lost a process during round $r $m"
    [ $rc = 0 ] || { tail -20 "$out" >&2; die "load client failed (exit $rc) against $s, mix $m, round $r"; }
    local ticks=$((after[0] - before[0])) ns=- wait=-
    if [ "${after[3]}" = "${before[3]}" ]; then
        ns=$((after[1] - before[1]))
        wait=$((after[2] - before[2]))
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$m" "$s" "$(mix_client "$m")" "$(mix_expect "$m" "$s")" \
        "$ticks" "$HZ" "$ns" "$wait" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')" "$out" >> "$TMP/results.tsv"
    local q
    if [ "$m" = tcp-full ]; then
        q=$(sed -n 's/.*"qps":\([0-9.]*\).*/\1/p' "$out" | cut -d. -f1)
    else
        q=$(sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p' "$out" | cut -d. -f1)
    fi
    printf '  round %s %-13s %-10s %9s q/s  server CPU %5.2f s\n' "$r" "$m" "$s" "${q:-?}" "$(awk -v t="$ticks" -v h="$HZ" 'BEGIN { print t / h }')"
}

say ""
say "== runs"
started=$(date +%s)
for r in $(seq 1 "$ROUNDS"); do
    # Rotate the server order each round: A B C, B C A, ...
    n=${#SERVER_LIST[@]}
    order=()
    for i in $(seq 0 $((n - 1))); do order+=("${SERVER_LIST[$(((i + r - 1) % n))]}"); done
    for m in "${MIX_LIST[@]}"; do
        for s in "${order[@]}"; do
            mix_applies "$m" "$s" || continue
            run_one "$r" "$m" "$s"
        done
    done
done
say "runs took $(($(date +%s) - started)) s; load avg after: $(cut -d' ' -f1-3 /proc/loadavg)"

# --------------------------------------------------------------- report ---
say ""
say "== results (medians over $ROUNDS round(s); q/CPU-s = queries answered per second of server CPU time)"
report_rc=0
python3 "$HERE/compare/report.py" "$TMP/results.tsv" --json "$TMP/report.json" > "$TMP/report.txt" || report_rc=$?
cat "$TMP/report.txt"
cat << EOF

Notes: q/CPU-s min-max is the spread over the rounds. runq wait % is the
time the server was runnable but the core was busy with something else (other
work on the machine): high values mean the run was disturbed, and let a
batching server (feedwall, reflector) gather bigger batches than an idle
machine would give it.
lat tail = max latency for dnsperf runs (UDP), p99 for tcp-load (TCP).
Latency under this closed-loop load mostly measures queueing (outstanding
queries / rate). The reflector echoes each UDP query (QR set, no lookup); on
TCP it answers every query with a fixed 4000-record answer, no lookup: both
are ceilings, not DNS servers. Knot's mod-queryacl answers NOTAUTH where the
others answer REFUSED. NSD 4.6 has no query ACL (no refused-acl row).
EOF
[ $report_rc = 0 ] || die "some runs were not clean (PROBLEMS above)"
