//! The identifier rules, written out independently of the crate's `validate`, as the
//! oracle of the fuzz targets (`#[path]`-included by each).
//!
//! The crate scans `char_indices` and uses `char::is_control` and a `matches!`; this
//! oracle sums UTF-8 lengths from the encoding table and tests code points against the
//! ranges as the rule states them, so a slip in either shows as a disagreement.
#![allow(dead_code)]

/// The limit, from callstats' identifier rules.
pub const MAX_BYTES: usize = 256;

/// Why the rules refuse a character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Unicode category Cc: U+0000..U+001F and U+007F..U+009F.
    Control,
    /// Bidi embedding/override/isolate controls, the line and paragraph separators
    /// (categories Zl and Zp) and U+FEFF.
    Invisible,
}

/// What the rules say about a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    Empty,
    TooLong { len: usize },
    Refused { why: Refused, code: u32, at: usize },
}

/// The number of bytes UTF-8 uses for a code point (RFC 3629, section 3).
pub fn utf8_len(c: char) -> usize {
    match c as u32 {
        0..=0x7F => 1,
        0x80..=0x7FF => 2,
        0x800..=0xFFFF => 3,
        _ => 4,
    }
}

/// Whether the rules refuse `c`, and why.
pub fn refused(c: char) -> Option<Refused> {
    match c as u32 {
        0x0000..=0x001F | 0x007F..=0x009F => Some(Refused::Control),
        0x202A..=0x202E | 0x2066..=0x2069 | 0x2028 | 0x2029 | 0xFEFF => Some(Refused::Invisible),
        _ => None,
    }
}

/// The verdict of the rules on `s`: empty, then too long, then the first refused
/// character with its byte offset.
pub fn verdict(s: &str) -> Verdict {
    let len: usize = s.chars().map(utf8_len).sum();
    if len == 0 {
        return Verdict::Empty;
    }
    if len > MAX_BYTES {
        return Verdict::TooLong { len };
    }
    let mut at = 0;
    for c in s.chars() {
        if let Some(why) = refused(c) {
            return Verdict::Refused {
                why,
                code: c as u32,
                at,
            };
        }
        at += utf8_len(c);
    }
    Verdict::Valid
}

/// Strict percent-decoding, written independently: each `%` must be followed by two
/// hex digits, everything else is copied; `None` if an escape is broken or the result
/// is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::new();
    let mut rest = s.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'%' {
            let hex = tail.get(..2)?;
            let hex = std::str::from_utf8(hex).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            out.push(first);
            rest = tail;
        }
    }
    String::from_utf8(out).ok()
}

/// Form decoding (`+` is a space), then strict percent-decoding.
pub fn form_decode(s: &str) -> Option<String> {
    percent_decode(&s.replace('+', " "))
}
