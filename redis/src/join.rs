//! A join's decision, an end, and the once-per-outage log.
//!
//! A join runs JOIN on the room's key, then:
//!
//! - a call: this instance confirms it (local cache) and answers it;
//! - "missing" while this instance confirmed the room's call within the idle timeout minus
//!   the local cache's lifetime: the key cannot have idled out (that confirmation touched
//!   it) nor been ended (an end leaves a tombstone), so Redis lost it (a restart without
//!   its data, a failover before replication, an eviction): CREATE re-asserts the known
//!   call (its ID and start), so that newcomers join the ongoing call;
//! - otherwise ("ended", or "missing" for a call not known or known too long ago): a new
//!   call: INCR-USER first (refused with `Full` past `max_new_calls_per_user` a minute),
//!   then CREATE with a new ID; CREATE answers the room's call afterwards, so instances
//!   racing on one room agree.
//!
//! When Redis fails or times out (not when it holds garbage), the join answers the room's
//! call if this instance confirmed it within the idle timeout (stale-if-error): a fault
//! the instance can ride out splits no call. Only a room it never saw gets the error.

use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use tower_callstats::{
    ConferenceId, UserId,
    calls::{ActiveCall, RegistryError},
};

use crate::{
    RedisRegistry, key,
    script::{Found, Runner},
};

/// The `tracing` target of the outage log (the target of tower-callstats' own calls log).
const TARGET: &str = "tower_callstats::calls";
/// The window of `max_new_calls_per_user`: a minute, in ms.
const NEW_CALL_WINDOW_MS: i64 = 60_000;

impl RedisRegistry {
    pub(crate) fn runner(&self) -> Runner<'_> {
        Runner {
            connection: &self.connection,
            command_timeout: self.command_timeout,
            unresponsive_timeout: self.unresponsive_timeout,
        }
    }

    pub(crate) fn idle_ms(&self) -> i64 {
        // At least 1: the idle timeout is at least 1 ms.
        i64::try_from(self.idle_timeout.as_millis()).unwrap_or(i64::MAX)
    }

    /// How recently this instance must have confirmed a call to re-assert it when Redis
    /// answers that the room has no key: the idle timeout, minus the local cache's
    /// lifetime as a margin.
    pub(crate) fn reassert_window(&self) -> Duration {
        self.idle_timeout.saturating_sub(self.effective_cache_ttl())
    }

    /// Joins `room`'s call for `user`.
    pub(crate) async fn fetch(self, room: ConferenceId, user: UserId) -> Result<ActiveCall, RegistryError> {
        let asked_at = Instant::now();
        match self.decide(&room, &user).await {
            Ok(call) => {
                self.outage.recovered();
                // Timed from before the round trip: an age is never under-estimated.
                self.cache.confirm(room, call.clone(), asked_at);
                Ok(call)
            }
            Err(error @ (RegistryError::Unavailable(_) | RegistryError::Timeout)) => {
                self.outage.failed(&error);
                self.cache.within(&room, self.idle_timeout).ok_or(error)
            }
            Err(error) => {
                // Redis answered (garbage, or a refusal): it is up.
                self.outage.recovered();
                Err(error)
            }
        }
    }

    async fn decide(&self, room: &ConferenceId, user: &UserId) -> Result<ActiveCall, RegistryError> {
        let runner = self.runner();
        let key = key::room(&self.prefix, room.as_bytes());
        let idle = self.idle_ms();
        match runner.join(key.clone(), idle).await? {
            Found::Call(call) => return Ok(call),
            Found::Missing => {
                if let Some(known) = self.cache.within(room, self.reassert_window()) {
                    if let Found::Call(call) = runner.create(key.clone(), &known, idle, false).await? {
                        tracing::debug!(target: TARGET, room = %room, conference_id = %call.conference_id(), "re-asserted a call Redis lost");
                        return Ok(call);
                    }
                    // A tombstone: the call ended meanwhile.
                }
            }
            Found::Ended => {}
        }
        // A new call. Whatever this instance knew of the room is over.
        self.cache.forget(room);
        if self.max_new_calls_per_user > 0 {
            let count = runner
                .incr_user(key::user(&self.prefix, user.as_bytes()), NEW_CALL_WINDOW_MS)
                .await?;
            if count > i64::from(self.max_new_calls_per_user) {
                return Err(RegistryError::Full(format!(
                    "this user started more than {} calls in the last minute",
                    self.max_new_calls_per_user
                )));
            }
        }
        let now = self.clock.unix_now();
        let call = ActiveCall::new(self.format.generate(room, now), now);
        match runner.create(key, &call, idle, true).await? {
            Found::Call(call) => Ok(call),
            other => Err(RegistryError::Other(format!("the create script answered {other:?}"))),
        }
    }

    /// Ends `call` of `room` if it is the room's call: whether it did. Forgets the room
    /// locally, whatever Redis answered.
    pub(crate) async fn end(self, room: ConferenceId, call: ConferenceId) -> Result<bool, RegistryError> {
        let key = key::room(&self.prefix, room.as_bytes());
        self.cache.forget(&room);
        let ended = self.runner().end(key, &call, self.idle_ms()).await;
        // A join that read the call before the script ran may have confirmed it meanwhile.
        self.cache.forget(&room);
        match &ended {
            Err(error @ (RegistryError::Unavailable(_) | RegistryError::Timeout)) => self.outage.failed(error),
            _ => self.outage.recovered(),
        }
        ended
    }
}

/// Whether Redis is failing, to log once per outage rather than once per request.
#[derive(Debug, Default)]
pub(crate) struct Outage {
    failing: AtomicBool,
}

impl Outage {
    /// A command failed: the first failure of an outage logs a `WARN`.
    pub(crate) fn failed(&self, error: &RegistryError) {
        if !self.failing.load(Ordering::Relaxed) && !self.failing.swap(true, Ordering::AcqRel) {
            tracing::warn!(target: TARGET, error = %error, "Redis unavailable: serving the calls this instance knows");
        }
    }

    /// Redis answered: the first answer after an outage logs an `INFO`.
    pub(crate) fn recovered(&self) {
        if self.failing.load(Ordering::Relaxed) && self.failing.swap(false, Ordering::AcqRel) {
            tracing::info!(target: TARGET, "Redis available again");
        }
    }
}
