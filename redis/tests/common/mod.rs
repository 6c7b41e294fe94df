//! Shared helpers of the integration tests, written once: the throwaway `redis-server`
//! ([`redis_server`]), a TCP proxy that can silence a connection ([`proxy`]), users and
//! registry instances, the keys and values of the registry by the rule written out,
//! computed with Redis' own SHA1 ([`expected_room_key`]), reading response bodies, and a
//! stand-in for the app's authentication.
#![allow(dead_code)]

pub mod proxy;
pub mod redis_server;

use std::time::{Duration, Instant};

use redis_server::{RedisServer, Reply};

use http::request::Parts;
use http_body_util::BodyExt;
use serde_json::Value;
use tower_callstats::{
    AppUser, UserId,
    calls::{ActiveCall, CallRegistry, RegistryError},
};
use tower_callstats_redis::RedisRegistry;

/// The user `name`.
pub fn user(name: &str) -> UserId {
    UserId::new(name).unwrap()
}

/// One "instance": its own client and its own local cache (default settings).
pub fn instance(server: &RedisServer) -> RedisRegistry {
    RedisRegistry::from_url(&server.url()).unwrap()
}

/// An instance whose local cache expires quickly, so that its joins go to Redis.
pub fn instance_with_short_cache(server: &RedisServer) -> RedisRegistry {
    instance(server).local_cache_ttl(Duration::from_millis(100))
}

/// Whether `error` is Redis failing to answer (a timeout, or unavailable).
pub fn is_redis_failure(error: &RegistryError) -> bool {
    matches!(error, RegistryError::Timeout | RegistryError::Unavailable(_))
}

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
    redis_sha1_16_on(server.port(), bytes)
}

/// [`redis_sha1_16`], computed by the Redis on `port` of 127.0.0.1.
pub fn redis_sha1_16_on(port: u16, bytes: &[u8]) -> Vec<u8> {
    match redis_server::command(port, &[b"EVAL", b"return redis.sha1hex(ARGV[1])", b"0", bytes]).unwrap() {
        Reply::Bulk(Some(hex)) => hex[..16].to_vec(),
        other => panic!("sha1hex: {other:?}"),
    }
}

/// A room's key, by the rule written out: `prefix + "{" + sha1(room)[..16] + "}" + room`.
pub fn expected_room_key(server: &RedisServer, prefix: &str, room: &str) -> Vec<u8> {
    expected_room_key_on(server.port(), prefix, room)
}

/// [`expected_room_key`], the SHA1 computed by the Redis on `port` of 127.0.0.1.
pub fn expected_room_key_on(port: u16, prefix: &str, room: &str) -> Vec<u8> {
    [
        prefix.as_bytes(),
        b"{",
        &redis_sha1_16_on(port, room.as_bytes()),
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
pub fn call_value(call: &ActiveCall) -> Vec<u8> {
    format!("cs1 {} {}", call.started_at(), call.conference_id()).into_bytes()
}

/// The tombstone of a call, by the rule written out: `cs1-ended <start> <conferenceID>`.
pub fn tombstone_value(call: &ActiveCall) -> Vec<u8> {
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
    int(server.command(&[b"PTTL", key]).unwrap())
}

/// The integer of an integer reply (panics on any other reply).
pub fn int(reply: Reply) -> i64 {
    match reply {
        Reply::Int(n) => n,
        other => panic!("not an integer reply: {other:?}"),
    }
}

/// Joins `room` on `registry` until Redis answers this instance (it holds `expected`,
/// written or touched by this instance's join: the harness first shortens the key's
/// expiry to 100 s, a join sets it to the idle timeout, 2 h), for at most 5 s; every
/// answer meanwhile, from Redis or from memory, must be `expected` too.
pub async fn until_redis_answers(server: &RedisServer, registry: &RedisRegistry, room: &str, expected: &ActiveCall) {
    let key = expected_room_key(server, "callstats:call:", room);
    server.command(&[b"PEXPIRE", &key, b"100000"]).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        assert_eq!(registry.join(room, &user("alice")).await.as_ref(), Ok(expected));
        if get(server, &key) == Some(call_value(expected)) && pttl(server, &key) > 100_000 {
            return;
        }
        assert!(Instant::now() < deadline, "Redis did not answer with {expected:?}");
        tokio::time::sleep(Duration::from_millis(150)).await; // past the local cache's ttl
    }
}
