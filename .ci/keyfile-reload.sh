#!/usr/bin/env bash
# One job: a live `kill -HUP` key reload of the running demo. A key file that has turned
# bad is refused: the failure is logged, the JWKS does not change, the old key keeps
# signing and the server keeps running. Then a good file with a new keyID (from
# CALLSTATS_KEY_ID_FILE) rotates: the new key signs, and the JWKS publishes it first
# with the old key still there for its grace period. In-process checks of reloads are
# tests/keyfile.rs and tests/rotation.rs.
#
# Run from anywhere: `bash .ci/keyfile-reload.sh`. Builds the demo (dev profile),
# starts it on 127.0.0.1 and stops it on exit; installs curl if missing.
# Knobs (environment):
#   KEYFILE_RELOAD_PORT=39392   port on 127.0.0.1 for the demo
#   KEYFILE_RELOAD_SECS=10      how long to wait for the demo to answer or log a reload
LOG_PREFIX=keyfile-reload
. "$(dirname "$0")/../.ci/lib.sh"

PORT=${KEYFILE_RELOAD_PORT:-39392}
SECS=${KEYFILE_RELOAD_SECS:-10}
BASE=http://127.0.0.1:$PORT

need curl
DEMO=$(cargo_build dev -p demo)/demo
port_free "$PORT" || fail "127.0.0.1:$PORT is in use; set KEYFILE_RELOAD_PORT"
work_dir

cp tests/fixtures/sec1.pem "$WORK/key.pem"
echo ci-key-1 >"$WORK/kid"
CALLSTATS_PRIVATE_KEY_FILE=$WORK/key.pem CALLSTATS_KEY_ID_FILE=$WORK/kid BIND=127.0.0.1:$PORT RUST_LOG=info \
  "$DEMO" >"$WORK/demo.log" 2>&1 &
DEMO_PID=$!
stop_on_exit "$DEMO_PID"
wait_http "$BASE/" "$SECS" "$DEMO_PID" || fail "the demo does not answer on $BASE: $(cat "$WORK/demo.log")"

jwks() { curl -fsS --max-time 5 "$BASE/.well-known/jwks.json"; }
# token_kid: the keyID of a new token for the logged-in session, asked from the page of
# room r (the Referer names the room).
token_kid() {
  curl -fsS --max-time 5 -b "$COOKIE" -X POST -H 'content-type: application/json' -H "referer: $BASE/rooms/r" \
    -d '{"forceNew":true}' "$BASE/getToken" | sed -n 's/.*"keyID":"\([^"]*\)".*/\1/p'
}
COOKIE=$(curl -fsS --max-time 5 -o /dev/null -D - -d username=ci "$BASE/login" | tr -d '\r' |
  sed -n 's/^[Ss]et-[Cc]ookie: \(__Host-demo_session=[^;]*\);.*/\1/p')
[ -n "$COOKIE" ] || fail "the login gave no session cookie"
before=$(jwks) || fail "no JWKS at $BASE"
[ "$(token_kid)" = ci-key-1 ] || fail "no token signed by ci-key-1 before the reload"

log "a key file that turns bad is refused at SIGHUP"
head -c 120 tests/fixtures/sec1.pem >"$WORK/key.pem"
kill -HUP "$DEMO_PID"
wait_log "$WORK/demo.log" "key reload failed" "$SECS" || fail "the failed reload is not logged: $(cat "$WORK/demo.log")"
alive "$DEMO_PID" || fail "the demo died on a bad reload: $(cat "$WORK/demo.log")"
[ "$(jwks)" = "$before" ] || fail "the JWKS changed after a failed reload"
[ "$(token_kid)" = ci-key-1 ] || fail "the old key does not sign after a failed reload"

log "a good key file with a new keyID rotates at SIGHUP"
cp tests/fixtures/pkcs8.pem "$WORK/key.pem"
echo ci-key-2 >"$WORK/kid"
kill -HUP "$DEMO_PID"
wait_log "$WORK/demo.log" "signing key rotated" "$SECS" || fail "the good reload is not logged: $(cat "$WORK/demo.log")"
# The new key (with its new keyID) signs; the old one stays published for the grace
# period, so tokens it signed still verify.
after=$(jwks) || fail "no JWKS after the good reload"
kids=$(printf '%s' "$after" | grep -o '"kid":"[^"]*"' | tr '\n' ' ')
[ "$kids" = '"kid":"ci-key-2" "kid":"ci-key-1" ' ] || fail "JWKS after a good reload: $after"
[ "$(token_kid)" = ci-key-2 ] || fail "the new key does not sign after a good reload"
alive "$DEMO_PID" || fail "the demo died after a good reload"
log "pass: bad reload logged, JWKS unchanged, old key signs; good reload: new key signs, old key still published"
