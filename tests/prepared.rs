//! Prepared contexts: the layer and the token endpoint hand a user the same finished
//! answer for the same room while the token cache would hand out its token, and never
//! a stale, foreign or unauthorized one.
//!
//! Every test runs on a [`ManualClock`], so nothing here depends on timing.

mod common;

use std::{
    convert::Infallible,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use http::{HeaderName, Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::Value;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use tower_callstats::{
    Callstats, CallstatsContext, ConferenceId, ConferenceIdSource, Identity, KeyRing, SigningKey, TokenIssuer, UserId,
    UserIdStrategy, audit::Action, clock::ManualClock, token::TokenIssuerBuilder,
};

const START: u64 = 1_700_000_000;
const TTL: u64 = 600;

fn builder(keys: impl Into<KeyRing>, clock: &ManualClock) -> TokenIssuerBuilder {
    TokenIssuer::builder("app", keys)
        .ttl(Duration::from_secs(TTL))
        .clock(clock.clone())
}

fn callstats(issuer: TokenIssuer) -> Callstats {
    Callstats::new(issuer).conference_id(ConferenceIdSource::header(HeaderName::from_static("x-room")))
}

/// The layer around a handler that answers the page JSON of the context it was given.
fn page(
    callstats: Callstats,
) -> impl Service<
    Request<()>,
    Response = Response<impl http_body::Body<Data = Bytes, Error = Infallible>>,
    Error = Infallible,
> + Clone {
    ServiceBuilder::new()
        .layer(callstats.layer())
        .service(service_fn(|request: Request<()>| async move {
            let context = request.extensions().get::<CallstatsContext>().cloned();
            let json = context.map_or(Value::Null, |c| c.to_client_json());
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(json.to_string()))))
        }))
}

struct Answer {
    status: StatusCode,
    token: Option<String>,
    conference_header: Option<String>,
    json: Value,
}

async fn get<S, B>(service: &S, user: &str, room: &str) -> Answer
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible> + Clone,
    B: http_body::Body<Data = Bytes>,
    B::Error: std::fmt::Debug,
{
    let mut request = Request::get("/page").header("x-room", room).body(()).unwrap();
    request.extensions_mut().insert(Identity::new(user));
    let response = service.clone().oneshot(request).await.unwrap();
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    Answer {
        status: response.status(),
        token: header("x-callstats-token"),
        conference_header: header("x-callstats-conference-id"),
        json: common::body_json(response.into_body()).await,
    }
}

#[tokio::test]
async fn the_same_user_and_room_get_the_same_answer_until_the_refresh_margin() {
    let clock = ManualClock::at_unix(START);
    let app = page(callstats(
        builder(SigningKey::generate("key-1").unwrap(), &clock).build().unwrap(),
    ));
    let first = get(&app, "alice", "room-1").await;
    assert_eq!(first.status, 200);
    let t1 = first.token.clone().unwrap();
    assert_eq!(first.json["token"], t1.as_str());
    assert_eq!(first.json["conferenceID"], "room-1");

    clock.advance(Duration::from_secs(10));
    let again = get(&app, "alice", "room-1").await;
    assert_eq!(again.token.as_deref(), Some(t1.as_str()));
    assert_eq!(again.json, first.json, "the same context, field for field");

    // Another room of the same user: the token is the user's (no confID claim), the
    // conferenceID is the room's own.
    let other = get(&app, "alice", "ルーム 2").await;
    assert_eq!(other.token.as_deref(), Some(t1.as_str()));
    assert_eq!(other.json["conferenceID"], "ルーム 2");
    assert_eq!(
        other.conference_header.as_deref(),
        Some("%E3%83%AB%E3%83%BC%E3%83%A0%202")
    );
    // Another user in the same room gets their own token.
    let bob = get(&app, "bob", "room-1").await;
    assert_ne!(bob.token.as_deref(), Some(t1.as_str()));
    assert_eq!(
        common::decode_unverified(bob.token.as_deref().unwrap())["userID"],
        "bob"
    );

    // With exactly the margin (a third of the TTL) of life left the prepared answer
    // still holds; a second later it is replaced by a newly signed token.
    let margin = TTL / 3;
    clock.advance(Duration::from_secs(TTL - margin - 10));
    assert_eq!(get(&app, "alice", "room-1").await.token.as_deref(), Some(t1.as_str()));
    clock.advance(Duration::from_secs(1));
    let renewed = get(&app, "alice", "room-1").await;
    let t2 = renewed.token.unwrap();
    assert_ne!(t2, t1);
    let claims = common::decode_unverified(&t2);
    assert_eq!(claims["iat"], START + TTL - margin + 1);
    assert_eq!(renewed.json["issuedAt"], START + TTL - margin + 1);
    assert_eq!(get(&app, "alice", "room-1").await.token.as_deref(), Some(t2.as_str()));
}

#[tokio::test]
async fn a_rotated_key_signs_the_next_answer_at_once() {
    let clock = ManualClock::at_unix(START);
    let ring = KeyRing::with_clock(SigningKey::generate("key-1").unwrap(), clock.clone());
    let app = page(callstats(builder(ring.clone(), &clock).build().unwrap()));
    let before = get(&app, "alice", "room-1").await.token.unwrap();
    assert_eq!(
        common::raw_header(&before),
        r#"{"alg":"ES256","typ":"JWT","kid":"key-1"}"#
    );

    ring.rotate(SigningKey::generate("key-2").unwrap(), Duration::from_secs(2 * TTL))
        .unwrap();
    let after = get(&app, "alice", "room-1").await;
    let token = after.token.unwrap();
    assert_eq!(
        common::raw_header(&token),
        r#"{"alg":"ES256","typ":"JWT","kid":"key-2"}"#
    );
    assert_eq!(after.json["keyID"], "key-2");
    let key = common::ring_key(&token, &ring);
    assert_eq!(
        common::try_verify(&token, &key, common::Time::Unchecked).unwrap()["keyID"],
        "key-2"
    );
}

#[tokio::test]
async fn users_who_share_a_user_id_keep_their_own_user_name() {
    let clock = ManualClock::at_unix(START);
    // Both users get the userID "shared"; the object form carries each one's name.
    let strategy = UserIdStrategy::custom(|_: &Identity| UserId::new("shared")).object_form(true);
    let app =
        page(callstats(builder(SigningKey::generate("key-1").unwrap(), &clock).build().unwrap()).user_id(strategy));
    for user in ["ann", "bob", "ann", "bob"] {
        let answer = get(&app, user, "room-1").await;
        assert_eq!(answer.json["userID"], "shared");
        assert_eq!(answer.json["localUserID"]["userName"], user);
        assert_eq!(answer.json["localUserID"]["aliasName"], "shared");
    }
}

#[tokio::test]
async fn the_authorize_hook_is_asked_on_every_request() {
    let clock = ManualClock::at_unix(START);
    let asked = Arc::new(AtomicUsize::new(0));
    let allowed = Arc::new(AtomicBool::new(true));
    let (asked_in, allowed_in) = (asked.clone(), allowed.clone());
    let app = page(
        callstats(builder(SigningKey::generate("key-1").unwrap(), &clock).build().unwrap()).authorize(
            move |_: &Identity, room: Option<&ConferenceId>| {
                assert_eq!(room.map(ConferenceId::as_str), Some("room-1"));
                asked_in.fetch_add(1, Ordering::SeqCst);
                allowed_in.load(Ordering::SeqCst)
            },
        ),
    );
    assert_eq!(get(&app, "alice", "room-1").await.status, 200);
    assert_eq!(get(&app, "alice", "room-1").await.status, 200);
    // The user is removed from the room: the prepared answer is not handed out.
    allowed.store(false, Ordering::SeqCst);
    let refused = get(&app, "alice", "room-1").await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.token, None);
    assert_eq!(refused.json["code"], "conference_forbidden");
    assert_eq!(asked.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn every_prepared_answer_is_audited_as_a_reuse() {
    let clock = ManualClock::at_unix(START);
    let actions = Arc::new(Mutex::new(Vec::new()));
    let recorded = actions.clone();
    let issuer = builder(SigningKey::generate("key-1").unwrap(), &clock)
        .audit(move |event: &tower_callstats::audit::AuditEvent<'_>| {
            let mut actions = recorded.lock().unwrap();
            actions.push((event.action, event.conference_id.map(str::to_owned)));
        })
        .build()
        .unwrap();
    let app = page(callstats(issuer));
    for room in ["room-1", "room-1", "room-2", "room-1"] {
        assert_eq!(get(&app, "alice", room).await.status, 200);
    }
    let room = |r: &str| Some(r.to_owned());
    assert_eq!(
        *actions.lock().unwrap(),
        [
            (Action::Issued, room("room-1")),
            (Action::Reused, room("room-1")),
            (Action::Reused, room("room-2")),
            (Action::Reused, room("room-1")),
        ]
    );
}

#[tokio::test]
async fn without_the_token_cache_every_request_signs() {
    let clock = ManualClock::at_unix(START);
    let app = page(callstats(
        builder(SigningKey::generate("key-1").unwrap(), &clock)
            .cache(false)
            .build()
            .unwrap(),
    ));
    let mut jtis = Vec::new();
    for _ in 0..3 {
        let token = get(&app, "alice", "room-1").await.token.unwrap();
        jtis.push(common::decode_unverified(&token)["jti"].clone());
    }
    jtis.dedup();
    assert_eq!(jtis.len(), 3, "three signatures: {jtis:?}");
}

async fn token_request<S>(endpoint: &S, user: &str, body: &'static str) -> (StatusCode, Bytes)
where
    S: Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible> + Clone,
{
    let mut request = Request::post("/getToken")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    request.extensions_mut().insert(Identity::new(user));
    let response = endpoint.clone().oneshot(request).await.unwrap();
    (response.status(), common::body_bytes(response.into_body()).await)
}

#[tokio::test]
async fn the_endpoint_answers_each_room_with_its_own_prepared_body() {
    let clock = ManualClock::at_unix(START);
    let endpoint = Callstats::new(builder(SigningKey::generate("key-1").unwrap(), &clock).build().unwrap())
        .conference_server_id(UserId::new("sfu-1").unwrap())
        .endpoint();
    let (status, first) = token_request(&endpoint, "alice", r#"{"conferenceID":"room-1"}"#).await;
    assert_eq!(status, 200);
    clock.advance(Duration::from_secs(5));
    let (_, again) = token_request(&endpoint, "alice", r#"{"conferenceID":"room-1"}"#).await;
    assert_eq!(first, again, "byte for byte the same answer");
    let json: Value = serde_json::from_slice(&again).unwrap();
    assert_eq!(json["conferenceID"], "room-1");
    assert_eq!(json["conferenceServerID"], "sfu-1");
    assert_eq!(json["userID"], "alice");
    assert_eq!(json["issuedAt"], START, "the token signed 5 s earlier");

    let (_, other) = token_request(&endpoint, "alice", r#"{"conferenceID":"room-2"}"#).await;
    let other: Value = serde_json::from_slice(&other).unwrap();
    assert_eq!(other["conferenceID"], "room-2");
    assert_eq!(other["token"], json["token"], "the user's token, in another room");

    // An invalid room is refused on every request, never served from a neighbour's entry.
    for _ in 0..2 {
        let (status, body) = token_request(&endpoint, "alice", r#"{"conferenceID":"room\u0000"}"#).await;
        assert_eq!(status, 400);
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "invalid_conference_id");
    }
}
