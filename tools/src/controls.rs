//! The load controls: what the layer's and the token endpoint's answers cost when
//! nothing but what they cannot avoid is paid.
//!
//! - (e) [`raw_sign_route`]: one raw aws-lc-rs ES256 signature of a token's signing
//!   input in the handler, what the cache-off layer would cost if it added nothing but
//!   the signature;
//! - (f) and (g) [`Controls::routes`]: the very headers and body of the layer and the
//!   endpoint, precomputed;
//! - (k) [`Controls::token_floor_route`]: (g) plus what any token endpoint must do
//!   before it answers: ask the app for the user, read the two headers of the
//!   cross-site check, and read the `Referer` that names the room;
//! - (j) [`Controls::floor_route`]: the floor of any layer of this shape, which hands
//!   the handler a context and the client these headers: mounted with axum's
//!   `route_layer`, it asks the app for the user, puts one shared value into the
//!   request extensions, and adds (f)'s precomputed headers to the response.
//!
//! [`Controls::capture`] asks an app for user-1's room page (`GET /cache/room-1`) and
//! token ([`token_request`]: `POST /getToken` from the page `/cache/room-1`, its
//! `Referer`), once; [`Controls::routes`] then serves the very same headers and body as
//! constants: `GET /static/{room}` (f) answers like the room page's handler plus the
//! layer's headers, and `POST /static-token` (g) is a service, like the token endpoint,
//! that reads the body frame by frame, parses it as the endpoint does (an empty body
//! asks for nothing in particular; else JSON), and answers the captured body with the
//! endpoint's headers. (d), (g) and (k) get the same request bytes. The app must take
//! `x-load-user` as the user (test harnesses only).

use std::{convert::Infallible, error::Error, future::Future, sync::Arc};

use aws_lc_rs::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair},
};
use axum::{Router, body::Body, routing::get};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, header, request::Parts};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_callstats::{AppUser, SigningKey, TokenIssuer, UserId};

/// A raw aws-lc-rs key pair and the `header.payload` bytes of a typical token.
pub type RawSigner = (Arc<EcdsaKeyPair>, Arc<[u8]>);

/// Makes a [`RawSigner`]: a new key, and the signing input of a token the crate signs
/// for user-1 with it.
pub fn raw_signer() -> Result<RawSigner, Box<dyn Error>> {
    let key = SigningKey::generate("load-key")?;
    let pair = EcdsaKeyPair::from_private_key_der(
        &ECDSA_P256_SHA256_FIXED_SIGNING,
        pem::parse(key.to_pkcs8_pem())?.contents(),
    )
    .map_err(|e| e.to_string())?;
    let issuer = TokenIssuer::builder("load-app", key).cache(false).build()?;
    let token = issuer.issue(&UserId::new("user-1")?, None)?;
    let jwt = token.jwt();
    let signing_input = &jwt.as_bytes()[..jwt.rfind('.').unwrap_or(jwt.len())];
    Ok((Arc::new(pair), signing_input.into()))
}

/// (e) `GET /rawsign/{room}`: no layer, the route shape of the cache-off layer's route;
/// the handler makes one raw signature, then answers hello world.
pub fn raw_sign_route((pair, signing_input): RawSigner) -> Router {
    let raw_sign = move || {
        let rng = SystemRandom::new();
        let ok = pair.sign(&rng, &signing_input).is_ok();
        async move { if ok { "Hello, World!" } else { "signing failed" } }
    };
    Router::new().route("/rawsign/{room}", get(raw_sign))
}

/// The token request of the load's (d), (g) and (k): `POST path` as user-1, from the room
/// page `/cache/room-1` of `origin` (its `Referer`, which names the room), without a body,
/// as callstats.js' `tokenGenerator` may send it.
pub fn token_request(path: &str, origin: &str) -> Result<Request<Body>, http::Error> {
    Request::post(path)
        .header("x-load-user", "user-1")
        .header(header::REFERER, format!("{origin}/cache/room-1"))
        .body(Body::empty())
}

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
        let token = app.oneshot(token_request("/getToken", "http://127.0.0.1")?).await?;
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

    /// (j) `GET /floor/{room}`: hello world behind one `route_layer` that asks
    /// `identity` for the user, puts one shared value (a stand-in for the context) into
    /// the request extensions of a known one, and adds (f)'s headers to the response (the
    /// load's users are all known).
    pub fn floor_route<F>(&self, identity: F) -> Router
    where
        F: Fn(&Parts) -> Option<AppUser> + Clone + Send + Sync + 'static,
    {
        #[derive(Clone)]
        struct Context(#[allow(dead_code)] Arc<str>);
        let context = Context("user-1".into());
        let headers = self.page_headers.clone();
        let floor = tower::ServiceBuilder::new()
            .map_response(move |response: Response<Body>| with_headers(response, &headers))
            .map_request(move |request: Request<Body>| {
                let (mut parts, body) = request.into_parts();
                if identity(&parts).is_some() {
                    parts.extensions.insert(context.clone());
                }
                Request::from_parts(parts, body)
            });
        Router::new()
            .route("/floor/{room}", get(|| async { "Hello, World!" }))
            .route_layer(floor)
    }

    /// `GET /static/{room}` (f) and `POST /static-token` (g).
    pub fn routes(&self) -> Router {
        let page_headers = self.page_headers.clone();
        let static_page = move || {
            let headers = page_headers.clone();
            async move { with_headers(axum::response::IntoResponse::into_response("Hello, World!"), &headers) }
        };
        let static_token = Self::token_service(self.token_headers.clone(), self.token_body.clone(), |_: &Parts| true);
        Router::new()
            .route("/static/{room}", get(static_page))
            .route_service("/static-token", static_token)
    }

    /// (k) `POST /floor-token`: (g) plus what any token endpoint must do before it
    /// answers: ask `identity` for the user, read `Sec-Fetch-Site` and `Origin` for the
    /// cross-site check, and read the `Referer` that names the room (a known user, no
    /// cross-site headers, a Referer: the load's requests).
    pub fn token_floor_route<F>(&self, identity: F) -> Router
    where
        F: Fn(&Parts) -> Option<AppUser> + Clone + Send + Sync + 'static,
    {
        static SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");
        let check = move |parts: &Parts| {
            identity(parts).is_some()
                && parts
                    .headers
                    .get(&SEC_FETCH_SITE)
                    .is_none_or(|site| site != "cross-site")
                && parts.headers.get(header::ORIGIN).is_none()
                && parts.headers.get(header::REFERER).is_some()
        };
        let service = Self::token_service(self.token_headers.clone(), self.token_body.clone(), check);
        Router::new().route_service("/floor-token", service)
    }

    /// A service like the token endpoint: reads the body frame by frame and parses it as
    /// the endpoint does (empty or blank: nothing asked; else the JSON request); when
    /// `check` passes the request head, answers the captured body with the endpoint's
    /// headers.
    fn token_service<C>(
        token_headers: Headers,
        token_body: Bytes,
        check: C,
    ) -> impl tower::Service<
        Request<Body>,
        Response = Response<Body>,
        Error = Infallible,
        Future = impl Future<Output = Result<Response<Body>, Infallible>> + Send,
    > + Clone
    + Send
    + Sync
    + 'static
    where
        C: Fn(&Parts) -> bool + Clone + Send + Sync + 'static,
    {
        tower::service_fn(move |request: Request<Body>| {
            let (headers, token_body) = (token_headers.clone(), token_body.clone());
            let (parts, mut body) = request.into_parts();
            let allowed = check(&parts);
            async move {
                #[derive(serde::Deserialize)]
                struct TokenRequest<'a> {
                    #[serde(rename = "conferenceID", borrow)]
                    _conference_id: Option<&'a str>,
                    #[serde(rename = "forceNew")]
                    _force_new: Option<bool>,
                }
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
                let parsed = bytes.iter().all(u8::is_ascii_whitespace)
                    || serde_json::from_slice::<TokenRequest<'_>>(&bytes).is_ok();
                let answer = if parsed && allowed {
                    token_body
                } else {
                    Bytes::from_static(b"{}")
                };
                Ok::<_, Infallible>(with_headers(Response::new(Body::from(answer)), &headers))
            }
        })
    }
}
