use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll, Waker},
};

use http::{Request, Response};
use tower_service::Service;

use super::{ResponseBody, ResponseFuture, layer::LayerConfig};
use crate::{
    authorize::Authorize,
    pipeline::{Decide, RoomInput},
    room::Page,
    user::GetUser,
};

/// The middleware service; see the [module docs](crate::layer). Built by
/// [`CallstatsLayer`](super::CallstatsLayer).
///
/// Generic over request and response bodies; a refusal of ours (an invalid ID, a
/// denied room, a signing error) is an HTTP response, never an `Err`, so
/// `Error = S::Error`.
pub struct CallstatsService<S, U, A> {
    pub(crate) inner: S,
    pub(crate) config: Arc<LayerConfig<U, A>>,
}

impl<S: Clone, U, A> Clone for CallstatsService<S, U, A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            config: self.config.clone(),
        }
    }
}

impl<S: fmt::Debug, U, A> fmt::Debug for CallstatsService<S, U, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallstatsService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, U, A> CallstatsService<S, U, A> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, U, A, ReqBody, ResBody> Service<Request<ReqBody>> for CallstatsService<S, U, A>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    U: GetUser,
    A: Authorize,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, U, A>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (parts, body) = request.into_parts();
        let callstats = &self.config.callstats;
        // The decision, polled here, where it stands: when nothing waits (a synchronous
        // user source and hook, no registry I/O) it is made now, and the inner service
        // that `poll_ready` readied is called at once. A refused request leaves that
        // readiness unused, as tower-http's validating middleware does. The no-op waker
        // is never woken: a step that waits is polled again, with the response future's
        // own waker, on the future's first poll.
        let mut decide = Decide::new(callstats, &parts, false);
        let polled = decide.poll_decide(
            &mut Context::from_waker(Waker::noop()),
            callstats,
            &RoomInput::Page(Page::of(&parts)),
        );
        match polled {
            Poll::Ready(outcome) => ResponseFuture::decided(&self.config, outcome, &mut self.inner, parts, body),
            // A step waits. The readied service goes into the future, and a clone takes
            // its place here, as tower documents
            // (https://docs.rs/tower/latest/tower/trait.Service.html#be-careful-when-cloning-inner-services).
            Poll::Pending => {
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::deciding(decide, self.config.clone(), ready, parts, body)
            }
        }
    }
}
