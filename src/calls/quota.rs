//! How many new calls one user may start per minute, on one instance: the bound of
//! [`MemoryRegistry::max_new_calls_per_user`](super::MemoryRegistry::max_new_calls_per_user).

use std::{
    collections::HashMap,
    sync::{Mutex, PoisonError},
};

/// Users tracked at most; past it, windows that have run out are dropped, and if every
/// window is still running a user without one is let through untracked rather than
/// refused (a full table never locks anybody out).
const TRACKED_USERS: usize = 100_000;

/// A fixed one-minute window of new calls per user.
pub(super) struct Quota {
    per_minute: u32,
    windows: Mutex<HashMap<Box<str>, Window>>,
}

#[derive(Clone, Copy)]
struct Window {
    /// Unix seconds at which the window opened.
    start: u64,
    /// New calls started in it.
    count: u32,
}

impl Quota {
    /// At most `per_minute` new calls per user and minute; `0` lets every call through.
    pub(super) fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    pub(super) fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Counts a new call of `user` at `now` (Unix seconds): `false` when the user
    /// already started `per_minute` calls in the current window.
    pub(super) fn take(&self, user: &str, now: u64) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let mut windows = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let expired = |w: &Window| now.saturating_sub(w.start) >= 60;
        if let Some(window) = windows.get_mut(user) {
            if expired(window) {
                *window = Window { start: now, count: 0 };
            }
            if window.count >= self.per_minute {
                return false;
            }
            window.count += 1;
            return true;
        }
        if windows.len() >= TRACKED_USERS {
            windows.retain(|_, w| !expired(w));
            if windows.len() >= TRACKED_USERS {
                return true;
            }
        }
        windows.insert(user.into(), Window { start: now, count: 1 });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_the_bound_per_minute_and_others_are_not_affected() {
        let quota = Quota::new(3);
        for _ in 0..3 {
            assert!(quota.take("mallory", 1_000));
        }
        assert!(!quota.take("mallory", 1_000));
        assert!(!quota.take("mallory", 1_059)); // the same minute
        assert!(quota.take("alice", 1_059));
        assert!(quota.take("mallory", 1_060)); // a new window
        assert!(Quota::new(0).take("anyone", 0));
    }

    #[test]
    fn a_full_table_never_locks_a_new_user_out() {
        let quota = Quota::new(1);
        for i in 0..TRACKED_USERS {
            assert!(quota.take(&format!("user-{i}"), 5_000));
        }
        // Every window still runs: a new user is let through, untracked.
        assert!(quota.take("newcomer", 5_001));
        assert!(quota.take("newcomer", 5_001));
        // A minute later the old windows make room, and the bound applies again.
        assert!(quota.take("newcomer", 5_070));
        assert!(!quota.take("newcomer", 5_070));
    }
}
