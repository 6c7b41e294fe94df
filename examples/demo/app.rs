//! The demo's router, separate from `main.rs` so that tests can build the very same
//! app (`#[path = "../examples/demo/app.rs"]`) without starting a process.
// Tests include this file with #[path] and use different parts of it.
#![allow(dead_code)]

use std::{sync::Arc, time::Duration};

use axum::{
    Extension, Router,
    body::Bytes,
    extract::{DefaultBodyLimit, OriginalUri, Path},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use tower_callstats::{
    Callstats, CallstatsContext, ConferenceId, ConferenceIdSource, KeyRing, SigningKey, TokenIssuer, UserIdStrategy,
    calls::{MemoryRegistry, PerCall},
};

use crate::session;

/// Where the demo's conferenceID comes from (`CALLSTATS_CONFERENCE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConferenceMode {
    /// `per-call` (the default): one conferenceID per call in each room,
    /// `<room>-<YYYYMMDDTHHMMZ>-<6 hex>`, the same for everyone in the room until the call
    /// ends (`POST /rooms/{room}/end`, or two hours without a join).
    #[default]
    PerCall,
    /// `room`: the room name itself, the same for every call ever held in the room.
    Room,
}

impl ConferenceMode {
    /// Parses `per-call` or `room`.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value {
            "per-call" => Ok(Self::PerCall),
            "room" => Ok(Self::Room),
            other => Err(format!("CALLSTATS_CONFERENCE={other:?}: expected per-call or room")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PerCall => "per-call",
            Self::Room => "room",
        }
    }
}

/// Everything the demo app needs besides the key.
pub struct DemoConfig {
    pub app_id: String,
    pub user_id: UserIdStrategy,
    pub conference: ConferenceMode,
    pub callstats_js_url: String,
    pub auth_proxy: Option<String>,
    pub session_ttl: Duration,
    /// Live sessions at most; when full, the oldest is evicted.
    pub max_sessions: usize,
    /// The login rate limit, per client address.
    pub login_limit: session::LoginLimit,
}

impl DemoConfig {
    pub fn new(app_id: impl Into<String>) -> Self {
        Self {
            app_id: app_id.into(),
            user_id: UserIdStrategy::raw(),
            conference: ConferenceMode::default(),
            callstats_js_url: "https://api.callstats.io/static/callstats.min.js".into(),
            auth_proxy: None,
            session_ttl: Duration::from_secs(3600),
            max_sessions: session::MAX_SESSIONS,
            login_limit: session::LoginLimit::default(),
        }
    }
}

/// The built app: the router, the key ring (to rotate), the grace period and the
/// session store.
pub struct Demo {
    pub router: Router,
    pub keys: KeyRing,
    pub issuer: TokenIssuer,
    pub grace: Duration,
    pub sessions: session::Sessions,
    /// The calls of per-call mode (`None` in room mode).
    pub calls: Option<PerCall>,
}

pub fn build(config: DemoConfig, key: SigningKey) -> Result<Demo, String> {
    let keys = KeyRing::new(key);
    let issuer = TokenIssuer::builder(config.app_id.as_str(), keys.clone())
        .build()
        .map_err(|e| e.to_string())?;
    // Keep a rotated-out key published for a token's whole life plus the skew.
    let grace = issuer.ttl() * 2;

    let sessions = session::Sessions::with_limits(config.session_ttl, config.max_sessions, config.login_limit);
    let room_page = Arc::new(session::PageSettings {
        callstats_js_url: config.callstats_js_url.clone(),
        auth_proxy: config.auth_proxy.clone(),
        conference: config.conference,
    });

    // One configuration for the room pages' layer, the token endpoint and the JWKS: the
    // page and the token always agree on the userID.
    let callstats = Callstats::new(issuer.clone()).user_id(config.user_id);
    let (callstats, endpoint, calls) = match config.conference {
        ConferenceMode::PerCall => {
            // One registry for the pages and the endpoint: the room's active call.
            let calls = PerCall::new(MemoryRegistry::new());
            let callstats = callstats.conference_id(ConferenceIdSource::per_call(
                ConferenceIdSource::route_param("room"),
                calls.clone(),
            ));
            // The token endpoint takes the room from the page that asks (the Referer)
            // and joins its call: every token request keeps the call active, and the
            // body's conferenceID is ignored.
            let rooms = ConferenceIdSource::path_template("/rooms/{room}", "room").map_err(|e| e.to_string())?;
            let endpoint = callstats
                .endpoint()
                .conference_id_from_referer(ConferenceIdSource::per_call(rooms, calls.clone()));
            (callstats, endpoint, Some(calls))
        }
        ConferenceMode::Room => {
            let callstats = callstats.conference_id(ConferenceIdSource::route_param("room"));
            let endpoint = callstats.endpoint();
            (callstats, endpoint, None)
        }
    };

    let public_pem = keys.clone();
    let router = Router::new()
        // Only the room pages get a token: the layer is a route_layer, so it runs after
        // routing and can read the {room} parameter.
        .route("/rooms/{room}", get(room))
        .route_layer(callstats.layer())
        .route("/rooms/{room}/end", post(end_call))
        .route("/", get(index))
        .route("/login", post(session::login))
        .route("/logout", post(session::logout))
        .route(
            "/static/demo.css",
            get(|| async { static_file("text/css; charset=utf-8", DEMO_CSS) }),
        )
        .route(
            "/static/inspector.js",
            get(|| async { static_file("text/javascript; charset=utf-8", INSPECTOR_JS) }),
        )
        .route_service("/getToken", endpoint)
        .route_service("/.well-known/jwks.json", callstats.jwks())
        .route(
            "/public-key.pem",
            get(move || async move {
                (
                    [(header::CONTENT_TYPE, "application/x-pem-file")],
                    public_pem.active().public_key_pem(),
                )
            }),
        )
        .layer(Extension(room_page))
        .layer(Extension(Calls(calls.clone())))
        // The app's own session layer: it authenticates and inserts the Identity that
        // the callstats layer and endpoint read.
        .layer(axum::middleware::from_fn_with_state(
            sessions.clone(),
            session::authenticate,
        ))
        .layer(DefaultBodyLimit::max(16 * 1024))
        .with_state(sessions.clone());
    Ok(Demo {
        router,
        keys,
        issuer,
        grace,
        sessions,
        calls,
    })
}

/// The page's style sheet and the room page's inspector: plain files, no build step.
const DEMO_CSS: &str = include_str!("demo.css");
const INSPECTOR_JS: &str = include_str!("inspector.js");

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// The calls of per-call mode, for `POST /rooms/{room}/end`.
#[derive(Clone)]
struct Calls(Option<PerCall>);

/// An HTML page with the login (or logout) form: its CSRF token comes from the
/// browser's CSRF cookie, or a new one is set. Never cached: it carries the token.
fn page_with_forms(
    status: StatusCode,
    headers: &HeaderMap,
    user: Option<&str>,
    edit: impl Fn(String) -> String,
) -> Response {
    let (token, set_cookie) = session::csrf_token(headers);
    let mut response = (status, Html(edit(session::index_page(user, &token)))).into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(set_cookie) = set_cookie {
        response_headers.insert(header::SET_COOKIE, set_cookie);
    }
    response
}

async fn index(session: Option<Extension<session::LoggedIn>>, headers: HeaderMap) -> Response {
    let user = session.map(|Extension(s)| s.username);
    page_with_forms(StatusCode::OK, &headers, user.as_deref(), |page| page)
}

async fn room(
    context: Option<Extension<CallstatsContext>>,
    Extension(page): Extension<Arc<session::PageSettings>>,
    room: Result<Path<String>, axum::extract::rejection::PathRejection>,
    headers: HeaderMap,
) -> Response {
    match context {
        Some(Extension(context)) => {
            // The room name as the browser sent it; the layer has checked it already.
            let room = room.map(|Path(room)| room).unwrap_or_default();
            // The end-call form's CSRF token, like the login page's.
            let (csrf, set_cookie) = session::csrf_token(&headers);
            let mut response = Html(session::room_page(&context, &page, &room, &csrf)).into_response();
            let response_headers = response.headers_mut();
            response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            if let Some(set_cookie) = set_cookie {
                response_headers.append(header::SET_COOKIE, set_cookie);
            }
            response
        }
        None => page_with_forms(StatusCode::UNAUTHORIZED, &headers, None, |page| {
            page.replacen("<h1>", "<p>Log in first.</p><h1>", 1)
        }),
    }
}

/// `POST /rooms/{room}/end` (from the room page's form, with its CSRF token, like
/// `/logout`): ends the room's active call, so that the next join starts a new call with
/// a new conferenceID; then back to the room page, which joins that new call.
async fn end_call(
    session: Option<Extension<session::LoggedIn>>,
    Extension(Calls(calls)): Extension<Calls>,
    Path(room): Path<String>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(why) = session::check_form_csrf(&headers, &body) {
        return session::csrf_failed(&why);
    }
    let Some(Extension(session::LoggedIn { username })) = session else {
        return session::coded_error(StatusCode::UNAUTHORIZED, "not_logged_in", "log in to end a call");
    };
    let Some(calls) = calls else {
        return session::coded_error(
            StatusCode::CONFLICT,
            "no_calls",
            "the demo runs with CALLSTATS_CONFERENCE=room: the conferenceID is the room name, there is no call to end",
        );
    };
    let room = match ConferenceId::new(room) {
        Ok(room) => room,
        Err(e) => return session::coded_error(StatusCode::BAD_REQUEST, "invalid_conference_id", &e.to_string()),
    };
    if let Err(error) = calls.end_call(&room).await {
        tracing::error!(%error, "could not end the call");
        return session::coded_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "call_registry_unavailable",
            &error.to_string(),
        );
    }
    tracing::info!(
        room = room.as_str(),
        username,
        "call ended: the next join starts a new call"
    );
    // Back to the room page, as the browser spelled it (still percent-encoded).
    let page = uri.path().strip_suffix("/end").unwrap_or("/").to_owned();
    Redirect::to(&page).into_response()
}
