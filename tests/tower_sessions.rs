//! The `tower_sessions` example's app, served on 127.0.0.1: a login through
//! tower-sessions is what gets a user a token (the user read straight from the session
//! by `FromSession`, no bridge middleware), and the userID is derived from that
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
use tower_callstats::{Callstats, SigningKey, TokenIssuer, UserIdStrategy};

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
