//! What the demo shows: its pages (templates in `templates/`), its static files (in
//! `static/`: plain files, no build step) and its JSON errors.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use bytes::Bytes;
use tower_callstats::{CallstatsContext, Rejection, percent_encode};

use crate::settings::ConferenceMode;

/// How the room page loads and points callstats.js, and where its conferenceID comes from.
pub struct PageSettings {
    pub callstats_js_url: String,
    pub auth_proxy: Option<String>,
    pub mode: ConferenceMode,
}

/// The page's style sheet and the room page's inspector.
const DEMO_CSS: &str = include_str!("../static/demo.css");
const INSPECTOR_JS: &str = include_str!("../static/inspector.js");

pub fn css() -> Response {
    static_file("text/css; charset=utf-8", DEMO_CSS)
}

pub fn inspector_js() -> Response {
    static_file("text/javascript; charset=utf-8", INSPECTOR_JS)
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// `{"code": ..., "error": ...}` (the crate's shape), never cached.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({"code": code, "error": message})),
    )
        .into_response()
}

/// An HTML page, never cached (it shows who is logged in).
fn html(status: StatusCode, page: String) -> Response {
    let mut response = (status, Html(page)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON that is safe inside a `<script>` element.
fn script_json(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// Fills a template's `{{NAME}}` placeholders in one pass: a value that contains
/// `{{...}}` (a room or user name is the client's text) is never expanded again.
fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 1024);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let filled = after.find("}}").and_then(|end| {
            values
                .iter()
                .find(|(name, _)| *name == &after[..end])
                .map(|v| (end, v.1))
        });
        match filled {
            Some((end, value)) => {
                out.push_str(value);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The rule of the demo's authorize hook (`src/access.rs`), as the pages state it.
const PRIVATE_ROOMS: &str = "A room named <code>private-<var>name</var></code> may be joined only by the user \
     <var>name</var> (the whole name: <code>alice</code> may not enter <code>private-alice2</code>); everyone may \
     join any other room.";

/// The login page, with who is logged in and the logout form for a user.
pub fn index(status: StatusCode, user: Option<&str>, notice: Option<&str>) -> Response {
    let notice = notice.map(|n| format!("<p>{}</p>", html_escape(n))).unwrap_or_default();
    let status_html = match user {
        Some(user) => {
            let private = format!("private-{user}");
            format!(
                "<p>Logged in as <b>{}</b>.</p>\
                 <form method=post action=/logout class=inline><button>Log out</button></form>\
                 <h2>Open a room</h2>\
                 <ul class=rooms><li><a href=\"/rooms/demo-room\">demo-room</a></li>\
                 <li><a href=\"/rooms/%E3%82%A4%E3%83%B3%E3%82%BF%E3%83%BC%E3%83%8D%E3%83%83%E3%83%88\" lang=ja>インターネット</a></li>\
                 <li><a href=\"{}\">{}</a></li></ul>\
                 <p class=note>Or any name: <code>/rooms/<var>name</var></code>. Everyone who opens the same room \
                 while its call is active gets the same conferenceID.</p>\
                 <p class=note>{PRIVATE_ROOMS}</p>",
                html_escape(user),
                html_escape(&format!("/rooms/{}", percent_encode(&private))),
                html_escape(&private),
            )
        }
        None => format!("<p class=note>{PRIVATE_ROOMS}</p>"),
    };
    let page = render(
        include_str!("../templates/index.html"),
        &[("NOTICE", &notice), ("STATUS", &status_html)],
    );
    html(status, page)
}

/// The room page: the inspector of what tower-callstats gave it. `room` is the room
/// name from the URL. The token itself is not in the page: the page asks `/getToken` for
/// it, as callstats.js does.
pub fn room(context: &CallstatsContext, page: &PageSettings, room: &str) -> Response {
    let mut config = context.to_client_json();
    // The page asks the token endpoint for tokens; it does not need this one.
    if let Some(map) = config.as_object_mut() {
        map.remove("token");
    }
    config["authProxy"] = page.auth_proxy.clone().into();
    let demo = serde_json::json!({
        "mode": page.mode.as_str(),
        "room": room,
        "callstatsJsUrl": page.callstats_js_url,
    });
    let conference = context.conference_id().map(|c| c.as_str()).unwrap_or("");
    let room_path = format!("/rooms/{}", percent_encode(room));
    let body = render(
        include_str!("../templates/room.html"),
        &[
            ("CALLSTATS_JS_URL", &html_escape(&page.callstats_js_url)),
            ("PRIVATE_ROOMS", PRIVATE_ROOMS),
            ("ROOM", &html_escape(room)),
            ("ROOM_PATH", &html_escape(&room_path)),
            ("USER_ID", &html_escape(context.user_id())),
            ("CONFERENCE_ID", &html_escape(conference)),
            ("CONFIG_JSON", &script_json(&config)),
            ("PAGE_JSON", &script_json(&demo)),
        ],
    );
    html(StatusCode::OK, body)
}

/// A room page the crate refused (an invalid room name, or a private room of another
/// user), as an HTML page with the
/// rejection's code and message: the layer's [`Callstats::rejection`](tower_callstats::Callstats::rejection).
pub fn rejected_room(rejection: Rejection) -> http::Response<Bytes> {
    let body = render(
        include_str!("../templates/rejected.html"),
        &[
            ("STATUS", rejection.status().as_str()),
            ("CODE", &html_escape(rejection.code())),
            ("MESSAGE", &html_escape(rejection.message())),
            ("PRIVATE_ROOMS", PRIVATE_ROOMS),
        ],
    );
    let mut response = http::Response::new(Bytes::from(body));
    *response.status_mut() = rejection.status();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_never_expand_a_value_again() {
        let out = render("<p>{{A}} {{B}} {{C}}</p>", &[("A", "{{B}}"), ("B", "b")]);
        assert_eq!(out, "<p>{{B}} b {{C}}</p>");
    }

    #[test]
    fn script_json_cannot_close_the_script_element() {
        let value = serde_json::json!({"room": "</script><script>alert(1)</script>&\u{2028}"});
        let out = script_json(&value);
        assert!(!out.contains('<') && !out.contains('>') && !out.contains('&'), "{out}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap(), value);
    }
}
