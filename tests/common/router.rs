//! The minimal app of the hostile-input tests (`tests/hostile_*.rs`) and the runner of
//! their tables.
//!
//! The app: a session stand-in (a `sid` cookie looked up in a map of sessions the test
//! opened, [`Sessions`]), one [`Callstats`] with the room source
//! `RoomSource::path("/rooms/{room}", "room")` (or a header or query source, for the
//! rows about those), optionally `.calls(..)` on a `MemoryRegistry` with a stopped clock
//! ([`Mode`]), the layer on `/rooms/{room}` (a `route_layer` that requires a user), the
//! token endpoint on `/getToken` (served over plain http, so `.scheme(Scheme::HTTP)`),
//! and the JWKS on `/.well-known/jwks.json`. Tokens carry a `confID` claim, so that a
//! row can check the room the token is for.
//!
//! A row ([`Row`]) names a request and what it must get ([`Expect`]). Every row is
//! checked for the invariants of the old hostile table: no panic, no 5xx, no token (no
//! `x-callstats-token` header, no `token` field, nothing JWT-like in the body) unless
//! the row expects one; and a token that a row expects verifies with `jsonwebtoken`
//! under the key the served JWKS publishes, for the session's userID and the row's room,
//! byte for byte. [`Tally`] runs rows, collects every failing row and prints how many
//! inputs a test tried.

use std::{
    collections::HashMap,
    future::{Ready, ready},
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    Extension, Json, Router,
    body::Body,
    response::{IntoResponse, Response},
    routing::get,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header, request::Parts, uri::Scheme};
use serde_json::Value;
use tower_callstats::{
    AppUser, Callstats, CallstatsContext, GetUser, KeyRing, RoomSource, SigningKey, TokenIssuer, UserIdStrategy,
    calls::{Calls, MemoryRegistry},
    clock::ManualClock,
};

use super::Reply;

/// The appID of every token of the app.
pub const APP_ID: &str = "hostile-app";
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sid";
/// The header the room comes from with [`Source::Header`].
pub const ROOM_HEADER: &str = "x-room";
/// The one origin besides the app's own that the token endpoint trusts.
pub const TRUSTED_ORIGIN: &str = "https://partner.example";
/// The origin of the room pages in the rows' Referers (the app does not know its own
/// host: a page's origin is whatever the `Host` says).
pub const PAGE_ORIGIN: &str = "http://127.0.0.1:3000";
/// `{"code":"not_logged_in","error":"User not logged in"}`: the body of a token request
/// without a user, callstats' reference message, written out.
pub const NOT_LOGGED_IN: &str = r#"{"code":"not_logged_in","error":"User not logged in"}"#;
/// 2026-11-25 09:30:00 UTC, the time of the call registries' stopped clock
/// ([`registry`]).
pub const NOW: u64 = 1_795_599_000;
/// [`NOW`] as a call ID writes it: `<room>-20261125T0930Z-<6 hex>`.
pub const CALL_STAMP: &str = "20261125T0930Z";

/// A memory registry on a clock stopped at [`NOW`]: calls never idle out during a test.
pub fn registry() -> MemoryRegistry {
    MemoryRegistry::new().clock(ManualClock::at_unix(NOW))
}

/// The two conferenceID modes the old table ran the demo in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The room is the conferenceID.
    Room,
    /// One conferenceID per call: `<room>-<YYYYMMDDTHHMMZ>-<6 hex>`.
    Calls,
}

impl Mode {
    /// Both modes, in the order the rows run.
    pub const BOTH: [Mode; 2] = [Mode::Room, Mode::Calls];

    /// The mode's name in row names.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Room => "room",
            Mode::Calls => "calls",
        }
    }
}

/// Where the room comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `RoomSource::path("/rooms/{room}", "room")`.
    Path,
    /// `RoomSource::header(x-room)`.
    Header,
    /// `RoomSource::query("room")`.
    Query,
}

/// How the minimal app is configured.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub mode: Mode,
    pub source: Source,
    /// `TokenEndpoint::room_from_body`.
    pub room_from_body: bool,
    /// `UserIdStrategy::sha1(domain)` instead of raw usernames.
    pub sha1_domain: Option<&'static str>,
}

impl Options {
    /// The path source, the body's conferenceID ignored, raw userIDs.
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            source: Source::Path,
            room_from_body: false,
            sha1_domain: None,
        }
    }
}

// --- The session stand-in --------------------------------------------------------------

/// The app's sessions: a `sid` cookie names one, opened by the test with
/// [`login`](Self::login). The first `sid` cookie of the request is the only one read,
/// so a forged cookie before a real one is no session; nothing else of the request
/// (headers, body) names a user.
#[derive(Clone, Default)]
pub struct Sessions {
    users: Arc<Mutex<HashMap<String, AppUser>>>,
    opened: Arc<AtomicU64>,
}

impl Sessions {
    /// Opens a session for `user` and returns its cookie, `sid=<64 hex digits>`.
    pub fn login(&self, user: AppUser) -> String {
        let n = self.opened.fetch_add(1, Ordering::SeqCst) + 1;
        let id = format!("{n:064x}");
        self.users.lock().unwrap().insert(id.clone(), user);
        format!("{SESSION_COOKIE}={id}")
    }

    fn find(&self, headers: &HeaderMap) -> Option<AppUser> {
        let id = first_session_id(headers)?;
        self.users.lock().unwrap().get(id).cloned()
    }
}

/// The value of the first `sid` cookie, over every `Cookie` header in order.
fn first_session_id(headers: &HeaderMap) -> Option<&str> {
    let mut cookies = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='));
    cookies.find(|(name, _)| *name == SESSION_COOKIE).map(|(_, id)| id)
}

impl GetUser for Sessions {
    type Future = Ready<Option<AppUser>>;

    fn user(&self, parts: &Parts) -> Self::Future {
        ready(self.find(&parts.headers))
    }
}

/// Who a row's request is.
#[derive(Debug, Clone)]
pub enum Who {
    /// No cookie.
    Anonymous,
    /// A session of this user, opened for the row.
    User(AppUser),
    /// A well-formed `sid` that no login opened.
    Forged,
    /// A cookie that is not a session ID: `sid=../../etc/passwd; other=1`.
    Garbage,
    /// A forged `sid`, then a real session of this user in the same header.
    ForgedThen(AppUser),
    /// A real session of this user, then a forged `sid`.
    ThenForged(AppUser),
}

/// The session of `alice`.
pub fn alice() -> Who {
    Who::User(AppUser::new("alice"))
}

/// A well-formed session ID that no login opened.
const FORGED: &str = "sid=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

// --- The app -----------------------------------------------------------------------------

/// The minimal app, its sessions and the keys its JWKS publishes.
pub struct App {
    pub router: Router,
    pub options: Options,
    pub sessions: Sessions,
    /// The served JWKS, as a verifier fetches it.
    jwks: Value,
}

impl App {
    /// Builds the app and fetches its JWKS.
    pub async fn new(options: Options) -> Self {
        let ring = KeyRing::new(SigningKey::generate("hostile-key").unwrap());
        let issuer = TokenIssuer::builder(APP_ID, ring).conf_id_claim(true).build().unwrap();
        let sessions = Sessions::default();
        let source = match options.source {
            Source::Path => RoomSource::path("/rooms/{room}", "room").unwrap(),
            Source::Header => RoomSource::header(HeaderName::from_static(ROOM_HEADER)),
            Source::Query => RoomSource::query("room"),
        };
        let user_id = match options.sha1_domain {
            Some(domain) => UserIdStrategy::sha1(domain).unwrap(),
            None => UserIdStrategy::raw(),
        };
        let mut callstats = Callstats::new(issuer)
            .user(sessions.clone())
            .user_id(user_id)
            .room(source)
            .vary([header::COOKIE]);
        if options.mode == Mode::Calls {
            callstats = callstats.calls(Calls::new(registry()));
        }
        let endpoint = callstats
            .endpoint()
            .scheme(Scheme::HTTP)
            .room_from_body(options.room_from_body)
            .trusted_origin(TRUSTED_ORIGIN)
            .unwrap();
        let router = Router::new()
            .route("/rooms/{room}", get(room_page))
            .route_layer(callstats.layer().require_authentication(true))
            .route_service("/getToken", endpoint)
            .route_service("/.well-known/jwks.json", callstats.jwks());
        let request = Request::get("/.well-known/jwks.json").body(Body::empty()).unwrap();
        let reply = super::oneshot(&router, request).await;
        assert_eq!(reply.status, 200, "the JWKS is served");
        let jwks = reply.json();
        Self {
            router,
            options,
            sessions,
            jwks,
        }
    }

    /// The `Cookie` header of `who`, opening the session it needs.
    pub fn cookie(&self, who: &Who) -> Option<String> {
        match who {
            Who::Anonymous => None,
            Who::User(user) => Some(self.sessions.login(user.clone())),
            Who::Forged => Some(FORGED.to_owned()),
            Who::Garbage => Some(format!("{SESSION_COOKIE}=../../etc/passwd; other=1")),
            Who::ForgedThen(user) => Some(format!("{FORGED}; {}", self.sessions.login(user.clone()))),
            Who::ThenForged(user) => Some(format!("{}; {FORGED}", self.sessions.login(user.clone()))),
        }
    }

    /// Sends `row` through the router (`oneshot`) and reads the whole response.
    pub async fn send(&self, row: &Row) -> Result<Reply, String> {
        let mut builder = Request::builder()
            .method(row.method.clone())
            .uri(Uri::try_from(row.uri.as_str()).map_err(|e| format!("the row's URI does not parse: {e}"))?);
        if let Some(cookie) = self.cookie(&row.who) {
            builder = builder.header(header::COOKIE, cookie);
        }
        for (name, value) in &row.headers {
            builder = builder.header(name, value);
        }
        let request = builder.body(Body::from(row.body.clone())).map_err(|e| e.to_string())?;
        Ok(super::oneshot(&self.router, request).await)
    }

    /// Runs `rows` and records each in `tally` under `label`.
    pub async fn run(&self, label: &str, rows: Vec<Row>, tally: &mut Tally) {
        for row in rows {
            let result = match self.send(&row).await {
                Ok(outcome) => self.check(&row, &outcome),
                Err(error) => Err(error),
            };
            tally.record(
                &format!("[{label}/{}] {}", self.options.mode.as_str(), row.name),
                result,
            );
        }
    }

    /// The invariants of every row, then its own expectation and headers.
    pub fn check(&self, row: &Row, outcome: &Reply) -> Result<(), String> {
        self.check_expect(&row.expect, outcome)?;
        for (name, value) in &row.want_headers {
            let got = outcome.headers.get(name);
            if got.is_none_or(|got| got != value) {
                return Err(format!("want {name}: {value}, got {got:?} ({})", outcome.describe()));
            }
        }
        Ok(())
    }

    /// The invariants of every response, then what `expect` says.
    pub fn check_expect(&self, expect: &Expect, outcome: &Reply) -> Result<(), String> {
        if outcome.status.is_server_error() {
            return Err(format!("a server error: {}", outcome.describe()));
        }
        match expect {
            Expect::Token(granted) => self.check_token(granted, outcome)?,
            Expect::Refused { status, code, message } => {
                check_refusal(*status, code, message, outcome)?;
                check_no_token(outcome)?;
            }
            Expect::Body(status, body) => {
                if outcome.status != *status || outcome.body != body.as_bytes() {
                    return Err(format!("want {status} {body:?}, got {}", outcome.describe()));
                }
                check_no_token(outcome)?;
            }
        }
        Ok(())
    }

    /// A token for the row's user and room, verified under the served JWKS.
    fn check_token(&self, granted: &Granted, outcome: &Reply) -> Result<(), String> {
        if outcome.status != granted.status {
            return Err(format!(
                "want {} with a token, got {}",
                granted.status,
                outcome.describe()
            ));
        }
        let json: Option<Value> = serde_json::from_slice(&outcome.body).ok();
        let header_jwt = outcome
            .headers
            .get("x-callstats-token")
            .map(|v| v.to_str().unwrap_or(""));
        let body_jwt = json.as_ref().and_then(|j| j.get("token")).and_then(Value::as_str);
        let jwt = match (header_jwt, body_jwt) {
            (Some(h), Some(b)) if h != b => return Err("the header's and the body's tokens differ".into()),
            (Some(jwt), _) | (None, Some(jwt)) => jwt,
            (None, None) => return Err(format!("no token: {}", outcome.describe())),
        };
        let claims = self.verify(jwt)?;
        if claims["userID"].as_str() != Some(granted.user_id.as_str()) {
            return Err(format!("userID {:?}, want {:?}", claims["userID"], granted.user_id));
        }
        if claims["appID"] != APP_ID {
            return Err(format!("appID {:?}", claims["appID"]));
        }
        let conference = claims["confID"].as_str().ok_or("the token has no confID")?;
        self.check_conference(granted, conference.as_bytes())?;
        check_token_companions(outcome, json.as_ref(), &granted.user_id, conference, self.options.mode)
    }

    /// The conferenceID of a token: the room byte for byte, or a call of it.
    fn check_conference(&self, granted: &Granted, got: &[u8]) -> Result<(), String> {
        let fits = match self.options.mode {
            Mode::Room => got == granted.room.as_slice(),
            Mode::Calls => is_call_of(got, granted.call_prefix.as_deref().unwrap_or(&granted.room)),
        };
        if fits {
            Ok(())
        } else {
            Err(format!(
                "conferenceID {:?} ({}), want the room {:?}",
                String::from_utf8_lossy(got),
                hex(got),
                String::from_utf8_lossy(&granted.room)
            ))
        }
    }

    /// Verifies `jwt` (ES256, times against now) under the key its `kid` names in the
    /// served JWKS.
    fn verify(&self, jwt: &str) -> Result<super::Claims, String> {
        let header = jsonwebtoken::decode_header(jwt).map_err(|e| format!("the token's header: {e}"))?;
        let kid = header.kid.ok_or("the token names no key")?;
        let keys = self.jwks["keys"].as_array().ok_or("the JWKS has no keys")?;
        let jwk = keys
            .iter()
            .find(|k| k["kid"] == kid.as_str())
            .ok_or_else(|| format!("kid {kid} is not in the JWKS"))?;
        let (x, y) = (jwk["x"].as_str().unwrap_or(""), jwk["y"].as_str().unwrap_or(""));
        super::try_verify(jwt, &super::jwk_key(x, y), super::Time::Now)
            .map_err(|e| format!("the token does not verify: {e}"))
    }
}

/// `GET /rooms/{room}`: the page's context as JSON; `?status=NNN` answers that status
/// with an empty body instead (a redirect, a 404 of the app...).
async fn room_page(context: Option<Extension<CallstatsContext>>, uri: Uri) -> Response {
    let status = uri
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("status="))
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok());
    match status {
        Some(status) => status.into_response(),
        None => Json(context.map_or(Value::Null, |Extension(c)| c.to_client_json())).into_response(),
    }
}

/// Whether `got` is a call of `prefix` (a room, or the cut start of a long one) started
/// at [`NOW`], by the rule of the default format: `<prefix>-20261125T0930Z-<6 lowercase
/// hex digits>`.
pub fn is_call_of(got: impl AsRef<[u8]>, prefix: impl AsRef<[u8]>) -> bool {
    let Some(rest) = got.as_ref().strip_prefix(prefix.as_ref()) else {
        return false;
    };
    let Some(random) = rest.strip_prefix(format!("-{CALL_STAMP}-").as_bytes()) else {
        return false;
    };
    random.len() == 6 && random.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What goes with a token: the ID headers and the body agree with its claims, and the
/// response is neither stored nor shared.
fn check_token_companions(
    outcome: &Reply,
    json: Option<&Value>,
    user_id: &str,
    conference: &str,
    mode: Mode,
) -> Result<(), String> {
    let decoded = |name: &str| {
        outcome
            .headers
            .get(name)
            .map(|v| super::decode_component(v.to_str().unwrap_or("")))
    };
    if outcome.headers.contains_key("x-callstats-token") {
        if decoded("x-callstats-user-id").as_deref() != Some(user_id.as_bytes()) {
            return Err(format!(
                "x-callstats-user-id {:?}",
                outcome.headers.get("x-callstats-user-id")
            ));
        }
        if decoded("x-callstats-conference-id").as_deref() != Some(conference.as_bytes()) {
            return Err(format!(
                "x-callstats-conference-id {:?}",
                outcome.headers.get("x-callstats-conference-id")
            ));
        }
    }
    if let Some(json) = json.filter(|j| j.is_object()) {
        let started = match mode {
            Mode::Room => Value::Null,
            Mode::Calls => Value::from(NOW),
        };
        let fields = [
            ("userID", Value::from(user_id)),
            ("conferenceID", Value::from(conference)),
            ("appID", Value::from(APP_ID)),
            ("callStartedAt", started),
        ];
        for (name, want) in fields {
            let got = json.get(name).unwrap_or(&Value::Null);
            if *got != want {
                return Err(format!("body {name} {got}, want {want}"));
            }
        }
    }
    if outcome
        .headers
        .get(header::CACHE_CONTROL)
        .is_none_or(|v| v != "no-store")
    {
        return Err(format!(
            "a token without Cache-Control: no-store ({})",
            outcome.describe()
        ));
    }
    let vary = outcome.headers.get_all(header::VARY).iter();
    if !vary
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("cookie"))
    {
        return Err("a token without Vary: cookie".into());
    }
    Ok(())
}

/// A refusal of the crate: the status, `{"code": <code>, "error": ...}` in that order,
/// with every fragment of `message` in the error, not stored.
fn check_refusal(status: StatusCode, code: &str, message: &[String], outcome: &Reply) -> Result<(), String> {
    let head = format!(r#"{{"code":"{code}","error":""#);
    if outcome.status != status || !outcome.body.starts_with(head.as_bytes()) {
        return Err(format!("want {status} {code}, got {}", outcome.describe()));
    }
    let json: Value = serde_json::from_slice(&outcome.body).map_err(|e| format!("the refusal is not JSON: {e}"))?;
    let error = json["error"].as_str().unwrap_or("");
    if json.as_object().map(|o| o.len()) != Some(2) {
        return Err(format!("a refusal is exactly code and error: {}", outcome.describe()));
    }
    if let Some(missing) = message.iter().find(|m| !error.contains(m.as_str())) {
        return Err(format!("the error {error:?} does not say {missing:?}"));
    }
    if outcome
        .headers
        .get(header::CACHE_CONTROL)
        .is_none_or(|v| v != "no-store")
    {
        return Err(format!(
            "a refusal without Cache-Control: no-store ({})",
            outcome.describe()
        ));
    }
    Ok(())
}

/// No token anywhere: no token or ID header, no `token` field, nothing JWT-like.
fn check_no_token(outcome: &Reply) -> Result<(), String> {
    for name in ["x-callstats-token", "x-callstats-user-id", "x-callstats-conference-id"] {
        if outcome.headers.contains_key(name) {
            return Err(format!("{name} on a response without a token ({})", outcome.describe()));
        }
    }
    let json: Option<Value> = serde_json::from_slice(&outcome.body).ok();
    if json.as_ref().and_then(|j| j.get("token")).is_some() {
        return Err(format!("a token field on a refused request: {}", outcome.describe()));
    }
    if outcome.body.windows(3).any(|w| w == b"eyJ") {
        return Err(format!("something JWT-like in the body: {}", outcome.describe()));
    }
    Ok(())
}

/// Lowercase hex of bytes, for messages.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// --- Rows --------------------------------------------------------------------------------

/// A token a row expects.
#[derive(Debug, Clone)]
pub struct Granted {
    pub status: StatusCode,
    /// The session's userID.
    pub user_id: String,
    /// The room, byte for byte: the conferenceID without calls.
    pub room: Vec<u8>,
    /// With calls, what a call ID starts with before `-<stamp>-<random>` when it is not
    /// the room (a room over 234 bytes is cut); `None`: the room.
    pub call_prefix: Option<Vec<u8>>,
}

/// What a row must get.
#[derive(Debug, Clone)]
pub enum Expect {
    /// A token.
    Token(Granted),
    /// A refusal: this status, this code, and each fragment in the message.
    Refused {
        status: StatusCode,
        code: &'static str,
        message: Vec<String>,
    },
    /// This status and exactly this body (not the crate's: a 404 or 405 of the router).
    Body(StatusCode, String),
}

/// `200` and a token for `user_id` in `room` (the room's bytes exactly).
pub fn token(user_id: &str, room: impl AsRef<[u8]>) -> Expect {
    Expect::Token(Granted {
        status: StatusCode::OK,
        user_id: user_id.to_owned(),
        room: room.as_ref().to_vec(),
        call_prefix: None,
    })
}

/// [`token`] for a room over 234 bytes, whose call IDs start with `call_prefix`.
pub fn token_cut(user_id: &str, room: impl AsRef<[u8]>, call_prefix: impl AsRef<[u8]>) -> Expect {
    Expect::Token(Granted {
        status: StatusCode::OK,
        user_id: user_id.to_owned(),
        room: room.as_ref().to_vec(),
        call_prefix: Some(call_prefix.as_ref().to_vec()),
    })
}

impl Expect {
    /// The same token with another success status (`201`, `204`).
    pub fn with_status(self, status: u16) -> Self {
        match self {
            Expect::Token(granted) => Expect::Token(Granted {
                status: StatusCode::from_u16(status).unwrap(),
                ..granted
            }),
            other => other,
        }
    }
}

/// A refusal with `status` and `code`, whatever the message.
pub fn refused(status: u16, code: &'static str) -> Expect {
    refused_with(status, code, &[])
}

/// A refusal with `status` and `code` whose message says each of `message`.
pub fn refused_with(status: u16, code: &'static str, message: &[&str]) -> Expect {
    Expect::Refused {
        status: StatusCode::from_u16(status).unwrap(),
        code,
        message: message.iter().map(|m| (*m).to_owned()).collect(),
    }
}

/// `status` and exactly `body`.
pub fn body(status: u16, body: &str) -> Expect {
    Expect::Body(StatusCode::from_u16(status).unwrap(), body.to_owned())
}

/// A request and what it must get.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub method: Method,
    pub uri: String,
    pub who: Who,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Vec<u8>,
    pub expect: Expect,
    /// Headers the response must carry, with these values.
    pub want_headers: Vec<(HeaderName, &'static str)>,
}

impl Row {
    pub fn new(name: impl Into<String>, method: Method, uri: impl Into<String>, who: Who, expect: Expect) -> Self {
        Self {
            name: name.into(),
            method,
            uri: uri.into(),
            who,
            headers: Vec::new(),
            body: Vec::new(),
            expect,
            want_headers: Vec::new(),
        }
    }

    /// `GET uri`.
    pub fn get(name: impl Into<String>, uri: impl Into<String>, who: Who, expect: Expect) -> Self {
        Self::new(name, Method::GET, uri, who, expect)
    }

    /// `POST /getToken`.
    pub fn token_request(name: impl Into<String>, who: Who, expect: Expect) -> Self {
        Self::new(name, Method::POST, "/getToken", who, expect)
    }

    /// Adds a request header (any bytes a `HeaderValue` holds).
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        let name = HeaderName::try_from(name).unwrap();
        let value = HeaderValue::from_bytes(value.as_ref()).unwrap_or_else(|e| panic!("{}: {e}", self.name));
        self.headers.push((name, value));
        self
    }

    /// `Referer: <PAGE_ORIGIN>/rooms/<room>`, `room` as it goes into the path.
    pub fn asked_from(self, room: &str) -> Self {
        self.header("referer", format!("{PAGE_ORIGIN}/rooms/{room}"))
    }

    /// A JSON body.
    pub fn json(self, body: impl Into<Vec<u8>>) -> Self {
        self.header("content-type", "application/json").body(body)
    }

    /// A form body.
    pub fn form(self, body: impl Into<Vec<u8>>) -> Self {
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }

    /// The body, as is.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// A header the response must carry with exactly this value.
    pub fn want_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.want_headers.push((HeaderName::from_static(name), value));
        self
    }
}

/// The rows of a test: how many were tried, and every failure.
#[derive(Default)]
pub struct Tally {
    tried: usize,
    failures: Vec<String>,
}

impl Tally {
    /// Records one row.
    pub fn record(&mut self, name: &str, result: Result<(), String>) {
        self.tried += 1;
        if let Err(error) = result {
            self.failures.push(format!("{name}: {error}"));
        }
    }

    /// Prints how many inputs `test` tried and fails with every failing row.
    pub fn finish(self, test: &str) {
        println!("{test}: {} inputs tried, {} failed", self.tried, self.failures.len());
        assert!(self.tried > 0, "{test}: no rows");
        assert!(
            self.failures.is_empty(),
            "{test}: {} of {} rows failed:\n{}",
            self.failures.len(),
            self.tried,
            self.failures.join("\n")
        );
    }
}

// --- On the wire ---------------------------------------------------------------------------

/// A router served by hyper on 127.0.0.1 until [`stop`](Self::stop).
pub struct Served {
    pub addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    /// Serves `router` on a fresh port of 127.0.0.1.
    pub async fn start(router: Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self { addr, stop, task }
    }

    /// Stops the server: no new connections, and at most 10 s for the open ones.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let task = self.task;
        let abort = task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(10), task).await.is_err() {
            abort.abort();
        }
    }
}

/// Sends raw bytes to `addr` and reads the response (at most 4 MiB, 10 s per read),
/// or `None` if the server closed the connection without one. Blocking: call it from
/// `spawn_blocking`.
pub fn raw_exchange(addr: SocketAddr, request: &[u8]) -> Option<Reply> {
    let timeout = Duration::from_secs(10);
    let stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    // Write from another thread while this one reads: the server may answer and close
    // before it has read everything (then the write fails, which is fine). The write
    // side is not shut down, because hyper closes at once on a half-closed request.
    let mut writer = stream.try_clone().ok()?;
    let request = request.to_vec();
    let write = std::thread::spawn(move || {
        let _ = writer.write_all(&request);
    });
    let mut bytes = Vec::new();
    let _ = stream.take(4 << 20).read_to_end(&mut bytes);
    let _ = write.join();
    parse_response(&bytes)
}

/// Parses an HTTP/1.1 response: status line, headers, body (chunks joined).
fn parse_response(bytes: &[u8]) -> Option<Reply> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        headers.append(
            HeaderName::try_from(name.trim()).ok()?,
            HeaderValue::try_from(value.trim()).ok()?,
        );
    }
    let raw = &bytes[end + 4..];
    let chunked = headers
        .get(header::TRANSFER_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    let body = if chunked { dechunk(raw)? } else { raw.to_vec() };
    Some(Reply {
        status: StatusCode::from_u16(status).ok()?,
        headers,
        body: body.into(),
    })
}

/// Joins the chunks of a chunked body; every step consumes input, so it ends.
fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    while !raw.is_empty() {
        let line_end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            break;
        }
        body.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
    Some(body)
}
