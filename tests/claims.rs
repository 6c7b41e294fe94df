//! The token's claims under every issuer setting, checked with `jsonwebtoken`.

mod common;

use std::time::Duration;

use common::verify_ignoring_time;
use tower_callstats::{ConferenceId, ConfigError, SigningKey, TokenIssuer, UserId, clock::ManualClock};

fn user() -> UserId {
    UserId::new("ユーザー").unwrap()
}

#[test]
fn times_follow_the_clock_the_ttl_and_the_skew() {
    let clock = ManualClock::at_unix(2_000_000_000);
    let issuer = TokenIssuer::builder("app", SigningKey::generate("k").unwrap())
        .ttl(Duration::from_secs(600))
        .not_before_skew(Duration::from_secs(420))
        .clock(clock)
        .build()
        .unwrap();
    let public = issuer.keys().active().public_key_pem();
    let token = issuer.issue(&user(), None).unwrap();
    let claims = verify_ignoring_time(token.jwt(), &public);
    assert_eq!(claims["iat"], 2_000_000_000u64);
    assert_eq!(claims["nbf"], 2_000_000_000u64 - 420);
    assert_eq!(claims["exp"], 2_000_000_000u64 + 600);
    assert_eq!(claims["userID"], "ユーザー");
    assert_eq!(token.claims().user_id.as_bytes(), "ユーザー".as_bytes());
}

#[test]
fn conf_id_is_opt_in_and_extra_claims_are_added() {
    let mut extra = serde_json::Map::new();
    extra.insert("region".into(), "eu".into());
    extra.insert("tier".into(), 3.into());
    let issuer = TokenIssuer::builder("app", SigningKey::generate("k").unwrap())
        .conf_id_claim(true)
        .extra_claims(extra)
        .build()
        .unwrap();
    let public = issuer.keys().active().public_key_pem();
    let conference = ConferenceId::new("интернэт").unwrap();
    let claims = verify_ignoring_time(issuer.issue(&user(), Some(&conference)).unwrap().jwt(), &public);
    assert_eq!(claims["confID"], "интернэт");
    assert_eq!(claims["region"], "eu");
    assert_eq!(claims["tier"], 3);
    assert_eq!(claims.len(), 10);

    let plain = TokenIssuer::builder("app", SigningKey::generate("k").unwrap())
        .build()
        .unwrap();
    let public = plain.keys().active().public_key_pem();
    let claims = verify_ignoring_time(plain.issue(&user(), Some(&conference)).unwrap().jwt(), &public);
    assert!(!claims.contains_key("confID"), "confID is off by default");
    assert_eq!(claims.len(), common::CLAIMS.len());
}

#[test]
fn numeric_looking_app_ids_stay_strings() {
    let issuer = TokenIssuer::builder("0012345", SigningKey::generate("k").unwrap())
        .build()
        .unwrap();
    let public = issuer.keys().active().public_key_pem();
    let claims = verify_ignoring_time(issuer.issue(&user(), None).unwrap().jwt(), &public);
    assert_eq!(claims["appID"], serde_json::Value::String("0012345".into()));
}

#[test]
fn bad_settings_fail_at_build_with_the_offending_value() {
    let key = || SigningKey::generate("k").unwrap();
    // The claims callstats' JWT documentation defines, and the opt-in `confID`.
    for name in ["userID", "appID", "keyID", "iat", "nbf", "exp", "jti", "confID"] {
        let mut extra = serde_json::Map::new();
        extra.insert(name.into(), "x".into());
        let err = TokenIssuer::builder("app", key())
            .extra_claims(extra)
            .build()
            .unwrap_err();
        assert!(
            matches!(&err, ConfigError::ReservedClaim { name: n } if n == name),
            "{err}"
        );
    }
    let err = TokenIssuer::builder("app", key())
        .ttl(Duration::from_secs(5))
        .build()
        .unwrap_err();
    assert_eq!(err.to_string(), "ttl must be between 10 s and 24 h, got 5s");
    let err = TokenIssuer::builder("app", key())
        .not_before_skew(Duration::from_secs(7200))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("not_before_skew must be at most 1 h"), "{err}");
    let err = TokenIssuer::builder("", key()).build().unwrap_err();
    assert!(err.to_string().starts_with("appID \"\" is invalid"), "{err}");
    let err = TokenIssuer::builder("app", key())
        .cache_capacity(10)
        .cache_refresh_margin(Duration::from_secs(300))
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("refresh_margin must be shorter than the ttl"),
        "{err}"
    );
}

/// `issue` signs on every call (the cache lives in `Callstats`), each token with its
/// own `jti`.
#[test]
fn jti_is_unique_per_signed_token() {
    let issuer = TokenIssuer::builder("app", SigningKey::generate("k").unwrap())
        .build()
        .unwrap();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..500 {
        let token = issuer.issue(&user(), None).unwrap();
        assert!(seen.insert(token.claims().jti.clone()), "duplicate jti");
    }
}

#[test]
fn debug_of_a_token_hides_the_jwt() {
    let issuer = TokenIssuer::builder("app", SigningKey::generate("k").unwrap())
        .build()
        .unwrap();
    let token = issuer.issue(&user(), None).unwrap();
    let debug = format!("{token:?}");
    assert!(!debug.contains(token.jwt()), "{debug}");
    assert!(debug.contains(&token.claims().jti));
}
