//! An app that already keeps its logins in `tower-sessions` hands callstats tokens to
//! its logged-in users.
//!
//! ```text
//! cargo run --example tower_sessions --features tower-sessions   # listens on 127.0.0.1:3001 (BIND=... to change)
//!
//! curl -c jar -d username=alice http://127.0.0.1:3001/login
//! curl -b jar -i http://127.0.0.1:3001/rooms/room-1
//! curl -b jar -X POST -H 'referer: http://127.0.0.1:3001/rooms/room-1' http://127.0.0.1:3001/getToken
//! curl -i -X POST http://127.0.0.1:3001/getToken     # no session: 403 {"code":"not_logged_in","error":"User not logged in"}
//! ```
//!
//! # Where the user comes from
//!
//! The callstats layer never authenticates anybody: it reads the user the app's own
//! login established, through the [`GetUser`](tower_callstats::GetUser) set with
//! [`Callstats::user`]. In this app that is the tower-sessions session, read directly:
//!
//! ```text
//! request ─▶ SessionManagerLayer ─▶ CallstatsLayer / token endpoint ─▶ handler
//!            (puts the cookie's      (FromSession: Session::get("user").await,
//!             Session, loaded         an AppUser with the session ID; signs the token)
//!             lazily, in the
//!             extensions)
//! ```
//!
//! [`FromSession`] reads the user asynchronously: `tower_sessions::Session::get` is
//! `async` (the store may be a database), and `GetUser` returns a future, which the
//! layer and the token endpoint await before anything else. So there is no bridge
//! middleware: `FromSession::new("user", |user: User| AppUser::new(user.username))`
//! turns the value the login stored under `"user"` into the [`AppUser`], with the
//! session's ID. A session without that value is anonymous (the layer passes the page
//! through without a token, the endpoint answers 403); a session store that fails is
//! logged and treated as anonymous too, so that an outage of the store never hands out
//! a token.
//!
//! The userIDs are ephemeral (callstats' preference when nobody searches by user): a
//! keyed hash of the tower-sessions session ID, so a user keeps one userID for the
//! life of a login and gets a new one at the next login. Login calls
//! `Session::cycle_id` (against session fixation), which is also what starts the new
//! userID. If your app cycles the ID at other times too (a privilege change), store a
//! random value in the session at login and pass that to `with_session_id` in the
//! `FromSession` closure instead: the userID must not change during a call.
//!
//! The session ID is a bearer secret: the ephemeral strategy only ever sees it through
//! an HMAC, and `AppUser`'s `Debug` output redacts it.
//!
//! Environment, all optional: `BIND` (default `127.0.0.1:3001`), `CALLSTATS_APP_ID`
//! (`demo-app`), `CALLSTATS_KEY_ID` (`dev-key`), `CALLSTATS_PRIVATE_KEY_FILE` (PEM,
//! SEC1 or PKCS8; default a fresh development key), `CALLSTATS_EPHEMERAL_SECRET` (at
//! least 16 bytes; default random per process, so userIDs change on restart).

use axum::{
    Form, Json, Router,
    http::{StatusCode, uri::Scheme},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use tower_callstats::{
    AppUser, Callstats, CallstatsContext, FromSession, RoomSource, SigningKey, TokenIssuer, UserIdStrategy,
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

    // The user, read from the session the login wrote (with the session's ID, for
    // ephemeral userIDs); the room, from the page's path.
    let callstats = callstats
        .user(FromSession::new(USER_KEY, |user: User| AppUser::new(user.username)))
        .room(RoomSource::path("/rooms/{room}", "room").expect("a valid route template"));

    // The layer only on the room pages: the app's other routes do not read the session
    // unless their handlers ask for it.
    let callstats_routes = Router::new()
        .route("/rooms/{room}", get(room))
        .route_layer(callstats.layer())
        // The pages are served over plain http here (see `with_secure` above): the
        // endpoint compares a browser's Origin with that scheme.
        .route_service("/getToken", callstats.endpoint().scheme(Scheme::HTTP));

    Router::new()
        .route("/", get(home))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .merge(callstats_routes)
        .layer(sessions)
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
