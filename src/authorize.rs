//! Who may get a token for which room: the [`Authorize`] hook.
//!
//! Authentication says who the user is; it does not say which calls the user may join.
//! The layer and the token endpoint ask the hook set with
//! [`Callstats::authorize`](crate::Callstats::authorize) with the user, the userID and
//! the room as the request named it, **before** anything is touched: a denied request
//! never reaches the call registry or the token cache, and gets
//! `403 {"code": "conference_forbidden", ...}` naming the room it asked for. Without a
//! hook ([`AllowAll`]) every logged-in user may get a token for any room.

use std::{
    fmt,
    future::{Future, Ready, ready},
    pin::Pin,
    sync::Arc,
};

use crate::{id::UserId, user::AppUser};

/// Decides whether a logged-in user may get a token for a room.
///
/// `room` is the room as the request named it (the route parameter, the query
/// parameter, ..., percent-decoded and checked against the identifier rules), never a
/// call's ID; `None` only when no room source is configured.
///
/// Implemented for every closure `Fn(&AppUser, &UserId, Option<&str>) -> bool`, which
/// decides at once, and for [`AsyncAuthorize`], which waits for a future (a database
/// lookup). An implementation of your own returns a future that does not borrow its
/// arguments and is [`Unpin`] (box an async block).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::collections::{HashMap, HashSet};
/// use axum::{Router, body::Body, routing::get};
/// use http::Request;
/// use tower::ServiceExt;
/// use tower_callstats::{AppUser, Callstats, RoomSource, SigningKey, TokenIssuer, UserId};
///
/// // Members only: the room's member list, compared whole (never by prefix).
/// let members: HashMap<&str, HashSet<&str>> =
///     HashMap::from([("alice-standup", HashSet::from(["alice"])), ("retro", HashSet::from(["alice", "bob"]))]);
/// let members_only = move |user: &AppUser, _id: &UserId, room: Option<&str>| {
///     room.and_then(|room| members.get(room)).is_some_and(|m| m.contains(user.username()))
/// };
///
/// let issuer = TokenIssuer::builder("my-app", SigningKey::generate("key-1").unwrap()).build().unwrap();
/// let callstats = Callstats::new(issuer)
///     .room(RoomSource::path("/rooms/{room}", "room").unwrap())
///     .authorize(members_only);
/// let app = Router::new().route("/rooms/{room}", get(|| async { "page" })).route_layer(callstats.layer());
/// let status = |user: &'static str, path: &'static str| {
///     let app = app.clone();
///     async move {
///         let mut request = Request::get(path).body(Body::empty()).unwrap();
///         request.extensions_mut().insert(AppUser::new(user));
///         app.oneshot(request).await.unwrap().status()
///     }
/// };
/// assert_eq!(status("alice", "/rooms/alice-standup").await, 200);
/// assert_eq!(status("bob", "/rooms/alice-standup").await, 403);
/// assert_eq!(status("alice2", "/rooms/alice2-secret").await, 403); // no such room, no prefix match
/// # }
/// ```
pub trait Authorize: Send + Sync + 'static {
    /// The future of the decision: `true` allows, `false` denies.
    type Future: Future<Output = bool> + Send + Unpin + 'static;

    /// The decision for `user` (whose callstats userID is `user_id`) in `room`.
    fn authorize(&self, user: &AppUser, user_id: &UserId, room: Option<&str>) -> Self::Future;
}

impl<F> Authorize for F
where
    F: Fn(&AppUser, &UserId, Option<&str>) -> bool + Send + Sync + 'static,
{
    type Future = Ready<bool>;

    fn authorize(&self, user: &AppUser, user_id: &UserId, room: Option<&str>) -> Self::Future {
        ready(self(user, user_id, room))
    }
}

/// The default [`Authorize`]: every logged-in user may get a token for any room.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authorize for AllowAll {
    type Future = Ready<bool>;

    fn authorize(&self, _: &AppUser, _: &UserId, _: Option<&str>) -> Self::Future {
        ready(true)
    }
}

/// An [`Authorize`] hook that waits for a future: a database lookup, a call to a room
/// service. The closure gets the same arguments as a synchronous hook and returns a
/// future of the decision; the future must not borrow them (clone what it needs).
///
/// The request waits for the answer before anything is touched; one allocation per
/// request boxes the future.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::{collections::HashSet, sync::Arc};
/// use tower_callstats::{AppUser, AsyncAuthorize, Authorize, UserId};
///
/// /// Stands for the app's database.
/// #[derive(Clone)]
/// struct Db(Arc<HashSet<(String, String)>>);
/// impl Db {
///     async fn is_member(&self, user: &str, room: &str) -> bool {
///         self.0.contains(&(user.to_owned(), room.to_owned()))
///     }
/// }
///
/// let db = Db(Arc::new(HashSet::from([("alice".to_owned(), "standup".to_owned())])));
/// let hook = AsyncAuthorize::new(move |user: &AppUser, _: &UserId, room: Option<&str>| {
///     let (db, user, room) = (db.clone(), user.username().to_owned(), room.map(str::to_owned));
///     async move {
///         match room {
///             Some(room) => db.is_member(&user, &room).await,
///             None => false,
///         }
///     }
/// });
/// let alice = AppUser::new("alice");
/// let id = UserId::new("alice").unwrap();
/// assert!(hook.authorize(&alice, &id, Some("standup")).await);
/// assert!(!hook.authorize(&alice, &id, Some("board")).await);
/// # }
/// ```
pub struct AsyncAuthorize<F> {
    decide: Arc<F>,
}

impl<F, Fut> AsyncAuthorize<F>
where
    F: Fn(&AppUser, &UserId, Option<&str>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    /// A hook whose decision `decide` makes, asynchronously.
    pub fn new(decide: F) -> Self {
        Self {
            decide: Arc::new(decide),
        }
    }
}

impl<F> Clone for AsyncAuthorize<F> {
    fn clone(&self) -> Self {
        Self {
            decide: self.decide.clone(),
        }
    }
}

impl<F> fmt::Debug for AsyncAuthorize<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AsyncAuthorize(..)")
    }
}

impl<F, Fut> Authorize for AsyncAuthorize<F>
where
    F: Fn(&AppUser, &UserId, Option<&str>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    type Future = Pin<Box<dyn Future<Output = bool> + Send>>;

    fn authorize(&self, user: &AppUser, user_id: &UserId, room: Option<&str>) -> Self::Future {
        Box::pin((self.decide)(user, user_id, room))
    }
}
