//! One request through the layer: `cargo bench --bench layer`.
//!
//! `CallstatsService<S>` called with `oneshot` against the bare inner service `S` (a
//! `service_fn` that answers "Hello, World!"):
//!
//! - `layer/bare`: the inner service alone;
//! - `layer/anonymous`: behind the layer, no user (passes through);
//! - `layer/cached`: behind the layer, one user, the answer comes from the cache;
//! - `layer/uncached`: behind the layer, the issuer built with `.cache(false)`: one ES256
//!   signature per request.
//!
//! Every future here completes on its first poll (the user comes from the request
//! extensions, every user is allowed, there are no calls, and the inner service is
//! synchronous), so it is polled once with a no-op waker: no runtime cost is measured.

use std::{
    convert::Infallible,
    future::Future,
    hint::black_box,
    pin::pin,
    task::{Context, Poll, Waker},
};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::HeaderName;
use http::{Request, Response};
use tower::{Service, ServiceExt, service_fn};
use tower_callstats::{AppUser, Callstats, RoomSource, SigningKey, TokenIssuer};
use tower_layer::Layer;

/// Polls a future that is ready on its first poll.
fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the benchmarked future was not ready on its first poll"),
    }
}

fn request(user: Option<&AppUser>) -> Request<()> {
    let mut request = Request::get("/rooms/42").header("x-room", "42").body(()).unwrap();
    if let Some(user) = user {
        request.extensions_mut().insert(user.clone());
    }
    request
}

fn run<S>(service: &S, request: Request<()>) -> http::StatusCode
where
    S: Service<Request<()>, Error = Infallible> + Clone,
    S::Response: IntoStatus,
{
    ready(service.clone().oneshot(request)).unwrap().status()
}

trait IntoStatus {
    fn status(&self) -> http::StatusCode;
}

impl<B> IntoStatus for Response<B> {
    fn status(&self) -> http::StatusCode {
        Response::status(self)
    }
}

fn layer(c: &mut Criterion) {
    let inner = service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new("Hello, World!")) });
    let key = || SigningKey::generate("bench-key").unwrap();
    let build = |issuer: TokenIssuer| {
        Callstats::new(issuer)
            .room(RoomSource::header(HeaderName::from_static("x-room")))
            .layer()
    };
    // The room comes from a header here, so these runs measure the user, the userID,
    // the room, the hook, the token and the response headers.
    let cached = build(TokenIssuer::builder("123456789", key()).build().unwrap()).layer(inner);
    let uncached = build(TokenIssuer::builder("123456789", key()).cache(false).build().unwrap()).layer(inner);
    let alice = AppUser::new("alice");

    // A request that the layer turns down would make the comparison meaningless.
    assert_eq!(run(&inner, request(Some(&alice))), 200);
    for service in [&cached, &uncached] {
        let response = ready(service.clone().oneshot(request(Some(&alice)))).unwrap();
        assert!(response.headers().contains_key("x-callstats-token"), "{response:?}");
    }

    let mut group = c.benchmark_group("layer");
    let batch = BatchSize::SmallInput;
    group.bench_function("bare", |b| {
        b.iter_batched(|| request(Some(&alice)), |r| run(black_box(&inner), r), batch)
    });
    group.bench_function("anonymous", |b| {
        b.iter_batched(|| request(None), |r| run(black_box(&cached), r), batch)
    });
    group.bench_function("cached", |b| {
        b.iter_batched(|| request(Some(&alice)), |r| run(black_box(&cached), r), batch)
    });
    group.bench_function("uncached", |b| {
        b.iter_batched(|| request(Some(&alice)), |r| run(black_box(&uncached), r), batch)
    });
    group.finish();
}

criterion_group!(benches, layer);
criterion_main!(benches);
