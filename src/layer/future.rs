use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use http::{Request, Response, request::Parts};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::{ResponseBody, layer::LayerConfig};
use crate::{
    authorize::Authorize,
    context::CallstatsContext,
    pipeline::{Decide, Outcome, RoomInput, reject},
    rejection::Rejection,
    room::Page,
    user::GetUser,
};

pin_project! {
    /// The response future of [`CallstatsService`](super::CallstatsService): the
    /// request's decision while a step of it waits (the user, the app's hook, the call
    /// registry), then the inner service's future, whose response gets the token
    /// headers, or a refusal.
    pub struct ResponseFuture<S, B, U, A>
    where
        S: Service<Request<B>>,
        U: GetUser,
        A: Authorize,
    {
        #[pin]
        state: State<S, B, U, A>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B, U, A>
    where
        S: Service<Request<B>>,
        U: GetUser,
        A: Authorize,
    {
        // A step of the decision waits: the user, the app's hook, or the call registry.
        Waiting {
            decide: Decide<U, A>,
            config: Arc<LayerConfig<U, A>>,
            // The inner service that `poll_ready` readied, and the request, until the
            // decision is made.
            request: Option<(S, Parts, B)>,
        },
        // The inner service answers; a response with a context gets the headers.
        Inner { #[pin] future: S::Future, issued: Option<(Arc<LayerConfig<U, A>>, CallstatsContext)> },
        // The request was refused: the app's response to the rejection.
        Refused { response: Option<Response<Bytes>> },
    }
}

impl<S, B, U, A> ResponseFuture<S, B, U, A>
where
    S: Service<Request<B>>,
    U: GetUser,
    A: Authorize,
{
    /// The future once the decision is made: the inner service called with the context,
    /// or without one (no user), or a refusal.
    pub(crate) fn decided(
        config: &Arc<LayerConfig<U, A>>,
        outcome: Outcome,
        inner: &mut S,
        mut parts: Parts,
        body: B,
    ) -> Self {
        let state = match outcome {
            Ok(Some(context)) => {
                parts.extensions.insert(context.clone());
                State::Inner {
                    future: inner.call(Request::from_parts(parts, body)),
                    issued: Some((config.clone(), context)),
                }
            }
            Ok(None) if config.require_authentication => State::Refused {
                response: Some(refuse(
                    config,
                    reject(&config.callstats, Rejection::unauthenticated(), None, None),
                )),
            },
            Ok(None) => State::Inner {
                future: inner.call(Request::from_parts(parts, body)),
                issued: None,
            },
            Err(rejection) => State::Refused {
                response: Some(refuse(config, rejection)),
            },
        };
        Self { state }
    }

    /// The future of a decision that waits.
    pub(crate) fn deciding(
        decide: Decide<U, A>,
        config: Arc<LayerConfig<U, A>>,
        inner: S,
        parts: Parts,
        body: B,
    ) -> Self {
        Self {
            state: State::Waiting {
                decide,
                config,
                request: Some((inner, parts, body)),
            },
        }
    }
}

/// The app's response to a refusal.
fn refuse<U, A>(config: &LayerConfig<U, A>, rejection: Rejection) -> Response<Bytes> {
    rejection.respond(config.callstats.settings.rejection.as_ref())
}

impl<S, B, U, A> std::fmt::Debug for ResponseFuture<S, B, U, A>
where
    S: Service<Request<B>>,
    U: GetUser,
    A: Authorize,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, B, U, A, ResBody> Future for ResponseFuture<S, B, U, A>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    U: GetUser,
    A: Authorize,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project().state.project() {
                StateProj::Waiting {
                    decide,
                    config,
                    request,
                } => {
                    let outcome = {
                        let Some((_, parts, _)) = request.as_ref() else {
                            panic!("ResponseFuture polled after completion");
                        };
                        ready!(decide.poll_decide(cx, &config.callstats, &RoomInput::Page(Page::of(parts))))
                    };
                    let Some((mut inner, parts, body)) = request.take() else {
                        panic!("ResponseFuture polled after completion");
                    };
                    let next = Self::decided(config, outcome, &mut inner, parts, body);
                    self.set(next);
                }
                StateProj::Inner { future, issued } => {
                    let response = ready!(future.poll(cx))?;
                    let (mut head, body) = response.into_parts();
                    if let Some((config, context)) = issued.take() {
                        config.apply(&context, &mut head.headers, head.status);
                    }
                    return Poll::Ready(Ok(Response::from_parts(head, ResponseBody::inner(body))));
                }
                StateProj::Refused { response } => {
                    let response = response.take().expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(response.map(ResponseBody::rejection)));
                }
            }
        }
    }
}
