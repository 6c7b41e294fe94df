#![doc = include_str!("crate.md")]
#![deny(missing_docs)]
#![deny(unreachable_pub)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod connection;
mod join;
mod key;
mod script;
mod settings;
mod url;
mod value;
mod watchdog;

/// A throwaway `redis-server` for the unit tests (the integration tests' harness).
#[cfg(test)]
#[path = "../tests/common/redis_server.rs"]
mod test_server;

use std::{fmt, future::Future, pin::Pin, sync::Arc, time::Duration};

use bytes::Bytes;
pub use cache::LOCAL_CACHE_ROOMS;
use cache::LocalCache;
use connection::Connection;
pub use fred;
use join::Outage;
use tower_callstats::{
    ConferenceId, UserId,
    calls::{ActiveCall, CallIdFormat, CallRegistry, RegistryError},
    clock::Clock,
};

/// The default key prefix: `callstats:call:`.
pub const DEFAULT_KEY_PREFIX: &str = "callstats:call:";
/// The default bound on every Redis command: 250 ms.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
/// The default time a room's call is answered from memory without asking Redis: 2 s.
pub const DEFAULT_LOCAL_CACHE_TTL: Duration = Duration::from_secs(2);
/// The default time after which a connection whose commands get no answer is replaced: 1 s.
pub const DEFAULT_UNRESPONSIVE_TIMEOUT: Duration = Duration::from_secs(1);
pub use tower_callstats::calls::DEFAULT_MAX_NEW_CALLS_PER_USER;

/// The active calls of every instance, in one Redis. See the [crate docs](crate) for
/// what a participant sees when Redis fails, the keys, the values and the settings.
///
/// Cloning is cheap; clones share the connection, the local cache and the outage state.
/// Configure it before the first join.
#[derive(Clone)]
pub struct RedisRegistry {
    connection: Arc<Connection>,
    prefix: Bytes,
    idle_timeout: Duration,
    command_timeout: Duration,
    local_cache_ttl: Duration,
    unresponsive_timeout: Duration,
    max_new_calls_per_user: u32,
    clock: Arc<dyn Clock>,
    format: CallIdFormat,
    cache: Arc<LocalCache>,
    outage: Arc<Outage>,
}

impl fmt::Debug for RedisRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No URL, no client configuration: they may hold a password.
        f.debug_struct("RedisRegistry")
            .field("connection", &self.connection)
            .field("key_prefix", &String::from_utf8_lossy(&self.prefix))
            .field("idle_timeout", &self.idle_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("local_cache_ttl", &self.local_cache_ttl)
            .field("unresponsive_timeout", &self.unresponsive_timeout)
            .field("max_new_calls_per_user", &self.max_new_calls_per_user)
            .field("local_cache_rooms", &self.cache.len())
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl RedisRegistry {
    /// How long a call is answered from memory: the local cache's lifetime, at most half
    /// the idle timeout (so that a cached call has always been touched recently enough).
    pub(crate) fn effective_cache_ttl(&self) -> Duration {
        self.local_cache_ttl.min(self.idle_timeout / 2)
    }
}

impl CallRegistry for RedisRegistry {
    /// A call Redis confirmed within `local_cache_ttl`: no I/O, no allocation beyond the
    /// call's clone.
    fn join_now(&self, room: &str, _: &UserId) -> Option<Result<ActiveCall, RegistryError>> {
        self.cache.within(room, self.effective_cache_ttl()).map(Ok)
    }

    fn join(
        &self,
        room: &str,
        user: &UserId,
    ) -> Pin<Box<dyn Future<Output = Result<ActiveCall, RegistryError>> + Send + 'static>> {
        match ConferenceId::new(room) {
            Ok(room) => Box::pin(self.clone().fetch(room, user.clone())),
            Err(error) => Box::pin(std::future::ready(Err(error.into()))),
        }
    }

    fn end_call(
        &self,
        room: &str,
        call: &ConferenceId,
    ) -> Pin<Box<dyn Future<Output = Result<bool, RegistryError>> + Send + 'static>> {
        match ConferenceId::new(room) {
            Ok(room) => Box::pin(self.clone().end(room, call.clone())),
            // No join can have made a call for it.
            Err(_) => Box::pin(std::future::ready(Ok(false))),
        }
    }
}

#[cfg(test)]
mod tests;
