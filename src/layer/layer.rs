use std::{fmt, future::Future, pin::Pin, sync::Arc};

use http::{HeaderMap, HeaderName, StatusCode, request::Parts};
use tower_layer::Layer;

use super::CallstatsService;
use crate::{
    callstats::{Callstats, Grant, Want, Wanted},
    conference::ConferenceError,
    context::CallstatsContext,
    identity::Identity,
    rejection::Rejection,
    response,
    user_id::CallstatsUser,
};

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
#[derive(Clone)]
#[must_use]
pub struct CallstatsLayer {
    pub(crate) config: Arc<LayerConfig>,
}

#[derive(Clone)]
pub(crate) struct LayerConfig {
    callstats: Callstats,
    token_header: Option<HeaderName>,
    user_id_header: Option<HeaderName>,
    conference_id_header: Option<HeaderName>,
    require_authentication: bool,
}

/// What the layer decided for one request.
pub(crate) enum Decision {
    PassThrough,
    Reject(Rejection),
    Issue(Issued),
    /// The decision waits for an asynchronous hook.
    Later(Pin<Box<dyn Future<Output = Decision> + Send + 'static>>),
}

/// What an authenticated request gets: the context for the handler, and the headers
/// for the response, in their final form in the context (the token's, the userID's and
/// the conferenceID's header values are built once, with the token and the context).
pub(crate) struct Issued {
    config: Arc<LayerConfig>,
    context: CallstatsContext,
}

impl fmt::Debug for CallstatsLayer {
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

impl CallstatsLayer {
    pub(crate) fn new(callstats: Callstats) -> Self {
        Self {
            config: Arc::new(LayerConfig {
                callstats,
                token_header: Some(TOKEN_HEADER),
                user_id_header: Some(USER_ID_HEADER),
                conference_id_header: Some(CONFERENCE_ID_HEADER),
                require_authentication: false,
            }),
        }
    }

    fn config(&mut self) -> &mut LayerConfig {
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

    /// Whether requests without an identity get `401` instead of being passed to the
    /// inner service untouched. Default `false`.
    pub fn require_authentication(mut self, on: bool) -> Self {
        self.config().require_authentication = on;
        self
    }
}

impl<S> Layer<S> for CallstatsLayer {
    type Service = CallstatsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallstatsService {
            inner,
            config: self.config.clone(),
        }
    }
}

impl LayerConfig {
    pub(crate) fn decide(config: &Arc<LayerConfig>, parts: &Parts) -> Decision {
        let callstats = &config.callstats;
        let Some(identity) = callstats.identify(parts) else {
            if config.require_authentication {
                return Decision::Reject(callstats.reject(Rejection::unauthenticated(), None));
            }
            return Decision::PassThrough;
        };
        let user = match callstats.user(&identity) {
            Ok(user) => user,
            Err(rejection) => return Decision::Reject(rejection),
        };
        let want = match callstats.want_in(callstats.conference_source(), parts, &user, false) {
            Ok(Wanted::Now(want)) => Ok(want),
            Err(error) => Err(error),
            // The call registry must be asked: decide when it answers.
            Ok(Wanted::Later(want)) => {
                let config = config.clone();
                return Decision::Later(Box::pin(
                    async move { Self::granted(&config, &identity, &user, want.await) },
                ));
            }
        };
        Self::granted(config, &identity, &user, want)
    }

    /// Refuses an invalid conferenceID, or asks the [`Authorize`](crate::authorize::Authorize)
    /// hook and issues a token.
    fn granted(
        config: &Arc<LayerConfig>,
        identity: &Identity,
        user: &CallstatsUser,
        want: Result<Want, ConferenceError>,
    ) -> Decision {
        let callstats = &config.callstats;
        let want = match want {
            Ok(want) => want,
            Err(error) => {
                if error.is_server_error() {
                    tracing::error!(target: "tower_callstats::layer", %error, "misconfigured conferenceID source");
                }
                return Decision::Reject(callstats.reject(error.into(), Some(user.id())));
            }
        };
        match callstats.grant(identity, want) {
            Grant::Ready(granted) => Self::issue(config, granted),
            Grant::Later(granted) => {
                let config = config.clone();
                Decision::Later(Box::pin(async move { Self::issue(&config, granted.await) }))
            }
        }
    }

    fn issue(config: &Arc<LayerConfig>, granted: Result<CallstatsContext, Rejection>) -> Decision {
        match granted {
            Ok(context) => Decision::Issue(Issued {
                config: config.clone(),
                context,
            }),
            Err(rejection) => Decision::Reject(rejection),
        }
    }
}

impl Issued {
    /// The context, for the request's extensions.
    pub(crate) fn context(&self) -> &CallstatsContext {
        &self.context
    }

    /// Adds the token and ID headers to a response, if it is a success (2xx).
    ///
    /// Anything else gets nothing: a 4xx or 5xx is an error, a 3xx (a redirect that
    /// refuses a room, or a `304 Not Modified` whose body the browser takes from its
    /// cache) renders no page that uses a token, and `101 Switching Protocols` upgrades
    /// the connection to another protocol.
    pub(crate) fn apply(self, headers: &mut HeaderMap, status: StatusCode) {
        if !status.is_success() {
            return;
        }
        let config = &*self.config;
        let token = self.context.token();
        headers.reserve(5);
        if let Some(name) = &config.token_header {
            headers.insert(name.clone(), token.header_value().clone());
            // A bearer credential: never stored by a browser or a shared cache, whatever
            // the app chose.
            response::no_store(headers);
        } else if !response::is_private(headers) {
            response::no_store(headers);
        }
        if let Some(name) = &config.user_id_header {
            headers.insert(name.clone(), token.user_id_header().clone());
        }
        if let (Some(name), Some(value)) = (&config.conference_id_header, self.context.conference_header()) {
            headers.insert(name.clone(), value.clone());
        }
        response::vary(headers, config.callstats.vary_header());
    }
}
