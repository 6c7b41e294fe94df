#!/usr/bin/env bash
# Soak test of the demo server: `bash scripts/soak.sh` (from anywhere).
#
# Builds the demo (release), starts it on 127.0.0.1 with its development key, logs in
# SOAK_SESSIONS users, then runs wrk (Debian's package, installed if missing) for
# SOAK_SECS with SOAK_CONNECTIONS connections. A Lua script spreads the requests over
# every session cookie and over GET /rooms/{room} (the layer, token in a header) and
# POST /getToken (the endpoint, token in the JSON body), and counts the responses that
# are not 2xx or carry no token. The server's VmRSS is sampled every SOAK_SAMPLE_SECS.
#
# Passes when: no socket errors (connect, read, write, timeout), every response 2xx
# with a token, and RSS flat: the last sample at most SOAK_RSS_GROWTH_PCT percent
# (plus 8 MiB of allocator slack) above the first sample taken after SOAK_WARMUP_SECS.
# Prints requests, req/s, and RSS first/last/max.
#
# Knobs (environment):
#   SOAK_SECS=60            length of the wrk run (bounded: wrk stops itself)
#   SOAK_CONNECTIONS=256    wrk connections
#   SOAK_THREADS=2          wrk threads
#   SOAK_SESSIONS=16        logged-in users whose cookies the requests spread over
#   SOAK_ROOMS=32           distinct rooms
#   SOAK_SAMPLE_SECS=5      RSS sampling interval
#   SOAK_WARMUP_SECS=5      RSS baseline is the first sample after this
#   SOAK_RSS_GROWTH_PCT=25  allowed RSS growth after warm-up
#   SOAK_PORT=39391         port on 127.0.0.1
#   SOAK_PROFILE=release    cargo profile of the demo (dev for a quick CI run)
LOG_PREFIX=soak
. "$(dirname "$0")/../.ci/lib.sh"

SECS=${SOAK_SECS:-60}
CONNECTIONS=${SOAK_CONNECTIONS:-256}
THREADS=${SOAK_THREADS:-2}
SESSIONS=${SOAK_SESSIONS:-16}
ROOMS=${SOAK_ROOMS:-32}
SAMPLE=${SOAK_SAMPLE_SECS:-5}
WARMUP=${SOAK_WARMUP_SECS:-5}
GROWTH=${SOAK_RSS_GROWTH_PCT:-25}
PORT=${SOAK_PORT:-39391}
PROFILE=${SOAK_PROFILE:-release}

need wrk
need curl
case "$PROFILE" in
  release | dev) BIN=$(cargo_build "$PROFILE" -p demo)/demo ;;
  *) fail "SOAK_PROFILE must be release or dev" ;;
esac
port_free "$PORT" || fail "127.0.0.1:$PORT is in use; set SOAK_PORT"
work_dir

# Every login comes from 127.0.0.1: allow that one client all of the soak's sessions
# (DEMO_SESSIONS_PER_CLIENT, default 5).
BIND=127.0.0.1:$PORT RUST_LOG=warn DEMO_SESSION_TTL_SECS=$((SECS + 600)) DEMO_SESSIONS_PER_CLIENT=$SESSIONS \
  "$BIN" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
stop_on_exit "$SERVER_PID"
BASE=http://127.0.0.1:$PORT
wait_http "$BASE/" 20 "$SERVER_PID" || fail "the demo does not answer on $BASE: $(cat "$WORK/server.log")"

# Log in: one session cookie per user.
COOKIES=()
for i in $(seq 1 "$SESSIONS"); do
  cookie=$(curl -fsS -o /dev/null -D - -d "username=soak-user-$i" "$BASE/login" |
    tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \(__Host-demo_session=[^;]*\);.*/\1/p')
  [ -n "$cookie" ] || fail "login of soak-user-$i gave no session cookie"
  COOKIES+=("\"$cookie\"")
done
# A sanity request with a session before the load: a token must come back.
curl -fsS -D - -o /dev/null -b "${COOKIES[0]//\"/}" "$BASE/rooms/soak-check" | grep -qi '^x-callstats-token: ey' ||
  fail "no token on a logged-in room page"

cat >"$WORK/soak.lua" <<EOF
local cookies = { $(IFS=,; echo "${COOKIES[*]}") }
local rooms = $ROOMS
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  n = id * 7919
  responses = 0
  non2xx = 0
  notoken = 0
end

function request()
  n = n + 1
  local cookie = cookies[(n % #cookies) + 1]
  local room = "room-" .. (math.floor(n / #cookies) % rooms)
  if n % 2 == 0 then
    return wrk.format("GET", "/rooms/" .. room, { ["Cookie"] = cookie })
  end
  -- The endpoint takes the room from the page that asks: its Referer.
  return wrk.format("POST", "/getToken",
    { ["Cookie"] = cookie, ["Referer"] = "$BASE/rooms/" .. room, ["Content-Type"] = "application/json" },
    '{"forceNew":false}')
end

function response(status, headers, body)
  responses = responses + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  elseif headers["x-callstats-token"] == nil and not string.find(body, '"token":"ey', 1, true) then
    notoken = notoken + 1
  end
end

function done(summary, latency, requests)
  local r, bad, missing = 0, 0, 0
  for _, t in ipairs(threads) do
    r = r + t:get("responses")
    bad = bad + t:get("non2xx")
    missing = missing + t:get("notoken")
  end
  local e = summary.errors
  io.write(string.format("SOAK requests=%d responses=%d non2xx=%d notoken=%d connect=%d read=%d write=%d timeout=%d status=%d duration_us=%d\n",
    summary.requests, r, bad, missing, e.connect, e.read, e.write, e.timeout, e.status, summary.duration))
end
EOF

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }
(
  sleep "$WARMUP"
  while alive "$SERVER_PID"; do
    rss_kb >>"$WORK/rss" || true
    sleep "$SAMPLE"
  done
) &
SAMPLER_PID=$!
stop_on_exit "$SAMPLER_PID"

log "wrk: ${SECS}s, $CONNECTIONS connections, $THREADS threads, $SESSIONS sessions, $ROOMS rooms, $PROFILE build"
# wrk stops itself after -d; `timeout` is a second bound.
timeout $((SECS + 30)) wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECS}s" --timeout 10s --latency \
  -s "$WORK/soak.lua" "$BASE" | tee "$WORK/wrk.out" >&2
rss_kb >>"$WORK/rss"
stop "$SAMPLER_PID"

line=$(grep '^SOAK ' "$WORK/wrk.out") || fail "wrk printed no summary"
field() { sed -n "s/.* $1=\([0-9]*\).*/\1/p" <<<"$line"; }
requests=$(field requests) responses=$(field responses) non2xx=$(field non2xx) notoken=$(field notoken)
socket=$(($(field connect) + $(field read) + $(field write) + $(field timeout)))
rps=$((requests * 1000000 / $(field duration_us)))
mapfile -t rss <"$WORK/rss"
first=${rss[0]} last=${rss[-1]} max=$(printf '%s\n' "${rss[@]}" | sort -n | tail -1)
limit=$((first + first * GROWTH / 100 + 8192))

echo "| soak | value |"
echo "| --- | --- |"
echo "| duration, connections, sessions | ${SECS} s, $CONNECTIONS, $SESSIONS |"
echo "| requests (req/s) | $requests ($rps) |"
echo "| socket errors | $socket |"
echo "| non-2xx | $non2xx |"
echo "| 2xx without a token | $notoken |"
echo "| RSS first / last / max (KiB), ${#rss[@]} samples | $first / $last / $max (limit $limit) |"

status=0
[ "$requests" -gt 0 ] && [ "$responses" -gt 0 ] || { log "no requests were made"; status=1; }
[ "$socket" -eq 0 ] || { log "FAIL: $socket socket errors"; status=1; }
[ "$non2xx" -eq 0 ] || { log "FAIL: $non2xx non-2xx responses"; status=1; }
[ "$notoken" -eq 0 ] || { log "FAIL: $notoken 2xx responses without a token"; status=1; }
[ "$last" -le "$limit" ] || { log "FAIL: RSS grew from $first KiB to $last KiB (limit $limit KiB)"; status=1; }
alive "$SERVER_PID" || { log "FAIL: the demo died"; cat "$WORK/server.log" >&2; status=1; }
[ "$status" -eq 0 ] && log "pass"
exit "$status"
