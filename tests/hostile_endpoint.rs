//! Hostile token requests against the token endpoint (`POST /getToken`) of the minimal
//! app of `tests/common/router.rs`, in both conferenceID modes: requests without a user,
//! wrong methods, bodies (JSON, forms, garbage, too large, wrong content types,
//! `forceNew`), the body's `conferenceID` (ignored unless `room_from_body(true)`),
//! hostile `Referer`s, cross-site requests, and the header and query room sources.
//!
//! The endpoint decides in this order: method (405) -> cross-site (403) -> body (413,
//! 415, 400) -> user (403 `not_logged_in`) -> userID -> room (the page that asks: its
//! `Referer`) -> token. Every row names the request and the exact status and code (or
//! body) it must get; every row is checked for no 5xx and no token unless it expects
//! one, and a token it expects verifies under the served JWKS for the session's userID
//! (whatever the request says) and the row's room.

mod common;

use common::router::{
    App, Expect, Mode, NOT_LOGGED_IN, Options, PAGE_ORIGIN, ROOM_HEADER, Row, Source, TRUSTED_ORIGIN, Tally, Who,
    alice, body, refused, refused_with, token, token_cut,
};
use http::Method;
use tower_callstats::AppUser;

/// A token for alice in the room `standup`.
fn standup() -> Expect {
    token("alice", "standup")
}

/// `POST /getToken` from the page of the room `standup`.
fn ask(name: &str, who: Who, expect: Expect) -> Row {
    Row::token_request(name, who, expect).asked_from("standup")
}

/// The refusal of a request from another site.
fn cross_site() -> Expect {
    refused(403, "cross_site_request")
}

/// Who asks: without a user, `403 {"code":"not_logged_in","error":"User not logged
/// in"}`, even when the request names a user or a hostile room (the user comes before
/// the room), but after the method, the cross-site check and the body; a user whose
/// name breaks the identifier rules gets `400 invalid_user_id`.
fn who_asks() -> Vec<Row> {
    let no_user = || body(403, NOT_LOGGED_IN);
    let alice_user = || AppUser::new("alice");
    vec![
        ask("no session", Who::Anonymous, no_user()),
        Row::token_request("no session, no Referer", Who::Anonymous, no_user()),
        ask("forged session", Who::Forged, no_user()).json(r#"{"conferenceID":"r"}"#),
        ask("garbage cookie", Who::Garbage, no_user()),
        ask(
            "forged cookie before a real one",
            Who::ForgedThen(alice_user()),
            no_user(),
        ),
        ask(
            "real cookie before a forged one",
            Who::ThenForged(alice_user()),
            standup(),
        ),
        ask(
            "a user whose name has U+202E",
            Who::User(AppUser::new("eve\u{202E}nimda")),
            {
                refused_with(
                    400,
                    "invalid_user_id",
                    &["userID contains U+202E RIGHT-TO-LEFT OVERRIDE at byte 3"],
                )
            },
        ),
        ask(
            "a user whose name is 258 bytes",
            Who::User(AppUser::new("a".repeat(255) + "\u{30A4}")),
            {
                refused_with(
                    400,
                    "invalid_user_id",
                    &["userID is 258 bytes long, 2 bytes over the limit of 256 bytes"],
                )
            },
        ),
        ask("no session, userID in the JSON body", Who::Anonymous, no_user())
            .json(r#"{"userID":"alice","username":"alice"}"#),
        ask("no session, userID in a form", Who::Anonymous, no_user()).form("userID=alice&username=alice"),
        ask("no session, identity headers", Who::Anonymous, no_user())
            .header("x-callstats-user-id", "alice")
            .header("authorization", "Bearer alice")
            .header("x-test-user", "alice"),
        Row::token_request("no session, hostile Referer", Who::Anonymous, no_user()).asked_from("room%E2%80%AE1"),
        ask("no session, cross-site", Who::Anonymous, cross_site()).header("sec-fetch-site", "cross-site"),
        Row::new("no session, DELETE", Method::DELETE, "/getToken", Who::Anonymous, {
            refused(405, "method_not_allowed")
        }),
        ask("no session, 1 MiB body", Who::Anonymous, refused(413, "body_too_large"))
            .json(format!(r#"{{"conferenceID":"{}"}}"#, "x".repeat(1 << 20))),
        ask(
            "no session, text/plain",
            Who::Anonymous,
            refused(415, "unsupported_media_type"),
        )
        .header("content-type", "text/plain")
        .body("x"),
        ask(
            "no session, malformed JSON",
            Who::Anonymous,
            refused(400, "invalid_body"),
        )
        .json("{"),
    ]
}

/// Any method but POST: `405 method_not_allowed` with `Allow: POST`.
fn methods() -> Vec<Row> {
    [Method::GET, Method::PUT, Method::DELETE, Method::PATCH, Method::OPTIONS]
        .into_iter()
        .map(|method| {
            let name = format!("{method}");
            Row::new(name, method, "/getToken", alice(), refused(405, "method_not_allowed"))
                .asked_from("standup")
                .json("{}")
                .want_header("allow", "POST")
        })
        .collect()
}

/// Bodies: optional; JSON or a form of at most 4096 bytes; what is not `conferenceID`
/// or `forceNew` (a `userID`, a `username`) is ignored.
fn bodies() -> Vec<Row> {
    let invalid = || refused(400, "invalid_body");
    let too_large = || refused(413, "body_too_large");
    let unsupported = || refused(415, "unsupported_media_type");
    let nested = "[".repeat(2000) + &"]".repeat(2000);
    vec![
        ask("empty body", alice(), standup()),
        Row::token_request("empty body, no Referer", alice(), refused(400, "conference_required")),
        ask("userID/username in JSON for someone else", alice(), standup())
            .json(r#"{"userID":"mallory","username":"mallory","localUserID":"mallory","conferenceID":"r"}"#),
        ask("userID/username in a form for someone else", alice(), standup())
            .form("userID=mallory&username=mallory&client_id=mallory%40hostile-app&conferenceID=r"),
        ask("identity headers for someone else", alice(), standup())
            .header("x-callstats-user-id", "mallory")
            .header("authorization", "Bearer mallory")
            .header("x-test-user", "mallory"),
        ask("JSON with charset", alice(), standup())
            .header("content-type", "application/json; charset=utf-8")
            .body(r#"{"conferenceID":"インターネット"}"#),
        ask("JSON in capitals", alice(), standup())
            .header("content-type", "APPLICATION/JSON")
            .body("{}"),
        ask("whitespace without a content type", alice(), standup()).body(" \r\n\t"),
        ask("4096 bytes of whitespace", alice(), standup()).json(" ".repeat(4096)),
        ask("4097 bytes of whitespace", alice(), too_large()).json(" ".repeat(4097)),
        ask("huge JSON (1 MiB)", alice(), too_large()).json(format!(r#"{{"conferenceID":"{}"}}"#, "x".repeat(1 << 20))),
        ask("lying Content-Length", alice(), too_large())
            .header("content-length", "99999999999")
            .json("{}"),
        ask("malformed JSON", alice(), invalid()).json("{"),
        ask("JSON array", alice(), invalid()).json("[1,2]"),
        ask("JSON string", alice(), invalid()).json(r#""alice""#),
        ask("JSON null", alice(), invalid()).json("null"),
        ask("deeply nested JSON", alice(), invalid()).json(nested),
        ask("trailing garbage after JSON", alice(), invalid()).json(r#"{"conferenceID":"r"} x"#),
        ask("form raw non-UTF-8", alice(), invalid()).form(b"conferenceID=\xff\xfe".to_vec()),
        ask("text/plain", alice(), unsupported())
            .header("content-type", "text/plain")
            .body(r#"{"conferenceID":"r"}"#),
        ask("no content type", alice(), unsupported()).body(r#"{"conferenceID":"r"}"#),
        ask("multipart", alice(), unsupported())
            .header("content-type", "multipart/form-data; boundary=x")
            .body("--x\r\nContent-Disposition: form-data; name=\"conferenceID\"\r\n\r\nr\r\n--x--\r\n"),
        ask("content type not ASCII", alice(), unsupported())
            .header("content-type", b"application/json\xff")
            .body("{}"),
        ask("application/jsonx", alice(), unsupported())
            .header("content-type", "application/jsonx")
            .body("{}"),
    ]
}

/// `forceNew`: a boolean in JSON (`forcenew` too); `true`, `1`, `false`, `0` or empty in
/// a form; anything else is `400 invalid_body`.
fn force_new() -> Vec<Row> {
    let json = |name: &str, body: &str, expect| ask(&format!("JSON {name}"), alice(), expect).json(body);
    let form = |name: &str, body: &str, expect| ask(&format!("form {name}"), alice(), expect).form(body);
    let invalid = || refused(400, "invalid_body");
    vec![
        json("forceNew true", r#"{"forceNew":true}"#, standup()),
        json("forceNew false", r#"{"forceNew":false}"#, standup()),
        json("forceNew null", r#"{"forceNew":null}"#, standup()),
        json("forcenew true", r#"{"forcenew":true}"#, standup()),
        json("forceNew \"yes\"", r#"{"forceNew":"yes"}"#, invalid()),
        json("forceNew \"true\"", r#"{"forceNew":"true"}"#, invalid()),
        json("forceNew 1", r#"{"forceNew":1}"#, invalid()),
        json("forceNew []", r#"{"forceNew":[]}"#, invalid()),
        form("forceNew=true", "forceNew=true", standup()),
        form("forceNew=1", "forceNew=1", standup()),
        form("forceNew=false", "forceNew=false", standup()),
        form("forceNew=0", "forceNew=0", standup()),
        form("forceNew=", "forceNew=", standup()),
        form("forceNew alone", "forceNew", standup()),
        form("forcenew=1", "forcenew=1", standup()),
        form("forceNew=maybe", "forceNew=maybe", invalid()),
        form("forceNew=TRUE", "forceNew=TRUE", invalid()),
        form("forceNew=yes", "forceNew=yes", invalid()),
    ]
}

#[tokio::test]
async fn users_methods_and_bodies() {
    let mut tally = Tally::default();
    for mode in Mode::BOTH {
        let app = App::new(Options::new(mode)).await;
        app.run("who asks", who_asks(), &mut tally).await;
        app.run("methods", methods(), &mut tally).await;
        app.run("bodies", bodies(), &mut tally).await;
        app.run("forceNew", force_new(), &mut tally).await;
    }
    tally.finish("hostile_endpoint::users_methods_and_bodies");
}

/// The body's `conferenceID`: ignored (the room is the Referer's) unless the app turns
/// `room_from_body` on; then it names the room, before the Referer.
fn the_bodys_room(on: bool) -> Vec<Row> {
    let either = |expect: Expect| if on { expect } else { standup() };
    let invalid = |message: &str| either(refused_with(400, "invalid_conference_id", &[message]));
    let exactly_256 = "a".repeat(253) + "\u{30A4}";
    let over_by_2 = "a".repeat(255) + "\u{30A4}";
    let json_room = |room: &str| serde_json::json!({ "conferenceID": room }).to_string();
    // A conferenceID the body cannot even carry: refused when the app reads it, and
    // not looked at (the Referer's room) when it does not.
    let malformed = |code: &'static str, message: &str| either(refused_with(400, code, &[message]));
    vec![
        ask(
            "conferenceID a number",
            alice(),
            malformed("invalid_body", "invalid type"),
        )
        .json(r#"{"conferenceID":42}"#),
        ask("lone surrogate escape", alice(), malformed("invalid_body", "surrogate"))
            .json(r#"{"conferenceID":"\udc00"}"#),
        ask(
            "JSON not UTF-8",
            alice(),
            malformed("invalid_body", "invalid unicode code point"),
        )
        .json(b"{\"conferenceID\":\"\xff\"}".to_vec()),
        ask(
            "form conferenceID %zz",
            alice(),
            malformed("invalid_conference_id", "at byte 0"),
        )
        .form("conferenceID=%zz"),
        ask(
            "form conferenceID %FF",
            alice(),
            malformed("invalid_conference_id", "not valid UTF-8"),
        )
        .form("conferenceID=%FF"),
        ask(
            "form conferenceID twice",
            alice(),
            malformed("invalid_body", "given twice"),
        )
        .form("conferenceID=a&conferenceID=b"),
        ask(
            "JSON conferenceID of another room",
            alice(),
            either(token("alice", "other")),
        )
        .json(r#"{"conferenceID":"other"}"#),
        ask(
            "JSON conferenceID with CR LF",
            alice(),
            invalid("control character U+000D at byte 1"),
        )
        .json(r#"{"conferenceID":"a\r\nb"}"#),
        ask(
            "JSON conferenceID with NUL",
            alice(),
            invalid("control character U+0000 at byte 0"),
        )
        .json(r#"{"conferenceID":"\u0000"}"#),
        ask(
            "JSON conferenceID with U+2067",
            alice(),
            invalid("U+2067 RIGHT-TO-LEFT ISOLATE at byte 4"),
        )
        .json(r#"{"conferenceID":"room\u2067x"}"#),
        ask(
            "form conferenceID with U+2068",
            alice(),
            invalid("U+2068 FIRST STRONG ISOLATE at byte 0"),
        )
        .form("conferenceID=%E2%81%A8x"),
        ask(
            "Hindi conferenceID with ZWJ",
            alice(),
            either(token("alice", "\u{915}\u{94D}\u{200D}\u{937}")),
        )
        .json(json_room("\u{915}\u{94D}\u{200D}\u{937}")),
        ask(
            "JSON with charset, Japanese room",
            alice(),
            either(token("alice", "インターネット")),
        )
        .header("content-type", "application/json; charset=utf-8")
        .body(r#"{"conferenceID":"インターネット"}"#),
        ask("empty conferenceID", alice(), invalid("conferenceID is empty")).json(r#"{"conferenceID":""}"#),
        ask("conferenceID of 258 bytes", alice(), invalid("258 bytes long")).json(json_room(&over_by_2)),
        ask(
            "conferenceID of 256 bytes",
            alice(),
            either(token_cut("alice", &exactly_256, "a".repeat(234))),
        )
        .json(json_room(&exactly_256)),
        ask(
            "form conferenceID %0D%0A",
            alice(),
            invalid("control character U+000D at byte 1"),
        )
        .form("conferenceID=a%0D%0Ab"),
        ask(
            "form conferenceID %00",
            alice(),
            invalid("control character U+0000 at byte 0"),
        )
        .form("conferenceID=%00"),
        ask("form empty conferenceID", alice(), invalid("conferenceID is empty")).form("conferenceID="),
        ask("form conferenceID a+b", alice(), either(token("alice", "a b"))).form("conferenceID=a+b"),
        Row::token_request("a room in the body, a hostile Referer", alice(), {
            if on {
                token("alice", "ok")
            } else {
                refused_with(
                    400,
                    "invalid_conference_id",
                    &["U+202E RIGHT-TO-LEFT OVERRIDE at byte 4"],
                )
            }
        })
        .asked_from("room%E2%80%AE1")
        .json(r#"{"conferenceID":"ok","userID":"mallory"}"#),
        Row::token_request("a room in the body, no Referer", alice(), {
            if on {
                token("alice", "ok")
            } else {
                refused(400, "conference_required")
            }
        })
        .json(r#"{"conferenceID":"ok"}"#),
        ask("no room in the body: the Referer's", alice(), standup()).json(r#"{"forceNew":false}"#),
        Row::token_request(
            "no room in the body, no Referer",
            alice(),
            refused(400, "conference_required"),
        )
        .json("{}"),
    ]
}

#[tokio::test]
async fn the_bodys_conference_id() {
    let mut tally = Tally::default();
    for mode in Mode::BOTH {
        for on in [false, true] {
            let app = App::new(Options {
                room_from_body: on,
                ..Options::new(mode)
            })
            .await;
            app.run(&format!("room_from_body({on})"), the_bodys_room(on), &mut tally)
                .await;
        }
    }
    tally.finish("hostile_endpoint::the_bodys_conference_id");
}

/// The room comes from the page that asks: an absolute http(s) URL of at most 4096
/// bytes, read with the room source; its host, user information, query and fragment do
/// not name the room.
fn referers() -> Vec<Row> {
    let from =
        |name: &str, referer: &[u8], expect| Row::token_request(name, alice(), expect).header("referer", referer);
    let invalid = |message: &str| refused_with(400, "invalid_referer", &[message]);
    let no_room = || refused(400, "conference_required");
    let at_4096 = format!("{PAGE_ORIGIN}/rooms/{}", "x".repeat(4096 - 28)); // PAGE_ORIGIN + "/rooms/": 28 bytes
    let at_4097 = format!("{PAGE_ORIGIN}/rooms/{}", "x".repeat(4097 - 28));
    let o = PAGE_ORIGIN;
    vec![
        from(
            "valid, non-ASCII room",
            format!("{o}/rooms/%E3%82%A4").as_bytes(),
            token("alice", "\u{30A4}"),
        ),
        from(
            "4097 bytes",
            at_4097.as_bytes(),
            invalid("the Referer header is too long"),
        ),
        from("4096 bytes: read, then the room is too long", at_4096.as_bytes(), {
            refused_with(400, "invalid_conference_id", &["is 4068 bytes long, 3812 bytes over"])
        }),
        from(
            "raw UTF-8 bytes",
            b"http://127.0.0.1:3000/rooms/\xe3\x82\xa4",
            invalid("is not ASCII"),
        ),
        from(
            "a tab (a header value may hold one; a URL may not)",
            b"http://127.0.0.1:3000/rooms/a\tb",
            invalid("characters a URL cannot have"),
        ),
        from(
            "no host",
            b"http:///rooms/x",
            invalid("the Referer header has no valid host"),
        ),
        from("relative", b"/rooms/x", invalid("is not an http or https URL")),
        from(
            "javascript:",
            b"javascript:alert(1)//rooms/x",
            invalid("is not an http or https URL"),
        ),
        from(
            "data:",
            b"data:text/html,<script>alert(1)</script>",
            invalid("is not an http or https URL"),
        ),
        from(
            "ftp:",
            b"ftp://127.0.0.1/rooms/x",
            invalid("is not an http or https URL"),
        ),
        from("empty", b"", invalid("is not an http or https URL")),
        from(
            "scheme in capitals",
            b"HTTP://127.0.0.1:3000/rooms/x",
            token("alice", "x"),
        ),
        from("https page", b"https://127.0.0.1:3000/rooms/x", token("alice", "x")),
        from(
            "user information",
            b"http://mallory:pw@127.0.0.1:3000/rooms/standup",
            standup(),
        ),
        from(
            "user information that looks like the host",
            b"http://127.0.0.1:3000@evil.example/rooms/x",
            token("alice", "x"),
        ),
        from(
            "another host (no Origin: not a browser's cross-site request)",
            b"https://evil.example/rooms/r",
            token("alice", "r"),
        ),
        from("query", b"http://127.0.0.1:3000/rooms/r?room=evil", token("alice", "r")),
        from(
            "fragment naming another room",
            b"http://127.0.0.1:3000/rooms/r#/rooms/evil",
            token("alice", "r"),
        ),
        from(
            "query naming another room path",
            b"http://127.0.0.1:3000/rooms/r?/rooms/evil",
            token("alice", "r"),
        ),
        from(
            "a space (browsers send %20)",
            b"http://127.0.0.1:3000/rooms/a b",
            invalid("characters a URL cannot have"),
        ),
        from("another path", b"http://127.0.0.1:3000/elsewhere", no_room()),
        from("two segments", b"http://127.0.0.1:3000/rooms/a/b", no_room()),
        from("no path", b"http://127.0.0.1:3000", no_room()),
        from("no room segment", b"http://127.0.0.1:3000/rooms", no_room()),
        from("U+202E in the room", b"http://127.0.0.1:3000/rooms/room%E2%80%AE1", {
            refused_with(
                400,
                "invalid_conference_id",
                &["U+202E RIGHT-TO-LEFT OVERRIDE at byte 4"],
            )
        }),
        from("CR LF percent-encoded", b"http://127.0.0.1:3000/rooms/a%0D%0Ab", {
            refused_with(400, "invalid_conference_id", &["control character U+000D at byte 1"])
        }),
        from(
            "258-byte room",
            format!("{o}/rooms/{}{}", "a".repeat(255), "%E3%82%A4").as_bytes(),
            refused_with(400, "invalid_conference_id", &["258 bytes long"]),
        ),
        from(
            "two Referers: the first",
            b"http://127.0.0.1:3000/rooms/standup",
            standup(),
        )
        .header("referer", "http://127.0.0.1:3000/rooms/evil"),
    ]
}

/// Referers that are not URLs (RFC 3986: an IPv6 host is closed by `]`, a host holds
/// no space): `400 invalid_referer`, as every Referer that is not an absolute http(s)
/// URL, whatever its path says.
fn not_urls() -> Vec<Row> {
    let from = |name: &str, referer: &str| {
        Row::token_request(name, alice(), refused(400, "invalid_referer")).header("referer", referer)
    };
    vec![
        from("an unclosed IPv6 host", "http://[::1"),
        from("an unclosed IPv6 host, a room path", "http://[::1/rooms/x"),
        from("a space in the host", "http://a b/rooms/x"),
    ]
}

#[tokio::test]
async fn referers_that_are_not_urls() {
    let mut tally = Tally::default();
    for mode in Mode::BOTH {
        let app = App::new(Options::new(mode)).await;
        app.run("not a URL", not_urls(), &mut tally).await;
    }
    tally.finish("hostile_endpoint::referers_that_are_not_urls");
}

/// A browser's request from another site is refused before anything else of it is
/// read; the app's own origin (scheme included: the test server is plain http) and the
/// trusted one pass.
fn cross_site_rows() -> Vec<Row> {
    let site = |name: &str, value: &str, expect| ask(name, alice(), expect).header("sec-fetch-site", value);
    let origin = |name: &str, value: &str, expect| {
        ask(name, alice(), expect)
            .header("host", "127.0.0.1:3000")
            .header("origin", value)
    };
    vec![
        site("Sec-Fetch-Site: cross-site", "cross-site", cross_site()),
        site("Sec-Fetch-Site: same-site", "same-site", cross_site()),
        site("Sec-Fetch-Site: Cross-Site", "Cross-Site", cross_site()),
        site("Sec-Fetch-Site: SAME-ORIGIN", "SAME-ORIGIN", cross_site()),
        site("Sec-Fetch-Site: garbage", "evil", cross_site()),
        site("Sec-Fetch-Site: same-origin", "same-origin", standup()),
        site("Sec-Fetch-Site: none", "none", standup()),
        site("Sec-Fetch-Site: empty, no Origin", "", standup()),
        origin("Origin of another site", "https://evil.example", cross_site()),
        origin("Origin null", "null", cross_site()),
        origin(
            "https Origin on the http server",
            "https://127.0.0.1:3000",
            cross_site(),
        ),
        origin("same-origin http Origin", "http://127.0.0.1:3000", standup()),
        origin(
            "same-origin http Origin, same-origin fetch",
            "http://127.0.0.1:3000",
            standup(),
        )
        .header("sec-fetch-site", "same-origin"),
        origin("Origin of another port", "http://127.0.0.1:3001", cross_site()),
        origin(
            "Origin that extends the host",
            "http://127.0.0.1:3000.evil.example",
            cross_site(),
        ),
        ask("Origin without a Host", alice(), cross_site()).header("origin", "http://127.0.0.1:3000"),
        ask("Origin with the default port", alice(), standup())
            .header("host", "127.0.0.1:80")
            .header("origin", "http://127.0.0.1"),
        site("cross-site from the trusted origin", "cross-site", standup()).header("origin", TRUSTED_ORIGIN),
        site("same-site from the trusted origin", "same-site", standup()).header("origin", TRUSTED_ORIGIN),
        origin("the trusted origin without Sec-Fetch-Site", TRUSTED_ORIGIN, standup()),
        site("cross-site, trusted origin with a slash", "cross-site", cross_site())
            .header("origin", "https://partner.example/"),
        site("cross-site, trusted origin in capitals", "cross-site", cross_site())
            .header("origin", "https://PARTNER.example"),
        site("cross-site, malformed JSON: refused first", "cross-site", cross_site()).json("{"),
        Row::new("cross-site GET: the method first", Method::GET, "/getToken", alice(), {
            refused(405, "method_not_allowed")
        })
        .header("sec-fetch-site", "cross-site"),
    ]
}

#[tokio::test]
async fn referers_and_cross_site_requests() {
    let mut tally = Tally::default();
    for mode in Mode::BOTH {
        let app = App::new(Options::new(mode)).await;
        app.run("referer", referers(), &mut tally).await;
        app.run("cross-site", cross_site_rows(), &mut tally).await;
    }
    tally.finish("hostile_endpoint::referers_and_cross_site_requests");
}

/// `RoomSource::header(x-room)`: the page's header on the page, the token request's own
/// header on the endpoint. The endpoint still wants the page that asks: without a
/// Referer, `400 conference_required`, whatever the header says.
fn header_source_rows() -> Vec<Row> {
    let with = |name: &str, value: &[u8], expect| ask(name, alice(), expect).header(ROOM_HEADER, value);
    let invalid = |message: &str| refused_with(400, "invalid_conference_id", &[message]);
    vec![
        with("valid", b"%D0%B8%D0%BD", token("alice", "\u{438}\u{43D}")),
        with(
            "NUL percent-encoded",
            b"a%00",
            invalid("control character U+0000 at byte 1"),
        ),
        with(
            "CR LF percent-encoded",
            b"a%0D%0Ab",
            invalid("control character U+000D at byte 1"),
        ),
        with("raw non-UTF-8 bytes", b"\xff\xfe", invalid("not valid UTF-8")),
        with("a tab", b"a\tb", invalid("control character U+0009 at byte 1")),
        with("empty", b"", invalid("conferenceID is empty")),
        with(
            "U+202E percent-encoded",
            b"room%E2%80%AE1",
            invalid("U+202E RIGHT-TO-LEFT OVERRIDE at byte 4"),
        ),
        ask("missing", alice(), refused(400, "conference_required")),
        // A header names the room on the token request itself: no page needed.
        Row::token_request("valid, no Referer", alice(), token("alice", "ok")).header(ROOM_HEADER, "ok"),
        Row::get("the page: valid", "/rooms/x", alice(), token("alice", "ok")).header(ROOM_HEADER, "ok"),
        Row::get(
            "the page: missing",
            "/rooms/x",
            alice(),
            refused(400, "conference_required"),
        ),
        Row::get(
            "the page: U+202E",
            "/rooms/x",
            alice(),
            invalid("U+202E RIGHT-TO-LEFT OVERRIDE at byte 4"),
        )
        .header(ROOM_HEADER, "room%E2%80%AE1"),
    ]
}

/// `RoomSource::query("room")`: the page's query, on the endpoint the query of the page
/// that asks (its Referer), never the token request's own.
fn query_source_rows() -> Vec<Row> {
    let from = |name: &str, query: &str, expect| {
        Row::token_request(name, alice(), expect).header("referer", format!("{PAGE_ORIGIN}/rooms/x?{query}"))
    };
    let invalid = |message: &str| refused_with(400, "invalid_conference_id", &[message]);
    vec![
        from("valid, + is a space", "room=a+b", token("alice", "a b")),
        from("CR LF", "room=a%0D%0A", invalid("control character U+000D at byte 1")),
        from(
            "invalid escape",
            "room=%G0",
            invalid("invalid percent-encoding at byte 0"),
        ),
        from(
            "258 bytes",
            &format!("room={}%E3%82%A4", "a".repeat(255)),
            invalid("258 bytes long"),
        ),
        from("no room parameter", "other=1", refused(400, "conference_required")),
        from("twice: the first", "room=a&room=b", token("alice", "a")),
        Row::new(
            "the token request's own query",
            Method::POST,
            "/getToken?room=evil",
            alice(),
            token("alice", "good"),
        )
        .header("referer", format!("{PAGE_ORIGIN}/rooms/x?room=good")),
        Row::new(
            "the token request's own query, no Referer",
            Method::POST,
            "/getToken?room=evil",
            alice(),
            refused(400, "conference_required"),
        ),
        Row::get("the page: valid", "/rooms/x?room=standup", alice(), standup()),
        Row::get(
            "the page: missing",
            "/rooms/x",
            alice(),
            refused(400, "conference_required"),
        ),
    ]
}

#[tokio::test]
async fn header_and_query_room_sources() {
    let mut tally = Tally::default();
    for mode in Mode::BOTH {
        let header = Options {
            source: Source::Header,
            ..Options::new(mode)
        };
        App::new(header)
            .await
            .run("header source", header_source_rows(), &mut tally)
            .await;
        let body_first = App::new(Options {
            room_from_body: true,
            ..header
        })
        .await;
        let row = ask("body wins over a hostile header", alice(), token("alice", "ok"))
            .header(ROOM_HEADER, "%00")
            .json(r#"{"conferenceID":"ok","userID":"mallory"}"#);
        body_first.run("header source", vec![row], &mut tally).await;
        let query = Options {
            source: Source::Query,
            ..Options::new(mode)
        };
        App::new(query)
            .await
            .run("query source", query_source_rows(), &mut tally)
            .await;
    }
    tally.finish("hostile_endpoint::header_and_query_room_sources");
}
