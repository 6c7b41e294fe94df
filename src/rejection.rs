//! Runtime rejections: what a request gets when the crate refuses it.
//!
//! Every rejection is a JSON body `{"error": "<what failed and how to fix it>",
//! "code": "<stable machine-readable code>"}` with a matching status, and
//! `Cache-Control: no-store`. The one exception is the token endpoint's answer to a
//! request without a session, which is exactly the body callstats' docs use:
//! `403 {"error":"User not logged in"}`.

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

use crate::{conference::ConferenceError, user_id::DeriveError};

/// A refused request: status, stable code, human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    status: StatusCode,
    code: Option<&'static str>,
    message: Cow<'static, str>,
}

impl Rejection {
    /// A rejection with a status, a stable code and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            code: Some(code),
            message: message.into(),
        }
    }

    /// `403 {"error":"User not logged in"}`, exactly as callstats' docs.
    pub fn not_logged_in() -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: None,
            message: "User not logged in".into(),
        }
    }

    /// `401`: the route requires a session and the request has none.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "this route needs a logged-in user",
        )
    }

    /// `500`: signing failed. The message says nothing about the key.
    pub fn signing_failed() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "signing_failed",
            "the server could not sign a callstats token",
        )
    }

    #[cfg(feature = "axum")]
    pub(crate) fn missing_context() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "misconfigured",
            "the server is misconfigured: this route expects the callstats layer",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code (`invalid_user_id`, `invalid_conference_id`, ...), `None` for
    /// the docs-compatible 403.
    pub fn code(&self) -> Option<&'static str> {
        self.code
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The rejection as an HTTP response.
    pub fn into_response(self) -> Response<Full<Bytes>> {
        let body = match self.code {
            Some(code) => serde_json::json!({"error": self.message, "code": code}),
            None => serde_json::json!({"error": self.message}),
        };
        let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}

impl From<DeriveError> for Rejection {
    fn from(error: DeriveError) -> Self {
        match error {
            DeriveError::Invalid(e) => Self::new(StatusCode::BAD_REQUEST, "invalid_user_id", e.to_string()),
            other => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "misconfigured", other.to_string()),
        }
    }
}

impl From<ConferenceError> for Rejection {
    fn from(error: ConferenceError) -> Self {
        if error.is_server_error() {
            return Self::new(StatusCode::INTERNAL_SERVER_ERROR, "misconfigured", error.to_string());
        }
        Self::new(StatusCode::BAD_REQUEST, "invalid_conference_id", error.to_string())
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for Rejection {}
