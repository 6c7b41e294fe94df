//! The demo's sessions: tower-sessions behind the `__Host-demo_session` cookie, in its
//! `MemoryStore`, with the bounds it does not have.
//!
//! - **Per client**: at most [`SessionLimits::per_client`] live sessions per client
//!   address ([`ClientKey`]); a client's next login ends that client's own oldest
//!   session, nobody else's.
//! - **Overall**: at most [`SessionLimits::max`] live sessions; at the bound a login that
//!   would add one gets `503`. Nobody is ever logged out to make room.
//! - **Expired sessions do not count**: a session lives [`SessionLimits::ttl`] from its
//!   login (the record's expiry and the cookie's `Max-Age`); expired ones are forgotten
//!   before every count, and removed from the store once a minute.
//! - **A login replaces the browser's session**: the browser's previous session (its
//!   cookie's) ends, and the new one gets a new ID (`Session::cycle_id`).
//! - **An ended session stays ended** (`store.rs`).

mod index;
mod store;

use std::{
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, Instant},
};

use serde::{Serialize, de::DeserializeOwned};
use tower_sessions::{
    Expiry, Session, SessionManagerLayer, SessionStore,
    cookie::{SameSite, time::OffsetDateTime},
    session::Id,
};

use self::{
    index::{Full, Index},
    store::BoundedStore,
};
use crate::{client::ClientKey, settings::SessionLimits};

/// The session cookie. `__Host-`: only from a secure origin, no `Domain`, `Path=/`.
pub const COOKIE: &str = "__Host-demo_session";
/// Clears the session cookie, with the attributes a `__Host-` cookie needs.
pub const CLEAR_COOKIE: &str = "__Host-demo_session=; Secure; Path=/; HttpOnly; SameSite=Lax; Max-Age=0";
/// The session key of the logged-in user.
pub const USER_KEY: &str = "user";
/// The session key of the login's expiry (Unix seconds): every write keeps it.
const EXPIRES_KEY: &str = "expires";

/// Why a login failed.
#[derive(Debug)]
pub enum LoginError {
    /// The overall bound of live sessions is reached.
    Full,
    /// The session store failed.
    Store(tower_sessions::session::Error),
}

/// The demo's session store with its bounds. Cloning is cheap.
#[derive(Clone)]
pub struct Sessions {
    store: BoundedStore,
    index: Arc<Mutex<Index>>,
    /// One login at a time: the count, the new session's ID and its entry agree.
    logins: Arc<tokio::sync::Mutex<()>>,
    limits: SessionLimits,
}

impl Sessions {
    pub fn new(limits: SessionLimits) -> Self {
        let index = Arc::new(Mutex::new(Index::default()));
        Self {
            store: BoundedStore::new(index.clone()),
            index,
            logins: Arc::default(),
            limits,
        }
    }

    /// The tower-sessions layer: the `__Host-demo_session` cookie (`Secure; HttpOnly;
    /// SameSite=Lax; Path=/`, no `Domain`). Browsers and curl accept a `Secure` cookie
    /// over plain http on 127.0.0.1 and localhost; anywhere else, serve https.
    pub fn layer(&self) -> SessionManagerLayer<BoundedStore> {
        SessionManagerLayer::new(self.store.clone())
            .with_name(COOKIE)
            .with_secure(true)
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_path("/")
    }

    fn index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn delete_all(&self, ids: &[Id]) {
        for id in ids {
            if let Err(error) = self.store.delete(id).await {
                tracing::warn!(%error, "could not delete a session");
            }
        }
    }

    /// Logs `user` in, in a new session of `client` (see the module docs).
    pub async fn log_in(&self, session: &Session, client: ClientKey, user: &impl Serialize) -> Result<(), LoginError> {
        let _one_at_a_time = self.logins.lock().await;
        let now = Instant::now();
        // The record's expiry in whole seconds (as the session keeps it, `EXPIRES_KEY`),
        // at least the TTL ahead; the entry's no later: the bound never counts a session
        // the store has expired.
        let wall = OffsetDateTime::now_utc();
        let expires = whole_second_after(wall + self.limits.ttl);
        let lifetime = Duration::try_from(expires - wall).unwrap_or_default();
        let expired = self.index().purge_expired(now);
        self.delete_all(&expired).await;
        let evicted = self.index().admit(client, session.id(), &self.limits);
        let evicted = evicted.map_err(|Full| LoginError::Full)?;
        self.delete_all(&evicted).await;
        let store = LoginError::Store;
        session.clear().await;
        // A new ID; the previous session's record is deleted.
        session.cycle_id().await.map_err(store)?;
        session.set_expiry(Some(Expiry::AtDateTime(expires)));
        session.insert(USER_KEY, user).await.map_err(store)?;
        session
            .insert(EXPIRES_KEY, expires.unix_timestamp())
            .await
            .map_err(store)?;
        // Saved now, not after the response, for its ID.
        session.save().await.map_err(store)?;
        if let Some(id) = session.id() {
            self.index().insert(client, id, now + lifetime);
        }
        Ok(())
    }

    /// Ends the request's session: its record is deleted. The caller clears the cookie
    /// with [`CLEAR_COOKIE`]: tower-sessions' own removal cookie (after `flush`) has no
    /// `Secure`, which browsers require of a `__Host-` cookie, so they would ignore it.
    pub async fn log_out(&self, session: &Session) -> Result<(), tower_sessions::session::Error> {
        if let Some(id) = session.id() {
            self.index().remove(&id);
        }
        session.delete().await
    }

    /// Removes expired sessions from the store once a minute (the store itself only
    /// stops loading them).
    pub fn spawn_cleanup(&self) {
        let sessions = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                let expired = sessions.index().purge_expired(Instant::now());
                sessions.delete_all(&expired).await;
            }
        });
    }
}

/// `at`, or the next whole second.
fn whole_second_after(at: OffsetDateTime) -> OffsetDateTime {
    match at.replace_nanosecond(0) {
        Ok(second) if second < at => second + Duration::from_secs(1),
        _ => at,
    }
}

/// The session's value under `key`, if the session has one that reads.
pub async fn read<T: DeserializeOwned>(session: &Session, key: &str) -> Option<T> {
    session.get(key).await.ok().flatten()
}

/// Writes `value` under `key`, keeping the login's expiry (a request's session starts
/// with the layer's default expiry, which a save would write instead).
pub async fn write(session: &Session, key: &str, value: impl Serialize) -> Result<(), tower_sessions::session::Error> {
    if let Some(expires) = read::<i64>(session, EXPIRES_KEY).await
        && let Ok(at) = OffsetDateTime::from_unix_timestamp(expires)
    {
        session.set_expiry(Some(Expiry::AtDateTime(at)));
    }
    session.insert(key, value).await
}
