//! The demo's settings, read once from the environment (the table in `main.rs`).

use std::{env, net::SocketAddr, time::Duration};

use tower_callstats::UserIdStrategy;

use crate::keys::KeySettings;

/// Where the demo's conferenceID comes from (`CALLSTATS_CONFERENCE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConferenceMode {
    /// `per-call` (the default): one conferenceID per call in each room,
    /// `<room>-<YYYYMMDDTHHMMZ>-<6 hex>`, the same for everyone in the room until the call
    /// ends (`POST /rooms/{room}/end`, or two hours without a join).
    #[default]
    PerCall,
    /// `room`: the room name itself, the same for every call ever held in the room.
    Room,
}

impl ConferenceMode {
    fn parse(value: &str) -> Result<Self, String> {
        match value {
            "per-call" => Ok(Self::PerCall),
            "room" => Ok(Self::Room),
            other => Err(format!("CALLSTATS_CONFERENCE={other:?}: expected per-call or room")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PerCall => "per-call",
            Self::Room => "room",
        }
    }
}

/// How long a client may take, each configurable.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Reading a request's header (and waiting for the next one on a kept-alive connection).
    pub header: Duration,
    /// Reading a request's body, from its first byte to its last.
    pub body: Duration,
    /// A whole request, body and answer included.
    pub request: Duration,
}

/// How many live sessions the demo keeps.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Lifetime of a session, from its login.
    pub ttl: Duration,
    /// Live sessions at most; at the bound a new login is refused.
    pub max: usize,
    /// Live sessions per client address at most; beyond, the client's oldest ends.
    pub per_client: usize,
}

/// Everything the demo reads from its environment.
pub struct Settings {
    pub bind: SocketAddr,
    pub app_id: String,
    pub key: KeySettings,
    pub user_id: UserIdStrategy,
    pub mode: ConferenceMode,
    pub callstats_js_url: String,
    pub auth_proxy: Option<String>,
    pub sessions: SessionLimits,
    pub timeouts: Timeouts,
    /// `DEMO_TRUST_X_FORWARDED_FOR=1`: the client's address comes from that header.
    pub trust_forwarded_for: bool,
}

/// A variable's value; an empty one counts as unset.
fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.is_empty())
}

/// A whole number of at least 1 (seconds, or a count), or `default`.
fn number(name: &str, default: u64) -> Result<u64, String> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| format!("{name}={v:?} is not a whole number of at least 1")),
    }
}

fn seconds(name: &str, default: u64) -> Result<Duration, String> {
    number(name, default).map(Duration::from_secs)
}

fn count(name: &str, default: u64) -> Result<usize, String> {
    let n = number(name, default)?;
    usize::try_from(n).map_err(|_| format!("{name}={n} is too large"))
}

/// `DEMO_SESSION_TTL_SECS`: at most a year.
fn session_ttl() -> Result<Duration, String> {
    let ttl = seconds("DEMO_SESSION_TTL_SECS", 3600)?;
    if ttl > Duration::from_secs(365 * 24 * 3600) {
        return Err(format!("DEMO_SESSION_TTL_SECS={} is more than a year", ttl.as_secs()));
    }
    Ok(ttl)
}

fn user_id_strategy() -> Result<UserIdStrategy, String> {
    let domain = var("CALLSTATS_DOMAIN").unwrap_or_else(|| "example.com".into());
    let sha1 = |domain: String| UserIdStrategy::sha1(domain).map_err(|e| format!("CALLSTATS_DOMAIN: {e}"));
    match var("CALLSTATS_USER_ID").as_deref().unwrap_or("raw") {
        "raw" => Ok(UserIdStrategy::raw()),
        "sha1" => sha1(domain),
        "object" => Ok(sha1(domain)?.object_form(true)),
        // Demo only: a per-process secret, so ephemeral IDs change on restart.
        "ephemeral" => UserIdStrategy::ephemeral(&random_bytes::<32>()).map_err(|e| e.to_string()),
        other => Err(format!(
            "CALLSTATS_USER_ID={other:?}: expected raw, sha1, ephemeral or object"
        )),
    }
}

/// `N` bytes from the system's random number generator.
fn random_bytes<const N: usize>() -> [u8; N] {
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};
    let mut bytes = [0u8; N];
    SystemRandom::new().fill(&mut bytes).expect("the system RNG works");
    bytes
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        let bind = var("BIND").unwrap_or_else(|| "127.0.0.1:3000".into());
        let bind = bind
            .parse()
            .map_err(|e| format!("BIND={bind:?} is not an address: {e}"))?;
        let mode = match var("CALLSTATS_CONFERENCE") {
            Some(mode) => ConferenceMode::parse(&mode)?,
            None => ConferenceMode::default(),
        };
        let trust_forwarded_for = match var("DEMO_TRUST_X_FORWARDED_FOR").as_deref() {
            None | Some("0") => false,
            Some("1") => true,
            Some(other) => return Err(format!("DEMO_TRUST_X_FORWARDED_FOR={other:?}: expected 1 or 0")),
        };
        Ok(Self {
            bind,
            app_id: var("CALLSTATS_APP_ID").unwrap_or_else(|| "demo-app".into()),
            key: KeySettings::from_env(
                var("CALLSTATS_KEY_ID"),
                var("CALLSTATS_KEY_ID_FILE"),
                var("CALLSTATS_PRIVATE_KEY_FILE"),
            )?,
            user_id: user_id_strategy()?,
            mode,
            callstats_js_url: var("CALLSTATS_JS_URL")
                .unwrap_or_else(|| "https://api.callstats.io/static/callstats.min.js".into()),
            auth_proxy: var("CALLSTATS_AUTH_PROXY"),
            sessions: SessionLimits {
                ttl: session_ttl()?,
                max: count("DEMO_MAX_SESSIONS", 100_000)?,
                per_client: count("DEMO_SESSIONS_PER_CLIENT", 5)?,
            },
            timeouts: Timeouts {
                header: seconds("DEMO_HEADER_TIMEOUT_SECS", 10)?,
                body: seconds("DEMO_BODY_TIMEOUT_SECS", 10)?,
                request: seconds("DEMO_REQUEST_TIMEOUT_SECS", 10)?,
            },
            trust_forwarded_for,
        })
    }
}
