//! `callstats-token keygen`: write a new P-256 key pair (the private key as PKCS8 PEM with
//! mode 0600, the public key as PEM for upload to callstats) and print the public key as
//! a JWK.

use std::{
    fs::{self, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
};

use clap::Args;
use tower_callstats::SigningKey;

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
    /// Replace existing files (regular files only: a symbolic link is refused). The old
    /// file is removed and a new one created, with mode 0600 for the private key.
    #[arg(long)]
    force: bool,
}

pub(crate) fn keygen(args: KeygenArgs) -> Result<(), Failure> {
    if args.private_key == args.public_key {
        return fail("--private-key and --public-key name the same file");
    }
    // Check both paths before writing either, so that a refusal leaves no half pair.
    for path in [&args.private_key, &args.public_key] {
        check_target(path, args.force)?;
    }
    // `generate` needs a keyID; the real one is assigned by callstats on upload.
    let key =
        SigningKey::generate(args.key_id.as_deref().unwrap_or("unassigned")).map_err(|e| Failure(e.to_string()))?;
    // A Zeroizing<String>: the PEM is wiped from memory when it drops.
    let private_pem = key.to_pkcs8_pem();
    write_file(&args.private_key, private_pem.as_bytes(), true, args.force)?;
    drop(private_pem);
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

/// Whether `path` holds a regular file that `overwrite` allows to replace (`Ok(false)`:
/// nothing there). A symbolic link, even a dangling one, or anything but a regular
/// file is refused, and so is an existing file without `overwrite`.
fn check_target(path: &Path, overwrite: bool) -> Result<bool, Failure> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fail(format!(
            "{} is a symbolic link; refusing to write a key through it (remove the link or choose another path)",
            path.display()
        )),
        Ok(meta) if !meta.is_file() => fail(format!(
            "{} exists and is not a regular file; refusing to replace it",
            path.display()
        )),
        Ok(_) if overwrite => Ok(true),
        Ok(_) => fail(format!(
            "{} already exists; refusing to overwrite it (pass --force to replace it)",
            path.display()
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Failure(format!("cannot inspect {}: {e}", path.display()))),
    }
}

/// Writes `contents` to a file that this call creates: a secret file is created with
/// mode 0600 from the start, so the key is never readable by others, not even for a
/// moment.
///
/// A symbolic link (or anything but a regular file) at `path` is refused, so that
/// `--force` cannot be tricked into writing the key somewhere else. With `overwrite`,
/// an existing regular file is removed first and a new one created: an existing
/// file's mode, owner and hard links are not inherited. The file is created with
/// `create_new` (`O_CREAT | O_EXCL`), which never follows a symbolic link, so one
/// planted between the check and the creation makes the creation fail.
fn write_file(path: &Path, contents: &[u8], secret: bool, overwrite: bool) -> Result<(), Failure> {
    let cannot = |e: io::Error| Failure(format!("cannot write {}: {e}", path.display()));
    if check_target(path, overwrite)? {
        fs::remove_file(path).map_err(cannot)?;
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(path).map_err(cannot)?;
    file.write_all(contents).map_err(cannot)?;
    file.sync_all().map_err(cannot)
}
