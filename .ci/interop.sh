#!/usr/bin/env bash
# Interop: tokens from the crate verify with Node `jsonwebtoken` and with Python
# `PyJWT` + `cryptography`, for keys written by openssl as SEC1 and PKCS8 (and by the
# crate itself), and for non-ASCII IDs. The tokens come from the `interop-tokens` binary
# of the tools/ crate (dev profile). Run from anywhere: `bash .ci/interop.sh`. Installs
# what it needs (openssl, Node and npm, npm ci, a Python venv) idempotently.
LOG_PREFIX=interop
. "$(dirname "$0")/../.ci/lib.sh"

need openssl
command -v npm >/dev/null || apt_install nodejs npm

(cd interop && npm ci --no-audit --no-fund --loglevel=error)
PY=$(py_venv interop/.venv interop/requirements.txt)

work_dir
# The keys the way callstats' docs tell people to make them.
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/sec1.pem"
openssl pkcs8 -topk8 -nocrypt -in "$WORK/sec1.pem" -out "$WORK/pkcs8.pem"
openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out "$WORK/pkcs8-2.pem"
grep -q 'BEGIN EC PRIVATE KEY' "$WORK/sec1.pem"
grep -q 'BEGIN PRIVATE KEY' "$WORK/pkcs8.pem"

TOKENS=$(cargo_build dev -p tower-callstats-tools --bin interop-tokens)/interop-tokens
"$TOKENS" \
  "openssl-sec1=$WORK/sec1.pem" "openssl-pkcs8=$WORK/pkcs8.pem" "openssl-pkcs8-2=$WORK/pkcs8-2.pem" \
  >"$WORK/tokens.json"

node interop/verify.mjs "$WORK/tokens.json"
"$PY" interop/verify.py "$WORK/tokens.json"

# The verifiers must fail on a bad token: corrupt one signature and expect exit 1.
node -e '
  const fs = require("fs");
  const doc = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  const t = doc.keys[0].tokens[1];
  const [h, p, s] = t.token.split(".");
  const sig = Buffer.from(s, "base64url"); sig[10] ^= 1;
  t.token = `${h}.${p}.${sig.toString("base64url")}`;
  fs.writeFileSync(process.argv[2], JSON.stringify(doc));
' "$WORK/tokens.json" "$WORK/bad.json"
for verifier in "node interop/verify.mjs" "$PY interop/verify.py"; do
  if $verifier "$WORK/bad.json" >/dev/null 2>&1; then
    fail "'$verifier' accepted a corrupted signature"
  fi
done
log "pass: both verifiers accept the tokens and reject a corrupted signature"
