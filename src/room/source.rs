//! [`RoomSource`]: where the room of a request comes from.

use std::{borrow::Cow, fmt, sync::Arc};

use http::{HeaderName, request::Parts, uri::Authority};
use sha1::{Digest, Sha1};

use super::{page::Page, template::PathTemplate};
use crate::{
    encoding::{form_decode, form_pairs, hex, percent_decode},
    error::ConfigError,
    id::{self, ConferenceId},
    rejection::Rejection,
};

type CustomFn = dyn Fn(&Page<'_>) -> Option<String> + Send + Sync;

#[derive(Clone)]
enum Kind {
    Path(Arc<PathTemplate>),
    Url(Option<Authority>),
    Query(Arc<str>),
    Header(HeaderName),
    Sha1(Box<Kind>),
    Custom(Arc<CustomFn>),
}

/// Where the room of a request comes from: set once, with
/// [`Callstats::room`](crate::Callstats::room), for the page's layer and the token
/// endpoint alike. See the [crate docs](crate#rooms-and-calls).
///
/// | source | the room |
/// | --- | --- |
/// | [`path`](Self::path) | a parameter of the path, e.g. `room` of `/rooms/{room}` (the route's template) |
/// | [`url`](Self::url) | host + path, e.g. `www.example.com/rooms/42` (the host from the `Host` header) |
/// | [`url_at`](Self::url_at) | the same with a configured host |
/// | [`query`](Self::query) | a query parameter |
/// | [`header`](Self::header) | a request header (percent-encoded UTF-8) |
/// | [`sha1`](Self::sha1) | lowercase hex SHA1 of any of these |
/// | [`custom`](Self::custom) | whatever the closure returns |
///
/// The layer reads it from the page's request; the token endpoint from the page that
/// asks (its `Referer`: host, path and query; headers are the token request's own). A
/// value from the URL or a header is percent-decoded strictly (each `%` starts a valid
/// escape, the result is UTF-8), then the identifier rules apply (1 to 256 bytes, no
/// control, bidirectional or invisible characters).
///
/// ```
/// use http::Request;
/// use tower_callstats::RoomSource;
///
/// let (parts, _) = Request::get("https://meet.example.com/rooms/%E3%82%A4%E3%83%B3?x=1").body(()).unwrap().into_parts();
///
/// let source = RoomSource::path("/rooms/{room}", "room").unwrap();
/// assert_eq!(source.extract(&parts).unwrap().as_str(), "イン");
/// assert_eq!(RoomSource::url().extract(&parts).unwrap().as_str(), "meet.example.com/rooms/イン");
/// assert_eq!(RoomSource::sha1(RoomSource::url()).extract(&parts).unwrap().len(), 40);
///
/// let missing = RoomSource::query("room").extract(&parts).unwrap_err();
/// assert_eq!((missing.status().as_u16(), missing.code()), (400, "conference_required"));
/// ```
#[derive(Clone)]
pub struct RoomSource {
    kind: Kind,
}

impl fmt::Debug for RoomSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn describe(kind: &Kind) -> String {
            match kind {
                Kind::Path(t) => format!("path({:?}, {:?})", t.source(), t.param()),
                Kind::Url(None) => "url".into(),
                Kind::Url(Some(authority)) => format!("url_at({:?})", authority.as_str()),
                Kind::Query(name) => format!("query({name:?})"),
                Kind::Header(name) => format!("header({name:?})"),
                Kind::Sha1(inner) => format!("sha1({})", describe(inner)),
                Kind::Custom(_) => "custom".into(),
            }
        }
        f.write_str(&describe(&self.kind))
    }
}

impl RoomSource {
    /// The parameter `param` of a path template such as `/rooms/{room}` or
    /// `/t/{tenant}/c/{call}` (`{*rest}` at the end matches the rest of the path):
    /// the route's template as you give it to axum's `Router::route`, the whole path
    /// from the root (a nested router's prefix included). Works with or without axum,
    /// in a `route_layer` or a `layer`, and on the token endpoint (the Referer's path).
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidPathTemplate`] when the template is malformed or has no
    /// parameter `param`: checked here, at start-up.
    pub fn path(template: &str, param: &str) -> Result<Self, ConfigError> {
        Ok(Self::of(Kind::Path(Arc::new(PathTemplate::parse(template, param)?))))
    }

    /// The page URL: host (from the `Host` header, port included when the request
    /// names one) and path, without scheme or query, percent-decoded:
    /// `www.example.com/rooms/42`.
    ///
    /// The `Host` header is the client's word. Behind a proxy that forwards only the
    /// app's own host names that is fine; where any client can reach the server with a
    /// Host of its choosing, use [`url_at`](Self::url_at).
    pub fn url() -> Self {
        Self::of(Kind::Url(None))
    }

    /// The page URL with a configured authority instead of the `Host` header:
    /// `url_at(Authority::from_static("meet.example.com"))` gives
    /// `meet.example.com/rooms/42` for `/rooms/42`, whatever Host the client sent.
    pub fn url_at(authority: Authority) -> Self {
        Self::of(Kind::Url(Some(authority)))
    }

    /// A query parameter (`+` decodes to a space, as in forms).
    pub fn query(name: impl Into<Arc<str>>) -> Self {
        Self::of(Kind::Query(name.into()))
    }

    /// A request header, percent-decoded (send non-ASCII rooms with
    /// `encodeURIComponent`). On the token endpoint, the token request's own header
    /// (set it on callstats.js' token request), with or without a Referer.
    pub fn header(name: HeaderName) -> Self {
        Self::of(Kind::Header(name))
    }

    /// Lowercase hex SHA1 (40 characters) of what `inner` yields, once `inner`'s value
    /// has passed the identifier rules.
    pub fn sha1(inner: RoomSource) -> Self {
        Self::of(Kind::Sha1(Box::new(inner.kind)))
    }

    /// Whatever the closure returns for the page; `None` means the page names no room.
    /// The value must pass the identifier rules.
    pub fn custom<F>(f: F) -> Self
    where
        F: Fn(&Page<'_>) -> Option<String> + Send + Sync + 'static,
    {
        Self::of(Kind::Custom(Arc::new(f)))
    }

    fn of(kind: Kind) -> Self {
        Self { kind }
    }

    /// The room of a request, as the layer reads it.
    ///
    /// # Errors
    ///
    /// The [`Rejection`] a request gets: `400 conference_required` when the request
    /// names no room, `400 invalid_conference_id` when the room breaks the identifier
    /// rules.
    pub fn extract(&self, parts: &Parts) -> Result<ConferenceId, Rejection> {
        let room = self.read(&Page::of(parts))?;
        ConferenceId::new(room).map_err(Rejection::from)
    }

    /// The room that `page` names, checked against the identifier rules, borrowed from
    /// the request when it needs no decoding.
    pub(crate) fn read<'a>(&self, page: &Page<'a>) -> Result<Cow<'a, str>, Rejection> {
        let room = read(&self.kind, page)?;
        id::validate(&room, ConferenceId::KIND).map_err(Rejection::from)?;
        Ok(room)
    }
}

fn missing(why: String) -> Rejection {
    Rejection::conference_required(why)
}

fn read<'a>(kind: &Kind, page: &Page<'a>) -> Result<Cow<'a, str>, Rejection> {
    const KIND: &str = ConferenceId::KIND;
    if matches!(kind, Kind::Path(_) | Kind::Url(_) | Kind::Query(_)) && !page.has_url() {
        return Err(missing(
            "a token request names its room by the page that sends it, and this one has no Referer".into(),
        ));
    }
    match kind {
        Kind::Path(template) => {
            let raw = template.capture(page.path()).ok_or_else(|| {
                missing(format!(
                    "the path {:?} does not match {:?}",
                    truncated(page.path()),
                    template.source()
                ))
            })?;
            Ok(percent_decode(raw, KIND)?)
        }
        Kind::Url(configured) => {
            let host = match configured {
                Some(authority) => authority.as_str(),
                None => page.host().ok_or_else(|| missing("the request has no Host".into()))?,
            };
            let host = host.rsplit('@').next().unwrap_or(host);
            let path = percent_decode(page.path(), KIND)?;
            Ok(Cow::Owned(format!("{host}{path}")))
        }
        Kind::Query(name) => {
            for (key, value) in form_pairs(page.query().unwrap_or("")) {
                if form_decode(key, KIND)? == **name {
                    return Ok(form_decode(value, KIND)?);
                }
            }
            Err(missing(format!("the page has no query parameter {name:?}")))
        }
        Kind::Header(name) => {
            let value = page
                .headers()
                .get(name)
                .ok_or_else(|| missing(format!("the request has no {name} header")))?;
            let value = std::str::from_utf8(value.as_bytes()).map_err(|e| id::IdError::NotUtf8 {
                kind: KIND,
                at: e.valid_up_to(),
            })?;
            Ok(percent_decode(value, KIND)?)
        }
        Kind::Sha1(inner) => {
            let value = read(inner, page)?;
            // Hash only valid rooms: the rules apply to what the inner source yields.
            id::validate(&value, KIND)?;
            Ok(Cow::Owned(hex(&Sha1::digest(value.as_bytes()))))
        }
        Kind::Custom(f) => f(page)
            .map(Cow::Owned)
            .ok_or_else(|| missing("the app's room source found none".into())),
    }
}

/// At most 64 bytes of a path for a message, cut on a character boundary.
fn truncated(path: &str) -> &str {
    let mut end = path.len().min(64);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

#[cfg(test)]
mod tests {
    use http::Request;

    use super::*;

    fn parts(uri: &str) -> Parts {
        Request::get(uri).body(()).unwrap().into_parts().0
    }

    #[test]
    fn query_and_header_sources() {
        let p = parts("/call?x=1&room=a+b%2Bc&y");
        assert_eq!(RoomSource::query("room").extract(&p).unwrap().as_str(), "a b+c");
        assert_eq!(
            RoomSource::query("nope").extract(&p).unwrap_err().code(),
            "conference_required"
        );
        let mut p = parts("/");
        p.headers.insert("x-conference", "%E0%BA%AD".parse().unwrap());
        let source = RoomSource::header(HeaderName::from_static("x-conference"));
        assert_eq!(source.extract(&p).unwrap().as_str(), "ອ");
    }

    #[test]
    fn url_uses_the_host_header_and_the_path() {
        let mut p = parts("/rooms/1?ignored=yes");
        p.headers.insert(http::header::HOST, "www.example.com".parse().unwrap());
        assert_eq!(
            RoomSource::url().extract(&p).unwrap().as_str(),
            "www.example.com/rooms/1"
        );
        let at = RoomSource::url_at(Authority::from_static("meet.example.com"));
        assert_eq!(at.extract(&p).unwrap().as_str(), "meet.example.com/rooms/1");
    }

    #[test]
    fn sha1_of_a_source() {
        // printf 'room-1' | sha1sum
        let p = parts("/rooms/room-1");
        let source = RoomSource::sha1(RoomSource::path("/rooms/{room}", "room").unwrap());
        assert_eq!(
            source.extract(&p).unwrap().as_str(),
            "0e9770ee13188deca3cd34f598eb93650a2f97c3"
        );
    }

    #[test]
    fn over_long_empty_and_undecodable_rooms_are_refused() {
        let source = RoomSource::path("/rooms/{room}", "room").unwrap();
        // 86 three-byte characters: 258 bytes.
        let long = source
            .extract(&parts(&format!("/rooms/{}", "%E3%82%A4".repeat(86))))
            .unwrap_err();
        assert_eq!(long.code(), "invalid_conference_id");
        assert!(long.message().contains("258 bytes"), "{}", long.message());
        assert_eq!(
            source.extract(&parts("/rooms/")).unwrap_err().code(),
            "invalid_conference_id"
        );
        assert_eq!(
            source.extract(&parts("/rooms/%zz")).unwrap_err().code(),
            "invalid_conference_id"
        );
        assert_eq!(
            source.extract(&parts("/other")).unwrap_err().code(),
            "conference_required"
        );
    }

    #[test]
    fn a_custom_source_sees_the_page() {
        let source = RoomSource::custom(|page: &Page<'_>| page.query().map(|q| format!("q-{q}")));
        assert_eq!(source.extract(&parts("/x?abc")).unwrap().as_str(), "q-abc");
        assert_eq!(source.extract(&parts("/x")).unwrap_err().code(), "conference_required");
        let bad = RoomSource::custom(|_: &Page<'_>| Some("a\u{202E}b".into()));
        assert_eq!(bad.extract(&parts("/")).unwrap_err().code(), "invalid_conference_id");
    }
}
