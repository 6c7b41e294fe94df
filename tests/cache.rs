//! The token cache, through the layer and the token endpoint of one `Callstats` (a real
//! axum `Router`, called with `oneshot`): when an answer is handed out again, when a new
//! token is signed, and that a cached answer is never stale, foreign or unauthorized.
//!
//! There is one cache per `Callstats`, shared by its layer and its endpoint:
//! one entry per userID (and conferenceID, with the `confID` claim) and signing key,
//! holding the token and the finished answers of the user's last rooms.
//! `TokenIssuer::issue` itself never caches: every call signs.
//!
//! Signatures are counted by the `issued` events of an audit hook on
//! `Callstats::audit`. Every test runs on a `ManualClock`, so nothing here depends on
//! timing.

mod common;

use std::{
    collections::HashSet,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{Router, body::Body, routing::get};
use common::{AuditLog, Reply, Time, encode_component, oneshot};
use http::{Request, header};
use serde_json::Value;
use tower_callstats::{
    AppUser, Authorize, Callstats, CallstatsContext, GetUser, KeyRing, RoomSource, SigningKey, TokenIssuer,
    TokenIssuerBuilder, UserId, UserIdStrategy, audit::Action, clock::ManualClock,
};

const START: u64 = 1_700_000_000;
const TTL: u64 = 600;
/// The default refresh margin: a third of the TTL.
const MARGIN: u64 = TTL / 3;

fn builder(keys: impl Into<KeyRing>, clock: &ManualClock) -> TokenIssuerBuilder {
    TokenIssuer::builder("app", keys)
        .ttl(Duration::from_secs(TTL))
        .clock(clock.clone())
}

/// Room pages on `/rooms/{room}` and the token endpoint, made from one configuration
/// (with `/rooms/{room}` as its room source and `log` as its audit hook).
fn app_with<U: GetUser, A: Authorize>(callstats: Callstats<U, A>, log: &AuditLog) -> Router {
    let callstats = callstats
        .room(RoomSource::path("/rooms/{room}", "room").unwrap())
        .audit(log.hook());
    Router::new()
        .route(
            "/rooms/{room}",
            get(|context: Option<CallstatsContext>| async move {
                axum::Json(context.map_or(Value::Null, |c| c.to_client_json()))
            }),
        )
        .route_layer(callstats.layer())
        .route_service("/getToken", callstats.endpoint())
}

/// [`app_with`] for an issuer, every other setting a default.
fn app_of(issuer: TokenIssuer) -> (Router, AuditLog) {
    let log = AuditLog::default();
    (app_with(Callstats::new(issuer), &log), log)
}

/// The room page of `room`, as `user` (an `AppUser` in the request's extensions, where
/// the app's login would put it).
async fn page(app: &Router, user: &str, room: &str) -> Reply {
    let request = Request::get(format!("/rooms/{}", encode_component(room)))
        .extension(AppUser::new(user))
        .body(Body::empty())
        .unwrap();
    oneshot(app, request).await
}

/// A token request of `user` from the page of `room` (its Referer), with a JSON `body`.
async fn token(app: &Router, user: &str, room: &str, body: &'static str) -> Reply {
    let request = Request::post("/getToken")
        .header(
            header::REFERER,
            format!("http://127.0.0.1/rooms/{}", encode_component(room)),
        )
        .header(header::CONTENT_TYPE, "application/json")
        .extension(AppUser::new(user))
        .body(Body::from(body))
        .unwrap();
    oneshot(app, request).await
}

fn claims(jwt: &str) -> common::Claims {
    common::decode_unverified(jwt)
}

#[tokio::test]
async fn the_same_answer_until_the_refresh_margin_then_a_new_token() {
    let clock = ManualClock::at_unix(START);
    let (app, log) = app_of(builder(SigningKey::generate("key-1").unwrap(), &clock).build().unwrap());
    let first = page(&app, "alice", "room-1").await;
    assert_eq!(first.status, 200);
    let t1 = first.token().unwrap();
    assert_eq!(first.json()["token"], t1.as_str());
    assert_eq!(first.json()["conferenceID"], "room-1");

    clock.advance(Duration::from_secs(10));
    let again = page(&app, "alice", "room-1").await;
    assert_eq!(again.token().as_deref(), Some(t1.as_str()));
    assert_eq!(again.json(), first.json(), "the same answer, field for field");
    assert_eq!(claims(&t1)["iat"], START, "the cached token keeps its own iat");
    // The endpoint shares the layer's cache.
    let from_endpoint = token(&app, "alice", "room-1", "").await;
    assert_eq!(from_endpoint.token().as_deref(), Some(t1.as_str()));
    assert_eq!(log.count(Action::Issued), 1);

    // With exactly the margin of life left the answer still holds; a second later it is
    // replaced by a newly signed token.
    clock.set_unix(START + TTL - MARGIN);
    assert_eq!(
        page(&app, "alice", "room-1").await.token().as_deref(),
        Some(t1.as_str())
    );
    clock.set_unix(START + TTL - MARGIN + 1);
    let renewed = page(&app, "alice", "room-1").await;
    let t2 = renewed.token().unwrap();
    assert_ne!(t2, t1);
    assert_eq!(claims(&t2)["iat"], START + TTL - MARGIN + 1);
    assert_eq!(claims(&t2)["exp"], START + TTL - MARGIN + 1 + TTL);
    assert_eq!(renewed.json()["issuedAt"], START + TTL - MARGIN + 1);
    assert_eq!(
        page(&app, "alice", "room-1").await.token().as_deref(),
        Some(t2.as_str())
    );
    assert_eq!(
        token(&app, "alice", "room-1", "").await.token().as_deref(),
        Some(t2.as_str())
    );
    assert_eq!(log.count(Action::Issued), 2);
}

#[tokio::test]
async fn a_configured_margin_is_honoured() {
    let clock = ManualClock::at_unix(START);
    let (app, _) = app_of(
        builder(SigningKey::generate("k").unwrap(), &clock)
            .cache_refresh_margin(Duration::from_secs(500))
            .build()
            .unwrap(),
    );
    let first = page(&app, "alice", "r").await.token().unwrap();
    clock.advance(Duration::from_secs(100)); // 500 s left: still reused
    assert_eq!(page(&app, "alice", "r").await.token().unwrap(), first);
    clock.advance(Duration::from_secs(1)); // 499 s left
    assert_ne!(page(&app, "alice", "r").await.token().unwrap(), first);
}

#[tokio::test]
async fn a_token_from_the_future_is_not_reused_after_the_clock_steps_back() {
    let clock = ManualClock::at_unix(START);
    let (app, _) = app_of(builder(SigningKey::generate("k").unwrap(), &clock).build().unwrap());
    let first = page(&app, "alice", "r").await.token().unwrap();
    clock.set_unix(START - 60);
    let second = page(&app, "alice", "r").await.token().unwrap();
    assert_ne!(first, second);
    assert_eq!(claims(&second)["iat"], START - 60);
}

#[tokio::test]
async fn no_answer_is_handed_out_with_less_than_the_margin_left() {
    let clock = ManualClock::at_unix(START);
    let (app, log) = app_of(builder(SigningKey::generate("k").unwrap(), &clock).build().unwrap());
    let mut distinct = HashSet::new();
    // Three TTLs, second by second, from the page and the endpoint in turn, with an
    // occasional forced token in between.
    for t in 0..3 * TTL {
        clock.set_unix(START + t);
        let now = START + t;
        let answer = match t % 3 {
            _ if t % 451 == 450 => token(&app, "alice", "r1", r#"{"forceNew":true}"#).await,
            0 => token(&app, "alice", "r1", "").await,
            _ => page(&app, "alice", "r1").await,
        };
        let c = claims(&answer.token().unwrap());
        let (exp, iat, nbf) = (
            c["exp"].as_u64().unwrap(),
            c["iat"].as_u64().unwrap(),
            c["nbf"].as_u64().unwrap(),
        );
        assert!(exp - now >= MARGIN, "at {t}: {} s left, margin {MARGIN}", exp - now);
        assert!(iat <= now && nbf <= now, "at {t}: iat {iat} nbf {nbf}");
        distinct.insert(c["jti"].as_str().unwrap().to_owned());
    }
    // Reused while it has the margin left: a new token every TTL - margin seconds, plus
    // the forced ones. Far fewer than one per request, more than one.
    let expected_max = (3 * TTL / (TTL - MARGIN) + 1 + 3) as usize;
    assert!(
        distinct.len() > 3 && distinct.len() <= expected_max,
        "{}",
        distinct.len()
    );
    assert_eq!(
        log.count(Action::Issued),
        distinct.len(),
        "one issued event per signature"
    );
}

#[tokio::test]
async fn another_room_reuses_the_users_token_without_a_signature() {
    let clock = ManualClock::at_unix(START);
    let (app, log) = app_of(builder(SigningKey::generate("key-1").unwrap(), &clock).build().unwrap());
    let first = page(&app, "alice", "room-1").await;
    let t1 = first.token().unwrap();
    // Another room of the same user: the token is the user's (no confID claim), the
    // conferenceID is the room's own.
    let other = page(&app, "alice", "ルーム 2").await;
    assert_eq!(other.token().as_deref(), Some(t1.as_str()));
    assert_eq!(other.json()["conferenceID"], "ルーム 2");
    // encodeURIComponent("ルーム 2")
    assert_eq!(
        other.headers["x-callstats-conference-id"],
        "%E3%83%AB%E3%83%BC%E3%83%A0%202"
    );
    let from_endpoint = token(&app, "alice", "room-3", "").await;
    assert_eq!(from_endpoint.token().as_deref(), Some(t1.as_str()));
    assert_eq!(from_endpoint.json()["conferenceID"], "room-3");
    assert!(!claims(&t1).contains_key("confID"));
    assert_eq!(log.count(Action::Issued), 1, "one signature for three rooms");

    // With the confID claim the token names the room: each room is a token of its own.
    let (app, log) = app_of(
        builder(SigningKey::generate("key-1").unwrap(), &clock)
            .conf_id_claim(true)
            .build()
            .unwrap(),
    );
    let r1 = page(&app, "alice", "room-1").await.token().unwrap();
    let r2 = page(&app, "alice", "room-2").await.token().unwrap();
    let r2_endpoint = token(&app, "alice", "room-2", "").await.token().unwrap();
    assert_ne!(r1, r2);
    assert_eq!(claims(&r1)["confID"], "room-1");
    assert_eq!(claims(&r2)["confID"], "room-2");
    assert_eq!(r2_endpoint, r2);
    assert_eq!(page(&app, "alice", "room-1").await.token().unwrap(), r1);
    assert_eq!(log.count(Action::Issued), 2);
}

#[tokio::test]
async fn another_user_gets_another_token() {
    let clock = ManualClock::at_unix(START);
    let (app, log) = app_of(builder(SigningKey::generate("key-1").unwrap(), &clock).build().unwrap());
    // Case-sensitive, byte-exact userIDs are different entries.
    let users = ["alice", "bob", "Alice", "アリス"];
    let mut tokens = Vec::new();
    for user in users {
        let answer = page(&app, user, "room-1").await;
        let jwt = answer.token().unwrap();
        assert_eq!(claims(&jwt)["userID"], user);
        assert_eq!(answer.json()["userID"], user);
        tokens.push(jwt);
    }
    assert_eq!(tokens.iter().collect::<HashSet<_>>().len(), users.len());
    // Each user's token stays theirs.
    for (user, jwt) in users.iter().zip(&tokens) {
        assert_eq!(token(&app, user, "room-1", "").await.token().as_ref(), Some(jwt));
    }
    assert_eq!(log.count(Action::Issued), users.len());
}

#[tokio::test]
async fn a_rotated_key_signs_the_next_answer_at_once() {
    let clock = ManualClock::at_unix(START);
    let old_key = SigningKey::generate("key-1").unwrap();
    let old_public = old_key.public_key_pem();
    let ring = KeyRing::with_clock(old_key, clock.clone());
    let (app, log) = app_of(builder(ring.clone(), &clock).build().unwrap());
    let verifies_with =
        |jwt: &str, public: &str| common::try_verify(jwt, &common::pem_key(public), Time::Unchecked).is_ok();

    let before = page(&app, "alice", "room-1").await.token().unwrap();
    assert_eq!(
        common::raw_header(&before),
        r#"{"alg":"ES256","typ":"JWT","kid":"key-1"}"#
    );
    assert!(verifies_with(&before, &old_public));

    let new_key = SigningKey::generate("key-2").unwrap();
    let new_public = new_key.public_key_pem();
    ring.rotate(new_key, Duration::from_secs(2 * TTL)).unwrap();
    // No time passes: the cached token of the old key still has all its life, and is
    // not handed out.
    let after = page(&app, "alice", "room-1").await;
    let token_after = after.token().unwrap();
    assert_eq!(
        common::raw_header(&token_after),
        r#"{"alg":"ES256","typ":"JWT","kid":"key-2"}"#
    );
    assert_eq!(after.json()["keyID"], "key-2");
    assert!(verifies_with(&token_after, &new_public));
    assert!(!verifies_with(&token_after, &old_public));
    let key = common::ring_key(&token_after, &ring);
    assert_eq!(
        common::try_verify(&token_after, &key, Time::Unchecked).unwrap()["keyID"],
        "key-2"
    );
    assert_eq!(token(&app, "alice", "room-1", "").await.token().unwrap(), token_after);

    // A new key forced in under the same keyID (an emergency replacement) is a new key
    // too.
    let replacement = SigningKey::generate("key-2").unwrap();
    let replacement_public = replacement.public_key_pem();
    ring.rotate_unchecked(replacement, Duration::from_secs(2 * TTL));
    let after_replacement = token(&app, "alice", "room-1", "").await.token().unwrap();
    assert_ne!(after_replacement, token_after);
    assert!(verifies_with(&after_replacement, &replacement_public));
    assert!(!verifies_with(&after_replacement, &new_public));
    assert_eq!(log.count(Action::Issued), 3);
}

#[tokio::test]
async fn users_who_share_a_user_id_keep_their_own_user_name() {
    let clock = ManualClock::at_unix(START);
    // Both users get the userID "shared"; the object form carries each one's name.
    let strategy = UserIdStrategy::custom(|_: &AppUser| UserId::new("shared")).object_form(true);
    let issuer = builder(SigningKey::generate("key-1").unwrap(), &clock).build().unwrap();
    let log = AuditLog::default();
    let app = app_with(Callstats::new(issuer).user_id(strategy), &log);
    for user in ["ann", "bob", "ann", "bob"] {
        for answer in [page(&app, user, "room-1").await, token(&app, user, "room-1", "").await] {
            assert_eq!(answer.status, 200);
            assert_eq!(answer.json()["userID"], "shared");
            assert_eq!(answer.json()["localUserID"]["userName"], user);
            assert_eq!(answer.json()["localUserID"]["aliasName"], "shared");
        }
    }
    // One userID: one token, shared by the two.
    assert_eq!(log.count(Action::Issued), 1);
}

#[tokio::test]
async fn the_authorize_hook_is_asked_on_every_request_even_with_an_answer_cached() {
    let clock = ManualClock::at_unix(START);
    let asked = Arc::new(Mutex::new(Vec::new()));
    let allowed = Arc::new(AtomicBool::new(true));
    let (asked_in, allowed_in) = (asked.clone(), allowed.clone());
    let hook = move |user: &AppUser, _: &UserId, room: Option<&str>| {
        asked_in
            .lock()
            .unwrap()
            .push((user.username().to_owned(), room.map(str::to_owned)));
        allowed_in.load(Ordering::SeqCst)
    };
    let issuer = builder(SigningKey::generate("key-1").unwrap(), &clock).build().unwrap();
    let log = AuditLog::default();
    let app = app_with(Callstats::new(issuer).authorize(hook), &log);
    assert_eq!(page(&app, "alice", "room-1").await.status, 200);
    assert_eq!(page(&app, "alice", "room-1").await.status, 200);
    assert_eq!(token(&app, "alice", "room-1", "").await.status, 200);
    // The user is removed from the room: the cached answer is not handed out.
    allowed.store(false, Ordering::SeqCst);
    for refused in [
        page(&app, "alice", "room-1").await,
        token(&app, "alice", "room-1", "").await,
    ] {
        assert_eq!(refused.status, 403);
        assert_eq!(refused.token(), None);
        assert_eq!(refused.json()["code"], "conference_forbidden");
        assert!(
            !String::from_utf8_lossy(&refused.body).contains("eyJ"),
            "no token in the body"
        );
    }
    let room = || ("alice".to_owned(), Some("room-1".to_owned()));
    assert_eq!(*asked.lock().unwrap(), vec![room(); 5], "asked once per request");
    assert_eq!(
        log.actions(),
        [
            Action::Issued,
            Action::Reused,
            Action::Reused,
            Action::Rejected,
            Action::Rejected
        ]
    );
}

#[tokio::test]
async fn the_audit_records_the_signature_then_each_reuse() {
    let clock = ManualClock::at_unix(START);
    let (app, log) = app_of(builder(SigningKey::generate("key-1").unwrap(), &clock).build().unwrap());
    for room in ["room-1", "room-1", "room-2", "room-1"] {
        assert_eq!(page(&app, "alice", room).await.status, 200);
    }
    assert_eq!(token(&app, "alice", "room-2", "").await.status, 200);
    let events = log.events();
    let seen: Vec<_> = events
        .iter()
        .map(|e| (e.action, e.user_id.as_deref(), e.conference_id.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            (Action::Issued, Some("alice"), Some("room-1")),
            (Action::Reused, Some("alice"), Some("room-1")),
            (Action::Reused, Some("alice"), Some("room-2")),
            (Action::Reused, Some("alice"), Some("room-1")),
            (Action::Reused, Some("alice"), Some("room-2")),
        ]
    );
    // Every event names the one token by its jti.
    let jtis: HashSet<_> = events.iter().map(|e| e.jti.clone().unwrap()).collect();
    assert_eq!(jtis.len(), 1, "{jtis:?}");
}

#[tokio::test]
async fn without_the_cache_every_request_signs() {
    let clock = ManualClock::at_unix(START);
    let (app, log) = app_of(
        builder(SigningKey::generate("key-1").unwrap(), &clock)
            .cache(false)
            .build()
            .unwrap(),
    );
    let mut jtis = HashSet::new();
    for _ in 0..3 {
        for answer in [
            page(&app, "alice", "room-1").await,
            token(&app, "alice", "room-1", "").await,
        ] {
            jtis.insert(claims(&answer.token().unwrap())["jti"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(jtis.len(), 6, "six signatures: {jtis:?}");
    assert_eq!(log.count(Action::Issued), 6);
    assert_eq!(log.count(Action::Reused), 0);
}

#[tokio::test]
async fn the_endpoint_answers_the_same_user_and_room_with_the_same_bytes() {
    let clock = ManualClock::at_unix(START);
    let issuer = builder(SigningKey::generate("key-1").unwrap(), &clock).build().unwrap();
    let log = AuditLog::default();
    let app = app_with(
        Callstats::new(issuer).conference_server_id(UserId::new("sfu-1").unwrap()),
        &log,
    );
    let first = token(&app, "alice", "room-1", "").await;
    assert_eq!(first.status, 200);
    clock.advance(Duration::from_secs(5));
    let again = token(&app, "alice", "room-1", "").await;
    assert_eq!(first.body, again.body, "byte for byte the same answer");
    assert_eq!(again.json()["conferenceID"], "room-1");
    assert_eq!(again.json()["conferenceServerID"], "sfu-1");
    assert_eq!(again.json()["userID"], "alice");
    assert_eq!(again.json()["issuedAt"], START, "the token signed 5 s earlier");

    let other = token(&app, "alice", "room-2", "").await;
    assert_eq!(other.json()["conferenceID"], "room-2");
    assert_eq!(
        other.json()["token"],
        again.json()["token"],
        "the user's token, in another room"
    );

    // An invalid room is refused on every request, never served from a neighbour's entry.
    for _ in 0..2 {
        let refused = token(&app, "alice", "room\u{0}", "").await;
        assert_eq!(refused.status, 400);
        assert_eq!(refused.json()["code"], "invalid_conference_id");
        assert_eq!(refused.token(), None);
    }
}

#[tokio::test]
async fn force_new_is_bounded_by_the_force_new_interval() {
    let clock = ManualClock::at_unix(START);
    // The default interval, 10 s.
    let (app, log) = app_of(builder(SigningKey::generate("key-1").unwrap(), &clock).build().unwrap());
    let first = token(&app, "alice", "r1", "").await.token().unwrap();
    let again = token(&app, "alice", "r1", r#"{"forceNew": false}"#)
        .await
        .token()
        .unwrap();
    assert_eq!(first, again);
    // Within the bound forceNew gets the token just signed...
    let bounded = token(&app, "alice", "r1", r#"{"forceNew": true}"#)
        .await
        .token()
        .unwrap();
    assert_eq!(first, bounded);
    // ...and a new one once it is over; the new token is the one cached from then on.
    clock.advance(Duration::from_secs(10));
    let forced = token(&app, "alice", "r1", r#"{"forceNew": true}"#)
        .await
        .token()
        .unwrap();
    assert_ne!(first, forced);
    assert_eq!(claims(&forced)["iat"], START + 10);
    assert_eq!(token(&app, "alice", "r1", "").await.token().unwrap(), forced);
    assert_eq!(page(&app, "alice", "r1").await.token().unwrap(), forced);
    assert_eq!(
        log.actions(),
        [
            Action::Issued,
            Action::Reused,
            Action::ForceNewLimited,
            Action::Issued,
            Action::Reused,
            Action::Reused
        ]
    );

    // A loop of forced re-issues within 30 s of a signature: the same token each time.
    let (app, log) = app_of(
        builder(SigningKey::generate("key-1").unwrap(), &clock)
            .force_new_interval(Duration::from_secs(30))
            .build()
            .unwrap(),
    );
    clock.set_unix(START);
    let first = token(&app, "alice", "r1", r#"{"forceNew":true}"#)
        .await
        .token()
        .unwrap();
    for second in 0..30 {
        clock.set_unix(START + second);
        let again = token(&app, "alice", "r1", r#"{"forceNew":true}"#)
            .await
            .token()
            .unwrap();
        assert_eq!(again, first, "at +{second} s");
    }
    // At 30 s the bound is over: a new signature, which starts a new interval.
    clock.set_unix(START + 30);
    let second = token(&app, "alice", "r1", r#"{"forceNew":true}"#)
        .await
        .token()
        .unwrap();
    assert_ne!(second, first);
    assert_eq!(claims(&second)["iat"], START + 30);
    clock.set_unix(START + 59);
    assert_eq!(
        token(&app, "alice", "r1", r#"{"forceNew":true}"#)
            .await
            .token()
            .unwrap(),
        second
    );
    assert_eq!(log.count(Action::Issued), 2);
    assert_eq!(log.count(Action::ForceNewLimited), 31);
    // Another user is another entry, with its own bound.
    let bob = token(&app, "bob", "r1", r#"{"forceNew":true}"#).await.token().unwrap();
    assert_eq!(claims(&bob)["userID"], "bob");
    assert_eq!(log.count(Action::Issued), 3);

    // A zero interval turns the bound off: every forced request signs.
    let (app, log) = app_of(
        builder(SigningKey::generate("key-1").unwrap(), &clock)
            .force_new_interval(Duration::ZERO)
            .build()
            .unwrap(),
    );
    let a = token(&app, "alice", "r1", r#"{"forceNew":true}"#)
        .await
        .token()
        .unwrap();
    let b = token(&app, "alice", "r1", r#"{"forceNew":true}"#)
        .await
        .token()
        .unwrap();
    assert_ne!(a, b);
    assert_eq!(log.count(Action::Issued), 2);
}

#[tokio::test]
async fn a_rotation_is_never_held_back_by_the_force_new_bound() {
    let clock = ManualClock::at_unix(START);
    let ring = KeyRing::with_clock(SigningKey::generate("key-1").unwrap(), clock.clone());
    let (app, _) = app_of(builder(ring.clone(), &clock).build().unwrap());
    let first = token(&app, "alice", "r1", r#"{"forceNew":true}"#)
        .await
        .token()
        .unwrap();
    ring.rotate(SigningKey::generate("key-2").unwrap(), Duration::from_secs(TTL))
        .unwrap();
    let after = token(&app, "alice", "r1", r#"{"forceNew":true}"#)
        .await
        .token()
        .unwrap();
    assert_eq!(claims(&first)["keyID"], "key-1");
    assert_eq!(claims(&after)["keyID"], "key-2", "a new key signs at once");
}

#[tokio::test]
async fn a_user_looping_over_1000_rooms_signs_once_and_evicts_nobody() {
    let clock = ManualClock::at_unix(START);
    // A cache of 100 tokens: a cache keyed on the room would be flushed by the loop.
    let (app, log) = app_of(
        builder(SigningKey::generate("key-1").unwrap(), &clock)
            .cache_capacity(100)
            .build()
            .unwrap(),
    );
    let bob = page(&app, "bob", "standup").await.token().unwrap();
    let carol = token(&app, "carol", "retro", "").await.token().unwrap();
    let before = log.count(Action::Issued);
    assert_eq!(before, 2);

    let mut tokens = HashSet::new();
    for i in 0..1000 {
        let room = format!("random-{i}");
        let answer = if i % 2 == 0 {
            page(&app, "mallory", &room).await
        } else {
            token(&app, "mallory", &room, "").await
        };
        assert_eq!(answer.status, 200);
        assert_eq!(answer.json()["conferenceID"], room.as_str());
        tokens.insert(answer.token().unwrap());
    }
    assert_eq!(log.count(Action::Issued) - before, 1, "one signature for 1000 rooms");
    assert_eq!(tokens.len(), 1);
    assert_eq!(log.count(Action::Reused), 999);

    // The other users' tokens are still cached: handed out again, no signature.
    assert_eq!(page(&app, "bob", "standup").await.token().unwrap(), bob);
    assert_eq!(token(&app, "carol", "retro", "").await.token().unwrap(), carol);
    assert_eq!(log.count(Action::Issued), 3);
}

/// `TokenIssuer::issue` itself keeps nothing: every call signs a token of its own.
#[test]
fn issue_signs_every_time_with_its_own_jti() {
    let clock = ManualClock::at_unix(START);
    let issuer = builder(SigningKey::generate("k").unwrap(), &clock).build().unwrap();
    let alice = UserId::new("alice").unwrap();
    let mut jtis = HashSet::new();
    let mut jwts = HashSet::new();
    for _ in 0..500 {
        // The same user, the same second.
        let token = issuer.issue(&alice, None).unwrap();
        assert!(jwts.insert(token.jwt().to_owned()));
        assert!(
            jtis.insert(token.claims().jti.clone()),
            "jti {} reused",
            token.claims().jti
        );
    }
    assert_eq!(jtis.len(), 500);
}

#[test]
fn jtis_stay_unique_across_threads() {
    let issuer = TokenIssuer::builder("app", SigningKey::generate("k").unwrap())
        .build()
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let issuer = issuer.clone();
            std::thread::spawn(move || {
                (0..100)
                    .map(|_| {
                        issuer
                            .issue(&UserId::new("alice").unwrap(), None)
                            .unwrap()
                            .claims()
                            .jti
                            .clone()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let jtis: Vec<String> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(
        jtis.iter()
            .all(|j| j.len() == 32 && j.bytes().all(|b| b.is_ascii_hexdigit()))
    );
    assert_ne!(jtis[0], "0".repeat(32));
    assert_eq!(jtis.iter().collect::<HashSet<_>>().len(), 400);
}
