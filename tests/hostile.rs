//! Hostile input against the demo app (the very router `cargo run --example demo`
//! serves) and against the token endpoint on its own.
//!
//! Every row names a request and the exact status and error (the JSON `code`, or the
//! whole body) it must get. For every row: no panic, no 5xx, and no token (no
//! `x-callstats-token` header, no `token` field, no JWT anywhere in the body) unless
//! the row expects one; when it does, the token verifies and its userID is the one of
//! the session, whatever the request says. Rows whose bytes `http::Uri` or
//! `http::HeaderValue` cannot even represent (raw non-UTF-8 bytes, CR, LF or NUL on the
//! wire) go through a real server and a raw TCP client.

#[path = "../examples/demo/app.rs"]
mod app;
mod common;
#[path = "../examples/demo/session.rs"]
mod session;

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use axum::{Router, body::Body};
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use tower::ServiceExt;
use tower_callstats::{Callstats, ConferenceIdSource, Identity, KeyRing, SigningKey, TokenIssuer};

/// Inputs tried, over all tests of this file (printed by each test).
static TRIED: AtomicUsize = AtomicUsize::new(0);

/// Who the request claims to be.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    /// No cookie at all.
    Anonymous,
    /// The session of `alice`, logged in through `POST /login`.
    Alice,
    /// A well-formed session cookie that no login ever issued.
    Forged,
    /// A cookie that is not even a session ID.
    Garbage,
    /// A forged cookie first, then alice's: the first one wins, so no session.
    ForgedThenAlice,
    /// The session of a user whose name is 258 bytes (255 ASCII + one 3-byte char).
    LongName,
}

/// What the row must get.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// `200` and a token for this userID.
    Token(&'static str),
    /// This status and this JSON `code`.
    Code(u16, &'static str),
    /// This status and exactly this body.
    Body(u16, &'static str),
    /// This status and the body contains this text.
    Contains(u16, &'static str),
}

struct Row {
    name: &'static str,
    method: Method,
    uri: String,
    who: Who,
    headers: Vec<(&'static str, HeaderValue)>,
    body: Vec<u8>,
    expect: Expect,
}

fn row(name: &'static str, method: Method, uri: impl Into<String>, who: Who, expect: Expect) -> Row {
    Row {
        name,
        method,
        uri: uri.into(),
        who,
        headers: Vec::new(),
        body: Vec::new(),
        expect,
    }
}

impl Row {
    fn header(mut self, name: &'static str, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name, HeaderValue::from_bytes(value.as_ref()).unwrap()));
        self
    }

    fn json(self, body: impl Into<Vec<u8>>) -> Self {
        self.header("content-type", "application/json").body(body)
    }

    fn form(self, body: impl Into<Vec<u8>>) -> Self {
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(body)
    }

    fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

struct Demo {
    router: Router,
    ring: KeyRing,
    alice: String,
    long_name: String,
}

/// 255 ASCII bytes and one 3-byte character: 258 bytes, 256 characters.
fn long_name() -> String {
    "a".repeat(255) + "イ"
}

async fn login(router: &Router, username: &str) -> String {
    let body = serde_json::json!({ "username": username }).to_string();
    let request = Request::post("/login")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200, "login of {username:?}");
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

async fn demo() -> Demo {
    let key = SigningKey::generate("dev-key").unwrap();
    let built = app::build(app::DemoConfig::new("demo-app"), key).unwrap();
    let alice = login(&built.router, "alice").await;
    let long_name = login(&built.router, &long_name()).await;
    Demo {
        router: built.router,
        ring: built.keys,
        alice,
        long_name,
    }
}

impl Demo {
    fn cookie(&self, who: Who) -> Option<String> {
        let forged = format!("demo_session={}", "0123456789abcdef".repeat(4));
        match who {
            Who::Anonymous => None,
            Who::Alice => Some(self.alice.clone()),
            Who::Forged => Some(forged),
            Who::Garbage => Some("demo_session=../../etc/passwd; other=1".into()),
            Who::ForgedThenAlice => Some(format!("{forged}; {}", self.alice)),
            Who::LongName => Some(self.long_name.clone()),
        }
    }
}

/// What a response carried, for the checks every row shares.
struct Outcome {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

/// The invariants of every row, then its own expectation.
fn check(name: &str, expect: Expect, outcome: &Outcome, ring: &KeyRing) {
    let Outcome { status, headers, body } = outcome;
    assert!(!status.is_server_error(), "{name}: {status} {body}");
    let json: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let header_token = headers.get("x-callstats-token");
    let body_token = json.as_ref().and_then(|j| j.get("token"));
    match expect {
        Expect::Token(user) => {
            assert_eq!(*status, 200, "{name}: {body}");
            let jwt = match (header_token, body_token) {
                (Some(h), _) => h.to_str().unwrap().to_owned(),
                (None, Some(t)) => t.as_str().unwrap().to_owned(),
                (None, None) => panic!("{name}: no token"),
            };
            let claims = common::verify_with_ring(&jwt, ring);
            assert_eq!(claims["userID"], user, "{name}: the userID comes from the session");
            assert_eq!(claims["appID"], "demo-app");
            // A token response is never stored by a cache and varies with the cookie.
            assert_eq!(headers[header::CACHE_CONTROL], "no-store", "{name}");
            let vary: Vec<_> = headers
                .get_all(header::VARY)
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect();
            assert!(vary.iter().any(|v| v.contains("cookie")), "{name}: Vary {vary:?}");
            return;
        }
        Expect::Code(want, code) => {
            assert_eq!(status.as_u16(), want, "{name}: {body}");
            let got = json.as_ref().and_then(|j| j["code"].as_str());
            assert_eq!(got, Some(code), "{name}: {body}");
            assert!(json.as_ref().is_some_and(|j| j["error"].is_string()), "{name}: {body}");
        }
        Expect::Body(want, exact) => {
            assert_eq!(status.as_u16(), want, "{name}: {body}");
            assert_eq!(body, exact, "{name}");
        }
        Expect::Contains(want, text) => {
            assert_eq!(status.as_u16(), want, "{name}: {body}");
            assert!(body.contains(text), "{name}: {body:?} should contain {text:?}");
        }
    }
    assert!(header_token.is_none(), "{name}: a token header on a refused request");
    assert!(body_token.is_none(), "{name}: a token field on a refused request");
    assert!(!body.contains("eyJ"), "{name}: something JWT-like in the body: {body}");
}

/// [`check`], with a failed assertion turned into a message, so that a test reports
/// every failing row at once.
fn checked(name: &str, expect: Expect, outcome: &Outcome, ring: &KeyRing) -> Option<String> {
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(name, expect, outcome, ring)));
    run.err().map(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| format!("{name}: panicked"))
    })
}

/// Fails the test with every failed row, or counts the rows as tried.
fn assert_rows_passed(failures: &[String], count: usize, what: &str) {
    assert!(
        failures.is_empty(),
        "{} of {count} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    TRIED.fetch_add(count, Ordering::SeqCst);
    println!("hostile: {count} {what} rows passed");
}

async fn run(router: &Router, row: Row, cookie: Option<String>) -> Outcome {
    let mut builder = Request::builder().method(row.method).uri(row.uri.as_str());
    if let Some(cookie) = cookie {
        builder = builder.header(header::COOKIE, cookie);
    }
    for (name, value) in row.headers {
        builder = builder.header(name, value);
    }
    let request = builder.body(Body::from(row.body)).unwrap();
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = common::body_bytes(response.into_body()).await;
    Outcome {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn pct(s: &str) -> String {
    tower_callstats::id::percent_encode(s)
}

const NOT_LOGGED_IN: &str = r#"{"error":"User not logged in"}"#;

fn demo_rows() -> Vec<Row> {
    use Expect::*;
    use Who::*;
    let get = Method::GET;
    let post = Method::POST;
    let exactly_256 = "a".repeat(253) + "イ"; // 256 bytes, 254 characters
    let over_by_2 = "a".repeat(255) + "イ"; // 258 bytes, 256 characters
    let three_byte_258 = "イ".repeat(86); // 258 bytes, 86 characters
    let nested = "[".repeat(2000) + &"]".repeat(2000);
    vec![
        // --- room pages: the layer, conferenceID from the route ---
        row("room, valid", get.clone(), "/rooms/demo-room", Alice, Token("alice")),
        row(
            "room, 256 bytes with a 3-byte char at the end",
            get.clone(),
            format!("/rooms/{}", pct(&exactly_256)),
            Alice,
            Token("alice"),
        ),
        row(
            "room, 258 bytes: 255 + a 3-byte char",
            get.clone(),
            format!("/rooms/{}", pct(&over_by_2)),
            Alice,
            Code(400, "invalid_conference_id"),
        ),
        row(
            "room, 86 three-byte chars (258 bytes)",
            get.clone(),
            format!("/rooms/{}", pct(&three_byte_258)),
            Alice,
            Contains(400, "258 bytes long, 2 bytes over the limit of 256 bytes"),
        ),
        row(
            "room, 60 000 bytes",
            get.clone(),
            format!("/rooms/{}", "x".repeat(60_000)),
            Alice,
            Code(400, "invalid_conference_id"),
        ),
        row("room, empty segment", get.clone(), "/rooms/", Alice, Body(404, "")),
        row(
            "room, empty after decoding is impossible: %20 is a space",
            get.clone(),
            "/rooms/%20",
            Alice,
            Token("alice"),
        ),
        row(
            "room, invalid percent-encoding %zz",
            get.clone(),
            "/rooms/%zz",
            Alice,
            Contains(400, "invalid percent-encoding"),
        ),
        row(
            "room, truncated escape %E",
            get.clone(),
            "/rooms/ab%E",
            Alice,
            Code(400, "invalid_conference_id"),
        ),
        row(
            "room, percent-encoded non-UTF-8 %FF",
            get.clone(),
            "/rooms/%FF%FE",
            Alice,
            Contains(400, "not valid UTF-8"),
        ),
        row(
            "room, half a 3-byte char %E3%82",
            get.clone(),
            "/rooms/%E3%82",
            Alice,
            Contains(400, "not valid UTF-8"),
        ),
        row(
            "room, overlong UTF-8 encoding of '/' %C0%AF",
            get.clone(),
            "/rooms/%C0%AF",
            Alice,
            Contains(400, "not valid UTF-8"),
        ),
        row(
            "room, UTF-16 surrogate %ED%A0%80",
            get.clone(),
            "/rooms/%ED%A0%80",
            Alice,
            Contains(400, "not valid UTF-8"),
        ),
        row(
            "room, CR LF %0D%0A",
            get.clone(),
            "/rooms/a%0D%0ASet-Cookie:x=1",
            Alice,
            Contains(400, "control character U+000D"),
        ),
        row(
            "room, NUL %00",
            get.clone(),
            "/rooms/a%00b",
            Alice,
            Contains(400, "control character U+0000"),
        ),
        row(
            "room, DEL %7F",
            get.clone(),
            "/rooms/a%7F",
            Alice,
            Code(400, "invalid_conference_id"),
        ),
        row(
            "room, C1 control U+0085 (NEL)",
            get.clone(),
            "/rooms/%C2%85",
            Alice,
            Code(400, "invalid_conference_id"),
        ),
        row(
            "room, encoded slash stays one segment",
            get.clone(),
            "/rooms/a%2Fb",
            Alice,
            Token("alice"),
        ),
        row("room, dot segments", get.clone(), "/rooms/..", Alice, Token("alice")),
        row(
            "room, no session",
            get.clone(),
            "/rooms/demo-room",
            Anonymous,
            Contains(401, "Log in first"),
        ),
        row(
            "room, forged session cookie",
            get.clone(),
            "/rooms/demo-room",
            Forged,
            Contains(401, "Log in first"),
        ),
        row(
            "room, garbage session cookie",
            get.clone(),
            "/rooms/demo-room",
            Garbage,
            Contains(401, "Log in first"),
        ),
        row(
            "room, forged cookie before a real one",
            get.clone(),
            "/rooms/demo-room",
            ForgedThenAlice,
            Contains(401, "Log in first"),
        ),
        row(
            "room, username of 258 bytes in the session",
            get.clone(),
            "/rooms/demo-room",
            LongName,
            Contains(400, "userID is 258 bytes long"),
        ),
        row(
            "room, headers claiming another user",
            get.clone(),
            "/rooms/demo-room",
            Alice,
            Token("alice"),
        )
        .header("x-callstats-user-id", "mallory")
        .header("x-callstats-token", "eyJhbGciOiJub25lIn0.e30.")
        .header("authorization", "Bearer mallory"),
        row(
            "room, CR LF in an ignored header (percent-encoded)",
            get.clone(),
            "/rooms/demo-room",
            Alice,
            Token("alice"),
        )
        .header("x-callstats-conference-id", "a%0D%0Ab"),
        row("room, POST", post.clone(), "/rooms/demo-room", Alice, Body(405, "")),
        row("room, DELETE", Method::DELETE, "/rooms/demo-room", Alice, Body(405, "")),
        // --- the token endpoint ---
        row(
            "getToken, no session",
            post.clone(),
            "/getToken",
            Anonymous,
            Body(403, NOT_LOGGED_IN),
        ),
        row(
            "getToken, forged session",
            post.clone(),
            "/getToken",
            Forged,
            Body(403, NOT_LOGGED_IN),
        )
        .json(r#"{"conferenceID":"r"}"#),
        row(
            "getToken, garbage cookie",
            post.clone(),
            "/getToken",
            Garbage,
            Body(403, NOT_LOGGED_IN),
        ),
        row(
            "getToken, forged cookie before a real one",
            post.clone(),
            "/getToken",
            ForgedThenAlice,
            Body(403, NOT_LOGGED_IN),
        ),
        row(
            "getToken, no session but userID in the body",
            post.clone(),
            "/getToken",
            Anonymous,
            Body(403, NOT_LOGGED_IN),
        )
        .json(r#"{"userID":"alice","username":"alice"}"#),
        row(
            "getToken, userID/username in JSON for someone else",
            post.clone(),
            "/getToken",
            Alice,
            Token("alice"),
        )
        .json(r#"{"userID":"mallory","username":"mallory","localUserID":"mallory","conferenceID":"r"}"#),
        row(
            "getToken, userID/username in a form for someone else",
            post.clone(),
            "/getToken",
            Alice,
            Token("alice"),
        )
        .form("userID=mallory&username=mallory&client_id=mallory%40demo-app&conferenceID=r"),
        row(
            "getToken, identity headers for someone else",
            post.clone(),
            "/getToken",
            Alice,
            Token("alice"),
        )
        .header("x-callstats-user-id", "mallory")
        .header("authorization", "Bearer mallory"),
        row("getToken, empty body", post.clone(), "/getToken", Alice, Token("alice")),
        row(
            "getToken, JSON with charset",
            post.clone(),
            "/getToken",
            Alice,
            Token("alice"),
        )
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"conferenceID":"インターネット"}"#),
        row(
            "getToken, GET",
            get.clone(),
            "/getToken",
            Alice,
            Code(405, "method_not_allowed"),
        ),
        row(
            "getToken, PUT",
            Method::PUT,
            "/getToken",
            Alice,
            Code(405, "method_not_allowed"),
        )
        .json("{}"),
        row(
            "getToken, DELETE, no session",
            Method::DELETE,
            "/getToken",
            Anonymous,
            Code(405, "method_not_allowed"),
        ),
        row(
            "getToken, huge JSON (1 MiB)",
            post.clone(),
            "/getToken",
            Alice,
            Code(413, "body_too_large"),
        )
        .json(format!(r#"{{"conferenceID":"{}"}}"#, "x".repeat(1 << 20))),
        row(
            "getToken, 4097 bytes of whitespace",
            post.clone(),
            "/getToken",
            Alice,
            Code(413, "body_too_large"),
        )
        .json(" ".repeat(4097)),
        row(
            "getToken, lying Content-Length",
            post.clone(),
            "/getToken",
            Alice,
            Code(413, "body_too_large"),
        )
        .header("content-length", "99999999999")
        .json("{}"),
        row(
            "getToken, malformed JSON",
            post.clone(),
            "/getToken",
            Alice,
            Code(400, "invalid_body"),
        )
        .json("{"),
        row(
            "getToken, JSON array",
            post.clone(),
            "/getToken",
            Alice,
            Code(400, "invalid_body"),
        )
        .json("[1,2]"),
        row(
            "getToken, JSON string",
            post.clone(),
            "/getToken",
            Alice,
            Code(400, "invalid_body"),
        )
        .json(r#""alice""#),
        row(
            "getToken, deeply nested JSON",
            post.clone(),
            "/getToken",
            Alice,
            Code(400, "invalid_body"),
        )
        .json(nested),
        row(
            "getToken, conferenceID a number",
            post.clone(),
            "/getToken",
            Alice,
            Code(400, "invalid_body"),
        )
        .json(r#"{"conferenceID":42}"#),
        row(
            "getToken, forceNew a string",
            post.clone(),
            "/getToken",
            Alice,
            Code(400, "invalid_body"),
        )
        .json(r#"{"forceNew":"yes"}"#),
        row(
            "getToken, lone surrogate escape",
            post.clone(),
            "/getToken",
            Alice,
            Code(400, "invalid_body"),
        )
        .json(r#"{"conferenceID":"\udc00"}"#),
        row(
            "getToken, JSON not UTF-8",
            post.clone(),
            "/getToken",
            Alice,
            Code(400, "invalid_body"),
        )
        .json(b"{\"conferenceID\":\"\xff\"}".to_vec()),
        row(
            "getToken, trailing garbage after JSON",
            post.clone(),
            "/getToken",
            Alice,
            Code(400, "invalid_body"),
        )
        .json(r#"{"conferenceID":"r"} x"#),
        row(
            "getToken, empty conferenceID",
            post.clone(),
            "/getToken",
            Alice,
            Contains(400, "conferenceID is empty"),
        )
        .json(r#"{"conferenceID":""}"#),
        row(
            "getToken, conferenceID 258 bytes (255 + 3-byte char)",
            post.clone(),
            "/getToken",
            Alice,
            Contains(400, "258 bytes long"),
        )
        .json(serde_json::json!({"conferenceID": over_by_2}).to_string()),
        row(
            "getToken, conferenceID exactly 256 bytes",
            post.clone(),
            "/getToken",
            Alice,
            Token("alice"),
        )
        .json(serde_json::json!({"conferenceID": exactly_256}).to_string()),
        row(
            "getToken, conferenceID with CR LF",
            post.clone(),
            "/getToken",
            Alice,
            Contains(400, "control character U+000D"),
        )
        .json(r#"{"conferenceID":"a\r\nb"}"#),
        row(
            "getToken, conferenceID with NUL",
            post.clone(),
            "/getToken",
            Alice,
            Contains(400, "control character U+0000"),
        )
        .json(r#"{"conferenceID":"\u0000"}"#),
        row(
            "getToken, form conferenceID %0D%0A",
            post.clone(),
            "/getToken",
            Alice,
            Code(400, "invalid_conference_id"),
        )
        .form("conferenceID=a%0D%0Ab"),
        row(
            "getToken, form conferenceID %00",
            post.clone(),
            "/getToken",
            Alice,
            Code(400, "invalid_conference_id"),
        )
        .form("conferenceID=%00"),
        row(
            "getToken, form invalid percent-encoding",
            post.clone(),
            "/getToken",
            Alice,
            Code(400, "invalid_conference_id"),
        )
        .form("conferenceID=%zz"),
        row(
            "getToken, form percent-encoded non-UTF-8",
            post.clone(),
            "/getToken",
            Alice,
            Code(400, "invalid_conference_id"),
        )
        .form("conferenceID=%FF"),
        row(
            "getToken, form raw non-UTF-8",
            post.clone(),
            "/getToken",
            Alice,
            Code(400, "invalid_body"),
        )
        .form(b"conferenceID=\xff\xfe".to_vec()),
        row(
            "getToken, form conferenceID twice",
            post.clone(),
            "/getToken",
            Alice,
            Code(400, "invalid_body"),
        )
        .form("conferenceID=a&conferenceID=b"),
        row(
            "getToken, form empty conferenceID",
            post.clone(),
            "/getToken",
            Alice,
            Code(400, "invalid_conference_id"),
        )
        .form("conferenceID="),
        row(
            "getToken, form forceNew=maybe",
            post.clone(),
            "/getToken",
            Alice,
            Code(400, "invalid_body"),
        )
        .form("forceNew=maybe"),
        row(
            "getToken, text/plain",
            post.clone(),
            "/getToken",
            Alice,
            Code(415, "unsupported_media_type"),
        )
        .header("content-type", "text/plain")
        .body(r#"{"conferenceID":"r"}"#),
        row(
            "getToken, no content type",
            post.clone(),
            "/getToken",
            Alice,
            Code(415, "unsupported_media_type"),
        )
        .body(r#"{"conferenceID":"r"}"#),
        row(
            "getToken, multipart",
            post.clone(),
            "/getToken",
            Alice,
            Code(415, "unsupported_media_type"),
        )
        .header("content-type", "multipart/form-data; boundary=x")
        .body("--x\r\nContent-Disposition: form-data; name=\"conferenceID\"\r\n\r\nr\r\n--x--\r\n"),
        row(
            "getToken, content type not ASCII",
            post.clone(),
            "/getToken",
            Alice,
            Code(415, "unsupported_media_type"),
        )
        .header("content-type", b"application/json\xff")
        .body("{}"),
        // --- the rest of the demo ---
        row(
            "jwks, POST",
            post.clone(),
            "/.well-known/jwks.json",
            Alice,
            Code(405, "method_not_allowed"),
        ),
        row(
            "login, NUL in username",
            post.clone(),
            "/login",
            Anonymous,
            Contains(400, "without control characters"),
        )
        .json(r#"{"username":"a\u0000b"}"#),
        row(
            "login, CR LF in username",
            post.clone(),
            "/login",
            Anonymous,
            Contains(400, "without control characters"),
        )
        .form("username=a%0D%0Ab"),
        row(
            "login, empty username",
            post.clone(),
            "/login",
            Anonymous,
            Contains(400, "without control characters"),
        )
        .json(r#"{"username":""}"#),
        row(
            "login, 2 KiB username",
            post.clone(),
            "/login",
            Anonymous,
            Contains(400, "1 to 1024 bytes"),
        )
        .json(serde_json::json!({"username": "x".repeat(2048)}).to_string()),
        row(
            "login, malformed JSON",
            post.clone(),
            "/login",
            Anonymous,
            Contains(400, "invalid login body"),
        )
        .json("{"),
        row(
            "login, wrong content type",
            post.clone(),
            "/login",
            Anonymous,
            Contains(415, "send a form or JSON"),
        )
        .body("username=x"),
        row(
            "login, 1 MiB body",
            post.clone(),
            "/login",
            Anonymous,
            Contains(413, "length limit exceeded"),
        )
        .form(format!("username={}", "x".repeat(1 << 20))),
        row(
            "unknown route with a session",
            get.clone(),
            "/getToken/../rooms/x",
            Alice,
            Body(404, ""),
        ),
    ]
}

#[tokio::test]
async fn demo_routes_refuse_hostile_input_without_tokens() {
    let demo = demo().await;
    let rows = demo_rows();
    let count = rows.len();
    let mut failures = Vec::new();
    for row in rows {
        let (name, expect) = (row.name, row.expect);
        let cookie = demo.cookie(row.who);
        let outcome = run(&demo.router, row, cookie).await;
        failures.extend(checked(name, expect, &outcome, &demo.ring));
    }
    assert_rows_passed(&failures, count, "demo");
}

/// The endpoint on its own, with every conferenceID source a hostile client can reach:
/// the body, the `Referer` and a header.
#[tokio::test]
async fn token_endpoint_refuses_hostile_referers_and_headers() {
    use Expect::*;
    let ring = KeyRing::new(SigningKey::generate("dev-key").unwrap());
    let callstats = Callstats::new(TokenIssuer::builder("demo-app", ring.clone()).build().unwrap());
    let endpoint = |source: ConferenceIdSource| {
        callstats
            .endpoint()
            .conference_id_from_referer(ConferenceIdSource::path_template("/rooms/{room}", "room").unwrap())
            .conference_id(source)
            // Every source at once, the client's body included, to try hostile input
            // through each of them.
            .conference_id_from_body(true)
    };
    // The app's authentication: every request here is alice's, whatever it says.
    let auth = axum::middleware::from_fn(
        |mut request: axum::extract::Request, next: axum::middleware::Next| async {
            request.extensions_mut().insert(Identity::new("alice"));
            next.run(request).await
        },
    );
    let router = Router::new()
        .route_service(
            "/getToken",
            endpoint(ConferenceIdSource::header(HeaderName::from_static("x-conference"))),
        )
        .route_service("/q/getToken", endpoint(ConferenceIdSource::query("room")))
        .layer(auth);
    let post = Method::POST;
    let rows = vec![
        row(
            "referer, valid",
            post.clone(),
            "/getToken",
            Who::Anonymous,
            Token("alice"),
        )
        .header("referer", "https://app.example/rooms/%E3%82%A4"),
        row(
            "referer, too long",
            post.clone(),
            "/getToken",
            Who::Anonymous,
            Contains(400, "is too long"),
        )
        .header("referer", format!("https://app.example/rooms/{}", "x".repeat(5000))),
        row(
            "referer, not ASCII",
            post.clone(),
            "/getToken",
            Who::Anonymous,
            Contains(400, "is not ASCII"),
        )
        .header("referer", b"https://app.example/rooms/\xe3\x82\xa4"),
        row(
            "referer, not a URL",
            post.clone(),
            "/getToken",
            Who::Anonymous,
            Code(400, "invalid_referer"),
        )
        .header("referer", "http://[::1"),
        row(
            "referer, no host",
            post.clone(),
            "/getToken",
            Who::Anonymous,
            Contains(400, "has no host"),
        )
        .header("referer", "/rooms/x"),
        row(
            "referer, CR LF percent-encoded",
            post.clone(),
            "/getToken",
            Who::Anonymous,
            Code(400, "invalid_conference_id"),
        )
        .header("referer", "https://app.example/rooms/a%0D%0Ab"),
        row(
            "referer, other path",
            post.clone(),
            "/getToken",
            Who::Anonymous,
            Code(400, "invalid_conference_id"),
        )
        .header("referer", "https://app.example/elsewhere"),
        row(
            "referer, 258-byte room",
            post.clone(),
            "/getToken",
            Who::Anonymous,
            Contains(400, "258 bytes long"),
        )
        .header("referer", format!("https://app.example/rooms/{}", pct(&long_name()))),
        row(
            "header source, valid",
            post.clone(),
            "/getToken",
            Who::Anonymous,
            Token("alice"),
        )
        .header("x-conference", "%D0%B8%D0%BD"),
        row(
            "header source, NUL percent-encoded",
            post.clone(),
            "/getToken",
            Who::Anonymous,
            Code(400, "invalid_conference_id"),
        )
        .header("x-conference", "a%00"),
        row(
            "header source, CR LF percent-encoded",
            post.clone(),
            "/getToken",
            Who::Anonymous,
            Code(400, "invalid_conference_id"),
        )
        .header("x-conference", "a%0D%0Ab"),
        row(
            "header source, raw non-UTF-8 bytes",
            post.clone(),
            "/getToken",
            Who::Anonymous,
            Contains(400, "not valid UTF-8"),
        )
        .header("x-conference", b"\xff\xfe"),
        row(
            "header source, tab",
            post.clone(),
            "/getToken",
            Who::Anonymous,
            Code(400, "invalid_conference_id"),
        )
        .header("x-conference", "a\tb"),
        row(
            "header source, empty",
            post.clone(),
            "/getToken",
            Who::Anonymous,
            Contains(400, "conferenceID is empty"),
        )
        .header("x-conference", ""),
        row(
            "header source, missing",
            post.clone(),
            "/getToken",
            Who::Anonymous,
            Code(400, "invalid_conference_id"),
        ),
        row(
            "query source, valid",
            post.clone(),
            "/q/getToken?room=a+b",
            Who::Anonymous,
            Token("alice"),
        ),
        row(
            "query source, CR LF",
            post.clone(),
            "/q/getToken?room=a%0D%0A",
            Who::Anonymous,
            Code(400, "invalid_conference_id"),
        ),
        row(
            "query source, invalid escape",
            post.clone(),
            "/q/getToken?room=%G0",
            Who::Anonymous,
            Code(400, "invalid_conference_id"),
        ),
        row(
            "query source, 258 bytes",
            post.clone(),
            format!("/q/getToken?room={}", pct(&long_name())),
            Who::Anonymous,
            Contains(400, "258 bytes long"),
        ),
        row(
            "body wins over a hostile header",
            post.clone(),
            "/getToken",
            Who::Anonymous,
            Token("alice"),
        )
        .header("x-conference", "%00")
        .json(r#"{"conferenceID":"ok","userID":"mallory"}"#),
    ];
    let count = rows.len();
    let mut failures = Vec::new();
    for row in rows {
        let (name, expect) = (row.name, row.expect);
        let outcome = run(&router, row, None).await;
        failures.extend(checked(name, expect, &outcome, &ring));
    }
    assert_rows_passed(&failures, count, "endpoint");
}

/// Sends raw bytes to a real server and returns the response, or `None` if the server
/// closed the connection without one.
fn raw_request(addr: SocketAddr, request: &[u8]) -> Option<Outcome> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // Write from another thread while this one reads: the server may answer and close
    // before it has read everything (then the write fails, which is fine). The write
    // side is not shut down, because hyper closes at once on a half-closed request.
    let mut writer = stream.try_clone().unwrap();
    let request = request.to_vec();
    let write = std::thread::spawn(move || {
        let _ = writer.write_all(&request);
    });
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    let _ = write.join();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let mut headers = http::HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        headers.append(
            http::HeaderName::try_from(name.trim()).ok()?,
            HeaderValue::try_from(value.trim()).ok()?,
        );
    }
    Some(Outcome {
        status: StatusCode::from_u16(status).ok()?,
        headers,
        body: body.to_owned(),
    })
}

/// Bytes that `http::Uri` and `http::HeaderValue` refuse to hold never reach the app:
/// hyper answers `400` (or `431`) itself. The control row shows that the raw client
/// does get tokens when the request is valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_bytes_on_the_wire_never_reach_the_app() {
    let demo = demo().await;
    let addr = common::serve(demo.router.clone()).await;

    let alice = demo.alice.clone();
    let get = |target: &[u8], extra: &[u8]| {
        let mut r = b"GET ".to_vec();
        r.extend_from_slice(target);
        r.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nCookie: ");
        r.extend_from_slice(alice.as_bytes());
        r.extend_from_slice(b"\r\n");
        r.extend_from_slice(extra);
        r.extend_from_slice(b"\r\n");
        r
    };
    let post_token = |extra: &[u8], body: &[u8]| {
        let mut r = b"POST /getToken HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nCookie: ".to_vec();
        r.extend_from_slice(alice.as_bytes());
        r.extend_from_slice(b"\r\n");
        r.extend_from_slice(extra);
        r.extend_from_slice(b"\r\n");
        r.extend_from_slice(body);
        r
    };
    use Expect::*;
    let rows: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "control: valid raw request",
            get(b"/rooms/%E3%82%A4", b""),
            Token("alice"),
        ),
        (
            "non-UTF-8 bytes in the path",
            get(b"/rooms/\xff\xfe", b""),
            Body(400, ""),
        ),
        (
            // Valid UTF-8 on the wire is accepted as is (browsers percent-encode it).
            "UTF-8 bytes unencoded in the path",
            get("/rooms/イン".as_bytes(), b""),
            Token("alice"),
        ),
        ("NUL in the path", get(b"/rooms/a\x00b", b""), Body(400, "")),
        ("bare LF in the path", get(b"/rooms/a\nb", b""), Body(400, "")),
        ("bare CR in the path", get(b"/rooms/a\rb", b""), Body(400, "")),
        ("space in the path", get(b"/rooms/a b", b""), Body(400, "")),
        (
            "NUL in a header value",
            get(b"/rooms/r", b"X-Callstats-User-Id: a\x00b\r\n"),
            Body(400, ""),
        ),
        (
            "bare CR in a header value",
            get(b"/rooms/r", b"X-Callstats-User-Id: a\rb\r\n"),
            Body(400, ""),
        ),
        (
            "NUL in the cookie",
            get(b"/rooms/r", b"Cookie: demo_session=\x00\r\n"),
            Body(400, ""),
        ),
        (
            "obs-fold header continuation",
            get(b"/rooms/r", b"X-A: a\r\n b\r\n"),
            Body(400, ""),
        ),
        ("space in a header name", get(b"/rooms/r", b"X A: b\r\n"), Body(400, "")),
        (
            "1 MiB of headers",
            get(b"/rooms/r", format!("X-Big: {}\r\n", "x".repeat(1 << 20)).as_bytes()),
            // Or a reset before the client reads the 431: hyper stops reading at its
            // buffer limit (about 400 KiB) and closes with the rest unread.
            Body(431, ""),
        ),
        (
            "invalid Content-Length",
            post_token(b"Content-Type: application/json\r\nContent-Length: abc\r\n", b"{}"),
            Body(400, ""),
        ),
        (
            "two different Content-Lengths",
            post_token(
                b"Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n",
                b"{}",
            ),
            Body(400, ""),
        ),
        (
            "broken chunked body",
            post_token(
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
                b"zz\r\n{}\r\n0\r\n\r\n",
            ),
            Code(400, "body_unreadable"),
        ),
        (
            "chunked body over the limit",
            post_token(
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
                format!(
                    "2000\r\n{}\r\n2000\r\n{}\r\n0\r\n\r\n",
                    " ".repeat(0x2000),
                    " ".repeat(0x2000)
                )
                .as_bytes(),
            ),
            Code(413, "body_too_large"),
        ),
        (
            "CR LF injected through a percent-encoded room",
            get(b"/rooms/a%0D%0ASet-Cookie:%20x=1", b""),
            Code(400, "invalid_conference_id"),
        ),
    ];
    let count = rows.len();
    let mut failures = Vec::new();
    for (name, bytes, expect) in rows {
        let outcome = tokio::task::spawn_blocking(move || raw_request(addr, &bytes))
            .await
            .unwrap();
        let outcome = match outcome {
            Some(outcome) => outcome,
            None if name == "1 MiB of headers" => continue,
            None => panic!("{name}: the server closed the connection without a response"),
        };
        assert!(
            !outcome
                .headers
                .get_all(header::SET_COOKIE)
                .iter()
                .any(|v| v.as_bytes().starts_with(b"x=")),
            "{name}: header injection"
        );
        failures.extend(checked(name, expect, &outcome, &demo.ring));
    }
    assert_rows_passed(&failures, count, "raw");
}
