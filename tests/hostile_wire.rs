//! Raw bytes on the wire: requests that `http::Uri` and `http::HeaderValue` cannot even
//! represent (non-UTF-8 bytes, CR, LF or NUL in a path or a header, broken framing),
//! sent by a raw TCP client to the minimal app of `tests/common/router.rs` served by
//! hyper on 127.0.0.1, in both conferenceID modes. hyper answers most of them itself
//! (`400`, or `431` for too many header bytes) and they never reach the app; those it
//! passes on (bytes a header value may hold) get the crate's refusal. The control rows
//! show that the raw client does get a token when the request is valid.
//!
//! Every exchange is bounded: 10 s to connect, 10 s per read or write, at most 4 MiB
//! read; the server stops at the end of each mode.

mod common;

use common::router::{
    App, Expect, Mode, NOT_LOGGED_IN, Options, Served, Tally, alice, body, raw_exchange, refused, refused_with, token,
};
use http::header;

/// A raw request: its name, its bytes, what it must get.
type Raw = (&'static str, Vec<u8>, Expect);

/// `GET <target>` with alice's cookie and `extra` header lines.
fn get(cookie: &str, target: &[u8], extra: &[u8]) -> Vec<u8> {
    let mut request = b"GET ".to_vec();
    request.extend_from_slice(target);
    request.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nCookie: ");
    request.extend_from_slice(cookie.as_bytes());
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(extra);
    request.extend_from_slice(b"\r\n");
    request
}

/// `POST /getToken` with `head` (the header lines after Host and Connection) and `body`.
fn post(head: &[u8], body: &[u8]) -> Vec<u8> {
    let mut request = b"POST /getToken HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".to_vec();
    request.extend_from_slice(head);
    request.extend_from_slice(b"\r\n");
    request.extend_from_slice(body);
    request
}

/// Page requests, as alice.
fn page_rows(cookie: &str) -> Vec<Raw> {
    let get = |target: &[u8], extra: &[u8]| get(cookie, target, extra);
    let bad = || body(400, "");
    vec![
        (
            "control: a valid raw page request",
            get(b"/rooms/%E3%82%A4", b""),
            token("alice", "\u{30A4}"),
        ),
        ("non-UTF-8 bytes in the path", get(b"/rooms/\xff\xfe", b""), bad()),
        // UTF-8 in the request line is passed on as it is (browsers percent-encode it).
        (
            "UTF-8 bytes unencoded in the path",
            get("/rooms/イン".as_bytes(), b""),
            token("alice", "イン"),
        ),
        ("NUL in the path", get(b"/rooms/a\x00b", b""), bad()),
        ("bare LF in the path", get(b"/rooms/a\nb", b""), bad()),
        ("bare CR in the path", get(b"/rooms/a\rb", b""), bad()),
        ("space in the path", get(b"/rooms/a b", b""), bad()),
        (
            "NUL in a header value",
            get(b"/rooms/r", b"X-Callstats-User-Id: a\x00b\r\n"),
            bad(),
        ),
        (
            "bare CR in a header value",
            get(b"/rooms/r", b"X-Callstats-User-Id: a\rb\r\n"),
            bad(),
        ),
        (
            "NUL in a second cookie",
            get(b"/rooms/r", b"Cookie: sid=\x00\r\n"),
            bad(),
        ),
        (
            "obs-fold header continuation",
            get(b"/rooms/r", b"X-A: a\r\n b\r\n"),
            bad(),
        ),
        ("space in a header name", get(b"/rooms/r", b"X A: b\r\n"), bad()),
        (
            // hyper stops reading at its buffer limit (8 KiB + 100 x 4 KiB by default),
            // answers 431 and closes. The client reads while it writes, so it reads the
            // 431 before the reset that the unread rest causes.
            "1 MiB of headers",
            get(b"/rooms/r", format!("X-Big: {}\r\n", "x".repeat(1 << 20)).as_bytes()),
            body(431, ""),
        ),
        (
            "CR LF injected through a percent-encoded room",
            get(b"/rooms/a%0D%0ASet-Cookie:%20x=1", b""),
            refused_with(400, "invalid_conference_id", &["control character U+000D at byte 1"]),
        ),
        (
            "absolute-form request line of another host",
            get(b"http://evil.example/rooms/x", b""),
            token("alice", "x"),
        ),
        (
            "a cookie of raw non-ASCII bytes is no session",
            b"GET /rooms/r HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nCookie: sid=\xff\xfe\r\n\r\n".to_vec(),
            refused(401, "unauthenticated"),
        ),
    ]
}

/// Token requests, as alice from the page of `standup` unless the row says otherwise.
fn token_rows(cookie: &str) -> Vec<Raw> {
    let alice = format!("Cookie: {cookie}\r\nReferer: http://127.0.0.1/rooms/standup\r\n");
    let head = |extra: &[u8]| [alice.as_bytes(), extra].concat();
    let json = b"Content-Type: application/json\r\n";
    let chunked = [&json[..], b"Transfer-Encoding: chunked\r\n"].concat();
    let over_limit = format!("2000\r\n{0}\r\n2000\r\n{0}\r\n0\r\n\r\n", " ".repeat(0x2000));
    vec![
        (
            "control: a valid raw token request",
            post(&head(b"Content-Length: 0\r\n"), b""),
            token("alice", "standup"),
        ),
        (
            "invalid Content-Length",
            post(&head(&[&json[..], b"Content-Length: abc\r\n"].concat()), b"{}"),
            body(400, ""),
        ),
        (
            "two different Content-Lengths",
            post(
                &head(&[&json[..], b"Content-Length: 2\r\nContent-Length: 3\r\n"].concat()),
                b"{}",
            ),
            body(400, ""),
        ),
        (
            "broken chunked body",
            post(&head(&chunked), b"zz\r\n{}\r\n0\r\n\r\n"),
            refused(400, "body_unreadable"),
        ),
        (
            "chunked body over the limit",
            post(&head(&chunked), over_limit.as_bytes()),
            refused(413, "body_too_large"),
        ),
        (
            "a Referer of raw non-ASCII bytes reaches the app",
            post(
                &[
                    b"Cookie: ",
                    cookie.as_bytes(),
                    b"\r\nReferer: http://127.0.0.1/rooms/\xff\r\n",
                ]
                .concat(),
                b"",
            ),
            refused_with(400, "invalid_referer", &["is not ASCII"]),
        ),
        (
            "NUL in the Referer",
            post(
                &[
                    b"Cookie: ",
                    cookie.as_bytes(),
                    b"\r\nReferer: http://127.0.0.1/rooms/a\x00b\r\n",
                ]
                .concat(),
                b"",
            ),
            body(400, ""),
        ),
        (
            "a cookie of raw non-ASCII bytes is no user",
            post(
                b"Cookie: sid=\xff\xfe\r\nReferer: http://127.0.0.1/rooms/standup\r\n",
                b"",
            ),
            body(403, NOT_LOGGED_IN),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_bytes_on_the_wire() {
    let mut tally = Tally::default();
    for mode in Mode::BOTH {
        let app = App::new(Options::new(mode)).await;
        let server = Served::start(app.router.clone()).await;
        let cookie = app.cookie(&alice()).expect("alice has a session");
        let mut rows = page_rows(&cookie);
        rows.extend(token_rows(&cookie));
        for (name, bytes, expect) in rows {
            let addr = server.addr;
            let outcome = tokio::task::spawn_blocking(move || raw_exchange(addr, &bytes))
                .await
                .unwrap();
            let result = match outcome {
                None => Err("the server closed the connection without a response".to_owned()),
                Some(outcome) => {
                    let injected = outcome
                        .headers
                        .get_all(header::SET_COOKIE)
                        .iter()
                        .any(|v| v.as_bytes().starts_with(b"x="));
                    if injected {
                        Err("header injection: Set-Cookie x=".to_owned())
                    } else {
                        app.check_expect(&expect, &outcome)
                    }
                }
            };
            tally.record(&format!("[wire/{}] {name}", mode.as_str()), result);
        }
        server.stop().await;
    }
    tally.finish("hostile_wire::raw_bytes_on_the_wire");
}
