//! [`PerCall`]: any registry, with a failure policy and its logs and counters.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use super::{ActiveCall, BoxFuture, CallRegistry, Join, RegistryError};
use crate::{
    ConferenceId,
    clock::{Clock, SharedClock, SystemClock},
};

const TARGET: &str = "tower_callstats::calls";

/// What [`PerCall`] does when the registry fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum FailurePolicy {
    /// Use the room key itself as the conferenceID (the default). Every participant
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

/// A [`CallRegistry`] with a [`FailurePolicy`], logs and counters: what the layer and
/// the token endpoint use.
///
/// - On a registry error, the default policy ([`FailurePolicy::FallBackToRoom`]) hands
///   out the room key as the conferenceID; [`FailurePolicy::Fail`] returns the error.
/// - One `WARN` per outage (target `tower_callstats::calls`, message `call registry
///   unavailable`), not one per request: a flag records the outage, and the first
///   successful join after it logs an `INFO` `call registry recovered` and clears it.
/// - With the `metrics` feature, every failed join counts in
///   `callstats_call_registry_failures_total{error=...}`.
///
/// Cloning is cheap (an `Arc`); clones share the registry and the outage flag.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tower_callstats::ConferenceId;
/// use tower_callstats::calls::{BoxFuture, CallRegistry, FailurePolicy, Join, PerCall, RegistryError};
///
/// /// A registry whose store is down.
/// struct Down;
/// impl CallRegistry for Down {
///     fn join(&self, _: &ConferenceId) -> Join {
///         Join::Ready(Err(RegistryError::Timeout))
///     }
///     fn end_call(&self, _: &ConferenceId) -> BoxFuture<Result<(), RegistryError>> {
///         Box::pin(async { Err(RegistryError::Timeout) })
///     }
/// }
///
/// let room = ConferenceId::new("standup").unwrap();
/// let call = PerCall::new(Down).join(room.clone()).await.unwrap();
/// assert_eq!(call.conference_id(), &room); // the room key: the same for everybody
/// assert!(call.is_fallback());
///
/// let strict = PerCall::new(Down).on_failure(FailurePolicy::Fail);
/// assert_eq!(strict.join(room).await, Err(RegistryError::Timeout));
/// # }
/// ```
#[derive(Clone)]
pub struct PerCall {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Box<dyn CallRegistry>,
    policy: FailurePolicy,
    clock: SharedClock,
    /// Set by the first failure of an outage, cleared by the first success after it.
    degraded: AtomicBool,
}

impl fmt::Debug for PerCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PerCall")
            .field("policy", &self.inner.policy)
            .field("degraded", &self.inner.degraded.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl PerCall {
    /// Wraps `registry` with the default policy, [`FailurePolicy::FallBackToRoom`].
    pub fn new(registry: impl CallRegistry) -> Self {
        #[cfg(feature = "metrics")]
        super::describe_metrics();
        Self {
            inner: Arc::new(Inner {
                registry: Box::new(registry),
                policy: FailurePolicy::default(),
                clock: Arc::new(SystemClock),
                degraded: AtomicBool::new(false),
            }),
        }
    }

    /// What to do when the registry fails. Default: [`FailurePolicy::FallBackToRoom`].
    #[must_use]
    pub fn on_failure(self, policy: FailurePolicy) -> Self {
        self.rebuild(|inner| inner.policy = policy)
    }

    /// The clock that stamps a fallback's [`started_at`](ActiveCall::started_at).
    /// Default: the system clock.
    #[must_use]
    pub fn clock(self, clock: impl Clock) -> Self {
        let clock: SharedClock = Arc::new(clock);
        self.rebuild(|inner| inner.clock = clock)
    }

    fn rebuild(self, change: impl FnOnce(&mut Inner)) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                change(&mut inner);
                Self { inner: Arc::new(inner) }
            }
            // A clone exists: the settings are for start-up, before any clone.
            Err(shared) => {
                let mut inner = Inner {
                    registry: Box::new(SharedRegistry(shared.clone())),
                    policy: shared.policy,
                    clock: shared.clock.clone(),
                    degraded: AtomicBool::new(false),
                };
                change(&mut inner);
                Self { inner: Arc::new(inner) }
            }
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> FailurePolicy {
        self.inner.policy
    }

    /// The active call of `room` (see [`CallRegistry::join`]), with the failure policy
    /// applied: with [`FailurePolicy::FallBackToRoom`] this never returns an error.
    pub fn join(&self, room: ConferenceId) -> Join {
        match self.inner.registry.join(&room) {
            Join::Ready(result) => Join::Ready(self.inner.apply(room, result)),
            Join::Pending(future) => {
                let inner = self.inner.clone();
                Join::Pending(Box::pin(async move {
                    let result = future.await;
                    inner.apply(room, result)
                }))
            }
        }
    }

    /// Ends the active call of `room` (see [`CallRegistry::end_call`]). Errors are
    /// returned as they are: there is nothing to fall back to.
    pub fn end_call(&self, room: &ConferenceId) -> BoxFuture<Result<(), RegistryError>> {
        self.inner.registry.end_call(room)
    }

    /// Whether the last join failed (an outage is in progress).
    pub fn is_degraded(&self) -> bool {
        self.inner.degraded.load(Ordering::Relaxed)
    }
}

impl Inner {
    fn apply(
        &self,
        room: ConferenceId,
        result: Result<ActiveCall, RegistryError>,
    ) -> Result<ActiveCall, RegistryError> {
        match result {
            Ok(call) => {
                if self.degraded.load(Ordering::Relaxed) && self.degraded.swap(false, Ordering::AcqRel) {
                    tracing::info!(target: TARGET, "call registry recovered");
                }
                Ok(call)
            }
            Err(error) => {
                if !self.degraded.load(Ordering::Relaxed) && !self.degraded.swap(true, Ordering::AcqRel) {
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
                    FailurePolicy::FallBackToRoom => Ok(ActiveCall::fallback(room, self.clock.unix_now())),
                    FailurePolicy::Fail => Err(error),
                }
            }
        }
    }
}

/// A `PerCall`'s registry, shared with its clones after a late setter.
struct SharedRegistry(Arc<Inner>);

impl CallRegistry for SharedRegistry {
    fn join(&self, room: &ConferenceId) -> Join {
        self.0.registry.join(room)
    }

    fn end_call(&self, room: &ConferenceId) -> BoxFuture<Result<(), RegistryError>> {
        self.0.registry.end_call(room)
    }
}

impl CallRegistry for PerCall {
    /// [`PerCall::join`].
    fn join(&self, room: &ConferenceId) -> Join {
        PerCall::join(self, room.clone())
    }

    fn end_call(&self, room: &ConferenceId) -> BoxFuture<Result<(), RegistryError>> {
        PerCall::end_call(self, room)
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io,
        sync::{Mutex, atomic::AtomicUsize},
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
        fn join(&self, room: &ConferenceId) -> Join {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let down = self.down.load(Ordering::SeqCst);
            let room = room.clone();
            Join::Pending(Box::pin(async move {
                if down {
                    Err(RegistryError::Unavailable("connection refused".into()))
                } else {
                    Ok(ActiveCall::new(ConferenceId::new(format!("{room}-call")).unwrap(), 1))
                }
            }))
        }

        fn end_call(&self, _: &ConferenceId) -> BoxFuture<Result<(), RegistryError>> {
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

    fn room(s: &str) -> ConferenceId {
        ConferenceId::new(s).unwrap()
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
        let calls = PerCall::new(flaky.clone()).clock(ManualClock::at_unix(99));
        assert_eq!(calls.policy(), FailurePolicy::FallBackToRoom);

        let ok = calls.join(room("r")).await.unwrap();
        assert_eq!(ok.conference_id().as_str(), "r-call");
        assert!(!ok.is_fallback());

        flaky.down.store(true, Ordering::SeqCst);
        for _ in 0..10 {
            let fallback = calls.join(room("r")).await.unwrap();
            assert_eq!(fallback.conference_id().as_str(), "r");
            assert_eq!(fallback.started_at(), 99);
            assert!(fallback.is_fallback());
        }
        assert!(calls.is_degraded());

        flaky.down.store(false, Ordering::SeqCst);
        for _ in 0..3 {
            assert!(!calls.join(room("r")).await.unwrap().is_fallback());
        }
        assert!(!calls.is_degraded());

        // A second outage: a second warning.
        flaky.down.store(true, Ordering::SeqCst);
        let _ = calls.join(room("r")).await;
        let _ = calls.join(room("r")).await;

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
        let calls = PerCall::new(flaky).on_failure(FailurePolicy::Fail);
        let err = calls.join(room("r")).await.unwrap_err();
        assert_eq!(err, RegistryError::Unavailable("connection refused".into()));
        assert_eq!(err.kind(), "unavailable");
        assert!(calls.is_degraded());
        // end_call errors are passed through.
        assert_eq!(calls.end_call(&room("r")).await, Err(RegistryError::Timeout));
    }

    #[tokio::test]
    async fn wraps_a_memory_registry_and_is_a_registry_itself() {
        let calls = PerCall::new(MemoryRegistry::new());
        let clone = calls.clone();
        let a = calls.join(room("r"));
        assert!(a.is_ready());
        let a = a.await.unwrap();
        let b = CallRegistry::join(&clone, &room("r")).await.unwrap();
        assert_eq!(a, b);
        CallRegistry::end_call(&clone, &room("r")).await.unwrap();
        assert_ne!(calls.join(room("r")).await.unwrap(), a);
    }

    #[tokio::test]
    async fn a_setter_after_a_clone_keeps_the_registry() {
        let calls = PerCall::new(MemoryRegistry::new());
        let first = calls.join(room("r")).await.unwrap();
        let clone = calls.clone();
        let strict = calls.on_failure(FailurePolicy::Fail);
        assert_eq!(strict.policy(), FailurePolicy::Fail);
        assert_eq!(clone.policy(), FailurePolicy::FallBackToRoom);
        assert_eq!(strict.join(room("r")).await.unwrap(), first);
    }

    #[cfg(feature = "metrics")]
    #[test]
    fn failures_are_counted_by_kind() {
        use metrics_util::{
            MetricKind,
            debugging::{DebugValue, DebuggingRecorder},
        };

        /// Fails synchronously with the error it holds.
        struct Failing(RegistryError);
        impl CallRegistry for Failing {
            fn join(&self, _: &ConferenceId) -> Join {
                Join::Ready(Err(self.0.clone()))
            }
            fn end_call(&self, _: &ConferenceId) -> BoxFuture<Result<(), RegistryError>> {
                Box::pin(async { Ok(()) })
            }
        }

        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let timeout = PerCall::new(Failing(RegistryError::Timeout)); // describes the counter
            let corrupt = PerCall::new(Failing(RegistryError::Corrupt("x".into())));
            for _ in 0..3 {
                assert!(timeout.join(room("r")).is_ready());
            }
            let _ = corrupt.join(room("r"));
            let _ = PerCall::new(MemoryRegistry::new()).join(room("r")); // a success counts nothing
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
        let expected: std::collections::BTreeMap<String, u64> =
            [("corrupt", 1), ("other", 0), ("timeout", 3), ("unavailable", 0)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
        assert_eq!(counts, expected);
    }
}
