//! The per-instance knowledge of each room's call: the call, and when Redis last
//! confirmed it.
//!
//! One entry serves three purposes, by its age (timed on the monotonic clock from *before*
//! the round trip that confirmed it, so an age is never under-estimated):
//!
//! - younger than `local_cache_ttl`: [`join_now`](tower_callstats::calls::CallRegistry::join_now)
//!   answers it without I/O;
//! - younger than the idle timeout: when Redis fails, the join answers it (stale-if-error);
//! - younger than the idle timeout minus `local_cache_ttl`: when Redis answers that the room
//!   has no key at all, the call vanished (Redis lost it) and is re-asserted.
//!
//! At most [`LOCAL_CACHE_ROOMS`] rooms; past it, quick_cache's CLOCK-Pro policy evicts the
//! least recently used (a room seen once goes before a room in use).

use std::time::{Duration, Instant};

use tower_callstats::{ConferenceId, calls::ActiveCall};

/// The per-instance cache holds at most this many rooms; a room beyond it costs a round
/// trip per join, and is not answered from memory when Redis fails.
pub const LOCAL_CACHE_ROOMS: usize = 10_000;

#[derive(Clone)]
struct Entry {
    call: ActiveCall,
    confirmed_at: Instant,
}

/// Room -> its call, as Redis last confirmed it to this instance.
pub(crate) struct LocalCache {
    entries: quick_cache::sync::Cache<ConferenceId, Entry>,
}

impl LocalCache {
    pub(crate) fn new(rooms: usize) -> Self {
        Self {
            entries: quick_cache::sync::Cache::new(rooms),
        }
    }

    /// The number of rooms held, old entries included.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The call of `room` if Redis confirmed it less than `age` ago. No allocation beyond
    /// the clone of the call (a reference count). A zero `age` never answers.
    pub(crate) fn within(&self, room: &str, age: Duration) -> Option<ActiveCall> {
        if age.is_zero() {
            return None;
        }
        let entry = self.entries.get(room)?;
        (entry.confirmed_at.elapsed() < age).then_some(entry.call)
    }

    /// Remembers that Redis confirmed `call` for `room` in a round trip started at `asked_at`.
    pub(crate) fn confirm(&self, room: ConferenceId, call: ActiveCall, asked_at: Instant) {
        self.entries.insert(
            room,
            Entry {
                call,
                confirmed_at: asked_at,
            },
        );
    }

    /// Forgets `room`.
    pub(crate) fn forget(&self, room: &str) {
        self.entries.remove(room);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ConferenceId {
        ConferenceId::new(s).unwrap()
    }

    fn call(s: &str) -> ActiveCall {
        ActiveCall::new(id(s), 1)
    }

    #[test]
    fn an_entry_answers_by_its_age_counted_from_the_question() {
        let cache = LocalCache::new(16);
        let ttl = Duration::from_secs(2);
        assert_eq!(cache.within("r", ttl), None);
        cache.confirm(id("r"), call("r-1"), Instant::now());
        assert_eq!(cache.within("r", ttl), Some(call("r-1")));
        assert_eq!(cache.within("r", Duration::ZERO), None);
        // Asked 3 s ago: older than 2 s, whenever the answer came; younger than an hour.
        let Some(three_seconds_ago) = Instant::now().checked_sub(Duration::from_secs(3)) else {
            return;
        };
        cache.confirm(id("r"), call("r-2"), three_seconds_ago);
        assert_eq!(cache.within("r", ttl), None);
        assert_eq!(cache.within("r", Duration::from_secs(3600)), Some(call("r-2")));
        assert_eq!(cache.len(), 1);
        cache.forget("r");
        assert_eq!(cache.within("r", Duration::from_secs(3600)), None);
        cache.forget("nobody");
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn rooms_are_keyed_by_their_exact_bytes() {
        let cache = LocalCache::new(16);
        let ttl = Duration::from_secs(60);
        cache.confirm(id("Room"), call("Room-1"), Instant::now());
        cache.confirm(id("e\u{301}"), call("e-1"), Instant::now());
        assert_eq!(cache.within("room", ttl), None);
        assert_eq!(cache.within("\u{e9}", ttl), None); // é precomposed is another room
        assert_eq!(cache.within("Room", ttl), Some(call("Room-1")));
        assert_eq!(cache.within("e\u{301}", ttl), Some(call("e-1")));
    }

    #[test]
    fn the_cache_is_bounded_and_keeps_rooms_in_use() {
        let cache = LocalCache::new(100);
        let hour = Duration::from_secs(3600);
        cache.confirm(id("busy"), call("busy-1"), Instant::now());
        for i in 0..1000 {
            cache.confirm(id(&format!("room-{i}")), call("c"), Instant::now());
            // The busy room is read between insertions of rooms seen once.
            assert!(cache.within("busy", hour).is_some(), "evicted after {i} one-off rooms");
        }
        assert!(cache.len() <= 100, "{}", cache.len());
    }
}
