#!/usr/bin/env bash
# Load comparison of the layer against bare axum: `bash scripts/load.sh` (from anywhere).
#
# One server binary (`loadserver` in tools/, load testing only), on 127.0.0.1, with
# routes (a) /bare: axum hello world, (b) /nocache/room-1: the same behind the layer
# (the room from the path) with the token cache off, (c) /cache/room-1: the same
# with the cache on, (d) POST /getToken: the token endpoint, from the page of (c) (the
# header `Referer: http://ADDR/cache/room-1` names the room; no body), and three
# controls that pay what cannot be avoided:
# (e) /rawsign/room-1: bare axum plus one raw aws-lc-rs signature in the handler (what (b)
# would be if the layer added nothing but the signature), (f) /static/room-1: bare axum
# answering with the exact headers (c) adds, precomputed (what the bytes alone cost),
# (g) POST /static-token: a handler that gets the same request as (d), reads and parses
# its body as (d) does and answers a precomputed body of the same size with the same
# headers; and one conferenceID per call: (h) /call/room-1, the route of (c) with
# `.calls(Calls::new(MemoryRegistry::new()))`, and (i) /call-redis/room-1, the same on
# tower-callstats-redis' RedisRegistry (default local cache) with a redis-server this
# script starts on 127.0.0.1 when the binary is there (else (i) is skipped, saying why);
# and (j) /floor/room-1, the floor of any layer of this shape: the route of (f) behind a
# route_layer that asks the same user stand-in, puts one shared value into the request
# extensions and adds (f)'s headers; and (k) POST /floor-token, the floor of any token
# endpoint: (g) (the same request) plus the same user stand-in, the two header reads of
# the cross-site check and the read of the Referer. wrk (Debian's package, installed if
# missing) drives them in interleaved rounds a,b,c,d,e,f,g,h,i,j,k,a,...
# with the server and the client pinned to different CPUs where there are at least two.
# After every phase of (b), (c), (d), (h), (i) the server's audit counts must show a token for
# every response wrk counted (and at most one per connection more, for requests in
# flight when wrk stopped). Then a forced re-issue phase: LOAD_CONNECTIONS connections
# send {"forceNew":true} (from the page of (d), its Referer) for one user, and the server
# must sign at most once per forced re-issue interval (10 s). Then a last phase sends 100k
# distinct users to (c) and reads the server's peak RSS (VmHWM).
#
# Prints a markdown table: req/s, p50, p99, the server's CPU time per request, the
# ratios to (a), and the ratios to the controls that pay the same unavoidable cost
# (c/f, d/g, b/e; medians of the per-round ratios), the floors against their controls
# and our routes against the floors (j/f, c/j, k/g, d/k), and the cost of one conferenceID per
# call against (c): h/c (target >= 0.95) and i/c (target >= 0.90). (i) must never have
# fallen back to the room (the server counts failed joins).
#
# Every wrk run is bounded in time. Knobs (environment):
#   LOAD_DURATION=7        seconds per phase and round
#   LOAD_ROUNDS=3          interleaved rounds
#   LOAD_CONNECTIONS=64    wrk connections
#   LOAD_WORKERS=1         server worker threads
#   LOAD_USERS=100         fixed set of users for (b), (c), (d)
#   LOAD_DISTINCT_USERS=100000  users in the memory phase (0 skips it)
#   LOAD_DISTINCT_SECS=60  upper bound on the memory phase
#   LOAD_FORCE_SECS=12     length of the forced re-issue phase (0 skips it)
#   LOAD_PROFILE=release   cargo profile of the server (dev for a quick smoke run)
#   LOAD_OUT=              also write the table to this file
LOG_PREFIX=load
. "$(dirname "$0")/../.ci/lib.sh"

DURATION=${LOAD_DURATION:-7}
ROUNDS=${LOAD_ROUNDS:-3}
CONNECTIONS=${LOAD_CONNECTIONS:-64}
WORKERS=${LOAD_WORKERS:-1}
USERS=${LOAD_USERS:-100}
DISTINCT=${LOAD_DISTINCT_USERS:-100000}
DISTINCT_SECS=${LOAD_DISTINCT_SECS:-60}
PROFILE=${LOAD_PROFILE:-release}
OUT=${LOAD_OUT:-}
FORCE_SECS=${LOAD_FORCE_SECS:-12}
# The crate's default forced re-issue interval (TokenIssuerBuilder::force_new_interval).
FORCE_INTERVAL=10

need wrk
need curl
command -v taskset >/dev/null || log "taskset not found: server and client are not pinned"

case "$PROFILE" in
  release | dev) BIN=$(cargo_build "$PROFILE" -p tower-callstats-tools --bin loadserver)/loadserver ;;
  *) fail "LOAD_PROFILE must be release or dev" ;;
esac

# CPUs: the server's workers on the first ones, wrk on the rest.
NCPU=$(nproc)
SERVER_PIN=() CLIENT_PIN=() CLIENT_THREADS=1
if command -v taskset >/dev/null && [ "$NCPU" -gt "$WORKERS" ]; then
  SERVER_PIN=(taskset -c "0-$((WORKERS - 1))")
  CLIENT_PIN=(taskset -c "$WORKERS-$((NCPU - 1))")
  CLIENT_THREADS=$((NCPU - WORKERS))
  [ "$CLIENT_THREADS" -gt 4 ] && CLIENT_THREADS=4
else
  log "only $NCPU CPUs for $WORKERS workers: server and client share them"
fi

work_dir

# The wrk script: one prebuilt request per user (round robin), or in "distinct" mode a
# new user for every request, stopping after LOAD_LIMIT responses. Prints one RESULT line.
cat >"$WORK/load.lua" <<'LUA'
local path = os.getenv("LOAD_PATH")
local method = os.getenv("LOAD_METHOD")
local users = tonumber(os.getenv("LOAD_USERS"))
local threads = tonumber(os.getenv("LOAD_THREADS"))
local distinct = os.getenv("LOAD_MODE") == "distinct"
local limit = tonumber(os.getenv("LOAD_LIMIT") or "0")
local body = os.getenv("LOAD_BODY")
if body == "" then body = nil end
local referer = os.getenv("LOAD_REFERER")
if referer == "" then referer = nil end
local fixed_user = os.getenv("LOAD_USER")
if fixed_user == "" then fixed_user = nil end
local function headers(user)
  local h = { ["x-load-user"] = user }
  if referer then h["referer"] = referer end
  if body then h["content-type"] = "application/json" end
  return h
end
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
local prebuilt, i, seen = {}, 0, 0
function init(args)
  if not distinct then
    for u = 1, users do
      prebuilt[u] = wrk.format(method, path, headers(fixed_user or ("user-" .. u)), body)
    end
  end
end
function request()
  i = i + 1
  if distinct then
    local u = (i - 1) * threads + tid
    return wrk.format(method, path, headers("distinct-user-" .. (u % users)), body)
  end
  return prebuilt[(i - 1) % users + 1]
end
if distinct then
  function response(status, headers, body)
    seen = seen + 1
    if seen >= limit then wrk.thread:stop() end
  end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
LUA

# (i): a Redis of its own, on a free port of 127.0.0.1, without persistence.
PHASES="a b c d e f g h j k"
REDIS_ARGS=()
REDIS_LINE=
if command -v redis-server >/dev/null; then
  REDIS_PORT=$(free_ports 1 39500)
  [ -n "$REDIS_PORT" ] || fail "no free port on 127.0.0.1 for redis-server"
  redis_start "$REDIS_PORT" "$WORK/redis.log"
  stop_on_exit "$REDIS_PID"
  REDIS_ARGS=(--redis-url "redis://127.0.0.1:$REDIS_PORT")
  PHASES="$PHASES i"
else
  REDIS_LINE="(i) skipped: redis-server not found (Debian's package redis-server)"
  log "$REDIS_LINE"
fi

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "measuring raw and crate signing time on the server's CPU"
SIGN=$("${SERVER_PIN[@]}" "$BIN" --measure-sign 1000)
RAW_SIGN_NS=$(sed -n 's/.*raw_sign_ns=\([0-9]*\).*/\1/p' <<<"$SIGN")
OUR_SIGN_NS=$(sed -n 's/.*our_sign_ns=\([0-9]*\).*/\1/p' <<<"$SIGN")

"${SERVER_PIN[@]}" "$BIN" --workers "$WORKERS" "${REDIS_ARGS[@]}" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
stop_on_exit "$SERVER_PID"
wait_log "$WORK/server.log" '^listening on' 10 || fail "the server did not start: $(cat "$WORK/server.log")"
ADDR=$(sed -n 's/^listening on \([0-9.:]*\) .*/\1/p' "$WORK/server.log")
case "$ADDR" in 127.0.0.1:*) ;; *) fail "refusing a non-loopback address '$ADDR'" ;; esac
log "server $ADDR pid $SERVER_PID, $WORKERS worker(s) ${SERVER_PIN[*]:-unpinned}; wrk -t$CLIENT_THREADS -c$CONNECTIONS ${CLIENT_PIN[*]:-unpinned}"

CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14, $15}' "/proc/$SERVER_PID/stat"; }
declare -A PATHS=([a]=/bare [b]=/nocache/room-1 [c]=/cache/room-1 [d]=/getToken [e]=/rawsign/room-1 [f]=/static/room-1
  [g]=/static-token [h]=/call/room-1 [i]=/call-redis/room-1 [j]=/floor/room-1
  [k]=/floor-token)
declare -A METHODS=([a]=GET [b]=GET [c]=GET [d]=POST [e]=GET [f]=GET [g]=POST [h]=GET [i]=GET [j]=GET [k]=POST)
# (d), (g) and (k): the same request, from the room page of (c) (no body).
TOKEN_REFERER="http://$ADDR/cache/room-1"
declare -A REFERERS=([d]=$TOKEN_REFERER [g]=$TOKEN_REFERER [k]=$TOKEN_REFERER)

# The server's audit counts: "issued reused force_new_limited".
stats() {
  curl -fsS "http://$ADDR/stats" | sed 's/[^0-9]\{1,\}/ /g; s/^ //' | awk '{print $1, $2, $3}'
}
# The joins of (i) whose registry failed (each one answered with the room key).
registry_failures() {
  curl -fsS "http://$ADDR/stats" | sed -n 's/.*"registry_failures":\([0-9]*\).*/\1/p'
}

# run PHASE SECONDS MODE ROUND -> appends
# "phase round rps p50 p99 cpu_us_per_req errors user_us_per_req kernel_us_per_req" to results,
# and checks that (b), (c), (d), (h) and (i) answered every request with a token.
run() {
  local phase=$1 secs=$2 mode=$3 round=$4 before after out counts_before counts_after
  counts_before=$(stats)
  before=$(cpu_ticks)
  out=$(LOAD_PATH=${PATHS[$phase]} LOAD_METHOD=${METHODS[$phase]} LOAD_BODY= \
    LOAD_REFERER=${REFERERS[$phase]:-} LOAD_USERS=$USERS \
    LOAD_MODE=$mode LOAD_THREADS=$CLIENT_THREADS LOAD_LIMIT=0 \
    "${CLIENT_PIN[@]}" wrk -t"$CLIENT_THREADS" -c"$CONNECTIONS" -d"${secs}s" --timeout 5s -s "$WORK/load.lua" "http://$ADDR")
  after=$(cpu_ticks)
  counts_after=$(stats)
  case "$phase" in
    b | c | d | h | i)
      local requests tokens
      requests=$(sed -n 's/^RESULT requests=\([0-9]*\).*/\1/p' <<<"$out")
      # Every token is one audit event: issued (signed) or reused (from the cache).
      tokens=$(awk -v a="$counts_after" -v b="$counts_before" 'BEGIN {
        split(a, x, " "); split(b, y, " "); print (x[1] + x[2]) - (y[1] + y[2]) }')
      if [ "$tokens" -lt "$requests" ] || [ "$tokens" -gt $((requests + CONNECTIONS)) ]; then
        echo "phase $phase round $round: $requests responses but $tokens tokens" >>"$WORK/token-failures"
      fi
      ;;
  esac
  sed -n 's/^RESULT //p' <<<"$out" | awk -v phase="$phase" -v round="$round" -v hz="$CLK_TCK" \
    -v user=$((${after% *} - ${before% *})) -v kernel=$((${after#* } - ${before#* })) '{
      for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      rps = v["requests"] / (v["duration_us"] / 1e6)
      per = v["requests"] > 0 ? 1e6 / hz / v["requests"] : 0
      printf "%s %s %.0f %d %d %.2f %d %.2f %.2f\n", phase, round, rps, v["p50_us"], v["p99_us"], (user + kernel) * per,
        v["errors"], user * per, kernel * per
    }' >>"$WORK/results"
}

log "warm-up: 1 s per route"
for phase in $PHASES; do run "$phase" 1 fixed 0; done
: >"$WORK/results"
for round in $(seq "$ROUNDS"); do
  for phase in $PHASES; do
    run "$phase" "$DURATION" fixed "$round"
    log "round $round: $(tail -n1 "$WORK/results")"
  done
done

FORCE_LINE="skipped (LOAD_FORCE_SECS=0)"
if [ "$FORCE_SECS" -gt 0 ]; then
  log "forced re-issue phase: $CONNECTIONS connections send forceNew for one user for ${FORCE_SECS}s"
  counts_before=$(stats)
  out=$(LOAD_PATH=/getToken LOAD_METHOD=POST LOAD_BODY='{"forceNew":true}' LOAD_REFERER="$TOKEN_REFERER" \
    LOAD_USER=force-user LOAD_USERS=1 \
    LOAD_MODE=fixed LOAD_THREADS=$CLIENT_THREADS LOAD_LIMIT=0 \
    "${CLIENT_PIN[@]}" wrk -t"$CLIENT_THREADS" -c"$CONNECTIONS" -d"${FORCE_SECS}s" --timeout 5s -s "$WORK/load.lua" "http://$ADDR")
  counts_after=$(stats)
  read -r forced signed limited < <(awk -v a="$counts_after" -v b="$counts_before" -v out="$out" 'BEGIN {
    split(a, x, " "); split(b, y, " "); match(out, /requests=[0-9]+/); n = substr(out, RSTART + 9, RLENGTH - 9)
    print n, x[1] - y[1], x[3] - y[3] }')
  bound=$(((FORCE_SECS + FORCE_INTERVAL - 1) / FORCE_INTERVAL + 1))
  FORCE_LINE="$forced requests with forceNew:true for one user in ${FORCE_SECS} s over $CONNECTIONS connections: $signed signatures (at most $bound allowed: one per ${FORCE_INTERVAL} s), $limited answered with the token just signed"
  [ "$forced" -gt 0 ] || fail "the forced re-issue phase served nothing: $out"
  [ "$signed" -le "$bound" ] || echo "forced re-issue: $signed signatures in ${FORCE_SECS}s, more than $bound" >>"$WORK/token-failures"
  [ "$((signed + limited))" -ge "$forced" ] || echo "forced re-issue: $forced responses but $((signed + limited)) tokens" >>"$WORK/token-failures"
fi

if [ -n "${REDIS_ARGS[*]}" ]; then
  failed_joins=$(registry_failures)
  [ "$failed_joins" = 0 ] ||
    echo "(i): $failed_joins joins failed in Redis and fell back to the room key" >>"$WORK/token-failures"
  REDIS_LINE="(i) joins that failed in Redis and fell back to the room key: $failed_joins"
fi

HWM_BEFORE=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
DISTINCT_LINE="skipped (LOAD_DISTINCT_USERS=0)"
if [ "$DISTINCT" -gt 0 ]; then
  log "memory phase: $DISTINCT distinct users on /cache (at most ${DISTINCT_SECS}s)"
  out=$(LOAD_PATH=/cache/room-1 LOAD_METHOD=GET LOAD_USERS=$DISTINCT LOAD_MODE=distinct LOAD_THREADS=1 \
    LOAD_LIMIT="$DISTINCT" "${CLIENT_PIN[@]}" wrk -t1 -c"$CONNECTIONS" -d"${DISTINCT_SECS}s" --timeout 5s \
    -s "$WORK/load.lua" "http://$ADDR")
  sent=$(sed -n 's/^RESULT requests=\([0-9]*\).*/\1/p' <<<"$out")
  errors=$(sed -n 's/^RESULT .*errors=\([0-9]*\).*/\1/p' <<<"$out")
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
  DISTINCT_LINE=$(awk -v h="$hwm" -v b="$HWM_BEFORE" -v r="$rss" -v s="$sent" -v e="$errors" -v d="$DISTINCT" 'BEGIN {
    printf "peak RSS (VmHWM) %.1f MiB after %d requests from %d distinct users (%d errors); %.1f MiB before this phase, %.1f MiB resident at the end",
      h / 1024, s, (s < d ? s : d), e, b / 1024, r / 1024 }')
fi

TABLE=$(awk -v rounds="$ROUNDS" -v raw_ns="$RAW_SIGN_NS" -v our_ns="$OUR_SIGN_NS" -v workers="$WORKERS" \
  -v distinct="$DISTINCT_LINE" -v force="$FORCE_LINE" -v dur="$DURATION" -v conns="$CONNECTIONS" -v users="$USERS" \
  -v redis="$REDIS_LINE" '
  function median(list, n,   arr, k, i, j, t) {
    k = split(list, arr, " ")
    for (i = 2; i <= k; i++) { t = arr[i]; for (j = i - 1; j >= 1 && arr[j] + 0 > t + 0; j--) arr[j + 1] = arr[j]; arr[j + 1] = t }
    return k % 2 ? arr[(k + 1) / 2] : (arr[k / 2] + arr[k / 2 + 1]) / 2
  }
  { rps[$1] = rps[$1] " " $3; p50[$1] = p50[$1] " " $4; p99[$1] = p99[$1] " " $5; cpu[$1] = cpu[$1] " " $6
    ucpu[$1] = ucpu[$1] " " $8; kcpu[$1] = kcpu[$1] " " $9
    err[$1] += $7; by[$1, $2] = $3; if ($2 > maxr) maxr = $2 }
  END {
    name["a"] = "(a) bare axum, `GET /bare`"; name["b"] = "(b) layer, cache off, `GET /nocache/{room}`"
    name["c"] = "(c) layer, cache on, `GET /cache/{room}`"; name["d"] = "(d) token endpoint, `POST /getToken`"
    name["e"] = "(e) control: bare + one raw sign in the handler, `GET /rawsign/{room}`"
    name["f"] = "(f) control: bare + the headers of (c), precomputed, `GET /static/{room}`"
    name["g"] = "(g) control: reads the body of (d), answers a precomputed body, `POST /static-token`"
    name["h"] = "(h) per call, in memory, `GET /call/{room}`"; name["i"] = "(i) per call, Redis, `GET /call-redis/{room}`"
    name["j"] = "(j) control: the floor of a layer of this shape (route_layer, user, one extension, the headers of (f)), `GET /floor/{room}`"
    name["k"] = "(k) control: the floor of a token endpoint ((g) + user + the cross-site check + the Referer), `POST /floor-token`"
    for (r = 1; r <= maxr; r++) {
      for (p in name) if (p != "a" && by["a", r] > 0) ratio[p] = ratio[p] " " by[p, r] / by["a", r]
      if (by["e", r] > 0) b_over_e = b_over_e " " by["b", r] / by["e", r]
      if (by["f", r] > 0) c_over_f = c_over_f " " by["c", r] / by["f", r]
      if (by["g", r] > 0) d_over_g = d_over_g " " by["d", r] / by["g", r]
      if (by["c", r] > 0 && by["h", r] > 0) h_over_c = h_over_c " " by["h", r] / by["c", r]
      if (by["c", r] > 0 && by["i", r] > 0) i_over_c = i_over_c " " by["i", r] / by["c", r]
      if (by["f", r] > 0 && by["j", r] > 0) { j_over_f = j_over_f " " by["j", r] / by["f", r]; c_over_j = c_over_j " " by["c", r] / by["j", r] }
      if (by["g", r] > 0 && by["k", r] > 0) { k_over_g = k_over_g " " by["k", r] / by["g", r]; d_over_k = d_over_k " " by["d", r] / by["k", r] }
    }
    printf "| route | req/s | p50 | p99 | req/s vs (a) | server CPU per request (user + kernel) | server CPU busy | errors |\n"
    printf "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    split("a b c d e f g h i j k", order, " ")
    for (i = 1; i <= 11; i++) {
      p = order[i]
      if (rps[p] == "") continue
      printf "| %s | %.0f | %.2f ms | %.2f ms | %s | %.1f us (%.1f + %.1f) | %.0f%% | %d |\n", name[p], median(rps[p]),
        median(p50[p]) / 1000, median(p99[p]) / 1000, p == "a" ? "1" : sprintf("**%.3f**", median(ratio[p])),
        median(cpu[p]), median(ucpu[p]), median(kcpu[p]),
        median(rps[p]) * median(cpu[p]) / 1e4 / workers, err[p]
    }
    a = median(rps["a"]); t_bare = workers / a * 1e6; t_sign = raw_ns / 1000; cpu_a = median(cpu["a"])
    ideal = t_bare / (t_bare + t_sign)
    printf "\nMedians of %d interleaved rounds of %d s each; wrk -c%d, %d users round robin; %d server worker(s).\n", rounds, dur, conns, users, workers
    printf "Raw aws-lc-rs ES256 sign: %.2f us; a whole token from the crate (cache off): %.2f us (%.3fx raw).\n", t_sign, our_ns / 1000, our_ns / raw_ns
    printf "Ideal b/a = bare time / (bare time + raw sign) = %.2f / (%.2f + %.2f) = %.3f; measured b/a %.3f = %.2f of ideal.\n",
      t_bare, t_bare, t_sign, ideal, median(ratio["b"]), median(ratio["b"]) / ideal
    printf "Against the controls that pay the same unavoidable cost (medians of the per-round ratios): **c/f = %.3f** (the same headers), **d/g = %.3f** (the same body in and out), **b/e = %.3f** (one signature).\n", median(c_over_f), median(d_over_g), median(b_over_e)
    if (j_over_f != "") printf "The floor of a layer of this shape against (f): **j/f = %.3f**; the cached layer against that floor (its own work): **c/j = %.3f**.\n", median(j_over_f), median(c_over_j)
    if (k_over_g != "") printf "The floor of a token endpoint against (g): **k/g = %.3f**; the token endpoint against that floor (its own work): **d/k = %.3f**.\n", median(k_over_g), median(d_over_k)
    printf "By server CPU per request (independent of the client): (a)/(b) %.3f (ideal %.3f), (a)/(c) %.3f, (a)/(d) %.3f.\n",
      cpu_a / median(cpu["b"]), cpu_a / (cpu_a + t_sign), cpu_a / median(cpu["c"]), cpu_a / median(cpu["d"])
    printf "Server user-space CPU per request over (a): (b) +%.2f us (raw sign %.2f us), (c) +%.2f us, (d) +%.2f us.\n",
      median(ucpu["b"]) - median(ucpu["a"]), t_sign, median(ucpu["c"]) - median(ucpu["a"]), median(ucpu["d"]) - median(ucpu["a"])
    printf "One conferenceID per call, against the same route with the room as conferenceID (medians of the per-round ratios): **h/c = %.3f** in memory (target >= 0.95: %s)", median(h_over_c), (median(h_over_c) >= 0.95 ? "met" : "missed")
    if (i_over_c != "") printf ", **i/c = %.3f** with Redis (target >= 0.90: %s)", median(i_over_c), (median(i_over_c) >= 0.90 ? "met" : "missed")
    printf "; %s.\n", redis
    printf "Forced re-issue: %s.\n", force
    printf "Memory: %s.\n", distinct
  }' "$WORK/results")

printf '\nMachine: %s CPUs (nproc), %s; %s; load average at the start %s\n\n%s\n' "$NCPU" \
  "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)" "$(uname -sr)" "$LOAD_AT_START" "$TABLE"
if [ -n "$OUT" ]; then printf '%s\n' "$TABLE" >"$OUT"; fi
if [ -s "$WORK/token-failures" ]; then
  cat "$WORK/token-failures" >&2
  fail "tokens were not issued as counted (above)"
fi
