//! One conferenceID per call on a `RedisRegistry`, through a real axum `Router`: the
//! layer on `/rooms/{room}` and the token endpoint (the room from the page's Referer),
//! both from one `Callstats::room(RoomSource::path("/rooms/{room}", "room"))` with
//! `.calls(Calls::new(registry))`, against a real `redis-server` this test starts on
//! 127.0.0.1 (without the binary the tests print why and return, and fail under CI): the
//! asynchronous paths of the layer and the endpoint (a cold local cache), two instances
//! agreeing, a call ended on one instance, and a Redis that stops (the room with the
//! default policy, `503 call_registry_unavailable` with `FailurePolicy::Fail`).
//!
//! Expected IDs are never computed by the crates: they are compared with each other, with
//! the room, and with the `<room>-` prefix written out by hand.

mod common;

use std::{
    collections::HashSet,
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Json, Router,
    body::Body,
    http::{Request, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use common::{
    TEST_USER_HEADER, body_json, decode_component, encode_component, redis_server::RedisServer, user_from_test_header,
};
use serde_json::Value;
use tower::ServiceExt;
use tower_callstats::{
    Callstats, CallstatsContext, ConferenceId, RoomSource, SigningKey, TokenIssuer, UserId,
    calls::{ActiveCall, CallRegistry, Calls, FailurePolicy, RegistryError},
};
use tower_callstats_redis::RedisRegistry;

/// A registry that counts the joins that reach it, and how many of them had to wait for
/// I/O (its `join_now` had no answer).
#[derive(Clone)]
struct Counting<R> {
    inner: R,
    joins: Arc<AtomicUsize>,
    pending: Arc<AtomicUsize>,
}

impl<R> Counting<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            joins: Arc::default(),
            pending: Arc::default(),
        }
    }

    fn joins(&self) -> usize {
        self.joins.load(Ordering::SeqCst)
    }

    fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }
}

impl<R: CallRegistry> CallRegistry for Counting<R> {
    fn join_now(&self, room: &str, user: &UserId) -> Option<Result<ActiveCall, RegistryError>> {
        self.joins.fetch_add(1, Ordering::SeqCst);
        self.inner.join_now(room, user)
    }

    fn join(
        &self,
        room: &str,
        user: &UserId,
    ) -> Pin<Box<dyn Future<Output = Result<ActiveCall, RegistryError>> + Send + 'static>> {
        self.pending.fetch_add(1, Ordering::SeqCst);
        self.inner.join(room, user)
    }

    fn end_call(
        &self,
        room: &str,
        call: &ConferenceId,
    ) -> Pin<Box<dyn Future<Output = Result<bool, RegistryError>> + Send + 'static>> {
        self.inner.end_call(room, call)
    }
}

/// The room page: the context as JSON (what a page template gets), or 401.
async fn room_page(context: Option<CallstatsContext>) -> Response {
    match context {
        Some(context) => Json(context.to_client_json()).into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// An app whose room pages and token endpoint share `calls`.
fn app(calls: Calls) -> Router {
    let issuer = TokenIssuer::builder("per-call-app", SigningKey::generate("key-1").unwrap())
        .conf_id_claim(true)
        .build()
        .unwrap();
    let callstats = Callstats::new(issuer)
        .user(user_from_test_header)
        .room(RoomSource::path("/rooms/{room}", "room").unwrap())
        .calls(calls);
    Router::new()
        .route("/rooms/{room}", get(room_page))
        .route_layer(callstats.layer())
        .route_service("/getToken", callstats.endpoint())
}

/// One "instance": its own Redis client and local cache (default settings, cold), counted.
fn instance(server: &RedisServer) -> Counting<RedisRegistry> {
    Counting::new(common::instance(server))
}

/// What a page or the endpoint answered.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    /// `x-callstats-conference-id`, percent-decoded (pages only).
    header_id: Option<String>,
    token_header: bool,
    json: Value,
}

impl Answer {
    /// The conferenceID of a successful page: the header and the JSON agree.
    fn page_id(&self) -> String {
        assert_eq!(self.status, StatusCode::OK, "{self:?}");
        let header = self.header_id.clone().expect("x-callstats-conference-id");
        assert_eq!(self.json["conferenceID"], header.as_str(), "header and JSON agree");
        assert!(self.token_header, "the page carries a token");
        header
    }

    /// The conferenceID of a successful token response.
    fn token_id(&self) -> String {
        assert_eq!(self.status, StatusCode::OK, "{self:?}");
        assert!(self.json["token"].is_string(), "{self:?}");
        self.json["conferenceID"].as_str().expect("conferenceID").to_owned()
    }

    fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("")
    }
}

async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let header_id = response
        .headers()
        .get("x-callstats-conference-id")
        .map(|v| String::from_utf8(decode_component(v.to_str().unwrap())).unwrap());
    let token_header = response.headers().contains_key("x-callstats-token");
    let json = body_json(response.into_body()).await;
    Answer {
        status,
        header_id,
        token_header,
        json,
    }
}

/// `GET path` as `user`.
async fn page(router: &Router, path: &str, user: &str) -> Answer {
    let request = Request::get(path)
        .header(TEST_USER_HEADER, user)
        .body(Body::empty())
        .unwrap();
    send(router, request).await
}

/// `POST /getToken` as `user` from the page at `path` (the Referer), without a body.
async fn token(router: &Router, path: &str, user: &str) -> Answer {
    let request = Request::post("/getToken")
        .header(TEST_USER_HEADER, user)
        .header(header::REFERER, format!("http://127.0.0.1:3000{path}"))
        .body(Body::empty())
        .unwrap();
    send(router, request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_agree_through_redis_on_their_asynchronous_paths() {
    let Some(server) = RedisServer::start() else { return };
    let (a, b) = (instance(&server), instance(&server));
    let (app_a, app_b) = (app(Calls::new(a.clone())), app(Calls::new(b.clone())));

    // Cold caches: the page on A and the endpoint on B both wait for Redis.
    let id = page(&app_a, "/rooms/standup", "alice").await.page_id();
    assert_eq!((a.joins(), a.pending()), (1, 1), "the layer took its asynchronous path");
    assert_eq!(token(&app_b, "/rooms/standup", "bob").await.token_id(), id);
    assert_eq!(
        (b.joins(), b.pending()),
        (1, 1),
        "the endpoint took its asynchronous path"
    );
    assert!(id.starts_with("standup-"), "{id}");
    // Then the local caches answer without I/O, with the same ID.
    assert_eq!(page(&app_b, "/rooms/standup", "carol").await.page_id(), id);
    assert_eq!(token(&app_a, "/rooms/standup", "dave").await.token_id(), id);
    assert_eq!((a.joins(), b.joins()), (2, 2));
    assert_eq!((a.pending(), b.pending()), (1, 1));

    // Concurrent first joins of new rooms, alternating instances: one ID per room.
    for round in 0..4 {
        let path = format!("/rooms/race-{round}");
        let tasks: Vec<_> = (0..24)
            .map(|i| {
                let router = if i % 2 == 0 { app_a.clone() } else { app_b.clone() };
                let path = path.clone();
                tokio::spawn(async move {
                    let user = format!("user-{i}");
                    if i % 4 < 2 {
                        page(&router, &path, &user).await.page_id()
                    } else {
                        token(&router, &path, &user).await.token_id()
                    }
                })
            })
            .collect();
        let mut ids = HashSet::new();
        for task in tasks {
            ids.insert(task.await.unwrap());
        }
        assert_eq!(ids.len(), 1, "round {round}: {ids:?}");
        let id = ids.into_iter().next().unwrap();
        assert!(id.starts_with(&format!("race-{round}-")), "{id}");
    }
    assert!(a.pending() > 1 && b.pending() > 1);
    assert_eq!(a.joins() + b.joins(), 4 + 4 * 24);
}

#[tokio::test]
async fn a_call_ended_on_one_instance_is_over_on_both() {
    let Some(server) = RedisServer::start() else { return };
    let ttl = Duration::from_millis(100);
    let a = RedisRegistry::from_url(&server.url()).unwrap().local_cache_ttl(ttl);
    let b = RedisRegistry::from_url(&server.url()).unwrap().local_cache_ttl(ttl);
    let calls_a = Calls::new(a);
    let (app_a, app_b) = (app(calls_a.clone()), app(Calls::new(b)));

    let first = page(&app_a, "/rooms/standup", "alice").await.page_id();
    assert_eq!(token(&app_b, "/rooms/standup", "bob").await.token_id(), first);

    let first_id = ConferenceId::new(&first).unwrap();
    assert!(calls_a.end_call("standup", &first_id).await.unwrap());
    let second = page(&app_a, "/rooms/standup", "alice").await.page_id();
    assert_ne!(second, first);
    assert!(second.starts_with("standup-"), "{second}");
    // B's cache may hold the ended call for up to its ttl; after it, B asks Redis.
    tokio::time::sleep(ttl + Duration::from_millis(20)).await;
    assert_eq!(token(&app_b, "/rooms/standup", "bob").await.token_id(), second);
    assert_eq!(page(&app_b, "/rooms/standup", "carol").await.page_id(), second);
    // Ending the first call again (a late end) ends nothing.
    assert!(!calls_a.end_call("standup", &first_id).await.unwrap());
    assert_eq!(page(&app_a, "/rooms/standup", "alice").await.page_id(), second);
}

#[tokio::test]
async fn redis_down_falls_back_to_the_room_and_recovers() {
    let Some(mut server) = RedisServer::start() else { return };
    let registry = instance(&server);
    let router = app(Calls::new(registry.clone()));
    let before = page(&router, "/rooms/standup", "alice").await.page_id();
    assert_ne!(before, "standup");

    server.stop();
    // Rooms this instance has not cached: the join waits for Redis, which fails.
    for room in ["retro", "planning", "イン"] {
        let path = format!("/rooms/{}", encode_component(room));
        let pending_before = registry.pending();
        let answer = page(&router, &path, "alice").await;
        assert_eq!(answer.page_id(), room, "the room is the conferenceID");
        assert_eq!(registry.pending(), pending_before + 1);
        assert_eq!(token(&router, &path, "bob").await.token_id(), room);
    }

    server.restart();
    // fred reconnects by itself (back-off up to 2 s): poll, bounded in count and time.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut recovered = None;
    for _ in 0..150 {
        let id = page(&router, "/rooms/after", "alice").await.page_id();
        if id != "after" {
            recovered = Some(id);
            break;
        }
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let recovered = recovered.expect("per-call IDs again within 15 s of the restart");
    assert!(recovered.starts_with("after-"), "{recovered}");
    assert_eq!(token(&router, "/rooms/after", "bob").await.token_id(), recovered);
}

#[tokio::test]
async fn redis_down_with_the_fail_policy_is_503_without_a_token() {
    let Some(mut server) = RedisServer::start() else { return };
    let registry = instance(&server);
    let router = app(Calls::new(registry.clone()).on_failure(FailurePolicy::Fail));
    page(&router, "/rooms/standup", "alice").await.page_id();

    server.stop();
    let answer = page(&router, "/rooms/retro", "alice").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{answer:?}");
    assert_eq!(answer.code(), "call_registry_unavailable");
    assert!(!answer.token_header, "no token");
    assert!(answer.header_id.is_none());
    let answer = token(&router, "/rooms/retro", "alice").await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE, "{answer:?}");
    assert_eq!(answer.code(), "call_registry_unavailable");
    assert!(answer.json.get("token").is_none(), "no token");
}
