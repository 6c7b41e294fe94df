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
//! Routes: `cache` (the layer, cached token, conferenceID from the route), `static` (the
//! same answer with the layer's headers precomputed: the control (f) of scripts/load.sh),
//! `floor` (the control (j): the floor of any layer of this shape), `token` (the token
//! endpoint, cached token), `static-token` (the control (g)), `floor-token` (the
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
use http::{HeaderName, Request, header, request::Parts};
use tower::{Service, ServiceExt};
use tower_callstats::{Callstats, ConferenceIdSource, Identity, KeyRing, SigningKey, TokenIssuer};
use tower_callstats_tools::controls::{Controls, raw_sign_route, raw_signer};

fn identity(parts: &Parts) -> Option<Identity> {
    // The app's session lookup, as the load server does it: a known user, no allocation.
    static USER: HeaderName = HeaderName::from_static("x-load-user");
    static ALICE: std::sync::LazyLock<Identity> = std::sync::LazyLock::new(|| Identity::new("user-1"));
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
    let (method, path, body) = match route {
        "cache" => ("GET", "/cache/room-1", ""),
        "static" => ("GET", "/static/room-1", ""),
        "floor" => ("GET", "/floor/room-1", ""),
        "nocache" => ("GET", "/nocache/room-1", ""),
        "rawsign" => ("GET", "/rawsign/room-1", ""),
        "token" => ("POST", "/getToken", r#"{"conferenceID":"room-1"}"#),
        "floor-token" => ("POST", "/floor-token", r#"{"conferenceID":"room-1"}"#),
        _ => ("POST", "/static-token", r#"{"conferenceID":"room-1"}"#),
    };
    Request::builder()
        .method(method)
        .uri(path)
        .header("x-load-user", "user-1")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let route = args.next().unwrap_or_else(|| "cache".into());
    let n: u64 = args.next().unwrap_or_else(|| "1000".into()).parse()?;

    let keys = KeyRing::new(SigningKey::generate("load-key")?);
    let issuer = TokenIssuer::builder("load-app", keys.clone()).build()?;
    let uncached = TokenIssuer::builder("load-app", keys).cache(false).build()?;
    let callstats = |issuer| {
        Callstats::new(issuer)
            .identity(identity)
            .conference_id(ConferenceIdSource::route_param("room"))
    };
    let (callstats, uncached) = (callstats(issuer), callstats(uncached));
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
        .merge(controls.floor_route(identity))
        .merge(controls.token_floor_route(identity));

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
