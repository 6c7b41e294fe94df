//! What the demo's handlers share.

use std::sync::Arc;

use tower_callstats::{RoomSource, calls::Calls, endpoint::TokenEndpoint};

use crate::{access::RoomRule, pages::PageSettings, sessions::Sessions, user::UserSource};

/// What the handlers share. Cloning is cheap.
#[derive(Clone)]
pub struct AppState {
    pub sessions: Sessions,
    pub page: Arc<PageSettings>,
    /// The calls of `per-call` mode; `None` in `room` mode.
    pub calls: Option<Calls>,
    /// The room of a page: `/rooms/{room}`.
    pub rooms: RoomSource,
    pub endpoint: TokenEndpoint<UserSource, RoomRule>,
}
