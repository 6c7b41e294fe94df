//! Making a [`RedisRegistry`] and its settings.

use std::{sync::Arc, time::Duration};

use bytes::Bytes;
use fred::clients::{Client, Pool};
use tower_callstats::{
    ConfigError,
    calls::{CallIdFormat, DEFAULT_IDLE_TIMEOUT},
    clock::{Clock, SystemClock},
};

use crate::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_KEY_PREFIX, DEFAULT_LOCAL_CACHE_TTL, DEFAULT_MAX_NEW_CALLS_PER_USER,
    DEFAULT_UNRESPONSIVE_TIMEOUT, LOCAL_CACHE_ROOMS, LocalCache, RedisRegistry,
    connection::Connection,
    join::Outage,
    key,
    url::{self, redact_url},
};

impl RedisRegistry {
    /// A registry with a client of its own for the Redis at `url`, with the default
    /// settings (see the setters):
    ///
    /// - `redis://[[user]:password@]host[:port][/db]`;
    /// - `rediss://...`: TLS, with this crate's `tls` feature (refused without it, rather
    ///   than connecting in plain text);
    /// - `redis-sentinel://[[user]:password@]host[:port][/db]?sentinelServiceName=NAME[&node=host:port...]`:
    ///   the primary of the service `NAME`, found through the sentinels listed, followed
    ///   across failovers;
    /// - `redis-cluster://[[user]:password@]host:port[?node=host:port...]`: a Redis
    ///   Cluster, each command routed to its key's slot;
    ///
    /// as [`fred::types::config::Config::from_url`] reads them.
    ///
    /// The client is built and connects on the first join, and then stays up by itself:
    /// a Redis that is down at start-up, or later, is not an error (joins fail, or answer
    /// the calls this instance knows, until it is back; it is used again within about a
    /// second). See [`connection`](crate#connection) in the crate docs for what it is
    /// configured with.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidValue`] when the URL cannot be used; the error shows the URL
    /// with its password replaced by `***`.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let config = url::config(url)?;
        let connection = Connection::own(config).map_err(|error| ConfigError::InvalidValue {
            what: "Redis URL",
            value: redact_url(url),
            reason: format!("{:?}", error.kind()),
        })?;
        Ok(Self::with(connection))
    }

    /// A registry on the app's [`fred::clients::Client`] (a clone of it shares its
    /// connection), with the default settings.
    ///
    /// The app builds, configures and connects that client (`init`), and the registry's
    /// [`unresponsive_timeout`](Self::unresponsive_timeout) does not apply to it. For the
    /// faults the crate docs describe to behave as described, configure it as
    /// [`from_url`](Self::from_url) configures its own:
    ///
    /// - `Config::fail_fast = false` (fred's default, `true`, ends the connection task when
    ///   the first connect fails: an app started before its Redis never uses it);
    /// - a reconnect policy retrying for ever (`Builder::set_policy`, e.g.
    ///   `ReconnectPolicy::new_exponential(0, 100, 1_000, 2)`);
    /// - `ConnectionConfig::unresponsive = UnresponsiveConfig { max_timeout: Some(1 s),
    ///   interval: 250 ms }`, and TCP keepalive (`ConnectionConfig::tcp`), so that a silent
    ///   connection is replaced.
    pub fn from_client(client: Client) -> Self {
        Self::with(Connection::client(client))
    }

    /// A registry on the app's [`fred::clients::Pool`]: each command goes to the pool's
    /// next client. Configure and connect the pool as for
    /// [`from_client`](Self::from_client).
    pub fn from_pool(pool: Pool) -> Self {
        Self::with(Connection::pool(pool))
    }

    fn with(connection: Connection) -> Self {
        Self {
            connection: Arc::new(connection),
            prefix: Bytes::from_static(DEFAULT_KEY_PREFIX.as_bytes()),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            local_cache_ttl: DEFAULT_LOCAL_CACHE_TTL,
            unresponsive_timeout: DEFAULT_UNRESPONSIVE_TIMEOUT,
            max_new_calls_per_user: DEFAULT_MAX_NEW_CALLS_PER_USER,
            clock: Arc::new(SystemClock),
            format: CallIdFormat::default(),
            cache: Arc::new(LocalCache::new(LOCAL_CACHE_ROOMS)),
            outage: Arc::new(Outage::default()),
        }
    }

    /// The prefix of every key this registry reads or writes. Registries with different
    /// prefixes never see each other's calls, so apps (or environments) sharing one Redis
    /// stay apart. Default: `callstats:call:` ([`DEFAULT_KEY_PREFIX`]).
    ///
    /// A room's key is the prefix, `{`, 16 hex digits of the room's SHA1, `}`, and the
    /// room; see [keys](crate#keys-and-values).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidValue`] when the prefix holds `{` or `}`: the first `{` of
    /// every key must be the registry's own (it ends the prefix, so that each (prefix,
    /// room) pair has a key of its own, and it starts the Redis Cluster hash tag).
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Result<Self, ConfigError> {
        self.prefix = key::validate_prefix(prefix.into())?;
        Ok(self)
    }

    /// A call with no join for this long has ended (its key expires): the next join
    /// starts a new call. Also how long the tombstone of an ended call stays, and how long
    /// an instance answers a call it knows while Redis fails. At least 1 ms.
    ///
    /// Default: 2 hours ([`DEFAULT_IDLE_TIMEOUT`]), longer than callstats.js'
    /// re-authentication interval (about 54 minutes), so that an ongoing call whose
    /// participants only refresh their tokens is not ended between two token requests.
    #[must_use]
    pub fn idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_timeout = idle_timeout.max(Duration::from_millis(1));
        self
    }

    /// The bound on every Redis command (each of a join's scripts, an end's script):
    /// past it the command fails with [`RegistryError::Timeout`](tower_callstats::calls::RegistryError::Timeout).
    /// At least 1 ms. Default: 250 ms ([`DEFAULT_COMMAND_TIMEOUT`]),
    /// far above a healthy Redis' sub-millisecond answer and short enough that a request
    /// does not hang on a sick one.
    #[must_use]
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long each instance answers a room's call from memory after Redis confirmed it,
    /// without asking Redis again; also how often, at most, it touches the call.
    /// [`Duration::ZERO`] asks Redis on every join. Capped at half the idle timeout.
    ///
    /// Default: 2 s ([`DEFAULT_LOCAL_CACHE_TTL`]). The bound it
    /// sets: after an end on one instance, every other instance has the new conferenceID
    /// within `local_cache_ttl`.
    #[must_use]
    pub fn local_cache_ttl(mut self, ttl: Duration) -> Self {
        self.local_cache_ttl = ttl;
        self
    }

    /// How long a connection may leave commands unanswered before it is closed and
    /// replaced (fred's `UnresponsiveConfig::max_timeout`, checked every quarter of it,
    /// and the registry's own watchdog, see [connection](crate#connection)). At least
    /// 100 ms. Default: 1 s ([`DEFAULT_UNRESPONSIVE_TIMEOUT`]).
    ///
    /// Applies to the client of [`from_url`](Self::from_url); an app's own client or pool
    /// ([`from_client`](Self::from_client), [`from_pool`](Self::from_pool)) has the
    /// settings the app gave it.
    #[must_use]
    pub fn unresponsive_timeout(mut self, timeout: Duration) -> Self {
        self.unresponsive_timeout = timeout.max(Duration::from_millis(100));
        self
    }

    /// How many new calls one user (the userID a join is for) may start per minute,
    /// counted in Redis, so across all instances: past it, a join that would start a call
    /// fails with [`RegistryError::Full`](tower_callstats::calls::RegistryError::Full)
    /// (and [`Calls`](tower_callstats::calls::Calls) falls back to the room, or answers
    /// 503). Joining a call that exists is never limited. `0` turns the bound off.
    ///
    /// Default: 60 ([`DEFAULT_MAX_NEW_CALLS_PER_USER`]):
    /// far above what a person does, and it bounds the keys one user can make Redis hold.
    #[must_use]
    pub fn max_new_calls_per_user(mut self, max: u32) -> Self {
        self.max_new_calls_per_user = max;
        self
    }

    /// The clock that stamps a new call's start. Default: the system clock. (Expiry is
    /// Redis' own clock; the local cache uses the monotonic clock.)
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
}
