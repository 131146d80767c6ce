//! The in-memory store: always compiled, safe to share between threads.
//! For tests, examples and single-process hosts that keep nothing on disk.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};

use jiff::Timestamp;

use crate::ports::{
    ActivityStore, ConflictError, EventStore, OrganizationId, SignIn, SnapshotStore, StoreError,
    Version,
};
use crate::{Event, Snapshot, UserId};

/// Keeps events, snapshots and sign-ins in memory.
///
/// Events and sign-ins sit behind separate locks, so sign-ins never wait
/// for an append.
#[derive(Debug, Default)]
pub struct InMemoryStore {
    events: RwLock<HashMap<OrganizationId, Vec<Event>>>,
    /// Each organization's latest snapshot: its version and
    /// [`Snapshot::to_bytes`].
    snapshots: Mutex<HashMap<OrganizationId, (u64, Vec<u8>)>>,
    activity: Mutex<HashMap<OrganizationId, Activity>>,
}

#[derive(Debug, Default)]
struct Activity {
    latest: HashMap<UserId, (Timestamp, u64)>,
    by_position: BTreeMap<u64, UserId>,
    next: u64,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> InMemoryStore {
        InMemoryStore::default()
    }
}

/// A poisoned lock only means another thread panicked mid-operation; every
/// operation here leaves the data consistent before it can panic, so the
/// data is still good.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl EventStore for InMemoryStore {
    async fn append(
        &self,
        org: &OrganizationId,
        expected: Version,
        events: &[Event],
    ) -> Result<Version, StoreError> {
        let mut all = self.events.write().unwrap_or_else(PoisonError::into_inner);
        let stream = all.entry(org.clone()).or_default();
        let actual = stream.len() as Version;
        if actual != expected {
            return Err(ConflictError { expected, actual }.into());
        }
        stream.extend_from_slice(events);
        Ok(stream.len() as Version)
    }

    async fn read(&self, org: &OrganizationId, after: Version) -> Result<Vec<Event>, StoreError> {
        let all = self.events.read().unwrap_or_else(PoisonError::into_inner);
        let start = usize::try_from(after).unwrap_or(usize::MAX);
        Ok(all
            .get(org)
            .and_then(|stream| stream.get(start..))
            .map(<[Event]>::to_vec)
            .unwrap_or_default())
    }
}

impl SnapshotStore for InMemoryStore {
    async fn save_snapshot(
        &self,
        org: &OrganizationId,
        snapshot: &Snapshot,
    ) -> Result<(), StoreError> {
        let bytes = snapshot
            .to_bytes()
            .map_err(|e| StoreError::Corrupt(format!("cannot encode a snapshot: {e}")))?;
        let mut all = lock(&self.snapshots);
        let newer = all
            .get(org)
            .is_none_or(|(old, _)| *old < snapshot.version());
        if newer {
            all.insert(org.clone(), (snapshot.version(), bytes));
        }
        Ok(())
    }

    /// The stored snapshot, decoded from the bytes kept (as the other
    /// stores do, so every test through this store also reads the
    /// encoding back).
    async fn load_snapshot(&self, org: &OrganizationId) -> Result<Option<Snapshot>, StoreError> {
        let all = lock(&self.snapshots);
        let Some((_, bytes)) = all.get(org) else {
            return Ok(None);
        };
        Snapshot::from_bytes(bytes)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("the snapshot of organization {org}: {e}")))
    }
}

impl ActivityStore for InMemoryStore {
    async fn record_sign_in(
        &self,
        org: &OrganizationId,
        user: UserId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let mut all = lock(&self.activity);
        let activity = all.entry(org.clone()).or_default();
        if let Some((last, position)) = activity.latest.get(&user).copied() {
            if at <= last {
                return Ok(());
            }
            activity.by_position.remove(&position);
        }
        let Some(position) = activity.next.checked_add(1) else {
            return Err(StoreError::Corrupt(format!(
                "organization {org} has used every sign-in position"
            )));
        };
        activity.next = position;
        activity.latest.insert(user, (at, position));
        activity.by_position.insert(position, user);
        Ok(())
    }

    async fn sign_ins_after(
        &self,
        org: &OrganizationId,
        after: u64,
    ) -> Result<(Vec<SignIn>, u64), StoreError> {
        let all = lock(&self.activity);
        let Some(activity) = all.get(org) else {
            return Ok((Vec::new(), after));
        };
        let sign_ins = activity
            .by_position
            .range(after.saturating_add(1)..)
            .filter_map(|(_, user)| {
                activity.latest.get(user).map(|(at, _)| SignIn {
                    user: *user,
                    at: *at,
                })
            })
            .collect();
        Ok((sign_ins, activity.next.max(after)))
    }
}
