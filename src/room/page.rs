//! [`Page`]: the page a room is read from.

use http::{Extensions, HeaderMap, HeaderValue, header, request::Parts};

use crate::rejection::Rejection;

/// The longest `Referer` the token endpoint reads, in bytes.
pub(crate) const MAX_REFERER_BYTES: usize = 4096;

/// The page a [`RoomSource`](crate::RoomSource) reads the room from.
///
/// On the page's own request (the layer) it is that request. On a token request (the
/// endpoint) it is the page that asks, named by the request's `Referer`: its host, path
/// and query, with the token request's own headers and extensions. So one room source,
/// set once on [`Callstats`](crate::Callstats), finds the same room on the page and on
/// the page's token requests. A token request without a `Referer` names no page: a
/// source that reads the URL finds no room there, one that reads a header or the
/// extensions still can.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    /// The URL's parts: `None` for a token request without a Referer.
    url: Option<Url<'a>>,
    parts: &'a Parts,
}

#[derive(Debug, Clone, Copy)]
struct Url<'a> {
    /// `None`: the request's own host, read from its `Host` header when asked.
    host: Option<&'a str>,
    path: &'a str,
    query: Option<&'a str>,
}

impl<'a> Page<'a> {
    /// The page of a request: the host from the `Host` header (or the URI), the path
    /// and query as the client sent them (axum's `OriginalUri` when a router nested
    /// the route).
    pub(crate) fn of(parts: &'a Parts) -> Self {
        #[cfg(feature = "axum")]
        let uri = match parts.extensions.get::<axum::extract::OriginalUri>() {
            Some(original) => &original.0,
            None => &parts.uri,
        };
        #[cfg(not(feature = "axum"))]
        let uri = &parts.uri;
        Self {
            url: Some(Url {
                host: None,
                path: uri.path(),
                query: uri.query(),
            }),
            parts,
        }
    }

    /// A token request that names no page (no Referer): only its headers and
    /// extensions.
    pub(crate) fn unnamed(parts: &'a Parts) -> Self {
        Self { url: None, parts }
    }

    /// The page named by a token request's `Referer`: an absolute `http` or `https` URL
    /// (RFC 3986's characters, a host, an optional port) of at most
    /// [`MAX_REFERER_BYTES`], read without copying it.
    ///
    /// Not `http::Uri`: it parses from owned bytes, so the header would be copied, one
    /// allocation more on every token request (`tests/allocations.rs` holds the
    /// endpoint at 3), and it takes characters RFC 3986 does not (`{`, `}` and `|` in
    /// a path or a query).
    pub(crate) fn referer(referer: &'a HeaderValue, parts: &'a Parts) -> Result<Self, Rejection> {
        let invalid = |why: &str| Rejection::bad_request("invalid_referer", format!("the Referer header {why}"));
        if referer.len() > MAX_REFERER_BYTES {
            return Err(invalid("is too long"));
        }
        // ASCII, checked a word at a time (the URL's characters are checked below).
        if !referer.as_bytes().is_ascii() {
            return Err(invalid("is not ASCII"));
        }
        let url = std::str::from_utf8(referer.as_bytes()).map_err(|_| invalid("is not ASCII"))?;
        let scheme = |prefix: &str| {
            url.get(..prefix.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(prefix))
                .then(|| &url[prefix.len()..])
        };
        let Some(rest) = scheme("http://").or_else(|| scheme("https://")) else {
            return Err(invalid("is not an http or https URL"));
        };
        // One pass over the bytes: the authority, then the path, then the query, each
        // checked against its RFC 3986 characters; a fragment ends the URL.
        let bytes = rest.as_bytes();
        let (mut i, mut at) = (0, None);
        while i < bytes.len() && !matches!(bytes[i], b'/' | b'?' | b'#') {
            if bytes[i] == b'@' {
                at = Some(i);
            }
            i += 1;
        }
        // User information (`user@`) is not part of the host.
        let host = &rest[at.map_or(0, |at| at + 1)..i];
        if !is_host_and_port(host) {
            return Err(invalid("has no valid host"));
        }
        let path_start = i;
        while i < bytes.len() && CLASSES[usize::from(bytes[i])] & PATH != 0 {
            i += 1;
        }
        let path = &rest[path_start..i];
        let query = match bytes.get(i) {
            Some(b'?') => {
                let query_start = i + 1;
                i = query_start;
                while i < bytes.len() && CLASSES[usize::from(bytes[i])] & QUERY != 0 {
                    i += 1;
                }
                Some(&rest[query_start..i])
            }
            _ => None,
        };
        if !matches!(bytes.get(i), None | Some(b'#')) {
            return Err(invalid("has characters a URL cannot have (RFC 3986)"));
        }
        Ok(Self {
            url: Some(Url {
                host: Some(host),
                path: if path.is_empty() { "/" } else { path },
                query,
            }),
            parts,
        })
    }

    /// Whether the page has a URL (a token request without a Referer has none).
    pub(crate) fn has_url(&self) -> bool {
        self.url.is_some()
    }

    /// The host, port included when the page names one (`meet.example.com:8443`): the
    /// Referer's, or the request's own `Host` header (else its URI's authority).
    pub fn host(&self) -> Option<&'a str> {
        let url = self.url?;
        url.host.or_else(|| {
            let parts = self.parts;
            parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        })
    }

    /// The path, still percent-encoded (`/rooms/%E3%82%A4`); empty when the request
    /// names no page.
    pub fn path(&self) -> &'a str {
        self.url.map_or("", |url| url.path)
    }

    /// The query string, without `?`, still encoded.
    pub fn query(&self) -> Option<&'a str> {
        self.url.and_then(|url| url.query)
    }

    /// The request's headers (on a token request, the token request's own).
    pub fn headers(&self) -> &'a HeaderMap {
        &self.parts.headers
    }

    /// The request's extensions (on a token request, the token request's own).
    pub fn extensions(&self) -> &'a Extensions {
        &self.parts.extensions
    }
}

/// A registered name's character: RFC 3986's `unreserved`, `sub-delims` and `%` (its
/// escapes are checked when the room is decoded).
const HOST: u8 = 1;
/// A path's character: `pchar` (RFC 3986 section 3.3) or `/`.
const PATH: u8 = 2;
/// A query's character (section 3.4): `pchar`, `/` or `?`.
const QUERY: u8 = 4;

/// The classes of each byte, looked up in one load per byte.
static CLASSES: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
        let sub_delim = matches!(
            b,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
        );
        let name = unreserved || sub_delim || b == b'%';
        let pchar = name || b == b':' || b == b'@';
        table[i] = (if name { HOST } else { 0 })
            | (if pchar || b == b'/' { PATH } else { 0 })
            | (if pchar || b == b'/' || b == b'?' { QUERY } else { 0 });
        i += 1;
    }
    table
}

/// `host [":" port]` (RFC 3986 section 3.2.2): a registered name or IPv4 address, or an
/// IP literal in brackets, then an optional port of digits.
fn is_host_and_port(authority: &str) -> bool {
    let bytes = authority.as_bytes();
    // The host ends at `]` for an IP literal, else at the first `:`.
    let host_end = if bytes.first() == Some(&b'[') {
        match bytes.iter().position(|&b| b == b']') {
            Some(close)
                if close > 1
                    && bytes[1..close]
                        .iter()
                        .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.') =>
            {
                close + 1
            }
            _ => return false,
        }
    } else {
        let end = bytes.iter().position(|&b| b == b':').unwrap_or(bytes.len());
        if end == 0 || !bytes[..end].iter().all(|&b| CLASSES[usize::from(b)] & HOST != 0) {
            return false;
        }
        end
    };
    match &bytes[host_end..] {
        [] => true,
        [b':', digits @ ..] => digits.len() <= 5 && digits.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> Parts {
        http::Request::post("/getToken").body(()).unwrap().into_parts().0
    }

    /// The host, path and query a Referer names, or `None` for an invalid one.
    type Read<'a> = Option<(&'a str, &'a str, Option<&'a str>)>;

    #[test]
    fn a_referer_is_read_as_host_path_and_query() {
        let parts = parts();
        let rows: &[(&str, Read<'_>)] = &[
            (
                "https://meet.example.com/rooms/%E3%82%A4?x=1#top",
                Some(("meet.example.com", "/rooms/%E3%82%A4", Some("x=1"))),
            ),
            (
                "http://127.0.0.1:3000/rooms/r",
                Some(("127.0.0.1:3000", "/rooms/r", None)),
            ),
            ("HTTP://user:pw@host/", Some(("host", "/", None))),
            ("https://host", Some(("host", "/", None))),
            ("https://host?q", Some(("host", "/", Some("q")))),
            ("http://[::1]:3000/rooms/r", Some(("[::1]:3000", "/rooms/r", None))),
            ("https:///rooms/r", None),
            ("ftp://host/rooms/r", None),
            ("/rooms/r", None),
            ("null", None),
            ("http://[::1", None),
            ("http://[::1/rooms/x", None),
            ("http://a b/rooms/x", None),
            ("http://host:port/rooms/x", None),
            ("http://host/rooms/a b", None),
            ("http://host/rooms/{x}", None),
            ("http://host/rooms/x?a=<b>", None),
        ];
        for (referer, expected) in rows {
            let value = HeaderValue::from_str(referer).unwrap();
            let page = Page::referer(&value, &parts).ok();
            assert_eq!(
                page.map(|p| (p.host().unwrap(), p.path(), p.query())),
                *expected,
                "{referer}"
            );
        }
        let long = HeaderValue::from_str(&format!("https://h/{}", "a".repeat(MAX_REFERER_BYTES))).unwrap();
        assert_eq!(Page::referer(&long, &parts).unwrap_err().code(), "invalid_referer");
    }
}
