//! An app that already keeps its logins in `tower-sessions` hands callstats tokens to
//! its logged-in users.
//!
//! ```text
//! cargo run --example tower_sessions          # listens on 127.0.0.1:3001 (BIND=... to change)
//!
//! curl -c jar -d username=alice http://127.0.0.1:3001/login
//! curl -b jar -i http://127.0.0.1:3001/rooms/room-1
//! curl -b jar -X POST -H 'content-type: application/json' -d '{"conferenceID":"room-1"}' http://127.0.0.1:3001/getToken
//! curl -i -X POST http://127.0.0.1:3001/getToken     # no session: 403 {"error":"User not logged in"}
//! ```
//!
//! # Where the identity comes from
//!
//! The callstats layer never authenticates anybody: it reads an
//! [`Identity`](tower_callstats::Identity) from the request extensions
//! ([`FromExtensions`](tower_callstats::identity::FromExtensions), the default
//! [`GetIdentity`](tower_callstats::GetIdentity)). Something has to put it there, and in
//! this app that is the session:
//!
//! ```text
//! request ─▶ SessionManagerLayer ─▶ identity_from_session ─▶ CallstatsLayer ─▶ handler
//!            (loads the cookie's    (Session::get("user").await;  (reads the Identity,
//!             session lazily)        inserts Identity + session ID) signs the token)
//! ```
//!
//! Why a middleware and not a closure passed to `.identity(...)`: `GetIdentity` is
//! synchronous over `&http::request::Parts`, so that the layer stays a cheap,
//! hand-written future; `tower_sessions::Session::get` is `async` (the store may be a
//! database). A small async middleware, [`identity_from_session`] with
//! `axum::middleware::from_fn`, awaits the session once and inserts the `Identity`;
//! the layer and the token endpoint behind it then read it synchronously.
//!
//! The userIDs are ephemeral (callstats' preference when nobody searches by user): a
//! keyed hash of the tower-sessions session ID, so a user keeps one userID for the
//! life of a login and gets a new one at the next login. Login calls
//! `Session::cycle_id` (against session fixation), which is also what starts the new
//! userID. If your app cycles the ID at other times too (a privilege change), store a
//! random value in the session at login and pass that to `with_session_id` instead:
//! the userID must not change during a call.
//!
//! The session ID is a bearer secret: the ephemeral strategy only ever sees it through
//! an HMAC, and `Identity`'s `Debug` output redacts it.
//!
//! Environment, all optional: `BIND` (default `127.0.0.1:3001`), `CALLSTATS_APP_ID`
//! (`demo-app`), `CALLSTATS_KEY_ID` (`dev-key`), `CALLSTATS_PRIVATE_KEY_FILE` (PEM,
//! SEC1 or PKCS8; default a fresh development key), `CALLSTATS_EPHEMERAL_SECRET` (at
//! least 16 bytes; default random per process, so userIDs change on restart).

use axum::{
    Form, Json, Router,
    extract::Request,
    http::StatusCode,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use tower_callstats::{
    Callstats, CallstatsContext, ConferenceIdSource, Identity, SigningKey, TokenIssuer, UserIdStrategy,
};
use tower_sessions::{Expiry, MemoryStore, Session, SessionManagerLayer, cookie::time::Duration};

/// The session key under which the app keeps the logged-in user.
pub const USER_KEY: &str = "user";

/// What the app stores in the session at login. Yours will have more.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    /// The login name.
    pub username: String,
}

/// The whole app: the app's own routes, the callstats routes, the session layer.
pub fn app(callstats: Callstats) -> Router {
    // The app's existing session setup. `with_secure(false)` only because this example
    // is served over plain http://127.0.0.1; keep the default (`true`) in production.
    let sessions = SessionManagerLayer::new(MemoryStore::default())
        .with_secure(false)
        .with_expiry(Expiry::OnInactivity(Duration::hours(1)));

    let callstats = callstats.conference_id(ConferenceIdSource::route_param("room"));

    // The routes that need an identity. `identity_from_session` runs only for them, so
    // the other routes do not load the session unless their handlers ask for it.
    let callstats_routes = Router::new()
        .route("/rooms/{room}", get(room))
        .route_layer(callstats.layer())
        .route_service("/getToken", callstats.endpoint())
        .layer(middleware::from_fn(identity_from_session));

    Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .merge(callstats_routes)
        .layer(sessions)
}

/// The bridge: loads the logged-in user from the tower-sessions `Session` and puts an
/// [`Identity`] (with the session ID, for ephemeral userIDs) into the request
/// extensions, where the callstats layer and the token endpoint read it.
///
/// No user in the session: the request goes on without an identity (the layer passes
/// it through with no token, the endpoint answers 403). A failing session store is a
/// 500, not a silent logout.
pub async fn identity_from_session(session: Session, mut request: Request, next: Next) -> Response {
    match session.get::<User>(USER_KEY).await {
        Ok(Some(user)) => {
            let mut identity = Identity::new(user.username);
            // After a successful `get`, `id()` is the ID of the loaded session.
            if let Some(id) = session.id() {
                identity = identity.with_session_id(id.to_string());
            }
            request.extensions_mut().insert(identity);
        }
        Ok(None) => {}
        Err(error) => {
            tracing::error!(%error, "session store failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "session store unavailable").into_response();
        }
    }
    next.run(request).await
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
}

/// The app's own login. A real app checks a password (or uses axum-login); what matters
/// here is only that the user ends up in the session.
async fn login(session: Session, Form(form): Form<LoginForm>) -> Result<String, (StatusCode, String)> {
    let username = form.username.trim().to_owned();
    if username.is_empty() {
        return Err((StatusCode::BAD_REQUEST, "username is required".into()));
    }
    let store_error = |e: tower_sessions::session::Error| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    // A new session ID at login, against session fixation; it also starts a new
    // ephemeral userID.
    session.cycle_id().await.map_err(store_error)?;
    session
        .insert(
            USER_KEY,
            User {
                username: username.clone(),
            },
        )
        .await
        .map_err(store_error)?;
    Ok(format!("logged in as {username}\n"))
}

async fn logout(session: Session) -> Result<&'static str, (StatusCode, String)> {
    session
        .flush()
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok("logged out\n")
}

async fn home(session: Session) -> String {
    match session.get::<User>(USER_KEY).await {
        Ok(Some(user)) => format!("logged in as {}; open /rooms/<room>\n", user.username),
        _ => "not logged in; POST /login with username=...\n".to_owned(),
    }
}

/// A room page. A real page renders HTML that calls `callstats.initialize(appID,
/// tokenGenerator, localUserID, ...)`; here the handler returns what the template
/// would get. Anonymous visitors get no context (and no token) from the layer.
async fn room(context: Option<CallstatsContext>) -> Response {
    match context {
        Some(context) => {
            let mut page = context.to_client_json();
            // The token also travels in the `x-callstats-token` response header; the
            // page gets fresh ones from POST /getToken.
            if let Some(page) = page.as_object_mut() {
                page.remove("token");
            }
            Json(page).into_response()
        }
        None => (
            StatusCode::UNAUTHORIZED,
            "log in first: POST /login with username=...\n",
        )
            .into_response(),
    }
}

/// The callstats configuration from the environment: the key, the appID, and ephemeral
/// userIDs keyed by `CALLSTATS_EPHEMERAL_SECRET` (or a per-process random secret).
pub fn from_env() -> Result<Callstats, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let key_id = var("CALLSTATS_KEY_ID").unwrap_or_else(|| "dev-key".into());
    let key = match var("CALLSTATS_PRIVATE_KEY_FILE") {
        Some(path) => SigningKey::from_pem_file(key_id, path),
        None => SigningKey::generate(key_id),
    }
    .map_err(|e| e.to_string())?;
    let issuer = TokenIssuer::builder(var("CALLSTATS_APP_ID").unwrap_or_else(|| "demo-app".into()), key)
        .build()
        .map_err(|e| e.to_string())?;
    let secret = match var("CALLSTATS_EPHEMERAL_SECRET") {
        Some(secret) => secret.into_bytes(),
        None => {
            let mut secret = vec![0u8; 32];
            aws_lc_rs::rand::fill(&mut secret).map_err(|_| "no randomness for the ephemeral secret")?;
            secret
        }
    };
    let users = UserIdStrategy::ephemeral(&secret).map_err(|e| e.to_string())?;
    Ok(Callstats::new(issuer).user_id(users))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_callstats=debug".into()),
        )
        .init();
    let app = app(from_env()?);
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3001".into());
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
    tracing::info!("listening on http://{bind}");
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}
