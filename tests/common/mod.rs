//! Shared helpers for the integration tests: verifying tokens with an independent
//! library (`jsonwebtoken`), and reading response bodies.
#![allow(dead_code)]

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde_json::{Map, Value};
use tower_callstats::keys::SigningKey;

/// The claim names a callstats token carries, no more, no less (confID is opt-in).
pub const CLAIMS: [&str; 7] = ["appID", "exp", "iat", "jti", "keyID", "nbf", "userID"];

/// Verifies `jwt` with `jsonwebtoken` against the public key of `key` (as PEM, the
/// way a verifier gets it) and returns the header and the claims.
pub fn verify(jwt: &str, public_key_pem: &str) -> (jsonwebtoken::Header, Map<String, Value>) {
    let key = DecodingKey::from_ec_pem(public_key_pem.as_bytes()).expect("public key PEM parses");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_required_spec_claims(&["exp", "nbf"]);
    validation.validate_nbf = true;
    let data = decode::<Map<String, Value>>(jwt, &key, &validation).expect("token verifies");
    (decode_header(jwt).expect("header decodes"), data.claims)
}

/// Checks the claims of a freshly issued token: exactly the callstats set, right
/// types, and time bounds around now.
pub fn assert_callstats_claims(claims: &Map<String, Value>, user_id: &str, app_id: &str, key: &SigningKey) {
    let mut names: Vec<&str> = claims.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(names, CLAIMS, "exactly the callstats claims");
    assert_eq!(claims["userID"], user_id);
    assert_eq!(claims["appID"], Value::String(app_id.into()), "appID is a JSON string");
    assert_eq!(claims["keyID"], key.key_id());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let iat = claims["iat"].as_u64().expect("iat is a number");
    assert!(iat.abs_diff(now) <= 5, "iat {iat} is now ({now})");
    assert_eq!(
        claims["nbf"].as_u64().unwrap(),
        iat - 300,
        "nbf = iat - 300 s by default"
    );
    assert_eq!(
        claims["exp"].as_u64().unwrap(),
        iat + 300,
        "exp = iat + 300 s by default"
    );
    let jti = claims["jti"].as_str().expect("jti is a string");
    assert_eq!(jti.len(), 32);
    assert!(jti.bytes().all(|b| b.is_ascii_hexdigit()));
}

/// The JOSE header as raw JSON text, to check it byte for byte.
pub fn raw_header(jwt: &str) -> String {
    let header = jwt.split('.').next().unwrap();
    String::from_utf8(URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

/// Collects a body into bytes.
pub async fn body_bytes<B>(body: B) -> bytes::Bytes
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    body.collect().await.expect("body reads").to_bytes()
}

/// Collects a body and parses it as JSON.
pub async fn body_json<B>(body: B) -> Value
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let bytes = body_bytes(body).await;
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("body is JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

/// Decodes `encodeURIComponent`-style percent-encoding, independently of the crate.
pub fn decode_component(value: &str) -> Vec<u8> {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap(), 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Collects what a `tracing` subscriber writes, for tests that read the logs.
#[derive(Clone, Default)]
pub struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
