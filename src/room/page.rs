//! [`Page`]: the page a room is read from.

use http::{Extensions, HeaderMap, HeaderValue, header, request::Parts};

use crate::rejection::Rejection;

/// The longest `Referer` the token endpoint reads, in bytes.
pub const MAX_REFERER_BYTES: usize = 4096;

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
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()));
        Self {
            url: Some(Url {
                host,
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
    pub(crate) fn referer(referer: &'a HeaderValue, parts: &'a Parts) -> Result<Self, Rejection> {
        let invalid = |why: &str| Rejection::bad_request("invalid_referer", format!("the Referer header {why}"));
        if referer.len() > MAX_REFERER_BYTES {
            return Err(invalid("is too long"));
        }
        let url = referer.to_str().map_err(|_| invalid("is not ASCII"))?;
        let scheme = |prefix: &str| {
            url.get(..prefix.len())
                .is_some_and(|s| s.eq_ignore_ascii_case(prefix))
                .then(|| &url[prefix.len()..])
        };
        let Some(rest) = scheme("http://").or_else(|| scheme("https://")) else {
            return Err(invalid("is not an http or https URL"));
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        // User information (`user@`) is not part of the host.
        let host = authority.rsplit('@').next().unwrap_or(authority);
        if !is_host_and_port(host) {
            return Err(invalid("has no valid host"));
        }
        let rest = &rest[authority_end..];
        let rest = rest.split('#').next().unwrap_or(rest);
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        if !path.bytes().all(|b| is_pchar(b) || b == b'/') || !query.unwrap_or("").bytes().all(is_query_char) {
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

    /// The host, port included when the page names one (`meet.example.com:8443`).
    pub fn host(&self) -> Option<&'a str> {
        self.url.and_then(|url| url.host)
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

/// RFC 3986's `unreserved` and `sub-delims`, and `%` (its escapes are checked when the
/// room is decoded).
fn is_unreserved_or_sub_delim(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b)
}

/// A path character (`pchar`, RFC 3986 section 3.3).
fn is_pchar(b: u8) -> bool {
    is_unreserved_or_sub_delim(b) || b == b':' || b == b'@'
}

/// A query character (RFC 3986 section 3.4).
fn is_query_char(b: u8) -> bool {
    is_pchar(b) || b == b'/' || b == b'?'
}

/// `host [":" port]` (RFC 3986 section 3.2.2): a registered name or IPv4 address, or an
/// IP literal in brackets, then an optional port of digits.
fn is_host_and_port(authority: &str) -> bool {
    let (host, port) = match authority.strip_prefix('[') {
        Some(literal) => match literal.split_once(']') {
            Some((ip, port))
                if !ip.is_empty() && ip.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.') =>
            {
                (ip, port)
            }
            _ => return false,
        },
        None => match authority.split_once(':') {
            Some((host, _)) => (host, &authority[host.len()..]),
            None => (authority, ""),
        },
    };
    let port_ok = match port.strip_prefix(':') {
        Some(digits) => digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit()),
        None => port.is_empty(),
    };
    !host.is_empty()
        && port_ok
        && (authority.starts_with('[')
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b)))
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
