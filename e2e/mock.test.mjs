// The mock auth server's checks, on tokens made here with Node's own crypto: each rule
// the e2e test relies on must reject what it should (otherwise a green e2e run proves
// nothing).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';

import { checkAuthRequest } from './lib/mockauth.mjs';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const JWKS = { keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' }] };
const expect = { appID: 'app-1', jwks: async () => JWKS };
const now = () => Math.floor(Date.now() / 1000);

function jwt(claims, header = { alg: 'ES256', typ: 'JWT', kid: 'k1' }, key = privateKey) {
  const part = (o) => Buffer.from(JSON.stringify(o), 'utf8').toString('base64url');
  const input = `${part(header)}.${part(claims)}`;
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

function claims(overrides = {}) {
  const t = now();
  return { userID: 'ユーザー', appID: 'app-1', keyID: 'k1', iat: t, nbf: t - 300, exp: t + 300, jti: 'j1', ...overrides };
}

/** The body exactly as callstats-js builds it. */
function body({ userID = 'ユーザー', appID = 'app-1', code = jwt(claims()), grant = 'authorization_code' } = {}) {
  const fields = { client_id: `${userID}@${appID}`, code, grant_type: grant };
  return Object.entries(fields)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
    .join('&');
}

test('accepts what the real client sends for a valid token', async () => {
  const result = await checkAuthRequest(body(), expect);
  assert.equal(result.ok, true, result.error);
  assert.equal(result.userID, 'ユーザー');
});

test('splits client_id on the last @', async () => {
  const code = jwt(claims({ userID: 'a@b.example' }));
  const result = await checkAuthRequest(body({ userID: 'a@b.example', code }), expect);
  assert.equal(result.ok, true, result.error);
  assert.equal(result.userID, 'a@b.example');
});

const rejections = [
  ['wrong grant_type', () => body({ grant: 'client_credentials' }), /grant_type/],
  ['unknown appID', () => body({ appID: 'app-2', code: jwt(claims({ appID: 'app-2' })) }), /unknown appID/],
  ['client_id user differs from the claim', () => body({ userID: 'someone-else' }), /userID claim/],
  ['tampered payload', () => body({ code: tamper(jwt(claims())) }), /signature does not verify/],
  ['another key', () => body({ code: jwt(claims(), undefined, otherKey()) }), /signature does not verify/],
  ['alg HS256', () => body({ code: jwt(claims(), { alg: 'HS256', kid: 'k1' }) }), /alg must be ES256/],
  ['no kid', () => body({ code: jwt(claims(), { alg: 'ES256' }) }), /no kid/],
  ['unknown kid', () => body({ code: jwt(claims(), { alg: 'ES256', kid: 'k2' }) }), /no published key/],
  ['extra claim', () => body({ code: jwt(claims({ confID: 'r' })) }), /claims must be exactly/],
  ['missing jti', () => body({ code: jwt(claims({ jti: undefined })) }), /claims must be exactly/],
  ['float iat', () => body({ code: jwt(claims({ iat: now() + 0.5 })) }), /iat must be an integer/],
  ['expired', () => body({ code: jwt(claims({ nbf: now() - 900, iat: now() - 800, exp: now() - 600 })) }), /expired/],
  ['not yet valid', () => body({ code: jwt(claims({ nbf: now() + 600, iat: now() + 600, exp: now() + 900 })) }), /not yet/],
  ['keyID claim differs from kid', () => body({ code: jwt(claims({ keyID: 'k9' })) }), /keyID claim/],
  ['not a JWS', () => body({ code: 'abc' }), /JWS/],
];

for (const [name, make, error] of rejections) {
  test(`rejects: ${name}`, async () => {
    const result = await checkAuthRequest(make(), expect);
    assert.equal(result.ok, false);
    assert.match(result.error, error);
  });
}

test('rejects: a numeric appID claim (appID is always a string)', async () => {
  const numeric = { ...expect, appID: '12345' };
  const result = await checkAuthRequest(body({ appID: '12345', code: jwt(claims({ appID: 12345 })) }), numeric);
  assert.equal(result.ok, false);
  assert.match(result.error, /appID must be a non-empty string/);
});

function tamper(token) {
  const [h, p, s] = token.split('.');
  const payload = JSON.parse(Buffer.from(p, 'base64url'));
  payload.userID = 'admin';
  return `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
}

function otherKey() {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}
