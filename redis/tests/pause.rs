//! Defect 3, a pause: every outage split every call. Redis paused 3 s (SIGSTOP), each room
//! had two conferenceIDs at once (a cached call on some instances, the room fallback on
//! others). Now both instances answer the call of a room they know, and each logs one
//! warning for the outage and one line when Redis is back.
//!
//! Alone in its test binary: it reads the `tracing` events of the registry through a
//! subscriber of its own thread, which misses events whose callsite another test's thread
//! registered first (a limit of `tracing`'s per-callsite interest cache with scoped
//! subscribers).

mod common;

use std::{
    io,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use common::{instance_with_short_cache, redis_server::RedisServer, until_redis_answers, user};
use tower_callstats::calls::Calls;

#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_paused_redis_splits_no_call_the_instances_know_and_logs_once() {
    let Some(server) = RedisServer::start() else { return };
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (a, b) = (instance_with_short_cache(&server), instance_with_short_cache(&server));
    let (calls_a, calls_b) = (Calls::new(a.clone()), Calls::new(b.clone()));
    let call = calls_a.join("standup", &user("alice")).await.unwrap();
    assert!(!call.is_fallback());
    assert_eq!(calls_b.join("standup", &user("bob")).await.unwrap(), call);
    tokio::time::sleep(Duration::from_millis(150)).await; // both caches stale: joins ask Redis

    let paused = server.pause();
    let started = Instant::now();
    let mut joins = 0;
    while started.elapsed() < Duration::from_secs(3) {
        for calls in [&calls_a, &calls_b] {
            let got = calls.join("standup", &user("carol")).await.unwrap();
            assert_eq!(got, call, "after {:?}", started.elapsed());
            assert!(!got.is_fallback());
            joins += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A room neither instance saw: the fallback (the room itself).
    let unseen = calls_a.join("retro", &user("dave")).await.unwrap();
    assert!(unseen.is_fallback());
    drop(paused);
    eprintln!("{joins} joins during the pause");
    // Let Redis run what was queued during the pause (joins that timed out still touch the
    // key), so that only the joins below can touch it.
    tokio::time::sleep(Duration::from_millis(500)).await;

    for registry in [&a, &b] {
        until_redis_answers(&server, registry, "standup", &call).await;
    }
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let count = |line: &str| text.matches(line).count();
    // One warning per instance for the whole outage, one recovery each.
    assert_eq!(
        count("WARN tower_callstats::calls: Redis unavailable: serving the calls this instance knows"),
        2,
        "{text}"
    );
    assert_eq!(count("INFO tower_callstats::calls: Redis available again"), 2, "{text}");
}
