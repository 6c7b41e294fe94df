//! The room pages and the token endpoint on the new API: the room comes from the page
//! (its `Referer`) in both modes, refused room pages are HTML while `/getToken` keeps
//! JSON, the endpoint's own cross-site check, and ending a call, through HTTP against
//! the demo binary.
//!
//! Like `decisions.rs`, the tests that say what the demo of commit 909e481 did run
//! against whichever binary `DEMO_BIN` names.

mod common;

use common::{Demo, OK, page_conference};
use http::Method;
use serde_json::json;

/// Without a page that names a room (no `Referer`, or one that is not a room page),
/// `/getToken` answers `400 conference_required` in both modes, whatever the body
/// holds: never a token without a conferenceID. (909e481: `200` with a token and no
/// conferenceID.)
#[tokio::test]
async fn without_a_room_page_the_token_endpoint_answers_conference_required() {
    for mode in ["per-call", "room"] {
        let demo = Demo::start(&[("CALLSTATS_CONFERENCE", mode)]).await;
        let mut alice = demo.client().await;
        assert_eq!(alice.login("alice").await.status, OK);
        let not_a_room = format!("{}/", alice.origin());
        let cases: [(Option<&str>, &str); 4] = [
            (None, ""),
            (None, "{}"),
            (None, r#"{"forceNew":true}"#),
            (Some(not_a_room.as_str()), "{}"),
        ];
        for (referer, body) in cases {
            let mut request = alice
                .request(Method::POST, "/getToken")
                .header("content-type", "application/json");
            if let Some(referer) = referer {
                request = request.header("referer", referer);
            }
            let answer = alice.send(request, body.to_owned()).await;
            let what = format!("{mode}, Referer {referer:?}, body {body:?}");
            assert_eq!(answer.status, 400, "{what}: {}", answer.text());
            assert_eq!(answer.json()["code"], "conference_required", "{what}");
            assert_eq!(answer.json().get("token"), None, "{what}");
        }
    }
}

/// The room is configured once and comes from the page that asks (its `Referer`), in
/// both modes: the body's `conferenceID` is never signed. `per-call` joins the call of
/// the page's room; `room` answers the page's room itself; a body's conferenceID
/// without a page is `400 conference_required`. (909e481: in `room` mode the endpoint
/// signed the body's `conferenceID`, `another-room`.)
#[tokio::test]
async fn the_body_never_names_the_room_in_either_mode() {
    let demo = Demo::start(&[]).await;
    let mut alice = demo.client().await;
    assert_eq!(alice.login("alice").await.status, OK);
    let call = page_conference(&alice.get("/rooms/standup").await);
    let token = alice
        .token("/rooms/standup", json!({"conferenceID": "elsewhere"}))
        .await;
    assert_eq!(token.status, OK, "{}", token.text());
    assert_eq!(token.json()["conferenceID"], call.as_str());

    let demo = Demo::start(&[("CALLSTATS_CONFERENCE", "room")]).await;
    let mut alice = demo.client().await;
    assert_eq!(alice.login("alice").await.status, OK);
    let token = alice
        .token("/rooms/%E3%82%A4%E3%83%B3", json!({"conferenceID": "another-room"}))
        .await;
    assert_eq!(token.status, OK, "{}", token.text());
    assert_eq!(token.json()["conferenceID"], "イン");
    assert_eq!(token.json()["callStartedAt"], serde_json::Value::Null);
    let request = alice
        .request(Method::POST, "/getToken")
        .header("content-type", "application/json");
    let body_only = alice.send(request, r#"{"conferenceID":"another-room"}"#).await;
    assert_eq!(body_only.status, 400, "{}", body_only.text());
    assert_eq!(body_only.json()["code"], "conference_required");
    assert!(!body_only.text().contains("another-room"), "{}", body_only.text());
}

/// Without a session, `/getToken` answers the crate's JSON, and a room page is the login
/// page with `401`. (909e481: `{"error":"User not logged in"}`, without a code.)
#[tokio::test]
async fn anonymous_requests_get_the_login_page_or_not_logged_in() {
    let demo = Demo::start(&[]).await;
    let mut anonymous = demo.client().await;
    let token = anonymous.token("/rooms/standup", json!({})).await;
    assert_eq!(token.status, 403);
    assert_eq!(token.text(), r#"{"code":"not_logged_in","error":"User not logged in"}"#);
    let page = anonymous.get("/rooms/standup").await;
    assert_eq!(page.status, 401);
    assert!(page.text().contains("Log in first.") && page.text().contains(r#"action="/login""#));
}

/// Refusals are shaped for who reads them: a refused room page is the demo's HTML page
/// with the code and the message (a control character in the name, `400`; another
/// user's private room, `403`), and every `/getToken` refusal is the crate's one JSON
/// shape, `{"code":..,"error":..}`, those two keys in that order. (909e481: the room
/// page's refusal was JSON, `{"code","error"}` there and `{"error"}` alone for a token
/// request without a user.)
#[tokio::test]
async fn a_refused_room_page_is_html_and_every_token_refusal_is_code_and_error_json() {
    let demo = Demo::start(&[]).await;
    let mut bob = demo.logged_in(2, "bob").await;
    let pages = [
        ("/rooms/a%0Db", 400, "invalid_conference_id", "U+000D"),
        ("/rooms/private-alice", 403, "conference_forbidden", "private-alice"),
    ];
    for (path, status, code, said) in pages {
        let page = bob.get(path).await;
        assert_eq!(page.status, status, "{path}: {}", page.text());
        assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"), "{path}");
        let html = page.text();
        assert!(html.starts_with("<!doctype html>"), "{path}: {html}");
        assert!(
            html.contains(&format!(r#"<code id="code">{code}</code>"#)),
            "{path}: {html}"
        );
        assert!(html.contains(said), "{path}: the message says why: {html}");
        assert_eq!(page.header("x-callstats-token"), None, "{path}");
    }

    let own = bob.origin();
    let https = own.replace("http://", "https://");
    let mut anonymous = demo.client_as(3).await;
    // Whether the anonymous client asks (else Bob), the page, the Origin, the refusal.
    let refusals = [
        (false, Some("/rooms/a%0Db"), None, 400, "invalid_conference_id"),
        (false, Some("/rooms/private-alice"), None, 403, "conference_forbidden"),
        (false, None, None, 400, "conference_required"),
        (
            false,
            Some("/rooms/standup"),
            Some(https.as_str()),
            403,
            "cross_site_request",
        ),
        (true, Some("/rooms/standup"), None, 403, "not_logged_in"),
    ];
    for (is_anonymous, page, origin, status, code) in refusals {
        let client = if is_anonymous { &mut anonymous } else { &mut bob };
        let mut request = client
            .request(Method::POST, "/getToken")
            .header("content-type", "application/json");
        if let Some(page) = page {
            request = request.header("referer", format!("{own}{page}"));
        }
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let answer = client.send(request, "{}").await;
        assert_eq!(answer.status, status, "{code}: {}", answer.text());
        assert_eq!(answer.header("content-type"), Some("application/json"), "{code}");
        let prefix = format!(r#"{{"code":"{code}","error":""#);
        assert!(answer.text().starts_with(&prefix), "{code}: {}", answer.text());
        let keys: Vec<String> = answer.json().as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["code", "error"], "{code}: {}", answer.text());
    }
}

/// The token endpoint's own cross-site check, configured for the demo's plain http: the
/// demo's own origin passes, the same host over https and another site do not.
/// (909e481: `Origin: https://127.0.0.1:PORT` got a token, `200`: the scheme was not
/// compared.)
#[tokio::test]
async fn the_token_endpoint_compares_the_origin_with_the_http_scheme() {
    let demo = Demo::start(&[]).await;
    let mut alice = demo.client().await;
    assert_eq!(alice.login("alice").await.status, OK);
    let own = alice.origin();
    let https = own.replace("http://", "https://");
    let cases: [(&[(&str, &str)], u16); 4] = [
        (&[("origin", own.as_str())], 200),
        (&[("origin", own.as_str()), ("sec-fetch-site", "same-origin")], 200),
        (&[("origin", https.as_str())], 403),
        (
            &[("origin", "http://evil.example"), ("sec-fetch-site", "cross-site")],
            403,
        ),
    ];
    for (headers, status) in cases {
        let mut request = alice
            .request(Method::POST, "/getToken")
            .header("referer", format!("{own}/rooms/standup"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let answer = alice.send(request, "").await;
        assert_eq!(answer.status, status, "{headers:?}: {}", answer.text());
        if status == 403 {
            assert_eq!(answer.json()["code"], "cross_site_request", "{headers:?}");
        }
    }
}

/// A call handed out by `/getToken` alone (the page never loaded) may be ended by its
/// user; the call of another room may not; in `room` mode there is no call to end;
/// without a session nobody may.
#[tokio::test]
async fn ending_a_call_takes_the_call_the_user_was_given() {
    let demo = Demo::start(&[]).await;
    let mut alice = demo.logged_in(1, "alice").await;
    let first = alice.token("/rooms/%E3%82%A4%E3%83%B3", json!({})).await.json()["conferenceID"].clone();
    assert!(first.as_str().unwrap().starts_with("イン-"), "{first}");
    let other_room = alice.post("/rooms/standup/end").await;
    assert_eq!(other_room.status, 403, "{}", other_room.text());
    let ended = alice.post("/rooms/%E3%82%A4%E3%83%B3/end").await;
    assert_eq!(ended.status, 303, "{}", ended.text());
    assert_eq!(ended.header("location"), Some("/rooms/%E3%82%A4%E3%83%B3"));
    assert!(
        demo.printed("call ended: the next join starts a new call").await,
        "{}",
        demo.log()
    );
    let again = alice.post("/rooms/%E3%82%A4%E3%83%B3/end").await;
    assert_eq!(again.status, 403, "the ended call is forgotten: {}", again.text());
    let next = alice.token("/rooms/%E3%82%A4%E3%83%B3", json!({})).await.json()["conferenceID"].clone();
    assert_ne!(next, first);

    let mut anonymous = demo.client_as(2).await;
    assert_eq!(anonymous.post("/rooms/%E3%82%A4%E3%83%B3/end").await.status, 401);

    let demo = Demo::start(&[("CALLSTATS_CONFERENCE", "room")]).await;
    let mut alice = demo.client().await;
    assert_eq!(alice.login("alice").await.status, OK);
    assert_eq!(alice.get("/rooms/standup").await.status, OK);
    let refused = alice.post("/rooms/standup/end").await;
    assert_eq!(refused.status, 409);
    assert_eq!(refused.json()["code"], "no_calls");
}

/// The public key, the JWKS and the page assets.
#[tokio::test]
async fn the_public_keys_and_the_page_assets_are_served() {
    let demo = Demo::start(&[]).await;
    let mut client = demo.client().await;
    let jwks = client.get("/.well-known/jwks.json").await.json();
    assert_eq!(jwks["keys"][0]["kid"], "dev-key");
    assert_eq!(jwks["keys"][0]["crv"], "P-256");
    let pem = client.get("/public-key.pem").await;
    assert!(pem.text().starts_with("-----BEGIN PUBLIC KEY-----"), "{}", pem.text());
    for (path, content_type) in [
        ("/static/demo.css", "text/css; charset=utf-8"),
        ("/static/inspector.js", "text/javascript; charset=utf-8"),
    ] {
        let asset = client.get(path).await;
        assert_eq!(asset.status, OK, "{path}");
        assert_eq!(asset.header("content-type"), Some(content_type));
        assert_eq!(asset.header("x-content-type-options"), Some("nosniff"));
    }
}
