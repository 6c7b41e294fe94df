//! The decisions of the issue "Decide before touching anything", shown through HTTP
//! against the demo binary: who may join a room is decided before a call is joined
//! (the demo's hook: `private-<name>` is `<name>`'s alone), on the room as named, and a
//! refusal names that room, never the call; a flood of new rooms never changes a live
//! call; look-alike characters in a room name are refused. The endpoint's room, the
//! Origin's scheme and the shape of refusals are in `rooms.rs`.
//!
//! They run against whichever binary `DEMO_BIN` names, so that they show the demo of
//! commit 909e481 failing them (each test says how):
//!
//! ```text
//! DEMO_BIN=/tmp/wt-909e481-target/debug/examples/demo cargo test -p demo --test decisions
//! ```

mod common;

use common::{Demo, OK, Response, is_call_of, page_conference};
use serde_json::json;

/// The demo's bound on new calls per user and minute, as its docs state it (`main.rs`,
/// `CALLSTATS_CONFERENCE`).
const NEW_CALLS_PER_USER: usize = 60;

/// `{"code":"conference_forbidden","error":"this user may not join the room \"<room>\""}`,
/// the refusal of the hook, written out.
fn forbidden_json(room: &str) -> String {
    format!(r#"{{"code":"conference_forbidden","error":"this user may not join the room \"{room}\""}}"#)
}

/// Whether `needle` appears in the answer: its body or any header value.
fn mentions(response: &Response, needle: &str) -> bool {
    response.text().contains(needle)
        || response
            .headers
            .values()
            .any(|v| String::from_utf8_lossy(v.as_bytes()).contains(needle))
}

/// What a room page answer granted: its conferenceID header and whether it carried a
/// token (the page itself is long).
fn granted(page: &Response) -> String {
    format!(
        "x-callstats-conference-id {:?}, token {}",
        page.header("x-callstats-conference-id"),
        page.header("x-callstats-token").is_some()
    )
}

/// A refused room page: `403`, the demo's HTML page with the code, no token, no IDs.
fn assert_page_refused(page: &Response, what: &str) {
    assert_eq!(page.status, 403, "{what}: {}", granted(page));
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"), "{what}");
    assert!(
        page.text().contains(r#"<code id="code">conference_forbidden</code>"#),
        "{what}: {}",
        page.text()
    );
    for header in ["x-callstats-token", "x-callstats-conference-id", "x-callstats-user-id"] {
        assert_eq!(page.header(header), None, "{what}: {header}");
    }
}

/// A refused token request: `403 conference_forbidden` naming `room`, no token.
fn assert_token_refused(token: &Response, room: &str, what: &str) {
    assert_eq!(token.status, 403, "{what}: {}", token.text());
    assert_eq!(token.text(), forbidden_json(room), "{what}");
}

/// Bob asks for Alice's private room 1 000 times as a page and 1 000 times from that
/// page (`/getToken` with its Referer): `403` every time, no token; Alice's call keeps
/// its conferenceID. The whole name is compared: Alice may not enter `private-alice2`,
/// nor `alice2` `private-alice`. (909e481: the demo had no hook; Bob's first request
/// got the page, `200`, with a token for Alice's call.)
#[tokio::test]
async fn a_private_room_refuses_everyone_but_its_owner_and_her_call_stays() {
    let demo = Demo::start(&[]).await;
    let mut alice = demo.logged_in(1, "alice").await;
    let call = page_conference(&alice.get("/rooms/private-alice").await);
    assert!(is_call_of(&call, "private-alice"), "{call}");

    let mut bob = demo.logged_in(2, "bob").await;
    let mut refused = 0;
    for i in 0..1_000 {
        let page = bob.get("/rooms/private-alice").await;
        assert_page_refused(&page, &format!("page {i}"));
        let token = bob.token("/rooms/private-alice", json!({})).await;
        assert_token_refused(&token, "private-alice", &format!("token {i}"));
        refused += 2;
    }
    assert_eq!(refused, 2_000);
    assert_eq!(
        page_conference(&alice.get("/rooms/private-alice").await),
        call,
        "Alice's call changed"
    );

    assert_page_refused(&alice.get("/rooms/private-alice2").await, "alice in private-alice2");
    let mut alice2 = demo.logged_in(3, "alice2").await;
    assert_page_refused(&alice2.get("/rooms/private-alice").await, "alice2 in private-alice");
    // Other rooms are open to everyone; the owner's own room to the owner.
    let standup = page_conference(&bob.get("/rooms/standup").await);
    assert!(is_call_of(&standup, "standup"), "{standup}");
    let own = page_conference(&bob.get("/rooms/private-bob").await);
    assert!(is_call_of(&own, "private-bob"), "{own}");
}

/// Requests the hook refuses start no call: Bob, refused 100 new private rooms of
/// others (pages and tokens), still has his whole bound of new calls: his next 60 new
/// rooms each start a call, the 61st gets the room name itself. (909e481: no hook; the
/// first of Bob's requests got a token, `200`.)
#[tokio::test]
async fn refused_requests_start_no_call_and_take_nothing_of_the_users_bound() {
    let demo = Demo::start(&[]).await;
    let mut bob = demo.logged_in(2, "bob").await;
    for i in 0..100 {
        let room = format!("private-carol-{i}");
        assert_page_refused(&bob.get(&format!("/rooms/{room}")).await, &room);
        assert_token_refused(&bob.token(&format!("/rooms/{room}"), json!({})).await, &room, &room);
    }
    for i in 0..NEW_CALLS_PER_USER {
        let room = format!("bob-{i}");
        let id = page_conference(&bob.get(&format!("/rooms/{room}")).await);
        assert!(is_call_of(&id, &room), "new room {i} of Bob's bound: {id}");
    }
    let past = page_conference(&bob.get("/rooms/bob-past").await);
    assert_eq!(past, "bob-past", "past the bound, the room itself stands in");
}

/// Mallory asks `/getToken` from new rooms, one after the other (up to the 110 000 that
/// changed a live call on 909e481): the first 60 each start a call, then every new room
/// is refused a call (the room name itself stands in, nothing is started); 100 refusals
/// end the flood. Alice's live call keeps its conferenceID, for her and for Carol who
/// joins it; a room Mallory was refused is free for Carol to start. (909e481: no bound;
/// all 110 000 got a call, and the registry, full, ended Alice's: her page then named
/// another conferenceID.)
#[tokio::test]
async fn a_flood_of_new_rooms_by_one_user_never_changes_a_live_call() {
    let demo = Demo::start(&[]).await;
    let mut alice = demo.logged_in(1, "alice").await;
    let call = page_conference(&alice.get("/rooms/live").await);
    assert!(is_call_of(&call, "live"), "{call}");

    let mut mallory = demo.logged_in(2, "mallory").await;
    let (mut started, mut refused, mut first_refused) = (0, 0, None);
    for i in 0..110_000 {
        let room = format!("flood-{i}");
        let token = mallory.token(&format!("/rooms/{room}"), json!({})).await;
        assert_eq!(token.status, OK, "{room}: {}", token.text());
        let answer = token.json();
        let id = answer["conferenceID"].as_str().unwrap_or_default();
        if is_call_of(id, &room) {
            started += 1;
        } else {
            assert_eq!(id, room, "neither a call of the room nor the room: {answer}");
            assert_eq!(answer["callStartedAt"], serde_json::Value::Null, "{room}: no call");
            first_refused.get_or_insert(room);
            refused += 1;
            if refused == 100 {
                break;
            }
        }
    }
    assert_eq!(
        page_conference(&alice.get("/rooms/live").await),
        call,
        "Alice's live call changed after {started} new rooms"
    );
    let mut carol = demo.logged_in(3, "carol").await;
    let joined = carol.token("/rooms/live", json!({})).await;
    assert_eq!(joined.json()["conferenceID"], call.as_str());

    assert_eq!(started, NEW_CALLS_PER_USER, "new calls Mallory started");
    assert_eq!(refused, 100);
    let free = first_refused.expect("a refusal");
    let id = page_conference(&carol.get(&format!("/rooms/{free}")).await);
    assert!(
        is_call_of(&id, &free),
        "Carol starts the call Mallory was refused: {id}"
    );
}

/// The hook is asked about the room as the page names it, never the call's ID: Alice
/// gets into her private room again and again once its call exists (the call's ID,
/// `private-alice-<stamp>-<hex>`, would not pass the rule). A refusal names that room,
/// `private-alice`, and never the call: Bob's 403 page and JSON hold neither Alice's
/// conferenceID nor any other part of it past the room. (909e481: the demo had no hook,
/// Bob's page was `200` with Alice's conferenceID in its header.)
#[tokio::test]
async fn the_hook_is_asked_about_the_room_and_a_refusal_names_the_room_only() {
    let demo = Demo::start(&[]).await;
    let mut alice = demo.logged_in(1, "alice").await;
    let first = alice.get("/rooms/private-alice").await;
    let call = page_conference(&first);
    assert!(is_call_of(&call, "private-alice"), "{call}");
    for _ in 0..3 {
        assert_eq!(page_conference(&alice.get("/rooms/private-alice").await), call);
        let token = alice.token("/rooms/private-alice", json!({})).await;
        assert_eq!(token.status, OK, "{}", token.text());
        assert_eq!(token.json()["conferenceID"], call.as_str());
    }

    let mut bob = demo.logged_in(2, "bob").await;
    let page = bob.get("/rooms/private-alice").await;
    assert_page_refused(&page, "Bob's page");
    assert!(
        page.text()
            .contains(r#"<span id="message">this user may not join the room &quot;private-alice&quot;</span>"#),
        "{}",
        page.text()
    );
    let token = bob.token("/rooms/private-alice", json!({})).await;
    assert_token_refused(&token, "private-alice", "Bob's token");
    // The call's own part, `-<stamp>-<hex>`, is nowhere in either answer.
    let call_part = &call["private-alice".len()..];
    for answer in [&page, &token] {
        assert!(!mentions(answer, &call), "the refusal leaks {call}: {answer:?}");
        assert!(
            !mentions(answer, call_part),
            "the refusal leaks {call_part}: {answer:?}"
        );
    }
}

/// The code points that display as nothing or change the text's direction, and their
/// UTF-8 percent-encoded by hand.
const LOOK_ALIKES: [(&str, &str); 7] = [
    ("U+200E", "%E2%80%8E"), // LEFT-TO-RIGHT MARK
    ("U+200F", "%E2%80%8F"), // RIGHT-TO-LEFT MARK
    ("U+061C", "%D8%9C"),    // ARABIC LETTER MARK
    ("U+200B", "%E2%80%8B"), // ZERO WIDTH SPACE
    ("U+2060", "%E2%81%A0"), // WORD JOINER
    ("U+00AD", "%C2%AD"),    // SOFT HYPHEN
    ("U+3164", "%E3%85%A4"), // HANGUL FILLER
];

/// `/rooms/admin` followed by each look-alike character: the page is `400
/// invalid_conference_id` naming the code point at byte 5, without a token, and
/// `/getToken` from that page is `400` without a token, in both modes. `admin` itself
/// passes. (909e481: `/rooms/admin%E2%80%8E` got the page, `200`, with a token.)
#[tokio::test]
async fn look_alike_characters_in_a_room_name_get_400_and_no_token() {
    for mode in ["per-call", "room"] {
        let demo = Demo::start(&[("CALLSTATS_CONFERENCE", mode)]).await;
        let mut alice = demo.logged_in(1, "alice").await;
        for (code, encoded) in LOOK_ALIKES {
            let path = format!("/rooms/admin{encoded}");
            let what = format!("{mode}: {path}");
            let page = alice.get(&path).await;
            assert_eq!(page.status, 400, "{what}: {}", granted(&page));
            assert!(
                page.text().contains(r#"<code id="code">invalid_conference_id</code>"#),
                "{what}: {}",
                page.text()
            );
            assert!(
                page.text().contains(&format!("{code} ")) && page.text().contains("at byte 5"),
                "{what}: the message names {code} at byte 5: {}",
                page.text()
            );
            assert_eq!(page.header("x-callstats-token"), None, "{what}");
            let token = alice.token(&path, json!({})).await;
            assert_eq!(token.status, 400, "{what}: {}", token.text());
            assert_eq!(token.json()["code"], "invalid_conference_id", "{what}");
            assert_eq!(token.json().get("token"), None, "{what}");
        }
        assert_eq!(alice.get("/rooms/admin").await.status, OK, "{mode}");
    }
}
