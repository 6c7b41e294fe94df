//! Shared helpers of the integration tests, written once: the throwaway `redis-server`
//! ([`redis_server`]), a TCP proxy that can silence a connection ([`proxy`]), the keys
//! and values of the registry by the rule written out, computed with Redis' own SHA1
//! ([`expected_room_key`]), reading response bodies, and a stand-in for the app's
//! authentication.
#![allow(dead_code)]

pub mod proxy;
pub mod redis_server;

use redis_server::{RedisServer, Reply};

use http::request::Parts;
use http_body_util::BodyExt;
use serde_json::Value;
use tower_callstats::AppUser;

/// Collects a body and parses it as JSON.
pub async fn body_json(body: axum::body::Body) -> Value {
    let bytes = body.collect().await.expect("body reads").to_bytes();
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("body is JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

/// Decodes `encodeURIComponent`-style percent-encoding, independently of the crates.
pub fn decode_component(value: &str) -> Vec<u8> {
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap(), 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// `encodeURIComponent` for a path segment, independently of the crates.
pub fn encode_component(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The test header that [`user_from_test_header`] trusts.
pub const TEST_USER_HEADER: &str = "x-test-user";

/// The app's user source in these tests (`Callstats::user`): the user the `x-test-user`
/// header names (no header, no user). Tests only: a real app reads its session.
pub fn user_from_test_header(parts: &Parts) -> Option<AppUser> {
    let name = parts.headers.get(TEST_USER_HEADER)?.to_str().ok()?;
    Some(AppUser::new(name))
}

/// The first 16 hex digits of SHA1(`bytes`), computed by Redis (`redis.sha1hex` in a Lua
/// script): not by the code under test.
pub fn redis_sha1_16(server: &RedisServer, bytes: &[u8]) -> Vec<u8> {
    match server
        .command(&[b"EVAL", b"return redis.sha1hex(ARGV[1])", b"0", bytes])
        .unwrap()
    {
        Reply::Bulk(Some(hex)) => hex[..16].to_vec(),
        other => panic!("sha1hex: {other:?}"),
    }
}

/// A room's key, by the rule written out: `prefix + "{" + sha1(room)[..16] + "}" + room`.
pub fn expected_room_key(server: &RedisServer, prefix: &str, room: &str) -> Vec<u8> {
    [
        prefix.as_bytes(),
        b"{",
        &redis_sha1_16(server, room.as_bytes()),
        b"}",
        room.as_bytes(),
    ]
    .concat()
}

/// A user's counter key, by the rule written out: `prefix + "users:{" + sha1(user)[..16] + "}"`.
pub fn expected_user_key(server: &RedisServer, prefix: &str, user: &str) -> Vec<u8> {
    [
        prefix.as_bytes(),
        b"users:{",
        &redis_sha1_16(server, user.as_bytes()),
        b"}",
    ]
    .concat()
}

/// The value of a call, by the rule written out: `cs1 <start> <conferenceID>`.
pub fn call_value(call: &tower_callstats::calls::ActiveCall) -> Vec<u8> {
    format!("cs1 {} {}", call.started_at(), call.conference_id()).into_bytes()
}

/// The tombstone of a call, by the rule written out: `cs1-ended <start> <conferenceID>`.
pub fn tombstone_value(call: &tower_callstats::calls::ActiveCall) -> Vec<u8> {
    format!("cs1-ended {} {}", call.started_at(), call.conference_id()).into_bytes()
}

/// `GET key`, read by the harness.
pub fn get(server: &RedisServer, key: &[u8]) -> Option<Vec<u8>> {
    match server.command(&[b"GET", key]).unwrap() {
        Reply::Bulk(value) => value,
        other => panic!("GET: {other:?}"),
    }
}

/// `PTTL key`, read by the harness.
pub fn pttl(server: &RedisServer, key: &[u8]) -> i64 {
    match server.command(&[b"PTTL", key]).unwrap() {
        Reply::Int(ms) => ms,
        other => panic!("PTTL: {other:?}"),
    }
}

/// Joins `room` on `registry` until Redis answers this instance (it holds `expected`,
/// written or touched by this instance's join: the harness first shortens the key's
/// expiry to 100 s, a join sets it to the idle timeout, 2 h), for at most 5 s; every
/// answer meanwhile, from Redis or from memory, must be `expected` too.
pub async fn until_redis_answers(
    server: &RedisServer,
    registry: &tower_callstats_redis::RedisRegistry,
    room: &str,
    expected: &tower_callstats::calls::ActiveCall,
) {
    let key = expected_room_key(server, "callstats:call:", room);
    server.command(&[b"PEXPIRE", &key, b"100000"]).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        assert_eq!(
            tower_callstats::calls::CallRegistry::join(registry, room, &tower_callstats::UserId::new("alice").unwrap())
                .await
                .as_ref(),
            Ok(expected)
        );
        if get(server, &key) == Some(call_value(expected)) && pttl(server, &key) > 100_000 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Redis did not answer with {expected:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(150)).await; // past the local cache's ttl
    }
}
