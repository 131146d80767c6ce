//! The organizations a service keeps in memory: one [`Slot`] per
//! organization (its state, its writer lock, its delivery permits), in a
//! bounded least-recently-used [`Cache`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tokio::sync::Semaphore;

use super::ServiceConfig;
use crate::Organization;
use crate::ports::OrganizationId;

/// An organization as last seen, and how far its sign-ins were read.
pub(super) struct Entry {
    pub(super) org: Organization,
    pub(super) activity: u64,
    /// Another writer appended since `org` was read (an append
    /// conflicted): read the store before deciding again.
    pub(super) stale: bool,
    /// The version of the last snapshot this service loaded, asked for
    /// or wrote (0: none): the next is due an interval after it.
    pub(super) snapshot_at: u64,
}

impl Entry {
    pub(super) fn new(org: Organization, snapshot_at: u64) -> Entry {
        Entry {
            org,
            activity: 0,
            stale: false,
            snapshot_at,
        }
    }

    /// Whether a snapshot is due: the events since the last one reach
    /// the interval for `every` (see `ServiceConfig::with_snapshot_every`).
    pub(super) fn snapshot_due(&self, every: u64) -> bool {
        let interval = super::snapshot_interval(every, self.org.member_count());
        self.org.version().saturating_sub(self.snapshot_at) >= interval
    }
}

/// One organization's place in the cache.
///
/// `writer` serializes this process's writers and refreshes of the
/// organization (other organizations go on); it is held across store
/// calls. `state` is only ever locked briefly, never across an `.await`,
/// so readers and sign-ins never wait for a running append. `sending`
/// bounds the organization's deliveries in flight.
pub(super) struct Slot {
    pub(super) writer: tokio::sync::Mutex<()>,
    state: RwLock<Option<Entry>>,
    pub(super) sending: Arc<Semaphore>,
}

impl Slot {
    pub(super) fn new(config: &ServiceConfig) -> Slot {
        Slot {
            writer: tokio::sync::Mutex::new(()),
            state: RwLock::new(None),
            sending: Arc::new(Semaphore::new(config.deliveries_per_organization)),
        }
    }
    /// Whether the organization is loaded and exists (has events).
    pub(super) fn exists(&self) -> bool {
        self.read().as_ref().is_some_and(|e| e.org.version() > 0)
    }
    pub(super) fn read(&self) -> RwLockReadGuard<'_, Option<Entry>> {
        // A poisoned lock means a panic while applying events; the state is
        // then dropped below and rebuilt from the store.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }
    pub(super) fn write(&self) -> RwLockWriteGuard<'_, Option<Entry>> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
    /// Drops the cached state: after a store error nobody knows what was
    /// stored, so it is rebuilt from the store on next use.
    pub(super) fn forget(&self) {
        *self.write() = None;
    }
}

/// The organizations kept in memory: at most `capacity` (plus those in use
/// by running calls), the least recently used dropped first.
///
/// Hand-written rather than a crate: a map and an ordered index of last
/// uses are all it takes, and the one twist (never evict a slot a running
/// call holds) needs a look at each candidate that LRU crates do not
/// offer.
pub(super) struct Cache {
    slots: HashMap<OrganizationId, (Arc<Slot>, u64)>,
    /// Last use -> organization, oldest first.
    uses: BTreeMap<u64, OrganizationId>,
    clock: u64,
    capacity: usize,
}

impl Cache {
    pub(super) fn new(capacity: usize) -> Cache {
        Cache {
            slots: HashMap::new(),
            uses: BTreeMap::new(),
            clock: 0,
            capacity,
        }
    }

    /// The organization's slot, marked as just used.
    pub(super) fn get(&mut self, id: &OrganizationId) -> Option<Arc<Slot>> {
        self.clock = self.clock.wrapping_add(1);
        let (slot, used) = self.slots.get_mut(id)?;
        self.uses.remove(used);
        *used = self.clock;
        self.uses.insert(self.clock, id.clone());
        Some(Arc::clone(slot))
    }

    /// Keeps `slot` for `id` unless one is kept already; evicts past the
    /// capacity. Eviction runs on every use, not only when a slot is added:
    /// slots that were busy when the cache grew past its capacity are let
    /// go by the next use after their calls end.
    pub(super) fn insert(&mut self, id: &OrganizationId, slot: &Arc<Slot>) {
        if self.get(id).is_none() {
            self.slots
                .insert(id.clone(), (Arc::clone(slot), self.clock));
            self.uses.insert(self.clock, id.clone());
        }
        while self.slots.len() > self.capacity {
            // The least recently used slot nobody holds: a running call
            // keeps its slot (and its writer lock and delivery permits).
            let idle = self.uses.iter().find_map(|(used, id)| {
                let (slot, _) = self.slots.get(id)?;
                (Arc::strong_count(slot) == 1).then_some(*used)
            });
            let Some(used) = idle else { break };
            if let Some(id) = self.uses.remove(&used) {
                self.slots.remove(&id);
            }
        }
    }

    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }
}
