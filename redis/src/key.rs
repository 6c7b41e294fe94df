//! The Redis keys the registry reads and writes.
//!
//! - A room's call: `prefix + "{" + h(room) + "}" + room`.
//! - A user's count of new calls in the current minute: `prefix + "users:{" + h(user) + "}"`.
//!
//! `h(x)` is the first 16 lowercase hex digits (64 bits) of SHA1(x). The prefix may not hold
//! `{` or `}` ([`validate_prefix`]), so the first `{` of a key always ends the prefix: two
//! (prefix, room) pairs never share a key (`callstats:call:` + `staging:standup` and
//! `callstats:call:staging:` + `standup` are two keys), a room key never equals a user key
//! (the byte after the prefix is `{` for a room, `u` for a user), and the Redis Cluster hash
//! tag (the bytes between the first `{` and the first `}` after it, see Redis' "Cluster
//! specification") is always the registry's own: a room named `{a}x` cannot choose its
//! slot, and rooms spread over every slot. Keys are sent as binary-safe arguments, never
//! formatted into a command.

use bytes::Bytes;
use sha1::{Digest, Sha1};
use tower_callstats::ConfigError;

/// SHA1(`bytes`) in lowercase hex.
pub(crate) fn sha1_hex(bytes: &[u8]) -> [u8; 40] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = [0; 40];
    for (pair, byte) in hex.chunks_exact_mut(2).zip(Sha1::digest(bytes)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0xf)];
    }
    hex
}

/// The first 16 lowercase hex digits (the first 8 bytes) of SHA1(`bytes`).
fn tag(bytes: &[u8]) -> [u8; 16] {
    let mut tag = [0; 16];
    tag.copy_from_slice(&sha1_hex(bytes)[..16]);
    tag
}

/// The key of `room`'s call.
pub(crate) fn room(prefix: &[u8], room: &[u8]) -> Bytes {
    let mut key = Vec::with_capacity(prefix.len() + 18 + room.len());
    key.extend_from_slice(prefix);
    key.push(b'{');
    key.extend_from_slice(&tag(room));
    key.push(b'}');
    key.extend_from_slice(room);
    Bytes::from(key)
}

/// The key of `user`'s counter of new calls.
pub(crate) fn user(prefix: &[u8], user: &[u8]) -> Bytes {
    let mut key = Vec::with_capacity(prefix.len() + 24);
    key.extend_from_slice(prefix);
    key.extend_from_slice(b"users:{");
    key.extend_from_slice(&tag(user));
    key.push(b'}');
    Bytes::from(key)
}

/// A key prefix, refused if it holds `{` or `}` (see the module docs).
pub(crate) fn validate_prefix(prefix: String) -> Result<Bytes, ConfigError> {
    if prefix.contains(['{', '}']) {
        return Err(ConfigError::InvalidValue {
            what: "Redis key prefix",
            value: prefix,
            reason: "it may not contain `{` or `}`: the registry puts its own Redis Cluster hash tag after \
                     the prefix, and the first `{` of a key must end the prefix"
                .into(),
        });
    }
    Ok(Bytes::from(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_is_the_first_16_hex_digits_of_sha1() {
        // Published SHA1 test vectors (FIPS 180 / RFC 3174): SHA1("abc") =
        // a9993e364706816aba3e25717850c26c9cd0d89d, SHA1("") = da39a3ee5e6b4b0d3255bfef95601890afd80709.
        assert_eq!(&tag(b"abc"), b"a9993e364706816a");
        assert_eq!(&tag(b""), b"da39a3ee5e6b4b0d");
    }

    #[test]
    fn keys_follow_the_rule_written_out() {
        assert_eq!(&room(b"p:", b"abc")[..], b"p:{a9993e364706816a}abc");
        assert_eq!(&user(b"p:", b"abc")[..], b"p:users:{a9993e364706816a}");
        // The room's bytes are the key's tail, whatever they are.
        let key = room(b"p:", b"{a}x \r\n*");
        assert!(key.ends_with(b"}{a}x \r\n*"));
        assert_eq!(key[2], b'{');
        assert_eq!(key[19], b'}');
    }

    #[test]
    fn prefixes_with_braces_are_refused() {
        for bad in ["{", "}", "a{b", "app:{x}:", "}{"] {
            let error = validate_prefix(bad.to_owned()).unwrap_err();
            assert!(error.to_string().contains("may not contain"), "{error}");
        }
        for good in ["", "callstats:call:", "app a:", "ü:"] {
            assert_eq!(&validate_prefix(good.to_owned()).unwrap()[..], good.as_bytes());
        }
    }

    #[test]
    fn two_prefix_room_splits_are_two_keys() {
        let a = room(b"callstats:call:", b"staging:standup");
        let b = room(b"callstats:call:staging:", b"standup");
        assert_ne!(a, b);
        // A room key and a user key of the same prefix differ right after the prefix.
        assert_ne!(room(b"p:", b"users:")[2], user(b"p:", b"x")[2]);
    }
}
