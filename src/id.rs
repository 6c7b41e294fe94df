//! Validated callstats identifiers: [`UserId`] and [`ConferenceId`].
//!
//! callstats.io treats both identifiers as opaque, case-sensitive UTF-8 strings of at
//! most 256 **bytes** ([callstats' identifier rules]): bytes, not characters, so 85
//! three-byte characters and one ASCII byte fill an identifier, and 86 three-byte
//! characters are two bytes too many. Empty values are refused here (callstats' dashboard
//! shows an empty identifier as an empty string, and a token for nobody is useless), and
//! so are control characters.
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

/// The maximum length of a userID or conferenceID, in bytes.
pub const MAX_ID_BYTES: usize = 256;

/// Why a value is not a valid identifier.
///
/// `kind` names the identifier (`"userID"`, `"conferenceID"`, ...) so that the message
/// can be shown to whoever sent the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The value is empty.
    #[error("{kind} is empty; it must be 1 to {max} bytes of UTF-8", max = MAX_ID_BYTES)]
    Empty {
        /// Which identifier.
        kind: &'static str,
    },
    /// The value is longer than the limit, counted in bytes.
    #[error("{kind} is {len} bytes long, {over} over the limit of {max} bytes", over = plural(len - max, "byte"))]
    TooLong {
        /// Which identifier.
        kind: &'static str,
        /// The length of the value, in bytes.
        len: usize,
        /// The limit, in bytes.
        max: usize,
    },
    /// The value is longer than a limit counted in characters (the object form's
    /// `userName` and `aliasName`).
    #[error("{kind} is {len} characters long, {over} over the limit of {max} characters", over = plural(len - max, "character"))]
    TooManyChars {
        /// Which identifier.
        kind: &'static str,
        /// The length of the value, in characters.
        len: usize,
        /// The limit, in characters.
        max: usize,
    },
    /// A `%` is not followed by two hexadecimal digits.
    #[error("{kind} has invalid percent-encoding at byte {at}: '%' must be followed by two hex digits")]
    InvalidPercentEncoding {
        /// Which identifier.
        kind: &'static str,
        /// Byte offset of the offending `%`.
        at: usize,
    },
    /// The value, after percent-decoding, is not UTF-8.
    #[error("{kind} is not valid UTF-8 after percent-decoding (invalid byte at offset {at})")]
    NotUtf8 {
        /// Which identifier.
        kind: &'static str,
        /// Offset of the first invalid byte in the decoded value.
        at: usize,
    },
    /// The value contains a control character (CR, LF, NUL, ...), which callstats'
    /// dashboard cannot show and which is almost always an injection attempt.
    #[error("{kind} contains the control character U+{code:04X} at byte {at}")]
    ControlCharacter {
        /// Which identifier.
        kind: &'static str,
        /// The code point.
        code: u32,
        /// Byte offset of the character.
        at: usize,
    },
}

fn plural(n: usize, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

impl IdError {
    /// The name of the identifier the error is about (`"userID"`, `"conferenceID"`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            IdError::Empty { kind }
            | IdError::TooLong { kind, .. }
            | IdError::TooManyChars { kind, .. }
            | IdError::InvalidPercentEncoding { kind, .. }
            | IdError::NotUtf8 { kind, .. }
            | IdError::ControlCharacter { kind, .. } => kind,
        }
    }
}

/// Checks the callstats identifier rules: 1..=256 bytes, no control characters.
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
    if let Some((at, c)) = value.char_indices().find(|(_, c)| c.is_control()) {
        return Err(IdError::ControlCharacter {
            kind,
            code: c as u32,
            at,
        });
    }
    Ok(())
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            #[doc = concat!("The name callstats uses for this identifier: `", $kind, "`.")]
            pub const KIND: &'static str = $kind;

            #[doc = concat!("Validates `value` as a ", $kind, ": 1 to 256 bytes of UTF-8, no control characters.")]
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
}
