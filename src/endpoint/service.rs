use std::{
    convert::Infallible,
    fmt,
    future::{Future, poll_fn},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header, uri::Scheme};
use http_body::Body;
use http_body_util::Full;
use tower_service::Service;

use super::{DEFAULT_BODY_LIMIT, origin, request};
use crate::{
    authorize::Authorize,
    callstats::Callstats,
    error::ConfigError,
    pipeline::{Decide, RoomInput, reject},
    rejection::Rejection,
    response,
    room::Page,
    user::GetUser,
};

/// The token endpoint service; from [`Callstats::endpoint`]. See the [module
/// docs](super). Cloning is cheap.
///
/// The settings here are the endpoint's own; what the endpoint and the page's layer
/// share (the user, the userID strategy, the room, the hook, the calls, `Vary`) is set
/// on [`Callstats`].
#[must_use]
pub struct TokenEndpoint<U, A> {
    config: Arc<EndpointConfig<U, A>>,
}

struct EndpointConfig<U, A> {
    callstats: Callstats<U, A>,
    body_limit: usize,
    room_from_body: bool,
    trusted_origins: Vec<HeaderValue>,
    scheme: Scheme,
}

impl<U, A> Clone for TokenEndpoint<U, A> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
        }
    }
}

impl<U, A> Clone for EndpointConfig<U, A> {
    fn clone(&self) -> Self {
        Self {
            callstats: self.callstats.clone(),
            body_limit: self.body_limit,
            room_from_body: self.room_from_body,
            trusted_origins: self.trusted_origins.clone(),
            scheme: self.scheme.clone(),
        }
    }
}

impl<U, A> fmt::Debug for TokenEndpoint<U, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("TokenEndpoint")
            .field("callstats", &c.callstats)
            .field("body_limit", &c.body_limit)
            .field("room_from_body", &c.room_from_body)
            .field("trusted_origins", &c.trusted_origins)
            .field("scheme", &c.scheme)
            .finish()
    }
}

impl<U: GetUser, A: Authorize> Callstats<U, A> {
    /// The `POST /getToken` service that callstats.js' `tokenGenerator` calls. It
    /// reads the room with the same [`room`](Self::room) source as the layer, from the
    /// page that asks (its `Referer`). Its own settings (body limit, trusted origins)
    /// are on [`TokenEndpoint`].
    pub fn endpoint(&self) -> TokenEndpoint<U, A> {
        self.check();
        TokenEndpoint {
            config: Arc::new(EndpointConfig {
                callstats: self.clone(),
                body_limit: DEFAULT_BODY_LIMIT,
                room_from_body: false,
                trusted_origins: Vec::new(),
                scheme: Scheme::HTTPS,
            }),
        }
    }
}

impl<U, A> TokenEndpoint<U, A> {
    fn config(&mut self) -> &mut EndpointConfig<U, A> {
        Arc::make_mut(&mut self.config)
    }

    /// The largest accepted body, in bytes; a larger one gets `413 body_too_large`.
    /// Default 4096: a token request needs a few dozen.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config().body_limit = bytes;
        self
    }

    /// Whether the body's `conferenceID` names the room (before the Referer). Default
    /// `false`: the room comes from the page that asks, read with the configured
    /// [`room`](Callstats::room) source.
    ///
    /// # Warning
    ///
    /// The body is the client's word: whoever is logged in may name any room. Pair it
    /// with [`Callstats::authorize`], which decides on the room before anything is
    /// signed.
    pub fn room_from_body(mut self, on: bool) -> Self {
        self.config().room_from_body = on;
        self
    }

    /// An origin (`scheme://host[:port]`, e.g. `https://app.example.com`) besides the
    /// request's own whose pages may ask for tokens. Call it once per origin. Default
    /// none: only the app's own pages (see the [module docs](super) on cross-site
    /// requests).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidValue`] for anything but a lower-case `http` or `https`
    /// origin with nothing after the port, and for `null` (the origin of sandboxed
    /// frames and `data:` pages, which any site can make).
    pub fn trusted_origin(mut self, origin: &str) -> Result<Self, ConfigError> {
        let origin = origin::trusted(origin)?;
        self.config().trusted_origins.push(origin);
        Ok(self)
    }

    /// The scheme the app's pages are served with, for the cross-site check of a
    /// request whose URI does not carry one (HTTP/1.1 behind a proxy that terminates
    /// TLS, say): an `Origin` of another scheme is another site. Default
    /// [`Scheme::HTTPS`]; a server of plain `http` pages (a development server) sets
    /// [`Scheme::HTTP`].
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        self.config().scheme = scheme;
        self
    }
}

impl<U, A, B> Service<Request<B>> for TokenEndpoint<U, A>
where
    U: GetUser,
    A: Authorize,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let config = self.config.clone();
        Box::pin(async move {
            let response = match config.handle(request).await {
                Ok(response) => response,
                Err(rejection) => rejection.respond(config.callstats.settings.rejection.as_ref()),
            };
            Ok(response.map(Full::new))
        })
    }
}

impl<U: GetUser, A: Authorize> EndpointConfig<U, A> {
    async fn handle<B>(&self, request: Request<B>) -> Result<Response<Bytes>, Rejection>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let callstats = &self.callstats;
        let (parts, body) = request.into_parts();
        if parts.method != Method::POST {
            let message = format!("{} is not allowed here; request a token with POST", parts.method);
            return Err(Rejection::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                message,
            ));
        }
        origin::check(&parts, &self.trusted_origins, &self.scheme).map_err(|r| reject(callstats, r, None, None))?;
        let bytes = request::read_body(&parts, body, self.body_limit)
            .await
            .map_err(|r| reject(callstats, r, None, None))?;
        let asked =
            request::parse(&parts, &bytes, self.room_from_body).map_err(|r| reject(callstats, r, None, None))?;

        // The room: the body's, when the app allows it; else the page that asks.
        let unreadable;
        let room = match (&asked.conference_id, parts.headers.get(header::REFERER)) {
            (Some(room), _) if self.room_from_body => RoomInput::Named(room),
            (_, Some(referer)) => match Page::referer(referer, &parts) {
                Ok(page) => RoomInput::Page(page),
                Err(rejection) => {
                    unreadable = rejection;
                    RoomInput::Unreadable(&unreadable)
                }
            },
            (_, None) => RoomInput::Page(Page::unnamed(&parts)),
        };
        let mut decide = Decide::new(callstats, &parts, asked.force_new);
        match poll_fn(|cx| decide.poll_decide(cx, callstats, &room)).await? {
            Some(context) => {
                let mut response = response::json(StatusCode::OK, context.body());
                let headers = response.headers_mut();
                headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
                response::vary(headers, callstats.settings.vary.as_ref());
                Ok(response)
            }
            None => Err(reject(callstats, Rejection::not_logged_in(), None, None)),
        }
    }
}
