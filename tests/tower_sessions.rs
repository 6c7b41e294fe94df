//! The `tower_sessions` example's app, served on 127.0.0.1: a login through
//! tower-sessions is what gets a user a token, and the userID is derived from that
//! session's ID.

mod common;
#[path = "../examples/tower_sessions.rs"]
#[allow(dead_code)]
mod example;

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::Full;
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use serde_json::Value;
use tower_callstats::{Callstats, Identity, SigningKey, TokenIssuer, UserIdStrategy};

const SECRET: &[u8] = b"a test secret of at least sixteen bytes";

struct Server {
    addr: SocketAddr,
    public_key_pem: String,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
}

async fn start() -> Server {
    let key = SigningKey::generate("key-1").unwrap();
    let public_key_pem = key.public_key_pem();
    let issuer = TokenIssuer::builder("app-1", key).build().unwrap();
    let app = example::app(Callstats::new(issuer).user_id(UserIdStrategy::ephemeral(SECRET).unwrap()));
    let addr = common::serve(app).await;
    Server {
        addr,
        public_key_pem,
        client: Client::builder(TokioExecutor::new()).build_http(),
    }
}

impl Server {
    async fn send(&self, method: &str, path: &str, cookie: Option<&str>, form: Option<&str>) -> Reply {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        if form.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        let body = Full::new(Bytes::from(form.unwrap_or("").to_owned()));
        let response = self.client.request(request.body(body).unwrap()).await.unwrap();
        let (parts, body) = response.into_parts();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body: common::body_bytes(body).await,
        }
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

/// The userID the app should derive for `username` in the session `cookie`
/// (`id=<session ID>`): the ephemeral strategy over the tower-sessions session ID.
fn expected_user_id(username: &str, cookie: &str) -> String {
    let session_id = cookie.strip_prefix("id=").expect("tower-sessions' cookie is named id");
    let identity = Identity::new(username).with_session_id(session_id);
    let user = UserIdStrategy::ephemeral(SECRET).unwrap().derive(&identity).unwrap();
    user.id().as_str().to_owned()
}

#[tokio::test]
async fn anonymous_requests_get_no_token() {
    let server = start().await;

    let reply = server.send("GET", "/rooms/room-1", None, None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(!reply.headers.contains_key("x-callstats-token"));

    let reply = server.send("POST", "/getToken", None, None).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.body, r#"{"error":"User not logged in"}"#);

    // A cookie for a session the store does not know is no login either.
    let reply = server
        .send("POST", "/getToken", Some("id=AAAAAAAAAAAAAAAAAAAAAA"), None)
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_tower_sessions_login_gets_a_token_with_a_userid_from_the_session() {
    let server = start().await;
    let cookie = server.login("alice").await;
    let user_id = expected_user_id("alice", &cookie);
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

    // The token endpoint, as the page's tokenGenerator calls it.
    let reply = server
        .send("POST", "/getToken", Some(&cookie), Some("conferenceID=room-1"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let body = reply.json();
    assert_eq!(body["userID"], user_id.as_str());
    assert_eq!(
        server.verify(body["token"].as_str().unwrap())["userID"],
        user_id.as_str()
    );

    // The same user in another session (another browser) gets another ephemeral userID,
    // and neither contains the username.
    let other_cookie = server.login("alice").await;
    assert_ne!(other_cookie, cookie);
    let reply = server.send("POST", "/getToken", Some(&other_cookie), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let other_user_id = reply.json()["userID"].as_str().unwrap().to_owned();
    assert_eq!(other_user_id, expected_user_id("alice", &other_cookie));
    assert_ne!(other_user_id, user_id);
    assert!(!other_user_id.contains("alice") && !user_id.contains("alice"));

    // After logout the old cookie gets no token.
    let reply = server.send("POST", "/logout", Some(&cookie), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = server.send("POST", "/getToken", Some(&cookie), None).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = server.send("GET", "/rooms/room-1", Some(&cookie), None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(!reply.headers.contains_key("x-callstats-token"));
}
