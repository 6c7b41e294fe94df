//! Identifier construction and percent-encoding.
//!
//! Properties: validation never panics and accepts exactly the values the rules allow
//! (1 to 256 bytes of UTF-8, no control characters); `percent_decode(percent_encode(x))
//! == x` for every string; strict decoding of arbitrary input never panics, and what
//! it decodes round-trips; an error names a real position.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_callstats::{
    ConferenceId, IdError, UserId,
    id::{MAX_ID_BYTES, percent_decode, percent_encode},
};

fn valid(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_ID_BYTES && !s.chars().any(char::is_control)
}

fn check_identifier(s: &str) {
    let user = UserId::new(s);
    let conference = ConferenceId::new(s);
    assert_eq!(user.is_ok(), valid(s), "{s:?}: {user:?}");
    assert_eq!(conference.is_ok(), valid(s), "{s:?}: {conference:?}");
    match user {
        Ok(id) => {
            assert_eq!(id.as_str().as_bytes(), s.as_bytes());
            let encoded = id.percent_encoded();
            assert!(http::HeaderValue::try_from(encoded.as_str()).is_ok(), "{encoded}");
            assert_eq!(UserId::from_percent_encoded(&encoded).as_ref(), Ok(&id));
        }
        Err(IdError::Empty { .. }) => assert!(s.is_empty()),
        Err(IdError::TooLong { len, max, .. }) => assert!(len == s.len() && len > max),
        Err(IdError::ControlCharacter { at, code, .. }) => {
            assert_eq!(s[at..].chars().next().map(|c| c as u32), Some(code));
        }
        Err(other) => panic!("unexpected error for {s:?}: {other:?}"),
    }
}

fn check_decoding(s: &str) {
    match percent_decode(s, "x") {
        Ok(decoded) => {
            if !s.contains('%') {
                assert_eq!(decoded, s);
            }
            assert!(decoded.len() <= s.len());
            assert_eq!(percent_decode(&percent_encode(&decoded), "x").as_deref(), Ok(&*decoded));
            let via_id = ConferenceId::from_percent_encoded(s).map(|c| c.to_string());
            assert_eq!(via_id, ConferenceId::new(&decoded).map(|c| c.to_string()));
        }
        Err(IdError::InvalidPercentEncoding { at, .. }) => assert_eq!(s.as_bytes()[at], b'%'),
        Err(IdError::NotUtf8 { at, .. }) => assert!(at < s.len()),
        Err(other) => panic!("unexpected error for {s:?}: {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let s: &str = &text;
    check_identifier(s);
    // Round trip: decode(encode(x)) == x for every string.
    let encoded = percent_encode(s);
    assert!(encoded.bytes().all(|b| b.is_ascii_graphic()), "{encoded}");
    assert_eq!(percent_decode(&encoded, "x").as_deref(), Ok(s));
    check_decoding(s);
});
