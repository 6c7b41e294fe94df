//! What the layer and the token endpoint share: identity, userID, signing.

use http::request::Parts;

use crate::{
    audit::{Action, AuditEvent},
    context::CallstatsContext,
    id::{ConferenceId, UserId},
    identity::{FromExtensions, GetIdentity, Identity, SharedGetIdentity},
    rejection::Rejection,
    token::TokenIssuer,
    user_id::{CallstatsUser, UserIdStrategy},
};
use std::sync::Arc;

#[derive(Clone)]
pub(crate) struct Core {
    pub(crate) issuer: TokenIssuer,
    pub(crate) identity: SharedGetIdentity,
    pub(crate) user_id: UserIdStrategy,
    pub(crate) conference_server_id: Option<UserId>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("issuer", &self.issuer)
            .field("user_id", &self.user_id)
            .field("conference_server_id", &self.conference_server_id)
            .finish_non_exhaustive()
    }
}

impl Core {
    pub(crate) fn new(issuer: TokenIssuer) -> Self {
        Self {
            issuer,
            identity: Arc::new(FromExtensions),
            user_id: UserIdStrategy::raw(),
            conference_server_id: None,
        }
    }

    pub(crate) fn set_identity(&mut self, identity: impl GetIdentity) {
        self.identity = Arc::new(identity);
    }

    pub(crate) fn identity(&self, parts: &Parts) -> Option<Identity> {
        self.identity.identity(parts)
    }

    pub(crate) fn user(&self, identity: &Identity) -> Result<CallstatsUser, Rejection> {
        self.user_id.derive(identity).map_err(|e| self.reject(e.into(), None))
    }

    /// Signs (or reuses) a token and assembles the context.
    pub(crate) fn context(
        &self,
        user: CallstatsUser,
        conference: Option<ConferenceId>,
        force_new: bool,
    ) -> Result<CallstatsContext, Rejection> {
        let issued = if force_new {
            self.issuer.issue_new(user.id(), conference.as_ref())
        } else {
            self.issuer.issue(user.id(), conference.as_ref())
        };
        match issued {
            Ok(token) => Ok(CallstatsContext::new(
                self.issuer.app_id_shared(),
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
