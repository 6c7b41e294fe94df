#!/usr/bin/env bash
# Reliability and security: rotation under load, hostile input, logs, key files, the
# demo binary's behaviour on bad key files (start-up and SIGHUP reload), a short soak,
# and a short run of each fuzz target. Run from the repository root:
# `bash .ci/security.sh`. Installs what it needs (curl, wrk, cargo-fuzz) idempotently.
#
# Knobs (environment):
#   SECURITY_TESTS=1        run the four test files and print their figures (0 skips)
#   SECURITY_FUZZ_SECS=20   seconds per fuzz target (0 skips fuzzing)
#   SECURITY_SOAK_SECS=10   seconds of soak (0 skips it); see scripts/soak.sh
#   SECURITY_PORT=39392     port on 127.0.0.1 for the SIGHUP check
set -euo pipefail
cd "$(dirname "$0")/.."

TESTS=${SECURITY_TESTS:-1}
FUZZ_SECS=${SECURITY_FUZZ_SECS:-20}
SOAK_SECS=${SECURITY_SOAK_SECS:-10}
PORT=${SECURITY_PORT:-39392}

log() { printf 'security: %s\n' "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=
need() {
  command -v "$1" >/dev/null && return
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}
need curl curl

WORK=$(mktemp -d)
DEMO_PID=
cleanup() {
  [ -n "$DEMO_PID" ] && kill "$DEMO_PID" 2>/dev/null && wait "$DEMO_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ "$TESTS" != 0 ]; then
  log "tests: rotation under load, hostile input, logs, key files"
  cargo test --quiet --test rotation --test hostile --test logs --test keyfile -- --nocapture >"$WORK/tests.log" 2>&1 ||
    { cat "$WORK/tests.log" >&2; fail "tests"; }
  grep -E '^(rotation under load|hostile|logs|keyfile):' "$WORK/tests.log" | sed 's/^/security:   /' >&2
fi

cargo build --quiet --example demo
DEMO=${CARGO_TARGET_DIR:-target}/debug/examples/demo

log "demo: a bad key file at start-up is a clear error and a non-zero exit"
printf 'not a key\n' >"$WORK/garbage.pem"
mkdir "$WORK/a-directory.pem"
head -c 120 tests/fixtures/sec1.pem >"$WORK/truncated.pem"
cases=(
  "/nonexistent/key.pem|cannot read key file /nonexistent/key.pem"
  "$WORK/a-directory.pem|cannot read key file"
  "$WORK/garbage.pem|found 10 bytes with no PEM block"
  "$WORK/truncated.pem|no PEM block"
  "tests/fixtures/sec1_public.pem|found a public key"
  "tests/fixtures/secp256k1.pem|found a secp256k1 key"
  "tests/fixtures/rsa_pkcs8.pem|found an RSA private key"
  "tests/fixtures/encrypted_pkcs8.pem|found an encrypted private key"
)
for case in "${cases[@]}"; do
  file=${case%%|*} expected=${case#*|}
  set +e
  CALLSTATS_PRIVATE_KEY_FILE=$file BIND=127.0.0.1:0 RUST_LOG=off timeout 20 "$DEMO" >"$WORK/out" 2>&1
  code=$?
  set -e
  [ "$code" -ne 0 ] && [ "$code" -ne 124 ] || fail "$file: exit code $code, expected a start-up failure"
  grep '^error: ' "$WORK/out" | grep -qF "$expected" || fail "$file: the error does not say '$expected': $(cat "$WORK/out")"
  grep -qF "prime256v1" "$WORK/out" || fail "$file: the error does not say what is expected"
  log "  exit $code: $file -> $(grep -m1 '^error: ' "$WORK/out" | cut -c1-110)..."
done
# Control: a good key file starts a server that keeps running until stopped.
set +e
CALLSTATS_PRIVATE_KEY_FILE=tests/fixtures/sec1.pem BIND=127.0.0.1:0 RUST_LOG=off timeout 3 "$DEMO" >"$WORK/out" 2>&1
code=$?
set -e
[ "$code" -eq 124 ] || fail "the demo with a good key exited with $code: $(cat "$WORK/out")"

log "demo: a key file that turns bad is refused at SIGHUP, the old key keeps signing"
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then fail "127.0.0.1:$PORT is in use; set SECURITY_PORT"; fi
cp tests/fixtures/sec1.pem "$WORK/key.pem"
echo ci-key-1 >"$WORK/kid"
CALLSTATS_PRIVATE_KEY_FILE=$WORK/key.pem CALLSTATS_KEY_ID_FILE=$WORK/kid BIND=127.0.0.1:$PORT RUST_LOG=info \
  "$DEMO" >"$WORK/demo.log" 2>&1 &
DEMO_PID=$!
BASE=http://127.0.0.1:$PORT
for _ in $(seq 1 100); do curl -fsS -o /dev/null "$BASE/" 2>/dev/null && break; sleep 0.1; done
jwks() { curl -fsS "$BASE/.well-known/jwks.json"; }
token_kid() {
  curl -fsS -b "$1" -X POST -H 'content-type: application/json' -d '{"conferenceID":"r","forceNew":true}' \
    "$BASE/getToken" | sed -n 's/.*"keyID":"\([^"]*\)".*/\1/p'
}
before=$(jwks)
cookie=$(curl -fsS -o /dev/null -D - -d username=ci "$BASE/login" | tr -d '\r' |
  sed -n 's/^[Ss]et-[Cc]ookie: \(demo_session=[0-9a-f]*\);.*/\1/p')
[ "$(token_kid "$cookie")" = ci-key-1 ] || fail "no token before the reload"
head -c 120 tests/fixtures/sec1.pem >"$WORK/key.pem"
kill -HUP "$DEMO_PID"
for _ in $(seq 1 50); do grep -q "key reload failed" "$WORK/demo.log" && break; sleep 0.1; done
grep -q "key reload failed" "$WORK/demo.log" || fail "the failed reload is not logged: $(cat "$WORK/demo.log")"
[ "$(jwks)" = "$before" ] || fail "the JWKS changed after a failed reload"
[ "$(token_kid "$cookie")" = ci-key-1 ] || fail "no token after a failed reload"
kill -0 "$DEMO_PID" || fail "the demo died on a bad reload"
cp tests/fixtures/pkcs8.pem "$WORK/key.pem"
echo ci-key-2 >"$WORK/kid"
kill -HUP "$DEMO_PID"
for _ in $(seq 1 50); do grep -q "signing key rotated" "$WORK/demo.log" && break; sleep 0.1; done
grep -q "signing key rotated" "$WORK/demo.log" || fail "the good reload is not logged"
# The new key (with its new keyID from CALLSTATS_KEY_ID_FILE) signs; the old one stays
# published for the grace period, so tokens it signed still verify.
after=$(jwks)
kids=$(printf '%s' "$after" | grep -o '"kid":"[^"]*"' | tr '\n' ' ')
[ "$kids" = '"kid":"ci-key-2" "kid":"ci-key-1" ' ] || fail "JWKS after a good reload: $after"
[ "$(token_kid "$cookie")" = ci-key-2 ] || fail "the new key does not sign after a good reload"
log "  bad reload: logged, JWKS unchanged, old key signs; good reload: new key signs, old key still published"
kill "$DEMO_PID" && wait "$DEMO_PID" 2>/dev/null || true
DEMO_PID=

if [ "$SOAK_SECS" -gt 0 ]; then
  log "soak: ${SOAK_SECS}s (dev build)"
  SOAK_PROFILE=dev SOAK_SECS=$SOAK_SECS SOAK_CONNECTIONS=${SOAK_CONNECTIONS:-64} SOAK_SAMPLE_SECS=2 \
    SOAK_WARMUP_SECS=2 bash scripts/soak.sh
fi

if [ "$FUZZ_SECS" -gt 0 ]; then
  if ! command -v cargo-fuzz >/dev/null; then
    log "installing cargo-fuzz"
    cargo install --quiet cargo-fuzz --locked
  fi
  cargo fmt --manifest-path fuzz/Cargo.toml -- --check
  # cargo-fuzz passes -Zsanitizer flags; RUSTC_BOOTSTRAP lets the stable toolchain take them.
  export RUSTC_BOOTSTRAP=1
  log "fuzz: building the targets"
  cargo fuzz build >"$WORK/fuzz-build.log" 2>&1 || { tail -40 "$WORK/fuzz-build.log" >&2; fail "fuzz build"; }
  for target in ids conference pem; do
    mkdir -p "fuzz/corpus/$target"
    cargo fuzz run "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
      -max_total_time="$FUZZ_SECS" -print_final_stats=1 >"$WORK/fuzz-$target.log" 2>&1 ||
      { tail -40 "$WORK/fuzz-$target.log" >&2; fail "fuzz target $target found a crash (see fuzz/artifacts/$target)"; }
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/fuzz-$target.log")
    log "  fuzz $target: $runs executions in ${FUZZ_SECS}s, no crash"
  done
fi
log "pass"
