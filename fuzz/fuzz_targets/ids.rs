//! Identifier construction and percent-encoding.
//!
//! Properties: validation never panics and gives exactly the verdict of the rules as
//! written out in `oracle.rs` (1 to 256 bytes of UTF-8; no control characters; no
//! `Bidi_Control` code point, invisible format character or filler, line or paragraph
//! separator or U+FEFF; no character of the Tags block outside an emoji tag sequence on
//! U+1F3F4), with the same error, code point and byte offset;
//! `percent_decode(percent_encode(x)) == x` for every string; strict decoding agrees
//! with an independent decoder.
#![no_main]

#[path = "oracle.rs"]
mod oracle;

use libfuzzer_sys::fuzz_target;
use oracle::{Refused, Verdict, verdict};
use tower_callstats::{ConferenceId, IdError, UserId, percent_decode, percent_encode};

fn check_identifier(s: &str) {
    let expected = verdict(s);
    let user = UserId::new(s);
    let conference = ConferenceId::new(s);
    assert_eq!(user.is_ok(), conference.is_ok(), "{s:?}");
    match (&user, expected) {
        (Ok(id), Verdict::Valid) => {
            assert_eq!(id.as_str().as_bytes(), s.as_bytes());
            let encoded = id.percent_encoded();
            assert!(http::HeaderValue::try_from(encoded.as_str()).is_ok(), "{encoded}");
            assert_eq!(UserId::from_percent_encoded(&encoded).as_ref(), Ok(id));
        }
        (Err(IdError::Empty { .. }), Verdict::Empty) => {}
        (Err(IdError::TooLong { len, max, .. }), Verdict::TooLong { len: want }) => {
            assert_eq!((*len, *max), (want, oracle::MAX_BYTES), "{s:?}");
        }
        (
            Err(IdError::ControlCharacter { code, at, .. }),
            Verdict::Refused {
                why: Refused::Control,
                code: c,
                at: a,
            },
        )
        | (
            Err(IdError::InvisibleCharacter { code, at, .. }),
            Verdict::Refused {
                why: Refused::Invisible | Refused::Tag,
                code: c,
                at: a,
            },
        ) => assert_eq!((*code, *at), (c, a), "{s:?}"),
        (got, want) => panic!("{s:?}: the crate says {got:?}, the rules say {want:?}"),
    }
}

fn check_decoding(s: &str) {
    let independent = oracle::percent_decode(s);
    match percent_decode(s, "x") {
        Ok(decoded) => {
            assert_eq!(Some(&*decoded), independent.as_deref(), "{s:?}");
            assert_eq!(percent_decode(&percent_encode(&decoded), "x").as_deref(), Ok(&*decoded));
            let via_id = ConferenceId::from_percent_encoded(s).map(|c| c.to_string());
            assert_eq!(via_id, ConferenceId::new(&decoded).map(|c| c.to_string()));
        }
        Err(IdError::InvalidPercentEncoding { at, .. }) => {
            assert_eq!(independent, None, "{s:?}");
            assert_eq!(s.as_bytes()[at], b'%');
        }
        Err(IdError::NotUtf8 { at, .. }) => {
            assert_eq!(independent, None, "{s:?}");
            assert!(at < s.len());
        }
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
    assert_eq!(oracle::percent_decode(&encoded).as_deref(), Some(s));
    assert_eq!(percent_decode(&encoded, "x").as_deref(), Ok(s));
    check_decoding(s);
});
