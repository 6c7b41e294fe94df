//! The identifier rules, written out independently of the crate's `validate`, as the
//! oracle of the fuzz targets (`#[path]`-included by each).
//!
//! The crate scans `char_indices` forwards once, with `char::is_control`, a `matches!`
//! and a forward state machine for emoji tag sequences; this oracle sums UTF-8 lengths
//! from the encoding table, tests code points against the ranges as the rules state
//! them (PropList.txt's `Bidi_Control` lines, the list of invisible format characters,
//! the Tags block), and finds the tag characters outside an emoji tag sequence with a
//! state machine that reads the string backwards, from the CANCEL TAG to the base, so a
//! slip in either shows as a disagreement.
#![allow(dead_code)]

/// The limit, from callstats' identifier rules.
pub const MAX_BYTES: usize = 256;

/// Why the rules refuse a character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Unicode category Cc: U+0000..U+001F and U+007F..U+009F.
    Control,
    /// Wherever it is: a `Bidi_Control` code point, an invisible format character or
    /// filler, a line or paragraph separator (categories Zl and Zp), U+FEFF.
    Invisible,
    /// A code point of the Tags block U+E0000..U+E007F that is not part of an emoji tag
    /// sequence U+1F3F4 [U+E0020..U+E007E]+ U+E007F (UTS #51, ED-14a). The crate reports
    /// it as an invisible character too.
    Tag,
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

/// Whether the rules refuse `c` wherever it is, and why (the Tags block depends on the
/// neighbours: see [`first_stray_tag`]).
pub fn refused(c: char) -> Option<Refused> {
    match c as u32 {
        // Category Cc.
        0x0000..=0x001F | 0x007F..=0x009F => Some(Refused::Control),
        // PropList.txt, Bidi_Control:
        //   061C ; 200E..200F ; 202A..202E ; 2066..2069
        0x061C | 0x200E..=0x200F | 0x202A..=0x202E | 0x2066..=0x2069 => Some(Refused::Invisible),
        // Invisible format characters and fillers: ZERO WIDTH SPACE, WORD JOINER ..
        // INVISIBLE PLUS, SOFT HYPHEN, MONGOLIAN VOWEL SEPARATOR, HANGUL FILLER, HANGUL
        // CHOSEONG FILLER, HANGUL JUNGSEONG FILLER, HALFWIDTH HANGUL FILLER.
        0x200B | 0x2060..=0x2064 | 0x00AD | 0x180E | 0x3164 | 0x115F | 0x1160 | 0xFFA0 => Some(Refused::Invisible),
        // LINE SEPARATOR, PARAGRAPH SEPARATOR, ZERO WIDTH NO-BREAK SPACE.
        0x2028 | 0x2029 | 0xFEFF => Some(Refused::Invisible),
        _ => None,
    }
}

const WAVING_BLACK_FLAG: u32 = 0x1F3F4;
const CANCEL_TAG: u32 = 0xE007F;

fn in_tags_block(code: u32) -> bool {
    (0xE0000..=0xE007F).contains(&code)
}

fn is_tag_spec(code: u32) -> bool {
    (0xE0020..=0xE007E).contains(&code)
}

/// Whether `spec` (the tag characters between the base and CANCEL TAG) spells one of the
/// three RGI subdivision flags of emoji-sequences.txt: England `gbeng`, Scotland `gbsct`,
/// Wales `gbwls` (tag characters are U+E0000 plus the ASCII code).
fn is_flag(spec: &[u32]) -> bool {
    let text: String = spec
        .iter()
        .map(|&c| char::from_u32(c - 0xE0000).unwrap_or('?'))
        .collect();
    matches!(text.as_str(), "gbeng" | "gbsct" | "gbwls")
}

/// The index (into `codes`) of the first code point of the Tags block that is not part
/// of an emoji tag sequence, found by reading `codes` from the end: a CANCEL TAG opens a
/// candidate, tag_spec characters extend it leftwards, and WAVING BLACK FLAG closes it
/// when the candidate spells one of the three flags;
/// anything else makes the candidate stray (reported at its leftmost tag_spec, or at the
/// CANCEL TAG when it has none). Since a stray candidate is wholly to the right of
/// whatever is read next, the last stray index found is the leftmost.
pub fn first_stray_tag(codes: &[u32]) -> Option<usize> {
    // `end`: index of the CANCEL TAG of the open candidate; `leftmost`: index of its
    // leftmost tag_spec so far (`None` while there is none).
    let mut end: Option<usize> = None;
    let mut leftmost: Option<usize> = None;
    let mut stray = None;
    for i in (0..codes.len()).rev() {
        let code = codes[i];
        if let Some(e) = end {
            if is_tag_spec(code) {
                leftmost = Some(i);
                continue;
            }
            if code == WAVING_BLACK_FLAG && leftmost.is_some_and(|l| is_flag(&codes[l..e])) {
                end = None;
                leftmost = None;
                continue;
            }
            // The candidate cannot be completed: stray.
            stray = Some(leftmost.unwrap_or(e));
            end = None;
            leftmost = None;
        }
        if code == CANCEL_TAG {
            end = Some(i);
        } else if in_tags_block(code) {
            stray = Some(i);
        }
    }
    if let Some(e) = end {
        stray = Some(leftmost.unwrap_or(e));
    }
    stray
}

/// The verdict of the rules on `s`: empty, then too long, then the first refused
/// character (by position) with its byte offset.
pub fn verdict(s: &str) -> Verdict {
    let len: usize = s.chars().map(utf8_len).sum();
    if len == 0 {
        return Verdict::Empty;
    }
    if len > MAX_BYTES {
        return Verdict::TooLong { len };
    }
    let chars: Vec<char> = s.chars().collect();
    let codes: Vec<u32> = chars.iter().map(|&c| c as u32).collect();
    let by_itself = chars.iter().position(|&c| refused(c).is_some());
    let stray = first_stray_tag(&codes);
    let (index, why) = match (by_itself, stray) {
        (None, None) => return Verdict::Valid,
        (Some(i), Some(t)) if t < i => (t, Refused::Tag),
        (Some(i), _) => (i, refused(chars[i]).unwrap()),
        (None, Some(t)) => (t, Refused::Tag),
    };
    Verdict::Refused {
        why,
        code: codes[index],
        at: chars[..index].iter().map(|&c| utf8_len(c)).sum(),
    }
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
