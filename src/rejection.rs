//! [`Rejection`]: why the crate refused a request, and the response it becomes.

use std::{borrow::Cow, fmt, sync::Arc};

use bytes::Bytes;
use http::{Response, StatusCode, header};

use crate::{id::IdError, response, user_id::DeriveError};

/// A refused request: a status, a stable machine-readable code, and a message that
/// says what failed and how to fix it. The layer and the token endpoint answer every
/// refusal with one: by default as `{"code": ..., "error": ...}` JSON with
/// `Cache-Control: no-store` ([`to_json_response`](Self::to_json_response)), or as the
/// app shapes it with [`Callstats::rejection`](crate::Callstats::rejection) (an HTML
/// page for a room page, say).
///
/// | status | code | when |
/// | --- | --- | --- |
/// | 400 | `invalid_user_id` | the derived userID breaks the identifier rules |
/// | 400 | `conference_required` | a room source is configured and the request names no room |
/// | 400 | `invalid_conference_id` | the room breaks the identifier rules |
/// | 400 | `invalid_referer`, `invalid_body`, `body_unreadable` | a token request that cannot be read |
/// | 401 | `unauthenticated` | no logged-in user, on a layer with `require_authentication` |
/// | 403 | `not_logged_in` | no logged-in user, on the token endpoint (message `User not logged in`, as callstats' reference endpoint) |
/// | 403 | `conference_forbidden` | the [`Authorize`](crate::Authorize) hook said no |
/// | 403 | `cross_site_request` | a token request from another site |
/// | 405 | `method_not_allowed` | a token request that is not a `POST` (with `Allow: POST`) |
/// | 413 | `body_too_large` | a token request's body over the limit |
/// | 415 | `unsupported_media_type` | a token request's body that is neither JSON nor a form |
/// | 500 | `signing_failed`, `misconfigured` | the server could not sign, or is set up wrongly |
/// | 503 | `call_registry_unavailable` | the call registry failed and the policy is [`FailurePolicy::Fail`](crate::calls::FailurePolicy::Fail) |
///
/// ```
/// use tower_callstats::RoomSource;
///
/// let (parts, _) = http::Request::get("/rooms/").body(()).unwrap().into_parts();
/// let rejection = RoomSource::path("/rooms/{room}", "room").unwrap().extract(&parts).unwrap_err();
/// assert_eq!(rejection.status(), 400);
/// assert_eq!(rejection.code(), "invalid_conference_id");
/// let response = rejection.to_json_response();
/// assert_eq!(response.headers()["cache-control"], "no-store");
/// assert!(response.body().starts_with(br#"{"code":"invalid_conference_id","error":"conferenceID is empty"#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    status: StatusCode,
    code: &'static str,
    message: Cow<'static, str>,
}

/// How the app turns a rejection into its response.
pub(crate) type Shape = Arc<dyn Fn(Rejection) -> Response<Bytes> + Send + Sync>;

impl Rejection {
    /// A rejection with a status, a stable code and a message.
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// `400` with a code.
    pub(crate) fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// `403 not_logged_in`, with callstats' reference message `User not logged in`.
    pub(crate) fn not_logged_in() -> Self {
        Self::new(StatusCode::FORBIDDEN, "not_logged_in", "User not logged in")
    }

    /// `401`: the route requires a logged-in user and the request has none.
    pub(crate) fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "this route needs a logged-in user",
        )
    }

    /// `400`: a room source is configured and the request names no room.
    pub(crate) fn conference_required(why: impl fmt::Display) -> Self {
        Self::bad_request(
            "conference_required",
            format!("the request names no room ({why}); a token is only issued for a room"),
        )
    }

    /// `403`: the [`Authorize`](crate::Authorize) hook denied the room the request
    /// asked for.
    pub(crate) fn conference_forbidden(room: Option<&str>) -> Self {
        let message = match room {
            Some(room) => format!("this user may not join the room {room:?}"),
            None => "this user may not get a token".to_owned(),
        };
        Self::new(StatusCode::FORBIDDEN, "conference_forbidden", message)
    }

    /// `403`: a cross-site or cross-origin token request.
    pub(crate) fn cross_site(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "cross_site_request", message)
    }

    /// `503`: the call registry failed and the policy says fail.
    pub(crate) fn registry_unavailable(error: impl fmt::Display) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "call_registry_unavailable",
            format!("{error}; try again shortly"),
        )
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

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable, machine-readable code (see the table above).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// What failed and how to fix it, for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The default response: `{"code": ..., "error": ...}` JSON with the status,
    /// `Content-Type: application/json` and `Cache-Control: no-store`.
    pub fn to_json_response(&self) -> Response<Bytes> {
        let body = serde_json::json!({"code": self.code, "error": self.message});
        response::json(self.status, body.to_string())
    }

    /// This rejection as the app shapes it, or as JSON.
    pub(crate) fn respond(self, shape: Option<&Shape>) -> Response<Bytes> {
        let allow_post = self.status == StatusCode::METHOD_NOT_ALLOWED;
        let mut response = match shape {
            Some(shape) => shape(self),
            None => self.to_json_response(),
        };
        if allow_post {
            response
                .headers_mut()
                .insert(header::ALLOW, http::HeaderValue::from_static("POST"));
        }
        response
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for Rejection {}

impl From<IdError> for Rejection {
    /// `400 invalid_user_id` for a userID (or its object form's names), else
    /// `400 invalid_conference_id`.
    fn from(error: IdError) -> Self {
        let code = match error.kind() {
            "userID" | "userName" | "aliasName" | "domain" => "invalid_user_id",
            _ => "invalid_conference_id",
        };
        Self::bad_request(code, error.to_string())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_are_json_with_a_code_and_no_store() {
        let response = Rejection::bad_request("invalid_body", "say \"why\"").to_json_response();
        assert_eq!(response.status(), 400);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(
            &response.body()[..],
            br#"{"code":"invalid_body","error":"say \"why\""}"#
        );

        let response = Rejection::not_logged_in().to_json_response();
        assert_eq!(response.status(), 403);
        assert_eq!(
            &response.body()[..],
            br#"{"code":"not_logged_in","error":"User not logged in"}"#
        );
    }

    #[test]
    fn a_shape_replaces_the_body_and_405_keeps_allow() {
        let shape: Shape = Arc::new(|r: Rejection| {
            let mut response = Response::new(Bytes::from(format!("<p>{}</p>", r.code())));
            *response.status_mut() = r.status();
            response
        });
        let response =
            Rejection::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "POST").respond(Some(&shape));
        assert_eq!(response.status(), 405);
        assert_eq!(response.headers()["allow"], "POST");
        assert_eq!(&response.body()[..], b"<p>method_not_allowed</p>");
    }
}
