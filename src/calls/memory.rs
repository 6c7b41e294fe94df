//! [`MemoryRegistry`]: the active calls of one instance, in memory.

use std::{
    collections::HashMap,
    fmt,
    hash::BuildHasher,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use super::{ActiveCall, BoxFuture, CallIdFormat, CallRegistry, DEFAULT_IDLE_TIMEOUT, Join, RegistryError};
use crate::{
    ConferenceId,
    clock::{Clock, SharedClock, SystemClock},
};

/// The default cap on the number of rooms a [`MemoryRegistry`] keeps: 100 000.
pub const DEFAULT_MAX_ROOMS: usize = 100_000;

/// At most this many shards; one per this many rooms.
const MAX_SHARDS: usize = 16;
const ROOMS_PER_SHARD: usize = 1024;

/// The active calls of one instance, in memory.
///
/// For an app that runs on one instance (or pins every room to one instance). Several
/// instances behind a load balancer each have their own calls: use `RedisRegistry`
/// (feature `redis`) there.
///
/// - Creation is atomic: threads joining the same new room at the same instant all get
///   the same conferenceID (the room's shard is locked while the call is created).
/// - [`join`](CallRegistry::join) never waits for I/O: it always returns
///   [`Join::Ready`]. Its cost is one uncontended lock of one of up to 16 shards, a hash
///   lookup and two stores.
/// - Bounded: at most [`max_rooms`](Self::max_rooms) rooms. When a new room arrives at
///   the cap, idle calls are dropped first, then the least recently joined call.
///
/// Configure it before the first join; clones share the calls.
///
/// ```
/// use std::time::Duration;
/// use tower_callstats::ConferenceId;
/// use tower_callstats::calls::{CallRegistry, Join, MemoryRegistry};
/// use tower_callstats::clock::ManualClock;
///
/// let clock = ManualClock::at_unix(1_795_599_000);
/// let registry = MemoryRegistry::new().idle_timeout(Duration::from_secs(600)).clock(clock.clone());
/// let room = ConferenceId::new("standup").unwrap();
/// let Join::Ready(Ok(first)) = registry.join(&room) else { unreachable!() };
///
/// clock.advance(Duration::from_secs(599)); // still active: the same call, touched again
/// let Join::Ready(Ok(again)) = registry.join(&room) else { unreachable!() };
/// assert_eq!(again, first);
///
/// clock.advance(Duration::from_secs(600)); // idle for the whole timeout: a new call
/// let Join::Ready(Ok(next)) = registry.join(&room) else { unreachable!() };
/// assert_ne!(next.conference_id(), first.conference_id());
/// assert_eq!(next.started_at(), 1_795_599_000 + 1199);
/// ```
#[derive(Clone)]
pub struct MemoryRegistry {
    idle_secs: u64,
    max_rooms: usize,
    clock: SharedClock,
    format: CallIdFormat,
    state: Arc<State>,
}

struct State {
    hasher: std::collections::hash_map::RandomState,
    shards: Box<[Mutex<Shard>]>,
}

#[derive(Default)]
struct Shard {
    rooms: HashMap<ConferenceId, Entry>,
    /// Increments on every join of the shard: the least recently joined call has the
    /// smallest `last_join`, with no ties (the clock has only seconds).
    tick: u64,
}

struct Entry {
    call: ActiveCall,
    touched_at: u64,
    last_join: u64,
}

impl Default for MemoryRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRegistry")
            .field("idle_timeout_secs", &self.idle_secs)
            .field("max_rooms", &self.max_rooms)
            .field("shards", &self.state.shards.len())
            .field("rooms", &self.len())
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl MemoryRegistry {
    /// A registry with the default settings: idle timeout 2 hours, at most 100 000
    /// rooms, the system clock, the readable [`CallIdFormat`].
    pub fn new() -> Self {
        Self {
            idle_secs: DEFAULT_IDLE_TIMEOUT.as_secs(),
            max_rooms: DEFAULT_MAX_ROOMS,
            clock: Arc::new(SystemClock),
            format: CallIdFormat::default(),
            state: Arc::new(State::new(DEFAULT_MAX_ROOMS)),
        }
    }

    /// A call with no join for this long has ended: the next join starts a new call.
    /// Counted in whole seconds, at least 1 second.
    ///
    /// Default: 2 hours ([`DEFAULT_IDLE_TIMEOUT`]), longer
    /// than callstats.js' re-authentication interval (about 54 minutes), so that an
    /// ongoing call whose participants only refresh their tokens is not ended between
    /// two token requests.
    #[must_use]
    pub fn idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_secs = idle_timeout.as_secs().max(1);
        self
    }

    /// At most this many rooms are kept (at least 1). At the cap, a new room first drops
    /// idle calls, then the least recently joined call (whose participants get a new
    /// conferenceID on their next join).
    ///
    /// The cap is split evenly among the shards (one per 1024 rooms, at most 16), and
    /// eviction works per shard: a shard that gets more than its share of rooms evicts
    /// before the whole registry is full. Default: 100 000 rooms (16 shards of 6250),
    /// a few tens of bytes plus the two IDs per room.
    ///
    /// Starts afresh: call it before the first join.
    #[must_use]
    pub fn max_rooms(mut self, max_rooms: usize) -> Self {
        self.max_rooms = max_rooms.max(1);
        self.state = Arc::new(State::new(self.max_rooms));
        self
    }

    /// The clock that times idle calls and stamps their start. Default: the system clock.
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// How a new call's conferenceID is made. Default: [`CallIdFormat::default`],
    /// `<room>-<YYYYMMDDTHHMMZ>-<6 hex digits>`.
    #[must_use]
    pub fn format(mut self, format: CallIdFormat) -> Self {
        self.format = format;
        self
    }

    /// The number of rooms held, idle calls not yet dropped included.
    pub fn len(&self) -> usize {
        self.state.shards.iter().map(|shard| lock(shard).rooms.len()).sum()
    }

    /// Whether no room is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, room: &ConferenceId) -> MutexGuard<'_, Shard> {
        let shards = &self.state.shards;
        // Truncating the hash is fine: it only picks a shard.
        #[allow(clippy::cast_possible_truncation)]
        let index = (self.state.hasher.hash_one(room.as_str()) as usize) % shards.len();
        lock(&shards[index])
    }

    fn join_now(&self, room: &ConferenceId) -> ActiveCall {
        let now = self.clock.unix_now();
        let mut shard = self.shard(room);
        shard.tick += 1;
        let tick = shard.tick;
        let idle_secs = self.idle_secs;
        let is_idle = |entry: &Entry| now.saturating_sub(entry.touched_at) >= idle_secs;

        if let Some(entry) = shard.rooms.get_mut(room.as_str()) {
            if !is_idle(entry) {
                entry.touched_at = now;
                entry.last_join = tick;
                return entry.call.clone();
            }
            // Idle for the whole timeout: the call ended; a new one starts in place.
            entry.call = ActiveCall::new(self.format.generate(room, now), now);
            entry.touched_at = now;
            entry.last_join = tick;
            return entry.call.clone();
        }

        let cap = self.max_rooms.div_ceil(self.state.shards.len()).max(1);
        if shard.rooms.len() >= cap {
            shard.rooms.retain(|_, entry| !is_idle(entry));
        }
        if shard.rooms.len() >= cap {
            let oldest = shard
                .rooms
                .iter()
                .min_by_key(|(_, entry)| entry.last_join)
                .map(|(room, _)| room.clone());
            if let Some(oldest) = oldest {
                shard.rooms.remove(&oldest);
            }
        }
        let call = ActiveCall::new(self.format.generate(room, now), now);
        shard.rooms.insert(
            room.clone(),
            Entry {
                call: call.clone(),
                touched_at: now,
                last_join: tick,
            },
        );
        call
    }
}

impl State {
    fn new(max_rooms: usize) -> Self {
        let count = (max_rooms / ROOMS_PER_SHARD).clamp(1, MAX_SHARDS);
        Self {
            hasher: Default::default(),
            shards: (0..count).map(|_| Mutex::new(Shard::default())).collect(),
        }
    }
}

/// A poisoned shard (a panic while it was locked, which this module's code cannot
/// cause) is still consistent: every update is a single store.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CallRegistry for MemoryRegistry {
    fn join(&self, room: &ConferenceId) -> Join {
        Join::Ready(Ok(self.join_now(room)))
    }

    fn end_call(&self, room: &ConferenceId) -> BoxFuture<Result<(), RegistryError>> {
        self.shard(room).rooms.remove(room.as_str());
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use super::*;
    use crate::clock::ManualClock;

    fn room(s: &str) -> ConferenceId {
        ConferenceId::new(s).unwrap()
    }

    fn join(registry: &MemoryRegistry, name: &str) -> ActiveCall {
        match registry.join(&room(name)) {
            Join::Ready(Ok(call)) => call,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn end(registry: &MemoryRegistry, name: &str) {
        let future = registry.end_call(&room(name));
        let waker = std::task::Waker::noop();
        let polled = std::pin::pin!(future).poll(&mut std::task::Context::from_waker(waker));
        assert!(matches!(polled, std::task::Poll::Ready(Ok(()))));
    }

    use std::future::Future;

    #[test]
    fn participants_of_one_call_share_one_id_and_rooms_differ() {
        let clock = ManualClock::at_unix(1_795_599_000);
        let registry = MemoryRegistry::new().clock(clock.clone());
        let alice = join(&registry, "standup");
        assert!(alice.conference_id().as_str().starts_with("standup-20261125T0930Z-"));
        assert_eq!(alice.started_at(), 1_795_599_000);
        assert!(!alice.is_fallback());
        clock.advance(Duration::from_secs(300));
        let bob = join(&registry, "standup");
        assert_eq!(bob, alice);
        let other = join(&registry, "retro");
        assert_ne!(other.conference_id(), alice.conference_id());
        assert_eq!(registry.len(), 2);
    }

    #[test]
    fn threads_racing_on_one_new_room_all_see_one_id() {
        let registry = MemoryRegistry::new().clock(ManualClock::at_unix(1_700_000_000));
        for round in 0..20 {
            let name = format!("room-{round}");
            let threads = 8;
            let barrier = Arc::new(Barrier::new(threads));
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let registry = registry.clone();
                    let barrier = barrier.clone();
                    let name = name.clone();
                    std::thread::spawn(move || {
                        barrier.wait();
                        join(&registry, &name).into_conference_id()
                    })
                })
                .collect();
            let ids: std::collections::HashSet<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            assert_eq!(ids.len(), 1, "round {round}: {ids:?}");
        }
    }

    #[test]
    fn an_idle_call_ends_and_touching_keeps_it_alive() {
        let clock = ManualClock::at_unix(1_000_000);
        let registry = MemoryRegistry::new()
            .idle_timeout(Duration::from_secs(100))
            .clock(clock.clone());
        let first = join(&registry, "r");
        // Touched every 99 s for a long time: the same call.
        for _ in 0..50 {
            clock.advance(Duration::from_secs(99));
            assert_eq!(join(&registry, "r"), first);
        }
        // 100 s without a join: a new call, started now.
        clock.advance(Duration::from_secs(100));
        let second = join(&registry, "r");
        assert_ne!(second.conference_id(), first.conference_id());
        assert_eq!(second.started_at(), clock.unix_now());
        assert_eq!(join(&registry, "r"), second);
    }

    #[test]
    fn the_default_idle_timeout_outlasts_a_token_refresh() {
        let clock = ManualClock::at_unix(1_000_000);
        let registry = MemoryRegistry::new().clock(clock.clone());
        let first = join(&registry, "r");
        clock.advance(Duration::from_secs(54 * 60)); // callstats.js' refresh interval
        assert_eq!(join(&registry, "r"), first);
        clock.advance(Duration::from_secs(2 * 3600 - 1));
        assert_eq!(join(&registry, "r"), first);
        clock.advance(Duration::from_secs(2 * 3600));
        assert_ne!(join(&registry, "r"), first);
    }

    #[test]
    fn end_call_starts_a_new_call_on_the_next_join() {
        let registry = MemoryRegistry::new().clock(ManualClock::at_unix(1_000_000));
        let first = join(&registry, "r");
        end(&registry, "r");
        assert!(registry.is_empty());
        let second = join(&registry, "r");
        assert_ne!(second.conference_id(), first.conference_id());
        // Ending a room with no call is fine.
        end(&registry, "nobody-here");
    }

    #[test]
    fn at_the_cap_idle_calls_go_first_then_the_least_recently_joined() {
        let clock = ManualClock::at_unix(1_000_000);
        let registry = MemoryRegistry::new()
            .max_rooms(3)
            .idle_timeout(Duration::from_secs(100))
            .clock(clock.clone());
        let a = join(&registry, "a");
        clock.advance(Duration::from_secs(60));
        let b = join(&registry, "b");
        let c = join(&registry, "c");
        clock.advance(Duration::from_secs(50)); // a is idle (110 s), b and c are not (50 s)
        let _ = join(&registry, "d");
        assert_eq!(registry.len(), 3);
        assert_eq!(join(&registry, "b"), b);
        assert_eq!(join(&registry, "c"), c);
        assert_ne!(join(&registry, "a"), a); // "a" was dropped: new call; evicts d
        assert_eq!(registry.len(), 3);

        // None idle: the least recently joined goes. Order of last joins: b, c, a.
        let fresh_b = join(&registry, "b"); // now c is the least recently joined
        assert_eq!(fresh_b, b);
        let _ = join(&registry, "e");
        assert_eq!(registry.len(), 3);
        assert_eq!(join(&registry, "b"), b);
        assert_ne!(join(&registry, "c"), c);
    }

    #[test]
    fn large_caps_are_sharded_and_bounded() {
        let registry = MemoryRegistry::new().max_rooms(4096).clock(ManualClock::at_unix(1));
        assert_eq!(registry.state.shards.len(), 4);
        for i in 0..10_000 {
            let _ = join(&registry, &format!("room-{i}"));
        }
        assert!(registry.len() <= 4096, "{}", registry.len());
        assert!(registry.len() > 3000, "{}", registry.len());
        let default = MemoryRegistry::new();
        assert_eq!(default.state.shards.len(), 16);
        assert!(format!("{default:?}").contains("max_rooms: 100000"));
    }

    #[test]
    fn a_custom_format_is_used() {
        let registry = MemoryRegistry::new()
            .clock(ManualClock::at_unix(42))
            .format(CallIdFormat::custom(|room: &ConferenceId, start: u64| {
                ConferenceId::new(format!("{room}@{start}")).unwrap_or_else(|_| room.clone())
            }));
        assert_eq!(join(&registry, "r").conference_id().as_str(), "r@42");
    }
}
