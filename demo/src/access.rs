//! Who may join which room: the demo's `Callstats::authorize` hook.
//!
//! A room named `private-<name>` is for the user `<name>` alone, the whole username
//! compared (`alice` may not enter `private-alice2`, nor `bob` `private-alice`); every
//! other room is open to everyone logged in. tower-callstats asks the hook with the room
//! as the page named it, before it joins a call or signs anything, on the room pages and
//! on `/getToken` alike: a refused user gets `403 conference_forbidden`, which names the
//! room and never the call's conferenceID, and starts, touches or ends no call.

use tower_callstats::{AppUser, UserId};

/// The prefix of a room that only one user may join.
const PRIVATE: &str = "private-";

/// The hook's type: a plain function, so that the demo's layer and endpoint have a
/// type to name.
pub type RoomRule = fn(&AppUser, &UserId, Option<&str>) -> bool;

/// The rule as a hook for `Callstats::authorize`.
pub fn rule() -> RoomRule {
    may_join
}

/// Whether `user` may join `room`: `private-<name>` only if the username is `<name>`,
/// any other room always. Without a room (the demo always has one) nobody may.
fn may_join(user: &AppUser, _: &UserId, room: Option<&str>) -> bool {
    room.is_some_and(|room| room.strip_prefix(PRIVATE).is_none_or(|owner| owner == user.username()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn may(user: &str, room: &str) -> bool {
        may_join(&AppUser::new(user), &UserId::new("any").unwrap(), Some(room))
    }

    #[test]
    fn a_private_room_is_its_owners_alone_and_others_are_open() {
        assert!(may("alice", "private-alice"));
        assert!(!may("bob", "private-alice"));
        // The whole name: neither a prefix nor an extension of it.
        assert!(!may("alice", "private-alice2"));
        assert!(!may("alice2", "private-alice"));
        assert!(!may("alice", "private-"));
        assert!(!may("Alice", "private-alice"));
        // Not private: the prefix is exact.
        assert!(may("bob", "Private-alice"));
        assert!(may("bob", "alice-private"));
        assert!(may("bob", "standup"));
        assert!(!may_join(&AppUser::new("alice"), &UserId::new("alice").unwrap(), None));
    }
}
