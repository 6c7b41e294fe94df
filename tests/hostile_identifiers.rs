//! Hostile identifiers against the minimal app of `tests/common/router.rs`, in both
//! conferenceID modes (the room; one call per room): every code point the identifier
//! rules refuse and every case they keep, over-long values (bytes, not characters),
//! empty values, controls and strict percent-decoding, each as a room in the page's path
//! (`/rooms/<percent-encoded room>`, the layer), in the page a token request comes from
//! (its `Referer`, the token endpoint), in a token request's body (JSON and form, with
//! `room_from_body(true)`), and as the username of the session (the userID).
//!
//! A refused value gets `400 invalid_conference_id` (`invalid_user_id` for a username)
//! whose message names the code point and its byte offset; a kept one gets a token that
//! carries it byte for byte (as the room, or at the start of the call's ID). Every
//! expected byte sequence and offset is written out here by hand from the UTF-8 rules
//! (one byte below U+0080; 110xxxxx 10xxxxxx to U+07FF; 1110xxxx 10xxxxxx 10xxxxxx to
//! U+FFFF; 11110xxx and three 10xxxxxx above), and the table is checked against the
//! standard library's encoder, never against the crate.

mod common;

use common::router::{App, Expect, Mode, Options, Row, Tally, Who, alice, body, refused_with, token, token_cut};
use tower_callstats::AppUser;

/// The refused code points that are not controls or tags: the code point, its UTF-8
/// percent-encoded by hand, and its name in UnicodeData.txt.
const NAMED: [(u32, &str, &str); 27] = [
    // Bidi_Control (PropList.txt), all twelve.
    (0x061C, "%D8%9C", "ARABIC LETTER MARK"),
    (0x200E, "%E2%80%8E", "LEFT-TO-RIGHT MARK"),
    (0x200F, "%E2%80%8F", "RIGHT-TO-LEFT MARK"),
    (0x202A, "%E2%80%AA", "LEFT-TO-RIGHT EMBEDDING"),
    (0x202B, "%E2%80%AB", "RIGHT-TO-LEFT EMBEDDING"),
    (0x202C, "%E2%80%AC", "POP DIRECTIONAL FORMATTING"),
    (0x202D, "%E2%80%AD", "LEFT-TO-RIGHT OVERRIDE"),
    (0x202E, "%E2%80%AE", "RIGHT-TO-LEFT OVERRIDE"),
    (0x2066, "%E2%81%A6", "LEFT-TO-RIGHT ISOLATE"),
    (0x2067, "%E2%81%A7", "RIGHT-TO-LEFT ISOLATE"),
    (0x2068, "%E2%81%A8", "FIRST STRONG ISOLATE"),
    (0x2069, "%E2%81%A9", "POP DIRECTIONAL ISOLATE"),
    // Invisible format characters and fillers.
    (0x200B, "%E2%80%8B", "ZERO WIDTH SPACE"),
    (0x2060, "%E2%81%A0", "WORD JOINER"),
    (0x2061, "%E2%81%A1", "FUNCTION APPLICATION"),
    (0x2062, "%E2%81%A2", "INVISIBLE TIMES"),
    (0x2063, "%E2%81%A3", "INVISIBLE SEPARATOR"),
    (0x2064, "%E2%81%A4", "INVISIBLE PLUS"),
    (0x00AD, "%C2%AD", "SOFT HYPHEN"),
    (0x180E, "%E1%A0%8E", "MONGOLIAN VOWEL SEPARATOR"),
    (0xFEFF, "%EF%BB%BF", "ZERO WIDTH NO-BREAK SPACE"),
    (0x3164, "%E3%85%A4", "HANGUL FILLER"),
    (0x115F, "%E1%85%9F", "HANGUL CHOSEONG FILLER"),
    (0x1160, "%E1%85%A0", "HANGUL JUNGSEONG FILLER"),
    (0xFFA0, "%EF%BE%A0", "HALFWIDTH HANGUL FILLER"),
    // Line and paragraph separators.
    (0x2028, "%E2%80%A8", "LINE SEPARATOR"),
    (0x2029, "%E2%80%A9", "PARAGRAPH SEPARATOR"),
];

/// Where a refused code point is put: before it (percent-encoded), the byte offset it
/// then has (counted by hand: `room` 4 bytes, イ 3, U+1F3F4 4), and after it. After
/// U+1F3F4 a tag character starts a tag run that is no flag: refused at the run's start,
/// byte 4, like any other refused character there.
const CONTEXTS: [(&str, usize, &str); 4] = [
    ("", 0, "x"),
    ("room", 4, "1-nimda"),
    ("%E3%82%A4", 3, ""),
    ("%F0%9F%8F%B4", 4, "x"),
];

/// A value of the table and what the rules say about it.
struct Case {
    name: String,
    /// The value percent-encoded, as it goes into a URL.
    encoded: String,
    verdict: Verdict,
}

enum Verdict {
    /// Kept, these bytes exactly; with calls, a room over 234 bytes is cut to
    /// `call_prefix` in front of the call's `-<stamp>-<random>`.
    Kept {
        bytes: Vec<u8>,
        call_prefix: Option<Vec<u8>>,
    },
    /// Refused; the message says the first fragment after the identifier's name, and
    /// the others anywhere. `at` is the offending code point and its byte offset.
    Refused {
        at: Option<(usize, u32)>,
        message: Vec<String>,
    },
    /// Not even decoded (a room in a URL or a form only; a username is never decoded).
    Undecodable(String),
}

fn kept(name: &str, literal: &str, encoded: &str) -> Case {
    Case {
        name: name.to_owned(),
        encoded: encoded.to_owned(),
        verdict: Verdict::Kept {
            bytes: literal.as_bytes().to_vec(),
            call_prefix: None,
        },
    }
}

fn kept_cut(name: &str, literal: &str, encoded: &str, call_prefix: &str) -> Case {
    Case {
        name: name.to_owned(),
        encoded: encoded.to_owned(),
        verdict: Verdict::Kept {
            bytes: literal.as_bytes().to_vec(),
            call_prefix: Some(call_prefix.as_bytes().to_vec()),
        },
    }
}

fn refused_at(name: impl Into<String>, encoded: impl Into<String>, code: u32, at: usize, message: &[String]) -> Case {
    Case {
        name: name.into(),
        encoded: encoded.into(),
        verdict: Verdict::Refused {
            at: Some((at, code)),
            message: message.to_vec(),
        },
    }
}

fn too_long(name: &str, encoded: String, message: &str) -> Case {
    Case {
        name: name.to_owned(),
        encoded,
        verdict: Verdict::Refused {
            at: None,
            message: vec![message.to_owned()],
        },
    }
}

fn undecodable(name: &str, encoded: &str, message: &str) -> Case {
    Case {
        name: name.to_owned(),
        encoded: encoded.to_owned(),
        verdict: Verdict::Undecodable(message.to_owned()),
    }
}

/// UTF-8 of a control (Cc), percent-encoded by the rule: U+0000 to U+007F is the one
/// byte of the code; U+0080 to U+009F is 110 00010, 10 xxxxxx: C2, then the code.
fn control_encoded(code: u32) -> String {
    match code {
        0..=0x7F => format!("%{code:02X}"),
        _ => format!("%C2%{code:02X}"),
    }
}

/// UTF-8 of a tag character U+E0000 + n (n < 0x80), percent-encoded by the rule:
/// 11110 011, 10 100000, 10 0000 + n's top bit, 10 + n's low six bits: F3 A0 80 80+n
/// for n < 0x40, F3 A0 81 80+(n-0x40) above.
fn tag_encoded(code: u32) -> String {
    let n = code - 0xE0000;
    format!("%F3%A0%{:02X}%{:02X}", 0x80 | (n >> 6), 0x80 | (n & 0x3F))
}

/// Every refused code point that has a name here, in every context.
fn named_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (code, encoded, name) in NAMED {
        for (before, at, after) in CONTEXTS {
            let message = format!("contains U+{code:04X} {name} at byte {at}");
            let value = format!("{before}{encoded}{after}");
            cases.push(refused_at(
                format!("U+{code:04X} at {at}: {value}"),
                value,
                code,
                at,
                &[message],
            ));
        }
    }
    cases
}

/// Every control character (U+0000 to U+001F, U+007F to U+009F) in every context.
fn control_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for code in (0..=0x1F).chain(0x7F..=0x9F) {
        for (before, at, after) in CONTEXTS {
            let message = format!("contains the control character U+{code:04X} at byte {at}");
            let value = format!("{before}{}{after}", control_encoded(code));
            cases.push(refused_at(
                format!("control U+{code:04X} at {at}: {value}"),
                value,
                code,
                at,
                &[message],
            ));
        }
    }
    cases
}

/// Every code point of the Tags block, outside a flag, in every context.
fn tag_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for code in 0xE0000..=0xE007F {
        for (before, at, after) in CONTEXTS {
            let message = [format!("contains U+{code:04X} "), format!(" at byte {at}: ")];
            let value = format!("{before}{}{after}", tag_encoded(code));
            cases.push(refused_at(
                format!("tag U+{code:04X} at {at}: {value}"),
                value,
                code,
                at,
                &message,
            ));
        }
    }
    cases
}

/// Tag runs that are not one of the three flags (UTS #51 sequences included). The tag
/// of ASCII letter L is U+E0000 + L: g U+E0067 %F3%A0%81%A7, b %A2, e %A5, n %AE, s %B3,
/// c %A3, t %B4, u %B5, a %A1, d %A4, m %AD, i %A9, G U+E0047 %F3%A0%81%87, B %82, E
/// %85, N %8E; CANCEL TAG U+E007F %F3%A0%81%BF; U+1F3F4 %F0%9F%8F%B4.
fn sequence_cases() -> Vec<Case> {
    const FLAG: &str = "%F0%9F%8F%B4";
    const ENGLAND: &str = "%F0%9F%8F%B4%F3%A0%81%A7%F3%A0%81%A2%F3%A0%81%A5%F3%A0%81%AE%F3%A0%81%A7%F3%A0%81%BF";
    let g = |at: usize| vec![format!("contains U+E0067 TAG LATIN SMALL LETTER G at byte {at}")];
    let cancel = |at: usize| vec![format!("contains U+E007F CANCEL TAG at byte {at}")];
    let rows: Vec<(&str, String, u32, usize, Vec<String>)> = vec![
        ("a lone tag g", "%F3%A0%81%A7".into(), 0xE0067, 0, g(0)),
        ("tag g after a", "a%F3%A0%81%A7".into(), 0xE0067, 1, g(1)),
        (
            "flag + usca + CANCEL TAG (valid UTS #51, no RGI flag)",
            format!("{FLAG}%F3%A0%81%B5%F3%A0%81%B3%F3%A0%81%A3%F3%A0%81%A1%F3%A0%81%BF"),
            0xE0075,
            4,
            vec!["contains U+E0075 TAG LATIN SMALL LETTER U at byte 4".into()],
        ),
        (
            "LANGUAGE TAG U+E0001 en",
            "%F3%A0%80%81en".into(),
            0xE0001,
            0,
            vec!["contains U+E0001 LANGUAGE TAG at byte 0".into()],
        ),
        (
            "flag + gben + CANCEL TAG",
            format!("{FLAG}%F3%A0%81%A7%F3%A0%81%A2%F3%A0%81%A5%F3%A0%81%AE%F3%A0%81%BF"),
            0xE0067,
            4,
            g(4),
        ),
        (
            "flag + gbengg + CANCEL TAG",
            format!("{FLAG}%F3%A0%81%A7%F3%A0%81%A2%F3%A0%81%A5%F3%A0%81%AE%F3%A0%81%A7%F3%A0%81%A7%F3%A0%81%BF"),
            0xE0067,
            4,
            g(4),
        ),
        (
            "x + flag + admin + CANCEL TAG (hidden text)",
            format!("x{FLAG}%F3%A0%81%A1%F3%A0%81%A4%F3%A0%81%AD%F3%A0%81%A9%F3%A0%81%AE%F3%A0%81%BF"),
            0xE0061,
            5,
            vec!["contains U+E0061 TAG LATIN SMALL LETTER A at byte 5".into()],
        ),
        (
            "flag + CANCEL TAG",
            format!("{FLAG}%F3%A0%81%BF"),
            0xE007F,
            4,
            cancel(4),
        ),
        (
            "England without CANCEL TAG",
            format!("{FLAG}%F3%A0%81%A7%F3%A0%81%A2%F3%A0%81%A5%F3%A0%81%AE%F3%A0%81%A7"),
            0xE0067,
            4,
            g(4),
        ),
        (
            "flag + gb + x + CANCEL TAG",
            format!("{FLAG}%F3%A0%81%A7%F3%A0%81%A2x%F3%A0%81%BF"),
            0xE0067,
            4,
            g(4),
        ),
        (
            "flag + g + ZWJ",
            format!("{FLAG}%F3%A0%81%A7%E2%80%8D"),
            0xE0067,
            4,
            g(4),
        ),
        (
            "WHITE FLAG U+1F3F3 + g + CANCEL TAG",
            "%F0%9F%8F%B3%F3%A0%81%A7%F3%A0%81%BF".into(),
            0xE0067,
            4,
            g(4),
        ),
        (
            "flag + VS16 + g + CANCEL TAG",
            format!("{FLAG}%EF%B8%8F%F3%A0%81%A7%F3%A0%81%BF"),
            0xE0067,
            7,
            g(7),
        ),
        ("England + g", format!("{ENGLAND}%F3%A0%81%A7"), 0xE0067, 28, g(28)),
        (
            "England + CANCEL TAG",
            format!("{ENGLAND}%F3%A0%81%BF"),
            0xE007F,
            28,
            cancel(28),
        ),
        (
            "イ + flag + g",
            format!("%E3%82%A4{FLAG}%F3%A0%81%A7"),
            0xE0067,
            7,
            g(7),
        ),
        (
            "ZERO WIDTH SPACE + g: the first refused character",
            "%E2%80%8B%F3%A0%81%A7".into(),
            0x200B,
            0,
            vec!["contains U+200B ZERO WIDTH SPACE at byte 0".into()],
        ),
        (
            "flag + TAG SPACE + CANCEL TAG",
            format!("{FLAG}%F3%A0%80%A0%F3%A0%81%BF"),
            0xE0020,
            4,
            vec!["contains U+E0020 TAG SPACE at byte 4".into()],
        ),
        (
            "flag + GBENG in capitals + CANCEL TAG",
            format!("{FLAG}%F3%A0%81%87%F3%A0%81%82%F3%A0%81%85%F3%A0%81%8E%F3%A0%81%87%F3%A0%81%BF"),
            0xE0047,
            4,
            vec!["contains U+E0047 TAG LATIN CAPITAL LETTER G at byte 4".into()],
        ),
    ];
    rows.into_iter()
        .map(|(name, value, code, at, message)| refused_at(name, value, code, at, &message))
        .collect()
}

/// What the rules keep, with the bytes written out (the literal) and percent-encoded by
/// hand (the URL form).
fn kept_cases() -> Vec<Case> {
    vec![
        kept("ZWNJ U+200C", "a\u{200C}b", "a%E2%80%8Cb"),
        kept("ZWJ U+200D", "a\u{200D}b", "a%E2%80%8Db"),
        kept("heart + VS16 U+FE0F", "\u{2764}\u{FE0F}", "%E2%9D%A4%EF%B8%8F"),
        kept("U+2269 + VS1 U+FE00", "\u{2269}\u{FE00}", "%E2%89%A9%EF%B8%80"),
        kept("U+845B + VS17 U+E0100", "\u{845B}\u{E0100}", "%E8%91%9B%F3%A0%84%80"),
        kept("U+845B + VS256 U+E01EF", "\u{845B}\u{E01EF}", "%E8%91%9B%F3%A0%87%AF"),
        kept(
            "flag of England",
            "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}",
            "%F0%9F%8F%B4%F3%A0%81%A7%F3%A0%81%A2%F3%A0%81%A5%F3%A0%81%AE%F3%A0%81%A7%F3%A0%81%BF",
        ),
        kept(
            "flag of Scotland",
            "\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
            "%F0%9F%8F%B4%F3%A0%81%A7%F3%A0%81%A2%F3%A0%81%B3%F3%A0%81%A3%F3%A0%81%B4%F3%A0%81%BF",
        ),
        kept(
            "flag of Wales",
            "\u{1F3F4}\u{E0067}\u{E0062}\u{E0077}\u{E006C}\u{E0073}\u{E007F}",
            "%F0%9F%8F%B4%F3%A0%81%A7%F3%A0%81%A2%F3%A0%81%B7%F3%A0%81%AC%F3%A0%81%B3%F3%A0%81%BF",
        ),
        kept(
            "a + flag of Wales + b",
            "a\u{1F3F4}\u{E0067}\u{E0062}\u{E0077}\u{E006C}\u{E0073}\u{E007F}b",
            "a%F0%9F%8F%B4%F3%A0%81%A7%F3%A0%81%A2%F3%A0%81%B7%F3%A0%81%AC%F3%A0%81%B3%F3%A0%81%BFb",
        ),
        kept(
            "England then Scotland",
            "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}",
            "%F0%9F%8F%B4%F3%A0%81%A7%F3%A0%81%A2%F3%A0%81%A5%F3%A0%81%AE%F3%A0%81%A7%F3%A0%81%BF\
             %F0%9F%8F%B4%F3%A0%81%A7%F3%A0%81%A2%F3%A0%81%B3%F3%A0%81%A3%F3%A0%81%B4%F3%A0%81%BF",
        ),
        kept("black flag U+1F3F4 alone", "\u{1F3F4}", "%F0%9F%8F%B4"),
        kept(
            "family: woman ZWJ woman ZWJ girl",
            "\u{1F469}\u{200D}\u{1F469}\u{200D}\u{1F467}",
            "%F0%9F%91%A9%E2%80%8D%F0%9F%91%A9%E2%80%8D%F0%9F%91%A7",
        ),
        kept(
            "rainbow flag: white flag VS16 ZWJ rainbow",
            "\u{1F3F3}\u{FE0F}\u{200D}\u{1F308}",
            "%F0%9F%8F%B3%EF%B8%8F%E2%80%8D%F0%9F%8C%88",
        ),
        kept(
            "Persian with ZWNJ",
            "\u{645}\u{6CC}\u{200C}\u{62E}\u{648}\u{627}\u{647}\u{645}",
            "%D9%85%DB%8C%E2%80%8C%D8%AE%D9%88%D8%A7%D9%87%D9%85",
        ),
        kept(
            "Hindi with ZWJ",
            "\u{915}\u{94D}\u{200D}\u{937}",
            "%E0%A4%95%E0%A5%8D%E2%80%8D%E0%A4%B7",
        ),
        kept(
            "Japanese",
            "\u{30A4}\u{30F3}\u{30BF}\u{30FC}\u{30CD}\u{30C3}\u{30C8}",
            "%E3%82%A4%E3%83%B3%E3%82%BF%E3%83%BC%E3%83%8D%E3%83%83%E3%83%88",
        ),
        kept(
            "Cyrillic",
            "\u{438}\u{43D}\u{442}\u{435}\u{440}\u{43D}\u{44D}\u{442}",
            "%D0%B8%D0%BD%D1%82%D0%B5%D1%80%D0%BD%D1%8D%D1%82",
        ),
        kept(
            "Lao",
            "\u{EAD}\u{EB4}\u{E99}\u{EC0}\u{E95}\u{EB5}\u{EC0}\u{E99}\u{EB1}\u{E94}",
            "%E0%BA%AD%E0%BA%B4%E0%BA%99%E0%BB%80%E0%BA%95%E0%BA%B5%E0%BB%80%E0%BA%99%E0%BA%B1%E0%BA%94",
        ),
        kept("combining marks, never normalised", "e\u{301}\u{323}", "e%CC%81%CC%A3"),
        kept("case kept", "Case-Sensitive", "Case-Sensitive"),
        kept("unassigned U+2065", "\u{2065}", "%E2%81%A5"),
        kept("unassigned U+E0080, after the Tags block", "\u{E0080}", "%F3%A0%82%80"),
        kept("unassigned U+E01F0", "\u{E01F0}", "%F3%A0%87%B0"),
        kept("HAIR SPACE U+200A", "\u{200A}", "%E2%80%8A"),
        kept("REGISTERED SIGN U+00AE", "\u{AE}", "%C2%AE"),
        kept("unassigned U+FEFE", "\u{FEFE}", "%EF%BB%BE"),
        kept("HANGUL LETTER SSANGNIEUN U+3165", "\u{3165}", "%E3%85%A5"),
        kept("a space", " ", "%20"),
        kept("lower-case escapes", "\u{30A4}", "%e3%82%a4"),
        kept("an encoded slash", "a/b", "a%2Fb"),
        kept("an encoded percent sign", "%", "%25"),
        kept("an encoded question mark", "a?b", "a%3Fb"),
        kept("an encoded plus", "+", "%2B"),
    ]
}

/// Lengths: 256 bytes are kept and 257 are not, counted in bytes after decoding. With
/// calls, a room over 234 bytes is cut to its longest prefix of at most 234 bytes that
/// ends on a character boundary (78 three-byte, 117 two-byte, 58 four-byte characters).
fn length_cases() -> Vec<Case> {
    let a = |n: usize| "a".repeat(n);
    let i3 = |n: usize| "\u{30A4}".repeat(n); // イ, E3 82 A4
    let zhe = |n: usize| "\u{436}".repeat(n); // ж, D0 B6
    let smile = |n: usize| "\u{1F600}".repeat(n); // 😀, F0 9F 98 80
    vec![
        kept_cut(
            "256 bytes: 253 a + イ",
            &(a(253) + &i3(1)),
            &(a(253) + "%E3%82%A4"),
            &a(234),
        ),
        kept_cut(
            "256 bytes: 85 イ + a",
            &(i3(85) + "a"),
            &("%E3%82%A4".repeat(85) + "a"),
            &i3(78),
        ),
        kept_cut("256 bytes: 128 ж", &zhe(128), &"%D0%B6".repeat(128), &zhe(117)),
        kept_cut("256 bytes: 64 😀", &smile(64), &"%F0%9F%98%80".repeat(64), &smile(58)),
        kept_cut(
            "256 bytes from 768 encoded",
            &"A".repeat(256),
            &"%41".repeat(256),
            &"A".repeat(234),
        ),
        kept("234 bytes: kept whole in a call ID", &"b".repeat(234), &"b".repeat(234)),
        kept_cut("235 bytes", &"b".repeat(235), &"b".repeat(235), &"b".repeat(234)),
        too_long(
            "257 bytes",
            a(257),
            "is 257 bytes long, 1 byte over the limit of 256 bytes",
        ),
        too_long(
            "258 bytes: 255 a + イ",
            a(255) + "%E3%82%A4",
            "is 258 bytes long, 2 bytes over the limit of 256 bytes",
        ),
        too_long(
            "258 bytes: 86 イ",
            "%E3%82%A4".repeat(86),
            "is 258 bytes long, 2 bytes over the limit of 256 bytes",
        ),
        too_long(
            "258 bytes: 129 ж",
            "%D0%B6".repeat(129),
            "is 258 bytes long, 2 bytes over the limit of 256 bytes",
        ),
        too_long(
            "260 bytes: 65 😀",
            "%F0%9F%98%80".repeat(65),
            "is 260 bytes long, 4 bytes over the limit of 256 bytes",
        ),
        too_long(
            "300 bytes from 900 encoded",
            "%41".repeat(300),
            "is 300 bytes long, 44 bytes over the limit of 256 bytes",
        ),
        too_long(
            "4000 bytes",
            "x".repeat(4000),
            "is 4000 bytes long, 3744 bytes over the limit of 256 bytes",
        ),
    ]
}

/// Strict percent-decoding: every `%` starts two hex digits, and the bytes are UTF-8.
fn percent_cases() -> Vec<Case> {
    let bad_escape = |at: usize| format!("has invalid percent-encoding at byte {at}");
    let not_utf8 = |at: usize| format!("is not valid UTF-8 after percent-decoding (invalid byte at offset {at})");
    vec![
        undecodable("%zz", "%zz", &bad_escape(0)),
        undecodable("truncated escape ab%E", "ab%E", &bad_escape(2)),
        undecodable("lone % at the end", "100%", &bad_escape(3)),
        undecodable("one hex digit %4", "%4", &bad_escape(0)),
        undecodable("non-hex a%G0", "a%G0", &bad_escape(1)),
        undecodable("%%41", "%%41", &bad_escape(0)),
        undecodable("ok%2", "ok%2", &bad_escape(2)),
        undecodable("%FF%FE", "%FF%FE", &not_utf8(0)),
        undecodable("half a 3-byte char %E3%82", "%E3%82", &not_utf8(0)),
        undecodable("overlong '/' a%C0%AF", "a%C0%AF", &not_utf8(1)),
        undecodable("UTF-16 surrogate %ED%A0%80", "%ED%A0%80", &not_utf8(0)),
        undecodable("above U+10FFFF ab%F4%90%80%80", "ab%F4%90%80%80", &not_utf8(2)),
        undecodable("lone lead byte %C2", "%C2", &not_utf8(0)),
        undecodable("stray continuation after イ", "%E3%82%A4%80", &not_utf8(3)),
        undecodable("3 of 4 bytes of 😀", "%F0%9F%98", &not_utf8(0)),
    ]
}

fn all_cases() -> Vec<Case> {
    let mut cases = named_cases();
    cases.extend(control_cases());
    cases.extend(tag_cases());
    cases.extend(sequence_cases());
    cases.extend(kept_cases());
    cases.extend(length_cases());
    cases.extend(percent_cases());
    cases
}

/// `kind` and the fragments of a refusal: the first follows the identifier's name.
fn said(kind: &str, fragments: &[String]) -> Vec<String> {
    let mut message: Vec<String> = fragments.to_vec();
    if let Some(first) = message.first_mut() {
        *first = format!("{kind} {first}");
    }
    message
}

/// What `case` gets as a room (alice's session).
fn as_room(case: &Case) -> Expect {
    let (code, message) = match &case.verdict {
        Verdict::Kept {
            bytes,
            call_prefix: None,
        } => return token("alice", bytes),
        Verdict::Kept {
            bytes,
            call_prefix: Some(prefix),
        } => return token_cut("alice", bytes, prefix),
        Verdict::Refused { message, .. } => ("invalid_conference_id", message.clone()),
        Verdict::Undecodable(message) => ("invalid_conference_id", vec![message.clone()]),
    };
    let message = said("conferenceID", &message);
    refused_with(400, code, &message.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The value of a case, decoded by the tests' own decoder, when it decodes.
fn decoded(case: &Case) -> Option<String> {
    match &case.verdict {
        Verdict::Undecodable(_) => None,
        _ => String::from_utf8(common::decode_component(&case.encoded)).ok(),
    }
}

/// Every case as the room of the page, through the layer.
#[tokio::test]
async fn rooms_in_the_page_path() {
    let mut tally = Tally::default();
    for mode in Mode::BOTH {
        let app = App::new(Options::new(mode)).await;
        let rows = all_cases()
            .iter()
            .map(|case| Row::get(&case.name, format!("/rooms/{}", case.encoded), alice(), as_room(case)))
            .collect();
        app.run("page path", rows, &mut tally).await;
    }
    tally.finish("hostile_identifiers::rooms_in_the_page_path");
}

/// Every case as the room of the page that asks for a token (its Referer).
#[tokio::test]
async fn rooms_in_the_referer() {
    let mut tally = Tally::default();
    for mode in Mode::BOTH {
        let app = App::new(Options::new(mode)).await;
        let rows = all_cases()
            .iter()
            .map(|case| Row::token_request(&case.name, alice(), as_room(case)).asked_from(&case.encoded))
            .collect();
        app.run("referer", rows, &mut tally).await;
    }
    tally.finish("hostile_identifiers::rooms_in_the_referer");
}

/// Every case as the body's conferenceID, which names the room with
/// `room_from_body(true)` (before the Referer, here another room): as JSON (the value
/// itself, escaped by serde_json) and as a form (percent-encoded; `+` would be a space).
#[tokio::test]
async fn rooms_in_the_body_when_the_app_allows_it() {
    let mut tally = Tally::default();
    for mode in Mode::BOTH {
        let app = App::new(Options {
            room_from_body: true,
            ..Options::new(mode)
        })
        .await;
        let mut rows = Vec::new();
        for case in all_cases() {
            if let Some(value) = decoded(&case) {
                let json = serde_json::json!({ "conferenceID": value }).to_string();
                let row = Row::token_request(format!("JSON {}", case.name), alice(), as_room(&case));
                rows.push(row.asked_from("standup").json(json));
            }
            if !case.encoded.contains('+') {
                let form = format!("conferenceID={}", case.encoded);
                let row = Row::token_request(format!("form {}", case.name), alice(), as_room(&case));
                rows.push(row.asked_from("standup").form(form));
            }
        }
        app.run("body", rows, &mut tally).await;
    }
    tally.finish("hostile_identifiers::rooms_in_the_body_when_the_app_allows_it");
}

/// Every case that decodes as the username of the session (raw userIDs), on the page
/// and on the token endpoint, both for the room `standup`.
#[tokio::test]
async fn usernames() {
    let mut tally = Tally::default();
    for mode in Mode::BOTH {
        let app = App::new(Options::new(mode)).await;
        let mut rows = Vec::new();
        for case in all_cases() {
            let Some(username) = decoded(&case) else { continue };
            let expect = match &case.verdict {
                Verdict::Kept { .. } => token(&username, "standup"),
                Verdict::Refused { message, .. } => {
                    let message = said("userID", message);
                    refused_with(
                        400,
                        "invalid_user_id",
                        &message.iter().map(String::as_str).collect::<Vec<_>>(),
                    )
                }
                Verdict::Undecodable(_) => continue,
            };
            let who = Who::User(AppUser::new(username.as_str()));
            rows.push(Row::get(
                format!("page {}", case.name),
                "/rooms/standup",
                who.clone(),
                expect.clone(),
            ));
            rows.push(Row::token_request(format!("endpoint {}", case.name), who, expect).asked_from("standup"));
        }
        app.run("username", rows, &mut tally).await;
    }
    tally.finish("hostile_identifiers::usernames");
}

/// Empty identifiers: `/rooms/` is no route of the app; everywhere else the value is
/// refused as empty.
#[tokio::test]
async fn empty_identifiers() {
    let empty = |kind: &str| format!("{kind} is empty; it must be 1 to 256 bytes of UTF-8");
    let (room, user) = (empty("conferenceID"), empty("userID"));
    let mut tally = Tally::default();
    for mode in Mode::BOTH {
        let app = App::new(Options::new(mode)).await;
        let nobody = || Who::User(AppUser::new(""));
        let rows = vec![
            Row::get("page /rooms/", "/rooms/", alice(), body(404, "")),
            Row::token_request(
                "referer /rooms/",
                alice(),
                refused_with(400, "invalid_conference_id", &[&room]),
            )
            .asked_from(""),
            Row::get(
                "page, empty username",
                "/rooms/r",
                nobody(),
                refused_with(400, "invalid_user_id", &[&user]),
            ),
            Row::token_request(
                "endpoint, empty username",
                nobody(),
                refused_with(400, "invalid_user_id", &[&user]),
            )
            .asked_from("r"),
        ];
        app.run("empty", rows, &mut tally).await;
        let app = App::new(Options {
            room_from_body: true,
            ..Options::new(mode)
        })
        .await;
        let refused = || refused_with(400, "invalid_conference_id", &[&room]);
        let rows = vec![
            Row::token_request("JSON conferenceID \"\"", alice(), refused())
                .asked_from("r")
                .json(r#"{"conferenceID":""}"#),
            Row::token_request("form conferenceID=", alice(), refused())
                .asked_from("r")
                .form("conferenceID="),
        ];
        app.run("empty body", rows, &mut tally).await;
    }
    tally.finish("hostile_identifiers::empty_identifiers");
}

/// The hand-written table against the standard library's UTF-8 encoder: the encodings,
/// the offsets of refused code points, and the bytes of kept values.
#[test]
fn the_table_agrees_with_the_standard_library() {
    let std_encoded = |c: char| {
        let mut buf = [0; 4];
        c.encode_utf8(&mut buf)
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>()
    };
    for (code, encoded, _) in NAMED {
        assert_eq!(encoded, std_encoded(char::from_u32(code).unwrap()), "U+{code:04X}");
    }
    for code in (0..=0x1F).chain(0x7F..=0x9F) {
        assert_eq!(
            control_encoded(code),
            std_encoded(char::from_u32(code).unwrap()),
            "U+{code:04X}"
        );
    }
    for code in 0xE0000..=0xE007F {
        assert_eq!(
            tag_encoded(code),
            std_encoded(char::from_u32(code).unwrap()),
            "U+{code:04X}"
        );
    }
    let mut checked = 0;
    for case in all_cases() {
        match &case.verdict {
            Verdict::Kept { bytes, call_prefix } => {
                assert_eq!(common::decode_component(&case.encoded), *bytes, "{}", case.name);
                if let Some(prefix) = call_prefix {
                    assert!(bytes.starts_with(prefix) && prefix.len() <= 234, "{}", case.name);
                    assert!(bytes.len() > 234, "{}: only rooms over 234 bytes are cut", case.name);
                }
            }
            Verdict::Refused {
                at: Some((at, code)), ..
            } => {
                let value = decoded(&case).unwrap_or_else(|| panic!("{}: not UTF-8", case.name));
                let found = value.get(*at..).and_then(|rest| rest.chars().next());
                assert_eq!(found, char::from_u32(*code), "{}: {value:?}", case.name);
            }
            Verdict::Refused { at: None, .. } | Verdict::Undecodable(_) => {}
        }
        checked += 1;
    }
    println!("hostile_identifiers: {checked} table entries checked against std");
}
