//! Heap allocations per request on the hot paths, counted with a counting global
//! allocator: a count, not a timing, so it is deterministic and may be asserted.
//!
//! `cargo test --test allocations -- --nocapture` prints the counts. Only the thread
//! that runs a measurement counts (a thread-local switch), so other tests' threads do
//! not disturb it; each count is the same on every request once the cache is warm.

use std::{
    alloc::{GlobalAlloc, Layout, System},
    cell::Cell,
    convert::Infallible,
    future::Future,
    pin::pin,
    task::{Context, Poll, Waker},
};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use tower::{Service, ServiceExt, service_fn};
use tower_callstats::{AppUser, Callstats, RoomSource, SigningKey, TokenIssuer};

struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counter is a
// thread-local `Cell` with a const initializer, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn count() {
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
        }
    });
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Polls a future to completion on this thread (nothing here waits on I/O).
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// Allocations made by `f`, on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (u64, T) {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|on| on.set(true));
    let out = f();
    COUNTING.with(|on| on.set(false));
    (ALLOCATIONS.with(Cell::get), out)
}

/// The allocations of one request through `service`, after a warm-up request: the
/// request is built (and its identity inserted) outside the count, the response is
/// dropped inside it.
fn per_request<S, B>(mut service: S, make: impl Fn() -> Request<B>) -> u64
where
    S: Service<Request<B>> + Clone,
    S::Error: std::fmt::Debug,
{
    block_on(service.clone().oneshot(make())).unwrap();
    let mut counts = Vec::new();
    for _ in 0..20 {
        let request = make();
        block_on(service.ready()).unwrap();
        let (n, response) = allocations(|| block_on(service.call(request)).map(drop));
        response.unwrap();
        counts.push(n);
    }
    counts.sort_unstable();
    assert_eq!(
        counts.first(),
        counts.last(),
        "the same count on every warm request: {counts:?}"
    );
    counts[0]
}

fn hello() -> impl Service<Request<()>, Response = Response<Full<Bytes>>, Error = Infallible> + Clone {
    service_fn(|_: Request<()>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"Hello, World!"))))
    })
}

fn callstats() -> Callstats {
    let issuer = TokenIssuer::builder("123456789", SigningKey::generate("key-1").unwrap())
        .build()
        .unwrap();
    Callstats::new(issuer).room(RoomSource::path("/rooms/{room}", "room").unwrap())
}

fn page_request() -> Request<()> {
    let mut request = Request::get("/rooms/room-1").body(()).unwrap();
    request.extensions_mut().insert(AppUser::new("alice"));
    request
}

#[test]
fn allocations_per_request_on_the_cached_paths() {
    let bare = per_request(hello(), page_request);
    let layer = per_request(
        tower::ServiceBuilder::new().layer(callstats().layer()).service(hello()),
        page_request,
    );
    let endpoint = per_request(callstats().endpoint(), || {
        // callstats.js' tokenGenerator on the room's page: the room from the Referer, a
        // small JSON body.
        let mut request = Request::post("/getToken")
            .header("referer", "https://meet.example.com/rooms/room-1")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(br#"{"forceNew":false}"#)))
            .unwrap();
        request.extensions_mut().insert(AppUser::new("alice"));
        request
    });
    println!(
        "allocations per request: bare inner service {bare}, layer (cached token) {layer}, token endpoint (cached token) {endpoint}"
    );
    assert_eq!(bare, 0, "the control allocates nothing");
    // The layer (8 in 0.1.0): the context's box in the request extensions, and the
    // response's header map (its index and its entries). The context, the token and
    // the three header values come from the token cache's answer for this user and
    // room, already in their final form; the room is read from the path without a copy.
    assert_eq!(layer, 3, "layer");
    // The endpoint (31 in 0.1.0): its boxed future and the response's header map (index
    // and entries). The Referer is read in place; the body is the cached answer's,
    // written once.
    assert_eq!(endpoint, 3, "endpoint");
}
