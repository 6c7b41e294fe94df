//! [`KeyRing`]: the active signing key and the keys rotated out, for rotation without
//! a restart or a failed request.

use std::{
    fmt,
    path::Path,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime},
};

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

/// A borrow of the active key.
pub(crate) struct ActiveKey(arc_swap::Guard<Arc<RingState>>);

impl std::ops::Deref for ActiveKey {
    type Target = SigningKey;

    fn deref(&self) -> &SigningKey {
        &self.0.active
    }
}

/// The signing keys: one active key that signs, and recently replaced keys that stay
/// published (in the JWKS) for a grace period so that tokens they signed still verify.
///
/// Rotation is an atomic pointer swap: requests in flight finish with the key they
/// started with, new requests sign with the new key, nobody waits on a lock.
///
/// A `KeyRing` is a handle: clones share the same keys. Keep a clone to rotate the keys
/// that an issuer (and its [`JwksService`](crate::jwks::JwksService)) use.
///
/// ```
/// use std::time::Duration;
/// use tower_callstats::{KeyRing, SigningKey};
///
/// let ring = KeyRing::new(SigningKey::generate("2026-01").unwrap());
/// assert_eq!(ring.active().key_id(), "2026-01");
///
/// ring.rotate(SigningKey::generate("2026-02").unwrap(), Duration::from_secs(600)).unwrap();
/// assert_eq!(ring.active().key_id(), "2026-02");
/// let kids: Vec<_> = ring.jwks().keys.into_iter().map(|k| k.kid).collect();
/// assert_eq!(kids, ["2026-02", "2026-01"]); // the old key is still published
///
/// // Refused: a grace shorter than the token lifetime, and a keyID already published.
/// assert!(ring.rotate(SigningKey::generate("2026-03").unwrap(), Duration::ZERO).is_err());
/// assert!(ring.rotate(SigningKey::generate("2026-02").unwrap(), Duration::from_secs(600)).is_err());
/// assert_eq!(ring.active().key_id(), "2026-02");
/// ```
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<Inner>,
}

struct Inner {
    state: ArcSwap<RingState>,
    clock: SharedClock,
    /// The shortest grace period [`KeyRing::rotate`] accepts, in seconds: the longest
    /// token lifetime any issuer of this ring asked for; 0 until one asks.
    required_grace_secs: AtomicU64,
    /// Serializes rotations (rare), so that the checks and the swap are one step.
    /// Signers never take it.
    rotating: Mutex<()>,
}

/// The shortest grace period [`KeyRing::rotate`] accepts until an issuer says how long
/// its tokens live: the default token lifetime, 300 s.
pub(crate) const DEFAULT_MIN_GRACE: Duration = Duration::from_secs(300);

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
                required_grace_secs: AtomicU64::new(0),
                rotating: Mutex::new(()),
            }),
        }
    }

    /// Raises the shortest grace period [`rotate`](Self::rotate) accepts to `min` (a
    /// token lifetime), keeping the largest value ever required: a ring shared by
    /// several issuers protects the longest-lived tokens.
    pub(crate) fn require_grace(&self, min: Duration) {
        let secs = min.as_secs() + u64::from(min.subsec_nanos() > 0);
        self.inner.required_grace_secs.fetch_max(secs, Ordering::SeqCst);
    }

    /// The shortest grace period [`rotate`](Self::rotate) accepts: the longest token
    /// lifetime of the issuers that use this ring, or 300 s
    /// before any issuer said.
    pub fn min_grace(&self) -> Duration {
        match self.inner.required_grace_secs.load(Ordering::SeqCst) {
            0 => DEFAULT_MIN_GRACE,
            secs => Duration::from_secs(secs),
        }
    }

    /// When the retiring key `key_id` stops being published, or `None` if no key with
    /// that keyID is in its grace period (the active key, an unknown or a dropped one).
    pub fn unpublished_at(&self, key_id: &str) -> Option<SystemTime> {
        let now = self.inner.clock.unix_now();
        let state = self.inner.state.load();
        let retiring = state
            .retiring
            .iter()
            .find(|r| r.until > now && r.key.key_id() == key_id)?;
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(retiring.until))
    }

    /// The key that signs now.
    pub fn active(&self) -> Arc<SigningKey> {
        self.inner.state.load().active.clone()
    }

    /// The key that signs now, borrowed for the duration of a call (no reference count
    /// on the hot path).
    pub(crate) fn active_ref(&self) -> ActiveKey {
        ActiveKey(self.inner.state.load())
    }

    /// Makes `next` the active key. The previous active key stays published for
    /// `grace`, so that every token it signed still verifies; keys whose grace period is
    /// over are dropped.
    ///
    /// Refused, with the current key left active:
    ///
    /// - [`KeyError::GraceTooShort`]: `grace` is shorter than [`min_grace`](Self::min_grace)
    ///   (the token lifetime): tokens of the old key would stop verifying before they
    ///   expire;
    /// - [`KeyError::SameKeyId`]: `next` has the keyID of a published key (the active key
    ///   or one in its grace period). The keyID names the public key at callstats, so
    ///   callstats would check the new key's tokens against the old public key and
    ///   reject every one of them. A new key needs the new keyID callstats gives when
    ///   its public key is uploaded.
    ///
    /// [`rotate_unchecked`](Self::rotate_unchecked) forces either.
    pub fn rotate(&self, next: SigningKey, grace: Duration) -> Result<(), KeyError> {
        let _rotating = self.inner.rotating.lock().unwrap_or_else(|e| e.into_inner());
        let min = self.min_grace();
        if grace < min {
            return Err(KeyError::GraceTooShort { grace, min });
        }
        if self.published().iter().any(|k| k.key_id() == next.key_id()) {
            return Err(KeyError::SameKeyId {
                key_id: next.key_id().to_owned(),
            });
        }
        self.swap(next, grace);
        Ok(())
    }

    /// [`rotate`](Self::rotate) without its checks: makes `next` the active key even
    /// with a grace period shorter than the token lifetime, or under the keyID of a
    /// published key, which it then replaces outright. Each is logged as a warning.
    ///
    /// # Warning
    ///
    /// Both break tokens. With a short grace, tokens of the old key fail verification
    /// (the JWKS no longer lists the key) before they expire. Under a published keyID,
    /// tokens of the replaced key stop verifying at once, and callstats, which knows
    /// the keyID by the old public key, rejects every token of the new key until its
    /// public key is uploaded under that keyID. Use it only to replace a compromised key
    /// in an emergency, or in tests.
    pub fn rotate_unchecked(&self, next: SigningKey, grace: Duration) {
        let _rotating = self.inner.rotating.lock().unwrap_or_else(|e| e.into_inner());
        let min = self.min_grace();
        if grace < min {
            tracing::warn!(
                target: "tower_callstats::keys",
                key_id = next.key_id(),
                grace_secs = grace.as_secs(),
                min_secs = min.as_secs(),
                "forced rotation with a grace period shorter than the token lifetime: tokens of the old key stop \
                 verifying before they expire"
            );
        }
        if self.published().iter().any(|k| k.key_id() == next.key_id()) {
            tracing::warn!(
                target: "tower_callstats::keys",
                key_id = next.key_id(),
                "forced rotation to a keyID that is already published: the old key is replaced, not kept published, \
                 and callstats rejects the new key's tokens until its public key is uploaded under this keyID"
            );
        }
        self.swap(next, grace);
    }

    /// The rotation itself (under `rotating`).
    fn swap(&self, next: SigningKey, grace: Duration) {
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
    /// file is missing or not a valid key, or [`rotate`](Self::rotate) refuses the key
    /// (a grace period too short, a keyID already published), the current key stays
    /// active and the error is logged and returned.
    pub fn reload_from_file(
        &self,
        key_id: impl Into<Arc<str>>,
        path: impl AsRef<Path>,
        grace: Duration,
    ) -> Result<(), KeyError> {
        match SigningKey::from_pem_file(key_id, path.as_ref()).and_then(|key| self.rotate(key, grace)) {
            Ok(()) => Ok(()),
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
        ring.require_grace(Duration::from_secs(60));
        ring.rotate(SigningKey::generate("b").unwrap(), Duration::from_secs(60))
            .unwrap();
        assert_eq!(ring.jwks().keys.len(), 2);
        // 1000 + 60: the time the grace period ends, as the ring reports it.
        assert_eq!(
            ring.unpublished_at("a"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1060))
        );
        assert_eq!(ring.unpublished_at("b"), None, "the active key is not retiring");
        clock.advance(Duration::from_secs(61));
        assert_eq!(ring.unpublished_at("a"), None);
        let kids: Vec<_> = ring.jwks().keys.into_iter().map(|k| k.kid).collect();
        assert_eq!(kids, ["b"]);
    }

    fn kids(ring: &KeyRing) -> Vec<String> {
        ring.jwks().keys.into_iter().map(|k| k.kid).collect()
    }

    #[test]
    fn a_grace_shorter_than_the_token_lifetime_is_refused() {
        let ring = KeyRing::new(SigningKey::generate("a").unwrap());
        // Before any issuer says, the default token lifetime: 300 s.
        assert_eq!(ring.min_grace(), Duration::from_secs(300));
        ring.require_grace(Duration::from_secs(600));
        ring.require_grace(Duration::from_secs(60)); // a shorter lifetime does not lower it
        assert_eq!(ring.min_grace(), Duration::from_secs(600));
        for grace in [Duration::ZERO, Duration::from_secs(599), Duration::from_millis(599_999)] {
            let err = ring.rotate(SigningKey::generate("b").unwrap(), grace).unwrap_err();
            match &err {
                KeyError::GraceTooShort { grace: got, min } => {
                    assert_eq!((*got, *min), (grace, Duration::from_secs(600)));
                }
                other => panic!("{other:?}"),
            }
            assert!(err.to_string().contains("shorter than 600 s"), "{err}");
            assert_eq!(ring.active().key_id(), "a", "the current key stays active");
            assert_eq!(kids(&ring), ["a"]);
        }
        let err = ring
            .rotate(SigningKey::generate("b").unwrap(), Duration::ZERO)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the grace period of 0 s is shorter than 600 s, the token lifetime: tokens signed by the old key would \
             stop verifying before they expire; keep the old key published for at least 600 s \
             (KeyRing::rotate_unchecked forces a shorter grace)"
        );
        ring.rotate(SigningKey::generate("b").unwrap(), Duration::from_secs(600))
            .unwrap();
        assert_eq!(kids(&ring), ["b", "a"]);
    }

    #[test]
    fn a_published_key_id_is_refused() {
        let ring = KeyRing::new(SigningKey::generate("a").unwrap());
        let grace = Duration::from_secs(600);
        let err = ring.rotate(SigningKey::generate("a").unwrap(), grace).unwrap_err();
        assert!(
            matches!(&err, KeyError::SameKeyId { key_id } if key_id == "a"),
            "{err:?}"
        );
        assert!(err.to_string().contains("keyID \"a\""), "{err}");
        ring.rotate(SigningKey::generate("b").unwrap(), grace).unwrap();
        // "a" is still published (in its grace period): reusing it is refused too.
        let before = ring.jwks();
        let err = ring.rotate(SigningKey::generate("a").unwrap(), grace).unwrap_err();
        assert!(
            matches!(&err, KeyError::SameKeyId { key_id } if key_id == "a"),
            "{err:?}"
        );
        assert_eq!(ring.jwks(), before, "nothing changed");
        assert_eq!(ring.active().key_id(), "b");
    }

    #[test]
    fn rotate_unchecked_forces_both() {
        let clock = crate::clock::ManualClock::at_unix(1000);
        let ring = KeyRing::with_clock(SigningKey::generate("a").unwrap(), clock.clone());
        let replacement = SigningKey::generate("a").unwrap();
        let replacement_x = replacement.public_jwk().x;
        ring.rotate_unchecked(replacement, Duration::ZERO);
        let jwks = ring.jwks();
        assert_eq!(jwks.keys.len(), 1);
        assert_eq!(jwks.keys[0].x, replacement_x, "the key under \"a\" was replaced");
        ring.rotate_unchecked(SigningKey::generate("b").unwrap(), Duration::from_secs(1));
        assert_eq!(kids(&ring), ["b", "a"]);
        clock.advance(Duration::from_secs(1));
        assert_eq!(kids(&ring), ["b"]);
    }

    #[test]
    fn a_refused_reload_keeps_the_current_key() {
        let dir = std::env::temp_dir().join(format!("ring-reload-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key.pem");
        std::fs::write(&path, SigningKey::generate("x").unwrap().to_sec1_pem()).unwrap();
        let ring = KeyRing::new(SigningKey::generate("k1").unwrap());
        let err = ring
            .reload_from_file("k1", &path, Duration::from_secs(600))
            .unwrap_err();
        assert!(matches!(err, KeyError::SameKeyId { .. }), "{err:?}");
        let err = ring.reload_from_file("k2", &path, Duration::from_secs(1)).unwrap_err();
        assert!(matches!(err, KeyError::GraceTooShort { .. }), "{err:?}");
        assert_eq!(kids(&ring), ["k1"]);
        ring.reload_from_file("k2", &path, Duration::from_secs(600)).unwrap();
        assert_eq!(kids(&ring), ["k2", "k1"]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
