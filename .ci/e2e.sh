#!/usr/bin/env bash
# Browser end to end: the real callstats-js bundle (npm) in headless Debian Chromium,
# driven by playwright-core, against the demo server on 127.0.0.1, with a loopback mock
# of callstats' auth server. Run from anywhere: `bash .ci/e2e.sh`.
# Installs what it needs (apt-get chromium, fonts-noto-cjk, Node >= 20, npm ci) and is
# idempotent. Screenshots of the demo's pages land in target/screenshots/
# (SCREENSHOT_DIR overrides).
LOG_PREFIX=e2e
. "$(dirname "$0")/../.ci/lib.sh"

CHROMIUM_PATH=${CHROMIUM_PATH:-/usr/bin/chromium}
[ -x "$CHROMIUM_PATH" ] || apt_install chromium
# The screenshots show Japanese room names: without a CJK font Chromium draws boxes.
need fc-list fontconfig
if ! fc-list :lang=ja family | grep -q .; then
  log "installing fonts-noto-cjk from Debian's packages (Japanese glyphs for the screenshots)"
  apt_install fonts-noto-cjk
  fc-list :lang=ja family | grep -q . || fail "no Japanese font after installing fonts-noto-cjk"
fi
node_major() { node -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }
if ! command -v npm >/dev/null || [ "$(node_major)" -lt 20 ]; then
  apt_install nodejs npm
  [ "$(node_major)" -ge 20 ] || fail "Node >= 20 is required, found $(node --version 2>/dev/null || echo none)"
fi
log "$("$CHROMIUM_PATH" --version), node $(node --version)"

# Never download a browser: playwright-core only drives the system Chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
(cd e2e && npm ci --no-audit --no-fund --loglevel=error)

DEMO_BIN=$(cargo_build dev -p demo)/demo
export CHROMIUM_PATH DEMO_BIN
cd e2e && npm test
