//! `callstats-token mint`: sign a token with the library's own signing code, for
//! debugging. The claims are the ones the layer and the token endpoint issue.

use std::{path::PathBuf, time::Duration};

use clap::Args;
use serde_json::{Value, json};
use tower_callstats::{ConferenceId, KeyError, SigningKey, TokenIssuer, UserId, clock::ManualClock};

use crate::{Failure, print_out, time::parse_duration, verify::decode_json_part};

#[derive(Debug, Args)]
pub(crate) struct MintArgs {
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

pub(crate) fn mint(args: MintArgs) -> Result<(), Failure> {
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

    // `issue` signs a new token on every call and records no audit event (the cache
    // and the audit live in the layer and the endpoint).
    let builder = TokenIssuer::builder(args.app_id, key)
        .ttl(args.ttl)
        .not_before_skew(args.not_before_skew)
        .conf_id_claim(conference.is_some());
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
