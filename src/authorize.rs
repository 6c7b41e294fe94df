//! Who may get a token for which conference: the [`Authorize`] hook.
//!
//! Authentication says who the user is; it does not say which calls the user may join.
//! The layer and the token endpoint ask the hook configured with
//! [`Callstats::authorize`](crate::Callstats::authorize) before they sign, with the
//! identity and the conferenceID (if the request has one). A denied request gets
//! `403 {"code": "conference_forbidden", ...}` and no token. Without a hook every
//! authenticated user may get a token for any conference.
//!
//! A closure returning `bool` decides at once; one returning [`Authorization`] may
//! decide later, after a database or an API call ([`Authorization::later`]).
//!
//! ```
//! use tower_callstats::{ConferenceId, Identity, authorize::{Authorization, Authorize}};
//!
//! // Members only: a synchronous check.
//! let members_only = |identity: &Identity, conference: Option<&ConferenceId>| {
//!     conference.is_none_or(|c| c.starts_with(identity.username()))
//! };
//! let alice = Identity::new("alice");
//! let room = ConferenceId::new("alice-standup").unwrap();
//! assert!(matches!(members_only.authorize(&alice, Some(&room)), Authorization::Allow));
//! assert!(matches!(members_only.authorize(&Identity::new("bob"), Some(&room)), Authorization::Deny));
//!
//! // Asking another service: an asynchronous check.
//! let remote = |identity: &Identity, conference: Option<&ConferenceId>| {
//!     let (user, room) = (identity.username().to_owned(), conference.cloned());
//!     Authorization::later(async move { room.is_some() && user == "alice" })
//! };
//! assert!(matches!(remote.authorize(&alice, Some(&room)), Authorization::Later(_)));
//! ```

use std::{fmt, future::Future, pin::Pin, sync::Arc};

use crate::{ConferenceId, Identity};

/// A decision that is not known yet.
pub type Pending = Pin<Box<dyn Future<Output = bool> + Send + 'static>>;

/// The answer of an [`Authorize`] hook.
pub enum Authorization {
    /// The user may get a token.
    Allow,
    /// The user may not: `403`, no token.
    Deny,
    /// The answer comes later: `true` allows, `false` denies.
    Later(Pending),
}

impl Authorization {
    /// A decision that a future makes, e.g. after a database query. The request waits
    /// for it before anything is signed.
    pub fn later(decision: impl Future<Output = bool> + Send + 'static) -> Self {
        Self::Later(Box::pin(decision))
    }
}

impl From<bool> for Authorization {
    fn from(allowed: bool) -> Self {
        if allowed { Self::Allow } else { Self::Deny }
    }
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allow => "Allow",
            Self::Deny => "Deny",
            Self::Later(_) => "Later(..)",
        })
    }
}

/// Decides whether an authenticated identity may get a token for a conference.
///
/// Implemented for every closure `Fn(&Identity, Option<&ConferenceId>) -> R` where `R`
/// is `bool` or [`Authorization`].
pub trait Authorize: Send + Sync + 'static {
    /// The decision for `identity` and `conference` (`None` when the request has no
    /// conferenceID).
    fn authorize(&self, identity: &Identity, conference: Option<&ConferenceId>) -> Authorization;
}

impl<F, R> Authorize for F
where
    F: Fn(&Identity, Option<&ConferenceId>) -> R + Send + Sync + 'static,
    R: Into<Authorization>,
{
    fn authorize(&self, identity: &Identity, conference: Option<&ConferenceId>) -> Authorization {
        self(identity, conference).into()
    }
}

pub(crate) type SharedAuthorize = Arc<dyn Authorize>;
