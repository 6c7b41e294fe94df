//! The signing-failure path, end to end: a key whose every signature fails
//! (`SigningKey::failing`, feature `test-util`) behind a real axum `Router` served on
//! 127.0.0.1. The layer and the endpoint answer `500` with the JSON code
//! `signing_failed` and no token anywhere, a `failed` audit event is recorded, and the
//! logs carry no key material.

mod common;

use std::sync::{Arc, Mutex};

use axum::{Router, routing::get};
use bytes::Bytes;
use common::{Captured, TEST_USER_HEADER, pem_body_lines};
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tower_callstats::{
    Callstats, RoomSource, SigningKey, TokenIssuer,
    audit::{Action, Audit, AuditEvent, TracingAudit},
};
use tower_http::trace::{DefaultMakeSpan, DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::Level;

/// What the audit hook saw: action, userID, keyID, reason.
type Seen = Vec<(Action, Option<String>, Option<String>, Option<String>)>;

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn send(request: Request<Full<Bytes>>) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http();
    let response = client.request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

/// No token: no token header, no `token` field, nothing JWT-like (`eyJ` is the base64
/// of `{"`, how every JWT starts).
fn assert_signing_failed(what: &str, reply: &Reply) {
    assert_eq!(
        reply.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{what}: {}",
        reply.body
    );
    let json: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(json["code"], "signing_failed", "{what}");
    assert_eq!(json["error"], "the server could not sign a callstats token", "{what}");
    assert!(json.get("token").is_none(), "{what}: {json}");
    assert!(!reply.body.contains("eyJ"), "{what}: {}", reply.body);
    for name in reply.headers.keys() {
        assert!(
            !name.as_str().starts_with("x-callstats"),
            "{what}: {name} on a failed request"
        );
    }
    assert_eq!(reply.headers["cache-control"], "no-store", "{what}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_key_that_cannot_sign_gets_500_signing_failed_and_no_token() {
    // Logs of everything, with the headers, on this thread (the server runs here too).
    let (captured, _guard) = Captured::install(Level::TRACE);

    let key = SigningKey::failing("broken-key").unwrap();
    let mut secrets = pem_body_lines(&key.to_pkcs8_pem());
    secrets.extend(pem_body_lines(&key.to_sec1_pem()));
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let sink = seen.clone();
    let audit = move |event: &AuditEvent<'_>| {
        TracingAudit.record(event);
        sink.lock().unwrap().push((
            event.action,
            event.user_id.map(str::to_owned),
            event.key_id.map(str::to_owned),
            event.reason.map(str::to_owned),
        ));
    };
    let issuer = TokenIssuer::builder("app-1", key).build().unwrap();
    let callstats = Callstats::new(issuer)
        .room(RoomSource::path("/rooms/{room}", "room").unwrap())
        .audit(audit);
    let router = Router::new()
        .route("/rooms/{room}", get(|| async { "the room page" }))
        .route_layer(callstats.layer())
        .route_service("/getToken", callstats.endpoint())
        .layer(axum::middleware::from_fn(common::identity_from_test_header))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO).include_headers(true))
                .on_request(DefaultOnRequest::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO).include_headers(true)),
        );
    let addr = common::serve(router).await;

    let page = send(
        Request::get(format!("http://{addr}/rooms/room-1"))
            .header(TEST_USER_HEADER, "alice")
            .body(Full::default())
            .unwrap(),
    )
    .await;
    assert_signing_failed("the layer", &page);
    assert_ne!(
        page.body, "the room page",
        "the handler's page is not sent without a token"
    );

    let endpoint = send(
        Request::post(format!("http://{addr}/getToken"))
            .header(TEST_USER_HEADER, "alice")
            .header("referer", format!("http://{addr}/rooms/room-1"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(r#"{"forceNew":true}"#)))
            .unwrap(),
    )
    .await;
    assert_signing_failed("the endpoint", &endpoint);

    // One `failed` audit event per request, naming the user and the key.
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    for (action, user, key_id, reason) in &seen {
        assert_eq!(*action, Action::Failed);
        assert_eq!(user.as_deref(), Some("alice"));
        assert_eq!(key_id.as_deref(), Some("broken-key"));
        assert!(reason.is_some(), "a failure says why");
    }

    let logs = captured.text();
    assert_eq!(logs.matches("callstats token signing failed").count(), 2, "{logs}");
    assert!(logs.contains("action=\"failed\""), "{logs}");
    for line in &secrets {
        assert!(!logs.contains(line.as_str()), "key material in the logs: {line}");
    }
    assert!(!logs.contains("PRIVATE KEY"), "{logs}");
    assert!(!logs.contains("eyJ"), "something JWT-like in the logs");
}
