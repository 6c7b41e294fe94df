//! The bookkeeping behind the bounds: every live session's client and expiry.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    time::Instant,
};

use tower_sessions::session::Id;

use crate::{client::ClientKey, settings::SessionLimits};

/// The session bookkeeping: a live session's client and expiry, by ID.
#[derive(Default)]
pub struct Index {
    entries: HashMap<Id, Entry>,
    /// Session IDs by expiry (and login order).
    by_expiry: BTreeMap<(Instant, u64), Id>,
    /// Each client's sessions, oldest first.
    by_client: HashMap<ClientKey, VecDeque<Id>>,
    next_seq: u64,
}

struct Entry {
    client: ClientKey,
    expires: Instant,
    seq: u64,
}

/// The bound of live sessions is reached.
#[derive(Debug)]
pub struct Full;

impl Index {
    /// Whether `id` is a live session.
    pub fn contains(&self, id: &Id) -> bool {
        self.entries.contains_key(id)
    }

    pub fn insert(&mut self, client: ClientKey, id: Id, expires: Instant) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_expiry.insert((expires, seq), id);
        self.by_client.entry(client).or_default().push_back(id);
        self.entries.insert(id, Entry { client, expires, seq });
    }

    pub fn remove(&mut self, id: &Id) {
        let Some(entry) = self.entries.remove(id) else { return };
        self.by_expiry.remove(&(entry.expires, entry.seq));
        if let Some(ids) = self.by_client.get_mut(&entry.client) {
            ids.retain(|other| other != id);
            if ids.is_empty() {
                self.by_client.remove(&entry.client);
            }
        }
    }

    /// Forgets the sessions expired at `now`; returns their IDs.
    pub fn purge_expired(&mut self, now: Instant) -> Vec<Id> {
        let mut expired = Vec::new();
        while let Some((&(expires, _), &id)) = self.by_expiry.first_key_value() {
            if expires > now {
                break;
            }
            self.remove(&id);
            expired.push(id);
        }
        expired
    }

    /// Makes room for one more session of `client`, whose browser's session `previous`
    /// ends: the client's oldest sessions beyond its bound end too. Returns those, or
    /// [`Full`] (and changes nothing) when even then the overall bound is exceeded.
    pub fn admit(&mut self, client: ClientKey, previous: Option<Id>, limits: &SessionLimits) -> Result<Vec<Id>, Full> {
        let previous = previous.filter(|id| self.entries.contains_key(id));
        let own: Vec<Id> = self
            .by_client
            .get(&client)
            .into_iter()
            .flatten()
            .copied()
            .filter(|id| Some(*id) != previous)
            .collect();
        let evict = (own.len() + 1).saturating_sub(limits.per_client);
        if self.entries.len() - usize::from(previous.is_some()) - evict >= limits.max {
            return Err(Full);
        }
        if let Some(previous) = previous {
            self.remove(&previous);
        }
        let evicted = own[..evict].to_vec();
        for id in &evicted {
            self.remove(id);
        }
        Ok(evicted)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits(max: usize, per_client: usize) -> SessionLimits {
        SessionLimits {
            ttl: Duration::from_secs(60),
            max,
            per_client,
        }
    }

    fn client(n: u8) -> ClientKey {
        ClientKey::of(std::net::IpAddr::from([192, 0, 2, n]))
    }

    /// Logs `client` in: admits, then inserts a new ID. Returns the evicted IDs and the new ID.
    fn log_in(index: &mut Index, c: ClientKey, previous: Option<Id>, l: &SessionLimits) -> Result<(Vec<Id>, Id), Full> {
        let evicted = index.admit(c, previous, l)?;
        let id = Id::default();
        index.insert(c, id, Instant::now() + l.ttl);
        Ok((evicted, id))
    }

    #[test]
    fn a_clients_next_login_ends_its_own_oldest_session() {
        let l = limits(100, 2);
        let mut index = Index::default();
        let (_, a1) = log_in(&mut index, client(1), None, &l).unwrap();
        let (_, b1) = log_in(&mut index, client(2), None, &l).unwrap();
        let (_, _a2) = log_in(&mut index, client(1), None, &l).unwrap();
        let (evicted, _a3) = log_in(&mut index, client(1), None, &l).unwrap();
        assert_eq!(evicted, [a1]);
        assert!(index.entries.contains_key(&b1));
        assert_eq!(index.entries.len(), 3);
    }

    #[test]
    fn at_the_bound_a_new_session_is_refused_and_nobody_is_evicted() {
        let l = limits(2, 5);
        let mut index = Index::default();
        let (_, a) = log_in(&mut index, client(1), None, &l).unwrap();
        log_in(&mut index, client(2), None, &l).unwrap();
        assert!(log_in(&mut index, client(3), None, &l).is_err());
        assert_eq!(index.entries.len(), 2);
        // Replacing the browser's own session adds none: admitted.
        let (evicted, _) = log_in(&mut index, client(1), Some(a), &l).unwrap();
        assert!(evicted.is_empty());
        assert!(!index.entries.contains_key(&a));
        assert_eq!(index.entries.len(), 2);
    }

    #[test]
    fn expired_sessions_are_purged_in_expiry_order() {
        let mut index = Index::default();
        let now = Instant::now();
        let (old, young) = (Id::default(), Id::default());
        index.insert(client(1), young, now + Duration::from_secs(10));
        index.insert(client(2), old, now + Duration::from_secs(1));
        assert_eq!(index.purge_expired(now), []);
        assert_eq!(index.purge_expired(now + Duration::from_secs(1)), [old]);
        assert_eq!(index.purge_expired(now + Duration::from_secs(20)), [young]);
        assert!(index.by_client.is_empty() && index.by_expiry.is_empty());
    }
}
