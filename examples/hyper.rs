//! The layer in a plain hyper 1 server, without axum: `cargo run --example hyper`.
//!
//! ```text
//! curl -i -H 'x-demo-user: alice' http://127.0.0.1:3002/rooms/%E3%82%A4
//! curl -i -X POST -H 'x-demo-user: alice' -H 'referer: http://127.0.0.1:3002/rooms/%E3%82%A4' http://127.0.0.1:3002/getToken
//! ```
//!
//! The room comes from the route's path template
//! (`RoomSource::path("/rooms/{room}", "room")`, checked at start-up), which works the
//! same without axum's router: on the page it reads the request's path, on the token
//! endpoint the path of the page that asks (its `Referer`). The user comes from a
//! closure over the request head given to `Callstats::user`, standing in for the app's
//! authentication (here: DEMO ONLY, a header that anybody can set).
//!
//! Reading the user from a request header is only safe behind a proxy that
//! authenticates the user, sets that header itself, and strips it from every client
//! request; otherwise any client can claim to be anyone by sending it.

use std::{convert::Infallible, net::SocketAddr};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use tokio::net::TcpListener;
use tower::{ServiceBuilder, ServiceExt, service_fn};
use tower_callstats::{
    AppUser, Callstats, CallstatsContext, ConfigError, RoomSource, SigningKey, TokenIssuer, layer::ResponseBody,
};

/// What every response of this app is.
pub type AppResponse = Response<Either<ResponseBody<Full<Bytes>>, Full<Bytes>>>;

/// DEMO ONLY: the app's authentication, reduced to trusting the `x-demo-user` header.
/// A real app verifies a session cookie or a bearer token here. In production, a
/// header names the user only if a proxy in front of the app sets it after
/// authenticating the user and strips it from every client request.
fn demo_user(parts: &http::request::Parts) -> Option<AppUser> {
    let name = parts.headers.get("x-demo-user")?.to_str().ok()?;
    Some(AppUser::new(name))
}

async fn room_page(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = match request.extensions().get::<CallstatsContext>() {
        Some(context) => context.to_client_json().to_string(),
        None => r#"{"anonymous":true}"#.to_owned(),
    };
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::from(body))
        .unwrap())
}

/// The whole app as one `tower::Service`: `/rooms/{room}` behind the layer, and the
/// token endpoint at `POST /getToken`.
pub fn app(
    issuer: TokenIssuer,
) -> Result<
    impl tower::Service<Request<Incoming>, Response = AppResponse, Error = Infallible, Future: Send> + Clone,
    ConfigError,
> {
    let callstats = Callstats::new(issuer)
        .user(demo_user)
        .room(RoomSource::path("/rooms/{room}", "room")?);
    let pages = ServiceBuilder::new().layer(callstats.layer()).service_fn(room_page);
    // The endpoint compares a browser's `Origin` with the request's own origin, scheme
    // included: this server speaks plain http.
    let endpoint = callstats.endpoint().scheme(http::uri::Scheme::HTTP);
    Ok(service_fn(move |request: Request<Incoming>| {
        let (pages, endpoint) = (pages.clone(), endpoint.clone());
        async move {
            let path = request.uri().path();
            if path.starts_with("/rooms/") {
                pages.oneshot(request).await.map(|r| r.map(Either::Left))
            } else if path == "/getToken" {
                endpoint.oneshot(request).await.map(|r| r.map(Either::Right))
            } else {
                let mut not_found = Response::new(Either::Right(Full::from("not found")));
                *not_found.status_mut() = StatusCode::NOT_FOUND;
                Ok(not_found)
            }
        }
    }))
}

/// Serves `app` on `listener`, each connection in a task of its own. Returns only if
/// accepting a connection fails.
pub async fn serve<S>(listener: TcpListener, app: S) -> std::io::Result<()>
where
    S: tower::Service<Request<Incoming>, Response = AppResponse, Error = Infallible, Future: Send>
        + Clone
        + Send
        + 'static,
{
    loop {
        let (stream, _) = listener.accept().await?;
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let bind: SocketAddr = std::env::var("BIND")
        .unwrap_or_else(|_| "127.0.0.1:3002".into())
        .parse()?;
    let issuer = TokenIssuer::builder("demo-app", SigningKey::generate("dev-key")?).build()?;
    let app = app(issuer)?;
    let listener = TcpListener::bind(bind).await?;
    println!("hyper example on http://{bind} (development key, DEMO ONLY x-demo-user header auth)");
    serve(listener, app).await?;
    Ok(())
}

// The shared helpers of the crate's tests (token verification, servers on 127.0.0.1).
#[cfg(test)]
#[path = "../tests/common/mod.rs"]
mod common;

/// The example's own test, run by `cargo test --workspace` (the example is built with
/// `test = true`).
#[cfg(test)]
mod tests {
    // The layer and the endpoint in a real hyper 1 server on 127.0.0.1 (this
    // example's app), called by a real HTTP client.

    use super::common;
    use http::{Request, StatusCode};
    use tower_callstats::{SigningKey, TokenIssuer};

    #[tokio::test]
    async fn tokens_through_a_plain_hyper_server_verify_and_ids_round_trip() {
        let issuer = TokenIssuer::builder("hyper-app", SigningKey::generate("k-hyper").unwrap())
            .build()
            .unwrap();
        let key = issuer.keys().active();
        let public = key.public_key_pem();
        let app = super::app(issuer).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(super::serve(listener, app));
        let client = common::http_client();

        // A room page: token in the header, context in the body.
        let room = "ອິນເຕີເນັດ";
        let uri = format!("http://{addr}/rooms/{}", common::encode_component(room));
        let request = Request::get(&uri)
            .header("x-demo-user", "dave")
            .body(Default::default())
            .unwrap();
        let response = client.request(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let jwt = response.headers()["x-callstats-token"].to_str().unwrap().to_owned();
        let conference = common::decode_component(response.headers()["x-callstats-conference-id"].to_str().unwrap());
        assert_eq!(conference, room.as_bytes());
        let (_, claims) = common::verify(&jwt, &public);
        common::assert_callstats_claims(&claims, "dave", "hyper-app", &key);
        let body = common::body_json(response.into_body()).await;
        assert_eq!(body["conferenceID"], room);
        assert_eq!(body["token"], jwt.as_str());

        // Anonymous: no token.
        let response = client
            .request(Request::get(&uri).body(Default::default()).unwrap())
            .await
            .unwrap();
        assert!(!response.headers().contains_key("x-callstats-token"));
        assert_eq!(common::body_json(response.into_body()).await["anonymous"], true);

        // The endpoint, as the page of room `standup` calls it (the room is its Referer's,
        // as a browser sends it; the body's conferenceID is not read by default). The
        // browser's Origin is this http server's own.
        let request = Request::post(format!("http://{addr}/getToken"))
            .header("x-demo-user", "dave")
            .header("referer", format!("http://{addr}/rooms/standup"))
            .header("origin", format!("http://{addr}"))
            .header("content-type", "application/json")
            .body(r#"{"conferenceID":"not-this-one"}"#.into())
            .unwrap();
        let response = client.request(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = common::body_json(response.into_body()).await;
        assert_eq!(body["conferenceID"], "standup");
        let (_, claims) = common::verify(body["token"].as_str().unwrap(), &public);
        common::assert_callstats_claims(&claims, "dave", "hyper-app", &key);

        let response = client
            .request(
                Request::post(format!("http://{addr}/getToken"))
                    .header("referer", format!("http://{addr}/rooms/standup"))
                    .body(Default::default())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            common::body_bytes(response.into_body()).await,
            r#"{"code":"not_logged_in","error":"User not logged in"}"#
        );
        server.abort();
    }
}
