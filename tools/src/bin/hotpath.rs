//! Instructions per request on the hot paths, for `valgrind --tool=callgrind`: runs N
//! requests through one route of an in-process axum app (no network), so that the
//! difference between two runs of different N is the cost of N requests, in
//! instructions, whatever else the machine is doing.
//!
//! ```text
//! cargo build --release -p tower-callstats-tools --bin hotpath
//! for route in cache static floor token static-token floor-token nocache rawsign; do
//!   for n in 1000 11000; do
//!     valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$route.$n target/release/hotpath $route $n 2>&1 | grep Collected
//!   done
//! done
//! ```
//!
//! Routes: `cache` (the layer, cached token, the room from the path), `static` (the
//! same answer with the layer's headers precomputed: the control (f) of scripts/load.sh),
//! `floor` (the control (j): the floor of any layer of this shape), `token` (the token
//! endpoint, cached token, the room from the Referer: the request of scripts/load.sh's
//! (d)), `static-token` (the control (g), the same request), `floor-token` (the
//! control (k): the floor of any token endpoint), `nocache` (the layer with
//! the token cache off: one signature per request) and `rawsign` (the control (e): one
//! raw signature in the handler).
//! Test harness only: it trusts an `x-load-user` header as the user.

use std::{
    future::Future,
    pin::pin,
    task::{Context, Poll, Waker},
};

use axum::{Router, body::Body, routing::get};
use http::{HeaderName, Request, request::Parts};
use tower::{Service, ServiceExt};
use tower_callstats::{AppUser, Callstats, KeyRing, RoomSource, SigningKey, TokenIssuer};
use tower_callstats_tools::controls::{Controls, raw_sign_route, raw_signer, token_request};

fn user(parts: &Parts) -> Option<AppUser> {
    // The app's session lookup, as the load server does it: a known user, no allocation.
    static USER: HeaderName = HeaderName::from_static("x-load-user");
    static ALICE: std::sync::LazyLock<AppUser> = std::sync::LazyLock::new(|| AppUser::new("user-1"));
    (parts.headers.get(&USER)? == "user-1").then(|| ALICE.clone())
}

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

fn request(route: &str) -> Request<Body> {
    let path = match route {
        "cache" => "/cache/room-1",
        "static" => "/static/room-1",
        "floor" => "/floor/room-1",
        "nocache" => "/nocache/room-1",
        "rawsign" => "/rawsign/room-1",
        // The token routes: the same request, from the page /cache/room-1 (its Referer).
        "token" => return token_request("/getToken", "http://127.0.0.1:3000").unwrap(),
        "floor-token" => return token_request("/floor-token", "http://127.0.0.1:3000").unwrap(),
        _ => return token_request("/static-token", "http://127.0.0.1:3000").unwrap(),
    };
    Request::get(path)
        .header("x-load-user", "user-1")
        .body(Body::empty())
        .unwrap()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let route = args.next().unwrap_or_else(|| "cache".into());
    let n: u64 = args.next().unwrap_or_else(|| "1000".into()).parse()?;

    let keys = KeyRing::new(SigningKey::generate("load-key")?);
    let issuer = TokenIssuer::builder("load-app", keys.clone()).build()?;
    let uncached = TokenIssuer::builder("load-app", keys).cache(false).build()?;
    let callstats = |issuer, template| -> Result<_, tower_callstats::ConfigError> {
        Ok(Callstats::new(issuer)
            .user(user)
            .room(RoomSource::path(template, "room")?))
    };
    let (callstats, uncached) = (
        callstats(issuer, "/cache/{room}")?,
        callstats(uncached, "/nocache/{room}")?,
    );
    let mut app = Router::new()
        .route("/cache/{room}", get(|| async { "Hello, World!" }))
        .route_layer(callstats.layer())
        .route_service("/getToken", callstats.endpoint())
        .merge(
            Router::new()
                .route("/nocache/{room}", get(|| async { "Hello, World!" }))
                .route_layer(uncached.layer()),
        )
        .merge(raw_sign_route(raw_signer()?));

    // The controls answer what the app answers for the same request, captured once.
    let controls = block_on(Controls::capture(app.clone()))?;
    app = app
        .merge(controls.routes())
        .merge(controls.floor_route(user))
        .merge(controls.token_floor_route(user));

    let mut answered = 0;
    for _ in 0..n {
        let request = request(&route);
        block_on(ServiceExt::<Request<Body>>::ready(&mut app))?;
        let response = block_on(app.call(request))?;
        answered += u64::from(response.status().is_success());
    }
    println!("{route}: {answered} of {n} answered 2xx");
    Ok(())
}
