//! Key files at start-up and at reload: a missing, unreadable or corrupt file is a
//! clear error (what was found, what is expected, which file), never a server that
//! signs with nothing; a file that turns bad at reload leaves the current key active,
//! and the error is returned and logged.
//!
//! The demo binary's exit code on a bad key file is checked in `.ci/keyfile-startup.sh`,
//! and a live `kill -HUP` reload in `.ci/keyfile-reload.sh`, against the built binary.

mod common;

use std::{path::PathBuf, time::Duration};

use common::{Captured, fixture_path, pem_body_lines, truncated_pem};
use tower_callstats::{KeyError, KeyRing, SigningKey, TokenIssuer, UserId};

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("tower-callstats-keyfile-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The advice every key error ends with.
const EXPECTED: &str = "expected an unencrypted P-256 (prime256v1) EC private key in PEM";

#[test]
fn bad_key_files_at_start_up_say_what_was_found_and_what_is_expected() {
    let scratch = Scratch::new("startup");
    let good = SigningKey::generate("k").unwrap().to_sec1_pem();
    let cases: Vec<(&str, PathBuf, &str)> = vec![
        (
            "missing",
            scratch.0.join("nonexistent.pem"),
            "No such file or directory",
        ),
        // A directory cannot be read as a file even by root (chmod 000 can).
        ("unreadable (a directory)", scratch.0.clone(), "cannot read key file"),
        ("empty", scratch.file("empty.pem", ""), "found an empty input"),
        (
            "garbage",
            scratch.file("garbage.pem", "hello\n"),
            "found 6 bytes with no PEM block",
        ),
        (
            "binary DER",
            scratch.file("key.der", [0x30u8, 0x77, 0x02, 0x01]),
            "looks like DER",
        ),
        (
            "truncated PEM body",
            scratch.file("truncated.pem", truncated_pem(&good)),
            "does not parse",
        ),
        (
            "armour without a body",
            scratch.file(
                "hollow.pem",
                "-----BEGIN EC PRIVATE KEY-----\n-----END EC PRIVATE KEY-----\n",
            ),
            "does not parse",
        ),
        (
            "flipped byte",
            scratch.file("flipped.pem", good.replacen('M', "N", 1)),
            "does not parse",
        ),
        (
            "half a file (cut mid-write)",
            scratch.file("half.pem", &good[..good.len() / 2]),
            "no PEM block",
        ),
        ("public key", fixture_path("sec1_public.pem"), "found a public key"),
        ("secp256k1", fixture_path("secp256k1.pem"), "found a secp256k1 key"),
        ("RSA", fixture_path("rsa_pkcs8.pem"), "found an RSA private key"),
        (
            "encrypted",
            fixture_path("encrypted_pkcs8.pem"),
            "found an encrypted private key",
        ),
    ];
    for (name, path, found) in &cases {
        let error = SigningKey::from_pem_file("k", path).expect_err(name);
        let message = error.to_string();
        assert!(message.contains(found), "{name}: {message:?} should say {found:?}");
        assert!(
            message.contains(EXPECTED),
            "{name}: {message:?} should say what is expected"
        );
        assert!(
            message.contains("openssl ecparam -name prime256v1"),
            "{name}: {message}"
        );
        if let KeyError::Io { path: reported, .. } = &error {
            assert_eq!(reported, path, "{name}: the error names the file");
            assert!(message.contains(&*path.to_string_lossy()), "{name}: {message}");
        }
        // No key material in the message or the Debug output.
        for line in pem_body_lines(&good) {
            assert!(
                !message.contains(&line) && !format!("{error:?}").contains(&line),
                "{name}"
            );
        }
    }
    println!("keyfile: {} bad key files refused with a clear error", cases.len());
}

#[test]
fn a_key_file_that_turns_bad_at_reload_leaves_the_current_key_active() {
    let (captured, _guard) = Captured::install(tracing::Level::INFO);

    let scratch = Scratch::new("reload");
    let grace = Duration::from_secs(600);
    let first = SigningKey::generate("key-1").unwrap();
    let path = scratch.file("key.pem", first.to_sec1_pem());
    let ring = KeyRing::new(SigningKey::from_pem_file("key-1", &path).unwrap());
    let issuer = TokenIssuer::builder("app", ring.clone()).cache(false).build().unwrap();
    let user = UserId::new("alice").unwrap();
    let signer = |issuer: &TokenIssuer| issuer.issue(&user, None).unwrap().claims().key_id.clone();

    // A good new key: reloaded, active, the old one still published.
    let second = SigningKey::generate("key-2").unwrap();
    std::fs::write(&path, second.to_pkcs8_pem()).unwrap();
    ring.reload_from_file("key-2", &path, grace).unwrap();
    assert_eq!(ring.active().public_key_bytes(), second.public_key_bytes());
    assert_eq!(signer(&issuer), "key-2");
    let published = |ring: &KeyRing| ring.jwks().keys.into_iter().map(|k| k.kid).collect::<Vec<_>>();
    assert_eq!(published(&ring), ["key-2", "key-1"]);

    // The file turns bad in every way a deploy can break it; each reload fails, returns
    // the error, and changes nothing.
    let third = SigningKey::generate("key-3").unwrap();
    let bad: Vec<(&str, Option<String>, &str)> = vec![
        ("truncated", Some(truncated_pem(&third.to_sec1_pem())), "does not parse"),
        ("emptied", Some(String::new()), "found an empty input"),
        (
            "half written",
            Some(third.to_sec1_pem()[..60].to_owned()),
            "no PEM block",
        ),
        (
            "replaced by the public key",
            Some(third.public_key_pem()),
            "found a public key",
        ),
        ("deleted", None, "cannot read key file"),
    ];
    for (name, contents, found) in &bad {
        match contents {
            Some(contents) => std::fs::write(&path, contents).unwrap(),
            None => std::fs::remove_file(&path).unwrap(),
        }
        let error = ring.reload_from_file("key-3", &path, grace).expect_err(name);
        assert!(error.to_string().contains(found), "{name}: {error}");
        assert_eq!(ring.active().key_id(), "key-2", "{name}: the old key stays active");
        assert_eq!(ring.active().public_key_bytes(), second.public_key_bytes(), "{name}");
        assert_eq!(published(&ring), ["key-2", "key-1"], "{name}: the JWKS is unchanged");
        assert_eq!(
            signer(&issuer),
            "key-2",
            "{name}: tokens are still signed, by the old key"
        );
    }

    // Fixed: the next reload succeeds.
    std::fs::write(&path, third.to_sec1_pem()).unwrap();
    ring.reload_from_file("key-3", &path, grace).unwrap();
    assert_eq!(signer(&issuer), "key-3");
    assert_eq!(published(&ring), ["key-3", "key-2", "key-1"]);

    let logs = captured.text();
    let failures: Vec<&str> = logs.lines().filter(|l| l.contains("key reload failed")).collect();
    assert_eq!(failures.len(), bad.len(), "every failed reload is logged once: {logs}");
    for line in &failures {
        assert!(line.contains("ERROR"), "{line}");
        assert!(
            line.contains(&*path.to_string_lossy()),
            "the log names the file: {line}"
        );
        assert!(line.contains("the current key stays active"), "{line}");
    }
    assert_eq!(logs.matches("signing key rotated").count(), 2, "{logs}");
}
