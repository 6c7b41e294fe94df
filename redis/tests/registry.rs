//! `RedisRegistry` against a real `redis-server`, when Redis is healthy: two instances
//! sharing one Redis, ending exactly the named call, the local cache, the idle timeout,
//! rooms as keys, and the app's own fred client or pool. (Faults: `tests/faults.rs`,
//! `tests/outage.rs`, `tests/keys.rs`; topologies: `tests/topologies.rs`.)
//!
//! Each test starts its own `redis-server` on a free port of 127.0.0.1 (persistence off)
//! and kills it at the end. What a test reads back from Redis it reads with the harness'
//! own RESP client, and the keys it expects it computes by the rule written out, with
//! Redis' own SHA1.

mod common;

use std::{collections::HashSet, time::Duration};

use common::{
    call_value, expected_room_key, get, instance, pttl,
    redis_server::{RedisServer, Reply},
    tombstone_value, user,
};
use tower_callstats::{
    UserId,
    calls::{ActiveCall, CallRegistry, RegistryError},
};
use tower_callstats_redis::{
    RedisRegistry,
    fred::{interfaces::ClientLike, prelude::Builder, types::config::Config},
};

async fn join(registry: &RedisRegistry, room: &str) -> Result<ActiveCall, RegistryError> {
    registry.join(room, &user("alice")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_racing_on_one_new_room_agree_on_one_id() {
    let Some(server) = RedisServer::start() else { return };
    let a = instance(&server);
    let b = instance(&server);
    for round in 0..10 {
        let room = format!("race-{round}");
        let mut tasks = Vec::new();
        for i in 0..40 {
            let registry = if i % 2 == 0 { a.clone() } else { b.clone() };
            let room = room.clone();
            let user = UserId::new(format!("user-{i}")).unwrap();
            tasks.push(tokio::spawn(async move { registry.join(&room, &user).await }));
        }
        let mut calls = Vec::new();
        for task in tasks {
            calls.push(task.await.unwrap().unwrap());
        }
        let call = calls[0].clone();
        assert!(calls.iter().all(|c| *c == call), "round {round}: {calls:?}");
        assert!(call.conference_id().starts_with(&format!("race-{round}-")), "{call:?}");
        assert_eq!(
            get(&server, &expected_room_key(&server, "callstats:call:", &room)),
            Some(call_value(&call))
        );
    }
}

#[tokio::test]
async fn end_call_ends_only_the_named_call_and_reaches_the_other_instance_within_the_local_cache_ttl() {
    let Some(server) = RedisServer::start() else { return };
    let ttl = Duration::from_millis(200);
    let a = instance(&server).local_cache_ttl(ttl);
    let b = instance(&server).local_cache_ttl(ttl);
    let key = expected_room_key(&server, "callstats:call:", "standup");

    let first = join(&a, "standup").await.unwrap();
    assert_eq!(join(&b, "standup").await.unwrap(), first);
    assert_eq!(b.join_now("standup", &user("alice")), Some(Ok(first.clone())));

    assert!(a.end_call("standup", first.conference_id()).await.unwrap());
    assert_eq!(get(&server, &key), Some(tombstone_value(&first)));
    assert!(
        pttl(&server, &key) > 7_000_000,
        "the tombstone lives for the idle timeout"
    );
    // The instance that ended it forgot it; a join starts a new call.
    assert_eq!(a.join_now("standup", &user("alice")), None);
    let second = join(&a, "standup").await.unwrap();
    assert_ne!(second.conference_id(), first.conference_id());
    assert_eq!(get(&server, &key), Some(call_value(&second)));

    // A late or repeated end of the first call, from either instance, ends nothing.
    assert!(!b.end_call("standup", first.conference_id()).await.unwrap());
    assert!(!a.end_call("standup", first.conference_id()).await.unwrap());
    assert_eq!(get(&server, &key), Some(call_value(&second)));

    // b forgot the room when it ended (nothing); once `ttl` has passed, every instance has
    // the new call.
    tokio::time::sleep(ttl + Duration::from_millis(20)).await;
    assert_eq!(b.join_now("standup", &user("alice")), None);
    assert_eq!(join(&b, "standup").await.unwrap(), second);
    assert!(b.end_call("standup", second.conference_id()).await.unwrap());
    assert!(!a.end_call("standup", second.conference_id()).await.unwrap());
    // A room that has no call: nothing to end, and nothing written.
    assert!(!a.end_call("retro", second.conference_id()).await.unwrap());
    assert_eq!(
        server.command(&[b"DBSIZE"]).unwrap(),
        Reply::Int(2),
        "standup and alice's counter"
    );
}

#[tokio::test]
async fn join_now_answers_from_the_local_cache_and_a_join_touches_the_key() {
    let Some(server) = RedisServer::start() else { return };
    let registry = instance(&server)
        .idle_timeout(Duration::from_secs(60))
        .local_cache_ttl(Duration::from_millis(300));
    let key = expected_room_key(&server, "callstats:call:", "standup");
    assert_eq!(registry.join_now("standup", &user("alice")), None, "a cold cache");
    let first = join(&registry, "standup").await.unwrap();
    let scripts_before = server.command_calls("evalsha");
    for _ in 0..100 {
        assert_eq!(registry.join_now("standup", &user("alice")), Some(Ok(first.clone())));
    }
    assert_eq!(
        server.command_calls("evalsha"),
        scripts_before,
        "join_now sent no script"
    );
    // Make the key look older, then let the cache expire: the next join runs one script,
    // which touches the key again.
    server.command(&[b"PEXPIRE", &key, b"5000"]).unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(registry.join_now("standup", &user("alice")), None, "the entry is stale");
    assert_eq!(join(&registry, "standup").await.unwrap(), first);
    assert_eq!(server.command_calls("evalsha"), scripts_before + 1);
    let ttl = pttl(&server, &key);
    assert!(
        ttl > 50_000 && ttl <= 60_000,
        "the join did not touch the key: PTTL {ttl}"
    );
}

#[tokio::test]
async fn an_idle_call_expires_in_redis_and_is_not_brought_back() {
    let Some(server) = RedisServer::start() else { return };
    let registry = instance(&server)
        .idle_timeout(Duration::from_millis(600))
        .local_cache_ttl(Duration::from_millis(50));
    let key = expected_room_key(&server, "callstats:call:", "standup");
    let first = join(&registry, "standup").await.unwrap();
    // Joins every 100 ms keep it alive for twice the idle timeout.
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(join(&registry, "standup").await.unwrap(), first);
    }
    // No join for twice the idle timeout: Redis expired the key; this instance knew the
    // call longer ago than the idle timeout, so it starts a new one (no re-assertion).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(server.command(&[b"EXISTS", &key]).unwrap(), Reply::Int(0));
    let next = join(&registry, "standup").await.unwrap();
    assert_ne!(next, first);
    assert_eq!(get(&server, &key), Some(call_value(&next)));
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
    for room in rooms {
        let call = join(&registry, room).await.unwrap();
        ids.insert(call.conference_id().clone());
        let key = expected_room_key(&server, "callstats:call:", room);
        assert_eq!(get(&server, &key), Some(call_value(&call)), "{room:?}");
        assert_eq!(join(&registry, room).await.unwrap(), call);
        assert!(call.conference_id().len() <= 256);
    }
    assert_eq!(ids.len(), rooms.len());
    assert_eq!(get(&server, b"other-app:secret"), Some(b"keep me".to_vec()));
    // The rooms, alice's counter of new calls, and the other app's key.
    assert_eq!(
        server.command(&[b"DBSIZE"]).unwrap(),
        Reply::Int(rooms.len() as i64 + 2)
    );
    let lao = join(&registry, &long).await.unwrap();
    assert!(lao.conference_id().as_str().starts_with(&long[..234]));
}

#[tokio::test]
async fn the_apps_own_client_or_pool_can_carry_the_registry() {
    let Some(server) = RedisServer::start() else { return };
    let config = Config::from_url(&server.url()).unwrap();
    let client = Builder::from_config(config.clone()).build().unwrap();
    client.init().await.unwrap();
    let pool = Builder::from_config(config).build_pool(3).unwrap();
    pool.init().await.unwrap();
    let on_client = RedisRegistry::from_client(client.clone());
    let on_pool = RedisRegistry::from_pool(pool.clone()).local_cache_ttl(Duration::ZERO);
    assert!(format!("{on_pool:?}").contains("Pool(size: 3)"), "{on_pool:?}");

    let first = join(&on_client, "standup").await.unwrap();
    for _ in 0..6 {
        // Each join of the pool's registry goes to the pool's next client.
        assert_eq!(join(&on_pool, "standup").await.unwrap(), first);
    }
    assert!(on_pool.end_call("standup", first.conference_id()).await.unwrap());
    let key = expected_room_key(&server, "callstats:call:", "standup");
    assert_eq!(get(&server, &key), Some(tombstone_value(&first)));
    client.quit().await.unwrap();
    pool.quit().await.unwrap();
}
