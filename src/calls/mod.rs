//! One conferenceID per call, shared by every participant: on one instance and across
//! instances.
//!
//! callstats requires that every participant of a call uses the same conferenceID, that
//! the ID is unique for the duration of the call, and lets it be reused after the call
//! ended; the origin server makes it ([callstats' identifier rules]). A room such as
//! `standup` is the same for every call held in it, so it is not unique over time; a
//! fresh random ID per page load is unique but not shared. A [`CallRegistry`] maps the
//! room to its *active call*: the first participant starts the call (a new ID, see
//! [`CallIdFormat`]), everyone who joins while it is active gets the same ID, and once it
//! ended ([`Calls::end_call`]) or stayed idle for longer than the idle timeout, the next
//! join starts a new call with a new ID.
//!
//! Calls are an optional step of every request, after the room and after the app's
//! [`Authorize`](crate::Authorize) hook said yes: [`Callstats::calls`](crate::Callstats::calls).
//! A refused request never reaches the registry.
//!
//! [callstats' identifier rules]: https://docs.callstats.io/docs/identifiers-userids-conferenceids
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::time::Duration;
//! use tower_callstats::{UserId, clock::ManualClock};
//! use tower_callstats::calls::{Calls, MemoryRegistry};
//!
//! let clock = ManualClock::at_unix(1_795_599_000); // 2026-11-25 09:30:00 UTC
//! let calls = Calls::new(MemoryRegistry::new().clock(clock.clone()));
//! let (alice, bob) = (UserId::new("alice").unwrap(), UserId::new("bob").unwrap());
//!
//! // Alice starts the call; Bob joins it: one conferenceID.
//! let first = calls.join("standup", &alice).await.unwrap();
//! assert!(first.conference_id().starts_with("standup-20261125T0930Z-"));
//! assert_eq!(calls.join("standup", &bob).await.unwrap(), first);
//!
//! // The call ends: tomorrow's stand-up in the same room is a new call with a new ID.
//! assert!(calls.end_call("standup", first.conference_id()).await.unwrap());
//! clock.advance(Duration::from_secs(24 * 3600));
//! let tomorrow = calls.join("standup", &alice).await.unwrap();
//! assert_ne!(tomorrow.conference_id(), first.conference_id());
//! assert!(tomorrow.conference_id().starts_with("standup-20261126T0930Z-"));
//!
//! // Ending a call that is no longer the room's active call ends nothing.
//! assert!(!calls.end_call("standup", first.conference_id()).await.unwrap());
//! # }
//! ```
//!
//! # Registries
//!
//! - [`MemoryRegistry`]: one instance. Bounded, sharded, never waits for I/O.
//! - The `tower-callstats-redis` crate: several instances behind a load balancer share
//!   one Redis.
//! - Your own: implement [`CallRegistry`] (a database, a room service, ...).
//!
//! [`Calls`] wraps any of them with a [`FailurePolicy`]: when the registry fails (its
//! store down, slow or full), the room itself becomes the conferenceID by default
//! (still the same for every participant, only not unique over time), with one `WARN`
//! per outage rather than one per request.
//!
//! # Idle timeout
//!
//! Participants do not tell the server when a call ends (a tab closes, a laptop
//! sleeps), so a call also ends after an idle timeout without a join. Every join
//! touches the call. A call in progress whose participants load no pages still asks for
//! tokens: callstats.js calls its `tokenGenerator` again about every 0.9 × `expires_in`
//! of callstats' own access token, 54 minutes with the usual 3600 s. So the token
//! endpoint joins too, and the default idle timeout, 2 hours
//! ([`DEFAULT_IDLE_TIMEOUT`]), is longer than that interval with room to spare.
//!
//! # `tracing` events and `metrics` counters
//!
//! | target | level | message | fields | when |
//! | --- | --- | --- | --- | --- |
//! | `tower_callstats::calls` | `WARN` | `call registry unavailable` | `error`, `policy` | the first failed join of an outage (not every failed join) |
//! | `tower_callstats::calls` | `INFO` | `call registry recovered` | | the first successful join after an outage |
//! | `tower_callstats::calls` | `DEBUG` | `call registry failure` | `error` | every failed join |
//!
//! With the `metrics` feature, [`Calls`] counts every failed join in
//! `callstats_call_registry_failures_total{error="unavailable"|"timeout"|"corrupt"|"full"|"other"}`
//! (the names are stable).

mod format;
mod memory;
mod policy;
mod quota;

use std::{future::Future, pin::Pin};

pub use format::{CallIdFormat, LongRooms};
pub use memory::MemoryRegistry;
pub use policy::{Calls, FailurePolicy};

use crate::id::{ConferenceId, UserId};

/// The default idle timeout of a call: 2 hours.
///
/// Longer than callstats.js' re-authentication interval (about 0.9 × 3600 s = 54 minutes
/// with callstats' usual access-token lifetime), so that a call in progress is not ended
/// between two token requests of its participants.
pub const DEFAULT_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2 * 3600);

/// The default bound on new calls one user may start per minute: 60 (see
/// [`MemoryRegistry::max_new_calls_per_user`]; `tower-callstats-redis` counts them
/// across instances). A person starts a few calls a minute at most.
pub const DEFAULT_MAX_NEW_CALLS_PER_USER: u32 = 60;

/// A registry of active calls: room -> the active call's conferenceID.
///
/// `room` is always a room that passed the identifier rules, as the request named it.
/// Implementations must make creation atomic: participants joining the same new room at
/// the same instant, on one instance or on several sharing the registry, all get the
/// same conferenceID. The futures are `'static` (implementations clone what they need
/// into them), so that a tower layer can keep them in its response future.
pub trait CallRegistry: Send + Sync + 'static {
    /// The active call of `room`, when the registry knows it without waiting for I/O:
    /// in memory, or a call it fetched moments ago. `None` sends the request to
    /// [`join`](Self::join). A request whose answer is here costs no allocation and no
    /// wait. The default answers `None`.
    fn join_now(&self, room: &str, user: &UserId) -> Option<Result<ActiveCall, RegistryError>> {
        let _ = (room, user);
        None
    }

    /// The active call of `room`, starting one (with a new conferenceID) if none is
    /// active, for `user` (whom a registry may limit in how many calls they start);
    /// touches the call (its idle timer restarts).
    fn join(
        &self,
        room: &str,
        user: &UserId,
    ) -> Pin<Box<dyn Future<Output = Result<ActiveCall, RegistryError>> + Send + 'static>>;

    /// Ends the call `call` of `room` if it is still the room's active call: `true` if it
    /// ended it, `false` if the room's active call is another one or there is none. A
    /// late or repeated end never ends a newer call.
    fn end_call(
        &self,
        room: &str,
        call: &ConferenceId,
    ) -> Pin<Box<dyn Future<Output = Result<bool, RegistryError>> + Send + 'static>>;
}

impl<R: CallRegistry + ?Sized> CallRegistry for std::sync::Arc<R> {
    fn join_now(&self, room: &str, user: &UserId) -> Option<Result<ActiveCall, RegistryError>> {
        (**self).join_now(room, user)
    }

    fn join(
        &self,
        room: &str,
        user: &UserId,
    ) -> Pin<Box<dyn Future<Output = Result<ActiveCall, RegistryError>> + Send + 'static>> {
        (**self).join(room, user)
    }

    fn end_call(
        &self,
        room: &str,
        call: &ConferenceId,
    ) -> Pin<Box<dyn Future<Output = Result<bool, RegistryError>> + Send + 'static>> {
        (**self).end_call(room, call)
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

    /// The stand-in [`Calls`] hands out when the registry failed: the room itself.
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

    /// When the call started, in Unix seconds (for a fallback, when the join happened).
    pub fn started_at(&self) -> u64 {
        self.started_at
    }

    /// Whether this is [`Calls`]' fallback (the room itself, because the registry
    /// failed) rather than a call from the registry.
    pub fn is_fallback(&self) -> bool {
        self.fallback
    }
}

/// Why a registry could not answer. Never carries a secret (no URL, no password).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The registry's store cannot be reached or refused the command (down, connection
    /// refused, authentication failed, out of memory, ...).
    #[error("call registry unavailable: {0}")]
    Unavailable(String),
    /// The store did not answer within the command timeout.
    #[error("call registry timed out")]
    Timeout,
    /// The store holds something that is not a call (a value this crate did not write,
    /// a key of another type).
    #[error("call registry holds a corrupt entry: {0}")]
    Corrupt(String),
    /// The registry is at its bound and every call in it is active: a new room is
    /// refused rather than ending somebody's call, or a user started more calls than
    /// the registry allows.
    #[error("call registry is full: {0}")]
    Full(String),
    /// Anything else.
    #[error("call registry error: {0}")]
    Other(String),
}

/// A room that breaks the identifier rules, given to a registry: [`RegistryError::Other`].
impl From<crate::id::IdError> for RegistryError {
    fn from(error: crate::id::IdError) -> Self {
        RegistryError::Other(error.to_string())
    }
}

impl RegistryError {
    /// `unavailable`, `timeout`, `corrupt`, `full` or `other`: the `error` label of
    /// `callstats_call_registry_failures_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            RegistryError::Unavailable(_) => "unavailable",
            RegistryError::Timeout => "timeout",
            RegistryError::Corrupt(_) => "corrupt",
            RegistryError::Full(_) => "full",
            RegistryError::Other(_) => "other",
        }
    }
}

/// The name of the counter of failed joins, `callstats_call_registry_failures_total`,
/// labelled `error` ([`RegistryError::kind`]).
#[cfg(feature = "metrics")]
pub(crate) const REGISTRY_FAILURES_TOTAL: &str = "callstats_call_registry_failures_total";

/// Describes the call registry's counter to the installed `metrics` recorder and
/// registers every `error` series at zero. [`Calls::new`] calls it.
#[cfg(feature = "metrics")]
pub(crate) fn describe_metrics() {
    metrics::describe_counter!(
        REGISTRY_FAILURES_TOTAL,
        metrics::Unit::Count,
        "joins whose call registry failed (the conferenceID fell back to the room, or the request failed): unavailable, timeout, corrupt, full, other"
    );
    for kind in ["unavailable", "timeout", "corrupt", "full", "other"] {
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
        assert_send_sync::<Calls>();
        assert_send_sync::<ActiveCall>();
        assert_send_sync::<RegistryError>();
        assert_send_sync::<CallIdFormat>();
    }
}
