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
use http_body_util::Full;
use tower_service::Service;

use super::{
    DEFAULT_BODY_LIMIT,
    request::{self, referer_as_request},
};
use crate::{callstats::Callstats, conference::ConferenceIdSource, id::ConferenceId, rejection::Rejection, response};

/// The token endpoint service; from [`Callstats::endpoint`]. See the [module
/// docs](super). Cloning is cheap.
///
/// The settings here are the endpoint's own; what the endpoint and the page's layer
/// share (identity, userID strategy, conferenceServerID, `Vary`) is set on [`Callstats`].
#[derive(Clone)]
#[must_use]
pub struct TokenEndpoint {
    config: Arc<EndpointConfig>,
}

#[derive(Clone)]
struct EndpointConfig {
    callstats: Callstats,
    body_limit: usize,
    conference_from_body: bool,
    conference_from_referer: Option<ConferenceIdSource>,
    conference: Option<ConferenceIdSource>,
}

impl fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("TokenEndpoint")
            .field("callstats", &c.callstats)
            .field("body_limit", &c.body_limit)
            .field("conference_id_from_body", &c.conference_from_body)
            .field("conference_id_from_referer", &c.conference_from_referer)
            .field("conference_id", &c.conference)
            .finish()
    }
}

impl TokenEndpoint {
    pub(crate) fn new(callstats: Callstats) -> Self {
        Self {
            config: Arc::new(EndpointConfig {
                callstats,
                body_limit: DEFAULT_BODY_LIMIT,
                conference_from_body: true,
                conference_from_referer: None,
                conference: None,
            }),
        }
    }

    fn config(&mut self) -> &mut EndpointConfig {
        Arc::make_mut(&mut self.config)
    }

    /// The largest accepted body, in bytes; a larger one gets `413`. Default
    /// [`DEFAULT_BODY_LIMIT`](super::DEFAULT_BODY_LIMIT) (4096).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config().body_limit = bytes;
        self
    }

    /// Whether the body's `conferenceID` field is read. Default `true`.
    pub fn conference_id_from_body(mut self, on: bool) -> Self {
        self.config().conference_from_body = on;
        self
    }

    /// Take the conferenceID from the `Referer` (the page that asks for the token),
    /// read with `source` as if the Referer were the request URL: for example
    /// `ConferenceIdSource::path_template("/rooms/{room}", "room")?` or
    /// `ConferenceIdSource::url()`. Used when the body has none. Default none.
    pub fn conference_id_from_referer(mut self, source: ConferenceIdSource) -> Self {
        self.config().conference_from_referer = Some(source);
        self
    }

    /// Take the conferenceID from the token request itself (a header, a query
    /// parameter, ...) when neither the body nor the Referer gave one. Default none.
    pub fn conference_id(mut self, source: ConferenceIdSource) -> Self {
        self.config().conference = Some(source);
        self
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
        Box::pin(async move { Ok(config.handle(request).await.unwrap_or_else(Rejection::response)) })
    }
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
            .response();
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return Ok(response);
        }
        let callstats = &self.callstats;
        let Some(identity) = callstats.identify(&parts) else {
            return Err(callstats.reject(Rejection::not_logged_in(), None));
        };
        let user = callstats.user(&identity)?;
        let token_request = request::read(&parts, body, self.body_limit)
            .await
            .map_err(|r| callstats.reject(r, Some(user.id())))?;
        let conference = self
            .conference(&parts, token_request.conference_id)
            .map_err(|r| callstats.reject(r, Some(user.id())))?;
        let context = callstats.context(user, conference, token_request.force_new)?;

        let mut response = response::json(StatusCode::OK, context.to_client_json().to_string());
        let headers = response.headers_mut();
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        response::vary(headers, callstats.vary_header());
        Ok(response)
    }

    fn conference(&self, parts: &Parts, from_body: Option<String>) -> Result<Option<ConferenceId>, Rejection> {
        if self.conference_from_body {
            if let Some(value) = from_body {
                return ConferenceId::new(value)
                    .map(Some)
                    .map_err(|e| Rejection::bad_request("invalid_conference_id", e.to_string()));
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
