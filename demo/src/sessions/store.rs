//! The session store: tower-sessions' `MemoryStore`, keeping only the sessions the
//! bookkeeping knows.
//!
//! tower-sessions saves a request's session after its response, and a store's `save`
//! writes the record whether or not it still exists. A request still in flight when its
//! session ended (a logout, a newer login of the same browser, the per-client bound, the
//! expiry) would bring it back to life, uncounted. Here only a login creates a session,
//! and only a live one is saved.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tower_sessions::{
    MemoryStore, SessionStore,
    session::{Id, Record},
    session_store,
};

use super::{USER_KEY, index::Index};

#[derive(Clone)]
pub struct BoundedStore {
    inner: MemoryStore,
    index: Arc<Mutex<Index>>,
}

impl BoundedStore {
    pub fn new(index: Arc<Mutex<Index>>) -> Self {
        Self {
            inner: MemoryStore::default(),
            index,
        }
    }

    fn is_live(&self, id: &Id) -> bool {
        self.index.lock().unwrap_or_else(|e| e.into_inner()).contains(id)
    }
}

impl std::fmt::Debug for BoundedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundedStore").finish_non_exhaustive()
    }
}

#[async_trait]
impl SessionStore for BoundedStore {
    /// A new session: only a login's, which carries the user.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        if record.data.contains_key(USER_KEY) {
            self.inner.create(record).await
        } else {
            Ok(())
        }
    }

    /// Saves a live session; an ended one stays ended.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        if self.is_live(&record.id) {
            self.inner.save(record).await
        } else {
            Ok(())
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.inner.load(id).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.inner.delete(id).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use tower_sessions::cookie::time::OffsetDateTime;

    use super::*;
    use crate::client::ClientKey;

    fn record(data: &[(&str, &str)]) -> Record {
        Record {
            id: Id::default(),
            data: data
                .iter()
                .map(|(k, v)| ((*k).to_owned(), serde_json::json!(v)))
                .collect(),
            expiry_date: OffsetDateTime::now_utc() + Duration::from_secs(60),
        }
    }

    /// A request in flight when its session ended saves it afterwards: it stays ended. A
    /// record without a user (no login) is never created.
    #[tokio::test]
    async fn an_ended_session_is_never_saved_back_and_only_logins_create() {
        let index = Arc::new(Mutex::new(Index::default()));
        let store = BoundedStore::new(index.clone());
        let mut alice = record(&[(USER_KEY, "alice")]);
        store.create(&mut alice).await.unwrap();
        let client = ClientKey::of(std::net::IpAddr::from([192, 0, 2, 1]));
        index
            .lock()
            .unwrap()
            .insert(client, alice.id, Instant::now() + Duration::from_secs(60));
        alice.data.insert("calls".into(), serde_json::json!([]));
        store.save(&alice).await.unwrap();
        assert_eq!(store.load(&alice.id).await.unwrap().as_ref(), Some(&alice));

        index.lock().unwrap().remove(&alice.id);
        store.delete(&alice.id).await.unwrap();
        store.save(&alice).await.unwrap();
        assert_eq!(store.load(&alice.id).await.unwrap(), None);

        let mut anonymous = record(&[("calls", "[]")]);
        store.create(&mut anonymous).await.unwrap();
        assert_eq!(store.load(&anonymous.id).await.unwrap(), None);
    }
}
