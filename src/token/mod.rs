//! The callstats token: claims, signing, and the token cache.
//!
//! A callstats third-party-authentication token ([callstats' JWT documentation]) is a
//! compact JWS signed with ES256:
//!
//! - header: `{"alg":"ES256","typ":"JWT","kid":keyID}`
//! - claims: `userID`, `appID` (always a JSON string), `keyID`, `iat`, `nbf` (now minus
//!   a skew, default 300 s), `exp` (now plus a TTL, default 300 s), `jti` (128 random
//!   bits, for audit logs); `confID` only if you opt in; extra claims if you add them.
//!
//! [`TokenIssuer`] signs with a key parsed once ([`KeyRing`](crate::KeyRing)) and, by
//! default, caches tokens per (userID, conferenceID, signing key) until less than a
//! third of their life is left. Extra claims are fixed per issuer and every issuer has
//! its own cache, so a cached token always carries the issuer's current claims.
//!
//! ```
//! use std::time::Duration;
//! use tower_callstats::{ConferenceId, SigningKey, TokenIssuer, UserId, clock::ManualClock};
//!
//! let clock = ManualClock::at_unix(1_700_000_000);
//! let issuer = TokenIssuer::builder("12345", SigningKey::generate("key-1").unwrap())
//!     .ttl(Duration::from_secs(600))
//!     .clock(clock.clone())
//!     .build()
//!     .unwrap();
//!
//! let token = issuer.issue(&UserId::new("alice").unwrap(), Some(&ConferenceId::new("room-1").unwrap())).unwrap();
//! let claims = token.claims();
//! assert_eq!(claims.user_id, "alice");
//! assert_eq!(claims.app_id, "12345"); // a string, even though it looks numeric
//! assert_eq!(claims.key_id, "key-1");
//! assert_eq!((claims.iat, claims.nbf, claims.exp), (1_700_000_000, 1_700_000_000 - 300, 1_700_000_600));
//! assert_eq!(claims.jti.len(), 32); // 128 bits, hex
//! assert_eq!(token.jwt().split('.').count(), 3);
//! ```
//!
//! [callstats' JWT documentation]: https://docs.callstats.io/docs/third-party-authenitcation

mod cache;
mod claims;
mod issued;
mod issuer;

pub use claims::{Claims, RESERVED_CLAIMS};
pub use issued::IssuedToken;
pub use issuer::{DEFAULT_FORCE_NEW_INTERVAL, TokenIssuer, TokenIssuerBuilder};
