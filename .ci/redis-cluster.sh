#!/usr/bin/env bash
# One job: redis/examples/multi_instance.rs on three instances behind HAProxy, their calls
# in a Redis Cluster as in production (three masters with a replica each), a master killed
# mid-run. The instances' calls are on a `redis-cluster://` URL; their sessions on a
# redis-server of their own. Everything binds 127.0.0.1 and is stopped on exit. The
# checker (.ci/multi_instance_check.py) prints each phase's figures (joins, failed
# requests, 5xx, rooms with two conferenceIDs at once, rooms split after recovery) and
# fails the script when violated:
#   1. 60 participants in 24 new rooms join concurrently (ephemeral userIDs): one
#      conferenceID per room, tokens verify, userIDs agree;
#   2. the rooms' keys are spread over all three masters (SCAN and DBSIZE per master);
#   3. rooms `{a}x`, `{a}y` and `{b}x` get calls whose keys (found in the cluster, and
#      equal to the rule's) lie in three different slots (CLUSTER KEYSLOT, and CRC16 in the
#      checker): a room cannot choose its slot with a hash tag;
#   4. under traffic one master is killed (SIGKILL) and its replica promoted
#      (cluster-node-timeout 1000 ms; the script waits for cluster_state:ok): no 5xx and no
#      failed request, no room with two IDs at once, and after the failover every
#      participant, and newcomers, get the ongoing call's ID, which the cluster holds.
# What the README documents, and the only splits that pass: during the failover a room no
# instance saw gets the room itself as conferenceID (the prober's new rooms, reported;
# phase 4 fails if one still does 3 s after the failover); a room only one instance saw may
# split if the promoted replica lacks it (no such room here). Any other split, any 5xx,
# fails.
#
# Run from anywhere: `bash .ci/redis-cluster.sh` (about 30 s with the example built).
# Installs redis-server, redis-tools, haproxy, openssl and curl (Debian) and the checker's
# venv (PyPI) when missing.
# Knobs (environment): MI_BASE_PORT (default 19700; each node's cluster bus takes its port
# + 10000), MI_BIN, MI_KEEP_GOING, MI_KEY_FORMAT, MI_LOGS, MI_OUT: as in .ci/multi-instance.sh.
LOG_PREFIX=redis-cluster
. "$(dirname "$0")/../.ci/lib.sh"

mi_prepare
mi_ports 11 "${MI_BASE_PORT:-19700}"
SESSIONS_PORT=${PORTS[0]} HAPROXY_PORT=${PORTS[1]}
NODES=("${PORTS[@]:2:6}")
MI_PORT=([a]=${PORTS[8]} [b]=${PORTS[9]} [c]=${PORTS[10]})
CALLS_URL="redis-cluster://127.0.0.1:${NODES[0]}?node=127.0.0.1:${NODES[1]}&node=127.0.0.1:${NODES[2]}"
MI_CALLS_URL=([a]=$CALLS_URL [b]=$CALLS_URL [c]=$CALLS_URL)
MI_CHECK_ARGS+=(--calls-redis "$(
  IFS=,
  echo "${NODES[*]}"
)")

redis_start "$SESSIONS_PORT" "$WORK/sessions-redis.log"
stop_on_exit "$REDIS_PID"
declare -A NODE_PID=()
for port in "${NODES[@]}"; do
  redis_start "$port" "$WORK/node-$port.log" --cluster-enabled yes --cluster-config-file "$WORK/nodes-$port.conf" \
    --cluster-node-timeout 1000 --repl-diskless-sync-delay 0
  NODE_PID[$port]=$REDIS_PID
done
on_exit 'for port in "${!NODE_PID[@]}"; do stop "${NODE_PID[$port]}"; done'
mapfile -t addresses < <(printf '127.0.0.1:%s\n' "${NODES[@]}")
redis-cli --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes \
  >"$WORK/cluster-create.log" 2>&1 || fail "redis-cli --cluster create: $(tail -n 5 "$WORK/cluster-create.log")"
# cluster_ok PORT...: every node answers cluster_state:ok.
cluster_ok() {
  local port
  for port in "$@"; do rcli "$port" CLUSTER INFO | tr -d '\r' | grep -q '^cluster_state:ok$' || return 1; done
}
wait_until 30 cluster_ok "${NODES[@]}" || fail "the cluster is not ok: $(rcli "${NODES[0]}" CLUSTER INFO | head -n 3)"
# Every replica in sync with its master (a replica that never synced cannot take over).
replicas_up() {
  local port
  for port in "$@"; do
    rcli "$port" ROLE | head -n 1 | grep -q '^master' || redis_replica_up "$port" || return 1
  done
}
wait_until 30 replicas_up "${NODES[@]}" || fail "the replicas did not sync"

mi_start ephemeral "redis://127.0.0.1:$SESSIONS_PORT/0" a b c
haproxy_start "$HAPROXY_PORT" a b c
log "HAProxy $HAPROXY_URL; cluster nodes ${NODES[*]}; sessions $SESSIONS_PORT"
mi_check wait-up --up a,b,c || fail "HAProxy does not see the instances: $(cat "$WORK/haproxy.log")"

log "1. 60 participants in 24 new rooms"
mi_check join --mode ephemeral --rooms 24 --secret "$MI_SECRET" || mi_failed "joins"

log "2. the rooms over the masters"
mi_check cluster-spread --port "${NODES[0]}" || mi_failed "rooms over the masters"

log "3. rooms with hash tags in their names"
mi_check hash-tags --port "${NODES[0]}" || mi_failed "hash tags"

# The first master by port and its replica, from CLUSTER NODES (`<id> <ip:port@bus> <flags>
# <master id> ...`).
nodes=$(rcli "${NODES[0]}" CLUSTER NODES | tr -d '\r')
VICTIM=$(awk '$3 ~ /master/ { split($2, a, "[:@]"); print a[2] }' <<<"$nodes" | sort -n | head -n 1)
victim_id=$(awk -v p="127.0.0.1:$VICTIM@" 'index($2, p) == 1 { print $1 }' <<<"$nodes")
PROMOTED=$(awk -v id="$victim_id" '$4 == id { split($2, a, "[:@]"); print a[2] }' <<<"$nodes")
if [ -z "$VICTIM" ] || [ -z "$PROMOTED" ]; then fail "no master with a replica in: $nodes"; fi
SURVIVORS=()
for port in "${NODES[@]}"; do [ "$port" = "$VICTIM" ] || SURVIVORS+=("$port"); done

log "4. master $VICTIM killed under traffic (its replica $PROMOTED takes over)"
mi_check_bg traffic --phase fault --label "Cluster: master killed (SIGKILL), replica promoted" \
  --label-key cluster --fault-from master-killed --fault-to failover-done --seconds 16
sleep 2
kill -9 "${NODE_PID[$VICTIM]}"
wait "${NODE_PID[$VICTIM]}" 2>/dev/null || true
event master-killed
promoted() { rcli "$PROMOTED" ROLE | head -n 1 | grep -q '^master' && cluster_ok "${SURVIVORS[@]}"; }
if wait_until 30 promoted; then
  event failover-done
else
  log "the replica was not promoted within 30 s: $(rcli "$PROMOTED" CLUSTER INFO | head -n 3)"
fi
mi_check_wait || mi_failed "Cluster failover"

mi_finish "${MI_OUT:-}"
log "pass: rooms over every master, hash tags in room names choose no slot, a master's failover under traffic" \
  "without a 5xx or a split call"
