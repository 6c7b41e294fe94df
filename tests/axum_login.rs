//! examples/axum_login.rs: the user comes from axum-login's `AuthSession` (a closure
//! given to `Callstats::user`), and the room page and the token endpoint agree on the
//! userID and the room.

mod common;
#[allow(dead_code)]
#[path = "../examples/axum_login.rs"]
mod example;

use axum::{Router, body::Body};
use http::{Request, StatusCode, header};
use tower::ServiceExt;
use tower_callstats::{Callstats, SigningKey, TokenIssuer, UserIdStrategy};

fn app() -> (Router, String) {
    let key = SigningKey::generate("login-key").unwrap();
    let public = key.public_key_pem();
    let issuer = TokenIssuer::builder("login-app", key).build().unwrap();
    let callstats = Callstats::new(issuer).user_id(UserIdStrategy::sha1("example.com").unwrap());
    let backend = example::Backend::with_users([("alice", "correct horse"), ("bob", "battery staple")]);
    (example::app(callstats, backend), public)
}

async fn login(app: &Router, form: &str) -> (StatusCode, Option<String>) {
    let request = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned());
    (response.status(), cookie)
}

fn with_cookie(builder: http::request::Builder, cookie: &str) -> Request<Body> {
    builder.header(header::COOKIE, cookie).body(Body::empty()).unwrap()
}

#[tokio::test]
async fn a_logged_in_user_gets_the_same_user_id_on_the_page_and_in_the_token() {
    let (app, public) = app();
    let (status, cookie) = login(&app, "username=alice&password=correct+horse").await;
    assert_eq!(status, StatusCode::OK);
    let cookie = cookie.expect("login sets the session cookie");

    let page = app
        .clone()
        .oneshot(with_cookie(Request::get("/rooms/standup"), &cookie))
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let jwt = page.headers()["x-callstats-token"].to_str().unwrap().to_owned();
    let page_json = common::body_json(page.into_body()).await;
    // printf 'alice@example.com' | sha1sum
    let alice = "fc2398a73dd54d6237c4fdb58fd7d75347cf5af3";
    assert_eq!(page_json["userID"], alice);
    assert_eq!(page_json["conferenceID"], "standup");
    let (_, claims) = common::verify(&jwt, &public);
    assert_eq!(claims["userID"], alice);

    // The page's tokenGenerator: the room is the page's (its Referer).
    let token = app
        .clone()
        .oneshot(with_cookie(
            Request::post("/getToken").header(header::REFERER, "http://127.0.0.1:3004/rooms/standup"),
            &cookie,
        ))
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::OK);
    let json = common::body_json(token.into_body()).await;
    assert_eq!(json["userID"], alice);
    assert_eq!(json["conferenceID"], "standup");
    let (_, claims) = common::verify(json["token"].as_str().unwrap(), &public);
    assert_eq!(claims["userID"], alice);

    // After logout the session no longer yields a user.
    let out = app
        .clone()
        .oneshot(with_cookie(Request::post("/logout"), &cookie))
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::OK);
    let after = app
        .oneshot(with_cookie(
            Request::post("/getToken").header(header::REFERER, "http://127.0.0.1:3004/rooms/standup"),
            &cookie,
        ))
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::FORBIDDEN);
    assert_eq!(common::body_json(after.into_body()).await["code"], "not_logged_in");
}

#[tokio::test]
async fn no_login_no_token() {
    let (app, _) = app();
    let (status, cookie) = login(&app, "username=alice&password=wrong").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let anonymous = Request::post("/getToken").body(Body::empty()).unwrap();
    let response = app.clone().oneshot(anonymous).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body = common::body_bytes(response.into_body()).await;
    assert_eq!(&body[..], br#"{"code":"not_logged_in","error":"User not logged in"}"#);

    // The failed login's session cookie (if any) carries no user either.
    let page = match cookie {
        Some(cookie) => with_cookie(Request::get("/rooms/standup"), &cookie),
        None => Request::get("/rooms/standup").body(Body::empty()).unwrap(),
    };
    let page = app.oneshot(page).await.unwrap();
    assert_eq!(page.status(), StatusCode::UNAUTHORIZED);
    assert!(!page.headers().contains_key("x-callstats-token"));
}
