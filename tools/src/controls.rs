//! The load controls (f) and (g): what the layer's and the token endpoint's answers cost
//! when nothing but their bytes is paid.
//!
//! [`Controls::capture`] asks an app for user-1's room page (`GET /cache/room-1`) and
//! token (`POST /getToken`), once; [`Controls::routes`] then serves the very same
//! headers and body as constants: `GET /static/{room}` (f) answers like the room page's
//! handler plus the layer's headers, and `POST /static-token` (g) is a service, like the
//! token endpoint, that reads the body frame by frame, parses the same JSON, and answers
//! the captured body with the endpoint's headers. The app must take `x-load-user` as the
//! user (test harnesses only).

use std::{convert::Infallible, error::Error, sync::Arc};

use axum::{Router, body::Body, routing::get};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

type Headers = Arc<Vec<(HeaderName, HeaderValue)>>;

/// The captured answers; see the [module docs](self).
#[derive(Clone)]
pub struct Controls {
    page_headers: Headers,
    token_headers: Headers,
    token_body: Bytes,
}

/// The headers of `names` that `headers` has.
fn keep(headers: &HeaderMap, names: &[HeaderName]) -> Headers {
    Arc::new(
        names
            .iter()
            .filter_map(|name| Some((name.clone(), headers.get(name)?.clone())))
            .collect(),
    )
}

fn with_headers(mut response: Response<Body>, headers: &Headers) -> Response<Body> {
    for (name, value) in headers.iter() {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}

impl Controls {
    /// Asks `app` for user-1's room page and token, and keeps what they answered.
    pub async fn capture(app: Router) -> Result<Self, Box<dyn Error>> {
        let page = Request::get("/cache/room-1")
            .header("x-load-user", "user-1")
            .body(Body::empty())?;
        let page = app.clone().oneshot(page).await?;
        let page_headers = keep(
            page.headers(),
            &[
                HeaderName::from_static("x-callstats-token"),
                HeaderName::from_static("x-callstats-user-id"),
                HeaderName::from_static("x-callstats-conference-id"),
                header::CACHE_CONTROL,
                header::VARY,
            ],
        );
        let token = Request::post("/getToken")
            .header("x-load-user", "user-1")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"conferenceID":"room-1"}"#))?;
        let token = app.oneshot(token).await?;
        let token_headers = keep(
            token.headers(),
            &[
                header::CONTENT_TYPE,
                header::CACHE_CONTROL,
                header::PRAGMA,
                header::VARY,
            ],
        );
        let token_body = axum::body::to_bytes(token.into_body(), 64 * 1024).await?;
        if page_headers.len() != 5 || token_headers.len() != 4 || !token_body.starts_with(b"{") {
            return Err("the app did not answer user-1 with a token".into());
        }
        Ok(Self {
            page_headers,
            token_headers,
            token_body,
        })
    }

    /// `GET /static/{room}` (f) and `POST /static-token` (g).
    pub fn routes(&self) -> Router {
        let page_headers = self.page_headers.clone();
        let static_page = move || {
            let headers = page_headers.clone();
            async move { with_headers(axum::response::IntoResponse::into_response("Hello, World!"), &headers) }
        };
        let (token_headers, token_body) = (self.token_headers.clone(), self.token_body.clone());
        let static_token = tower::service_fn(move |request: Request<Body>| {
            let (headers, token_body) = (token_headers.clone(), token_body.clone());
            async move {
                #[derive(serde::Deserialize)]
                struct TokenRequest<'a> {
                    #[serde(rename = "conferenceID", borrow)]
                    _conference_id: Option<&'a str>,
                }
                let mut body = request.into_body();
                let mut bytes = Bytes::new();
                while let Some(Ok(frame)) = body.frame().await {
                    if let Ok(data) = frame.into_data() {
                        bytes = if bytes.is_empty() {
                            data
                        } else {
                            [bytes, data].concat().into()
                        };
                    }
                }
                let parsed = serde_json::from_slice::<TokenRequest<'_>>(&bytes).is_ok();
                let answer = if parsed { token_body } else { Bytes::from_static(b"{}") };
                Ok::<_, Infallible>(with_headers(Response::new(Body::from(answer)), &headers))
            }
        });
        Router::new()
            .route("/static/{room}", get(static_page))
            .route_service("/static-token", static_token)
    }
}
