//! ES256 signing: `cargo bench --bench sign`.
//!
//! Ways to produce the same callstats token (same key, same claims), and their parts:
//!
//! - `sign/raw_aws_lc_rs`: the floor, one aws-lc-rs P-256 signature over the
//!   `header.payload` bytes of a token, with the key parsed once;
//! - `sign/tower_callstats`: a whole token from [`TokenIssuer::issue`], which signs on
//!   every call (claims, fresh `jti`, JSON, base64url, signature);
//! - `sign/sign_jwt_only`: [`SigningKey::sign_jwt`] of already serialized claims;
//! - `sign/claims_to_json`: serializing the claims alone (part of `tower_callstats`);
//! - `sign/rand_jti`: one 16-byte draw from aws-lc's CSPRNG;
//! - `sign/jsonwebtoken_encode`: `jsonwebtoken::encode` with its `aws_lc_rs` backend.
//!
//! A cached token costs no signature: the cache lives in `Callstats` (its layer and
//! endpoint), measured by `cargo bench --bench layer` (`layer/cached`).

use std::hint::black_box;

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair},
};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tower_callstats::{ConferenceId, SigningKey, TokenIssuer, UserId};

fn sign(c: &mut Criterion) {
    let key = SigningKey::generate("bench-key").unwrap();
    let pkcs8_pem = key.to_pkcs8_pem();
    let pair = EcdsaKeyPair::from_private_key_der(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        pem::parse(&pkcs8_pem).unwrap().contents(),
    )
    .unwrap();
    let encoding_key = EncodingKey::from_ec_pem(pkcs8_pem.as_bytes()).unwrap();
    let key_for_sign_jwt = SigningKey::from_pem("bench-key", &pkcs8_pem).unwrap();

    let issuer = TokenIssuer::builder("123456789", key).build().unwrap();
    let user = UserId::new("3f2b8c0a9e1d4f6a7b5c2e8d0a1f3b4c5d6e7f80").unwrap();
    let conference = ConferenceId::new("www.example.com/rooms/42").unwrap();
    let token = issuer.issue(&user, Some(&conference)).unwrap();
    let claims = token.claims().clone();
    let payload = serde_json::to_vec(&claims).unwrap();
    let jwt = token.jwt();
    let signing_input = jwt.as_bytes()[..jwt.rfind('.').unwrap()].to_vec();
    let header = Header {
        kid: Some("bench-key".into()),
        ..Header::new(Algorithm::ES256)
    };
    let rng = SystemRandom::new();

    let mut group = c.benchmark_group("sign");
    group.bench_function("raw_aws_lc_rs", |b| {
        b.iter(|| pair.sign(&rng, black_box(&signing_input)).unwrap())
    });
    group.bench_function("tower_callstats", |b| {
        b.iter(|| issuer.issue(black_box(&user), Some(black_box(&conference))).unwrap())
    });
    group.bench_function("sign_jwt_only", |b| {
        b.iter(|| key_for_sign_jwt.sign_jwt(black_box(&payload)).unwrap())
    });
    group.bench_function("claims_to_json", |b| {
        b.iter(|| serde_json::to_vec(black_box(&claims)).unwrap())
    });
    group.bench_function("rand_jti", |b| {
        b.iter(|| {
            let mut jti = [0u8; 16];
            aws_lc_rs::rand::SecureRandom::fill(&SystemRandom::new(), &mut jti).unwrap();
            jti
        })
    });
    group.bench_function("jsonwebtoken_encode", |b| {
        b.iter(|| jsonwebtoken::encode(black_box(&header), black_box(&claims), &encoding_key).unwrap())
    });
    group.finish();
}

criterion_group!(benches, sign);
criterion_main!(benches);
