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
#   BIN=$(cargo_build dev --example demo)/examples/demo
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

# redis_start PORT LOG: starts redis-server on 127.0.0.1:PORT without persistence (--save ''
# --appendonly no), its output appended to the file LOG, and sets REDIS_PID; waits until
# it answers PING, polling every 0.1 s for at most 10 s, and fails if it does not. The
# caller stops it (`stop "$REDIS_PID"`, or `stop_on_exit "$REDIS_PID"`).
redis_start() {
  local port=$1 logfile=$2 i reply
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no >>"$logfile" 2>&1 &
  REDIS_PID=$!
  for ((i = 0; i < 100; i++)); do
    reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'PING\r\n' >&3 && read -r -t 1 line <&3 &&
      printf '%s' "$line") 2>/dev/null) || true
    [[ $reply == +PONG* ]] && return 0
    alive "$REDIS_PID" || break
    sleep 0.1
  done
  fail "redis-server did not answer PING on 127.0.0.1:$port: $(tail -n 5 "$logfile")"
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
