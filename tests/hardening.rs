//! Hardening findings, each as rows through a real axum `Router` with the layer and the
//! token endpoint: who may bind a token to a conference (1), tokens only on successes
//! (2), cross-site requests to the endpoint (3), the cache as an amplifier (7), token
//! responses are never cached (8), and the page and the token agree on the URL (9).
//! SECURITY.md lists them with their figures.
//!
//! Every row names the request and exactly what it must get; a row that expects no
//! token also checks that none is anywhere in the response.

mod common;

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    response::{IntoResponse, Response},
    routing::get,
};
use http::{HeaderValue, Request, StatusCode, header, uri::Authority};
use tower::ServiceExt;
use tower_callstats::{
    Callstats, ConferenceId, ConferenceIdSource, Identity, SigningKey, TokenIssuer,
    audit::{Action, AuditEvent},
    authorize::Authorization,
};

/// Counts the signatures an issuer makes (its `issued` audit events).
fn counting_issuer() -> (TokenIssuer, Arc<AtomicUsize>) {
    let signed = Arc::new(AtomicUsize::new(0));
    let count = signed.clone();
    let issuer = TokenIssuer::builder("app", SigningKey::generate("key-1").unwrap())
        .audit(move |event: &AuditEvent<'_>| {
            if event.action == Action::Issued {
                count.fetch_add(1, Ordering::SeqCst);
            }
        })
        .build()
        .unwrap();
    (issuer, signed)
}

/// A configuration with every default and a fresh key.
fn callstats() -> Callstats {
    Callstats::new(
        TokenIssuer::builder("app", SigningKey::generate("k").unwrap())
            .build()
            .unwrap(),
    )
}

/// Room pages behind the layer, and the token endpoint.
fn rooms_and_endpoint(callstats: &Callstats) -> Router {
    Router::new()
        .route("/rooms/{room}", get(|| async { "page" }))
        .route_layer(callstats.layer())
        .route_service("/getToken", callstats.endpoint())
}

/// The app's authentication, as a test stand-in: every request is alice's.
fn as_alice(mut request: Request<Body>) -> Request<Body> {
    request.extensions_mut().insert(Identity::new("alice"));
    request
}

/// What a response carried: status, JSON `code` (if any), and whether a token was
/// anywhere in it (header or body).
#[derive(Debug)]
struct Seen {
    status: StatusCode,
    code: Option<String>,
    token: bool,
    headers: http::HeaderMap,
    body: serde_json::Value,
}

async fn send(app: &Router, request: Request<Body>) -> Seen {
    let response = app.clone().oneshot(as_alice(request)).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = common::body_bytes(response.into_body()).await;
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    let text = String::from_utf8_lossy(&bytes);
    // A JWT's header always starts with base64url('{"alg"'): eyJhbGci.
    let token = headers.contains_key("x-callstats-token") || text.contains("eyJhbGci");
    Seen {
        status,
        code: body["code"].as_str().map(str::to_owned),
        token,
        headers,
        body,
    }
}

fn get_page(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn post_token(body: &'static str) -> Request<Body> {
    Request::post("/getToken")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap()
}

/// One row: name, request, expected status, expected JSON code, whether a token is expected.
type Row<'a> = (&'a str, Request<Body>, StatusCode, Option<&'a str>, bool);

/// Runs rows, and reports every row that did not get what it expects.
async fn check_rows(app: &Router, rows: Vec<Row<'_>>) {
    let total = rows.len();
    let mut failures = Vec::new();
    for (name, request, status, code, token) in rows {
        let seen = send(app, request).await;
        if seen.status != status || seen.code.as_deref() != code || seen.token != token {
            failures.push(format!(
                "{name}: expected {status} {code:?} token={token}, got {} {:?} token={}",
                seen.status, seen.code, seen.token
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// 1. The client chooses the conference binding: an authorization hook, used by the
// layer and the endpoint alike, and no body source when the server has its own.

#[tokio::test]
async fn the_authorization_hook_decides_for_the_layer_and_the_endpoint() {
    let members_only = |identity: &Identity, conference: Option<&ConferenceId>| {
        conference.is_none_or(|c| c.as_str() != "board-meeting" || identity.username() == "ceo")
    };
    let callstats = callstats()
        .conference_id(ConferenceIdSource::route_param("room"))
        .authorize(members_only);
    let app = rooms_and_endpoint(&callstats);
    let forbidden = Some("conference_forbidden");
    check_rows(
        &app,
        vec![
            (
                "layer, allowed room",
                get_page("/rooms/standup"),
                StatusCode::OK,
                None,
                true,
            ),
            (
                "layer, denied room",
                get_page("/rooms/board-meeting"),
                StatusCode::FORBIDDEN,
                forbidden,
                false,
            ),
            (
                "endpoint, allowed room",
                post_token(r#"{"conferenceID":"standup"}"#),
                StatusCode::OK,
                None,
                true,
            ),
            (
                "endpoint, denied room",
                post_token(r#"{"conferenceID":"board-meeting"}"#),
                StatusCode::FORBIDDEN,
                forbidden,
                false,
            ),
            ("endpoint, no room", post_token(""), StatusCode::OK, None, true),
        ],
    )
    .await;
}

#[tokio::test]
async fn an_asynchronous_hook_is_awaited_before_anything_is_signed() {
    let (issuer, signed) = counting_issuer();
    let asks = Arc::new(AtomicUsize::new(0));
    let counter = asks.clone();
    let remote_check = move |_: &Identity, conference: Option<&ConferenceId>| {
        counter.fetch_add(1, Ordering::SeqCst);
        let allowed = conference.is_some_and(|c| c.as_str() == "open");
        Authorization::later(async move {
            tokio::time::sleep(Duration::from_millis(5)).await; // a database round trip
            allowed
        })
    };
    let callstats = Callstats::new(issuer)
        .conference_id(ConferenceIdSource::route_param("room"))
        .authorize(remote_check);
    let app = rooms_and_endpoint(&callstats);
    let forbidden = Some("conference_forbidden");
    check_rows(
        &app,
        vec![
            (
                "layer, denied",
                get_page("/rooms/closed"),
                StatusCode::FORBIDDEN,
                forbidden,
                false,
            ),
            (
                "endpoint, denied",
                post_token(r#"{"conferenceID":"closed"}"#),
                StatusCode::FORBIDDEN,
                forbidden,
                false,
            ),
        ],
    )
    .await;
    assert_eq!(
        signed.load(Ordering::SeqCst),
        0,
        "nothing is signed before the hook allows"
    );
    check_rows(
        &app,
        vec![
            ("layer, allowed", get_page("/rooms/open"), StatusCode::OK, None, true),
            (
                "endpoint, allowed",
                post_token(r#"{"conferenceID":"open"}"#),
                StatusCode::OK,
                None,
                true,
            ),
        ],
    )
    .await;
    assert_eq!(asks.load(Ordering::SeqCst), 4, "the hook is asked for every request");
    assert_eq!(signed.load(Ordering::SeqCst), 1, "one token, then the cache");
}

#[tokio::test]
async fn with_a_server_side_source_the_body_does_not_choose_the_conference() {
    let callstats = callstats();
    let endpoint = callstats
        .endpoint()
        .conference_id_from_referer(ConferenceIdSource::path_template("/rooms/{room}", "room").unwrap());
    let app = Router::new().route_service("/getToken", endpoint);
    let mut request = post_token(r#"{"conferenceID":"the-room-i-want"}"#);
    request.headers_mut().insert(
        header::REFERER,
        HeaderValue::from_static("https://meet.example.com/rooms/my-room"),
    );
    let seen = send(&app, request).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert_eq!(
        seen.body["conferenceID"], "my-room",
        "the page the request comes from decides"
    );
}

// 2. Tokens and ID headers go only on successes (2xx).

#[tokio::test]
async fn only_successful_responses_carry_a_token() {
    async fn answer(axum::extract::Path(status): axum::extract::Path<u16>) -> Response {
        let status = StatusCode::from_u16(status).unwrap();
        let mut response = status.into_response();
        if status.is_redirection() {
            response
                .headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/elsewhere"));
        }
        response
    }
    let callstats = callstats();
    let app = Router::new()
        .route("/status/{code}", get(answer))
        .route_layer(callstats.layer());
    let mut rows = Vec::new();
    for code in [200u16, 201, 204] {
        rows.push((code, true));
    }
    // A 101 upgrades to another protocol, a 303 refuses a room by redirecting, a 304's
    // body comes from the browser's cache: none renders a page that uses a token.
    for code in [101u16, 301, 302, 303, 304, 307, 400, 403, 404, 500, 503] {
        rows.push((code, false));
    }
    for (code, token) in rows {
        let seen = send(&app, get_page(&format!("/status/{code}"))).await;
        assert_eq!(seen.status.as_u16(), code);
        assert_eq!(seen.token, token, "{code}: token");
        assert_eq!(
            seen.headers.contains_key("x-callstats-user-id"),
            token,
            "{code}: userID header"
        );
    }
}

// 3. Cross-site POSTs to the token endpoint.

#[tokio::test]
async fn cross_site_requests_get_no_token() {
    let callstats = callstats();
    let app = Router::new().route_service(
        "/getToken",
        callstats
            .endpoint()
            .allowed_origins([HeaderValue::from_static("https://partner.example")]),
    );
    let request = |headers: &[(&'static str, &'static str)], content_type: &'static str, body: &'static str| {
        let mut request = Request::post("/getToken")
            .header(header::HOST, "app.example.com")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap();
        for (name, value) in headers {
            request.headers_mut().insert(*name, HeaderValue::from_static(value));
        }
        request
    };
    let cross = Some("cross_site_request");
    check_rows(
        &app,
        vec![
            (
                "an empty text/plain POST from another site",
                request(
                    &[("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")],
                    "text/plain",
                    "",
                ),
                StatusCode::FORBIDDEN,
                cross,
                false,
            ),
            (
                "a form POST from another site",
                request(
                    &[("sec-fetch-site", "cross-site"), ("origin", "https://evil.example")],
                    "application/x-www-form-urlencoded",
                    "conferenceID=x&forceNew=true",
                ),
                StatusCode::FORBIDDEN,
                cross,
                false,
            ),
            (
                "another origin, no Sec-Fetch-Site (an older browser)",
                request(&[("origin", "https://evil.example")], "text/plain", ""),
                StatusCode::FORBIDDEN,
                cross,
                false,
            ),
            (
                "Origin: null (a sandboxed frame)",
                request(&[("origin", "null")], "application/json", "{}"),
                StatusCode::FORBIDDEN,
                cross,
                false,
            ),
            (
                "a sibling subdomain (same-site, another origin)",
                request(
                    &[("sec-fetch-site", "same-site"), ("origin", "https://evil.example.com")],
                    "application/json",
                    "{}",
                ),
                StatusCode::FORBIDDEN,
                cross,
                false,
            ),
            (
                "the app's own page",
                request(
                    &[("sec-fetch-site", "same-origin"), ("origin", "https://app.example.com")],
                    "application/json",
                    r#"{"conferenceID":"r"}"#,
                ),
                StatusCode::OK,
                None,
                true,
            ),
            (
                "a configured partner origin",
                request(&[("origin", "https://partner.example")], "application/json", "{}"),
                StatusCode::OK,
                None,
                true,
            ),
            (
                "curl (no browser headers)",
                request(&[], "application/json", "{}"),
                StatusCode::OK,
                None,
                true,
            ),
        ],
    )
    .await;
}

// 7. The cache keyed on the conference even when the token does not carry it.

#[tokio::test]
async fn a_client_looping_over_room_urls_does_not_make_the_server_sign() {
    let (issuer, signed) = counting_issuer();
    let callstats = Callstats::new(issuer).conference_id(ConferenceIdSource::route_param("room"));
    let app = Router::new()
        .route("/rooms/{room}", get(|| async { "page" }))
        .route_layer(callstats.layer());
    let mut tokens = std::collections::HashSet::new();
    for i in 0..200 {
        let seen = send(&app, get_page(&format!("/rooms/random-{i}"))).await;
        assert_eq!(seen.status, StatusCode::OK);
        tokens.insert(seen.headers["x-callstats-token"].clone());
    }
    assert_eq!(signed.load(Ordering::SeqCst), 1, "one signature for 200 rooms");
    assert_eq!(tokens.len(), 1);
}

// 8. An app's cache policy does not let a browser keep a token.

#[tokio::test]
async fn a_token_response_is_never_stored_whatever_the_app_says() {
    let callstats = callstats();
    let app = Router::new()
        .route(
            "/page",
            get(|| async { ([(header::CACHE_CONTROL, "private, max-age=600")], "page") }),
        )
        .route_layer(callstats.layer());
    let seen = send(&app, get_page("/page")).await;
    assert!(seen.token);
    let policies: Vec<_> = seen.headers.get_all(header::CACHE_CONTROL).iter().collect();
    assert_eq!(policies, ["no-store"], "exactly one policy: no-store");
}

// 9. The page and the token disagree on the URL.

#[tokio::test]
async fn the_referer_keeps_its_port_like_the_page_did() {
    let callstats = callstats().conference_id(ConferenceIdSource::url());
    let app = Router::new()
        .route("/rooms/{room}", get(|| async { "page" }))
        .route_layer(callstats.layer())
        .route_service(
            "/getToken",
            callstats
                .endpoint()
                .conference_id_from_referer(ConferenceIdSource::url()),
        );
    let page = Request::get("/rooms/x")
        .header(header::HOST, "127.0.0.1:3000")
        .body(Body::empty())
        .unwrap();
    let page = send(&app, page).await;
    let on_page = page.headers["x-callstats-conference-id"].to_str().unwrap().to_owned();
    assert_eq!(common::decode_component(&on_page), b"127.0.0.1:3000/rooms/x");

    let mut token = post_token("");
    token
        .headers_mut()
        .insert(header::HOST, HeaderValue::from_static("127.0.0.1:3000"));
    token.headers_mut().insert(
        header::REFERER,
        HeaderValue::from_static("http://127.0.0.1:3000/rooms/x"),
    );
    let token = send(&app, token).await;
    assert_eq!(
        token.body["conferenceID"], "127.0.0.1:3000/rooms/x",
        "the same as the page's"
    );
}

#[tokio::test]
async fn url_at_does_not_trust_the_host_header() {
    let callstats = callstats().conference_id(ConferenceIdSource::url_at(Authority::from_static("meet.example.com")));
    let app = Router::new()
        .route("/rooms/{room}", get(|| async { "page" }))
        .route_layer(callstats.layer());
    for host in ["meet.example.com", "evil.example", "meet.example.com:8443"] {
        let request = Request::get("/rooms/x")
            .header(header::HOST, host)
            .body(Body::empty())
            .unwrap();
        let seen = send(&app, request).await;
        let id = seen.headers["x-callstats-conference-id"].to_str().unwrap().to_owned();
        assert_eq!(
            common::decode_component(&id),
            b"meet.example.com/rooms/x",
            "Host: {host}"
        );
    }
}
