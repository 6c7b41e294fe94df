//! The fred client or pool the registry sends its commands on.
//!
//! A client of the registry's own ([`Connection::own`], from a URL) is built on the first
//! command, with the registry's settings:
//!
//! - `Config::fail_fast = false`: fred's connection task keeps running the reconnect policy
//!   when the *first* connection fails (with `true`, fred's default, it ends after the first
//!   failed connect, and an instance started before its Redis never uses Redis).
//! - A reconnect policy retrying for ever, exponential from 100 ms, capped at 1 s: Redis is
//!   used again within about a second of coming back.
//! - A connection timeout of 1 s (also for the commands fred sends while connecting).
//! - fred's `UnresponsiveConfig { max_timeout: unresponsive_timeout, interval: a quarter of it }`:
//!   a connection whose commands wait that long without a frame back is closed and replaced.
//! - TCP keepalive (probes after 5 s idle, every 1 s, 5 of them) and, on Linux,
//!   `TCP_USER_TIMEOUT` 10 s: the kernel drops a dead link, idle or not.
//! - A watchdog ([`Watchdog`]): fred's unresponsive check measures from the *last* write, so
//!   on a busy instance (a command every few hundred ms) it never fires; the watchdog forces a
//!   reconnection when commands have been timing out for `unresponsive_timeout` with no answer
//!   in between.
//!
//! Every command is sent with `Options { timeout: command_timeout, fail_fast: true,
//! max_attempts: 1 }` (see [`script`](crate::script)): a disconnected client fails at once
//! instead of queueing. Before the first connection, commands wait for it during the first
//! [`FIRST_CONNECT_WAIT`] after the first one (then their own timeout applies), so that the
//! first requests of an app that just started do not race the connection.

use std::{
    fmt,
    sync::{
        OnceLock,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use fred::{
    clients::{Client, Pool},
    error::{Error as FredError, ErrorKind},
    interfaces::ClientLike,
    prelude::{Builder, Config, ReconnectPolicy, TcpConfig},
    socket2::TcpKeepalive,
    types::config::UnresponsiveConfig,
};
use tower_callstats::calls::RegistryError;

use crate::watchdog::Watchdog;

/// How long, from the first command, commands wait for the very first connection.
const FIRST_CONNECT_WAIT: Duration = Duration::from_secs(1);
/// fred's connection timeout (TCP, TLS, and the commands it sends while connecting).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The reconnect policy's first delay and its cap, in ms.
const RECONNECT_MIN_MS: u32 = 100;
const RECONNECT_MAX_MS: u32 = 1_000;

/// A fred client or pool, and what the registry knows of its health.
pub(crate) struct Connection {
    kind: Kind,
    /// When the first command asked for a client.
    first_use: OnceLock<Instant>,
    ever_connected: AtomicBool,
    watchdog: Watchdog,
}

enum Kind {
    /// The registry's own client, built on first use.
    Own {
        config: Box<Config>,
        client: OnceLock<Client>,
    },
    Client(Client),
    Pool(Pool),
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The configuration holds the password: never shown.
        match &self.kind {
            Kind::Own { .. } => f.write_str("Own(..)"),
            Kind::Client(_) => f.write_str("Client(..)"),
            Kind::Pool(pool) => write!(f, "Pool(size: {})", pool.size()),
        }
    }
}

impl Connection {
    /// A client of the registry's own for `config` (from a URL), built on first use.
    pub(crate) fn own(mut config: Config) -> Result<Self, FredError> {
        config.fail_fast = false;
        // Build once now, so that a configuration fred refuses is an error of `from_url`.
        drop(builder(&config, crate::DEFAULT_UNRESPONSIVE_TIMEOUT).build()?);
        Ok(Self::of(Kind::Own {
            config: Box::new(config),
            client: OnceLock::new(),
        }))
    }

    /// The app's client: configured and connected (or not) by the app.
    pub(crate) fn client(client: Client) -> Self {
        Self::of(Kind::Client(client))
    }

    /// The app's pool: configured and connected (or not) by the app.
    pub(crate) fn pool(pool: Pool) -> Self {
        Self::of(Kind::Pool(pool))
    }

    fn of(kind: Kind) -> Self {
        Self {
            kind,
            first_use: OnceLock::new(),
            ever_connected: AtomicBool::new(false),
            watchdog: Watchdog::new(),
        }
    }

    /// A client to send a command on (a pool's next one). In the first
    /// [`FIRST_CONNECT_WAIT`] after the first command, waits for the first connection
    /// until then.
    /// `unresponsive` is the registry's unresponsive timeout, for the client it builds.
    pub(crate) async fn ready(&self, unresponsive: Duration) -> Result<Client, RegistryError> {
        let first_use = *self.first_use.get_or_init(Instant::now);
        let client = match &self.kind {
            Kind::Own { config, client } => client
                .get_or_init(|| {
                    let client = builder(config, unresponsive)
                        .build()
                        .expect("validated by Connection::own");
                    // The connection task runs for the client's lifetime; its handle is not needed.
                    drop(client.connect());
                    client
                })
                .clone(),
            Kind::Client(client) => client.clone(),
            Kind::Pool(pool) => pool.next().clone(),
        };
        if !self.ever_connected.load(Ordering::Relaxed) {
            let left = FIRST_CONNECT_WAIT.saturating_sub(first_use.elapsed());
            if !client.is_connected() && !left.is_zero() {
                // Past the wait, the command goes on and fails fast (or connects meanwhile).
                let _ = tokio::time::timeout(left, client.wait_for_connect()).await;
            }
            if client.is_connected() {
                self.ever_connected.store(true, Ordering::Relaxed);
            }
        }
        Ok(client)
    }

    /// Records how a command sent at `sent_at` on `client` ended; on the registry's own
    /// client, forces a reconnection when the connection stopped answering.
    pub(crate) fn observe(&self, client: &Client, sent_at: Instant, error: Option<&FredError>, unresponsive: Duration) {
        match error.map(FredError::kind) {
            // An app's client with a command timeout of its own.
            Some(ErrorKind::Timeout) => self.timed_out(client, sent_at, unresponsive),
            // Not an answer from Redis: the connection is down or closing.
            Some(ErrorKind::IO | ErrorKind::Canceled) => {}
            // An answer (a reply, or an error reply such as NOSCRIPT or OOM).
            _ => self.watchdog.answered(),
        }
    }

    /// A command sent at `sent_at` on `client` timed out: on the registry's own client,
    /// forces a reconnection when the connection stopped answering (see [`Watchdog`]).
    pub(crate) fn timed_out(&self, client: &Client, sent_at: Instant, unresponsive: Duration) {
        if matches!(self.kind, Kind::Own { .. }) && self.watchdog.timed_out(sent_at, unresponsive) {
            tracing::debug!(target: "tower_callstats_redis", "Redis connection unresponsive: reconnecting");
            let client = client.clone();
            tokio::spawn(async move {
                let _ = client.force_reconnection().await;
            });
        }
    }
}

/// The fred builder of the registry's own client.
fn builder(config: &Config, unresponsive: Duration) -> Builder {
    let mut builder = Builder::from_config(config.clone());
    builder
        .set_policy(ReconnectPolicy::new_exponential(
            0,
            RECONNECT_MIN_MS,
            RECONNECT_MAX_MS,
            2,
        ))
        .with_connection_config(|connection| {
            connection.connection_timeout = CONNECT_TIMEOUT;
            connection.internal_command_timeout = CONNECT_TIMEOUT;
            connection.unresponsive = UnresponsiveConfig {
                max_timeout: Some(unresponsive),
                interval: unresponsive / 4,
            };
            connection.tcp = tcp_config();
        });
    builder
}

/// TCP_NODELAY, keepalive, and on Linux TCP_USER_TIMEOUT (fred's `tcp-user-timeouts`).
fn tcp_config() -> TcpConfig {
    let keepalive = TcpKeepalive::new().with_time(Duration::from_secs(5));
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "freebsd"
    ))]
    let keepalive = keepalive.with_interval(Duration::from_secs(1)).with_retries(5);
    TcpConfig {
        nodelay: Some(true),
        keepalive: Some(keepalive),
        #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
        user_timeout: Some(Duration::from_secs(10)),
        ..TcpConfig::default()
    }
}

/// A fred error as a registry error: never with a URL or a password in it (fred's
/// messages name the server's address at most).
pub(crate) fn map_error(error: FredError) -> RegistryError {
    let details = error.details();
    match error.kind() {
        ErrorKind::Timeout => RegistryError::Timeout,
        _ if details.contains("WRONGTYPE") => {
            RegistryError::Corrupt("a registry key holds a value of another type".into())
        }
        // Redis' reply past `maxmemory` with `noeviction` ("OOM command not allowed when
        // used memory > 'maxmemory'"): the store refuses writes, like a store that is down.
        _ if details.starts_with("OOM") || details.contains("OOM command not allowed") => {
            RegistryError::Unavailable(format!("Redis is out of memory: {details}"))
        }
        kind => RegistryError::Unavailable(format!("{kind:?}: {details}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fred_errors_map_to_registry_errors() {
        let timeout = FredError::new(ErrorKind::Timeout, "Request timed out.");
        assert_eq!(map_error(timeout), RegistryError::Timeout);
        // Redis' own messages (redis-cli: `GET` on a list; a write past maxmemory).
        let wrong = FredError::new(
            ErrorKind::InvalidArgument,
            "WRONGTYPE Operation against a key holding the wrong kind of value",
        );
        assert!(matches!(map_error(wrong), RegistryError::Corrupt(_)));
        let oom = FredError::new(
            ErrorKind::Unknown,
            "OOM command not allowed when used memory > 'maxmemory'.",
        );
        assert!(matches!(map_error(oom), RegistryError::Unavailable(m) if m.contains("out of memory")));
        let refused = FredError::new(ErrorKind::IO, "Connection refused (os error 111)");
        assert!(matches!(map_error(refused), RegistryError::Unavailable(m) if m.contains("refused")));
    }
}
