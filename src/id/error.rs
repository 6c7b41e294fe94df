//! [`IdError`]: why a value is not a valid identifier, with what was found and by how
//! much a limit was missed.

use super::MAX_ID_BYTES;

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
    /// The value contains a character that changes how the text is displayed, or that
    /// is not displayed at all: a `Bidi_Control` code point (U+061C, U+200E, U+200F,
    /// U+202A to U+202E, U+2066 to U+2069), an invisible format character or filler
    /// (U+200B, U+2060 to U+2064, U+00AD, U+180E, U+FEFF, U+3164, U+115F, U+1160,
    /// U+FFA0), a line or paragraph separator (U+2028, U+2029), or a character of the
    /// Tags block (U+E0000 to U+E007F) outside an emoji tag sequence on U+1F3F4, reported
    /// at the first tag character that is not part of one.
    #[error(
        "{kind} contains U+{code:04X} {name} at byte {at}: {why}; remove it (the zero-width joiners U+200C and U+200D, variation selectors and emoji tag sequences such as the flag of England are allowed)",
        name = invisible_name(*code),
        why = invisible_why(*code)
    )]
    InvisibleCharacter {
        /// Which identifier.
        kind: &'static str,
        /// The code point.
        code: u32,
        /// Byte offset of the character.
        at: usize,
    },
    /// The domain of a SHA1 userID (`username@domain`) cannot be used.
    #[error(
        "the domain {domain:?} cannot be used for a SHA1 userID (username@domain): {reason}; use a domain such as example.com"
    )]
    InvalidDomain {
        /// The domain, as given.
        domain: String,
        /// Why it cannot be used.
        reason: String,
    },
}

/// The Unicode name of a character the identifier rules refuse as invisible (names from
/// UnicodeData.txt; the Tags block's unassigned code points have none).
fn invisible_name(code: u32) -> &'static str {
    match code {
        // Bidi_Control
        0x061C => "ARABIC LETTER MARK",
        0x200E => "LEFT-TO-RIGHT MARK",
        0x200F => "RIGHT-TO-LEFT MARK",
        0x202A => "LEFT-TO-RIGHT EMBEDDING",
        0x202B => "RIGHT-TO-LEFT EMBEDDING",
        0x202C => "POP DIRECTIONAL FORMATTING",
        0x202D => "LEFT-TO-RIGHT OVERRIDE",
        0x202E => "RIGHT-TO-LEFT OVERRIDE",
        0x2066 => "LEFT-TO-RIGHT ISOLATE",
        0x2067 => "RIGHT-TO-LEFT ISOLATE",
        0x2068 => "FIRST STRONG ISOLATE",
        0x2069 => "POP DIRECTIONAL ISOLATE",
        // Invisible format characters and fillers
        0x200B => "ZERO WIDTH SPACE",
        0x2060 => "WORD JOINER",
        0x2061 => "FUNCTION APPLICATION",
        0x2062 => "INVISIBLE TIMES",
        0x2063 => "INVISIBLE SEPARATOR",
        0x2064 => "INVISIBLE PLUS",
        0x00AD => "SOFT HYPHEN",
        0x180E => "MONGOLIAN VOWEL SEPARATOR",
        0xFEFF => "ZERO WIDTH NO-BREAK SPACE",
        0x3164 => "HANGUL FILLER",
        0x115F => "HANGUL CHOSEONG FILLER",
        0x1160 => "HANGUL JUNGSEONG FILLER",
        0xFFA0 => "HALFWIDTH HANGUL FILLER",
        // Line and paragraph separators
        0x2028 => "LINE SEPARATOR",
        0x2029 => "PARAGRAPH SEPARATOR",
        // The Tags block
        0xE0001 => "LANGUAGE TAG",
        0xE0020..=0xE007E => TAG_NAMES[(code - 0xE0020) as usize],
        0xE007F => "CANCEL TAG",
        0xE0000..=0xE007F => "(an unassigned code point of the Tags block)",
        _ => "(an invisible character)",
    }
}

/// The names of the tag characters U+E0020 to U+E007E, in order: "TAG " and the name
/// of the ASCII character whose code is the tag's code point minus 0xE0000 (U+E0067 is
/// TAG LATIN SMALL LETTER G), as UnicodeData.txt spells them.
const TAG_NAMES: [&str; 0x5F] = [
    "TAG SPACE",
    "TAG EXCLAMATION MARK",
    "TAG QUOTATION MARK",
    "TAG NUMBER SIGN",
    "TAG DOLLAR SIGN",
    "TAG PERCENT SIGN",
    "TAG AMPERSAND",
    "TAG APOSTROPHE",
    "TAG LEFT PARENTHESIS",
    "TAG RIGHT PARENTHESIS",
    "TAG ASTERISK",
    "TAG PLUS SIGN",
    "TAG COMMA",
    "TAG HYPHEN-MINUS",
    "TAG FULL STOP",
    "TAG SOLIDUS",
    "TAG DIGIT ZERO",
    "TAG DIGIT ONE",
    "TAG DIGIT TWO",
    "TAG DIGIT THREE",
    "TAG DIGIT FOUR",
    "TAG DIGIT FIVE",
    "TAG DIGIT SIX",
    "TAG DIGIT SEVEN",
    "TAG DIGIT EIGHT",
    "TAG DIGIT NINE",
    "TAG COLON",
    "TAG SEMICOLON",
    "TAG LESS-THAN SIGN",
    "TAG EQUALS SIGN",
    "TAG GREATER-THAN SIGN",
    "TAG QUESTION MARK",
    "TAG COMMERCIAL AT",
    "TAG LATIN CAPITAL LETTER A",
    "TAG LATIN CAPITAL LETTER B",
    "TAG LATIN CAPITAL LETTER C",
    "TAG LATIN CAPITAL LETTER D",
    "TAG LATIN CAPITAL LETTER E",
    "TAG LATIN CAPITAL LETTER F",
    "TAG LATIN CAPITAL LETTER G",
    "TAG LATIN CAPITAL LETTER H",
    "TAG LATIN CAPITAL LETTER I",
    "TAG LATIN CAPITAL LETTER J",
    "TAG LATIN CAPITAL LETTER K",
    "TAG LATIN CAPITAL LETTER L",
    "TAG LATIN CAPITAL LETTER M",
    "TAG LATIN CAPITAL LETTER N",
    "TAG LATIN CAPITAL LETTER O",
    "TAG LATIN CAPITAL LETTER P",
    "TAG LATIN CAPITAL LETTER Q",
    "TAG LATIN CAPITAL LETTER R",
    "TAG LATIN CAPITAL LETTER S",
    "TAG LATIN CAPITAL LETTER T",
    "TAG LATIN CAPITAL LETTER U",
    "TAG LATIN CAPITAL LETTER V",
    "TAG LATIN CAPITAL LETTER W",
    "TAG LATIN CAPITAL LETTER X",
    "TAG LATIN CAPITAL LETTER Y",
    "TAG LATIN CAPITAL LETTER Z",
    "TAG LEFT SQUARE BRACKET",
    "TAG REVERSE SOLIDUS",
    "TAG RIGHT SQUARE BRACKET",
    "TAG CIRCUMFLEX ACCENT",
    "TAG LOW LINE",
    "TAG GRAVE ACCENT",
    "TAG LATIN SMALL LETTER A",
    "TAG LATIN SMALL LETTER B",
    "TAG LATIN SMALL LETTER C",
    "TAG LATIN SMALL LETTER D",
    "TAG LATIN SMALL LETTER E",
    "TAG LATIN SMALL LETTER F",
    "TAG LATIN SMALL LETTER G",
    "TAG LATIN SMALL LETTER H",
    "TAG LATIN SMALL LETTER I",
    "TAG LATIN SMALL LETTER J",
    "TAG LATIN SMALL LETTER K",
    "TAG LATIN SMALL LETTER L",
    "TAG LATIN SMALL LETTER M",
    "TAG LATIN SMALL LETTER N",
    "TAG LATIN SMALL LETTER O",
    "TAG LATIN SMALL LETTER P",
    "TAG LATIN SMALL LETTER Q",
    "TAG LATIN SMALL LETTER R",
    "TAG LATIN SMALL LETTER S",
    "TAG LATIN SMALL LETTER T",
    "TAG LATIN SMALL LETTER U",
    "TAG LATIN SMALL LETTER V",
    "TAG LATIN SMALL LETTER W",
    "TAG LATIN SMALL LETTER X",
    "TAG LATIN SMALL LETTER Y",
    "TAG LATIN SMALL LETTER Z",
    "TAG LEFT CURLY BRACKET",
    "TAG VERTICAL LINE",
    "TAG RIGHT CURLY BRACKET",
    "TAG TILDE",
];

/// Why a character the identifier rules refuse as invisible is refused.
fn invisible_why(code: u32) -> &'static str {
    match code {
        0x061C | 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069 => {
            "a bidirectional control reorders how the text is displayed, so the identifier would not read as what it is"
        }
        0x2028 | 0x2029 => "a line or paragraph separator breaks lines in logs and dashboards",
        0xE0000..=0xE007F => {
            "a tag character is invisible and is only allowed inside an emoji tag sequence such as the flag of \
             England (U+1F3F4, tag letters, U+E007F CANCEL TAG)"
        }
        _ => "it is invisible or displays as blank space, so two identifiers that look the same would differ",
    }
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
            | IdError::ControlCharacter { kind, .. }
            | IdError::InvisibleCharacter { kind, .. } => kind,
            IdError::InvalidDomain { .. } => "domain",
        }
    }
}
