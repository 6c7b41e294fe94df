//! `callstats-token`: make a key pair, mint a token, verify a token.
//!
//! ```text
//! cargo run -p callstats-token -- keygen --key-id my-key-id
//! cargo run -p callstats-token -- mint --app-id 12345 --key-id my-key-id --key callstats-key.pem --user alice
//! cargo run -p callstats-token -- verify --public-key callstats-key.pub.pem eyJhbGciOi...
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
//!
//! This file holds the command line itself, the failure type and the output helper;
//! each subcommand lives in its own module, with its arguments.

mod keygen;
mod mint;
mod time;
mod verify;

use std::{
    fmt,
    io::{self, Write},
    process::ExitCode,
};

use clap::{Parser, Subcommand};

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
    Keygen(keygen::KeygenArgs),
    /// Sign a token for a userID (and conferenceID), for debugging.
    Mint(mint::MintArgs),
    /// Verify a token's signature and claims; print its header, claims and time left.
    Verify(verify::VerifyArgs),
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
        Command::Keygen(args) => keygen::keygen(args),
        Command::Mint(args) => mint::mint(args),
        Command::Verify(args) => verify::verify(args),
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
