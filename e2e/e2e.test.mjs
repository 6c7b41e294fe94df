// End to end: the real callstats-js bundle in headless Chromium against the demo server.
//
//   bash .ci/e2e.sh            (installs chromium and npm packages, builds the demo, runs this)
//   cd e2e && npm test         (when those are already in place)
//
// Each case starts its own demo process (its own development key and settings) and its
// own mock of callstats' auth server, logs in through the demo's form, opens
// /rooms/{room}, and waits for callstats.initialize()'s callback.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
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
  const profile = mkdtempSync(path.join(tmpdir(), 'callstats-e2e-'));
  let context;
  const pageLog = [];
  try {
    demo = await startDemo({
      CALLSTATS_APP_ID: APP_ID,
      CALLSTATS_JS_URL: `${mock.base}/${gated ? 'gated/' : ''}callstats.min.js`,
      CALLSTATS_AUTH_PROXY: `${mock.base}/mockauth${proxySlash ? '/' : ''}`,
      ...env,
    });
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => pageLog.push(`console.${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => pageLog.push(`pageerror: ${e.message}`));
    await body({ page, demo, mock });
    const other = [...new Set(mock.state.other)].join(', ') || 'none';
    t.diagnostic(`mock: ${mock.state.auth.length} auth request(s), other requests: ${other}`);
  } catch (error) {
    t.diagnostic(`mock saw: ${JSON.stringify(mock.state, null, 1)}`);
    t.diagnostic(`page log:\n${pageLog.slice(0, 40).join('\n')}`);
    if (demo) t.diagnostic(`demo log:\n${demo.log().slice(-4000)}`);
    throw error;
  } finally {
    if (context) await context.close();
    if (demo) await demo.stop();
    await mock.close();
    rmSync(profile, { recursive: true, force: true });
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
  return page.evaluate(() => ({
    result: window.callstatsResult,
    config: window.CALLSTATS_CONFIG,
    tokenRequests: window.tokenRequests,
    conferenceText: document.getElementById('conference').textContent,
    bundleLoaded: typeof window.callstats === 'function',
  }));
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
    assert.equal(seen.config.conferenceID, 'demo-room');
  });
});

test('non-ASCII user and room survive byte-exact', async (t) => {
  const user = 'ユーザー';
  const room = 'インターネット';
  await withStack(t, {}, async ({ page, demo, mock }) => {
    await logIn(page, demo.base, user);
    const seen = await openRoom(page, demo.base, room);
    assertAuthenticated(seen, mock, user);
    assert.equal(seen.config.conferenceID, room);
    assert.equal(seen.conferenceText, room);
    assert.equal(seen.config.localUserID, user);
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
