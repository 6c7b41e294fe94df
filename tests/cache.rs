//! The token cache: when a token is reused and when a new one is signed.
//!
//! Every test runs on a [`ManualClock`], so nothing here depends on timing.

mod common;

use std::{collections::HashSet, sync::Arc, time::Duration};

use common::Time;
use http::Request;
use tower::ServiceExt;
use tower_callstats::{
    Callstats, ConferenceId, Identity, IssuedToken, KeyRing, SigningKey, TokenEndpoint, TokenIssuer, UserId,
    clock::ManualClock,
};

const START: u64 = 1_700_000_000;
const TTL: u64 = 600;

fn issuer(clock: &ManualClock) -> TokenIssuer {
    TokenIssuer::builder("app", SigningKey::generate("key-1").unwrap())
        .ttl(Duration::from_secs(TTL))
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

fn room(name: &str) -> ConferenceId {
    ConferenceId::new(name).unwrap()
}

fn same(a: &IssuedToken, b: &IssuedToken) -> bool {
    a.jwt() == b.jwt() && a.claims().jti == b.claims().jti
}

#[test]
fn the_same_user_and_conference_get_the_same_token() {
    let clock = ManualClock::at_unix(START);
    let issuer = issuer(&clock);
    let first = issuer.issue(&user("alice"), Some(&room("r1"))).unwrap();
    clock.advance(Duration::from_secs(10));
    let second = issuer.issue(&user("alice"), Some(&room("r1"))).unwrap();
    assert!(same(&first, &second));
    assert!(
        Arc::ptr_eq(&first, &second),
        "a cached token is the same token, not a copy"
    );
    assert_eq!(second.claims().iat, START, "the cached token keeps its own iat");
}

#[test]
fn a_new_token_once_less_than_the_margin_is_left() {
    let clock = ManualClock::at_unix(START);
    let issuer = issuer(&clock);
    let alice = user("alice");
    let first = issuer.issue(&alice, None).unwrap();
    // The default margin is a third of the TTL: 200 s of the 600.
    clock.set_unix(START + TTL - 200);
    let at_margin = issuer.issue(&alice, None).unwrap();
    assert!(same(&first, &at_margin), "exactly the margin left: still reused");
    clock.set_unix(START + TTL - 199);
    let past_margin = issuer.issue(&alice, None).unwrap();
    assert!(!same(&first, &past_margin));
    assert_eq!(past_margin.claims().iat, START + TTL - 199);
    assert_eq!(past_margin.expires_at(), START + TTL - 199 + TTL);
}

#[test]
fn a_configured_margin_is_honoured() {
    let clock = ManualClock::at_unix(START);
    let issuer = TokenIssuer::builder("app", SigningKey::generate("k").unwrap())
        .ttl(Duration::from_secs(TTL))
        .cache_refresh_margin(Duration::from_secs(500))
        .clock(clock.clone())
        .build()
        .unwrap();
    let first = issuer.issue(&user("alice"), None).unwrap();
    clock.advance(Duration::from_secs(100));
    assert!(same(&first, &issuer.issue(&user("alice"), None).unwrap()));
    clock.advance(Duration::from_secs(1));
    assert!(!same(&first, &issuer.issue(&user("alice"), None).unwrap()));
}

#[test]
fn issue_new_bypasses_the_cache_and_replaces_the_cached_token() {
    let clock = ManualClock::at_unix(START);
    let issuer = issuer(&clock);
    let alice = user("alice");
    let cached = issuer.issue(&alice, None).unwrap();
    // Past the forced re-issue bound (10 s by default), forceNew signs anew.
    clock.advance(Duration::from_secs(10));
    let forced = issuer.issue_new(&alice, None).unwrap();
    assert!(!same(&cached, &forced));
    assert_ne!(cached.claims().jti, forced.claims().jti);
    let after = issuer.issue(&alice, None).unwrap();
    assert!(same(&forced, &after), "the forced token is the one cached from now on");
}

#[test]
fn forced_reissue_within_the_interval_returns_the_token_just_signed() {
    let clock = ManualClock::at_unix(START);
    let issuer = TokenIssuer::builder("app", SigningKey::generate("key-1").unwrap())
        .ttl(Duration::from_secs(TTL))
        .force_new_interval(Duration::from_secs(30))
        .clock(clock.clone())
        .build()
        .unwrap();
    let alice = user("alice");
    let first = issuer.issue_new(&alice, None).unwrap();
    // A loop of forced re-issues within 30 s of that signature: the same token each time.
    for second in 0..30 {
        clock.set_unix(START + second);
        assert!(same(&first, &issuer.issue_new(&alice, None).unwrap()), "at +{second} s");
    }
    // At 30 s the bound is over: a new signature, which starts a new interval.
    clock.set_unix(START + 30);
    let second = issuer.issue_new(&alice, None).unwrap();
    assert!(!same(&first, &second));
    assert_eq!(second.claims().iat, START + 30);
    clock.set_unix(START + 59);
    assert!(same(&second, &issuer.issue_new(&alice, None).unwrap()));
    // Another user is another cache entry, with its own bound.
    assert!(!same(&second, &issuer.issue_new(&user("bob"), None).unwrap()));
}

#[test]
fn a_zero_interval_turns_the_bound_off() {
    let clock = ManualClock::at_unix(START);
    let issuer = TokenIssuer::builder("app", SigningKey::generate("key-1").unwrap())
        .force_new_interval(Duration::ZERO)
        .clock(clock.clone())
        .build()
        .unwrap();
    let alice = user("alice");
    let first = issuer.issue_new(&alice, None).unwrap();
    assert!(!same(&first, &issuer.issue_new(&alice, None).unwrap()));
}

#[test]
fn a_rotation_is_never_held_back_by_the_bound() {
    let clock = ManualClock::at_unix(START);
    let ring = KeyRing::new(SigningKey::generate("key-1").unwrap());
    let issuer = TokenIssuer::builder("app", ring.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let alice = user("alice");
    let first = issuer.issue_new(&alice, None).unwrap();
    ring.rotate(SigningKey::generate("key-2").unwrap(), Duration::from_secs(TTL))
        .unwrap();
    let after = issuer.issue_new(&alice, None).unwrap();
    assert_eq!(first.claims().key_id, "key-1");
    assert_eq!(after.claims().key_id, "key-2", "a new key signs at once");
}

async fn endpoint_token(endpoint: &TokenEndpoint, body: &'static str) -> String {
    let mut request = Request::post("/getToken")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body))
        .unwrap();
    request.extensions_mut().insert(Identity::new("alice"));
    let response = endpoint.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let json = common::body_json(response.into_body()).await;
    json["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_endpoint_signs_a_new_token_for_force_new() {
    let clock = ManualClock::at_unix(START);
    let endpoint = Callstats::new(issuer(&clock)).endpoint();
    let first = endpoint_token(&endpoint, r#"{"conferenceID": "r1"}"#).await;
    let again = endpoint_token(&endpoint, r#"{"conferenceID": "r1", "forceNew": false}"#).await;
    assert_eq!(first, again);
    // Within the bound (10 s by default) forceNew gets the token just signed...
    let bounded = endpoint_token(&endpoint, r#"{"conferenceID": "r1", "forceNew": true}"#).await;
    assert_eq!(first, bounded);
    // ...and a new one after it.
    clock.advance(Duration::from_secs(10));
    let forced = endpoint_token(&endpoint, r#"{"conferenceID": "r1", "forceNew": true}"#).await;
    assert_ne!(first, forced);
    let after = endpoint_token(&endpoint, r#"{"conferenceID": "r1"}"#).await;
    assert_eq!(forced, after);
}

#[test]
fn no_token_is_handed_out_with_less_than_the_margin_left() {
    let clock = ManualClock::at_unix(START);
    let issuer = issuer(&clock);
    let margin = TTL / 3;
    let (alice, r1) = (user("alice"), room("r1"));
    let mut distinct = HashSet::new();
    // Three TTLs, second by second, with an occasional forced token in between.
    for t in 0..3 * TTL {
        clock.set_unix(START + t);
        let now = START + t;
        let token = if t % 451 == 450 {
            issuer.issue_new(&alice, Some(&r1)).unwrap()
        } else {
            issuer.issue(&alice, Some(&r1)).unwrap()
        };
        let c = token.claims();
        assert!(c.exp - now >= margin, "at {t}: {} s left, margin {margin}", c.exp - now);
        assert!(c.iat <= now && c.nbf <= now, "at {t}: iat {} nbf {}", c.iat, c.nbf);
        distinct.insert(c.jti.clone());
    }
    // Reused while it has the margin left: a new token every TTL - margin seconds, plus
    // the forced ones. Far fewer than one per call, more than one.
    let expected_max = (3 * TTL / (TTL - margin) + 1 + 3) as usize;
    assert!(
        distinct.len() > 3 && distinct.len() <= expected_max,
        "{}",
        distinct.len()
    );
}

#[test]
fn a_token_from_the_future_is_not_reused_after_the_clock_steps_back() {
    let clock = ManualClock::at_unix(START);
    let issuer = issuer(&clock);
    let first = issuer.issue(&user("alice"), None).unwrap();
    clock.set_unix(START - 60);
    let second = issuer.issue(&user("alice"), None).unwrap();
    assert!(!same(&first, &second));
    assert_eq!(second.claims().iat, START - 60);
}

#[test]
fn every_signed_token_has_its_own_jti() {
    let clock = ManualClock::at_unix(START);
    let cached = issuer(&clock);
    let uncached = TokenIssuer::builder("app", SigningKey::generate("k").unwrap())
        .cache(false)
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut jtis = HashSet::new();
    let mut jwts = HashSet::new();
    for i in 0..500 {
        let u = user(&format!("user-{}", i % 50));
        // Each round is past the forced re-issue bound (10 s), so issue_new signs.
        clock.advance(Duration::from_secs(10));
        for token in [uncached.issue(&u, None).unwrap(), cached.issue_new(&u, None).unwrap()] {
            assert!(jwts.insert(token.jwt().to_owned()));
            assert!(
                jtis.insert(token.claims().jti.clone()),
                "jti {} reused",
                token.claims().jti
            );
        }
    }
    assert_eq!(jtis.len(), 1000);
}

#[test]
fn jtis_stay_unique_across_threads() {
    let issuer = TokenIssuer::builder("app", SigningKey::generate("k").unwrap())
        .cache(false)
        .build()
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let issuer = issuer.clone();
            std::thread::spawn(move || {
                (0..100)
                    .map(|_| issuer.issue(&user("alice"), None).unwrap().claims().jti.clone())
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

#[test]
fn another_user_gets_another_token_and_the_conference_counts_only_in_confid_tokens() {
    let clock = ManualClock::at_unix(START);
    let issuer = issuer(&clock);
    let tokens = [
        issuer.issue(&user("alice"), Some(&room("r1"))).unwrap(),
        issuer.issue(&user("bob"), Some(&room("r1"))).unwrap(),
        // Case-sensitive, byte-exact IDs are different keys.
        issuer.issue(&user("Alice"), Some(&room("r1"))).unwrap(),
        issuer.issue(&user("アリス"), Some(&room("r1"))).unwrap(),
    ];
    let jtis: HashSet<_> = tokens.iter().map(|t| t.claims().jti.clone()).collect();
    assert_eq!(jtis.len(), tokens.len());
    assert_eq!(tokens[1].claims().user_id, "bob");
    assert_eq!(tokens[2].claims().user_id, "Alice");
    // Without the confID claim the token does not depend on the conference: every room
    // (and none) gets alice's one token, so a client looping over room URLs cannot make
    // the server sign, nor evict other users' tokens.
    for conference in [Some(room("r2")), None, Some(room("インターネット"))] {
        assert!(same(
            &tokens[0],
            &issuer.issue(&user("alice"), conference.as_ref()).unwrap()
        ));
    }

    let with_conf_id = TokenIssuer::builder("app", SigningKey::generate("key-1").unwrap())
        .conf_id_claim(true)
        .clock(clock.clone())
        .build()
        .unwrap();
    let r1 = with_conf_id.issue(&user("alice"), Some(&room("r1"))).unwrap();
    let r2 = with_conf_id.issue(&user("alice"), Some(&room("r2"))).unwrap();
    let none = with_conf_id.issue(&user("alice"), None).unwrap();
    assert!(!same(&r1, &r2) && !same(&r1, &none) && !same(&r2, &none));
    assert_eq!(r2.claims().conf_id.as_deref(), Some("r2"));
    assert!(same(
        &r1,
        &with_conf_id.issue(&user("alice"), Some(&room("r1"))).unwrap()
    ));
}

fn verifies_with(token: &IssuedToken, key: &SigningKey) -> bool {
    common::try_verify(token.jwt(), &common::pem_key(&key.public_key_pem()), Time::Unchecked).is_ok()
}

#[test]
fn rotating_the_key_signs_a_new_token_with_the_new_key() {
    let clock = ManualClock::at_unix(START);
    let old_key = SigningKey::generate("key-1").unwrap();
    let old_public = SigningKey::from_pem("key-1", old_key.to_pkcs8_pem()).unwrap();
    let ring = KeyRing::with_clock(old_key, clock.clone());
    let issuer = TokenIssuer::builder("app", ring.clone())
        .ttl(Duration::from_secs(TTL))
        .clock(clock.clone())
        .build()
        .unwrap();
    let before = issuer.issue(&user("alice"), None).unwrap();
    assert!(verifies_with(&before, &old_public));

    let new_key = SigningKey::generate("key-2").unwrap();
    let new_public = SigningKey::from_pem("key-2", new_key.to_pkcs8_pem()).unwrap();
    ring.rotate(new_key, Duration::from_secs(2 * TTL)).unwrap();
    clock.advance(Duration::from_secs(1));
    let after = issuer.issue(&user("alice"), None).unwrap();
    assert!(!same(&before, &after), "the token of the old key is not reused");
    assert_eq!(after.claims().key_id, "key-2");
    assert!(verifies_with(&after, &new_public));
    assert!(!verifies_with(&after, &old_public));
    assert!(same(&after, &issuer.issue(&user("alice"), None).unwrap()));

    // A new key forced under the same keyID (an emergency replacement) is a new key too.
    let reloaded = SigningKey::generate("key-2").unwrap();
    let reloaded_public = SigningKey::from_pem("key-2", reloaded.to_pkcs8_pem()).unwrap();
    ring.rotate_unchecked(reloaded, Duration::from_secs(2 * TTL));
    let after_reload = issuer.issue(&user("alice"), None).unwrap();
    assert!(!same(&after, &after_reload));
    assert!(verifies_with(&after_reload, &reloaded_public));
}
