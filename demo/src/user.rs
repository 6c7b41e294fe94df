//! Who the demo's user is: what a login stores in the session, and how tower-callstats
//! reads it back (`FromSession`: no bridge middleware).

use serde::{Deserialize, Serialize};
use tower_callstats::{AppUser, FromSession};

use crate::sessions::USER_KEY;

/// What the demo stores in the session at login.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DemoUser {
    pub username: String,
    #[serde(default)]
    pub domain: Option<String>,
}

/// tower-callstats' user: the session's [`DemoUser`].
pub type UserSource = FromSession<DemoUser, fn(DemoUser) -> AppUser>;

pub fn user_source() -> UserSource {
    let to_app_user: fn(DemoUser) -> AppUser = |user| match user.domain {
        Some(domain) => AppUser::new(user.username).with_domain(domain),
        None => AppUser::new(user.username),
    };
    FromSession::new(USER_KEY, to_app_user)
}
