// A loopback stand-in for https://auth.callstats.io/ that checks what the real auth
// server checks, plus a static route that serves the real callstats-js bundle.
//
// The real client (callstats-js 3.73.x, read from the bundle) POSTs
//   <authServiceURL>authenticate
//   Content-Type: application/x-www-form-urlencoded
//   client_id=<encodeURIComponent(userID + "@" + appID)>&code=<JWT>&grant_type=authorization_code
// where userID is the alias when the object form {userName, aliasName} is used.
// On 200 it requires token_type "bearer", decodes access_token as a JWT (the part
// after the first '.'), and schedules re-authentication at 0.9 x expires_in. A 4xx
// carrying "urn:x-callstats:auth:errorActions" [{action: 2 (REPORT_ERROR), ...}] makes
// it report authError to the initialize callback; without it, it retries.

import { createServer } from 'node:http';
import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const BUNDLE_PATH = require.resolve('callstats-js/callstats.min.js');
export const BUNDLE_VERSION = require('callstats-js/package.json').version;

const CLAIMS = ['userID', 'appID', 'keyID', 'iat', 'nbf', 'exp', 'jti'];
/** Clock skew the mock tolerates between the demo and itself, in seconds. */
const SKEW = 60;
/** Longest token lifetime the mock accepts (callstats recommends minutes, not days). */
const MAX_LIFETIME = 24 * 3600;

function b64urlJson(text) {
  return JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
}

/**
 * Checks one /authenticate request body the way callstats' auth server would.
 * Returns {ok: true, userID, appID, claims, header} or {ok: false, error}.
 *
 * @param {string} body the raw form body
 * @param {{appID: string, jwks: () => Promise<{keys: object[]}>}} expect
 */
export async function checkAuthRequest(body, expect) {
  const form = new URLSearchParams(body);
  const fields = [...form.keys()].sort();
  if (fields.join(',') !== 'client_id,code,grant_type') {
    return { ok: false, error: `form fields must be client_id, code, grant_type; got ${fields.join(',')}` };
  }
  if (form.get('grant_type') !== 'authorization_code') {
    return { ok: false, error: `grant_type must be authorization_code, got ${form.get('grant_type')}` };
  }
  const clientId = form.get('client_id');
  const at = clientId.lastIndexOf('@');
  if (at <= 0 || at === clientId.length - 1) {
    return { ok: false, error: `client_id must be userID@appID, got ${JSON.stringify(clientId)}` };
  }
  const userID = clientId.slice(0, at);
  const appID = clientId.slice(at + 1);
  if (appID !== expect.appID) {
    return { ok: false, error: `unknown appID ${JSON.stringify(appID)}` };
  }

  const parts = form.get('code').split('.');
  if (parts.length !== 3) return { ok: false, error: 'code is not a JWS compact serialization' };
  let header;
  let claims;
  try {
    header = b64urlJson(parts[0]);
    claims = b64urlJson(parts[1]);
  } catch (e) {
    return { ok: false, error: `code does not decode: ${e.message}` };
  }
  if (header.alg !== 'ES256') return { ok: false, error: `alg must be ES256, got ${header.alg}` };
  if (typeof header.kid !== 'string') return { ok: false, error: 'header has no kid' };

  const jwks = await expect.jwks();
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  if (!jwk) return { ok: false, error: `no published key with kid ${JSON.stringify(header.kid)}` };
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256') return { ok: false, error: 'published key is not P-256' };
  const key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, format: 'jwk' });
  const signature = Buffer.from(parts[2], 'base64url');
  if (signature.length !== 64) return { ok: false, error: `signature must be 64 bytes r||s, got ${signature.length}` };
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii');
  if (!verify('sha256', signed, { key, dsaEncoding: 'ieee-p1363' }, signature)) {
    return { ok: false, error: 'signature does not verify' };
  }

  const names = Object.keys(claims).sort();
  if (names.join(',') !== [...CLAIMS].sort().join(',')) {
    return { ok: false, error: `claims must be exactly ${CLAIMS.join(',')}; got ${names.join(',')}` };
  }
  for (const name of ['userID', 'appID', 'keyID', 'jti']) {
    if (typeof claims[name] !== 'string' || claims[name] === '') {
      return { ok: false, error: `${name} must be a non-empty string` };
    }
  }
  for (const name of ['iat', 'nbf', 'exp']) {
    if (!Number.isSafeInteger(claims[name])) return { ok: false, error: `${name} must be an integer` };
  }
  if (claims.userID !== userID) {
    return { ok: false, error: `userID claim ${JSON.stringify(claims.userID)} != client_id user ${JSON.stringify(userID)}` };
  }
  if (Buffer.byteLength(claims.userID, 'utf8') > 256) return { ok: false, error: 'userID over 256 bytes' };
  if (claims.appID !== appID) return { ok: false, error: 'appID claim does not match client_id' };
  if (claims.keyID !== header.kid) return { ok: false, error: 'keyID claim does not match header kid' };
  const now = Math.floor(Date.now() / 1000);
  if (claims.nbf > now + SKEW) return { ok: false, error: `token not yet valid (nbf ${claims.nbf}, now ${now})` };
  if (claims.exp <= now - SKEW) return { ok: false, error: `token expired (exp ${claims.exp}, now ${now})` };
  if (claims.iat > now + SKEW) return { ok: false, error: 'iat is in the future' };
  if (!(claims.nbf <= claims.iat && claims.iat < claims.exp)) return { ok: false, error: 'need nbf <= iat < exp' };
  if (claims.exp - claims.nbf > MAX_LIFETIME) return { ok: false, error: 'token lives longer than a day' };
  return { ok: true, userID, appID, claims, header };
}

/** A JWT-shaped access token as the client decodes it (payload after the first '.'). */
function accessToken(appID, userID) {
  const part = (o) => Buffer.from(JSON.stringify(o), 'utf8').toString('base64url');
  const payload = {
    appID,
    // The client compares this with encodeURIComponent(its userID).
    userID: encodeURIComponent(userID),
    expiry: new Date(Date.now() + 3600 * 1000).toISOString(),
    submissionInterval: 30000,
    collectSDP: false,
  };
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(payload)}.mock`;
}

/**
 * Starts the mock on 127.0.0.1 (a free port). Routes:
 * - GET /callstats.min.js: the real bundle from node_modules;
 * - GET /gated/callstats.min.js: the same, held until `release()` is called;
 * - POST /mockauth/authenticate: the checked auth endpoint;
 * - anything else: 404 (recorded in `other`, e.g. the collector the client tries).
 */
export async function startMockAuth({ appID, jwks }) {
  const bundle = readFileSync(BUNDLE_PATH);
  const state = { auth: [], other: [], bundleServed: 0 };
  let releaseGate;
  let gate = new Promise((r) => (releaseGate = r));

  const server = createServer((req, res) => {
    const origin = req.headers.origin;
    const cors = origin ? { 'access-control-allow-origin': origin, vary: 'origin' } : {};
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const url = new URL(req.url, 'http://127.0.0.1');
      if (req.method === 'OPTIONS') {
        res.writeHead(204, {
          ...cors,
          'access-control-allow-methods': 'GET, POST',
          'access-control-allow-headers': req.headers['access-control-request-headers'] || '',
        });
        return res.end();
      }
      if (req.method === 'GET' && (url.pathname === '/callstats.min.js' || url.pathname === '/gated/callstats.min.js')) {
        if (url.pathname.startsWith('/gated/')) await gate;
        state.bundleServed += 1;
        res.writeHead(200, { 'content-type': 'application/javascript', 'cache-control': 'no-store' });
        return res.end(bundle);
      }
      if (req.method === 'POST' && url.pathname === '/mockauth/authenticate') {
        const body = Buffer.concat(chunks).toString('utf8');
        const contentType = req.headers['content-type'] || '';
        let result;
        if (!contentType.startsWith('application/x-www-form-urlencoded')) {
          result = { ok: false, error: `content-type must be a form, got ${contentType}` };
        } else {
          try {
            result = await checkAuthRequest(body, { appID, jwks });
          } catch (e) {
            result = { ok: false, error: `mock failure: ${e.stack}` };
          }
        }
        state.auth.push({ body, ...result });
        if (!result.ok) {
          // REPORT_ERROR (action 2) makes the client call initCallback('authError', ...)
          // instead of retrying.
          res.writeHead(400, { ...cors, 'content-type': 'application/json' });
          return res.end(
            JSON.stringify({
              error: 'invalid_grant',
              error_description: result.error,
              'urn:x-callstats:auth:errorActions': [{ action: 2, params: { errorReason: result.error } }],
            }),
          );
        }
        res.writeHead(200, { ...cors, 'content-type': 'application/json', 'cache-control': 'no-store' });
        return res.end(
          JSON.stringify({
            access_token: accessToken(result.appID, result.userID),
            token_type: 'bearer',
            expires_in: 3600,
          }),
        );
      }
      state.other.push(`${req.method} ${url.pathname}`);
      res.writeHead(404, cors);
      res.end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  return {
    base,
    state,
    release: () => releaseGate(),
    regate: () => {
      gate = new Promise((r) => (releaseGate = r));
    },
    close: () =>
      new Promise((resolve) => {
        releaseGate();
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}
