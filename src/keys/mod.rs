//! ES256 signing keys, parsed once at start-up, and the key ring that rotates them.
//!
//! callstats verifies tokens with the public half of a P-256 key that you upload to
//! its dashboard; it answers with a keyID. [`SigningKey`] pairs the private key with
//! that keyID. Both PEM forms people actually have load:
//!
//! - SEC1, `-----BEGIN EC PRIVATE KEY-----`, from the docs' command
//!   `openssl ecparam -name prime256v1 -genkey -noout -out callstats-key.pem`;
//! - PKCS8, `-----BEGIN PRIVATE KEY-----`, from `openssl genpkey -algorithm EC
//!   -pkeyopt ec_paramgen_curve:P-256` or [`SigningKey::to_pkcs8_pem`].
//!
//! Anything else (an RSA key, another curve, an encrypted key, a public key, garbage)
//! fails with a [`KeyError`] that says what was found and what is expected.
//!
//! ```
//! use tower_callstats::{KeyError, SigningKey};
//!
//! let key = SigningKey::generate("my-key-id").unwrap();
//! let pem = key.to_pkcs8_pem();
//! let again = SigningKey::from_pem("my-key-id", &pem).unwrap();
//! assert_eq!(again.public_key_pem(), key.public_key_pem());
//!
//! // Debug output never shows the private key.
//! assert!(!format!("{key:?}").contains("PRIVATE"));
//!
//! let err = SigningKey::from_pem("k", "not a key").unwrap_err();
//! assert!(matches!(err, KeyError::NoPem { .. }));
//! assert!(err.to_string().contains("openssl ecparam -name prime256v1 -genkey -noout"));
//! ```
//!
//! The keys of a running server live in a [`KeyRing`]: the active key that signs, and
//! the keys rotated out that stay published for a grace period.

mod pem;
mod ring;
mod signing_key;

pub use pem::KeyError;
pub use ring::KeyRing;
pub use signing_key::{SignError, SigningKey};
