use std::{
    fmt,
    sync::Arc,
    task::{Context, Poll},
};

use http::{Request, Response};
use tower_service::Service;

use super::{
    ResponseBody, ResponseFuture,
    layer::{Decision, LayerConfig},
};

/// The middleware service; see the [module docs](crate::layer). Built by
/// [`CallstatsLayer`](super::CallstatsLayer).
///
/// Generic over request and response bodies; a failure of ours (an invalid ID, a
/// signing error) is an HTTP response, never an `Err`, so `Error = S::Error`.
#[derive(Clone)]
pub struct CallstatsService<S> {
    pub(crate) inner: S,
    pub(crate) config: Arc<LayerConfig>,
}

impl<S: fmt::Debug> fmt::Debug for CallstatsService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallstatsService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> CallstatsService<S> {
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CallstatsService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // All of our work is synchronous and happens here, before the inner service is
        // called, so `self.inner` (the instance `poll_ready` was called on) is the one
        // that is called: no clone-and-swap is needed
        // (https://docs.rs/tower/latest/tower/trait.Service.html#be-careful-when-cloning-inner-services).
        // A rejected request leaves the readiness reserved by `poll_ready` unused, as
        // tower-http's validating middleware does.
        let (mut parts, body) = request.into_parts();
        match self.config.decide(&parts) {
            Decision::PassThrough => ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)), None),
            Decision::Reject(rejection) => ResponseFuture::rejected(rejection.response()),
            Decision::Issue(context, headers) => {
                parts.extensions.insert(context);
                ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)), Some(headers))
            }
        }
    }
}
