//! The callstats token: claims and signing.

mod claims;
mod issued;
mod issuer;

pub use claims::{Claims, RESERVED_CLAIMS};
pub use issued::IssuedToken;
pub use issuer::{DEFAULT_FORCE_NEW_INTERVAL, TokenIssuer, TokenIssuerBuilder};
