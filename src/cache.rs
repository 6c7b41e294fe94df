//! The one cache: per userID (and conferenceID, when the token carries it) and signing
//! key, the token and the finished answers built with it for the user's last rooms.
//!
//! A request whose user, room and call have an answer here costs one lookup, one
//! freshness check and a reference count: no token to sign, no conferenceID to copy,
//! no header value to encode, no context to assemble, and for the endpoint no body to
//! write. A user who moves from room to room keeps one token (a token that does not
//! carry the conferenceID is the same for every room), so looping over rooms never
//! signs, and never evicts other users' tokens.

use std::sync::Arc;

use crate::{
    audit::Action,
    context::CallstatsContext,
    id::{ConferenceId, UserId},
    keys::SignError,
    token::{IssuedToken, TokenIssuer},
    user_id::CallstatsUser,
};

/// How many rooms' answers one token keeps (the most recent first).
const ROOMS_PER_TOKEN: usize = 4;

/// What a cached token is for.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    user: UserId,
    conference: Option<ConferenceId>,
    /// The signing key instance, so that a rotation never hands out a token of the
    /// previous key.
    key_serial: u64,
}

/// A [`Key`] of borrowed parts, to look a token up without copying the request's
/// strings. It hashes exactly like the key it stands for (a string hashes alike
/// borrowed or shared).
#[derive(Hash)]
struct KeyRef<'a> {
    user: &'a str,
    conference: Option<&'a str>,
    key_serial: u64,
}

impl quick_cache::Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.key_serial == key.key_serial
            && self.user == key.user.as_str()
            && self.conference == key.conference.as_deref()
    }
}

/// A token and the answers made with it, most recent first.
struct Entry {
    token: Arc<IssuedToken>,
    contexts: Box<[CallstatsContext]>,
}

/// The conferenceID a request is for: the call's (owned already) or the room's (as the
/// request named it, copied only when a new answer is built).
#[derive(Clone, Copy)]
pub(crate) enum Conference<'a> {
    Room(&'a str),
    Call { id: &'a ConferenceId, started_at: u64 },
}

impl Conference<'_> {
    fn id(&self) -> &str {
        match self {
            Conference::Room(room) => room,
            Conference::Call { id, .. } => id.as_str(),
        }
    }

    fn started_at(&self) -> Option<u64> {
        match self {
            Conference::Room(_) => None,
            Conference::Call { started_at, .. } => Some(*started_at),
        }
    }

    fn to_owned_id(self) -> Result<ConferenceId, SignError> {
        match self {
            // The room passed the identifier rules before it got here.
            Conference::Room(room) => ConferenceId::new(room).map_err(|_| SignError),
            Conference::Call { id, .. } => Ok(id.clone()),
        }
    }
}

/// What a request asks for.
pub(crate) struct Ask<'a> {
    pub(crate) user: &'a CallstatsUser,
    pub(crate) conference: Option<Conference<'a>>,
    pub(crate) server_id: Option<&'a UserId>,
    pub(crate) force_new: bool,
}

impl Ask<'_> {
    /// Whether `context` answers this request.
    fn fits(&self, context: &CallstatsContext) -> bool {
        context.conference_id().map(ConferenceId::as_str) == self.conference.as_ref().map(Conference::id)
            && context.call_started_at() == self.conference.and_then(|c| c.started_at())
            && context.user() == self.user
            && context.conference_server_id() == self.server_id
    }
}

/// The cache of one [`Callstats`](crate::Callstats) and its clones (quick_cache:
/// bounded, sharded, no background threads); with the cache off, every request signs.
pub(crate) struct TokenCache {
    entries: Option<quick_cache::sync::Cache<Key, Arc<Entry>>>,
    /// Re-issue when fewer than this many seconds of life are left.
    margin: u64,
}

impl TokenCache {
    /// A cache with the issuer's settings.
    pub(crate) fn new(issuer: &TokenIssuer) -> Self {
        match issuer.cache_settings() {
            Some(settings) => Self {
                entries: Some(quick_cache::sync::Cache::new(settings.capacity)),
                margin: settings.margin,
            },
            None => Self {
                entries: None,
                margin: 0,
            },
        }
    }

    /// The answer to `ask`, and what it took: a new signature ([`Action::Issued`]), a
    /// cached token ([`Action::Reused`]), or the token just signed for a forced
    /// re-issue within the issuer's interval ([`Action::ForceNewLimited`]).
    pub(crate) fn answer(&self, issuer: &TokenIssuer, ask: &Ask<'_>) -> Result<(CallstatsContext, Action), SignError> {
        let Some(entries) = &self.entries else {
            let token = issuer.sign_active(ask.user.id(), claimed(issuer, ask)?.as_ref())?;
            return Ok((build(issuer, ask, token)?, Action::Issued));
        };
        let conference = ask.conference.filter(|_| issuer.conf_id_claim());
        let key = KeyRef {
            user: ask.user.id().as_str(),
            conference: conference.as_ref().map(Conference::id),
            key_serial: issuer.active_serial(),
        };
        let now = issuer.now();
        let cached = entries.get(&key).filter(|entry| {
            let claims = entry.token.claims();
            claims.exp.saturating_sub(now) >= self.margin && claims.iat <= now
        });
        if let Some(entry) = cached {
            let action = match ask.force_new {
                false => Some(Action::Reused),
                true if now.saturating_sub(entry.token.claims().iat) < issuer.force_new_interval() => {
                    Some(Action::ForceNewLimited)
                }
                true => None,
            };
            if let Some(action) = action {
                if let Some(context) = entry.contexts.iter().find(|c| ask.fits(c)) {
                    return Ok((context.clone(), action));
                }
                // The same token, in a room it has not answered yet.
                let context = build(issuer, ask, entry.token.clone())?;
                let contexts = std::iter::once(context.clone())
                    .chain(entry.contexts.iter().take(ROOMS_PER_TOKEN - 1).cloned())
                    .collect();
                self.insert(entries, key, ask, entry.token.clone(), contexts);
                return Ok((context, action));
            }
        }
        let token = issuer.sign_active(ask.user.id(), claimed(issuer, ask)?.as_ref())?;
        let context = build(issuer, ask, token.clone())?;
        self.insert(entries, key, ask, token, Box::new([context.clone()]));
        Ok((context, Action::Issued))
    }

    fn insert(
        &self,
        entries: &quick_cache::sync::Cache<Key, Arc<Entry>>,
        key: KeyRef<'_>,
        ask: &Ask<'_>,
        token: Arc<IssuedToken>,
        contexts: Box<[CallstatsContext]>,
    ) {
        let key = Key {
            user: ask.user.id().clone(),
            conference: match key.conference {
                Some(_) => contexts.first().and_then(|c| c.conference_id().cloned()),
                None => None,
            },
            key_serial: token.key_serial(),
        };
        entries.insert(key, Arc::new(Entry { token, contexts }));
        #[cfg(feature = "metrics")]
        crate::metrics::cache_entries(entries.len());
    }
}

/// The conferenceID the token carries, with the `confID` claim.
fn claimed(issuer: &TokenIssuer, ask: &Ask<'_>) -> Result<Option<ConferenceId>, SignError> {
    match ask.conference {
        Some(conference) if issuer.conf_id_claim() => conference.to_owned_id().map(Some),
        _ => Ok(None),
    }
}

/// A new answer for `ask` with `token`.
fn build(issuer: &TokenIssuer, ask: &Ask<'_>, token: Arc<IssuedToken>) -> Result<CallstatsContext, SignError> {
    let conference = ask.conference.map(Conference::to_owned_id).transpose()?;
    Ok(CallstatsContext::new(
        issuer.app_id_shared().clone(),
        ask.user.clone(),
        conference,
        ask.conference.and_then(|c| c.started_at()),
        token,
        ask.server_id.cloned(),
    ))
}
