//! Outages, each test a defect the registry once had:
//!
//! 3. Every outage split every call: Redis restarted without its data, every ongoing call
//!    got a new ID (the pause: `tests/pause.rs`).
//! 4. An end answered with an error while Redis hung still ended the call when Redis woke,
//!    and its retry ended the next call.
//!
//! Two registries are two instances. Servers on 127.0.0.1, killed (and never left
//! stopped) at the end; what Redis holds is read with the harness' own RESP client.

mod common;

use std::time::{Duration, Instant};

use common::{
    call_value, expected_room_key, get, instance_with_short_cache, is_redis_failure,
    redis_server::{RedisServer, Reply},
    tombstone_value, until_redis_answers, user,
};
use tower_callstats::calls::CallRegistry;

/// Defect 3, a restart without the data: the call is written back by an instance that
/// knows it; a call that ended stays ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restarted_empty_gets_the_ongoing_calls_back_and_not_the_ended_ones() {
    let Some(mut server) = RedisServer::start() else { return };
    let (a, b) = (instance_with_short_cache(&server), instance_with_short_cache(&server));
    let call = a.join("standup", &user("alice")).await.unwrap();
    let ended = a.join("retro", &user("alice")).await.unwrap();
    assert_eq!(b.join("retro", &user("bob")).await.unwrap(), ended);

    server.restart();
    assert_eq!(server.command(&[b"DBSIZE"]).unwrap(), Reply::Int(0), "empty");
    // a knew the call: it writes it back (while Redis is coming back it answers it from
    // memory, the same call).
    until_redis_answers(&server, &a, "standup", &call).await;
    // b never saw it: Redis gives it the same call.
    assert_eq!(b.join("standup", &user("bob")).await.unwrap(), call);

    // `retro` ends on a (written back first, then ended: its tombstone is in Redis); b,
    // which knew it from before the restart, reads the tombstone: a new call, not the old
    // one brought back.
    until_redis_answers(&server, &a, "retro", &ended).await;
    assert!(a.end_call("retro", ended.conference_id()).await.unwrap());
    tokio::time::sleep(Duration::from_millis(150)).await; // b's cache is stale
    let next = b.join("retro", &user("bob")).await.unwrap();
    assert_ne!(next.conference_id(), ended.conference_id());
    let key = expected_room_key(&server, "callstats:call:", "retro");
    assert_eq!(get(&server, &key), Some(call_value(&next)));
}

/// Defect 3, a key that vanished without an end (evicted, deleted): written back.
#[tokio::test]
async fn a_call_that_vanished_is_written_back_by_an_instance_that_knows_it() {
    let Some(server) = RedisServer::start() else { return };
    let (a, b) = (instance_with_short_cache(&server), instance_with_short_cache(&server));
    let call = a.join("standup", &user("alice")).await.unwrap();
    let key = expected_room_key(&server, "callstats:call:", "standup");
    assert_eq!(server.command(&[b"DEL", &key]).unwrap(), Reply::Int(1));
    tokio::time::sleep(Duration::from_millis(150)).await;
    until_redis_answers(&server, &a, "standup", &call).await;
    assert_eq!(b.join("standup", &user("bob")).await.unwrap(), call);
}

/// Defect 4: an end that failed while Redis hung ends at most the call it named, and its
/// retry after a newer call started ends nothing.
#[tokio::test]
async fn an_end_that_failed_during_a_pause_ends_at_most_the_named_call() {
    let Some(server) = RedisServer::start() else { return };
    let (a, b) = (instance_with_short_cache(&server), instance_with_short_cache(&server));
    let key = expected_room_key(&server, "callstats:call:", "standup");
    let first = a.join("standup", &user("alice")).await.unwrap();
    // Redis knows the end script (so that an end queued during the pause runs when Redis
    // goes on, rather than answer NOSCRIPT to a client that gave up).
    assert!(!a.end_call("retro", first.conference_id()).await.unwrap());

    let paused = server.pause();
    let error = a.end_call("standup", first.conference_id()).await.unwrap_err();
    assert!(is_redis_failure(&error), "{error:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(paused);

    // Redis ran the queued end, or never got it: the room holds the named call or its
    // tombstone, nothing else.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stored = get(&server, &key);
    eprintln!("after the pause: {:?}", stored.as_deref().map(String::from_utf8_lossy));
    assert!(
        stored == Some(tombstone_value(&first)) || stored == Some(call_value(&first)),
        "{stored:?}"
    );
    if stored == Some(call_value(&first)) {
        assert!(b.end_call("standup", first.conference_id()).await.unwrap());
    }
    // A newer call starts (on the other instance); the retry of the failed end ends nothing.
    let deadline = Instant::now() + Duration::from_secs(5);
    let second = loop {
        match b.join("standup", &user("bob")).await {
            Ok(call) if call != first => break call,
            other => assert!(Instant::now() < deadline, "{other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(a.end_call("standup", first.conference_id()).await, Ok(false));
    assert_eq!(get(&server, &key), Some(call_value(&second)));
    assert_eq!(a.join("standup", &user("alice")).await.unwrap(), second);
}
