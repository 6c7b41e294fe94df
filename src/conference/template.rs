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

/// The common template, with one parameter and that a single segment
/// (`/prefix/{param}/suffix`): the path matches when it starts with the prefix, ends with
/// the suffix and has one segment between them, which is the value. `None` for any
/// other template (the general matcher takes it); `Some(None)` when the path does not
/// match or the parameter has another name, as the general matcher would answer.
fn capture_single<'a>(template: &str, path: &'a str, param: &str) -> Option<Option<&'a str>> {
    // Byte scans: `str::find` with a char pattern is a general searcher, slow on the hot
    // path for strings this short.
    let bytes = template.as_bytes();
    let open = bytes.iter().position(|&b| b == b'{')?;
    let close = open + bytes[open..].iter().position(|&b| b == b'}')?;
    let (prefix, name, suffix) = (&template[..open], &template[open + 1..close], &template[close + 1..]);
    let whole_segment = prefix.ends_with('/') && (suffix.is_empty() || suffix.starts_with('/'));
    let braces = |s: &str| s.bytes().any(|b| b == b'{' || b == b'}');
    if !whole_segment || braces(suffix) || braces(name) || name.starts_with('*') {
        return None;
    }
    if name != param || path.len() < prefix.len() + suffix.len() {
        return Some(None);
    }
    let value = path
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(suffix))
        .filter(|value| !value.as_bytes().contains(&b'/'));
    Some(value)
}

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

/// Matches `path` against `template` (one checked by [`PathTemplate::parse`], or
/// axum's own `MatchedPath`) without allocating, and percent-decodes the captured value.
pub(super) fn capture<'a>(template: &str, path: &'a str, param: &str) -> Result<Option<Cow<'a, str>>, IdError> {
    let raw = match capture_single(template, path, param) {
        Some(raw) => raw,
        None => capture_segments(template, path, param),
    };
    raw.map(|raw| percent_decode(raw, ConferenceId::KIND)).transpose()
}

/// The general matcher, segment by segment.
fn capture_segments<'a>(template: &str, path: &'a str, param: &str) -> Option<&'a str> {
    let (Some(template), Some(rest)) = (template.strip_prefix('/'), path.strip_prefix('/')) else {
        return None;
    };
    let mut pieces = Segments(Some(rest));
    let mut offset = 1; // byte offset in `path` of the next piece
    let mut found = None;
    for segment in Segments(Some(template)).map(Segment::classify) {
        if let Segment::Rest(name) = segment {
            if name == param {
                found = Some(path.get(offset..).unwrap_or(""));
            }
            return found;
        }
        let piece = pieces.next()?;
        match segment {
            Segment::Literal(literal) if piece != literal => return None,
            Segment::Param(name) if name == param => found = Some(piece),
            _ => {}
        }
        offset += piece.len() + 1;
    }
    if pieces.next().is_some() {
        return None;
    }
    found
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

    /// The one-parameter fast path answers exactly what the segment-by-segment matcher
    /// answers, on templates and paths built to disagree if anything is off by one.
    #[test]
    fn the_single_parameter_fast_path_agrees_with_the_general_matcher() {
        let templates = [
            "/{room}",
            "/rooms/{room}",
            "/rooms/{room}/",
            "/rooms/{room}/join",
            "/a/b/{room}/c/d",
            "/rooms/{other}",
            "/rooms/{room}/{room}",
        ];
        let paths = [
            "/",
            "//",
            "/r",
            "/rooms",
            "/rooms/",
            "/rooms/r",
            "/rooms/r/",
            "/rooms//",
            "/rooms/r/join",
            "/rooms/join",
            "/rooms/r/join/",
            "/rooms/a/b",
            "/a/b/r/c/d",
            "/a/b//c/d",
            "/a/b/c/d",
            "/a/b/r/c/d/e",
            "/rooms/r/r",
            "/rooms/xr",
            "rooms/r",
            "",
            "/rooms/%41",
            "/a/b/c/d/c/d",
        ];
        let mut compared = 0;
        for template in templates {
            for path in paths {
                if let Some(fast) = capture_single(template, path, "room") {
                    assert_eq!(fast, capture_segments(template, path, "room"), "{template} {path}");
                    compared += 1;
                }
            }
        }
        // Every template above but the two-parameter one takes the fast path.
        assert_eq!(compared, 6 * paths.len());
        assert_eq!(
            capture_single("/rooms/{room}", "/rooms/r%2F1", "room"),
            Some(Some("r%2F1"))
        );
        assert_eq!(capture_single("/rooms/{room}/join", "/rooms/join", "room"), Some(None));
        for general in [
            "/files/{*room}",
            "/t/{tenant}/rooms/{room}",
            "/rooms/x{room}",
            "/rooms/{room}x",
            "/x",
        ] {
            assert!(capture_single(general, "/", "room").is_none(), "{general}");
        }
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
