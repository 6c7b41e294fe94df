//! DEMO ONLY: a minimal in-memory login session, standing in for the app's real
//! authentication (tower-sessions, axum-login, an SSO proxy, ...). Do not copy it
//! into production: it has no password, no CSRF protection and no persistence.
//!
//! What matters for tower-callstats is one line in [`authenticate`]: once the app
//! knows who the user is, it inserts an [`Identity`] into the request extensions.
// Tests include this file with #[path] and use different parts of it.
#![allow(dead_code)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    Json,
    body::Bytes,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use tower_callstats::{CallstatsContext, Identity};

const COOKIE: &str = "demo_session";
/// Upper bound on live sessions, so that a login flood cannot exhaust memory.
const MAX_SESSIONS: usize = 100_000;
/// Upper bound on a username at login; the callstats layer then enforces its own
/// 256-byte userID limit with a clear 400.
const MAX_USERNAME_BYTES: usize = 1024;

struct Entry {
    username: String,
    domain: Option<String>,
    expires: Instant,
}

/// The demo's session store.
#[derive(Clone)]
pub struct Sessions {
    entries: Arc<Mutex<HashMap<String, Entry>>>,
    ttl: Duration,
}

/// Marker for handlers: the request has a live session.
#[derive(Clone)]
pub struct LoggedIn {
    pub username: String,
}

/// How the room page loads and points callstats.js.
pub struct PageSettings {
    pub callstats_js_url: String,
    pub auth_proxy: Option<String>,
}

impl Sessions {
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: Arc::new(Mutex::new(HashMap::new())),
            ttl,
        }
    }

    fn lookup(&self, id: &str) -> Option<(String, Option<String>)> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(id)?;
        if entry.expires <= Instant::now() {
            entries.remove(id);
            return None;
        }
        Some((entry.username.clone(), entry.domain.clone()))
    }

    fn create(&self, username: String, domain: Option<String>) -> Option<String> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_SESSIONS {
            let now = Instant::now();
            entries.retain(|_, e| e.expires > now);
            if entries.len() >= MAX_SESSIONS {
                return None;
            }
        }
        let id = random_hex(32);
        entries.insert(
            id.clone(),
            Entry {
                username,
                domain,
                expires: Instant::now() + self.ttl,
            },
        );
        Some(id)
    }

    fn remove(&self, id: &str) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }
}

/// `n` random bytes as hex.
pub fn random_hex(n: usize) -> String {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut bytes = vec![0u8; n];
    SystemRandom::new().fill(&mut bytes).expect("the system RNG works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
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
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({"error": message})),
    )
        .into_response()
}

/// `POST /login` with a form or JSON `username` (and optional `domain`).
pub async fn login(State(sessions): State<Sessions>, headers: HeaderMap, body: Bytes) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let is_json = content_type.starts_with("application/json");
    let form: Result<LoginForm, String> = if is_json {
        serde_json::from_slice(&body).map_err(|e| e.to_string())
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        serde_urlencoded::from_bytes(&body).map_err(|e| e.to_string())
    } else {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send a form or JSON with a username",
        );
    };
    let mut form = match form {
        Ok(form) => form,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid login body: {e}")),
    };
    // The login form's optional domain field arrives as `domain=` when left blank.
    form.domain = form.domain.filter(|d| !d.is_empty());
    let valid = |s: &str| !s.is_empty() && s.len() <= MAX_USERNAME_BYTES && !s.chars().any(char::is_control);
    if !valid(&form.username) || form.domain.as_deref().is_some_and(|d| !valid(d)) {
        return error(
            StatusCode::BAD_REQUEST,
            "username (and domain) must be 1 to 1024 bytes without control characters",
        );
    }
    let Some(id) = sessions.create(form.username.clone(), form.domain) else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "too many sessions, try again later");
    };
    // DEMO ONLY: no `Secure` because the demo serves plain http on loopback.
    let cookie = format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}",
        sessions.ttl.as_secs()
    );
    let mut response = if is_json {
        Json(serde_json::json!({"username": form.username})).into_response()
    } else {
        Redirect::to("/").into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::try_from(cookie).expect("hex cookie is a valid header"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /logout`.
pub async fn logout(State(sessions): State<Sessions>, headers: HeaderMap) -> Response {
    if let Some(id) = session_cookie(&headers) {
        sessions.remove(id);
    }
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("demo_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0"),
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

pub fn index_page(user: Option<&str>) -> String {
    let status = match user {
        Some(user) => format!(
            "<p>Logged in as <b>{}</b>. <form method=post action=/logout><button>Log out</button></form></p>\
             <p>Open a room: <a href=\"/rooms/demo-room\">/rooms/demo-room</a>, \
             <a href=\"/rooms/%E3%82%A4%E3%83%B3%E3%82%BF%E3%83%BC%E3%83%8D%E3%83%83%E3%83%88\">/rooms/インターネット</a></p>",
            html_escape(user)
        ),
        None => String::new(),
    };
    include_str!("index.html").replace("{{STATUS}}", &status)
}

pub fn room_page(context: &CallstatsContext, page: &PageSettings) -> String {
    let mut config = context.to_client_json();
    // The page asks the token endpoint for tokens; it does not need this one.
    if let Some(map) = config.as_object_mut() {
        map.remove("token");
    }
    config["authProxy"] = page.auth_proxy.clone().into();
    let conference = context.conference_id().map(|c| c.as_str()).unwrap_or("");
    include_str!("room.html")
        .replace("{{CALLSTATS_JS_URL}}", &html_escape(&page.callstats_js_url))
        .replace("{{USER_ID}}", &html_escape(context.user_id()))
        .replace("{{CONFERENCE_ID}}", &html_escape(conference))
        .replace("{{CONFIG_JSON}}", &script_json(&config))
}
