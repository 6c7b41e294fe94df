// End to end: the real callstats-js bundle in headless Chromium against the demo server.
//
//   bash .ci/e2e.sh            (installs chromium and npm packages, builds the demo, runs this)
//   cd e2e && npm test         (when those are already in place)
//
// Each case starts its own demo process (its own development key and settings) and its
// own mock of callstats' auth server, logs in through the demo's form, opens
// /rooms/{room}, and waits for callstats.initialize()'s callback. The room page is an
// inspector of what the crate did; the cases read it as a person would (the element
// ids of demo/templates/room.html) and take screenshots of it for people to look at
// (target/screenshots/, or $SCREENSHOT_DIR).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

import { startDemo } from './lib/demo.mjs';
import { startMockAuth, BUNDLE_VERSION } from './lib/mockauth.mjs';

const APP_ID = 'demo-app';
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const WAIT_MS = 20_000;

const sha1hex = (s) => createHash('sha1').update(s, 'utf8').digest('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A per-call conferenceID of `room`: `<room>-<YYYYMMDDTHHMMZ>-<6 hex>` (src/calls/format.rs). */
const perCallPattern = (room) => new RegExp(`^${escapeRegExp(room)}-\\d{8}T\\d{4}Z-[0-9a-f]{6}$`, 'u');

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SCREENSHOT_DIR = process.env.SCREENSHOT_DIR || path.join(REPO, 'target', 'screenshots');

/** A headless Chromium with a fresh profile: {context, page, close()}. */
async function launchBrowser() {
  const profile = mkdtempSync(path.join(tmpdir(), 'callstats-e2e-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 900, height: 800 },
    });
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/**
 * Starts a mock and a demo wired to it, and a browser with a fresh profile; runs `body`
 * with them; tears everything down (printing the logs if the case failed).
 */
async function withStack(t, { env = {}, gated = false, jwks = null, proxySlash = true }, body) {
  let demo;
  const mock = await startMockAuth({
    appID: APP_ID,
    jwks: jwks ?? (async () => (await fetch(`${demo.base}/.well-known/jwks.json`)).json()),
  });
  let browser;
  const pageLog = [];
  try {
    demo = await startDemo({
      CALLSTATS_APP_ID: APP_ID,
      CALLSTATS_JS_URL: `${mock.base}/${gated ? 'gated/' : ''}callstats.min.js`,
      CALLSTATS_AUTH_PROXY: `${mock.base}/mockauth${proxySlash ? '/' : ''}`,
      ...env,
    });
    browser = await launchBrowser();
    const { page } = browser;
    page.on('console', (m) => pageLog.push(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => pageLog.push(`pageerror: ${e.message}`));
    await body({ page, demo, mock });
    const other = [...new Set(mock.state.other)].join(', ') || 'none';
    t.diagnostic(`mock: ${mock.state.auth.length} auth request(s), other requests: ${other}`);
  } catch (error) {
    t.diagnostic(`mock saw: ${JSON.stringify(mock.state, null, 1)}`);
    t.diagnostic(`page log:\n${pageLog.slice(0, 40).join('\n')}`);
    if (demo) t.diagnostic(`demo log:\n${demo.log().slice(-6000)}`);
    throw error;
  } finally {
    if (browser) await browser.close();
    if (demo) await demo.stop();
    await mock.close();
  }
}

/**
 * Logs in with the browser's own cookie jar (POST /login, a form, as the demo's page
 * sends it), then checks that the demo's page shows the session.
 */
async function logIn(page, base, username) {
  const response = await page.request.post(`${base}/login`, { form: { username }, maxRedirects: 0 });
  assert.equal(response.status(), 303, `login: ${response.status()} ${await response.text()}`);
  await page.goto(`${base}/`);
  const text = await page.textContent('body');
  assert.ok(text.includes(`Logged in as ${username}`), `login as ${username} did not show on the page`);
}

/** Opens the room page and waits for callstats.initialize()'s callback. */
async function openRoom(page, base, room) {
  const response = await page.goto(`${base}/rooms/${encodeURIComponent(room)}`);
  assert.equal(response.status(), 200);
  await page.waitForFunction(() => window.callstatsResult !== null, null, { timeout: WAIT_MS });
  return seenOnPage(page);
}

/** What the room page knows once callstats.initialize() has answered. */
function seenOnPage(page) {
  return page.evaluate(() => ({
    result: window.callstatsResult,
    config: window.CALLSTATS_CONFIG,
    tokenRequests: window.tokenRequests,
    conferenceText: document.getElementById('conference').textContent,
    roomText: document.getElementById('room').textContent,
    bundleLoaded: typeof window.callstats === 'function',
  }));
}

/**
 * Waits until the inspector has checked the token's ES256 signature in the browser
 * (WebCrypto against /.well-known/jwks.json), and returns what the page shows.
 */
async function inspect(page) {
  await page.waitForFunction(
    () => !['pending', undefined].includes(document.getElementById('verify').dataset.state),
    null,
    { timeout: WAIT_MS },
  );
  return page.evaluate(() => {
    const text = (id) => document.getElementById(id).textContent;
    return {
      verifyState: document.getElementById('verify').dataset.state,
      verifyText: text('verify'),
      checks: [...document.querySelectorAll('#checks li')].map((li) => li.textContent),
      header: JSON.parse(text('token-header')),
      claims: JSON.parse(text('token-claims')),
      jti: text('jti'),
      raw: text('token-raw'),
      conference: text('conference'),
      user: text('user'),
      appID: text('app-id'),
      keyID: text('key-id'),
      call: text('call'),
      countdown: text('countdown'),
      status: text('status'),
    };
  });
}

/** The checks of a token the inspector verified. */
function assertVerified(shown, { user, keyID = 'dev-key' }) {
  assert.equal(shown.verifyState, 'valid', shown.verifyText);
  assert.match(shown.verifyText, /^✓ valid: the ES256 signature verifies in this browser/);
  assert.equal(shown.checks.length, 5);
  for (const line of shown.checks) assert.match(line, /^✓ /, line);
  assert.deepEqual(shown.header, { alg: 'ES256', typ: 'JWT', kid: keyID });
  assert.equal(shown.claims.userID, user);
  assert.equal(shown.claims.appID, APP_ID);
  assert.equal(shown.claims.jti, shown.jti);
  assert.equal(shown.raw.split('.').length, 3);
  assert.equal(shown.appID, APP_ID);
  assert.equal(shown.keyID, keyID);
  assert.match(shown.countdown, /^expires in \d+ min \d+ s$/);
}

/** The payload of a JWS compact token. */
const jwtClaims = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));

/** Saves a full-page screenshot under SCREENSHOT_DIR; returns its path. */
async function screenshot(page, name) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** The checks shared by every successful case. */
function assertAuthenticated(seen, mock, expectedUserID) {
  assert.equal(seen.bundleLoaded, true, 'the real callstats-js bundle set window.callstats');
  assert.ok(mock.state.bundleServed >= 1, 'the bundle came from the test server');
  assert.deepEqual(seen.result, { status: 'success', message: 'SDK authentication successful.' });
  assert.ok(mock.state.auth.length >= 1, 'the mock auth server saw the client authenticate');
  for (const request of mock.state.auth) assert.equal(request.ok, true, request.error);
  const first = mock.state.auth[0];
  // Byte-exact: the identifiers went through the page, the form encoding and the JWT.
  assert.deepEqual(Buffer.from(first.userID, 'utf8'), Buffer.from(expectedUserID, 'utf8'));
  assert.deepEqual(Buffer.from(first.claims.userID, 'utf8'), Buffer.from(expectedUserID, 'utf8'));
  assert.equal(first.appID, APP_ID);
  // What the client put on the wire, exactly as callstats-js encodes it.
  assert.ok(
    first.body.includes(`client_id=${encodeURIComponent(`${expectedUserID}@${APP_ID}`)}&`),
    `client_id on the wire: ${first.body.split('&')[0]}`,
  );
  assert.deepEqual(
    seen.tokenRequests.map((r) => r.status),
    seen.tokenRequests.map(() => 200),
  );
}

test(`callstats-js ${BUNDLE_VERSION}: plain ASCII user authenticates`, async (t) => {
  await withStack(t, {}, async ({ page, demo, mock }) => {
    await logIn(page, demo.base, 'alice');
    const seen = await openRoom(page, demo.base, 'demo-room');
    assertAuthenticated(seen, mock, 'alice');
    // Per call (the demo's default): the room, the call's start, 24 random bits.
    assert.match(seen.config.conferenceID, perCallPattern('demo-room'));
    assert.equal(seen.conferenceText, seen.config.conferenceID);
    assert.ok(Number.isSafeInteger(seen.config.callStartedAt), 'callStartedAt is Unix seconds');
    assert.ok(Math.abs(seen.config.callStartedAt - Date.now() / 1000) < 120, 'the call started just now');
  });
});

test('non-ASCII user and room survive byte-exact; two participants share the call', async (t) => {
  const user = 'ユーザー';
  const room = 'インターネット';
  await withStack(t, {}, async ({ page, demo, mock }) => {
    await logIn(page, demo.base, user);
    const seen = await openRoom(page, demo.base, room);
    assertAuthenticated(seen, mock, user);
    const conferenceID = seen.config.conferenceID;
    assert.match(conferenceID, perCallPattern(room));
    // The room is kept byte for byte at the start of the call's ID.
    assert.deepEqual(Buffer.from(conferenceID, 'utf8').subarray(0, Buffer.byteLength(room)), Buffer.from(room, 'utf8'));
    assert.equal(seen.conferenceText, conferenceID);
    assert.equal(seen.roomText, room);
    assert.equal(seen.config.localUserID, user);

    // A second participant, in another browser, joins the same call.
    const second = await launchBrowser();
    try {
      await logIn(second.page, demo.base, 'ゲスト');
      const other = await openRoom(second.page, demo.base, room);
      assert.equal(other.result.status, 'success');
      assert.equal(other.config.conferenceID, conferenceID, 'everyone in the room gets the call\'s conferenceID');
      assert.equal(other.config.callStartedAt, seen.config.callStartedAt);
    } finally {
      await second.close();
    }
    // Both users authenticated with the mock.
    assert.deepEqual(new Set(mock.state.auth.map((a) => a.userID)), new Set([user, 'ゲスト']));
  });
});

test('CALLSTATS_CONFERENCE=room: the conferenceID is the room name itself, no call to end', async (t) => {
  const room = 'インターネット';
  await withStack(t, { env: { CALLSTATS_CONFERENCE: 'room' } }, async ({ page, demo, mock }) => {
    await logIn(page, demo.base, 'alice');
    const seen = await openRoom(page, demo.base, room);
    assertAuthenticated(seen, mock, 'alice');
    assert.equal(seen.config.conferenceID, room);
    assert.equal(seen.conferenceText, room);
    assert.equal(seen.config.callStartedAt, undefined);
    const shown = await inspect(page);
    assertVerified(shown, { user: 'alice' });
    assert.match(shown.call, /The room name itself \(CALLSTATS_CONFERENCE=room\)/);
    assert.equal(await page.isVisible('#end-call'), false, 'no End button in room mode');
    assert.equal(await page.isVisible('#room-mode-note'), true);
    // The endpoint takes the room from the page (its Referer), not from the body.
    const answer = await page.evaluate(async () => {
      const r = await fetch('/getToken', {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ conferenceID: 'another-room' }),
      });
      return { status: r.status, json: await r.json() };
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.json.conferenceID, room);
  });
});

test('object userID form: the client authenticates with the alias', async (t) => {
  const user = 'Bob Smith';
  const alias = sha1hex(`${user}@example.com`);
  await withStack(t, { env: { CALLSTATS_USER_ID: 'object' } }, async ({ page, demo, mock }) => {
    await logIn(page, demo.base, user);
    const seen = await openRoom(page, demo.base, 'standup');
    assert.deepEqual(seen.config.localUserID, { userName: user, aliasName: alias });
    assertAuthenticated(seen, mock, alias);
    // The inspector shows both names, and the token carries the alias.
    assertVerified(await inspect(page), { user: alias });
    assert.equal(await page.textContent('#user-name'), user);
    assert.equal(await page.textContent('#alias-name'), alias);
    assert.equal(await page.textContent('#user'), alias);
    assert.ok(!mock.state.auth[0].body.includes('Bob'), 'the real name never reaches the auth server');
  });
});

test('SHA1 mode: userID is sha1(username@domain) in hex', async (t) => {
  const user = 'carol';
  const expected = sha1hex(`${user}@corp.example`);
  const env = { CALLSTATS_USER_ID: 'sha1', CALLSTATS_DOMAIN: 'corp.example' };
  // Also: the page adds the trailing slash the client needs to CALLSTATS_AUTH_PROXY.
  await withStack(t, { env, proxySlash: false }, async ({ page, demo, mock }) => {
    await logIn(page, demo.base, user);
    const seen = await openRoom(page, demo.base, 'room-1');
    assert.match(expected, /^[0-9a-f]{40}$/);
    assert.equal(seen.config.localUserID, expected);
    assertAuthenticated(seen, mock, expected);
  });
});

test('expired session: /getToken answers 403, the page reports it, nothing reaches auth', async (t) => {
  const ttl = 2;
  // The bundle is held back until the session has expired, so that the page is
  // rendered for a live session but its tokenGenerator runs after the expiry.
  const options = { env: { DEMO_SESSION_TTL_SECS: String(ttl) }, gated: true };
  await withStack(t, options, async ({ page, demo, mock }) => {
    await logIn(page, demo.base, 'dave');
    const response = await page.goto(`${demo.base}/rooms/late-room`, { waitUntil: 'commit' });
    assert.equal(response.status(), 200, 'the room page rendered while the session was live');
    await sleep((ttl + 1) * 1000);
    mock.release();
    await page.waitForFunction(() => window.callstatsResult !== null, null, { timeout: WAIT_MS });
    const seen = await page.evaluate(() => ({
      result: window.callstatsResult,
      tokenRequests: window.tokenRequests,
      status: document.getElementById('status').textContent,
    }));
    assert.deepEqual(seen.tokenRequests, [{ status: 403, error: 'User not logged in' }]);
    assert.deepEqual(seen.result, { status: 'tokenGenerationError', message: 'User not logged in' });
    assert.match(seen.status, /User not logged in/);
    assert.equal(mock.state.bundleServed, 1);
    assert.deepEqual(mock.state.auth, [], 'the client must not authenticate without a token');
  });
});

test('negative control: a token signed with a key callstats does not know is refused', async (t) => {
  // The mock's "uploaded" public key is another P-256 key under the demo's keyID.
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
  const jwks = async () => ({ keys: [{ ...other, kid: 'dev-key', alg: 'ES256', use: 'sig' }] });
  await withStack(t, { jwks }, async ({ page, demo, mock }) => {
    await logIn(page, demo.base, 'mallory');
    const seen = await openRoom(page, demo.base, 'demo-room');
    assert.equal(mock.state.auth.length, 1);
    assert.equal(mock.state.auth[0].ok, false);
    assert.equal(mock.state.auth[0].error, 'signature does not verify');
    assert.equal(seen.result.status, 'authError');
    assert.match(seen.result.message, /signature does not verify/);
  });
});

test('inspector: the page proves its token, the token button gets the cached token, ending the call starts a new one', async (t) => {
  await withStack(t, {}, async ({ page, demo, mock }) => {
    await logIn(page, demo.base, 'alice');
    const seen = await openRoom(page, demo.base, 'demo-room');
    assertAuthenticated(seen, mock, 'alice');
    const first = await inspect(page);
    assertVerified(first, { user: 'alice' });
    assert.equal(first.conference, seen.config.conferenceID);
    assert.match(first.call, /^started .* \(callStartedAt \d+\)\. One conferenceID per call/);
    assert.equal(first.status, 'success: SDK authentication successful.');
    // The token the page shows is the one callstats.js authenticated with.
    assert.equal(first.raw, mock.state.auth[0].body.match(/code=([^&]+)/)[1]);

    // The token button, from the keyboard: POST /getToken as tokenGenerator does. The
    // crate answers with its cached token: the same jti.
    await page.focus('#get-token');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.getElementById('answer').dataset.status, null, { timeout: WAIT_MS });
    const answer = await page.evaluate(() => ({
      status: document.getElementById('answer-status').textContent,
      json: JSON.parse(document.getElementById('answer-json').textContent),
    }));
    assert.match(answer.status, /^HTTP 200: the same token as before \(jti [0-9a-f]{32}\), from the crate's cache$/);
    assert.equal(jwtClaims(answer.json.token).jti, first.jti);
    assert.equal(answer.json.conferenceID, seen.config.conferenceID, 'the endpoint joined the page\'s call (Referer)');
    assert.equal(answer.json.callStartedAt, seen.config.callStartedAt);
    assert.equal(answer.json.userID, 'alice');
    const again = await inspect(page);
    assertVerified(again, { user: 'alice' });
    assert.equal(again.jti, first.jti);

    // End the call: the page reloads into a new call of the same room.
    // (POST /rooms/demo-room/end from the demo's own page, then 303 back to the room.)
    await Promise.all([
      page.waitForNavigation({ url: `${demo.base}/rooms/demo-room`, waitUntil: 'load' }),
      page.click('#end-call'),
    ]);
    await page.waitForFunction(() => window.callstatsResult !== null, null, { timeout: WAIT_MS });
    const after = await seenOnPage(page);
    assert.equal(after.result.status, 'success');
    assert.match(after.config.conferenceID, perCallPattern('demo-room'));
    assert.notEqual(after.config.conferenceID, seen.config.conferenceID, 'a new call, a new conferenceID');
    const shownAfter = await inspect(page);
    assertVerified(shownAfter, { user: 'alice' });
    assert.equal(shownAfter.conference, after.config.conferenceID);
    assert.equal(
      await page.textContent('#call-ended'),
      `The call ${seen.config.conferenceID} ended; this page joined a new call.`,
    );
    assert.match(demo.log(), /call ended: the next join starts a new call/);
    // The token endpoint follows the new call too.
    const next = await page.evaluate(async () => {
      const r = await fetch('/getToken', { method: 'POST', credentials: 'same-origin' });
      return r.json();
    });
    assert.equal(next.conferenceID, after.config.conferenceID);
  });
});

test('offline: without callstats.js the page says so and still proves the token', async (t) => {
  await withStack(t, {}, async ({ page, demo, mock }) => {
    // The browser cannot reach the bundle, as when offline.
    await logIn(page, demo.base, 'alice');
    await page.route('**/callstats.min.js', (route) => route.abort('internetdisconnected'));
    const response = await page.goto(`${demo.base}/rooms/demo-room`);
    assert.equal(response.status(), 200);
    const shown = await inspect(page);
    assertVerified(shown, { user: 'alice' });
    assert.equal(shown.status, 'callstats.js not loaded (offline?)');
    assert.equal(await page.isVisible('#offline-help'), true);
    const help = await page.textContent('#offline-help');
    assert.match(help, /CALLSTATS_JS_URL=http:\/\/127\.0\.0\.1:8000\/callstats\.min\.js cargo run -p demo/);
    assert.ok(help.includes(`${mock.base}/callstats.min.js`), 'the help names the URL that failed');
    assert.deepEqual(await page.evaluate(() => window.tokenRequests), [{ status: 200, error: null }]);
    assert.equal(mock.state.auth.length, 0);
  });
});

test('screenshots: the login page and the inspector, ASCII and Japanese, at 900 and 400 px', async (t) => {
  await withStack(t, {}, async ({ page, demo }) => {
    const files = [];
    await page.setViewportSize({ width: 900, height: 480 });
    await page.goto(`${demo.base}/`);
    files.push(await screenshot(page, 'login'));
    await page.setViewportSize({ width: 900, height: 800 });
    await logIn(page, demo.base, 'alice');
    for (const [room, name] of [
      ['demo-room', 'inspector-demo-room'],
      ['インターネット', 'inspector-japanese'],
    ]) {
      await openRoom(page, demo.base, room);
      assertVerified(await inspect(page), { user: 'alice' });
      files.push(await screenshot(page, name));
    }
    // The README's picture (docs/demo-inspector.png): the top of the Japanese room's
    // inspector, down to the end of the token's section.
    const top = await page.evaluate(() => {
      const end = document.querySelector('section[aria-labelledby="token-heading"]').getBoundingClientRect();
      return Math.ceil(end.bottom + window.scrollY + 8);
    });
    const readme = path.join(SCREENSHOT_DIR, 'readme-inspector.png');
    await page.screenshot({ path: readme, fullPage: true, clip: { x: 0, y: 0, width: 900, height: top } });
    files.push(readme);
    // Readable at 400 px: nothing wider than the viewport (no sideways scrolling).
    await page.setViewportSize({ width: 400, height: 800 });
    await page.reload();
    await page.waitForFunction(() => window.callstatsResult !== null, null, { timeout: WAIT_MS });
    await inspect(page);
    const widths = await page.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      wide: [...document.querySelectorAll('main *')]
        .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
        .map((el) => el.id || el.tagName),
    }));
    assert.deepEqual(widths.wide, [], 'elements wider than 400 px');
    assert.ok(widths.page <= 400, `the page is ${widths.page} px wide`);
    files.push(await screenshot(page, 'inspector-japanese-400px'));
    // Keyboard: every control can be reached with Tab and shows where the focus is.
    const focusable = [];
    for (let i = 0; i < 20; i++) {
      await page.keyboard.press('Tab');
      const focused = await page.evaluate(() => {
        const el = document.activeElement;
        const style = getComputedStyle(el);
        return { id: el.id || el.tagName, outline: style.outlineStyle !== 'none' && style.outlineWidth !== '0px' };
      });
      focusable.push(focused);
    }
    for (const id of ['get-token', 'get-token-new', 'end-call']) {
      const hit = focusable.find((f) => f.id === id);
      assert.ok(hit, `#${id} is not reachable with Tab: ${JSON.stringify(focusable)}`);
      assert.ok(hit.outline, `#${id} shows no focus outline`);
    }
    t.diagnostic(`screenshots: ${files.join(', ')}`);
  });
});

/**
 * A tiny static server for the attacker's pages: {base(host), close()}. `pages` maps a
 * path to HTML.
 */
async function startAttacker(pages) {
  const server = createServer((req, res) => {
    const html = pages[new URL(req.url, 'http://x').pathname];
    res.writeHead(html ? 200 : 404, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(html ?? '');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    base: (host) => `http://${host}:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}

test('cross-site: another origin\'s page cannot get a token for the logged-in victim', async (t) => {
  await withStack(t, {}, async ({ page, demo }) => {
    const target = `${demo.base}/getToken`;
    const attacker = await startAttacker({
      // A no-cors fetch with the victim's cookies: the attacker cannot read the answer,
      // but without the check the demo would still sign a token under the victim's name.
      '/fetch.html': `<!doctype html><title>fetch</title><script>
        fetch(${JSON.stringify(target)}, {
          method: 'POST', mode: 'no-cors', credentials: 'include',
          headers: {'content-type': 'application/x-www-form-urlencoded'},
          body: 'conferenceID=stolen'
        }).then(() => { document.title = 'sent'; }, (e) => { document.title = 'failed: ' + e; });
      </script>`,
      // A plain form post, navigating the tab to the demo.
      '/form.html': `<!doctype html><title>form</title>
        <form method="post" action=${JSON.stringify(target)}><input name="conferenceID" value="stolen"></form>
        <script>document.forms[0].submit();</script>`,
    });
    try {
      await logIn(page, demo.base, 'victim');
      const seen = [];
      page.on('response', async (response) => {
        if (response.url() !== target) return;
        const request = response.request();
        const headers = await request.allHeaders();
        let body = null;
        try {
          body = await response.text();
        } catch {
          // some bodies are not kept
        }
        seen.push({ status: response.status(), headers, body });
      });
      // 127.0.0.1 on another port: another origin of the same site, so the SameSite=Lax
      // session cookie goes along, and only the origin check stands in the way.
      // localhost: another site, so the cookie stays home (and Sec-Fetch-Site says
      // cross-site); the 403 must still be cross_site_request, which comes before the
      // session check (not "User not logged in").
      const attacks = [];
      for (const host of ['127.0.0.1', 'localhost']) {
        for (const kind of ['fetch', 'form']) {
          const url = `${attacker.base(host)}/${kind}.html`;
          const before = seen.length;
          if (kind === 'fetch') {
            await page.goto(url);
            await page.waitForFunction(() => document.title !== 'fetch', null, { timeout: WAIT_MS });
            assert.equal(await page.title(), 'sent');
          } else {
            await Promise.all([page.waitForURL(target), page.goto(url)]);
            // The tab now shows the demo's answer to the form.
            const shown = JSON.parse(await page.textContent('body'));
            assert.equal(shown.code, 'cross_site_request', JSON.stringify(shown));
          }
          for (let i = 0; i < 50 && seen.length === before; i++) await sleep(100);
          assert.equal(seen.length, before + 1, `${host} ${kind}: one request reached the demo`);
          attacks.push({ host, kind, ...seen[seen.length - 1] });
        }
      }
      // What the browser sent and the demo answered. Playwright sees the full request
      // headers of the form posts (navigations); of the no-cors fetches only some.
      for (const a of attacks) {
        const what = `${a.host} ${a.kind}`;
        assert.equal(a.status, 403, what);
        if (a.kind === 'fetch' && a.headers.origin === undefined) continue;
        assert.equal(a.headers.origin, attacker.base(a.host), `${what}: the browser named the attacker's origin`);
        assert.equal(a.headers['sec-fetch-site'], a.host === 'localhost' ? 'cross-site' : 'same-site', what);
        const cookie = a.headers.cookie ?? '';
        if (a.host === '127.0.0.1') {
          assert.match(cookie, /__Host-demo_session=[A-Za-z0-9_-]{22}/, `${what}: the victim's session cookie went along`);
        } else {
          assert.doesNotMatch(cookie, /__Host-demo_session/, `${what}: SameSite=Lax kept the cookie home`);
        }
        const json = JSON.parse(a.body);
        assert.equal(json.code, 'cross_site_request', `${what}: ${a.body}`);
        assert.equal(json.token, undefined);
      }

      // The demo's own log: every attempt refused as cross-site, in order, by the check
      // that applies (the browser's Sec-Fetch-Site, same-site or cross-site, which the
      // endpoint reads first), and no token signed.
      const log = demo.log();
      const rejected = log.split('\n').filter((l) => l.includes('callstats token request rejected'));
      assert.equal(rejected.length, attacks.length, rejected.join('\n'));
      rejected.forEach((line, i) => {
        const why = /this request comes from another origin \(Sec-Fetch-Site is neither same-origin nor none\)/;
        assert.match(line, why, `${attacks[i].host} ${attacks[i].kind}`);
      });
      assert.doesNotMatch(log, /callstats token issued/);
      assert.doesNotMatch(log, /User not logged in/);

      // Control: the same browser, on the demo's own room page, gets a token at once.
      await page.goto(`${demo.base}/rooms/demo-room`, { waitUntil: 'commit' });
      const own = await page.evaluate(async () => {
        const r = await fetch('/getToken', { method: 'POST', credentials: 'same-origin' });
        return { status: r.status, json: await r.json() };
      });
      assert.equal(own.status, 200);
      assert.equal(own.json.userID, 'victim');
      for (let i = 0; i < 50 && !/callstats token issued/.test(demo.log()); i++) await sleep(100);
      assert.match(demo.log(), /callstats token issued/);
    } finally {
      await attacker.close();
    }
  });
});
