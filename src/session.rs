//! [`FromSession`]: the logged-in user read from a tower-sessions session (feature
//! `tower-sessions`).

use std::{
    fmt,
    future::Future,
    marker::PhantomData,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use http::request::Parts;
use serde::de::DeserializeOwned;
use tower_sessions_core::Session;

use crate::{
    outage::Outage,
    user::{AppUser, GetUser},
};

/// Reads the logged-in user from the tower-sessions [`Session`] that
/// `SessionManagerLayer` put into the request: the value stored under `key` at login,
/// turned into an [`AppUser`] by `map`. No bridge middleware: give it to
/// [`Callstats::user`](crate::Callstats::user).
///
/// The user gets the session's ID ([`AppUser::with_session_id`], for ephemeral userIDs)
/// unless `map` set one. Asynchronous: the session is loaded from its store on first
/// use, once per request. A request without a session value is anonymous; while the
/// store fails, requests are treated as anonymous too, so that an outage of the session
/// store never hands out a token and never turns a page into a 5xx. Logged once per
/// outage (target `tower_callstats::session`: `WARN` `session store unavailable`, then
/// `INFO` `session store recovered`), and once if no `SessionManagerLayer` runs in
/// front (`ERROR`).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use axum::{Router, routing::get};
/// use serde::{Deserialize, Serialize};
/// use tower_callstats::{AppUser, Callstats, FromSession, SigningKey, TokenIssuer};
/// use tower_sessions::{MemoryStore, SessionManagerLayer};
///
/// /// What the app stores in the session at login.
/// #[derive(Serialize, Deserialize)]
/// struct User {
///     name: String,
/// }
///
/// let issuer = TokenIssuer::builder("my-app", SigningKey::generate("key-1").unwrap()).build().unwrap();
/// let callstats = Callstats::new(issuer).user(FromSession::new("user", |user: User| AppUser::new(user.name)));
/// let app: Router = Router::new()
///     .route("/rooms/{room}", get(|| async { "the room page" }))
///     .route_layer(callstats.layer())
///     .route_service("/getToken", callstats.endpoint())
///     .layer(SessionManagerLayer::new(MemoryStore::default()));
/// # }
/// ```
pub struct FromSession<T, F> {
    key: Arc<str>,
    map: Arc<F>,
    /// Set by the first failure of an outage, cleared by the first success after it.
    failing: Arc<Outage>,
    /// Set once a request came without a session.
    unconfigured: Arc<AtomicBool>,
    value: PhantomData<fn() -> T>,
}

impl<T, F> FromSession<T, F>
where
    T: DeserializeOwned + Send + 'static,
    F: Fn(T) -> AppUser + Send + Sync + 'static,
{
    /// The user is the session's value under `key`, turned into an [`AppUser`] by `map`.
    pub fn new(key: impl Into<Arc<str>>, map: F) -> Self {
        Self {
            key: key.into(),
            map: Arc::new(map),
            failing: Arc::default(),
            unconfigured: Arc::new(AtomicBool::new(false)),
            value: PhantomData,
        }
    }
}

impl<T, F> Clone for FromSession<T, F> {
    fn clone(&self) -> Self {
        Self {
            key: self.key.clone(),
            map: self.map.clone(),
            failing: self.failing.clone(),
            unconfigured: self.unconfigured.clone(),
            value: PhantomData,
        }
    }
}

impl<T, F> fmt::Debug for FromSession<T, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FromSession")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl<T, F> GetUser for FromSession<T, F>
where
    T: DeserializeOwned + Send + 'static,
    F: Fn(T) -> AppUser + Send + Sync + 'static,
{
    type Future = Pin<Box<dyn Future<Output = Option<AppUser>> + Send>>;

    fn user(&self, parts: &Parts) -> Self::Future {
        let session = parts.extensions.get::<Session>().cloned();
        let (key, map, failing) = (self.key.clone(), self.map.clone(), self.failing.clone());
        let Some(session) = session else {
            if !self.unconfigured.swap(true, Ordering::Relaxed) {
                tracing::error!(
                    target: "tower_callstats::session",
                    "FromSession found no tower-sessions Session: add SessionManagerLayer in front of the callstats layer and endpoint"
                );
            }
            return Box::pin(std::future::ready(None));
        };
        Box::pin(async move {
            let loaded = session.get::<T>(&key).await;
            match &loaded {
                Err(error) if failing.failed() => {
                    tracing::warn!(target: "tower_callstats::session", %error, "session store unavailable; requests are anonymous until it answers");
                }
                Ok(_) if failing.answered() => {
                    tracing::info!(target: "tower_callstats::session", "session store recovered");
                }
                _ => {}
            }
            let user = map(loaded.ok()??);
            Some(match (user.session_id(), session.id()) {
                (None, Some(id)) => user.with_session_id(id.to_string()),
                _ => user,
            })
        })
    }
}
