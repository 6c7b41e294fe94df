//! The audit hook, and the crate's `tracing` events.
//!
//! callstats uses the `jti` claim for audit logging; the origin server should log it
//! too. Every token decision goes through one [`Audit`]: a new token was signed
//! (`issued`), a cached one handed out again (`reused`), a forced re-issue answered with
//! the token just signed (`force_new_limited`), a request refused (`rejected`), or
//! signing failed (`failed`). The default, [`TracingAudit`], emits a
//! `tracing` event and, with the `metrics` feature, counts it. Any closure
//! `Fn(&AuditEvent)` can replace it; call [`TracingAudit`] from the closure to keep the
//! events and counters.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use tower_callstats::audit::{Action, Audit, AuditEvent, TracingAudit};
//!
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let sink = seen.clone();
//! let audit = move |event: &AuditEvent<'_>| {
//!     TracingAudit.record(event); // keep the tracing events and metrics
//!     sink.lock().unwrap().push(event.action);
//! };
//! audit.record(&AuditEvent::new(Action::Rejected).with_reason("no session"));
//! assert_eq!(*seen.lock().unwrap(), [Action::Rejected]);
//! ```
//!
//! # `tracing` events
//!
//! The targets are stable: filter on them (`RUST_LOG=tower_callstats::audit=info`).
//! No event carries a token, a session ID or key material: a token is a bearer
//! credential, and the `jti` identifies it in logs.
//!
//! | target | level | message | fields | when |
//! | --- | --- | --- | --- | --- |
//! | `tower_callstats::audit` | `INFO` | `callstats token issued` | `action="issued"`, `user_id`, `conference_id`, `key_id`, `jti` | a new token was signed |
//! | `tower_callstats::audit` | `DEBUG` | `callstats token reused` | `action="reused"`, `user_id`, `conference_id`, `key_id`, `jti` | a cached token was handed out again |
//! | `tower_callstats::audit` | `INFO` | `callstats forced re-issue limited` | `action="force_new_limited"`, `user_id`, `conference_id`, `key_id`, `jti` | a `forceNew` request within the [`force_new_interval`](crate::TokenIssuerBuilder::force_new_interval) got the token just signed |
//! | `tower_callstats::audit` | `WARN` | `callstats token request rejected` | `action="rejected"`, `reason`, `user_id` and `conference_id` (the room as the request named it, when known) | every [`Rejection`](crate::Rejection) of the layer or the endpoint: no logged-in user (endpoint; layer with `require_authentication`), invalid userID or room, no room, the app's hook said no, a cross-site request, a bad request body, the call registry unavailable with `FailurePolicy::Fail` |
//! | `tower_callstats::audit` | `ERROR` | `callstats token signing failed` | `action="failed"`, `user_id`, `key_id`, `reason` | ES256 signing failed (the request gets a 500) |
//! | `tower_callstats::layer` | `ERROR` | `token signing failed` | `user_id`, `error` | with the `failed` audit event, from the layer or the endpoint |
//! | `tower_callstats::layer` | `WARN` | `Callstats::calls is set without Callstats::room ...` | | a layer or an endpoint made from a configuration with calls and no room |
//! | `tower_callstats::layer` | `ERROR` | `CallstatsContext extracted on a route without the CallstatsLayer ...` | | a handler extracts `CallstatsContext` where the layer did not run |
//! | `tower_callstats::keys` | `INFO` | `signing key loaded` | `key_id`, `path` | [`SigningKey::from_pem_file`](crate::SigningKey::from_pem_file) |
//! | `tower_callstats::keys` | `INFO` | `signing key rotated` | `key_id`, `grace_secs` | [`KeyRing::rotate`](crate::KeyRing::rotate) |
//! | `tower_callstats::keys` | `WARN` | `forced rotation with a grace period shorter than the token lifetime ...` / `forced rotation to a keyID that is already published ...` | `key_id`, `grace_secs`, `min_secs` / `key_id` | [`KeyRing::rotate_unchecked`](crate::KeyRing::rotate_unchecked) forcing what `rotate` refuses |
//! | `tower_callstats::keys` | `ERROR` | `key reload failed; the current key stays active` | `path`, `error` | [`KeyRing::reload_from_file`](crate::KeyRing::reload_from_file) with a missing or bad key, or a key that [`KeyRing::rotate`](crate::KeyRing::rotate) refuses |
//!
//! On `issued`, `reused` and `force_new_limited`, `conference_id` is the conferenceID the
//! request got (the call's, with calls), whether or not the token carries it as the
//! opt-in `confID` claim. The events are written by the request's decision (see
//! [`Callstats`](crate::Callstats)), once per request, after the cache answered.
//!
//! With the `metrics` feature, [`TracingAudit`] also counts every event in
//! `callstats_tokens_total{action}`; the crate's other metrics are listed in the
//! `metrics` module.

use std::sync::Arc;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// A new token was signed.
    Issued,
    /// A cached token was handed out again.
    Reused,
    /// A forced re-issue (`forceNew`) came within the issuer's
    /// [`force_new_interval`](crate::TokenIssuerBuilder::force_new_interval) of
    /// the last signature, and got that token instead of a new signature.
    ForceNewLimited,
    /// A request was refused (no session, invalid ID, bad body, ...).
    Rejected,
    /// Signing failed.
    Failed,
}

impl Action {
    /// `issued`, `reused`, `force_new_limited`, `rejected` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Issued => "issued",
            Action::Reused => "reused",
            Action::ForceNewLimited => "force_new_limited",
            Action::Rejected => "rejected",
            Action::Failed => "failed",
        }
    }
}

/// One audit event. Never carries the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditEvent<'a> {
    /// What happened.
    pub action: Action,
    /// The userID, when known.
    pub user_id: Option<&'a str>,
    /// The conferenceID, when known.
    pub conference_id: Option<&'a str>,
    /// The keyID that signed, when a token was involved.
    pub key_id: Option<&'a str>,
    /// The token's `jti`, when a token was involved.
    pub jti: Option<&'a str>,
    /// Why, for rejections and failures.
    pub reason: Option<&'a str>,
}

impl<'a> AuditEvent<'a> {
    /// An event with only an action.
    pub fn new(action: Action) -> Self {
        Self {
            action,
            user_id: None,
            conference_id: None,
            key_id: None,
            jti: None,
            reason: None,
        }
    }

    /// Sets the reason.
    pub fn with_reason(mut self, reason: &'a str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// Sets the userID.
    pub fn with_user_id(mut self, user_id: &'a str) -> Self {
        self.user_id = Some(user_id);
        self
    }
}

/// Receives audit events. Implemented for [`TracingAudit`] and for every closure
/// `Fn(&AuditEvent)`.
pub trait Audit: Send + Sync + 'static {
    /// Records one event. Called on the request path: keep it cheap.
    fn record(&self, event: &AuditEvent<'_>);
}

impl<F> Audit for F
where
    F: Fn(&AuditEvent<'_>) + Send + Sync + 'static,
{
    fn record(&self, event: &AuditEvent<'_>) {
        self(event)
    }
}

impl Action {
    /// Every action, in the order of the enum.
    pub const ALL: [Action; 5] = [
        Action::Issued,
        Action::Reused,
        Action::ForceNewLimited,
        Action::Rejected,
        Action::Failed,
    ];
}

/// The default audit: one `tracing` event per [`AuditEvent`], with target
/// `tower_callstats::audit`, at `INFO` for issued, `DEBUG` for reused, `WARN` for
/// rejected and `ERROR` for failed (see the [module docs](self) for the fields). With
/// the `metrics` feature it also counts `callstats_tokens_total{action=...}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingAudit;

impl Audit for TracingAudit {
    fn record(&self, e: &AuditEvent<'_>) {
        macro_rules! event {
            ($level:expr, $message:literal) => {
                tracing::event!(
                    target: "tower_callstats::audit",
                    $level,
                    action = e.action.as_str(),
                    user_id = e.user_id,
                    conference_id = e.conference_id,
                    key_id = e.key_id,
                    jti = e.jti,
                    reason = e.reason,
                    $message
                )
            };
        }
        match e.action {
            Action::Issued => event!(tracing::Level::INFO, "callstats token issued"),
            Action::Reused => event!(tracing::Level::DEBUG, "callstats token reused"),
            Action::ForceNewLimited => event!(tracing::Level::INFO, "callstats forced re-issue limited"),
            Action::Rejected => event!(tracing::Level::WARN, "callstats token request rejected"),
            Action::Failed => event!(tracing::Level::ERROR, "callstats token signing failed"),
        }
        #[cfg(feature = "metrics")]
        count(e.action);
    }
}

/// `callstats_tokens_total`, labelled `action`: the audit events [`TracingAudit`]
/// counts (feature `metrics`; see the `metrics` module).
#[cfg(feature = "metrics")]
pub(crate) const TOKENS_TOTAL: &str = "callstats_tokens_total";

#[cfg(feature = "metrics")]
fn count(action: Action) {
    // Literal label values make static keys: counting allocates nothing.
    let counter = match action {
        Action::Issued => metrics::counter!(TOKENS_TOTAL, "action" => "issued"),
        Action::Reused => metrics::counter!(TOKENS_TOTAL, "action" => "reused"),
        Action::ForceNewLimited => metrics::counter!(TOKENS_TOTAL, "action" => "force_new_limited"),
        Action::Rejected => metrics::counter!(TOKENS_TOTAL, "action" => "rejected"),
        Action::Failed => metrics::counter!(TOKENS_TOTAL, "action" => "failed"),
    };
    counter.increment(1);
}

pub(crate) type SharedAudit = Arc<dyn Audit>;

#[cfg(test)]
mod tests {
    //! The events of the layer, the endpoint and the key ring are tested in
    //! tests/audit.rs; here only what `TracingAudit` itself emits.

    use std::sync::{Arc, Mutex};

    use tracing_subscriber::{Layer, prelude::*};

    use super::{Action, Audit, AuditEvent, TracingAudit};

    /// The target, level and fields (`name=Debug value`) of every event.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<String>>>);

    impl<S: tracing::Subscriber> Layer<S> for Lines {
        fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
            let meta = event.metadata();
            let mut line = format!("{} {}", meta.level(), meta.target());
            event.record(&mut |field: &tracing::field::Field, value: &dyn std::fmt::Debug| {
                line += &format!(" {}={value:?}", field.name());
            });
            self.0.lock().unwrap().push(line);
        }
    }

    #[test]
    fn failures_are_errors() {
        let lines = Lines::default();
        let subscriber = tracing_subscriber::registry().with(lines.clone());
        tracing::subscriber::with_default(subscriber, || {
            let event = AuditEvent {
                key_id: Some("key-1"),
                ..AuditEvent::new(Action::Failed)
                    .with_user_id("alice")
                    .with_reason("ES256 signing failed")
            };
            TracingAudit.record(&event);
        });
        assert_eq!(
            *lines.0.lock().unwrap(),
            [
                "ERROR tower_callstats::audit message=callstats token signing failed action=\"failed\" \
                 user_id=\"alice\" key_id=\"key-1\" reason=\"ES256 signing failed\""
            ]
        );
    }
}
