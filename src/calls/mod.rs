//! One conferenceID per call, shared by every participant: on one instance and across
//! instances.
//!
//! callstats requires that every participant of a call uses the same conferenceID, that
//! the ID is unique for the duration of the call, and lets it be reused after the call
//! ended; the origin server makes it ([callstats' identifier rules]). A room key such as
//! `standup` is the same for every call held in that room, so it is not unique over
//! time; a fresh random ID per page load is unique but not shared. A [`CallRegistry`]
//! maps the room key to the conferenceID of the room's *active call*: the first
//! participant starts the call (a new ID, see [`CallIdFormat`]), everyone who joins
//! while it is active gets the same ID, and once it ended ([`CallRegistry::end_call`])
//! or stayed idle for longer than the idle timeout, the next join starts a new call
//! with a new ID.
//!
//! [callstats' identifier rules]: https://docs.callstats.io/docs/identifiers-userids-conferenceids
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::time::Duration;
//! use tower_callstats::ConferenceId;
//! use tower_callstats::calls::{CallRegistry, MemoryRegistry, PerCall};
//! use tower_callstats::clock::ManualClock;
//!
//! let clock = ManualClock::at_unix(1_795_599_000); // 2026-11-25 09:30:00 UTC
//! let calls = PerCall::new(MemoryRegistry::new().clock(clock.clone()));
//! let room = ConferenceId::new("standup").unwrap();
//!
//! // Alice starts the call; Bob joins it: one conferenceID.
//! let alice = calls.join(room.clone()).await.unwrap();
//! assert!(alice.conference_id().as_str().starts_with("standup-20261125T0930Z-"));
//! let bob = calls.join(room.clone()).await.unwrap();
//! assert_eq!(bob.conference_id(), alice.conference_id());
//!
//! // The call ends: tomorrow's stand-up in the same room is a new call with a new ID.
//! calls.end_call(&room).await.unwrap();
//! clock.advance(Duration::from_secs(24 * 3600));
//! let tomorrow = calls.join(room.clone()).await.unwrap();
//! assert_ne!(tomorrow.conference_id(), alice.conference_id());
//! assert!(tomorrow.conference_id().as_str().starts_with("standup-20261126T0930Z-"));
//! # }
//! ```
//!
//! # Registries
//!
//! - [`MemoryRegistry`]: one instance. Bounded, sharded, and never waits for I/O:
//!   [`CallRegistry::join`] always returns [`Join::Ready`].
//! - `RedisRegistry` (feature `redis`): several instances behind a load balancer share
//!   one Redis; the call is created atomically (one Lua script: create if absent, touch
//!   if present), and a short per-instance cache keeps Redis off the hot path.
//! - Your own: implement [`CallRegistry`] (a database, a room service, ...).
//!
//! [`PerCall`] wraps any of them with a [`FailurePolicy`]: when the registry fails (Redis
//! down, slow or holding garbage), the room key itself becomes the conferenceID by
//! default (still the same for every participant, only not unique over time), with one
//! `WARN` per outage rather than one per request.
//!
//! # Idle timeout
//!
//! Participants do not tell the server when a call ends (a tab closes, a laptop
//! sleeps), so a call also ends after `idle_timeout` without a join. Every join touches
//! the call (its idle timer restarts). A call in progress whose participants load no
//! pages still asks for tokens: callstats.js calls its `tokenGenerator` again about every
//! 0.9 × `expires_in` of callstats' own access token, 54 minutes with the usual 3600 s.
//! So the token endpoint joins too, and the default idle timeout, 2 hours
//! ([`DEFAULT_IDLE_TIMEOUT`]), is longer than that interval with room to spare: an
//! ongoing call is not ended between two token requests.
//!
//! # `tracing` events and `metrics` counters
//!
//! | target | level | message | fields | when |
//! | --- | --- | --- | --- | --- |
//! | `tower_callstats::calls` | `WARN` | `call registry unavailable` | `error`, `policy` | the first failed join of an outage (not every failed join) |
//! | `tower_callstats::calls` | `INFO` | `call registry recovered` | | the first successful join after an outage |
//! | `tower_callstats::calls` | `DEBUG` | `call registry failure` | `error` | every failed join |
//!
//! With the `metrics` feature, [`PerCall`] counts every failed join in
//! `callstats_call_registry_failures_total{error="unavailable"|"timeout"|"corrupt"|"other"}`
//! ([`REGISTRY_FAILURES_TOTAL`]); [`describe_metrics`] describes it and registers the
//! series at zero ([`PerCall::new`] calls it).

mod format;
mod memory;
mod per_call;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
#[cfg(all(test, feature = "redis"))]
pub(crate) mod test_redis_server;

use std::{
    fmt,
    future::{Future, IntoFuture},
    pin::Pin,
    task::{Context, Poll},
};

pub use format::{CallIdFormat, LongRooms};
pub use memory::{DEFAULT_MAX_ROOMS, MemoryRegistry};
pub use per_call::{FailurePolicy, PerCall};
#[cfg(feature = "redis")]
pub use redis::RedisRegistry;

use crate::ConferenceId;

/// The default idle timeout of a call: 2 hours.
///
/// Longer than callstats.js' re-authentication interval (about 0.9 × 3600 s = 54 minutes
/// with callstats' usual access-token lifetime), so that a call in progress is not ended
/// between two token requests of its participants.
pub const DEFAULT_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2 * 3600);

/// A boxed, `Send`, `'static` future: what a registry returns when it must wait for I/O.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A registry of active calls: room key -> the active call's conferenceID.
///
/// Implementations must make creation atomic: participants joining the same new room at
/// the same instant, on one instance or on several sharing the registry, all get the
/// same conferenceID. The futures are `'static` (implementations clone what they need
/// into them), so that a tower layer can keep them in its response future.
pub trait CallRegistry: Send + Sync + 'static {
    /// The active call of `room`, starting one (with a new conferenceID) if none is
    /// active; touches the call (its idle timer restarts).
    fn join(&self, room: &ConferenceId) -> Join;

    /// Ends the active call of `room` (if any): the next join starts a new call with a
    /// new ID.
    fn end_call(&self, room: &ConferenceId) -> BoxFuture<Result<(), RegistryError>>;
}

impl<R: CallRegistry + ?Sized> CallRegistry for std::sync::Arc<R> {
    fn join(&self, room: &ConferenceId) -> Join {
        (**self).join(room)
    }

    fn end_call(&self, room: &ConferenceId) -> BoxFuture<Result<(), RegistryError>> {
        (**self).end_call(room)
    }
}

impl<R: CallRegistry + ?Sized> CallRegistry for Box<R> {
    fn join(&self, room: &ConferenceId) -> Join {
        (**self).join(room)
    }

    fn end_call(&self, room: &ConferenceId) -> BoxFuture<Result<(), RegistryError>> {
        (**self).end_call(room)
    }
}

/// The outcome of [`CallRegistry::join`]: ready at once (in memory; a cache hit), or
/// after I/O (Redis).
///
/// `.await` it (it implements [`IntoFuture`]), or match on it to skip the future when
/// it is [`Join::Ready`].
#[must_use = "a Join does nothing unless matched or awaited"]
pub enum Join {
    /// The answer, without waiting.
    Ready(Result<ActiveCall, RegistryError>),
    /// The answer after I/O.
    Pending(BoxFuture<Result<ActiveCall, RegistryError>>),
}

impl Join {
    /// Whether the answer is there without waiting.
    pub fn is_ready(&self) -> bool {
        matches!(self, Join::Ready(_))
    }
}

impl fmt::Debug for Join {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Join::Ready(result) => f.debug_tuple("Join::Ready").field(result).finish(),
            Join::Pending(_) => f.write_str("Join::Pending(..)"),
        }
    }
}

impl IntoFuture for Join {
    type Output = Result<ActiveCall, RegistryError>;
    type IntoFuture = JoinFuture;

    fn into_future(self) -> JoinFuture {
        JoinFuture(match self {
            Join::Ready(result) => JoinState::Ready(Some(result)),
            Join::Pending(future) => JoinState::Pending(future),
        })
    }
}

/// The future of an awaited [`Join`].
#[must_use = "futures do nothing unless polled"]
pub struct JoinFuture(JoinState);

enum JoinState {
    Ready(Option<Result<ActiveCall, RegistryError>>),
    Pending(BoxFuture<Result<ActiveCall, RegistryError>>),
}

impl fmt::Debug for JoinFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JoinFuture")
    }
}

impl Future for JoinFuture {
    type Output = Result<ActiveCall, RegistryError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.get_mut().0 {
            JoinState::Ready(result) => Poll::Ready(
                result
                    .take()
                    .unwrap_or_else(|| Err(RegistryError::Other("JoinFuture polled after completion".into()))),
            ),
            JoinState::Pending(future) => future.as_mut().poll(cx),
        }
    }
}

/// A room's active call: its conferenceID and when it started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveCall {
    conference_id: ConferenceId,
    started_at: u64,
    fallback: bool,
}

impl ActiveCall {
    /// A call with conferenceID `conference_id` that started at `started_at` (Unix
    /// seconds). For [`CallRegistry`] implementations.
    pub fn new(conference_id: ConferenceId, started_at: u64) -> Self {
        Self {
            conference_id,
            started_at,
            fallback: false,
        }
    }

    /// The stand-in [`PerCall`] hands out when the registry failed: the room key itself.
    pub(crate) fn fallback(room: ConferenceId, now: u64) -> Self {
        Self {
            conference_id: room,
            started_at: now,
            fallback: true,
        }
    }

    /// The call's conferenceID: put it in the token, give it to callstats.js.
    pub fn conference_id(&self) -> &ConferenceId {
        &self.conference_id
    }

    /// The conferenceID, by value.
    pub fn into_conference_id(self) -> ConferenceId {
        self.conference_id
    }

    /// When the call started, in Unix seconds (for a fallback, when the join happened).
    pub fn started_at(&self) -> u64 {
        self.started_at
    }

    /// Whether this is [`PerCall`]'s fallback (the room key, because the registry
    /// failed) rather than a call from the registry.
    pub fn is_fallback(&self) -> bool {
        self.fallback
    }
}

/// Why a registry could not answer. Never carries a secret (no Redis URL, no password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The registry's store cannot be reached or refused the command (Redis down,
    /// connection refused, authentication failed, ...).
    #[error("call registry unavailable: {0}")]
    Unavailable(String),
    /// The store did not answer within the command timeout.
    #[error("call registry timed out")]
    Timeout,
    /// The store holds something that is not a call (a value this crate did not write,
    /// a key of another type). Ending the call (`end_call`) deletes it.
    #[error("call registry holds a corrupt entry: {0}")]
    Corrupt(String),
    /// Anything else.
    #[error("call registry error: {0}")]
    Other(String),
}

impl RegistryError {
    /// `unavailable`, `timeout`, `corrupt` or `other`: the `error` label of
    /// [`REGISTRY_FAILURES_TOTAL`].
    pub fn kind(&self) -> &'static str {
        match self {
            RegistryError::Unavailable(_) => "unavailable",
            RegistryError::Timeout => "timeout",
            RegistryError::Corrupt(_) => "corrupt",
            RegistryError::Other(_) => "other",
        }
    }
}

/// The name of the counter of failed joins, `callstats_call_registry_failures_total`,
/// labelled `error` ([`RegistryError::kind`]).
pub const REGISTRY_FAILURES_TOTAL: &str = "callstats_call_registry_failures_total";

/// Describes the call registry's counter to the installed `metrics` recorder and
/// registers every `error` series at zero, so that rates work before the first failure.
/// [`PerCall::new`] calls it; call it again if you install the recorder later.
#[cfg(feature = "metrics")]
#[cfg_attr(docsrs, doc(cfg(feature = "metrics")))]
pub fn describe_metrics() {
    metrics::describe_counter!(
        REGISTRY_FAILURES_TOTAL,
        metrics::Unit::Count,
        "joins whose call registry failed (the conferenceID fell back to the room key, or the request failed): unavailable, timeout, corrupt, other"
    );
    for kind in ["unavailable", "timeout", "corrupt", "other"] {
        metrics::counter!(REGISTRY_FAILURES_TOTAL, "error" => kind).increment(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<MemoryRegistry>();
        assert_send_sync::<PerCall>();
        assert_send_sync::<ActiveCall>();
        assert_send_sync::<RegistryError>();
        assert_send_sync::<CallIdFormat>();
        fn assert_send<T: Send>() {}
        assert_send::<Join>();
        assert_send::<JoinFuture>();
        #[cfg(feature = "redis")]
        assert_send_sync::<RedisRegistry>();
    }

    #[tokio::test]
    async fn a_ready_join_awaits_to_its_result() {
        let call = ActiveCall::new(ConferenceId::new("c").unwrap(), 7);
        assert_eq!(Join::Ready(Ok(call.clone())).await, Ok(call.clone()));
        let pending = Join::Pending(Box::pin(async move { Ok(call.clone()) }));
        assert!(!pending.is_ready());
        assert_eq!(pending.await.unwrap().started_at(), 7);
    }

    #[test]
    fn a_ready_join_future_polled_twice_errs_instead_of_panicking() {
        let call = ActiveCall::new(ConferenceId::new("c").unwrap(), 7);
        let mut future = Join::Ready(Ok(call)).into_future();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(matches!(Pin::new(&mut future).poll(&mut cx), Poll::Ready(Ok(_))));
        assert!(matches!(
            Pin::new(&mut future).poll(&mut cx),
            Poll::Ready(Err(RegistryError::Other(_)))
        ));
    }
}
