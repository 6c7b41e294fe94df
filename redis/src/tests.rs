//! The registry's settings and its answers without Redis (the scripts' tests against a
//! real server are in `script/tests.rs`, the integration tests in `tests/`).

use super::*;

fn assert_send_sync<T: Send + Sync + 'static>() {}

#[test]
fn the_registry_is_send_and_sync() {
    assert_send_sync::<RedisRegistry>();
}

#[test]
fn debug_never_shows_the_url() {
    let registry = RedisRegistry::from_url("redis://operator:hunter2@127.0.0.1:1/0").unwrap();
    let shown = format!("{registry:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("operator"), "{shown}");
    assert!(shown.contains("callstats:call:"), "{shown}");
}

#[test]
fn settings_have_their_defaults_and_are_clamped() {
    let default = RedisRegistry::from_url("redis://127.0.0.1:1").unwrap();
    assert_eq!(default.effective_cache_ttl(), Duration::from_secs(2));
    assert_eq!(default.idle_timeout, Duration::from_secs(7200));
    assert_eq!(default.command_timeout, Duration::from_millis(250));
    assert_eq!(default.unresponsive_timeout, Duration::from_secs(1));
    assert_eq!(default.max_new_calls_per_user, 60);
    // Re-asserted only if confirmed within the idle timeout minus the cache's lifetime.
    assert_eq!(default.reassert_window(), Duration::from_secs(7198));

    let clamped = RedisRegistry::from_url("redis://127.0.0.1:1")
        .unwrap()
        .idle_timeout(Duration::ZERO)
        .command_timeout(Duration::ZERO)
        .unresponsive_timeout(Duration::ZERO)
        .local_cache_ttl(Duration::from_secs(3600))
        .max_new_calls_per_user(0);
    assert_eq!(clamped.idle_timeout, Duration::from_millis(1));
    assert_eq!(clamped.command_timeout, Duration::from_millis(1));
    assert_eq!(clamped.unresponsive_timeout, Duration::from_millis(100));
    assert_eq!(clamped.max_new_calls_per_user, 0);
    // Half the idle timeout.
    assert_eq!(clamped.effective_cache_ttl(), Duration::from_micros(500));
    assert_eq!(clamped.reassert_window(), Duration::from_micros(500));
}

#[test]
fn a_prefix_with_braces_is_refused() {
    let registry = || RedisRegistry::from_url("redis://127.0.0.1:1").unwrap();
    for prefix in ["app:{x}:", "{", "}"] {
        assert!(matches!(
            registry().key_prefix(prefix),
            Err(tower_callstats::ConfigError::InvalidValue { .. })
        ));
    }
    let ok = registry().key_prefix("app:call:").unwrap();
    assert_eq!(&ok.prefix[..], b"app:call:");
}

#[test]
fn urls_of_every_topology_make_a_registry() {
    for url in [
        "redis://127.0.0.1:1/0",
        "redis-sentinel://127.0.0.1:1/0?sentinelServiceName=mymaster&node=127.0.0.1:2",
        "redis-cluster://127.0.0.1:1?node=127.0.0.1:2",
    ] {
        RedisRegistry::from_url(url).unwrap();
    }
}

#[test]
fn an_invalid_room_reaches_no_redis() {
    // Port 1: nothing listens; an answer without I/O is the only way to pass.
    let registry = RedisRegistry::from_url("redis://127.0.0.1:1").unwrap();
    let alice = UserId::new("alice").unwrap();
    let call = ConferenceId::new("x").unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    for room in ["", "a\nb", &"x".repeat(257)] {
        assert!(registry.join_now(room, &alice).is_none());
        let error = runtime.block_on(registry.join(room, &alice)).unwrap_err();
        assert!(matches!(error, RegistryError::Other(_)), "{error:?}");
        assert_eq!(runtime.block_on(registry.end_call(room, &call)), Ok(false));
    }
}

#[tokio::test]
async fn a_redis_that_is_not_there_fails_within_the_timeout() {
    // Port 1 on loopback: connection refused at once (or, at worst, the timeout).
    let registry = RedisRegistry::from_url("redis://127.0.0.1:1")
        .unwrap()
        .command_timeout(Duration::from_millis(200));
    let alice = UserId::new("alice").unwrap();
    let call = ConferenceId::new("r-1").unwrap();
    // The first command waits for the first connection, at most 1 s.
    let started = std::time::Instant::now();
    assert!(registry.join("r", &alice).await.is_err());
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    // Then a disconnected client fails at once (well within the timeout).
    for _ in 0..3 {
        let started = std::time::Instant::now();
        assert!(registry.join_now("r", &alice).is_none());
        let error = registry.join("r", &alice).await.unwrap_err();
        assert!(matches!(error, RegistryError::Unavailable(_)), "{error:?}");
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );
        let started = std::time::Instant::now();
        assert!(registry.end_call("r", &call).await.is_err());
        assert!(started.elapsed() < Duration::from_millis(200));
    }
}
