//! Shared helpers for the integration tests, written once: verifying tokens with an
//! independent library (`jsonwebtoken`), the key fixtures, reading response bodies,
//! a stand-in for the app's authentication, an HTTP client for served routers, an
//! audit hook that records what it is told, and capturing `tracing` output (as text,
//! or as structured events).
#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http_body_util::BodyExt;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation, decode, decode_header, errors::Error};
use serde_json::{Map, Value};
use tower_callstats::{
    AppUser, KeyRing, SigningKey,
    audit::{Action, AuditEvent},
};
use tracing::{
    Level,
    field::{Field, Visit},
};
use tracing_subscriber::{layer::Context, prelude::*};

// --- Tokens ---------------------------------------------------------------------------

/// The claim names a callstats token carries, no more, no less (confID is opt-in).
pub const CLAIMS: [&str; 7] = ["appID", "exp", "iat", "jti", "keyID", "nbf", "userID"];

/// The claims of a token, as the verifier reads them.
pub type Claims = Map<String, Value>;

/// How a verifier checks the time claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Time {
    /// `exp` and `nbf` are required and checked against the system clock (with
    /// `jsonwebtoken`'s default leeway of 60 s).
    Now,
    /// Not checked: for tokens minted on a `ManualClock`, whose times are not now.
    Unchecked,
}

/// The public key of a PEM document (`SigningKey::public_key_pem`, the way a verifier
/// gets it).
pub fn pem_key(public_key_pem: &str) -> DecodingKey {
    DecodingKey::from_ec_pem(public_key_pem.as_bytes()).expect("public key PEM parses")
}

/// The public key of a JWK's `x` and `y` coordinates.
pub fn jwk_key(x: &str, y: &str) -> DecodingKey {
    DecodingKey::from_ec_components(x, y).expect("JWK coordinates parse")
}

/// The public key that the header `kid` of `jwt` names in the JWKS of `ring`.
pub fn ring_key(jwt: &str, ring: &KeyRing) -> DecodingKey {
    let kid = decode_header(jwt)
        .expect("header decodes")
        .kid
        .expect("the token names its key");
    let jwks = ring.jwks();
    let jwk = jwks
        .keys
        .iter()
        .find(|k| k.kid == kid)
        .unwrap_or_else(|| panic!("kid {kid} is not in the JWKS"));
    jwk_key(&jwk.x, &jwk.y)
}

/// Verifies `jwt` (ES256, with `key`) and returns its claims, or why it does not verify.
pub fn try_verify(jwt: &str, key: &DecodingKey, time: Time) -> Result<Claims, Error> {
    let mut validation = Validation::new(Algorithm::ES256);
    match time {
        Time::Now => {
            validation.set_required_spec_claims(&["exp", "nbf"]);
            validation.validate_nbf = true;
        }
        Time::Unchecked => {
            validation.validate_exp = false;
            validation.validate_nbf = false;
            validation.required_spec_claims.clear();
        }
    }
    decode::<Claims>(jwt, key, &validation).map(|data| data.claims)
}

/// Verifies `jwt` against a public key PEM, times checked against now, and returns the
/// header and the claims.
pub fn verify(jwt: &str, public_key_pem: &str) -> (Header, Claims) {
    let claims = try_verify(jwt, &pem_key(public_key_pem), Time::Now).expect("token verifies");
    (decode_header(jwt).expect("header decodes"), claims)
}

/// Verifies `jwt` against a public key PEM without checking its times (a `ManualClock`
/// token) and returns the claims.
pub fn verify_ignoring_time(jwt: &str, public_key_pem: &str) -> Claims {
    try_verify(jwt, &pem_key(public_key_pem), Time::Unchecked).expect("token verifies")
}

/// Verifies `jwt` under the key its `kid` names in the ring's JWKS, times checked
/// against now, and returns the claims.
pub fn verify_with_ring(jwt: &str, ring: &KeyRing) -> Claims {
    try_verify(jwt, &ring_key(jwt, ring), Time::Now).expect("token verifies")
}

/// The claims of `jwt`, without verifying anything.
pub fn decode_unverified(jwt: &str) -> Claims {
    jsonwebtoken::dangerous::insecure_decode::<Claims>(jwt)
        .expect("token decodes")
        .claims
}

/// Checks the claims of a freshly issued token: exactly the callstats set, right
/// types, and time bounds around now.
pub fn assert_callstats_claims(claims: &Claims, user_id: &str, app_id: &str, key: &SigningKey) {
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

// --- Key fixtures ---------------------------------------------------------------------

/// The path of a file in tests/fixtures/.
pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The contents of a file in tests/fixtures/.
pub fn fixture(name: &str) -> String {
    let path = fixture_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The base64 lines of a PEM document (its key material), without the armour.
pub fn pem_body_lines(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----") && !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// A valid PEM key with one base64 line of its body removed: the armour is intact,
/// the DER inside is not.
pub fn truncated_pem(pem: &str) -> String {
    let mut lines: Vec<&str> = pem.lines().collect();
    lines.remove(2);
    lines.join("\n") + "\n"
}

// --- HTTP -----------------------------------------------------------------------------

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

/// Percent-encodes every byte but the unreserved ones (`A-Z a-z 0-9 - _ . ~`), written
/// out here, independently of the crate, to put any room into a URL path.
pub fn encode_component(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The test header that [`identity_from_test_header`] and [`test_header_user`] trust.
pub const TEST_USER_HEADER: &str = "x-test-user";

/// The user the `x-test-user` header names (no header, no user): a stand-in for the
/// app's authentication, as a `GetUser` closure for `Callstats::user`.
pub fn test_header_user(parts: &http::request::Parts) -> Option<AppUser> {
    let name = parts.headers.get(TEST_USER_HEADER)?.to_str().ok()?;
    Some(AppUser::new(name))
}

/// Middleware standing in for the app's session layer: it inserts into the request
/// extensions the [`AppUser`] that the `x-test-user` header names (no header, no user),
/// where the default `FromExtensions` reads it.
pub async fn identity_from_test_header(
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let user = request
        .headers()
        .get(TEST_USER_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(AppUser::new);
    if let Some(user) = user {
        request.extensions_mut().insert(user);
    }
    next.run(request).await
}

/// Serves `router` on a fresh port of 127.0.0.1 for the rest of the test.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// An HTTP/1 client for a served router.
pub type HttpClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<bytes::Bytes>,
>;

/// A new HTTP/1 client.
pub fn http_client() -> HttpClient {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http()
}

/// A response read whole: status, headers, body.
#[derive(Debug)]
pub struct Reply {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: bytes::Bytes,
}

impl Reply {
    /// The body as JSON (panics with the body if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The JSON `code` of a refusal, if the body has one.
    pub fn code(&self) -> Option<String> {
        serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_owned))
    }

    /// The token of the response: the layer's header, or the endpoint's `token` field.
    pub fn token(&self) -> Option<String> {
        match self.headers.get("x-callstats-token") {
            Some(value) => Some(value.to_str().unwrap().to_owned()),
            None => serde_json::from_slice::<Value>(&self.body)
                .ok()
                .and_then(|v| v["token"].as_str().map(str::to_owned)),
        }
    }

    /// The status and the start of the body (300 characters at most), for messages.
    pub fn describe(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(300).collect();
        format!("{} {body}", self.status.as_u16())
    }

    /// Reads `response` whole.
    pub async fn read<B>(response: http::Response<B>) -> Self
    where
        B: http_body::Body,
        B::Error: std::fmt::Debug,
    {
        let (parts, body) = response.into_parts();
        Self {
            status: parts.status,
            headers: parts.headers,
            body: body_bytes(body).await,
        }
    }
}

/// Sends `request` with `client` and reads the whole response.
pub async fn send(client: &HttpClient, request: http::Request<http_body_util::Full<bytes::Bytes>>) -> Reply {
    Reply::read(client.request(request).await.expect("the server answers")).await
}

/// Sends `request` through `router` without a server (`oneshot`) and reads the whole
/// response.
pub async fn oneshot(router: &axum::Router, request: http::Request<axum::body::Body>) -> Reply {
    let response = tower::ServiceExt::oneshot(router.clone(), request).await.unwrap();
    Reply::read(response).await
}

// --- Audit ----------------------------------------------------------------------------

/// One audit event as a hook saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audited {
    pub action: Action,
    pub user_id: Option<String>,
    pub conference_id: Option<String>,
    pub jti: Option<String>,
}

/// What an audit hook recorded, in order. Clones share the record.
#[derive(Clone, Default)]
pub struct AuditLog(Arc<Mutex<Vec<Audited>>>);

impl AuditLog {
    /// A hook for `Callstats::audit` that records into this log.
    pub fn hook(&self) -> impl Fn(&AuditEvent<'_>) + Send + Sync + 'static {
        let log = self.0.clone();
        move |event: &AuditEvent<'_>| {
            log.lock().unwrap().push(Audited {
                action: event.action,
                user_id: event.user_id.map(str::to_owned),
                conference_id: event.conference_id.map(str::to_owned),
                jti: event.jti.map(str::to_owned),
            });
        }
    }

    /// Every event so far.
    pub fn events(&self) -> Vec<Audited> {
        self.0.lock().unwrap().clone()
    }

    /// The actions so far, in order.
    pub fn actions(&self) -> Vec<Action> {
        self.events().into_iter().map(|e| e.action).collect()
    }

    /// How many events of `action` so far: `Action::Issued` counts the signatures.
    pub fn count(&self, action: Action) -> usize {
        self.0.lock().unwrap().iter().filter(|e| e.action == action).count()
    }
}

// --- Logs as text ---------------------------------------------------------------------

/// Collects what a `tracing` subscriber writes, for tests that read the logs.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Captures the formatted logs up to `level` on this thread until the guard drops.
    pub fn install(level: Level) -> (Self, tracing::subscriber::DefaultGuard) {
        let captured = Self::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(captured.clone())
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

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

// --- Logs as events -------------------------------------------------------------------

/// One captured `tracing` event: target, level, and every field as text (`message`
/// included; strings as they are, other values as `Debug`).
#[derive(Debug, Clone)]
pub struct Event {
    pub target: String,
    pub level: Level,
    pub fields: BTreeMap<String, String>,
}

impl Event {
    /// The values of the named fields, `None` where the event has no such field.
    pub fn values(&self, names: &[&str]) -> Vec<Option<&str>> {
        names.iter().map(|n| self.fields.get(*n).map(String::as_str)).collect()
    }
}

/// A `tracing_subscriber` layer that records every event.
#[derive(Clone, Default)]
struct EventCapture(Arc<Mutex<Vec<Event>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for EventCapture {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        struct Fields<'a>(&'a mut BTreeMap<String, String>);
        impl Visit for Fields<'_> {
            fn record_str(&mut self, field: &Field, value: &str) {
                self.0.insert(field.name().to_owned(), value.to_owned());
            }
            fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
                self.0.insert(field.name().to_owned(), format!("{value:?}"));
            }
        }
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().push(Event {
            target: event.metadata().target().to_owned(),
            level: *event.metadata().level(),
            fields,
        });
    }
}

/// Runs `f` (its synchronous part, then its future on a current-thread runtime) with
/// a subscriber that records every event, and returns the events.
pub fn capture_events<F: Future<Output = ()>>(f: impl FnOnce() -> F) -> Vec<Event> {
    let capture = EventCapture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f())
    });
    capture.0.lock().unwrap().clone()
}

pub mod router;
