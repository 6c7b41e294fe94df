//! Configuration errors: everything that can be wrong before the first request.
//!
//! Every builder validates its input and returns a [`ConfigError`] that carries the
//! offending value, so that a bad key, header name or duration fails at start-up with
//! a message that says what to fix, never on the first request.

use crate::{id::IdError, keys::KeyError};

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
    /// A header name is not a valid HTTP header name.
    #[error("{name:?} is not a valid HTTP header name")]
    InvalidHeaderName {
        /// The name given.
        name: String,
        /// Why `http` rejected it.
        #[source]
        source: http::header::InvalidHeaderName,
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
    /// A configured identifier (e.g. the conferenceServerID) is invalid.
    #[error("invalid {kind}: {0}", kind = .0.kind())]
    InvalidId(#[from] IdError),
    /// A path template such as `/rooms/{room}` is malformed.
    #[error("path template {template:?} is invalid: {reason}")]
    InvalidPathTemplate {
        /// The template.
        template: String,
        /// What is wrong with it.
        reason: String,
    },
}
