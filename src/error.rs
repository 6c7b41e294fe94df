//! Configuration errors: everything that can be wrong before the first request.
//!
//! Most settings are typed and cannot be wrong. The few that need real validation (the
//! issuer's appID, TTL, skew, extra claims and cache, the ephemeral secret, a path
//! template) return a [`ConfigError`] that carries the offending value, so that a bad
//! configuration fails at start-up with a message that says what to fix, never on the
//! first request. Keys fail with a [`KeyError`](crate::KeyError).

use crate::keys::KeyError;

/// A configuration mistake, found at start-up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The signing key could not be loaded.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A secret is too short to be a secret.
    #[error("the secret is {len} bytes; use at least {min} random bytes (e.g. `openssl rand -hex 32`)")]
    WeakSecret {
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// A duration is out of range.
    #[error("{what} must be {expected}, got {got:?}")]
    InvalidDuration {
        /// Which setting.
        what: &'static str,
        /// What it must be.
        expected: &'static str,
        /// What was given.
        got: std::time::Duration,
    },
    /// An extra claim would overwrite one of the claims callstats requires.
    #[error("extra claim {name:?} would overwrite a reserved claim (userID, appID, keyID, iat, nbf, exp, jti, confID)")]
    ReservedClaim {
        /// The claim name.
        name: String,
    },
    /// A string setting is not acceptable (empty, control characters, ...).
    #[error("{what} {value:?} is invalid: {reason}")]
    InvalidValue {
        /// Which setting.
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A path template such as `/rooms/{room}` is malformed.
    #[error("path template {template:?} is invalid: {reason}")]
    InvalidPathTemplate {
        /// The template.
        template: String,
        /// What is wrong with it.
        reason: String,
    },
}
