//! The tower middleware: [`CallstatsLayer`] and [`CallstatsService`], made by
//! [`Callstats::layer`](crate::Callstats::layer).
//!
//! For every request, the layer makes the [decision of
//! `Callstats`](crate#the-steps-of-a-request) (user, userID, room, the app's
//! hook, the call, the token) and, when the request has a logged-in user who may join
//! the room,
//!
//! 1. puts a [`CallstatsContext`](crate::CallstatsContext) into the request extensions
//!    for the handler, and
//! 2. adds [`TOKEN_HEADER`], [`USER_ID_HEADER`] and [`CONFERENCE_ID_HEADER`] to the
//!    response if it is a 2xx (IDs percent-encoded like `encodeURIComponent`; the token
//!    header marked sensitive, so header logging shows `Sensitive`), with
//!    `Cache-Control: no-store` and `Vary` ([`Callstats::vary`](crate::Callstats::vary)).
//!
//! Requests without a logged-in user pass through untouched (or get
//! `401 unauthenticated` with [`CallstatsLayer::require_authentication`]). A refused
//! request gets the [`Rejection`](crate::Rejection)'s response and never reaches the
//! handler.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{Router, body::Body, routing::get};
//! use http::Request;
//! use tower::ServiceExt;
//! use tower_callstats::{AppUser, Callstats, CallstatsContext, RoomSource, SigningKey, TokenIssuer};
//!
//! let issuer = TokenIssuer::builder("my-app", SigningKey::generate("key-1").unwrap()).build().unwrap();
//! let layer = Callstats::new(issuer).room(RoomSource::path("/rooms/{room}", "room").unwrap()).layer();
//!
//! let app = Router::new()
//!     .route("/rooms/{room}", get(|cs: CallstatsContext| async move {
//!         format!("{} joins {}", cs.user_id(), cs.conference_id().unwrap())
//!     }))
//!     .route_layer(layer);
//!
//! // The app's session layer would insert the user; here the test does.
//! let mut request = Request::get("/rooms/%D0%B8%D0%BD").body(Body::empty()).unwrap();
//! request.extensions_mut().insert(AppUser::new("alice"));
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
