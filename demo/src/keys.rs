//! The signing key: the embedded development key or a key file, and its reload at
//! `kill -HUP`.

use std::time::Duration;

use tower_callstats::{KeyError, KeyRing, SigningKey};

/// The demo's development key: public (it is in the repository), unknown to callstats,
/// the same on every run and every instance, so that tokens verify across restarts.
/// Never use it for anything but the demo.
const DEVELOPMENT_KEY: &str = include_str!("../dev-key.pem");

/// Where the key and its keyID come from.
#[derive(Debug, Clone)]
pub struct KeySettings {
    /// The keyID at start-up (`CALLSTATS_KEY_ID_FILE`'s content, else `CALLSTATS_KEY_ID`).
    pub key_id: String,
    /// `CALLSTATS_KEY_ID_FILE`: re-read at every reload.
    pub key_id_file: Option<String>,
    /// `CALLSTATS_PRIVATE_KEY_FILE`; none: the development key.
    pub key_file: Option<String>,
}

impl KeySettings {
    pub fn from_env(
        key_id: Option<String>,
        key_id_file: Option<String>,
        key_file: Option<String>,
    ) -> Result<Self, String> {
        let key_id = match &key_id_file {
            Some(file) => read_key_id(file)?,
            None => key_id.unwrap_or_else(|| "dev-key".into()),
        };
        Ok(Self {
            key_id,
            key_id_file,
            key_file,
        })
    }
}

/// Reads a keyID from a file (trimmed).
fn read_key_id(path: &str) -> Result<String, String> {
    let key_id = std::fs::read_to_string(path).map_err(|e| format!("cannot read CALLSTATS_KEY_ID_FILE {path}: {e}"))?;
    Ok(key_id.trim().to_owned())
}

/// The key to sign with at start-up.
pub fn load(settings: &KeySettings) -> Result<SigningKey, String> {
    match &settings.key_file {
        Some(path) => {
            let key = SigningKey::from_pem_file(settings.key_id.as_str(), path).map_err(|e| e.to_string())?;
            tracing::info!(path, key_id = key.key_id(), "loaded the signing key");
            Ok(key)
        }
        None => {
            let key = SigningKey::from_pem(settings.key_id.as_str(), DEVELOPMENT_KEY).map_err(|e| e.to_string())?;
            tracing::warn!(
                key_id = key.key_id(),
                "signing with the demo's embedded development key, which is public and unknown to callstats \
                 (set CALLSTATS_PRIVATE_KEY_FILE for a real one); its public key is at /public-key.pem and \
                 /.well-known/jwks.json"
            );
            Ok(key)
        }
    }
}

/// `kill -HUP <pid>` reloads the key file (or, without one, rotates to a new
/// development key). A bad file, or a keyID that is still published (the keyID file
/// unchanged), is refused and logged, and the current key stays active: the demo never
/// rotates to a new key under the old keyID, which callstats would reject.
pub fn reload_on_sighup(keys: KeyRing, settings: KeySettings, grace: Duration) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        let mut generation = 1;
        while hup.recv().await.is_some() {
            match &settings.key_file {
                Some(path) => reload_file(&keys, &settings, path, grace),
                None => {
                    rotate_development_key(&keys, &settings.key_id, generation, grace);
                    generation += 1;
                }
            }
        }
    });
    #[cfg(not(unix))]
    let _ = (keys, settings, grace);
}

/// Reloads the key file under the keyID of the keyID file (re-read), or the start-up one.
fn reload_file(keys: &KeyRing, settings: &KeySettings, path: &str, grace: Duration) {
    // A new key needs a new keyID: re-read it when it lives in a file.
    let key_id = match &settings.key_id_file {
        Some(file) => match read_key_id(file) {
            Ok(key_id) => key_id,
            Err(error) => {
                tracing::error!(%error, "key reload failed; the current key stays active");
                return;
            }
        },
        None => settings.key_id.clone(),
    };
    // Refused (and logged by the ring) when the file is bad or the keyID is still
    // published; the current key stays active either way.
    if let Err(KeyError::SameKeyId { key_id }) = keys.reload_from_file(key_id.as_str(), path, grace) {
        tracing::error!(
            key_id,
            "the key was not reloaded: write the new key's keyID to CALLSTATS_KEY_ID_FILE before kill -HUP"
        );
    }
}

/// Rotates to a new development key `<key_id>-<generation>`.
fn rotate_development_key(keys: &KeyRing, key_id: &str, generation: u32, grace: Duration) {
    let result = SigningKey::generate(format!("{key_id}-{generation}")).and_then(|key| keys.rotate(key, grace));
    if let Err(error) = result {
        tracing::error!(%error, "could not rotate to a new development key; the current key stays active");
    }
}
