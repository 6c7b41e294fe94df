//! Cross-site requests: a token request must come from the app's own pages.
//!
//! A `POST` with an empty, `text/plain` or form body is a "simple" request that any
//! other site can make from a victim's browser without a CORS preflight, with the
//! victim's cookies. The attacker cannot read the answer without CORS, but it could
//! still make the server sign and write audit events under the victim's userID, and it
//! would become token theft the day the app adds a permissive CORS policy. So the
//! endpoint refuses, with `403 {"code": "cross_site_request"}`:
//!
//! - `Sec-Fetch-Site: cross-site` (every current browser sends it), and
//! - an `Origin` that is neither the request's own (scheme aside, its host and port
//!   equal the `Host` header) nor one of the configured
//!   [`allowed_origins`](super::TokenEndpoint::allowed_origins); `Origin: null` (a
//!   sandboxed frame, a `data:` page) is never the app's own.
//!
//! A request with neither header (curl, a server) is not a browser's cross-site
//! request and passes. callstats.js' `tokenGenerator` on the app's own page sends
//! `Sec-Fetch-Site: same-origin` and its own `Origin`, and passes.

use http::{HeaderName, HeaderValue, header, request::Parts};

use crate::rejection::Rejection;

const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// Refuses a browser's cross-site or cross-origin request.
pub(super) fn check(parts: &Parts, allowed: &[HeaderValue]) -> Result<(), Rejection> {
    if parts
        .headers
        .get(SEC_FETCH_SITE)
        .is_some_and(|site| site.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return Err(Rejection::cross_site(
            "a token is only for the app's own pages, and this request comes from another site (Sec-Fetch-Site: cross-site)",
        ));
    }
    let Some(origin) = parts.headers.get(header::ORIGIN) else {
        return Ok(());
    };
    if allowed
        .iter()
        .any(|a| a.as_bytes().eq_ignore_ascii_case(origin.as_bytes()))
        || is_own(parts, origin)
    {
        return Ok(());
    }
    Err(Rejection::cross_site(
        "a token is only for the app's own pages, and this request's Origin is another site's; \
         list extra origins with TokenEndpoint::allowed_origins",
    ))
}

/// Whether `origin` (`scheme://host[:port]`) names the host and port the request was
/// sent to.
fn is_own(parts: &Parts, origin: &HeaderValue) -> bool {
    let Ok(origin) = origin.to_str() else { return false };
    let (scheme, origin_authority) = match origin.split_once("://") {
        Some(("http", rest)) => ("http", rest),
        Some(("https", rest)) => ("https", rest),
        _ => return false, // `null`, or not a web origin
    };
    let own = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()));
    let Some(own) = own else { return false };
    let without_default_port = |authority: &'_ str| -> String {
        let default = if scheme == "https" { ":443" } else { ":80" };
        authority
            .strip_suffix(default)
            .unwrap_or(authority)
            .to_ascii_lowercase()
    };
    !origin_authority.is_empty() && without_default_port(origin_authority) == without_default_port(own)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(headers: &[(&str, &str)]) -> Parts {
        let mut request = http::Request::post("/getToken");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn same_origin_and_non_browser_requests_pass() {
        let allowed = [];
        for headers in [
            &[][..],
            &[
                ("host", "app.example.com"),
                ("origin", "https://app.example.com"),
                ("sec-fetch-site", "same-origin"),
            ],
            &[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3000")],
            &[("host", "App.Example.com:443"), ("origin", "https://app.example.com")],
            &[("sec-fetch-site", "none")],
        ] {
            assert!(check(&parts(headers), &allowed).is_ok(), "{headers:?}");
        }
    }

    #[test]
    fn cross_site_and_foreign_origins_are_refused() {
        let allowed = [HeaderValue::from_static("https://partner.example")];
        for headers in [
            &[("sec-fetch-site", "cross-site")][..],
            &[("host", "app.example.com"), ("origin", "https://evil.example")],
            &[("host", "app.example.com"), ("origin", "null")],
            &[("host", "127.0.0.1:3000"), ("origin", "http://127.0.0.1:3001")],
            &[
                ("host", "app.example.com"),
                ("origin", "https://app.example.com.evil.example"),
            ],
            &[("origin", "https://app.example.com")], // no Host to compare with
        ] {
            assert!(check(&parts(headers), &allowed).is_err(), "{headers:?}");
        }
        let partner = parts(&[("host", "app.example.com"), ("origin", "https://partner.example")]);
        assert!(check(&partner, &allowed).is_ok());
    }
}
