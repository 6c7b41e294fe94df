//! DEMO ONLY: a minimal in-memory login session, standing in for the app's real
//! authentication (tower-sessions, axum-login, an SSO proxy, ...). It has no password
//! and no persistence: do not copy it into production as it is. What it does have,
//! because the demo is what people copy, is the protection every login needs:
//!
//! - **The cookie** is `__Host-demo_session` with `Secure; Path=/; HttpOnly;
//!   SameSite=Lax`. The `__Host-` prefix makes browsers accept it only from a secure
//!   origin, without `Domain` and with `Path=/`, so a sibling subdomain can neither set
//!   nor overwrite it. Browsers and curl (7.88 checked) count `http://127.0.0.1` and
//!   `http://localhost` as secure, so the demo works over plain http on loopback; on any
//!   other address, serve it over https or browsers drop the cookie.
//! - **Logins are rate limited** per client address (an IPv4 address, or an IPv6 /64):
//!   a token bucket of [`LoginLimit::burst`] attempts (30) that refills one attempt
//!   every [`LoginLimit::refill`] (2 s). Over the limit: `429` with `Retry-After` and a
//!   JSON error. The table of addresses is bounded ([`LoginLimit::max_clients`]); when
//!   it is full, new addresses share one bucket. Without the client's address (a router
//!   not served with `into_make_service_with_connect_info::<SocketAddr>()`, as in tests
//!   that call it directly), all logins share that one bucket.
//! - **The session store is bounded** (100 000 sessions by default) and, when full,
//!   evicts the oldest session: a login flood pushes out old sessions (at most the
//!   rate limit's worth per address) but never locks everyone out.
//! - **Login revokes the browser's previous session**: a login with a session cookie
//!   removes that session before it creates the new one.
//! - **CSRF**: `POST /login`, `POST /logout` and the room page's `POST /rooms/{room}/end`
//!   are refused (`403`, code `csrf_failed`) when
//!   1. `Sec-Fetch-Site` is there and is not `same-origin`, or `Origin` is there and is
//!      not this server's origin (its host and port are not the `Host` header);
//!   2. the body is a form, the request comes from a browser (it has `Origin` or
//!      `Sec-Fetch-Site`, which every current browser sends with a form POST), and its
//!      `csrf` field is not the value of the `__Host-demo_csrf` cookie (double submit:
//!      `GET /` sets the cookie and puts the same value in its forms; another site can
//!      neither read it nor, thanks to `__Host-`, set it).
//!
//!   A JSON login (`Content-Type: application/json`) needs no token: a browser cannot
//!   send that content type to another origin without a CORS preflight, which the demo
//!   never grants. A form post with neither `Origin` nor `Sec-Fetch-Site` does not come
//!   from a browser (curl, scripts) and needs no token either, so
//!   `curl -c jar -d username=alice http://127.0.0.1:3000/login` keeps working.
//!
//! What matters for tower-callstats is one line in [`authenticate`]: once the app
//! knows who the user is, it inserts an [`Identity`] into the request extensions.
// Tests include this file with #[path] and use different parts of it.
#![allow(dead_code)]

use std::{
    collections::{BTreeMap, HashMap},
    net::{IpAddr, Ipv6Addr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Extension, Json,
    body::Bytes,
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use tower_callstats::{CallstatsContext, Identity};

/// The session cookie. `__Host-`: only from a secure origin, no `Domain`, `Path=/`.
pub const COOKIE: &str = "__Host-demo_session";
/// The CSRF cookie of the double-submit check (its value is also in the page's forms).
pub const CSRF_COOKIE: &str = "__Host-demo_csrf";
/// The form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
/// Upper bound on live sessions, so that a login flood cannot exhaust memory.
pub const MAX_SESSIONS: usize = 100_000;
/// Upper bound on a username at login; the callstats layer then enforces its own
/// 256-byte userID limit with a clear 400.
const MAX_USERNAME_BYTES: usize = 1024;

/// The login rate limit: a token bucket per client address.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimit {
    /// Attempts an address may make at once.
    pub burst: u32,
    /// The time it takes to earn one attempt back.
    pub refill: Duration,
    /// Addresses tracked at most; beyond, new addresses share one bucket.
    pub max_clients: usize,
}

impl Default for LoginLimit {
    fn default() -> Self {
        Self {
            burst: 30,
            refill: Duration::from_secs(2),
            max_clients: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn full(limit: &LoginLimit, now: Instant) -> Self {
        Self {
            tokens: f64::from(limit.burst),
            updated: now,
        }
    }

    /// Refills for the time elapsed, then takes one attempt, or says how long to wait.
    fn take(&mut self, limit: &LoginLimit, now: Instant) -> Result<(), Duration> {
        let refill = limit.refill.as_secs_f64().max(f64::MIN_POSITIVE);
        let earned = now.saturating_duration_since(self.updated).as_secs_f64() / refill;
        self.tokens = (self.tokens + earned).min(f64::from(limit.burst));
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) * refill))
        }
    }

    /// Whether the bucket has refilled completely (the address is as good as new).
    fn is_full(&self, limit: &LoginLimit, now: Instant) -> bool {
        let refill = limit.refill.as_secs_f64().max(f64::MIN_POSITIVE);
        let earned = now.saturating_duration_since(self.updated).as_secs_f64() / refill;
        self.tokens + earned >= f64::from(limit.burst)
    }
}

struct Limiter {
    limit: LoginLimit,
    buckets: HashMap<IpAddr, Bucket>,
    /// For logins without a known address, and for new addresses when `buckets` is full.
    shared: Bucket,
    last_purge: Instant,
}

impl Limiter {
    fn take(&mut self, client: Option<IpAddr>, now: Instant) -> Result<(), Duration> {
        let Some(ip) = client else {
            return self.shared.take(&self.limit, now);
        };
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= self.limit.max_clients {
            // Forget addresses whose bucket has refilled (they are as good as new), at
            // most once a second so that a full table costs no scan per request.
            if now.saturating_duration_since(self.last_purge) >= Duration::from_secs(1) {
                let limit = self.limit;
                self.buckets.retain(|_, b| !b.is_full(&limit, now));
                self.last_purge = now;
            }
            if self.buckets.len() >= self.limit.max_clients {
                return self.shared.take(&self.limit, now);
            }
        }
        let limit = self.limit;
        self.buckets
            .entry(ip)
            .or_insert_with(|| Bucket::full(&limit, now))
            .take(&limit, now)
    }
}

/// The key of a client in the rate limit: its IPv4 address, or its IPv6 /64 (one
/// subscriber usually has a whole /64).
fn client_key(addr: SocketAddr) -> IpAddr {
    match addr.ip().to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 => v4,
    }
}

struct Entry {
    username: String,
    domain: Option<String>,
    expires: Instant,
    /// Creation order, the key of `Store::order`.
    seq: u64,
}

#[derive(Default)]
struct Store {
    entries: HashMap<String, Entry>,
    /// Session IDs by creation order; every session lives equally long, so the oldest
    /// is also the first to expire.
    order: BTreeMap<u64, String>,
    next_seq: u64,
}

impl Store {
    fn remove(&mut self, id: &str) {
        if let Some(entry) = self.entries.remove(id) {
            self.order.remove(&entry.seq);
        }
    }

    fn pop_oldest(&mut self) -> Option<String> {
        let (_, id) = self.order.pop_first()?;
        self.entries.remove(&id);
        Some(id)
    }
}

/// The demo's session store and login rate limit.
#[derive(Clone)]
pub struct Sessions {
    store: Arc<Mutex<Store>>,
    limiter: Arc<Mutex<Limiter>>,
    ttl: Duration,
    max_sessions: usize,
}

/// Marker for handlers: the request has a live session.
#[derive(Clone)]
pub struct LoggedIn {
    pub username: String,
}

/// How the room page loads and points callstats.js, and where its conferenceID comes
/// from.
pub struct PageSettings {
    pub callstats_js_url: String,
    pub auth_proxy: Option<String>,
    pub conference: crate::app::ConferenceMode,
}

impl Sessions {
    pub fn new(ttl: Duration) -> Self {
        Self::with_limits(ttl, MAX_SESSIONS, LoginLimit::default())
    }

    /// A store of at most `max_sessions` sessions (at least 1), logins limited by `limit`.
    pub fn with_limits(ttl: Duration, max_sessions: usize, limit: LoginLimit) -> Self {
        let now = Instant::now();
        Self {
            store: Arc::new(Mutex::new(Store::default())),
            limiter: Arc::new(Mutex::new(Limiter {
                limit,
                buckets: HashMap::new(),
                shared: Bucket::full(&limit, now),
                last_purge: now,
            })),
            ttl,
            max_sessions: max_sessions.max(1),
        }
    }

    fn lookup(&self, id: &str) -> Option<(String, Option<String>)> {
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        let entry = store.entries.get(id)?;
        if entry.expires <= Instant::now() {
            store.remove(id);
            return None;
        }
        Some((entry.username.clone(), entry.domain.clone()))
    }

    /// A new session; when the store is full, the oldest session makes room.
    fn create(&self, username: String, domain: Option<String>) -> String {
        let mut store = self.store.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        while let Some(oldest) = store.order.first_key_value().and_then(|(_, id)| store.entries.get(id)) {
            if oldest.expires > now {
                break;
            }
            store.pop_oldest();
        }
        while store.entries.len() >= self.max_sessions {
            if store.pop_oldest().is_some() {
                tracing::warn!("session store full: the oldest session was evicted");
            } else {
                break;
            }
        }
        let id = random_hex(32);
        let seq = store.next_seq;
        store.next_seq += 1;
        store.order.insert(seq, id.clone());
        store.entries.insert(
            id.clone(),
            Entry {
                username,
                domain,
                expires: now + self.ttl,
                seq,
            },
        );
        id
    }

    fn remove(&self, id: &str) {
        self.store.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }

    /// The number of live (and not yet purged) sessions.
    pub fn len(&self) -> usize {
        self.store.lock().unwrap_or_else(|e| e.into_inner()).entries.len()
    }

    fn take_login_attempt(&self, client: Option<IpAddr>) -> Result<(), Duration> {
        let mut limiter = self.limiter.lock().unwrap_or_else(|e| e.into_inner());
        limiter.take(client, Instant::now())
    }
}

/// `n` random bytes as hex.
pub fn random_hex(n: usize) -> String {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut bytes = vec![0u8; n];
    SystemRandom::new().fill(&mut bytes).expect("the system RNG works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The value of the first cookie called `name`, if it is 64 hex digits (what the demo
/// issues); anything else counts as no cookie.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, COOKIE)
}

/// The CSRF token for a page: the browser's `__Host-demo_csrf` cookie, or a new one
/// with the `Set-Cookie` header that stores it.
pub fn csrf_token(headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match cookie(headers, CSRF_COOKIE) {
        Some(token) => (token.to_owned(), None),
        None => {
            let token = random_hex(32);
            let set = format!("{CSRF_COOKIE}={token}; Secure; Path=/; HttpOnly; SameSite=Strict");
            (token, HeaderValue::try_from(set).ok())
        }
    }
}

/// Equal, in time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Refuses requests that a browser sent from another origin (rule 1 of the module
/// docs).
/// Returns why the request is refused.
fn check_origin(headers: &HeaderMap) -> Result<(), String> {
    if let Some(site) = headers.get("sec-fetch-site") {
        if site.as_bytes() != b"same-origin" {
            return Err(format!(
                "Sec-Fetch-Site is {:?}: submit the form from this site's own page",
                String::from_utf8_lossy(site.as_bytes())
            ));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).map(HeaderValue::as_bytes);
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, host)| host.as_bytes());
        if origin_host.is_none() || origin_host != host {
            return Err(format!(
                "Origin {:?} is not this site: submit the form from this site's own page",
                String::from_utf8_lossy(origin.as_bytes())
            ));
        }
    }
    Ok(())
}

/// Whether a request carries the headers every current browser sends with a form POST.
fn from_a_browser(headers: &HeaderMap) -> bool {
    headers.contains_key(header::ORIGIN) || headers.contains_key("sec-fetch-site")
}

/// Rule 2 of the module docs: a browser's form must carry the double-submit token.
/// Returns why the request is refused.
fn check_form_token(headers: &HeaderMap, field: Option<&str>) -> Result<(), &'static str> {
    if !from_a_browser(headers) {
        return Ok(());
    }
    match (cookie(headers, CSRF_COOKIE), field) {
        (Some(cookie), Some(field)) if constant_time_eq(cookie.as_bytes(), field.as_bytes()) => Ok(()),
        (None, _) => Err("no CSRF cookie: load the page with the form (GET /) and submit it from there"),
        _ => Err("the form's CSRF token does not match the CSRF cookie: reload the page and submit the form again"),
    }
}

/// The app's authentication middleware. This is where tower-callstats gets its input.
pub async fn authenticate(State(sessions): State<Sessions>, mut request: Request, next: Next) -> Response {
    if let Some(id) = session_cookie(request.headers()).map(str::to_owned) {
        if let Some((username, domain)) = sessions.lookup(&id) {
            let mut identity = Identity::new(username.as_str()).with_session_id(id);
            if let Some(domain) = domain {
                identity = identity.with_domain(domain);
            }
            // The one line tower-callstats needs from the app:
            request.extensions_mut().insert(identity);
            request.extensions_mut().insert(LoggedIn { username });
        }
    }
    next.run(request).await
}

#[derive(serde::Deserialize)]
struct LoginForm {
    username: String,
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    csrf: Option<String>,
}

/// The body of a form that carries only the CSRF token (logout, end call).
#[derive(serde::Deserialize)]
struct TokenOnlyForm {
    #[serde(default)]
    csrf: Option<String>,
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({"error": message})),
    )
        .into_response()
}

pub fn coded_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({"error": message, "code": code})),
    )
        .into_response()
}

pub fn csrf_failed(message: &str) -> Response {
    coded_error(StatusCode::FORBIDDEN, "csrf_failed", message)
}

fn rate_limited(retry_after: Duration) -> Response {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    let mut response = coded_error(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        &format!("too many login attempts from this address; try again in {secs} s"),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// `POST /login` with a form or JSON `username` (and optional `domain`).
pub async fn login(
    State(sessions): State<Sessions>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let client = client.map(|Extension(ConnectInfo(addr))| client_key(addr));
    if let Err(retry_after) = sessions.take_login_attempt(client) {
        return rate_limited(retry_after);
    }
    let content_type = content_type(&headers);
    let is_json = content_type.starts_with("application/json");
    let is_form = content_type.starts_with("application/x-www-form-urlencoded");
    if !is_json && !is_form {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send a form or JSON with a username",
        );
    }
    if let Err(why) = check_origin(&headers) {
        return csrf_failed(&why);
    }
    let form: Result<LoginForm, String> = if is_json {
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    } else {
        serde_urlencoded::from_bytes(&body).map_err(|e| e.to_string())
    };
    let mut form = match form {
        Ok(form) => form,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid login body: {e}")),
    };
    if is_form {
        if let Err(why) = check_form_token(&headers, form.csrf.as_deref()) {
            return csrf_failed(why);
        }
    }
    // The login form's optional domain field arrives as `domain=` when left blank.
    form.domain = form.domain.filter(|d| !d.is_empty());
    let valid = |s: &str| !s.is_empty() && s.len() <= MAX_USERNAME_BYTES && !s.chars().any(char::is_control);
    if !valid(&form.username) || form.domain.as_deref().is_some_and(|d| !valid(d)) {
        return error(
            StatusCode::BAD_REQUEST,
            "username (and domain) must be 1 to 1024 bytes without control characters",
        );
    }
    if let Some(at) = form.domain.as_deref().and_then(|d| d.find('@')) {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "domain {:?} contains '@' at byte {at}: the SHA1 userID hashes username@domain, so a domain with '@' \
                 would let two users share a userID; use a domain such as example.com",
                form.domain.as_deref().unwrap_or_default()
            ),
        );
    }
    // A new login replaces this browser's previous session.
    if let Some(previous) = session_cookie(&headers) {
        sessions.remove(previous);
    }
    let id = sessions.create(form.username.clone(), form.domain);
    let cookie = format!(
        "{COOKIE}={id}; Secure; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
        sessions.ttl.as_secs()
    );
    let mut response = if is_json {
        Json(serde_json::json!({"username": form.username})).into_response()
    } else {
        Redirect::to("/").into_response()
    };
    let headers = response.headers_mut();
    if let Ok(cookie) = HeaderValue::try_from(cookie) {
        headers.insert(header::SET_COOKIE, cookie);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The CSRF rules of the module docs for a form that only carries the CSRF token
/// (`POST /logout`, the room page's `POST /rooms/{room}/end`): `Err` says why, for
/// [`csrf_failed`].
pub fn check_form_csrf(headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    check_origin(headers)?;
    let field = if content_type(headers).starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes::<TokenOnlyForm>(body)
            .ok()
            .and_then(|f| f.csrf)
    } else {
        None
    };
    check_form_token(headers, field.as_deref()).map_err(str::to_owned)
}

/// `POST /logout` (from a browser, with the form's CSRF token).
pub async fn logout(State(sessions): State<Sessions>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(why) = check_form_csrf(&headers, &body) {
        return csrf_failed(&why);
    }
    if let Some(id) = session_cookie(&headers) {
        sessions.remove(id);
    }
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("__Host-demo_session=; Secure; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    response
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON that is safe inside a `<script>` element.
fn script_json(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// Fills a page template's `{{NAME}}` placeholders in one pass: a value that contains
/// `{{...}}` (a room or user name is the client's text) is never expanded again.
fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 1024);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}").and_then(|end| {
            values
                .iter()
                .find(|(name, _)| *name == &after[..end])
                .map(|v| (end, v.1))
        }) {
            Some((end, value)) => {
                out.push_str(value);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The index page; `csrf` goes into its forms (see [`csrf_token`]).
pub fn index_page(user: Option<&str>, csrf: &str) -> String {
    let csrf = html_escape(csrf);
    let status = match user {
        Some(user) => format!(
            "<p>Logged in as <b>{}</b>.</p>\
             <form method=post action=/logout class=inline>\
             <input type=hidden name={CSRF_FIELD} value=\"{csrf}\"><button>Log out</button></form>\
             <h2>Open a room</h2>\
             <ul class=rooms><li><a href=\"/rooms/demo-room\">demo-room</a></li>\
             <li><a href=\"/rooms/%E3%82%A4%E3%83%B3%E3%82%BF%E3%83%BC%E3%83%8D%E3%83%83%E3%83%88\" lang=ja>インターネット</a></li></ul>\
             <p class=note>Or any name: <code>/rooms/<var>name</var></code>. Everyone who opens the same room \
             while its call is active gets the same conferenceID.</p>",
            html_escape(user)
        ),
        None => String::new(),
    };
    render(include_str!("index.html"), &[("STATUS", &status), ("CSRF", &csrf)])
}

/// The room page: the inspector of what tower-callstats gave it. `room` is the room
/// name from the URL; `csrf` goes into the end-call form. The token itself is not in
/// the page: the page asks `/getToken` for it, as callstats.js does.
pub fn room_page(context: &CallstatsContext, page: &PageSettings, room: &str, csrf: &str) -> String {
    let mut config = context.to_client_json();
    // The page asks the token endpoint for tokens; it does not need this one.
    if let Some(map) = config.as_object_mut() {
        map.remove("token");
    }
    config["authProxy"] = page.auth_proxy.clone().into();
    let demo = serde_json::json!({
        "mode": page.conference.as_str(),
        "room": room,
        "callstatsJsUrl": page.callstats_js_url,
    });
    let conference = context.conference_id().map(|c| c.as_str()).unwrap_or("");
    let room_path = format!("/rooms/{}", tower_callstats::id::percent_encode(room));
    render(
        include_str!("room.html"),
        &[
            ("CALLSTATS_JS_URL", &html_escape(&page.callstats_js_url)),
            ("ROOM", &html_escape(room)),
            ("ROOM_PATH", &html_escape(&room_path)),
            ("USER_ID", &html_escape(context.user_id())),
            ("CONFERENCE_ID", &html_escape(conference)),
            ("CSRF", &html_escape(csrf)),
            ("CONFIG_JSON", &script_json(&config)),
            ("PAGE_JSON", &script_json(&demo)),
        ],
    )
}
