//! [`Callstats`]: the one configuration from which the page's layer, the token endpoint
//! and the JWKS service are made, so that they cannot disagree.

use std::{fmt, future::Future, pin::Pin, sync::Arc};

use http::{HeaderName, HeaderValue, header, request::Parts};

use crate::{
    audit::{Action, AuditEvent},
    authorize::{Authorization, Authorize, SharedAuthorize},
    conference::{ConferenceError, ConferenceIdSource, Resolution, Resolved},
    context::CallstatsContext,
    endpoint::TokenEndpoint,
    id::{ConferenceId, UserId},
    identity::{FromExtensions, GetIdentity, Identity, SharedGetIdentity},
    jwks::JwksService,
    layer::CallstatsLayer,
    prepared::Prepared,
    rejection::Rejection,
    token::TokenIssuer,
    user_id::{CallstatsUser, UserIdStrategy},
};

/// The configuration that the layer ([`layer`](Self::layer)), the token endpoint
/// ([`endpoint`](Self::endpoint)) and the JWKS service ([`jwks`](Self::jwks)) are made
/// from, so that they cannot disagree.
///
/// The page initialises callstats.js with the userID the layer derived, and callstats
/// accepts the token only if it carries the same userID. Both come from one value: the
/// identity, the userID strategy, the conferenceServerID and `Vary` are written once.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::{Router, body::Body, routing::get};
/// use http::Request;
/// use http_body_util::BodyExt;
/// use tower::ServiceExt;
/// use tower_callstats::{
///     Callstats, CallstatsContext, ConferenceIdSource, Identity, SigningKey, TokenIssuer, UserIdStrategy,
/// };
///
/// let issuer = TokenIssuer::builder("my-app", SigningKey::generate("key-1").unwrap()).build().unwrap();
/// let callstats = Callstats::new(issuer)
///     .user_id(UserIdStrategy::sha1("example.com").unwrap())
///     .conference_id(ConferenceIdSource::route_param("room"));
///
/// let app = Router::new()
///     .route("/rooms/{room}", get(|cs: CallstatsContext| async move { cs.user_id().to_string() }))
///     .route_layer(callstats.layer())
///     .route_service("/getToken", callstats.endpoint());
///
/// // The app's session layer inserts the identity; here the test does.
/// let alice = || Identity::new("alice");
/// let mut page = Request::get("/rooms/42").body(Body::empty()).unwrap();
/// page.extensions_mut().insert(alice());
/// let page = app.clone().oneshot(page).await.unwrap();
/// let page_user = page.into_body().collect().await.unwrap().to_bytes();
///
/// let mut token = Request::post("/getToken").body(Body::empty()).unwrap();
/// token.extensions_mut().insert(alice());
/// let token = app.oneshot(token).await.unwrap();
/// let json: serde_json::Value =
///     serde_json::from_slice(&token.into_body().collect().await.unwrap().to_bytes()).unwrap();
///
/// // sha1("alice@example.com"), on the page and in the token alike.
/// assert_eq!(page_user, "fc2398a73dd54d6237c4fdb58fd7d75347cf5af3");
/// assert_eq!(json["userID"], "fc2398a73dd54d6237c4fdb58fd7d75347cf5af3");
/// # }
/// ```
///
/// Every setter is infallible and has a default; what can be wrong (keys, TTL bounds,
/// reserved claims) was checked when the [`TokenIssuer`] was built. Cloning is cheap
/// (reference counts): clone it to vary a setting for one route.
#[derive(Clone)]
#[must_use]
pub struct Callstats {
    issuer: TokenIssuer,
    identity: SharedGetIdentity,
    user_id: UserIdStrategy,
    conference: Option<ConferenceIdSource>,
    conference_server_id: Option<UserId>,
    vary: Option<HeaderValue>,
    authorize: Option<SharedAuthorize>,
    /// The prepared contexts of the layer or endpoint made from this configuration;
    /// `None` here, in the configuration itself.
    prepared: Option<Arc<Prepared>>,
}

/// What a request is to be granted.
pub(crate) enum Want {
    /// A context prepared for an earlier request of the same user and room.
    Prepared(CallstatsContext),
    /// A new context, for `user` in `conference`; kept as prepared when `prepare` is set
    /// (the request alone named the room).
    New {
        user: CallstatsUser,
        conference: Option<Resolved>,
        force_new: bool,
        prepare: bool,
    },
}

impl Want {
    fn user(&self) -> &CallstatsUser {
        match self {
            Want::Prepared(context) => context.user(),
            Want::New { user, .. } => user,
        }
    }

    fn conference(&self) -> Option<&ConferenceId> {
        match self {
            Want::Prepared(context) => context.conference_id(),
            Want::New { conference, .. } => conference.as_ref().map(|c| &c.id),
        }
    }
}

/// What a request is to be granted, now or when a call registry answers.
pub(crate) enum Wanted {
    Now(Want),
    Later(Pin<Box<dyn Future<Output = Result<Want, ConferenceError>> + Send + 'static>>),
}

/// A token decision that may have to wait (for an asynchronous [`Authorize`] hook).
pub(crate) enum Grant {
    Ready(Result<CallstatsContext, Rejection>),
    Later(Pin<Box<dyn Future<Output = Result<CallstatsContext, Rejection>> + Send + 'static>>),
}

impl fmt::Debug for Callstats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callstats")
            .field("issuer", &self.issuer)
            .field("user_id", &self.user_id)
            .field("conference_id", &self.conference)
            .field("conference_server_id", &self.conference_server_id)
            .field("vary", &self.vary)
            .field("authorize", &self.authorize.is_some())
            .finish_non_exhaustive()
    }
}

impl Callstats {
    /// A configuration with every default: the identity from the request extensions
    /// ([`FromExtensions`]), raw usernames as userIDs, no conferenceID source, no
    /// conferenceServerID, `Vary: cookie, authorization`.
    pub fn new(issuer: TokenIssuer) -> Self {
        Self {
            issuer,
            identity: Arc::new(FromExtensions),
            user_id: UserIdStrategy::raw(),
            conference: None,
            conference_server_id: None,
            vary: vary_value([header::COOKIE, header::AUTHORIZATION]),
            authorize: None,
            prepared: None,
        }
    }

    /// Where the authenticated identity comes from. Default [`FromExtensions`]: an
    /// [`Identity`] that the app's session layer inserted into the request extensions.
    /// A closure `Fn(&http::request::Parts) -> Option<Identity>` works too.
    pub fn identity(mut self, identity: impl GetIdentity) -> Self {
        self.identity = Arc::new(identity);
        self
    }

    /// How the userID is derived from the identity. Default [`UserIdStrategy::raw`].
    pub fn user_id(mut self, strategy: UserIdStrategy) -> Self {
        self.user_id = strategy;
        self
    }

    /// Where the layer takes the conferenceID from, on the page's request. Default
    /// none: the context has no conferenceID and the token is still issued. (The token
    /// endpoint has its own sources: see [`TokenEndpoint`].)
    pub fn conference_id(mut self, source: ConferenceIdSource) -> Self {
        self.conference = Some(source);
        self
    }

    /// The conferenceServerID the page should use as remoteUserID for a PeerConnection
    /// to the conference bridge (callstats' identifier rules). Default none.
    pub fn conference_server_id(mut self, id: UserId) -> Self {
        self.conference_server_id = Some(id);
        self
    }

    /// The request headers that select the user (the ones your identity is read from),
    /// sent as `Vary` on every response that carries a token, so that no cache serves one
    /// user's token to another. Default `cookie, authorization`; an empty list sends no
    /// `Vary`.
    pub fn vary(mut self, headers: impl IntoIterator<Item = HeaderName>) -> Self {
        self.vary = vary_value(headers);
        self
    }

    /// Who may get a token for which conference: asked by the layer and the endpoint
    /// alike, after the identity and the conferenceID are known and before anything is
    /// signed. A denied request gets `403` with the JSON code `conference_forbidden` and
    /// no token. Default none: every authenticated user may get a token for any
    /// conference. See [`Authorize`] (a closure returning `bool` works).
    pub fn authorize(mut self, authorize: impl Authorize) -> Self {
        self.authorize = Some(Arc::new(authorize));
        self
    }

    /// The issuer that signs the tokens.
    pub fn issuer(&self) -> &TokenIssuer {
        &self.issuer
    }

    /// The middleware for the pages that initialise callstats.js: it puts a
    /// [`CallstatsContext`] into the request extensions and the token into response
    /// headers. Its own settings (header names, `require_authentication`) are on
    /// [`CallstatsLayer`].
    pub fn layer(&self) -> CallstatsLayer {
        CallstatsLayer::new(self.preparing())
    }

    /// The `POST /getToken` service that callstats.js' `tokenGenerator` calls. Its own
    /// settings (body limit, conferenceID sources) are on [`TokenEndpoint`].
    pub fn endpoint(&self) -> TokenEndpoint {
        TokenEndpoint::new(self.preparing())
    }

    /// `GET /.well-known/jwks.json`: the public keys of the issuer's key ring.
    pub fn jwks(&self) -> JwksService {
        JwksService::new(self.issuer.keys().clone())
    }

    /// A copy of this configuration with its own prepared contexts, for a layer or an
    /// endpoint: a context always matches the configuration that made it.
    fn preparing(&self) -> Self {
        Self {
            prepared: Prepared::for_issuer(&self.issuer),
            ..self.clone()
        }
    }

    pub(crate) fn conference_source(&self) -> Option<&ConferenceIdSource> {
        self.conference.as_ref()
    }

    pub(crate) fn vary_header(&self) -> Option<&HeaderValue> {
        self.vary.as_ref()
    }

    /// The identity of the request, if it is authenticated.
    pub(crate) fn identify(&self, parts: &Parts) -> Option<Identity> {
        self.identity.identity(parts)
    }

    /// The callstats user of an identity, or a rejection (recorded in the audit log).
    pub(crate) fn user(&self, identity: &Identity) -> Result<CallstatsUser, Rejection> {
        self.user_id.derive(identity).map_err(|e| self.reject(e.into(), None))
    }

    /// What to grant `user` in the conference that `source` takes from `parts` (none
    /// without a source): the room the request names, looked up among the prepared
    /// contexts before it is validated, or what the source resolves, at once or when its
    /// call registry answers.
    pub(crate) fn want_in(
        &self,
        source: Option<&ConferenceIdSource>,
        parts: &Parts,
        user: &CallstatsUser,
        force_new: bool,
    ) -> Result<Wanted, ConferenceError> {
        let Some(source) = source else {
            return Ok(Wanted::Now(self.want(user, None, force_new)?));
        };
        if let Some(room) = source.named(parts) {
            return Ok(Wanted::Now(self.want(user, Some(&room?), force_new)?));
        }
        let prepare = source.is_per_call();
        match source.start(parts) {
            Resolution::Ready(resolved) => Ok(Wanted::Now(self.want_resolved(user, resolved?, prepare, force_new))),
            Resolution::Pending(resolved) => {
                let (this, user) = (self.clone(), user.clone());
                Ok(Wanted::Later(Box::pin(async move {
                    Ok(this.want_resolved(&user, resolved.await?, prepare, force_new))
                })))
            }
        }
    }

    /// What to grant `user` in the room `conference` that the request names (as read,
    /// not yet validated): the prepared context when there is one (unless the client
    /// forces a new token), else a new one, validated here, that will be prepared.
    pub(crate) fn want(
        &self,
        user: &CallstatsUser,
        conference: Option<&str>,
        force_new: bool,
    ) -> Result<Want, ConferenceError> {
        if let (Some(prepared), false) = (&self.prepared, force_new) {
            if let Some(context) = prepared.get(&self.issuer, user, conference, None) {
                return Ok(Want::Prepared(context));
            }
        }
        let conference = match conference {
            Some(raw) => Some(Resolved {
                id: ConferenceId::new(raw)?,
                call_started_at: None,
            }),
            None => None,
        };
        Ok(Want::New {
            user: user.clone(),
            conference,
            force_new,
            prepare: true,
        })
    }

    /// What to grant `user` in a conference that a source resolved (a per-call
    /// conferenceID, or a generated or custom one): the prepared context when
    /// `prepare` is set and there is one (unless the client forces a new token), else a
    /// new one, prepared when `prepare` is set.
    fn want_resolved(&self, user: &CallstatsUser, conference: Resolved, prepare: bool, force_new: bool) -> Want {
        if let (Some(prepared), true, false) = (&self.prepared, prepare, force_new) {
            let (id, started) = (conference.id.as_str(), conference.call_started_at);
            if let Some(context) = prepared.get(&self.issuer, user, Some(id), started) {
                return Want::Prepared(context);
            }
        }
        Want::New {
            user: user.clone(),
            conference: Some(conference),
            force_new,
            prepare,
        }
    }

    /// Asks the [`Authorize`] hook, then hands out the prepared context, or signs (or
    /// reuses) a token for a new one.
    pub(crate) fn grant(&self, identity: &Identity, want: Want) -> Grant {
        let decision = match &self.authorize {
            None => Authorization::Allow,
            Some(hook) => hook.authorize(identity, want.conference()),
        };
        match decision {
            Authorization::Allow => Grant::Ready(self.fulfil(want)),
            Authorization::Deny => Grant::Ready(Err(self.forbidden(&want))),
            Authorization::Later(decision) => {
                let this = self.clone();
                Grant::Later(Box::pin(async move {
                    if decision.await {
                        this.fulfil(want)
                    } else {
                        Err(this.forbidden(&want))
                    }
                }))
            }
        }
    }

    fn forbidden(&self, want: &Want) -> Rejection {
        let rejection = Rejection::conference_forbidden(want.conference());
        self.reject(rejection, Some(want.user().id()))
    }

    fn fulfil(&self, want: Want) -> Result<CallstatsContext, Rejection> {
        match want {
            Want::Prepared(context) => Ok(context),
            Want::New {
                user,
                conference,
                force_new,
                prepare,
            } => {
                let context = self.context(user, conference, force_new)?;
                if let (Some(prepared), true) = (&self.prepared, prepare) {
                    prepared.insert(&context);
                }
                Ok(context)
            }
        }
    }

    /// A new context: the issuer's token (cached, or signed now) for `user`.
    fn context(
        &self,
        user: CallstatsUser,
        conference: Option<Resolved>,
        force_new: bool,
    ) -> Result<CallstatsContext, Rejection> {
        let conference_id = conference.as_ref().map(|c| &c.id);
        let issued = if force_new {
            self.issuer.issue_new(user.id(), conference_id)
        } else {
            self.issuer.issue(user.id(), conference_id)
        };
        match issued {
            Ok(token) => Ok(CallstatsContext::new(
                self.issuer.app_id_shared().clone(),
                user,
                conference,
                token,
                self.conference_server_id.clone(),
            )),
            Err(error) => {
                // The issuer has already recorded the failure in the audit log.
                tracing::error!(target: "tower_callstats::layer", user_id = user.id().as_str(), %error, "token signing failed");
                Err(Rejection::signing_failed())
            }
        }
    }

    /// Records a rejection in the audit log and returns it.
    pub(crate) fn reject(&self, rejection: Rejection, user: Option<&UserId>) -> Rejection {
        let mut event = AuditEvent::new(Action::Rejected).with_reason(rejection.message());
        if let Some(user) = user {
            event = event.with_user_id(user);
        }
        self.issuer.audit().record(&event);
        rejection
    }
}

/// `a, b, c` as one header value, `None` for no names.
fn vary_value(names: impl IntoIterator<Item = HeaderName>) -> Option<HeaderValue> {
    let joined = names
        .into_iter()
        .map(|n| n.as_str().to_owned())
        .collect::<Vec<_>>()
        .join(", ");
    // Header names are visible ASCII tokens: the joined list is always a valid value.
    (!joined.is_empty())
        .then(|| HeaderValue::try_from(joined).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vary_lists_the_configured_headers() {
        assert_eq!(
            vary_value([header::COOKIE, header::AUTHORIZATION]).unwrap(),
            "cookie, authorization"
        );
        assert_eq!(vary_value([HeaderName::from_static("x-user")]).unwrap(), "x-user");
        assert_eq!(vary_value(Vec::new()), None);
    }
}
