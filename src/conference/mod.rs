//! Where the conferenceID comes from.
//!
//! | source | conferenceID |
//! | --- | --- |
//! | [`route_param`](ConferenceIdSource::route_param) | an axum route parameter, e.g. `room` in `/rooms/{room}` (use `route_layer`) |
//! | [`path_template`](ConferenceIdSource::path_template) | the same for plain hyper: a template matched against the path |
//! | [`url`](ConferenceIdSource::url) | host + path, e.g. `www.example.com/rooms/42` (the host from the `Host` header) |
//! | [`url_at`](ConferenceIdSource::url_at) | the same with a configured host |
//! | [`query`](ConferenceIdSource::query) | a query parameter |
//! | [`header`](ConferenceIdSource::header) | a request header (percent-encoded UTF-8) |
//! | [`generated`](ConferenceIdSource::generated) | Unix milliseconds + 64 random bits, new on every request |
//! | [`sha1`](ConferenceIdSource::sha1) | lowercase hex SHA1 of any of these |
//! | [`custom`](ConferenceIdSource::custom) | whatever the closure returns |
//!
//! Values taken from the URL or a header are percent-decoded strictly (a `%` must
//! start a valid escape) and must be UTF-8 after decoding; then the identifier rules
//! apply (1 to 256 bytes, no control characters).
//!
//! ```
//! use http::Request;
//! use tower_callstats::ConferenceIdSource;
//!
//! let (parts, _) = Request::get("https://meet.example.com/rooms/%E3%82%A4%E3%83%B3?x=1").body(()).unwrap().into_parts();
//!
//! let source = ConferenceIdSource::path_template("/rooms/{room}", "room").unwrap();
//! assert_eq!(source.extract(&parts).unwrap().as_str(), "イン");
//!
//! assert_eq!(ConferenceIdSource::url().extract(&parts).unwrap().as_str(), "meet.example.com/rooms/イン");
//!
//! let hashed = ConferenceIdSource::sha1(ConferenceIdSource::url()).extract(&parts).unwrap();
//! assert_eq!(hashed.len(), 40);
//! ```

use std::{borrow::Cow, fmt, future::Future, pin::Pin, sync::Arc, time::SystemTime};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use http::{HeaderName, request::Parts, uri::Authority};
use sha1::{Digest, Sha1};

mod template;

use template::{PathTemplate, capture};

use crate::{
    calls::{ActiveCall, Join, PerCall, RegistryError},
    encoding::{form_decode, form_pairs, hex, percent_decode},
    error::ConfigError,
    id::{ConferenceId, IdError},
};

type CustomFn = dyn Fn(&Parts) -> Result<Option<ConferenceId>, IdError> + Send + Sync;

#[derive(Clone)]
enum Kind {
    #[cfg(feature = "axum")]
    RouteParam(Arc<str>),
    Template(Arc<PathTemplate>, Arc<str>),
    Url(Option<Authority>),
    Query(Arc<str>),
    Header(HeaderName),
    Generated,
    Sha1(Box<Kind>),
    Custom(Arc<CustomFn>),
}

/// Where the conferenceID of a request comes from. See the [module docs](self).
#[derive(Clone)]
pub struct ConferenceIdSource {
    kind: Kind,
    /// One conferenceID per call: what `kind` yields is the room key.
    per_call: Option<PerCall>,
}

/// A conferenceID, with the start of its call when a per-call source made it.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub(crate) id: ConferenceId,
    pub(crate) call_started_at: Option<u64>,
}

/// A conferenceID now, or after the call registry answers.
pub(crate) enum Resolution {
    Ready(Result<Resolved, ConferenceError>),
    Pending(Pin<Box<dyn Future<Output = Result<Resolved, ConferenceError>> + Send + 'static>>),
}

/// Why no conferenceID could be taken from a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConferenceError {
    /// The request does not carry it (no such parameter, header, ...).
    #[error("the request has no conferenceID: {0}")]
    Missing(String),
    /// It is there but invalid.
    #[error(transparent)]
    Invalid(#[from] IdError),
    /// [`ConferenceIdSource::route_param`] was used where axum has not matched a
    /// route yet (a `Router::layer` instead of `route_layer`). A server-side mistake.
    #[error(
        "route_param({0:?}) needs axum's MatchedPath: add the layer with Router::route_layer, not Router::layer, or use path_template"
    )]
    NoMatchedPath(String),
    /// The call registry of a [`per_call`](ConferenceIdSource::per_call) source failed,
    /// and its policy is [`FailurePolicy::Fail`](crate::calls::FailurePolicy::Fail)
    /// (the request gets `503` with the code `call_registry_unavailable`).
    #[error("the call registry is unavailable: {0}")]
    Registry(RegistryError),
    /// [`extract`](ConferenceIdSource::extract) was asked for a per-call conferenceID
    /// that only the registry's I/O can give: use [`resolve`](ConferenceIdSource::resolve).
    #[error("this per-call conferenceID needs the call registry's answer: use ConferenceIdSource::resolve")]
    WouldWait,
}

impl ConferenceError {
    /// Whether this is the server's fault (a misconfiguration) rather than the
    /// request's.
    pub fn is_server_error(&self) -> bool {
        matches!(self, ConferenceError::NoMatchedPath(_))
    }
}

impl fmt::Debug for ConferenceIdSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn describe(kind: &Kind) -> String {
            match kind {
                #[cfg(feature = "axum")]
                Kind::RouteParam(name) => format!("route_param({name:?})"),
                Kind::Template(t, name) => format!("path_template({:?}, {name:?})", t.source()),
                Kind::Url(None) => "url".into(),
                Kind::Url(Some(authority)) => format!("url_at({:?})", authority.as_str()),
                Kind::Query(name) => format!("query({name:?})"),
                Kind::Header(name) => format!("header({name:?})"),
                Kind::Generated => "generated".into(),
                Kind::Sha1(inner) => format!("sha1({})", describe(inner)),
                Kind::Custom(_) => "custom".into(),
            }
        }
        match &self.per_call {
            None => f.write_str(&describe(&self.kind)),
            Some(calls) => write!(f, "per_call({}, {calls:?})", describe(&self.kind)),
        }
    }
}

impl ConferenceIdSource {
    /// An axum route parameter, e.g. `room` for the route `/rooms/{room}`. The layer
    /// must run after routing: add it with `Router::route_layer` (or on the
    /// `MethodRouter`), where axum's `MatchedPath` is known. Works in nested routers.
    #[cfg(feature = "axum")]
    pub fn route_param(name: impl Into<Arc<str>>) -> Self {
        Self::of(Kind::RouteParam(name.into()))
    }

    /// A parameter of a path template such as `/rooms/{room}` or `/t/{tenant}/c/{call}`,
    /// for plain hyper (or any router). `{*rest}` at the end matches the rest of the
    /// path. The template is checked here, at start-up.
    pub fn path_template(template: &str, param: &str) -> Result<Self, ConfigError> {
        let parsed = PathTemplate::parse(template)?;
        if !parsed.params().any(|p| p == param) {
            return Err(ConfigError::InvalidPathTemplate {
                template: template.to_owned(),
                reason: format!("it has no parameter {{{param}}}"),
            });
        }
        Ok(Self::of(Kind::Template(Arc::new(parsed), param.into())))
    }

    /// The page URL: host (from the `Host` header or the URI, port included when the
    /// request names one) and path, without scheme or query, percent-decoded:
    /// `www.example.com/rooms/42`.
    ///
    /// The `Host` header is the client's word. Behind a proxy that forwards only the
    /// app's own host names that is fine; where any client can reach the server with a
    /// Host of its choosing, use [`url_at`](Self::url_at), which names the authority
    /// itself, so that a client cannot move its call to another conferenceID.
    pub fn url() -> Self {
        Self::of(Kind::Url(None))
    }

    /// The page URL with a configured authority instead of the `Host` header:
    /// `url_at(Authority::from_static("meet.example.com"))` gives
    /// `meet.example.com/rooms/42` for `/rooms/42`, whatever Host the client sent.
    pub fn url_at(authority: Authority) -> Self {
        Self::of(Kind::Url(Some(authority)))
    }

    /// A query parameter (`+` decodes to a space, as in forms).
    pub fn query(name: impl Into<Arc<str>>) -> Self {
        Self::of(Kind::Query(name.into()))
    }

    /// A request header. Its value is percent-decoded (send non-ASCII IDs with
    /// `encodeURIComponent`).
    pub fn header(name: HeaderName) -> Self {
        Self::of(Kind::Header(name))
    }

    /// A new ID on every call: Unix milliseconds, a dash, and 64 random bits in hex
    /// (`1732550400123-9f86d081884c7d65`). For a handler that creates a call and then
    /// shares its ID with the participants.
    pub fn generated() -> Self {
        Self::of(Kind::Generated)
    }

    /// Lowercase hex SHA1 (40 characters) of what `inner` yields.
    pub fn sha1(inner: ConferenceIdSource) -> Self {
        Self {
            kind: Kind::Sha1(Box::new(inner.kind)),
            per_call: inner.per_call,
        }
    }

    /// Any closure over the request head; `Ok(None)` means "not there".
    pub fn custom<F>(f: F) -> Self
    where
        F: Fn(&Parts) -> Result<Option<ConferenceId>, IdError> + Send + Sync + 'static,
    {
        Self::of(Kind::Custom(Arc::new(f)))
    }

    /// One conferenceID per call in each room that `room` names (a route parameter, a
    /// path template, ...): the first participant of a room starts a call with a new
    /// conferenceID, everyone who joins while the call is active gets the same one, and
    /// after the call has ended (the app's [`PerCall::end_call`], or the registry's idle
    /// timeout) the next join starts a new call. See [`calls`](crate::calls) for the
    /// registries (in memory, Redis), the ID format and what happens when the registry
    /// fails.
    ///
    /// The per-call step comes last: `sha1(per_call(room, calls))` hashes the room key,
    /// then takes its call's ID, like `per_call(sha1(room), calls)`.
    ///
    /// The token endpoint takes part too: give it the same source on the Referer
    /// ([`TokenEndpoint::conference_id_from_referer`](crate::TokenEndpoint::conference_id_from_referer)),
    /// so that every token request touches the call (it stays active while its
    /// participants' clients refresh their tokens) and answers with the call's ID.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use http::Request;
    /// use tower_callstats::{ConferenceId, ConferenceIdSource, calls::{MemoryRegistry, PerCall}};
    ///
    /// let calls = PerCall::new(MemoryRegistry::new());
    /// let source = ConferenceIdSource::per_call(
    ///     ConferenceIdSource::path_template("/rooms/{room}", "room").unwrap(),
    ///     calls.clone(),
    /// );
    /// let request = |path: &str| Request::get(path).body(()).unwrap().into_parts().0;
    ///
    /// let alice = source.resolve(&request("/rooms/standup")).await.unwrap();
    /// let bob = source.resolve(&request("/rooms/standup")).await.unwrap();
    /// assert_eq!(alice, bob); // the same call
    /// assert!(alice.starts_with("standup-")); // e.g. standup-20261125T0930Z-4f2a9c
    ///
    /// calls.end_call(&ConferenceId::new("standup").unwrap()).await.unwrap();
    /// let later = source.resolve(&request("/rooms/standup")).await.unwrap();
    /// assert_ne!(later, alice); // a new call
    /// # }
    /// ```
    pub fn per_call(room: ConferenceIdSource, calls: PerCall) -> Self {
        Self {
            kind: room.kind,
            per_call: Some(calls),
        }
    }

    fn of(kind: Kind) -> Self {
        Self { kind, per_call: None }
    }

    /// Takes the conferenceID from a request head, at once. A
    /// [`per_call`](Self::per_call) source answers here only when its registry does
    /// without I/O (in memory, or a cached answer); otherwise it is
    /// [`ConferenceError::WouldWait`]: use [`resolve`](Self::resolve).
    pub fn extract(&self, parts: &Parts) -> Result<ConferenceId, ConferenceError> {
        match self.start(parts) {
            Resolution::Ready(resolved) => resolved.map(|r| r.id),
            Resolution::Pending(_) => Err(ConferenceError::WouldWait),
        }
    }

    /// Takes the conferenceID from a request head, waiting for the call registry of a
    /// [`per_call`](Self::per_call) source when it must.
    pub async fn resolve(&self, parts: &Parts) -> Result<ConferenceId, ConferenceError> {
        match self.start(parts) {
            Resolution::Ready(resolved) => resolved.map(|r| r.id),
            Resolution::Pending(resolved) => resolved.await.map(|r| r.id),
        }
    }

    /// The conferenceID as this request names it, read but not yet validated, when the
    /// request alone names it: the same request always names the same room. `None` for
    /// the sources that do not ([`generated`](Self::generated), [`custom`](Self::custom),
    /// [`per_call`](Self::per_call)): their conferenceID comes from
    /// [`start`](Self::start).
    ///
    /// The layer and the endpoint key their finished answers on this value.
    pub(crate) fn named<'a>(&self, parts: &'a Parts) -> Option<Result<Cow<'a, str>, ConferenceError>> {
        (self.per_call.is_none() && self.kind.is_named()).then(|| extract_raw(&self.kind, parts))
    }

    /// Whether this is a [`per_call`](Self::per_call) source: its conferenceIDs repeat
    /// for as long as their call lasts, so answers for them are worth preparing.
    pub(crate) fn is_per_call(&self) -> bool {
        self.per_call.is_some()
    }

    /// The conferenceID now, or a future of it when the registry must be asked.
    pub(crate) fn start(&self, parts: &Parts) -> Resolution {
        let room = match extract_raw(&self.kind, parts).and_then(|raw| Ok(ConferenceId::new(raw)?)) {
            Ok(room) => room,
            Err(error) => return Resolution::Ready(Err(error)),
        };
        let Some(calls) = &self.per_call else {
            return Resolution::Ready(Ok(Resolved {
                id: room,
                call_started_at: None,
            }));
        };
        fn resolved(joined: Result<ActiveCall, RegistryError>) -> Result<Resolved, ConferenceError> {
            let call = joined.map_err(ConferenceError::Registry)?;
            Ok(Resolved {
                call_started_at: Some(call.started_at()),
                id: call.into_conference_id(),
            })
        }
        match calls.join(room) {
            Join::Ready(joined) => Resolution::Ready(resolved(joined)),
            Join::Pending(joined) => Resolution::Pending(Box::pin(async move { resolved(joined.await) })),
        }
    }
}

impl Kind {
    /// Whether the request alone names the conferenceID; see [`ConferenceIdSource::named`].
    fn is_named(&self) -> bool {
        match self {
            #[cfg(feature = "axum")]
            Kind::RouteParam(_) => true,
            Kind::Template(..) | Kind::Url(_) | Kind::Query(_) | Kind::Header(_) => true,
            Kind::Sha1(inner) => inner.is_named(),
            Kind::Generated | Kind::Custom(_) => false,
        }
    }
}

fn extract_raw<'a>(kind: &Kind, parts: &'a Parts) -> Result<Cow<'a, str>, ConferenceError> {
    const KIND: &str = ConferenceId::KIND;
    match kind {
        #[cfg(feature = "axum")]
        Kind::RouteParam(name) => {
            let matched = parts
                .extensions
                .get::<axum::extract::MatchedPath>()
                .ok_or_else(|| ConferenceError::NoMatchedPath(name.to_string()))?;
            let path = match parts.extensions.get::<axum::extract::OriginalUri>() {
                Some(original) => original.path(),
                None => parts.uri.path(),
            };
            capture(matched.as_str(), path, name)?.ok_or_else(|| {
                ConferenceError::Missing(format!("route parameter {name:?} not in {}", matched.as_str()))
            })
        }
        Kind::Template(template, name) => capture(template.source(), parts.uri.path(), name)?
            .ok_or_else(|| ConferenceError::Missing(format!("the path does not match {:?}", template.source()))),
        Kind::Url(configured) => {
            let host = match configured {
                Some(authority) => authority.as_str(),
                None => parts
                    .headers
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .or_else(|| parts.uri.authority().map(|a| a.as_str()))
                    .ok_or_else(|| ConferenceError::Missing("no Host header".into()))?,
            };
            let host = host.rsplit('@').next().unwrap_or(host);
            let path = percent_decode(parts.uri.path(), KIND)?;
            Ok(Cow::Owned(format!("{host}{path}")))
        }
        Kind::Query(name) => {
            for (key, value) in form_pairs(parts.uri.query().unwrap_or("")) {
                if form_decode(key, KIND)? == **name {
                    return Ok(form_decode(value, KIND)?);
                }
            }
            Err(ConferenceError::Missing(format!("no query parameter {name:?}")))
        }
        Kind::Header(name) => {
            let value = parts
                .headers
                .get(name)
                .ok_or_else(|| ConferenceError::Missing(format!("no {name} header")))?;
            let value = std::str::from_utf8(value.as_bytes()).map_err(|e| IdError::NotUtf8 {
                kind: KIND,
                at: e.valid_up_to(),
            })?;
            Ok(percent_decode(value, KIND)?)
        }
        Kind::Generated => {
            let millis = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            let mut random = [0u8; 8];
            SystemRandom::new()
                .fill(&mut random)
                .map_err(|_| ConferenceError::Missing("the system random number generator failed".into()))?;
            Ok(Cow::Owned(format!("{millis}-{}", hex(&random))))
        }
        Kind::Sha1(inner) => {
            let value = extract_raw(inner, parts)?;
            // Hash only valid IDs: the rules apply to what the source yields, too.
            ConferenceId::new(&value)?;
            Ok(Cow::Owned(hex(&Sha1::digest(value.as_bytes()))))
        }
        Kind::Custom(f) => match f(parts)? {
            Some(id) => Ok(Cow::Owned(id.to_string())),
            None => Err(ConferenceError::Missing("the custom source found none".into())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn parts(uri: &str) -> Parts {
        Request::get(uri).body(()).unwrap().into_parts().0
    }

    #[test]
    fn query_and_header_sources() {
        let p = parts("/call?x=1&room=a+b%2Bc&y");
        assert_eq!(ConferenceIdSource::query("room").extract(&p).unwrap().as_str(), "a b+c");
        assert!(matches!(
            ConferenceIdSource::query("nope").extract(&p),
            Err(ConferenceError::Missing(_))
        ));
        let mut p = parts("/");
        p.headers.insert("x-conference", "%E0%BA%AD".parse().unwrap());
        assert_eq!(
            ConferenceIdSource::header(HeaderName::from_static("x-conference"))
                .extract(&p)
                .unwrap()
                .as_str(),
            "ອ"
        );
    }

    #[test]
    fn url_uses_host_header_and_path() {
        let mut p = parts("/rooms/1?ignored=yes");
        p.headers.insert(http::header::HOST, "www.example.com".parse().unwrap());
        assert_eq!(
            ConferenceIdSource::url().extract(&p).unwrap().as_str(),
            "www.example.com/rooms/1"
        );
    }

    #[test]
    fn generated_ids_differ_and_fit() {
        let p = parts("/");
        let a = ConferenceIdSource::generated().extract(&p).unwrap();
        let b = ConferenceIdSource::generated().extract(&p).unwrap();
        assert_ne!(a, b);
        let (millis, random) = a.split_once('-').unwrap();
        assert!(millis.parse::<u128>().is_ok());
        assert_eq!(random.len(), 16);
    }

    #[test]
    fn sha1_of_a_source() {
        // printf 'room-1' | sha1sum
        let p = parts("/rooms/room-1");
        let source = ConferenceIdSource::sha1(ConferenceIdSource::path_template("/rooms/{room}", "room").unwrap());
        assert_eq!(
            source.extract(&p).unwrap().as_str(),
            "0e9770ee13188deca3cd34f598eb93650a2f97c3"
        );
    }

    #[test]
    fn over_long_and_empty_values_are_rejected() {
        let p = parts(&format!("/rooms/{}", "%E3%82%A4".repeat(86)));
        let source = ConferenceIdSource::path_template("/rooms/{room}", "room").unwrap();
        assert!(matches!(
            source.extract(&p),
            Err(ConferenceError::Invalid(IdError::TooLong { len: 258, .. }))
        ));
        let p = parts("/rooms/");
        assert!(matches!(
            source.extract(&p),
            Err(ConferenceError::Invalid(IdError::Empty { .. }))
        ));
    }
}
