//! Validated callstats identifiers: [`UserId`] and [`ConferenceId`].
//!
//! callstats.io treats both identifiers as opaque, case-sensitive UTF-8 strings of at
//! most 256 **bytes** ([callstats' identifier rules]): bytes, not characters, so 85
//! three-byte characters and one ASCII byte fill an identifier, and 86 three-byte
//! characters are two bytes too many. Empty values are refused here (callstats' dashboard
//! shows an empty identifier as an empty string, and a token for nobody is useless), and
//! so are characters that make an identifier look like something it is not:
//!
//! - control characters (Unicode category Cc: CR, LF, NUL, DEL, the C1 controls);
//! - the bidirectional embedding, override and isolate controls U+202A to U+202E and
//!   U+2066 to U+2069, which reorder how text is displayed: `room\u{202E}1-nimda` is
//!   displayed as `roomadmin-1` (the "Trojan Source" trick);
//! - the line and paragraph separators U+2028 and U+2029 (the only characters of the
//!   categories Zl and Zp), which break lines in logs and end statements in older
//!   JavaScript;
//! - U+FEFF (zero-width no-break space, the byte order mark), which is invisible.
//!
//! The zero-width joiner and non-joiner U+200D and U+200C are kept: Persian (`می‌خواهم`),
//! Indic scripts (`क्‍ष`) and emoji sequences (👩‍👩‍👧) need them.
//!
//! [callstats' identifier rules]: https://docs.callstats.io/docs/identifiers-userids-conferenceids
//!
//! ```
//! use tower_callstats::{ConferenceId, IdError, UserId};
//!
//! let user = UserId::new("インターネット").unwrap();
//! assert_eq!(user.as_str(), "インターネット");
//! assert_eq!(user.len(), 21); // bytes
//!
//! // 86 three-byte characters are 258 bytes: two bytes over the limit.
//! let err = ConferenceId::new("ອ".repeat(86)).unwrap_err();
//! assert_eq!(err, IdError::TooLong { kind: "conferenceID", len: 258, max: 256 });
//! assert_eq!(err.to_string(), "conferenceID is 258 bytes long, 2 bytes over the limit of 256 bytes");
//! ```
//!
//! # In HTTP headers
//!
//! Header values are not UTF-8, so the layer percent-encodes identifiers it puts in
//! headers, exactly like JavaScript's `encodeURIComponent`; a page reads them back with
//! `decodeURIComponent`. [`percent_encode`] and [`percent_decode`] are the Rust side
//! of that contract:
//!
//! ```
//! use tower_callstats::id::{percent_decode, percent_encode};
//!
//! let encoded = percent_encode("интернэт room");
//! assert_eq!(encoded, "%D0%B8%D0%BD%D1%82%D0%B5%D1%80%D0%BD%D1%8D%D1%82%20room");
//! assert_eq!(percent_decode(&encoded, "conferenceID").unwrap(), "интернэт room");
//! ```

use std::{borrow::Borrow, fmt, ops::Deref, sync::Arc};

pub use crate::encoding::{percent_decode, percent_encode};
use crate::{encoding::is_component_safe, response::shared_header_value};

/// The maximum length of a userID or conferenceID, in bytes. Besides the length, an
/// identifier must not contain control characters, the bidirectional controls U+202A to
/// U+202E and U+2066 to U+2069, U+2028, U+2029 or U+FEFF (see the [module docs](self));
/// U+200C and U+200D are allowed.
pub const MAX_ID_BYTES: usize = 256;

pub(crate) mod error;

pub use error::IdError;

/// The characters refused besides the controls, in the order of the rule.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}' | '\u{FEFF}')
}

/// Checks the identifier rules: 1..=256 bytes, no control characters, no bidirectional
/// controls, line or paragraph separators or U+FEFF.
pub(crate) fn validate(value: &str, kind: &'static str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > MAX_ID_BYTES {
        return Err(IdError::TooLong {
            kind,
            len: value.len(),
            max: MAX_ID_BYTES,
        });
    }
    // ASCII (most identifiers) has no invisible characters, and its only controls are
    // C0 and DEL: one pass over the bytes.
    if value.is_ascii() {
        return match value.bytes().position(|b| b < 0x20 || b == 0x7f) {
            Some(at) => Err(IdError::ControlCharacter {
                kind,
                code: u32::from(value.as_bytes()[at]),
                at,
            }),
            None => Ok(()),
        };
    }
    match value.char_indices().find(|&(_, c)| c.is_control() || is_invisible(c)) {
        Some((at, c)) if c.is_control() => Err(IdError::ControlCharacter {
            kind,
            code: c as u32,
            at,
        }),
        Some((at, c)) => Err(IdError::InvisibleCharacter {
            kind,
            code: c as u32,
            at,
        }),
        None => Ok(()),
    }
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            #[doc = concat!("The name callstats uses for this identifier: `", $kind, "`.")]
            pub const KIND: &'static str = $kind;

            #[doc = concat!("Validates `value` as a ", $kind, ": 1 to 256 bytes of UTF-8, no control characters, no bidirectional controls, line or paragraph separators or U+FEFF (see the [module docs](crate::id)).")]
            pub fn new(value: impl AsRef<str>) -> Result<Self, IdError> {
                let value = value.as_ref();
                validate(value, $kind)?;
                Ok(Self(Arc::from(value)))
            }

            #[doc = concat!("Percent-decodes `value` (strictly: every `%` must start a valid escape) and validates the result as a ", $kind, ".")]
            pub fn from_percent_encoded(value: &str) -> Result<Self, IdError> {
                Self::new(percent_decode(value, $kind)?)
            }

            /// Validates an already shared string, without copying it.
            #[allow(dead_code)] // used for one of the two identifiers
            pub(crate) fn from_arc(value: Arc<str>) -> Result<Self, IdError> {
                validate(&value, $kind)?;
                Ok(Self(value))
            }

            /// The identifier as a header value: shared without copying when it needs
            /// no escaping, percent-encoded otherwise.
            pub(crate) fn header_value(&self) -> http::HeaderValue {
                header_value(&self.0)
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The identifier percent-encoded like `encodeURIComponent`, ready for an
            /// HTTP header value or a URL component.
            pub fn percent_encoded(&self) -> String {
                percent_encode(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(value: &str) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(value: &str) -> Result<Self, IdError> {
                Self::new(value)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::new(&*s).map_err(serde::de::Error::custom)
            }
        }
    };
}

identifier!(
    /// A callstats userID: opaque, case-sensitive UTF-8, 1 to 256 bytes.
    ///
    /// Cloning is cheap (a reference count).
    ///
    /// ```
    /// use tower_callstats::UserId;
    ///
    /// assert!(UserId::new("alice").is_ok());
    /// assert!(UserId::new("").is_err());
    /// assert!(UserId::new("x".repeat(256)).is_ok());
    /// assert!(UserId::new("x".repeat(257)).is_err());
    /// ```
    UserId,
    "userID"
);

identifier!(
    /// A callstats conferenceID: opaque, case-sensitive UTF-8, 1 to 256 bytes, the
    /// same for every participant of a call.
    ///
    /// Cloning is cheap (a reference count).
    ///
    /// ```
    /// use tower_callstats::ConferenceId;
    ///
    /// let id = ConferenceId::from_percent_encoded("%E3%82%A4%E3%83%B3").unwrap();
    /// assert_eq!(id.as_str(), "イン");
    /// assert!(ConferenceId::from_percent_encoded("%zz").is_err());
    /// ```
    ConferenceId,
    "conferenceID"
);

/// `value` percent-encoded as a header value; when nothing needs escaping (the common
/// case) the header value shares the string's memory.
fn header_value(value: &Arc<str>) -> http::HeaderValue {
    if is_component_safe(value) {
        shared_header_value(value.clone())
    } else {
        // Percent-encoded text is visible ASCII: always a valid header value.
        http::HeaderValue::try_from(percent_encode(value)).unwrap_or_else(|_| http::HeaderValue::from_static(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_english_ids_round_trip_byte_exact() {
        for value in [
            "インターネット",
            "интернэт",
            "ອິນເຕີເນັດ",
            "👩🏽‍💻🎉",
            "e\u{0301}\u{0323}", // combining marks stay as written, never normalised
            "Case-Sensitive",
        ] {
            let id = UserId::new(value).unwrap();
            assert_eq!(id.as_str().as_bytes(), value.as_bytes());
            let back = UserId::from_percent_encoded(&id.percent_encoded()).unwrap();
            assert_eq!(back.as_str().as_bytes(), value.as_bytes());
            let json = serde_json::to_string(&id).unwrap();
            let parsed: UserId = serde_json::from_str(&json).unwrap();
            assert_eq!(parsed, id);
        }
    }

    #[test]
    fn limit_is_counted_in_bytes_not_characters() {
        let exactly = "イ".repeat(85) + "a"; // 85 * 3 + 1 = 256 bytes
        assert_eq!(exactly.len(), 256);
        assert!(ConferenceId::new(&exactly).is_ok());
        let over = "イ".repeat(85) + "ab"; // 257 bytes, 87 characters
        assert_eq!(
            ConferenceId::new(&over).unwrap_err(),
            IdError::TooLong {
                kind: "conferenceID",
                len: 257,
                max: 256
            }
        );
        let three_byte_over = "ン".repeat(86); // 258 bytes, 86 characters
        let err = UserId::new(&three_byte_over).unwrap_err();
        assert_eq!(
            err.to_string(),
            "userID is 258 bytes long, 2 bytes over the limit of 256 bytes"
        );
    }

    #[test]
    fn empty_is_rejected_with_a_message() {
        let err = UserId::new("").unwrap_err();
        assert_eq!(err, IdError::Empty { kind: "userID" });
        assert_eq!(err.to_string(), "userID is empty; it must be 1 to 256 bytes of UTF-8");
    }

    #[test]
    fn control_characters_are_rejected() {
        for (value, code, at) in [("a\r\nb", 0x0d, 1), ("\0", 0, 0), ("ok\u{7f}", 0x7f, 2)] {
            assert_eq!(
                UserId::new(value).unwrap_err(),
                IdError::ControlCharacter {
                    kind: "userID",
                    code,
                    at
                }
            );
        }
    }

    /// Names that need U+200C/U+200D are accepted byte for byte. The expected bytes
    /// are Python's UTF-8 encoding of each name (`"...".encode().hex()`), written out.
    #[test]
    fn zero_width_joiners_are_kept_byte_exact() {
        let cases: [(&str, &[u8]); 4] = [
            (
                // Persian "I want": ZWNJ between the two halves of the verb.
                "\u{645}\u{6cc}\u{200c}\u{62e}\u{648}\u{627}\u{647}\u{645}",
                &[
                    0xd9, 0x85, 0xdb, 0x8c, 0xe2, 0x80, 0x8c, 0xd8, 0xae, 0xd9, 0x88, 0xd8, 0xa7, 0xd9, 0x87, 0xd9,
                    0x85,
                ],
            ),
            // Hindi KA, VIRAMA, ZWJ, SSA: the half form of KA.
            (
                "\u{915}\u{94d}\u{200d}\u{937}",
                &[0xe0, 0xa4, 0x95, 0xe0, 0xa5, 0x8d, 0xe2, 0x80, 0x8d, 0xe0, 0xa4, 0xb7],
            ),
            // Malayalam NA, VIRAMA, ZWJ: the chillu of NA in the older encoding.
            (
                "\u{d28}\u{d4d}\u{200d}",
                &[0xe0, 0xb4, 0xa8, 0xe0, 0xb5, 0x8d, 0xe2, 0x80, 0x8d],
            ),
            // Family: woman, ZWJ, woman, ZWJ, girl.
            (
                "\u{1f469}\u{200d}\u{1f469}\u{200d}\u{1f467}",
                &[
                    0xf0, 0x9f, 0x91, 0xa9, 0xe2, 0x80, 0x8d, 0xf0, 0x9f, 0x91, 0xa9, 0xe2, 0x80, 0x8d, 0xf0, 0x9f,
                    0x91, 0xa7,
                ],
            ),
        ];
        for (name, bytes) in cases {
            let user = UserId::new(name).unwrap_or_else(|e| panic!("{name:?}: {e}"));
            assert_eq!(user.as_str().as_bytes(), bytes, "{name:?}");
            let conference = ConferenceId::from_percent_encoded(&percent_encode(name)).unwrap();
            assert_eq!(conference.as_str().as_bytes(), bytes, "{name:?}");
        }
        assert_eq!(
            UserId::new("می‌خواهم").unwrap().as_str(),
            "\u{645}\u{6cc}\u{200c}\u{62e}\u{648}\u{627}\u{647}\u{645}"
        );
    }

    /// Bidi controls, the line and paragraph separators and U+FEFF are refused with the
    /// code point and the byte offset (counted by hand: ASCII is 1 byte, イ 3 bytes).
    #[test]
    fn invisible_characters_are_refused_with_code_point_and_offset() {
        let cases = [
            ("room\u{202E}1-nimda", 0x202E, 4),
            ("\u{202A}x", 0x202A, 0),
            ("a\u{202B}", 0x202B, 1),
            ("ab\u{202C}", 0x202C, 2),
            ("イ\u{202D}", 0x202D, 3),
            ("line\u{2028}break", 0x2028, 4),
            ("para\u{2029}", 0x2029, 4),
            ("\u{FEFF}alice", 0xFEFF, 0),
            ("イイ\u{FEFF}", 0xFEFF, 6),
            ("x\u{2066}y", 0x2066, 1),
            ("x\u{2067}y", 0x2067, 1),
            ("x\u{2068}y", 0x2068, 1),
            ("x\u{2069}y", 0x2069, 1),
        ];
        for (value, code, at) in cases {
            assert_eq!(
                UserId::new(value).unwrap_err(),
                IdError::InvisibleCharacter {
                    kind: "userID",
                    code,
                    at
                },
                "{value:?}"
            );
        }
        let err = ConferenceId::new("room\u{202E}1-nimda").unwrap_err();
        assert_eq!(
            err.to_string(),
            "conferenceID contains U+202E RIGHT-TO-LEFT OVERRIDE at byte 4: a bidirectional control reorders how \
             the text is displayed, so the identifier would not read as what it is; remove it (zero-width joiners \
             U+200C and U+200D are allowed)"
        );
        assert_eq!(err.kind(), "conferenceID");
        assert!(
            UserId::new("a\u{2028}")
                .unwrap_err()
                .to_string()
                .contains("U+2028 LINE SEPARATOR at byte 1")
        );
        assert!(
            UserId::new("\u{FEFF}")
                .unwrap_err()
                .to_string()
                .contains("ZERO WIDTH NO-BREAK SPACE")
        );
        // Percent-encoded, as a room in a URL: E2 80 AE is U+202E.
        assert_eq!(
            ConferenceId::from_percent_encoded("room%E2%80%AE1-nimda").unwrap_err(),
            IdError::InvisibleCharacter {
                kind: "conferenceID",
                code: 0x202E,
                at: 4
            }
        );
        // The neighbours of the refused ranges stay valid.
        for fine in ["\u{2027}", "\u{202F}", "\u{2065}", "\u{206A}", "\u{FEFE}"] {
            assert!(UserId::new(fine).is_ok(), "{fine:?}");
        }
    }
}
