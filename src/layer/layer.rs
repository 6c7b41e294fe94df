use std::{fmt, sync::Arc};

use http::{HeaderName, HeaderValue, request::Parts};
use tower_layer::Layer;

use super::Callstats;
use crate::{
    conference::ConferenceIdSource, context::CallstatsContext, core::Core, error::ConfigError, id::UserId,
    identity::GetIdentity, rejection::Rejection, token::TokenIssuer, user_id::UserIdStrategy,
};

/// Default name of the response header that carries the token.
pub const DEFAULT_TOKEN_HEADER: &str = "x-callstats-token";
/// Default name of the response header that carries the percent-encoded userID.
pub const DEFAULT_USER_ID_HEADER: &str = "x-callstats-user-id";
/// Default name of the response header that carries the percent-encoded conferenceID.
pub const DEFAULT_CONFERENCE_ID_HEADER: &str = "x-callstats-conference-id";

/// Applies [`Callstats`] to a service. Build it with [`CallstatsLayer::builder`] (or
/// [`CallstatsLayer::new`] for the defaults). Cloning is cheap.
///
/// See the [module docs](crate::layer) for what it does.
#[derive(Clone)]
pub struct CallstatsLayer {
    pub(crate) config: Arc<LayerConfig>,
}

pub(crate) struct LayerConfig {
    core: Core,
    conference: Option<ConferenceIdSource>,
    token_header: Option<HeaderName>,
    user_id_header: Option<HeaderName>,
    conference_id_header: Option<HeaderName>,
    require_authentication: bool,
}

/// What the layer decided for one request.
pub(crate) enum Decision {
    PassThrough,
    Reject(Rejection),
    Issue(CallstatsContext, ResponseHeaders),
}

/// Headers to add to the response of an authenticated request.
#[derive(Debug)]
pub struct ResponseHeaders {
    pub(crate) values: Vec<(HeaderName, HeaderValue)>,
}

impl fmt::Debug for CallstatsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("CallstatsLayer")
            .field("core", &c.core)
            .field("conference", &c.conference)
            .field("token_header", &c.token_header)
            .field("user_id_header", &c.user_id_header)
            .field("conference_id_header", &c.conference_id_header)
            .field("require_authentication", &c.require_authentication)
            .finish()
    }
}

impl CallstatsLayer {
    /// A layer with every default: identity from the request extensions, raw
    /// usernames as userIDs, no conferenceID, the default header names, anonymous
    /// requests passed through.
    pub fn new(issuer: TokenIssuer) -> Self {
        Self::builder(issuer)
            .build()
            .expect("the default configuration is valid")
    }

    /// Starts configuring a layer.
    pub fn builder(issuer: TokenIssuer) -> CallstatsLayerBuilder {
        CallstatsLayerBuilder {
            core: Core::new(issuer),
            conference: None,
            token_header: Some(DEFAULT_TOKEN_HEADER.into()),
            user_id_header: Some(DEFAULT_USER_ID_HEADER.into()),
            conference_id_header: Some(DEFAULT_CONFERENCE_ID_HEADER.into()),
            conference_server_id: None,
            require_authentication: false,
        }
    }
}

impl<S> Layer<S> for CallstatsLayer {
    type Service = Callstats<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Callstats {
            inner,
            config: self.config.clone(),
        }
    }
}

impl LayerConfig {
    pub(crate) fn decide(&self, parts: &Parts) -> Decision {
        let Some(identity) = self.core.identity(parts) else {
            if self.require_authentication {
                return Decision::Reject(self.core.reject(Rejection::unauthenticated(), None));
            }
            return Decision::PassThrough;
        };
        let user = match self.core.user(&identity) {
            Ok(user) => user,
            Err(rejection) => return Decision::Reject(rejection),
        };
        let conference = match self.conference.as_ref().map(|source| source.extract(parts)).transpose() {
            Ok(conference) => conference,
            Err(error) => {
                if error.is_server_error() {
                    tracing::error!(target: "tower_callstats::layer", %error, "misconfigured conferenceID source");
                }
                return Decision::Reject(self.core.reject(error.into(), Some(user.id())));
            }
        };
        match self.core.context(user, conference, false) {
            Ok(context) => {
                let headers = self.response_headers(&context);
                Decision::Issue(context, headers)
            }
            Err(rejection) => Decision::Reject(rejection),
        }
    }

    fn response_headers(&self, context: &CallstatsContext) -> ResponseHeaders {
        let mut values = Vec::with_capacity(3);
        if let Some(name) = &self.token_header {
            values.push((name.clone(), context.token().header_value().clone()));
        }
        if let Some(name) = &self.user_id_header {
            values.push((name.clone(), context.user_id().header_value()));
        }
        if let (Some(name), Some(conference)) = (&self.conference_id_header, context.conference_id()) {
            values.push((name.clone(), conference.header_value()));
        }
        ResponseHeaders { values }
    }
}

/// Configures a [`CallstatsLayer`]; from [`CallstatsLayer::builder`].
pub struct CallstatsLayerBuilder {
    core: Core,
    conference: Option<ConferenceIdSource>,
    token_header: Option<String>,
    user_id_header: Option<String>,
    conference_id_header: Option<String>,
    conference_server_id: Option<String>,
    require_authentication: bool,
}

impl fmt::Debug for CallstatsLayerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallstatsLayerBuilder")
            .field("core", &self.core)
            .field("conference", &self.conference)
            .finish_non_exhaustive()
    }
}

impl CallstatsLayerBuilder {
    /// Where the authenticated identity comes from. Default
    /// [`FromExtensions`](crate::identity::FromExtensions): an
    /// [`Identity`](crate::Identity) the app's session layer inserted.
    pub fn identity(mut self, identity: impl GetIdentity) -> Self {
        self.core.set_identity(identity);
        self
    }

    /// How the userID is derived. Default [`UserIdStrategy::raw`].
    pub fn user_id(mut self, strategy: UserIdStrategy) -> Self {
        self.core.user_id = strategy;
        self
    }

    /// Where the conferenceID comes from. Default none: the context has no
    /// conferenceID and the token is still issued.
    pub fn conference_id(mut self, source: ConferenceIdSource) -> Self {
        self.conference = Some(source);
        self
    }

    /// The conferenceServerID the page should use as remoteUserID for a
    /// PeerConnection to the bridge. Default none. Validated like a userID.
    pub fn conference_server_id(mut self, id: impl Into<String>) -> Self {
        self.conference_server_id = Some(id.into());
        self
    }

    /// Name of the response header with the token; `None` to leave it out. Default
    /// `x-callstats-token`.
    pub fn token_header(mut self, name: Option<&str>) -> Self {
        self.token_header = name.map(str::to_owned);
        self
    }

    /// Name of the response header with the percent-encoded userID; `None` to leave
    /// it out. Default `x-callstats-user-id`.
    pub fn user_id_header(mut self, name: Option<&str>) -> Self {
        self.user_id_header = name.map(str::to_owned);
        self
    }

    /// Name of the response header with the percent-encoded conferenceID; `None` to
    /// leave it out. Default `x-callstats-conference-id`.
    pub fn conference_id_header(mut self, name: Option<&str>) -> Self {
        self.conference_id_header = name.map(str::to_owned);
        self
    }

    /// Answer requests without an identity with `401` instead of passing them to the
    /// inner service. Default off (pass through untouched).
    pub fn require_authentication(mut self) -> Self {
        self.require_authentication = true;
        self
    }

    /// Validates the configuration (header names, conferenceServerID).
    pub fn build(mut self) -> Result<CallstatsLayer, ConfigError> {
        let header = |name: Option<String>| {
            name.map(|name| {
                HeaderName::try_from(name.as_str()).map_err(|source| ConfigError::InvalidHeaderName { name, source })
            })
            .transpose()
        };
        if let Some(id) = self.conference_server_id.take() {
            self.core.conference_server_id = Some(UserId::new(id)?);
        }
        Ok(CallstatsLayer {
            config: Arc::new(LayerConfig {
                token_header: header(self.token_header)?,
                user_id_header: header(self.user_id_header)?,
                conference_id_header: header(self.conference_id_header)?,
                core: self.core,
                conference: self.conference,
                require_authentication: self.require_authentication,
            }),
        })
    }
}
