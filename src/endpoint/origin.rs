//! Cross-site token requests: a token request must come from the app's own pages.
//!
//! A `POST` with an empty, `text/plain` or form body is a "simple" request that any
//! other site can make from a victim's browser without a CORS preflight, with the
//! victim's cookies. The attacker cannot read the answer without CORS, but it could
//! still make the server sign and write audit events under the victim's userID, and it
//! would become token theft the day the app adds a permissive CORS policy. So the
//! endpoint refuses it with `403 cross_site_request`, by the algorithm of Go 1.25's
//! `CrossOriginProtection`, which `tower_http::csrf` implements too:
//!
//! 1. `Sec-Fetch-Site: same-origin` or `none` (every current browser sends it) passes;
//!    any other value (`cross-site`, `same-site`) is refused unless the `Origin` is
//!    one of the [trusted origins](super::TokenEndpoint::trusted_origin);
//! 2. without `Sec-Fetch-Site`, a request without `Origin` (curl, a server) passes;
//! 3. an `Origin` that is a trusted origin, byte for byte, passes;
//! 4. an `Origin` that is the request's own origin passes: its scheme, host and port
//!    are the request's; anything else (`null`, another site) is refused.
//!
//! Why not `tower_http::csrf` itself: its step 4 compares the `Origin`'s host and port
//! with the `Host` header and ignores the scheme (its source says so: "scheme-blind, so
//! an http→https mismatch can't be caught here — we fail open"), so
//! `Origin: https://example.com` passes a request that reached `http://example.com`, a
//! different origin (another port, too: 443 against 80). Here the scheme is compared:
//! the request's own when its URI carries one (HTTP/2, an absolute-form request), else
//! the one the pages are served with ([`TokenEndpoint::scheme`](super::TokenEndpoint::scheme)).

use http::{HeaderName, HeaderValue, header, request::Parts, uri::Scheme};

use crate::{error::ConfigError, rejection::Rejection};

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// Refuses a browser's cross-site or cross-origin request.
pub(super) fn check(parts: &Parts, trusted: &[HeaderValue], served: &Scheme) -> Result<(), Rejection> {
    let origin = parts.headers.get(header::ORIGIN).filter(|o| !o.is_empty());
    let is_trusted = || origin.is_some_and(|o| trusted.iter().any(|t| t.as_bytes() == o.as_bytes()));
    match parts.headers.get(SEC_FETCH_SITE).map(HeaderValue::as_bytes) {
        Some(b"same-origin" | b"none") => return Ok(()),
        None | Some(b"") => {}
        Some(_) if is_trusted() => return Ok(()),
        Some(_) => {
            return Err(Rejection::cross_site(
                "a token is only for the app's own pages, and this request comes from another origin \
                 (Sec-Fetch-Site is neither same-origin nor none); trust other origins with TokenEndpoint::trusted_origin",
            ));
        }
    }
    let Some(origin) = origin else { return Ok(()) };
    if is_trusted() || is_own(parts, origin, served) {
        return Ok(());
    }
    Err(Rejection::cross_site(
        "a token is only for the app's own pages, and this request's Origin is another origin (scheme, host and port); \
         trust other origins with TokenEndpoint::trusted_origin",
    ))
}

/// Whether `origin` (`scheme://host[:port]`) is the origin of the request: its scheme,
/// and its host and port as the `Host` header (or the URI) names them.
fn is_own(parts: &Parts, origin: &HeaderValue, served: &Scheme) -> bool {
    let Ok(origin) = origin.to_str() else { return false };
    let scheme = parts.uri.scheme().unwrap_or(served).as_str();
    let Some(authority) = origin
        .split_once("://")
        .filter(|(s, _)| s.eq_ignore_ascii_case(scheme))
        .map(|(_, a)| a)
    else {
        return false; // `null`, not a web origin, or another scheme
    };
    let own = parts
        .uri
        .authority()
        .map(|a| a.as_str())
        .or_else(|| parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()));
    let Some(own) = own else { return false };
    let default_port = if scheme.eq_ignore_ascii_case("https") {
        ":443"
    } else {
        ":80"
    };
    !authority.is_empty() && strip_port(authority, default_port).eq_ignore_ascii_case(strip_port(own, default_port))
}

/// `authority` without the scheme's default port.
fn strip_port<'a>(authority: &'a str, default_port: &str) -> &'a str {
    authority.strip_suffix(default_port).unwrap_or(authority)
}

/// Checks a trusted origin: `scheme://host[:port]` with scheme `http` or `https`, ASCII
/// (international names in punycode, as browsers send them), nothing after the port.
/// `null` is refused: it is the origin of sandboxed frames and `data:` pages, which any
/// site can make.
pub(super) fn trusted(origin: &str) -> Result<HeaderValue, ConfigError> {
    let bad = |reason: &str| ConfigError::InvalidValue {
        what: "trusted origin",
        value: origin.chars().take(128).collect(),
        reason: reason.to_owned(),
    };
    if origin.eq_ignore_ascii_case("null") {
        return Err(bad(
            "`null` is the origin of sandboxed frames and data: pages, which any site can make",
        ));
    }
    if !origin.is_ascii() {
        return Err(bad(
            "it must be ASCII: write an international domain in punycode (xn--...)",
        ));
    }
    let Some((scheme, authority)) = origin.split_once("://") else {
        return Err(bad("it must look like https://app.example.com"));
    };
    if scheme != "http" && scheme != "https" {
        return Err(bad(
            "its scheme must be http or https, in lower case, as browsers send it",
        ));
    }
    if authority.is_empty()
        || authority.contains(['/', '?', '#', '@'])
        || authority.bytes().any(|b| b.is_ascii_uppercase())
    {
        return Err(bad(
            "it must be scheme://host[:port] in lower case, as browsers send it, with nothing after the port",
        ));
    }
    authority
        .parse::<http::uri::Authority>()
        .map_err(|_| bad("its host and port do not parse"))?;
    HeaderValue::from_str(origin).map_err(|_| bad("it is not a valid header value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut request = http::Request::post(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    /// Each row: the request's headers, the scheme the pages are served with, and
    /// whether it passes, as the rules above say.
    #[test]
    fn the_rules_row_by_row() {
        let trusted = [HeaderValue::from_static("https://partner.example")];
        let https = Scheme::HTTPS;
        let http = Scheme::HTTP;
        type Row<'a> = (&'a [(&'a str, &'a str)], &'a Scheme, bool);
        let rows: &[Row<'_>] = &[
            // 1. Sec-Fetch-Site first.
            (&[("sec-fetch-site", "same-origin")], &https, true),
            (&[("sec-fetch-site", "none")], &https, true),
            (&[("sec-fetch-site", "cross-site")], &https, false),
            (&[("sec-fetch-site", "same-site")], &https, false),
            (
                &[("sec-fetch-site", "cross-site"), ("origin", "https://partner.example")],
                &https,
                true,
            ),
            // 2. No Origin: not a browser.
            (&[], &https, true),
            (&[("host", "app.example.com")], &http, true),
            // 3. and 4. The Origin.
            (
                &[("host", "app.example.com"), ("origin", "https://app.example.com")],
                &https,
                true,
            ),
            (
                &[("host", "app.example.com:443"), ("origin", "https://app.example.com")],
                &https,
                true,
            ),
            (
                &[("host", "App.Example.com"), ("origin", "https://app.example.com")],
                &https,
                true,
            ),
            (
                &[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000")],
                &http,
                true,
            ),
            (
                &[("host", "app.example.com"), ("origin", "https://partner.example")],
                &https,
                true,
            ),
            // The scheme is compared: an https page is another origin than an http server.
            (
                &[("host", "127.0.0.1:3000"), ("origin", "https://127.0.0.1:3000")],
                &http,
                false,
            ),
            (
                &[("host", "app.example.com"), ("origin", "http://app.example.com")],
                &https,
                false,
            ),
            (
                &[("host", "app.example.com"), ("origin", "https://app.example.com")],
                &http,
                false,
            ),
            (
                &[("host", "app.example.com"), ("origin", "https://evil.example")],
                &https,
                false,
            ),
            (&[("host", "app.example.com"), ("origin", "null")], &https, false),
            (
                &[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3001")],
                &http,
                false,
            ),
            (
                &[
                    ("host", "app.example.com"),
                    ("origin", "https://app.example.com.evil.example"),
                ],
                &https,
                false,
            ),
            (&[("origin", "https://app.example.com")], &https, false), // no Host to compare with
        ];
        for (headers, served, passes) in rows {
            assert_eq!(
                check(&parts("/getToken", headers), &trusted, served).is_ok(),
                *passes,
                "{headers:?} served over {served}"
            );
        }
        // A URI with a scheme (HTTP/2) speaks for itself.
        let h2 = parts(
            "https://app.example.com/getToken",
            &[("origin", "https://app.example.com")],
        );
        assert!(check(&h2, &[], &Scheme::HTTP).is_ok());
        let h2 = parts(
            "http://app.example.com/getToken",
            &[("origin", "https://app.example.com")],
        );
        assert!(check(&h2, &[], &Scheme::HTTPS).is_err());
    }

    #[test]
    fn trusted_origins_are_checked_at_start_up() {
        for good in [
            "https://app.example.com",
            "http://127.0.0.1:3000",
            "https://xn--bcher-kva.example",
        ] {
            assert_eq!(trusted(good).unwrap(), good);
        }
        for (bad, reason) in [
            ("null", "sandboxed"),
            ("NULL", "sandboxed"),
            ("app.example.com", "https://app.example.com"),
            ("ftp://app.example.com", "http or https"),
            ("HTTPS://app.example.com", "http or https"),
            ("https://app.example.com/", "nothing after the port"),
            ("https://app.example.com?x", "nothing after the port"),
            ("https://App.example.com", "lower case"),
            ("https://user@app.example.com", "nothing after the port"),
            ("https://bücher.example", "punycode"),
            ("https://", "lower case"),
        ] {
            let err = trusted(bad).unwrap_err().to_string();
            assert!(err.contains(reason), "{bad}: {err}");
        }
    }
}
