//! The layer and the endpoint through real axum routers, in process (`oneshot`) and
//! over a real TCP connection on 127.0.0.1.

mod common;

use axum::{
    Extension, Router,
    body::Body,
    http::{HeaderValue, Request, StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use common::{assert_callstats_claims, body_json, decode_component, raw_header, verify};
use tower::ServiceExt;
use tower_callstats::{
    AppUser, Callstats, CallstatsContext, RoomSource, SigningKey, TokenIssuer, UserId, UserIdStrategy,
};

const APP_ID: &str = "1234567";

fn key() -> SigningKey {
    SigningKey::generate("key-1").unwrap()
}

fn issuer_with(key: SigningKey) -> TokenIssuer {
    TokenIssuer::builder(APP_ID, key).build().unwrap()
}

async fn show(context: Option<CallstatsContext>) -> String {
    match context {
        Some(cs) => format!(
            "{}|{}",
            cs.user_id(),
            cs.conference_id().map(|c| c.as_str()).unwrap_or("-")
        ),
        None => "anonymous".into(),
    }
}

fn request(uri: &str, user: Option<&str>) -> Request<Body> {
    let mut request = Request::get(uri).body(Body::empty()).unwrap();
    if let Some(user) = user {
        request
            .extensions_mut()
            .insert(AppUser::new(user).with_domain("example.com").with_session_id("sess-1"));
    }
    request
}

/// Three kinds of routes: a room page with the room from the route's path, a call
/// page with it from a query parameter and SHA1 userIDs, and a page without the layer;
/// plus a nested router, whose room source names the whole path from the root.
fn app(issuer: TokenIssuer) -> Router {
    let by_room = Callstats::new(issuer.clone()).room(RoomSource::path("/rooms/{room}", "room").unwrap());
    let rooms = Router::new()
        .route("/rooms/{room}", get(show))
        .route_layer(by_room.layer());
    let calls = Router::new().route("/calls", get(show)).route_layer(
        Callstats::new(issuer)
            .user_id(UserIdStrategy::sha1("example.com").unwrap())
            .room(RoomSource::query("c"))
            .layer()
            .require_authentication(true),
    );
    // The template is the route's full path, the nesting prefix included.
    let nested_rooms = by_room
        .clone()
        .room(RoomSource::path("/api/t/{tenant}/rooms/{room}", "room").unwrap());
    let nested = Router::new()
        .route("/t/{tenant}/rooms/{room}", get(show))
        .route_layer(nested_rooms.layer());
    Router::new()
        .merge(rooms)
        .merge(calls)
        .route("/public", get(show))
        .nest("/api", nested)
}

#[tokio::test]
async fn token_verifies_with_jsonwebtoken_and_has_exactly_the_callstats_claims() {
    let issuer = issuer_with(key());
    let key = issuer.keys().active();
    let public = key.public_key_pem();
    let response = app(issuer).oneshot(request("/rooms/r1", Some("alice"))).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let jwt = response.headers()["x-callstats-token"].to_str().unwrap().to_owned();
    assert_eq!(raw_header(&jwt), r#"{"alg":"ES256","typ":"JWT","kid":"key-1"}"#);
    let (header, claims) = verify(&jwt, &public);
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    assert_callstats_claims(&claims, "alice", APP_ID, &key);
    assert_eq!(common::body_bytes(response.into_body()).await, "alice|r1");
}

#[tokio::test]
async fn unauthenticated_requests_pass_through_without_a_token() {
    let response = app(issuer_with(key()))
        .oneshot(request("/rooms/r1", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!response.headers().contains_key("x-callstats-token"));
    assert!(!response.headers().contains_key("x-callstats-user-id"));
    assert_eq!(common::body_bytes(response.into_body()).await, "anonymous");
}

#[tokio::test]
async fn require_authentication_answers_401_without_a_token() {
    let response = app(issuer_with(key()))
        .oneshot(request("/calls?c=x", None))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(!response.headers().contains_key("x-callstats-token"));
    let body = body_json(response.into_body()).await;
    assert_eq!(body["code"], "unauthenticated");
}

#[tokio::test]
async fn invalid_ids_get_400_json_and_no_token() {
    let over = "%E3%82%A4".repeat(86); // 86 three-byte characters: 258 bytes
    let cases = [
        (
            request(&format!("/rooms/{over}"), Some("alice")),
            "invalid_conference_id",
            "258 bytes long, 2 bytes over",
        ),
        (
            request("/rooms/%E3%82", Some("alice")),
            "invalid_conference_id",
            "not valid UTF-8",
        ),
        (
            request("/rooms/a%2", Some("alice")),
            "invalid_conference_id",
            "invalid percent-encoding",
        ),
        (
            request("/rooms/a%0Db", Some("alice")),
            "invalid_conference_id",
            "control character U+000D",
        ),
        (
            request("/calls?c=", Some("alice")),
            "invalid_conference_id",
            "conferenceID is empty",
        ),
        // A page that names no room: `conference_required` (it was
        // `invalid_conference_id` before the room sources were unified).
        (
            request("/calls", Some("alice")),
            "conference_required",
            "no query parameter \"c\"",
        ),
        (
            request("/rooms/r", Some(&"ü".repeat(129))),
            "invalid_user_id",
            "userID is 258 bytes long",
        ),
        (request("/rooms/r", Some("")), "invalid_user_id", "userID is empty"),
    ];
    for (request, code, message) in cases {
        let uri = request.uri().to_string();
        let response = app(issuer_with(key())).oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert!(!response.headers().contains_key("x-callstats-token"), "{uri}");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = body_json(response.into_body()).await;
        assert_eq!(body["code"], code, "{uri}");
        assert!(body["error"].as_str().unwrap().contains(message), "{uri}: {body}");
    }
}

#[tokio::test]
async fn each_route_uses_its_own_configuration() {
    let app = app(issuer_with(key()));
    // Route parameter, raw userID.
    let response = app.clone().oneshot(request("/rooms/r1", Some("alice"))).await.unwrap();
    assert_eq!(response.headers()["x-callstats-conference-id"], "r1");
    assert_eq!(common::body_bytes(response.into_body()).await, "alice|r1");
    // Query parameter, SHA1 userID of alice@example.com (printf alice@example.com | sha1sum).
    let response = app
        .clone()
        .oneshot(request("/calls?c=weekly+sync", Some("alice")))
        .await
        .unwrap();
    assert_eq!(
        common::body_bytes(response.into_body()).await,
        "fc2398a73dd54d6237c4fdb58fd7d75347cf5af3|weekly sync"
    );
    // No layer on this route: no token even for a logged-in user.
    let response = app.clone().oneshot(request("/public", Some("alice"))).await.unwrap();
    assert!(!response.headers().contains_key("x-callstats-token"));
    assert_eq!(common::body_bytes(response.into_body()).await, "anonymous");
    // Nested router: the room is found in the full path, the nesting prefix included.
    let response = app
        .oneshot(request("/api/t/acme/rooms/standup", Some("bob")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(common::body_bytes(response.into_body()).await, "bob|standup");
}

#[tokio::test]
async fn id_headers_are_percent_encoded_and_decode_back_byte_exact() {
    let user = "интернэт ユーザー 🎉 e\u{301}";
    let room = "ອິນເຕີເນັດ/インターネット";
    let uri = format!("/rooms/{}", tower_callstats::percent_encode(room));
    let response = app(issuer_with(key()))
        .oneshot(request(&uri, Some(user)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers();
    let user_header = headers["x-callstats-user-id"].to_str().unwrap();
    let room_header = headers["x-callstats-conference-id"].to_str().unwrap();
    assert!(user_header.is_ascii() && room_header.is_ascii());
    assert_eq!(decode_component(user_header), user.as_bytes());
    assert_eq!(decode_component(room_header), room.as_bytes());
}

#[tokio::test]
async fn responses_with_tokens_are_not_cacheable_by_shared_caches() {
    async fn cached(Extension(policy): Extension<&'static str>) -> impl IntoResponse {
        ([(header::CACHE_CONTROL, HeaderValue::from_static(policy))], "page")
    }
    for (app_policy, expected) in [
        ("public, max-age=600", "no-store"),
        ("max-age=60", "no-store"),
        // A token is a bearer credential: not even the browser's own cache keeps it.
        ("private, max-age=60", "no-store"),
        ("no-store", "no-store"),
    ] {
        let app = Router::new()
            .route("/p", get(cached))
            .route_layer(Callstats::new(issuer_with(key())).layer())
            .layer(Extension(app_policy));
        let response = app.oneshot(request("/p", Some("alice"))).await.unwrap();
        assert_eq!(response.headers()[header::CACHE_CONTROL], expected, "{app_policy}");
        assert!(response.headers()[header::VARY].to_str().unwrap().contains("cookie"));
    }
}

#[tokio::test]
async fn handlers_read_the_context_with_the_extractor_and_the_object_form() {
    async fn page(cs: CallstatsContext) -> axum::Json<serde_json::Value> {
        axum::Json(cs.to_client_json())
    }
    let key = key();
    let public = key.public_key_pem();
    let app = Router::new().route("/rooms/{room}", get(page)).route_layer(
        Callstats::new(issuer_with(key))
            .user_id(UserIdStrategy::sha1("example.com").unwrap().object_form(true))
            .room(RoomSource::path("/rooms/{room}", "room").unwrap())
            .conference_server_id(UserId::new("sfu-eu-1").unwrap())
            .layer(),
    );
    let response = app.oneshot(request("/rooms/r9", Some("alice"))).await.unwrap();
    let body = body_json(response.into_body()).await;
    let alias = "fc2398a73dd54d6237c4fdb58fd7d75347cf5af3";
    assert_eq!(
        body["localUserID"],
        serde_json::json!({"userName": "alice", "aliasName": alias})
    );
    assert_eq!(body["userID"], alias);
    assert_eq!(body["conferenceServerID"], "sfu-eu-1");
    let (_, claims) = verify(body["token"].as_str().unwrap(), &public);
    assert_eq!(
        claims["userID"], alias,
        "the token carries the alias, which the client authenticates with"
    );
}

fn post(body: &str, content_type: &str, user: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/getToken")
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body.to_owned()))
        .unwrap();
    if let Some(user) = user {
        request.extensions_mut().insert(AppUser::new(user));
    }
    request
}

#[tokio::test]
async fn token_endpoint_answers_like_the_docs_reference() {
    let issuer = issuer_with(key());
    let key = issuer.keys().active();
    let public = key.public_key_pem();
    // This test is about what the body may say, so the body's conferenceID names the
    // room (`room_from_body`); by default the room comes from the page that asks (see
    // the next test).
    let app = Router::new().route_service("/getToken", Callstats::new(issuer).endpoint().room_from_body(true));

    let response = app
        .clone()
        .oneshot(post(r#"{"conferenceID":"интернэт"}"#, "application/json", Some("ann")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let body = body_json(response.into_body()).await;
    assert_eq!(body["userID"], "ann");
    assert_eq!(body["conferenceID"], "интернэт");
    let (_, claims) = verify(body["token"].as_str().unwrap(), &public);
    assert_callstats_claims(&claims, "ann", APP_ID, &key);
    assert_eq!(body["expiresAt"], claims["exp"]);

    // A form body works too (jQuery's $.post default).
    let response = app
        .clone()
        .oneshot(post(
            "conferenceID=a+b%21",
            "application/x-www-form-urlencoded",
            Some("ann"),
        ))
        .await
        .unwrap();
    assert_eq!(body_json(response.into_body()).await["conferenceID"], "a b!");

    // No session: the docs' message, with the stable code every refusal has.
    let response = app.clone().oneshot(post("", "application/json", None)).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        common::body_bytes(response.into_body()).await,
        r#"{"code":"not_logged_in","error":"User not logged in"}"#
    );

    // Wrong method.
    let response = app
        .clone()
        .oneshot(Request::get("/getToken").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()[header::ALLOW], "POST");
    assert_eq!(body_json(response.into_body()).await["code"], "method_not_allowed");

    // Someone else's userID in the body is ignored: the user only comes from the session.
    let response = app
        .clone()
        .oneshot(post(
            r#"{"userID":"mallory","username":"mallory"}"#,
            "application/json",
            Some("ann"),
        ))
        .await
        .unwrap();
    let body = body_json(response.into_body()).await;
    let (_, claims) = verify(body["token"].as_str().unwrap(), &public);
    assert_eq!(claims["userID"], "ann");

    // Over-long conferenceID in the body, over-size body, wrong content type.
    let long = format!(r#"{{"conferenceID":"{}"}}"#, "ü".repeat(129));
    let response = app
        .clone()
        .oneshot(post(&long, "application/json", Some("ann")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(response.into_body()).await["code"], "invalid_conference_id");
    let huge = format!(r#"{{"conferenceID":"{}"}}"#, "a".repeat(10_000));
    let response = app
        .clone()
        .oneshot(post(&huge, "application/json", Some("ann")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body_json(response.into_body()).await["code"], "body_too_large");
    let response = app
        .oneshot(post("conferenceID: x", "text/plain", Some("ann")))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body_json(response.into_body()).await["code"], "unsupported_media_type");
}

#[tokio::test]
async fn token_endpoint_takes_the_room_from_the_referer_with_the_pages_source() {
    let callstats = Callstats::new(issuer_with(key())).room(RoomSource::path("/rooms/{room}", "room").unwrap());
    let app = Router::new().route_service("/getToken", callstats.endpoint());
    let mut request = post("", "application/json", Some("ann"));
    request.headers_mut().insert(
        header::REFERER,
        HeaderValue::from_static("https://meet.example.com/rooms/%E3%82%A4?x=1"),
    );
    let body = body_json(app.clone().oneshot(request).await.unwrap().into_body()).await;
    assert_eq!(body["conferenceID"], "イ");
    // The client's body does not choose the room...
    let with_body = |app: Router| async move {
        let mut request = post(r#"{"conferenceID":"from-body"}"#, "application/json", Some("ann"));
        request.headers_mut().insert(
            header::REFERER,
            HeaderValue::from_static("https://meet.example.com/rooms/r"),
        );
        body_json(app.oneshot(request).await.unwrap().into_body()).await
    };
    assert_eq!(with_body(app).await["conferenceID"], "r");
    // ...unless the app lets it: then the body wins.
    let app = Router::new().route_service("/getToken", callstats.endpoint().room_from_body(true));
    assert_eq!(with_body(app).await["conferenceID"], "from-body");
}

#[tokio::test]
async fn over_a_real_tcp_connection() {
    let issuer = issuer_with(key());
    let key = issuer.keys().active();
    let public = key.public_key_pem();
    // Stand-in for the app's session layer: trust a test header.
    let app = app(issuer).layer(axum::middleware::from_fn(common::identity_from_test_header));
    let addr = common::serve(app).await;

    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let uri = format!("http://{addr}/rooms/%D0%B8%D0%BD");
    let request = Request::get(&uri)
        .header(common::TEST_USER_HEADER, "carol")
        .body(Default::default())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let jwt = response.headers()["x-callstats-token"].to_str().unwrap().to_owned();
    let (_, claims) = verify(&jwt, &public);
    assert_callstats_claims(&claims, "carol", APP_ID, &key);
    assert_eq!(common::body_bytes(response.into_body()).await, "carol|ин");

    let response = client
        .request(Request::get(&uri).body(Default::default()).unwrap())
        .await
        .unwrap();
    assert!(!response.headers().contains_key("x-callstats-token"));
}
