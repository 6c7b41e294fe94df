//! The token is a bearer credential and the private key a secret: neither may reach
//! the logs, at any level. The `jti` must, for audit.
//!
//! A captured `tracing` subscriber at TRACE records everything the crate (and an app
//! that logs its values with `?Debug`, and tower-http's request tracing) writes while
//! tokens are issued by the layer and the endpoint, reused, forced anew, refused, and
//! while keys rotate and a corrupt key file fails to reload.

mod common;

use std::time::Duration;

use axum::{Extension, Router, body::Body, routing::get};
use common::{Captured, pem_body_lines};
use http::Request;
use tower_callstats::{AppUser, Callstats, CallstatsContext, KeyRing, RoomSource, SigningKey, TokenIssuer};
use tower_http::trace::{DefaultMakeSpan, DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;

fn app(issuer: TokenIssuer) -> Router {
    let callstats = Callstats::new(issuer).room(RoomSource::path("/rooms/{room}", "room").unwrap());
    Router::new()
        .route(
            "/rooms/{room}",
            get(|Extension(context): Extension<CallstatsContext>| async move {
                // What an app might do: log the whole context with Debug.
                tracing::debug!(?context, "rendering the room page");
                tracing::trace!(token = ?context.token(), "the token, as Debug");
                "page"
            }),
        )
        .route_layer(callstats.layer())
        .route_service("/getToken", callstats.endpoint())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::TRACE).include_headers(true))
                .on_request(DefaultOnRequest::new().level(Level::TRACE))
                .on_response(DefaultOnResponse::new().level(Level::TRACE).include_headers(true)),
        )
        // The app's authentication stand-in; runs before everything above.
        .layer(axum::middleware::from_fn(
            |mut request: axum::extract::Request, next: axum::middleware::Next| async move {
                if request.headers().contains_key("x-test-login") {
                    request
                        .extensions_mut()
                        .insert(AppUser::new("alice").with_session_id("session-secret-123"));
                }
                next.run(request).await
            },
        ))
}

async fn send(app: &Router, request: Request<Body>) -> (http::StatusCode, http::HeaderMap, String) {
    let reply = common::oneshot(app, request).await;
    let body = reply.text();
    (reply.status, reply.headers, body)
}

/// The room page `path`, as the logged-in user.
fn page(path: &str) -> Request<Body> {
    Request::get(path)
        .header("x-test-login", "1")
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn tokens_and_private_keys_never_reach_the_logs_but_jtis_do() {
    let (captured, _guard) = Captured::install(Level::TRACE);

    let key = SigningKey::generate("key-1").unwrap();
    let secrets: Vec<String> = [key.to_pkcs8_pem(), key.to_sec1_pem()]
        .iter()
        .flat_map(|pem| pem_body_lines(pem))
        .collect();
    let ring = KeyRing::new(key);
    // confID tokens (the cache keys on the conference) and no bound on forced re-issue,
    // so that each step below signs a token of its own.
    let issuer = TokenIssuer::builder("app-1", ring.clone())
        .conf_id_claim(true)
        .force_new_interval(Duration::ZERO)
        .build()
        .unwrap();
    tracing::debug!(?ring, ?issuer, "configured");
    let app = app(issuer.clone());

    let mut tokens = Vec::new();

    // 1. The layer: a room page.
    let (status, headers, _) = send(&app, page("/rooms/room-1")).await;
    assert_eq!(status, 200);
    tokens.push(headers["x-callstats-token"].to_str().unwrap().to_owned());

    // 2. The same page again: the cached token is reused (a "reused" event).
    let (_, headers, _) = send(&app, page("/rooms/room-1")).await;
    assert_eq!(headers["x-callstats-token"].to_str().unwrap(), tokens[0]);

    // 3. The endpoint, called from the page of room-2 (its Referer), and a forced new
    // signature.
    for body in ["", r#"{"forceNew":true}"#] {
        let (status, _, body) = send(
            &app,
            Request::post("/getToken")
                .header("x-test-login", "1")
                .header("referer", "http://127.0.0.1:3000/rooms/room-2")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        tokens.push(json["token"].as_str().unwrap().to_owned());
    }

    // 4. Rejections: an invalid conferenceID, no session.
    let (status, _, _) = send(&app, page("/rooms/%0D%0A")).await;
    assert_eq!(status, 400);
    let (status, _, _) = send(&app, Request::post("/getToken").body(Body::empty()).unwrap()).await;
    assert_eq!(status, 403);

    // 5. Keys: a rotation, a page signed with the new key, a corrupt file that fails to
    // reload (its contents must not be echoed either).
    let next = SigningKey::generate("key-2").unwrap();
    let next_pem = next.to_pkcs8_pem();
    let mut secrets_next = pem_body_lines(&next_pem);
    ring.rotate(next, Duration::from_secs(600)).unwrap();
    let (_, headers, _) = send(&app, page("/rooms/room-3")).await;
    tokens.push(headers["x-callstats-token"].to_str().unwrap().to_owned());

    let dir = std::env::temp_dir().join(format!("tower-callstats-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let corrupt = dir.join("corrupt.pem");
    let third = SigningKey::generate("key-3").unwrap().to_sec1_pem();
    // A real key whose DER is cut short: the PEM armour is intact, the key is not.
    std::fs::write(&corrupt, common::truncated_pem(&third)).unwrap();
    secrets_next.extend(pem_body_lines(&third));
    let error = ring
        .reload_from_file("key-3", &corrupt, Duration::from_secs(600))
        .unwrap_err();
    tracing::error!(%error, ?error, "reload failed (as the app would log it)");
    assert_eq!(ring.active().key_id(), "key-2", "the old key stays active");
    std::fs::remove_dir_all(&dir).unwrap();

    let logs = captured.text();
    assert!(
        logs.len() > 1000,
        "the subscriber captured the run ({} bytes)",
        logs.len()
    );
    assert!(logs.contains("key reload failed"), "the failed reload is logged");
    assert!(logs.contains("signing key rotated"));
    assert!(logs.contains("rejected"), "rejections are audited");
    assert!(logs.contains("x-test-login"), "request headers are in the trace spans");

    let mut distinct = tokens.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 4, "layer, endpoint, forced, rotated: four tokens");
    for jwt in &distinct {
        let claims = common::decode_unverified(jwt);
        let jti = claims["jti"].as_str().unwrap();
        assert!(logs.contains(jti), "jti {jti} is in the audit log");
        if let Some(line) = logs.lines().find(|l| l.contains(jwt.as_str())) {
            panic!("a token reached the logs: {line}");
        }
        let signature = jwt.rsplit('.').next().unwrap();
        assert!(!logs.contains(signature), "a token signature reached the logs");
    }
    if let Some(line) = logs.lines().find(|l| l.contains("PRIVATE KEY-----")) {
        panic!("PEM armour of a private key in the logs: {line}");
    }
    for line in secrets.iter().chain(&secrets_next) {
        assert!(
            !logs.contains(line.as_str()),
            "private key material in the logs: {line}"
        );
    }
    assert!(!logs.contains("session-secret-123"), "the session ID reached the logs");
    println!(
        "logs: {} bytes captured at TRACE, {} tokens and {} key lines absent, 4 jtis present",
        logs.len(),
        distinct.len(),
        secrets.len() + secrets_next.len()
    );
}
