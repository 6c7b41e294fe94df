//! Finished answers: per (userID, conferenceID as the request names it), the
//! [`CallstatsContext`] the layer and the token endpoint hand out, kept for as long as the
//! token cache would hand out its token.
//!
//! A request whose user and room have a prepared context costs a lookup and a reference
//! count: no conferenceID to validate and copy, no header value to encode, no token
//! lookup, no context to assemble, and for the endpoint no body to write. Each layer and
//! each endpoint has its own ([`Callstats::layer`](crate::Callstats::layer) and
//! [`Callstats::endpoint`](crate::Callstats::endpoint) make it), so a context always
//! matches the configuration that made it.
//!
//! Prepared are the rooms that the request alone names (a route parameter, a path
//! template, the URL, a query parameter, a header, the token request's body, or the
//! SHA1 of one of them) and the conferenceIDs of a
//! [`per_call`](crate::ConferenceIdSource::per_call) source (the same for everyone in
//! the call while it lasts). A generated or custom conferenceID is made anew for every
//! request.

use std::sync::Arc;

use crate::{
    context::CallstatsContext,
    id::{ConferenceId, UserId},
    token::TokenIssuer,
    user_id::CallstatsUser,
};

/// What a prepared context is for.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    user: UserId,
    conference: Option<ConferenceId>,
}

/// A [`Key`] of borrowed parts, to look a context up without copying the request's
/// strings. It hashes exactly like the key it stands for (a string hashes alike
/// borrowed or shared).
#[derive(Hash)]
struct KeyRef<'a> {
    user: &'a str,
    conference: Option<&'a str>,
}

impl quick_cache::Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.user == key.user.as_str() && self.conference == key.conference.as_deref()
    }
}

/// The prepared contexts of one layer or endpoint (quick_cache: bounded, sharded, no
/// background threads), as many as the token cache holds tokens.
pub(crate) struct Prepared {
    contexts: quick_cache::sync::Cache<Key, CallstatsContext>,
}

impl Prepared {
    /// `None` when the issuer's token cache is off: then every request signs, and there
    /// is nothing to keep.
    pub(crate) fn for_issuer(issuer: &TokenIssuer) -> Option<Arc<Self>> {
        let capacity = usize::try_from(issuer.cache_capacity()?).unwrap_or(usize::MAX);
        Some(Arc::new(Self {
            contexts: quick_cache::sync::Cache::new(capacity),
        }))
    }

    /// The context prepared for `user` in the room `conference` (as the request names
    /// it, or a per-call conferenceID with its call's start), if its token is still one
    /// the token cache would hand out (the reuse is then recorded, as the cache records
    /// its own).
    pub(crate) fn get(
        &self,
        issuer: &TokenIssuer,
        user: &CallstatsUser,
        conference: Option<&str>,
        call_started_at: Option<u64>,
    ) -> Option<CallstatsContext> {
        let key = KeyRef {
            user: user.id().as_str(),
            conference,
        };
        let context = self.contexts.get(&key)?;
        // The key is the userID and the conferenceID; in the object form the userName
        // must match too, and a per-call conferenceID comes with its call's start.
        (context.user() == user
            && context.call_started_at() == call_started_at
            && issuer.reuse(context.token(), context.conference_id()))
        .then_some(context)
    }

    /// Keeps `context` for its user and room.
    pub(crate) fn insert(&self, context: &CallstatsContext) {
        let key = Key {
            user: context.user_id().clone(),
            conference: context.conference_id().cloned(),
        };
        self.contexts.insert(key, context.clone());
    }
}
