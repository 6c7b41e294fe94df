//! Text encodings the crate reads and writes: lowercase hex, `encodeURIComponent`-style
//! percent-encoding, strict percent-decoding, and `application/x-www-form-urlencoded`
//! pairs (query strings and form bodies).

use std::borrow::Cow;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::id::error::IdError;

/// Characters that `encodeURIComponent` leaves alone: `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Whether `encodeURIComponent` leaves `value` unchanged.
pub(crate) fn is_component_safe(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b))
}

/// Percent-encodes `value` like JavaScript's `encodeURIComponent`: everything but
/// `A-Z a-z 0-9 - _ . ! ~ * ' ( )` becomes `%XX` per UTF-8 byte.
///
/// ```
/// use tower_callstats::percent_encode;
///
/// assert_eq!(percent_encode("a b&c"), "a%20b%26c");
/// assert_eq!(percent_encode("イ"), "%E3%82%A4");
/// ```
pub fn percent_encode(value: &str) -> String {
    utf8_percent_encode(value, COMPONENT).to_string()
}

/// Percent-decodes `value` strictly: every `%` must be followed by two hex digits, and
/// the decoded bytes must be UTF-8. `kind` names the value in the error.
///
/// `+` is left as is (this is path and header decoding, not form decoding). A value
/// without `%` is returned as is, without copying.
///
/// ```
/// use tower_callstats::percent_decode;
///
/// assert_eq!(percent_decode("%E3%82%A4+1", "conferenceID").unwrap(), "イ+1");
/// assert!(percent_decode("%E3%82", "conferenceID").is_err()); // half a character
/// assert!(percent_decode("100%", "conferenceID").is_err()); // a lone '%'
/// ```
pub fn percent_decode<'a>(value: &'a str, kind: &'static str) -> Result<Cow<'a, str>, IdError> {
    let bytes = value.as_bytes();
    if !bytes.contains(&b'%') {
        return Ok(Cow::Borrowed(value));
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |b: u8| (b as char).to_digit(16);
            match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push((hi * 16 + lo) as u8);
                    i += 3;
                }
                _ => return Err(IdError::InvalidPercentEncoding { kind, at: i }),
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map(Cow::Owned).map_err(|e| IdError::NotUtf8 {
        kind,
        at: e.utf8_error().valid_up_to(),
    })
}

/// Decodes one `application/x-www-form-urlencoded` name or value: `+` is a space, then
/// strict percent-decoding.
pub(crate) fn form_decode<'a>(value: &'a str, kind: &'static str) -> Result<Cow<'a, str>, IdError> {
    if value.contains('+') {
        percent_decode(&value.replace('+', " "), kind).map(|decoded| Cow::Owned(decoded.into_owned()))
    } else {
        percent_decode(value, kind)
    }
}

/// The raw `name=value` pairs of a query string or form body, in order, not decoded.
/// Empty pairs (`a=1&&b=2`) are skipped; a pair without `=` has an empty value.
pub(crate) fn form_pairs(input: &str) -> impl Iterator<Item = (&str, &str)> {
    input
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_percent_decoding() {
        assert_eq!(percent_decode("a%20b+c", "x").unwrap(), "a b+c");
        assert_eq!(percent_decode("%e3%82%a4", "x").unwrap(), "イ");
        assert_eq!(
            percent_decode("ab%2", "x").unwrap_err(),
            IdError::InvalidPercentEncoding { kind: "x", at: 2 }
        );
        assert_eq!(
            percent_decode("%G0", "x").unwrap_err(),
            IdError::InvalidPercentEncoding { kind: "x", at: 0 }
        );
        assert_eq!(
            percent_decode("ok%FF", "x").unwrap_err(),
            IdError::NotUtf8 { kind: "x", at: 2 }
        );
        // A multi-byte character cut in half by the encoding.
        assert_eq!(
            percent_decode("%E3%82", "x").unwrap_err(),
            IdError::NotUtf8 { kind: "x", at: 0 }
        );
    }

    #[test]
    fn percent_encoding_matches_encode_uri_component() {
        // Expected values computed with JavaScript's encodeURIComponent.
        assert_eq!(percent_encode("a b&c=d/e?f"), "a%20b%26c%3Dd%2Fe%3Ff");
        assert_eq!(percent_encode("-_.!~*'()"), "-_.!~*'()");
        assert_eq!(percent_encode("ອິນ"), "%E0%BA%AD%E0%BA%B4%E0%BA%99");
        assert_eq!(percent_encode("%"), "%25");
        assert!(is_component_safe("-_.!~*'()aZ9"));
        assert!(!is_component_safe("a b"));
    }

    #[test]
    fn form_decoding_and_pairs() {
        assert_eq!(form_decode("a+b%2Bc", "x").unwrap(), "a b+c");
        assert_eq!(form_decode("plain", "x").unwrap(), "plain");
        let pairs: Vec<_> = form_pairs("x=1&&room=a+b&flag").collect();
        assert_eq!(pairs, [("x", "1"), ("room", "a+b"), ("flag", "")]);
    }

    #[test]
    fn hex_is_lowercase() {
        // printf '\x00\x9f\xff' | xxd -p
        assert_eq!(hex(&[0x00, 0x9f, 0xff]), "009fff");
    }
}
