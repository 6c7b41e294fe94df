//! The token endpoint that callstats.js' `tokenGenerator` calls.
//!
//! [`TokenEndpoint`], from [`Callstats::endpoint`](crate::Callstats::endpoint), is a
//! `tower::Service` for `POST /getToken` (mount it with axum's `route_service`, or call
//! it from a hyper service). It makes the same [decision](crate::Callstats) as the
//! page's layer, from the same configuration, so the token always carries the userID
//! the page initialised callstats.js with, for the room the page is for.
//!
//! | request | response |
//! | --- | --- |
//! | `POST`, logged in, allowed in the room | `200 {"token", "userID", "localUserID", "conferenceID"?, "callStartedAt"?, "expiresAt", "issuedAt", "appID", "keyID", "conferenceServerID"?}`, `no-store` |
//! | `POST`, no logged-in user | `403 {"code":"not_logged_in","error":"User not logged in"}` (the message of callstats' reference endpoint) |
//! | a room source is set and the request names no room (no `Referer`) | `400 conference_required` |
//! | the app's hook says no | `403 conference_forbidden` |
//! | another site's page | `403 cross_site_request` |
//! | any other method | `405 method_not_allowed` with `Allow: POST` |
//! | body over the limit (default 4 KiB) | `413 body_too_large` |
//! | body that is not JSON or a form | `415 unsupported_media_type` |
//! | malformed body, invalid room or `Referer` | `400` |
//! | signing failure | `500 signing_failed` |
//!
//! The room comes from the page that asks: the request's `Referer` (callstats.js'
//! `tokenGenerator` runs on the room's page, and a browser sends the page's URL with a
//! same-origin request), read with the [`RoomSource`](crate::RoomSource) set on
//! [`Callstats::room`](crate::Callstats::room), so the page and its token requests agree
//! on the room without a second configuration. The body is optional. As JSON
//! (`application/json`) or a form (`application/x-www-form-urlencoded`) it may carry
//! `forceNew` (a boolean: sign a new token instead of the cached one), and
//! `conferenceID`, which is read only with
//! [`TokenEndpoint::room_from_body`]. Any other field, `userID` and `username` included,
//! is ignored: the user only ever comes from the session.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{Router, body::Body};
//! use http::Request;
//! use http_body_util::BodyExt;
//! use tower::ServiceExt;
//! use tower_callstats::{AppUser, Callstats, RoomSource, SigningKey, TokenIssuer};
//!
//! let issuer = TokenIssuer::builder("my-app", SigningKey::generate("key-1").unwrap()).build().unwrap();
//! let callstats = Callstats::new(issuer).room(RoomSource::path("/rooms/{room}", "room").unwrap());
//! let app = Router::new().route_service("/getToken", callstats.endpoint());
//!
//! let request = |referer: Option<&str>| {
//!     let mut request = Request::post("/getToken");
//!     if let Some(referer) = referer {
//!         request = request.header("referer", referer);
//!     }
//!     let mut request = request.body(Body::empty()).unwrap();
//!     request.extensions_mut().insert(AppUser::new("alice"));
//!     request
//! };
//! let response = app.clone().oneshot(request(Some("https://meet.example.com/rooms/%E3%82%A4"))).await.unwrap();
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["cache-control"], "no-store");
//! let body: serde_json::Value = serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
//! assert_eq!(body["userID"], "alice");
//! assert_eq!(body["conferenceID"], "イ");
//!
//! // No page, no room: no token.
//! let response = app.clone().oneshot(request(None)).await.unwrap();
//! assert_eq!(response.status(), 400);
//!
//! let anonymous = Request::post("/getToken").body(Body::empty()).unwrap();
//! let response = app.oneshot(anonymous).await.unwrap();
//! assert_eq!(response.status(), 403);
//! let body = response.into_body().collect().await.unwrap().to_bytes();
//! assert_eq!(body, r#"{"code":"not_logged_in","error":"User not logged in"}"#);
//! # }
//! ```

mod origin;
mod request;
mod service;

pub use service::TokenEndpoint;

/// The default body limit, in bytes: a token request needs a few dozen.
pub(crate) const DEFAULT_BODY_LIMIT: usize = 4096;
