//! The callstats token: claims, signing, and the token cache.
//!
//! A callstats third-party-authentication token is a compact JWS signed with ES256:
//!
//! - header: `{"alg":"ES256","typ":"JWT","kid":keyID}`
//! - claims: `userID`, `appID` (always a JSON string), `keyID`, `iat`, `nbf` (now minus
//!   a skew, default 300 s), `exp` (now plus a TTL, default 300 s), `jti` (128 random
//!   bits, for audit logs); `confID` only if you opt in; extra claims if you add them.
//!
//! [`TokenIssuer`] signs with a key parsed once ([`KeyRing`]) and, by default, caches
//! tokens per (userID, conferenceID, signing key) until less than a third of their
//! life is left. Extra claims are fixed per issuer and every issuer has its own cache,
//! so a cached token always carries the issuer's current claims.
//!
//! ```
//! use std::time::Duration;
//! use tower_callstats::{ConferenceId, TokenIssuer, UserId, clock::ManualClock, keys::SigningKey};
//!
//! let clock = ManualClock::at_unix(1_700_000_000);
//! let issuer = TokenIssuer::builder("12345", SigningKey::generate("key-1").unwrap())
//!     .ttl(Duration::from_secs(600))
//!     .clock(clock.clone())
//!     .build()
//!     .unwrap();
//!
//! let token = issuer.issue(&UserId::new("alice").unwrap(), Some(&ConferenceId::new("room-1").unwrap())).unwrap();
//! let claims = token.claims();
//! assert_eq!(claims.user_id, "alice");
//! assert_eq!(claims.app_id, "12345"); // a string, even though it looks numeric
//! assert_eq!(claims.key_id, "key-1");
//! assert_eq!((claims.iat, claims.nbf, claims.exp), (1_700_000_000, 1_700_000_000 - 300, 1_700_000_600));
//! assert_eq!(claims.jti.len(), 32); // 128 bits, hex
//! assert_eq!(token.jwt().split('.').count(), 3);
//! ```

use std::{fmt, sync::Arc, time::Duration};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::{
    audit::{Action, Audit, AuditEvent, SharedAudit, TracingAudit},
    clock::{Clock, SharedClock, SystemClock},
    error::ConfigError,
    id::{ConferenceId, SharedStr, UserId},
    keys::{KeyRing, SignError, SigningKey},
    user_id::hex,
};

/// The claims callstats reads, plus the optional ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The userID (the alias in the object form).
    #[serde(rename = "userID")]
    pub user_id: String,
    /// The callstats appID, always a string.
    #[serde(rename = "appID")]
    pub app_id: String,
    /// The keyID callstats gave for the public key.
    #[serde(rename = "keyID")]
    pub key_id: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Not before: `iat` minus the skew.
    pub nbf: u64,
    /// Expiry: `iat` plus the TTL.
    pub exp: u64,
    /// A unique token ID (128 random bits, 32 hex characters).
    pub jti: String,
    /// The conferenceID, only when [`TokenIssuerBuilder::conf_id_claim`] is on.
    #[serde(rename = "confID", default, skip_serializing_if = "Option::is_none")]
    pub conf_id: Option<String>,
    /// Extra claims.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The claim names callstats defines; extra claims may not use them.
pub const RESERVED_CLAIMS: [&str; 8] = ["userID", "appID", "keyID", "iat", "nbf", "exp", "jti", "confID"];

/// A signed token and what it says.
///
/// `Debug` hides the JWT itself (a bearer credential) and shows the claims.
#[derive(Clone)]
pub struct IssuedToken {
    jwt: Arc<str>,
    /// The JWT as a header value, built once: a cached token costs no copy per request.
    header: http::HeaderValue,
    claims: Claims,
}

impl IssuedToken {
    /// The compact JWS, `header.payload.signature`.
    pub fn jwt(&self) -> &str {
        &self.jwt
    }

    /// The JWT as an HTTP header value.
    pub fn header_value(&self) -> &http::HeaderValue {
        &self.header
    }

    /// The claims it carries.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// `exp`, seconds since the Unix epoch.
    pub fn expires_at(&self) -> u64 {
        self.claims.exp
    }
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("jwt", &"<redacted>")
            .field("claims", &self.claims)
            .finish()
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    user: UserId,
    conference: Option<ConferenceId>,
    key_serial: u64,
}

/// Token cache settings; see [`TokenIssuerBuilder::cache`].
#[derive(Debug, Clone, Copy)]
pub struct CacheConfig {
    /// Maximum number of cached tokens. Default 10 000 (a few MiB).
    pub capacity: usize,
    /// Re-issue when less than this much life is left. `None` (the default) means a
    /// third of the TTL.
    pub refresh_margin: Option<Duration>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            capacity: 10_000,
            refresh_margin: None,
        }
    }
}

struct Cache {
    tokens: quick_cache::sync::Cache<CacheKey, Arc<IssuedToken>>,
    margin: u64,
}

struct Inner {
    app_id: Arc<str>,
    keys: Arc<KeyRing>,
    ttl: u64,
    skew: u64,
    conf_id_claim: bool,
    extra: serde_json::Map<String, serde_json::Value>,
    cache: Option<Cache>,
    clock: SharedClock,
    audit: SharedAudit,
}

/// Signs callstats tokens. Cheap to clone (a reference count); share one per app.
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
            .field("cache", &i.cache.as_ref().map(|c| (c.tokens.capacity(), c.margin)))
            .finish()
    }
}

/// Builds a [`TokenIssuer`]; from [`TokenIssuer::builder`].
pub struct TokenIssuerBuilder {
    app_id: String,
    keys: Arc<KeyRing>,
    ttl: Duration,
    skew: Duration,
    conf_id_claim: bool,
    extra: serde_json::Map<String, serde_json::Value>,
    cache: Option<CacheConfig>,
    clock: SharedClock,
    audit: SharedAudit,
}

impl fmt::Debug for TokenIssuerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuerBuilder")
            .field("app_id", &self.app_id)
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// Starts building an issuer for a callstats `appID` with a key (a
    /// [`SigningKey`], a [`KeyRing`], or an `Arc<KeyRing>` you keep to rotate keys).
    pub fn builder(app_id: impl Into<String>, keys: impl IntoKeyRing) -> TokenIssuerBuilder {
        TokenIssuerBuilder {
            app_id: app_id.into(),
            keys: keys.into_key_ring(),
            ttl: Duration::from_secs(300),
            skew: Duration::from_secs(300),
            conf_id_claim: false,
            extra: serde_json::Map::new(),
            cache: Some(CacheConfig::default()),
            clock: Arc::new(SystemClock),
            audit: Arc::new(TracingAudit),
        }
    }

    /// The callstats appID.
    pub fn app_id(&self) -> &str {
        &self.inner.app_id
    }

    pub(crate) fn app_id_shared(&self) -> Arc<str> {
        self.inner.app_id.clone()
    }

    /// The key ring (to rotate keys or publish the JWKS).
    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.inner.keys
    }

    /// The token lifetime.
    pub fn ttl(&self) -> Duration {
        Duration::from_secs(self.inner.ttl)
    }

    /// The current time on the issuer's clock, in Unix seconds.
    pub fn unix_now(&self) -> u64 {
        self.inner.clock.unix_now()
    }

    pub(crate) fn audit(&self) -> &dyn Audit {
        &*self.inner.audit
    }

    /// A token for `user` (and `conference`, which only goes into the token with
    /// [`TokenIssuerBuilder::conf_id_claim`], but always keys the cache). Reuses a
    /// cached token while it has at least the refresh margin of life left.
    pub fn issue(&self, user: &UserId, conference: Option<&ConferenceId>) -> Result<Arc<IssuedToken>, SignError> {
        self.issue_inner(user, conference, false)
    }

    /// A newly signed token, bypassing the cache (the client's `forceNew`). The new
    /// token replaces the cached one.
    pub fn issue_new(&self, user: &UserId, conference: Option<&ConferenceId>) -> Result<Arc<IssuedToken>, SignError> {
        self.issue_inner(user, conference, true)
    }

    fn issue_inner(
        &self,
        user: &UserId,
        conference: Option<&ConferenceId>,
        force_new: bool,
    ) -> Result<Arc<IssuedToken>, SignError> {
        let inner = &*self.inner;
        let key = inner.keys.active();
        let Some(cache) = &inner.cache else {
            return self.sign(&key, user, conference);
        };
        let cache_key = CacheKey {
            user: user.clone(),
            conference: conference.cloned(),
            key_serial: key.serial(),
        };
        if !force_new {
            if let Some(token) = cache.tokens.get(&cache_key) {
                let now = inner.clock.unix_now();
                if token.claims.exp.saturating_sub(now) >= cache.margin && token.claims.iat <= now {
                    self.record(Action::Reused, &token, conference);
                    return Ok(token);
                }
            }
        }
        let token = self.sign(&key, user, conference)?;
        cache.tokens.insert(cache_key, token.clone());
        Ok(token)
    }

    fn sign(
        &self,
        key: &SigningKey,
        user: &UserId,
        conference: Option<&ConferenceId>,
    ) -> Result<Arc<IssuedToken>, SignError> {
        let inner = &*self.inner;
        let now = inner.clock.unix_now();
        let jti = new_jti()?;
        let claims = Claims {
            user_id: user.to_string(),
            app_id: inner.app_id.to_string(),
            key_id: key.key_id().to_owned(),
            iat: now,
            nbf: now.saturating_sub(inner.skew),
            exp: now.saturating_add(inner.ttl),
            jti,
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
        match key.sign_jwt(&payload) {
            Ok(jwt) => {
                let jwt: Arc<str> = jwt.into();
                // base64url and dots only: always a valid header value. It shares the
                // JWT's memory instead of copying it.
                let mut header = http::HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(SharedStr(jwt.clone())))
                    .map_err(|_| SignError)?;
                // A bearer credential: `Debug` of a header map (tower-http's TraceLayer
                // with headers) prints "Sensitive", and HTTP/2 keeps it out of HPACK.
                header.set_sensitive(true);
                let token = Arc::new(IssuedToken { jwt, header, claims });
                self.record(Action::Issued, &token, conference);
                Ok(token)
            }
            Err(e) => {
                let event = AuditEvent {
                    key_id: Some(key.key_id()),
                    ..AuditEvent::new(Action::Failed).with_user_id(user)
                };
                inner.audit.record(&event.with_reason("ES256 signing failed"));
                Err(e)
            }
        }
    }

    fn record(&self, action: Action, token: &IssuedToken, conference: Option<&ConferenceId>) {
        let c = &token.claims;
        self.inner.audit.record(&AuditEvent {
            user_id: Some(&c.user_id),
            conference_id: conference.map(|c| c.as_str()),
            key_id: Some(&c.key_id),
            jti: Some(&c.jti),
            ..AuditEvent::new(action)
        });
    }
}

/// A new `jti`: 128 bits from the system CSPRNG, as 32 hex characters.
fn new_jti() -> Result<String, SignError> {
    let mut bits = [0u8; 16];
    SystemRandom::new().fill(&mut bits).map_err(|_| SignError)?;
    Ok(hex(&bits))
}

/// Anything [`TokenIssuer::builder`] takes as its keys.
pub trait IntoKeyRing {
    /// Converts into a shared key ring.
    fn into_key_ring(self) -> Arc<KeyRing>;
}

impl IntoKeyRing for SigningKey {
    fn into_key_ring(self) -> Arc<KeyRing> {
        Arc::new(KeyRing::new(self))
    }
}

impl IntoKeyRing for KeyRing {
    fn into_key_ring(self) -> Arc<KeyRing> {
        Arc::new(self)
    }
}

impl IntoKeyRing for Arc<KeyRing> {
    fn into_key_ring(self) -> Arc<KeyRing> {
        self
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

    /// Add a `confID` claim with the conferenceID. Default off: callstats does not
    /// read it and no source uses it; turn it on only if your verifier wants it.
    pub fn conf_id_claim(mut self, on: bool) -> Self {
        self.conf_id_claim = on;
        self
    }

    /// Extra claims added to every token. Must be a JSON object; the names of the
    /// reserved claims ([`RESERVED_CLAIMS`]) are refused at [`build`](Self::build).
    /// Default none.
    pub fn extra_claims(mut self, claims: serde_json::Map<String, serde_json::Value>) -> Self {
        self.extra = claims;
        self
    }

    /// Token cache settings. Default on, [`CacheConfig::default`].
    pub fn cache(mut self, config: CacheConfig) -> Self {
        self.cache = Some(config);
        self
    }

    /// Turn the token cache off: every request signs a new token.
    pub fn no_cache(mut self) -> Self {
        self.cache = None;
        self
    }

    /// The clock for `iat`/`nbf`/`exp` and the cache. Default the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Where audit events go. Default [`TracingAudit`].
    pub fn audit(mut self, audit: impl Audit) -> Self {
        self.audit = Arc::new(audit);
        self
    }

    /// Validates the settings and builds the issuer.
    pub fn build(self) -> Result<TokenIssuer, ConfigError> {
        #[cfg(feature = "metrics")]
        crate::audit::describe_metrics();
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
        let ttl = self.ttl.as_secs();
        let cache = match self.cache {
            None => None,
            Some(config) => {
                let margin = config.refresh_margin.map_or(ttl / 3, |m| m.as_secs());
                if margin >= ttl {
                    return Err(ConfigError::InvalidDuration {
                        what: "cache refresh_margin",
                        expected: "shorter than the ttl",
                        got: Duration::from_secs(margin),
                    });
                }
                if config.capacity == 0 {
                    return Err(ConfigError::InvalidValue {
                        what: "cache capacity",
                        value: "0".into(),
                        reason: "use no_cache() to turn the cache off".into(),
                    });
                }
                Some(Cache {
                    tokens: quick_cache::sync::Cache::new(config.capacity),
                    margin,
                })
            }
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
                clock: self.clock,
                audit: self.audit,
            }),
        })
    }
}
