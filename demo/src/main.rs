//! The demo server: `cargo run -p demo`, then open http://127.0.0.1:3000.
//!
//! Runs with no configuration on an embedded development key (`dev-key.pem` beside
//! `Cargo.toml`: public, unknown to callstats; never use it in production). DEMO ONLY: its
//! login has no password. What it does have, because the demo is what people copy, is
//! what every login needs, from maintained crates (`src/auth.rs` has the rules): a
//! tower-sessions session behind a `__Host-` cookie, cross-origin protection of its forms
//! (`tower_http::csrf`), a login rate limit per client address (`tower_governor`), a
//! bound on sessions per client and overall that never logs anybody out, and timeouts
//! for request headers, request bodies and whole requests.
//!
//! Environment, all optional:
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
//! | `CALLSTATS_CONFERENCE` | `per-call` | `per-call`: one conferenceID per call in each room, `<room>-<YYYYMMDDTHHMMZ>-<6 hex>` (e.g. `demo-room-20261125T0930Z-4f2a9c`), the same for everyone in the room until the call ends (`POST /rooms/{room}/end`, the room page's End button, or 2 hours without a join). A user starts at most 60 new calls a minute; past that, the room name itself stands in (no call is started, none is ended). `room`: the room name itself. In both modes `/getToken` takes the room from the page that asks (its `Referer`) and ignores the body's `conferenceID` |
//! | `CALLSTATS_JS_URL` | callstats' CDN | where the page loads callstats.js from |
//! | `CALLSTATS_AUTH_PROXY` | none | demo/testing only: point the client's auth at this URL (`window.csioproxy`) |
//! | `DEMO_SESSION_TTL_SECS` | `3600` | lifetime of a demo login session, from the login |
//! | `DEMO_MAX_SESSIONS` | `100000` | live sessions at most; at the bound a NEW login gets `503` (nobody is logged out) |
//! | `DEMO_SESSIONS_PER_CLIENT` | `5` | live sessions per client address at most; a client's next login ends its own oldest session |
//! | `DEMO_HEADER_TIMEOUT_SECS` | `10` | a connection whose request header (or the next one on a kept-alive connection) takes longer is closed |
//! | `DEMO_BODY_TIMEOUT_SECS` | `10` | a request body that takes longer is cut (`/getToken` answers `400 body_unreadable`) |
//! | `DEMO_REQUEST_TIMEOUT_SECS` | `10` | a request that takes longer gets `408` |
//! | `DEMO_TRUST_X_FORWARDED_FOR` | off | `1`: the client's address is the last `X-Forwarded-For` entry instead of the connection's. Only for tests and behind a proxy that sets that header itself: otherwise any client picks its own address and escapes the rate limit and the session bound |
//!
//! Rooms: a room named `private-<name>` may be joined only by the user `<name>` (the
//! whole username compared: `alice` may not enter `private-alice2`), everyone logged in
//! may join any other room; this is the demo's `Callstats::authorize` hook
//! (`src/access.rs`), asked before any call is joined, and it refuses with
//! `403 conference_forbidden` naming the room, never the call.
//!
//! Routes: `GET /` (login form), `POST /login`, `POST /logout`, `GET /rooms/{room}` (the
//! room page: it starts callstats.js and inspects what the crate did: the IDs, the token
//! decoded and its signature checked in the browser), `POST /rooms/{room}/end` (ends the
//! room's call, for a participant of it), `POST /getToken`, `GET /.well-known/jwks.json`,
//! `GET /public-key.pem`, `GET /static/demo.css`, `GET /static/inspector.js`.
//!
//! Try it with curl:
//!
//! ```text
//! curl -c jar -d username=alice http://127.0.0.1:3000/login
//! # the room comes from the page that asks, the Referer
//! curl -b jar -c jar -X POST -H 'referer: http://127.0.0.1:3000/rooms/room-1' http://127.0.0.1:3000/getToken
//! curl -b jar -X POST http://127.0.0.1:3000/rooms/room-1/end      # ends the call you are in; the next token is for a new call
//! curl -b jar -D - -o /dev/null http://127.0.0.1:3000/rooms/room-1 # x-callstats-* headers
//! curl -X POST http://127.0.0.1:3000/getToken                     # 403 {"code":"not_logged_in","error":"User not logged in"}
//! curl http://127.0.0.1:3000/.well-known/jwks.json
//! ```

mod access;
mod app;
mod auth;
mod calls;
mod client;
mod keys;
mod pages;
mod serve;
mod sessions;
mod settings;
mod state;
mod user;

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
    let settings = settings::Settings::from_env()?;
    let key = keys::load(&settings.key)?;
    let demo = app::build(&settings, key)?;
    keys::reload_on_sighup(demo.keys.clone(), settings.key.clone(), demo.grace);
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .map_err(|e| format!("cannot bind {}: {e}", settings.bind))?;
    tracing::info!(
        conference = settings.mode.as_str(),
        "demo listening on http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    serve::serve(listener, demo.router, &settings.timeouts).await;
    Ok(())
}
