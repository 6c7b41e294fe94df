//! What a token request's body says (JSON or a form, bounded).

use std::borrow::Cow;

use bytes::{Buf, Bytes, BytesMut};
use http::{StatusCode, header, request::Parts};
use http_body::Body;
use http_body_util::{BodyExt, Limited};

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
/// `conferenceID` is read only when `read_conference` is set (the app allows the body to
/// name the room); otherwise it is ignored like any other field.
pub(super) fn parse<'a>(parts: &Parts, bytes: &'a [u8], read_conference: bool) -> Result<TokenRequest<'a>, Rejection> {
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
        _ if mime.eq_ignore_ascii_case(b"application/json") => parse_json(bytes, read_conference),
        _ if mime.eq_ignore_ascii_case(b"application/x-www-form-urlencoded") => parse_form(bytes, read_conference),
        _ => Err(Rejection::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json or application/x-www-form-urlencoded",
        )),
    }
}

/// The body without the `conferenceID` the app does not read.
#[derive(Debug, Default, serde::Deserialize)]
struct JsonForceNew {
    #[serde(rename = "forceNew", alias = "forcenew", default)]
    force_new: Option<bool>,
}

fn parse_json(bytes: &[u8], read_conference: bool) -> Result<TokenRequest<'_>, Rejection> {
    let invalid = |e: serde_json::Error| {
        let example = if read_conference {
            r#"{"conferenceID": "...", "forceNew": false}"#
        } else {
            r#"{"forceNew": false}"#
        };
        Rejection::bad_request(
            "invalid_body",
            format!("the body is not a valid token request: {e}; send {example}"),
        )
    };
    if !read_conference {
        let parsed: JsonForceNew = serde_json::from_slice(bytes).map_err(invalid)?;
        return Ok(TokenRequest {
            conference_id: None,
            force_new: parsed.force_new.unwrap_or(false),
        });
    }
    let parsed: JsonTokenRequest<'_> = serde_json::from_slice(bytes).map_err(invalid)?;
    Ok(TokenRequest {
        conference_id: parsed.conference_id,
        force_new: parsed.force_new.unwrap_or(false),
    })
}

fn parse_form(bytes: &[u8], read_conference: bool) -> Result<TokenRequest<'_>, Rejection> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| Rejection::bad_request("invalid_body", "the form body is not UTF-8"))?;
    let mut request = TokenRequest::default();
    for (key, value) in form_pairs(text) {
        let key = form_decode(key, "form field").map_err(|e| Rejection::bad_request("invalid_body", e.to_string()))?;
        match &*key {
            "conferenceID" if read_conference => {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_like_browsers_send_them() {
        let parsed = parse_form(b"conferenceID=%E3%82%A4+1&forceNew=true&userID=mallory", true).unwrap();
        assert_eq!(
            parsed,
            TokenRequest {
                conference_id: Some("イ 1".into()),
                force_new: true
            }
        );
        assert!(parse_form(b"conferenceID=a&conferenceID=b", true).is_err());
        assert!(parse_form(b"forceNew=maybe", true).is_err());
        assert!(parse_form(b"conferenceID=%zz", true).is_err());
        // Not read, so not checked: the app did not ask for the body's room.
        assert_eq!(
            parse_form(b"conferenceID=%zz&conferenceID=b", false).unwrap(),
            TokenRequest::default()
        );
    }

    #[test]
    fn json_ignores_what_it_does_not_read() {
        let parsed = parse_json(br#"{"conferenceID":"r","forcenew":true,"userID":"mallory"}"#, true).unwrap();
        assert_eq!(parsed.conference_id.as_deref(), Some("r"));
        assert!(parsed.force_new);
        assert!(parse_json(br#"{"conferenceID": 7}"#, true).is_err());
        let ignored = parse_json(br#"{"conferenceID": 7, "forceNew": true}"#, false).unwrap();
        assert_eq!((ignored.conference_id, ignored.force_new), (None, true));
    }
}
