//! Tokens for independent verifiers:
//! `cargo run -p tower-callstats-tools --bin interop-tokens -- [NAME=KEY.pem]...`
//!
//! Prints one JSON document on stdout: for each key, its public key (PEM and JWK) and
//! tokens signed with it for plain, non-ASCII and edge-case IDs, with what each token
//! must say. `interop/verify.mjs` (Node `jsonwebtoken`) and `interop/verify.py`
//! (`PyJWT` + `cryptography`) read it; `bash .ci/interop.sh` runs the whole check.
//!
//! Keys: every `NAME=PATH` argument is a PEM private key file (SEC1 `BEGIN EC PRIVATE
//! KEY` as `openssl ecparam -name prime256v1 -genkey -noout` writes it, or PKCS8 `BEGIN
//! PRIVATE KEY` as `openssl pkcs8 -topk8 -nocrypt` writes it). Two more keys are always
//! added: a generated key written by the crate as SEC1 and as PKCS8 PEM and parsed back
//! with `SigningKey::from_pem`.

use std::process::ExitCode;

use serde_json::{Value, json};
use tower_callstats::{ConferenceId, SigningKey, TokenIssuer, UserId};

/// userIDs that must survive byte-exact: ASCII, Japanese, Russian, Lao, an `@` (the
/// verifier splits `client_id` on the last `@`), an emoji ZWJ sequence, and exactly
/// 256 bytes (85 three-byte characters and one ASCII byte).
fn user_ids() -> Vec<String> {
    vec![
        "alice".into(),
        "ユーザー".into(),
        "интернэт".into(),
        "ອິນເຕີເນັດ".into(),
        "a@b.example".into(),
        "👩\u{200d}💻 dev".into(),
        format!("{}x", "あ".repeat(85)),
    ]
}

const CONFERENCE: &str = "インターネット";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn pem_format(pem: &str) -> &'static str {
    if pem.contains("BEGIN EC PRIVATE KEY") {
        "sec1"
    } else if pem.contains("BEGIN PRIVATE KEY") {
        "pkcs8"
    } else {
        "unknown"
    }
}

/// Tokens signed with `key` by two issuers: a numeric-looking appID (it must stay a
/// string), and one with the opt-in `confID` claim.
fn tokens_for(key: &SigningKey) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    let plain = TokenIssuer::builder("12345", clone_key(key)?)
        .cache(false)
        .build()
        .map_err(|e| e.to_string())?;
    for user in user_ids() {
        let id = UserId::new(&user).map_err(|e| format!("{user:?}: {e}"))?;
        let token = plain.issue(&id, None).map_err(|e| e.to_string())?;
        out.push(json!({
            "token": token.jwt(),
            "expect": {"userID": user, "userIDHex": hex(user.as_bytes()), "appID": "12345", "keyID": key.key_id()},
        }));
    }
    let with_conf = TokenIssuer::builder("demo-app", clone_key(key)?)
        .conf_id_claim(true)
        .cache(false)
        .build()
        .map_err(|e| e.to_string())?;
    let user = "ユーザー";
    let id = UserId::new(user).map_err(|e| e.to_string())?;
    let conference = ConferenceId::new(CONFERENCE).map_err(|e| e.to_string())?;
    let token = with_conf.issue(&id, Some(&conference)).map_err(|e| e.to_string())?;
    out.push(json!({
        "token": token.jwt(),
        "expect": {
            "userID": user, "userIDHex": hex(user.as_bytes()), "appID": "demo-app", "keyID": key.key_id(),
            "confID": CONFERENCE, "confIDHex": hex(CONFERENCE.as_bytes()),
        },
    }));
    Ok(out)
}

/// A second `SigningKey` for the same private key (issuers take ownership).
fn clone_key(key: &SigningKey) -> Result<SigningKey, String> {
    SigningKey::from_pem(key.key_id(), key.to_pkcs8_pem()).map_err(|e| e.to_string())
}

fn describe(name: &str, format: &str, file: Option<&str>, key: &SigningKey) -> Result<Value, String> {
    Ok(json!({
        "name": name,
        "format": format,
        "keyFile": file,
        "keyID": key.key_id(),
        "publicKeyPem": key.public_key_pem(),
        "jwk": key.public_jwk(),
        "tokens": tokens_for(key)?,
    }))
}

fn run() -> Result<Value, String> {
    let mut keys = Vec::new();
    for arg in std::env::args().skip(1) {
        let (name, path) = arg
            .split_once('=')
            .ok_or_else(|| format!("{arg:?}: expected NAME=PATH to a PEM private key"))?;
        let pem = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let key = SigningKey::from_pem(format!("kid-{name}"), &pem).map_err(|e| format!("{path}: {e}"))?;
        keys.push(describe(name, pem_format(&pem), Some(path), &key)?);
    }
    let generated = SigningKey::generate("kid-generated").map_err(|e| e.to_string())?;
    for (name, pem) in [
        ("crate-sec1", generated.to_sec1_pem()),
        ("crate-pkcs8", generated.to_pkcs8_pem()),
    ] {
        let key = SigningKey::from_pem(format!("kid-{name}"), &pem).map_err(|e| format!("{name}: {e}"))?;
        keys.push(describe(name, pem_format(&pem), None, &key)?);
    }
    Ok(json!({ "keys": keys }))
}

fn main() -> ExitCode {
    match run() {
        Ok(doc) => {
            println!("{doc:#}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("interop-tokens: {error}");
            ExitCode::FAILURE
        }
    }
}
