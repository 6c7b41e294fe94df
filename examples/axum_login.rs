//! With axum-login: `cargo run --example axum_login`.
//!
//! ```text
//! curl -c jar -d 'username=alice&password=correct horse' http://127.0.0.1:3004/login
//! curl -b jar -i http://127.0.0.1:3004/rooms/standup       # x-callstats-token header
//! curl -b jar -X POST -H 'referer: http://127.0.0.1:3004/rooms/standup' http://127.0.0.1:3004/getToken
//!                                                          # {"token": ..., "userID": ..., "conferenceID": "standup"}
//! curl -i -X POST http://127.0.0.1:3004/getToken           # 403 {"code":"not_logged_in","error":"User not logged in"}
//! ```
//!
//! axum-login's `AuthManagerLayer` loads the logged-in user into an `AuthSession` in the
//! request extensions before the routes run, so the user is a plain closure over the
//! request head given to `Callstats::user`: no bridge middleware, no second session
//! lookup. axum-login 0.18 works with tower-sessions 0.14, which it re-exports as
//! `axum_login::tower_sessions`.
//!
//! ```text
//! request ─▶ SessionManagerLayer ─▶ AuthManagerLayer ─▶ CallstatsLayer ─▶ handler
//!                                   (AuthSession in the    (user: AuthSession.user)
//!                                    extensions)
//! ```
//!
//! The room is the route's path parameter (`RoomSource::path("/rooms/{room}", "room")`),
//! on the page and, for the token endpoint, on the page that asks (its `Referer`).
//!
//! The userIDs are SHA1 of `username@example.com`: searchable in callstats' dashboard
//! by whoever knows the username, without showing it.
//!
//! DEMO ONLY: the users and their passwords live in memory, in plain text. A real
//! backend reads users from a database and verifies password hashes (for example with
//! the `password-auth` crate).

use std::{collections::HashMap, sync::Arc};

use axum::{
    Form, Router,
    http::{StatusCode, request::Parts, uri::Scheme},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use axum_login::{
    AuthManagerLayerBuilder, AuthUser, AuthnBackend,
    tower_sessions::{MemoryStore, SessionManagerLayer},
};
use serde::Deserialize;
use tower_callstats::{AppUser, Callstats, CallstatsContext, RoomSource, SigningKey, TokenIssuer, UserIdStrategy};

/// A user of the app.
#[derive(Clone)]
pub struct User {
    id: u64,
    username: String,
    password: String,
}

// `Debug` by hand, so that the password never reaches a log line.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl AuthUser for User {
    type Id = u64;

    fn id(&self) -> u64 {
        self.id
    }

    // axum-login invalidates the session when this changes (a new password logs the
    // user out everywhere).
    fn session_auth_hash(&self) -> &[u8] {
        self.password.as_bytes()
    }
}

/// What the login form sends.
#[derive(Clone, Deserialize)]
pub struct Credentials {
    /// The login name.
    pub username: String,
    /// The password.
    pub password: String,
}

/// DEMO ONLY: the app's user store, in memory.
#[derive(Clone, Default)]
pub struct Backend {
    users: Arc<HashMap<u64, User>>,
}

impl Backend {
    /// A store with the given `(username, password)` pairs.
    pub fn with_users<'a>(users: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let users = users
            .into_iter()
            .zip(1..)
            .map(|((username, password), id)| {
                let user = User {
                    id,
                    username: username.to_owned(),
                    password: password.to_owned(),
                };
                (id, user)
            })
            .collect();
        Self { users: Arc::new(users) }
    }
}

impl AuthnBackend for Backend {
    type User = User;
    type Credentials = Credentials;
    type Error = std::convert::Infallible;

    async fn authenticate(&self, credentials: Credentials) -> Result<Option<User>, Self::Error> {
        Ok(self
            .users
            .values()
            .find(|u| u.username == credentials.username && u.password == credentials.password)
            .cloned())
    }

    async fn get_user(&self, id: &u64) -> Result<Option<User>, Self::Error> {
        Ok(self.users.get(id).cloned())
    }
}

type AuthSession = axum_login::AuthSession<Backend>;

/// The callstats user: the user axum-login loaded for this request, if any, with the
/// session ID (for ephemeral userIDs).
pub fn user(parts: &Parts) -> Option<AppUser> {
    let auth = parts.extensions.get::<AuthSession>()?;
    let user = auth.user.as_ref()?;
    let app_user = AppUser::new(user.username.as_str());
    Some(match auth.session.id() {
        Some(id) => app_user.with_session_id(id.to_string()),
        None => app_user,
    })
}

/// The whole app: login, logout, the room pages with the callstats layer, the token
/// endpoint, and the session and auth layers.
pub fn app(callstats: Callstats, backend: Backend) -> Router {
    // `with_secure(false)` only because this example serves plain http://127.0.0.1;
    // keep the default (`true`) in production.
    let sessions = SessionManagerLayer::new(MemoryStore::default()).with_secure(false);
    let auth = AuthManagerLayerBuilder::new(backend, sessions).build();
    let callstats = callstats
        .user(user)
        .room(RoomSource::path("/rooms/{room}", "room").expect("a valid route template"));
    Router::new()
        .route("/rooms/{room}", get(room))
        .route_layer(callstats.layer())
        // Plain http pages (see `with_secure` above): the endpoint compares a browser's
        // Origin with that scheme.
        .route_service("/getToken", callstats.endpoint().scheme(Scheme::HTTP))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .layer(auth)
}

async fn room(context: Option<CallstatsContext>) -> Response {
    match context {
        Some(cs) => format!("{}\n", cs.to_client_json()).into_response(),
        None => (StatusCode::UNAUTHORIZED, "log in first\n").into_response(),
    }
}

async fn login(mut auth: AuthSession, Form(credentials): Form<Credentials>) -> Response {
    match auth.authenticate(credentials).await {
        Ok(Some(user)) => match auth.login(&user).await {
            Ok(()) => format!("logged in as {}\n", user.username).into_response(),
            Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        },
        Ok(None) => (StatusCode::UNAUTHORIZED, "wrong username or password\n").into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn logout(mut auth: AuthSession) -> Response {
    match auth.logout().await {
        Ok(_) => "logged out\n".into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A development key: callstats does not know it. Load yours with
    // SigningKey::from_pem_file("your-key-id", "callstats-key.pem").
    let issuer = TokenIssuer::builder("demo-app", SigningKey::generate("dev-key")?).build()?;
    let callstats = Callstats::new(issuer).user_id(UserIdStrategy::sha1("example.com")?);
    let backend = Backend::with_users([("alice", "correct horse"), ("bob", "battery staple")]);
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:3004".into());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    println!("axum-login example on http://{bind} (users alice and bob, DEMO ONLY passwords)");
    axum::serve(listener, app(callstats, backend)).await?;
    Ok(())
}

/// The example's own test (`cargo test --example axum_login`, and `cargo test --workspace`):
/// its app through a real axum Router, checked with the shared test helpers.
#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod common;

#[cfg(test)]
mod tests {
    // examples/axum_login.rs: the user comes from axum-login's `AuthSession` (a closure
    // given to `Callstats::user`), and the room page and the token endpoint agree on the
    // userID and the room.

    use super::common;
    use axum::{Router, body::Body};
    use http::{Request, StatusCode, header};
    use tower::ServiceExt;
    use tower_callstats::{Callstats, SigningKey, TokenIssuer, UserIdStrategy};

    fn app() -> (Router, String) {
        let key = SigningKey::generate("login-key").unwrap();
        let public = key.public_key_pem();
        let issuer = TokenIssuer::builder("login-app", key).build().unwrap();
        let callstats = Callstats::new(issuer).user_id(UserIdStrategy::sha1("example.com").unwrap());
        let backend = super::Backend::with_users([("alice", "correct horse"), ("bob", "battery staple")]);
        (super::app(callstats, backend), public)
    }

    async fn login(app: &Router, form: &str) -> (StatusCode, Option<String>) {
        let request = Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let cookie = response
            .headers()
            .get(header::SET_COOKIE)
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
        (response.status(), cookie)
    }

    fn with_cookie(builder: http::request::Builder, cookie: &str) -> Request<Body> {
        builder.header(header::COOKIE, cookie).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn a_logged_in_user_gets_the_same_user_id_on_the_page_and_in_the_token() {
        let (app, public) = app();
        let (status, cookie) = login(&app, "username=alice&password=correct+horse").await;
        assert_eq!(status, StatusCode::OK);
        let cookie = cookie.expect("login sets the session cookie");

        let page = app
            .clone()
            .oneshot(with_cookie(Request::get("/rooms/standup"), &cookie))
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let jwt = page.headers()["x-callstats-token"].to_str().unwrap().to_owned();
        let page_json = common::body_json(page.into_body()).await;
        // printf 'alice@example.com' | sha1sum
        let alice = "fc2398a73dd54d6237c4fdb58fd7d75347cf5af3";
        assert_eq!(page_json["userID"], alice);
        assert_eq!(page_json["conferenceID"], "standup");
        let (_, claims) = common::verify(&jwt, &public);
        assert_eq!(claims["userID"], alice);

        // The page's tokenGenerator: the room is the page's (its Referer).
        let token = app
            .clone()
            .oneshot(with_cookie(
                Request::post("/getToken").header(header::REFERER, "http://127.0.0.1:3004/rooms/standup"),
                &cookie,
            ))
            .await
            .unwrap();
        assert_eq!(token.status(), StatusCode::OK);
        let json = common::body_json(token.into_body()).await;
        assert_eq!(json["userID"], alice);
        assert_eq!(json["conferenceID"], "standup");
        let (_, claims) = common::verify(json["token"].as_str().unwrap(), &public);
        assert_eq!(claims["userID"], alice);

        // After logout the session no longer yields a user.
        let out = app
            .clone()
            .oneshot(with_cookie(Request::post("/logout"), &cookie))
            .await
            .unwrap();
        assert_eq!(out.status(), StatusCode::OK);
        let after = app
            .oneshot(with_cookie(
                Request::post("/getToken").header(header::REFERER, "http://127.0.0.1:3004/rooms/standup"),
                &cookie,
            ))
            .await
            .unwrap();
        assert_eq!(after.status(), StatusCode::FORBIDDEN);
        assert_eq!(common::body_json(after.into_body()).await["code"], "not_logged_in");
    }

    #[tokio::test]
    async fn no_login_no_token() {
        let (app, _) = app();
        let (status, cookie) = login(&app, "username=alice&password=wrong").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        let anonymous = Request::post("/getToken").body(Body::empty()).unwrap();
        let response = app.clone().oneshot(anonymous).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body = common::body_bytes(response.into_body()).await;
        assert_eq!(&body[..], br#"{"code":"not_logged_in","error":"User not logged in"}"#);

        // The failed login's session cookie (if any) carries no user either.
        let page = match cookie {
            Some(cookie) => with_cookie(Request::get("/rooms/standup"), &cookie),
            None => Request::get("/rooms/standup").body(Body::empty()).unwrap(),
        };
        let page = app.oneshot(page).await.unwrap();
        assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
        assert!(!page.headers().contains_key("x-callstats-token"));
    }
}
