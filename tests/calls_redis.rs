//! `RedisRegistry` against a real `redis-server`: two instances sharing one Redis, an
//! outage and its recovery, garbage in Redis, and key-prefix isolation.
//!
//! Each test starts its own `redis-server` on a free loopback port (persistence off) and
//! kills it at the end. Without the binary the tests print why and return (and fail
//! under CI): install the Debian package `redis-server`.

#[path = "../src/calls/test_redis_server.rs"]
mod test_redis_server;

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use test_redis_server::{RedisServer, Reply};
use tower_callstats::{
    ConferenceId,
    calls::{CallRegistry, FailurePolicy, PerCall, RedisRegistry, RegistryError},
};

fn room(name: &str) -> ConferenceId {
    ConferenceId::new(name).unwrap()
}

/// One "instance": its own client and its own local cache.
fn instance(server: &RedisServer) -> RedisRegistry {
    RedisRegistry::from_url(&server.url()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_racing_on_one_new_room_agree_on_one_id() {
    let Some(server) = RedisServer::start() else { return };
    let a = instance(&server);
    let b = instance(&server);
    for round in 0..10 {
        let name = room(&format!("race-{round}"));
        let mut tasks = Vec::new();
        for i in 0..40 {
            let registry = if i % 2 == 0 { a.clone() } else { b.clone() };
            let name = name.clone();
            tasks.push(tokio::spawn(async move { registry.join(&name).await }));
        }
        let mut ids = HashSet::new();
        for task in tasks {
            ids.insert(task.await.unwrap().unwrap().into_conference_id());
        }
        assert_eq!(ids.len(), 1, "round {round}: {ids:?}");
        let id = ids.into_iter().next().unwrap();
        assert!(id.as_str().starts_with(&format!("race-{round}-")), "{id}");
    }
}

#[tokio::test]
async fn end_call_on_one_instance_reaches_the_other_within_the_local_cache_ttl() {
    let Some(server) = RedisServer::start() else { return };
    let ttl = Duration::from_millis(200);
    let a = instance(&server).local_cache_ttl(ttl);
    let b = instance(&server).local_cache_ttl(ttl);
    let standup = room("standup");

    let first = a.join(&standup).await.unwrap();
    assert_eq!(b.join(&standup).await.unwrap(), first);
    // b now answers from its local cache: no round trip.
    assert!(b.join(&standup).is_ready());

    a.end_call(&standup).await.unwrap();
    let second = a.join(&standup).await.unwrap();
    assert_ne!(second.conference_id(), first.conference_id());

    // Right away, b may still hand out the ended call (its cache is at most `ttl` old);
    // after `ttl`, b has the new call.
    let early = b.join(&standup).await.unwrap();
    assert!(early == first || early == second);
    tokio::time::sleep(ttl + Duration::from_millis(20)).await;
    assert_eq!(b.join(&standup).await.unwrap(), second);
    assert_eq!(a.join(&standup).await.unwrap(), second);
}

#[tokio::test]
async fn an_outage_fails_fast_falls_back_to_the_room_and_recovers() {
    let Some(mut server) = RedisServer::start() else { return };
    let timeout = Duration::from_millis(250);
    let registry = instance(&server)
        .command_timeout(timeout)
        .local_cache_ttl(Duration::ZERO);
    let calls = PerCall::new(registry.clone());
    let strict = PerCall::new(registry.clone()).on_failure(FailurePolicy::Fail);
    let standup = room("standup");

    let before = calls.join(standup.clone()).await.unwrap();
    assert!(!before.is_fallback());

    server.stop();
    for _ in 0..5 {
        let started = Instant::now();
        let error = registry.join(&standup).await.unwrap_err();
        assert!(
            matches!(error, RegistryError::Unavailable(_) | RegistryError::Timeout),
            "{error:?}"
        );
        let fallback = calls.join(standup.clone()).await.unwrap();
        assert_eq!(fallback.conference_id(), &standup);
        assert!(fallback.is_fallback());
        assert!(strict.join(standup.clone()).await.is_err());
        assert!(registry.end_call(&standup).await.is_err());
        // Bounded by the command timeout (with slack for a loaded machine).
        let elapsed = started.elapsed();
        eprintln!("Redis down: {error:?}; four operations in {elapsed:?}");
        assert!(elapsed < 4 * timeout + Duration::from_millis(500), "{elapsed:?}");
    }
    assert!(calls.is_degraded());

    server.restart();
    // The client reconnects by itself (back-off up to 2 s).
    let deadline = Instant::now() + Duration::from_secs(15);
    let restarted = Instant::now();
    let after = loop {
        let call = calls.join(standup.clone()).await.unwrap();
        if !call.is_fallback() {
            eprintln!("recovered {:?} after the restart", restarted.elapsed());
            break call;
        }
        assert!(Instant::now() < deadline, "no recovery within 15 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!calls.is_degraded());
    // The restarted Redis is empty: a new call, which every join now shares.
    assert_ne!(after.conference_id(), before.conference_id());
    assert_eq!(strict.join(standup.clone()).await.unwrap(), after);
}

#[tokio::test]
async fn a_slow_redis_times_out() {
    let Some(server) = RedisServer::start() else { return };
    let timeout = Duration::from_millis(200);
    let registry = instance(&server)
        .command_timeout(timeout)
        .local_cache_ttl(Duration::ZERO);
    let standup = room("standup");
    registry.join(&standup).await.unwrap();
    // Redis stops answering every client for 1.5 s.
    assert_eq!(
        server.command(&[b"CLIENT", b"PAUSE", b"1500", b"ALL"]).unwrap(),
        Reply::Simple("OK".into())
    );
    let started = Instant::now();
    assert_eq!(registry.join(&standup).await.unwrap_err(), RegistryError::Timeout);
    let elapsed = started.elapsed();
    assert!(elapsed >= timeout - Duration::from_millis(10), "{elapsed:?}");
    assert!(elapsed < timeout + Duration::from_millis(700), "{elapsed:?}");
    let fallback = PerCall::new(registry.clone()).join(standup.clone()).await.unwrap();
    assert!(fallback.is_fallback());
}

#[tokio::test]
async fn garbage_in_redis_is_corrupt_and_falls_back_without_a_panic() {
    let Some(server) = RedisServer::start() else { return };
    let registry = instance(&server).local_cache_ttl(Duration::ZERO);
    let calls = PerCall::new(registry.clone());
    for (i, garbage) in [
        &b"garbage"[..],
        b"",
        b"123",
        b"123 ",
        b"-5 id",
        b"99999999999999999999999 id",
        b"1 \xff\xfe\xfd",
        b"1 bad\r\nid",
        &[b'1', b' ', b'x', b'x'].repeat(100)[..],
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("garbage-{i}");
        let key = format!("callstats:call:{name}");
        server.command(&[b"SET", key.as_bytes(), garbage]).unwrap();
        let error = registry.join(&room(&name)).await.unwrap_err();
        assert!(matches!(error, RegistryError::Corrupt(_)), "{garbage:?}: {error:?}");
        let fallback = calls.join(room(&name)).await.unwrap();
        assert_eq!(fallback.conference_id().as_str(), name);
        assert!(fallback.is_fallback());
        // end_call clears it: the next join starts a proper call.
        registry.end_call(&room(&name)).await.unwrap();
        assert!(!calls.join(room(&name)).await.unwrap().is_fallback());
    }
    // A key of another type.
    server.command(&[b"RPUSH", b"callstats:call:list", b"x"]).unwrap();
    let error = registry.join(&room("list")).await.unwrap_err();
    assert!(matches!(error, RegistryError::Corrupt(_)), "{error:?}");
    // A valid value written by someone else is simply used.
    server
        .command(&[
            b"SET",
            b"callstats:call:preset",
            b"1795599000 preset-20261125T0930Z-000000",
        ])
        .unwrap();
    let preset = registry.join(&room("preset")).await.unwrap();
    assert_eq!(preset.conference_id().as_str(), "preset-20261125T0930Z-000000");
    assert_eq!(preset.started_at(), 1_795_599_000);
}

#[tokio::test]
async fn key_prefixes_keep_registries_apart() {
    let Some(server) = RedisServer::start() else { return };
    let app_a = instance(&server).key_prefix("app-a:");
    let app_b = instance(&server).key_prefix("app-b:");
    let standup = room("standup");
    let in_a = app_a.join(&standup).await.unwrap();
    let in_b = app_b.join(&standup).await.unwrap();
    assert_ne!(in_a.conference_id(), in_b.conference_id());
    app_b.end_call(&standup).await.unwrap();
    assert_eq!(app_a.join(&standup).await.unwrap(), in_a);
    assert_eq!(server.command(&[b"EXISTS", b"app-a:standup"]).unwrap(), Reply::Int(1));
    assert_eq!(server.command(&[b"EXISTS", b"app-b:standup"]).unwrap(), Reply::Int(0));
    // The default prefix is a third namespace.
    let default = instance(&server);
    assert_ne!(default.join(&standup).await.unwrap(), in_a);
    assert_eq!(
        server.command(&[b"EXISTS", b"callstats:call:standup"]).unwrap(),
        Reply::Int(1)
    );
}

#[tokio::test]
async fn room_keys_cannot_reach_other_keys() {
    let Some(server) = RedisServer::start() else { return };
    server.command(&[b"SET", b"other-app:secret", b"keep me"]).unwrap();
    let registry = instance(&server).local_cache_ttl(Duration::ZERO);
    let long = "ອິນເຕີເນັດ".repeat(8); // 240 bytes of Lao
    let rooms = [
        " ; FLUSHALL",
        "*",
        "other-app:*",
        "a b c",
        "\"quoted\" 'single' $1 {braces}",
        "EVAL \"redis.call('FLUSHALL')\" 0",
        long.as_str(),
    ];
    let mut ids = HashSet::new();
    for name in rooms {
        let call = registry.join(&room(name)).await.unwrap();
        ids.insert(call.conference_id().clone());
        // Exactly one key, the prefix followed by the room's bytes.
        let key = [b"callstats:call:".as_slice(), name.as_bytes()].concat();
        assert_eq!(server.command(&[b"EXISTS", &key]).unwrap(), Reply::Int(1), "{name:?}");
        assert_eq!(registry.join(&room(name)).await.unwrap(), call);
        assert!(call.conference_id().len() <= 256);
    }
    assert_eq!(ids.len(), rooms.len());
    assert_eq!(
        server.command(&[b"GET", b"other-app:secret"]).unwrap(),
        Reply::Bulk(Some(b"keep me".to_vec()))
    );
    assert_eq!(
        server.command(&[b"DBSIZE"]).unwrap(),
        Reply::Int(rooms.len() as i64 + 1)
    );
    // The long Lao room was cut on a character boundary to fit 256 bytes.
    let lao = registry.join(&room(&long)).await.unwrap();
    assert!(lao.conference_id().len() <= 256);
    assert!(lao.conference_id().as_str().starts_with(&long[..234]));
}

#[tokio::test]
async fn the_local_cache_spares_round_trips_and_the_key_is_touched() {
    let Some(server) = RedisServer::start() else { return };
    let registry = instance(&server)
        .idle_timeout(Duration::from_secs(60))
        .local_cache_ttl(Duration::from_millis(300));
    let standup = room("standup");
    let first = registry.join(&standup).await.unwrap();
    // Within the ttl: answered from the cache, without I/O.
    for _ in 0..100 {
        match registry.join(&standup) {
            tower_callstats::calls::Join::Ready(Ok(call)) => assert_eq!(call, first),
            other => panic!("expected a cache hit, got {other:?}"),
        }
    }
    // Make the key look older, then let the cache expire: the next join touches it.
    server
        .command(&[b"PEXPIRE", b"callstats:call:standup", b"5000"])
        .unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(registry.join(&standup).await.unwrap(), first);
    let Reply::Int(ttl) = server.command(&[b"PTTL", b"callstats:call:standup"]).unwrap() else {
        panic!("PTTL")
    };
    assert!(ttl > 50_000, "the join did not touch the key: PTTL {ttl}");
}

#[tokio::test]
async fn an_idle_call_expires_in_redis() {
    let Some(server) = RedisServer::start() else { return };
    let registry = instance(&server)
        .idle_timeout(Duration::from_millis(300))
        .local_cache_ttl(Duration::from_millis(50));
    let standup = room("standup");
    let first = registry.join(&standup).await.unwrap();
    // Joins every 100 ms keep it alive for well over the idle timeout.
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(registry.join(&standup).await.unwrap(), first);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_ne!(registry.join(&standup).await.unwrap(), first);
}
