#!/usr/bin/env bash
# One job: the demo binary refuses to start on a bad key file. For each bad file
# (missing, a directory, garbage, truncated, a public key, a secp256k1 key, an RSA key,
# an encrypted key) it must exit non-zero, on its own, with an `error: ` line that says
# what was found and that a prime256v1 key is expected; with a good key file it must
# keep running (the control). In-process checks of the same files are tests/keyfile.rs.
#
# Run from anywhere: `bash .ci/keyfile-startup.sh`. Builds the demo (dev profile).
# Knobs (environment):
#   KEYFILE_STARTUP_SECS=20   how long a bad start may take before it counts as running
#   KEYFILE_GOOD_SECS=3       how long the demo with a good key must stay up
LOG_PREFIX=keyfile-startup
. "$(dirname "$0")/../.ci/lib.sh"

STARTUP_SECS=${KEYFILE_STARTUP_SECS:-20}
GOOD_SECS=${KEYFILE_GOOD_SECS:-3}

DEMO=$(cargo_build dev -p demo)/demo
work_dir

# start KEY_FILE SECONDS: runs the demo (port 0 on 127.0.0.1: it never serves anyone)
# for at most SECONDS; sets CODE (124: still running, stopped by timeout) and OUT.
start() {
  OUT=$WORK/out
  CODE=0
  CALLSTATS_PRIVATE_KEY_FILE=$1 BIND=127.0.0.1:0 RUST_LOG=off timeout "$2" "$DEMO" >"$OUT" 2>&1 || CODE=$?
}

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
  start "$file" "$STARTUP_SECS"
  [ "$CODE" -ne 0 ] && [ "$CODE" -ne 124 ] || fail "$file: exit code $CODE, expected a start-up failure"
  grep '^error: ' "$OUT" | grep -qF "$expected" || fail "$file: the error does not say '$expected': $(cat "$OUT")"
  grep -qF prime256v1 "$OUT" || fail "$file: the error does not say what is expected: $(cat "$OUT")"
  log "exit $CODE: $file -> $(grep -m1 '^error: ' "$OUT" | cut -c1-110)..."
done

# Control: a good key file starts a server that keeps running until stopped.
start tests/fixtures/sec1.pem "$GOOD_SECS"
[ "$CODE" -eq 124 ] || fail "the demo with a good key exited with $CODE: $(cat "$OUT")"
log "pass: ${#cases[@]} bad key files refused at start-up, a good one keeps running"
