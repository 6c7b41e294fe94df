#!/usr/bin/env bash
# Browser end to end: the real callstats-js bundle (npm) in headless Debian Chromium,
# driven by playwright-core, against the demo server on 127.0.0.1, with a loopback mock
# of callstats' auth server. Run from the repository root: `bash .ci/e2e.sh`.
# Installs what it needs (apt-get chromium, Node >= 20, npm ci) and is idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=
apt_install() {
  if [ -z "$apt_updated" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

CHROMIUM_PATH=${CHROMIUM_PATH:-/usr/bin/chromium}
[ -x "$CHROMIUM_PATH" ] || apt_install chromium
node_major() { node -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }
if ! command -v npm >/dev/null || [ "$(node_major)" -lt 20 ]; then
  apt_install nodejs npm
  if [ "$(node_major)" -lt 20 ]; then
    echo "e2e: Node >= 20 is required, found $(node --version 2>/dev/null || echo none)" >&2
    exit 1
  fi
fi
echo "e2e: $("$CHROMIUM_PATH" --version), node $(node --version)"

# Never download a browser: playwright-core only drives the system Chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
(cd e2e && npm ci --no-audit --no-fund --loglevel=error)

cargo build --quiet --example demo
export CHROMIUM_PATH
cd e2e && npm test
