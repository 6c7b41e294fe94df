//! The layer and the endpoint in a real hyper 1 server on 127.0.0.1 (the
//! `examples/hyper.rs` app, included as is), called by a real HTTP client.

mod common;
#[allow(dead_code)]
#[path = "../examples/hyper.rs"]
mod example;

use http::{Request, StatusCode};
use hyper_util::{
    client::legacy::Client,
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
    service::TowerToHyperService,
};
use tower_callstats::{SigningKey, TokenIssuer};

#[tokio::test]
async fn tokens_through_a_plain_hyper_server_verify_and_ids_round_trip() {
    let issuer = TokenIssuer::builder("hyper-app", SigningKey::generate("k-hyper").unwrap())
        .build()
        .unwrap();
    let key = issuer.keys().active();
    let public = key.public_key_pem();
    let app = example::app(issuer).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(app.clone());
            tokio::spawn(async move {
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let client = Client::builder(TokioExecutor::new()).build_http::<http_body_util::Full<bytes::Bytes>>();

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
