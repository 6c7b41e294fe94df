//! The demo's forms: cross-origin protection (`tower_http::csrf`), curl without a CSRF
//! token, and the login rate limit per client address (`tower_governor`), through HTTP
//! against the demo binary.

mod common;

use common::{COOKIE, Demo, OK, client_ip};

/// `GET /` sets no cookie and its forms carry no CSRF field: the cross-origin check needs
/// no token. A browser's forms, sent from the demo's own page (`Origin` and
/// `Sec-Fetch-Site: same-origin`), log in and out.
#[tokio::test]
async fn a_browser_logs_in_and_out_with_the_demos_own_forms() {
    let demo = Demo::start(&[]).await;
    let mut browser = demo.client().await;
    let page = browser.get("/").await;
    assert_eq!(page.status, OK);
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(page.headers.get("set-cookie").is_none(), "{:?}", page.headers);
    let html = page.text();
    assert!(html.contains(r#"action="/login""#), "{html}");
    assert!(!html.contains("csrf"), "no CSRF field: {html}");

    let origin = browser.origin();
    let own = [("origin", origin.as_str()), ("sec-fetch-site", "same-origin")];
    let login = browser.form("/login", "username=alice&domain=", &own).await;
    assert_eq!(login.status, 303, "{}", login.text());
    assert_eq!(login.header("location"), Some("/"));
    assert!(browser.get("/").await.text().contains("Logged in as <b>alice</b>"));
    assert_eq!(browser.get("/rooms/r").await.status, OK);

    let session = browser.cookie.clone().unwrap();
    let logout = browser.form("/logout", "", &own).await;
    assert_eq!(logout.status, 303, "{}", logout.text());
    browser.cookie = Some(session);
    assert_eq!(
        browser.get("/rooms/r").await.status,
        401,
        "the old cookie is logged out"
    );
}

/// Forms another origin makes a browser send are refused (`403 csrf_failed`), before
/// anything happens: no login, no logout, no call ended. Another site (`cross-site`),
/// another origin of the same site (`same-site`, a sibling subdomain), and an old
/// browser that sends only a foreign `Origin`.
#[tokio::test]
async fn forms_from_other_origins_are_refused() {
    let demo = Demo::start(&[]).await;
    let mut victim = demo.client().await;
    assert_eq!(victim.login("victim").await.status, OK);
    let call = common::page_conference(&victim.get("/rooms/standup").await);
    let attacks: [&[(&str, &str)]; 3] = [
        &[("origin", "http://evil.example"), ("sec-fetch-site", "cross-site")],
        &[
            ("origin", "http://sub.127.0.0.1.example"),
            ("sec-fetch-site", "same-site"),
        ],
        &[("origin", "http://evil.example")],
    ];
    for headers in attacks {
        for (path, body) in [
            ("/login", "username=mallory"),
            ("/logout", ""),
            ("/rooms/standup/end", ""),
        ] {
            let before = victim.cookie.clone();
            let refused = victim.form(path, body, headers).await;
            assert_eq!(refused.status, 403, "{path} {headers:?}: {}", refused.text());
            assert_eq!(refused.json()["code"], "csrf_failed", "{path} {headers:?}");
            assert!(
                refused.set_cookie(COOKIE).is_none(),
                "{path} {headers:?}: a cookie was set"
            );
            assert_eq!(victim.cookie, before);
        }
    }
    let page = victim.get("/rooms/standup").await;
    assert!(page.text().contains("victim"), "still logged in as the victim");
    assert_eq!(common::page_conference(&page), call, "the call was not ended");
}

/// The README's curl flow: a form with neither `Origin` nor `Sec-Fetch-Site` (not a
/// browser) logs in, and logs out, without any token.
#[tokio::test]
async fn curl_logs_in_and_out_without_a_csrf_token() {
    let demo = Demo::start(&[]).await;
    let mut curl = demo.client().await;
    let login = curl
        .form("/login", "username=alice", &[("user-agent", "curl/8.14.1")])
        .await;
    assert_eq!(login.status, 303, "{}", login.text());
    assert_eq!(curl.get("/rooms/r").await.status, OK);
    let session = curl.cookie.clone().unwrap();
    assert_eq!(curl.post("/logout").await.status, 303);
    curl.cookie = Some(session);
    assert_eq!(curl.get("/rooms/r").await.status, 401);
}

/// 30 attempts at once per client address, then `429` with `Retry-After` (one attempt
/// back every 2 s: at most 2 s to wait) and a JSON code; failed attempts count too;
/// another address is not affected.
#[tokio::test]
async fn logins_are_rate_limited_per_client_address() {
    let demo = Demo::start(&[]).await;
    let mut mallory = demo.client_as(7).await;
    for n in 0..29 {
        mallory.cookie = None;
        assert_eq!(mallory.login(&format!("m{n}")).await.status, OK, "attempt {n}");
    }
    // A failed attempt (no username) is the 30th.
    assert_eq!(mallory.login("").await.status, 400);
    mallory.cookie = None;
    let limited = mallory.login("m30").await;
    assert_eq!(limited.status, 429, "{}", limited.text());
    let retry: u64 = limited.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After: {retry}");
    assert_eq!(limited.header("cache-control"), Some("no-store"));
    assert_eq!(limited.json()["code"], "rate_limited");
    assert!(limited.set_cookie(COOKIE).is_none(), "no session for a refused attempt");

    // Another connection of the same address is the same client; another address is not.
    let mut again = demo.client_as(7).await;
    assert_eq!(again.login("m31").await.status, 429);
    demo.logged_in(8, "alice").await;
}

/// `X-Forwarded-For` names the client only with `DEMO_TRUST_X_FORWARDED_FOR=1`: then 31
/// logins from one connection, each naming another address, all pass, and 31 naming one
/// address are limited; without it the header is ignored and one connection's 31st
/// login is limited whatever it names.
#[tokio::test]
async fn x_forwarded_for_names_the_client_only_when_trusted() {
    for (trusted, distinct, limited_at) in [("1", true, None), ("1", false, Some(30)), ("0", true, Some(30))] {
        let demo = Demo::start(&[("DEMO_TRUST_X_FORWARDED_FOR", trusted)]).await;
        let mut client = demo.client().await;
        let mut statuses = Vec::new();
        for n in 0..31 {
            let forwarded = client_ip(if distinct { 100 + n } else { 100 });
            client.cookie = None;
            let request = client
                .request(http::Method::POST, "/login")
                .header("content-type", "application/json")
                .header("x-forwarded-for", forwarded.to_string());
            let body = format!("{{\"username\":\"u{n}\"}}");
            statuses.push(client.send(request, body).await.status);
        }
        let first_limited = statuses.iter().position(|s| *s == 429);
        assert_eq!(
            first_limited, limited_at,
            "trusted={trusted} distinct={distinct}: {statuses:?}"
        );
    }
}
