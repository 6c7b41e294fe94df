//! The crate's metrics through the `metrics` facade, seen by a recorder:
//! `callstats_tokens_total{action}`, `callstats_tokens_signed_total{key_id}`,
//! `callstats_signing_seconds`, `callstats_token_cache_entries`.
//!
//! `cargo test --features metrics --test metrics`. Each test installs its recorder for
//! its own thread only (`metrics::with_local_recorder`), so tests do not see each
//! other's counts.

use std::collections::BTreeMap;

use axum::{Router, body::Body, routing::get};
use http::Request;
use metrics_util::{
    MetricKind,
    debugging::{DebugValue, DebuggingRecorder, Snapshotter},
};
use tower::ServiceExt;
use tower_callstats::{
    AppUser, Callstats, GetUser, SigningKey, TokenIssuer, UserId,
    audit::{Action, Audit, AuditEvent, TracingAudit},
    metrics::describe,
};

// The metric names, as the crate documents them (its `metrics` module's table).
const TOKENS_TOTAL: &str = "callstats_tokens_total";
const TOKENS_SIGNED_TOTAL: &str = "callstats_tokens_signed_total";
const SIGNING_SECONDS: &str = "callstats_signing_seconds";
const TOKEN_CACHE_ENTRIES: &str = "callstats_token_cache_entries";

/// `action` label -> count, for `callstats_tokens_total`; and its description.
fn token_counts(snapshotter: &Snapshotter) -> (BTreeMap<String, u64>, Option<String>) {
    let mut counts = BTreeMap::new();
    let mut description = None;
    for (key, _unit, desc, value) in snapshotter.snapshot().into_vec() {
        if key.kind() != MetricKind::Counter || key.key().name() != TOKENS_TOTAL {
            continue;
        }
        let labels: Vec<_> = key
            .key()
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        assert_eq!(labels.len(), 1, "only the action label: {labels:?}");
        assert_eq!(labels[0].0, "action");
        let DebugValue::Counter(n) = value else {
            panic!("{TOKENS_TOTAL} is not a counter")
        };
        counts.insert(labels[0].1.clone(), n);
        description = desc.map(|d| d.to_string());
    }
    (counts, description)
}

fn expected(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(future)
}

/// A page behind the layer of `callstats`.
fn page<U: GetUser>(callstats: &Callstats<U>) -> Router {
    Router::new()
        .route("/", get(|| async { "ok" }))
        .route_layer(callstats.layer())
}

/// The page as `user` (none: anonymous); its status.
async fn visit(app: &Router, user: Option<&str>) -> http::StatusCode {
    let mut request = Request::get("/").body(Body::empty()).unwrap();
    if let Some(user) = user {
        request.extensions_mut().insert(AppUser::new(user));
    }
    app.clone().oneshot(request).await.unwrap().status()
}

#[test]
fn describe_metrics_registers_every_action_at_zero_with_a_description() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, describe);

    let (counts, description) = token_counts(&snapshotter);
    assert_eq!(
        counts,
        expected(&[
            ("failed", 0),
            ("force_new_limited", 0),
            ("issued", 0),
            ("rejected", 0),
            ("reused", 0)
        ])
    );
    let description = description.expect("callstats_tokens_total is described");
    assert!(description.contains("issued"), "{description}");
}

#[test]
fn tokens_are_counted_by_action() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        block_on(async {
            let issuer = TokenIssuer::builder("app", SigningKey::generate("key-1").unwrap())
                .build()
                .unwrap();
            // The issuer alone signs without auditing: no count.
            let alice = UserId::new("alice").unwrap();
            issuer.issue(&alice, None).unwrap();
            issuer.issue(&alice, None).unwrap();

            // Through the layer: alice (issued, then reused twice), bob (issued),
            // anonymous (passed through: no decision, no count).
            let callstats = Callstats::new(issuer);
            let app = page(&callstats);
            for user in [Some("alice"), Some("alice"), Some("alice"), Some("bob"), None] {
                assert_eq!(visit(&app, user).await, 200);
            }

            // The endpoint without a session: rejected.
            let request = Request::post("/getToken").body(Body::empty()).unwrap();
            let response = callstats.endpoint().oneshot(request).await.unwrap();
            assert_eq!(response.status(), 403);
        });
        // Signing failures cannot be provoked from outside; the audit counts them the same way.
        TracingAudit.record(&AuditEvent::new(Action::Failed).with_reason("ES256 signing failed"));
    });

    let (counts, _) = token_counts(&snapshotter);
    assert_eq!(
        counts,
        expected(&[
            ("failed", 1),
            ("force_new_limited", 0),
            ("issued", 2),
            ("rejected", 1),
            ("reused", 2)
        ])
    );
}

#[test]
fn a_custom_audit_replaces_the_counters_unless_it_calls_tracing_audit() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        block_on(async {
            let issuer = || {
                TokenIssuer::builder("app", SigningKey::generate("k").unwrap())
                    .build()
                    .unwrap()
            };
            let silent = Callstats::new(issuer()).audit(|_: &AuditEvent<'_>| {});
            assert_eq!(visit(&page(&silent), Some("alice")).await, 200);
            let chained = Callstats::new(issuer()).audit(|event: &AuditEvent<'_>| TracingAudit.record(event));
            assert_eq!(visit(&page(&chained), Some("alice")).await, 200);
        });
    });
    let (counts, _) = token_counts(&snapshotter);
    assert_eq!(
        counts,
        expected(&[
            ("failed", 0),
            ("force_new_limited", 0),
            ("issued", 1),
            ("rejected", 0),
            ("reused", 0)
        ])
    );
}

type Snapshot = Vec<(
    metrics_util::CompositeKey,
    Option<metrics::Unit>,
    Option<metrics::SharedString>,
    DebugValue,
)>;

/// Takes one snapshot (taking one drains histograms) and splits it by metric name into
/// (labels, value) pairs.
type Series = Vec<(Vec<(String, String)>, DebugValue)>;

fn by_name(snapshot: Snapshot) -> BTreeMap<String, Series> {
    let mut out: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for (key, _, _, value) in snapshot {
        let labels = key
            .key()
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        out.entry(key.key().name().to_owned())
            .or_default()
            .push((labels, value));
    }
    out
}

#[test]
fn signatures_are_timed_and_counted_by_key_id_and_the_cache_size_is_a_gauge() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        block_on(async {
            let issuer = TokenIssuer::builder("app", SigningKey::generate("key-1").unwrap())
                .build()
                .unwrap();
            let app = page(&Callstats::new(issuer));
            for user in ["alice", "bob", "carol"] {
                assert_eq!(visit(&app, Some(user)).await, 200);
            }
            assert_eq!(visit(&app, Some("alice")).await, 200); // cached: no signature
        });
    });

    let metrics = by_name(snapshotter.snapshot().into_vec());
    let signed = &metrics[TOKENS_SIGNED_TOTAL];
    assert_eq!(signed.len(), 1, "{signed:?}");
    assert_eq!(signed[0].0, [("key_id".to_owned(), "key-1".to_owned())]);
    assert!(matches!(signed[0].1, DebugValue::Counter(3)), "{:?}", signed[0].1);

    let timed = &metrics[SIGNING_SECONDS];
    let DebugValue::Histogram(samples) = &timed[0].1 else {
        panic!("{timed:?}")
    };
    assert_eq!(samples.len(), 3, "one sample per signature");
    assert!(
        samples.iter().all(|s| s.into_inner() > 0.0 && s.into_inner() < 1.0),
        "{samples:?}"
    );

    let entries = &metrics[TOKEN_CACHE_ENTRIES];
    assert!(
        matches!(entries[0].1, DebugValue::Gauge(g) if g.into_inner() == 3.0),
        "{entries:?}"
    );
}

#[test]
fn bounded_forced_reissues_are_counted() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        block_on(async {
            let issuer = TokenIssuer::builder("app", SigningKey::generate("key-1").unwrap())
                .clock(tower_callstats::clock::ManualClock::at_unix(1_800_000_000))
                .build()
                .unwrap();
            let endpoint = Callstats::new(issuer).endpoint();
            // Five forced re-issues in the same second: one signature, four limited.
            for _ in 0..5 {
                let mut request = Request::post("/getToken")
                    .header("content-type", "application/json")
                    .body(Body::from(r#"{"forceNew":true}"#))
                    .unwrap();
                request.extensions_mut().insert(AppUser::new("alice"));
                assert_eq!(endpoint.clone().oneshot(request).await.unwrap().status(), 200);
            }
        });
    });
    let (counts, _) = token_counts(&snapshotter);
    assert_eq!(counts["issued"], 1, "{counts:?}");
    assert_eq!(counts["force_new_limited"], 4, "{counts:?}");
}
