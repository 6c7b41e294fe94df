//! `GET /.well-known/jwks.json`: the public keys of a [`KeyRing`] as a JWK Set.
//!
//! Serve it so that verifiers (your own tests, a callstats-compatible auth server,
//! the `callstats-token verify` tool) find the key a token's `kid` names, including
//! keys that were rotated out but are still in their grace period.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use axum::{Router, body::Body};
//! use http::Request;
//! use http_body_util::BodyExt;
//! use tower::ServiceExt;
//! use tower_callstats::{KeyRing, SigningKey, jwks::JwksService};
//!
//! let ring = KeyRing::new(SigningKey::generate("key-1").unwrap());
//! let app = Router::new().route_service("/.well-known/jwks.json", JwksService::new(ring));
//! let response = app.oneshot(Request::get("/.well-known/jwks.json").body(Body::empty()).unwrap()).await.unwrap();
//! let jwks: serde_json::Value = serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
//! assert_eq!(jwks["keys"][0]["kid"], "key-1");
//! assert_eq!(jwks["keys"][0]["crv"], "P-256");
//! # }
//! ```

mod jwk;

use std::{
    convert::Infallible,
    future::{Ready, ready},
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
pub use jwk::{Jwk, JwkSet};
use tower_service::Service;

use crate::{keys::KeyRing, rejection::Rejection};

/// Serves the JWK Set of a key ring (`GET` and `HEAD`). Cloning is cheap.
#[derive(Debug, Clone)]
pub struct JwksService {
    keys: KeyRing,
}

impl JwksService {
    /// Serves the public keys of `keys`, as they are at each request.
    pub fn new(keys: KeyRing) -> Self {
        Self { keys }
    }
}

impl<B> Service<Request<B>> for JwksService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            let mut response = Rejection::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "use GET")
                .to_json_response()
                .map(Full::new);
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return ready(Ok(response));
        }
        let body = serde_json::to_vec(&self.keys.jwks()).unwrap_or_default();
        let mut response = Response::new(Full::new(Bytes::from(body)));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/jwk-set+json"),
        );
        // Public data; short-lived so that rotations show up quickly.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60"));
        ready(Ok(response))
    }
}
