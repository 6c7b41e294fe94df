//! The connection's faults, each test a defect the registry once had:
//!
//! 1. An instance started before its Redis never used Redis (fred's `Config::fail_fast`,
//!    default `true`, ended the connection task after the first failed connect).
//! 2. A silent connection (the link silenced, Redis healthy) was never replaced (no
//!    unresponsive timeout; and fred's own check, which measures from the last write,
//!    never fires on a busy connection).
//!
//! Servers on 127.0.0.1, killed at the end; what Redis holds is read with the harness'
//! own RESP client, keys computed by the rule written out with Redis' own SHA1.

mod common;

use std::time::{Duration, Instant};

use common::{
    call_value, expected_room_key, get, is_redis_failure,
    proxy::Proxy,
    redis_server::{RedisServer, free_port},
    user,
};
use tower_callstats::calls::CallRegistry;
use tower_callstats_redis::RedisRegistry;

/// Defect 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_started_before_its_redis_uses_redis_within_2_s_of_its_start() {
    let port = free_port();
    let Some(mut server) = RedisServer::not_started(port) else {
        return;
    };
    let registry = RedisRegistry::from_url(&format!("redis://127.0.0.1:{port}")).unwrap();
    // No Redis: joins fail (and `Calls` would fall back to the room).
    for i in 0..3 {
        let error = registry.join(&format!("early-{i}"), &user("alice")).await.unwrap_err();
        assert!(is_redis_failure(&error), "{error:?}");
    }
    // Long enough for the first connect to have failed and the back-off to have grown.
    tokio::time::sleep(Duration::from_secs(2)).await;

    server.restart(); // returns once the new server answers PING
    let started = Instant::now();
    let call = loop {
        match registry.join("standup", &user("alice")).await {
            Ok(call) => break call,
            Err(error) => {
                assert!(is_redis_failure(&error), "{error:?}");
                assert!(
                    started.elapsed() < Duration::from_secs(2),
                    "Redis not used within 2 s of its start: {error:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    eprintln!("Redis used {:?} after it started", started.elapsed());
    // The call is Redis' (read back raw), not an answer from memory.
    let key = expected_room_key(&server, "callstats:call:", "standup");
    assert_eq!(get(&server, &key), Some(call_value(&call)));
}

/// Defect 2, on a busy connection (a join every 50 ms) and on an idle one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_replaced_within_the_command_and_unresponsive_timeouts() {
    let Some(server) = RedisServer::start() else { return };
    let proxy = Proxy::start(server.port()).await;
    let command_timeout = Duration::from_millis(250);
    let unresponsive = Duration::from_secs(1);
    let slack = Duration::from_millis(1500);
    let registry = RedisRegistry::from_url(&proxy.url())
        .unwrap()
        .command_timeout(command_timeout)
        .unresponsive_timeout(unresponsive)
        .local_cache_ttl(Duration::ZERO); // every join asks Redis
    let known = registry.join("known", &user("alice")).await.unwrap();
    assert_eq!(proxy.accepted(), 1);

    // Busy: joins keep coming; each new room's join fails until a new connection is up.
    proxy.silence();
    let silenced_at = Instant::now();
    let mut i = 0;
    let call = loop {
        i += 1;
        // The room this instance knows: its call all along (answered from memory).
        assert_eq!(registry.join("known", &user("alice")).await.unwrap(), known);
        let room = format!("busy-{i}");
        match registry.join(&room, &user("alice")).await {
            Ok(call) => break (room, call),
            Err(error) => assert!(is_redis_failure(&error), "{error:?}"),
        }
        assert!(
            silenced_at.elapsed() < command_timeout + unresponsive + slack,
            "still no answer after {:?} (connections accepted: {})",
            silenced_at.elapsed(),
            proxy.accepted()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!(
        "busy: a new connection answered {:?} after the silence",
        silenced_at.elapsed()
    );
    assert_eq!(proxy.accepted(), 2, "one new connection");
    let key = expected_room_key(&server, "callstats:call:", &call.0);
    assert_eq!(get(&server, &key), Some(call_value(&call.1)));

    // Idle: one join goes unanswered, then nothing: fred's unresponsive check (configured
    // by `from_url`) replaces the connection by itself.
    proxy.silence();
    let silenced_at = Instant::now();
    let error = registry.join("idle", &user("alice")).await.unwrap_err();
    assert!(is_redis_failure(&error), "{error:?}");
    while proxy.accepted() < 3 {
        assert!(
            silenced_at.elapsed() < command_timeout + unresponsive + slack,
            "the idle silent connection was not replaced"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("idle: a new connection {:?} after the silence", silenced_at.elapsed());
    let deadline = Instant::now() + Duration::from_secs(2);
    let idle = loop {
        match registry.join("idle", &user("alice")).await {
            Ok(call) => break call,
            Err(error) if Instant::now() < deadline => eprintln!("{error:?}"),
            Err(error) => panic!("{error:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let key = expected_room_key(&server, "callstats:call:", "idle");
    assert_eq!(get(&server, &key), Some(call_value(&idle)));
}
