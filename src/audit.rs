//! The audit hook: one event per token issued, reused, rejected or failed.
//!
//! callstats uses the `jti` claim for audit logging; the origin server should log it
//! too. The default, [`TracingAudit`], emits a `tracing` event with target
//! `tower_callstats::audit` and the fields `action`, `user_id`, `conference_id`,
//! `key_id`, `jti` and `reason`: never the token itself, which is a bearer credential.
//! Any closure `Fn(&AuditEvent)` can replace it.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use tower_callstats::audit::{Action, Audit, AuditEvent};
//!
//! let seen = Arc::new(Mutex::new(Vec::new()));
//! let sink = seen.clone();
//! let audit = move |event: &AuditEvent<'_>| sink.lock().unwrap().push(event.action);
//! audit.record(&AuditEvent::new(Action::Rejected).with_reason("no session"));
//! assert_eq!(*seen.lock().unwrap(), [Action::Rejected]);
//! ```

use std::sync::Arc;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// A new token was signed.
    Issued,
    /// A cached token was handed out again.
    Reused,
    /// A request was refused (no session, invalid ID, bad body, ...).
    Rejected,
    /// Signing failed.
    Failed,
}

impl Action {
    /// `issued`, `reused`, `rejected` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Issued => "issued",
            Action::Reused => "reused",
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

/// The default audit: `tracing` events with target `tower_callstats::audit`, at `INFO`
/// for issued, `DEBUG` for reused, `WARN` for rejected and `ERROR` for failed.
/// With the `metrics` feature it also counts `callstats_tokens_total{action=...}`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingAudit;

impl Audit for TracingAudit {
    fn record(&self, e: &AuditEvent<'_>) {
        macro_rules! event {
            ($level:expr) => {
                tracing::event!(
                    target: "tower_callstats::audit",
                    $level,
                    action = e.action.as_str(),
                    user_id = e.user_id,
                    conference_id = e.conference_id,
                    key_id = e.key_id,
                    jti = e.jti,
                    reason = e.reason,
                )
            };
        }
        match e.action {
            Action::Issued => event!(tracing::Level::INFO),
            Action::Reused => event!(tracing::Level::DEBUG),
            Action::Rejected => event!(tracing::Level::WARN),
            Action::Failed => event!(tracing::Level::ERROR),
        }
        #[cfg(feature = "metrics")]
        metrics::counter!("callstats_tokens_total", "action" => e.action.as_str()).increment(1);
    }
}

pub(crate) type SharedAudit = Arc<dyn Audit>;
