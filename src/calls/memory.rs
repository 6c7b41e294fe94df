//! [`MemoryRegistry`]: the active calls of one instance, in memory.

use std::{
    collections::HashMap,
    fmt,
    hash::BuildHasher,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use std::{future::Future, pin::Pin};

use super::{
    ActiveCall, CallIdFormat, CallRegistry, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_NEW_CALLS_PER_USER, RegistryError,
    quota::Quota,
};
use crate::{
    clock::{Clock, SharedClock, SystemClock},
    id::{ConferenceId, UserId},
};

/// The default cap on the number of rooms a [`MemoryRegistry`] keeps: 100 000.
pub(crate) const DEFAULT_MAX_ROOMS: usize = 100_000;

/// At most this many shards; one per this many rooms.
const MAX_SHARDS: usize = 16;
const ROOMS_PER_SHARD: usize = 1024;

/// The active calls of one instance, in memory.
///
/// For an app that runs on one instance (or pins every room to one instance). Several
/// instances behind a load balancer each have their own calls: share a registry in
/// Redis (the `tower-callstats-redis` crate) there.
///
/// - Creation is atomic: threads joining the same new room at the same instant all get
///   the same conferenceID (the room's shard is locked while the call is created).
/// - A join never waits for I/O ([`CallRegistry::join_now`] always answers). Its cost
///   is one uncontended lock of one of up to 16 shards and a hash lookup.
/// - Bounded: at most [`max_rooms`](Self::max_rooms) rooms. When a new room arrives at
///   the bound, calls idle for longer than the idle timeout (ended calls that nobody
///   joined since) make room; an active call is never dropped to make room. When every
///   call is active, the new room is refused with [`RegistryError::Full`], and
///   [`Calls`](super::Calls)' failure policy decides (the room itself as the
///   conferenceID, or `503`).
///
/// Configure it before the first join; clones share the calls.
///
/// ```
/// use std::time::Duration;
/// use tower_callstats::UserId;
/// use tower_callstats::calls::{CallRegistry, MemoryRegistry};
/// use tower_callstats::clock::ManualClock;
///
/// let clock = ManualClock::at_unix(1_795_599_000);
/// let registry = MemoryRegistry::new().idle_timeout(Duration::from_secs(600)).clock(clock.clone());
/// let alice = UserId::new("alice").unwrap();
/// let first = registry.join_now("standup", &alice).unwrap().unwrap();
///
/// clock.advance(Duration::from_secs(599)); // still active: the same call, touched again
/// assert_eq!(registry.join_now("standup", &alice).unwrap().unwrap(), first);
///
/// clock.advance(Duration::from_secs(600)); // idle for the whole timeout: a new call
/// let next = registry.join_now("standup", &alice).unwrap().unwrap();
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
    quota: Quota,
}

#[derive(Default)]
struct Shard {
    rooms: HashMap<ConferenceId, Entry>,
}

struct Entry {
    call: ActiveCall,
    touched_at: u64,
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
            .field("max_new_calls_per_user", &self.state.quota.per_minute())
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
            state: Arc::new(State::new(DEFAULT_MAX_ROOMS, DEFAULT_MAX_NEW_CALLS_PER_USER)),
        }
    }

    /// A call with no join for this long has ended: the next join starts a new call.
    /// Counted in whole seconds, at least 1 second.
    ///
    /// Default: 2 hours ([`DEFAULT_IDLE_TIMEOUT`]), longer than callstats.js'
    /// re-authentication interval (about 54 minutes), so that an ongoing call whose
    /// participants only refresh their tokens is not ended between two token requests.
    #[must_use]
    pub fn idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_secs = idle_timeout.as_secs().max(1);
        self
    }

    /// At most this many rooms are kept (at least 1). At the bound, calls idle for
    /// longer than the idle timeout make room for a new one; if every call is active,
    /// the new room is refused ([`RegistryError::Full`]) and no call is dropped.
    ///
    /// The bound is split evenly among the shards (one per 1024 rooms, at most 16),
    /// and applies per shard. Default: 100 000 rooms (16 shards of 6250), a few tens of
    /// bytes plus the two IDs per room.
    ///
    /// Starts afresh: call it before the first join.
    #[must_use]
    pub fn max_rooms(mut self, max_rooms: usize) -> Self {
        self.max_rooms = max_rooms.max(1);
        self.state = Arc::new(State::new(self.max_rooms, self.state.quota.per_minute()));
        self
    }

    /// At most this many new calls per user and minute (a fixed window): past it, a
    /// join of that user that would start a call is refused with
    /// [`RegistryError::Full`], and [`Calls`](super::Calls)' failure policy decides (the
    /// room itself, or `503`). Joining a call that is already going on is never
    /// counted. `0` turns the bound off. Default: 60: a person starts a few calls a
    /// minute at most, and one user looping over new rooms cannot fill the registry.
    ///
    /// Starts afresh: call it before the first join.
    #[must_use]
    pub fn max_new_calls_per_user(mut self, calls: u32) -> Self {
        self.state = Arc::new(State::new(self.max_rooms, calls));
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

    fn shard(&self, room: &str) -> MutexGuard<'_, Shard> {
        let shards = &self.state.shards;
        // Truncating the hash is fine: it only picks a shard.
        #[allow(clippy::cast_possible_truncation)]
        let index = (self.state.hasher.hash_one(room) as usize) % shards.len();
        lock(&shards[index])
    }

    fn join_here(&self, room: &str, user: &UserId) -> Result<ActiveCall, RegistryError> {
        let now = self.clock.unix_now();
        let mut shard = self.shard(room);
        let idle_secs = self.idle_secs;
        let is_idle = |entry: &Entry| now.saturating_sub(entry.touched_at) >= idle_secs;
        let quota = |user: &UserId| {
            if self.state.quota.take(user.as_str(), now) {
                Ok(())
            } else {
                Err(RegistryError::Full(format!(
                    "this user started {} calls in the last minute, the most a user may",
                    self.state.quota.per_minute()
                )))
            }
        };

        if let Some(entry) = shard.rooms.get_mut(room) {
            if is_idle(entry) {
                // Idle for the whole timeout: the call ended; a new one starts in place.
                quota(user)?;
                let key = ConferenceId::new(room)?;
                entry.call = ActiveCall::new(self.format.generate(&key, now), now);
            }
            entry.touched_at = now;
            return Ok(entry.call.clone());
        }

        let room = ConferenceId::new(room)?;
        let cap = self.max_rooms.div_ceil(self.state.shards.len()).max(1);
        if shard.rooms.len() >= cap {
            shard.rooms.retain(|_, entry| !is_idle(entry));
        }
        if shard.rooms.len() >= cap {
            return Err(RegistryError::Full(format!(
                "{cap} active calls in this part of the registry (max_rooms {}); no call is ended to make room",
                self.max_rooms
            )));
        }
        quota(user)?;
        let call = ActiveCall::new(self.format.generate(&room, now), now);
        shard.rooms.insert(
            room,
            Entry {
                call: call.clone(),
                touched_at: now,
            },
        );
        Ok(call)
    }
}

impl State {
    fn new(max_rooms: usize, new_calls_per_user: u32) -> Self {
        let count = (max_rooms / ROOMS_PER_SHARD).clamp(1, MAX_SHARDS);
        Self {
            hasher: Default::default(),
            shards: (0..count).map(|_| Mutex::new(Shard::default())).collect(),
            quota: Quota::new(new_calls_per_user),
        }
    }
}

/// A poisoned shard (a panic while it was locked, which this module's code cannot
/// cause) is still consistent: every update is a single store.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

impl CallRegistry for MemoryRegistry {
    fn join_now(&self, room: &str, user: &UserId) -> Option<Result<ActiveCall, RegistryError>> {
        Some(self.join_here(room, user))
    }

    fn join(
        &self,
        room: &str,
        user: &UserId,
    ) -> Pin<Box<dyn Future<Output = Result<ActiveCall, RegistryError>> + Send + 'static>> {
        Box::pin(std::future::ready(self.join_here(room, user)))
    }

    fn end_call(
        &self,
        room: &str,
        call: &ConferenceId,
    ) -> Pin<Box<dyn Future<Output = Result<bool, RegistryError>> + Send + 'static>> {
        let mut shard = self.shard(room);
        let ended = shard
            .rooms
            .get(room)
            .is_some_and(|entry| entry.call.conference_id() == call);
        if ended {
            shard.rooms.remove(room);
        }
        Box::pin(std::future::ready(Ok(ended)))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;

    use super::*;
    use crate::clock::ManualClock;

    fn user() -> UserId {
        UserId::new("alice").unwrap()
    }

    fn try_join(registry: &MemoryRegistry, name: &str) -> Result<ActiveCall, RegistryError> {
        registry
            .join_now(name, &user())
            .expect("in memory, a join answers at once")
    }

    fn join(registry: &MemoryRegistry, name: &str) -> ActiveCall {
        try_join(registry, name).unwrap()
    }

    /// Ends `call` of `name`; whether it ended it.
    fn end(registry: &MemoryRegistry, name: &str, call: &ActiveCall) -> bool {
        let future = registry.end_call(name, call.conference_id());
        let waker = std::task::Waker::noop();
        match std::pin::pin!(future).poll(&mut std::task::Context::from_waker(waker)) {
            std::task::Poll::Ready(Ok(ended)) => ended,
            other => panic!("{other:?}"),
        }
    }

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
                        join(&registry, &name).conference_id().clone()
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
    fn end_call_ends_exactly_the_named_call() {
        let registry = MemoryRegistry::new().clock(ManualClock::at_unix(1_000_000));
        let first = join(&registry, "r");
        assert!(end(&registry, "r", &first));
        assert!(registry.is_empty());
        let second = join(&registry, "r");
        assert_ne!(second.conference_id(), first.conference_id());
        // A late or repeated end of the first call does not end the second.
        assert!(!end(&registry, "r", &first));
        assert_eq!(join(&registry, "r"), second);
        // Ending a room with no call ends nothing.
        assert!(!end(&registry, "nobody-here", &first));
    }

    #[test]
    fn at_the_bound_only_idle_calls_make_room_and_active_calls_stay() {
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
        let d = join(&registry, "d"); // takes a's place
        assert_eq!(registry.len(), 3);
        assert_eq!(join(&registry, "b"), b);
        assert_eq!(join(&registry, "c"), c);
        // Every call is active: a new room is refused, and no live call is dropped.
        for name in ["a", "e", "f", "g", "h", "i", "j", "k", "l"] {
            let refused = try_join(&registry, name).unwrap_err();
            assert!(matches!(refused, RegistryError::Full(_)), "{refused:?}");
        }
        assert_eq!(registry.len(), 3);
        assert_eq!(join(&registry, "b"), b);
        assert_eq!(join(&registry, "c"), c);
        assert_eq!(join(&registry, "d"), d);
        assert_ne!(a, d);
        // Once a call has idled out, the next new room takes its place.
        clock.advance(Duration::from_secs(100));
        join(&registry, "b");
        join(&registry, "c");
        let e = join(&registry, "e");
        assert_eq!(registry.len(), 3);
        assert_eq!(join(&registry, "e"), e);
    }

    #[test]
    fn large_caps_are_sharded_and_bounded() {
        let registry = MemoryRegistry::new()
            .max_rooms(4096)
            .max_new_calls_per_user(0)
            .clock(ManualClock::at_unix(1));
        assert_eq!(registry.state.shards.len(), 4);
        let mut refused = 0;
        for i in 0..10_000 {
            refused += usize::from(try_join(&registry, &format!("room-{i}")).is_err());
        }
        assert!(refused >= 10_000 - 4096, "{refused}");
        assert!(registry.len() <= 4096, "{}", registry.len());
        assert!(registry.len() > 3000, "{}", registry.len());
        let default = MemoryRegistry::new();
        assert_eq!(default.state.shards.len(), 16);
        assert!(format!("{default:?}").contains("max_rooms: 100000"));
    }

    #[test]
    fn one_user_starts_at_most_the_bound_of_new_calls_per_minute() {
        let clock = ManualClock::at_unix(1_000_000);
        let registry = MemoryRegistry::new().max_new_calls_per_user(5).clock(clock.clone());
        let (mallory, alice) = (UserId::new("mallory").unwrap(), UserId::new("alice").unwrap());
        let join_as = |user: &UserId, room: &str| registry.join_now(room, user).unwrap();
        for i in 0..5 {
            join_as(&mallory, &format!("new-{i}")).unwrap();
        }
        assert!(matches!(join_as(&mallory, "new-5"), Err(RegistryError::Full(_))));
        // Joining calls that are going on is never counted; other users are not affected.
        join_as(&mallory, "new-0").unwrap();
        join_as(&alice, "alice-room").unwrap();
        assert_eq!(registry.len(), 6);
        // The next minute, mallory may start calls again.
        clock.advance(Duration::from_secs(60));
        join_as(&mallory, "new-5").unwrap();
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
