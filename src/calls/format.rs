//! The format of a call's conferenceID: [`CallIdFormat`].

use std::{
    fmt,
    fmt::Write as _,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use sha1::{Digest, Sha1};

use crate::id::{ConferenceId, MAX_ID_BYTES};

/// What the default format does with a room key too long to be kept whole next to the
/// 22-byte suffix (rooms over 234 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum LongRooms {
    /// Keep the longest prefix of the room that fits, cut on a UTF-8 character
    /// boundary. The default: the ID stays searchable by the start of the room.
    #[default]
    Truncate,
    /// Use the lowercase hex SHA1 of the whole room (40 bytes) instead of the room: the
    /// same room always gives the same 40 characters, so a dashboard search for the
    /// hash finds every call of that room.
    Sha1,
}

type CustomFormat = dyn Fn(&ConferenceId, u64) -> ConferenceId + Send + Sync;

#[derive(Clone)]
enum Kind {
    Readable(LongRooms),
    Custom(Arc<CustomFormat>),
}

/// How a new call's conferenceID is made from its room key and start time.
///
/// The default keeps the room key readable, so that a call can be found on callstats'
/// dashboard by searching for its room:
///
/// ```text
/// <room>-<start>-<random>
/// standup-20261125T0930Z-4f2a9c
/// ```
///
/// - `<room>`: the room key, byte-exact (case, scripts and combining marks as given).
/// - `<start>`: the call's start time in UTC, to the minute, in the compact (basic)
///   ISO 8601 form `YYYYMMDDTHHMMZ` (14 bytes until the year 9999).
/// - `<random>`: 24 random bits from the operating system's generator (aws-lc-rs'
///   `SystemRandom`), as 6 lowercase hex digits: two calls of the same room that start
///   in the same minute still get different IDs (a 1 in 16.7 million chance of a
///   collision, and only between two calls of one room started in one minute).
///
/// The suffix `-<start>-<random>` is 22 bytes, so a room of up to 234 bytes is kept
/// whole. A longer room does not fit in callstats' 256-byte limit (counted in bytes):
/// [`LongRooms::Truncate`] (the default) keeps the longest prefix of the room that fits
/// and ends on a character boundary (never half a UTF-8 character), and
/// [`LongRooms::Sha1`] replaces such a room by the 40 lowercase hex digits of its SHA1.
/// Rooms that fit are never changed.
///
/// ```
/// use tower_callstats::ConferenceId;
/// use tower_callstats::calls::{CallIdFormat, LongRooms};
///
/// let room = ConferenceId::new("standup").unwrap();
/// // 1795599000 is 2026-11-25 09:30:00 UTC.
/// let id = CallIdFormat::default().generate(&room, 1_795_599_000);
/// assert!(id.as_str().starts_with("standup-20261125T0930Z-"));
/// assert_eq!(id.len(), "standup-20261125T0930Z-4f2a9c".len());
///
/// // A 256-byte room cannot be kept whole: cut on a character boundary, or hashed.
/// let long = ConferenceId::new("ж".repeat(128)).unwrap(); // 256 bytes
/// let cut = CallIdFormat::readable(LongRooms::Truncate).generate(&long, 1_795_599_000);
/// assert_eq!(&cut[..234], "ж".repeat(117)); // 117 whole two-byte characters
/// let hashed = CallIdFormat::readable(LongRooms::Sha1).generate(&long, 1_795_599_000);
/// assert_eq!(hashed.len(), 40 + 22);
///
/// // Or any format of your own (it must give every call of a room a new ID).
/// let own = CallIdFormat::custom(|room: &ConferenceId, start: u64| {
///     ConferenceId::new(format!("{start}:{}", room.len())).unwrap_or_else(|_| room.clone())
/// });
/// assert_eq!(own.generate(&room, 42).as_str(), "42:7");
/// ```
///
/// Cloning is cheap.
#[derive(Clone)]
pub struct CallIdFormat(Kind);

impl Default for CallIdFormat {
    fn default() -> Self {
        Self::readable(LongRooms::Truncate)
    }
}

impl fmt::Debug for CallIdFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Readable(long) => f.debug_tuple("CallIdFormat::Readable").field(long).finish(),
            Kind::Custom(_) => f.write_str("CallIdFormat::Custom(..)"),
        }
    }
}

impl CallIdFormat {
    /// `<room>-<YYYYMMDDTHHMMZ>-<6 random hex digits>`, with `long_rooms` deciding what
    /// happens to a room over 234 bytes.
    pub fn readable(long_rooms: LongRooms) -> Self {
        Self(Kind::Readable(long_rooms))
    }

    /// A format of your own: `format(room, start)` gets the room key and the call's
    /// start time (Unix seconds) and returns the conferenceID. It is called once per
    /// new call, while the registry holds the room's lock (in memory) or before the
    /// atomic create (Redis): keep it fast, and make it return a different ID for every
    /// call of the same room (mix in randomness or the start time).
    pub fn custom<F>(format: F) -> Self
    where
        F: Fn(&ConferenceId, u64) -> ConferenceId + Send + Sync + 'static,
    {
        Self(Kind::Custom(Arc::new(format)))
    }

    /// A new conferenceID for a call of `room` started at `start` (Unix seconds).
    pub fn generate(&self, room: &ConferenceId, start: u64) -> ConferenceId {
        match &self.0 {
            Kind::Custom(format) => format(room, start),
            Kind::Readable(long_rooms) => readable(room, start, *long_rooms, random_24_bits()),
        }
    }
}

/// The default format with the random part given, so that tests can pin it.
pub(crate) fn readable(room: &ConferenceId, start: u64, long_rooms: LongRooms, random: [u8; 3]) -> ConferenceId {
    let mut suffix = String::with_capacity(32);
    suffix.push('-');
    push_utc_minute(&mut suffix, start);
    suffix.push('-');
    for byte in random {
        let _ = write!(suffix, "{byte:02x}");
    }
    let budget = MAX_ID_BYTES.saturating_sub(suffix.len());
    let room_id = room;
    let room = room.as_str();
    let mut id = String::with_capacity(room.len().min(budget) + suffix.len());
    if room.len() <= budget {
        id.push_str(room);
    } else {
        match long_rooms {
            LongRooms::Truncate => id.push_str(&room[..floor_char_boundary(room, budget)]),
            LongRooms::Sha1 => {
                for byte in Sha1::digest(room.as_bytes()) {
                    let _ = write!(id, "{byte:02x}");
                }
            }
        }
    }
    id.push_str(&suffix);
    // The room part has no control characters (it came from a ConferenceId) and the
    // suffix is ASCII: always valid. Falling back to the room keeps this panic-free.
    ConferenceId::new(&id).unwrap_or_else(|_| room_id.clone())
}

/// The largest `index <= max` that is a character boundary of `s`
/// (`str::floor_char_boundary` is not stable yet).
pub(crate) fn floor_char_boundary(s: &str, max: usize) -> usize {
    if max >= s.len() {
        return s.len();
    }
    let mut index = max;
    while !s.is_char_boundary(index) {
        // 0 is always a boundary, so this stops.
        index -= 1;
    }
    index
}

/// Appends `secs` (Unix seconds) as UTC to the minute: `YYYYMMDDTHHMMZ`.
pub(crate) fn push_utc_minute(out: &mut String, secs: u64) {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let _ = write!(
        out,
        "{year:04}{month:02}{day:02}T{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60
    );
}

/// Gregorian (year, month, day) of the day `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative days).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days since 0000-03-01
    let era = z / 146_097;
    let doe = z % 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from March 1st
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// 24 random bits. Should the operating system's generator ever fail, a mix of the
/// time in nanoseconds and a process-wide counter stands in (unique within the process,
/// unpredictable enough for an ID that is not a secret), rather than a panic.
fn random_24_bits() -> [u8; 3] {
    let mut bits = [0u8; 3];
    if SystemRandom::new().fill(&mut bits).is_ok() {
        return bits;
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let digest = Sha1::new()
        .chain_update(nanos.to_le_bytes())
        .chain_update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes())
        .finalize();
    [digest[0], digest[1], digest[2]]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(s: &str) -> ConferenceId {
        ConferenceId::new(s).unwrap()
    }

    #[test]
    fn utc_minute_matches_known_timestamps() {
        // Expected strings from `date -u -d @SECS +%Y%m%dT%H%MZ`, not from this code.
        for (secs, expected) in [
            (0, "19700101T0000Z"),
            (59, "19700101T0000Z"),
            (1_700_000_000, "20231114T2213Z"),   // 2023-11-14 22:13:20 UTC
            (1_795_599_000, "20261125T0930Z"),   // 2026-11-25 09:30:00 UTC
            (1_709_164_799, "20240228T2359Z"),   // the day before a leap day
            (1_709_251_199, "20240229T2359Z"),   // the leap day's last minute
            (1_709_251_200, "20240301T0000Z"),   // and the next day
            (951_782_400, "20000229T0000Z"),     // 2000 is a leap year (divisible by 400)
            (4_107_542_340, "21000228T2359Z"),   // 2100 is not a leap year:
            (4_107_542_400, "21000301T0000Z"),   // Feb 28 -> Mar 1
            (253_402_300_799, "99991231T2359Z"), // the last second of year 9999
            (1_735_689_599, "20241231T2359Z"),   // new year's eve
        ] {
            let mut out = String::new();
            push_utc_minute(&mut out, secs);
            assert_eq!(out, expected, "{secs}");
        }
    }

    #[test]
    fn utc_minute_of_any_u64_does_not_panic() {
        let mut out = String::new();
        push_utc_minute(&mut out, u64::MAX);
        assert!(out.ends_with('Z'));
    }

    #[test]
    fn default_format_is_room_minute_random() {
        let id = readable(&room("standup"), 1_795_599_000, LongRooms::Truncate, [0x4f, 0x2a, 0x9c]);
        assert_eq!(id.as_str(), "standup-20261125T0930Z-4f2a9c");
        let random = CallIdFormat::default().generate(&room("standup"), 1_795_599_000);
        let hex = random.as_str().strip_prefix("standup-20261125T0930Z-").unwrap();
        assert_eq!(hex.len(), 6);
        assert!(hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    }

    #[test]
    fn non_english_rooms_survive_byte_exact() {
        for name in [
            "インターネット会議",
            "интернэт-встреча",
            "ອິນເຕີເນັດ",
            "e\u{0301}\u{0323} 👩🏽‍💻",
            "Case",
        ] {
            let id = CallIdFormat::default().generate(&room(name), 1_700_000_000);
            let (prefix, suffix) = id.as_bytes().split_at(name.len());
            assert_eq!(prefix, name.as_bytes());
            assert!(suffix.starts_with(b"-20231114T2213Z-"), "{id}");
        }
    }

    #[test]
    fn a_256_byte_room_of_three_byte_characters_is_cut_on_a_character_boundary() {
        let name = "a".to_owned() + &"ອ".repeat(85); // 1 + 255 = 256 bytes
        assert_eq!(name.len(), 256);
        let id = CallIdFormat::default().generate(&room(&name), 1_700_000_000);
        assert!(id.len() <= 256);
        // The budget is 234 bytes; character boundaries are at 1 + 3k: 232.
        let kept = &name[..232];
        assert!(id.as_str().starts_with(kept));
        assert_eq!(id.len(), 232 + 22);
        // Valid UTF-8 by construction (a &str), and the cut left no partial character:
        assert_eq!(id.as_str()[232..].chars().next(), Some('-'));
        assert!(std::str::from_utf8(id.as_bytes()).is_ok());
        // Every length of prefix padding: the cut always lands on a boundary.
        for pad in 0..4 {
            let name = "a".repeat(pad) + &"ອ".repeat((256 - pad) / 3);
            let id = CallIdFormat::default().generate(&room(&name), 1_700_000_000);
            assert!(id.len() <= 256);
            let room_part = &id.as_str()[..id.len() - 22];
            assert!(name.starts_with(room_part));
            assert!(room_part.len() > 231);
        }
    }

    #[test]
    fn a_room_that_fits_exactly_is_kept() {
        let name = "x".repeat(234);
        let id = CallIdFormat::default().generate(&room(&name), 0);
        assert_eq!(id.len(), 256);
        assert!(id.as_str().starts_with(&name));
    }

    #[test]
    fn long_rooms_can_be_hashed() {
        let name = "ы".repeat(120); // 240 bytes, over the 234-byte budget
        let id = readable(&room(&name), 0, LongRooms::Sha1, [1, 2, 3]);
        assert_eq!(id.len(), 40 + 22);
        assert!(id.as_str().ends_with("-19700101T0000Z-010203"));
        // python3 -c "import hashlib; print(hashlib.sha1(('ы'*120).encode()).hexdigest())"
        assert_eq!(&id.as_str()[..40], "c764c9b57100b4a8f07537f6437413c96094fab8");
        // Short rooms stay readable with LongRooms::Sha1 too.
        let short = readable(&room("standup"), 0, LongRooms::Sha1, [1, 2, 3]);
        assert_eq!(short.as_str(), "standup-19700101T0000Z-010203");
    }

    #[test]
    fn floor_char_boundary_never_splits_a_character() {
        let s = "aイb";
        assert_eq!(floor_char_boundary(s, 0), 0);
        assert_eq!(floor_char_boundary(s, 1), 1);
        assert_eq!(floor_char_boundary(s, 2), 1);
        assert_eq!(floor_char_boundary(s, 3), 1);
        assert_eq!(floor_char_boundary(s, 4), 4);
        assert_eq!(floor_char_boundary(s, 99), 5);
    }

    #[test]
    fn ids_of_one_room_differ() {
        let format = CallIdFormat::default();
        let ids: std::collections::HashSet<_> = (0..100).map(|_| format.generate(&room("r"), 0)).collect();
        assert!(ids.len() > 95);
    }
}
