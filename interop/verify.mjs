// Verifies tower-callstats tokens with Node `jsonwebtoken` (the library callstats' docs
// use), independently of the crate's own code.
//
//   cargo run -q -p tower-callstats-tools --bin interop-tokens -- [NAME=KEY.pem]... > tokens.json
//   node interop/verify.mjs tokens.json
//
// Exits non-zero on any failure, including a negative control that passes.

import { readFileSync } from 'node:fs';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { createRequire } from 'node:module';

const jwtVersion = createRequire(import.meta.url)('jsonwebtoken/package.json').version;

const CLAIMS = ['appID', 'exp', 'iat', 'jti', 'keyID', 'nbf', 'userID'];
const doc = JSON.parse(readFileSync(process.argv[2] ?? '/dev/stdin', 'utf8'));
let passed = 0;
let failed = 0;

function check(name, fn) {
  try {
    fn();
    passed += 1;
  } catch (error) {
    failed += 1;
    console.error(`FAIL ${name}: ${error.message}`);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

const hex = (s) => Buffer.from(s, 'utf8').toString('hex');

/** Expects `fn` to throw a jsonwebtoken error whose message matches `pattern`. */
function rejects(fn, pattern) {
  try {
    fn();
  } catch (error) {
    assert(pattern.test(error.message), `rejected for the wrong reason: ${error.message}`);
    return;
  }
  throw new Error('accepted a token it must reject');
}

function tamper(token, change) {
  const [h, p, s] = token.split('.');
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
  change(payload);
  return `${h}.${Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url')}.${s}`;
}

const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' });
const formats = new Set();

for (const key of doc.keys) {
  formats.add(key.format);
  // The PEM the crate publishes and the JWK from its JWKS must be the same key.
  check(`${key.name}: public PEM equals JWK`, () => {
    const fromPem = createPublicKey(key.publicKeyPem).export({ format: 'jwk' });
    assert(fromPem.x === key.jwk.x && fromPem.y === key.jwk.y, 'PEM and JWK differ');
    assert(key.jwk.crv === 'P-256' && key.jwk.alg === 'ES256' && key.jwk.kid === key.keyID, 'JWK metadata');
  });
  const jwkKey = createPublicKey({ key: key.jwk, format: 'jwk' });

  for (const { token, expect } of key.tokens) {
    const label = `${key.name} (${key.format}) userID ${JSON.stringify(expect.userID).slice(0, 40)}`;
    check(`${label}: verifies`, () => {
      for (const publicKey of [key.publicKeyPem, jwkKey]) {
        const { header, payload } = jwt.verify(token, publicKey, { algorithms: ['ES256'], complete: true });
        assert(header.alg === 'ES256', `alg ${header.alg}`);
        assert(header.kid === expect.keyID, `kid ${header.kid}`);
        const names = Object.keys(payload).sort();
        const wanted = [...CLAIMS, ...(expect.confID ? ['confID'] : [])].sort();
        assert(names.join() === wanted.join(), `claims ${names.join()} != ${wanted.join()}`);
        assert(typeof payload.userID === 'string' && hex(payload.userID) === expect.userIDHex, 'userID bytes');
        assert(payload.userID === expect.userID, 'userID');
        assert(payload.appID === expect.appID && typeof payload.appID === 'string', `appID ${payload.appID}`);
        assert(payload.keyID === expect.keyID, 'keyID');
        if (expect.confID) assert(hex(payload.confID) === expect.confIDHex, 'confID bytes');
        for (const n of ['iat', 'nbf', 'exp']) assert(Number.isSafeInteger(payload[n]), `${n} is not an integer`);
        assert(payload.nbf <= payload.iat && payload.iat < payload.exp, 'nbf <= iat < exp');
        assert(/^[0-9a-f]{32}$/.test(payload.jti), `jti ${payload.jti}`);
      }
    });
    // Negative controls: the same verifier must refuse these.
    check(`${label}: tampered userID is rejected`, () => {
      rejects(() => jwt.verify(tamper(token, (p) => (p.userID = 'admin')), key.publicKeyPem, { algorithms: ['ES256'] }), /invalid signature/);
    });
    check(`${label}: another key is rejected`, () => {
      rejects(() => jwt.verify(token, otherKey, { algorithms: ['ES256'] }), /invalid signature/);
    });
  }

  check(`${key.name}: alg confusion (HS256 with the public key as secret) is rejected`, () => {
    const forged = jwt.sign({ userID: 'admin', appID: '12345', keyID: key.keyID }, key.publicKeyPem, {
      algorithm: 'HS256',
      allowInsecureKeySizes: true,
    });
    rejects(() => jwt.verify(forged, key.publicKeyPem, { algorithms: ['ES256'] }), /invalid algorithm/);
  });
}

check('key formats covered: sec1 and pkcs8', () => {
  assert(formats.has('sec1') && formats.has('pkcs8'), `formats ${[...formats].join()}`);
});

console.log(`jsonwebtoken ${jwtVersion}, node ${process.version}`);
console.log(`interop-node: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
