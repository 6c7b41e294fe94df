//! [`TokenIssuer`]: signs callstats tokens, with a key parsed once and a token cache.

use std::{
    fmt,
    sync::{Arc, OnceLock},
    time::Duration,
};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use super::{Claims, IssuedToken, RESERVED_CLAIMS};
use crate::{
    clock::{Clock, SharedClock, SystemClock},
    encoding::hex,
    error::ConfigError,
    id::{ConferenceId, UserId},
    keys::{KeyRing, SignError, SigningKey},
    response::shared_header_value,
};

/// The default token lifetime and `nbf` skew: callstats recommends 5 to 10 minutes.
const DEFAULT_TTL: Duration = Duration::from_secs(300);
const DEFAULT_CACHE_CAPACITY: usize = 10_000;
/// The default bound on forced re-issue; see [`TokenIssuerBuilder::force_new_interval`].
pub(crate) const DEFAULT_FORCE_NEW_INTERVAL: Duration = Duration::from_secs(10);

struct Inner {
    app_id: Arc<str>,
    keys: KeyRing,
    ttl: u64,
    skew: u64,
    conf_id_claim: bool,
    extra: serde_json::Map<String, serde_json::Value>,
    cache: Option<CacheSettings>,
    /// Seconds within which a forced re-issue returns the token just signed.
    force_new_interval: u64,
    clock: SharedClock,
}

/// The token cache's settings, validated by the builder; every
/// [`Callstats`](crate::Callstats) made from the issuer keeps a cache with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CacheSettings {
    /// The most tokens (users) held.
    pub(crate) capacity: usize,
    /// Re-issue when fewer than this many seconds of life are left.
    pub(crate) margin: u64,
}

/// Signs callstats tokens with a key parsed once. Cheap to clone (a reference count);
/// share one per app.
///
/// Built with [`TokenIssuer::builder`]. It signs a new token on every
/// [`issue`](Self::issue); the layer and the token endpoint made from a
/// [`Callstats`](crate::Callstats) keep the tokens it signs in their cache, with the
/// settings given here.
///
/// A callstats third-party-authentication token ([callstats' JWT documentation]) is a
/// compact JWS signed with ES256:
///
/// - header: `{"alg":"ES256","typ":"JWT","kid":keyID}`
/// - claims: `userID`, `appID` (always a JSON string), `keyID`, `iat`, `nbf` (now minus
///   a skew, default 300 s), `exp` (now plus a TTL, default 300 s), `jti` (128 random
///   bits, for audit logs); `confID` only if you opt in; extra claims if you add them.
///
/// [`TokenIssuer`] signs with a key parsed once ([`KeyRing`](crate::KeyRing)). The
/// layer and the endpoint keep the tokens it signs in one cache per
/// [`Callstats`](crate::Callstats), with the issuer's cache settings.
///
/// ```
/// use std::time::Duration;
/// use tower_callstats::{ConferenceId, SigningKey, TokenIssuer, UserId, clock::ManualClock};
///
/// let clock = ManualClock::at_unix(1_700_000_000);
/// let issuer = TokenIssuer::builder("12345", SigningKey::generate("key-1").unwrap())
///     .ttl(Duration::from_secs(600))
///     .clock(clock.clone())
///     .build()
///     .unwrap();
///
/// let token = issuer.issue(&UserId::new("alice").unwrap(), Some(&ConferenceId::new("room-1").unwrap())).unwrap();
/// let claims = token.claims();
/// assert_eq!(claims.user_id, "alice");
/// assert_eq!(claims.app_id, "12345"); // a string, even though it looks numeric
/// assert_eq!(claims.key_id, "key-1");
/// assert_eq!((claims.iat, claims.nbf, claims.exp), (1_700_000_000, 1_700_000_000 - 300, 1_700_000_600));
/// assert_eq!(claims.jti.len(), 32); // 128 bits, hex
/// assert_eq!(token.jwt().split('.').count(), 3);
/// ```
///
/// [callstats' JWT documentation]: https://docs.callstats.io/docs/third-party-authenitcation
#[derive(Clone)]
pub struct TokenIssuer {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("TokenIssuer")
            .field("app_id", &i.app_id)
            .field("keys", &i.keys)
            .field("ttl_secs", &i.ttl)
            .field("skew_secs", &i.skew)
            .field("conf_id_claim", &i.conf_id_claim)
            .field("extra_claims", &i.extra.keys().collect::<Vec<_>>())
            .field("cache", &i.cache)
            .field("force_new_interval_secs", &i.force_new_interval)
            .finish()
    }
}

impl TokenIssuer {
    /// Starts building an issuer for a callstats `appID` with its keys: a
    /// [`SigningKey`], or a [`KeyRing`] you keep a clone of to rotate keys.
    pub fn builder(app_id: impl Into<String>, keys: impl Into<KeyRing>) -> TokenIssuerBuilder {
        TokenIssuerBuilder {
            app_id: app_id.into(),
            keys: keys.into(),
            ttl: DEFAULT_TTL,
            skew: DEFAULT_TTL,
            conf_id_claim: false,
            extra: serde_json::Map::new(),
            cache: true,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            cache_refresh_margin: None,
            force_new_interval: DEFAULT_FORCE_NEW_INTERVAL,
            clock: Arc::new(SystemClock),
        }
    }

    /// The callstats appID.
    pub fn app_id(&self) -> &str {
        &self.inner.app_id
    }

    pub(crate) fn app_id_shared(&self) -> &Arc<str> {
        &self.inner.app_id
    }

    /// The key ring (to rotate keys or publish the JWKS).
    pub fn keys(&self) -> &KeyRing {
        &self.inner.keys
    }

    /// The token lifetime.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.inner.ttl)
    }

    /// A newly signed token for `user`, and `conference` when the token carries it
    /// ([`TokenIssuerBuilder::conf_id_claim`]). Every call signs (about 15 µs of CPU):
    /// the layer and the endpoint cache what they hand out.
    ///
    /// # Errors
    ///
    /// [`SignError`] when the operating system's random generator or the signature
    /// fails (a [`SigningKey::failing`](crate::SigningKey) key, in tests).
    pub fn issue(&self, user: &UserId, conference: Option<&ConferenceId>) -> Result<Arc<IssuedToken>, SignError> {
        self.sign(&self.inner.keys.active(), user, conference)
    }

    /// The token cache's settings; `None` when the cache is off.
    pub(crate) fn cache_settings(&self) -> Option<CacheSettings> {
        self.inner.cache
    }

    /// Seconds within which a forced re-issue hands out the token just signed.
    pub(crate) fn force_new_interval(&self) -> u64 {
        self.inner.force_new_interval
    }

    /// Whether the token carries the conferenceID (and so depends on it).
    pub(crate) fn conf_id_claim(&self) -> bool {
        self.inner.conf_id_claim
    }

    /// The clock of the token times.
    pub(crate) fn now(&self) -> u64 {
        self.inner.clock.unix_now()
    }

    /// A new token signed by the active key (borrowed: no reference count).
    pub(crate) fn sign_active(
        &self,
        user: &UserId,
        conference: Option<&ConferenceId>,
    ) -> Result<Arc<IssuedToken>, SignError> {
        self.sign(&self.inner.keys.active_ref(), user, conference)
    }

    /// The serial of the active key: a token of another serial is not handed out.
    pub(crate) fn active_serial(&self) -> u64 {
        self.inner.keys.active_ref().serial()
    }

    fn sign(
        &self,
        key: &SigningKey,
        user: &UserId,
        conference: Option<&ConferenceId>,
    ) -> Result<Arc<IssuedToken>, SignError> {
        let inner = &*self.inner;
        let now = inner.clock.unix_now();
        let claims = Claims {
            user_id: user.to_string(),
            app_id: inner.app_id.to_string(),
            key_id: key.key_id().to_owned(),
            iat: now,
            nbf: now.saturating_sub(inner.skew),
            exp: now.saturating_add(inner.ttl),
            jti: new_jti()?,
            conf_id: if inner.conf_id_claim {
                conference.map(|c| c.to_string())
            } else {
                None
            },
            extra: inner.extra.clone(),
        };
        // The claims of a callstats token serialize to about 200 bytes: one allocation.
        let mut payload = Vec::with_capacity(256);
        serde_json::to_writer(&mut payload, &claims).map_err(|_| SignError)?;
        #[cfg(feature = "metrics")]
        let started = std::time::Instant::now();
        let signed = key.sign_jwt(&payload);
        #[cfg(feature = "metrics")]
        crate::metrics::signed(key.key_id(), started.elapsed(), signed.is_ok());
        match signed {
            Ok(jwt) => {
                let jwt: Arc<str> = jwt.into();
                // base64url and dots only: a valid header value that shares the JWT's
                // memory. A bearer credential: `Debug` of a header map (tower-http's
                // TraceLayer with headers) prints "Sensitive", and HTTP/2 keeps it out
                // of HPACK.
                let mut header = shared_header_value(jwt.clone());
                header.set_sensitive(true);
                let token = Arc::new(IssuedToken {
                    jwt,
                    header,
                    user_id: user.clone(),
                    user_id_header: user.header_value(),
                    json: OnceLock::new(),
                    claims,
                    key_serial: key.serial(),
                });
                Ok(token)
            }
            Err(e) => Err(e),
        }
    }
}

/// A new `jti`: 128 bits from the system CSPRNG, as 32 hex characters.
fn new_jti() -> Result<String, SignError> {
    let mut bits = [0u8; 16];
    SystemRandom::new().fill(&mut bits).map_err(|_| SignError)?;
    Ok(hex(&bits))
}

/// Builds a [`TokenIssuer`]; from [`TokenIssuer::builder`]. Every setting has a
/// default; [`build`](Self::build) validates them.
#[must_use]
pub struct TokenIssuerBuilder {
    app_id: String,
    keys: KeyRing,
    ttl: Duration,
    skew: Duration,
    conf_id_claim: bool,
    extra: serde_json::Map<String, serde_json::Value>,
    cache: bool,
    cache_capacity: usize,
    cache_refresh_margin: Option<Duration>,
    force_new_interval: Duration,
    clock: SharedClock,
}

impl fmt::Debug for TokenIssuerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuerBuilder")
            .field("app_id", &self.app_id)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl TokenIssuerBuilder {
    /// Token lifetime: `exp = iat + ttl`. Default 300 s; callstats recommends 5 to 10
    /// minutes. Must be between 10 s and 24 h.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How far `nbf` lies before `iat`, to absorb clock skew between this server and
    /// callstats. Default 300 s (callstats recommends 5 to 10 minutes). At most 1 h.
    pub fn not_before_skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }

    /// Whether tokens carry a `confID` claim with the conferenceID. Default `false`:
    /// callstats does not read it; turn it on only if your verifier wants it.
    pub fn conf_id_claim(mut self, on: bool) -> Self {
        self.conf_id_claim = on;
        self
    }

    /// Extra claims added to every token. The names of the reserved claims
    /// (`userID`, `appID`, `keyID`, `iat`, `nbf`, `exp`, `jti`, `confID`) are refused at
    /// [`build`](Self::build). Default none.
    pub fn extra_claims(mut self, claims: serde_json::Map<String, serde_json::Value>) -> Self {
        self.extra = claims;
        self
    }

    /// Whether the layer and the endpoint cache tokens (and what they answer with them)
    /// and hand them out again while they have enough life left. Default `true`.
    /// Without the cache every request signs (about 15 µs of CPU).
    pub fn cache(mut self, on: bool) -> Self {
        self.cache = on;
        self
    }

    /// The most tokens the cache holds, one per userID (and conferenceID, with
    /// [`conf_id_claim`](Self::conf_id_claim)) and signing key; each keeps the answers
    /// of the user's last few rooms. Default 10 000 (a few MiB). Must be at least 1.
    pub fn cache_capacity(mut self, tokens: usize) -> Self {
        self.cache_capacity = tokens;
        self
    }

    /// Re-issue a cached token when less than this much of its life is left. Default a
    /// third of the TTL. Must be shorter than the TTL.
    pub fn cache_refresh_margin(mut self, margin: Duration) -> Self {
        self.cache_refresh_margin = Some(margin);
        self
    }

    /// Within this interval of the last signature for a cache entry (a userID, and the
    /// conferenceID when the token carries it), a forced re-issue (`forceNew`) returns
    /// the token just signed instead of signing again. Default 10 s: long enough that a
    /// client looping on `forceNew`
    /// signs at most once per 10 s per user instead of keeping a core busy (a signature
    /// costs about 20 µs of CPU), short enough that a client told to fetch a new token
    /// gets a fresh one within seconds; a token it gets instead is at most 10 s old.
    /// A rotation always gets a new token (the cache is per signing key). Counted in
    /// seconds; `Duration::ZERO` turns the bound off. Needs the cache.
    pub fn force_new_interval(mut self, interval: Duration) -> Self {
        self.force_new_interval = interval;
        self
    }

    /// The clock for `iat`/`nbf`/`exp` and the cache. Default the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Validates the settings and builds the issuer. Fails, with the offending value,
    /// on an appID that is empty, over 256 bytes or has control characters, a TTL
    /// outside 10 s to 24 h, a skew over 1 h, a reserved extra claim, a cache capacity
    /// of 0, or a refresh margin not shorter than the TTL.
    pub fn build(self) -> Result<TokenIssuer, ConfigError> {
        #[cfg(feature = "metrics")]
        crate::metrics::describe();
        if self.app_id.is_empty() || self.app_id.len() > 256 || self.app_id.chars().any(char::is_control) {
            return Err(ConfigError::InvalidValue {
                what: "appID",
                value: self.app_id.chars().take(64).collect(),
                reason: "it must be 1 to 256 bytes without control characters (the appID from the callstats dashboard)"
                    .into(),
            });
        }
        if !(Duration::from_secs(10)..=Duration::from_secs(86_400)).contains(&self.ttl) {
            return Err(ConfigError::InvalidDuration {
                what: "ttl",
                expected: "between 10 s and 24 h",
                got: self.ttl,
            });
        }
        if self.skew > Duration::from_secs(3600) {
            return Err(ConfigError::InvalidDuration {
                what: "not_before_skew",
                expected: "at most 1 h",
                got: self.skew,
            });
        }
        if let Some(name) = self.extra.keys().find(|k| RESERVED_CLAIMS.contains(&k.as_str())) {
            return Err(ConfigError::ReservedClaim { name: name.clone() });
        }
        // A rotated-out key must stay published while tokens it signed are alive.
        self.keys.require_grace(self.ttl);
        let ttl = self.ttl.as_secs();
        let cache = if self.cache {
            let margin = self.cache_refresh_margin.map_or(ttl / 3, |m| m.as_secs());
            if margin >= ttl {
                return Err(ConfigError::InvalidDuration {
                    what: "cache_refresh_margin",
                    expected: "shorter than the ttl",
                    got: Duration::from_secs(margin),
                });
            }
            if self.cache_capacity == 0 {
                return Err(ConfigError::InvalidValue {
                    what: "cache_capacity",
                    value: "0".into(),
                    reason: "use cache(false) to turn the cache off".into(),
                });
            }
            Some(CacheSettings {
                capacity: self.cache_capacity,
                margin,
            })
        } else {
            None
        };
        Ok(TokenIssuer {
            inner: Arc::new(Inner {
                app_id: self.app_id.into(),
                keys: self.keys,
                ttl,
                skew: self.skew.as_secs(),
                conf_id_claim: self.conf_id_claim,
                extra: self.extra,
                cache,
                force_new_interval: self.force_new_interval.as_secs(),
                clock: self.clock,
            }),
        })
    }
}
