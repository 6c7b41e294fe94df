//! What a token request says: the body (JSON or a form, bounded) and the `Referer`.

use std::borrow::Cow;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderValue, Request, StatusCode, header, request::Parts};
use http_body::Body;
use http_body_util::{BodyExt, Limited};

use super::MAX_REFERER_BYTES;
use crate::{encoding::form_decode, encoding::form_pairs, id::ConferenceId, rejection::Rejection};

/// What the body may say. Everything else in it is ignored: the identity only ever
/// comes from the session.
#[derive(Debug, Default, PartialEq)]
pub(super) struct TokenRequest<'a> {
    pub(super) conference_id: Option<Cow<'a, str>>,
    pub(super) force_new: bool,
}

#[derive(Debug, Default, serde::Deserialize)]
struct JsonTokenRequest<'a> {
    #[serde(rename = "conferenceID", default, borrow, deserialize_with = "borrowed")]
    conference_id: Option<Cow<'a, str>>,
    #[serde(rename = "forceNew", alias = "forcenew", default)]
    force_new: Option<bool>,
}

/// An optional string that borrows from the body unless it has escapes (serde borrows a
/// `Cow<str>` only when it is the field's whole type, not inside an `Option`).
fn borrowed<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    #[derive(serde::Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(<Option<Borrowed<'de>> as serde::Deserialize>::deserialize(d)?.map(|Borrowed(value)| value))
}

/// Reads at most `limit` bytes of body.
pub(super) async fn read_body<B>(parts: &Parts, body: B, limit: usize) -> Result<Bytes, Rejection>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let too_large = || {
        Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("the body is larger than {limit} bytes; a token request needs only conferenceID and forceNew"),
        )
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    // A token request is one small frame: keep it as it came, and copy only when the
    // body arrives in several.
    let unreadable = || Rejection::bad_request("body_unreadable", "the request body could not be read");
    let mut body = std::pin::pin!(Limited::new(body, limit));
    let mut first: Option<Bytes> = None;
    let mut more: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let frame = match frame {
            Ok(frame) => frame,
            Err(error) if error.is::<http_body_util::LengthLimitError>() => return Err(too_large()),
            Err(_) => return Err(unreadable()),
        };
        let Ok(mut data) = frame.into_data() else { continue }; // trailers
        let chunk = data.copy_to_bytes(data.remaining());
        match (&mut first, &mut more) {
            (None, _) => first = Some(chunk),
            (Some(first), None) => {
                let mut joined = BytesMut::with_capacity(first.len() + chunk.len());
                joined.extend_from_slice(first);
                joined.extend_from_slice(&chunk);
                more = Some(joined);
            }
            (Some(_), Some(joined)) => joined.extend_from_slice(&chunk),
        }
    }
    Ok(match more {
        Some(joined) => joined.freeze(),
        None => first.unwrap_or_default(),
    })
}

/// Parses a body by its content type. An empty body asks for nothing in particular.
pub(super) fn parse<'a>(parts: &Parts, bytes: &'a [u8]) -> Result<TokenRequest<'a>, Rejection> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(TokenRequest::default());
    }
    // The media type, parameters (`; charset=utf-8`) aside, compared as bytes.
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .map_or(&b""[..], |v| v.as_bytes());
    let mime = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    match mime {
        _ if mime.eq_ignore_ascii_case(b"application/json") => parse_json(bytes),
        _ if mime.eq_ignore_ascii_case(b"application/x-www-form-urlencoded") => parse_form(bytes),
        _ => Err(Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json or application/x-www-form-urlencoded",
        )),
    }
}

fn parse_json(bytes: &[u8]) -> Result<TokenRequest<'_>, Rejection> {
    let parsed: JsonTokenRequest<'_> = serde_json::from_slice(bytes).map_err(|e| {
        Rejection::bad_request(
            "invalid_body",
            format!("the body is not a valid token request: {e}; send {{\"conferenceID\": \"...\"}}"),
        )
    })?;
    Ok(TokenRequest {
        conference_id: parsed.conference_id,
        force_new: parsed.force_new.unwrap_or(false),
    })
}

fn parse_form(bytes: &[u8]) -> Result<TokenRequest<'_>, Rejection> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| Rejection::bad_request("invalid_body", "the form body is not UTF-8"))?;
    let mut request = TokenRequest::default();
    for (key, value) in form_pairs(text) {
        let key = form_decode(key, "form field").map_err(|e| Rejection::bad_request("invalid_body", e.to_string()))?;
        match &*key {
            "conferenceID" => {
                if request.conference_id.is_some() {
                    return Err(Rejection::bad_request("invalid_body", "conferenceID is given twice"));
                }
                let value = form_decode(value, ConferenceId::KIND)
                    .map_err(|e| Rejection::bad_request("invalid_conference_id", e.to_string()))?;
                request.conference_id = Some(value);
            }
            "forceNew" | "forcenew" => {
                request.force_new = match value {
                    "true" | "1" => true,
                    "false" | "0" | "" => false,
                    _ => return Err(Rejection::bad_request("invalid_body", "forceNew must be true or false")),
                }
            }
            _ => {}
        }
    }
    Ok(request)
}

/// The `Referer` URL as a request head, so that any
/// [`ConferenceIdSource`](crate::ConferenceIdSource) reads it.
pub(super) fn referer_as_request(referer: &HeaderValue) -> Result<Parts, Rejection> {
    let invalid = |why: &str| Rejection::bad_request("invalid_referer", format!("the Referer header {why}"));
    if referer.len() > MAX_REFERER_BYTES {
        return Err(invalid("is too long"));
    }
    let uri: http::Uri = referer
        .to_str()
        .map_err(|_| invalid("is not ASCII"))?
        .parse()
        .map_err(|_| invalid("is not a URL"))?;
    // The page's authority, port included (`127.0.0.1:3000`), as the page's own request
    // had it in its Host header; user information (`user@`) is not part of it.
    let authority = uri.authority().ok_or_else(|| invalid("has no host"))?.as_str();
    let host = authority.rsplit('@').next().unwrap_or(authority).to_owned();
    let (mut parts, ()) = Request::get(uri)
        .body(())
        .map_err(|_| invalid("is not a URL"))?
        .into_parts();
    parts.headers.insert(
        header::HOST,
        HeaderValue::try_from(host).map_err(|_| invalid("has an invalid host"))?,
    );
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_like_browsers_send_them() {
        let parsed = parse_form(b"conferenceID=%E3%82%A4+1&forceNew=true&userID=mallory").unwrap();
        assert_eq!(
            parsed,
            TokenRequest {
                conference_id: Some("イ 1".into()),
                force_new: true
            }
        );
        assert!(parse_form(b"conferenceID=a&conferenceID=b").is_err());
        assert!(parse_form(b"forceNew=maybe").is_err());
        assert!(parse_form(b"conferenceID=%zz").is_err());
    }

    #[test]
    fn json_ignores_what_it_does_not_read() {
        let parsed = parse_json(br#"{"conferenceID":"r","forcenew":true,"userID":"mallory"}"#).unwrap();
        assert_eq!(parsed.conference_id.as_deref(), Some("r"));
        assert!(parsed.force_new);
        assert!(parse_json(br#"{"conferenceID": 7}"#).is_err());
    }
}
