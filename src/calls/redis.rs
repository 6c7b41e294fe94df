//! [`RedisRegistry`]: the active calls of every instance, in one Redis (feature `redis`).
//!
//! Several instances behind a load balancer must hand the participants of one call the
//! same conferenceID, whichever instance each participant reaches. They share one
//! Redis key per room:
//!
//! - **Key**: the key prefix (default `callstats:call:`) followed by the room key's
//!   UTF-8 bytes. The key is sent as one length-prefixed (binary-safe) argument, never
//!   formatted into a command, so a room key cannot inject a command or reach a key
//!   outside the prefix.
//! - **Value**: `<start> <conferenceID>`: the call's start in Unix seconds (ASCII
//!   digits), one space, and the conferenceID. Anything else is reported as
//!   [`RegistryError::Corrupt`], never a panic.
//! - **Expiry**: the key expires after `idle_timeout` without a join (`PX`), so an
//!   abandoned call ends by itself; every join restarts the timer (`PEXPIRE`).
//! - **Atomic**: one Lua script does "get the call; if there is none, create it" and
//!   touches the call in one round trip. Redis runs scripts one at a time, so two
//!   instances joining the same new room at the same instant get the same ID. The
//!   script is sent by its SHA1 (`EVALSHA`), and in full only when Redis does not know it
//!   yet (after a restart).
//! - **Local cache**: each instance remembers a room's call for `local_cache_ttl`
//!   (default 2 s), so that the hot path does not pay a Redis round trip on every
//!   request: a cache hit returns [`Join::Ready`] without I/O, and a room costs at most
//!   one round trip (which is also the touch) per `local_cache_ttl` per instance. The
//!   price, and the bound: after [`end_call`](CallRegistry::end_call) on one instance
//!   (which deletes the key and drops its own cache entry), the other instances may
//!   still hand out the ended call's ID for up to `local_cache_ttl`; after that every
//!   instance has the new ID.
//! - **Failure**: every Redis operation is bounded by `command_timeout` (default
//!   250 ms), and a disconnected client fails at once instead of queueing commands, so
//!   a Redis that is down, slow or holding garbage gives a [`RegistryError`] quickly,
//!   never a hang and never a panic. Wrap the registry in [`PerCall`](super::PerCall) to
//!   fall back to the room key meanwhile.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use tower_callstats::ConferenceId;
//! use tower_callstats::calls::{PerCall, RedisRegistry};
//!
//! let registry = RedisRegistry::from_url("redis://127.0.0.1:6379/0")?
//!     .key_prefix("myapp:callstats:call:")
//!     .command_timeout(Duration::from_millis(250));
//! let calls = PerCall::new(registry);
//! let call = calls.join(ConferenceId::new("standup")?).await?;
//! println!("conferenceID: {}", call.conference_id());
//! # Ok(())
//! # }
//! ```
//!
//! An app that already has a `fred` client or pool (for example for tower-sessions'
//! Redis store) passes it to [`RedisRegistry::new`] instead; this module re-exports the
//! [`fred`] it was built with.
//!
//! Needs a Tokio runtime with its timer enabled (`#[tokio::main]` has one).

use std::{
    fmt,
    sync::{
        Arc, LazyLock, Once,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::Bytes;
pub use fred;
use fred::{
    clients::{Client, Pool},
    error::{Error as FredError, ErrorKind},
    interfaces::ClientLike,
    prelude::{Builder, Config, Options, ReconnectPolicy},
    types::{ClusterHash, CustomCommand, Value},
};
use sha1::{Digest, Sha1};

use super::{ActiveCall, BoxFuture, CallIdFormat, CallRegistry, DEFAULT_IDLE_TIMEOUT, Join, RegistryError};
use crate::{
    ConferenceId, ConfigError,
    clock::{Clock, SharedClock, SystemClock},
};

/// The default key prefix: `callstats:call:`.
pub const DEFAULT_KEY_PREFIX: &str = "callstats:call:";
/// The default bound on every Redis operation: 250 ms.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_millis(250);
/// The default lifetime of the per-instance cache: 2 s.
pub const DEFAULT_LOCAL_CACHE_TTL: Duration = Duration::from_secs(2);
/// The per-instance cache holds at most this many rooms; rooms beyond it cost a round
/// trip per join, nothing else.
pub const LOCAL_CACHE_ROOMS: usize = 10_000;

/// KEYS[1]: the call's key. ARGV[1]: the value of a new call. ARGV[2]: idle timeout, ms.
/// Returns the value of the room's call: the existing one (touched), or the new one.
const JOIN_SCRIPT: &str = "\
local value = redis.call('GET', KEYS[1])
if value then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return value
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ARGV[1]
";

static JOIN_SCRIPT_SHA1: LazyLock<String> = LazyLock::new(|| {
    Sha1::digest(JOIN_SCRIPT.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
});

/// A `fred` client or pool for [`RedisRegistry::new`]: `From<Client>` and `From<Pool>`.
#[derive(Clone)]
pub struct RedisConnection(Conn);

#[derive(Clone)]
enum Conn {
    Client(Client),
    Pool(Pool),
}

impl Conn {
    fn client(&self) -> Client {
        match self {
            Conn::Client(client) => client.clone(),
            Conn::Pool(pool) => pool.next().clone(),
        }
    }
}

impl From<Client> for RedisConnection {
    fn from(client: Client) -> Self {
        Self(Conn::Client(client))
    }
}

impl From<&Client> for RedisConnection {
    fn from(client: &Client) -> Self {
        Self(Conn::Client(client.clone()))
    }
}

impl From<Pool> for RedisConnection {
    fn from(pool: Pool) -> Self {
        Self(Conn::Pool(pool))
    }
}

impl From<&Pool> for RedisConnection {
    fn from(pool: &Pool) -> Self {
        Self(Conn::Pool(pool.clone()))
    }
}

impl fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The client's configuration holds the password: never shown.
        match &self.0 {
            Conn::Client(_) => f.write_str("RedisConnection::Client(..)"),
            Conn::Pool(pool) => write!(f, "RedisConnection::Pool(size: {})", pool.size()),
        }
    }
}

/// The connection and whether it is up yet.
struct Link {
    conn: Conn,
    /// Connect this crate's own client (from [`RedisRegistry::from_url`]) once.
    connect: Option<Once>,
    /// Until the first connection, joins wait for it (bounded by the command timeout);
    /// after it, a disconnected client fails at once.
    ever_connected: AtomicBool,
}

#[derive(Clone)]
struct Cached {
    call: ActiveCall,
    fetched_at: Instant,
}

/// The active calls of every instance, in one Redis. See the [module docs](self) for
/// the keys, values, atomicity, local cache and failure behaviour.
///
/// Cloning is cheap; clones share the connection and the local cache. Configure it
/// before the first join.
#[derive(Clone)]
pub struct RedisRegistry {
    link: Arc<Link>,
    prefix: Bytes,
    idle_timeout: Duration,
    command_timeout: Duration,
    local_cache_ttl: Duration,
    clock: SharedClock,
    format: CallIdFormat,
    cache: Arc<quick_cache::sync::Cache<ConferenceId, Cached>>,
}

impl fmt::Debug for RedisRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No URL, no client configuration: they may hold a password.
        f.debug_struct("RedisRegistry")
            .field("key_prefix", &String::from_utf8_lossy(&self.prefix))
            .field("idle_timeout", &self.idle_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("local_cache_ttl", &self.local_cache_ttl)
            .field("local_cache_rooms", &self.cache.len())
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl RedisRegistry {
    /// A registry on an existing `fred` [`fred::clients::Client`] or
    /// [`fred::clients::Pool`], with the default settings (see the setters).
    ///
    /// Connect it first (`init().await`) and give it a reconnect policy
    /// (`Builder::set_policy`): without one, a client that lost its connection stays
    /// disconnected and every join fails.
    pub fn new(connection: impl Into<RedisConnection>) -> Self {
        Self::with_link(Link {
            conn: connection.into().0,
            connect: None,
            ever_connected: AtomicBool::new(false),
        })
    }

    /// A registry with its own client for the Redis at `url`
    /// (`redis://[[user]:password@]host[:port][/db]`, `rediss://` with a TLS feature
    /// of `fred`, see [`fred::types::config::Config::from_url`]).
    ///
    /// The client reconnects by itself (exponential back-off from 100 ms to 2 s, for
    /// ever) and connects at once when called within a Tokio runtime, otherwise on the
    /// first join. A Redis that is down at start-up is not an error: joins fail (and
    /// [`PerCall`](super::PerCall) falls back) until it is up.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidValue`] when the URL cannot be parsed; the error shows the
    /// URL with its password replaced by `***`.
    pub fn from_url(url: &str) -> Result<Self, ConfigError> {
        let invalid = |error: FredError| ConfigError::InvalidValue {
            what: "Redis URL",
            value: redact_url(url),
            reason: redact_secret(url, error.details()),
        };
        let config = Config::from_url(url).map_err(invalid)?;
        let mut builder = Builder::from_config(config);
        builder
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
            .with_connection_config(|connection| {
                connection.connection_timeout = Duration::from_secs(2);
            });
        let client = builder.build().map_err(invalid)?;
        let registry = Self::with_link(Link {
            conn: Conn::Client(client),
            connect: Some(Once::new()),
            ever_connected: AtomicBool::new(false),
        });
        if tokio::runtime::Handle::try_current().is_ok() {
            registry.link.connect_once();
        }
        Ok(registry)
    }

    fn with_link(link: Link) -> Self {
        Self {
            link: Arc::new(link),
            prefix: Bytes::from_static(DEFAULT_KEY_PREFIX.as_bytes()),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            command_timeout: DEFAULT_COMMAND_TIMEOUT,
            local_cache_ttl: DEFAULT_LOCAL_CACHE_TTL,
            clock: Arc::new(SystemClock),
            format: CallIdFormat::default(),
            cache: Arc::new(quick_cache::sync::Cache::new(LOCAL_CACHE_ROOMS)),
        }
    }

    /// The prefix of every key this registry reads or writes: a room's key is the
    /// prefix followed by the room key. Registries with different prefixes never see
    /// each other's calls, so apps (or environments) sharing one Redis stay apart.
    /// Default: `callstats:call:`.
    #[must_use]
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Bytes::from(prefix.into());
        self
    }

    /// A call with no join for this long has ended (its key expires): the next join
    /// starts a new call. At least 1 ms.
    ///
    /// Default: 2 hours ([`DEFAULT_IDLE_TIMEOUT`]), longer
    /// than callstats.js' re-authentication interval (about 54 minutes), so that an
    /// ongoing call whose participants only refresh their tokens is not ended between
    /// two token requests.
    #[must_use]
    pub fn idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_timeout = idle_timeout.max(Duration::from_millis(1));
        self
    }

    /// The bound on every Redis operation (a join's script, an `end_call`'s `DEL`,
    /// and, before the first connection, waiting for it): past it the operation fails
    /// with [`RegistryError::Timeout`]. At least 1 ms. Default: 250 ms, far above a
    /// healthy Redis' sub-millisecond answer and short enough that a request does not
    /// hang on a sick one.
    #[must_use]
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long each instance reuses a room's call without asking Redis again; also how
    /// often, at most, it touches the call. [`Duration::ZERO`] turns the cache off (a
    /// round trip on every join). Capped at half the idle timeout, so that a cached call
    /// has always been touched recently enough not to expire.
    ///
    /// Default: 2 s. The bound it sets: after [`end_call`](CallRegistry::end_call) on
    /// one instance, every other instance has the new conferenceID within
    /// `local_cache_ttl`.
    #[must_use]
    pub fn local_cache_ttl(mut self, ttl: Duration) -> Self {
        self.local_cache_ttl = ttl;
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

    fn effective_cache_ttl(&self) -> Duration {
        self.local_cache_ttl.min(self.idle_timeout / 2)
    }

    fn idle_ms(&self) -> i64 {
        i64::try_from(self.idle_timeout.as_millis()).unwrap_or(i64::MAX).max(1)
    }

    fn options(&self) -> Options {
        Options {
            timeout: Some(self.command_timeout),
            fail_fast: true,
            max_attempts: Some(1),
            ..Options::default()
        }
    }

    /// Runs the join script for `key`; a new call is made from `room`.
    async fn fetch(self, room: ConferenceId, key: Bytes) -> Result<ActiveCall, RegistryError> {
        let asked_at = Instant::now();
        let now = self.clock.unix_now();
        let candidate = ActiveCall::new(self.format.generate(&room, now), now);
        let value = Bytes::from(format!("{now} {}", candidate.conference_id()));
        let link = self.link.clone();
        let options = self.options();
        let idle_ms = self.idle_ms();
        let new_value = value.clone();
        let reply = tokio::time::timeout(self.command_timeout, async move {
            let client = link.ready().await?;
            let client = client.with_options(&options);
            let args = |first: Value| {
                vec![
                    first,
                    Value::Integer(1),
                    Value::Bytes(key.clone()),
                    Value::Bytes(new_value.clone()),
                    Value::Integer(idle_ms),
                ]
            };
            let evalsha = CustomCommand::new_static("EVALSHA", ClusterHash::Offset(2), false);
            match client
                .custom::<Value, Value>(evalsha, args(Value::from(JOIN_SCRIPT_SHA1.as_str())))
                .await
            {
                Err(error) if error.details().starts_with("NOSCRIPT") => {
                    let eval = CustomCommand::new_static("EVAL", ClusterHash::Offset(2), false);
                    client
                        .custom::<Value, Value>(eval, args(Value::from(JOIN_SCRIPT)))
                        .await
                        .map_err(map_error)
                }
                other => other.map_err(map_error),
            }
        })
        .await
        .map_err(|_| RegistryError::Timeout)??;
        let call = match reply.as_bytes() {
            // This instance created the call.
            Some(bytes) if bytes == &value[..] => candidate,
            Some(bytes) => parse_value(bytes)?,
            None => {
                return Err(RegistryError::Corrupt(format!(
                    "the script returned a {}",
                    reply.kind()
                )));
            }
        };
        let ttl = self.effective_cache_ttl();
        if !ttl.is_zero() {
            // Timed from before the round trip: the entry never outlives the bound.
            self.cache.insert(
                room,
                Cached {
                    call: call.clone(),
                    fetched_at: asked_at,
                },
            );
        }
        Ok(call)
    }

    async fn delete(self, room: ConferenceId, key: Bytes) -> Result<(), RegistryError> {
        self.cache.remove(&room);
        let link = self.link.clone();
        let options = self.options();
        tokio::time::timeout(self.command_timeout, async move {
            let client = link.ready().await?;
            let del = CustomCommand::new_static("DEL", ClusterHash::Offset(0), false);
            client
                .with_options(&options)
                .custom::<Value, Value>(del, vec![Value::Bytes(key)])
                .await
                .map_err(map_error)
        })
        .await
        .map_err(|_| RegistryError::Timeout)??;
        // A join that read the old call before the DEL may have cached it meanwhile.
        self.cache.remove(&room);
        Ok(())
    }
}

impl Link {
    fn connect_once(&self) {
        if let (Some(once), Conn::Client(client)) = (&self.connect, &self.conn) {
            once.call_once(|| {
                // The connection task runs for the client's lifetime; its handle is not needed.
                drop(client.connect());
            });
        }
    }

    /// A client to send a command on. Before the first connection, waits for it.
    async fn ready(&self) -> Result<Client, RegistryError> {
        self.connect_once();
        let client = self.conn.client();
        if !self.ever_connected.load(Ordering::Relaxed) {
            if !client.is_connected() {
                client.wait_for_connect().await.map_err(map_error)?;
            }
            self.ever_connected.store(true, Ordering::Relaxed);
        }
        Ok(client)
    }
}

impl CallRegistry for RedisRegistry {
    fn join(&self, room: &ConferenceId) -> Join {
        let ttl = self.effective_cache_ttl();
        if !ttl.is_zero() {
            if let Some(cached) = self.cache.get(room) {
                if cached.fetched_at.elapsed() < ttl {
                    return Join::Ready(Ok(cached.call));
                }
            }
        }
        let key = call_key(&self.prefix, room.as_bytes());
        Join::Pending(Box::pin(self.clone().fetch(room.clone(), key)))
    }

    fn end_call(&self, room: &ConferenceId) -> BoxFuture<Result<(), RegistryError>> {
        let key = call_key(&self.prefix, room.as_bytes());
        Box::pin(self.clone().delete(room.clone(), key))
    }
}

/// The key of a room: the prefix's bytes, then the room's bytes, as one binary-safe
/// argument. Nothing is escaped or interpreted: the bytes are the key.
fn call_key(prefix: &[u8], room: &[u8]) -> Bytes {
    let mut key = Vec::with_capacity(prefix.len() + room.len());
    key.extend_from_slice(prefix);
    key.extend_from_slice(room);
    Bytes::from(key)
}

/// Parses a stored `<start> <conferenceID>`; anything else is `Corrupt`. The message
/// never repeats the stored bytes (they may be large, or someone else's data).
fn parse_value(bytes: &[u8]) -> Result<ActiveCall, RegistryError> {
    let corrupt = |why: &str| {
        RegistryError::Corrupt(format!(
            "{why} (a {}-byte value, expected `<start> <conferenceID>`)",
            bytes.len()
        ))
    };
    let text = std::str::from_utf8(bytes).map_err(|_| corrupt("not UTF-8"))?;
    let (start, id) = text.split_once(' ').ok_or_else(|| corrupt("no space"))?;
    if start.is_empty() || start.len() > 20 || !start.bytes().all(|b| b.is_ascii_digit()) {
        return Err(corrupt("the start time is not a number"));
    }
    let start = start
        .parse::<u64>()
        .map_err(|_| corrupt("the start time is out of range"))?;
    let id = ConferenceId::new(id).map_err(|error| corrupt(&format!("invalid conferenceID: {error}")))?;
    Ok(ActiveCall::new(id, start))
}

fn map_error(error: FredError) -> RegistryError {
    match error.kind() {
        ErrorKind::Timeout => RegistryError::Timeout,
        _ if error.details().contains("WRONGTYPE") => {
            RegistryError::Corrupt("the call's key holds a value of another type".into())
        }
        kind => RegistryError::Unavailable(format!("{kind:?}: {}", error.details())),
    }
}

/// The URL with its `user:password@` part replaced by `***@`.
fn redact_url(url: &str) -> String {
    match userinfo(url) {
        Some((start, end)) => format!("{}***{}", &url[..start], &url[end..]),
        None => url.to_owned(),
    }
}

/// `text` with any occurrence of the URL's password (or whole user info) replaced.
fn redact_secret(url: &str, text: &str) -> String {
    let mut text = text.to_owned();
    if let Some((start, end)) = userinfo(url) {
        let info = &url[start..end];
        let password = info.split_once(':').map_or(info, |(_, password)| password);
        for secret in [info, password] {
            if !secret.is_empty() {
                text = text.replace(secret, "***");
            }
        }
    }
    text
}

/// The byte range of the URL's user info (between `://` and the last `@` before the
/// path), if any.
fn userinfo(url: &str) -> Option<(usize, usize)> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    Some((start, start + at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_prefix_and_the_room_bytes_as_one_argument() {
        for room in [
            "plain",
            "with spaces and * and ? [a-z]",
            " ; FLUSHALL",
            "\r\n*1\r\n$8\r\nFLUSHALL\r\n", // not a valid ConferenceId, but the key builder takes any bytes
            "インターネット会議",
        ] {
            let key = call_key(b"callstats:call:", room.as_bytes());
            assert_eq!(&key[..15], b"callstats:call:");
            assert_eq!(&key[15..], room.as_bytes());
            // One Value::Bytes: fred writes it as a RESP bulk string, `$<len>\r\n<bytes>\r\n`,
            // whose content is never parsed by Redis, whatever bytes it holds.
            assert!(matches!(Value::Bytes(key.clone()), Value::Bytes(ref b) if b.len() == 15 + room.len()));
        }
    }

    #[test]
    fn values_parse_defensively() {
        let ok = parse_value(b"1795599000 standup-20261125T0930Z-4f2a9c").unwrap();
        assert_eq!(ok.started_at(), 1_795_599_000);
        assert_eq!(ok.conference_id().as_str(), "standup-20261125T0930Z-4f2a9c");
        // A conferenceID may contain spaces: only the first one separates.
        assert_eq!(parse_value(b"1 a b").unwrap().conference_id().as_str(), "a b");
        for garbage in [
            &b""[..],
            b"garbage",
            b" id",
            b"12",
            b"12 ",
            b"-1 id",
            b"+1 id",
            b"1e3 id",
            b"99999999999999999999 id",  // over u64
            b"999999999999999999999 id", // 21 digits
            b"1 \xff\xfe",
            b"\xff 1",
            b"1 a\r\nb",
        ] {
            let error = parse_value(garbage).unwrap_err();
            assert!(matches!(error, RegistryError::Corrupt(_)), "{garbage:?}: {error:?}");
        }
        let long = format!("1 {}", "x".repeat(300));
        assert!(matches!(parse_value(long.as_bytes()), Err(RegistryError::Corrupt(_))));
    }

    #[test]
    fn the_script_hash_is_the_sha1_of_the_script() {
        assert_eq!(JOIN_SCRIPT_SHA1.len(), 40);
        assert!(JOIN_SCRIPT_SHA1.bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact_url("redis://:hunter2@host:6379/0"), "redis://***@host:6379/0");
        assert_eq!(redact_url("redis://user:hunter2@host"), "redis://***@host");
        assert_eq!(redact_url("redis://host:6379/0?x=a@b"), "redis://host:6379/0?x=a@b");
        assert_eq!(redact_url("not a url"), "not a url");
        assert_eq!(redact_secret("redis://u:hunter2@h", "bad hunter2 here"), "bad *** here");
    }

    #[test]
    fn a_bad_url_is_a_config_error_without_the_password() {
        let mut errors = 0;
        for url in [
            "redis://:hunter2@host:notaport/0",
            "nope://:hunter2@host",
            "redis://:hunter2@",
        ] {
            let error = match RedisRegistry::from_url(url) {
                Err(error) => error,
                Ok(registry) => {
                    // Some of these parse: then the registry's Debug must not show it either.
                    assert!(!format!("{registry:?}").contains("hunter2"));
                    continue;
                }
            };
            errors += 1;
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
            assert!(shown.contains("Redis URL"), "{shown}");
        }
        assert!(errors >= 2, "{errors}");
    }

    #[test]
    fn debug_never_shows_the_url() {
        // Outside a runtime: nothing connects.
        let registry = RedisRegistry::from_url("redis://user:hunter2@127.0.0.1:1/0").unwrap();
        let shown = format!("{registry:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("callstats:call:"), "{shown}");
    }

    #[test]
    fn settings_are_clamped() {
        let registry = RedisRegistry::from_url("redis://127.0.0.1:1")
            .unwrap()
            .idle_timeout(Duration::ZERO)
            .command_timeout(Duration::ZERO)
            .local_cache_ttl(Duration::from_secs(3600));
        assert_eq!(registry.idle_ms(), 1);
        assert_eq!(registry.command_timeout, Duration::from_millis(1));
        assert_eq!(registry.effective_cache_ttl(), Duration::from_micros(500));
        let default = RedisRegistry::from_url("redis://127.0.0.1:1").unwrap();
        assert_eq!(default.effective_cache_ttl(), Duration::from_secs(2));
        assert_eq!(default.idle_ms(), 7_200_000);
    }

    #[tokio::test]
    async fn a_redis_that_is_not_there_fails_within_the_timeout() {
        // Port 1 on loopback: connection refused at once (or, at worst, the timeout).
        let registry = RedisRegistry::from_url("redis://127.0.0.1:1")
            .unwrap()
            .command_timeout(Duration::from_millis(200));
        let room = ConferenceId::new("r").unwrap();
        for _ in 0..3 {
            let started = Instant::now();
            let error = registry.join(&room).await.unwrap_err();
            assert!(
                matches!(error, RegistryError::Timeout | RegistryError::Unavailable(_)),
                "{error:?}"
            );
            assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
            let started = Instant::now();
            assert!(registry.end_call(&room).await.is_err());
            assert!(started.elapsed() < Duration::from_secs(1));
        }
    }

    /// Against a real redis-server (skipped, with a message, when there is none).
    mod server {
        use super::*;
        use crate::calls::test_redis_server::{RedisServer, Reply};

        #[tokio::test]
        async fn binary_keys_with_protocol_bytes_stay_one_key() {
            let Some(server) = RedisServer::start() else { return };
            server.command(&[b"SET", b"other:app:key", b"keep me"]).unwrap();
            let registry = RedisRegistry::from_url(&server.url()).unwrap();
            let stand_in = ConferenceId::new("stand-in").unwrap();
            for room in [
                &b"\r\n*1\r\n$8\r\nFLUSHALL\r\n"[..],
                b"a\r\nDEL other:app:key\r\n",
                b"\0\xff binary",
                b" ; FLUSHALL",
                b"*",
            ] {
                let key = call_key(b"callstats:call:", room);
                let call = registry.clone().fetch(stand_in.clone(), key.clone()).await.unwrap();
                // The exact bytes are the key, with the registry's value under it.
                let stored = server.command(&[b"GET", &key]).unwrap();
                let Reply::Bulk(Some(stored)) = stored else {
                    panic!("{stored:?}")
                };
                assert_eq!(parse_value(&stored).unwrap(), call);
                assert_eq!(server.command(&[b"EXISTS", &key]).unwrap(), Reply::Int(1));
                // The same key again: the same call.
                assert_eq!(
                    registry.clone().fetch(stand_in.clone(), key.clone()).await.unwrap(),
                    call
                );
                registry.clone().delete(stand_in.clone(), key.clone()).await.unwrap();
                assert_eq!(server.command(&[b"EXISTS", &key]).unwrap(), Reply::Int(0));
            }
            assert_eq!(
                server.command(&[b"GET", b"other:app:key"]).unwrap(),
                Reply::Bulk(Some(b"keep me".to_vec()))
            );
            assert_eq!(server.command(&[b"DBSIZE"]).unwrap(), Reply::Int(1));
        }

        #[tokio::test]
        async fn the_script_is_loaded_after_a_script_flush() {
            let Some(server) = RedisServer::start() else { return };
            let registry = RedisRegistry::from_url(&server.url())
                .unwrap()
                .local_cache_ttl(Duration::ZERO);
            let room = ConferenceId::new("r").unwrap();
            let first = registry.join(&room).await.unwrap();
            server.command(&[b"SCRIPT", b"FLUSH"]).unwrap();
            assert_eq!(registry.join(&room).await.unwrap(), first);
            // The key expires after the idle timeout and is touched by every join.
            let Reply::Int(ttl) = server.command(&[b"PTTL", b"callstats:call:r"]).unwrap() else {
                panic!()
            };
            assert!(ttl > 7_100_000 && ttl <= 7_200_000, "{ttl}");
        }
    }
}
