//! Path templates such as `/rooms/{room}`: checked once at start-up, matched against a
//! path without allocating.

use crate::error::ConfigError;

/// One segment of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// Matches itself only.
    Literal(Box<str>),
    /// Matches one segment; `true` for the parameter the template captures.
    Param(bool),
    /// Matches the rest of the path (last segment only); `true` when captured.
    Rest(bool),
}

/// A path template with the parameter it captures, e.g. `room` of `/rooms/{room}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PathTemplate {
    source: Box<str>,
    param: Box<str>,
    segments: Box<[Segment]>,
}

impl PathTemplate {
    /// Parses a template (`/`-separated segments, each a literal, `{name}` or, last,
    /// `{*name}`) that has the parameter `param`.
    pub(super) fn parse(template: &str, param: &str) -> Result<Self, ConfigError> {
        let bad = |reason: String| ConfigError::InvalidPathTemplate {
            template: template.to_owned(),
            reason,
        };
        let Some(body) = template.strip_prefix('/') else {
            return Err(bad("it must start with '/'".into()));
        };
        let count = body.split('/').count();
        let mut segments = Vec::with_capacity(count);
        let mut found = false;
        for (i, part) in body.split('/').enumerate() {
            let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => {
                    let (rest, name) = match name.strip_prefix('*') {
                        Some(name) => (true, name),
                        None => (false, name),
                    };
                    if name.is_empty() || name.contains(['{', '}', '*']) {
                        return Err(bad(format!("the parameter {part:?} has no valid name")));
                    }
                    if rest && i + 1 != count {
                        return Err(bad("{*name} must be the last segment".into()));
                    }
                    let captured = name == param;
                    if captured && found {
                        return Err(bad(format!("the parameter {{{param}}} appears twice")));
                    }
                    found |= captured;
                    if rest {
                        Segment::Rest(captured)
                    } else {
                        Segment::Param(captured)
                    }
                }
                None if part.contains(['{', '}']) => {
                    return Err(bad("a parameter must be a whole segment, like {room}".into()));
                }
                None => Segment::Literal(part.into()),
            };
            segments.push(segment);
        }
        if !found {
            return Err(bad(format!("it has no parameter {{{param}}}")));
        }
        Ok(Self {
            source: template.into(),
            param: param.into(),
            segments: segments.into(),
        })
    }

    /// The template text.
    pub(super) fn source(&self) -> &str {
        &self.source
    }

    /// The parameter it captures.
    pub(super) fn param(&self) -> &str {
        &self.param
    }

    /// The raw (still percent-encoded) value of the parameter when `path` matches.
    pub(super) fn capture<'a>(&self, path: &'a str) -> Option<&'a str> {
        let mut rest = path.strip_prefix('/')?;
        let mut captured = None;
        let last = self.segments.len() - 1;
        for (i, segment) in self.segments.iter().enumerate() {
            if let Segment::Rest(is_target) = segment {
                return if *is_target { Some(rest) } else { captured };
            }
            // The next segment, by a byte scan (paths are short; this beats a general
            // string searcher).
            let (piece, next) = match rest.bytes().position(|b| b == b'/') {
                Some(at) => (&rest[..at], Some(&rest[at + 1..])),
                None => (rest, None),
            };
            match segment {
                Segment::Literal(literal) if piece != &**literal => return None,
                Segment::Param(true) => captured = Some(piece),
                _ => {}
            }
            match (next, i == last) {
                (Some(next), false) => rest = next,
                (None, true) => return captured,
                // A path with more or fewer segments than the template.
                _ => return None,
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capture(template: &str, param: &str, path: &str) -> Option<String> {
        PathTemplate::parse(template, param)
            .unwrap()
            .capture(path)
            .map(str::to_owned)
    }

    /// Each row: template, parameter, path, and the value a reader of the template
    /// expects (written out by hand).
    #[test]
    fn templates_capture_exactly_one_segment_or_the_rest() {
        let rows: &[(&str, &str, &str, Option<&str>)] = &[
            ("/rooms/{room}", "room", "/rooms/standup", Some("standup")),
            ("/rooms/{room}", "room", "/rooms/%D0%B8%D0%BD", Some("%D0%B8%D0%BD")),
            ("/rooms/{room}", "room", "/rooms/", Some("")),
            ("/rooms/{room}", "room", "/rooms", None),
            ("/rooms/{room}", "room", "/rooms/a/b", None),
            ("/rooms/{room}", "room", "/rooms/a/", None),
            ("/rooms/{room}", "room", "/room/a", None),
            ("/rooms/{room}", "room", "rooms/a", None),
            ("/rooms/{room}", "room", "", None),
            ("/rooms/{room}/join", "room", "/rooms/r/join", Some("r")),
            ("/rooms/{room}/join", "room", "/rooms/join", None),
            ("/rooms/{room}/join", "room", "/rooms/r/join/", None),
            ("/rooms/{room}/", "room", "/rooms/r/", Some("r")),
            ("/rooms/{room}/", "room", "/rooms/r", None),
            ("/{room}", "room", "/r", Some("r")),
            ("/{room}", "room", "/", Some("")),
            ("/{room}", "room", "//", None),
            ("/t/{tenant}/rooms/{room}", "room", "/t/acme/rooms/x", Some("x")),
            ("/t/{tenant}/rooms/{room}", "tenant", "/t/acme/rooms/x", Some("acme")),
            ("/t/{tenant}/rooms/{room}", "room", "/t/acme/rooms", None),
            ("/t/{tenant}/rooms/{room}", "room", "/u/acme/rooms/x", None),
            ("/files/{*path}", "path", "/files/a/b%20c", Some("a/b%20c")),
            ("/files/{*path}", "path", "/files/", Some("")),
            ("/files/{*path}", "path", "/other/a", None),
            ("/x/{room}/{*rest}", "room", "/x/r/a/b", Some("r")),
        ];
        for (template, param, path, expected) in rows {
            assert_eq!(
                capture(template, param, path).as_deref(),
                *expected,
                "{template} {param} {path}"
            );
        }
    }

    #[test]
    fn bad_templates_fail_at_start_up_with_the_reason() {
        for (template, param, reason) in [
            ("rooms/{room}", "room", "must start with '/'"),
            ("/rooms/x{room}", "room", "whole segment"),
            ("/{*rest}/x", "rest", "last segment"),
            ("/{}", "room", "no valid name"),
            ("/rooms/{room}", "id", "no parameter {id}"),
            ("/{room}/{room}", "room", "appears twice"),
        ] {
            let err = PathTemplate::parse(template, param).unwrap_err().to_string();
            assert!(err.contains(reason), "{template}: {err}");
            assert!(err.contains(template), "{template}: {err}");
        }
    }
}
