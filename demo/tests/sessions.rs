//! The demo's sessions (tower-sessions behind `__Host-demo_session`): the cookie, a login
//! replacing the browser's session, logout, and the bounds per client and overall,
//! through HTTP against the demo binary.

mod common;

use common::{COOKIE, Demo, OK};
use serde_json::json;

/// The session cookie follows the `__Host-` prefix rules (RFC 6265bis 4.1.3.2: `Secure`,
/// `Path=/`, no `Domain`), and is `HttpOnly` and `SameSite=Lax`; its lifetime is the
/// session's (`DEMO_SESSION_TTL_SECS`).
#[tokio::test]
async fn the_session_cookie_is_host_prefixed_secure_http_only_and_lax() {
    let demo = Demo::start(&[("DEMO_SESSION_TTL_SECS", "600")]).await;
    let mut client = demo.client().await;
    let login = client.login("alice").await;
    assert_eq!(login.status, OK, "{}", login.text());
    assert_eq!(login.json(), json!({"username": "alice"}));
    assert_eq!(login.header("cache-control"), Some("no-store"));
    let cookie = login.set_cookie(COOKIE).expect("the session cookie");
    let attributes: Vec<String> = cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    for wanted in ["secure", "path=/", "httponly", "samesite=lax"] {
        assert!(attributes.iter().any(|a| a == wanted), "{wanted} missing from {cookie}");
    }
    assert!(!attributes.iter().any(|a| a.starts_with("domain")), "{cookie}");
    let max_age: u64 = attributes
        .iter()
        .find_map(|a| a.strip_prefix("max-age="))
        .expect("Max-Age")
        .parse()
        .unwrap();
    assert!((590..=600).contains(&max_age), "{cookie}");
    assert_eq!(login.headers.get_all("set-cookie").iter().count(), 1);
}

/// A login from a browser that has a session ends that session and gives a new ID; a
/// session ID the client made up is never adopted (session fixation).
#[tokio::test]
async fn a_login_replaces_the_browsers_session_with_a_new_id() {
    let demo = Demo::start(&[]).await;
    let mut browser = demo.client().await;
    assert_eq!(browser.login("alice").await.status, OK);
    let first = browser.cookie.clone().unwrap();
    assert!(browser.get("/rooms/r").await.text().contains("alice"));
    assert_eq!(browser.login("bob").await.status, OK);
    let second = browser.cookie.clone().unwrap();
    assert_ne!(first, second);
    assert!(browser.get("/rooms/r").await.text().contains("bob"));
    browser.cookie = Some(first);
    assert_eq!(browser.get("/rooms/r").await.status, 401, "the previous session ended");

    // A made-up ID (22 characters of URL-safe base64, as tower-sessions writes them).
    let made_up = format!("{COOKIE}=AAAAAAAAAAAAAAAAAAAAAA");
    browser.cookie = Some(made_up.clone());
    assert_eq!(browser.login("carol").await.status, OK);
    assert_ne!(browser.cookie.as_deref(), Some(made_up.as_str()), "a new ID");
}

/// Logout ends the session and clears the cookie with the attributes a `__Host-` cookie
/// needs (a clearing cookie without `Secure` is ignored by browsers).
#[tokio::test]
async fn logout_ends_the_session_and_clears_the_cookie() {
    let demo = Demo::start(&[]).await;
    let mut client = demo.client().await;
    assert_eq!(client.login("alice").await.status, OK);
    let session = client.cookie.clone().unwrap();
    let logout = client.post("/logout").await;
    assert_eq!(logout.status, 303);
    let clear = logout.set_cookie(COOKIE).expect("a clearing cookie");
    let attributes: Vec<String> = clear.split(';').map(|a| a.trim().to_ascii_lowercase()).collect();
    assert_eq!(attributes[0], format!("{}=", COOKIE.to_ascii_lowercase()));
    for wanted in ["secure", "path=/", "max-age=0"] {
        assert!(attributes.iter().any(|a| a == wanted), "{wanted} missing from {clear}");
    }
    client.cookie = Some(session);
    assert_eq!(client.get("/rooms/r").await.status, 401);
    let token = client.token("/rooms/r", json!({})).await;
    assert_eq!(token.status, 403);
}

/// Six logins from one client address: its first session ends, its other five and
/// another client's session stay (`DEMO_SESSIONS_PER_CLIENT`, default 5).
#[tokio::test]
async fn a_clients_sixth_login_ends_only_its_own_oldest_session() {
    let demo = Demo::start(&[]).await;
    let mut other = demo.logged_in(2, "other").await;
    let mut client = demo.client_as(1).await;
    let mut cookies = Vec::new();
    for n in 0..6 {
        client.cookie = None;
        assert_eq!(client.login(&format!("user-{n}")).await.status, OK);
        cookies.push(client.cookie.clone().unwrap());
    }
    let mut statuses = Vec::new();
    for cookie in cookies {
        client.cookie = Some(cookie);
        statuses.push(client.get("/rooms/r").await.status);
    }
    assert_eq!(statuses, [401, 200, 200, 200, 200, 200]);
    assert_eq!(other.get("/rooms/r").await.status, OK);
}

/// At `DEMO_MAX_SESSIONS` live sessions a new login gets `503` and nobody is logged out;
/// a browser replacing its own session still logs in; after a logout there is room.
#[tokio::test]
async fn at_the_session_bound_a_new_login_gets_503_and_nobody_is_logged_out() {
    let demo = Demo::start(&[("DEMO_MAX_SESSIONS", "3")]).await;
    let mut clients = Vec::new();
    for n in 0..3 {
        clients.push(demo.logged_in(n, &format!("user-{n}")).await);
    }
    let mut late = demo.client_as(3).await;
    let refused = late.login("late").await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.json()["code"], "sessions_full");
    assert!(refused.header("retry-after").is_some());
    assert!(refused.set_cookie(COOKIE).is_none());
    for client in &mut clients {
        assert_eq!(client.get("/rooms/r").await.status, OK, "nobody was logged out");
    }
    // Replacing one's own session adds none.
    assert_eq!(clients[0].login("user-0-again").await.status, OK);
    assert_eq!(clients[1].post("/logout").await.status, 303);
    assert_eq!(late.login("late").await.status, OK, "a logout made room");
}

/// Expired sessions do not count against the bound: with one session allowed and a 1 s
/// lifetime, a second client logs in once the first session has expired.
#[tokio::test]
async fn expired_sessions_do_not_count_against_the_bound() {
    let demo = Demo::start(&[("DEMO_MAX_SESSIONS", "1"), ("DEMO_SESSION_TTL_SECS", "1")]).await;
    let mut first = demo.logged_in(1, "first").await;
    let mut second = demo.client_as(2).await;
    assert_eq!(second.login("second").await.status, 503);
    // Bounded wait: the session lives 1 s; poll every 100 ms for at most 10 s.
    let mut expired = false;
    for _ in 0..100 {
        if first.get("/rooms/r").await.status == 401 {
            expired = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(expired, "the first session did not expire within 10 s");
    second.cookie = None;
    let login = second.login("second").await;
    assert_eq!(login.status, OK, "{}", login.text());
    assert_eq!(second.get("/rooms/r").await.status, OK);
}
