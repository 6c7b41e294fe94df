#!/usr/bin/env bash
# One job: redis/examples/multi_instance.rs (crate tower-callstats-redis) on three instances
# behind HAProxy (round robin, health checks on /healthz), with the faults of the calls'
# Redis a production deployment meets. The calls live in one redis-server (database 1),
# the sessions in another (database 0), so that a fault of the calls' Redis is seen by
# logged-in users; instance c reaches the calls' Redis through a TCP proxy of the checker.
# Everything binds 127.0.0.1 and is stopped on exit. The checker,
# .ci/multi_instance_check.py (PyJWT + cryptography, the venv of .ci/interop.sh), sends
# the requests; each phase prints its figures (joins, failed requests, 5xx, rooms with two
# conferenceIDs at once, rooms split after recovery) and fails the script when violated:
#   1. start-up order: the instances start before Redis (/healthz answers without it); once
#      Redis answers, each hands out per-call IDs, the same as the others', within 2 s;
#   2. 60 participants in 12 new rooms join concurrently (raw, sha1 and ephemeral userIDs,
#      the instances restarted for each): one conferenceID per room, every token verifies
#      against the JWKS, each userID the same on every instance, 403 not_logged_in without
#      a session;
#   3. end_call with the call's conferenceID: the others hand out the new ID within the
#      local cache's 2 s (1 s margin); another ID, or a late end, ends nothing;
#   4. an end sent while the calls' Redis hangs (SIGSTOP) answers 503; retried after a
#      newer call started, it ends nothing and the newer call stays;
#   5. a silenced link: the proxy stops forwarding instance c's connections (new ones
#      work); c opens a new one within command timeout + unresponsive timeout + 1 s, and no
#      room splits;
#   6. a rolling key rotation (SIGHUP one instance at a time): every token verifies
#      against the union of the JWKS fetched before and after;
#   7. instance c killed (SIGKILL): no request fails, nobody gets another ID (c is then
#      started again);
#   8. the calls' Redis paused 3 s (SIGSTOP): no 5xx, no room with two IDs at once;
#   9. the calls' Redis restarted empty: no 5xx, no room split after recovery (newcomers
#      get the ongoing call's ID; Redis holds it again);
#  10. the sessions' Redis stopped: logins answer 503, requests are anonymous (401, 403),
#      never a 500; started again (empty): logins work again.
# What the README documents, and the only splits that pass: a room only one instance saw
# may split when Redis loses its data (phase 9 reports three such rooms); during an outage,
# a room no instance saw gets the room itself as conferenceID (each fault's prober reports
# its new rooms). Any other split, and any 5xx but the documented 503s, fails.
#
# Run from anywhere: `bash .ci/multi-instance.sh` (about a minute with the example built).
# Installs redis-server, redis-tools, haproxy, openssl and curl (Debian) and the checker's
# venv (PyPI) when missing.
# Knobs (environment):
#   MI_BASE_PORT=29400   first port tried on 127.0.0.1 (below the kernel's ephemeral ports)
#   MI_PARTICIPANTS=60   participants per join check
#   MI_ROOMS=12          rooms per join check
#   MI_TRAFFIC_SECS=6    length of the rotation and kill phases
#   MI_BIN=              the example's binary (default: a dev build of this tree)
#   MI_KEEP_GOING=       1: run every phase, then fail with the list of failed ones
#   MI_KEY_FORMAT=       legacy: MI_BIN's registry keys are the prefix and the room (no hash tag)
#   MI_LOGS=             keep the instances', Redis' and HAProxy's logs and the events in this directory
#   MI_OUT=              also write the table to this file
LOG_PREFIX=multi-instance
. "$(dirname "$0")/../.ci/lib.sh"

PARTICIPANTS=${MI_PARTICIPANTS:-60}
ROOMS=${MI_ROOMS:-12}
TRAFFIC_SECS=${MI_TRAFFIC_SECS:-6}

mi_prepare
mi_ports 7 "${MI_BASE_PORT:-29400}"
SESSIONS_PORT=${PORTS[0]} CALLS_PORT=${PORTS[1]} HAPROXY_PORT=${PORTS[2]} PROXY_PORT=${PORTS[3]}
MI_PORT=([a]=${PORTS[4]} [b]=${PORTS[5]} [c]=${PORTS[6]})
SESSIONS_URL=redis://127.0.0.1:$SESSIONS_PORT/0
MI_CALLS_URL=([a]=redis://127.0.0.1:$CALLS_PORT/1 [b]=redis://127.0.0.1:$CALLS_PORT/1
  [c]=redis://127.0.0.1:$PROXY_PORT/1)
MI_CHECK_ARGS+=(--calls-redis "$CALLS_PORT" --calls-db 1)
SESSIONS_PID='' CALLS_PID=''
on_exit '[ -z "$SESSIONS_PID" ] || stop "$SESSIONS_PID"; [ -z "$CALLS_PID" ] || stop "$CALLS_PID"'

start_calls() {
  redis_start "$CALLS_PORT" "$WORK/calls-redis.log"
  CALLS_PID=$REDIS_PID
}
# mode_of_state: the userID mode of the last join check (the instances' mode).
mode_of_state() { "$MI_PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["mode"])' "$WORK/state.json"; }
start_sessions() {
  redis_start "$SESSIONS_PORT" "$WORK/sessions-redis.log"
  SESSIONS_PID=$REDIS_PID
}

"$MI_PY" .ci/multi_instance_check.py --work "$WORK" proxy --listen "$PROXY_PORT" --target "$CALLS_PORT" \
  >>"$WORK/proxy.log" 2>&1 &
PROXY_PID=$!
stop_on_exit "$PROXY_PID"
wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PROXY_PORT" 2>/dev/null || fail "the proxy did not start"

log "1. the instances start before Redis"
mi_start raw "$SESSIONS_URL" a b c
haproxy_start "$HAPROXY_PORT" a b c
log "HAProxy $HAPROXY_URL, instances on ${MI_PORT[a]} ${MI_PORT[b]} ${MI_PORT[c]}, calls' Redis $CALLS_PORT" \
  "(c through the proxy $PROXY_PORT), sessions' Redis $SESSIONS_PORT"
mi_check_bg startup --seconds 10
sleep 1
start_sessions
start_calls
event redis-started
mi_check_wait || mi_failed "instances started before Redis"

for mode in raw sha1 ephemeral; do
  log "2. $PARTICIPANTS participants in $ROOMS new rooms, $mode userIDs"
  mi_stop_instances
  mi_start "$mode" "$SESSIONS_URL" a b c
  mi_check wait-up --up a,b,c || fail "HAProxy does not see the instances: $(cat "$WORK/haproxy.log")"
  mi_check join --mode "$mode" --participants "$PARTICIPANTS" --rooms "$ROOMS" --secret "$MI_SECRET" ||
    mi_failed "joins ($mode userIDs)"
done

log "3. end_call on one instance, joins on the others"
mi_check end || mi_failed "end_call"

log "4. an end while the calls' Redis hangs, retried after a newer call started"
mi_check_bg late-end
if wait_log "$WORK/events" '^late-end-ready ' 30; then
  kill -STOP "$CALLS_PID"
  event calls-paused
  wait_log "$WORK/events" '^late-end-sent ' 10 || true
  sleep 1
  kill -CONT "$CALLS_PID"
  event calls-resumed
fi
mi_check_wait || mi_failed "late end"

log "5. instance c's link to the calls' Redis silenced"
mi_check_bg traffic --phase fault --label "link of instance c silenced (new links work)" --label-key silence \
  --fault-from proxy-silenced --fault-to proxy-new-link --bound silence --seconds 8
sleep 2
kill -USR1 "$PROXY_PID"
mi_check_wait || mi_failed "silenced link"
kill -USR2 "$PROXY_PID" # the silenced links reset, for an instance that never noticed

log "6. rolling key rotation under traffic"
mi_check snapshot-jwks
mi_check_bg traffic --phase rotate --seconds "$TRAFFIC_SECS"
sleep 1
# The new key and keyID, written whole (rename), then one instance at a time.
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/key-new.pem" 2>/dev/null
mv "$WORK/key-new.pem" "$WORK/key.pem"
echo mi-key-2 >"$WORK/key-id-new"
mv "$WORK/key-id-new" "$WORK/key-id"
for name in a b c; do
  kill -HUP "${MI_PID[$name]}"
  wait_log "$WORK/$name.log" "signing key rotated" 10 ||
    fail "instance $name did not rotate: $(tail -n 5 "$WORK/$name.log")"
  sleep 0.7
done
mi_check_wait || mi_failed "rolling key rotation"

log "7. instance c killed mid-run, then started again"
mi_check_bg traffic --phase kill --seconds "$TRAFFIC_SECS"
sleep 1.5
kill -9 "${MI_PID[c]}"
wait "${MI_PID[c]}" 2>/dev/null || true
unset "MI_PID[c]"
event killed-c
mi_check_wait || mi_failed "instance killed"
mi_start "$(mode_of_state)" "$SESSIONS_URL" c
event started-c
mi_check wait-up --up a,b,c || fail "HAProxy does not see c again"

log "8. the calls' Redis paused for 3 s (SIGSTOP)"
mi_check_bg traffic --phase fault --label "calls' Redis paused 3 s (SIGSTOP)" --label-key stall \
  --fault-from stall-paused --fault-to stall-resumed --seconds 9
sleep 2
kill -STOP "$CALLS_PID"
event stall-paused
sleep 3
kill -CONT "$CALLS_PID"
event stall-resumed
mi_check_wait || mi_failed "Redis paused"

log "9. the calls' Redis restarted empty"
mi_check prepare-one-instance --label-key restart
mi_check_bg traffic --phase fault --label "calls' Redis restarted empty" --label-key restart \
  --fault-from restart-stopping --fault-to restart-started --seconds 9
sleep 2
event restart-stopping
stop "$CALLS_PID"
start_calls
event restart-started
mi_check_wait || mi_failed "Redis restarted empty"

log "10. the sessions' Redis stopped, then started again (empty)"
stop "$SESSIONS_PID"
event sessions-stopped
mi_check sessions-down || mi_failed "sessions' Redis stopped"
start_sessions
event sessions-started
mi_check sessions-up || mi_failed "sessions' Redis started again"

mi_finish "${MI_OUT:-}"
log "pass: one conferenceID per call across instances and through every fault of the calls' Redis; tokens" \
  "verify, userIDs agree, end_call within its bound, rotation, a killed instance, a sessions outage without a 500"
