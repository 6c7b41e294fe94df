//! The demo's router, separate from `main.rs` so that tests can build the very same
//! app (`#[path = "../examples/demo/app.rs"]`) without starting a process.
// Tests include this file with #[path] and use different parts of it.
#![allow(dead_code)]

use std::{sync::Arc, time::Duration};

use axum::{
    Extension, Router,
    extract::DefaultBodyLimit,
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};
use tower_callstats::{
    Callstats, CallstatsContext, ConferenceIdSource, KeyRing, SigningKey, TokenIssuer, UserIdStrategy,
};

use crate::session;

/// Everything the demo app needs besides the key.
pub struct DemoConfig {
    pub app_id: String,
    pub user_id: UserIdStrategy,
    pub callstats_js_url: String,
    pub auth_proxy: Option<String>,
    pub session_ttl: Duration,
}

impl DemoConfig {
    pub fn new(app_id: impl Into<String>) -> Self {
        Self {
            app_id: app_id.into(),
            user_id: UserIdStrategy::raw(),
            callstats_js_url: "https://api.callstats.io/static/callstats.min.js".into(),
            auth_proxy: None,
            session_ttl: Duration::from_secs(3600),
        }
    }
}

/// The built app: the router, the key ring (to rotate), and the grace period.
pub struct Demo {
    pub router: Router,
    pub keys: KeyRing,
    pub issuer: TokenIssuer,
    pub grace: Duration,
}

pub fn build(config: DemoConfig, key: SigningKey) -> Result<Demo, String> {
    let keys = KeyRing::new(key);
    let issuer = TokenIssuer::builder(config.app_id.as_str(), keys.clone())
        .build()
        .map_err(|e| e.to_string())?;
    // Keep a rotated-out key published for a token's whole life plus the skew.
    let grace = issuer.ttl() * 2;

    let sessions = session::Sessions::new(config.session_ttl);
    let room_page = Arc::new(session::PageSettings {
        callstats_js_url: config.callstats_js_url.clone(),
        auth_proxy: config.auth_proxy.clone(),
    });

    // One configuration for the room pages' layer, the token endpoint and the JWKS: the
    // page and the token always agree on the userID.
    let callstats = Callstats::new(issuer.clone())
        .user_id(config.user_id)
        .conference_id(ConferenceIdSource::route_param("room"));

    let public_pem = keys.clone();
    let router = Router::new()
        // Only the room pages get a token: the layer is a route_layer, so it runs after
        // routing and can read the {room} parameter.
        .route("/rooms/{room}", get(room))
        .route_layer(callstats.layer())
        .route("/", get(index))
        .route("/login", post(session::login))
        .route("/logout", post(session::logout))
        .route_service("/getToken", callstats.endpoint())
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
        // The app's own session layer: it authenticates and inserts the Identity that
        // the callstats layer and endpoint read.
        .layer(axum::middleware::from_fn_with_state(
            sessions.clone(),
            session::authenticate,
        ))
        .layer(DefaultBodyLimit::max(16 * 1024))
        .with_state(sessions);
    Ok(Demo {
        router,
        keys,
        issuer,
        grace,
    })
}

async fn index(session: Option<Extension<session::LoggedIn>>) -> Html<String> {
    let user = session.map(|Extension(s)| s.username);
    Html(session::index_page(user.as_deref()))
}

async fn room(
    context: Option<Extension<CallstatsContext>>,
    Extension(page): Extension<Arc<session::PageSettings>>,
) -> Response {
    match context {
        Some(Extension(context)) => Html(session::room_page(&context, &page)).into_response(),
        None => {
            let body = session::index_page(None).replace("<h1>", "<p>Log in first.</p><h1>");
            let mut response = (StatusCode::UNAUTHORIZED, Html(body)).into_response();
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
    }
}
