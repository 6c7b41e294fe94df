//! Who the request's user is: [`AppUser`], and where it comes from ([`GetUser`]).
//!
//! The crate never authenticates anybody: it reads the user that the app's own
//! authentication established. [`GetUser`] is that seam, the first step of every
//! request. The default, [`FromExtensions`], reads an [`AppUser`] that the app's session
//! layer put into the request extensions; any closure `Fn(&http::request::Parts) ->
//! Option<AppUser>` works too, and so does an asynchronous source such as a
//! tower-sessions session ([`FromSession`](crate::FromSession), feature
//! `tower-sessions`).
//!
//! ```
//! use http::Request;
//! use tower_callstats::{AppUser, FromExtensions, GetUser};
//!
//! // The app's session middleware does this once it has authenticated the request:
//! let mut request = Request::new(());
//! request.extensions_mut().insert(AppUser::new("alice").with_domain("example.com"));
//! let (parts, _body) = request.into_parts();
//!
//! // What the layer and the token endpoint do first (the future of a synchronous
//! // source is ready at once):
//! let user = FromExtensions.user(&parts).into_inner().unwrap();
//! assert_eq!(user.username(), "alice");
//! assert_eq!(user.domain(), Some("example.com"));
//!
//! // Or read it from wherever the app keeps it, with a closure. A header such as this
//! // one is a user only if a proxy in front of the app sets it after authenticating the
//! // user AND strips it from every client request; otherwise any client can send it
//! // and be anyone.
//! let from_header = |parts: &http::request::Parts| {
//!     parts.headers.get("x-authenticated-user")?.to_str().ok().map(AppUser::new)
//! };
//! assert!(from_header.user(&parts).into_inner().is_none());
//! ```

use std::{
    fmt,
    future::{Future, Ready, ready},
    sync::Arc,
};

use http::request::Parts;

/// The logged-in user of a request, as the app's own authentication knows it.
///
/// `Debug` shows the username and domain but only whether there is a session ID: a
/// session ID is a bearer secret.
#[derive(Clone, PartialEq, Eq)]
pub struct AppUser {
    username: Arc<str>,
    domain: Option<Arc<str>>,
    session_id: Option<Arc<str>>,
}

impl AppUser {
    /// A user with just a username.
    pub fn new(username: impl Into<Arc<str>>) -> Self {
        Self {
            username: username.into(),
            domain: None,
            session_id: None,
        }
    }

    /// Sets the user's domain (used by the SHA1 userID strategy, `username@domain`).
    #[must_use]
    pub fn with_domain(mut self, domain: impl Into<Arc<str>>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Sets the session ID (used by the ephemeral userID strategy, which derives a
    /// stable per-session userID from it with a keyed hash).
    #[must_use]
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

impl fmt::Debug for AppUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppUser")
            .field("username", &self.username)
            .field("domain", &self.domain)
            .field("session_id", &self.session_id.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Where the logged-in user of a request comes from: the first step of every request,
/// set with [`Callstats::user`](crate::Callstats::user).
///
/// Implemented for [`FromExtensions`] (the default), for every closure
/// `Fn(&Parts) -> Option<AppUser>` (synchronous: its future is ready at once), and for
/// [`FromSession`](crate::FromSession) (feature `tower-sessions`).
///
/// An asynchronous source returns a future that does not borrow the request: clone what
/// it needs out of `parts` (a session handle, say) and box the future
/// (`Box::pin(async move { .. })`). The future must be [`Unpin`] so that the layer can
/// poll it where it stands and keep it only when it is pending: a boxed future is.
pub trait GetUser: Send + Sync + 'static {
    /// The future of the answer: `None` when the request has no logged-in user.
    type Future: Future<Output = Option<AppUser>> + Send + Unpin + 'static;

    /// The user of the request, if it is authenticated.
    fn user(&self, parts: &Parts) -> Self::Future;
}

impl<F> GetUser for F
where
    F: Fn(&Parts) -> Option<AppUser> + Send + Sync + 'static,
{
    type Future = Ready<Option<AppUser>>;

    fn user(&self, parts: &Parts) -> Self::Future {
        ready(self(parts))
    }
}

/// The default [`GetUser`]: an [`AppUser`] in the request extensions, put there by the
/// app's authentication layer.
#[derive(Debug, Clone, Copy, Default)]
pub struct FromExtensions;

impl GetUser for FromExtensions {
    type Future = Ready<Option<AppUser>>;

    fn user(&self, parts: &Parts) -> Self::Future {
        ready(parts.extensions.get::<AppUser>().cloned())
    }
}
