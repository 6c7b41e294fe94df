//! [`KeyRing`]: the active signing key and the keys rotated out, for rotation without
//! a restart or a failed request.

use std::{fmt, path::Path, sync::Arc, time::Duration};

use arc_swap::ArcSwap;

use super::{KeyError, SigningKey};
use crate::{
    clock::{Clock, SharedClock, SystemClock},
    jwks::JwkSet,
};

struct Retiring {
    key: Arc<SigningKey>,
    /// Unix seconds after which the key is no longer published.
    until: u64,
}

struct RingState {
    active: Arc<SigningKey>,
    retiring: Vec<Retiring>,
}

/// The signing keys: one active key that signs, and recently replaced keys that stay
/// published (in the JWKS) for a grace period so that tokens they signed still verify.
///
/// Rotation is an atomic pointer swap: requests in flight finish with the key they
/// started with, new requests sign with the new key, nobody waits on a lock.
///
/// A `KeyRing` is a handle: clones share the same keys. Keep a clone to rotate the keys
/// that an issuer (and its [`JwksService`](crate::JwksService)) use.
///
/// ```
/// use std::time::Duration;
/// use tower_callstats::keys::{KeyRing, SigningKey};
///
/// let ring = KeyRing::new(SigningKey::generate("2026-01").unwrap());
/// assert_eq!(ring.active().key_id(), "2026-01");
///
/// ring.rotate(SigningKey::generate("2026-02").unwrap(), Duration::from_secs(600));
/// assert_eq!(ring.active().key_id(), "2026-02");
/// let kids: Vec<_> = ring.jwks().keys.into_iter().map(|k| k.kid).collect();
/// assert_eq!(kids, ["2026-02", "2026-01"]); // the old key is still published
/// ```
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<Inner>,
}

struct Inner {
    state: ArcSwap<RingState>,
    clock: SharedClock,
}

impl KeyRing {
    /// A ring with one active key, on the system clock.
    pub fn new(active: SigningKey) -> Self {
        Self::with_clock(active, SystemClock)
    }

    /// A ring with one active key and the given clock (which decides when retiring
    /// keys stop being published).
    pub fn with_clock(active: SigningKey, clock: impl Clock) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: ArcSwap::from_pointee(RingState {
                    active: Arc::new(active),
                    retiring: Vec::new(),
                }),
                clock: Arc::new(clock),
            }),
        }
    }

    /// The key that signs now.
    pub fn active(&self) -> Arc<SigningKey> {
        self.inner.state.load().active.clone()
    }

    /// Makes `next` the active key. The previous active key stays published for
    /// `grace` (use at least the token TTL, so every token it signed still verifies).
    /// Keys whose grace period is over are dropped.
    ///
    /// The keyID names the public key at callstats, so a new key needs a new keyID.
    /// Rotating to a key with the active key's keyID replaces that key outright: tokens
    /// it signed stop verifying. That is allowed (a key replaced in an emergency) and
    /// logged as a warning.
    pub fn rotate(&self, next: SigningKey, grace: Duration) {
        if self.inner.state.load().active.key_id() == next.key_id() {
            tracing::warn!(
                target: "tower_callstats::keys",
                key_id = next.key_id(),
                "the new signing key has the active key's keyID: the old key is replaced, not kept published; \
                 give every new key its own keyID"
            );
        }
        let next = Arc::new(next);
        let now = self.inner.clock.unix_now();
        self.inner.state.rcu(|state| {
            let mut retiring: Vec<Retiring> = state
                .retiring
                .iter()
                .filter(|r| r.until > now && r.key.key_id() != next.key_id())
                .map(|r| Retiring {
                    key: r.key.clone(),
                    until: r.until,
                })
                .collect();
            if state.active.key_id() != next.key_id() {
                retiring.insert(
                    0,
                    Retiring {
                        key: state.active.clone(),
                        until: now.saturating_add(grace.as_secs()),
                    },
                );
            }
            RingState {
                active: next.clone(),
                retiring,
            }
        });
        tracing::info!(target: "tower_callstats::keys", key_id = next.key_id(), grace_secs = grace.as_secs(), "signing key rotated");
    }

    /// Reads `path` and makes it the active key (see [`rotate`](Self::rotate)). If the
    /// file is missing or not a valid key, the current key stays active and the error
    /// is logged and returned.
    pub fn reload_from_file(
        &self,
        key_id: impl Into<Arc<str>>,
        path: impl AsRef<Path>,
        grace: Duration,
    ) -> Result<(), KeyError> {
        match SigningKey::from_pem_file(key_id, path.as_ref()) {
            Ok(key) => {
                self.rotate(key, grace);
                Ok(())
            }
            Err(error) => {
                tracing::error!(target: "tower_callstats::keys", path = %path.as_ref().display(), %error, "key reload failed; the current key stays active");
                Err(error)
            }
        }
    }

    /// Every key whose public half must be published now: the active key first, then
    /// the keys still in their grace period.
    pub fn published(&self) -> Vec<Arc<SigningKey>> {
        let now = self.inner.clock.unix_now();
        let state = self.inner.state.load();
        std::iter::once(state.active.clone())
            .chain(state.retiring.iter().filter(|r| r.until > now).map(|r| r.key.clone()))
            .collect()
    }

    /// The published public keys as a JWK Set.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.published().iter().map(|k| k.public_jwk()).collect(),
        }
    }
}

impl From<SigningKey> for KeyRing {
    fn from(key: SigningKey) -> Self {
        Self::new(key)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<String> = self.published().iter().map(|k| k.key_id().to_owned()).collect();
        f.debug_struct("KeyRing")
            .field("active", &self.active().key_id())
            .field("published", &kids)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_the_old_key_published_for_the_grace_period() {
        let clock = crate::clock::ManualClock::at_unix(1000);
        let ring = KeyRing::with_clock(SigningKey::generate("a").unwrap(), clock.clone());
        ring.rotate(SigningKey::generate("b").unwrap(), Duration::from_secs(60));
        assert_eq!(ring.jwks().keys.len(), 2);
        clock.advance(Duration::from_secs(61));
        let kids: Vec<_> = ring.jwks().keys.into_iter().map(|k| k.kid).collect();
        assert_eq!(kids, ["b"]);
    }
}
