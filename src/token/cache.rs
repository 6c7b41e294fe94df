//! The token cache: one token per (userID, conferenceID, signing key), handed out
//! again while it has enough life left.

use std::sync::Arc;

use super::IssuedToken;
use crate::id::{ConferenceId, UserId};

/// What a cached token is for.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) struct CacheKey {
    pub(super) user: UserId,
    pub(super) conference: Option<ConferenceId>,
    /// The signing key instance ([`SigningKey::serial`](crate::SigningKey)), so that a
    /// rotation never hands out a token of the previous key.
    pub(super) key_serial: u64,
}

/// A [`CacheKey`] made of borrowed parts, to look a token up without cloning the IDs.
/// It hashes exactly like the key it stands for (a string hashes alike borrowed or
/// shared).
#[derive(Hash)]
pub(super) struct CacheKeyRef<'a> {
    pub(super) user: &'a str,
    pub(super) conference: Option<&'a str>,
    pub(super) key_serial: u64,
}

impl quick_cache::Equivalent<CacheKey> for CacheKeyRef<'_> {
    fn equivalent(&self, key: &CacheKey) -> bool {
        self.key_serial == key.key_serial
            && self.user == key.user.as_str()
            && self.conference == key.conference.as_deref()
    }
}

impl CacheKeyRef<'_> {
    pub(super) fn to_owned_key(&self, user: &UserId, conference: Option<&ConferenceId>) -> CacheKey {
        CacheKey {
            user: user.clone(),
            conference: self.conference.and(conference.cloned()),
            key_serial: self.key_serial,
        }
    }
}

/// A bounded concurrent map of tokens (quick_cache: sharded, no background threads).
pub(super) struct TokenCache {
    tokens: quick_cache::sync::Cache<CacheKey, Arc<IssuedToken>>,
    /// Re-issue when fewer than this many seconds of life are left.
    margin: u64,
}

impl TokenCache {
    pub(super) fn new(capacity: usize, margin: u64) -> Self {
        Self {
            tokens: quick_cache::sync::Cache::new(capacity),
            margin,
        }
    }

    /// The cached token for `key` if it was issued no later than `now` and has at least
    /// the margin of life left.
    pub(super) fn get(&self, key: &CacheKeyRef<'_>, now: u64) -> Option<Arc<IssuedToken>> {
        let token = self.tokens.get(key)?;
        self.fresh(&token, now).then_some(token)
    }

    /// Whether `token` was issued no later than `now` and has at least the margin of
    /// life left: whether the cache would still hand it out.
    pub(super) fn fresh(&self, token: &IssuedToken, now: u64) -> bool {
        let claims = token.claims();
        claims.exp.saturating_sub(now) >= self.margin && claims.iat <= now
    }

    pub(super) fn insert(&self, key: CacheKey, token: Arc<IssuedToken>) {
        self.tokens.insert(key, token);
    }

    #[cfg(feature = "metrics")]
    pub(super) fn len(&self) -> usize {
        self.tokens.len()
    }

    pub(super) fn capacity(&self) -> u64 {
        self.tokens.capacity()
    }

    pub(super) fn margin(&self) -> u64 {
        self.margin
    }
}
