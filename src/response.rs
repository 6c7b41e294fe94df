//! The response pieces that the layer, the token endpoint, the JWKS service and the
//! rejections share: JSON bodies, `Cache-Control: no-store`, `Vary`, and header values
//! that share memory with the string they carry.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Response, StatusCode, header};

/// The bytes of a shared string, so that a header value can point at them.
struct SharedStr(Arc<str>);

impl AsRef<[u8]> for SharedStr {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// `value` as a header value that shares the string's memory instead of copying it.
/// The caller guarantees visible ASCII (a JWT, a percent-encoded ID); anything else
/// gives an empty value rather than a panic.
pub(crate) fn shared_header_value(value: Arc<str>) -> HeaderValue {
    HeaderValue::from_maybe_shared(Bytes::from_owner(SharedStr(value))).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `Cache-Control: no-store`: a response that carries a token or a refusal must not be
/// kept by a browser or a shared cache.
pub(crate) fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Whether the app already keeps the response out of shared caches (`private` or
/// `no-store` in `Cache-Control`).
pub(crate) fn is_private(headers: &HeaderMap) -> bool {
    headers.get_all(header::CACHE_CONTROL).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',').any(|d| {
                let d = d.trim();
                d.eq_ignore_ascii_case("no-store") || d.eq_ignore_ascii_case("private")
            })
        })
    })
}

/// Adds `vary` (the request headers that selected the user) to the response's `Vary`.
pub(crate) fn vary(headers: &mut HeaderMap, vary: Option<&HeaderValue>) {
    if let Some(vary) = vary {
        headers.append(header::VARY, vary.clone());
    }
}

/// A JSON response with `no-store`.
pub(crate) fn json(status: StatusCode, body: impl Into<Bytes>) -> Response<Bytes> {
    let mut response = Response::new(body.into());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    no_store(headers);
    response
}
