//! `callstats-token keygen`: write a new P-256 key pair (the private key as PKCS8 PEM with
//! mode 0600, the public key as PEM for upload to callstats) and print the public key as
//! a JWK.

use std::{
    fs::{self, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
};

use clap::Args;
use tower_callstats::keys::SigningKey;

use crate::{Failure, fail, print_out};

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
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

pub(crate) fn keygen(args: KeygenArgs) -> Result<(), Failure> {
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
