//! The `callstats-token` binary, run as a user would run it.
//!
//! `cargo test -p callstats-token`. Needs `openssl` on the PATH (for keys made
//! the way callstats' docs make them); the tests fail, not skip, without it.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::Value;
use tower_callstats::SigningKey;

const BIN: &str = env!("CARGO_BIN_EXE_callstats-token");

/// A fresh directory for one test, under Cargo's scratch space for integration tests.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run callstats-token")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[track_caller]
fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "expected success, got {:?}\nstdout: {}\nstderr: {}",
        output.status,
        stdout(output),
        stderr(output)
    );
}

/// Asserts exit status 1, nothing on stdout, and `expected` on stderr.
#[track_caller]
fn assert_failure(output: &Output, expected: &[&str]) {
    assert_eq!(output.status.code(), Some(1), "stderr: {}", stderr(output));
    assert!(output.stdout.is_empty(), "stdout: {}", stdout(output));
    let err = stderr(output);
    for part in expected {
        assert!(err.contains(part), "stderr {err:?} should contain {part:?}");
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed for these tests (apt-get install openssl)");
    assert!(output.status.success(), "openssl {args:?}: {}", stderr(&output));
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn mint(dir: &Path, key: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "mint", "--app-id", "12345", "--key-id", "key-1", "--key", key, "--user", "alice",
    ];
    args.extend_from_slice(extra);
    let output = run(dir, &args);
    assert_success(&output);
    stdout(&output).trim().to_owned()
}

fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[test]
fn keygen_mint_verify_round_trip() {
    let dir = scratch("round-trip");
    let output = run(&dir, &["keygen", "--key-id", "key-1"]);
    assert_success(&output);

    // The printed JWK is the public key, with the keyID as kid.
    let jwk: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!((jwk["kty"].as_str(), jwk["crv"].as_str()), (Some("EC"), Some("P-256")));
    assert_eq!(jwk["kid"], "key-1");
    assert!(jwk.get("d").is_none(), "the JWK must not contain the private key");

    // PKCS8 private key, 0600; the public PEM is the public half of it.
    let private = std::fs::read_to_string(dir.join("callstats-key.pem")).unwrap();
    let public = std::fs::read_to_string(dir.join("callstats-key.pub.pem")).unwrap();
    assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"), "{private}");
    assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"), "{public}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("callstats-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let key = SigningKey::from_pem("key-1", &private).unwrap();
    assert_eq!(key.public_key_pem(), public);
    assert_eq!(jwk["x"].as_str(), Some(key.public_jwk().x.as_str()));

    // Mint, with non-ASCII IDs.
    let output = run(
        &dir,
        &[
            "mint",
            "--app-id",
            "12345",
            "--key-id",
            "key-1",
            "--key",
            "callstats-key.pem",
            "--user",
            "アリス",
            "--conference",
            "インターネット",
            "--ttl",
            "10m",
            "--json",
        ],
    );
    assert_success(&output);
    let minted: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let token = minted["token"].as_str().unwrap();
    let claims = &minted["claims"];
    assert_eq!(claims["userID"], "アリス");
    assert_eq!(claims["appID"], "12345", "appID must stay a JSON string");
    assert_eq!(claims["keyID"], "key-1");
    assert_eq!(claims["confID"], "インターネット");
    assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 600);
    assert_eq!(minted["header"]["alg"], "ES256");
    assert_eq!(minted["header"]["kid"], "key-1");
    assert_eq!(&payload(token), claims);

    // Verify against the public PEM.
    let output = run(&dir, &["verify", "--public-key", "callstats-key.pub.pem", token]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(text.contains("signature: valid"), "{text}");
    assert!(text.contains("\"userID\": \"アリス\""), "{text}");
    assert!(
        text.contains("time left: 9m") || text.contains("time left: 10m"),
        "{text}"
    );

    // ... against a JWKS file holding the key (picked by kid), and with --json.
    let jwks = serde_json::json!({ "keys": [jwk] });
    std::fs::write(dir.join("jwks.json"), jwks.to_string()).unwrap();
    let output = run(
        &dir,
        &["verify", "--jwks", "jwks.json", "--app-id", "12345", "--json", token],
    );
    assert_success(&output);
    let verified: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(verified["valid"], true);
    assert_eq!(&verified["claims"], claims);
    let left = verified["expiresInSeconds"].as_u64().unwrap();
    assert!((1..=600).contains(&left), "{left}");

    // ... and the token from stdin.
    let mut child = Command::new(BIN)
        .args(["verify", "--public-key", "callstats-key.pub.pem"])
        .current_dir(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "{token}").unwrap();
    assert_success(&child.wait_with_output().unwrap());

    // A different appID is refused.
    let output = run(
        &dir,
        &[
            "verify",
            "--public-key",
            "callstats-key.pub.pem",
            "--app-id",
            "999",
            token,
        ],
    );
    assert_failure(&output, &["appID claim is \"12345\", expected \"999\""]);
}

#[test]
fn keygen_refuses_to_overwrite_without_force() {
    let dir = scratch("overwrite");
    assert_success(&run(&dir, &["keygen"]));
    let before = std::fs::read_to_string(dir.join("callstats-key.pem")).unwrap();

    let output = run(&dir, &["keygen"]);
    assert_failure(&output, &["callstats-key.pem already exists", "--force"]);
    assert_eq!(std::fs::read_to_string(dir.join("callstats-key.pem")).unwrap(), before);

    // Without --key-id the JWK has no kid (callstats assigns it on upload).
    let output = run(&dir, &["keygen", "--force"]);
    assert_success(&output);
    let jwk: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert!(jwk.get("kid").is_none(), "{jwk}");
    assert_ne!(std::fs::read_to_string(dir.join("callstats-key.pem")).unwrap(), before);
}

/// The permission bits of a file (without following a symbolic link).
#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

/// `keygen --force` refuses a symbolic link at the key path: the key is not written
/// through it, and the file it points to is untouched.
#[cfg(unix)]
#[test]
fn keygen_refuses_a_symlink_at_the_key_path() {
    let dir = scratch("symlink");
    let victim = dir.join("victim.txt");
    std::fs::write(&victim, "not yours\n").unwrap();
    std::os::unix::fs::symlink(&victim, dir.join("callstats-key.pem")).unwrap();
    for args in [&["keygen", "--force"][..], &["keygen"][..]] {
        let output = run(&dir, args);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {}", stderr(&output));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "not yours\n", "{args:?}");
        assert!(
            std::fs::symlink_metadata(dir.join("callstats-key.pem"))
                .unwrap()
                .file_type()
                .is_symlink(),
            "{args:?}: the link is left alone"
        );
    }
    let output = run(&dir, &["keygen", "--force"]);
    assert_failure(&output, &["callstats-key.pem is a symbolic link", "refusing"]);
    // Nothing was written: not the public key either.
    assert!(!dir.join("callstats-key.pub.pem").exists());

    // A dangling link (to a file that does not exist yet) is refused too.
    let dir = scratch("dangling");
    std::os::unix::fs::symlink(dir.join("elsewhere.pem"), dir.join("callstats-key.pub.pem")).unwrap();
    let output = run(&dir, &["keygen"]);
    assert_failure(&output, &["callstats-key.pub.pem is a symbolic link"]);
    assert!(!dir.join("elsewhere.pem").exists());
    assert!(!dir.join("callstats-key.pem").exists(), "no half pair");
}

/// A new private key file is 0600; `--force` replaces an existing file with a new one
/// (0600, whatever the old mode), so the old file's other hard links keep the old
/// contents instead of receiving the key.
#[cfg(unix)]
#[test]
fn keygen_force_creates_a_fresh_0600_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("fresh");
    assert_success(&run(&dir, &["keygen"]));
    assert_eq!(mode(&dir.join("callstats-key.pem")), 0o600);

    let key = dir.join("callstats-key.pem");
    std::fs::write(&key, "old contents\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::hard_link(&key, dir.join("backup-link")).unwrap();
    assert_success(&run(&dir, &["keygen", "--force"]));
    assert_eq!(mode(&key), 0o600);
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("backup-link")).unwrap(),
        "old contents\n",
        "the key went to a new file, not through the old one"
    );
}

#[test]
fn sec1_key_from_openssl_mints_tokens_that_verify_with_the_openssl_public_key() {
    let dir = scratch("sec1");
    // The command from callstats' docs.
    openssl(
        &dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "sec1.pem",
        ],
    );
    openssl(&dir, &["ec", "-in", "sec1.pem", "-pubout", "-out", "public.pem"]);
    assert!(
        std::fs::read_to_string(dir.join("sec1.pem"))
            .unwrap()
            .contains("BEGIN EC PRIVATE KEY")
    );

    let token = mint(&dir, "sec1.pem", &[]);
    assert_eq!(payload(&token)["userID"], "alice");
    let output = run(&dir, &["verify", "--public-key", "public.pem", &token]);
    assert_success(&output);
    assert!(stdout(&output).contains("signature: valid"));
}

#[test]
fn tampered_token_fails_verify() {
    let dir = scratch("tampered");
    assert_success(&run(&dir, &["keygen", "--key-id", "key-1"]));
    let token = mint(&dir, "callstats-key.pem", &[]);
    let parts: Vec<&str> = token.split('.').collect();

    // Another userID in the payload, the original signature.
    let mut claims = payload(&token);
    claims["userID"] = "mallory".into();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let output = run(&dir, &["verify", "--public-key", "callstats-key.pub.pem", &forged]);
    assert_failure(&output, &["bad signature", "callstats-key.pub.pem"]);

    // One flipped signature character.
    let mut signature = parts[2].to_owned();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    signature.replace_range(0..1, flipped);
    let output = run(
        &dir,
        &[
            "verify",
            "--public-key",
            "callstats-key.pub.pem",
            &format!("{}.{}.{signature}", parts[0], parts[1]),
        ],
    );
    assert_failure(&output, &["bad signature"]);

    // The right token, the wrong key.
    assert_success(&run(
        &dir,
        &["keygen", "--private-key", "other.pem", "--public-key", "other.pub.pem"],
    ));
    let output = run(&dir, &["verify", "--public-key", "other.pub.pem", &token]);
    assert_failure(&output, &["bad signature", "other.pub.pem"]);
}

#[test]
fn expired_and_not_yet_valid_tokens_fail_with_clear_messages() {
    let dir = scratch("expired");
    assert_success(&run(&dir, &["keygen", "--key-id", "key-1"]));

    let an_hour_ago = (now() - 3600).to_string();
    let token = mint(
        &dir,
        "callstats-key.pem",
        &["--issued-at", &an_hour_ago, "--ttl", "300"],
    );
    let output = run(&dir, &["verify", "--public-key", "callstats-key.pub.pem", &token]);
    assert_failure(
        &output,
        &["expired: the token expired 55m", "ago", "mint or request a new one"],
    );

    let in_an_hour = (now() + 3600).to_string();
    let token = mint(&dir, "callstats-key.pem", &["--issued-at", &in_an_hour]);
    let output = run(&dir, &["verify", "--public-key", "callstats-key.pub.pem", &token]);
    assert_failure(&output, &["not yet valid: nbf is 5", "from now"]);
}

#[test]
fn wrong_algorithm_and_malformed_tokens_are_named() {
    let dir = scratch("malformed");
    assert_success(&run(&dir, &["keygen", "--key-id", "key-1"]));
    let token = mint(&dir, "callstats-key.pem", &[]);
    let parts: Vec<&str> = token.split('.').collect();
    let verify = |token: &str| run(&dir, &["verify", "--public-key", "callstats-key.pub.pem", token]);

    let hs256 = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#);
    assert_failure(
        &verify(&format!("{hs256}.{}.{}", parts[1], parts[2])),
        &["wrong algorithm", "\"HS256\"", "ES256"],
    );
    let none = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
    assert_failure(
        &verify(&format!("{none}.{}.", parts[1])),
        &["wrong algorithm", "\"none\""],
    );
    assert_failure(&verify("not-a-token"), &["malformed token", "1 part(s)"]);
    assert_failure(
        &verify(&format!("{}.{}", parts[0], parts[1])),
        &["malformed token", "2 part(s)"],
    );
    assert_failure(
        &verify(&format!("%%%.{}.{}", parts[1], parts[2])),
        &["malformed token: the header"],
    );
    assert_failure(
        &verify(&format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode("[1]"), parts[2])),
        &["malformed token: the payload is not a JSON object"],
    );
    // A DER signature (what some ECDSA libraries produce) is not a JWS signature.
    let der = URL_SAFE_NO_PAD.encode([0x30u8; 70]);
    assert_failure(
        &verify(&format!("{}.{}.{der}", parts[0], parts[1])),
        &["64 bytes (r||s)", "DER"],
    );
    // A private key where the public key belongs.
    let output = run(&dir, &["verify", "--public-key", "callstats-key.pem", &token]);
    assert_failure(&output, &["holds a private key", "BEGIN PUBLIC KEY"]);
}

#[test]
fn jwks_without_the_tokens_kid_is_reported() {
    let dir = scratch("jwks-kid");
    assert_success(&run(&dir, &["keygen", "--key-id", "key-1"]));
    let output = run(
        &dir,
        &[
            "keygen",
            "--private-key",
            "b.pem",
            "--public-key",
            "b.pub.pem",
            "--key-id",
            "key-2",
        ],
    );
    let jwk: Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    std::fs::write(dir.join("jwks.json"), serde_json::json!({ "keys": [jwk] }).to_string()).unwrap();
    let token = mint(&dir, "callstats-key.pem", &[]);
    let output = run(&dir, &["verify", "--jwks", "jwks.json", &token]);
    assert_failure(&output, &["no key with kid \"key-1\"", "[\"key-2\"]"]);
}

#[test]
fn mint_with_a_key_on_the_wrong_curve_fails_with_the_crates_message() {
    let dir = scratch("wrong-curve");
    openssl(
        &dir,
        &["ecparam", "-name", "secp384r1", "-genkey", "-noout", "-out", "p384.pem"],
    );
    let output = run(
        &dir,
        &[
            "mint", "--app-id", "1", "--key-id", "k", "--key", "p384.pem", "--user", "alice",
        ],
    );
    assert_failure(
        &output,
        &[
            "p384.pem",
            "found a P-384 (secp384r1) key",
            "expected an unencrypted P-256 (prime256v1)",
        ],
    );

    let output = run(
        &dir,
        &[
            "mint",
            "--app-id",
            "1",
            "--key-id",
            "k",
            "--key",
            "missing.pem",
            "--user",
            "alice",
        ],
    );
    assert_failure(&output, &["cannot read key file missing.pem"]);
}

#[test]
fn mint_refuses_invalid_ids() {
    let dir = scratch("invalid-ids");
    assert_success(&run(&dir, &["keygen", "--key-id", "key-1"]));
    let base = ["mint", "--app-id", "1", "--key-id", "k", "--key", "callstats-key.pem"];
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        run(&dir, &args)
    };
    assert_failure(&with(&["--user", ""]), &["--user"]);
    let long = "ü".repeat(129); // 258 bytes
    assert_failure(&with(&["--user", &long]), &["--user", "256"]);
    assert_failure(&with(&["--user", "a", "--ttl", "5s"]), &["ttl"]);
    let output = with(&["--user", "a", "--ttl", "5 minutes"]);
    assert_eq!(output.status.code(), Some(2), "a usage error: {}", stderr(&output));
}
