use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use http::{Request, Response, request::Parts};
use http_body_util::Full;
use pin_project_lite::pin_project;
use tower_service::Service;

use super::{
    ResponseBody,
    layer::{Decision, Issued},
};

pin_project! {
    /// The response future of [`CallstatsService`](super::CallstatsService): the inner
    /// service's future (whose response gets the token headers), a rejection ready at
    /// once, or a decision that waits for an asynchronous hook before the inner service
    /// is called.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<Request<B>>,
    {
        Deciding {
            decision: Pin<Box<dyn Future<Output = Decision> + Send + 'static>>,
            // The inner service that `poll_ready` readied, and the request, until the
            // decision is made.
            inner: Option<(S, Parts, B)>,
        },
        Inner { #[pin] future: S::Future, issued: Option<Issued> },
        Rejected { response: Option<Response<Full<Bytes>>> },
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    pub(crate) fn inner(future: S::Future, issued: Option<Issued>) -> Self {
        Self {
            state: State::Inner { future, issued },
        }
    }

    pub(crate) fn rejected(response: Response<Full<Bytes>>) -> Self {
        Self {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }

    pub(crate) fn deciding(
        decision: Pin<Box<dyn Future<Output = Decision> + Send + 'static>>,
        inner: S,
        parts: Parts,
        body: B,
    ) -> Self {
        Self {
            state: State::Deciding {
                decision,
                inner: Some((inner, parts, body)),
            },
        }
    }
}

impl<S, B> std::fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let next = match self.as_mut().project().state.project() {
                StateProj::Deciding { decision, inner } => {
                    let decision = ready!(decision.as_mut().poll(cx));
                    let Some((mut service, mut parts, body)) = inner.take() else {
                        panic!("ResponseFuture polled after completion");
                    };
                    match decision {
                        Decision::Issue(issued) => {
                            parts.extensions.insert(issued.context().clone());
                            State::Inner {
                                future: service.call(Request::from_parts(parts, body)),
                                issued: Some(issued),
                            }
                        }
                        Decision::PassThrough => State::Inner {
                            future: service.call(Request::from_parts(parts, body)),
                            issued: None,
                        },
                        Decision::Reject(rejection) => State::Rejected {
                            response: Some(rejection.response()),
                        },
                        // A decision resolves to one of the above; a nested wait is
                        // polled in turn.
                        Decision::Later(later) => State::Deciding {
                            decision: later,
                            inner: Some((service, parts, body)),
                        },
                    }
                }
                StateProj::Inner { future, issued } => {
                    let response = ready!(future.poll(cx))?;
                    let (mut head, body) = response.into_parts();
                    if let Some(issued) = issued.take() {
                        issued.apply(&mut head.headers, head.status);
                    }
                    return Poll::Ready(Ok(Response::from_parts(head, ResponseBody::inner(body))));
                }
                StateProj::Rejected { response } => {
                    let response = response.take().expect("ResponseFuture polled after completion");
                    return Poll::Ready(Ok(response.map(ResponseBody::rejection)));
                }
            };
            self.as_mut().project().state.set(next);
        }
    }
}
