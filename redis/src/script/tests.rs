//! The scripts against a real `redis-server` (skipped, with a message, when there is
//! none; a failure under CI), on keys the public API cannot name. Expected values are the
//! rules written out, read back with the harness' own RESP client.

use tower_callstats::ConferenceId;

use super::*;
use crate::{
    RedisRegistry,
    test_server::{RedisServer, Reply},
    value::{CALL_TAG, ENDED_TAG},
};

fn call(id: &str, start: u64) -> ActiveCall {
    ActiveCall::new(ConferenceId::new(id).unwrap(), start)
}

fn key(name: &str) -> Bytes {
    Bytes::from(name.to_owned().into_bytes())
}

fn registry(server: &RedisServer) -> RedisRegistry {
    RedisRegistry::from_url(&server.url()).unwrap()
}

fn pttl(server: &RedisServer, key: &str) -> i64 {
    match server.command(&[b"PTTL", key.as_bytes()]).unwrap() {
        Reply::Int(ms) => ms,
        other => panic!("{other:?}"),
    }
}

fn get(server: &RedisServer, key: &str) -> Reply {
    server.command(&[b"GET", key.as_bytes()]).unwrap()
}

#[test]
fn the_scripts_hashes_are_the_ones_redis_computes_and_they_use_the_tags() {
    let Some(server) = RedisServer::start() else { return };
    for script in [&JOIN, &CREATE, &END, &INCR_USER] {
        // `SCRIPT LOAD` answers the SHA1 Redis computes itself, lowercase hex.
        let loaded = server.command(&[b"SCRIPT", b"LOAD", script.text.as_bytes()]).unwrap();
        assert_eq!(
            loaded,
            Reply::Bulk(Some(script.sha1.as_bytes().to_vec())),
            "{}",
            script.name
        );
    }
    for script in [&JOIN, &CREATE, &END] {
        assert!(script.text.contains(CALL_TAG), "{}", script.name);
        assert!(script.text.contains(ENDED_TAG), "{}", script.name);
    }
}

#[tokio::test]
async fn join_answers_call_ended_missing_or_corrupt_and_touches_only_calls() {
    let Some(server) = RedisServer::start() else { return };
    let registry = registry(&server);
    let runner = registry.runner();
    let long = [b"cs1 1 ".as_slice(), &[b'x'; 400]].concat();
    // (setup, expected, whether the key gets the idle timeout): the rule written out.
    server.command(&[b"SET", b"call", b"cs1 1795599000 standup-1"]).unwrap();
    server
        .command(&[b"SET", b"ended", b"cs1-ended 1795599000 standup-1"])
        .unwrap();
    server.command(&[b"SET", b"untagged", b"1795599000 standup-1"]).unwrap();
    server.command(&[b"SET", b"long", &long]).unwrap();
    server.command(&[b"HSET", b"hash", b"f", b"v"]).unwrap();
    let found = runner.join(key("call"), 60_000).await.unwrap();
    assert_eq!(found, Found::Call(call("standup-1", 1_795_599_000)));
    assert!((59_000..=60_000).contains(&pttl(&server, "call")), "touched");
    assert_eq!(runner.join(key("ended"), 60_000).await.unwrap(), Found::Ended);
    assert_eq!(pttl(&server, "ended"), -1, "a tombstone is not touched");
    assert_eq!(runner.join(key("none"), 60_000).await.unwrap(), Found::Missing);
    assert_eq!(
        server.command(&[b"EXISTS", b"none"]).unwrap(),
        Reply::Int(0),
        "never creates"
    );
    for corrupt in ["untagged", "long", "hash"] {
        let error = runner.join(key(corrupt), 60_000).await.unwrap_err();
        assert!(matches!(error, RegistryError::Corrupt(_)), "{corrupt}: {error:?}");
        assert_eq!(pttl(&server, corrupt), -1, "{corrupt}: TTL untouched");
    }
}

#[tokio::test]
async fn create_writes_only_where_no_call_is() {
    let Some(server) = RedisServer::start() else { return };
    let registry = registry(&server);
    let runner = registry.runner();
    let mine = call("mine", 7);
    // No key: created with the idle timeout.
    assert_eq!(
        runner.create(key("a"), &mine, 60_000, true).await.unwrap(),
        Found::Call(mine.clone())
    );
    assert_eq!(get(&server, "a"), Reply::Bulk(Some(b"cs1 7 mine".to_vec())));
    assert!((59_000..=60_000).contains(&pttl(&server, "a")));
    // Another call there: it is answered (touched), not replaced.
    server
        .command(&[b"SET", b"b", b"cs1 5 theirs", b"PX", b"1000"])
        .unwrap();
    assert_eq!(
        runner.create(key("b"), &mine, 60_000, true).await.unwrap(),
        Found::Call(call("theirs", 5))
    );
    assert_eq!(get(&server, "b"), Reply::Bulk(Some(b"cs1 5 theirs".to_vec())));
    assert!(pttl(&server, "b") > 59_000);
    // A tombstone: replaced by a new call, kept by a re-assertion.
    server.command(&[b"SET", b"c", b"cs1-ended 5 old"]).unwrap();
    assert_eq!(
        runner.create(key("c"), &mine, 60_000, false).await.unwrap(),
        Found::Ended
    );
    assert_eq!(get(&server, "c"), Reply::Bulk(Some(b"cs1-ended 5 old".to_vec())));
    assert_eq!(
        runner.create(key("c"), &mine, 60_000, true).await.unwrap(),
        Found::Call(mine.clone())
    );
    assert_eq!(get(&server, "c"), Reply::Bulk(Some(b"cs1 7 mine".to_vec())));
    // Garbage: reported, left alone.
    server.command(&[b"SET", b"d", b"not a call"]).unwrap();
    assert!(matches!(
        runner.create(key("d"), &mine, 60_000, true).await,
        Err(RegistryError::Corrupt(_))
    ));
    assert_eq!(get(&server, "d"), Reply::Bulk(Some(b"not a call".to_vec())));
    assert_eq!(pttl(&server, "d"), -1);
}

#[tokio::test]
async fn end_replaces_only_the_named_call_with_its_tombstone() {
    let Some(server) = RedisServer::start() else { return };
    let registry = registry(&server);
    let runner = registry.runner();
    // (stored value, the call being ended, whether it ends): `cs1 <digits> <conferenceID>`
    // with the conferenceID equal, byte for byte.
    let cases: [(&[u8], &str, bool); 10] = [
        (
            b"cs1 1795599000 standup-20261125T0930Z-4f2a9c",
            "standup-20261125T0930Z-4f2a9c",
            true,
        ),
        (b"cs1 1 a b", "a b", true),
        (b"cs1 1795599000 standup-1", "standup-2", false),
        (b"cs1 1 a b", "a", false), // a prefix of the stored ID
        (b"cs1 1 a", "a b", false), // longer than the stored ID
        (b"cs1 1 A", "a", false),   // case matters
        (b"cs1 1  a", "a", false),  // two spaces: the stored ID is " a"
        (b"cs1-ended 1 a", "a", false),
        (b"cs1-ended 1 a", "x", false),
        ("cs1 1 e\u{301}".as_bytes(), "\u{e9}", false), // another normalization is another ID
    ];
    for (i, (stored, id, ends)) in cases.into_iter().enumerate() {
        let name = format!("case-{i}");
        server.command(&[b"SET", name.as_bytes(), stored]).unwrap();
        assert_eq!(runner.end(key(&name), id, 60_000).await.unwrap(), ends, "{name}");
        let expected = if ends {
            [b"cs1-ended ".as_slice(), &stored[4..]].concat()
        } else {
            stored.to_vec()
        };
        assert_eq!(get(&server, &name), Reply::Bulk(Some(expected)), "{name}");
        if ends {
            assert!(
                (59_000..=60_000).contains(&pttl(&server, &name)),
                "{name}: the tombstone expires"
            );
        }
    }
    assert!(!runner.end(key("none"), "x", 60_000).await.unwrap());
    assert_eq!(server.command(&[b"EXISTS", b"none"]).unwrap(), Reply::Int(0));
    for (name, value) in [("garbage", &b"garbage"[..]), ("untagged", b"1 x")] {
        server.command(&[b"SET", name.as_bytes(), value]).unwrap();
        assert!(matches!(
            runner.end(key(name), "x", 60_000).await,
            Err(RegistryError::Corrupt(_))
        ));
        assert_eq!(get(&server, name), Reply::Bulk(Some(value.to_vec())));
    }
    server.command(&[b"RPUSH", b"list", b"cs1 1 x"]).unwrap();
    assert!(matches!(
        runner.end(key("list"), "x", 60_000).await,
        Err(RegistryError::Corrupt(_))
    ));
    assert_eq!(server.command(&[b"EXISTS", b"list"]).unwrap(), Reply::Int(1));
}

#[tokio::test]
async fn incr_user_counts_in_a_window() {
    let Some(server) = RedisServer::start() else { return };
    let registry = registry(&server);
    let runner = registry.runner();
    for expected in 1..=3 {
        assert_eq!(runner.incr_user(key("u"), 60_000).await.unwrap(), expected);
    }
    assert!((59_000..=60_000).contains(&pttl(&server, "u")));
    // A counter left without an expiry gets one.
    server.command(&[b"SET", b"v", b"5"]).unwrap();
    assert_eq!(runner.incr_user(key("v"), 60_000).await.unwrap(), 6);
    assert!((59_000..=60_000).contains(&pttl(&server, "v")));
}

#[tokio::test]
async fn binary_keys_with_protocol_bytes_stay_one_key() {
    let Some(server) = RedisServer::start() else { return };
    server.command(&[b"SET", b"other:app:key", b"keep me"]).unwrap();
    let registry = registry(&server);
    let runner = registry.runner();
    let mine = call("stand-in", 1);
    for room in [
        &b"\r\n*1\r\n$8\r\nFLUSHALL\r\n"[..],
        b"a\r\nDEL other:app:key\r\n",
        b"\0\xff binary",
        b"*",
    ] {
        let key = Bytes::copy_from_slice(room);
        assert_eq!(
            runner.create(key.clone(), &mine, 60_000, true).await.unwrap(),
            Found::Call(mine.clone())
        );
        assert_eq!(
            server.command(&[b"GET", room]).unwrap(),
            Reply::Bulk(Some(b"cs1 1 stand-in".to_vec()))
        );
        assert!(runner.end(key, "stand-in", 60_000).await.unwrap());
    }
    assert_eq!(
        server.command(&[b"GET", b"other:app:key"]).unwrap(),
        Reply::Bulk(Some(b"keep me".to_vec()))
    );
    assert_eq!(server.command(&[b"DBSIZE"]).unwrap(), Reply::Int(5));
}

#[tokio::test]
async fn scripts_are_sent_whole_after_a_script_flush() {
    let Some(server) = RedisServer::start() else { return };
    let registry = registry(&server);
    let runner = registry.runner();
    let exists = || {
        let shas: Vec<&[u8]> = [&JOIN, &CREATE, &END, &INCR_USER]
            .iter()
            .map(|s| s.sha1.as_bytes())
            .collect();
        server
            .command(&[&[b"SCRIPT".as_slice(), b"EXISTS"][..], &shas].concat())
            .unwrap()
    };
    let flags = |v: [i64; 4]| Reply::Array(Some(v.into_iter().map(Reply::Int).collect()));
    assert_eq!(exists(), flags([0, 0, 0, 0]));
    assert_eq!(runner.join(key("r"), 1000).await.unwrap(), Found::Missing);
    assert_eq!(exists(), flags([1, 0, 0, 0]));
    runner.create(key("r"), &call("c", 1), 1000, true).await.unwrap();
    runner.incr_user(key("u"), 1000).await.unwrap();
    assert!(runner.end(key("r"), "c", 1000).await.unwrap());
    assert_eq!(exists(), flags([1, 1, 1, 1]));
    server.command(&[b"SCRIPT", b"FLUSH"]).unwrap();
    assert_eq!(runner.join(key("r"), 1000).await.unwrap(), Found::Ended);
    assert_eq!(exists(), flags([1, 0, 0, 0]));
}
