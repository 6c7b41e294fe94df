//! The load-test server behind `scripts/load.sh`:
//! `cargo run --release -p tower-callstats-tools --bin loadserver -- --workers 1`.
//!
//! **Load testing only.** It trusts an `x-load-user` request header as the
//! authenticated user, which no real app may do: in a real app the user comes from the
//! app's own authentication (see [`tower_callstats::GetUser`]). It binds 127.0.0.1 only.
//!
//! One binary, one runtime, the same handler everywhere, so that the routes differ only
//! in what the layer does:
//!
//! | route | what it measures |
//! | --- | --- |
//! | `GET /bare` | (a) axum hello world, no layer |
//! | `GET /nocache/{room}` | (b) the same handler behind the layer (the room from the path, `RoomSource::path("/nocache/{room}", "room")`), issuer built with `.cache(false)`: one ES256 signature per request |
//! | `GET /cache/{room}` | (c) the same handler behind the layer (`RoomSource::path("/cache/{room}", "room")`), token cache on |
//! | `POST /getToken` | (d) the token endpoint of (c)'s `Callstats` (its token cache): the room from the request's `Referer`, the page `/cache/{room}` |
//! | `GET /rawsign/{room}` | (e) control: no layer, the same route shape as (b), the handler makes one raw aws-lc-rs ES256 signature of a token-sized input, then answers like `/bare` |
//! | `GET /static/{room}` | (f) control: no layer, the same route shape as (c), the handler answers like `/bare` with the exact headers (c) adds, precomputed: what the bytes alone cost |
//! | `POST /static-token` | (g) control: no endpoint, the same request as (d); the handler reads and parses its body as (d) does and answers a precomputed body of the same size with the same headers |
//! | `POST /floor-token` | (k) control: (g) plus what any token endpoint must do before it answers: the same user stand-in, the two header reads of the cross-site check, and the read of the `Referer` that names the room |
//! | `GET /floor/{room}` | (j) control: the floor of any layer of this shape: the route of (f) behind a `route_layer` that asks the same user stand-in, puts one shared value into the request extensions and adds (f)'s headers |
//! | `GET /call/{room}` | (h) the same handler behind the layer with one conferenceID per call: a clone of (c)'s `Callstats` (its token cache) with `.calls(Calls::new(MemoryRegistry::new()))` |
//! | `GET /call-redis/{room}` | (i) the same with `Calls::new(RedisRegistry)` (tower-callstats-redis, default local cache, 2 s); only with `--redis-url` |
//! | `GET /stats` | the audit events so far, `{"issued": N, "reused": N, "force_new_limited": N, "rejected": N, "registry_failures": N}`: the load script checks that tokens were issued, that forced re-issue is bounded and that (i) never fell back to the room key |
//!
//! Options:
//!
//! - `--workers N`: tokio worker threads (default 1);
//! - `--port P`: port on 127.0.0.1 (default 0: any free port);
//! - `--cache-capacity N`: token cache capacity of (c), (d), (h) and (i), which share one
//!   cache (default: the crate's default);
//! - `--redis-url URL`: serve (i) with the Redis at URL (`redis://127.0.0.1:PORT`); the
//!   server checks at start-up that a join gets a per-call ID from it (not the fallback);
//! - `--measure-sign N`: instead of serving, sign N tokens with raw aws-lc-rs and with
//!   the crate (on one thread) and print `raw_sign_ns=... our_sign_ns=...` (medians of 11
//!   alternating runs of N each).
//!
//! Once listening it prints `listening on 127.0.0.1:PORT` and the server's PID.

use std::{
    future::Future,
    net::{Ipv4Addr, SocketAddr},
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use aws_lc_rs::rand::SystemRandom;
use axum::{Router, routing::get};
use http::{HeaderName, request::Parts};
use tower::ServiceExt;
use tower_callstats::{
    AppUser, Callstats, ConferenceId, ConfigError, KeyRing, RoomSource, SigningKey, TokenIssuer, UserId,
    audit::{Action, AuditEvent},
    calls::{ActiveCall, CallRegistry, Calls, MemoryRegistry, RegistryError},
};
use tower_callstats_redis::RedisRegistry;
use tower_callstats_tools::controls::{Controls, raw_sign_route, raw_signer};

/// LOAD TESTING ONLY: the user named by the `x-load-user` header, unauthenticated.
fn load_test_user(parts: &Parts) -> Option<AppUser> {
    static USER: HeaderName = HeaderName::from_static("x-load-user");
    // A real app's session layer looks its logged-in user up; so does this stand-in, for
    // the load script's fixed users (other names are made on the spot).
    static KNOWN: std::sync::LazyLock<std::collections::HashMap<String, AppUser>> = std::sync::LazyLock::new(|| {
        (1..=1000)
            .map(|n| format!("user-{n}"))
            .chain(["force-user".to_owned()])
            .map(|name| (name.clone(), AppUser::new(name)))
            .collect()
    });
    let name = parts.headers.get(&USER)?.to_str().ok()?;
    Some(KNOWN.get(name).cloned().unwrap_or_else(|| AppUser::new(name)))
}

async fn hello() -> &'static str {
    "Hello, World!"
}

struct Options {
    workers: usize,
    port: u16,
    cache_capacity: Option<usize>,
    measure_sign: Option<u32>,
    redis_url: Option<String>,
}

fn options() -> Result<Options, String> {
    let mut options = Options {
        workers: 1,
        port: 0,
        cache_capacity: None,
        measure_sign: None,
        redis_url: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: std::num::ParseIntError| format!("{flag} {value:?}: {e}");
        match flag.as_str() {
            "--workers" => options.workers = value.parse().map_err(bad)?,
            "--port" => options.port = value.parse().map_err(bad)?,
            "--cache-capacity" => options.cache_capacity = Some(value.parse().map_err(bad)?),
            "--measure-sign" => options.measure_sign = Some(value.parse().map_err(bad)?),
            "--redis-url" => options.redis_url = Some(value),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if options.workers == 0 {
        return Err("--workers must be at least 1".into());
    }
    Ok(options)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let options = options()?;
    if let Some(iterations) = options.measure_sign {
        return measure_sign(iterations.max(1));
    }
    let counts = Arc::new(Counts::default());
    let keys = KeyRing::new(SigningKey::generate("load-key")?);
    let uncached = TokenIssuer::builder("load-app", keys.clone()).cache(false).build()?;
    let mut cached = TokenIssuer::builder("load-app", keys);
    if let Some(capacity) = options.cache_capacity {
        cached = cached.cache_capacity(capacity);
    }
    let callstats = |issuer| Callstats::new(issuer).user(load_test_user).audit(counts.audit());
    // The room from the route's path; (d) reads it with (c)'s source from the Referer.
    let room = |template: &str| RoomSource::path(template, "room");
    // The route `template` (b, c, h, i): `hello` behind the layer of `callstats`.
    let page = |template: &str, callstats: Callstats<_>| -> Result<Router, ConfigError> {
        let layer = callstats.room(room(template)?).layer();
        Ok(Router::new().route(template, get(hello)).route_layer(layer))
    };
    let cached = callstats(cached.build()?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(options.workers)
        .enable_all()
        .build()?;
    // (h) and (i): clones of (c), sharing its token cache, with one conferenceID per call.
    let in_redis = match &options.redis_url {
        // Within the runtime: the client connects at once.
        Some(url) => {
            let registry = runtime.block_on(async { RedisRegistry::from_url(url) })?;
            let calls = Calls::new(FailureCount::new(registry, counts.clone()));
            Some(page("/call-redis/{room}", cached.clone().calls(calls))?)
        }
        None => None,
    };

    let app = Router::new()
        .route("/bare", get(hello))
        // The control (e): what (b) would cost if the layer added nothing but the signature.
        .merge(raw_sign_route(raw_signer()?))
        .merge(page("/nocache/{room}", callstats(uncached))?)
        .merge(page("/cache/{room}", cached.clone())?)
        .merge(page(
            "/call/{room}",
            cached.clone().calls(Calls::new(MemoryRegistry::new())),
        )?)
        .route_service("/getToken", cached.room(room("/cache/{room}")?).endpoint());
    let app = match in_redis {
        Some(in_redis) => app.merge(in_redis),
        None => app,
    };

    // The controls (f) and (g): the very headers and body that (c) and (d) answer for
    // user-1 in room-1, captured once from the running app, then served as constants.
    let controls = runtime.block_on(Controls::capture(app.clone()))?;
    for (path, wanted) in [
        ("/call/room-1", true),
        ("/call-redis/room-1", options.redis_url.is_some()),
    ] {
        if wanted {
            runtime.block_on(joins_a_call(app.clone(), path))?;
        }
    }
    let stats = counts.clone();
    let app = app
        .merge(controls.routes())
        .merge(controls.floor_route(load_test_user))
        .merge(controls.token_floor_route(load_test_user))
        .route("/stats", get(move || async move { stats.json() }));

    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, options.port))).await?;
        println!("listening on {} pid {}", listener.local_addr()?, std::process::id());
        axum::serve(listener, app).await?;
        Ok(())
    })
}

/// The audit events of the load server's issuers, and the failed joins of (i).
#[derive(Default)]
struct Counts {
    issued: AtomicU64,
    reused: AtomicU64,
    force_new_limited: AtomicU64,
    rejected: AtomicU64,
    registry_failures: AtomicU64,
}

impl Counts {
    fn audit(self: &Arc<Self>) -> impl Fn(&AuditEvent<'_>) + Send + Sync + 'static {
        let counts = self.clone();
        move |event: &AuditEvent<'_>| {
            let counter = match event.action {
                Action::Issued => &counts.issued,
                Action::Reused => &counts.reused,
                Action::ForceNewLimited => &counts.force_new_limited,
                _ => &counts.rejected,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn json(&self) -> String {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "{{\"issued\":{},\"reused\":{},\"force_new_limited\":{},\"rejected\":{},\"registry_failures\":{}}}\n",
            n(&self.issued),
            n(&self.reused),
            n(&self.force_new_limited),
            n(&self.rejected),
            n(&self.registry_failures)
        )
    }
}

/// A registry that counts its failed joins in [`Counts`] (which `Calls` then turns into
/// the room): (i) must measure Redis, not the fallback. Answers from the local cache pass
/// through untouched; only a join that waits for Redis gets a wrapping future.
struct FailureCount<R> {
    inner: R,
    counts: Arc<Counts>,
}

impl<R> FailureCount<R> {
    fn new(inner: R, counts: Arc<Counts>) -> Self {
        Self { inner, counts }
    }
}

impl<R: CallRegistry> CallRegistry for FailureCount<R> {
    fn join_now(&self, room: &str, user: &UserId) -> Option<Result<ActiveCall, RegistryError>> {
        let joined = self.inner.join_now(room, user)?;
        if joined.is_err() {
            self.counts.registry_failures.fetch_add(1, Ordering::Relaxed);
        }
        Some(joined)
    }

    fn join(
        &self,
        room: &str,
        user: &UserId,
    ) -> Pin<Box<dyn Future<Output = Result<ActiveCall, RegistryError>> + Send + 'static>> {
        let future = self.inner.join(room, user);
        let counts = self.counts.clone();
        Box::pin(async move {
            let result = future.await;
            if result.is_err() {
                counts.registry_failures.fetch_add(1, Ordering::Relaxed);
            }
            result
        })
    }

    fn end_call(
        &self,
        room: &str,
        call: &ConferenceId,
    ) -> Pin<Box<dyn Future<Output = Result<bool, RegistryError>> + Send + 'static>> {
        self.inner.end_call(room, call)
    }
}

/// Checks that `path` (a per-call route) answers user-1 with a per-call conferenceID
/// (`room-1-<date>-<hex>`), not the room key that a failing registry falls back to.
async fn joins_a_call(app: Router, path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let request = http::Request::get(path)
        .header("x-load-user", "user-1")
        .body(axum::body::Body::empty())?;
    let response = app.oneshot(request).await?;
    let id = response
        .headers()
        .get("x-callstats-conference-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !id.starts_with("room-1-") {
        return Err(format!("{path} answered the conferenceID {id:?}, not a per-call ID: is the registry up?").into());
    }
    Ok(())
}

/// Prints the time of one raw aws-lc-rs ES256 signature over a typical signing input,
/// and of one token from the crate (claims, serialization, signature), in ns.
fn measure_sign(iterations: u32) -> Result<(), Box<dyn std::error::Error>> {
    let (pair, signing_input) = raw_signer()?;
    let issuer = TokenIssuer::builder("load-app", SigningKey::generate("load-key")?)
        .cache(false)
        .build()?;
    let user = UserId::new("user-1")?;
    let rng = SystemRandom::new();

    // Alternate short runs of both, so that load from elsewhere hits both alike, and
    // take the medians.
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..iterations {
            f();
        }
        start.elapsed() / iterations
    };
    let (mut raw, mut ours): (Vec<Duration>, Vec<Duration>) = (Vec::new(), Vec::new());
    for _ in 0..11 {
        raw.push(time(&mut || {
            std::hint::black_box(pair.sign(&rng, std::hint::black_box(&signing_input)).ok());
        }));
        ours.push(time(&mut || {
            std::hint::black_box(issuer.issue(std::hint::black_box(&user), None).ok());
        }));
    }
    raw.sort();
    ours.sort();
    let (raw, ours) = (raw[5].as_nanos(), ours[5].as_nanos());
    println!("raw_sign_ns={raw} our_sign_ns={ours}");
    Ok(())
}
