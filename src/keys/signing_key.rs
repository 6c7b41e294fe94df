//! [`SigningKey`]: a P-256 private key with its callstats keyID, parsed once.

use std::{
    fmt,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use aws_lc_rs::{
    encoding::AsDer,
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

use super::pem::{KeyError, pem_lf, private_key_der, private_pem};
use crate::jwks::Jwk;

/// DER of the SubjectPublicKeyInfo header of a P-256 public key; the 65-byte
/// uncompressed point follows it.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce,
    0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A failure to sign (an internal aws-lc error). Carries no detail, so it cannot leak
/// anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ES256 signing failed")]
pub struct SignError;

static SERIAL: AtomicU64 = AtomicU64::new(1);

/// A P-256 private key with its callstats keyID, parsed once, ready to sign.
///
/// `Debug` shows the keyID and the public key, never the private key.
///
/// callstats verifies tokens with the public half of a P-256 key that you upload to
/// its dashboard; it answers with a keyID. [`SigningKey`] pairs the private key with
/// that keyID. Both PEM forms people actually have load:
///
/// - SEC1, `-----BEGIN EC PRIVATE KEY-----`, from the docs' command
///   `openssl ecparam -name prime256v1 -genkey -noout -out callstats-key.pem`;
/// - PKCS8, `-----BEGIN PRIVATE KEY-----`, from `openssl genpkey -algorithm EC
///   -pkeyopt ec_paramgen_curve:P-256` or [`SigningKey::to_pkcs8_pem`].
///
/// Anything else (an RSA key, another curve, an encrypted key, a public key, garbage)
/// fails with a [`KeyError`] that says what was found and what is expected.
///
/// ```
/// use tower_callstats::{KeyError, SigningKey};
///
/// let key = SigningKey::generate("my-key-id").unwrap();
/// let pem = key.to_pkcs8_pem(); // a Zeroizing<String>: wiped from memory when dropped
/// let again = SigningKey::from_pem("my-key-id", &pem).unwrap();
/// assert_eq!(again.public_key_pem(), key.public_key_pem());
///
/// // Debug output never shows the private key.
/// assert!(!format!("{key:?}").contains("PRIVATE"));
///
/// let err = SigningKey::from_pem("k", "not a key").unwrap_err();
/// assert!(matches!(err, KeyError::NoPem { .. }));
/// assert!(err.to_string().contains("openssl ecparam -name prime256v1 -genkey -noout"));
/// ```
///
/// The keys of a running server live in a [`KeyRing`](crate::KeyRing): the active key that signs, and
/// the keys rotated out that stay published for a grace period.
///
/// # Secrets in memory
///
/// Copies of the private key that the crate makes are wiped when they drop: the PEM
/// text read by [`SigningKey::from_pem_file`], the DER decoded from it, and the PEM
/// that [`SigningKey::to_pkcs8_pem`] and [`SigningKey::to_sec1_pem`] return (a
/// [`Zeroizing`]`<String>`). What the crate cannot wipe: the PEM you pass to
/// [`SigningKey::from_pem`] (wipe your own copy), buffers the `pem` crate uses while it
/// decodes, and aws-lc's copy of the key, which lives in its key object and is freed by
/// aws-lc when the [`SigningKey`] drops.
pub struct SigningKey {
    key_id: Arc<str>,
    pair: EcdsaKeyPair,
    /// `base64url({"alg":"ES256","typ":"JWT","kid":keyID})`, computed once.
    header_b64: String,
    /// A process-unique number for this key instance, so that caches never mix tokens
    /// of two keys that share a keyID.
    serial: u64,
    /// Every signature fails ([`SigningKey::failing`]).
    #[cfg(feature = "test-util")]
    failing: bool,
}

impl SigningKey {
    /// Parses a PEM private key (SEC1 or PKCS8) for the given keyID.
    pub fn from_pem(key_id: impl Into<Arc<str>>, pem: impl AsRef<[u8]>) -> Result<Self, KeyError> {
        let key_id = key_id.into();
        check_key_id(&key_id)?;
        // The DER is wiped when `der` drops; aws-lc keeps its own copy in `pair`.
        let (der, label) = private_key_der(pem.as_ref())?;
        let pair = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, &der).map_err(|e| {
            KeyError::Rejected {
                label,
                reason: e.to_string(),
            }
        })?;
        Ok(Self::from_pair(key_id, pair))
    }

    /// Reads and parses a PEM private key file (SEC1 or PKCS8).
    pub fn from_pem_file(key_id: impl Into<Arc<str>>, path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        // The file's text is the private key too: wiped when `pem` drops.
        let pem = Zeroizing::new(std::fs::read(path).map_err(|source| KeyError::Io {
            path: path.to_owned(),
            source,
        })?);
        let key = Self::from_pem(key_id, pem.as_slice())?;
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

    /// A key whose every signature fails with [`SignError`], for tests of the
    /// signing-failure path (`500 signing_failed`) of an app or of this crate. Only with
    /// the `test-util` feature; never enable it in production.
    ///
    /// ```
    /// use tower_callstats::SigningKey;
    ///
    /// let key = SigningKey::failing("broken-key").unwrap();
    /// assert!(key.sign_jwt(b"{}").is_err());
    /// assert_eq!(key.key_id(), "broken-key"); // otherwise an ordinary key
    /// ```
    #[cfg(feature = "test-util")]
    #[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
    pub fn failing(key_id: impl Into<Arc<str>>) -> Result<Self, KeyError> {
        let mut key = Self::generate(key_id)?;
        key.failing = true;
        Ok(key)
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
            #[cfg(feature = "test-util")]
            failing: false,
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
    /// a generated key. A secret: the text is wiped from memory when the result drops
    /// (it derefs to `String`; copy it nowhere else).
    ///
    /// An empty string if aws-lc cannot serialize the key (it always can for a key it
    /// parsed or generated).
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        // aws-lc's `Document` wipes its DER when it drops.
        match self.pair.to_pkcs8v1() {
            Ok(doc) => private_pem("PRIVATE KEY", doc.as_ref()),
            Err(_) => Zeroizing::new(String::new()),
        }
    }

    /// The private key as SEC1 PEM (`BEGIN EC PRIVATE KEY`), the form `openssl
    /// ecparam` writes. A secret, wiped from memory when the result drops, like
    /// [`to_pkcs8_pem`](Self::to_pkcs8_pem).
    pub fn to_sec1_pem(&self) -> Zeroizing<String> {
        // aws-lc's DER buffer wipes itself when it drops.
        match AsDer::<aws_lc_rs::encoding::EcPrivateKeyRfc5915Der<'static>>::as_der(&self.pair.private_key()) {
            Ok(der) => private_pem("EC PRIVATE KEY", der.as_ref()),
            Err(_) => Zeroizing::new(String::new()),
        }
    }

    /// Signs `header.payload` and returns the compact JWS `header.payload.signature`.
    /// `payload_json` is the claims object, serialized.
    pub fn sign_jwt(&self, payload_json: &[u8]) -> Result<String, SignError> {
        let payload_len = payload_json.len().div_ceil(3) * 4;
        let mut out = String::with_capacity(self.header_b64.len() + payload_len + 2 + 86);
        #[cfg(feature = "test-util")]
        if self.failing {
            return Err(SignError);
        }
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
            *key.to_sec1_pem()
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

    /// The private PEM is written by the crate's own encoder into wiped buffers; the
    /// `pem` crate, an independent encoder, must produce the very same text.
    #[test]
    fn private_pems_are_zeroizing_and_match_the_pem_crate() {
        let key = SigningKey::generate("k").unwrap();
        let pkcs8: Zeroizing<String> = key.to_pkcs8_pem();
        let sec1: Zeroizing<String> = key.to_sec1_pem();
        let doc = key.pair.to_pkcs8v1().unwrap();
        assert_eq!(*pkcs8, pem_lf(&pem::Pem::new("PRIVATE KEY", doc.as_ref())));
        let der =
            AsDer::<aws_lc_rs::encoding::EcPrivateKeyRfc5915Der<'static>>::as_der(&key.pair.private_key()).unwrap();
        assert_eq!(*sec1, pem_lf(&pem::Pem::new("EC PRIVATE KEY", der.as_ref())));
        // Lines of 64 characters and a final newline, as openssl writes them.
        assert!(pkcs8.lines().all(|l| l.len() <= 64), "{}", &*pkcs8);
        assert!(pkcs8.ends_with("-----END PRIVATE KEY-----\n"));
        // Both read back to the same key.
        let again = SigningKey::from_pem("k", pkcs8.as_bytes()).unwrap();
        assert_eq!(again.public_key_bytes(), key.public_key_bytes());
        // Every DER length, so every base64 padding and line split, matches too.
        for len in [0, 1, 2, 3, 47, 48, 49, 95, 96, 97, 138] {
            let der: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            assert_eq!(
                *private_pem("X", &der),
                pem_lf(&pem::Pem::new("X", der.clone())),
                "{len} bytes"
            );
        }
    }

    #[test]
    fn empty_key_id_is_rejected() {
        assert!(matches!(SigningKey::generate(""), Err(KeyError::InvalidKeyId { .. })));
    }
}
