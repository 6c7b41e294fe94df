//! Room extraction (`RoomSource`) from paths, URLs, query strings and headers.
//!
//! The input is split on its first two newlines into a path template, a request
//! target and a header value. Properties: nothing panics; a parameter of any template
//! that parses is at most as long as the path and a valid ID; and what the query, header and
//! `/rooms/{room}` sources extract is what an independent model of them yields: the
//! raw value found by plain string handling, decoded by the independent decoder of
//! `oracle.rs`, then judged by the identifier rules as written out there.
#![no_main]

#[path = "oracle.rs"]
mod oracle;

use http::{HeaderValue, Request, Uri, request::Parts};
use libfuzzer_sys::fuzz_target;
use oracle::{Verdict, verdict};
use tower_callstats::RoomSource;

/// What a source must yield for a raw value (`None`: it must fail).
fn expected(decoded: Option<String>) -> Option<String> {
    decoded.filter(|v| verdict(v) == Verdict::Valid)
}

/// `query("room")`: the first `room=` pair of the query (pairs split on `&`, empty ones
/// skipped, names form-decoded); a name that does not decode fails the source.
fn model_query(parts: &Parts) -> Option<String> {
    for pair in parts.uri.query().unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if oracle::form_decode(name)? == "room" {
            return expected(oracle::form_decode(value));
        }
    }
    None
}

/// `header("x-conference")`: the header's bytes as UTF-8, percent-decoded.
fn model_header(parts: &Parts) -> Option<String> {
    let value = parts.headers.get("x-conference")?;
    expected(oracle::percent_decode(std::str::from_utf8(value.as_bytes()).ok()?))
}

/// `path("/rooms/{room}", "room")`: the one segment after `/rooms/`.
fn model_room(parts: &Parts) -> Option<String> {
    let segment = parts.uri.path().strip_prefix("/rooms/")?;
    if segment.contains('/') {
        return None;
    }
    expected(oracle::percent_decode(segment))
}

fn check(what: &str, source: &RoomSource, parts: &Parts, model: Option<String>) {
    let got = source.extract(parts).ok().map(|id| id.as_str().to_owned());
    assert_eq!(got, model, "{what} on {:?} {:?}", parts.uri, parts.headers);
}

fuzz_target!(|data: &[u8]| {
    let mut pieces = data.splitn(3, |b| *b == b'\n');
    let template = String::from_utf8_lossy(pieces.next().unwrap_or_default());
    let target = pieces.next().unwrap_or_default();
    let header = pieces.next().unwrap_or_default();

    // Templates: every parameter of a template that parses, captured from the target:
    // never longer than the path (decoding only shrinks), and always a valid ID.
    if let Ok(uri) = Uri::try_from(target) {
        let (parts, ()) = Request::get(uri).body(()).unwrap().into_parts();
        for name in template
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        {
            let name = name.trim_start_matches('*');
            if let Ok(source) = RoomSource::path(&template, name)
                && let Ok(id) = source.extract(&parts)
            {
                assert!(id.len() <= parts.uri.path().len(), "{id:?} from {:?}", parts.uri);
                assert_eq!(verdict(id.as_str()), Verdict::Valid, "{id:?}");
            }
        }
    }

    // Sources over an arbitrary request target and header value.
    let Ok(uri) = Uri::try_from(target) else {
        return;
    };
    let mut request = Request::get(uri).body(()).unwrap();
    if let Ok(value) = HeaderValue::from_bytes(header) {
        request.headers_mut().insert("x-conference", value.clone());
        request.headers_mut().insert(http::header::HOST, value);
    }
    let (parts, ()) = request.into_parts();
    check("query", &RoomSource::query("room"), &parts, model_query(&parts));
    check(
        "header",
        &RoomSource::header(http::HeaderName::from_static("x-conference")),
        &parts,
        model_header(&parts),
    );
    check(
        "template",
        &RoomSource::path("/rooms/{room}", "room").unwrap(),
        &parts,
        model_room(&parts),
    );
    for source in [
        RoomSource::url(),
        RoomSource::sha1(RoomSource::url()),
        RoomSource::path("/t/{tenant}/{*rest}", "rest").unwrap(),
    ] {
        if let Ok(id) = source.extract(&parts) {
            assert_eq!(verdict(id.as_str()), Verdict::Valid, "{source:?}: {id:?}");
        }
    }
});
