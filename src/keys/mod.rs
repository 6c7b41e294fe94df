//! ES256 signing keys, parsed once at start-up, and the key ring that rotates them.

mod pem;
mod ring;
mod signing_key;

pub use pem::KeyError;
pub use ring::KeyRing;
pub use signing_key::{SignError, SigningKey};
