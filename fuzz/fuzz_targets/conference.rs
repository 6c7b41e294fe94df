//! conferenceID extraction from paths, URLs, query strings and headers.
//!
//! The input is split on its first two newlines into a path template, a request
//! target and a header value. Properties: nothing panics; a template that parses
//! captures at most the path it is given; whatever a source extracts is a valid
//! conferenceID.
#![no_main]

use http::{HeaderValue, Request, Uri};
use libfuzzer_sys::fuzz_target;
use tower_callstats::{ConferenceId, ConferenceIdSource, conference::PathTemplate};

fn valid(id: &ConferenceId) {
    assert!(ConferenceId::new(id.as_str()).is_ok(), "{id:?} escaped validation");
}

fuzz_target!(|data: &[u8]| {
    let mut pieces = data.splitn(3, |b| *b == b'\n');
    let template = String::from_utf8_lossy(pieces.next().unwrap_or_default());
    let target = pieces.next().unwrap_or_default();
    let header = pieces.next().unwrap_or_default();

    // Templates: parse, then capture every parameter name from the target as a path.
    if let Ok(parsed) = PathTemplate::parse(&template) {
        let path = String::from_utf8_lossy(target);
        for name in template
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        {
            let name = name.trim_start_matches('*');
            if let Ok(Some(value)) = parsed.capture(&path, name) {
                assert!(value.len() <= path.len(), "{value:?} from {path:?}");
            }
            if let Ok(source) = ConferenceIdSource::path_template(&template, name) {
                if let Ok(uri) = Uri::try_from(target) {
                    let (parts, ()) = Request::get(uri).body(()).unwrap().into_parts();
                    if let Ok(id) = source.extract(&parts) {
                        valid(&id);
                    }
                }
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
    let sources = [
        ConferenceIdSource::url(),
        ConferenceIdSource::query("room"),
        ConferenceIdSource::header("x-conference").unwrap(),
        ConferenceIdSource::sha1(ConferenceIdSource::url()),
        ConferenceIdSource::path_template("/rooms/{room}", "room").unwrap(),
        ConferenceIdSource::path_template("/t/{tenant}/{*rest}", "rest").unwrap(),
    ];
    for source in &sources {
        if let Ok(id) = source.extract(&parts) {
            valid(&id);
        }
    }
});
