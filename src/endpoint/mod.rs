//! The token endpoint that callstats.js' `tokenGenerator` calls.
//!
//! [`TokenEndpoint`], from [`Callstats::endpoint`](crate::Callstats::endpoint), is a
//! `tower::Service` for `POST /getToken` (mount it with axum's `route_service`, or call
//! it from a hyper service). It shares the identity, the userID strategy and the
//! conferenceServerID with the page's layer, so the token always carries the userID the
//! page initialised callstats.js with.
//!
//! | request | response |
//! | --- | --- |
//! | `POST`, logged in | `200 {"token", "userID", "localUserID", "conferenceID"?, "expiresAt", "issuedAt", "appID", "keyID", "conferenceServerID"?}` |
//! | `POST`, no session | `403 {"error":"User not logged in"}` (the body of callstats' reference endpoint, byte for byte) |
//! | any other method | `405` with `Allow: POST` |
//! | body over the limit (default 4 KiB) | `413` |
//! | body that is not JSON or a form | `415` |
//! | malformed body, invalid conferenceID | `400` |
//! | signing failure | `500` |
//!
//! The body is optional. As JSON (`application/json`) or a form
//! (`application/x-www-form-urlencoded`) it may carry `conferenceID` (a string) and
//! `forceNew` (a boolean: sign a new token instead of reusing the cached one). Any
//! other field, `userID` and `username` included, is ignored: the identity only ever
//! comes from the session.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{Router, body::Body};
//! use http::Request;
//! use http_body_util::BodyExt;
//! use tower::ServiceExt;
//! use tower_callstats::{Callstats, Identity, SigningKey, TokenIssuer};
//!
//! let issuer = TokenIssuer::builder("my-app", SigningKey::generate("key-1").unwrap()).build().unwrap();
//! let app = Router::new().route_service("/getToken", Callstats::new(issuer).endpoint());
//!
//! let mut request = Request::post("/getToken")
//!     .header("content-type", "application/json")
//!     .body(Body::from(r#"{"conferenceID": "インターネット"}"#))
//!     .unwrap();
//! request.extensions_mut().insert(Identity::new("alice"));
//! let response = app.clone().oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["cache-control"], "no-store");
//! let body: serde_json::Value = serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
//! assert_eq!(body["userID"], "alice");
//! assert_eq!(body["conferenceID"], "インターネット");
//!
//! let anonymous = Request::post("/getToken").body(Body::empty()).unwrap();
//! let response = app.oneshot(anonymous).await.unwrap();
//! assert_eq!(response.status(), 403);
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(body, r#"{"error":"User not logged in"}"#);
//! # }
//! ```

mod origin;
mod request;
mod service;

pub use service::TokenEndpoint;

/// The longest `Referer` the endpoint reads, in bytes.
pub const MAX_REFERER_BYTES: usize = 4096;

/// The default body limit, in bytes: a token request needs a few dozen.
pub const DEFAULT_BODY_LIMIT: usize = 4096;
