//! Where the authenticated identity comes from.
//!
//! The crate never authenticates anybody: it reads the identity that the app's own
//! authentication established. [`GetIdentity`] is that seam. The default,
//! [`FromExtensions`], reads an [`Identity`] that the app's session layer put into the
//! request extensions; any closure `Fn(&http::request::Parts) -> Option<Identity>`
//! works too.
//!
//! ```
//! use http::Request;
//! use tower_callstats::identity::{FromExtensions, GetIdentity, Identity};
//!
//! // The app's session middleware does this once it has authenticated the request:
//! let mut request = Request::new(());
//! request.extensions_mut().insert(Identity::new("alice").with_domain("example.com"));
//!
//! let (parts, _body) = request.into_parts();
//! let identity = FromExtensions.identity(&parts).unwrap();
//! assert_eq!(identity.username(), "alice");
//! assert_eq!(identity.domain(), Some("example.com"));
//!
//! // Or read it from wherever the app keeps it, with a closure. A header such as this
//! // one is an identity only if a proxy in front of the app sets it after
//! // authenticating the user AND strips it from every client request; otherwise any
//! // client can send it and be anyone.
//! let from_header = |parts: &http::request::Parts| {
//!     parts.headers.get("x-authenticated-user")?.to_str().ok().map(Identity::new)
//! };
//! assert!(from_header.identity(&parts).is_none());
//! ```

use std::{fmt, sync::Arc};

use http::request::Parts;

/// An authenticated user, as the app's own authentication knows it.
///
/// `Debug` shows the username and domain but only whether there is a session ID: a
/// session ID is a bearer secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    username: Arc<str>,
    domain: Option<Arc<str>>,
    session_id: Option<Arc<str>>,
}

impl Identity {
    /// An identity with just a username.
    pub fn new(username: impl Into<Arc<str>>) -> Self {
        Self {
            username: username.into(),
            domain: None,
            session_id: None,
        }
    }

    /// Sets the user's domain (used by the SHA1 userID strategy, `username@domain`).
    pub fn with_domain(mut self, domain: impl Into<Arc<str>>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Sets the session ID (used by the ephemeral userID strategy, which derives a
    /// stable per-session userID from it with a keyed hash).
    pub fn with_session_id(mut self, session_id: impl Into<Arc<str>>) -> Self {
        self.session_id = Some(session_id.into());
        self
    }

    /// The username.
    pub fn username(&self) -> &str {
        &self.username
    }

    pub(crate) fn username_shared(&self) -> &Arc<str> {
        &self.username
    }

    /// The domain, if the app set one.
    pub fn domain(&self) -> Option<&str> {
        self.domain.as_deref()
    }

    /// The session ID, if the app set one.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("username", &self.username)
            .field("domain", &self.domain)
            .field("session_id", &self.session_id.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Reads the authenticated identity of a request, or `None` when it has none.
///
/// Implemented for [`FromExtensions`] (the default) and for every closure
/// `Fn(&Parts) -> Option<Identity>`.
pub trait GetIdentity: Send + Sync + 'static {
    /// The identity of the request, if it is authenticated.
    fn identity(&self, parts: &Parts) -> Option<Identity>;
}

impl<F> GetIdentity for F
where
    F: Fn(&Parts) -> Option<Identity> + Send + Sync + 'static,
{
    fn identity(&self, parts: &Parts) -> Option<Identity> {
        self(parts)
    }
}

/// The default [`GetIdentity`]: an [`Identity`] in the request extensions, put there by
/// the app's authentication layer.
#[derive(Debug, Clone, Copy, Default)]
pub struct FromExtensions;

impl GetIdentity for FromExtensions {
    fn identity(&self, parts: &Parts) -> Option<Identity> {
        parts.extensions.get::<Identity>().cloned()
    }
}

pub(crate) type SharedGetIdentity = Arc<dyn GetIdentity>;
