//! What the layer and the endpoint hand to the app: [`CallstatsContext`].

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::HeaderValue;

use crate::{
    id::{ConferenceId, UserId},
    token::IssuedToken,
    user_id::CallstatsUser,
};

/// Everything the page needs to initialise callstats.js, for one authenticated
/// request. The layer puts it into the request extensions; handlers read it with
/// `Extension<CallstatsContext>` or, with the `axum` feature, as an extractor.
///
/// `Debug` hides the token.
///
/// Only the crate makes one, from a token it signed: a context cannot be forged.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::{Router, body::Body, routing::get};
/// use tower::ServiceExt;
/// use tower_callstats::{AppUser, Callstats, CallstatsContext, SigningKey, TokenIssuer};
///
/// let issuer = TokenIssuer::builder("app", SigningKey::generate("k").unwrap()).build().unwrap();
/// let app = Router::new()
///     .route("/", get(|cs: CallstatsContext| async move {
///         let page = cs.to_client_json();
///         assert_eq!(page["appID"], "app");
///         assert_eq!(page["userID"], "ann");
///         assert_eq!(page["localUserID"], "ann");
///         assert_eq!(page["token"], cs.token().jwt());
///         "ok"
///     }))
///     .route_layer(Callstats::new(issuer).layer());
/// let mut request = http::Request::get("/").body(Body::empty()).unwrap();
/// request.extensions_mut().insert(AppUser::new("ann"));
/// assert_eq!(app.oneshot(request).await.unwrap().status(), 200);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct CallstatsContext {
    // One reference count to clone: the layer hands a cached context to every request of
    // the same user and room.
    inner: Arc<ContextInner>,
}

#[derive(Debug)]
struct ContextInner {
    app_id: Arc<str>,
    user: CallstatsUser,
    conference_id: Option<ConferenceId>,
    /// The conferenceID percent-encoded as a header value, built once with the context.
    conference_header: Option<HeaderValue>,
    call_started_at: Option<u64>,
    token: Arc<IssuedToken>,
    conference_server_id: Option<UserId>,
    /// The token endpoint's answer, written the first time the endpoint sends it.
    body: OnceLock<Bytes>,
}

impl CallstatsContext {
    /// Assembles a context: only the layer and the endpoint do, from a token they signed.
    pub(crate) fn new(
        app_id: Arc<str>,
        user: CallstatsUser,
        conference_id: Option<ConferenceId>,
        call_started_at: Option<u64>,
        token: Arc<IssuedToken>,
        conference_server_id: Option<UserId>,
    ) -> Self {
        Self {
            inner: Arc::new(ContextInner {
                app_id,
                user,
                conference_header: conference_id.as_ref().map(ConferenceId::header_value),
                conference_id,
                call_started_at,
                token,
                conference_server_id,
                body: OnceLock::new(),
            }),
        }
    }

    /// The callstats appID.
    pub fn app_id(&self) -> &str {
        &self.inner.app_id
    }

    /// The user: the userID of the token and, in the object form, the real name.
    pub fn user(&self) -> &CallstatsUser {
        &self.inner.user
    }

    /// The userID in the token (the alias in the object form).
    pub fn user_id(&self) -> &UserId {
        self.inner.user.id()
    }

    /// The conferenceID: the call's ID with [`Callstats::calls`](crate::Callstats::calls),
    /// else the room; `None` when no room source is configured.
    pub fn conference_id(&self) -> Option<&ConferenceId> {
        self.inner.conference_id.as_ref()
    }

    /// When the call started, Unix seconds, with [`Callstats::calls`](crate::Callstats::calls):
    /// the same for everyone in the room until the call ends. `None` without calls, and
    /// when the registry failed and the room stands in for the call.
    pub fn call_started_at(&self) -> Option<u64> {
        self.inner.call_started_at
    }

    /// The signed token.
    pub fn token(&self) -> &IssuedToken {
        &self.inner.token
    }

    /// The conferenceID's response header value (percent-encoded), if there is one.
    pub(crate) fn conference_header(&self) -> Option<&HeaderValue> {
        self.inner.conference_header.as_ref()
    }

    /// The token's expiry, Unix seconds.
    pub fn expires_at(&self) -> u64 {
        self.inner.token.expires_at()
    }

    /// The configured conferenceServerID: the remoteUserID to use for a
    /// PeerConnection to the conference bridge.
    pub fn conference_server_id(&self) -> Option<&UserId> {
        self.inner.conference_server_id.as_ref()
    }

    /// The JSON a page (or the token endpoint) gets:
    /// `{"appID", "callStartedAt"?, "conferenceID"?, "conferenceServerID"?, "expiresAt", "issuedAt",
    /// "keyID", "localUserID", "token", "userID"}`. `localUserID` is what
    /// `callstats.initialize()` takes: the userID string, or the object form
    /// `{userName, aliasName}`.
    pub fn to_client_json(&self) -> serde_json::Value {
        serde_json::to_value(self.inner.client_json()).unwrap_or_default()
    }

    /// The token endpoint's response body: [`to_client_json`](Self::to_client_json) as
    /// bytes, written once per context (a cached context answers with a copy of a
    /// pointer).
    pub(crate) fn body(&self) -> Bytes {
        self.inner
            .body
            .get_or_init(|| Bytes::from(self.inner.client_json_bytes()))
            .clone()
    }
}

impl ContextInner {
    /// [`to_client_json`](CallstatsContext::to_client_json) written straight into bytes,
    /// without building a JSON tree, mostly copied from what the token serialized once
    /// when it was signed.
    fn client_json_bytes(&self) -> Vec<u8> {
        use std::io::Write as _;

        let token = self.token.json();
        let jwt = self.token.jwt();
        let conference = self.conference_id.as_ref().map_or(0, |c| c.len() + 24);
        let mut out = Vec::with_capacity(
            token.head.len() + token.times_and_key.len() + 2 * token.user_id.len() + jwt.len() + conference + 96,
        );
        out.extend_from_slice(token.head.as_bytes());
        // Writing into a Vec cannot fail; strings and numbers always serialize.
        if let Some(at) = self.call_started_at {
            let _ = write!(out, ",\"callStartedAt\":{at}");
        }
        if let Some(conference) = &self.conference_id {
            out.extend_from_slice(b",\"conferenceID\":");
            let _ = serde_json::to_writer(&mut out, conference.as_str());
        }
        if let Some(server) = &self.conference_server_id {
            out.extend_from_slice(b",\"conferenceServerID\":");
            let _ = serde_json::to_writer(&mut out, server.as_str());
        }
        out.extend_from_slice(token.times_and_key.as_bytes());
        out.extend_from_slice(b",\"localUserID\":");
        match self.user.user_name() {
            None => out.extend_from_slice(token.user_id.as_bytes()),
            Some(_) => {
                let _ = serde_json::to_writer(&mut out, &self.user);
            }
        }
        // A JWT is base64url and dots: nothing to escape.
        out.extend_from_slice(b",\"token\":\"");
        out.extend_from_slice(jwt.as_bytes());
        out.extend_from_slice(b"\",\"userID\":");
        out.extend_from_slice(token.user_id.as_bytes());
        out.push(b'}');
        out
    }

    fn client_json(&self) -> ClientJson<'_> {
        let claims = self.token.claims();
        ClientJson {
            app_id: &self.app_id,
            call_started_at: self.call_started_at,
            conference_id: self.conference_id.as_deref(),
            conference_server_id: self.conference_server_id.as_deref(),
            expires_at: claims.exp,
            issued_at: claims.iat,
            key_id: &claims.key_id,
            local_user_id: &self.user,
            token: self.token.jwt(),
            user_id: self.user.id(),
        }
    }
}

/// The page's view of a context, in the key order of a JSON object map.
#[derive(serde::Serialize)]
struct ClientJson<'a> {
    #[serde(rename = "appID")]
    app_id: &'a str,
    #[serde(rename = "callStartedAt", skip_serializing_if = "Option::is_none")]
    call_started_at: Option<u64>,
    #[serde(rename = "conferenceID", skip_serializing_if = "Option::is_none")]
    conference_id: Option<&'a str>,
    #[serde(rename = "conferenceServerID", skip_serializing_if = "Option::is_none")]
    conference_server_id: Option<&'a str>,
    #[serde(rename = "expiresAt")]
    expires_at: u64,
    #[serde(rename = "issuedAt")]
    issued_at: u64,
    #[serde(rename = "keyID")]
    key_id: &'a str,
    #[serde(rename = "localUserID")]
    local_user_id: &'a CallstatsUser,
    token: &'a str,
    #[serde(rename = "userID")]
    user_id: &'a str,
}

#[cfg(feature = "axum")]
mod extract {
    use axum::{
        extract::{FromRequestParts, OptionalFromRequestParts},
        response::{IntoResponse, Response},
    };
    use http::request::Parts;

    use super::CallstatsContext;
    use crate::rejection::Rejection;

    /// Extracts the context the layer put into the request. Fails with a 500 when the
    /// layer is not on the route (a server mistake); use `Option<CallstatsContext>`
    /// on routes where anonymous users are let through.
    impl<S: Send + Sync> FromRequestParts<S> for CallstatsContext {
        type Rejection = Response;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
            parts.extensions.get::<CallstatsContext>().cloned().ok_or_else(|| {
                tracing::error!(target: "tower_callstats::layer", "CallstatsContext extracted on a route without the CallstatsLayer (or by an unauthenticated request)");
                Rejection::missing_context().to_json_response().map(axum::body::Body::from).into_response()
            })
        }
    }

    impl<S: Send + Sync> OptionalFromRequestParts<S> for CallstatsContext {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts.extensions.get::<CallstatsContext>().cloned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AppUser, ConferenceId, SigningKey, TokenIssuer, UserIdStrategy};

    /// The endpoint's hand-assembled JSON parses to exactly `to_client_json()` (built by
    /// serde_json), escapes, optional fields and the object form included.
    #[test]
    fn the_endpoints_json_is_serde_jsons() {
        let issuer = TokenIssuer::builder(r#"app "1" \ é"#, SigningKey::generate("key \"1\"").unwrap())
            .build()
            .unwrap();
        let names = ["alice", r#"bob "the" \ builder"#, "インターネット", "a\u{200d}b"];
        for name in names {
            for object_form in [false, true] {
                let user = UserIdStrategy::raw()
                    .object_form(object_form)
                    .derive(&AppUser::new(name))
                    .unwrap();
                let token = issuer.issue(user.id(), None).unwrap();
                for conference in [None, Some(r#"room "x" \ ອິນ"#)] {
                    for started in [None, Some(1_795_650_775)] {
                        for server in [None, Some(UserId::new(r#"sfu "1""#).unwrap())] {
                            let context = CallstatsContext::new(
                                issuer.app_id_shared().clone(),
                                user.clone(),
                                conference.map(|c| ConferenceId::new(c).unwrap()),
                                started,
                                token.clone(),
                                server,
                            );
                            let written: serde_json::Value = serde_json::from_slice(&context.body()).unwrap();
                            assert_eq!(written, context.to_client_json());
                        }
                    }
                }
            }
        }
    }
}
