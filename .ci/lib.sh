# shellcheck shell=bash
# The shared shell helpers of every script under .ci/ and scripts/, and the only copy of
# them. A script starts with
#
#   LOG_PREFIX=soak                      # what `log` lines start with
#   . "$(dirname "$0")/../.ci/lib.sh"
#
# Sourcing it turns on strict mode (set -euo pipefail), changes to the repository root
# (so the script works from any directory), defines the functions below and sets one
# EXIT trap (see `on_exit`); it runs nothing else. Scripts must not set their own EXIT
# trap: they register with `on_exit`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT=$(pwd)

# log MESSAGE...: one line on stderr, "PREFIX: MESSAGE".
log() { printf '%s: %s\n' "${LOG_PREFIX:-$(basename "$0" .sh)}" "$*" >&2; }

# fail MESSAGE...: logs "FAIL: MESSAGE" and exits 1 (the EXIT trap still runs).
fail() {
  log "FAIL: $*"
  exit 1
}

# step TITLE: a section heading on stdout (.ci/run's steps).
step() { printf '\n==== %s (%s)\n' "$1" "$(date +%T)"; }

# as_root CMD...: runs CMD as root (directly when already root, else through sudo).
as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# apt_install PKG...: installs Debian packages, quietly and without recommends; runs
# `apt-get update` once per process.
_LIB_APT_UPDATED=
apt_install() {
  if [ -z "$_LIB_APT_UPDATED" ]; then
    as_root apt-get update -qq
    _LIB_APT_UPDATED=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# need CMD [PKG]: installs the Debian package PKG (default: CMD) when the command CMD
# is missing, and fails when it is still missing afterwards.
need() {
  command -v "$1" >/dev/null && return 0
  log "installing ${2:-$1} from Debian's packages (for $1)"
  apt_install "${2:-$1}"
  command -v "$1" >/dev/null || fail "$1 is still missing after installing ${2:-$1}"
}

# target_dir: cargo's target directory (CARGO_TARGET_DIR, else target).
# target_dir: cargo's target directory, as an absolute path (scripts change directory).
target_dir() {
  local dir=${CARGO_TARGET_DIR:-target}
  case "$dir" in
    /*) printf '%s\n' "$dir" ;;
    *) printf '%s/%s\n' "$REPO_ROOT" "$dir" ;;
  esac
}

# cargo_build PROFILE CARGO_BUILD_ARGS...: `cargo build --quiet` in the dev or release
# profile; prints the profile's output directory, e.g.
#   BIN=$(cargo_build dev -p demo)/demo
cargo_build() {
  local profile=$1
  shift
  case "$profile" in
    dev) cargo build --quiet "$@" >&2 && printf '%s/debug\n' "$(target_dir)" ;;
    release) cargo build --quiet --release "$@" >&2 && printf '%s/release\n' "$(target_dir)" ;;
    *) fail "the profile must be dev or release, not '$profile'" ;;
  esac
}

# port_free PORT: true when nothing accepts connections on 127.0.0.1:PORT.
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_ports COUNT [FROM]: prints COUNT distinct ports of 127.0.0.1 that nothing listens
# on, one a line, the first free ones from FROM (default 39400) upwards, trying at most 500
# ports; prints fewer when fewer are free (the caller checks). Something else may still
# take one before the caller binds it.
free_ports() {
  local count=$1 port=${2:-39400} found=0 tries
  for ((tries = 0; tries < 500 && found < count; tries++, port++)); do
    if port_free "$port"; then
      printf '%s\n' "$port"
      found=$((found + 1))
    fi
  done
}

# redis_ping PORT: true when 127.0.0.1:PORT answers PING with PONG within 1 s.
redis_ping() {
  local reply
  reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'PING\r\n' >&3 && read -r -t 1 line <&3 &&
    printf '%s' "$line") 2>/dev/null) || true
  [[ $reply == +PONG* ]]
}

# redis_start PORT LOG [ARG...]: starts redis-server on 127.0.0.1:PORT, empty and without
# persistence (--save '' --appendonly no; its dump file, which a replica writes when it
# syncs, is redis-PORT.rdb beside LOG and removed first, so that no start loads another's
# data), with `maxmemory-policy noeviction` (the policy the apps' docs ask for), the ARGs
# appended (`--replicaof 127.0.0.1 6379`, `--cluster-enabled yes`, ...), its output
# appended to the file LOG, and sets REDIS_PID; waits until it answers PING, polling every
# 0.1 s for at most 10 s, and fails if it does not. The caller stops it (`stop
# "$REDIS_PID"`, or `stop_on_exit "$REDIS_PID"`).
redis_start() {
  local port=$1 logfile=$2 dir i
  shift 2
  dir=$(cd "$(dirname "$logfile")" && pwd)
  rm -f "$dir/redis-$port.rdb"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" --dbfilename "redis-$port.rdb" \
    --maxmemory-policy noeviction "$@" >>"$logfile" 2>&1 &
  REDIS_PID=$!
  for ((i = 0; i < 100; i++)); do
    redis_ping "$port" && return 0
    alive "$REDIS_PID" || break
    sleep 0.1
  done
  fail "redis-server did not answer PING on 127.0.0.1:$port: $(tail -n 5 "$logfile")"
}

# rcli PORT ARG...: redis-cli against 127.0.0.1:PORT (at most 2 s), e.g. `rcli 6379 ROLE`.
rcli() {
  local port=$1
  shift
  timeout 2 redis-cli -h 127.0.0.1 -p "$port" "$@"
}

# redis_replica_up PORT: the redis-server on 127.0.0.1:PORT is a replica in sync with its
# primary (INFO replication: master_link_status:up).
redis_replica_up() { rcli "$1" INFO replication | tr -d '\r' | grep -q '^master_link_status:up$'; }

# wait_until SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds, for at most
# SECONDS. Non-zero on time-out.
wait_until() {
  local secs=$1 i deadline
  shift
  deadline=$((SECONDS + secs))
  for ((i = 0; i < secs * 10 && SECONDS <= deadline; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

# py_venv DIR REQUIREMENTS: a Python venv in DIR (created once; Debian's python3-venv
# installed if missing) with the pinned packages of the REQUIREMENTS file installed from
# PyPI; prints DIR/bin/python, e.g.
#   PY=$(py_venv interop/.venv interop/requirements.txt)
py_venv() {
  local dir=$1 requirements=$2
  python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv >&2
  [ -x "$dir/bin/python" ] || python3 -m venv "$dir" >&2
  "$dir/bin/pip" install -q --disable-pip-version-check -r "$requirements" >&2
  printf '%s/bin/python\n' "$dir"
}

# alive PID: true while the process runs (false once it is gone or a zombie that only
# waits for `wait`).
alive() {
  local state
  state=$(sed 's/^.*) //; s/ .*//' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# wait_http URL [SECONDS] [PID]: waits until URL answers with a status below 400,
# polling every 0.1 s for at most SECONDS (default 20; each try times out after 1 s);
# with PID, gives up as soon as that process is gone. Non-zero when it did not answer.
wait_http() {
  local url=$1 secs=${2:-20} pid=${3:-} i deadline
  need curl
  deadline=$((SECONDS + secs))
  for ((i = 0; i < secs * 10 && SECONDS < deadline; i++)); do
    curl -fsS --max-time 1 -o /dev/null "$url" 2>/dev/null && return 0
    if [ -n "$pid" ] && ! alive "$pid"; then return 1; fi
    sleep 0.1
  done
  return 1
}

# wait_log FILE PATTERN [SECONDS]: waits until FILE has a line matching the grep pattern
# PATTERN, polling every 0.1 s for at most SECONDS (default 10). Non-zero on time-out.
wait_log() {
  local file=$1 pattern=$2 secs=${3:-10} i
  for ((i = 0; i < secs * 10; i++)); do
    grep -q -- "$pattern" "$file" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# on_exit COMMAND: runs the shell COMMAND when the script exits (normally, on an error
# or on SIGINT/SIGTERM), the last registered first.
_LIB_ON_EXIT=()
on_exit() { _LIB_ON_EXIT+=("$1"); }
_lib_run_on_exit() {
  local status=$? i
  set +e
  for ((i = ${#_LIB_ON_EXIT[@]} - 1; i >= 0; i--)); do eval "${_LIB_ON_EXIT[i]}"; done
  return "$status"
}
trap _lib_run_on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# stop PID: stops a process this script started: SIGTERM, then SIGKILL if it is still
# there after 5 s; reaps it. Quiet, and harmless when it is already gone.
stop() {
  local pid=$1 i
  kill "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

# stop_on_exit PID: stops the process PID (see `stop`) when the script exits.
stop_on_exit() { on_exit "stop $1"; }

# work_dir: sets WORK to a new temporary directory, removed when the script exits.
work_dir() {
  WORK=$(mktemp -d)
  on_exit "rm -rf -- '$WORK'"
}

# --- Several instances of redis/examples/multi_instance.rs behind HAProxy ----------------
# Shared by .ci/multi-instance.sh, .ci/redis-sentinel.sh and .ci/redis-cluster.sh: the
# example's binary, the instances, HAProxy in front of them, the checker
# (.ci/multi_instance_check.py) and the phases' outcome. The caller fills
#   MI_PORT[name]          each instance's port on 127.0.0.1
#   MI_CALLS_URL[name]     each instance's CALLS_REDIS_URL
#   MI_CHECK_ARGS+=(...)   extra arguments of every check (e.g. --calls-redis PORT)
# The instances log at RUST_LOG=$MI_RUST_LOG (default info; e.g. `info,fred=debug`).
# A check that fails calls `mi_failed PHASE`: the script stops there, or, with
# MI_KEEP_GOING=1, goes on to the next phase and fails at `mi_finish` (to see every phase
# that fails, e.g. for an older binary given as MI_BIN; MI_KEY_FORMAT=legacy tells the
# checker that binary's Redis keys: the prefix and the room, without a hash tag).
declare -A MI_PORT=() MI_PID=() MI_CALLS_URL=()
MI_CHECK_ARGS=(--key-format "${MI_KEY_FORMAT:-tagged}")
MI_FAILED=()
MI_CHECK_PID=

# mi_prepare: installs what the instances and the checker need (redis-server, redis-cli,
# haproxy, openssl, curl; the checker's venv), builds the example (dev) unless MI_BIN names
# a binary, makes the work directory (WORK) and what every instance shares: the signing key,
# its keyID (mi-key-1) and the ephemeral-userID secret (MI_SECRET). Sets MI_BIN and MI_PY.
# With MI_LOGS=DIR, the logs (instances, Redis, HAProxy) and the events are copied to DIR
# on exit.
mi_prepare() {
  need redis-server
  need redis-cli redis-tools
  need haproxy
  need openssl
  need curl
  MI_PY=$(py_venv interop/.venv interop/requirements.txt)
  if [ -n "${MI_BIN:-}" ]; then
    [ -x "$MI_BIN" ] || fail "MI_BIN=$MI_BIN is not an executable"
  else
    # The feature set of .ci/run's `cargo test --workspace --all-features`, which builds the
    # examples too: CI reuses that build.
    MI_BIN=$(cargo_build dev --workspace --all-features --example multi_instance)/examples/multi_instance
  fi
  work_dir
  if [ -n "${MI_LOGS:-}" ]; then
    on_exit 'mkdir -p "$MI_LOGS" && cp "$WORK"/*.log "$WORK"/events "$MI_LOGS"/ 2>/dev/null'
  fi
  MI_SECRET=$(openssl rand -hex 24)
  openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/key.pem" 2>/dev/null
  echo mi-key-1 >"$WORK/key-id"
  on_exit mi_stop_instances
  on_exit '[ -z "$MI_CHECK_PID" ] || stop "$MI_CHECK_PID"'
}

# mi_ports COUNT BASE: sets PORTS to COUNT free ports of 127.0.0.1 from BASE, or fails.
mi_ports() {
  mapfile -t PORTS < <(free_ports "$1" "$2")
  [ "${#PORTS[@]}" = "$1" ] || fail "fewer than $1 free ports on 127.0.0.1 from $2; set the script's base port"
}

# event NAME: records when something happened, for the checker (`NAME UNIX_TIME`).
event() { printf '%s %s\n' "$1" "$(date +%s.%N)" >>"$WORK/events"; }

# mi_start MODE SESSIONS_URL NAME...: starts the named instances (userID mode MODE, the
# sessions at SESSIONS_URL, the calls at MI_CALLS_URL[name]) and waits until each answers
# /healthz (which does not depend on Redis). REDIS_URL is the calls' URL too, for older
# builds of the example that kept sessions and calls in one Redis.
mi_start() {
  local mode=$1 sessions=$2 name
  shift 2
  for name in "$@"; do
    BIND=127.0.0.1:${MI_PORT[$name]} INSTANCE_NAME=$name SESSIONS_REDIS_URL=$sessions \
      CALLS_REDIS_URL=${MI_CALLS_URL[$name]} REDIS_URL=${MI_CALLS_URL[$name]} \
      CALLSTATS_APP_ID=multi-instance-app CALLSTATS_PRIVATE_KEY_FILE=$WORK/key.pem \
      CALLSTATS_KEY_ID_FILE=$WORK/key-id CALLSTATS_EPHEMERAL_SECRET=$MI_SECRET CALLSTATS_USER_ID=$mode \
      RUST_LOG=${MI_RUST_LOG:-info} NO_COLOR=1 "$MI_BIN" >>"$WORK/$name.log" 2>&1 &
    MI_PID[$name]=$!
  done
  for name in "$@"; do
    wait_http "http://127.0.0.1:${MI_PORT[$name]}/healthz" 20 "${MI_PID[$name]}" ||
      fail "instance $name did not start: $(tail -n 20 "$WORK/$name.log")"
  done
}

# mi_stop_instances: stops every running instance.
mi_stop_instances() {
  local name
  for name in "${!MI_PID[@]}"; do
    stop "${MI_PID[$name]}"
    unset "MI_PID[$name]"
  done
}

# haproxy_start PORT NAME...: HAProxy on 127.0.0.1:PORT in front of the named instances
# (round robin; health checks on /healthz; a request that cannot reach an instance, or that
# an instance drops without an answer, is sent again, to another), its stats socket at
# $WORK/haproxy.sock; stopped on exit. Sets HAPROXY_URL.
haproxy_start() {
  local port=$1 name
  shift
  {
    printf 'global\n  maxconn 4096\n  stats socket %s/haproxy.sock mode 600 level user\n\n' "$WORK"
    printf 'defaults\n  mode http\n  timeout connect 1s\n  timeout client 15s\n  timeout server 15s\n'
    printf '  timeout http-request 5s\n  timeout queue 5s\n  timeout check 1s\n'
    printf '  retries 3\n  option redispatch 1\n  retry-on conn-failure empty-response\n\n'
    printf 'frontend web\n  bind 127.0.0.1:%s\n  default_backend instances\n\n' "$port"
    printf 'backend instances\n  balance roundrobin\n  option httpchk\n  http-check send meth GET uri /healthz\n'
    printf '  http-check expect status 200\n'
    printf '  default-server inter 500ms fastinter 200ms downinter 500ms fall 2 rise 2\n'
    for name in "$@"; do printf '  server %s 127.0.0.1:%s check\n' "$name" "${MI_PORT[$name]}"; done
  } >"$WORK/haproxy.cfg"
  haproxy -c -q -f "$WORK/haproxy.cfg" || fail "invalid HAProxy configuration"
  haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
  HAPROXY_PID=$!
  stop_on_exit "$HAPROXY_PID"
  HAPROXY_URL=http://127.0.0.1:$port
}

# mi_check ARG...: runs one check of the checker against HAProxy and every instance.
mi_check() {
  local args=(--work "$WORK" --haproxy "$HAPROXY_URL") name
  for name in $(printf '%s\n' "${!MI_PORT[@]}" | sort); do
    args+=(--instance "$name=http://127.0.0.1:${MI_PORT[$name]}")
  done
  "$MI_PY" .ci/multi_instance_check.py "${args[@]}" "${MI_CHECK_ARGS[@]}" "$@"
}

# mi_check_bg ARG...: a check that runs while the script acts; mi_check_wait waits for it
# (non-zero when it failed).
mi_check_bg() {
  mi_check "$@" &
  MI_CHECK_PID=$!
}
mi_check_wait() {
  local pid=$MI_CHECK_PID
  MI_CHECK_PID=
  wait "$pid"
}

# mi_failed PHASE: a phase's check failed (the violations are above it).
mi_failed() {
  if [ "${MI_KEEP_GOING:-}" = 1 ]; then
    log "FAIL: $1 (MI_KEEP_GOING=1: going on)"
    MI_FAILED+=("$1")
  else
    fail "$1 (above)"
  fi
}

# mi_finish [OUT]: prints the checker's table (and copies it to the file OUT); fails when
# a phase failed.
mi_finish() {
  mi_check table >"$WORK/table.md"
  printf '\n%s\n' "$(cat "$WORK/table.md")"
  if [ -n "${1:-}" ]; then cp "$WORK/table.md" "$1"; fi
  [ "${#MI_FAILED[@]}" = 0 ] || fail "failed phases: $(printf '%s; ' "${MI_FAILED[@]}")"
}
