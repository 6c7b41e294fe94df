#!/usr/bin/env bash
# Interop: tokens from the crate verify with Node `jsonwebtoken` and with Python
# `PyJWT` + `cryptography`, for keys written by openssl as SEC1 and PKCS8 (and by the
# crate itself), and for non-ASCII IDs. Run from the repository root:
# `bash .ci/interop.sh`. Installs what it needs (openssl, npm ci, a venv) idempotently.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
command -v npm >/dev/null || need_apt+=(nodejs npm)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

(cd interop && npm ci --no-audit --no-fund --loglevel=error)
[ -x interop/.venv/bin/python ] || python3 -m venv interop/.venv
interop/.venv/bin/pip install -q --disable-pip-version-check -r interop/requirements.txt

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The keys the way callstats' docs tell people to make them.
openssl ecparam -name prime256v1 -genkey -noout -out "$work/sec1.pem"
openssl pkcs8 -topk8 -nocrypt -in "$work/sec1.pem" -out "$work/pkcs8.pem"
openssl ecparam -name prime256v1 -genkey -noout | openssl pkcs8 -topk8 -nocrypt -out "$work/pkcs8-2.pem"
grep -q 'BEGIN EC PRIVATE KEY' "$work/sec1.pem"
grep -q 'BEGIN PRIVATE KEY' "$work/pkcs8.pem"

cargo build --quiet --example interop_tokens
target_dir=${CARGO_TARGET_DIR:-target}
"$target_dir/debug/examples/interop_tokens" \
  "openssl-sec1=$work/sec1.pem" "openssl-pkcs8=$work/pkcs8.pem" "openssl-pkcs8-2=$work/pkcs8-2.pem" \
  >"$work/tokens.json"

node interop/verify.mjs "$work/tokens.json"
interop/.venv/bin/python interop/verify.py "$work/tokens.json"

# The verifiers must fail on a bad token: corrupt one signature and expect exit 1.
node -e '
  const fs = require("fs");
  const doc = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  const t = doc.keys[0].tokens[1];
  const [h, p, s] = t.token.split(".");
  const sig = Buffer.from(s, "base64url"); sig[10] ^= 1;
  t.token = `${h}.${p}.${sig.toString("base64url")}`;
  fs.writeFileSync(process.argv[2], JSON.stringify(doc));
' "$work/tokens.json" "$work/bad.json"
for verifier in "node interop/verify.mjs" "interop/.venv/bin/python interop/verify.py"; do
  if $verifier "$work/bad.json" >/dev/null 2>&1; then
    echo "interop: FAIL: '$verifier' accepted a corrupted signature" >&2
    exit 1
  fi
done
echo "interop: both verifiers reject a corrupted signature"
