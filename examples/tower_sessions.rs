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

// The shared helpers of the crate's tests (token verification, servers on 127.0.0.1).
#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod common;

/// The example's own test, run by `cargo test --workspace` (the example is built with
/// `test = true`).
#[cfg(test)]
mod tests {
    // The `tower_sessions` example's app, served on 127.0.0.1: a login through
    // tower-sessions is what gets a user a token (the user read straight from the session
    // by `FromSession`, no bridge middleware), and the userID is derived from that
    // session's ID.

    use super::common::{self, HttpClient, Reply};
    use std::net::SocketAddr;

    use bytes::Bytes;
    use http::{Request, StatusCode, header};
    use http_body_util::Full;
    use tower_callstats::{Callstats, SigningKey, TokenIssuer, UserIdStrategy};

    const SECRET: &[u8] = b"a test secret of at least sixteen bytes";

    struct Server {
        addr: SocketAddr,
        public_key_pem: String,
        client: HttpClient,
    }

    async fn start() -> Server {
        let key = SigningKey::generate("key-1").unwrap();
        let public_key_pem = key.public_key_pem();
        let issuer = TokenIssuer::builder("app-1", key).build().unwrap();
        let app = super::app(Callstats::new(issuer).user_id(UserIdStrategy::ephemeral(SECRET).unwrap()));
        let addr = common::serve(app).await;
        Server {
            addr,
            public_key_pem,
            client: common::http_client(),
        }
    }

    impl Server {
        async fn send(&self, method: &str, path: &str, cookie: Option<&str>, form: Option<&str>) -> Reply {
            self.send_from(None, method, path, cookie, form).await
        }

        /// A token request as the page of `room` sends it: its Referer names the room.
        async fn get_token(&self, room: &str, cookie: Option<&str>) -> Reply {
            self.send_from(Some(room), "POST", "/getToken", cookie, None).await
        }

        async fn send_from(
            &self,
            room: Option<&str>,
            method: &str,
            path: &str,
            cookie: Option<&str>,
            form: Option<&str>,
        ) -> Reply {
            let mut request = Request::builder()
                .method(method)
                .uri(format!("http://{}{path}", self.addr));
            if let Some(room) = room {
                request = request.header(header::REFERER, format!("http://{}/rooms/{room}", self.addr));
            }
            if let Some(cookie) = cookie {
                request = request.header(header::COOKIE, cookie);
            }
            if form.is_some() {
                request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            }
            let body = Full::new(Bytes::from(form.unwrap_or("").to_owned()));
            common::send(&self.client, request.body(body).unwrap()).await
        }

        /// Logs in and returns the session cookie (`id=...`).
        async fn login(&self, username: &str) -> String {
            let reply = self
                .send("POST", "/login", None, Some(&format!("username={username}")))
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
            let set_cookie = reply.headers[header::SET_COOKIE].to_str().unwrap();
            set_cookie.split(';').next().unwrap().to_owned()
        }

        /// Verifies a JWT with `jsonwebtoken` and the public key; returns its claims.
        fn verify(&self, jwt: &str) -> common::Claims {
            common::verify(jwt, &self.public_key_pem).1
        }
    }

    /// The userID the app should derive for the session `cookie` (`id=<session ID>`),
    /// computed from the rule, not by the crate: the first 128 bits of
    /// HMAC-SHA256(secret, session ID) as 32 lowercase hex digits, with the RustCrypto
    /// `hmac` and `sha2` crates (the crate itself uses aws-lc). The username plays no part.
    fn expected_user_id(cookie: &str) -> String {
        use hmac::{Hmac, KeyInit, Mac};
        let session_id = cookie.strip_prefix("id=").expect("tower-sessions' cookie is named id");
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET).unwrap();
        mac.update(session_id.as_bytes());
        let tag = mac.finalize().into_bytes();
        tag[..16].iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The independent HMAC matches a published vector: RFC 4231, test case 2
    /// (key "Jefe", data "what do ya want for nothing?").
    #[test]
    fn the_independent_hmac_matches_rfc_4231() {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let tag: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(tag, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[tokio::test]
    async fn anonymous_requests_get_no_token() {
        let server = start().await;

        let reply = server.send("GET", "/rooms/room-1", None, None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(!reply.headers.contains_key("x-callstats-token"));

        let reply = server.get_token("room-1", None).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(reply.body, r#"{"code":"not_logged_in","error":"User not logged in"}"#);
        // Without a Referer too: the user is asked for before the room.
        let reply = server.send("POST", "/getToken", None, None).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(reply.body, r#"{"code":"not_logged_in","error":"User not logged in"}"#);

        // A cookie for a session the store does not know is no login either.
        let reply = server.get_token("room-1", Some("id=AAAAAAAAAAAAAAAAAAAAAA")).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        let reply = server
            .send("GET", "/rooms/room-1", Some("id=AAAAAAAAAAAAAAAAAAAAAA"), None)
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(!reply.headers.contains_key("x-callstats-token"));
    }

    #[tokio::test]
    async fn a_tower_sessions_login_gets_a_token_with_a_userid_from_the_session() {
        let server = start().await;
        let cookie = server.login("alice").await;
        let user_id = expected_user_id(&cookie);
        assert_eq!(user_id.len(), 32);

        // The room page, through the layer: the token in the header, the context in the body.
        let reply = server.send("GET", "/rooms/room-1", Some(&cookie), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert_eq!(reply.headers["x-callstats-user-id"], user_id.as_str());
        assert_eq!(reply.headers["x-callstats-conference-id"], "room-1");
        let claims = server.verify(reply.headers["x-callstats-token"].to_str().unwrap());
        assert_eq!(claims["userID"], user_id.as_str());
        assert_eq!(claims["appID"], "app-1");
        let page = reply.json();
        assert_eq!(page["userID"], user_id.as_str());
        assert_eq!(page["conferenceID"], "room-1");

        // The token endpoint, as the page's tokenGenerator calls it: the room is the
        // page's (its Referer).
        let reply = server.get_token("room-1", Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        let body = reply.json();
        assert_eq!(body["userID"], user_id.as_str());
        assert_eq!(body["conferenceID"], "room-1");
        assert_eq!(
            body["token"],
            reply_token(&server, &cookie).await,
            "the page and the endpoint hand out the same cached token"
        );
        assert_eq!(
            server.verify(body["token"].as_str().unwrap())["userID"],
            user_id.as_str()
        );

        // The same user in another session (another browser) gets another ephemeral userID,
        // and neither contains the username.
        let other_cookie = server.login("alice").await;
        assert_ne!(other_cookie, cookie);
        let reply = server.get_token("room-1", Some(&other_cookie)).await;
        assert_eq!(reply.status, StatusCode::OK);
        let other_user_id = reply.json()["userID"].as_str().unwrap().to_owned();
        assert_eq!(other_user_id, expected_user_id(&other_cookie));
        assert_ne!(other_user_id, user_id);
        assert!(!other_user_id.contains("alice") && !user_id.contains("alice"));

        // After logout the old cookie gets no token.
        let reply = server.send("POST", "/logout", Some(&cookie), None).await;
        assert_eq!(reply.status, StatusCode::OK);
        let reply = server.get_token("room-1", Some(&cookie)).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(reply.body, r#"{"code":"not_logged_in","error":"User not logged in"}"#);
        let reply = server.send("GET", "/rooms/room-1", Some(&cookie), None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert!(!reply.headers.contains_key("x-callstats-token"));
    }

    /// The token the room page `room-1` carries in its header, for `cookie`.
    async fn reply_token(server: &Server, cookie: &str) -> String {
        let reply = server.send("GET", "/rooms/room-1", Some(cookie), None).await;
        assert_eq!(reply.status, StatusCode::OK);
        reply.headers["x-callstats-token"].to_str().unwrap().to_owned()
    }
}
