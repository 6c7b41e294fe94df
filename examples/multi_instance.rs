//! One app on several instances behind a load balancer, sharing one Redis: a login on
//! any instance is valid on all, and every participant of a call gets the same
//! conferenceID, whichever instance answers: `cargo run --example multi_instance
//! --features redis` (with the environment below). `.ci/multi-instance.sh` runs three of
//! them behind HAProxy and checks all of this; README "Several instances" has its figures.
//!
//! DEMO ONLY: the login takes a username and no password. A real app checks a password
//! (or uses axum-login), rate-limits logins, and so on (`examples/demo/session.rs`).
//!
//! ```text
//! # on each instance (the same key, keyID, secret and Redis; another BIND and name)
//! BIND=127.0.0.1:3101 INSTANCE_NAME=a REDIS_URL=redis://127.0.0.1:6379 \
//!   CALLSTATS_PRIVATE_KEY_FILE=callstats-key.pem CALLSTATS_KEY_ID_FILE=key-id.txt \
//!   CALLSTATS_EPHEMERAL_SECRET=$(cat ephemeral-secret.txt) \
//!   cargo run --example multi_instance --features redis
//!
//! curl -c jar -H 'content-type: application/json' -d '{"username":"alice"}' http://127.0.0.1:3101/login
//! curl -b jar -i http://127.0.0.1:3102/rooms/standup       # another instance, the same login
//! # x-instance: b; {"callStartedAt":...,"conferenceID":"standup-20261125T0930Z-4f2a9c","session":"redis","userID":...}
//! curl -b jar -X POST -H 'referer: http://127.0.0.1:3103/rooms/standup' http://127.0.0.1:3103/getToken
//! curl -b jar -X POST http://127.0.0.1:3101/rooms/standup/end   # the next join starts a new call
//! ```
//!
//! # Environment
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `BIND` | `127.0.0.1:3100` | address to listen on |
//! | `INSTANCE_NAME` | `instance` | sent back in the `x-instance` header of every response |
//! | `REDIS_URL` | `redis://127.0.0.1:6379` | the Redis of the sessions and the calls |
//! | `CALLSTATS_APP_ID` | `demo-app` | your callstats appID |
//! | `CALLSTATS_PRIVATE_KEY_FILE` | required | the signing key (PEM, SEC1 or PKCS8), re-read at `kill -HUP` |
//! | `CALLSTATS_KEY_ID_FILE` | required | a file with the key's keyID, re-read at `kill -HUP` |
//! | `CALLSTATS_EPHEMERAL_SECRET` | required | the key of ephemeral userIDs, at least 16 bytes |
//! | `CALLSTATS_USER_ID` | `ephemeral` | `raw`, `sha1` or `ephemeral` |
//! | `CALLSTATS_DOMAIN` | `example.com` | the domain of `sha1` userIDs (`username@domain`) |
//! | `SESSION_FALLBACK_SECS` | `300` | how long an instance may still use a session it read, while Redis is down; `0`: never |
//!
//! # What every instance must share
//!
//! - **Redis** (`REDIS_URL`): the sessions (tower-sessions' Redis store), so that a login
//!   made on one instance is read by all, and the calls (`RedisRegistry`), so that all
//!   participants of a call get one conferenceID.
//! - **`CALLSTATS_EPHEMERAL_SECRET`**: ephemeral userIDs are an HMAC of the session ID
//!   under this secret. With another secret on each instance, one user in one session
//!   would get a different userID from each instance, and callstats would see several
//!   users. Only the userID mode `ephemeral` reads it, but it is required in every mode so
//!   that switching modes cannot start instances with different secrets.
//! - **The signing key and its keyID** (the files): callstats verifies every token with
//!   the public key uploaded under the token's keyID, whichever instance signed it.
//!
//! # Rolling key rotation
//!
//! Upload the new public key to callstats, which returns a new keyID. Write the new key
//! and the new keyID to the files, then `kill -HUP` the instances one at a time. Each
//! instance then signs with the new key and keeps the old one published in its JWKS for
//! twice the token lifetime. During the rotation the instances differ: one that has not
//! reloaded yet does not publish the new key. callstats itself verifies with the keys
//! uploaded to it, so this matters only to verifiers that fetch
//! `/.well-known/jwks.json` through the load balancer: they should take the union of
//! every instance's JWKS, or fetch again on an unknown `kid`. A reload that reuses a
//! published keyID, or a bad file, is refused and logged, and the current key stays
//! active.
//!
//! # When Redis is down
//!
//! No room page or token request gets a 5xx because of it (logins and `end`, which must
//! write to Redis, answer 503):
//!
//! - **Calls**: the conferenceID falls back to the room key (`FailurePolicy::FallBackToRoom`,
//!   the default): every participant of a room still gets the same ID, and the registry
//!   recovers by itself when Redis is back (calls started before the outage are gone if
//!   Redis lost them; a restarted, empty Redis means new IDs).
//! - **Sessions**: the session cannot be read. Each instance remembers, for
//!   `SESSION_FALLBACK_SECS`, the user of each session it read successfully, and uses
//!   that only while the store fails. So a user whom this instance has served recently
//!   keeps the page and the token (with the room key as conferenceID); a user it has not
//!   served gets the page without a token (`"session": "unavailable"`) and `403` from
//!   `/getToken`, until Redis is back. The price: a logout made on another instance is
//!   not seen here during an outage, for at most `SESSION_FALLBACK_SECS`.
//!
//! # Routes
//!
//! `POST /login` (`{"username": ...}` as JSON or a form), `POST /logout`,
//! `GET /rooms/{room}` (JSON from the `CallstatsContext`: `userID`, `conferenceID`,
//! `callStartedAt`, ...), `POST /getToken` (the conferenceID from the Referer, the room
//! page), `POST /rooms/{room}/end` (ends the room's call), `GET /.well-known/jwks.json`,
//! `GET /healthz` (the process is up; it does not depend on Redis, so that a Redis
//! outage does not take every instance out of the load balancer).

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_callstats::{
    Callstats, CallstatsContext, ConferenceIdSource, Identity, KeyError, KeyRing, SigningKey, TokenIssuer, UserId,
    UserIdStrategy,
    calls::{PerCall, RedisRegistry},
};
use tower_sessions_014::{
    Expiry, Session, SessionManagerLayer,
    cookie::{SameSite, time::Duration as CookieDuration},
};
use tower_sessions_redis_store::{
    RedisStore,
    fred::{
        clients::Client,
        interfaces::ClientLike,
        prelude::{Builder, Config, ReconnectPolicy},
    },
};

/// The session key under which the app keeps the logged-in user.
const USER_KEY: &str = "user";

/// What the app stores in the session at login.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct User {
    username: String,
}

/// The settings, from the environment.
struct Settings {
    bind: SocketAddr,
    instance: String,
    redis_url: String,
    app_id: String,
    key_file: String,
    key_id_file: String,
    user_id: UserIdStrategy,
    session_fallback: Duration,
}

fn settings() -> Result<Settings, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let required = |name: &str| {
        var(name).ok_or_else(|| format!("{name} is required (see the table in examples/multi_instance.rs)"))
    };
    let bind = var("BIND").unwrap_or_else(|| "127.0.0.1:3100".into());
    let bind = bind
        .parse()
        .map_err(|e| format!("BIND={bind:?} is not an address: {e}"))?;
    // Required in every mode, so that all instances are started with it (see the docs).
    let secret = required("CALLSTATS_EPHEMERAL_SECRET")?;
    if secret.len() < 16 {
        return Err(format!(
            "CALLSTATS_EPHEMERAL_SECRET is {} bytes long: at least 16 are required",
            secret.len()
        ));
    }
    let user_id = match var("CALLSTATS_USER_ID").as_deref().unwrap_or("ephemeral") {
        "raw" => UserIdStrategy::raw(),
        "sha1" => UserIdStrategy::sha1(var("CALLSTATS_DOMAIN").unwrap_or_else(|| "example.com".into()))
            .map_err(|e| format!("CALLSTATS_DOMAIN: {e}"))?,
        "ephemeral" => {
            UserIdStrategy::ephemeral(secret.as_bytes()).map_err(|e| format!("CALLSTATS_EPHEMERAL_SECRET: {e}"))?
        }
        other => return Err(format!("CALLSTATS_USER_ID={other:?}: expected raw, sha1 or ephemeral")),
    };
    let session_fallback = match var("SESSION_FALLBACK_SECS") {
        Some(secs) => Duration::from_secs(
            secs.parse()
                .map_err(|_| format!("SESSION_FALLBACK_SECS={secs:?} is not a number of seconds"))?,
        ),
        None => Duration::from_secs(300),
    };
    Ok(Settings {
        bind,
        instance: var("INSTANCE_NAME").unwrap_or_else(|| "instance".into()),
        redis_url: var("REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1:6379".into()),
        app_id: var("CALLSTATS_APP_ID").unwrap_or_else(|| "demo-app".into()),
        key_file: required("CALLSTATS_PRIVATE_KEY_FILE")?,
        key_id_file: required("CALLSTATS_KEY_ID_FILE")?,
        user_id,
        session_fallback,
    })
}

/// Reads a keyID from a file (trimmed).
fn read_key_id(path: &str) -> Result<String, String> {
    let key_id = std::fs::read_to_string(path).map_err(|e| format!("cannot read CALLSTATS_KEY_ID_FILE {path}: {e}"))?;
    let key_id = key_id.trim();
    if key_id.is_empty() {
        return Err(format!("CALLSTATS_KEY_ID_FILE {path} is empty"));
    }
    Ok(key_id.to_owned())
}

/// The sessions' Redis client: every command bounded (250 ms), reconnecting by itself, so
/// that a Redis outage makes session reads fail quickly instead of hanging requests.
async fn session_client(url: &str) -> Result<Client, String> {
    let config = Config::from_url(url).map_err(|e| format!("REDIS_URL: {}", e.details()))?;
    let mut builder = Builder::from_config(config);
    builder
        .with_config(|config| config.fail_fast = false) // retry the first connection too
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
        .with_connection_config(|connection| {
            connection.connection_timeout = Duration::from_secs(2);
            connection.max_command_attempts = 1;
        })
        .with_performance_config(|performance| performance.default_command_timeout = Duration::from_millis(250));
    let client = builder.build().map_err(|e| format!("Redis client: {}", e.details()))?;
    // The connection task runs for the client's lifetime.
    drop(client.connect());
    if tokio::time::timeout(Duration::from_secs(5), client.wait_for_connect())
        .await
        .is_err()
    {
        tracing::warn!("Redis is not reachable yet; sessions fail until it is");
    }
    Ok(client)
}

/// The user of each session this instance read, for the time Redis is down.
#[derive(Clone)]
struct SessionFallback {
    ttl: Duration,
    seen: Arc<Mutex<HashMap<String, (User, Instant)>>>,
    /// Whether the session store is failing (one warning per outage).
    down: Arc<AtomicBool>,
}

/// At most this many sessions are remembered.
const FALLBACK_SESSIONS: usize = 10_000;

impl SessionFallback {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            seen: Arc::default(),
            down: Arc::default(),
        }
    }

    fn remember(&self, session_id: &str, user: &User) {
        if self.ttl.is_zero() {
            return;
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= FALLBACK_SESSIONS && !seen.contains_key(session_id) {
            let ttl = self.ttl;
            seen.retain(|_, (_, at)| at.elapsed() < ttl);
            if seen.len() >= FALLBACK_SESSIONS {
                let oldest = seen.iter().min_by_key(|(_, (_, at))| *at).map(|(id, _)| id.clone());
                if let Some(oldest) = oldest {
                    seen.remove(&oldest);
                }
            }
        }
        seen.insert(session_id.to_owned(), (user.clone(), Instant::now()));
    }

    fn forget(&self, session_id: &str) {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).remove(session_id);
    }

    fn recall(&self, session_id: &str) -> Option<User> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(session_id)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(user, _)| user.clone())
    }
}

/// How the request's user was found, for the page to show.
#[derive(Debug, Clone, Copy)]
enum SessionState {
    /// Read from Redis.
    Redis,
    /// Redis failed; the user this instance remembered for the session.
    Fallback,
    /// Redis failed and this instance did not know the session: no identity.
    Unavailable,
}

impl SessionState {
    fn as_str(self) -> &'static str {
        match self {
            SessionState::Redis => "redis",
            SessionState::Fallback => "fallback",
            SessionState::Unavailable => "unavailable",
        }
    }
}

/// Loads the logged-in user from the session and inserts an [`Identity`] (with the
/// session ID, for ephemeral userIDs) where the callstats layer and endpoint read it.
/// When the session store fails, uses [`SessionFallback`]; never answers 5xx itself.
async fn identity_from_session(
    State(fallback): State<SessionFallback>,
    session: Session,
    mut request: Request,
    next: Next,
) -> Response {
    let session_id = session.id().map(|id| id.to_string());
    let (user, state) = match session.get::<User>(USER_KEY).await {
        Ok(user) => {
            if fallback.down.swap(false, Ordering::Relaxed) {
                tracing::info!("session store recovered");
            }
            match (&user, &session_id) {
                (Some(user), Some(id)) => fallback.remember(id, user),
                (None, Some(id)) => fallback.forget(id),
                _ => {}
            }
            (user, SessionState::Redis)
        }
        Err(error) => {
            if !fallback.down.swap(true, Ordering::Relaxed) {
                tracing::warn!(%error, "session store unavailable: using the sessions this instance remembers");
            }
            match session_id.as_deref().and_then(|id| fallback.recall(id)) {
                Some(user) => (Some(user), SessionState::Fallback),
                None => (None, SessionState::Unavailable),
            }
        }
    };
    if let Some(user) = user {
        let mut identity = Identity::new(user.username);
        if let Some(id) = &session_id {
            identity = identity.with_session_id(id.clone());
        }
        request.extensions_mut().insert(identity);
    }
    request.extensions_mut().insert(state);
    next.run(request).await
}

#[derive(Deserialize)]
struct Login {
    username: String,
}

/// DEMO ONLY: logs in whoever names a username, JSON (`{"username": ...}`) or a form.
async fn login(State(fallback): State<SessionFallback>, session: Session, headers: HeaderMap, body: Bytes) -> Response {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let parsed = if json {
        serde_json::from_slice::<Login>(&body).map_err(|e| e.to_string())
    } else {
        serde_urlencoded::from_bytes::<Login>(&body).map_err(|e| e.to_string())
    };
    let username = match parsed {
        Ok(login) => login.username.trim().to_owned(),
        Err(error) => return error_json(StatusCode::BAD_REQUEST, format!("expected a username: {error}")),
    };
    // Refuse what could never be a userID, here rather than at the first token.
    if let Err(error) = UserId::new(username.as_str()) {
        return error_json(StatusCode::BAD_REQUEST, error.to_string());
    }
    let user = User { username };
    // A new session ID at login (against session fixation), saved now so that a store
    // failure is this handler's 503, not the session layer's 500.
    let saved = async {
        session.cycle_id().await?;
        session.insert(USER_KEY, user.clone()).await?;
        session.save().await
    };
    if let Err(error) = saved.await {
        tracing::warn!(%error, "login failed: session store unavailable");
        return error_json(
            StatusCode::SERVICE_UNAVAILABLE,
            "the session store is unavailable; try again shortly",
        );
    }
    if let Some(id) = session.id() {
        fallback.remember(&id.to_string(), &user);
    }
    Json(json!({"username": user.username})).into_response()
}

async fn logout(State(fallback): State<SessionFallback>, session: Session) -> Response {
    if let Some(id) = session.id() {
        fallback.forget(&id.to_string());
    }
    match session.flush().await {
        Ok(()) => Json(json!({"loggedOut": true})).into_response(),
        Err(_) => error_json(
            StatusCode::SERVICE_UNAVAILABLE,
            "the session store is unavailable; try again shortly",
        ),
    }
}

/// The room page: what a page template would get to start callstats.js (the context's
/// JSON without the token, which the page fetches from `/getToken`).
async fn room(context: Option<CallstatsContext>, state: Option<axum::Extension<SessionState>>) -> Response {
    let state = state.map_or(SessionState::Redis, |s| s.0);
    match context {
        Some(context) => {
            let mut page = context.to_client_json();
            if let Some(page) = page.as_object_mut() {
                page.remove("token");
                page.insert("session".into(), state.as_str().into());
            }
            Json(page).into_response()
        }
        // Logged in, but nobody can tell while Redis is down: the page without callstats.
        None if matches!(state, SessionState::Unavailable) => Json(json!({
            "session": state.as_str(),
            "error": "the session store is unavailable: this page has no callstats token until it is back",
        }))
        .into_response(),
        None => error_json(StatusCode::UNAUTHORIZED, "log in first: POST /login with a username"),
    }
}

/// Ends the room's call: the next join starts a new call with a new conferenceID. DEMO
/// ONLY: any logged-in user may; a real app lets the host or a moderator.
async fn end_call(State(app): State<AppState>, parts: Parts) -> Response {
    if parts.extensions.get::<Identity>().is_none() {
        return error_json(StatusCode::UNAUTHORIZED, "log in first: POST /login with a username");
    }
    // The room key as the page's layer reads it (the crate's strict percent-decoding).
    let room = match app.end_source.extract(&parts) {
        Ok(room) => room,
        Err(error) => return error_json(StatusCode::BAD_REQUEST, error.to_string()),
    };
    match app.calls.end_call(&room).await {
        Ok(()) => Json(json!({"ended": room.as_str()})).into_response(),
        Err(error) => error_json(StatusCode::SERVICE_UNAVAILABLE, error.to_string()),
    }
}

fn error_json(status: StatusCode, error: impl Into<String>) -> Response {
    (status, Json(json!({"error": error.into()}))).into_response()
}

/// What the `end` route needs.
#[derive(Clone)]
struct AppState {
    calls: PerCall,
    end_source: ConferenceIdSource,
}

/// The whole app.
fn app(
    callstats: Callstats,
    calls: PerCall,
    sessions: SessionManagerLayer<RedisStore<Client>>,
    fallback: SessionFallback,
    instance: HeaderValue,
) -> Result<Router, String> {
    let room_key = || ConferenceIdSource::path_template("/rooms/{room}", "room").map_err(|e| e.to_string());
    let page_callstats = callstats.clone().conference_id(ConferenceIdSource::per_call(
        ConferenceIdSource::route_param("room"),
        calls.clone(),
    ));
    // The token request's conferenceID: the call of the room page that asks (its Referer).
    let endpoint = callstats
        .endpoint()
        .conference_id_from_referer(ConferenceIdSource::per_call(room_key()?, calls.clone()));
    let state = AppState {
        calls,
        end_source: ConferenceIdSource::path_template("/rooms/{room}/end", "room").map_err(|e| e.to_string())?,
    };

    // The routes that need the user; the bridge runs only for them.
    let with_user = Router::new()
        .route("/rooms/{room}", get(room))
        .route_layer(page_callstats.layer())
        .route_service("/getToken", endpoint)
        .route("/rooms/{room}/end", post(end_call))
        .with_state(state)
        .layer(middleware::from_fn_with_state(fallback.clone(), identity_from_session));

    Ok(Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
        .with_state(fallback)
        .merge(with_user)
        .layer(sessions)
        .route_service("/.well-known/jwks.json", callstats.jwks())
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(middleware::map_response(move |mut response: Response| {
            let instance = instance.clone();
            async move {
                response.headers_mut().insert("x-instance", instance);
                response
            }
        })))
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_sessions=warn,tower_sessions_core=warn".into()),
        )
        .init();
    if let Err(error) = run().await {
        tracing::error!("{error}");
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let settings = settings()?;
    let key_id = read_key_id(&settings.key_id_file)?;
    let keys = KeyRing::new(SigningKey::from_pem_file(key_id, &settings.key_file).map_err(|e| e.to_string())?);
    let issuer = TokenIssuer::builder(settings.app_id.as_str(), keys.clone())
        .build()
        .map_err(|e| e.to_string())?;
    // A rotated-out key stays published for a token's whole life plus the skew.
    let grace = issuer.ttl() * 2;
    let callstats = Callstats::new(issuer).user_id(settings.user_id);

    // The calls of every instance, in Redis (its own client; `RedisRegistry::new` could
    // share the sessions' client instead). Redis down: the room key (the default policy).
    let calls = PerCall::new(RedisRegistry::from_url(&settings.redis_url).map_err(|e| e.to_string())?);
    // The logins of every instance, in Redis. `__Host-`: Secure, Path=/, no Domain
    // (browsers and curl take Secure cookies over http from 127.0.0.1 and localhost).
    let sessions = SessionManagerLayer::new(RedisStore::new(session_client(&settings.redis_url).await?))
        .with_name("__Host-session")
        .with_secure(true)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_expiry(Expiry::OnInactivity(CookieDuration::hours(1)));
    let fallback = SessionFallback::new(settings.session_fallback);
    let instance = HeaderValue::try_from(settings.instance.as_str())
        .map_err(|_| format!("INSTANCE_NAME={:?} is not a header value", settings.instance))?;
    let router = app(callstats, calls, sessions, fallback, instance)?;

    reload_on_sighup(keys, settings.key_file, settings.key_id_file, grace);
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .map_err(|e| format!("cannot bind {}: {e}", settings.bind))?;
    tracing::info!(instance = settings.instance, "listening on http://{}", settings.bind);
    axum::serve(listener, router).await.map_err(|e| e.to_string())
}

/// `kill -HUP <pid>` re-reads the keyID file and the key file and rotates to the key:
/// refused (and logged) when the file is bad or the keyID is still published, and the
/// current key keeps signing.
fn reload_on_sighup(keys: KeyRing, key_file: String, key_id_file: String, grace: Duration) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::error!("cannot listen for SIGHUP: keys will not reload");
            return;
        };
        while hup.recv().await.is_some() {
            let key_id = match read_key_id(&key_id_file) {
                Ok(key_id) => key_id,
                Err(error) => {
                    tracing::error!(%error, "key reload failed; the current key stays active");
                    continue;
                }
            };
            // On success the ring logs `signing key rotated` with the keyID.
            if let Err(KeyError::SameKeyId { key_id }) = keys.reload_from_file(key_id.as_str(), &key_file, grace) {
                tracing::error!(
                    key_id,
                    "the key was not reloaded: write the new key's keyID to CALLSTATS_KEY_ID_FILE before kill -HUP"
                );
            }
        }
    });
    #[cfg(not(unix))]
    let _ = (keys, key_file, key_id_file, grace);
}
