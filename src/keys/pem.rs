//! Reading PEM private keys: finding the private key block and diagnosing every wrong
//! one (RSA, another curve, encrypted, public, garbage) with what was found and what is
//! expected.

use std::{path::PathBuf, time::Duration};

use base64::{Engine, engine::general_purpose::STANDARD};
use zeroize::Zeroizing;

/// What to do about a bad key, in every [`KeyError`] message.
const EXPECTED: &str = "expected an unencrypted P-256 (prime256v1) EC private key in PEM, \
    SEC1 ('BEGIN EC PRIVATE KEY') or PKCS8 ('BEGIN PRIVATE KEY'); \
    make one with `openssl ecparam -name prime256v1 -genkey -noout -out callstats-key.pem`";

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
    /// [`KeyRing::rotate`](crate::KeyRing::rotate) was given a grace period shorter than
    /// the token lifetime: tokens the old key signed would stop verifying (its public
    /// key would leave the JWKS) before they expire.
    #[error(
        "the grace period of {grace_s} is shorter than {min_s}, the token lifetime: tokens signed by the old key \
         would stop verifying before they expire; keep the old key published for at least {min_s} \
         (KeyRing::rotate_unchecked forces a shorter grace)",
        grace_s = secs(*grace),
        min_s = secs(*min)
    )]
    GraceTooShort {
        /// The grace period asked for.
        grace: Duration,
        /// The shortest grace period accepted: the longest token lifetime of the issuers
        /// that use the ring.
        min: Duration,
    },
    /// [`KeyRing::rotate`](crate::KeyRing::rotate) was given a key whose keyID is
    /// already published: callstats knows that keyID by the old public key, so it would
    /// reject every token the new key signs.
    #[error(
        "the new key has the keyID {key_id:?}, which is already published for another key (the active key or one \
         in its grace period): callstats checks tokens under a keyID against the public key uploaded for it, so \
         it would reject every new token; upload the new public key and use the new keyID callstats gives for \
         it (KeyRing::rotate_unchecked forces a replacement under the same keyID)"
    )]
    SameKeyId {
        /// The keyID.
        key_id: String,
    },
}

/// A duration in whole seconds, for messages.
fn secs(d: Duration) -> String {
    match d.subsec_nanos() {
        0 => format!("{} s", d.as_secs()),
        _ => format!("{:.3} s", d.as_secs_f64()),
    }
}

/// PEM with Unix line endings, as openssl writes it. For public keys: the `pem` crate
/// leaves copies of what it encodes in buffers it frees without wiping.
pub(super) fn pem_lf(block: &pem::Pem) -> String {
    pem::encode_config(block, pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF))
}

/// A private key as PEM (`label`, 64-character base64 lines, Unix line endings, the
/// same text as [`pem_lf`]), written into buffers that are sized up front, so that they
/// never reallocate and leave a copy behind, and that are wiped when dropped.
pub(super) fn private_pem(label: &str, der: &[u8]) -> Zeroizing<String> {
    let b64_len = der.len().div_ceil(3) * 4;
    let mut b64 = Zeroizing::new(String::with_capacity(b64_len));
    STANDARD.encode_string(der, &mut b64);
    let (begin, end) = (format!("-----BEGIN {label}-----\n"), format!("-----END {label}-----\n"));
    let mut out = Zeroizing::new(String::with_capacity(
        begin.len() + b64_len + b64_len.div_ceil(64) + end.len(),
    ));
    out.push_str(&begin);
    let mut rest: &str = &b64;
    while !rest.is_empty() {
        // Base64 is ASCII, so every byte offset is a character boundary.
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str(&end);
    out
}
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Finds the private key block, diagnoses the wrong ones, returns (DER, label).
///
/// The DER is returned in a buffer that is wiped when dropped, and the decoded
/// contents of every block are wiped before this returns. What cannot be wiped from
/// here: the buffers the `pem` crate uses while it decodes (freed inside the crate), the
/// caller's own copy of the PEM text, and, once the key is parsed, aws-lc's copy, which
/// lives in its key object and is freed by aws-lc.
pub(super) fn private_key_der(input: &[u8]) -> Result<(Zeroizing<Vec<u8>>, String), KeyError> {
    let mut blocks = pem::parse_many(input).unwrap_or_default();
    let result = find_private_key(&mut blocks, input);
    for block in blocks {
        drop(Zeroizing::new(block.into_contents()));
    }
    result
}

fn find_private_key(blocks: &mut Vec<pem::Pem>, input: &[u8]) -> Result<(Zeroizing<Vec<u8>>, String), KeyError> {
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
    let index = blocks
        .iter()
        .position(|b| b.tag().contains("PRIVATE KEY"))
        .ok_or_else(|| {
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
    let block = blocks.swap_remove(index);
    let label = block.tag().to_owned();
    let encrypted = block
        .headers()
        .get("Proc-Type")
        .is_some_and(|v| v.contains("ENCRYPTED"));
    let der = Zeroizing::new(block.into_contents());
    match label.as_str() {
        _ if encrypted => Err(KeyError::Encrypted),
        "ENCRYPTED PRIVATE KEY" => Err(KeyError::Encrypted),
        "RSA PRIVATE KEY" => Err(KeyError::Rsa),
        "PRIVATE KEY" | "EC PRIVATE KEY" => {
            if contains(&der, OID_RSA) {
                return Err(KeyError::Rsa);
            }
            if let Some((_, name)) = OTHER_CURVES.iter().find(|(oid, _)| contains(&der, oid)) {
                return Err(KeyError::WrongAlgorithm { found: name });
            }
            if label == "PRIVATE KEY" && !contains(&der, OID_EC_PUBLIC_KEY) {
                return Err(KeyError::WrongAlgorithm { found: "non-EC PKCS8" });
            }
            if !contains(&der, OID_P256) && label == "PRIVATE KEY" {
                return Err(KeyError::WrongAlgorithm {
                    found: "EC key on an unknown curve",
                });
            }
            Ok((der, label))
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
