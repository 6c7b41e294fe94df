#!/usr/bin/env bash
# One job: redis/examples/multi_instance.rs on three instances behind HAProxy, their calls
# in a Redis managed by Sentinel (as in production: a primary, a replica, three sentinels),
# the primary killed mid-run. The instances' calls are on a `redis-sentinel://` URL
# naming the three sentinels; their sessions on a redis-server of their own. Everything
# binds 127.0.0.1 and is stopped on exit. The checker (.ci/multi_instance_check.py)
# prints each phase's figures (joins, failed requests, 5xx, rooms with two conferenceIDs
# at once, rooms split after recovery) and fails the script when violated:
#   1. 60 participants in 12 new rooms join concurrently (ephemeral userIDs): one
#      conferenceID per room, tokens verify, userIDs agree;
#   2. under traffic the primary is killed (SIGKILL); the sentinels promote the replica
#      (down-after-milliseconds 1000); once they name it, the old primary is started again
#      (empty). No 5xx and no failed request; no room with two IDs at once; after the
#      failover every participant, and newcomers, get the ongoing call's ID, and the new
#      primary holds it;
#   3. the old primary rejoins as a replica of the new one (ROLE, INFO replication).
# What the README documents, and the only splits that pass: during the failover a room no
# instance saw gets the room itself as conferenceID (the prober's new rooms, reported;
# phase 2 fails if one still does 3 s after the failover); a room only one instance saw
# may split if the new primary lacks it (no such room here). Any other split, any 5xx,
# fails.
#
# Run from anywhere: `bash .ci/redis-sentinel.sh` (about 30 s with the example built).
# Installs redis-server, redis-sentinel, redis-tools, haproxy, openssl and curl (Debian)
# and the checker's venv (PyPI) when missing.
# Knobs (environment): MI_BASE_PORT (default 29500), MI_BIN, MI_KEEP_GOING, MI_KEY_FORMAT,
# MI_LOGS, MI_OUT: as in .ci/multi-instance.sh.
LOG_PREFIX=redis-sentinel
. "$(dirname "$0")/../.ci/lib.sh"

need redis-sentinel
mi_prepare
mi_ports 10 "${MI_BASE_PORT:-29500}"
SESSIONS_PORT=${PORTS[0]} PRIMARY=${PORTS[1]} REPLICA=${PORTS[2]} HAPROXY_PORT=${PORTS[3]}
SENTINELS=("${PORTS[4]}" "${PORTS[5]}" "${PORTS[6]}")
MI_PORT=([a]=${PORTS[7]} [b]=${PORTS[8]} [c]=${PORTS[9]})
CALLS_URL="redis-sentinel://127.0.0.1:${SENTINELS[0]}/1?sentinelServiceName=calls"
CALLS_URL+="&node=127.0.0.1:${SENTINELS[1]}&node=127.0.0.1:${SENTINELS[2]}"
MI_CALLS_URL=([a]=$CALLS_URL [b]=$CALLS_URL [c]=$CALLS_URL)
# The replica, which becomes the primary: what the checker reads the calls from.
MI_CHECK_ARGS+=(--calls-redis "$REPLICA" --calls-db 1)

redis_start "$SESSIONS_PORT" "$WORK/sessions-redis.log"
stop_on_exit "$REDIS_PID"
# A replica syncs at once (no diskless-sync delay), as a long-running one is in sync.
SYNC=(--repl-diskless-sync-delay 0)
redis_start "$PRIMARY" "$WORK/primary.log" "${SYNC[@]}"
PRIMARY_PID=$REDIS_PID
on_exit 'stop "$PRIMARY_PID"'
redis_start "$REPLICA" "$WORK/replica.log" "${SYNC[@]}" --replicaof 127.0.0.1 "$PRIMARY"
stop_on_exit "$REDIS_PID"
wait_until 20 redis_replica_up "$REPLICA" || fail "the replica did not sync: $(tail -n 5 "$WORK/replica.log")"

for port in "${SENTINELS[@]}"; do
  mkdir -p "$WORK/sentinel-$port"
  cat >"$WORK/sentinel-$port.conf" <<EOF
port $port
bind 127.0.0.1
daemonize no
dir $WORK/sentinel-$port
sentinel monitor calls 127.0.0.1 $PRIMARY 2
sentinel down-after-milliseconds calls 1000
sentinel failover-timeout calls 5000
sentinel parallel-syncs calls 1
EOF
  redis-sentinel "$WORK/sentinel-$port.conf" >>"$WORK/sentinel-$port.log" 2>&1 &
  stop_on_exit $!
done
# sentinel_ready PORT: the sentinel knows the replica and the two other sentinels.
sentinel_ready() {
  rcli "$1" SENTINEL master calls | tr -d '\r' |
    awk 'prev == "num-slaves" { s = $0 } prev == "num-other-sentinels" { o = $0 } { prev = $0 }
      END { exit !(s == 1 && o == 2) }'
}
for port in "${SENTINELS[@]}"; do
  wait_until 30 sentinel_ready "$port" || fail "sentinel $port does not see the replica and the others"
done
# names_primary PORT: every sentinel names 127.0.0.1:PORT the primary.
names_primary() {
  local sentinel
  for sentinel in "${SENTINELS[@]}"; do
    [ "$(rcli "$sentinel" SENTINEL get-master-addr-by-name calls | tr -d '\r' | tail -n 1)" = "$1" ] || return 1
  done
}
names_primary "$PRIMARY" || fail "the sentinels do not name $PRIMARY the primary"

mi_start ephemeral "redis://127.0.0.1:$SESSIONS_PORT/0" a b c
haproxy_start "$HAPROXY_PORT" a b c
log "HAProxy $HAPROXY_URL; primary $PRIMARY, replica $REPLICA, sentinels ${SENTINELS[*]}; sessions $SESSIONS_PORT"
mi_check wait-up --up a,b,c || fail "HAProxy does not see the instances: $(cat "$WORK/haproxy.log")"

log "1. 60 participants in 12 new rooms"
mi_check join --mode ephemeral --secret "$MI_SECRET" || mi_failed "joins"

log "2. the primary killed under traffic; the old primary started again after the failover"
mi_check_bg traffic --phase fault --label "Sentinel: primary killed (SIGKILL), replica promoted" \
  --label-key sentinel --fault-from primary-killed --fault-to failover-done --seconds 16
sleep 2
kill -9 "$PRIMARY_PID"
wait "$PRIMARY_PID" 2>/dev/null || true
event primary-killed
promoted() { names_primary "$REPLICA" && rcli "$REPLICA" ROLE | head -n 1 | grep -q '^master'; }
if wait_until 30 promoted; then
  event failover-done
  sleep 1
  redis_start "$PRIMARY" "$WORK/primary.log" "${SYNC[@]}"
  PRIMARY_PID=$REDIS_PID
  event old-primary-started
else
  log "the sentinels did not promote the replica within 30 s: $(tail -n 5 "$WORK/sentinel-${SENTINELS[0]}.log")"
fi
mi_check_wait || mi_failed "Sentinel failover"

log "3. the old primary rejoins as a replica"
mi_check replica --port "$PRIMARY" --primary "$REPLICA" --seconds 20 || mi_failed "old primary rejoins"

mi_finish "${MI_OUT:-}"
log "pass: a Sentinel failover under traffic without a 5xx or a split call; the old primary rejoined as a replica"
