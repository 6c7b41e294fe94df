#!/usr/bin/env bash
# One job: examples/multi_instance.rs on several instances behind a load balancer. Three
# instances (dev build) share one redis-server (sessions and calls) behind HAProxy (round
# robin, health checks on /healthz), all on 127.0.0.1 and stopped on exit. The checker,
# .ci/multi_instance_check.py (Python 3 with PyJWT + cryptography, the venv of
# .ci/interop.sh), sends the requests; each check prints its figures and fails the script
# when violated:
#   - 60 participants in 12 new rooms join concurrently through HAProxy (login, room page,
#     /getToken with the page as Referer): exactly one conferenceID per room, every token
#     verifies against the instances' JWKS, each user's userID is the same on every
#     instance (asked directly); in the raw, sha1 and ephemeral userID modes (the
#     instances restarted for each);
#   - end_call on one instance: the others hand out the new ID within RedisRegistry's
#     local_cache_ttl (2 s), asserted with a 1 s margin;
#   - a rolling key rotation (a new key file and keyID file, SIGHUP to one instance at a
#     time): no token fails verification against the union of the instances' JWKS
#     fetched before and after;
#   - one instance killed (SIGKILL) mid-run: no request fails (HAProxy retries on
#     connection failures and empty responses and redispatches), no participant gets
#     another ID, HAProxy marks it DOWN;
#   - Redis stopped mid-run: no 5xx, the room key as conferenceID; started again (empty):
#     per-call IDs again, once the participants have logged in again.
# Then prints the figures as a markdown table (README "Several instances").
#
# Run from anywhere: `bash .ci/multi-instance.sh` (about 2 minutes with the example
# built). Installs redis-server, haproxy and openssl (Debian) and the checker's venv
# (PyPI) when missing.
# Knobs (environment):
#   MI_BASE_PORT=39400   first port tried on 127.0.0.1 (Redis, HAProxy, three instances)
#   MI_PARTICIPANTS=60   participants per join check
#   MI_ROOMS=12          rooms per join check
#   MI_TRAFFIC_SECS=6    length of the mid-run checks (rotation, kill; Redis: 2 s more)
#   MI_OUT=              also write the table to this file
LOG_PREFIX=multi-instance
. "$(dirname "$0")/../.ci/lib.sh"

BASE_PORT=${MI_BASE_PORT:-39400}
PARTICIPANTS=${MI_PARTICIPANTS:-60}
ROOMS=${MI_ROOMS:-12}
TRAFFIC_SECS=${MI_TRAFFIC_SECS:-6}
OUT=${MI_OUT:-}

need redis-server
need haproxy
need openssl
need curl
PY=$(py_venv interop/.venv interop/requirements.txt)
# --all-features: the feature set of `cargo test --all-features`, so CI reuses that build.
BIN=$(cargo_build dev --all-features --example multi_instance)/examples/multi_instance

work_dir
mapfile -t PORTS < <(free_ports 5 "$BASE_PORT")
[ "${#PORTS[@]}" = 5 ] || fail "fewer than 5 free ports on 127.0.0.1 from $BASE_PORT; set MI_BASE_PORT"
REDIS_PORT=${PORTS[0]}
HAPROXY_PORT=${PORTS[1]}
NAMES=(a b c)
declare -A PORT=([a]=${PORTS[2]} [b]=${PORTS[3]} [c]=${PORTS[4]})
declare -A PID=()
REDIS_PID=
CHECK_PID=
# Shared by every instance: the ephemeral-userID secret, the key and its keyID.
SECRET=$(openssl rand -hex 24)
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/key.pem" 2>/dev/null
echo mi-key-1 >"$WORK/key-id"

# event NAME: records when something happened, for the checker (`NAME UNIX_TIME`).
event() { printf '%s %s\n' "$1" "$(date +%s.%N)" >>"$WORK/events"; }

check() {
  "$PY" .ci/multi_instance_check.py --work "$WORK" --haproxy "http://127.0.0.1:$HAPROXY_PORT" \
    --instance "a=http://127.0.0.1:${PORT[a]}" --instance "b=http://127.0.0.1:${PORT[b]}" \
    --instance "c=http://127.0.0.1:${PORT[c]}" "$@"
}
# check_in_background ARGS...: a check that runs while this script acts; check_wait waits.
check_in_background() {
  check "$@" &
  CHECK_PID=$!
}
check_wait() {
  local pid=$CHECK_PID
  CHECK_PID=
  wait "$pid" || fail "the check failed (above)"
}
on_exit '[ -z "$CHECK_PID" ] || stop "$CHECK_PID"'

start_redis() { redis_start "$REDIS_PORT" "$WORK/redis.log"; }
stop_redis() {
  [ -z "$REDIS_PID" ] || stop "$REDIS_PID"
  REDIS_PID=
}
on_exit stop_redis

# start_instances MODE: the three instances with CALLSTATS_USER_ID=MODE.
start_instances() {
  local name
  for name in "${NAMES[@]}"; do
    BIND=127.0.0.1:${PORT[$name]} INSTANCE_NAME=$name REDIS_URL=redis://127.0.0.1:$REDIS_PORT \
      CALLSTATS_APP_ID=multi-instance-app CALLSTATS_PRIVATE_KEY_FILE=$WORK/key.pem \
      CALLSTATS_KEY_ID_FILE=$WORK/key-id CALLSTATS_EPHEMERAL_SECRET=$SECRET CALLSTATS_USER_ID=$1 \
      RUST_LOG=info NO_COLOR=1 "$BIN" >>"$WORK/$name.log" 2>&1 &
    PID[$name]=$!
  done
  for name in "${NAMES[@]}"; do
    wait_http "http://127.0.0.1:${PORT[$name]}/healthz" 20 "${PID[$name]}" ||
      fail "instance $name did not start: $(tail -n 20 "$WORK/$name.log")"
  done
}
stop_instances() {
  local name
  for name in "${!PID[@]}"; do
    stop "${PID[$name]}"
    unset "PID[$name]"
  done
}
on_exit stop_instances

start_redis
cat >"$WORK/haproxy.cfg" <<EOF
global
  maxconn 4096
  stats socket $WORK/haproxy.sock mode 600 level user

defaults
  mode http
  timeout connect 1s
  timeout client 15s
  timeout server 15s
  timeout http-request 5s
  timeout queue 5s
  timeout check 1s
  # A request that cannot reach an instance, or that an instance drops without an
  # answer (killed mid-request), is sent again, to another instance.
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response

frontend web
  bind 127.0.0.1:$HAPROXY_PORT
  default_backend instances

backend instances
  balance roundrobin
  option httpchk
  http-check send meth GET uri /healthz
  http-check expect status 200
  default-server inter 500ms fastinter 200ms downinter 500ms fall 2 rise 2
  server a 127.0.0.1:${PORT[a]} check
  server b 127.0.0.1:${PORT[b]} check
  server c 127.0.0.1:${PORT[c]} check
EOF
haproxy -c -q -f "$WORK/haproxy.cfg" || fail "invalid HAProxy configuration"
haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
HAPROXY_PID=$!
stop_on_exit "$HAPROXY_PID"
log "Redis 127.0.0.1:$REDIS_PORT, HAProxy 127.0.0.1:$HAPROXY_PORT, instances a b c on ${PORT[a]} ${PORT[b]} ${PORT[c]}"

for mode in raw sha1 ephemeral; do
  log "$PARTICIPANTS participants in $ROOMS new rooms, $mode userIDs"
  stop_instances
  start_instances "$mode"
  check wait-up --up a,b,c || fail "HAProxy does not see the instances: $(cat "$WORK/haproxy.log")"
  check join --mode "$mode" --participants "$PARTICIPANTS" --rooms "$ROOMS" --secret "$SECRET" ||
    fail "the $mode join check failed (above)"
done

log "end_call on one instance, joins on the others"
check end || fail "the end_call check failed (above)"

log "rolling key rotation under traffic"
check snapshot-jwks
check_in_background traffic --phase rotate --seconds "$TRAFFIC_SECS"
sleep 1
# The new key and keyID, written whole (rename), then one instance at a time.
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/key-new.pem" 2>/dev/null
mv "$WORK/key-new.pem" "$WORK/key.pem"
echo mi-key-2 >"$WORK/key-id-new"
mv "$WORK/key-id-new" "$WORK/key-id"
for name in "${NAMES[@]}"; do
  kill -HUP "${PID[$name]}"
  wait_log "$WORK/$name.log" "signing key rotated" 10 || fail "instance $name did not rotate: $(tail -n 5 "$WORK/$name.log")"
  sleep 0.7
done
check_wait

log "instance c killed mid-run"
check_in_background traffic --phase kill --seconds "$TRAFFIC_SECS"
sleep 1.5
kill -9 "${PID[c]}"
wait "${PID[c]}" 2>/dev/null || true
unset "PID[c]"
event killed-c
check_wait

log "Redis stopped mid-run, then started again"
check_in_background traffic --phase redis --seconds $((TRAFFIC_SECS + 2))
sleep 1.5
event redis-stopping
stop_redis
event redis-stopped
check_wait
start_redis
event redis-started
check recover --seconds 20 || fail "the recovery check failed (above)"

check table >"$WORK/table.md"
printf '\n%s\n' "$(cat "$WORK/table.md")"
if [ -n "$OUT" ]; then cp "$WORK/table.md" "$OUT"; fi
log "pass: one conferenceID per call across instances, tokens verify, userIDs agree, end_call within the bound, rotation, a killed instance and a Redis outage without failures"
