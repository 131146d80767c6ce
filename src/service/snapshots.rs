//! Snapshots written off the command path.
//!
//! A command whose append makes a snapshot due (see
//! [`ServiceConfig::with_snapshot_every`](super::ServiceConfig::with_snapshot_every))
//! only asks for one ([`Snapshots::request`]) and returns. The
//! snapshot is written by a task spawned on the tokio runtime, which builds
//! its own copy of the organization from the store (the latest stored
//! snapshot and the events after it) rather than copying the cached one:
//! copying a large organization under its lock would make the next command
//! wait for the copy, and a copy-on-write state would make the next command
//! pay for it instead. The cached state is never touched, so no command,
//! read or sign-in waits for a snapshot.
//!
//! The price is paid off the request path: while it runs, the task holds a
//! second copy of the organization, and its CPU work (parsing the stored
//! snapshot, applying the events, building the new one) runs on the
//! runtime's blocking pool, never on an executor thread.
//!
//! At most one write per organization is in flight in one service; a
//! request that arrives while one runs makes it go once more when it ends
//! (it then picks up everything stored so far). A write that fails is
//! dropped: events are the source of truth, a missing snapshot only makes a
//! cold load slower, and the next one is due an interval later.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::runtime::Handle;
use tokio::sync::Notify;

use crate::Organization;
use crate::ports::{OrganizationId, Store, StoreError};

/// The organizations whose snapshot is being written.
#[derive(Default)]
pub(super) struct Snapshots {
    /// Organization -> whether another write was asked for while this one
    /// runs.
    in_flight: Mutex<HashMap<OrganizationId, bool>>,
    /// Woken whenever a write ends.
    ended: Notify,
}

impl Snapshots {
    /// Asks for a snapshot of `id` at the store's latest version: spawned
    /// on the current tokio runtime and not awaited. Without a runtime (a
    /// host polling the service with another executor) the write is awaited
    /// here instead, as there is nowhere else to run it.
    pub(super) async fn request<S: Store + 'static>(
        self: &Arc<Self>,
        store: &Arc<S>,
        id: &OrganizationId,
    ) {
        let Some(claim) = Claim::take(self, id) else {
            return;
        };
        let store = Arc::clone(store);
        let write = async move { claim.run(&*store).await };
        match Handle::try_current() {
            Ok(runtime) => {
                // Detached: the task ends by itself; its claim is released
                // even if the runtime drops it half way.
                drop(runtime.spawn(write));
            }
            Err(_) => write.await,
        }
    }

    /// Waits until no snapshot write of this service is in flight.
    pub(super) async fn idle(&self) {
        loop {
            let ended = self.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if self.lock().is_empty() {
                return;
            }
            ended.await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<OrganizationId, bool>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The right to write one organization's snapshot; released when dropped
/// (also when the task is dropped or panics half way).
struct Claim {
    snapshots: Arc<Snapshots>,
    id: OrganizationId,
    released: bool,
}

impl Claim {
    /// The claim, or `None` when a write is in flight (which is then asked
    /// to go once more).
    fn take(snapshots: &Arc<Snapshots>, id: &OrganizationId) -> Option<Claim> {
        let mut in_flight = snapshots.lock();
        if let Some(again) = in_flight.get_mut(id) {
            *again = true;
            return None;
        }
        in_flight.insert(id.clone(), false);
        Some(Claim {
            snapshots: Arc::clone(snapshots),
            id: id.clone(),
            released: false,
        })
    }

    /// Writes the snapshot, again while more were asked for meanwhile.
    async fn run<S: Store>(mut self, store: &S) {
        loop {
            // Best effort: see the module docs.
            let _ = write_latest(store, &self.id).await;
            if !self.again_or_release() {
                return;
            }
        }
    }

    /// Whether another write was asked for; if not, releases the claim in
    /// the same step (so a request is either seen here or takes a new
    /// claim, never lost between the two).
    fn again_or_release(&mut self) -> bool {
        let mut in_flight = self.snapshots.lock();
        if let Some(again) = in_flight.get_mut(&self.id)
            && *again
        {
            *again = false;
            return true;
        }
        in_flight.remove(&self.id);
        self.released = true;
        drop(in_flight);
        self.snapshots.ended.notify_waiters();
        false
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.released {
            self.snapshots.lock().remove(&self.id);
            self.snapshots.ended.notify_waiters();
        }
    }
}

/// Writes a snapshot of `id` at the store's latest version, unless the
/// stored one is already that.
async fn write_latest<S: Store>(store: &S, id: &OrganizationId) -> Result<(), StoreError> {
    let (org, snapshot_at) = load_stored(store, id).await?;
    if org.version() == snapshot_at {
        return Ok(());
    }
    let snapshot = off_executor(move || org.snapshot()).await?;
    store.save_snapshot(id, &snapshot).await
}

/// The organization as the store holds it: the latest stored snapshot and
/// the events after it, applied (the CPU work on the blocking pool), with
/// the version of the snapshot it started from (0 without one). A stored
/// snapshot that cannot be loaded (a newer schema, or a state that breaks
/// the aggregate's invariants: see `Organization::from_snapshot`) is
/// ignored, and the events rebuild the state. So is one that claims
/// events the store does not hold (damaged, or written for a stream since
/// restored from an older backup): its last event must be in the store,
/// or every append would conflict.
pub(super) async fn load_stored<S: Store>(
    store: &S,
    id: &OrganizationId,
) -> Result<(Organization, u64), StoreError> {
    let stored = match store.load_snapshot(id).await {
        Ok(stored) => stored,
        Err(StoreError::Corrupt(_)) => None,
        Err(e) => return Err(e),
    };
    let base = match stored {
        Some(snapshot) => off_executor(move || Organization::try_from(snapshot).ok()).await?,
        None => None,
    };
    // The events to apply, how many of them the base already holds, and
    // the base's version.
    let (base, events, skip, snapshot_at) = match base.and_then(|org| {
        let before_last = org.version().checked_sub(1)?;
        Some((org, before_last))
    }) {
        Some((org, before_last)) => {
            // Read from the snapshot's own last event, to check it is in
            // the store; the read brings the events after it too.
            let tail = store.read(id, before_last).await?;
            if tail.is_empty() {
                (Organization::default(), store.read(id, 0).await?, 0, 0)
            } else {
                let at = org.version();
                (org, tail, 1, at)
            }
        }
        None => (Organization::default(), store.read(id, 0).await?, 0, 0),
    };
    off_executor(move || {
        let mut org = base;
        for event in events.iter().skip(skip) {
            org.apply(event);
        }
        (org, snapshot_at)
    })
    .await
}

/// Runs CPU work on the runtime's blocking pool (here, without a runtime).
async fn off_executor<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StoreError> {
    crate::runtime::off_executor(work)
        .await
        .map_err(StoreError::backend)
}
