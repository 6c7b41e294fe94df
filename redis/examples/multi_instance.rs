//! One app on several instances behind a load balancer: what they must share. On each
//! instance (its own `BIND` and `INSTANCE_NAME`, everything else the same):
//!
//! ```text
//! BIND=127.0.0.1:3101 INSTANCE_NAME=a CALLSTATS_APP_ID=your-app-id CALLSTATS_PRIVATE_KEY_FILE=key.pem \
//!   CALLSTATS_KEY_ID_FILE=key-id CALLSTATS_EPHEMERAL_SECRET=$(cat secret) \
//!   cargo run -p tower-callstats-redis --example multi_instance
//! curl -c jar -d username=alice http://127.0.0.1:3101/login   # DEMO ONLY: no password
//! curl -b jar http://127.0.0.1:3102/rooms/standup               # {"conferenceID":"standup-20261125T0930Z-4f2a9c",...}
//! curl -b jar -X POST -H 'referer: http://127.0.0.1:3102/rooms/standup' http://127.0.0.1:3103/getToken
//! curl -b jar -d conferenceID=standup-20261125T0930Z-4f2a9c http://127.0.0.1:3101/rooms/standup/end
//! ```
//!
//! - **Sessions** in Redis (`SESSIONS_REDIS_URL`, default `redis://127.0.0.1:6379/0`): a
//!   login on one instance is valid on all.
//! - **Calls** in Redis ([`RedisRegistry`]; `CALLS_REDIS_URL`, default
//!   `redis://127.0.0.1:6379/1`, or a `redis-sentinel://` or `redis-cluster://` URL): one
//!   conferenceID per call, whichever instance answers.
//! - **The signing key and its keyID** (`CALLSTATS_PRIVATE_KEY_FILE`, `CALLSTATS_KEY_ID_FILE`):
//!   callstats verifies a token with the key uploaded under its keyID. To rotate, write both
//!   files, then `kill -HUP` one instance at a time.
//! - **`CALLSTATS_EPHEMERAL_SECRET`** (at least 16 bytes, required in every mode): ephemeral
//!   userIDs (`CALLSTATS_USER_ID=ephemeral`, the default; or `raw`, `sha1`) are an HMAC of the
//!   session ID under it, so a session has one userID on every instance.
//!
//! Run Redis with `maxmemory-policy noeviction`: eviction would log users out and drop calls
//! (an instance that never saw an evicted call starts another), whereas a full Redis refusing
//! writes is a fault the crates handle: while the session store fails, requests are anonymous
//! (`FromSession` logs it) and a login answers 503, never 500; while the calls' Redis fails,
//! each instance hands out the calls it knows, and the room itself for a room it never saw.
//! `/healthz` does not ask Redis. `.ci/multi-instance.sh`, `.ci/redis-sentinel.sh` and
//! `.ci/redis-cluster.sh` check all of this.

use std::{env, fmt::Display, time::Duration};

use axum::{
    Form, Json, Router,
    extract::{Path, State},
    http::{HeaderValue, StatusCode},
    response::Response,
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};
use tower_callstats::{
    AppUser, Callstats, CallstatsContext, ConferenceId, FromSession, KeyRing, RoomSource, SigningKey, TokenIssuer,
    UserId, UserIdStrategy, calls::Calls,
};
use tower_callstats_redis::RedisRegistry;
use tower_sessions::{
    Expiry, Session, SessionManagerLayer,
    cookie::{SameSite, time::Duration as CookieDuration},
};
use tower_sessions_redis_store::{
    RedisStore,
    fred::prelude::{Builder, ClientLike, Config, ReconnectPolicy},
};

type Error = Box<dyn std::error::Error + Send + Sync>;
type Reply = Result<Json<Value>, (StatusCode, String)>;

/// What the app keeps in the session at login, under the key `user`.
#[derive(Serialize, Deserialize)]
struct User {
    username: String,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let filter = var("RUST_LOG", "info");
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let ephemeral = UserIdStrategy::ephemeral(required("CALLSTATS_EPHEMERAL_SECRET")?.as_bytes())?;
    let user_id = match var("CALLSTATS_USER_ID", "ephemeral").as_str() {
        "raw" => UserIdStrategy::raw(),
        "sha1" => UserIdStrategy::sha1("example.com")?,
        "ephemeral" => ephemeral,
        other => return Err(format!("CALLSTATS_USER_ID={other:?}: expected raw, sha1 or ephemeral").into()),
    };
    let key_file = required("CALLSTATS_PRIVATE_KEY_FILE")?;
    let key_id_file = required("CALLSTATS_KEY_ID_FILE")?;
    let keys = KeyRing::new(SigningKey::from_pem_file(read_key_id(&key_id_file)?, &key_file)?);
    let issuer = TokenIssuer::builder(var("CALLSTATS_APP_ID", "demo-app"), keys.clone()).build()?;
    // `kill -HUP`: rotates to the key of the files, the old one published for a token's whole
    // life and as long again; a bad file or a keyID still published is refused and logged.
    let (mut hup, grace) = (signal(SignalKind::hangup())?, issuer.ttl() * 2);
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match read_key_id(&key_id_file) {
                Ok(key_id) => _ = keys.reload_from_file(key_id, &key_file, grace), // logs either way
                Err(error) => tracing::error!(%error, "key reload failed; the current key stays active"),
            }
        }
    });

    let calls_url = var("CALLS_REDIS_URL", "redis://127.0.0.1:6379/1");
    let calls = Calls::new(RedisRegistry::from_url(&calls_url)?);
    let callstats = Callstats::new(issuer)
        .user(FromSession::new("user", |user: User| AppUser::new(user.username)))
        .user_id(user_id)
        .room(RoomSource::path("/rooms/{room}", "room")?)
        .calls(calls.clone());
    let sessions = SessionManagerLayer::new(session_store(&var("SESSIONS_REDIS_URL", "redis://127.0.0.1:6379/0"))?)
        .with_name("__Host-session") // Secure, Path=/; browsers and curl take it over http from 127.0.0.1
        .with_same_site(SameSite::Lax) // a link from another site opens the room logged in
        .with_expiry(Expiry::OnInactivity(CookieDuration::hours(1)));

    let instance = HeaderValue::try_from(var("INSTANCE_NAME", "instance"))?;
    let app = Router::new()
        .route(
            "/rooms/{room}",
            get(|page: CallstatsContext| async move { Json(page.to_client_json()) }),
        )
        .route_layer(callstats.layer().require_authentication(true))
        .route_service("/getToken", callstats.endpoint())
        .route("/rooms/{room}/end", post(end_call))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .with_state(calls)
        .layer(sessions)
        .route_service("/.well-known/jwks.json", callstats.jwks())
        .route("/healthz", get(|| async { "ok\n" }))
        .layer(axum::middleware::map_response(move |mut response: Response| {
            response.headers_mut().insert("x-instance", instance.clone());
            std::future::ready(response)
        }));
    let listener = tokio::net::TcpListener::bind(var("BIND", "127.0.0.1:3100")).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    Ok(axum::serve(listener, app).await?)
}

/// The sessions' store: its client connects whenever Redis comes up (fred waits the first
/// reconnect delay even before its first try: keep it short), replaces a link that stopped
/// answering, and fails a command after 250 ms rather than holding the request.
fn session_store(url: &str) -> Result<RedisStore<tower_sessions_redis_store::fred::clients::Client>, Error> {
    let client = Builder::from_config(Config::from_url(url)?)
        .with_config(|config| config.fail_fast = false)
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 1_000, 2))
        .with_performance_config(|config| config.default_command_timeout = Duration::from_millis(250))
        .with_connection_config(|config| config.unresponsive.max_timeout = Some(Duration::from_secs(1)))
        .build()?;
    drop(client.connect()); // the connection task runs as long as the client
    Ok(RedisStore::new(client))
}

/// DEMO ONLY: logs in whoever names a username. A new session ID (against session
/// fixation), saved here, so that a store error is a 503 rather than the session layer's 500.
async fn login(session: Session, Form(user): Form<User>) -> Reply {
    UserId::new(user.username.as_str()).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    let result = async {
        session.cycle_id().await?;
        session.insert("user", &user).await?;
        session.save().await
    };
    result.await.map_err(unavailable)?;
    Ok(Json(json!({"username": user.username})))
}

async fn logout(session: Session) -> Reply {
    session.flush().await.map_err(unavailable)?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct EndCall {
    #[serde(rename = "conferenceID")]
    conference_id: String,
}

/// Ends the room's call `conferenceID` (the call the caller holds) if it is still the
/// room's call, so that a late or repeated end never ends a newer one. DEMO ONLY: any
/// logged-in user may.
async fn end_call(State(calls): State<Calls>, session: Session, Path(room): Path<String>, end: Form<EndCall>) -> Reply {
    let user = session.get::<User>("user").await.map_err(unavailable)?;
    user.ok_or((StatusCode::UNAUTHORIZED, "log in first".into()))?;
    let call = ConferenceId::new(end.0.conference_id).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    let ended = calls.end_call(&room, &call).await.map_err(unavailable)?;
    let body = json!({"ended": ended, "room": room, "conferenceID": call.as_str()});
    Ok(Json(body))
}

fn unavailable(error: impl Display) -> (StatusCode, String) {
    tracing::warn!(%error, "503: Redis failed");
    (StatusCode::SERVICE_UNAVAILABLE, error.to_string())
}

fn read_key_id(path: &str) -> Result<String, Error> {
    let key_id = std::fs::read_to_string(path).map_err(|e| format!("CALLSTATS_KEY_ID_FILE {path}: {e}"))?;
    Ok(key_id.trim().to_owned())
}

fn var(name: &str, default: &str) -> String {
    env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn required(name: &str) -> Result<String, Error> {
    env::var(name).map_err(|_| format!("{name} is required").into())
}
