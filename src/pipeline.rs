//! The decision of one request, written once for the layer and the endpoint, in the
//! order it must happen: **user -> userID -> room -> authorize -> call -> token**.
//!
//! [`Decide`] is one hand-written future with a state per step that may wait (the
//! user, the app's hook, the call registry), as tower-http's
//! `AsyncRequireAuthorization` keeps one per await. Nothing is touched before the hook
//! has said yes: the call registry and the token cache come after it. A step whose
//! answer is ready at once (a synchronous source or hook, a registry that answers
//! without I/O) moves on in the same poll, so a request that waits for nothing is
//! decided in one poll, without an allocation of its own; a step that waits keeps what
//! the next steps need (the room is copied then, and only then).

use std::{
    borrow::Cow,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use crate::{
    audit::{Action, AuditEvent},
    authorize::Authorize,
    cache::{Ask, Conference},
    calls::{ActiveCall, RegistryError},
    callstats::Callstats,
    context::CallstatsContext,
    rejection::Rejection,
    room::Page,
    user::{AppUser, GetUser},
    user_id::CallstatsUser,
};

/// Where a request's room comes from.
pub(crate) enum RoomInput<'a> {
    /// A page, read with the configured [`RoomSource`](crate::RoomSource): the
    /// request itself (the layer), or the page that asks for a token (its Referer).
    Page(Page<'a>),
    /// A room the request names outright (a token request's body, when the app
    /// allows it).
    Named(&'a str),
    /// The request names its page in a way that cannot be read (a malformed Referer).
    Unreadable(&'a Rejection),
}

/// What a request is granted: a context, nothing (no logged-in user), or a refusal.
pub(crate) type Outcome = Result<Option<CallstatsContext>, Rejection>;

type JoinFuture = Pin<Box<dyn Future<Output = Result<ActiveCall, RegistryError>> + Send + 'static>>;

/// The decision of one request. Poll it with [`poll_decide`](Self::poll_decide), passing
/// the configuration and the room's input each time (the request stays with the
/// caller, which owns it).
pub(crate) struct Decide<U: GetUser, A: Authorize> {
    state: State<U::Future, A::Future>,
    force_new: bool,
}

enum State<UF, AF> {
    /// Waiting for the logged-in user.
    User(UF),
    /// Waiting for the app's hook.
    Authorize {
        future: AF,
        user: CallstatsUser,
        room: Option<Box<str>>,
    },
    /// Waiting for the call registry.
    Join {
        future: JoinFuture,
        user: CallstatsUser,
        room: Box<str>,
    },
    /// Decided.
    Done,
}

impl<U: GetUser, A: Authorize> Decide<U, A> {
    /// Starts the decision for the request `parts`; `force_new` asks for a newly signed
    /// token (the endpoint's `forceNew`).
    pub(crate) fn new(callstats: &Callstats<U, A>, parts: &http::request::Parts, force_new: bool) -> Self {
        Self {
            state: State::User(callstats.user.user(parts)),
            force_new,
        }
    }

    /// Moves the decision on as far as it can.
    pub(crate) fn poll_decide(
        &mut self,
        cx: &mut Context<'_>,
        callstats: &Callstats<U, A>,
        room: &RoomInput<'_>,
    ) -> Poll<Outcome> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::User(mut future) => match Pin::new(&mut future).poll(cx) {
                Poll::Pending => {
                    self.state = State::User(future);
                    Poll::Pending
                }
                Poll::Ready(None) => Poll::Ready(Ok(None)),
                Poll::Ready(Some(user)) => self.user(cx, callstats, room, &user),
            },
            State::Authorize { mut future, user, room } => match Pin::new(&mut future).poll(cx) {
                Poll::Pending => {
                    self.state = State::Authorize { future, user, room };
                    Poll::Pending
                }
                Poll::Ready(allowed) => self.authorized(cx, callstats, user, room.as_deref(), allowed),
            },
            State::Join { mut future, user, room } => match future.as_mut().poll(cx) {
                Poll::Pending => {
                    self.state = State::Join { future, user, room };
                    Poll::Pending
                }
                Poll::Ready(joined) => Poll::Ready(self.joined(callstats, &user, &room, joined)),
            },
            State::Done => Poll::Ready(Err(Rejection::new(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "misconfigured",
                "the request's decision was polled after it was made",
            ))),
        }
    }

    /// The user is known: userID, room, then the hook.
    fn user(
        &mut self,
        cx: &mut Context<'_>,
        callstats: &Callstats<U, A>,
        input: &RoomInput<'_>,
        app_user: &AppUser,
    ) -> Poll<Outcome> {
        let user = match callstats.settings.user_id.derive(app_user) {
            Ok(user) => user,
            Err(error) => return Poll::Ready(Err(reject(callstats, error.into(), None, None))),
        };
        let room = match room_of(callstats, input) {
            Ok(room) => room,
            Err(rejection) => return Poll::Ready(Err(reject(callstats, rejection, Some(&user), None))),
        };
        let mut future = callstats.authorize.authorize(app_user, user.id(), room.as_deref());
        match Pin::new(&mut future).poll(cx) {
            Poll::Ready(allowed) => self.authorized(cx, callstats, user, room.as_deref(), allowed),
            Poll::Pending => {
                self.state = State::Authorize {
                    future,
                    user,
                    room: room.map(|room| room.into()),
                };
                Poll::Pending
            }
        }
    }

    /// The hook answered: refuse, or the call, then the token.
    fn authorized(
        &mut self,
        cx: &mut Context<'_>,
        callstats: &Callstats<U, A>,
        user: CallstatsUser,
        room: Option<&str>,
        allowed: bool,
    ) -> Poll<Outcome> {
        if !allowed {
            let rejection = Rejection::conference_forbidden(room);
            return Poll::Ready(Err(reject(callstats, rejection, Some(&user), room)));
        }
        let (Some(calls), Some(room)) = (&callstats.settings.calls, room) else {
            return Poll::Ready(self.token(callstats, &user, room.map(Conference::Room)));
        };
        if let Some(joined) = calls.join_now(room, user.id()) {
            return Poll::Ready(self.joined(callstats, &user, room, joined));
        }
        let mut future = calls.join_later(room, user.id());
        match future.as_mut().poll(cx) {
            Poll::Ready(joined) => Poll::Ready(self.joined(callstats, &user, room, joined)),
            Poll::Pending => {
                self.state = State::Join {
                    future,
                    user,
                    room: room.into(),
                };
                Poll::Pending
            }
        }
    }

    /// The registry answered: the failure policy, then the token.
    fn joined(
        &self,
        callstats: &Callstats<U, A>,
        user: &CallstatsUser,
        room: &str,
        joined: Result<ActiveCall, RegistryError>,
    ) -> Outcome {
        let Some(calls) = &callstats.settings.calls else {
            return self.token(callstats, user, Some(Conference::Room(room)));
        };
        match calls.settle(room, joined) {
            Ok(call) if call.is_fallback() => self.token(callstats, user, Some(Conference::Room(room))),
            Ok(call) => self.token(
                callstats,
                user,
                Some(Conference::Call {
                    id: call.conference_id(),
                    started_at: call.started_at(),
                }),
            ),
            Err(error) => Err(reject(
                callstats,
                Rejection::registry_unavailable(error),
                Some(user),
                Some(room),
            )),
        }
    }

    /// The last step: the cached answer, or a new token.
    fn token(&self, callstats: &Callstats<U, A>, user: &CallstatsUser, conference: Option<Conference<'_>>) -> Outcome {
        let ask = Ask {
            user,
            conference,
            server_id: callstats.settings.conference_server_id.as_ref(),
            force_new: self.force_new,
        };
        match callstats.settings.cache.answer(&callstats.settings.issuer, &ask) {
            Ok((context, action)) => {
                let claims = context.token().claims();
                callstats.settings.audit.record(&AuditEvent {
                    user_id: Some(&claims.user_id),
                    conference_id: context.conference_id().map(|c| c.as_str()),
                    key_id: Some(&claims.key_id),
                    jti: Some(&claims.jti),
                    ..AuditEvent::new(action)
                });
                Ok(Some(context))
            }
            Err(error) => {
                let key = callstats.settings.issuer.keys().active();
                callstats.settings.audit.record(&AuditEvent {
                    key_id: Some(key.key_id()),
                    ..AuditEvent::new(Action::Failed)
                        .with_user_id(user.id())
                        .with_reason("ES256 signing failed")
                });
                tracing::error!(target: "tower_callstats::layer", user_id = user.id().as_str(), %error, "token signing failed");
                Err(Rejection::signing_failed())
            }
        }
    }
}

/// The room of the request, checked against the identifier rules: `None` only when no
/// room source is configured and the request names none.
fn room_of<'a, U, A>(callstats: &Callstats<U, A>, input: &RoomInput<'a>) -> Result<Option<Cow<'a, str>>, Rejection> {
    match (input, &callstats.settings.room) {
        (RoomInput::Named(room), _) => {
            crate::id::validate(room, crate::id::ConferenceId::KIND)?;
            Ok(Some(Cow::Borrowed(room)))
        }
        (_, None) => Ok(None),
        (RoomInput::Page(page), Some(source)) => source.read(page).map(Some),
        (RoomInput::Unreadable(rejection), Some(_)) => Err((*rejection).clone()),
    }
}

/// Records a refusal in the audit log and returns it.
pub(crate) fn reject<U, A>(
    callstats: &Callstats<U, A>,
    rejection: Rejection,
    user: Option<&CallstatsUser>,
    room: Option<&str>,
) -> Rejection {
    callstats.settings.audit.record(&AuditEvent {
        user_id: user.map(|u| u.id().as_str()),
        conference_id: room,
        ..AuditEvent::new(Action::Rejected).with_reason(rejection.message())
    });
    rejection
}
