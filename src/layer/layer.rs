use std::{fmt, sync::Arc};

use http::{HeaderMap, HeaderName, StatusCode};
use tower_layer::Layer;

use super::CallstatsService;
use crate::{authorize::Authorize, callstats::Callstats, context::CallstatsContext, response, user::GetUser};

/// The response header that carries the token, `x-callstats-token` by default.
pub const TOKEN_HEADER: HeaderName = HeaderName::from_static("x-callstats-token");
/// The response header that carries the percent-encoded userID,
/// `x-callstats-user-id` by default.
pub const USER_ID_HEADER: HeaderName = HeaderName::from_static("x-callstats-user-id");
/// The response header that carries the percent-encoded conferenceID,
/// `x-callstats-conference-id` by default.
pub const CONFERENCE_ID_HEADER: HeaderName = HeaderName::from_static("x-callstats-conference-id");

/// Applies [`CallstatsService`] to a service; from [`Callstats::layer`]. Cloning is cheap.
///
/// See the [module docs](crate::layer) for what it does. The settings here are the
/// layer's own; what the layer and the token endpoint share is set on [`Callstats`].
#[must_use]
pub struct CallstatsLayer<U, A> {
    pub(crate) config: Arc<LayerConfig<U, A>>,
}

pub(crate) struct LayerConfig<U, A> {
    pub(crate) callstats: Callstats<U, A>,
    token_header: Option<HeaderName>,
    user_id_header: Option<HeaderName>,
    conference_id_header: Option<HeaderName>,
    pub(crate) require_authentication: bool,
}

impl<U, A> Clone for CallstatsLayer<U, A> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
        }
    }
}

impl<U, A> Clone for LayerConfig<U, A> {
    fn clone(&self) -> Self {
        Self {
            callstats: self.callstats.clone(),
            token_header: self.token_header.clone(),
            user_id_header: self.user_id_header.clone(),
            conference_id_header: self.conference_id_header.clone(),
            require_authentication: self.require_authentication,
        }
    }
}

impl<U, A> fmt::Debug for CallstatsLayer<U, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("CallstatsLayer")
            .field("callstats", &c.callstats)
            .field("token_header", &c.token_header)
            .field("user_id_header", &c.user_id_header)
            .field("conference_id_header", &c.conference_id_header)
            .field("require_authentication", &c.require_authentication)
            .finish()
    }
}

impl<U: GetUser, A: Authorize> Callstats<U, A> {
    /// The middleware for the pages that initialise callstats.js: it puts a
    /// [`CallstatsContext`] into the request extensions and the token into response
    /// headers. Its own settings (header names, `require_authentication`) are on
    /// [`CallstatsLayer`].
    pub fn layer(&self) -> CallstatsLayer<U, A> {
        self.check();
        CallstatsLayer {
            config: Arc::new(LayerConfig {
                callstats: self.clone(),
                token_header: Some(TOKEN_HEADER),
                user_id_header: Some(USER_ID_HEADER),
                conference_id_header: Some(CONFERENCE_ID_HEADER),
                require_authentication: false,
            }),
        }
    }
}

impl<U, A> CallstatsLayer<U, A> {
    fn config(&mut self) -> &mut LayerConfig<U, A> {
        Arc::make_mut(&mut self.config)
    }

    /// The response header with the token; `None` leaves the token out of the headers
    /// (for apps that only use the token endpoint). Default [`TOKEN_HEADER`].
    pub fn token_header(mut self, name: Option<HeaderName>) -> Self {
        self.config().token_header = name;
        self
    }

    /// The response header with the percent-encoded userID; `None` leaves it out.
    /// Default [`USER_ID_HEADER`].
    pub fn user_id_header(mut self, name: Option<HeaderName>) -> Self {
        self.config().user_id_header = name;
        self
    }

    /// The response header with the percent-encoded conferenceID; `None` leaves it out.
    /// Default [`CONFERENCE_ID_HEADER`].
    pub fn conference_id_header(mut self, name: Option<HeaderName>) -> Self {
        self.config().conference_id_header = name;
        self
    }

    /// Whether requests without a logged-in user get `401 unauthenticated` instead of
    /// being passed to the inner service untouched. Default `false`.
    pub fn require_authentication(mut self, on: bool) -> Self {
        self.config().require_authentication = on;
        self
    }
}

impl<S, U, A> Layer<S> for CallstatsLayer<U, A> {
    type Service = CallstatsService<S, U, A>;

    fn layer(&self, inner: S) -> Self::Service {
        CallstatsService {
            inner,
            config: self.config.clone(),
        }
    }
}

impl<U, A> LayerConfig<U, A> {
    /// Adds the token and ID headers for `context` to a response, if it is a success
    /// (2xx).
    ///
    /// Anything else gets nothing: a 4xx or 5xx is an error, a 3xx (a redirect that
    /// refuses a room, or a `304 Not Modified` whose body the browser takes from its
    /// cache) renders no page that uses a token, and `101 Switching Protocols` upgrades
    /// the connection to another protocol.
    pub(crate) fn apply(&self, context: &CallstatsContext, headers: &mut HeaderMap, status: StatusCode) {
        if !status.is_success() {
            return;
        }
        let token = context.token();
        headers.reserve(5);
        if let Some(name) = &self.token_header {
            headers.insert(name.clone(), token.header_value().clone());
            // A bearer credential: never stored by a browser or a shared cache, whatever
            // the app chose.
            response::no_store(headers);
        } else if !response::is_private(headers) {
            response::no_store(headers);
        }
        if let Some(name) = &self.user_id_header {
            headers.insert(name.clone(), token.user_id_header().clone());
        }
        if let (Some(name), Some(value)) = (&self.conference_id_header, context.conference_header()) {
            headers.insert(name.clone(), value.clone());
        }
        response::vary(headers, self.callstats.settings.vary.as_ref());
    }
}
