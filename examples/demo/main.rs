//! The demo server: `cargo run --example demo`, then open http://127.0.0.1:3000.
//!
//! Runs with no configuration on an embedded development key (`dev-key.pem` beside this
//! file: public, unknown to callstats; never use it in production). Environment, all optional:
//!
//! | variable | default | meaning |
//! | --- | --- | --- |
//! | `BIND` | `127.0.0.1:3000` | address to listen on |
//! | `CALLSTATS_APP_ID` | `demo-app` | your callstats appID |
//! | `CALLSTATS_KEY_ID` | `dev-key` | the keyID callstats gave for your public key |
//! | `CALLSTATS_PRIVATE_KEY_FILE` | (the embedded development key) | PEM private key, SEC1 or PKCS8; `kill -HUP` reloads it (without a file, `kill -HUP` rotates to a new development key `dev-key-1`, `dev-key-2`, ...) |
//! | `CALLSTATS_KEY_ID_FILE` | none | a file with the keyID, read at start-up and at every `kill -HUP`: a reloaded key needs its own keyID, so write the new keyID here before `kill -HUP`. A reload under a keyID that is still published (the file unchanged, or no `CALLSTATS_KEY_ID_FILE`) is refused and logged, and the current key keeps signing |
//! | `CALLSTATS_USER_ID` | `raw` | `raw`, `sha1`, `ephemeral` or `object` (object form, SHA1 alias) |
//! | `CALLSTATS_DOMAIN` | `example.com` | the domain for `sha1` (`username@domain`); no `@` |
//! | `CALLSTATS_CONFERENCE` | `per-call` | `per-call`: one conferenceID per call in each room, `<room>-<YYYYMMDDTHHMMZ>-<6 hex>` (e.g. `demo-room-20261125T0930Z-4f2a9c`), the same for everyone in the room until the call ends (`POST /rooms/{room}/end`, the room page's End button, or 2 hours without a join); `/getToken` takes the room from the page's URL (the `Referer`) and ignores the body's `conferenceID`. `room`: the room name itself, and `/getToken` reads the body's `conferenceID` |
//! | `CALLSTATS_JS_URL` | callstats' CDN | where the page loads callstats.js from |
//! | `CALLSTATS_AUTH_PROXY` | none | demo/testing only: point the client's auth at this URL (`window.csioproxy`) |
//! | `DEMO_SESSION_TTL_SECS` | `3600` | lifetime of a demo login session |
//!
//! Routes: `GET /` (login form), `POST /login`, `POST /logout`, `GET /rooms/{room}` (the
//! room page: it starts callstats.js and inspects what the crate did: the IDs, the token
//! decoded and its signature checked in the browser), `POST /rooms/{room}/end` (ends the
//! room's call), `POST /getToken`, `GET /.well-known/jwks.json`, `GET /public-key.pem`,
//! `GET /static/demo.css`, `GET /static/inspector.js`.
//!
//! Try it with curl:
//!
//! ```text
//! curl -c jar -d username=alice http://127.0.0.1:3000/login
//! # per-call (the default): the room comes from the page that asks, the Referer
//! curl -b jar -X POST -H 'referer: http://127.0.0.1:3000/rooms/room-1' http://127.0.0.1:3000/getToken
//! curl -b jar -X POST http://127.0.0.1:3000/rooms/room-1/end      # the next token is for a new call
//! # CALLSTATS_CONFERENCE=room: the body names the conference
//! curl -b jar -X POST -H 'content-type: application/json' -d '{"conferenceID":"room-1"}' http://127.0.0.1:3000/getToken
//! curl http://127.0.0.1:3000/.well-known/jwks.json
//! ```

mod app;
mod session;

use std::{env, net::SocketAddr, time::Duration};

use tower_callstats::{KeyError, KeyRing, SigningKey, UserIdStrategy};

/// Settings read from the environment.
struct Settings {
    bind: SocketAddr,
    key_id: String,
    key_id_file: Option<String>,
    key_file: Option<String>,
    demo: app::DemoConfig,
}

fn settings() -> Result<Settings, String> {
    let var = |name: &str| env::var(name).ok().filter(|v| !v.is_empty());
    let bind = var("BIND").unwrap_or_else(|| "127.0.0.1:3000".into());
    let bind: SocketAddr = bind
        .parse()
        .map_err(|e| format!("BIND={bind:?} is not an address: {e}"))?;
    let domain = var("CALLSTATS_DOMAIN").unwrap_or_else(|| "example.com".into());
    let user_id = match var("CALLSTATS_USER_ID").as_deref().unwrap_or("raw") {
        "raw" => UserIdStrategy::raw(),
        "sha1" => UserIdStrategy::sha1(domain).map_err(|e| format!("CALLSTATS_DOMAIN: {e}"))?,
        "object" => UserIdStrategy::sha1(domain)
            .map_err(|e| format!("CALLSTATS_DOMAIN: {e}"))?
            .object_form(true),
        "ephemeral" => {
            // Demo only: a per-process secret, so ephemeral IDs change on restart.
            let secret = session::random_hex(32);
            UserIdStrategy::ephemeral(secret.as_bytes()).map_err(|e| e.to_string())?
        }
        other => {
            return Err(format!(
                "CALLSTATS_USER_ID={other:?}: expected raw, sha1, ephemeral or object"
            ));
        }
    };
    let session_ttl = match var("DEMO_SESSION_TTL_SECS") {
        Some(v) => Duration::from_secs(
            v.parse()
                .map_err(|_| format!("DEMO_SESSION_TTL_SECS={v:?} is not a number"))?,
        ),
        None => Duration::from_secs(3600),
    };
    let conference = match var("CALLSTATS_CONFERENCE") {
        Some(mode) => app::ConferenceMode::parse(&mode)?,
        None => app::ConferenceMode::default(),
    };
    let key_id_file = var("CALLSTATS_KEY_ID_FILE");
    let mut demo = app::DemoConfig::new(var("CALLSTATS_APP_ID").unwrap_or_else(|| "demo-app".into()));
    demo.user_id = user_id;
    demo.conference = conference;
    demo.session_ttl = session_ttl;
    demo.auth_proxy = var("CALLSTATS_AUTH_PROXY");
    if let Some(url) = var("CALLSTATS_JS_URL") {
        demo.callstats_js_url = url;
    }
    Ok(Settings {
        bind,
        key_id: match &key_id_file {
            Some(file) => read_key_id(file)?,
            None => var("CALLSTATS_KEY_ID").unwrap_or_else(|| "dev-key".into()),
        },
        key_id_file,
        key_file: var("CALLSTATS_PRIVATE_KEY_FILE"),
        demo,
    })
}

/// The demo's development key: public (it is in the repository), unknown to callstats,
/// the same on every run and every instance, so that tokens verify across restarts.
/// Never use it for anything but the demo.
const DEVELOPMENT_KEY: &str = include_str!("dev-key.pem");

fn load_key(settings: &Settings) -> Result<SigningKey, String> {
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

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_callstats=info".into()),
        )
        .init();
    if let Err(error) = run().await {
        tracing::error!("{error}");
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), String> {
    let settings = settings()?;
    let key = load_key(&settings)?;
    let settings_conference = settings.demo.conference.as_str();
    let demo = app::build(settings.demo, key)?;
    reload_on_sighup(
        demo.keys.clone(),
        settings.key_id.clone(),
        settings.key_id_file.clone(),
        settings.key_file.clone(),
        demo.grace,
    );
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .map_err(|e| format!("cannot bind {}: {e}", settings.bind))?;
    tracing::info!(
        conference = settings_conference,
        "demo listening on http://{}",
        settings.bind
    );
    // With the client's address, for the login rate limit (per address).
    axum::serve(
        listener,
        demo.router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await
    .map_err(|e| e.to_string())
}

async fn shutdown() {
    let _ = tokio::signal::ctrl_c().await;
}

/// Reads a keyID from a file (trimmed).
fn read_key_id(path: &str) -> Result<String, String> {
    let key_id = std::fs::read_to_string(path).map_err(|e| format!("cannot read CALLSTATS_KEY_ID_FILE {path}: {e}"))?;
    Ok(key_id.trim().to_owned())
}

/// `kill -HUP <pid>` reloads the key file (or, without one, rotates to a new
/// development key). A bad file, or a keyID that is still published (the keyID file
/// unchanged), is refused and logged, and the current key stays active: the demo never
/// rotates to a new key under the old keyID, which callstats would reject.
fn reload_on_sighup(
    keys: KeyRing,
    key_id: String,
    key_id_file: Option<String>,
    key_file: Option<String>,
    grace: Duration,
) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        let mut generation = 1;
        while hup.recv().await.is_some() {
            match &key_file {
                Some(path) => {
                    // A new key needs a new keyID: re-read it when it lives in a file.
                    let key_id = match &key_id_file {
                        Some(file) => match read_key_id(file) {
                            Ok(key_id) => key_id,
                            Err(error) => {
                                tracing::error!(%error, "key reload failed; the current key stays active");
                                continue;
                            }
                        },
                        None => key_id.clone(),
                    };
                    // Refused (and logged by the ring) when the file is bad or the keyID
                    // is still published; the current key stays active either way.
                    if let Err(KeyError::SameKeyId { key_id }) = keys.reload_from_file(key_id.as_str(), path, grace) {
                        tracing::error!(
                            key_id,
                            "the key was not reloaded: write the new key's keyID to CALLSTATS_KEY_ID_FILE before kill -HUP"
                        );
                    }
                }
                None => {
                    let result = SigningKey::generate(format!("{key_id}-{generation}")).and_then(|key| {
                        generation += 1;
                        keys.rotate(key, grace)
                    });
                    if let Err(error) = result {
                        tracing::error!(%error, "could not rotate to a new development key; the current key stays active");
                    }
                }
            }
        }
    });
}
