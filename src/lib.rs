//! # tower-callstats
//!
//! Hand every authenticated user of a WebRTC app a correctly formed, signed
//! [callstats.io](https://www.callstats.io) token (userID, conferenceID, ES256 JWT),
//! from a tower layer that sits in your existing axum or hyper stack.
//!
//! One [`Callstats`] configuration makes the three services an app mounts, so that
//! they cannot disagree: the page's middleware ([`Callstats::layer`]), the token
//! endpoint that callstats.js' `tokenGenerator` calls ([`Callstats::endpoint`]), and the
//! public keys ([`Callstats::jwks`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{Router, body::Body, routing::get};
//! use tower::ServiceExt;
//! use tower_callstats::{
//!     Callstats, CallstatsContext, ConferenceIdSource, Identity, SigningKey, TokenIssuer, UserIdStrategy,
//! };
//!
//! // At start-up: the key from callstats' dashboard (here a fresh one), parsed once.
//! let key = SigningKey::generate("my-key-id").unwrap(); // or SigningKey::from_pem_file("my-key-id", "key.pem")
//! let issuer = TokenIssuer::builder("my-app-id", key).build().unwrap();
//! let callstats = Callstats::new(issuer)
//!     .user_id(UserIdStrategy::sha1("example.com").unwrap())
//!     .conference_id(ConferenceIdSource::route_param("room"));
//!
//! let app = Router::new()
//!     .route("/rooms/{room}", get(|cs: CallstatsContext| async move {
//!         format!("callstats.initialize({:?}, tokenGenerator, {:?})", cs.app_id(), cs.user_id().as_str())
//!     }))
//!     .route_layer(callstats.layer())
//!     .route_service("/getToken", callstats.endpoint())
//!     .route_service("/.well-known/jwks.json", callstats.jwks());
//!
//! // Your session layer inserts the identity of the logged-in user:
//! let mut request = http::Request::get("/rooms/42").body(Body::empty()).unwrap();
//! request.extensions_mut().insert(Identity::new("alice"));
//! let response = app.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert!(response.headers().contains_key("x-callstats-token"));
//! # }
//! ```
//!
//! The pieces, one module each:
//!
//! - [`id`]: the identifiers, [`UserId`] and [`ConferenceId`]: UTF-8, case-sensitive,
//!   1 to 256 **bytes**, byte-exact.
//! - [`identity`]: where the authenticated user comes from ([`GetIdentity`]; your own
//!   auth decides, the crate never authenticates anybody).
//! - [`user_id`]: how the userID is derived: raw, SHA1 of `username@domain`,
//!   ephemeral (keyed hash of the session), object form, or a closure.
//! - [`conference`]: where the conferenceID comes from: a route parameter, the URL, a
//!   query parameter, a header, generated, SHA1 of any of these, or a closure.
//! - [`keys`]: P-256 keys from PEM (SEC1 or PKCS8), parsed once; a [`KeyRing`] for
//!   rotation.
//! - [`token`]: the claims and the [`TokenIssuer`], with its token cache.
//! - [`layer`], [`endpoint`], [`jwks`]: the services [`Callstats`] makes.
//! - [`audit`]: one event per token issued, reused, rejected or failed.
//! - [`clock`]: an injectable clock for tests.
#![deny(missing_docs)]
#![deny(unreachable_pub)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod audit;
pub mod authorize;
pub mod calls;
mod callstats;
pub mod clock;
pub mod conference;
mod context;
mod encoding;
pub mod endpoint;
mod error;
pub mod id;
pub mod identity;
pub mod jwks;
pub mod keys;
pub mod layer;
#[cfg(feature = "metrics")]
pub mod metrics;
mod prepared;
mod rejection;
mod response;
pub mod token;
pub mod user_id;

pub use callstats::Callstats;
pub use conference::ConferenceIdSource;
pub use context::CallstatsContext;
pub use endpoint::TokenEndpoint;
pub use error::ConfigError;
pub use id::{ConferenceId, IdError, UserId};
pub use identity::{GetIdentity, Identity};
pub use jwks::JwksService;
pub use keys::{KeyError, KeyRing, SigningKey};
pub use layer::{CallstatsLayer, CallstatsService};
pub use token::{Claims, IssuedToken, TokenIssuer};
pub use user_id::{CallstatsUser, UserIdStrategy};

#[cfg(test)]
mod send_sync {
    use super::*;

    fn assert_send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<Callstats>();
        assert_send_sync::<CallstatsLayer>();
        assert_send_sync::<CallstatsService<tower_layer::Identity>>();
        assert_send_sync::<TokenEndpoint>();
        assert_send_sync::<TokenIssuer>();
        assert_send_sync::<JwksService>();
        assert_send_sync::<KeyRing>();
        assert_send_sync::<SigningKey>();
        assert_send_sync::<CallstatsContext>();
        assert_send_sync::<ConfigError>();
    }
}

/// The README's Rust examples compile as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
