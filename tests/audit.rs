//! The audit events of the layer, the endpoint and the key ring, as `tracing` events:
//! their target, level and fields, and never the token.

mod common;

use std::time::Duration;

use axum::{Router, body::Body, routing::get};
use common::capture_events;
use http::Request;
use tower::ServiceExt;
use tower_callstats::{AppUser, Callstats, KeyRing, RoomSource, SigningKey, TokenIssuer, clock::ManualClock};
use tracing::Level;

#[test]
fn issued_and_reused_tokens_are_audit_events_without_the_token() {
    let mut jwts = Vec::new();
    let events = capture_events(|| async {
        let issuer = TokenIssuer::builder("app", SigningKey::generate("key-1").unwrap())
            .clock(ManualClock::at_unix(1_700_000_000))
            .conf_id_claim(true)
            .build()
            .unwrap();
        // The default audit, `TracingAudit`.
        let callstats = Callstats::new(issuer).room(RoomSource::path("/rooms/{room}", "room").unwrap());
        let app = Router::new()
            .route("/rooms/{room}", get(|| async { "page" }))
            .route_layer(callstats.layer());
        // The same page twice: a signature, then the cached token.
        for _ in 0..2 {
            let mut request = Request::get("/rooms/room-1").body(Body::empty()).unwrap();
            request.extensions_mut().insert(AppUser::new("alice"));
            let response = app.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), 200);
            jwts.push(response.headers()["x-callstats-token"].to_str().unwrap().to_owned());
        }
    });
    assert_eq!(jwts[0], jwts[1], "the second page got the cached token");
    let audit: Vec<_> = events.iter().filter(|e| e.target == "tower_callstats::audit").collect();
    assert_eq!(audit.len(), 2, "{events:?}");
    let claims = common::decode_unverified(&jwts[0]);
    let jti = claims["jti"].as_str().unwrap();
    let names = ["action", "user_id", "conference_id", "key_id", "jti", "message"];
    assert_eq!(audit[0].level, Level::INFO);
    assert_eq!(
        audit[0].values(&names),
        [
            Some("issued"),
            Some("alice"),
            Some("room-1"),
            Some("key-1"),
            Some(jti),
            Some("callstats token issued")
        ]
    );
    assert_eq!(audit[1].level, Level::DEBUG);
    assert_eq!(
        audit[1].values(&["action", "conference_id", "jti"]),
        [Some("reused"), Some("room-1"), Some(jti)]
    );
    for event in &events {
        for value in event.fields.values() {
            assert!(!value.contains(&jwts[0]), "an event carries the token: {event:?}");
        }
    }
}

#[test]
fn rejections_are_warnings_with_a_reason() {
    let events = capture_events(|| async {
        let issuer = TokenIssuer::builder("app", SigningKey::generate("key-1").unwrap())
            .build()
            .unwrap();
        let callstats = Callstats::new(issuer).room(RoomSource::path("/rooms/{room}", "room").unwrap());
        // The endpoint without a session.
        let request = http::Request::post("/getToken").body(String::new()).unwrap();
        let response = callstats.endpoint().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 403);
        // The layer with a user whose userID is invalid (over 256 bytes).
        let service =
            tower::ServiceBuilder::new()
                .layer(callstats.layer())
                .service_fn(|_: http::Request<String>| async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
                });
        let mut request = http::Request::get("/rooms/r").body(String::new()).unwrap();
        request.extensions_mut().insert(AppUser::new("x".repeat(300)));
        let response = service.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 400);
        // The layer with a valid user on a page whose room is invalid.
        let mut request = http::Request::get("/rooms/a%0Db").body(String::new()).unwrap();
        request.extensions_mut().insert(AppUser::new("alice"));
        let response = service.oneshot(request).await.unwrap();
        assert_eq!(response.status(), 400);
    });
    let rejected: Vec<_> = events
        .iter()
        .filter(|e| e.target == "tower_callstats::audit" && e.fields.get("action").is_some_and(|a| a == "rejected"))
        .collect();
    assert_eq!(rejected.len(), 3, "{events:?}");
    for event in &rejected {
        assert_eq!(event.level, Level::WARN);
        assert_eq!(event.fields["message"], "callstats token request rejected");
    }
    assert_eq!(rejected[0].fields["reason"], "User not logged in");
    assert!(rejected[1].fields["reason"].contains("256"), "{:?}", rejected[1]);
    assert_eq!(rejected[1].fields.get("user_id"), None, "no valid userID to name");
    assert!(rejected[2].fields["reason"].contains("U+000D"), "{:?}", rejected[2]);
    assert_eq!(
        rejected[2].values(&["user_id"]),
        [Some("alice")],
        "the userID once known"
    );
}

#[test]
fn key_rotation_and_failed_reload_are_keys_events() {
    let events = capture_events(|| {
        let ring = KeyRing::new(SigningKey::generate("a").unwrap());
        ring.rotate(SigningKey::generate("b").unwrap(), Duration::from_secs(600))
            .unwrap();
        assert!(
            ring.reload_from_file("c", "/nonexistent/callstats-key.pem", Duration::from_secs(600))
                .is_err()
        );
        async {}
    });
    let keys: Vec<_> = events.iter().filter(|e| e.target == "tower_callstats::keys").collect();
    assert_eq!(keys.len(), 2, "{events:?}");
    assert_eq!(keys[0].level, Level::INFO);
    assert_eq!(keys[0].values(&["key_id", "grace_secs"]), [Some("b"), Some("600")]);
    assert_eq!(keys[1].level, Level::ERROR);
    assert_eq!(keys[1].fields["path"], "/nonexistent/callstats-key.pem");
    assert!(keys[1].fields.contains_key("error"));
}
