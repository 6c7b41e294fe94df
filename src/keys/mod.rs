//! ES256 signing keys, parsed once at start-up, and the key ring that rotates them.

mod pem;
mod ring;
mod signing_key;

pub use pem::KeyError;
pub use ring::{DEFAULT_MIN_GRACE, KeyRing};
pub use signing_key::{SignError, SigningKey};
/// The wrapper that wipes a secret from memory when it drops (from the `zeroize`
/// crate), returned by [`SigningKey::to_pkcs8_pem`] and [`SigningKey::to_sec1_pem`].
pub use zeroize::Zeroizing;
