//! ES256 signing keys, parsed once at start-up, and the key ring that rotates them.
//!
//! callstats verifies tokens with the public half of a P-256 key that you upload to
//! its dashboard; it answers with a keyID. [`SigningKey`] pairs the private key with
//! that keyID. Both PEM forms people actually have load:
//!
//! - SEC1, `-----BEGIN EC PRIVATE KEY-----`, from the docs' command
//!   `openssl ecparam -name prime256v1 -genkey -noout -out callstats-key.pem`;
//! - PKCS8, `-----BEGIN PRIVATE KEY-----`, from `openssl genpkey -algorithm EC
//!   -pkeyopt ec_paramgen_curve:P-256` or [`SigningKey::to_pkcs8_pem`].
//!
//! Anything else (an RSA key, another curve, an encrypted key, a public key, garbage)
//! fails with a [`KeyError`] that says what was found and what is expected.
//!
//! ```
//! use tower_callstats::keys::{KeyError, SigningKey};
//!
//! let key = SigningKey::generate("my-key-id").unwrap();
//! let pem = key.to_pkcs8_pem();
//! let again = SigningKey::from_pem("my-key-id", &pem).unwrap();
//! assert_eq!(again.public_key_pem(), key.public_key_pem());
//!
//! // Debug output never shows the private key.
//! assert!(!format!("{key:?}").contains("PRIVATE"));
//!
//! let err = SigningKey::from_pem("k", "not a key").unwrap_err();
//! assert!(matches!(err, KeyError::NoPem { .. }));
//! assert!(err.to_string().contains("openssl ecparam -name prime256v1 -genkey -noout"));
//! ```

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use arc_swap::ArcSwap;
use aws_lc_rs::{
    encoding::AsDer,
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::clock::{Clock, SharedClock, SystemClock};

/// What to do about a bad key, in every [`KeyError`] message.
const EXPECTED: &str = "expected an unencrypted P-256 (prime256v1) EC private key in PEM, \
    SEC1 ('BEGIN EC PRIVATE KEY') or PKCS8 ('BEGIN PRIVATE KEY'); \
    make one with `openssl ecparam -name prime256v1 -genkey -noout -out callstats-key.pem`";

/// DER of the SubjectPublicKeyInfo header of a P-256 public key; the 65-byte
/// uncompressed point follows it.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// Object identifiers (DER-encoded, with tag and length) that tell keys apart.
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_RSA: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OTHER_CURVES: &[(&[u8], &str)] = &[
    (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a], "secp256k1"),
    (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22], "P-384 (secp384r1)"),
    (&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23], "P-521 (secp521r1)"),
    (&[0x06, 0x03, 0x2b, 0x65, 0x70], "Ed25519"),
    (&[0x06, 0x03, 0x2b, 0x65, 0x6e], "X25519"),
    (&[0x06, 0x03, 0x2b, 0x65, 0x71], "Ed448"),
];

/// Why a key could not be loaded. Messages name what was found and what is expected,
/// and never contain key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key file could not be read.
    #[error("cannot read key file {path}: {source}; {EXPECTED}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The input holds no PEM private key block.
    #[error("found {found}; {EXPECTED}")]
    NoPem {
        /// A description of what was there instead.
        found: String,
    },
    /// The key is encrypted with a passphrase.
    #[error(
        "found an encrypted private key; {EXPECTED} (decrypt it with `openssl pkey -in key.pem -out key-plain.pem`)"
    )]
    Encrypted,
    /// An RSA key.
    #[error("found an RSA private key; callstats tokens are ES256, {EXPECTED}")]
    Rsa,
    /// An EC key on another curve, or a key of another algorithm.
    #[error("found a {found} key; {EXPECTED}")]
    WrongAlgorithm {
        /// The curve or algorithm found.
        found: &'static str,
    },
    /// A public key where a private key is expected.
    #[error("found a public key ({label}); the signing key must be the private key, {EXPECTED}")]
    PublicKey {
        /// The PEM label.
        label: String,
    },
    /// The PEM block looked right but the key inside did not parse.
    #[error("found a PEM block labelled {label:?} whose key does not parse ({reason}); {EXPECTED}")]
    Rejected {
        /// The PEM label.
        label: String,
        /// aws-lc's reason.
        reason: String,
    },
    /// The keyID is empty, too long or has control characters.
    #[error("keyID {key_id:?} is invalid: {reason}")]
    InvalidKeyId {
        /// The keyID.
        key_id: String,
        /// Why.
        reason: &'static str,
    },
    /// Key generation failed in aws-lc.
    #[error("could not generate a P-256 key")]
    Generate,
}

/// A failure to sign (an internal aws-lc error). Carries no detail, so it cannot leak
/// anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ES256 signing failed")]
pub struct SignError;

static SERIAL: AtomicU64 = AtomicU64::new(1);

/// A P-256 private key with its callstats keyID, parsed once, ready to sign.
///
/// `Debug` shows the keyID and the public key, never the private key.
pub struct SigningKey {
    key_id: Arc<str>,
    pair: EcdsaKeyPair,
    /// `base64url({"alg":"ES256","typ":"JWT","kid":keyID})`, computed once.
    header_b64: String,
    /// A process-unique number for this key instance, so that caches never mix tokens
    /// of two keys that share a keyID.
    serial: u64,
}

impl SigningKey {
    /// Parses a PEM private key (SEC1 or PKCS8) for the given keyID.
    pub fn from_pem(key_id: impl Into<Arc<str>>, pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let key_id = key_id.into();
        check_key_id(&key_id)?;
        let der = private_key_der(pem.as_ref())?;
        let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &der.0).map_err(|e| {
            KeyError::Rejected {
                label: der.1.clone(),
                reason: e.to_string(),
            }
        })?;
        Ok(Self::from_pair(key_id, pair))
    }

    /// Reads and parses a PEM private key file (SEC1 or PKCS8).
    pub fn from_pem_file(key_id: impl Into<Arc<str>>, path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let pem = std::fs::read(path).map_err(|source| KeyError::Io {
            path: path.to_owned(),
            source,
        })?;
        let key = Self::from_pem(key_id, pem)?;
        tracing::info!(target: "tower_callstats::keys", key_id = key.key_id(), path = %path.display(), "signing key loaded");
        Ok(key)
    }

    /// Generates a new random P-256 key (for development, tests and `keygen`).
    pub fn generate(key_id: impl Into<Arc<str>>) -> Result<Self, KeyError> {
        let key_id = key_id.into();
        check_key_id(&key_id)?;
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| KeyError::Generate)?;
        Ok(Self::from_pair(key_id, pair))
    }

    fn from_pair(key_id: Arc<str>, pair: EcdsaKeyPair) -> Self {
        #[derive(serde::Serialize)]
        struct Header<'a> {
            alg: &'a str,
            typ: &'a str,
            kid: &'a str,
        }
        // Field order is the order callstats' docs write: {"alg":"ES256","typ":"JWT","kid":...}.
        let header = serde_json::to_vec(&Header {
            alg: "ES256",
            typ: "JWT",
            kid: &key_id,
        })
        .unwrap_or_default();
        let header_b64 = URL_SAFE_NO_PAD.encode(header);
        Self {
            key_id,
            pair,
            header_b64,
            serial: SERIAL.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The callstats keyID.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub(crate) fn serial(&self) -> u64 {
        self.serial
    }

    /// The uncompressed public point, `0x04 || x || y` (65 bytes).
    pub fn public_key_bytes(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// The public key as SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> Vec<u8> {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend_from_slice(self.public_key_bytes());
        der
    }

    /// The public key as PEM (`BEGIN PUBLIC KEY`): what you upload to callstats.
    pub fn public_key_pem(&self) -> String {
        pem_lf(&pem::Pem::new("PUBLIC KEY", self.public_key_der()))
    }

    /// The public key as a JWK (`kty` EC, `crv` P-256, `alg` ES256, `use` sig, `kid`).
    pub fn public_jwk(&self) -> Jwk {
        let point = self.public_key_bytes();
        Jwk {
            kty: "EC",
            crv: "P-256",
            x: URL_SAFE_NO_PAD.encode(&point[1..33]),
            y: URL_SAFE_NO_PAD.encode(&point[33..65]),
            kid: self.key_id.to_string(),
            alg: "ES256",
            use_: "sig",
        }
    }

    /// The private key as PKCS8 PEM (`BEGIN PRIVATE KEY`), for `keygen` and for saving
    /// a generated key. Handle the result as a secret.
    pub fn to_pkcs8_pem(&self) -> String {
        let doc = self.pair.to_pkcs8v1().expect("a P-256 key serializes to PKCS8");
        pem_lf(&pem::Pem::new("PRIVATE KEY", doc.as_ref()))
    }

    /// The private key as SEC1 PEM (`BEGIN EC PRIVATE KEY`), the form `openssl
    /// ecparam` writes. Handle the result as a secret.
    pub fn to_sec1_pem(&self) -> String {
        let der = AsDer::<aws_lc_rs::encoding::EcPrivateKeyRfc5915Der<'static>>::as_der(&self.pair.private_key())
            .expect("a P-256 key serializes to SEC1");
        pem_lf(&pem::Pem::new("EC PRIVATE KEY", der.as_ref()))
    }

    /// Signs `header.payload` and returns the compact JWS `header.payload.signature`.
    /// `payload_json` is the claims object, serialized.
    pub fn sign_jwt(&self, payload_json: &[u8]) -> Result<String, SignError> {
        let payload_len = payload_json.len().div_ceil(3) * 4;
        let mut out = String::with_capacity(self.header_b64.len() + payload_len + 2 + 86);
        out.push_str(&self.header_b64);
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(payload_json, &mut out);
        // aws-lc ignores the rng argument (it draws its own nonce); it is there for
        // ring compatibility.
        let signature = self
            .pair
            .sign(&SystemRandom::new(), out.as_bytes())
            .map_err(|_| SignError)?;
        out.push('.');
        URL_SAFE_NO_PAD.encode_string(signature.as_ref(), &mut out);
        Ok(out)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id)
            .field("alg", &"ES256")
            .field("public_x", &self.public_jwk().x)
            .finish_non_exhaustive()
    }
}

/// PEM with Unix line endings, as openssl writes it.
fn pem_lf(block: &pem::Pem) -> String {
    pem::encode_config(block, pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF))
}

fn check_key_id(key_id: &str) -> Result<(), KeyError> {
    let reason = if key_id.is_empty() {
        "it is empty; use the keyID callstats gave you when you uploaded the public key"
    } else if key_id.len() > 256 {
        "it is longer than 256 bytes"
    } else if key_id.chars().any(char::is_control) {
        "it contains control characters"
    } else {
        return Ok(());
    };
    Err(KeyError::InvalidKeyId {
        key_id: key_id.chars().take(64).collect(),
        reason,
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Finds the private key block, diagnoses the wrong ones, returns (DER, label).
fn private_key_der(input: &[u8]) -> Result<(Vec<u8>, String), KeyError> {
    let blocks = pem::parse_many(input).unwrap_or_default();
    if blocks.is_empty() {
        let found = if input.iter().all(u8::is_ascii_whitespace) {
            "an empty input".to_owned()
        } else if input.first() == Some(&0x30) {
            "binary data that looks like DER, not PEM (convert it with `openssl pkey -inform DER -in key.der -out key.pem`)".to_owned()
        } else {
            format!("{} bytes with no PEM block", input.len())
        };
        return Err(KeyError::NoPem { found });
    }
    let block = blocks.iter().find(|b| b.tag().contains("PRIVATE KEY")).ok_or_else(|| {
        let labels: Vec<_> = blocks.iter().map(|b| b.tag().to_owned()).collect();
        match labels
            .iter()
            .find(|l| l.contains("PUBLIC KEY") || l.contains("CERTIFICATE"))
        {
            Some(label) => KeyError::PublicKey { label: label.clone() },
            None => KeyError::NoPem {
                found: format!("PEM blocks labelled {labels:?} but no private key"),
            },
        }
    })?;
    let label = block.tag().to_owned();
    let der = block.contents();
    let encrypted = block
        .headers()
        .get("Proc-Type")
        .is_some_and(|v| v.contains("ENCRYPTED"));
    match label.as_str() {
        _ if encrypted => Err(KeyError::Encrypted),
        "ENCRYPTED PRIVATE KEY" => Err(KeyError::Encrypted),
        "RSA PRIVATE KEY" => Err(KeyError::Rsa),
        "PRIVATE KEY" | "EC PRIVATE KEY" => {
            if contains(der, OID_RSA) {
                return Err(KeyError::Rsa);
            }
            if let Some((_, name)) = OTHER_CURVES.iter().find(|(oid, _)| contains(der, oid)) {
                return Err(KeyError::WrongAlgorithm { found: name });
            }
            if label == "PRIVATE KEY" && !contains(der, OID_EC_PUBLIC_KEY) {
                return Err(KeyError::WrongAlgorithm { found: "non-EC PKCS8" });
            }
            if !contains(der, OID_P256) && label == "PRIVATE KEY" {
                return Err(KeyError::WrongAlgorithm {
                    found: "EC key on an unknown curve",
                });
            }
            Ok((der.to_vec(), label))
        }
        "DSA PRIVATE KEY" => Err(KeyError::WrongAlgorithm { found: "DSA" }),
        "OPENSSH PRIVATE KEY" => Err(KeyError::NoPem {
            found: "an OpenSSH private key (convert it with `ssh-keygen -p -m PEM -f key`)".to_owned(),
        }),
        other => Err(KeyError::NoPem {
            found: format!("a PEM block labelled {other:?}"),
        }),
    }
}

/// A public key in JSON Web Key form.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Jwk {
    /// Always `EC`.
    pub kty: &'static str,
    /// Always `P-256`.
    pub crv: &'static str,
    /// The x coordinate, base64url.
    pub x: String,
    /// The y coordinate, base64url.
    pub y: String,
    /// The keyID.
    pub kid: String,
    /// Always `ES256`.
    pub alg: &'static str,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: &'static str,
}

/// A JSON Web Key Set: `{"keys": [...]}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

struct Retiring {
    key: Arc<SigningKey>,
    /// Unix seconds after which the key is no longer published.
    until: u64,
}

struct RingState {
    active: Arc<SigningKey>,
    retiring: Vec<Retiring>,
}

/// The signing keys: one active key that signs, and recently replaced keys that stay
/// published (in the JWKS) for a grace period so that tokens they signed still verify.
///
/// Rotation is an atomic pointer swap: requests in flight finish with the key they
/// started with, new requests sign with the new key, nobody waits on a lock.
///
/// ```
/// use std::time::Duration;
/// use tower_callstats::keys::{KeyRing, SigningKey};
///
/// let ring = KeyRing::new(SigningKey::generate("2026-01").unwrap());
/// assert_eq!(ring.active().key_id(), "2026-01");
///
/// ring.rotate(SigningKey::generate("2026-02").unwrap(), Duration::from_secs(600));
/// assert_eq!(ring.active().key_id(), "2026-02");
/// let kids: Vec<_> = ring.jwks().keys.into_iter().map(|k| k.kid).collect();
/// assert_eq!(kids, ["2026-02", "2026-01"]); // the old key is still published
/// ```
pub struct KeyRing {
    state: ArcSwap<RingState>,
    clock: SharedClock,
}

impl KeyRing {
    /// A ring with one active key, on the system clock.
    pub fn new(active: SigningKey) -> Self {
        Self::with_clock(active, SystemClock)
    }

    /// A ring with one active key and the given clock (which decides when retiring
    /// keys stop being published).
    pub fn with_clock(active: SigningKey, clock: impl Clock) -> Self {
        Self {
            state: ArcSwap::from_pointee(RingState {
                active: Arc::new(active),
                retiring: Vec::new(),
            }),
            clock: Arc::new(clock),
        }
    }

    /// The key that signs now.
    pub fn active(&self) -> Arc<SigningKey> {
        self.state.load().active.clone()
    }

    /// Makes `next` the active key. The previous active key stays published for
    /// `grace` (use at least the token TTL, so every token it signed still verifies).
    /// Keys whose grace period is over are dropped.
    ///
    /// The keyID names the public key at callstats, so a new key needs a new keyID.
    /// Rotating to a key with the active key's keyID replaces that key outright: tokens
    /// it signed stop verifying. That is allowed (a key replaced in an emergency) and
    /// logged as a warning.
    pub fn rotate(&self, next: SigningKey, grace: Duration) {
        if self.state.load().active.key_id() == next.key_id() {
            tracing::warn!(
                target: "tower_callstats::keys",
                key_id = next.key_id(),
                "the new signing key has the active key's keyID: the old key is replaced, not kept published; \
                 give every new key its own keyID"
            );
        }
        let next = Arc::new(next);
        let now = self.clock.unix_now();
        self.state.rcu(|state| {
            let mut retiring: Vec<Retiring> = state
                .retiring
                .iter()
                .filter(|r| r.until > now && r.key.key_id() != next.key_id())
                .map(|r| Retiring {
                    key: r.key.clone(),
                    until: r.until,
                })
                .collect();
            if state.active.key_id() != next.key_id() {
                retiring.insert(
                    0,
                    Retiring {
                        key: state.active.clone(),
                        until: now.saturating_add(grace.as_secs()),
                    },
                );
            }
            RingState {
                active: next.clone(),
                retiring,
            }
        });
        tracing::info!(target: "tower_callstats::keys", key_id = next.key_id(), grace_secs = grace.as_secs(), "signing key rotated");
    }

    /// Reads `path` and makes it the active key (see [`rotate`](Self::rotate)). If the
    /// file is missing or not a valid key, the current key stays active and the error
    /// is logged and returned.
    pub fn reload_from_file(
        &self,
        key_id: impl Into<Arc<str>>,
        path: impl AsRef<Path>,
        grace: Duration,
    ) -> Result<(), KeyError> {
        match SigningKey::from_pem_file(key_id, path.as_ref()) {
            Ok(key) => {
                self.rotate(key, grace);
                Ok(())
            }
            Err(error) => {
                tracing::error!(target: "tower_callstats::keys", path = %path.as_ref().display(), %error, "key reload failed; the current key stays active");
                Err(error)
            }
        }
    }

    /// Every key whose public half must be published now: the active key first, then
    /// the keys still in their grace period.
    pub fn published(&self) -> Vec<Arc<SigningKey>> {
        let now = self.clock.unix_now();
        let state = self.state.load();
        std::iter::once(state.active.clone())
            .chain(state.retiring.iter().filter(|r| r.until > now).map(|r| r.key.clone()))
            .collect()
    }

    /// The published public keys as a JWK Set.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.published().iter().map(|k| k.public_jwk()).collect(),
        }
    }
}

impl From<SigningKey> for KeyRing {
    fn from(key: SigningKey) -> Self {
        Self::new(key)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<String> = self.published().iter().map(|k| k.key_id().to_owned()).collect();
        f.debug_struct("KeyRing")
            .field("active", &self.active().key_id())
            .field("published", &kids)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec1_and_pkcs8_of_the_same_key_load() {
        let key = SigningKey::generate("k").unwrap();
        let from_sec1 = SigningKey::from_pem("k", key.to_sec1_pem()).unwrap();
        let from_pkcs8 = SigningKey::from_pem("k", key.to_pkcs8_pem()).unwrap();
        assert_eq!(from_sec1.public_key_bytes(), key.public_key_bytes());
        assert_eq!(from_pkcs8.public_key_bytes(), key.public_key_bytes());
        assert!(key.to_sec1_pem().starts_with("-----BEGIN EC PRIVATE KEY-----"));
    }

    #[test]
    fn openssl_ecparam_output_with_parameters_block_loads() {
        let key = SigningKey::generate("k").unwrap();
        let with_params = format!(
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n{}",
            key.to_sec1_pem()
        );
        assert!(SigningKey::from_pem("k", with_params).is_ok());
    }

    #[test]
    fn bad_inputs_say_what_was_found() {
        let public = SigningKey::generate("k").unwrap().public_key_pem();
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "found an empty input"),
            ("garbage".into(), "found 7 bytes with no PEM block"),
            (public, "found a public key"),
            (
                "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n".into(),
                "encrypted",
            ),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n".into(),
                "RSA",
            ),
        ];
        for (input, expected) in cases {
            let err = SigningKey::from_pem("k", &input).unwrap_err().to_string();
            assert!(err.contains(expected), "{err:?} should contain {expected:?}");
            assert!(err.contains("prime256v1"), "{err}");
        }
    }

    #[test]
    fn empty_key_id_is_rejected() {
        assert!(matches!(SigningKey::generate(""), Err(KeyError::InvalidKeyId { .. })));
    }

    #[test]
    fn rotation_keeps_the_old_key_published_for_the_grace_period() {
        let clock = crate::clock::ManualClock::at_unix(1000);
        let ring = KeyRing::with_clock(SigningKey::generate("a").unwrap(), clock.clone());
        ring.rotate(SigningKey::generate("b").unwrap(), Duration::from_secs(60));
        assert_eq!(ring.jwks().keys.len(), 2);
        clock.advance(Duration::from_secs(61));
        let kids: Vec<_> = ring.jwks().keys.into_iter().map(|k| k.kid).collect();
        assert_eq!(kids, ["b"]);
    }
}
