//! Hostile input against the demo app (the very router `cargo run --example demo`
//! serves, in both of its conferenceID modes: per call, the default, and the room name)
//! and against the token endpoint on its own.
//!
//! Every row names a request and the exact status and error (the JSON `code`, or the
//! whole body) it must get. For every row: no panic, no 5xx, and no token (no
//! `x-callstats-token` header, no `token` field, no JWT anywhere in the body) unless
//! the row expects one; when it does, the token verifies and its userID is the one of
//! the session, whatever the request says. Rows whose bytes `http::Uri` or
//! `http::HeaderValue` cannot even represent (raw non-UTF-8 bytes, CR, LF or NUL on the
//! wire) go through a real server and a raw TCP client.
//!
//! The last tests are about the demo's own session (`examples/demo/session.rs`): the
//! `__Host-` cookie, the CSRF rules for browser forms, the login rate limit per client
//! address, the bounded session store and the revocation of a browser's previous
//! session at login.

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
    /// The session of a user whose name hides a RIGHT-TO-LEFT OVERRIDE (U+202E):
    /// `eve\u{202E}nimda` is displayed as `eveadmin`.
    Spoofed,
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
    spoofed: String,
}

/// A username that displays as `eveadmin`.
const SPOOFED_NAME: &str = "eve\u{202E}nimda";

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
    demo_in(app::ConferenceMode::default()).await
}

async fn demo_in(conference: app::ConferenceMode) -> Demo {
    let key = SigningKey::generate("dev-key").unwrap();
    let mut config = app::DemoConfig::new("demo-app");
    config.conference = conference;
    let built = app::build(config, key).unwrap();
    let alice = login(&built.router, "alice").await;
    let long_name = login(&built.router, &long_name()).await;
    let spoofed = login(&built.router, SPOOFED_NAME).await;
    Demo {
        router: built.router,
        ring: built.keys,
        alice,
        long_name,
        spoofed,
    }
}

impl Demo {
    fn cookie(&self, who: Who) -> Option<String> {
        let forged = format!("__Host-demo_session={}", "0123456789abcdef".repeat(4));
        match who {
            Who::Anonymous => None,
            Who::Alice => Some(self.alice.clone()),
            Who::Forged => Some(forged),
            Who::Garbage => Some("__Host-demo_session=../../etc/passwd; other=1".into()),
            Who::ForgedThenAlice => Some(format!("{forged}; {}", self.alice)),
            Who::LongName => Some(self.long_name.clone()),
            Who::Spoofed => Some(self.spoofed.clone()),
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

/// The demo's rows, in either conferenceID mode. In per-call mode (the default) the
/// token endpoint takes the room from the Referer and ignores the body's conferenceID,
/// so a hostile one there cannot hurt: those rows get a token (without a conferenceID)
/// instead of the `400` they get in room mode.
fn demo_rows(mode: app::ConferenceMode) -> Vec<Row> {
    use Expect::*;
    use Who::*;
    let per_call = mode == app::ConferenceMode::PerCall;
    let body_id = |room_mode: Expect| if per_call { Token("alice") } else { room_mode };
    let get = Method::GET;
    let post = Method::POST;
    let exactly_256 = "a".repeat(253) + "イ"; // 256 bytes, 254 characters
    let over_by_2 = "a".repeat(255) + "イ"; // 258 bytes, 256 characters
    let three_byte_258 = "イ".repeat(86); // 258 bytes, 86 characters
    let nested = "[".repeat(2000) + &"]".repeat(2000);
    // Two different tokens of the CSRF cookie's shape (64 hex digits).
    let (csrf_a, csrf_b) = ("a".repeat(64), "b".repeat(64));
    vec![
        // --- room pages: the layer, conferenceID from the route ---
        row("room, valid", get.clone(), "/rooms/demo-room", Alice, Token("alice")),
        // --- look-alike and invisible characters: refused with the code point and the
        // byte offset; the zero-width joiners that real names need are kept ---
        row(
            "room, RIGHT-TO-LEFT OVERRIDE U+202E (displays as roomadmin-1)",
            get.clone(),
            "/rooms/room%E2%80%AE1-nimda",
            Alice,
            Contains(400, "conferenceID contains U+202E RIGHT-TO-LEFT OVERRIDE at byte 4"),
        ),
        row(
            "room, LEFT-TO-RIGHT EMBEDDING U+202A",
            get.clone(),
            "/rooms/%E2%80%AAroom",
            Alice,
            Contains(400, "U+202A LEFT-TO-RIGHT EMBEDDING at byte 0"),
        ),
        row(
            "room, LINE SEPARATOR U+2028",
            get.clone(),
            "/rooms/a%E2%80%A8b",
            Alice,
            Contains(400, "U+2028 LINE SEPARATOR at byte 1"),
        ),
        row(
            "room, PARAGRAPH SEPARATOR U+2029",
            get.clone(),
            "/rooms/ab%E2%80%A9",
            Alice,
            Contains(400, "U+2029 PARAGRAPH SEPARATOR at byte 2"),
        ),
        row(
            "room, byte order mark U+FEFF",
            get.clone(),
            "/rooms/%EF%BB%BFroom",
            Alice,
            Contains(400, "U+FEFF ZERO WIDTH NO-BREAK SPACE at byte 0"),
        ),
        row(
            "room, LEFT-TO-RIGHT ISOLATE U+2066",
            get.clone(),
            "/rooms/x%E2%81%A6y",
            Alice,
            Contains(400, "U+2066 LEFT-TO-RIGHT ISOLATE at byte 1"),
        ),
        row(
            "room, POP DIRECTIONAL ISOLATE U+2069 after a 3-byte char",
            get.clone(),
            "/rooms/%E3%82%A4%E2%81%A9",
            Alice,
            Contains(400, "U+2069 POP DIRECTIONAL ISOLATE at byte 3"),
        ),
        row(
            "room, Persian with ZWNJ U+200C",
            get.clone(),
            format!("/rooms/{}", pct("می‌خواهم")),
            Alice,
            Token("alice"),
        ),
        row(
            "room, family emoji with ZWJ U+200D",
            get.clone(),
            format!("/rooms/{}", pct("👩‍👩‍👧")),
            Alice,
            Token("alice"),
        ),
        row(
            "room, session of a user whose name has U+202E",
            get.clone(),
            "/rooms/demo-room",
            Spoofed,
            Contains(400, "userID contains U+202E RIGHT-TO-LEFT OVERRIDE at byte 3"),
        ),
        row(
            "getToken, session of a user whose name has U+202E",
            post.clone(),
            "/getToken",
            Spoofed,
            Code(400, "invalid_user_id"),
        ),
        row(
            "getToken, JSON conferenceID with RIGHT-TO-LEFT ISOLATE U+2067",
            post.clone(),
            "/getToken",
            Alice,
            body_id(Contains(400, "U+2067 RIGHT-TO-LEFT ISOLATE at byte 4")),
        )
        .json(r#"{"conferenceID":"room\u2067x"}"#),
        row(
            "getToken, form conferenceID with FIRST STRONG ISOLATE U+2068",
            post.clone(),
            "/getToken",
            Alice,
            body_id(Contains(400, "U+2068 FIRST STRONG ISOLATE at byte 0")),
        )
        .form("conferenceID=%E2%81%A8x"),
        row(
            "getToken, Hindi conferenceID with ZWJ",
            post.clone(),
            "/getToken",
            Alice,
            Token("alice"),
        )
        .json(serde_json::json!({"conferenceID": "\u{915}\u{94d}\u{200d}\u{937}"}).to_string()),
        // --- the demo's login: the SHA1 domain, CSRF ---
        row(
            "login, domain with '@' (JSON)",
            post.clone(),
            "/login",
            Anonymous,
            Contains(400, "evil@example.com\\\" contains '@' at byte 4"),
        )
        .json(r#"{"username":"bob","domain":"evil@example.com"}"#),
        row(
            "login, domain with '@' (form)",
            post.clone(),
            "/login",
            Anonymous,
            Contains(400, "contains '@' at byte 0"),
        )
        .form("username=bob&domain=%40example.com"),
        row(
            "login, form posted from another origin",
            post.clone(),
            "/login",
            Anonymous,
            Contains(403, "https://evil.example\\\" is not this site"),
        )
        .header("host", "demo.test")
        .header("origin", "https://evil.example")
        .form("username=mallory"),
        row(
            "login, form with Sec-Fetch-Site: cross-site",
            post.clone(),
            "/login",
            Anonymous,
            Code(403, "csrf_failed"),
        )
        .header("sec-fetch-site", "cross-site")
        .form("username=mallory"),
        row(
            "login, JSON posted from another origin",
            post.clone(),
            "/login",
            Anonymous,
            Code(403, "csrf_failed"),
        )
        .header("host", "demo.test")
        .header("origin", "null")
        .json(r#"{"username":"mallory"}"#),
        row(
            "login, a browser's same-origin form without the CSRF cookie",
            post.clone(),
            "/login",
            Anonymous,
            Contains(403, "no CSRF cookie"),
        )
        .header("host", "demo.test")
        .header("origin", "http://demo.test")
        .header("sec-fetch-site", "same-origin")
        .form("username=mallory"),
        row(
            "login, a browser's form whose token is not the cookie's",
            post.clone(),
            "/login",
            Anonymous,
            Contains(403, "does not match the CSRF cookie"),
        )
        .header("host", "demo.test")
        .header("origin", "http://demo.test")
        .header("cookie", format!("__Host-demo_csrf={csrf_a}"))
        .form(format!("username=mallory&csrf={csrf_b}")),
        row(
            "login, a browser's form with the cookie's token",
            post.clone(),
            "/login",
            Anonymous,
            Body(303, ""),
        )
        .header("host", "demo.test")
        .header("origin", "http://demo.test")
        .header("sec-fetch-site", "same-origin")
        .header("cookie", format!("__Host-demo_csrf={csrf_a}"))
        .form(format!("username=carol&csrf={csrf_a}")),
        row(
            "logout, a browser's form without the token",
            post.clone(),
            "/logout",
            Alice,
            Code(403, "csrf_failed"),
        )
        .header("host", "demo.test")
        .header("origin", "http://demo.test")
        .form(""),
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
        // --- ending a call: CSRF-protected like /logout, then the session ---
        row(
            "end call, form posted from another origin",
            post.clone(),
            "/rooms/demo-room/end",
            Alice,
            Contains(403, "https://evil.example\\\" is not this site"),
        )
        .header("host", "demo.test")
        .header("origin", "https://evil.example")
        .form(""),
        row(
            "end call, Sec-Fetch-Site: same-site",
            post.clone(),
            "/rooms/demo-room/end",
            Alice,
            Code(403, "csrf_failed"),
        )
        .header("sec-fetch-site", "same-site")
        .form(""),
        row(
            "end call, a browser's form without the token",
            post.clone(),
            "/rooms/demo-room/end",
            Alice,
            Contains(403, "no CSRF cookie"),
        )
        .header("host", "demo.test")
        .header("origin", "http://demo.test")
        .form(""),
        row(
            "end call, no session",
            post.clone(),
            "/rooms/demo-room/end",
            Anonymous,
            Code(401, "not_logged_in"),
        ),
        row(
            "end call, forged session",
            post.clone(),
            "/rooms/demo-room/end",
            Forged,
            Code(401, "not_logged_in"),
        ),
        row(
            "end call, a browser's form with the cookie's token",
            post.clone(),
            "/rooms/demo-room/end",
            Alice,
            if per_call { Body(303, "") } else { Code(409, "no_calls") },
        )
        .header("host", "demo.test")
        .header("origin", "http://demo.test")
        .header("sec-fetch-site", "same-origin")
        .header("cookie", format!("__Host-demo_csrf={csrf_a}"))
        .form(format!("csrf={csrf_a}")),
        row(
            "end call, room with RIGHT-TO-LEFT OVERRIDE",
            post.clone(),
            "/rooms/room%E2%80%AE1/end",
            Alice,
            if per_call {
                Contains(400, "U+202E RIGHT-TO-LEFT OVERRIDE")
            } else {
                Code(409, "no_calls")
            },
        ),
        row(
            "end call, GET",
            get.clone(),
            "/rooms/demo-room/end",
            Alice,
            Body(405, ""),
        ),
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
        row(
            "getToken, hostile body conferenceID with the room page as Referer",
            post.clone(),
            "/getToken",
            Alice,
            body_id(Code(400, "invalid_conference_id")),
        )
        .header("referer", "http://127.0.0.1:3000/rooms/demo-room")
        .json(r#"{"conferenceID":"a\r\nb"}"#),
        row(
            "getToken, Referer with a hostile room",
            post.clone(),
            "/getToken",
            Alice,
            if per_call {
                Contains(400, "U+202E RIGHT-TO-LEFT OVERRIDE")
            } else {
                Token("alice")
            },
        )
        .header("referer", "http://127.0.0.1:3000/rooms/room%E2%80%AE1"),
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
            body_id(Contains(400, "conferenceID is empty")),
        )
        .json(r#"{"conferenceID":""}"#),
        row(
            "getToken, conferenceID 258 bytes (255 + 3-byte char)",
            post.clone(),
            "/getToken",
            Alice,
            body_id(Contains(400, "258 bytes long")),
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
            body_id(Contains(400, "control character U+000D")),
        )
        .json(r#"{"conferenceID":"a\r\nb"}"#),
        row(
            "getToken, conferenceID with NUL",
            post.clone(),
            "/getToken",
            Alice,
            body_id(Contains(400, "control character U+0000")),
        )
        .json(r#"{"conferenceID":"\u0000"}"#),
        row(
            "getToken, form conferenceID %0D%0A",
            post.clone(),
            "/getToken",
            Alice,
            body_id(Code(400, "invalid_conference_id")),
        )
        .form("conferenceID=a%0D%0Ab"),
        row(
            "getToken, form conferenceID %00",
            post.clone(),
            "/getToken",
            Alice,
            body_id(Code(400, "invalid_conference_id")),
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
            body_id(Code(400, "invalid_conference_id")),
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
    for mode in [app::ConferenceMode::PerCall, app::ConferenceMode::Room] {
        let demo = demo_in(mode).await;
        let rows = demo_rows(mode);
        let count = rows.len();
        let mut failures = Vec::new();
        for row in rows {
            let name = format!("[{}] {}", mode.as_str(), row.name);
            let expect = row.expect;
            let cookie = demo.cookie(row.who);
            let outcome = run(&demo.router, row, cookie).await;
            failures.extend(checked(&name, expect, &outcome, &demo.ring));
        }
        assert_rows_passed(&failures, count, &format!("demo ({})", mode.as_str()));
    }
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
            // hyper stops reading at its buffer limit (8 KiB + 100 x 4 KiB = 408 KiB by
            // default), answers 431 and closes. The client reads while it writes, so
            // it reads the 431 before the reset that the unread rest causes.
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

// --- The demo's own session: cookie, CSRF, rate limit, session cap, revocation -------

/// A `POST /login` of `username` as JSON from `client` (`None`: no connection address,
/// as with a router called directly), with extra headers.
fn login_request(username: &str, client: Option<SocketAddr>, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::post("/login").header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut request = builder
        .body(Body::from(serde_json::json!({ "username": username }).to_string()))
        .unwrap();
    if let Some(addr) = client {
        // What `into_make_service_with_connect_info::<SocketAddr>()` inserts.
        request.extensions_mut().insert(axum::extract::ConnectInfo(addr));
    }
    request
}

/// The `name=value` of a response's `Set-Cookie` for the cookie `name`, with its
/// attributes.
fn set_cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with(&format!("{name}=")))
}

/// The status of `GET /rooms/r` with `cookie` (`200` with a token, `401` without a
/// session).
async fn room_status(router: &Router, cookie: &str) -> u16 {
    let request = Request::get("/rooms/r")
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap();
    router.clone().oneshot(request).await.unwrap().status().as_u16()
}

fn demo_with(config: impl FnOnce(&mut app::DemoConfig)) -> app::Demo {
    let mut demo = app::DemoConfig::new("demo-app");
    config(&mut demo);
    app::build(demo, SigningKey::generate("dev-key").unwrap()).unwrap()
}

/// The session cookie follows the `__Host-` prefix rules (RFC 6265bis, 4.1.3.2: `Secure`,
/// `Path=/`, no `Domain`), and is `HttpOnly` and `SameSite=Lax`.
#[tokio::test]
async fn the_session_cookie_is_host_prefixed_secure_and_http_only() {
    let demo = demo_with(|_| {});
    let response = demo
        .router
        .clone()
        .oneshot(login_request("alice", None, &[]))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = set_cookie(response.headers(), "__Host-demo_session").expect("the session cookie");
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).skip(1).collect();
    for wanted in ["Secure", "Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(attributes.contains(&wanted), "{wanted} missing from {cookie}");
    }
    assert!(
        !attributes.iter().any(|a| a.to_ascii_lowercase().starts_with("domain")),
        "{cookie}"
    );
    // The old, unprefixed name is not set any more.
    assert!(set_cookie(response.headers(), "demo_session").is_none());
}

/// The browser flow: `GET /` sets the CSRF cookie and puts the same token in its forms;
/// the form posts with it log in and out.
#[tokio::test]
async fn a_browser_logs_in_and_out_with_the_forms_csrf_token() {
    let demo = demo_with(|_| {});
    let response = demo
        .router
        .clone()
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let csrf_cookie = set_cookie(response.headers(), "__Host-demo_csrf").expect("a CSRF cookie");
    for wanted in ["Secure", "Path=/", "HttpOnly", "SameSite=Strict"] {
        assert!(csrf_cookie.contains(wanted), "{wanted} missing from {csrf_cookie}");
    }
    let pair = csrf_cookie.split(';').next().unwrap().to_owned();
    let token = pair.strip_prefix("__Host-demo_csrf=").unwrap().to_owned();
    let page = String::from_utf8(common::body_bytes(response.into_body()).await.to_vec()).unwrap();
    assert!(
        page.contains(&format!("name=\"csrf\" value=\"{token}\"")),
        "the login form carries the token: {page}"
    );

    let browser_post = |path: &str, cookie: String, body: String| {
        Request::post(path)
            .header("host", "127.0.0.1:3000")
            .header("origin", "http://127.0.0.1:3000")
            .header("sec-fetch-site", "same-origin")
            .header("content-type", "application/x-www-form-urlencoded")
            .header(header::COOKIE, cookie)
            .body(Body::from(body))
            .unwrap()
    };
    let response = demo
        .router
        .clone()
        .oneshot(browser_post(
            "/login",
            pair.clone(),
            format!("username=alice&csrf={token}"),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let session = set_cookie(response.headers(), "__Host-demo_session").unwrap();
    let session = session.split(';').next().unwrap().to_owned();
    assert_eq!(room_status(&demo.router, &session).await, 200);

    // The logged-in page carries the token in its logout form.
    let response = demo
        .router
        .clone()
        .oneshot(
            Request::get("/")
                .header(header::COOKIE, format!("{pair}; {session}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(
        set_cookie(response.headers(), "__Host-demo_csrf").is_none(),
        "the cookie is kept"
    );
    let page = String::from_utf8(common::body_bytes(response.into_body()).await.to_vec()).unwrap();
    assert!(page.contains("Logged in as <b>alice</b>"), "{page}");
    assert_eq!(page.matches(&format!("value=\"{token}\"")).count(), 2, "{page}");

    // Log out without the token: refused, still logged in. With it: logged out.
    let response = demo
        .router
        .clone()
        .oneshot(browser_post("/logout", format!("{pair}; {session}"), String::new()))
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(room_status(&demo.router, &session).await, 200);
    let response = demo
        .router
        .clone()
        .oneshot(browser_post(
            "/logout",
            format!("{pair}; {session}"),
            format!("csrf={token}"),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(room_status(&demo.router, &session).await, 401);
}

/// The README's curl login: a form with neither `Origin` nor `Sec-Fetch-Site` (not a
/// browser) needs no CSRF token; and neither does curl's logout.
#[tokio::test]
async fn curl_logs_in_and_out_without_a_csrf_token() {
    let demo = demo_with(|_| {});
    let request = Request::post("/login")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("user-agent", "curl/7.88.1")
        .body(Body::from("username=alice"))
        .unwrap();
    let response = demo.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 303);
    let session = set_cookie(response.headers(), "__Host-demo_session").unwrap();
    let session = session.split(';').next().unwrap().to_owned();
    assert_eq!(room_status(&demo.router, &session).await, 200);
    let request = Request::post("/logout")
        .header(header::COOKIE, &session)
        .body(Body::empty())
        .unwrap();
    assert_eq!(demo.router.clone().oneshot(request).await.unwrap().status(), 303);
    assert_eq!(room_status(&demo.router, &session).await, 401);
}

/// 30 attempts at once per address, then `429` with `Retry-After` (one attempt back
/// every 2 s); another address is not affected.
#[tokio::test]
async fn logins_are_rate_limited_per_client_address() {
    let demo = demo_with(|_| {});
    let mallory: SocketAddr = "203.0.113.7:40000".parse().unwrap();
    let alice: SocketAddr = "198.51.100.1:40000".parse().unwrap();
    for n in 0..30 {
        let response = demo
            .router
            .clone()
            .oneshot(login_request(&format!("m{n}"), Some(mallory), &[]))
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "attempt {n}");
    }
    // Another port of the same address, and another address of the same IPv6 /64, are
    // the same client.
    let same_client: SocketAddr = "203.0.113.7:40001".parse().unwrap();
    let response = demo
        .router
        .clone()
        .oneshot(login_request("m30", Some(same_client), &[]))
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let json = common::body_json(response.into_body()).await;
    assert_eq!(json["code"], "rate_limited");
    assert_eq!(
        json["error"],
        "too many login attempts from this address; try again in 2 s"
    );
    assert_eq!(demo.sessions.len(), 30, "no session for the refused attempt");
    // Failed attempts count too: a bad body from mallory is still 429.
    let response = demo
        .router
        .clone()
        .oneshot(login_request("", Some(mallory), &[]))
        .await
        .unwrap();
    assert_eq!(response.status(), 429);

    let response = demo
        .router
        .clone()
        .oneshot(login_request("alice", Some(alice), &[]))
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "another address logs in");

    for (a, b) in [
        ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9"),
        ("2001:db8:1:3::1", "2001:db8:1:3::2"),
    ] {
        let (a, b) = (
            SocketAddr::new(a.parse().unwrap(), 1),
            SocketAddr::new(b.parse().unwrap(), 1),
        );
        for n in 0..30 {
            let response = demo
                .router
                .clone()
                .oneshot(login_request(&format!("v6-{n}"), Some(a), &[]))
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
        let response = demo
            .router
            .clone()
            .oneshot(login_request("v6", Some(b), &[]))
            .await
            .unwrap();
        assert_eq!(response.status(), 429, "{b} is in the /64 of {a}");
    }
}

/// Without a connection address (a router called directly), logins share one bucket.
#[tokio::test]
async fn logins_without_an_address_share_one_bucket() {
    let demo = demo_with(|_| {});
    let mut statuses = Vec::new();
    for n in 0..31 {
        let response = demo
            .router
            .clone()
            .oneshot(login_request(&format!("u{n}"), None, &[]))
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses[..30], [200; 30]);
    assert_eq!(statuses[30], 429);
}

/// Through a real server, served as the demo's `main` serves it
/// (`into_make_service_with_connect_info::<SocketAddr>()`): the limit applies to the
/// connection's address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_server_limits_logins_by_connection_address() {
    let demo = demo_with(|config| {
        config.login_limit = session::LoginLimit {
            burst: 3,
            ..Default::default()
        };
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = demo.router.clone();
    tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap()
    });
    let mut statuses = Vec::new();
    for n in 0..4 {
        let body = format!("{{\"username\":\"u{n}\"}}");
        let request = format!(
            "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let outcome = tokio::task::spawn_blocking(move || raw_request(addr, request.as_bytes()))
            .await
            .unwrap()
            .expect("a response");
        statuses.push(outcome.status.as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    // A router called without the address shares another bucket: not limited yet.
    let response = demo
        .router
        .clone()
        .oneshot(login_request("direct", None, &[]))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// A full session store evicts the oldest session instead of refusing every login.
#[tokio::test]
async fn a_full_session_store_evicts_the_oldest_session() {
    let demo = demo_with(|config| config.max_sessions = 3);
    let mut cookies = Vec::new();
    for n in 0..5u8 {
        let client = SocketAddr::from(([192, 0, 2, n], 1000));
        let response = demo
            .router
            .clone()
            .oneshot(login_request(&format!("user-{n}"), Some(client), &[]))
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "login {n} is never refused");
        let cookie = set_cookie(response.headers(), "__Host-demo_session").unwrap();
        cookies.push(cookie.split(';').next().unwrap().to_owned());
    }
    assert_eq!(demo.sessions.len(), 3);
    let mut statuses = Vec::new();
    for cookie in &cookies {
        statuses.push(room_status(&demo.router, cookie).await);
    }
    assert_eq!(statuses, [401, 401, 200, 200, 200], "the two oldest sessions made room");
}

/// A login from a browser that has a session revokes that session.
#[tokio::test]
async fn login_revokes_the_browsers_previous_session() {
    let demo = demo_with(|_| {});
    let first = login(&demo.router, "alice").await;
    assert_eq!(room_status(&demo.router, &first).await, 200);
    let response = demo
        .router
        .clone()
        .oneshot(login_request("bob", None, &[("cookie", &first)]))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let second = set_cookie(response.headers(), "__Host-demo_session").unwrap();
    let second = second.split(';').next().unwrap().to_owned();
    assert_ne!(first, second);
    assert_eq!(room_status(&demo.router, &first).await, 401, "the old session is gone");
    assert_eq!(room_status(&demo.router, &second).await, 200);
    assert_eq!(demo.sessions.len(), 1);
}
