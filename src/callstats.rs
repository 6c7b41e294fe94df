//! [`Callstats`]: the one configuration the page's layer, the token endpoint and the
//! JWKS service are made from, so that they cannot disagree.

use std::{fmt, sync::Arc};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, header};

use crate::{
    audit::{Audit, SharedAudit, TracingAudit},
    authorize::{AllowAll, Authorize},
    cache::TokenCache,
    calls::Calls,
    id::UserId,
    jwks::JwksService,
    rejection::{Rejection, Shape},
    room::RoomSource,
    token::TokenIssuer,
    user::{FromExtensions, GetUser},
    user_id::UserIdStrategy,
};

/// The configuration that the layer ([`layer`](Self::layer)), the token endpoint
/// ([`endpoint`](Self::endpoint)) and the JWKS service ([`jwks`](Self::jwks)) are made
/// from, so that they cannot disagree.
///
/// Every request of the layer and the endpoint goes through the same steps, in this
/// order, and nothing is touched before the app has said yes:
///
/// 1. **user**: who is logged in ([`user`](Self::user); none: no token);
/// 2. **userID**: derived from the user ([`user_id`](Self::user_id));
/// 3. **room**: as the request names it ([`room`](Self::room)); on the endpoint, from the
///    page that asks (its `Referer`);
/// 4. **authorize**: the app's hook decides on the user and the room
///    ([`authorize`](Self::authorize));
/// 5. **call**: the room's active call, when calls are on ([`calls`](Self::calls));
/// 6. **token**: from the cache, or signed.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::{Router, body::Body, routing::get};
/// use http::Request;
/// use http_body_util::BodyExt;
/// use tower::ServiceExt;
/// use tower_callstats::{AppUser, Callstats, CallstatsContext, RoomSource, SigningKey, TokenIssuer, UserIdStrategy};
///
/// let issuer = TokenIssuer::builder("my-app", SigningKey::generate("key-1").unwrap()).build().unwrap();
/// let callstats = Callstats::new(issuer)
///     .user_id(UserIdStrategy::sha1("example.com").unwrap())
///     .room(RoomSource::path("/rooms/{room}", "room").unwrap());
///
/// let app = Router::new()
///     .route("/rooms/{room}", get(|cs: CallstatsContext| async move { cs.user_id().to_string() }))
///     .route_layer(callstats.layer())
///     .route_service("/getToken", callstats.endpoint());
///
/// // The app's session layer inserts the user; here the test does.
/// let alice = || AppUser::new("alice");
/// let mut page = Request::get("/rooms/42").body(Body::empty()).unwrap();
/// page.extensions_mut().insert(alice());
/// let page = app.clone().oneshot(page).await.unwrap();
/// let page_user = page.into_body().collect().await.unwrap().to_bytes();
///
/// // callstats.js' tokenGenerator, on that page: the room comes from its Referer.
/// let mut token = Request::post("/getToken")
///     .header("referer", "http://localhost/rooms/42")
///     .body(Body::empty())
///     .unwrap();
/// token.extensions_mut().insert(alice());
/// let token = app.oneshot(token).await.unwrap();
/// let json: serde_json::Value =
///     serde_json::from_slice(&token.into_body().collect().await.unwrap().to_bytes()).unwrap();
///
/// // sha1("alice@example.com"), on the page and in the token alike, for room 42.
/// assert_eq!(page_user, "fc2398a73dd54d6237c4fdb58fd7d75347cf5af3");
/// assert_eq!(json["userID"], "fc2398a73dd54d6237c4fdb58fd7d75347cf5af3");
/// assert_eq!(json["conferenceID"], "42");
/// # }
/// ```
///
/// Every setter is infallible and has a default; what can be wrong (keys, TTL bounds,
/// reserved claims, a path template) was checked when the value was built. Cloning is
/// cheap (reference counts), and clones share the token cache: clone it to vary a
/// setting for one route.
#[must_use]
pub struct Callstats<U = FromExtensions, A = AllowAll> {
    pub(crate) user: Arc<U>,
    pub(crate) authorize: Arc<A>,
    pub(crate) settings: Settings,
}

/// The rest of [`Callstats`]: what does not depend on the user source and the hook.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) issuer: TokenIssuer,
    pub(crate) user_id: UserIdStrategy,
    pub(crate) room: Option<RoomSource>,
    pub(crate) calls: Option<Calls>,
    pub(crate) conference_server_id: Option<UserId>,
    pub(crate) vary: Option<HeaderValue>,
    pub(crate) rejection: Option<Shape>,
    pub(crate) audit: SharedAudit,
    pub(crate) cache: Arc<TokenCache>,
}

impl<U, A> Clone for Callstats<U, A> {
    fn clone(&self) -> Self {
        Self {
            user: self.user.clone(),
            authorize: self.authorize.clone(),
            settings: self.settings.clone(),
        }
    }
}

impl<U, A> fmt::Debug for Callstats<U, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.settings;
        f.debug_struct("Callstats")
            .field("issuer", &settings.issuer)
            .field("user", &std::any::type_name::<U>())
            .field("user_id", &settings.user_id)
            .field("room", &settings.room)
            .field("calls", &settings.calls)
            .field("authorize", &std::any::type_name::<A>())
            .field("conference_server_id", &settings.conference_server_id)
            .field("vary", &settings.vary)
            .field("rejection", &settings.rejection.is_some())
            .finish_non_exhaustive()
    }
}

impl Callstats {
    /// A configuration with every default: the user from the request extensions
    /// ([`FromExtensions`]), raw usernames as userIDs, no room (tokens without a
    /// conferenceID), no calls, every logged-in user allowed ([`AllowAll`]), no
    /// conferenceServerID, `Vary: cookie, authorization`, JSON rejections, audit
    /// events as `tracing` events ([`TracingAudit`]).
    pub fn new(issuer: TokenIssuer) -> Self {
        Self {
            user: Arc::new(FromExtensions),
            authorize: Arc::new(AllowAll),
            settings: Settings {
                cache: Arc::new(TokenCache::new(&issuer)),
                issuer,
                user_id: UserIdStrategy::raw(),
                room: None,
                calls: None,
                conference_server_id: None,
                vary: vary_value([header::COOKIE, header::AUTHORIZATION]),
                rejection: None,
                audit: Arc::new(TracingAudit),
            },
        }
    }
}

impl<U, A> Callstats<U, A> {
    /// Where the logged-in user comes from: step 1 of every request. Default
    /// [`FromExtensions`]: an [`AppUser`](crate::AppUser) that the app's session layer
    /// inserted into the request extensions. A closure
    /// `Fn(&http::request::Parts) -> Option<AppUser>` works too, and so does an
    /// asynchronous source such as [`FromSession`](crate::FromSession) (feature
    /// `tower-sessions`). See [`GetUser`].
    pub fn user<U2: GetUser>(self, user: U2) -> Callstats<U2, A> {
        Callstats {
            user: Arc::new(user),
            authorize: self.authorize,
            settings: self.settings,
        }
    }

    /// How the userID is derived from the user: step 2. Default [`UserIdStrategy::raw`].
    pub fn user_id(mut self, strategy: UserIdStrategy) -> Self {
        self.settings.user_id = strategy;
        self
    }

    /// Where the room of a request comes from: step 3, the same for the page's layer
    /// and the token endpoint (which reads it from the page that asks, its `Referer`).
    /// Once set, a request that names no room gets `400 conference_required`, never a
    /// token without a conference. Default none: tokens without a conferenceID.
    pub fn room(mut self, source: RoomSource) -> Self {
        self.settings.room = Some(source);
        self
    }

    /// Who may get a token for which room: step 4, asked with the user, the userID and
    /// the room as the request named it, before the call registry or the token cache is
    /// touched. A denied request gets `403 conference_forbidden`, naming the room it
    /// asked for. Default [`AllowAll`]. A closure
    /// `Fn(&AppUser, &UserId, Option<&str>) -> bool` decides at once;
    /// [`AsyncAuthorize`](crate::AsyncAuthorize) waits for a future. See [`Authorize`].
    pub fn authorize<A2: Authorize>(self, authorize: A2) -> Callstats<U, A2> {
        Callstats {
            user: self.user,
            authorize: Arc::new(authorize),
            settings: self.settings,
        }
    }

    /// One conferenceID per call in each room: step 5, after the hook allowed the room.
    /// The first participant of a room starts a call with a new conferenceID, everyone
    /// who joins while it is active gets the same one, and after the call ended
    /// ([`Calls::end_call`], or the registry's idle timeout) the next join starts a new
    /// call. Needs a [`room`](Self::room) source. Default none: the room is the
    /// conferenceID. See [`calls`](crate::calls).
    pub fn calls(mut self, calls: Calls) -> Self {
        self.settings.calls = Some(calls);
        self
    }

    /// The conferenceServerID the page should use as remoteUserID for a PeerConnection
    /// to the conference bridge (callstats' identifier rules). Default none.
    pub fn conference_server_id(mut self, id: UserId) -> Self {
        self.settings.conference_server_id = Some(id);
        self
    }

    /// The request headers that select the user (the ones your session is read from),
    /// sent as `Vary` on every response that carries a token, so that no cache serves
    /// one user's token to another. Default `cookie, authorization`; an empty list
    /// sends no `Vary`.
    pub fn vary(mut self, headers: impl IntoIterator<Item = HeaderName>) -> Self {
        self.settings.vary = vary_value(headers);
        self
    }

    /// The response of a refused request, made by the app from the [`Rejection`]
    /// (status, stable code, message), as `tower_http::csrf`'s `with_rejection_response`
    /// does: an HTML page for a room page, say. Default
    /// [`Rejection::to_json_response`]. The layer and the endpoint use it alike; use a
    /// clone with another shape for one of them.
    pub fn rejection<F>(mut self, shape: F) -> Self
    where
        F: Fn(Rejection) -> Response<Bytes> + Send + Sync + 'static,
    {
        self.settings.rejection = Some(Arc::new(shape));
        self
    }

    /// Where audit events go: one per token issued, reused or refused. Default
    /// [`TracingAudit`]. See [`audit`](crate::audit).
    pub fn audit(mut self, audit: impl Audit) -> Self {
        self.settings.audit = Arc::new(audit);
        self
    }

    /// The issuer that signs the tokens.
    pub fn issuer(&self) -> &TokenIssuer {
        &self.settings.issuer
    }

    /// `GET /.well-known/jwks.json`: the public keys of the issuer's key ring.
    pub fn jwks(&self) -> JwksService {
        JwksService::new(self.settings.issuer.keys().clone())
    }

    /// Logs a configuration that cannot work as asked (calls without a room).
    pub(crate) fn check(&self) {
        if self.settings.calls.is_some() && self.settings.room.is_none() {
            tracing::warn!(
                target: "tower_callstats::layer",
                "Callstats::calls is set without Callstats::room: calls need a room, so none is joined"
            );
        }
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
