//! The callstats token: claims and signing.

mod claims;
mod issued;
mod issuer;

pub use claims::Claims;
pub(crate) use claims::RESERVED_CLAIMS;
pub use issued::IssuedToken;
pub use issuer::{TokenIssuer, TokenIssuerBuilder};
