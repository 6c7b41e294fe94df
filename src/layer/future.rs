use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::Bytes;
use http::{Response, header};
use http_body_util::Full;
use pin_project_lite::pin_project;

use super::{ResponseBody, layer::ResponseHeaders};
use crate::response;

pin_project! {
    /// The response future of [`CallstatsService`](super::CallstatsService): the inner service's
    /// future (whose response gets the token headers), or a rejection ready at once.
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Inner { #[pin] future: F, headers: Option<ResponseHeaders> },
        Rejected { response: Option<Response<Full<Bytes>>> },
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn inner(future: F, headers: Option<ResponseHeaders>) -> Self {
        Self {
            state: State::Inner { future, headers },
        }
    }

    pub(crate) fn rejected(response: Response<Full<Bytes>>) -> Self {
        Self {
            state: State::Rejected {
                response: Some(response),
            },
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future, headers } => {
                let response = ready!(future.poll(cx))?;
                let mut response = response.map(ResponseBody::inner);
                if let Some(headers) = headers.take() {
                    apply(&mut response, headers);
                }
                Poll::Ready(Ok(response))
            }
            StateProj::Rejected { response } => {
                let response = response.take().expect("ResponseFuture polled after completion");
                Poll::Ready(Ok(response.map(ResponseBody::rejection)))
            }
        }
    }
}

/// Adds the token headers to a successful (not 4xx or 5xx) response, keeps it out of
/// shared caches, and marks it as varying with the credentials that selected the user.
fn apply<B>(response: &mut Response<B>, headers: ResponseHeaders) {
    // A token goes only with a response the page can use, never with an error of the
    // inner service (a 405 for a wrong method, a 404, a handler's 4xx or 5xx).
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        return;
    }
    let map = response.headers_mut();
    for (name, value) in headers.values {
        map.insert(name, value);
    }
    let already_private = map.get_all(header::CACHE_CONTROL).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',').any(|d| {
                let d = d.trim();
                d.eq_ignore_ascii_case("no-store") || d.eq_ignore_ascii_case("private")
            })
        })
    });
    if !already_private {
        response::no_store(map);
    }
    response::vary(map, headers.vary.as_ref());
}
