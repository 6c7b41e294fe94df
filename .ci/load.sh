#!/usr/bin/env bash
# Smoke run of the load comparison (scripts/load.sh): every phase for 1 s, one round,
# a 12 s forced re-issue phase, 20k distinct users, the server in the dev profile (a
# quick build). Checks that the table comes out complete, with the per-call rows (h) and
# (i) (Redis; when redis-server is installed, else the reason it was skipped), that no
# request failed, that every response of the layer and the endpoint carried a token and
# (i) never fell back to the room key (scripts/load.sh fails otherwise) and that forced
# re-issue stayed bounded; the timings of such a short run on a debug build mean nothing.
# Run from anywhere: `bash .ci/load.sh`.
# Installs wrk itself (through scripts/load.sh) when missing.
LOG_PREFIX=load
. "$(dirname "$0")/../.ci/lib.sh"

work_dir
out=$WORK/table.md
LOAD_DURATION=${LOAD_DURATION:-1} LOAD_ROUNDS=${LOAD_ROUNDS:-1} LOAD_DISTINCT_USERS=${LOAD_DISTINCT_USERS:-20000} \
  LOAD_FORCE_SECS=${LOAD_FORCE_SECS:-12} \
  LOAD_DISTINCT_SECS=${LOAD_DISTINCT_SECS:-60} LOAD_PROFILE=${LOAD_PROFILE:-dev} LOAD_OUT="$out" bash scripts/load.sh

routes=('(a) bare axum' '(b) layer, cache off' '(c) layer, cache on' '(d) token endpoint' '(e) control'
  '(f) control' '(g) control' '(h) per call, in memory' '(j) control' '(k) control')
if command -v redis-server >/dev/null; then
  routes+=('(i) per call, Redis')
  grep -Eq '\*\*i/c = [0-9.]+\*\* with Redis .*fell back to the room key: 0\.' "$out" ||
    fail "no i/c ratio, or (i) fell back to the room key: $(grep 'h/c' "$out")"
else
  grep -q '(i) skipped: redis-server not found' "$out" || fail "(i) neither ran nor says why it was skipped"
fi
grep -Eq '\*\*h/c = [0-9.]+\*\* in memory' "$out" || fail "no h/c ratio line"
for route in "${routes[@]}"; do
  line=$(grep -F "| $route" "$out") || fail "no row for $route"
  # | route | req/s | p50 | p99 | vs (a) | CPU per request | CPU busy | errors |
  rps=$(awk -F'|' '{gsub(/ /, "", $3); print $3}' <<<"$line")
  errors=$(awk -F'|' '{gsub(/ /, "", $9); print $9}' <<<"$line")
  [ "${rps:-0}" -gt 0 ] || fail "no requests served for $route: $line"
  [ "$errors" = 0 ] || fail "$errors failed requests for $route: $line"
done
grep -q '^Ideal b/a = ' "$out" || fail "no ideal ratio line"
grep -Eq '\*\*j/f = [0-9.]+\*\*.*\*\*c/j = [0-9.]+\*\*' "$out" || fail "no floor ratio line (j/f, c/j)"
grep -Eq '\*\*k/g = [0-9.]+\*\*.*\*\*d/k = [0-9.]+\*\*' "$out" || fail "no floor ratio line (k/g, d/k)"
grep -Eq '^Against the controls .*c/f = \*\*?[0-9.]+' "$out" || grep -q 'c/f = ' "$out" || fail "no control ratio line"
grep -Eq '^Forced re-issue: [0-9]+ requests .*: [0-9]+ signatures \(at most [0-9]+ allowed' "$out" ||
  fail "no forced re-issue line: $(grep '^Forced' "$out")"
grep -Eq '^Memory: peak RSS \(VmHWM\) [0-9.]+ MiB after [0-9]+ requests from [0-9]+ distinct users \(0 errors\)' "$out" ||
  fail "no memory line, or failed requests in the memory phase: $(grep '^Memory' "$out")"
log "pass: smoke run complete (a debug build for 1 s per phase: the numbers above mean nothing, the pipeline works)"
