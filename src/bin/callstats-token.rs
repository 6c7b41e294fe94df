//! `callstats-token`: make a key pair, mint a token, verify a token.
//!
//! ```text
//! cargo run --features cli --bin callstats-token -- keygen --key-id my-key-id
//! cargo run --features cli --bin callstats-token -- mint --app-id 12345 --key-id my-key-id --key callstats-key.pem --user alice
//! cargo run --features cli --bin callstats-token -- verify --public-key callstats-key.pub.pem eyJhbGciOi...
//! ```
//!
//! - `keygen` writes a P-256 key pair: the private key as PKCS8 PEM (mode 0600) and the
//!   public key as PEM, the file you upload to callstats. It refuses to overwrite
//!   either file unless `--force`, and prints the public key as a JWK.
//! - `mint` signs a token with the crate's own signing code, for debugging: the same
//!   claims the layer and the token endpoint produce.
//! - `verify` checks a token with `jsonwebtoken`, an implementation independent of the
//!   crate's signing code, against a PEM public key or a local JWKS file (the key is
//!   picked by the header's `kid`), then checks the claims callstats requires, and
//!   prints the header, the claims and the time left.
//!
//! Exit status: 0 on success, 1 when the command fails (the reason is on stderr),
//! 2 on a usage error.

use std::{
    fmt,
    fs::{self, OpenOptions},
    io::{self, Read, Write},
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use clap::{Args, Parser, Subcommand};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind, jwk::JwkSet};
use serde_json::{Value, json};
use tower_callstats::{
    ConferenceId, TokenIssuer, UserId,
    audit::AuditEvent,
    clock::ManualClock,
    keys::{KeyError, SigningKey},
};

/// Make callstats.io key pairs, and mint and verify callstats third-party-authentication
/// tokens (ES256 JWTs).
#[derive(Debug, Parser)]
#[command(name = "callstats-token", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a new P-256 key pair: the private key (PKCS8 PEM, mode 0600) and the public
    /// key (PEM) to upload to callstats. Prints the public key as a JWK.
    Keygen(KeygenArgs),
    /// Sign a token for a userID (and conferenceID), for debugging.
    Mint(MintArgs),
    /// Verify a token's signature and claims; print its header, claims and time left.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
struct KeygenArgs {
    /// Where to write the private key (PKCS8 PEM, created with mode 0600).
    #[arg(long, value_name = "FILE", default_value = "callstats-key.pem")]
    private_key: PathBuf,
    /// Where to write the public key (PEM): the file to upload to callstats.
    #[arg(long, value_name = "FILE", default_value = "callstats-key.pub.pem")]
    public_key: PathBuf,
    /// The keyID to put into the printed JWK's `kid` (callstats assigns it when you upload
    /// the public key; leave it out if you do not know it yet).
    #[arg(long, value_name = "ID")]
    key_id: Option<String>,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
}

#[derive(Debug, Args)]
struct MintArgs {
    /// The callstats appID (always a string in the token).
    #[arg(long, value_name = "ID")]
    app_id: String,
    /// The keyID callstats gave for the public key.
    #[arg(long, value_name = "ID")]
    key_id: String,
    /// The private key, PEM, SEC1 ('BEGIN EC PRIVATE KEY') or PKCS8 ('BEGIN PRIVATE KEY').
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    /// The userID, as it goes into the token (1 to 256 bytes of UTF-8).
    #[arg(long, value_name = "ID")]
    user: String,
    /// A conferenceID, added as the opt-in `confID` claim (callstats itself does not read it).
    #[arg(long, value_name = "ID")]
    conference: Option<String>,
    /// Token lifetime, `exp - iat`: seconds, or with a unit (`90s`, `10m`, `1h`). 10 s to 24 h.
    #[arg(long, value_name = "DURATION", default_value = "300s", value_parser = parse_duration)]
    ttl: Duration,
    /// How far `nbf` lies before `iat`, for clock skew (`0s` to `1h`).
    #[arg(long, value_name = "DURATION", default_value = "300s", value_parser = parse_duration)]
    not_before_skew: Duration,
    /// Print JSON: the token, its header and its claims.
    #[arg(long)]
    json: bool,
    /// Pretend the current time is this many seconds after the Unix epoch (for testing
    /// expired and not-yet-valid tokens).
    #[arg(long, value_name = "UNIX_SECONDS", hide = true)]
    issued_at: Option<u64>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("verifying_key").required(true).args(["public_key", "jwks"])))]
struct VerifyArgs {
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

/// A failure: the message goes to stderr, the exit status is 1.
#[derive(Debug)]
struct Failure(String);

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn fail<T>(message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure(message.into()))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => keygen(args),
        Command::Mint(args) => mint(args),
        Command::Verify(args) => verify(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::FAILURE
        }
    }
}

/// Writes to stdout; a closed pipe (`... | head`) is not an error worth a panic.
fn print_out(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

// ---------------------------------------------------------------------------------------
// keygen

fn keygen(args: KeygenArgs) -> Result<(), Failure> {
    if args.private_key == args.public_key {
        return fail("--private-key and --public-key name the same file");
    }
    if !args.force {
        for path in [&args.private_key, &args.public_key] {
            if path.exists() {
                return fail(format!(
                    "{} already exists; refusing to overwrite it (pass --force to replace it)",
                    path.display()
                ));
            }
        }
    }
    // `generate` needs a keyID; the real one is assigned by callstats on upload.
    let key =
        SigningKey::generate(args.key_id.as_deref().unwrap_or("unassigned")).map_err(|e| Failure(e.to_string()))?;
    write_file(&args.private_key, key.to_pkcs8_pem().as_bytes(), true, args.force)?;
    write_file(&args.public_key, key.public_key_pem().as_bytes(), false, args.force)?;

    let mut jwk = serde_json::to_value(key.public_jwk()).map_err(|e| Failure(e.to_string()))?;
    if args.key_id.is_none() {
        if let Some(object) = jwk.as_object_mut() {
            object.remove("kid");
        }
    }
    eprintln!(
        "wrote the private key to {} (keep it secret) and the public key to {} (upload it to callstats)",
        args.private_key.display(),
        args.public_key.display()
    );
    print_out(&format!("{jwk}\n"));
    Ok(())
}

/// Writes `contents`; a secret file is created with mode 0600 (and set to 0600 when
/// overwritten).
fn write_file(path: &Path, contents: &[u8], secret: bool, overwrite: bool) -> Result<(), Failure> {
    let mut options = OpenOptions::new();
    options.write(true);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let cannot = |e: io::Error| Failure(format!("cannot write {}: {e}", path.display()));
    let mut file = options.open(path).map_err(cannot)?;
    #[cfg(unix)]
    if secret {
        // An existing file keeps its mode when opened; tighten it before writing.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(cannot)?;
    }
    file.write_all(contents).map_err(cannot)?;
    file.sync_all().map_err(cannot)
}

// ---------------------------------------------------------------------------------------
// mint

fn mint(args: MintArgs) -> Result<(), Failure> {
    let key = SigningKey::from_pem_file(args.key_id.as_str(), &args.key).map_err(|e| match e {
        KeyError::InvalidKeyId { .. } => Failure(format!("--key-id: {e}")),
        _ => Failure(format!("cannot use {} as the signing key: {e}", args.key.display())),
    })?;
    let user = UserId::new(args.user).map_err(|e| Failure(format!("--user: {e}")))?;
    let conference = args
        .conference
        .map(ConferenceId::new)
        .transpose()
        .map_err(|e| Failure(format!("--conference: {e}")))?;

    let builder = TokenIssuer::builder(args.app_id, key)
        .ttl(args.ttl)
        .not_before_skew(args.not_before_skew)
        .conf_id_claim(conference.is_some())
        .no_cache()
        .audit(|_: &AuditEvent<'_>| {});
    let builder = match args.issued_at {
        Some(secs) => builder.clock(ManualClock::at_unix(secs)),
        None => builder,
    };
    let issuer = builder.build().map_err(|e| Failure(e.to_string()))?;
    let token = issuer
        .issue(&user, conference.as_ref())
        .map_err(|e| Failure(e.to_string()))?;

    if args.json {
        let header = token
            .jwt()
            .split('.')
            .next()
            .and_then(|part| decode_json_part(part).ok())
            .unwrap_or(Value::Null);
        let out = json!({ "token": token.jwt(), "header": header, "claims": token.claims() });
        print_out(&format!("{out:#}\n"));
    } else {
        print_out(&format!("{}\n", token.jwt()));
    }
    Ok(())
}

/// `90`, `90s`, `10m`, `1h`.
fn parse_duration(input: &str) -> Result<Duration, String> {
    let input = input.trim();
    let split = input.find(|c: char| !c.is_ascii_digit()).unwrap_or(input.len());
    let (number, unit) = input.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{input:?} is not a duration; write e.g. 300, 300s, 10m or 1h"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("unknown unit {unit:?} in {input:?}; use s, m or h")),
    };
    number
        .checked_mul(factor)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{input:?} is too long"))
}

// ---------------------------------------------------------------------------------------
// verify

fn verify(args: VerifyArgs) -> Result<(), Failure> {
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
fn decode_json_part(part: &str) -> Result<Value, &'static str> {
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

/// `4m 59s`, `2h 0m`, `3d 4h`.
fn human(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

fn relative(t: u64, now: u64) -> String {
    if t > now {
        format!("in {}", human(t - now))
    } else {
        format!("{} ago", human(now - t))
    }
}

/// `2026-01-02 03:04:05 UTC`, without a date library (Howard Hinnant's civil_from_days).
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("10 minutes").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn human_durations_read_naturally() {
        assert_eq!(human(59), "59s");
        assert_eq!(human(299), "4m 59s");
        assert_eq!(human(7200), "2h 0m");
        assert_eq!(human(90_000), "1d 1h");
    }
}
