//! Key rotation under load, through a real axum server on 127.0.0.1.
//!
//! Concurrent clients request tokens (from the layer on `GET /rooms/{room}` and from
//! `POST /getToken`) while a task rotates the signing key several times, each time
//! after a fixed number of responses under the current key. Every request must
//! succeed, every token must verify under the key its `kid` names in the JWKS, and no
//! token may be signed by a key that was already retired.
//!
//! # What "retired" means here
//!
//! Keys are numbered `k0, k1, ...` in the order they become active. The rotator keeps
//! two counters: `pending` is raised to `i` just before `rotate(k_i)` and `active` is
//! raised to `i` just after `rotate` returns. A client reads `active` before it sends
//! a request (`before`) and `pending` after it has the response (`after`). The token
//! is signed by `k_j` with
//!
//! - `j >= before`: key `k_(before-1)` and older were retired (their replacement was
//!   active) before the request was sent, so signing with them would be signing with a
//!   retired key;
//! - `j <= after`: no token from a key that was not yet rotated in.
//!
//! The grace bookkeeping: when `k_i` is replaced, the ring reports when it stops being
//! published (`KeyRing::unpublished_at`, read right after the rotation). Every token
//! `k_i` signed must expire by then, so that no token outlives the publication of its
//! key; and the JWKS served right after each rotation must list the new key first and
//! every key still in its grace period. The bound is the ring's own bookkeeping, not
//! the test's grace constant: a ring that dropped keys early fails here.

mod common;

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{Router, routing::get};
use bytes::Bytes;
use common::{TEST_USER_HEADER, Time, jwk_key, serve, try_verify};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use tower_callstats::{Callstats, KeyRing, RoomSource, SigningKey, TokenIssuer, clock::ManualClock, jwks::JwksService};

/// Concurrent clients.
const CLIENTS: usize = 32;
/// Rotations during the run.
const ROTATIONS: u64 = 10;
/// Upper bound on requests per client (the run also stops at [`DEADLINE`]).
const MAX_PER_CLIENT: usize = 2_000;
/// Requests each client makes after the last rotation, so that the last key is used.
const AFTER_LAST_ROTATION: usize = 20;
/// Responses between two rotations (more than [`CLIENTS`], so that every key signs
/// some of them whatever the machine's speed).
const RESPONSES_PER_KEY: usize = 400;
/// Hard bound on the run.
const DEADLINE: Duration = Duration::from_secs(60);
/// Token lifetime; the grace period is twice this, as in the demo.
const TTL: Duration = Duration::from_secs(300);

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

/// The app, with its own authentication standing in for a session layer: the user is
/// named by a test header. The JWKS is served from the ring itself.
fn app(ring: KeyRing) -> Router {
    let issuer = TokenIssuer::builder("rotation-app", ring.clone())
        .ttl(TTL)
        .build()
        .unwrap();
    let callstats = Callstats::new(issuer).room(RoomSource::path("/rooms/{room}", "room").unwrap());
    Router::new()
        .route("/rooms/{room}", get(|| async { "room page" }))
        .route_layer(callstats.layer())
        .route_service("/getToken", callstats.endpoint())
        .route_service("/.well-known/jwks.json", JwksService::new(ring))
        .layer(axum::middleware::from_fn(common::identity_from_test_header))
}

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

#[derive(Debug, serde::Deserialize)]
struct JwkDoc {
    keys: Vec<JwkEntry>,
}

#[derive(Debug, Clone, serde::Deserialize)]
struct JwkEntry {
    kid: String,
    kty: String,
    crv: String,
    alg: String,
    x: String,
    y: String,
    #[serde(rename = "use")]
    use_: String,
}

async fn fetch_jwks(client: &HttpClient, addr: SocketAddr) -> JwkDoc {
    let response = client
        .get(format!("http://{addr}/.well-known/jwks.json").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let doc: JwkDoc = serde_json::from_slice(&body).unwrap();
    for key in &doc.keys {
        assert_eq!(
            (key.kty.as_str(), key.crv.as_str(), key.alg.as_str(), key.use_.as_str()),
            ("EC", "P-256", "ES256", "sig"),
            "{key:?}"
        );
    }
    doc
}

fn key_index(kid: &str) -> u64 {
    kid.strip_prefix("k").and_then(|n| n.parse().ok()).unwrap_or(u64::MAX)
}

/// One token a client received, with the rotation counters around its request.
struct Seen {
    jwt: String,
    before: u64,
    after: u64,
    user: String,
}

#[derive(Default)]
struct Timeline {
    /// kid -> (x, y) as first published in the JWKS.
    published: HashMap<String, (String, String)>,
    /// key index -> Unix time at which the ring stops publishing it, as the ring
    /// reported it right after the key was replaced.
    unpublished_at: HashMap<u64, u64>,
}

/// The rotation counters the clients and the rotator share: the index of the key being
/// rotated in (`pending`), of the key active (`active`), whether the last rotation is
/// done, and the responses so far.
#[derive(Clone, Default)]
struct Progress {
    pending: Arc<AtomicU64>,
    active: Arc<AtomicU64>,
    rotations_done: Arc<AtomicBool>,
    responses: Arc<AtomicUsize>,
}

/// One client's load: room pages and token requests for `user-{c}` until the deadline,
/// or a while after the last rotation; the tokens it got, and its failures.
async fn load(addr: SocketAddr, c: usize, started: Instant, progress: Progress) -> (Vec<Seen>, Vec<String>) {
    let http = client();
    let user = format!("user-{c}");
    let mut seen = Vec::new();
    let mut failures = Vec::new();
    let mut after_last = 0;
    for n in 0..MAX_PER_CLIENT {
        if started.elapsed() > DEADLINE {
            break;
        }
        if progress.rotations_done.load(Ordering::SeqCst) {
            after_last += 1;
            if after_last > AFTER_LAST_ROTATION {
                break;
            }
        }
        let before = progress.active.load(Ordering::SeqCst);
        let room = format!("room-{}", n % 7);
        let request = if n % 2 == 0 {
            http::Request::get(format!("http://{addr}/rooms/{room}"))
                .header(TEST_USER_HEADER, &user)
                .body(Full::default())
                .unwrap()
        } else {
            // The page of the room asks (its Referer names the room). Every other
            // endpoint call forces a fresh signature; the rest may come from the cache.
            let body = serde_json::json!({"forceNew": n % 4 == 1});
            http::Request::post(format!("http://{addr}/getToken"))
                .header(TEST_USER_HEADER, &user)
                .header("referer", format!("http://{addr}/rooms/{room}"))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap()
        };
        let response = match http.request(request).await {
            Ok(response) => response,
            Err(error) => {
                failures.push(format!("request {n}: {error}"));
                continue;
            }
        };
        let status = response.status();
        let header_token = response
            .headers()
            .get("x-callstats-token")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.into_body().collect().await.map(|b| b.to_bytes());
        let after = progress.pending.load(Ordering::SeqCst);
        progress.responses.fetch_add(1, Ordering::SeqCst);
        let token = match (status.as_u16(), body) {
            (200, Ok(_)) if n % 2 == 0 => header_token,
            (200, Ok(body)) => serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["token"].as_str().map(str::to_owned)),
            (status, body) => {
                failures.push(format!("request {n}: status {status}, body {body:?}"));
                continue;
            }
        };
        match token {
            Some(jwt) => seen.push(Seen {
                jwt,
                before,
                after,
                user: user.clone(),
            }),
            None => failures.push(format!("request {n}: 200 without a token")),
        }
    }
    (seen, failures)
}

/// Rotates the ring `ROTATIONS` times while the load runs, each time once the load made
/// progress under the current key, and records when each retired key leaves the JWKS.
async fn rotate(ring: KeyRing, addr: SocketAddr, started: Instant, progress: Progress, timeline: Arc<Mutex<Timeline>>) {
    let http = client();
    let grace = TTL * 2;
    let mut last = 0;
    for i in 1..=ROTATIONS {
        // Rotate once the load has made progress under the current key (or at the
        // deadline): the rotations overlap the load by construction.
        while progress.responses.load(Ordering::SeqCst) < last + RESPONSES_PER_KEY && started.elapsed() < DEADLINE {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        last = progress.responses.load(Ordering::SeqCst);
        let next = SigningKey::generate(format!("k{i}")).unwrap();
        progress.pending.store(i, Ordering::SeqCst);
        ring.rotate(next, grace).unwrap();
        progress.active.store(i, Ordering::SeqCst);
        let unpublished_at = ring
            .unpublished_at(&format!("k{}", i - 1))
            .unwrap_or_else(|| panic!("k{} is not in its grace period right after rotation {i}", i - 1))
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        // The JWKS right after the rotation: the new key first, then every key still in
        // its grace period (here: all of them).
        let doc = fetch_jwks(&http, addr).await;
        let kids: Vec<&str> = doc.keys.iter().map(|k| k.kid.as_str()).collect();
        let expected: Vec<String> = (0..=i).rev().map(|k| format!("k{k}")).collect();
        assert_eq!(kids, expected, "JWKS after rotation {i}");
        let mut timeline = timeline.lock().unwrap();
        timeline.unpublished_at.insert(i - 1, unpublished_at);
        for k in doc.keys {
            let entry = timeline
                .published
                .entry(k.kid.clone())
                .or_insert((k.x.clone(), k.y.clone()));
            assert_eq!(entry, &(k.x, k.y), "a kid must always name the same public key");
        }
    }
    progress.rotations_done.store(true, Ordering::SeqCst);
}

/// Verifies every token under the key its kid names, as published in the JWKS, and
/// that the key was active around its request; the tokens per key index, and the
/// distinct `jti`s.
fn verify_all(all: &[Seen], timeline: &Timeline, live: &JwkDoc) -> (HashMap<u64, usize>, usize) {
    let mut per_key: HashMap<u64, usize> = HashMap::new();
    let mut distinct = std::collections::HashSet::new();
    for seen in all {
        let header = jsonwebtoken::decode_header(&seen.jwt).unwrap();
        let kid = header.kid.clone().expect("every token names its key");
        let (x, y) = timeline
            .published
            .get(&kid)
            .unwrap_or_else(|| panic!("kid {kid} was never published"));
        let claims = try_verify(&seen.jwt, &jwk_key(x, y), Time::Now)
            .unwrap_or_else(|e| panic!("token under {kid} does not verify: {e}"));
        assert_eq!(claims["keyID"], kid.as_str(), "keyID claim and kid header agree");
        assert_eq!(claims["userID"], seen.user.as_str());
        assert_eq!(claims["appID"], "rotation-app");
        // Still published now, so verifiers that fetch the JWKS today find it.
        let now = live
            .keys
            .iter()
            .find(|k| k.kid == kid)
            .unwrap_or_else(|| panic!("{kid} no longer published"));
        try_verify(&seen.jwt, &jwk_key(&now.x, &now.y), Time::Now).unwrap();

        let j = key_index(&kid);
        assert!(
            j >= seen.before,
            "token signed by {kid} for a request sent after k{} was active (a retired key signed)",
            seen.before
        );
        assert!(j <= seen.after, "token signed by {kid} before it was rotated in");
        if let Some(&unpublished) = timeline.unpublished_at.get(&j) {
            let exp = claims["exp"].as_u64().expect("exp is a number");
            assert!(
                exp <= unpublished,
                "token of {kid} expires at {exp}, after the ring stops publishing its key at {unpublished}"
            );
        }
        *per_key.entry(j).or_default() += 1;
        distinct.insert(claims["jti"].clone());
    }
    (per_key, distinct.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_stay_valid_while_keys_rotate_under_load() {
    let ring = KeyRing::new(SigningKey::generate("k0").unwrap());
    let addr = serve(app(ring.clone())).await;
    let progress = Progress::default();
    let timeline = Arc::new(Mutex::new(Timeline::default()));
    let started = Instant::now();
    {
        let first = fetch_jwks(&client(), addr).await;
        assert_eq!(first.keys.len(), 1);
        let k = &first.keys[0];
        timeline
            .lock()
            .unwrap()
            .published
            .insert(k.kid.clone(), (k.x.clone(), k.y.clone()));
    }

    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| tokio::spawn(load(addr, c, started, progress.clone())))
        .collect();
    tokio::spawn(rotate(ring, addr, started, progress.clone(), timeline.clone()))
        .await
        .unwrap();
    let mut all = Vec::new();
    let mut failures = Vec::new();
    for handle in clients {
        let (seen, failed) = handle.await.unwrap();
        all.extend(seen);
        failures.extend(failed);
    }
    assert!(
        failures.is_empty(),
        "{} failed requests, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(
        started.elapsed() <= DEADLINE + Duration::from_secs(5),
        "the run hit its deadline before finishing"
    );

    let live = fetch_jwks(&client(), addr).await;
    let (per_key, distinct) = verify_all(&all, &timeline.lock().unwrap(), &live);
    for j in 0..=ROTATIONS {
        assert!(
            per_key.get(&j).copied().unwrap_or(0) > 0,
            "no token signed by k{j}: the load did not overlap every rotation"
        );
    }
    // The rotator waited for RESPONSES_PER_KEY responses under each key before the next
    // rotation, so a run that did not hit its deadline saw at least this many tokens.
    let minimum = ROTATIONS as usize * RESPONSES_PER_KEY;
    assert!(
        all.len() >= minimum,
        "only {} tokens under rotation, expected at least {minimum}",
        all.len()
    );
    let mut counts: Vec<_> = per_key.into_iter().collect();
    counts.sort();
    println!(
        "rotation under load: {} requests from {CLIENTS} clients, {ROTATIONS} rotations, 0 failed, \
         {distinct} distinct tokens, tokens per key {counts:?}, {:.1?}",
        all.len(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retired_keys_leave_the_jwks_when_their_grace_period_ends() {
    let clock = ManualClock::at_unix(1_700_000_000);
    let ring = KeyRing::with_clock(SigningKey::generate("k0").unwrap(), clock.clone());
    let addr = serve(app(ring.clone())).await;
    let http = client();
    let kids = |doc: JwkDoc| doc.keys.into_iter().map(|k| k.kid).collect::<Vec<_>>();

    ring.rotate(SigningKey::generate("k1").unwrap(), Duration::from_secs(600))
        .unwrap();
    clock.advance(Duration::from_secs(300));
    ring.rotate(SigningKey::generate("k2").unwrap(), Duration::from_secs(600))
        .unwrap();
    assert_eq!(kids(fetch_jwks(&http, addr).await), ["k2", "k1", "k0"]);
    // What the ring reports is what the JWKS does: k0 retired at +0 with 600 s of grace
    // leaves at +600, k1 (retired at +300) at +900.
    let at = |secs: u64| Some(std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs));
    assert_eq!(ring.unpublished_at("k0"), at(600));
    assert_eq!(ring.unpublished_at("k1"), at(900));

    clock.advance(Duration::from_secs(299)); // +599: k0 still published
    assert_eq!(kids(fetch_jwks(&http, addr).await), ["k2", "k1", "k0"]);
    clock.advance(Duration::from_secs(2)); // +601
    assert_eq!(kids(fetch_jwks(&http, addr).await), ["k2", "k1"]);
    assert_eq!(ring.unpublished_at("k0"), None);
    clock.advance(Duration::from_secs(300));
    assert_eq!(kids(fetch_jwks(&http, addr).await), ["k2"]);

    // And the layer signs with the active key only.
    let response = http
        .request(
            http::Request::get(format!("http://{addr}/rooms/r"))
                .header(TEST_USER_HEADER, "ann")
                .body(Full::default())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let jwt = response.headers()["x-callstats-token"].to_str().unwrap();
    assert_eq!(jsonwebtoken::decode_header(jwt).unwrap().kid.as_deref(), Some("k2"));
}

/// Many rotations racing with many signers, without a server: the ring never hands
/// out a key that was already replaced when the signer started.
#[test]
fn rotation_races_with_signers_without_retired_keys() {
    let ring = KeyRing::new(SigningKey::generate("k0").unwrap());
    let issuer = TokenIssuer::builder("race", ring.clone()).cache(false).build().unwrap();
    let active = Arc::new(AtomicU64::new(0));
    let signed = Arc::new(AtomicUsize::new(0));
    const ROUNDS: u64 = 200;
    std::thread::scope(|s| {
        let (ring, active_w) = (ring.clone(), active.clone());
        s.spawn(move || {
            for i in 1..=ROUNDS {
                ring.rotate(SigningKey::generate(format!("k{i}")).unwrap(), Duration::from_secs(600))
                    .unwrap();
                active_w.store(i, Ordering::SeqCst);
                std::thread::yield_now();
            }
        });
        for t in 0..2 {
            let (issuer, active, signed) = (issuer.clone(), active.clone(), signed.clone());
            s.spawn(move || {
                let user = tower_callstats::UserId::new(format!("u{t}")).unwrap();
                for n in 0.. {
                    if n >= 50 && active.load(Ordering::SeqCst) >= ROUNDS {
                        break;
                    }
                    let before = active.load(Ordering::SeqCst);
                    let token = issuer.issue(&user, None).unwrap();
                    let j = key_index(&token.claims().key_id);
                    assert!(j >= before, "signed with k{j} after k{before} was active");
                    signed.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    assert!(signed.load(Ordering::Relaxed) > 0);
    assert_eq!(ring.published().len() as u64, ROUNDS + 1);
}
