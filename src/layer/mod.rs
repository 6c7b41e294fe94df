//! The tower middleware: [`CallstatsLayer`] and [`CallstatsService`], made by
//! [`Callstats::layer`](crate::Callstats::layer).
//!
//! For every request that the app's own authentication has authenticated (see
//! [`GetIdentity`](crate::identity::GetIdentity)), the layer
//!
//! 1. derives the userID ([`UserIdStrategy`](crate::UserIdStrategy)) and, if the route
//!    has a source for it, the conferenceID ([`ConferenceIdSource`](crate::ConferenceIdSource)),
//! 2. issues a token (or reuses a cached one),
//! 3. puts a [`CallstatsContext`](crate::CallstatsContext) into the request extensions
//!    for the handler, and
//! 4. adds [`TOKEN_HEADER`], [`USER_ID_HEADER`] and [`CONFERENCE_ID_HEADER`] to the
//!    response if it is not a 4xx or 5xx (IDs percent-encoded like
//!    `encodeURIComponent`; the token header marked sensitive, so header logging shows
//!    `Sensitive`), with `Cache-Control: no-store` unless the app already chose
//!    `private` or `no-store`, and `Vary` ([`Callstats::vary`](crate::Callstats::vary)).
//!
//! Requests without an identity pass through untouched (or get a 401 with
//! [`CallstatsLayer::require_authentication`]). Invalid IDs get a 400 JSON error and no
//! token; a signing failure a 500.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{Extension, Router, body::Body, routing::get};
//! use http::Request;
//! use tower::ServiceExt;
//! use tower_callstats::{Callstats, CallstatsContext, ConferenceIdSource, Identity, SigningKey, TokenIssuer};
//!
//! let issuer = TokenIssuer::builder("my-app", SigningKey::generate("key-1").unwrap()).build().unwrap();
//! let layer = Callstats::new(issuer).conference_id(ConferenceIdSource::route_param("room")).layer();
//!
//! let app = Router::new()
//!     .route("/rooms/{room}", get(|Extension(cs): Extension<CallstatsContext>| async move {
//!         format!("{} joins {}", cs.user_id(), cs.conference_id().unwrap())
//!     }))
//!     .route_layer(layer);
//!
//! // The app's session layer would insert the identity; here the test does.
//! let mut request = Request::get("/rooms/%D0%B8%D0%BD").body(Body::empty()).unwrap();
//! request.extensions_mut().insert(Identity::new("alice"));
//! let response = app.oneshot(request).await.unwrap();
//!
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["x-callstats-user-id"], "alice");
//! assert_eq!(response.headers()["x-callstats-conference-id"], "%D0%B8%D0%BD");
//! assert_eq!(response.headers()["cache-control"], "no-store");
//! assert_eq!(response.headers()["x-callstats-token"].to_str().unwrap().split('.').count(), 3);
//! # }
//! ```

mod body;
mod future;
#[allow(clippy::module_inception)]
mod layer;
mod service;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use layer::{CONFERENCE_ID_HEADER, CallstatsLayer, TOKEN_HEADER, USER_ID_HEADER};
pub use service::CallstatsService;
