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
//! let pem = key.to_pkcs8_pem(); // a Zeroizing<String>: wiped from memory when dropped
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
//!
//! # Secrets in memory
//!
//! Copies of the private key that the crate makes are wiped when they drop: the PEM
//! text read by [`SigningKey::from_pem_file`], the DER decoded from it, and the PEM
//! that [`SigningKey::to_pkcs8_pem`] and [`SigningKey::to_sec1_pem`] return (a
//! [`Zeroizing`]`<String>`). What the crate cannot wipe: the PEM you pass to
//! [`SigningKey::from_pem`] (wipe your own copy), buffers the `pem` crate uses while it
//! decodes, and aws-lc's copy of the key, which lives in its key object and is freed by
//! aws-lc when the [`SigningKey`] drops.

mod pem;
mod ring;
mod signing_key;

pub use pem::KeyError;
pub use ring::{DEFAULT_MIN_GRACE, KeyRing};
pub use signing_key::{SignError, SigningKey};
/// The wrapper that wipes a secret from memory when it drops (from the `zeroize`
/// crate), returned by [`SigningKey::to_pkcs8_pem`] and [`SigningKey::to_sec1_pem`].
pub use zeroize::Zeroizing;
