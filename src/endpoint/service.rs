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
    DEFAULT_BODY_LIMIT, origin,
    request::{self, referer_as_request},
};
use crate::{
    callstats::{Callstats, Grant, Wanted},
    conference::ConferenceIdSource,
    rejection::Rejection,
    response,
    user_id::CallstatsUser,
};

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
    /// `None`: on unless a server-side source is configured.
    conference_from_body: Option<bool>,
    conference_from_referer: Option<ConferenceIdSource>,
    conference: Option<ConferenceIdSource>,
    allowed_origins: Vec<HeaderValue>,
}

impl fmt::Debug for TokenEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("TokenEndpoint")
            .field("callstats", &c.callstats)
            .field("body_limit", &c.body_limit)
            .field("conference_id_from_body", &c.reads_body_conference())
            .field("conference_id_from_referer", &c.conference_from_referer)
            .field("conference_id", &c.conference)
            .field("allowed_origins", &c.allowed_origins)
            .finish()
    }
}

impl TokenEndpoint {
    pub(crate) fn new(callstats: Callstats) -> Self {
        Self {
            config: Arc::new(EndpointConfig {
                callstats,
                body_limit: DEFAULT_BODY_LIMIT,
                conference_from_body: None,
                conference_from_referer: None,
                conference: None,
                allowed_origins: Vec::new(),
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

    /// Whether the body's `conferenceID` field is read. Default: `true` unless a
    /// server-side source is configured ([`conference_id_from_referer`](Self::conference_id_from_referer)
    /// or [`conference_id`](Self::conference_id)); then the server's source decides and
    /// the client's choice is ignored unless this turns it back on.
    ///
    /// # Warning
    ///
    /// The body is the client's word: whoever is logged in may name any conference.
    /// With `confID` tokens, or an app that trusts the conferenceID of a token, pair it
    /// with [`Callstats::authorize`], which sees the conferenceID before anything is
    /// signed.
    pub fn conference_id_from_body(mut self, on: bool) -> Self {
        self.config().conference_from_body = Some(on);
        self
    }

    /// Origins (`scheme://host[:port]`, e.g. `https://app.example.com`) besides the
    /// request's own whose pages may ask for tokens. Default none: only the app's own
    /// pages (see the [module docs](super) on cross-site requests).
    pub fn allowed_origins(mut self, origins: impl IntoIterator<Item = HeaderValue>) -> Self {
        self.config().allowed_origins = origins.into_iter().collect();
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
    fn reads_body_conference(&self) -> bool {
        self.conference_from_body
            .unwrap_or(self.conference_from_referer.is_none() && self.conference.is_none())
    }

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
        origin::check(&parts, &self.allowed_origins).map_err(|r| callstats.reject(r, None))?;
        let Some(identity) = callstats.identify(&parts) else {
            return Err(callstats.reject(Rejection::not_logged_in(), None));
        };
        let user = callstats.user(&identity)?;
        let bytes = request::read_body(&parts, body, self.body_limit)
            .await
            .map_err(|r| callstats.reject(r, Some(user.id())))?;
        let token_request = request::parse(&parts, &bytes).map_err(|r| callstats.reject(r, Some(user.id())))?;
        let wanted = self.want(
            &parts,
            &user,
            token_request.conference_id.as_deref(),
            token_request.force_new,
        );
        let want = match wanted {
            Ok(Wanted::Now(want)) => Ok(want),
            Ok(Wanted::Later(want)) => want.await.map_err(Rejection::from),
            Err(rejection) => Err(rejection),
        }
        .map_err(|r| callstats.reject(r, Some(user.id())))?;
        let context = match callstats.grant(&identity, want) {
            Grant::Ready(granted) => granted?,
            Grant::Later(granted) => granted.await?,
        };

        let mut response = response::json(StatusCode::OK, context.body());
        let headers = response.headers_mut();
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        response::vary(headers, callstats.vary_header());
        Ok(response)
    }

    /// What the request is to be granted, for the conferenceID from the body, the
    /// Referer or the configured source (in that order), or none: at once, or after the
    /// call registry of a per-call source answers. Not an `async fn`: the endpoint's
    /// future stays small (one allocation from the allocator's fast path), and only a
    /// registry that must be asked costs a future of its own.
    fn want(
        &self,
        parts: &Parts,
        user: &CallstatsUser,
        from_body: Option<&str>,
        force_new: bool,
    ) -> Result<Wanted, Rejection> {
        let callstats = &self.callstats;
        if self.reads_body_conference() {
            if let Some(value) = from_body {
                return Ok(Wanted::Now(callstats.want(user, Some(value), force_new)?));
            }
        }
        if let Some(source) = &self.conference_from_referer {
            if let Some(referer) = parts.headers.get(header::REFERER) {
                let referer_parts = referer_as_request(referer)?;
                return Ok(callstats.want_in(Some(source), &referer_parts, user, force_new)?);
            }
        }
        Ok(callstats.want_in(self.conference.as_ref(), parts, user, force_new)?)
    }
}
