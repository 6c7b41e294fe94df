//! Validated callstats identifiers: [`UserId`] and [`ConferenceId`]; the rules are in
//! the [crate docs](crate#identifier-rules).

use std::{borrow::Borrow, fmt, ops::Deref, sync::Arc};

pub use crate::encoding::{percent_decode, percent_encode};
use crate::{encoding::is_component_safe, response::shared_header_value};

/// The maximum length of a userID or conferenceID, in bytes. Besides the length, an
/// identifier must not contain (see the [identifier rules](crate#identifier-rules) for why):
///
/// - control characters (category Cc: U+0000 to U+001F, U+007F to U+009F);
/// - any `Bidi_Control` code point of Unicode's [PropList.txt]: U+061C, U+200E, U+200F,
///   U+202A to U+202E, U+2066 to U+2069;
/// - the invisible format characters and fillers U+200B, U+2060 to U+2064, U+00AD,
///   U+180E, U+FEFF, U+3164, U+115F, U+1160, U+FFA0;
/// - the line and paragraph separators U+2028, U+2029;
/// - a code point of the Tags block U+E0000 to U+E007F, except inside the emoji tag
///   sequences ([UTS #51]) of the subdivision flags of England, Scotland and Wales
///   (U+1F3F4, the tags `gbeng`, `gbsct` or `gbwls`, then U+E007F).
///
/// U+200C and U+200D, the variation selectors U+FE00 to U+FE0F and U+E0100 to U+E01EF
/// and every other code point are allowed.
///
/// [PropList.txt]: https://www.unicode.org/Public/UCD/latest/ucd/PropList.txt
/// [UTS #51]: https://www.unicode.org/reports/tr51/#def_emoji_tag_sequence
pub const MAX_ID_BYTES: usize = 256;

pub(crate) mod error;

pub use error::IdError;

/// The characters refused wherever they are, besides the controls, in the order of the
/// rules: every `Bidi_Control` code point (PropList.txt), the invisible format
/// characters and fillers, the line and paragraph separators, U+FEFF. The Tags block is
/// not here: whether a tag character is refused depends on its neighbours.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}'
            | '\u{200B}'
            | '\u{2060}'..='\u{2064}'
            | '\u{00AD}'
            | '\u{180E}'
            | '\u{3164}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{FFA0}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{FEFF}'
    )
}

/// The base of the emoji tag sequences accepted: U+1F3F4 WAVING BLACK FLAG.
const TAG_BASE: char = '\u{1F3F4}';

/// Where a non-ASCII scan stands in an emoji tag sequence (UTS #51: base, tag_spec+,
/// tag_end).
#[derive(Clone, Copy)]
enum TagState {
    /// The previous character is not a tag base or a tag_spec character.
    Outside,
    /// The previous character is U+1F3F4: a tag_spec character may follow.
    AfterBase,
    /// Inside a run of tag_spec characters after U+1F3F4, which must end with U+E007F
    /// and spell one of [`FLAG_TAGS`]; `first` is the run's first character, at byte
    /// `start`; `spec` holds the letters read so far (at most five).
    Spec {
        start: usize,
        first: char,
        spec: [u8; 5],
        len: usize,
    },
}

/// The tag_spec of the only emoji tag sequences in Unicode's recommended set (RGI,
/// emoji-sequences.txt): the flags of England, Scotland and Wales. Any other tag run
/// after U+1F3F4 would show as a plain black flag with text hidden behind it.
const FLAG_TAGS: [&[u8; 5]; 3] = [b"gbeng", b"gbsct", b"gbwls"];

/// Checks the identifier rules: 1..=256 bytes, no control characters, no `Bidi_Control`
/// code point, invisible format character or filler, line or paragraph separator or
/// U+FEFF, and no character of the Tags block outside an emoji tag sequence on U+1F3F4.
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
    // ASCII (most identifiers) has no invisible or tag characters, and its only controls
    // are C0 and DEL: one pass over the bytes finds the first byte that is either, or
    // the first non-ASCII byte (then the characters are checked one by one).
    match value.bytes().position(|b| !(0x20..0x7f).contains(&b)) {
        None => return Ok(()),
        Some(at) if value.as_bytes()[at] < 0x80 => {
            return Err(IdError::ControlCharacter {
                kind,
                code: u32::from(value.as_bytes()[at]),
                at,
            });
        }
        Some(_) => {}
    }
    let invisible = |at: usize, c: char| IdError::InvisibleCharacter {
        kind,
        code: c as u32,
        at,
    };
    // One pass over the characters. A tag character is accepted only as part of a
    // complete emoji tag sequence; an unfinished run is reported at its first character
    // as soon as something other than a tag_spec character or U+E007F follows it, which
    // is before any later refused character.
    let mut tags = TagState::Outside;
    for (at, c) in value.char_indices() {
        if let '\u{E0000}'..='\u{E007F}' = c {
            // The tag's ASCII letter (tag characters mirror ASCII, U+E0020 is ' ').
            let letter = (c as u32 - 0xE0000) as u8;
            tags = match (tags, c) {
                (TagState::AfterBase, '\u{E0020}'..='\u{E007E}') => TagState::Spec {
                    start: at,
                    first: c,
                    spec: [letter, 0, 0, 0, 0],
                    len: 1,
                },
                (
                    TagState::Spec {
                        start,
                        first,
                        mut spec,
                        len,
                    },
                    '\u{E0020}'..='\u{E007E}',
                ) if len < spec.len() => {
                    spec[len] = letter;
                    TagState::Spec {
                        start,
                        first,
                        spec,
                        len: len + 1,
                    }
                }
                (TagState::Spec { spec, len: 5, .. }, '\u{E007F}') if FLAG_TAGS.contains(&&spec) => TagState::Outside,
                (TagState::Spec { start, first, .. }, _) => return Err(invisible(start, first)),
                (TagState::Outside | TagState::AfterBase, _) => return Err(invisible(at, c)),
            };
            continue;
        }
        if let TagState::Spec { start, first, .. } = tags {
            return Err(invisible(start, first));
        }
        if c.is_control() {
            return Err(IdError::ControlCharacter {
                kind,
                code: c as u32,
                at,
            });
        }
        if is_invisible(c) {
            return Err(invisible(at, c));
        }
        tags = if c == TAG_BASE {
            TagState::AfterBase
        } else {
            TagState::Outside
        };
    }
    match tags {
        TagState::Spec { start, first, .. } => Err(invisible(start, first)),
        TagState::Outside | TagState::AfterBase => Ok(()),
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

            #[doc = concat!("Validates `value` as a ", $kind, ": 1 to 256 bytes of UTF-8, with no control character (Cc), no `Bidi_Control` code point (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069), no invisible format character or filler (U+200B, U+2060 to U+2064, U+00AD, U+180E, U+FEFF, U+3164, U+115F, U+1160, U+FFA0), no line or paragraph separator (U+2028, U+2029) and no character of the Tags block (U+E0000 to U+E007F) outside an emoji tag sequence on U+1F3F4 such as the flag of England; U+200C, U+200D and the variation selectors are allowed (see the [identifier rules](crate#identifier-rules)).")]
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
    /// A callstats userID: opaque, case-sensitive UTF-8, 1 to 256 bytes, without
    /// control, bidirectional-control, invisible or stray tag characters (the rules are
    /// listed in the [identifier rules](crate#identifier-rules)).
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
    /// same for every participant of a call, without control, bidirectional-control,
    /// invisible or stray tag characters (the rules are listed in the
    /// [identifier rules](crate#identifier-rules)).
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

    /// Every refused character of the rules, one row each: the value, the code point and
    /// byte offset the error must carry, and the Unicode name the message must show.
    /// Offsets are counted by hand from the UTF-8 lengths (ASCII 1 byte; U+0080..U+07FF
    /// 2 bytes: U+00AD, U+00E9, U+0639, U+0085; U+0800..U+FFFF 3 bytes: イ, U+1100,
    /// U+1820, U+D55C and every refused BMP character from U+115F on; U+10000 and above
    /// 4 bytes: U+1F3F3, U+1F3F4 and the Tags block). Names are from UnicodeData.txt.
    const REFUSED: &[(&str, u32, usize, &str)] = &[
        // Bidi_Control (PropList.txt), all twelve.
        ("\u{0639}\u{061C}1", 0x061C, 2, "ARABIC LETTER MARK"), // ARABIC LETTER AIN is 2 bytes
        ("admin\u{200E}", 0x200E, 5, "LEFT-TO-RIGHT MARK"),
        ("\u{200F}admin", 0x200F, 0, "RIGHT-TO-LEFT MARK"),
        ("\u{202A}x", 0x202A, 0, "LEFT-TO-RIGHT EMBEDDING"),
        ("a\u{202B}", 0x202B, 1, "RIGHT-TO-LEFT EMBEDDING"),
        ("ab\u{202C}", 0x202C, 2, "POP DIRECTIONAL FORMATTING"),
        ("イ\u{202D}", 0x202D, 3, "LEFT-TO-RIGHT OVERRIDE"),
        ("room\u{202E}1-nimda", 0x202E, 4, "RIGHT-TO-LEFT OVERRIDE"),
        ("x\u{2066}y", 0x2066, 1, "LEFT-TO-RIGHT ISOLATE"),
        ("x\u{2067}y", 0x2067, 1, "RIGHT-TO-LEFT ISOLATE"),
        ("x\u{2068}y", 0x2068, 1, "FIRST STRONG ISOLATE"),
        ("イイ\u{2069}", 0x2069, 6, "POP DIRECTIONAL ISOLATE"),
        // Invisible format characters and fillers.
        ("admin\u{200B}", 0x200B, 5, "ZERO WIDTH SPACE"),
        ("ad\u{2060}min", 0x2060, 2, "WORD JOINER"),
        ("f\u{2061}x", 0x2061, 1, "FUNCTION APPLICATION"),
        ("2\u{2062}x", 0x2062, 1, "INVISIBLE TIMES"),
        ("i\u{2063}j", 0x2063, 1, "INVISIBLE SEPARATOR"),
        ("1\u{2064}2", 0x2064, 1, "INVISIBLE PLUS"),
        ("ad\u{00AD}min", 0x00AD, 2, "SOFT HYPHEN"),
        ("\u{00E9}\u{00AD}", 0x00AD, 2, "SOFT HYPHEN"), // é is 2 bytes
        ("\u{1820}\u{180E}\u{1820}", 0x180E, 3, "MONGOLIAN VOWEL SEPARATOR"),
        ("\u{FEFF}alice", 0xFEFF, 0, "ZERO WIDTH NO-BREAK SPACE"),
        ("イイ\u{FEFF}", 0xFEFF, 6, "ZERO WIDTH NO-BREAK SPACE"),
        ("\u{3164}", 0x3164, 0, "HANGUL FILLER"),
        ("\u{D55C}\u{3164}", 0x3164, 3, "HANGUL FILLER"), // 한 is 3 bytes
        ("\u{115F}\u{1161}", 0x115F, 0, "HANGUL CHOSEONG FILLER"),
        ("\u{1100}\u{1160}", 0x1160, 3, "HANGUL JUNGSEONG FILLER"),
        ("\u{FFA0}x", 0xFFA0, 0, "HALFWIDTH HANGUL FILLER"),
        // Line and paragraph separators.
        ("line\u{2028}break", 0x2028, 4, "LINE SEPARATOR"),
        ("para\u{2029}", 0x2029, 4, "PARAGRAPH SEPARATOR"),
        // The Tags block outside an emoji tag sequence.
        ("a\u{E0067}", 0xE0067, 1, "TAG LATIN SMALL LETTER G"),
        // Valid for UTS #51 but no RGI flag: a black flag with text hidden behind it.
        (
            "\u{1F3F4}\u{E0075}\u{E0073}\u{E0063}\u{E0061}\u{E007F}", // us-ca
            0xE0075,
            4,
            "TAG LATIN SMALL LETTER U",
        ),
        (
            "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E007F}", // gben: one letter short
            0xE0067,
            4,
            "TAG LATIN SMALL LETTER G",
        ),
        (
            "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E0067}\u{E007F}", // gbengg
            0xE0067,
            4,
            "TAG LATIN SMALL LETTER G",
        ),
        (
            "x\u{1F3F4}\u{E0061}\u{E0064}\u{E006D}\u{E0069}\u{E006E}\u{E007F}", // "admin", hidden
            0xE0061,
            5,
            "TAG LATIN SMALL LETTER A",
        ),
        ("\u{E0020}", 0xE0020, 0, "TAG SPACE"),
        ("\u{E0030}", 0xE0030, 0, "TAG DIGIT ZERO"),
        ("\u{E0041}", 0xE0041, 0, "TAG LATIN CAPITAL LETTER A"),
        ("x\u{E007E}", 0xE007E, 1, "TAG TILDE"),
        ("\u{E0001}en", 0xE0001, 0, "LANGUAGE TAG"),
        ("\u{E0000}", 0xE0000, 0, "(an unassigned code point of the Tags block)"),
        ("a\u{E0002}", 0xE0002, 1, "(an unassigned code point of the Tags block)"),
        ("a\u{E001F}", 0xE001F, 1, "(an unassigned code point of the Tags block)"),
        ("\u{E007F}", 0xE007F, 0, "CANCEL TAG"),   // a lone tag_end
        ("x\u{E007F}y", 0xE007F, 1, "CANCEL TAG"), // a lone tag_end
        // Malformed emoji tag sequences.
        ("\u{1F3F4}\u{E007F}", 0xE007F, 4, "CANCEL TAG"), // no tag_spec after the base
        ("\u{1F3F4}\u{E007F}\u{E007F}", 0xE007F, 4, "CANCEL TAG"), // CANCEL TAG is no tag_spec
        ("\u{1F3F4}\u{E007F}\u{E0067}\u{E007F}", 0xE007F, 4, "CANCEL TAG"),
        (
            // England without its CANCEL TAG: reported at the run's first character.
            "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}",
            0xE0067,
            4,
            "TAG LATIN SMALL LETTER G",
        ),
        (
            "\u{1F3F4}\u{E0067}\u{E0062}x\u{E007F}",
            0xE0067,
            4,
            "TAG LATIN SMALL LETTER G",
        ), // cut by 'x'
        ("\u{1F3F4}\u{E0067}\n", 0xE0067, 4, "TAG LATIN SMALL LETTER G"), // the run comes before LF at 8
        (
            "\u{1F3F4}\u{E0067}\u{200B}\u{E007F}",
            0xE0067,
            4,
            "TAG LATIN SMALL LETTER G",
        ), // before U+200B at 8
        (
            "\u{1F3F4}\u{E0067}\u{E0001}\u{E007F}",
            0xE0067,
            4,
            "TAG LATIN SMALL LETTER G",
        ), // LANGUAGE TAG is no tag_spec
        ("\u{1F3F4}\u{E0001}", 0xE0001, 4, "LANGUAGE TAG"),
        (
            "\u{1F3F4}\u{E001F}\u{E007F}",
            0xE001F,
            4,
            "(an unassigned code point of the Tags block)",
        ),
        ("\u{1F3F3}\u{E0067}\u{E007F}", 0xE0067, 4, "TAG LATIN SMALL LETTER G"), // WAVING WHITE FLAG is no base
        (
            "\u{1F3F4}\u{FE0F}\u{E0067}\u{E007F}",
            0xE0067,
            7,
            "TAG LATIN SMALL LETTER G",
        ), // 4 + 3 bytes
        ("\u{1F3F4} \u{E0067}\u{E007F}", 0xE0067, 5, "TAG LATIN SMALL LETTER G"), // not directly after
        ("イ\u{1F3F4}\u{E0067}", 0xE0067, 7, "TAG LATIN SMALL LETTER G"),        // 3 + 4 bytes
        ("\u{200B}\u{E0067}", 0x200B, 0, "ZERO WIDTH SPACE"),                    // the first refused character wins
        (
            // England, then a tag after its CANCEL TAG: 7 four-byte characters, byte 28.
            "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}\u{E0067}",
            0xE0067,
            28,
            "TAG LATIN SMALL LETTER G",
        ),
        (
            // England, then a second CANCEL TAG.
            "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}\u{E007F}",
            0xE007F,
            28,
            "CANCEL TAG",
        ),
    ];

    #[test]
    fn every_refused_character_is_reported_with_code_point_offset_and_name() {
        for &(value, code, at, name) in REFUSED {
            let err = UserId::new(value).unwrap_err();
            assert_eq!(
                err,
                IdError::InvisibleCharacter {
                    kind: "userID",
                    code,
                    at
                },
                "{value:?}"
            );
            let message = err.to_string();
            let expected = format!("userID contains U+{code:04X} {name} at byte {at}: ");
            assert!(message.starts_with(&expected), "{message}");
            // The same through percent-decoding, as a room in a URL.
            assert_eq!(
                ConferenceId::from_percent_encoded(&percent_encode(value)).unwrap_err(),
                IdError::InvisibleCharacter {
                    kind: "conferenceID",
                    code,
                    at
                },
                "{value:?}"
            );
        }
    }

    /// Every kept case of the rules, one row each, with the UTF-8 bytes the identifier
    /// must keep. The bytes are encoded by hand from the code points (U+0800..U+FFFF:
    /// 1110xxxx 10xxxxxx 10xxxxxx; U+10000..: 11110xxx 10xxxxxx 10xxxxxx 10xxxxxx; a tag
    /// U+E00xx is F3 A0 8x xx: U+E0067 g is F3 A0 81 A7, U+E007F is F3 A0 81 BF) and
    /// checked against Python's `"...".encode().hex()`.
    const KEPT: &[(&str, &[u8])] = &[
        // ZWNJ and ZWJ on their own.
        ("a\u{200C}b", &[0x61, 0xe2, 0x80, 0x8c, 0x62]),
        ("a\u{200D}b", &[0x61, 0xe2, 0x80, 0x8d, 0x62]),
        // Persian "I want", ZWNJ between the two halves of the verb.
        (
            "\u{645}\u{6cc}\u{200c}\u{62e}\u{648}\u{627}\u{647}\u{645}",
            &[
                0xd9, 0x85, 0xdb, 0x8c, 0xe2, 0x80, 0x8c, 0xd8, 0xae, 0xd9, 0x88, 0xd8, 0xa7, 0xd9, 0x87, 0xd9, 0x85,
            ],
        ),
        // Emoji ZWJ sequence: rainbow flag = WAVING WHITE FLAG, VS16, ZWJ, RAINBOW.
        (
            "\u{1F3F3}\u{FE0F}\u{200D}\u{1F308}",
            &[
                0xf0, 0x9f, 0x8f, 0xb3, 0xef, 0xb8, 0x8f, 0xe2, 0x80, 0x8d, 0xf0, 0x9f, 0x8c, 0x88,
            ],
        ),
        // Variation selectors: HEAVY BLACK HEART + VS16 (emoji presentation), U+2269 +
        // VS1 (a standardized variant), U+845B + VS17 and + VS256 (ideographic variants).
        ("\u{2764}\u{FE0F}", &[0xe2, 0x9d, 0xa4, 0xef, 0xb8, 0x8f]),
        ("\u{2269}\u{FE00}", &[0xe2, 0x89, 0xa9, 0xef, 0xb8, 0x80]),
        ("\u{845B}\u{E0100}", &[0xe8, 0x91, 0x9b, 0xf3, 0xa0, 0x84, 0x80]),
        ("\u{845B}\u{E01EF}", &[0xe8, 0x91, 0x9b, 0xf3, 0xa0, 0x87, 0xaf]),
        // The RGI subdivision flags: U+1F3F4, tag letters, CANCEL TAG.
        (
            "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}", // England, gbeng
            &[
                0xf0, 0x9f, 0x8f, 0xb4, 0xf3, 0xa0, 0x81, 0xa7, 0xf3, 0xa0, 0x81, 0xa2, 0xf3, 0xa0, 0x81, 0xa5, 0xf3,
                0xa0, 0x81, 0xae, 0xf3, 0xa0, 0x81, 0xa7, 0xf3, 0xa0, 0x81, 0xbf,
            ],
        ),
        (
            "\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}", // Scotland, gbsct
            &[
                0xf0, 0x9f, 0x8f, 0xb4, 0xf3, 0xa0, 0x81, 0xa7, 0xf3, 0xa0, 0x81, 0xa2, 0xf3, 0xa0, 0x81, 0xb3, 0xf3,
                0xa0, 0x81, 0xa3, 0xf3, 0xa0, 0x81, 0xb4, 0xf3, 0xa0, 0x81, 0xbf,
            ],
        ),
        (
            "\u{1F3F4}\u{E0067}\u{E0062}\u{E0077}\u{E006C}\u{E0073}\u{E007F}", // Wales, gbwls
            &[
                0xf0, 0x9f, 0x8f, 0xb4, 0xf3, 0xa0, 0x81, 0xa7, 0xf3, 0xa0, 0x81, 0xa2, 0xf3, 0xa0, 0x81, 0xb7, 0xf3,
                0xa0, 0x81, 0xac, 0xf3, 0xa0, 0x81, 0xb3, 0xf3, 0xa0, 0x81, 0xbf,
            ],
        ),
        // A flag inside a name, and two flags in a row (a new base after a CANCEL TAG).
        (
            "a\u{1F3F4}\u{E0067}\u{E0062}\u{E0077}\u{E006C}\u{E0073}\u{E007F}b",
            &[
                0x61, 0xf0, 0x9f, 0x8f, 0xb4, 0xf3, 0xa0, 0x81, 0xa7, 0xf3, 0xa0, 0x81, 0xa2, 0xf3, 0xa0, 0x81, 0xb7,
                0xf3, 0xa0, 0x81, 0xac, 0xf3, 0xa0, 0x81, 0xb3, 0xf3, 0xa0, 0x81, 0xbf, 0x62,
            ],
        ),
        (
            "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
            &[
                0xf0, 0x9f, 0x8f, 0xb4, 0xf3, 0xa0, 0x81, 0xa7, 0xf3, 0xa0, 0x81, 0xa2, 0xf3, 0xa0, 0x81, 0xa5, 0xf3,
                0xa0, 0x81, 0xae, 0xf3, 0xa0, 0x81, 0xa7, 0xf3, 0xa0, 0x81, 0xbf, 0xf0, 0x9f, 0x8f, 0xb4, 0xf3, 0xa0,
                0x81, 0xa7, 0xf3, 0xa0, 0x81, 0xa2, 0xf3, 0xa0, 0x81, 0xb3, 0xf3, 0xa0, 0x81, 0xa3, 0xf3, 0xa0, 0x81,
                0xb4, 0xf3, 0xa0, 0x81, 0xbf,
            ],
        ),
        // U+1F3F4 without tags is the black flag emoji.
        ("\u{1F3F4}", &[0xf0, 0x9f, 0x8f, 0xb4]),
    ];

    #[test]
    fn every_kept_case_validates_byte_exact() {
        for &(value, bytes) in KEPT {
            let user = UserId::new(value).unwrap_or_else(|e| panic!("{value:?}: {e}"));
            assert_eq!(user.as_str().as_bytes(), bytes, "{value:?}");
            let conference =
                ConferenceId::from_percent_encoded(&percent_encode(value)).unwrap_or_else(|e| panic!("{value:?}: {e}"));
            assert_eq!(conference.as_str().as_bytes(), bytes, "{value:?}");
            let json = serde_json::to_string(&user).unwrap();
            assert_eq!(serde_json::from_str::<UserId>(&json).unwrap(), user);
        }
        // England, percent-encoded by hand from the bytes above, as a room in a URL.
        let england = ConferenceId::from_percent_encoded(
            "%F0%9F%8F%B4%F3%A0%81%A7%F3%A0%81%A2%F3%A0%81%A5%F3%A0%81%AE%F3%A0%81%A7%F3%A0%81%BF",
        )
        .unwrap();
        assert_eq!(
            england.as_str(),
            "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}"
        );
    }

    /// The neighbours of each refused range stay valid, and so do unassigned code points
    /// outside the Tags block.
    #[test]
    fn neighbours_of_the_refused_ranges_stay_valid() {
        for fine in [
            "\u{00AC}",  // NOT SIGN, before SOFT HYPHEN
            "\u{00AE}",  // REGISTERED SIGN, after it
            "\u{061B}",  // ARABIC SEMICOLON, before ARABIC LETTER MARK
            "\u{061D}",  // ARABIC END OF TEXT MARK, after it
            "\u{115E}",  // before HANGUL CHOSEONG FILLER
            "\u{1161}",  // HANGUL JUNGSEONG A, after HANGUL JUNGSEONG FILLER
            "\u{180D}",  // MONGOLIAN FREE VARIATION SELECTOR THREE
            "\u{180F}",  // MONGOLIAN FREE VARIATION SELECTOR FOUR
            "\u{200A}",  // HAIR SPACE, before ZERO WIDTH SPACE
            "\u{2010}",  // HYPHEN, after RIGHT-TO-LEFT MARK
            "\u{2027}",  // HYPHENATION POINT, before LINE SEPARATOR
            "\u{202F}",  // NARROW NO-BREAK SPACE, after RIGHT-TO-LEFT OVERRIDE
            "\u{205F}",  // MEDIUM MATHEMATICAL SPACE, before WORD JOINER
            "\u{2065}",  // unassigned, between INVISIBLE PLUS and LEFT-TO-RIGHT ISOLATE
            "\u{206A}",  // INHIBIT SYMMETRIC SWAPPING, after POP DIRECTIONAL ISOLATE
            "\u{3163}",  // HANGUL LETTER I, before HANGUL FILLER
            "\u{3165}",  // HANGUL LETTER SSANGNIEUN, after it
            "\u{FEFE}",  // unassigned, before ZERO WIDTH NO-BREAK SPACE
            "\u{FF9F}",  // HALFWIDTH KATAKANA SEMI-VOICED SOUND MARK, before HALFWIDTH HANGUL FILLER
            "\u{FFA1}",  // HALFWIDTH HANGUL LETTER KIYEOK, after it
            "\u{1F3F3}", // WAVING WHITE FLAG
            "\u{E0080}", // unassigned, after the Tags block
            "\u{E00FF}", // unassigned, before the variation selectors supplement
            "\u{E01F0}", // unassigned, after VARIATION SELECTOR-256
        ] {
            assert!(UserId::new(fine).is_ok(), "{fine:?}");
        }
    }

    #[test]
    fn invisible_character_messages() {
        let err = ConferenceId::new("room\u{202E}1-nimda").unwrap_err();
        assert_eq!(
            err.to_string(),
            "conferenceID contains U+202E RIGHT-TO-LEFT OVERRIDE at byte 4: a bidirectional control reorders how \
             the text is displayed, so the identifier would not read as what it is; remove it (the zero-width \
             joiners U+200C and U+200D, variation selectors and emoji tag sequences such as the flag of England \
             are allowed)"
        );
        assert_eq!(err.kind(), "conferenceID");
        assert_eq!(
            UserId::new("admin\u{200B}").unwrap_err().to_string(),
            "userID contains U+200B ZERO WIDTH SPACE at byte 5: it is invisible or displays as blank space, so two \
             identifiers that look the same would differ; remove it (the zero-width joiners U+200C and U+200D, \
             variation selectors and emoji tag sequences such as the flag of England are allowed)"
        );
        assert_eq!(
            UserId::new("x\u{E0067}").unwrap_err().to_string(),
            "userID contains U+E0067 TAG LATIN SMALL LETTER G at byte 1: a tag character is invisible and is only \
             allowed inside an emoji tag sequence such as the flag of England (U+1F3F4, tag letters, U+E007F CANCEL \
             TAG); remove it (the zero-width joiners U+200C and U+200D, variation selectors and emoji tag sequences \
             such as the flag of England are allowed)"
        );
        assert!(
            UserId::new("a\u{2028}")
                .unwrap_err()
                .to_string()
                .contains("U+2028 LINE SEPARATOR at byte 1: a line or paragraph separator breaks lines")
        );
        // `/rooms/admin%E2%80%8E`: E2 80 8E is U+200E, after the 5 bytes of `admin`.
        let err = ConferenceId::from_percent_encoded("admin%E2%80%8E").unwrap_err();
        assert_eq!(
            err,
            IdError::InvisibleCharacter {
                kind: "conferenceID",
                code: 0x200E,
                at: 5
            }
        );
        assert!(err.to_string().contains("U+200E LEFT-TO-RIGHT MARK at byte 5"));
        // Percent-encoded, as a room in a URL: E2 80 AE is U+202E.
        assert_eq!(
            ConferenceId::from_percent_encoded("room%E2%80%AE1-nimda").unwrap_err(),
            IdError::InvisibleCharacter {
                kind: "conferenceID",
                code: 0x202E,
                at: 4
            }
        );
    }

    /// Control characters outside ASCII (C1) are still reported as controls, and a
    /// control before a tag character wins.
    #[test]
    fn controls_in_non_ascii_values() {
        // イ is 3 bytes; U+0085 NEXT LINE is a C1 control.
        for (value, code, at) in [
            ("イ\u{85}", 0x85, 3),
            ("\u{9F}\u{E0067}", 0x9F, 0),
            ("\u{1F3F4}\0", 0, 4),
        ] {
            assert_eq!(
                UserId::new(value).unwrap_err(),
                IdError::ControlCharacter {
                    kind: "userID",
                    code,
                    at
                },
                "{value:?}"
            );
        }
    }
}
