//! Hardening findings, each as rows through a real axum `Router` with the layer and the
//! token endpoint: who may bind a token to a conference (1), tokens only on successes
//! (2), cross-site requests to the endpoint, the scheme of the `Origin` included (3),
//! the cache as an amplifier (7), token responses are never cached (8), and the page
//! and the token agree on the URL (9). SECURITY.md lists them with their figures.
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
use bytes::Bytes;
use common::{AuditLog, http_client};
use http::{
    HeaderValue, Request, StatusCode, header,
    uri::{Authority, Scheme},
};
use http_body_util::Full;
use tower::ServiceExt;
use tower_callstats::{
    AppUser, AsyncAuthorize, Authorize, Callstats, ConfigError, FromExtensions, RoomSource, SigningKey, TokenIssuer,
    UserId, audit::Action,
};

/// A configuration whose signatures are counted (its `issued` audit events).
fn counting_callstats() -> (Callstats, AuditLog) {
    let log = AuditLog::default();
    let issuer = TokenIssuer::builder("app", SigningKey::generate("key-1").unwrap())
        .build()
        .unwrap();
    (Callstats::new(issuer).audit(log.hook()), log)
}

/// The room pages' source: the route's template.
fn rooms() -> RoomSource {
    RoomSource::path("/rooms/{room}", "room").unwrap()
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
fn rooms_and_endpoint<A: Authorize>(callstats: &Callstats<FromExtensions, A>) -> Router {
    Router::new()
        .route("/rooms/{room}", get(|| async { "page" }))
        .route_layer(callstats.layer())
        .route_service("/getToken", callstats.endpoint())
}

/// The app's authentication, as a test stand-in: every request is alice's.
fn as_alice(mut request: Request<Body>) -> Request<Body> {
    request.extensions_mut().insert(AppUser::new("alice"));
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

/// A token request from the page of `room` (its Referer names the room).
fn post_token_from(room: &str, body: &'static str) -> Request<Body> {
    let mut request = post_token(body);
    let referer = HeaderValue::from_str(&format!("https://meet.example.com/rooms/{room}")).unwrap();
    request.headers_mut().insert(header::REFERER, referer);
    request
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
// layer and the endpoint alike, and the room from the page that asks, not the body.

#[tokio::test]
async fn the_authorization_hook_decides_for_the_layer_and_the_endpoint() {
    let members_only = |user: &AppUser, _: &UserId, room: Option<&str>| {
        room.is_none_or(|room| room != "board-meeting" || user.username() == "ceo")
    };
    let callstats = callstats().room(rooms()).authorize(members_only);
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
                post_token_from("standup", ""),
                StatusCode::OK,
                None,
                true,
            ),
            (
                "endpoint, denied room",
                post_token_from("board-meeting", ""),
                StatusCode::FORBIDDEN,
                forbidden,
                false,
            ),
            (
                "endpoint, denied room, an allowed one named in the body",
                post_token_from("board-meeting", r#"{"conferenceID":"standup"}"#),
                StatusCode::FORBIDDEN,
                forbidden,
                false,
            ),
            // A room source is set: a request that names no page names no room, and
            // gets no token (it got one without a conferenceID before the room became
            // one setting for the layer and the endpoint).
            (
                "endpoint, no room (no Referer)",
                post_token(""),
                StatusCode::BAD_REQUEST,
                Some("conference_required"),
                false,
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn an_asynchronous_hook_is_awaited_before_anything_is_signed() {
    let (callstats, log) = counting_callstats();
    let asks = Arc::new(AtomicUsize::new(0));
    let counter = asks.clone();
    let remote_check = AsyncAuthorize::new(move |_: &AppUser, _: &UserId, room: Option<&str>| {
        counter.fetch_add(1, Ordering::SeqCst);
        let allowed = room == Some("open");
        async move {
            tokio::time::sleep(Duration::from_millis(5)).await; // a database round trip
            allowed
        }
    });
    let callstats = callstats.room(rooms()).authorize(remote_check);
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
                post_token_from("closed", ""),
                StatusCode::FORBIDDEN,
                forbidden,
                false,
            ),
        ],
    )
    .await;
    assert_eq!(log.count(Action::Issued), 0, "nothing is signed before the hook allows");
    check_rows(
        &app,
        vec![
            ("layer, allowed", get_page("/rooms/open"), StatusCode::OK, None, true),
            (
                "endpoint, allowed",
                post_token_from("open", ""),
                StatusCode::OK,
                None,
                true,
            ),
        ],
    )
    .await;
    assert_eq!(asks.load(Ordering::SeqCst), 4, "the hook is asked for every request");
    assert_eq!(log.count(Action::Issued), 1, "one token, then the cache");
}

#[tokio::test]
async fn with_a_room_source_the_body_does_not_choose_the_conference() {
    let callstats = callstats().room(rooms());
    let app = Router::new().route_service("/getToken", callstats.endpoint());
    let seen = send(
        &app,
        post_token_from("my-room", r#"{"conferenceID":"the-room-i-want"}"#),
    )
    .await;
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

// 3. Cross-site POSTs to the token endpoint. The `Origin` is compared with the
// request's own origin by scheme, host and port: the scheme is the request URI's, or
// else the one the endpoint is told its pages are served with (`TokenEndpoint::scheme`,
// https by default), so an http page's Origin is refused by an https endpoint.

#[tokio::test]
async fn cross_site_requests_get_no_token() {
    let callstats = callstats();
    let app = Router::new().route_service(
        "/getToken",
        callstats.endpoint().trusted_origin("https://partner.example").unwrap(),
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
                "the app's own host over another scheme (http: the pages are https by default)",
                request(&[("origin", "http://app.example.com")], "application/json", "{}"),
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
                "the app's own origin, no Sec-Fetch-Site (an older browser)",
                request(&[("origin", "https://app.example.com")], "application/json", "{}"),
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

/// The `Origin` check compares the scheme too: on a server of plain `http` pages
/// (`scheme(Scheme::HTTP)`), served on 127.0.0.1, its own `http` origin passes and the
/// same host and port over `https` is another origin. `tower_http::csrf` compares only
/// host and port.
#[tokio::test]
async fn the_origin_check_compares_the_scheme_on_a_real_server() {
    let callstats = callstats().user(common::test_header_user);
    let app = Router::new()
        .route_service("/getToken", callstats.endpoint().scheme(Scheme::HTTP))
        .route_service("/https/getToken", callstats.endpoint());
    let addr = common::serve(app).await;
    let client = http_client();
    let ask = |path: &str, origin: Option<String>| {
        let mut request = Request::post(format!("http://{addr}{path}")).header(common::TEST_USER_HEADER, "alice");
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        request.body(Full::<Bytes>::default()).unwrap()
    };
    let rows = [
        (
            "http server, its own http origin",
            "/getToken",
            Some(format!("http://{addr}")),
            200,
            None,
        ),
        (
            "http server, the same host and port over https",
            "/getToken",
            Some(format!("https://{addr}")),
            403,
            Some("cross_site_request"),
        ),
        ("http server, no Origin (not a browser)", "/getToken", None, 200, None),
        // The default scheme is https: an http page's Origin is another origin.
        (
            "default (https) endpoint, an http origin",
            "/https/getToken",
            Some(format!("http://{addr}")),
            403,
            Some("cross_site_request"),
        ),
        (
            "default (https) endpoint, an https origin",
            "/https/getToken",
            Some(format!("https://{addr}")),
            200,
            None,
        ),
    ];
    let mut failures = Vec::new();
    for (name, path, origin, status, code) in rows {
        let reply = common::send(&client, ask(path, origin)).await;
        let token = reply.token().is_some();
        if reply.status != status || reply.code().as_deref() != code || token != (status == 200) {
            failures.push(format!(
                "{name}: expected {status} {code:?}, got {} {:?} token={token}",
                reply.status,
                reply.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn null_and_malformed_trusted_origins_are_configuration_errors() {
    for origin in [
        "null",
        "NULL",
        "https://app.example.com/",
        "app.example.com",
        "https://App.example.com",
    ] {
        let refused = callstats().endpoint().trusted_origin(origin);
        assert!(
            matches!(
                refused,
                Err(ConfigError::InvalidValue {
                    what: "trusted origin",
                    ..
                })
            ),
            "{origin}: {refused:?}"
        );
    }
    assert!(callstats().endpoint().trusted_origin("https://partner.example").is_ok());
}

// 7. The cache keyed on the conference even when the token does not carry it.

#[tokio::test]
async fn a_client_looping_over_room_urls_does_not_make_the_server_sign() {
    let (callstats, log) = counting_callstats();
    let callstats = callstats.room(rooms());
    let app = Router::new()
        .route("/rooms/{room}", get(|| async { "page" }))
        .route_layer(callstats.layer());
    let mut tokens = std::collections::HashSet::new();
    for i in 0..200 {
        let seen = send(&app, get_page(&format!("/rooms/random-{i}"))).await;
        assert_eq!(seen.status, StatusCode::OK);
        tokens.insert(seen.headers["x-callstats-token"].clone());
    }
    assert_eq!(log.count(Action::Issued), 1, "one signature for 200 rooms");
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
    // One room source, for the page and for the page's token requests.
    let callstats = callstats().room(RoomSource::url());
    let app = Router::new()
        .route("/rooms/{room}", get(|| async { "page" }))
        .route_layer(callstats.layer())
        .route_service("/getToken", callstats.endpoint());
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
    let callstats = callstats().room(RoomSource::url_at(Authority::from_static("meet.example.com")));
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
