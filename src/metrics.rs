//! The crate's metrics (feature `metrics`), through the [`metrics`](https://docs.rs/metrics)
//! facade, so any exporter (Prometheus, StatsD, ...) picks them up.
//!
//! | name | type | labels | meaning |
//! | --- | --- | --- | --- |
//! | `callstats_tokens_total` | counter | `action` = `issued`, `reused`, `force_new_limited`, `rejected`, `failed` | one per audit event of [`TracingAudit`](crate::audit::TracingAudit) |
//! | `callstats_tokens_signed_total` | counter | `key_id` | signatures made, by the keyID that signed (one series per key) |
//! | `callstats_signing_seconds` | histogram | | time of one ES256 signature of a token |
//! | `callstats_token_cache_entries` | gauge | | tokens in the token cache, after each insert (with several [`Callstats`](crate::Callstats) of their own caches, the cache that inserted last) |
//!
//! Label values are closed sets (no userIDs, no reasons), so the series count stays
//! small. Building a [`TokenIssuer`](crate::TokenIssuer) calls [`describe`], which adds
//! the descriptions and registers every `action` series at zero, so that rates work
//! before the first failure; call it again if you install the recorder later.
//!
//! ```
//! use metrics_util::debugging::DebuggingRecorder;
//! use tower_callstats::{SigningKey, TokenIssuer, UserId};
//!
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! metrics::with_local_recorder(&recorder, || {
//!     let issuer = TokenIssuer::builder("app", SigningKey::generate("k").unwrap()).build().unwrap();
//!     issuer.issue(&UserId::new("alice").unwrap(), None).unwrap();
//! });
//! let names: Vec<String> = snapshotter.snapshot().into_vec().into_iter().map(|(key, ..)| key.key().name().to_owned()).collect();
//! assert!(names.iter().any(|n| n == "callstats_tokens_total"));
//! assert!(names.iter().any(|n| n == "callstats_signing_seconds"));
//! ```

use std::time::Duration;

use crate::audit::Action;

pub(crate) use crate::audit::TOKENS_TOTAL;
/// `callstats_tokens_signed_total`, labelled `key_id`.
pub(crate) const TOKENS_SIGNED_TOTAL: &str = "callstats_tokens_signed_total";
/// `callstats_signing_seconds`, a histogram.
pub(crate) const SIGNING_SECONDS: &str = "callstats_signing_seconds";
/// `callstats_token_cache_entries`, a gauge.
pub(crate) const TOKEN_CACHE_ENTRIES: &str = "callstats_token_cache_entries";

/// Describes the crate's metrics to the installed recorder and registers every
/// `action` series of `callstats_tokens_total` at zero. Harmless to call again.
pub fn describe() {
    metrics::describe_counter!(
        TOKENS_TOTAL,
        metrics::Unit::Count,
        "callstats tokens by outcome: issued (newly signed), reused (from the cache), force_new_limited (a forced re-issue got the token just signed), rejected (request refused), failed (signing failed)"
    );
    metrics::describe_counter!(
        TOKENS_SIGNED_TOTAL,
        metrics::Unit::Count,
        "callstats tokens signed, by the keyID of the signing key"
    );
    metrics::describe_histogram!(
        SIGNING_SECONDS,
        metrics::Unit::Seconds,
        "time of one ES256 signature of a callstats token"
    );
    metrics::describe_gauge!(
        TOKEN_CACHE_ENTRIES,
        metrics::Unit::Count,
        "callstats tokens in the token cache"
    );
    for action in Action::ALL {
        metrics::counter!(TOKENS_TOTAL, "action" => action.as_str()).increment(0);
    }
}

pub(crate) fn signed(key_id: &str, took: Duration, ok: bool) {
    metrics::histogram!(SIGNING_SECONDS).record(took.as_secs_f64());
    if ok {
        metrics::counter!(TOKENS_SIGNED_TOTAL, "key_id" => key_id.to_owned()).increment(1);
    }
}

pub(crate) fn cache_entries(entries: usize) {
    metrics::gauge!(TOKEN_CACHE_ENTRIES).set(entries as f64);
}
