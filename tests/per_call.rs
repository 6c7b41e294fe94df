//! One conferenceID per call through a real axum `Router`: the layer on `/rooms/{room}`
//! and the token endpoint (the room from the page's Referer), both from one
//! `Callstats::room(RoomSource::path("/rooms/{room}", "room"))` with
//! `.calls(Calls::new(MemoryRegistry))` on a `ManualClock`.
//!
//! Participants of one room share one conferenceID, concurrent first joins agree, the
//! endpoint answers the page's ID and touches the call, `end_call` (of the call's own ID
//! only) and the idle timeout start a new call, and an invalid room is refused before it
//! reaches the registry. The same on a `RedisRegistry`, against a real `redis-server`, is
//! in the `tower-callstats-redis` crate (`redis/tests/per_call.rs`).
//!
//! Expected IDs are never computed by the crate: they are compared with each other, with
//! the room, and with the `<room>-<YYYYMMDDTHHMMZ>-` prefix written out by hand for the
//! clock's time.

mod common;

use std::{
    collections::HashSet,
    future::Future,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    body::Body,
    http::{Request, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use common::{Reply, TEST_USER_HEADER, decode_component, oneshot, test_header_user, verify};
use tower_callstats::{
    Callstats, CallstatsContext, ConferenceId, RoomSource, SigningKey, TokenIssuer, UserId,
    calls::{ActiveCall, CallRegistry, Calls, MemoryRegistry, RegistryError},
    clock::ManualClock,
};

/// 2026-11-25 09:30:00 UTC (`date -u -d @1795599000`).
const START: u64 = common::router::NOW;
/// The readable ID's prefix for a call in room `standup` that started at [`START`].
const STANDUP_AT_START: &str = "standup-20261125T0930Z-";

/// A registry that counts the joins that reach it, and how many of them had to wait for
/// I/O (its `join_now` had no answer: never, in memory).
#[derive(Clone)]
struct Counting<R> {
    inner: R,
    joins: Arc<AtomicUsize>,
    pending: Arc<AtomicUsize>,
}

impl<R: CallRegistry + Clone> Counting<R> {
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

/// An app whose room pages and token endpoint share `calls` (one `Callstats`: one room
/// source for both); `confID` is on, so that the token itself names the conferenceID it
/// was issued for.
fn app_with(calls: Calls, key: SigningKey) -> Router {
    let issuer = TokenIssuer::builder("per-call-app", key)
        .conf_id_claim(true)
        .build()
        .unwrap();
    let callstats = Callstats::new(issuer)
        .user(test_header_user)
        .room(RoomSource::path("/rooms/{room}", "room").unwrap())
        .calls(calls);
    Router::new()
        .route("/rooms/{room}", get(room_page))
        .route_layer(callstats.layer())
        .route_service("/getToken", callstats.endpoint())
}

fn app(calls: Calls) -> Router {
    app_with(calls, SigningKey::generate("key-1").unwrap())
}

/// A memory registry on a manual clock at [`START`], counted.
fn memory(idle: Duration) -> (Counting<MemoryRegistry>, ManualClock) {
    let clock = ManualClock::at_unix(START);
    let registry = MemoryRegistry::new().idle_timeout(idle).clock(clock.clone());
    (Counting::new(registry), clock)
}

/// What the tests read from the answer of a page or of the endpoint.
trait Answer {
    /// The conferenceID of a successful page: the header (percent-decoded) and the JSON
    /// agree.
    fn page_id(&self) -> String;
    /// The conferenceID of a successful token response.
    fn token_id(&self) -> String;
    fn call_started_at(&self) -> u64;
}

impl Answer for Reply {
    fn page_id(&self) -> String {
        assert_eq!(self.status, StatusCode::OK, "{self:?}");
        let header = self
            .headers
            .get("x-callstats-conference-id")
            .expect("x-callstats-conference-id");
        let header = String::from_utf8(decode_component(header.to_str().unwrap())).unwrap();
        assert_eq!(self.json()["conferenceID"], header.as_str(), "header and JSON agree");
        assert!(
            self.headers.contains_key("x-callstats-token"),
            "the page carries a token"
        );
        header
    }

    fn token_id(&self) -> String {
        assert_eq!(self.status, StatusCode::OK, "{self:?}");
        let json = self.json();
        assert!(json["token"].is_string(), "{self:?}");
        json["conferenceID"].as_str().expect("conferenceID").to_owned()
    }

    fn call_started_at(&self) -> u64 {
        self.json()["callStartedAt"].as_u64().expect("callStartedAt")
    }
}

/// `GET path` as `user`.
async fn page(router: &Router, path: &str, user: &str) -> Reply {
    let request = Request::get(path)
        .header(TEST_USER_HEADER, user)
        .body(Body::empty())
        .unwrap();
    oneshot(router, request).await
}

/// `POST /getToken` as `user` from the page at `path` (the Referer), without a body.
async fn token(router: &Router, path: &str, user: &str) -> Reply {
    let request = Request::post("/getToken")
        .header(TEST_USER_HEADER, user)
        .header(header::REFERER, format!("http://127.0.0.1:3000{path}"))
        .body(Body::empty())
        .unwrap();
    oneshot(router, request).await
}

#[tokio::test]
async fn two_users_joining_one_new_room_share_one_conference_id() {
    let (registry, _clock) = memory(Duration::from_secs(600));
    let router = app(Calls::new(registry.clone()));

    let alice = page(&router, "/rooms/standup", "alice").await;
    let bob = page(&router, "/rooms/standup", "bob").await;
    let id = alice.page_id();
    assert_eq!(bob.page_id(), id, "one call, one conferenceID");
    assert!(id.starts_with(STANDUP_AT_START), "{id}");
    assert_eq!(alice.json()["userID"], "alice");
    assert_eq!(bob.json()["userID"], "bob");
    for answer in [&alice, &bob] {
        assert_eq!(answer.call_started_at(), START);
    }

    // Another room is another call; a non-ASCII room keeps its characters, and its header
    // is percent-encoded.
    let retro = page(&router, "/rooms/retro", "alice").await.page_id();
    assert_ne!(retro, id);
    let lao = page(&router, "/rooms/%E0%BA%AD%E0%BA%B4", "alice").await;
    let lao_id = lao.page_id();
    assert!(lao_id.starts_with("ອິ-20261125T0930Z-"), "{lao_id}");
    assert_eq!(
        page(&router, "/rooms/%E0%BA%AD%E0%BA%B4", "bob").await.page_id(),
        lao_id
    );
    assert_eq!(registry.joins(), 5);
    assert_eq!(registry.pending(), 0, "in memory, every join is answered at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_joins_of_one_new_room_get_exactly_one_id() {
    let (registry, _clock) = memory(Duration::from_secs(600));
    let router = app(Calls::new(registry.clone()));
    let participants = 48;
    for round in 0..5 {
        let path = format!("/rooms/race-{round}");
        let tasks: Vec<_> = (0..participants)
            .map(|i| {
                let (router, path) = (router.clone(), path.clone());
                tokio::spawn(async move {
                    let user = format!("user-{i}");
                    // Half load the page, half ask the endpoint first.
                    if i % 2 == 0 {
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
        assert!(id.starts_with(&format!("race-{round}-20261125T0930Z-")), "{id}");
    }
    assert_eq!(registry.joins(), 5 * participants);
}

#[tokio::test]
async fn the_endpoint_answers_the_pages_id_and_touches_the_call() {
    let (registry, clock) = memory(Duration::from_secs(600));
    let key = SigningKey::generate("key-1").unwrap();
    let public = key.public_key_pem();
    let router = app_with(Calls::new(registry.clone()), key);

    let id = page(&router, "/rooms/standup", "alice").await.page_id();
    assert_eq!(registry.joins(), 1);

    // 500 s later (within the 600 s idle timeout) only the endpoint is asked.
    clock.advance(Duration::from_secs(500));
    let answer = token(&router, "/rooms/standup", "bob").await;
    assert_eq!(answer.token_id(), id);
    assert_eq!(answer.call_started_at(), START);
    assert_eq!(answer.json()["userID"], "bob");
    assert_eq!(registry.joins(), 2, "the endpoint joined the call");
    // The token is for that call: jsonwebtoken reads the same ID in its confID claim.
    let (_, claims) = verify(answer.json()["token"].as_str().unwrap(), &public);
    assert_eq!(claims["confID"], id.as_str());
    assert_eq!(claims["userID"], "bob");

    // 1000 s after the page, 500 s after the endpoint's touch: still the same call.
    clock.advance(Duration::from_secs(500));
    assert_eq!(page(&router, "/rooms/standup", "alice").await.page_id(), id);

    // A body's conferenceID is not read (only with `room_from_body(true)`): the Referer
    // decides.
    let request = Request::post("/getToken")
        .header(TEST_USER_HEADER, "mallory")
        .header(header::REFERER, "http://127.0.0.1:3000/rooms/standup")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(r#"{"conferenceID":"elsewhere"}"#))
        .unwrap();
    assert_eq!(oneshot(&router, request).await.token_id(), id);
}

#[tokio::test]
async fn end_call_gives_the_next_join_a_new_id() {
    let (registry, clock) = memory(Duration::from_secs(600));
    let calls = Calls::new(registry.clone());
    let router = app(calls.clone());

    let first = page(&router, "/rooms/standup", "alice").await.page_id();
    assert_eq!(token(&router, "/rooms/standup", "bob").await.token_id(), first);

    // Ending another call of the room (a stale or made-up ID) ends nothing.
    for other in ["standup", &format!("{first}-0"), &first[..first.len() - 1]] {
        assert!(
            !calls
                .end_call("standup", &ConferenceId::new(other).unwrap())
                .await
                .unwrap()
        );
    }
    assert_eq!(page(&router, "/rooms/standup", "alice").await.page_id(), first);
    // Ending the call by its own ID ends it.
    let first_id = ConferenceId::new(first.as_str()).unwrap();
    assert!(calls.end_call("standup", &first_id).await.unwrap());
    clock.advance(Duration::from_secs(60));
    let next = page(&router, "/rooms/standup", "bob").await;
    let second = next.page_id();
    assert_ne!(second, first, "the ended call's ID is not handed out again");
    assert!(second.starts_with("standup-20261125T0931Z-"), "{second}");
    assert_eq!(next.call_started_at(), START + 60);
    // Everyone joins the new call, through the page and the endpoint.
    assert_eq!(page(&router, "/rooms/standup", "alice").await.page_id(), second);
    assert_eq!(token(&router, "/rooms/standup", "alice").await.token_id(), second);
    // A late or repeated end of the first call does not end the second.
    assert!(!calls.end_call("standup", &first_id).await.unwrap());
    assert_eq!(page(&router, "/rooms/standup", "bob").await.page_id(), second);
}

#[tokio::test]
async fn an_idle_call_ends_after_the_timeout_and_a_touched_one_does_not() {
    let (registry, clock) = memory(Duration::from_secs(600));
    let router = app(Calls::new(registry));

    let first = page(&router, "/rooms/standup", "alice").await.page_id();
    // Touched every 599 s, for well over the timeout: the same call.
    for step in 1..=4 {
        clock.advance(Duration::from_secs(599));
        let again = if step % 2 == 0 {
            page(&router, "/rooms/standup", "bob").await.page_id()
        } else {
            token(&router, "/rooms/standup", "bob").await.token_id()
        };
        assert_eq!(again, first, "touched within the timeout (step {step})");
    }
    // 600 s without a join: the call ended; the next join starts a new one, now.
    clock.advance(Duration::from_secs(600));
    let later = page(&router, "/rooms/standup", "alice").await;
    assert_ne!(later.page_id(), first);
    // START + 4 × 599 + 600 = START + 2996 s: 2026-11-25 10:19:56 UTC.
    assert_eq!(later.call_started_at(), START + 2996);
    assert!(
        later.page_id().starts_with("standup-20261125T1019Z-"),
        "{}",
        later.page_id()
    );
}

#[tokio::test]
async fn invalid_room_keys_are_refused_before_the_registry() {
    let (registry, _clock) = memory(Duration::from_secs(600));
    let router = app(Calls::new(registry.clone()));
    let over_long = "a".repeat(257);
    let over_long_multibyte = "%E3%82%A4".repeat(86); // 258 bytes of イ
    let invalid = [
        "%00",                        // NUL
        "room%0Aline",                // LF
        "room%0D",                    // CR
        "tab%09",                     // TAB
        "del%7F",                     // DEL
        "c1%C2%85",                   // U+0085, a C1 control
        "room%E2%80%AE1-nimda",       // U+202E RIGHT-TO-LEFT OVERRIDE
        over_long.as_str(),           // 257 bytes
        over_long_multibyte.as_str(), // 258 bytes
        "bad%ZZescape",               // not hex
        "trailing%",                  // an escape cut short
        "half%E",                     // an escape cut short
        "not-utf8%FF",                // not UTF-8
        "cut%E3%82",                  // a UTF-8 sequence cut short
    ];
    for room in invalid {
        let path = format!("/rooms/{room}");
        let answer = page(&router, &path, "alice").await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{room}: {answer:?}");
        assert_eq!(
            answer.code().as_deref(),
            Some("invalid_conference_id"),
            "{room}: {answer:?}"
        );
        assert!(!answer.headers.contains_key("x-callstats-token"), "{room}: no token");
        let answer = token(&router, &path, "alice").await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{room}: {answer:?}");
        assert_eq!(
            answer.code().as_deref(),
            Some("invalid_conference_id"),
            "{room}: {answer:?}"
        );
        assert!(answer.json().get("token").is_none(), "{room}: no token");
    }
    assert_eq!(registry.joins(), 0, "no invalid room key reached the registry");

    // The boundary: 256 bytes is a valid room key, and its call's ID still fits.
    let longest = "b".repeat(256);
    let id = page(&router, &format!("/rooms/{longest}"), "alice").await.page_id();
    assert!(id.len() <= 256, "{}", id.len());
    assert_eq!(registry.joins(), 1);
}
