//! DEMO ONLY: a login without a password, standing in for the app's real authentication.
//! Do not copy it into production as it is. What it does have, from maintained crates,
//! is the protection every login needs:
//!
//! - **The session** is tower-sessions' (`src/sessions.rs`: the `__Host-demo_session`
//!   cookie, the bounds per client and overall, a new ID at every login). tower-callstats
//!   reads the logged-in user from it with `FromSession`: no bridge middleware.
//! - **Logins are rate limited** per client address (`src/client.rs`) by
//!   `tower_governor`: 30 attempts at once, one more every 2 s; over the limit `429`
//!   with `Retry-After`. Idle addresses are forgotten every minute (`retain_recent`), so
//!   the table never fills up and a new address is never refused for others' attempts.
//! - **Cross-origin forms are refused** by `tower_http::csrf::CsrfLayer` on `POST /login`,
//!   `POST /logout` and `POST /rooms/{room}/end` (`403`, code `csrf_failed`): a request
//!   that a browser sent from another origin (`Sec-Fetch-Site` other than `same-origin` or
//!   `none`; without it, an `Origin` whose host and port are not the `Host`). Every
//!   current browser sends those headers, and another site cannot remove them, so the
//!   forms need no CSRF token (the old demo's double-submit cookie and `csrf` field are
//!   gone). curl and scripts send neither header and pass:
//!   `curl -c jar -d username=alice http://127.0.0.1:3000/login` works. The token
//!   endpoint keeps tower-callstats' own check, which also compares the scheme.

use std::{sync::Arc, time::Duration};

use axum::{
    Extension, Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::{MethodRouter, post},
};
use bytes::Bytes;
use serde::Deserialize;
use tower_governor::{GovernorError, GovernorLayer, governor::GovernorConfigBuilder};
use tower_http::csrf::{CsrfLayer, ProtectionError};
use tower_sessions::Session;

use crate::{
    client::{ByClient, ClientKey},
    pages::json_error,
    sessions::{LoginError, USER_KEY},
    state::AppState,
    user::DemoUser,
};

/// Upper bound on a username at login; the callstats layer then enforces its own
/// 256-byte userID limit with a clear 400.
const MAX_USERNAME_BYTES: usize = 1024;

/// `POST /login` behind its rate limit (`tower_governor`): per client, a burst of 30
/// attempts and one more every 2 s; idle clients forgotten every minute.
pub fn login_route() -> MethodRouter<AppState> {
    let config = GovernorConfigBuilder::default()
        .per_second(2)
        .burst_size(30)
        .key_extractor(ByClient)
        .finish()
        .expect("a burst and a period above zero");
    let limiter = config.limiter().clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    });
    post(login).route_layer(GovernorLayer::new(Arc::new(config)).error_handler(rate_limited))
}

fn rate_limited(error: GovernorError) -> Response {
    match error {
        GovernorError::TooManyRequests { wait_time, .. } => {
            // governor rounds the wait down: one second more is always enough.
            let secs = wait_time + 1;
            let mut response = json_error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                &format!("too many login attempts from this address; try again in {secs} s"),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            response
        }
        other => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "rate_limit_failed",
            &other.to_string(),
        ),
    }
}

/// Cross-origin protection of the demo's forms (see the module docs).
pub fn cross_origin_protection() -> CsrfLayer<fn(ProtectionError) -> Response> {
    CsrfLayer::new().with_rejection_response(csrf_failed as fn(ProtectionError) -> Response)
}

fn csrf_failed(error: ProtectionError) -> Response {
    json_error(
        StatusCode::FORBIDDEN,
        "csrf_failed",
        &format!("{error}: submit the form from this site's own page"),
    )
}

#[derive(Deserialize)]
struct LoginForm {
    username: String,
    #[serde(default)]
    domain: Option<String>,
}

/// A login body the demo refuses: the status, code and message of its JSON answer.
struct Refused(StatusCode, &'static str, String);

/// The login body: a form or JSON with a `username` (and an optional `domain`); whether
/// it was JSON.
fn parse_login(headers: &HeaderMap, body: &[u8]) -> Result<(DemoUser, bool), Refused> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let bad = |message: String| Refused(StatusCode::BAD_REQUEST, "invalid_login", message);
    let (form, is_json): (Result<LoginForm, String>, bool) = if content_type.starts_with("application/json") {
        (serde_json::from_slice(body).map_err(|e| e.to_string()), true)
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        (serde_urlencoded::from_bytes(body).map_err(|e| e.to_string()), false)
    } else {
        let message = "send a form or JSON with a username".to_owned();
        return Err(Refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        ));
    };
    let form = form.map_err(|e| bad(format!("invalid login body: {e}")))?;
    // The login form's optional domain field arrives as `domain=` when left blank.
    let domain = form.domain.filter(|d| !d.is_empty());
    let valid = |s: &str| !s.is_empty() && s.len() <= MAX_USERNAME_BYTES && !s.chars().any(char::is_control);
    if !valid(&form.username) || domain.as_deref().is_some_and(|d| !valid(d)) {
        return Err(bad(
            "username (and domain) must be 1 to 1024 bytes without control characters".to_owned(),
        ));
    }
    if let Some(domain) = &domain
        && let Some(at) = domain.find('@')
    {
        return Err(bad(format!(
            "domain {domain:?} contains '@' at byte {at}: the SHA1 userID hashes username@domain, so a domain with \
             '@' would let two users share a userID; use a domain such as example.com"
        )));
    }
    let user = DemoUser {
        username: form.username,
        domain,
    };
    Ok((user, is_json))
}

/// `POST /login` with a form (answered with `303` to `/`) or JSON (answered with
/// `{"username"}`); the session cookie comes with the answer.
async fn login(
    State(app): State<AppState>,
    Extension(client): Extension<ClientKey>,
    session: Session,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (user, is_json) = match parse_login(&headers, &body) {
        Ok(parsed) => parsed,
        Err(Refused(status, code, message)) => return json_error(status, code, &message),
    };
    match app.sessions.log_in(&session, client, &user).await {
        Ok(()) => {}
        Err(LoginError::Full) => {
            tracing::warn!("session store full: a new login was refused (DEMO_MAX_SESSIONS)");
            let message =
                "the demo holds as many sessions as it may; nobody is logged out to make room: try again later";
            let mut response = json_error(StatusCode::SERVICE_UNAVAILABLE, "sessions_full", message);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(60));
            return response;
        }
        Err(LoginError::Store(error)) => {
            tracing::error!(%error, "the session store failed at login");
            return json_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "session_store_failed",
                "could not log in",
            );
        }
    }
    let mut response = if is_json {
        Json(serde_json::json!({"username": user.username})).into_response()
    } else {
        Redirect::to("/").into_response()
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `POST /logout`: ends the session, back to `/`.
pub async fn logout(State(app): State<AppState>, session: Session) -> Response {
    if let Err(error) = app.sessions.log_out(&session).await {
        tracing::error!(%error, "the session store failed at logout");
        return json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "session_store_failed",
            "could not log out",
        );
    }
    let mut response = Redirect::to("/").into_response();
    let clear = HeaderValue::from_static(crate::sessions::CLEAR_COOKIE);
    response.headers_mut().insert(header::SET_COOKIE, clear);
    response
}

/// `GET /`: the login form, and who is logged in.
pub async fn index(session: Session) -> Response {
    let user = crate::sessions::read::<DemoUser>(&session, USER_KEY).await;
    crate::pages::index(StatusCode::OK, user.as_ref().map(|u| u.username.as_str()), None)
}
