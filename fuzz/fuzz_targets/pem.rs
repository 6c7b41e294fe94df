//! PEM key loading: `SigningKey::from_pem` never panics on any input, and a key it
//! accepts signs, and survives a PKCS8 and a SEC1 round trip with the same public key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_callstats::SigningKey;

fuzz_target!(|data: &[u8]| {
    let Ok(key) = SigningKey::from_pem("fuzz-key", data) else {
        return;
    };
    assert_eq!(key.public_key_bytes().len(), 65);
    let jwt = key.sign_jwt(b"{}").expect("an accepted key signs");
    assert_eq!(jwt.split('.').count(), 3);
    let pkcs8 = SigningKey::from_pem("fuzz-key", key.to_pkcs8_pem()).expect("PKCS8 round trip");
    let sec1 = SigningKey::from_pem("fuzz-key", key.to_sec1_pem()).expect("SEC1 round trip");
    assert_eq!(pkcs8.public_key_bytes(), key.public_key_bytes());
    assert_eq!(sec1.public_key_bytes(), key.public_key_bytes());
});
