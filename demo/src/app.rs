//! The demo's routes and the layers around them, from its settings.

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    extract::DefaultBodyLimit,
    http::{StatusCode, header, uri::Scheme},
    middleware::from_fn_with_state,
    routing::{any, get, post},
};
use tower_callstats::{
    Callstats, KeyRing, RoomSource, SigningKey, TokenIssuer,
    calls::{Calls, MemoryRegistry},
    jwks::JwksService,
    layer::CallstatsLayer,
};
use tower_http::timeout::{RequestBodyDeadlineLayer, TimeoutLayer};

use crate::{
    access::{self, RoomRule},
    auth, calls,
    client::{self, TrustForwardedFor},
    pages::{self, PageSettings},
    sessions::Sessions,
    settings::{ConferenceMode, Settings},
    state::AppState,
    user,
};

/// The built app: the router, and the key ring with its grace period (to reload).
pub struct Demo {
    pub router: Router,
    pub keys: KeyRing,
    pub grace: Duration,
}

pub fn build(settings: &Settings, key: SigningKey) -> Result<Demo, String> {
    let keys = KeyRing::new(key);
    let issuer = TokenIssuer::builder(settings.app_id.as_str(), keys.clone())
        .build()
        .map_err(|e| e.to_string())?;
    // Keep a rotated-out key published for a token's whole life plus the skew.
    let grace = issuer.ttl() * 2;
    // The room once, for the room pages and /getToken (which reads the page's Referer).
    let rooms = RoomSource::path("/rooms/{room}", "room").map_err(|e| e.to_string())?;
    // The calls once: one registry for the pages, /getToken and ending a call.
    let calls = (settings.mode == ConferenceMode::PerCall).then(|| {
        let registry = MemoryRegistry::new().max_new_calls_per_user(calls::NEW_CALLS_PER_USER);
        Calls::new(registry)
    });
    // Who may join which room (`private-<name>` is <name>'s), asked before any call is
    // joined and anything signed.
    let mut callstats = Callstats::new(issuer)
        .user(user::user_source())
        .user_id(settings.user_id.clone())
        .room(rooms.clone())
        .authorize(access::rule());
    if let Some(calls) = &calls {
        callstats = callstats.calls(calls.clone());
    }
    // The demo serves plain http: the endpoint's cross-site check compares the scheme.
    let endpoint = callstats.endpoint().scheme(Scheme::HTTP);
    // A refused room page is an HTML page; /getToken keeps JSON.
    let room_layer = callstats.clone().rejection(pages::rejected_room).layer();
    let sessions = Sessions::new(settings.sessions);
    sessions.spawn_cleanup();
    let state = AppState {
        sessions: sessions.clone(),
        page: Arc::new(PageSettings {
            callstats_js_url: settings.callstats_js_url.clone(),
            auth_proxy: settings.auth_proxy.clone(),
            mode: settings.mode,
        }),
        calls,
        rooms,
        endpoint,
    };
    let timeouts = settings.timeouts;
    let router = routes(state, room_layer, callstats.jwks(), keys.clone())
        .layer(sessions.layer())
        .layer(from_fn_with_state(
            TrustForwardedFor(settings.trust_forwarded_for),
            client::identify,
        ))
        .layer(RequestBodyDeadlineLayer::new(timeouts.body))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeouts.request,
        ));
    Ok(Demo { router, keys, grace })
}

fn routes(
    state: AppState,
    room_layer: CallstatsLayer<user::UserSource, RoomRule>,
    jwks: JwksService,
    keys: KeyRing,
) -> Router {
    // Only the room pages get a token in the page: the layer is a route_layer.
    let pages = Router::new()
        .route("/rooms/{room}", get(calls::room_page))
        .route_layer(room_layer);
    // The demo's own forms, behind the cross-origin protection.
    let forms = Router::new()
        .route("/login", auth::login_route())
        .route("/logout", post(auth::logout))
        .route("/rooms/{room}/end", post(calls::end_call))
        .route_layer(auth::cross_origin_protection());
    let public_key = move || {
        let pem = keys.active().public_key_pem();
        async move { ([(header::CONTENT_TYPE, "application/x-pem-file")], pem) }
    };
    Router::new()
        .route("/", get(auth::index))
        // Any method: the endpoint answers 405 itself.
        .route("/getToken", any(calls::get_token))
        .route_service("/.well-known/jwks.json", jwks)
        .route("/public-key.pem", get(public_key))
        .route("/static/demo.css", get(|| async { pages::css() }))
        .route("/static/inspector.js", get(|| async { pages::inspector_js() }))
        .merge(pages)
        .merge(forms)
        .layer(DefaultBodyLimit::max(16 * 1024))
        .with_state(state)
}
