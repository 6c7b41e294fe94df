//! Defect 5: keys were neither isolated nor bounded. Two (prefix, room) pairs shared a
//! key; a value the registry did not write got its TTL extended by every join, and a
//! 20 MB one was read on every join; one user could make Redis hold a key per request
//! (25 000 requests evicted 20 574 keys under `maxmemory 4mb volatile-lru`); a room could
//! pick its Cluster slot with `{...}`. And a full Redis must be "unavailable", not a panic.
//!
//! Expected keys and values by the rule written out (SHA1 computed by Redis itself), read
//! back with the harness' own RESP client.

mod common;

use std::time::Duration;

use common::{
    call_value, expected_room_key, expected_user_key, get, instance, pttl,
    redis_server::{RedisServer, Reply},
    redis_sha1_16, user,
};
use tower_callstats::calls::{CallRegistry, Calls, FailurePolicy, RegistryError};

fn net_output_bytes(server: &RedisServer) -> u64 {
    server.info("stats", "total_net_output_bytes").unwrap().parse().unwrap()
}

#[tokio::test]
async fn each_prefix_and_room_pair_has_its_own_key() {
    let Some(server) = RedisServer::start() else { return };
    let outer = instance(&server).key_prefix("callstats:call:").unwrap();
    let inner = instance(&server).key_prefix("callstats:call:staging:").unwrap();
    let a = outer.join("staging:standup", &user("alice")).await.unwrap();
    let b = inner.join("standup", &user("alice")).await.unwrap();
    assert_ne!(a.conference_id(), b.conference_id());
    let key_a = expected_room_key(&server, "callstats:call:", "staging:standup");
    let key_b = expected_room_key(&server, "callstats:call:staging:", "standup");
    assert_ne!(key_a, key_b);
    assert_eq!(get(&server, &key_a), Some(call_value(&a)));
    assert_eq!(get(&server, &key_b), Some(call_value(&b)));
    // Neither can end the other's call.
    assert!(!inner.end_call("standup", a.conference_id()).await.unwrap());
    assert!(!outer.end_call("staging:standup", b.conference_id()).await.unwrap());
    assert_eq!(get(&server, &key_a), Some(call_value(&a)));
    // A prefix that could end inside the hash tag is refused.
    assert!(instance(&server).key_prefix("callstats:{call}:").is_err());
}

#[tokio::test]
async fn a_value_the_registry_did_not_write_is_corrupt_untouched_and_never_read_in_full() {
    let Some(server) = RedisServer::start() else { return };
    let registry = instance(&server).local_cache_ttl(Duration::ZERO);
    let calls = Calls::new(registry.clone());
    let foreign = expected_room_key(&server, "callstats:call:", "foreign");
    let old_format = expected_room_key(&server, "callstats:call:", "old-format");
    let hash = expected_room_key(&server, "callstats:call:", "hash");
    let huge = expected_room_key(&server, "callstats:call:", "huge");
    server.command(&[b"SET", &foreign, b"not a call"]).unwrap();
    server
        .command(&[b"SET", &old_format, b"1795599000 old-format-1"])
        .unwrap();
    server.command(&[b"HSET", &hash, b"field", b"value"]).unwrap();
    let twenty_mb = vec![b'x'; 20 << 20];
    server.command(&[b"SET", &huge, &twenty_mb]).unwrap();

    // A call's join reads it: the scripts' GET is counted in INFO commandstats.
    registry.join("valid", &user("alice")).await.unwrap();
    let gets = server.command_calls("get");
    registry.join("valid", &user("alice")).await.unwrap();
    assert_eq!(server.command_calls("get"), gets + 1, "scripts' commands are counted");

    for (room, key) in [("foreign", &foreign), ("old-format", &old_format), ("hash", &hash)] {
        let error = registry.join(room, &user("alice")).await.unwrap_err();
        assert!(matches!(error, RegistryError::Corrupt(_)), "{room}: {error:?}");
        let fallback = calls.join(room, &user("alice")).await.unwrap();
        assert!(fallback.is_fallback(), "{room}");
        assert_eq!(fallback.conference_id().as_str(), room);
        assert_eq!(pttl(&server, key), -1, "{room}: TTL untouched");
    }
    assert_eq!(get(&server, &foreign), Some(b"not a call".to_vec()));

    // The 20 MB value: Redis checked its length and never read it: no GET ran (Redis'
    // own command counters), and less than 1 MB left Redis.
    let (gets, strlens, sent) = (
        server.command_calls("get"),
        server.command_calls("strlen"),
        net_output_bytes(&server),
    );
    for _ in 0..3 {
        let error = registry.join("huge", &user("alice")).await.unwrap_err();
        assert!(matches!(error, RegistryError::Corrupt(_)), "{error:?}");
        assert!(calls.join("huge", &user("alice")).await.unwrap().is_fallback());
    }
    assert_eq!(server.command_calls("get"), gets, "the 20 MB value was read");
    assert_eq!(server.command_calls("strlen"), strlens + 6, "its length was checked");
    assert!(net_output_bytes(&server) - sent < 1 << 20, "the 20 MB value was sent");
    assert_eq!(pttl(&server, &huge), -1, "TTL untouched");
    assert_eq!(server.command(&[b"STRLEN", &huge]).unwrap(), Reply::Int(20 << 20));
}

#[tokio::test]
async fn a_user_starts_at_most_60_calls_a_minute_across_instances() {
    let Some(server) = RedisServer::start() else { return };
    let (a, b) = (instance(&server), instance(&server));
    let mallory = user("mallory");
    for i in 0..60 {
        let registry = if i % 2 == 0 { &a } else { &b };
        registry.join(&format!("room-{i}"), &mallory).await.unwrap();
    }
    let error = a.join("room-60", &mallory).await.unwrap_err();
    assert!(matches!(error, RegistryError::Full(_)), "{error:?}");
    assert!(matches!(b.join("room-61", &mallory).await, Err(RegistryError::Full(_))));
    assert!(
        Calls::new(a.clone())
            .join("room-62", &mallory)
            .await
            .unwrap()
            .is_fallback()
    );
    // No key was written for the refused rooms; joining an existing call is not limited;
    // another user still starts calls.
    let refused = expected_room_key(&server, "callstats:call:", "room-60");
    assert_eq!(server.command(&[b"EXISTS", &refused]).unwrap(), Reply::Int(0));
    b.join("room-0", &mallory).await.unwrap();
    let alices = a.join("room-60", &user("alice")).await.unwrap();
    assert_eq!(get(&server, &refused), Some(call_value(&alices)));
    // The counter, by the rule written out: 63 attempts, expiring within the minute.
    let counter = expected_user_key(&server, "callstats:call:", "mallory");
    assert_eq!(get(&server, &counter), Some(b"63".to_vec()));
    assert!((1..=60_000).contains(&pttl(&server, &counter)));
    // `0` turns the bound off.
    let unbounded = instance(&server).max_new_calls_per_user(0);
    unbounded.join("room-63", &mallory).await.unwrap();
    assert_eq!(get(&server, &counter), Some(b"63".to_vec()));
}

#[tokio::test]
async fn a_room_cannot_choose_its_hash_tag() {
    let Some(server) = RedisServer::start() else { return };
    let registry = instance(&server);
    for room in ["{a}x", "{a}y"] {
        registry.join(room, &user("alice")).await.unwrap();
    }
    let key_x = expected_room_key(&server, "callstats:call:", "{a}x");
    let key_y = expected_room_key(&server, "callstats:call:", "{a}y");
    // The hash tag: between the first `{` and the first `}` after it (Redis Cluster).
    let tag = |key: &[u8]| {
        let open = key.iter().position(|&b| b == b'{').unwrap();
        let close = open + key[open..].iter().position(|&b| b == b'}').unwrap();
        key[open + 1..close].to_vec()
    };
    assert_eq!(tag(&key_x), redis_sha1_16(&server, b"{a}x"));
    assert_eq!(tag(&key_y), redis_sha1_16(&server, b"{a}y"));
    assert_ne!(tag(&key_x), tag(&key_y));
    for key in [&key_x, &key_y] {
        assert_eq!(server.command(&[b"EXISTS", key]).unwrap(), Reply::Int(1));
    }
}

#[tokio::test]
async fn a_full_redis_is_unavailable_for_new_calls_and_the_known_ones_go_on() {
    let Some(server) = RedisServer::start() else { return };
    let registry = instance(&server).local_cache_ttl(Duration::ZERO);
    let known = registry.join("known", &user("alice")).await.unwrap();
    let known_key = expected_room_key(&server, "callstats:call:", "known");
    for config in [&[b"maxmemory-policy".as_slice(), b"noeviction"], &[b"maxmemory", b"1"]] {
        let reply = server
            .command(&[&[b"CONFIG".as_slice(), b"SET"][..], config].concat())
            .unwrap();
        assert_eq!(reply, Reply::Simple("OK".into()));
    }
    for max in [60, 0] {
        // A join that must write (the user's counter, or the call): Redis refuses, OOM.
        let registry = registry.clone().max_new_calls_per_user(max);
        let error = registry.join("new", &user("alice")).await.unwrap_err();
        assert!(
            matches!(&error, RegistryError::Unavailable(message) if message.contains("OOM")),
            "{error:?}"
        );
        let strict = Calls::new(registry.clone()).on_failure(FailurePolicy::Fail);
        assert!(matches!(
            strict.join("new", &user("alice")).await,
            Err(RegistryError::Unavailable(_))
        ));
        assert!(
            Calls::new(registry)
                .join("new", &user("alice"))
                .await
                .unwrap()
                .is_fallback()
        );
    }
    // The call that exists: still answered (touching a key needs no memory).
    assert_eq!(registry.join("known", &user("bob")).await.unwrap(), known);
    assert_eq!(get(&server, &known_key), Some(call_value(&known)));
    assert_eq!(
        server
            .command(&[b"EXISTS", &expected_room_key(&server, "callstats:call:", "new")])
            .unwrap(),
        Reply::Int(0)
    );
}
