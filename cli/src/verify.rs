//! `callstats-token verify`: check a token with `jsonwebtoken`, an implementation
//! independent of the library's signing code, against a PEM public key or a local JWK Set
//! (the key picked by the header's `kid`); then check the claims callstats requires, and
//! print the header, the claims and the time left. A malformed token or a wrong
//! algorithm is reported before any key is loaded.

use std::{
    fs,
    io::{self, Read},
    path::{Path, PathBuf},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use clap::Args;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind, jwk::JwkSet};
use serde_json::{Value, json};

use crate::{
    Failure, fail, print_out,
    time::{human, relative, utc},
};

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("verifying_key").required(true).args(["public_key", "jwks"])))]
pub(crate) struct VerifyArgs {
    /// The token; `-` or nothing reads it from stdin.
    #[arg(value_name = "TOKEN")]
    token: Option<String>,
    /// The public key, PEM ('BEGIN PUBLIC KEY', as `keygen` writes it).
    #[arg(long, value_name = "FILE")]
    public_key: Option<PathBuf>,
    /// A local JWK Set file (e.g. a saved `/.well-known/jwks.json`); the key is picked by
    /// the header's `kid` (or the `keyID` claim).
    #[arg(long, value_name = "FILE")]
    jwks: Option<PathBuf>,
    /// Also require this appID.
    #[arg(long, value_name = "ID")]
    app_id: Option<String>,
    /// Seconds of clock skew to allow on `exp` and `nbf`.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    leeway: u64,
    /// Print JSON: header, claims, and the seconds left.
    #[arg(long)]
    json: bool,
}

pub(crate) fn verify(args: VerifyArgs) -> Result<(), Failure> {
    let token = match args.token.as_deref() {
        Some(token) if token != "-" => token.trim().to_owned(),
        _ => {
            let mut input = String::new();
            io::stdin()
                .read_to_string(&mut input)
                .map_err(|e| Failure(format!("cannot read the token from stdin: {e}")))?;
            input.trim().to_owned()
        }
    };

    // Read the token ourselves first, so that a malformed token or a wrong algorithm
    // gets a precise message before any key is involved.
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return fail(format!(
            "malformed token: a JWT is three base64url parts separated by dots (header.payload.signature), \
             this has {} part(s)",
            parts.len()
        ));
    }
    let header = decode_json_part(parts[0]).map_err(|why| Failure(format!("malformed token: the header {why}")))?;
    let unverified =
        decode_json_part(parts[1]).map_err(|why| Failure(format!("malformed token: the payload {why}")))?;
    let signature = URL_SAFE_NO_PAD
        .decode(parts[2])
        .map_err(|_| Failure("malformed token: the signature is not base64url".to_owned()))?;
    match header.get("alg").and_then(Value::as_str) {
        Some("ES256") => {}
        Some(alg) => {
            return fail(format!(
                "wrong algorithm: the header says alg {alg:?}; callstats tokens are ES256 (ECDSA P-256 with SHA-256)"
            ));
        }
        None => return fail("malformed token: the header has no alg; callstats tokens are ES256"),
    }
    if signature.len() != 64 {
        let hint = if signature.first() == Some(&0x30) {
            " (it looks DER-encoded; JWS wants the raw r||s form)"
        } else {
            ""
        };
        return fail(format!(
            "malformed token: an ES256 signature is 64 bytes (r||s), this one is {} bytes{hint}",
            signature.len()
        ));
    }

    let (key, key_source) = match (&args.public_key, &args.jwks) {
        (Some(path), _) => (
            public_key_from_pem(path)?,
            format!("the public key in {}", path.display()),
        ),
        (None, Some(path)) => key_from_jwks(path, &header, &unverified)?,
        (None, None) => return fail("pass --public-key FILE or --jwks FILE"),
    };

    let mut validation = Validation::new(Algorithm::ES256);
    validation.leeway = args.leeway;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = false;
    validation.set_required_spec_claims(&["exp", "nbf"]);
    let now = jsonwebtoken::get_current_timestamp();
    let claims = match jsonwebtoken::decode::<Value>(&token, &key, &validation) {
        Ok(data) => data.claims,
        Err(error) => return Err(explain(error.kind(), &unverified, now, &key_source)),
    };

    check_callstats_claims(&header, &claims, args.app_id.as_deref())?;

    let exp = claims["exp"].as_u64().unwrap_or(0);
    let left = exp.saturating_sub(now);
    if args.json {
        let out = json!({
            "valid": true,
            "header": header,
            "claims": claims,
            "expiresInSeconds": left,
        });
        print_out(&format!("{out:#}\n"));
        return Ok(());
    }
    let mut text =
        format!("signature: valid (ES256, checked with {key_source})\nheader: {header:#}\nclaims: {claims:#}\n");
    for (label, claim) in [
        ("issued at:  ", "iat"),
        ("not before: ", "nbf"),
        ("expires at: ", "exp"),
    ] {
        if let Some(t) = claims[claim].as_u64() {
            text.push_str(&format!("{label}{} ({})\n", utc(t), relative(t, now)));
        }
    }
    text.push_str(&format!("time left: {}\n", human(left)));
    print_out(&text);
    Ok(())
}

/// Base64url-decodes one part of a token and parses it as a JSON object.
pub(crate) fn decode_json_part(part: &str) -> Result<Value, &'static str> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| "is not base64url")?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| "is not JSON")?;
    if value.is_object() {
        Ok(value)
    } else {
        Err("is not a JSON object")
    }
}

fn public_key_from_pem(path: &Path) -> Result<DecodingKey, Failure> {
    let pem = fs::read(path).map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))?;
    let expected = "expected a P-256 public key in PEM ('BEGIN PUBLIC KEY'), as `callstats-token keygen` writes \
                    it or `openssl ec -in callstats-key.pem -pubout` prints it";
    if String::from_utf8_lossy(&pem).contains("PRIVATE KEY-----") {
        return fail(format!("{} holds a private key; {expected}", path.display()));
    }
    DecodingKey::from_ec_pem(&pem).map_err(|e| {
        Failure(format!(
            "cannot use {} as the public key ({e}); {expected}",
            path.display()
        ))
    })
}

/// Picks the key from a JWK Set by the header's `kid`, else by the `keyID` claim, else
/// the only key in the set.
fn key_from_jwks(path: &Path, header: &Value, unverified: &Value) -> Result<(DecodingKey, String), Failure> {
    let text = fs::read(path).map_err(|e| Failure(format!("cannot read {}: {e}", path.display())))?;
    let set: JwkSet = serde_json::from_slice(&text).map_err(|e| {
        Failure(format!(
            "{} is not a JWK Set ({{\"keys\": [...]}}): {e}",
            path.display()
        ))
    })?;
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .or_else(|| unverified.get("keyID").and_then(Value::as_str));
    let jwk = match kid {
        Some(kid) => set.find(kid).ok_or_else(|| {
            let kids: Vec<&str> = set.keys.iter().filter_map(|k| k.common.key_id.as_deref()).collect();
            Failure(format!(
                "no key with kid {kid:?} in {} (it has {kids:?}); was the key rotated out, or is this another app's JWKS?",
                path.display()
            ))
        })?,
        None if set.keys.len() == 1 => &set.keys[0],
        None => {
            return fail(format!(
                "the token names no key (no kid header, no keyID claim) and {} has {} keys",
                path.display(),
                set.keys.len()
            ));
        }
    };
    match &jwk.algorithm {
        jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(ec)
            if ec.curve == jsonwebtoken::jwk::EllipticCurve::P256 => {}
        _ => {
            return fail(format!(
                "the key {:?} in {} is not a P-256 EC key; callstats tokens are ES256",
                kid.unwrap_or("(only key)"),
                path.display()
            ));
        }
    }
    let key =
        DecodingKey::from_jwk(jwk).map_err(|e| Failure(format!("the key in {} does not load: {e}", path.display())))?;
    let name = jwk.common.key_id.as_deref().unwrap_or("(no kid)");
    Ok((key, format!("key {name:?} from {}", path.display())))
}

/// Turns a `jsonwebtoken` error into a message that says what failed and what to do.
fn explain(kind: &ErrorKind, unverified: &Value, now: u64, key_source: &str) -> Failure {
    let time = |claim: &str| unverified.get(claim).and_then(Value::as_u64);
    Failure(match kind {
        ErrorKind::InvalidSignature => format!(
            "bad signature: the token does not verify with {key_source} (it was altered, or signed with another key)"
        ),
        ErrorKind::ExpiredSignature => match time("exp") {
            Some(exp) => format!(
                "expired: the token expired {} ago (exp {exp}, {}); mint or request a new one",
                human(now.saturating_sub(exp)),
                utc(exp)
            ),
            None => "expired".to_owned(),
        },
        ErrorKind::ImmatureSignature => match time("nbf") {
            Some(nbf) => format!(
                "not yet valid: nbf is {} from now ({nbf}, {}); is the issuer's clock ahead of this one?",
                human(nbf.saturating_sub(now)),
                utc(nbf)
            ),
            None => "not yet valid".to_owned(),
        },
        ErrorKind::MissingRequiredClaim(claim) => {
            format!("the token has no {claim:?} claim; callstats tokens carry iat, nbf and exp")
        }
        ErrorKind::InvalidClaimFormat(claim) => {
            format!("the {claim:?} claim is not a number of seconds since the Unix epoch")
        }
        ErrorKind::InvalidAlgorithm => "wrong algorithm: callstats tokens are ES256".to_owned(),
        ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidKeyFormat => {
            format!("{key_source} is not a usable P-256 public key")
        }
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            format!("malformed token: {}", jsonwebtoken::errors::Error::from(kind.clone()))
        }
        other => format!(
            "verification failed: {}",
            jsonwebtoken::errors::Error::from(other.clone())
        ),
    })
}

/// The claims callstats reads, beyond what a generic JWT verifier checks.
fn check_callstats_claims(header: &Value, claims: &Value, app_id: Option<&str>) -> Result<(), Failure> {
    for name in ["userID", "appID", "keyID"] {
        match claims.get(name) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(Value::String(_)) => return fail(format!("the {name} claim is empty")),
            Some(Value::Number(_)) => {
                return fail(format!(
                    "the {name} claim is a JSON number; callstats requires a string"
                ));
            }
            Some(_) => return fail(format!("the {name} claim is not a string")),
            None => {
                return fail(format!(
                    "the token has no {name} claim; callstats requires userID, appID and keyID"
                ));
            }
        }
    }
    let user = claims["userID"].as_str().unwrap_or_default();
    if user.len() > 256 {
        return fail(format!(
            "the userID claim is {} bytes; callstats allows at most 256",
            user.len()
        ));
    }
    if let Some(expected) = app_id {
        let found = claims["appID"].as_str().unwrap_or_default();
        if found != expected {
            return fail(format!("the appID claim is {found:?}, expected {expected:?}"));
        }
    }
    if claims.get("iat").and_then(Value::as_u64).is_none() {
        return fail("the token has no iat claim (seconds since the Unix epoch)");
    }
    if let (Some(kid), Some(key_id)) = (header.get("kid").and_then(Value::as_str), claims["keyID"].as_str()) {
        if kid != key_id {
            eprintln!(
                "warning: the header's kid {kid:?} differs from the keyID claim {key_id:?}; callstats picks the key by keyID"
            );
        }
    }
    if claims.get("jti").and_then(Value::as_str).is_none() {
        eprintln!("warning: the token has no jti claim; callstats uses it for audit logging");
    }
    Ok(())
}
