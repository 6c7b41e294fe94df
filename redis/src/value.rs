//! What a room's key holds.
//!
//! - A call: `cs1 <start> <conferenceID>`: the version tag `cs1`, one space, the call's
//!   start in Unix seconds (ASCII digits), one space, the conferenceID.
//! - The tombstone of an ended call: `cs1-ended <start> <conferenceID>`, kept for the idle
//!   timeout so that every instance learns the call *ended* (rather than vanished, see the
//!   crate docs).
//!
//! Only this registry writes either tag. A value is at most [`MAX_VALUE_BYTES`] (the tags,
//! 20 digits and a 256-byte conferenceID fit). Anything else is
//! [`RegistryError::Corrupt`], reported without being read in full (the scripts check its
//! length first), never a panic, and left alone.

use bytes::Bytes;
use tower_callstats::{
    ConferenceId,
    calls::{ActiveCall, RegistryError},
};

/// The tag of a call's value, with its space.
pub(crate) const CALL_TAG: &str = "cs1 ";
/// The tag of an ended call's tombstone, with its space (written by the scripts).
#[cfg(test)]
pub(crate) const ENDED_TAG: &str = "cs1-ended ";
/// The longest value the registry reads: `cs1-ended `, 20 digits, a space and a 256-byte
/// conferenceID are 287 bytes.
pub(crate) const MAX_VALUE_BYTES: usize = 300;

/// The most digits a start time can have: `u64::MAX` has 20.
const MAX_START_DIGITS: usize = 20;

/// The value of a call: `cs1 <start> <conferenceID>`.
pub(crate) fn encode(call: &ActiveCall) -> Bytes {
    Bytes::from(format!("{CALL_TAG}{} {}", call.started_at(), call.conference_id()))
}

/// Parses a stored `cs1 <start> <conferenceID>`; anything else is `Corrupt`. The message
/// never repeats the stored bytes (they may be someone else's data).
pub(crate) fn parse(bytes: &[u8]) -> Result<ActiveCall, RegistryError> {
    let corrupt = |why: &str| {
        RegistryError::Corrupt(format!(
            "{why} (a {}-byte value, expected `cs1 <start> <conferenceID>`)",
            bytes.len()
        ))
    };
    if bytes.len() > MAX_VALUE_BYTES {
        return Err(corrupt("too long"));
    }
    let rest = bytes
        .strip_prefix(CALL_TAG.as_bytes())
        .ok_or_else(|| corrupt("no `cs1 ` tag"))?;
    let text = std::str::from_utf8(rest).map_err(|_| corrupt("not UTF-8"))?;
    let (start, id) = text.split_once(' ').ok_or_else(|| corrupt("no space"))?;
    if start.is_empty() || start.len() > MAX_START_DIGITS || !start.bytes().all(|b| b.is_ascii_digit()) {
        return Err(corrupt("the start time is not a number"));
    }
    let start = start
        .parse::<u64>()
        .map_err(|_| corrupt("the start time is out of range"))?;
    let id = ConferenceId::new(id).map_err(|error| corrupt(&format!("invalid conferenceID: {error}")))?;
    Ok(ActiveCall::new(id, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str, start: u64) -> ActiveCall {
        ActiveCall::new(ConferenceId::new(id).unwrap(), start)
    }

    #[test]
    fn values_are_the_tag_the_start_and_the_id() {
        // The format written out: `cs1`, a space, decimal seconds, a space, the ID's bytes.
        let encoded = encode(&call("standup-20261125T0930Z-4f2a9c", 1_795_599_000));
        assert_eq!(&encoded[..], b"cs1 1795599000 standup-20261125T0930Z-4f2a9c");
        assert_eq!(&encode(&call("会議 1", 0))[..], "cs1 0 会議 1".as_bytes());
        assert_eq!(&encode(&call("x", u64::MAX))[..], b"cs1 18446744073709551615 x");
        for value in [
            call("a b", 7),
            call("インターネット会議", 1_700_000_000),
            call("x", u64::MAX),
        ] {
            assert_eq!(parse(&encode(&value)).unwrap(), value);
        }
    }

    #[test]
    fn the_longest_values_fit_the_bound() {
        let longest = call(&"x".repeat(256), u64::MAX);
        let tombstone = format!("{ENDED_TAG}{} {}", u64::MAX, "x".repeat(256));
        assert!(encode(&longest).len() <= MAX_VALUE_BYTES);
        assert_eq!(tombstone.len(), 287);
        assert!(tombstone.len() <= MAX_VALUE_BYTES);
        assert_eq!(parse(&encode(&longest)).unwrap(), longest);
    }

    #[test]
    fn values_parse_defensively() {
        let ok = parse(b"cs1 1795599000 standup-20261125T0930Z-4f2a9c").unwrap();
        assert_eq!(ok.started_at(), 1_795_599_000);
        assert_eq!(ok.conference_id().as_str(), "standup-20261125T0930Z-4f2a9c");
        assert!(!ok.is_fallback());
        // A conferenceID may contain spaces: only the first one after the start separates.
        assert_eq!(parse(b"cs1 1 a b").unwrap().conference_id().as_str(), "a b");
        let too_long = [b"cs1 1 ".as_slice(), &[b'x'; 295]].concat();
        for garbage in [
            &b""[..],
            b"garbage",
            b"1795599000 standup", // the old, untagged format
            b"cs1-ended 1 x",      // a tombstone is not a call
            b"CS1 1 x",
            b"cs1  1 x",
            b"cs1 id",
            b"cs1 12",
            b"cs1 12 ",
            b"cs1 -1 id",
            b"cs1 +1 id",
            b"cs1 1e3 id",
            b"cs1 18446744073709551616 id",  // u64::MAX + 1
            b"cs1 999999999999999999999 id", // 21 digits
            b"cs1 1 \xff\xfe",
            b"cs1 1 a\r\nb",
            b"cs1 1 a\x00b",
            &too_long,
        ] {
            let error = parse(garbage).unwrap_err();
            assert!(matches!(error, RegistryError::Corrupt(_)), "{garbage:?}: {error:?}");
        }
    }

    #[test]
    fn a_corrupt_message_never_repeats_the_value() {
        let error = parse(b"secret-data-of-another-app").unwrap_err();
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("26-byte value"), "{shown}");
    }
}
