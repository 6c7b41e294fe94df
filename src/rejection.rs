//! Runtime rejections: what a request gets when the crate refuses it.
//!
//! Every rejection is a JSON body `{"error": "<what failed and how to fix it>",
//! "code": "<stable machine-readable code>"}` with a matching status and
//! `Cache-Control: no-store`. The one exception is the token endpoint's answer to a
//! request without a session, which is exactly the body of the reference endpoint in
//! callstats' documentation: `403 {"error":"User not logged in"}`.

use std::borrow::Cow;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;

use crate::{conference::ConferenceError, response, user_id::DeriveError};

/// A refused request: status, stable code, human message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rejection {
    status: StatusCode,
    code: Option<&'static str>,
    message: Cow<'static, str>,
}

impl Rejection {
    /// A rejection with a status, a stable code and a message.
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            code: Some(code),
            message: message.into(),
        }
    }

    /// `400` with a code.
    pub(crate) fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// `403 {"error":"User not logged in"}`, exactly as callstats' reference endpoint.
    pub(crate) fn not_logged_in() -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: None,
            message: "User not logged in".into(),
        }
    }

    /// `401`: the route requires a session and the request has none.
    pub(crate) fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "this route needs a logged-in user",
        )
    }

    /// `403`: the [`Authorize`](crate::authorize::Authorize) hook denied the token.
    pub(crate) fn conference_forbidden(conference: Option<&crate::ConferenceId>) -> Self {
        let message = match conference {
            Some(conference) => format!("this user may not get a token for the conference {conference:?}"),
            None => "this user may not get a token here".to_owned(),
        };
        Self::new(StatusCode::FORBIDDEN, "conference_forbidden", message)
    }

    /// `403`: a cross-site or cross-origin request to the token endpoint.
    pub(crate) fn cross_site(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "cross_site_request", message)
    }

    /// `500`: signing failed. The message says nothing about the key.
    pub(crate) fn signing_failed() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "signing_failed",
            "the server could not sign a callstats token",
        )
    }

    /// `500`: a handler wants the context where the layer did not run.
    #[cfg(feature = "axum")]
    pub(crate) fn missing_context() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "misconfigured",
            "the server is misconfigured: this route expects the callstats layer",
        )
    }

    /// The message.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    /// The rejection as an HTTP response.
    pub(crate) fn response(self) -> Response<Full<Bytes>> {
        let body = match self.code {
            Some(code) => serde_json::json!({"error": self.message, "code": code}),
            None => serde_json::json!({"error": self.message}),
        };
        response::json(self.status, body.to_string())
    }
}

impl From<DeriveError> for Rejection {
    fn from(error: DeriveError) -> Self {
        match error {
            DeriveError::Invalid(e) => Self::bad_request("invalid_user_id", e.to_string()),
            other => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "misconfigured", other.to_string()),
        }
    }
}

impl From<ConferenceError> for Rejection {
    fn from(error: ConferenceError) -> Self {
        if let ConferenceError::Registry(_) = error {
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "call_registry_unavailable",
                format!("{error}; try again shortly"),
            );
        }
        if error.is_server_error() {
            return Self::new(StatusCode::INTERNAL_SERVER_ERROR, "misconfigured", error.to_string());
        }
        Self::bad_request("invalid_conference_id", error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn rejections_are_json_with_a_code_and_no_store() {
        let response = Rejection::bad_request("invalid_body", "say \"why\"").response();
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], br#"{"code":"invalid_body","error":"say \"why\""}"#);

        let body = Rejection::not_logged_in()
            .response()
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(&body[..], br#"{"error":"User not logged in"}"#);
    }
}
