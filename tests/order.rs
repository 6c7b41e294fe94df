//! The order of a request, through a real axum `Router` served by hyper on 127.0.0.1:
//! **user -> userID -> room -> authorize -> call -> token**, the same on the page's
//! layer and on the token endpoint.
//!
//! A refused request touches neither the call registry nor the token cache; the hook
//! sees the room as the request named it, never a call's ID, and a refusal names that
//! room; the endpoint's room is the page that asks (its `Referer`), the body's only
//! when the app allows it; asynchronous hooks and user sources are awaited; the app
//! shapes refusals; and a full call registry never ends a live call.
//!
//! Expected values are written out from the rules (the message of
//! `conference_forbidden`, the call ID format `<room>-<YYYYMMDDTHHMMZ>-<6 hex>`), never
//! read back from the crate. Nothing here measures time.

mod common;

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, routing::get};
use bytes::Bytes;
use common::{
    AuditLog, HttpClient, Reply, TEST_USER_HEADER, http_client,
    router::{NOW, is_call_of, registry},
    test_header_user,
};
use http::{HeaderValue, Request, Response, StatusCode, header, request::Parts, uri::Scheme};
use http_body_util::Full;
use serde_json::Value;
use tower_callstats::{
    AppUser, AsyncAuthorize, Authorize, Callstats, CallstatsContext, GetUser, Rejection, RoomSource, SigningKey,
    TokenIssuer, UserId,
    audit::Action,
    calls::{Calls, FailurePolicy, MemoryRegistry},
    clock::ManualClock,
};

fn issuer() -> TokenIssuer {
    TokenIssuer::builder("order-app", SigningKey::generate("key-1").unwrap())
        .build()
        .unwrap()
}

/// The user named by the `x-test-user` header, rooms from `/rooms/{room}`.
fn base() -> Callstats<fn(&Parts) -> Option<AppUser>> {
    Callstats::new(issuer())
        .user(test_header_user as fn(&Parts) -> Option<AppUser>)
        .room(RoomSource::path("/rooms/{room}", "room").unwrap())
}

/// The room page answers the page JSON of its context (`null` for an anonymous user).
async fn room_page(context: Option<CallstatsContext>) -> axum::Json<Value> {
    axum::Json(context.map_or(Value::Null, |c| c.to_client_json()))
}

/// Serves the room pages behind the layer and the token endpoint (plain http pages) of
/// `callstats` on 127.0.0.1.
async fn start<U: GetUser, A: Authorize>(callstats: &Callstats<U, A>) -> Server {
    let router = Router::new()
        .route("/rooms/{room}", get(room_page))
        .route_layer(callstats.layer())
        .route_service("/getToken", callstats.endpoint().scheme(Scheme::HTTP));
    start_router(router).await
}

async fn start_router(router: Router) -> Server {
    Server {
        addr: common::serve(router).await,
        client: http_client(),
    }
}

struct Server {
    addr: SocketAddr,
    client: HttpClient,
}

impl Server {
    /// The URL of the page of `room` on this server (`room` as it goes into the path,
    /// percent-encoded by the caller where it needs it).
    fn room_url(&self, room: &str) -> String {
        format!("http://{}/rooms/{room}", self.addr)
    }

    /// `GET` the page of `room`, as `user`.
    async fn page(&self, user: Option<&str>, room: &str) -> Reply {
        let mut request = Request::get(self.room_url(room));
        if let Some(user) = user {
            request = request.header(TEST_USER_HEADER, user);
        }
        common::send(&self.client, request.body(Full::default()).unwrap()).await
    }

    /// `POST /getToken` as `user`, from the page of `room` (its Referer; none without).
    async fn token(&self, user: Option<&str>, room: Option<&str>) -> Reply {
        self.token_at("/getToken", user, room.map(|r| self.room_url(r)), None)
            .await
    }

    /// `POST` to the endpoint at `path` as `user`, with a Referer and a JSON body of
    /// one's choosing.
    async fn token_at(&self, path: &str, user: Option<&str>, referer: Option<String>, json: Option<&str>) -> Reply {
        let mut request = Request::post(format!("http://{}{path}", self.addr));
        if let Some(user) = user {
            request = request.header(TEST_USER_HEADER, user);
        }
        if let Some(referer) = referer {
            request = request.header(header::REFERER, referer);
        }
        let body = match json {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(json.to_owned()))
            }
            None => Full::default(),
        };
        common::send(&self.client, request.body(body).unwrap()).await
    }
}

/// The conferenceID a successful answer carries (page JSON or endpoint JSON).
fn conference_id(reply: &Reply) -> String {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()["conferenceID"]
        .as_str()
        .unwrap_or_else(|| panic!("no conferenceID: {}", reply.text()))
        .to_owned()
}

/// The `conference_forbidden` refusal of a room, as the rule writes it:
/// `{"code":"conference_forbidden","error":"this user may not join the room \"<room>\""}`.
fn forbidden_body(room: &str) -> String {
    format!(r#"{{"code":"conference_forbidden","error":"this user may not join the room \"{room}\""}}"#)
}

// a. A refused request touches nothing.

#[tokio::test]
async fn a_refused_request_never_reaches_the_call_registry_or_the_cache() {
    let registry = registry();
    let log = AuditLog::default();
    let callstats = base()
        .calls(Calls::new(registry.clone()))
        .authorize(|_: &AppUser, _: &UserId, _: Option<&str>| false)
        .audit(log.hook());
    let server = start(&callstats).await;
    assert_eq!(registry.len(), 0);

    let mut refused = 0;
    for i in 0..500 {
        let room = format!("room-{}", i % 50);
        let user = format!("user-{}", i % 7);
        for reply in [
            server.page(Some(&user), &room).await,
            server.token(Some(&user), Some(&room)).await,
        ] {
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.text());
            assert_eq!(reply.code().as_deref(), Some("conference_forbidden"));
            assert_eq!(reply.token(), None);
            refused += 1;
        }
    }
    assert_eq!(refused, 1000);
    assert_eq!(registry.len(), 0, "no call was started for a refused request");
    assert_eq!(log.count(Action::Issued), 0);
    assert_eq!(log.count(Action::Reused), 0);
    assert_eq!(log.count(Action::Rejected), 1000);
}

// b. The hook sees the room as named.

/// What the hook was asked: the username and the room, in order.
type Asked = Vec<(String, Option<String>)>;

#[tokio::test]
async fn the_hook_sees_the_room_as_the_request_named_it_never_the_call() {
    let seen: Arc<Mutex<Asked>> = Arc::default();
    let sink = seen.clone();
    let hook = move |user: &AppUser, _: &UserId, room: Option<&str>| {
        sink.lock()
            .unwrap()
            .push((user.username().to_owned(), room.map(str::to_owned)));
        true
    };
    let callstats = base().calls(Calls::new(registry())).authorize(hook);
    let server = start(&callstats).await;

    // 234 bytes: the longest room a call ID keeps whole (256 bytes with its suffix).
    let long = format!("{}-secret", "r".repeat(234 - "-secret".len()));
    assert_eq!(long.len(), 234);
    let mut calls = Vec::new();
    for room in ["standup", long.as_str()] {
        let on_page = conference_id(&server.page(Some("alice"), room).await);
        let on_endpoint = conference_id(&server.token(Some("bob"), Some(room)).await);
        assert!(is_call_of(&on_page, room), "{on_page}");
        assert_eq!(on_endpoint, on_page, "one call for everybody in the room");
        calls.push(on_page);
    }
    assert_eq!(calls[1].len(), 256);

    let named = |user: &str, room: &str| (user.to_owned(), Some(room.to_owned()));
    assert_eq!(
        *seen.lock().unwrap(),
        [
            named("alice", "standup"),
            named("bob", "standup"),
            named("alice", &long),
            named("bob", &long),
        ]
    );
    for (_, room) in seen.lock().unwrap().iter() {
        assert!(!calls.contains(room.as_ref().unwrap()), "the hook saw a call ID");
    }
}

/// A refused user cannot keep a call alive: its requests never touch the registry, so a
/// call nobody allowed joined for longer than the idle timeout has ended.
#[tokio::test]
async fn a_refused_user_does_not_keep_a_call_alive_past_the_idle_timeout() {
    let clock = ManualClock::at_unix(NOW);
    let registry = MemoryRegistry::new()
        .idle_timeout(Duration::from_secs(600))
        .clock(clock.clone());
    let hook = |user: &AppUser, _: &UserId, _: Option<&str>| user.username() == "alice";
    let callstats = base().calls(Calls::new(registry)).authorize(hook);
    let server = start(&callstats).await;
    let first = conference_id(&server.page(Some("alice"), "standup").await);
    assert!(is_call_of(&first, "standup"), "{first}");
    // Mallory, refused, asks every 500 s for 5 000 s: each within the 600 s idle timeout
    // of the one before.
    for _ in 0..10 {
        clock.advance(Duration::from_secs(500));
        assert_eq!(
            server.page(Some("mallory"), "standup").await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            server.token(Some("mallory"), Some("standup")).await.status,
            StatusCode::FORBIDDEN
        );
    }
    let later = conference_id(&server.page(Some("alice"), "standup").await);
    assert_ne!(
        later, first,
        "5000 s after the last allowed join (idle timeout 600 s) the call is still {first}: the refused requests touched it"
    );
    assert!(later.starts_with("standup-"), "{later}");
}

// c. A refusal names the room, not the call.

#[tokio::test]
async fn a_refusal_names_the_room_asked_for_and_no_call_id() {
    let hook = |user: &AppUser, _: &UserId, _: Option<&str>| user.username() == "alice";
    let callstats = base().calls(Calls::new(registry())).authorize(hook);
    let server = start(&callstats).await;

    // Alice starts the call of the room.
    let call = conference_id(&server.page(Some("alice"), "standup").await);
    assert!(is_call_of(&call, "standup"), "{call}");

    for reply in [
        server.page(Some("mallory"), "standup").await,
        server.token(Some("mallory"), Some("standup")).await,
    ] {
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(reply.text(), forbidden_body("standup"));
        assert!(!reply.text().contains(&call), "the refusal leaks the call ID");
        for value in reply.headers.values() {
            assert!(!value.as_bytes().windows(call.len()).any(|w| w == call.as_bytes()));
        }
    }
    // Alice's call is untouched.
    assert_eq!(conference_id(&server.token(Some("alice"), Some("standup")).await), call);
}

// d. The endpoint's room.

/// What a token request must get: a token for a room, or a refusal (status, code).
type Expected<'a> = Result<&'a str, (u16, &'a str)>;

#[tokio::test]
async fn the_endpoint_reads_the_room_from_the_referer_and_the_body_only_when_allowed() {
    for conf_id_claim in [false, true] {
        let issuer = TokenIssuer::builder("order-app", SigningKey::generate("key-1").unwrap())
            .conf_id_claim(conf_id_claim)
            .build()
            .unwrap();
        let callstats = Callstats::new(issuer)
            .user(test_header_user)
            .room(RoomSource::path("/rooms/{room}", "room").unwrap());
        let router = Router::new()
            .route_service("/getToken", callstats.endpoint().scheme(Scheme::HTTP))
            .route_service(
                "/body/getToken",
                callstats.endpoint().scheme(Scheme::HTTP).room_from_body(true),
            );
        let server = start_router(router).await;
        let page = |room: &str| Some(server.room_url(room));
        let from_body = Some(r#"{"conferenceID":"from-body"}"#);
        let required = Err((400, "conference_required"));

        let rows: Vec<(&str, Option<String>, Option<&str>, Expected<'_>)> = vec![
            // The default endpoint: the room is the Referer's.
            ("/getToken", None, None, required),
            ("/getToken", None, Some("{}"), required),
            ("/getToken", None, Some(r#"{"forceNew":true}"#), required),
            // The body does not name the room by default: still no room.
            ("/getToken", None, from_body, required),
            // A page that is not a room page names no room.
            (
                "/getToken",
                Some(format!("http://{}/about", server.addr)),
                None,
                required,
            ),
            (
                "/getToken",
                Some("not a URL".into()),
                None,
                Err((400, "invalid_referer")),
            ),
            ("/getToken", page("standup"), None, Ok("standup")),
            // The Referer's room, whatever the body says.
            ("/getToken", page("standup"), from_body, Ok("standup")),
            // With `room_from_body`: the body's conferenceID names the room, before the
            // Referer; without one in the body, the Referer still does.
            ("/body/getToken", None, from_body, Ok("from-body")),
            ("/body/getToken", page("standup"), from_body, Ok("from-body")),
            ("/body/getToken", page("standup"), None, Ok("standup")),
            ("/body/getToken", None, Some("{}"), required),
            (
                "/body/getToken",
                None,
                Some(r#"{"conferenceID":"a\r\nb"}"#),
                Err((400, "invalid_conference_id")),
            ),
        ];
        for (path, referer, body, expected) in rows {
            let what = format!("{path}, conf_id_claim {conf_id_claim}, Referer {referer:?}, body {body:?}");
            let reply = server.token_at(path, Some("alice"), referer, body).await;
            match expected {
                Ok(room) => {
                    assert_eq!(conference_id(&reply), room, "{what}");
                    let claims = common::decode_unverified(&reply.token().unwrap());
                    assert_eq!(
                        claims.get("confID").and_then(Value::as_str),
                        conf_id_claim.then_some(room),
                        "{what}"
                    );
                }
                Err((status, code)) => {
                    assert_eq!(reply.status.as_u16(), status, "{what}: {}", reply.text());
                    assert_eq!(reply.code().as_deref(), Some(code), "{what}");
                    assert_eq!(reply.token(), None, "{what}");
                }
            }
        }
    }
}

// e. An asynchronous hook.

#[tokio::test]
async fn an_asynchronous_hook_is_awaited_by_the_layer_and_the_endpoint() {
    let answered = Arc::new(AtomicUsize::new(0));
    let counter = answered.clone();
    let hook = AsyncAuthorize::new(move |user: &AppUser, _: &UserId, room: Option<&str>| {
        let allowed = user.username() == "alice" && room == Some("standup");
        let counter = counter.clone();
        async move {
            // A database round trip: the decision cannot be made on the first poll.
            tokio::time::sleep(Duration::from_millis(10)).await;
            counter.fetch_add(1, Ordering::SeqCst);
            allowed
        }
    });
    let log = AuditLog::default();
    let callstats = base().calls(Calls::new(registry())).authorize(hook).audit(log.hook());
    let server = start(&callstats).await;

    let page = server.page(Some("alice"), "standup").await;
    let call = conference_id(&page);
    assert!(is_call_of(&call, "standup"), "{call}");
    let jwt = page.token().unwrap();
    assert_eq!(common::decode_unverified(&jwt)["userID"], "alice");
    let token = server.token(Some("alice"), Some("standup")).await;
    assert_eq!(conference_id(&token), call);
    assert_eq!(
        token.token().unwrap(),
        jwt,
        "the endpoint hands out the page's cached token"
    );

    for reply in [
        server.page(Some("mallory"), "standup").await,
        server.token(Some("mallory"), Some("standup")).await,
        server.page(Some("alice"), "board").await,
        server.token(Some("alice"), Some("board")).await,
    ] {
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(reply.code().as_deref(), Some("conference_forbidden"));
        assert_eq!(reply.token(), None);
    }
    assert_eq!(
        answered.load(Ordering::SeqCst),
        6,
        "every request waited for its answer"
    );
    assert_eq!(log.count(Action::Issued), 1);
    assert_eq!(log.count(Action::Reused), 1);
    assert_eq!(log.count(Action::Rejected), 4);
}

// f. An asynchronous user source.

/// A user source that looks the user up asynchronously (a session store): the user the
/// `x-test-user` header names, after 5 ms.
struct SlowUser {
    asked: Arc<AtomicUsize>,
}

impl GetUser for SlowUser {
    type Future = Pin<Box<dyn Future<Output = Option<AppUser>> + Send>>;

    fn user(&self, parts: &Parts) -> Self::Future {
        let name = parts
            .headers
            .get(TEST_USER_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let asked = self.asked.clone();
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            asked.fetch_add(1, Ordering::SeqCst);
            name.map(AppUser::new)
        })
    }
}

#[tokio::test]
async fn an_asynchronous_user_source_works_for_the_layer_and_the_endpoint() {
    let asked = Arc::new(AtomicUsize::new(0));
    let callstats = Callstats::new(issuer())
        .user(SlowUser { asked: asked.clone() })
        .room(RoomSource::path("/rooms/{room}", "room").unwrap());
    let server = start(&callstats).await;

    let page = server.page(Some("carol"), "standup").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.json()["userID"], "carol");
    assert_eq!(page.json()["conferenceID"], "standup");
    assert_eq!(page.headers["x-callstats-user-id"], "carol");
    let token = server.token(Some("carol"), Some("standup")).await;
    assert_eq!(token.status, StatusCode::OK);
    assert_eq!(token.json()["userID"], "carol");
    assert_eq!(token.token(), page.token());

    // No user: the page passes through without a token, the endpoint refuses.
    let anonymous = server.page(None, "standup").await;
    assert_eq!(anonymous.status, StatusCode::OK);
    assert_eq!(anonymous.json(), Value::Null);
    assert_eq!(anonymous.token(), None);
    let anonymous = server.token(None, Some("standup")).await;
    assert_eq!(anonymous.status, StatusCode::FORBIDDEN);
    assert_eq!(
        anonymous.text(),
        r#"{"code":"not_logged_in","error":"User not logged in"}"#
    );
    assert_eq!(asked.load(Ordering::SeqCst), 4);

    // With `require_authentication`, the layer answers 401 once the source said none.
    let router = Router::new()
        .route("/rooms/{room}", get(room_page))
        .route_layer(callstats.layer().require_authentication(true));
    let strict = start_router(router).await;
    let reply = strict.page(None, "standup").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.code().as_deref(), Some("unauthenticated"));
    assert_eq!(conference_id(&strict.page(Some("carol"), "standup").await), "standup");
}

// g. Refusals as the app shapes them.

/// The app's refusal page: HTML with the code and the message (escaped).
fn html_refusal(rejection: Rejection) -> Response<Bytes> {
    let escaped = rejection
        .message()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;");
    let mut response = Response::new(Bytes::from(format!(
        "<!doctype html><h1>{}</h1><p>{escaped}</p>",
        rejection.code()
    )));
    *response.status_mut() = rejection.status();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

#[tokio::test]
async fn the_app_shapes_refusals_and_the_default_is_code_and_error_json() {
    let members_only = |user: &AppUser, _: &UserId, _: Option<&str>| user.username() == "alice";

    // Shaped: an HTML page, for the layer and the endpoint alike.
    let shaped = base().authorize(members_only).rejection(html_refusal);
    let server = start(&shaped).await;
    for reply in [
        server.page(Some("mallory"), "board").await,
        server.token(Some("mallory"), Some("board")).await,
    ] {
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(reply.headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert_eq!(
            reply.text(),
            "<!doctype html><h1>conference_forbidden</h1><p>this user may not join the room &quot;board&quot;</p>"
        );
    }
    let reply = server.token(None, Some("board")).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reply.text(),
        "<!doctype html><h1>not_logged_in</h1><p>User not logged in</p>"
    );
    let reply = server.page(Some("alice"), "a%0Db").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply
            .text()
            .starts_with("<!doctype html><h1>invalid_conference_id</h1>"),
        "{}",
        reply.text()
    );
    // A shaped 405 keeps its `Allow: POST`.
    let get = Request::get(format!("http://{}/getToken", server.addr))
        .body(Full::default())
        .unwrap();
    let reply = common::send(&server.client, get).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.headers[header::ALLOW], "POST");
    assert!(reply.text().starts_with("<!doctype html><h1>method_not_allowed</h1>"));
    // Allowed users are not refused.
    assert_eq!(conference_id(&server.page(Some("alice"), "board").await), "board");

    // By default: `{"code","error"}` JSON, those two keys in that order, from both.
    let default = base().authorize(members_only);
    let server = start(&default).await;
    for reply in [
        server.page(Some("mallory"), "board").await,
        server.token(Some("mallory"), Some("board")).await,
    ] {
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store");
        assert_eq!(reply.text(), forbidden_body("board"));
    }
    let reply = server.token(None, Some("board")).await;
    assert_eq!(reply.text(), r#"{"code":"not_logged_in","error":"User not logged in"}"#);
    for reply in [
        server.page(Some("alice"), "a%0Db").await,
        server.token(Some("alice"), None).await,
    ] {
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        let keys: Vec<String> = reply.json().as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["code", "error"], "{}", reply.text());
        assert!(reply.text().starts_with(r#"{"code":"#), "{}", reply.text());
    }
}

// h. A full registry.

#[tokio::test]
async fn a_full_registry_never_ends_a_live_call() {
    for policy in [FailurePolicy::FallBackToRoom, FailurePolicy::Fail] {
        let registry = registry().max_rooms(8);
        let calls = Calls::new(registry.clone()).on_failure(policy);
        let server = start(&base().calls(calls)).await;

        let live = server.page(Some("alice"), "live").await;
        let call = conference_id(&live);
        assert!(is_call_of(&call, "live"), "{call}");
        assert_eq!(live.json()["callStartedAt"], NOW);

        // Seven more rooms fill the registry (8 rooms); every room after them is new
        // while all eight calls are live.
        for i in 0..100 {
            let room = format!("room-{i}");
            let (page, token) = (
                server.page(Some("bob"), &room).await,
                server.token(Some("bob"), Some(&room)).await,
            );
            match (i < 7, policy) {
                (true, _) => {
                    let id = conference_id(&page);
                    assert!(is_call_of(&id, &room), "{policy:?} {room}: {id}");
                    assert_eq!(conference_id(&token), id);
                }
                // Beyond the bound, the room itself stands in for the call.
                (false, FailurePolicy::FallBackToRoom) => {
                    assert_eq!(conference_id(&page), room);
                    assert_eq!(page.json().get("callStartedAt"), None, "a fallback is no call");
                    assert_eq!(conference_id(&token), room);
                }
                (false, _) => {
                    for reply in [&page, &token] {
                        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{policy:?} {room}");
                        assert_eq!(reply.code().as_deref(), Some("call_registry_unavailable"));
                        assert_eq!(reply.token(), None);
                    }
                }
            }
            // The live call keeps its conferenceID after 8 other new rooms, and after 100.
            if i == 7 || i == 99 {
                assert_eq!(
                    conference_id(&server.page(Some("alice"), "live").await),
                    call,
                    "{policy:?}"
                );
                assert_eq!(
                    conference_id(&server.token(Some("carol"), Some("live")).await),
                    call,
                    "{policy:?}"
                );
            }
        }
        assert_eq!(registry.len(), 8, "{policy:?}");
    }
}
