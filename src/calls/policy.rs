//! [`Calls`]: any registry, with a failure policy and its logs and counters.

use std::{fmt, sync::Arc};

use super::{ActiveCall, CallRegistry, RegistryError};
use crate::{
    clock::{Clock, SharedClock, SystemClock},
    id::{ConferenceId, UserId},
    outage::Outage,
};

const TARGET: &str = "tower_callstats::calls";

/// What [`Calls`] does when the registry fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FailurePolicy {
    /// Use the room itself as the conferenceID (the default). Every participant
    /// still gets the same ID, so the call's statistics stay together; only calls held
    /// in that room during the outage share the ID with each other. The returned
    /// [`ActiveCall::is_fallback`] is `true`.
    #[default]
    FallBackToRoom,
    /// Return the error: no token for that request (the layer answers 503 with the
    /// JSON code `call_registry_unavailable`).
    Fail,
}

impl FailurePolicy {
    fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::FallBackToRoom => "fall_back_to_room",
            FailurePolicy::Fail => "fail",
        }
    }
}

/// The calls of an app: a [`CallRegistry`] with a [`FailurePolicy`], logs and counters.
/// Give it to [`Callstats::calls`](crate::Callstats::calls), and keep a clone to end
/// calls ([`end_call`](Self::end_call)).
///
/// - On a registry error, the default policy ([`FailurePolicy::FallBackToRoom`]) hands
///   out the room itself as the conferenceID; [`FailurePolicy::Fail`] returns the error
///   (the request gets `503 call_registry_unavailable`).
/// - One `WARN` per outage (target `tower_callstats::calls`, message `call registry
///   unavailable`), not one per request: a flag records the outage, and the first
///   successful join after it logs an `INFO` `call registry recovered` and clears it.
/// - With the `metrics` feature, every failed join counts in
///   `callstats_call_registry_failures_total{error=...}`.
///
/// Cloning is cheap; clones share the registry and the outage flag.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::{future::Future, pin::Pin};
/// use tower_callstats::{ConferenceId, UserId};
/// use tower_callstats::calls::{ActiveCall, CallRegistry, Calls, FailurePolicy, RegistryError};
///
/// /// A registry whose store is down.
/// struct Down;
/// impl CallRegistry for Down {
///     fn join(&self, _: &str, _: &UserId) -> Pin<Box<dyn Future<Output = Result<ActiveCall, RegistryError>> + Send>> {
///         Box::pin(async { Err(RegistryError::Timeout) })
///     }
///     fn end_call(&self, _: &str, _: &ConferenceId) -> Pin<Box<dyn Future<Output = Result<bool, RegistryError>> + Send>> {
///         Box::pin(async { Err(RegistryError::Timeout) })
///     }
/// }
///
/// let alice = UserId::new("alice").unwrap();
/// let call = Calls::new(Down).join("standup", &alice).await.unwrap();
/// assert_eq!(call.conference_id().as_str(), "standup"); // the room: the same for everybody
/// assert!(call.is_fallback());
///
/// let strict = Calls::new(Down).on_failure(FailurePolicy::Fail);
/// assert_eq!(strict.join("standup", &alice).await, Err(RegistryError::Timeout));
/// # }
/// ```
#[derive(Clone)]
pub struct Calls {
    registry: Arc<dyn CallRegistry>,
    policy: FailurePolicy,
    clock: SharedClock,
    /// Set by the first failure of an outage, cleared by the first success after it.
    degraded: Arc<Outage>,
}

impl fmt::Debug for Calls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Calls")
            .field("policy", &self.policy)
            .field("degraded", &self.is_degraded())
            .finish_non_exhaustive()
    }
}

impl Calls {
    /// Wraps `registry` with the default policy, [`FailurePolicy::FallBackToRoom`].
    pub fn new(registry: impl CallRegistry) -> Self {
        #[cfg(feature = "metrics")]
        super::describe_metrics();
        Self {
            registry: Arc::new(registry),
            policy: FailurePolicy::default(),
            clock: Arc::new(SystemClock),
            degraded: Arc::default(),
        }
    }

    /// What to do when the registry fails. Default: [`FailurePolicy::FallBackToRoom`].
    #[must_use]
    pub fn on_failure(mut self, policy: FailurePolicy) -> Self {
        self.policy = policy;
        self
    }

    /// The clock that stamps a fallback's [`started_at`](ActiveCall::started_at).
    /// Default: the system clock.
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The policy in force.
    pub fn policy(&self) -> FailurePolicy {
        self.policy
    }

    /// The active call of `room` for `user` (see [`CallRegistry::join`]), with the
    /// failure policy applied: with [`FailurePolicy::FallBackToRoom`] this never fails.
    /// The layer and the token endpoint do this after the app's hook allowed the room.
    ///
    /// # Errors
    ///
    /// The registry's error, with [`FailurePolicy::Fail`]; an invalid `room`
    /// ([`RegistryError::Other`]).
    pub async fn join(&self, room: &str, user: &UserId) -> Result<ActiveCall, RegistryError> {
        let joined = match self.join_now(room, user) {
            Some(joined) => joined,
            None => self.join_later(room, user).await,
        };
        self.settle(room, joined)
    }

    /// Ends the call `call` of `room` if it is still the room's active call (see
    /// [`CallRegistry::end_call`]): `true` if it ended it. Errors are returned as they
    /// are: there is nothing to fall back to.
    ///
    /// # Errors
    ///
    /// The registry's error.
    pub async fn end_call(&self, room: &str, call: &ConferenceId) -> Result<bool, RegistryError> {
        self.registry.end_call(room, call).await
    }

    /// Whether the last join failed (an outage is in progress).
    pub fn is_degraded(&self) -> bool {
        self.degraded.is_on()
    }

    /// The registry's answer without waiting, if it has one.
    pub(crate) fn join_now(&self, room: &str, user: &UserId) -> Option<Result<ActiveCall, RegistryError>> {
        self.registry.join_now(room, user)
    }

    /// The registry's answer after I/O.
    pub(crate) fn join_later(
        &self,
        room: &str,
        user: &UserId,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<ActiveCall, RegistryError>> + Send + 'static>> {
        self.registry.join(room, user)
    }

    /// Applies the failure policy to a join's answer, logging and counting failures.
    pub(crate) fn settle(
        &self,
        room: &str,
        joined: Result<ActiveCall, RegistryError>,
    ) -> Result<ActiveCall, RegistryError> {
        match joined {
            Ok(call) => {
                if self.degraded.answered() {
                    tracing::info!(target: TARGET, "call registry recovered");
                }
                Ok(call)
            }
            Err(error) => {
                if self.degraded.failed() {
                    tracing::warn!(
                        target: TARGET,
                        error = %error,
                        policy = self.policy.as_str(),
                        "call registry unavailable"
                    );
                }
                tracing::debug!(target: TARGET, error = %error, "call registry failure");
                #[cfg(feature = "metrics")]
                metrics::counter!(super::REGISTRY_FAILURES_TOTAL, "error" => error.kind()).increment(1);
                match self.policy {
                    FailurePolicy::FallBackToRoom => {
                        let room = ConferenceId::new(room)?;
                        Ok(ActiveCall::fallback(room, self.clock.unix_now()))
                    }
                    FailurePolicy::Fail => Err(error),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        future::Future,
        io,
        pin::Pin,
        sync::{
            Mutex,
            atomic::{AtomicBool, AtomicUsize, Ordering},
        },
    };

    use super::*;
    use crate::{calls::MemoryRegistry, clock::ManualClock};

    /// A registry that fails while `down` is set, asynchronously.
    #[derive(Clone, Default)]
    struct Flaky {
        down: Arc<AtomicBool>,
        calls: Arc<AtomicUsize>,
    }

    impl CallRegistry for Flaky {
        fn join(
            &self,
            room: &str,
            _: &UserId,
        ) -> Pin<Box<dyn Future<Output = Result<ActiveCall, RegistryError>> + Send + 'static>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let down = self.down.load(Ordering::SeqCst);
            let id = ConferenceId::new(format!("{room}-call")).unwrap();
            Box::pin(async move {
                if down {
                    Err(RegistryError::Unavailable("connection refused".into()))
                } else {
                    Ok(ActiveCall::new(id, 1))
                }
            })
        }

        fn end_call(
            &self,
            _: &str,
            _: &ConferenceId,
        ) -> Pin<Box<dyn Future<Output = Result<bool, RegistryError>> + Send + 'static>> {
            Box::pin(async { Err(RegistryError::Timeout) })
        }
    }

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn alice() -> UserId {
        UserId::new("alice").unwrap()
    }

    #[tokio::test]
    async fn falls_back_to_the_room_and_logs_once_per_outage() {
        let logs = Buffer::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let flaky = Flaky::default();
        let calls = Calls::new(flaky.clone()).clock(ManualClock::at_unix(99));
        assert_eq!(calls.policy(), FailurePolicy::FallBackToRoom);

        let ok = calls.join("r", &alice()).await.unwrap();
        assert_eq!(ok.conference_id().as_str(), "r-call");
        assert!(!ok.is_fallback());

        flaky.down.store(true, Ordering::SeqCst);
        for _ in 0..10 {
            let fallback = calls.join("r", &alice()).await.unwrap();
            assert_eq!(fallback.conference_id().as_str(), "r");
            assert_eq!(fallback.started_at(), 99);
            assert!(fallback.is_fallback());
        }
        assert!(calls.is_degraded());

        flaky.down.store(false, Ordering::SeqCst);
        for _ in 0..3 {
            assert!(!calls.join("r", &alice()).await.unwrap().is_fallback());
        }
        assert!(!calls.is_degraded());

        // A second outage: a second warning.
        flaky.down.store(true, Ordering::SeqCst);
        let _ = calls.join("r", &alice()).await;
        let _ = calls.join("r", &alice()).await;

        let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text.matches("WARN tower_callstats::calls: call registry unavailable")
                .count(),
            2,
            "{text}"
        );
        assert_eq!(
            text.matches("INFO tower_callstats::calls: call registry recovered")
                .count(),
            1,
            "{text}"
        );
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.contains("policy=\"fall_back_to_room\""), "{text}");
        assert_eq!(flaky.calls.load(Ordering::SeqCst), 16);
    }

    #[tokio::test]
    async fn fail_returns_the_error() {
        let flaky = Flaky::default();
        flaky.down.store(true, Ordering::SeqCst);
        let calls = Calls::new(flaky).on_failure(FailurePolicy::Fail);
        let err = calls.join("r", &alice()).await.unwrap_err();
        assert_eq!(err, RegistryError::Unavailable("connection refused".into()));
        assert_eq!(err.kind(), "unavailable");
        assert!(calls.is_degraded());
        // end_call errors are passed through.
        let call = ConferenceId::new("r-call").unwrap();
        assert_eq!(calls.end_call("r", &call).await, Err(RegistryError::Timeout));
    }

    #[tokio::test]
    async fn clones_share_the_registry() {
        let calls = Calls::new(MemoryRegistry::new());
        let clone = calls.clone();
        let a = calls.join("r", &alice()).await.unwrap();
        assert_eq!(clone.join("r", &alice()).await.unwrap(), a);
        assert!(clone.end_call("r", a.conference_id()).await.unwrap());
        assert_ne!(calls.join("r", &alice()).await.unwrap(), a);
        let strict = calls.clone().on_failure(FailurePolicy::Fail);
        assert_eq!(strict.policy(), FailurePolicy::Fail);
        assert_eq!(calls.policy(), FailurePolicy::FallBackToRoom);
    }

    #[cfg(feature = "metrics")]
    #[test]
    fn failures_are_counted_by_kind() {
        use metrics_util::{
            MetricKind,
            debugging::{DebugValue, DebuggingRecorder},
        };

        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let calls = Calls::new(MemoryRegistry::new()); // describes the counter
            for _ in 0..3 {
                let _ = calls.settle("r", Err(RegistryError::Timeout));
            }
            let _ = calls.settle("r", Err(RegistryError::Corrupt("x".into())));
            let _ = calls.settle("r", Err(RegistryError::Full("x".into())));
        });
        let mut counts = std::collections::BTreeMap::new();
        let mut described = false;
        for (key, _, description, value) in snapshotter.snapshot().into_vec() {
            if key.kind() != MetricKind::Counter || key.key().name() != crate::calls::REGISTRY_FAILURES_TOTAL {
                continue;
            }
            described |= description.is_some();
            let labels: Vec<_> = key
                .key()
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            assert_eq!(labels.len(), 1);
            assert_eq!(labels[0].0, "error");
            let DebugValue::Counter(n) = value else {
                panic!("not a counter")
            };
            counts.insert(labels[0].1.clone(), n);
        }
        assert!(described);
        let expected: std::collections::BTreeMap<String, u64> = [
            ("corrupt", 1),
            ("full", 1),
            ("other", 0),
            ("timeout", 3),
            ("unavailable", 0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        assert_eq!(counts, expected);
    }
}
