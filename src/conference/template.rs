//! Path templates such as `/rooms/{room}`: checked once at start-up, matched against a
//! request path without allocating.

use std::borrow::Cow;

use crate::{
    encoding::percent_decode,
    error::ConfigError,
    id::{ConferenceId, IdError},
};

/// One segment of a template, borrowed from the template text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment<'a> {
    Literal(&'a str),
    Param(&'a str),
    Rest(&'a str),
}

impl<'a> Segment<'a> {
    fn classify(part: &'a str) -> Self {
        match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(name) => match name.strip_prefix('*') {
                Some(rest) => Segment::Rest(rest),
                None => Segment::Param(name),
            },
            None => Segment::Literal(part),
        }
    }
}

/// A path template such as `/rooms/{room}`, checked once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathTemplate {
    source: Box<str>,
}

impl PathTemplate {
    /// Parses a template: `/`-separated segments, each a literal, `{name}` or, last,
    /// `{*name}`.
    pub(crate) fn parse(template: &str) -> Result<Self, ConfigError> {
        let bad = |reason: &str| ConfigError::InvalidPathTemplate {
            template: template.to_owned(),
            reason: reason.to_owned(),
        };
        let Some(body) = template.strip_prefix('/') else {
            return Err(bad("it must start with '/'"));
        };
        let count = body.split('/').count();
        for (i, part) in body.split('/').enumerate() {
            match Segment::classify(part) {
                Segment::Rest(_) if i + 1 != count => return Err(bad("{*name} must be the last segment")),
                Segment::Param("") | Segment::Rest("") => return Err(bad("a parameter has no name")),
                Segment::Literal(literal) if literal.contains(['{', '}']) => {
                    return Err(bad("a parameter must be a whole segment, like {room}"));
                }
                _ => {}
            }
        }
        Ok(Self {
            source: template.into(),
        })
    }

    /// The template text.
    pub(super) fn source(&self) -> &str {
        &self.source
    }

    pub(super) fn params(&self) -> impl Iterator<Item = &str> {
        self.source[1..]
            .split('/')
            .filter_map(|part| match Segment::classify(part) {
                Segment::Param(name) | Segment::Rest(name) => Some(name),
                Segment::Literal(_) => None,
            })
    }

    /// Matches `path` and returns the percent-decoded value of `param`, `Ok(None)` if
    /// the path does not match or has no such parameter.
    #[cfg(test)]
    fn capture(&self, path: &str, param: &str) -> Result<Option<String>, IdError> {
        Ok(capture(&self.source, path, param)?.map(Cow::into_owned))
    }
}

/// Matches `path` against `template` (one checked by [`PathTemplate::parse`], or
/// axum's own `MatchedPath`) without allocating, and percent-decodes the captured value.
/// The `/`-separated segments of a path, by a plain byte scan (paths and templates are
/// short: this beats `str::split`'s general searcher on the hot path).
struct Segments<'a>(Option<&'a str>);

impl<'a> Iterator for Segments<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.0?;
        match rest.bytes().position(|b| b == b'/') {
            Some(at) => {
                self.0 = Some(&rest[at + 1..]);
                Some(&rest[..at])
            }
            None => {
                self.0 = None;
                Some(rest)
            }
        }
    }
}

pub(super) fn capture<'a>(template: &str, path: &'a str, param: &str) -> Result<Option<Cow<'a, str>>, IdError> {
    let (Some(template), Some(rest)) = (template.strip_prefix('/'), path.strip_prefix('/')) else {
        return Ok(None);
    };
    let mut pieces = Segments(Some(rest));
    let mut offset = 1; // byte offset in `path` of the next piece
    let mut found = None;
    for segment in Segments(Some(template)).map(Segment::classify) {
        if let Segment::Rest(name) = segment {
            if name == param {
                found = Some(path.get(offset..).unwrap_or(""));
            }
            return found.map(|raw| percent_decode(raw, ConferenceId::KIND)).transpose();
        }
        let Some(piece) = pieces.next() else { return Ok(None) };
        match segment {
            Segment::Literal(literal) if piece != literal => return Ok(None),
            Segment::Param(name) if name == param => found = Some(piece),
            _ => {}
        }
        offset += piece.len() + 1;
    }
    if pieces.next().is_some() {
        return Ok(None);
    }
    found.map(|raw| percent_decode(raw, ConferenceId::KIND)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConferenceIdSource;

    #[test]
    fn templates_capture_and_decode() {
        let t = PathTemplate::parse("/t/{tenant}/rooms/{room}").unwrap();
        assert_eq!(
            t.capture("/t/acme/rooms/%D0%B8%D0%BD", "room").unwrap().as_deref(),
            Some("ин")
        );
        assert_eq!(t.capture("/t/acme/rooms/x", "tenant").unwrap().as_deref(), Some("acme"));
        assert_eq!(t.capture("/t/acme/rooms", "room").unwrap(), None);
        assert_eq!(t.capture("/t/acme/rooms/x/extra", "room").unwrap(), None);
        assert_eq!(t.capture("/u/acme/rooms/x", "room").unwrap(), None);
        assert!(t.capture("/t/acme/rooms/%zz", "room").is_err());
        let rest = PathTemplate::parse("/files/{*path}").unwrap();
        assert_eq!(
            rest.capture("/files/a/b%20c", "path").unwrap().as_deref(),
            Some("a/b c")
        );
    }

    #[test]
    fn bad_templates_fail_at_start_up() {
        for t in ["rooms/{room}", "/rooms/x{room}", "/{*rest}/x", "/{}"] {
            assert!(PathTemplate::parse(t).is_err(), "{t}");
        }
        let err = ConferenceIdSource::path_template("/rooms/{room}", "id").unwrap_err();
        assert!(err.to_string().contains("no parameter {id}"), "{err}");
    }
}
