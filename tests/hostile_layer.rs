//! Hostile page requests against the layer of the minimal app of
//! `tests/common/router.rs` (`/rooms/{room}` behind `route_layer`, a user required), in
//! both conferenceID modes: wrong methods, odd paths, forged and garbage sessions, users
//! whose names break the identifier rules, headers and queries that claim another user
//! or room, app responses that are not 2xx (which get no token headers), and SHA1
//! userIDs with a hostile domain.
//!
//! Every row names the request and the exact status and code (or body) it must get;
//! every row is checked for no 5xx and no token unless it expects one, and a token it
//! expects verifies under the served JWKS for the session's userID and the row's room.
//! Expected SHA1 userIDs were computed with `printf 'alice@example.com' | sha1sum` and
//! Python's `hashlib.sha1`, not with the crate.

mod common;

use common::router::{App, Mode, Options, Row, Tally, Who, alice, body, refused, refused_with, token};
use http::Method;
use tower_callstats::AppUser;

/// A username that is displayed as `eveadmin`: U+202E RIGHT-TO-LEFT OVERRIDE after
/// `eve`, at byte 3.
const SPOOFED: &str = "eve\u{202E}nimda";

/// 255 ASCII bytes and one 3-byte character: 258 bytes, 256 characters.
fn long_name() -> String {
    "a".repeat(255) + "\u{30A4}"
}

fn user(name: &str) -> Who {
    Who::User(AppUser::new(name))
}

/// Methods the route does not have get the router's `405`, without token headers;
/// `Router::route_layer` wraps the route's whole method router, its `405` included, so
/// the layer still runs and a request without a user gets its `401`. Paths that match
/// no route get the router's `404`; the room is one whole path segment.
fn methods_and_paths() -> Vec<Row> {
    let page = |name: &str, uri: &str, expect| Row::get(name, uri, alice(), expect);
    let method = |name: &str, method: Method, who: Who| Row::new(name, method, "/rooms/standup", who, body(405, ""));
    vec![
        page("valid room", "/rooms/standup", token("alice", "standup")),
        Row::new(
            "HEAD",
            Method::HEAD,
            "/rooms/standup",
            alice(),
            token("alice", "standup"),
        ),
        method("POST", Method::POST, alice()),
        method("PUT", Method::PUT, alice()),
        method("DELETE", Method::DELETE, alice()),
        method("PATCH", Method::PATCH, alice()),
        method("OPTIONS", Method::OPTIONS, alice()),
        Row::new(
            "POST without a session",
            Method::POST,
            "/rooms/standup",
            Who::Anonymous,
            unauthenticated(),
        ),
        Row::new(
            "POST with a JSON body",
            Method::POST,
            "/rooms/standup",
            alice(),
            body(405, ""),
        )
        .json(r#"{"conferenceID":"other","userID":"mallory"}"#),
        page("empty room segment", "/rooms/", body(404, "")),
        page("no room segment", "/rooms", body(404, "")),
        page("two segments", "/rooms/a/b", body(404, "")),
        page("trailing slash", "/rooms/a/", body(404, "")),
        page("double slash in front", "//rooms/a", body(404, "")),
        page("upper-case prefix", "/ROOMS/a", body(404, "")),
        page("dot segments are not resolved", "/getToken/../rooms/x", body(404, "")),
        page("dot segment inside", "/rooms/x/../y", body(404, "")),
        page("unknown route", "/elsewhere", body(404, "")),
        page("room ..", "/rooms/..", token("alice", "..")),
        page("room .", "/rooms/.", token("alice", ".")),
        page("room %2e%2e", "/rooms/%2e%2e", token("alice", "..")),
        page("room with ; and ~", "/rooms/a;b~c", token("alice", "a;b~c")),
        page(
            "a query naming another room",
            "/rooms/x?room=evil&conferenceID=evil",
            token("alice", "x"),
        ),
        page(
            "absolute-form URI of another host",
            "http://evil.example/rooms/x",
            token("alice", "x"),
        ),
        page(
            "room 60 000 bytes",
            &format!("/rooms/{}", "x".repeat(60_000)),
            too_long(60_000),
        ),
    ]
}

/// `401 unauthenticated`: the layer requires a user.
fn unauthenticated() -> common::router::Expect {
    refused_with(401, "unauthenticated", &["this route needs a logged-in user"])
}

/// `400 invalid_conference_id`: the room is `len` bytes long.
fn too_long(len: usize) -> common::router::Expect {
    let message = format!(
        "conferenceID is {len} bytes long, {} bytes over the limit of 256 bytes",
        len - 256
    );
    refused_with(400, "invalid_conference_id", &[&message])
}

/// Who the request is comes only from the session: no session, a forged or garbage one,
/// or a forged one first, is nobody (`401`); headers that claim someone change nothing.
fn sessions() -> Vec<Row> {
    let page = |name: &str, who: Who, expect| Row::get(name, "/rooms/standup", who, expect);
    let nobody = unauthenticated;
    let alice_user = || AppUser::new("alice");
    let exactly_256 = "a".repeat(253) + "\u{30A4}";
    let claims = |row: Row| {
        row.header("x-callstats-user-id", "mallory")
            .header("x-callstats-token", "eyJhbGciOiJub25lIn0.e30.")
            .header("authorization", "Bearer mallory")
            .header("x-test-user", "mallory")
    };
    vec![
        page("no session", Who::Anonymous, nobody()),
        page("forged session", Who::Forged, nobody()),
        page("garbage session cookie", Who::Garbage, nobody()),
        page(
            "forged cookie before a real one",
            Who::ForgedThen(alice_user()),
            nobody(),
        ),
        page(
            "real cookie before a forged one",
            Who::ThenForged(alice_user()),
            token("alice", "standup"),
        ),
        claims(page(
            "headers claiming another user",
            alice(),
            token("alice", "standup"),
        )),
        claims(page("headers claiming a user, no session", Who::Anonymous, nobody())),
        page(
            "a request header naming another room",
            alice(),
            token("alice", "standup"),
        )
        .header("x-callstats-conference-id", "evil"),
        page(
            "CR LF percent-encoded in an ignored header",
            alice(),
            token("alice", "standup"),
        )
        .header("x-callstats-conference-id", "a%0D%0Ab"),
        page(
            "username of 258 bytes",
            user(&long_name()),
            refused_with(
                400,
                "invalid_user_id",
                &["userID is 258 bytes long, 2 bytes over the limit of 256 bytes"],
            ),
        ),
        page(
            "username with U+202E (displays as eveadmin)",
            user(SPOOFED),
            refused_with(
                400,
                "invalid_user_id",
                &["userID contains U+202E RIGHT-TO-LEFT OVERRIDE at byte 3"],
            ),
        ),
        page(
            "username of 256 bytes",
            user(&exactly_256),
            token(&exactly_256, "standup"),
        ),
        page("username with a space and @", user("alice smith@example.com"), {
            token("alice smith@example.com", "standup")
        }),
        Row::new(
            "the JWKS refuses POST",
            Method::POST,
            "/.well-known/jwks.json",
            alice(),
            refused(405, "method_not_allowed"),
        )
        .want_header("allow", "GET, HEAD"),
    ]
}

/// The app's own answer decides: a 2xx gets the token headers, anything else (a
/// redirect, `304 Not Modified`, an error of the app, `101`) none, and its body as is.
fn app_statuses() -> Vec<Row> {
    let mut rows = Vec::new();
    for status in [200, 201, 202, 204] {
        let expect = token("alice", "standup").with_status(status);
        rows.push(Row::get(
            format!("app answers {status}"),
            format!("/rooms/standup?status={status}"),
            alice(),
            expect,
        ));
    }
    for status in [
        101, 300, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 409, 410, 418, 429,
    ] {
        let uri = format!("/rooms/standup?status={status}");
        rows.push(Row::get(
            format!("app answers {status}"),
            uri,
            alice(),
            body(status, ""),
        ));
    }
    rows
}

#[tokio::test]
async fn page_requests() {
    let mut tally = Tally::default();
    for mode in Mode::BOTH {
        let app = App::new(Options::new(mode)).await;
        app.run("methods and paths", methods_and_paths(), &mut tally).await;
        app.run("sessions", sessions(), &mut tally).await;
        app.run("app statuses", app_statuses(), &mut tally).await;
    }
    tally.finish("hostile_layer::page_requests");
}

/// SHA1 userIDs (`sha1(username@domain)`, default domain `example.com`): a user's own
/// domain with `@`, empty or with a control character is refused, on the page and on
/// the token endpoint; the username itself is hashed, so any name gets a hex userID.
#[tokio::test]
async fn sha1_user_ids_and_hostile_domains() {
    let domain_user = |name: &str, domain: &str| Who::User(AppUser::new(name).with_domain(domain));
    let bad_domain = |reason: &str| refused_with(400, "invalid_user_id", &[reason]);
    let cases: Vec<(&str, Who, common::router::Expect)> = vec![
        // printf 'alice@example.com' | sha1sum
        (
            "default domain",
            alice(),
            token("fc2398a73dd54d6237c4fdb58fd7d75347cf5af3", "standup"),
        ),
        // printf 'bob@example.com' | sha1sum
        (
            "own domain",
            domain_user("bob", "example.com"),
            token("a460e37bf4d8e893f8fd39536997d5da8d21eebe", "standup"),
        ),
        // hashlib.sha1(b"bob@evil@example.com")
        (
            "username with @",
            user("bob@evil"),
            token("a0338c75069228dd33b8298baa5322382a2ca235", "standup"),
        ),
        // hashlib.sha1("eve\u202enimda@example.com".encode())
        (
            "username with U+202E, hashed",
            user(SPOOFED),
            token("7d509d325061a4021d6488b5d408de83002d0a6e", "standup"),
        ),
        (
            "domain with @",
            domain_user("bob", "evil@example.com"),
            bad_domain("it contains '@' at byte 4"),
        ),
        (
            "domain starting with @",
            domain_user("bob", "@example.com"),
            bad_domain("it contains '@' at byte 0"),
        ),
        ("empty domain", domain_user("bob", ""), bad_domain("it is empty")),
        (
            "domain with CR LF",
            domain_user("bob", "ex\r\nample.com"),
            bad_domain("it contains the control character U+000D at byte 2"),
        ),
    ];
    let mut tally = Tally::default();
    for mode in Mode::BOTH {
        let app = App::new(Options {
            sha1_domain: Some("example.com"),
            ..Options::new(mode)
        })
        .await;
        let mut rows = Vec::new();
        for (name, who, expect) in &cases {
            rows.push(Row::get(
                format!("page, {name}"),
                "/rooms/standup",
                who.clone(),
                expect.clone(),
            ));
            let endpoint = Row::token_request(format!("endpoint, {name}"), who.clone(), expect.clone());
            rows.push(endpoint.asked_from("standup"));
        }
        app.run("sha1", rows, &mut tally).await;
    }
    tally.finish("hostile_layer::sha1_user_ids_and_hostile_domains");
}
