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
    /// The value contains a character that changes how the text is displayed without
    /// being visible itself: a bidirectional control (U+202A to U+202E, U+2066 to
    /// U+2069), a line or paragraph separator (U+2028, U+2029) or U+FEFF.
    #[error(
        "{kind} contains U+{code:04X} {name} at byte {at}: {why}; remove it (zero-width joiners U+200C and U+200D are allowed)",
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

/// The Unicode name of an invisible character the identifier rules refuse.
fn invisible_name(code: u32) -> &'static str {
    match code {
        0x202A => "LEFT-TO-RIGHT EMBEDDING",
        0x202B => "RIGHT-TO-LEFT EMBEDDING",
        0x202C => "POP DIRECTIONAL FORMATTING",
        0x202D => "LEFT-TO-RIGHT OVERRIDE",
        0x202E => "RIGHT-TO-LEFT OVERRIDE",
        0x2066 => "LEFT-TO-RIGHT ISOLATE",
        0x2067 => "RIGHT-TO-LEFT ISOLATE",
        0x2068 => "FIRST STRONG ISOLATE",
        0x2069 => "POP DIRECTIONAL ISOLATE",
        0x2028 => "LINE SEPARATOR",
        0x2029 => "PARAGRAPH SEPARATOR",
        0xFEFF => "ZERO WIDTH NO-BREAK SPACE",
        _ => "(an invisible character)",
    }
}

/// Why an invisible character the identifier rules refuse is refused.
fn invisible_why(code: u32) -> &'static str {
    match code {
        0x202A..=0x202E | 0x2066..=0x2069 => {
            "a bidirectional control reorders how the text is displayed, so the identifier would not read as what it is"
        }
        0x2028 | 0x2029 => "a line or paragraph separator breaks lines in logs and dashboards",
        _ => "it is invisible, so two identifiers that look the same would differ",
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
