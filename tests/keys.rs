//! Key loading with real openssl output. The fixtures in tests/fixtures/ were made with:
//!
//! ```text
//! openssl ecparam -name prime256v1 -genkey -noout -out sec1.pem       # the docs' command
//! openssl ecparam -name prime256v1 -genkey -out sec1_with_params.pem  # with an EC PARAMETERS block
//! openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out pkcs8.pem
//! openssl ecparam -name secp256k1 -genkey -noout -out secp256k1.pem
//! openssl ecparam -name secp384r1 -genkey -noout -out p384.pem
//! openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa_pkcs8.pem
//! openssl pkey -in rsa_pkcs8.pem -traditional -out rsa_traditional.pem
//! openssl pkcs8 -topk8 -v2 aes256 -in pkcs8.pem -passout pass:secret -out encrypted_pkcs8.pem
//! openssl ec -in sec1.pem -aes256 -passout pass:secret -out encrypted_sec1.pem
//! openssl genpkey -algorithm ed25519 -out ed25519.pem
//! openssl ec -in sec1.pem -pubout -out sec1_public.pem
//! openssl ec -in pkcs8.pem -pubout -out pkcs8_public.pem
//! ```

mod common;

use common::fixture;
use tower_callstats::{KeyError, SigningKey, TokenIssuer, UserId};

#[test]
fn sec1_and_pkcs8_keys_from_openssl_both_sign_verifiable_tokens() {
    for (private, public) in [
        ("sec1.pem", "sec1_public.pem"),
        ("sec1_with_params.pem", ""),
        ("pkcs8.pem", "pkcs8_public.pem"),
    ] {
        let key = SigningKey::from_pem("kid-1", fixture(private)).unwrap_or_else(|e| panic!("{private}: {e}"));
        if !public.is_empty() {
            // Our public key is the one openssl derives from the same private key.
            let ours = key.public_key_pem();
            assert_eq!(ours.trim(), fixture(public).trim(), "{private}");
        }
        let public_pem = key.public_key_pem();
        let issuer = TokenIssuer::builder("4711", key).build().unwrap();
        let token = issuer.issue(&UserId::new("alice").unwrap(), None).unwrap();
        let (header, claims) = common::verify(token.jwt(), &public_pem);
        assert_eq!(header.kid.as_deref(), Some("kid-1"));
        assert_eq!(claims["userID"], "alice");
        assert_eq!(claims["appID"], "4711");
    }
}

#[test]
fn wrong_keys_fail_with_what_was_found_and_what_is_expected() {
    let cases = [
        ("secp256k1.pem", "found a secp256k1 key"),
        ("p384.pem", "found a P-384 (secp384r1) key"),
        ("rsa_pkcs8.pem", "found an RSA private key"),
        ("rsa_traditional.pem", "found an RSA private key"),
        ("encrypted_pkcs8.pem", "found an encrypted private key"),
        ("encrypted_sec1.pem", "found an encrypted private key"),
        ("ed25519.pem", "found a Ed25519 key"),
        ("sec1_public.pem", "found a public key (PUBLIC KEY)"),
    ];
    for (file, found) in cases {
        let err = SigningKey::from_pem("k", fixture(file)).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(found), "{file}: {message}");
        assert!(
            message.contains("expected an unencrypted P-256 (prime256v1) EC private key"),
            "{file}: {message}"
        );
        assert!(
            message.contains("openssl ecparam -name prime256v1 -genkey -noout"),
            "{file}: {message}"
        );
    }
}

#[test]
fn garbage_and_truncated_keys_fail_cleanly() {
    let sec1 = fixture("sec1.pem");
    let truncated = sec1.replacen("\n", "\nAAAA", 1);
    assert!(matches!(
        SigningKey::from_pem("k", truncated),
        Err(KeyError::Rejected { .. } | KeyError::NoPem { .. })
    ));
    assert!(matches!(
        SigningKey::from_pem("k", [0x30u8, 0x82, 0x01]),
        Err(KeyError::NoPem { .. })
    ));
    let err = SigningKey::from_pem_file("k", "/nonexistent/key.pem").unwrap_err();
    assert!(
        err.to_string().starts_with("cannot read key file /nonexistent/key.pem"),
        "{err}"
    );
}

#[test]
fn debug_output_never_shows_key_material() {
    let pem = fixture("sec1.pem");
    let key = SigningKey::from_pem("kid-1", &pem).unwrap();
    let body: String = common::pem_body_lines(&pem).concat();
    let debug = format!("{key:?}");
    assert!(debug.contains("kid-1"));
    // The first 48 base64 characters encode the SEC1 header and the private scalar
    // (DER bytes 7..39); the rest is the public key, which Debug may show.
    for chunk in body.as_bytes()[..48].chunks(12) {
        assert!(!debug.contains(std::str::from_utf8(chunk).unwrap()), "{debug}");
    }
    let issuer = TokenIssuer::builder("app", key).build().unwrap();
    let issuer_debug = format!("{issuer:?}");
    assert!(!issuer_debug.contains("PRIVATE"), "{issuer_debug}");
}
