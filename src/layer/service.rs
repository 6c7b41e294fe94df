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
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        match LayerConfig::decide(&self.config, &parts) {
            // The common case: the decision is made here, synchronously, so the inner
            // service that `poll_ready` readied is called at once. A rejected request
            // leaves that readiness unused, as tower-http's validating middleware does.
            Decision::PassThrough => ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)), None),
            Decision::Reject(rejection) => ResponseFuture::rejected(rejection.response()),
            Decision::Issue(issued) => {
                parts.extensions.insert(issued.context().clone());
                ResponseFuture::inner(self.inner.call(Request::from_parts(parts, body)), Some(issued))
            }
            // An asynchronous hook decides later. The readied service goes into the
            // future, and a clone takes its place here, as tower documents
            // (https://docs.rs/tower/latest/tower/trait.Service.html#be-careful-when-cloning-inner-services).
            Decision::Later(decision) => {
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::deciding(decision, ready, parts, body)
            }
        }
    }
}
