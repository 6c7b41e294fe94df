//! The token endpoint that callstats.js' `tokenGenerator` calls.
//!
//! [`TokenEndpoint`] is a `tower::Service` for `POST /getToken` (mount it with axum's
//! `route_service`, or call it from a hyper service):
//!
//! | request | response |
//! | --- | --- |
//! | `POST`, logged in | `200 {"token", "userID", "localUserID", "conferenceID"?, "expiresAt", "issuedAt", "appID", "keyID", "conferenceServerID"?}` |
//! | `POST`, no session | `403 {"error":"User not logged in"}` (the docs' body, byte for byte) |
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
//! use tower_callstats::{Identity, TokenEndpoint, TokenIssuer, keys::SigningKey};
//!
//! let issuer = TokenIssuer::builder("my-app", SigningKey::generate("key-1").unwrap()).build().unwrap();
//! let app = Router::new().route_service("/getToken", TokenEndpoint::new(issuer));
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

use std::{
    convert::Infallible,
    fmt,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header, request::Parts};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use tower_service::Service;

use crate::{
    conference::ConferenceIdSource,
    core::Core,
    error::ConfigError,
    id::{ConferenceId, IdError, UserId, percent_decode},
    identity::GetIdentity,
    rejection::Rejection,
    token::TokenIssuer,
    user_id::UserIdStrategy,
};

/// The longest `Referer` the endpoint reads, in bytes.
pub const MAX_REFERER_BYTES: usize = 4096;

/// The token endpoint service; see the [module docs](self). Cloning is cheap.
#[derive(Clone)]
pub struct TokenEndpoint {
    config: Arc<EndpointConfig>,
}

struct EndpointConfig {
    core: Core,
    body_limit: usize,
    conference_from_body: bool,
    conference_from_referer: Option<ConferenceIdSource>,
    conference: Option<ConferenceIdSource>,
}

impl fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("TokenEndpoint")
            .field("core", &c.core)
            .field("body_limit", &c.body_limit)
            .field("conference_from_body", &c.conference_from_body)
            .field("conference_from_referer", &c.conference_from_referer)
            .field("conference", &c.conference)
            .finish()
    }
}

impl TokenEndpoint {
    /// An endpoint with the defaults: identity from the request extensions, raw
    /// usernames, conferenceID from the body when present, 4 KiB body limit.
    pub fn new(issuer: TokenIssuer) -> Self {
        Self::builder(issuer)
            .build()
            .expect("the default configuration is valid")
    }

    /// Starts configuring an endpoint.
    pub fn builder(issuer: TokenIssuer) -> TokenEndpointBuilder {
        TokenEndpointBuilder {
            core: Core::new(issuer),
            body_limit: 4096,
            conference_from_body: true,
            conference_from_referer: None,
            conference: None,
            conference_server_id: None,
        }
    }
}

/// Configures a [`TokenEndpoint`]; from [`TokenEndpoint::builder`].
pub struct TokenEndpointBuilder {
    core: Core,
    body_limit: usize,
    conference_from_body: bool,
    conference_from_referer: Option<ConferenceIdSource>,
    conference: Option<ConferenceIdSource>,
    conference_server_id: Option<String>,
}

impl fmt::Debug for TokenEndpointBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenEndpointBuilder")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl TokenEndpointBuilder {
    /// Where the authenticated identity comes from. Default
    /// [`FromExtensions`](crate::identity::FromExtensions).
    pub fn identity(mut self, identity: impl GetIdentity) -> Self {
        self.core.set_identity(identity);
        self
    }

    /// How the userID is derived. Default [`UserIdStrategy::raw`]. Use the same as the
    /// page's layer, so that the page and the endpoint agree.
    pub fn user_id(mut self, strategy: UserIdStrategy) -> Self {
        self.core.user_id = strategy;
        self
    }

    /// Take the conferenceID from the body's `conferenceID` field when present.
    /// Default on.
    pub fn conference_id_from_body(mut self, on: bool) -> Self {
        self.conference_from_body = on;
        self
    }

    /// Take the conferenceID from the `Referer` (the page that asks for the token),
    /// read with `source` as if the Referer were the request URL: for example
    /// `ConferenceIdSource::path_template("/rooms/{room}", "room")?` or
    /// `ConferenceIdSource::url()`. Used when the body has none. Default off.
    pub fn conference_id_from_referer(mut self, source: ConferenceIdSource) -> Self {
        self.conference_from_referer = Some(source);
        self
    }

    /// Take the conferenceID from the token request itself (a header, a query
    /// parameter, ...) when neither the body nor the Referer gave one. Default none.
    pub fn conference_id(mut self, source: ConferenceIdSource) -> Self {
        self.conference = Some(source);
        self
    }

    /// The conferenceServerID to return to the page. Default none.
    pub fn conference_server_id(mut self, id: impl Into<String>) -> Self {
        self.conference_server_id = Some(id.into());
        self
    }

    /// Largest accepted body, in bytes. Default 4096; at most 1 MiB.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Validates the configuration.
    pub fn build(mut self) -> Result<TokenEndpoint, ConfigError> {
        if self.body_limit > 1 << 20 {
            return Err(ConfigError::InvalidValue {
                what: "body_limit",
                value: self.body_limit.to_string(),
                reason: "a token request needs a few hundred bytes; at most 1 MiB".into(),
            });
        }
        if let Some(id) = self.conference_server_id.take() {
            self.core.conference_server_id = Some(UserId::new(id)?);
        }
        Ok(TokenEndpoint {
            config: Arc::new(EndpointConfig {
                core: self.core,
                body_limit: self.body_limit,
                conference_from_body: self.conference_from_body,
                conference_from_referer: self.conference_from_referer,
                conference: self.conference,
            }),
        })
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>>;

impl<B> Service<Request<B>> for TokenEndpoint
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let config = self.config.clone();
        Box::pin(async move {
            Ok(match config.handle(request).await {
                Ok(response) => response,
                Err(rejection) => rejection.into_response(),
            })
        })
    }
}

/// What the body may say. Everything else in it is ignored.
#[derive(Debug, Default)]
struct TokenRequest {
    conference_id: Option<String>,
    force_new: bool,
}

#[derive(Debug, Default, serde::Deserialize)]
struct JsonTokenRequest {
    #[serde(rename = "conferenceID", default)]
    conference_id: Option<String>,
    #[serde(rename = "forceNew", alias = "forcenew", default)]
    force_new: Option<bool>,
}

fn bad_request(code: &'static str, message: impl Into<std::borrow::Cow<'static, str>>) -> Rejection {
    Rejection::new(StatusCode::BAD_REQUEST, code, message)
}

impl EndpointConfig {
    async fn handle<B>(&self, request: Request<B>) -> Result<Response<Full<Bytes>>, Rejection>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        if parts.method != Method::POST {
            let mut response = Rejection::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{} is not allowed here; request a token with POST", parts.method),
            )
            .into_response();
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return Ok(response);
        }
        let core = &self.core;
        let Some(identity) = core.identity(&parts) else {
            return Err(core.reject(Rejection::not_logged_in(), None));
        };
        let user = core.user(&identity)?;
        let token_request = self
            .read_body(&parts, body)
            .await
            .map_err(|r| core.reject(r, Some(user.id())))?;
        let conference = self
            .conference(&parts, token_request.conference_id)
            .map_err(|r| core.reject(r, Some(user.id())))?;
        let context = core.context(user, conference, token_request.force_new)?;

        let mut response = Response::new(Full::new(Bytes::from(context.to_client_json().to_string())));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        headers.insert(header::VARY, HeaderValue::from_static("cookie, authorization"));
        Ok(response)
    }

    async fn read_body<B>(&self, parts: &Parts, body: B) -> Result<TokenRequest, Rejection>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let too_large = || {
            Rejection::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!(
                    "the body is larger than {} bytes; a token request needs only conferenceID and forceNew",
                    self.body_limit
                ),
            )
        };
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.body_limit as u64) {
            return Err(too_large());
        }
        let bytes = match Limited::new(body, self.body_limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) if error.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
            Err(_) => return Err(bad_request("body_unreadable", "the request body could not be read")),
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(TokenRequest::default());
        }
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match mime.as_str() {
            "application/json" => {
                let parsed: JsonTokenRequest = serde_json::from_slice(&bytes).map_err(|e| {
                    bad_request(
                        "invalid_body",
                        format!("the body is not a valid token request: {e}; send {{\"conferenceID\": \"...\"}}"),
                    )
                })?;
                Ok(TokenRequest {
                    conference_id: parsed.conference_id,
                    force_new: parsed.force_new.unwrap_or(false),
                })
            }
            "application/x-www-form-urlencoded" => parse_form(&bytes),
            _ => Err(Rejection::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json or application/x-www-form-urlencoded",
            )),
        }
    }

    fn conference(&self, parts: &Parts, from_body: Option<String>) -> Result<Option<ConferenceId>, Rejection> {
        if self.conference_from_body {
            if let Some(value) = from_body {
                return ConferenceId::new(value)
                    .map(Some)
                    .map_err(|e| bad_request("invalid_conference_id", e.to_string()));
            }
        }
        if let Some(source) = &self.conference_from_referer {
            if let Some(referer) = parts.headers.get(header::REFERER) {
                let referer_parts = referer_as_request(referer)?;
                return Ok(Some(source.extract(&referer_parts)?));
            }
        }
        match &self.conference {
            Some(source) => Ok(Some(source.extract(parts)?)),
            None => Ok(None),
        }
    }
}

/// The Referer URL as a request head, so that any [`ConferenceIdSource`] reads it.
fn referer_as_request(referer: &HeaderValue) -> Result<Parts, Rejection> {
    let invalid = |why: &str| bad_request("invalid_referer", format!("the Referer header {why}"));
    if referer.len() > MAX_REFERER_BYTES {
        return Err(invalid("is too long"));
    }
    let uri: http::Uri = referer
        .to_str()
        .map_err(|_| invalid("is not ASCII"))?
        .parse()
        .map_err(|_| invalid("is not a URL"))?;
    let host = uri.authority().ok_or_else(|| invalid("has no host"))?.host().to_owned();
    let (mut parts, ()) = Request::get(uri)
        .body(())
        .map_err(|_| invalid("is not a URL"))?
        .into_parts();
    parts.headers.insert(
        header::HOST,
        HeaderValue::try_from(host).map_err(|_| invalid("has an invalid host"))?,
    );
    Ok(parts)
}

fn parse_form(bytes: &[u8]) -> Result<TokenRequest, Rejection> {
    let text = std::str::from_utf8(bytes).map_err(|_| bad_request("invalid_body", "the form body is not UTF-8"))?;
    let mut request = TokenRequest::default();
    let decode = |v: &str, kind| percent_decode(&v.replace('+', " "), kind).map(std::borrow::Cow::into_owned);
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(key, "form field").map_err(|e: IdError| bad_request("invalid_body", e.to_string()))?;
        match key.as_str() {
            "conferenceID" => {
                if request.conference_id.is_some() {
                    return Err(bad_request("invalid_body", "conferenceID is given twice"));
                }
                let value = decode(value, ConferenceId::KIND)
                    .map_err(|e| bad_request("invalid_conference_id", e.to_string()))?;
                request.conference_id = Some(value);
            }
            "forceNew" | "forcenew" => {
                request.force_new = match value {
                    "true" | "1" => true,
                    "false" | "0" | "" => false,
                    _ => return Err(bad_request("invalid_body", "forceNew must be true or false")),
                }
            }
            _ => {}
        }
    }
    Ok(request)
}
