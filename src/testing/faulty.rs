//! A store wrapper that fails on demand.

use std::sync::{Mutex, PoisonError};

use jiff::Timestamp;

use crate::ports::{
    ActivityStore, EventStore, OrganizationId, SignIn, SnapshotStore, StoreError, Version,
};
use crate::{Event, Snapshot, UserId};

/// How an injected append failure behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// Fail without writing anything (a refused connection).
    BeforeWrite,
    /// Write the events, then report failure (a connection lost after the
    /// commit): the caller cannot tell whether the events were stored.
    AfterWrite,
}

/// Wraps a store; appends fail as scheduled with [`FaultyStore::fail_appends`].
#[derive(Debug)]
pub struct FaultyStore<S> {
    inner: S,
    plan: Mutex<Vec<Fault>>,
}

/// The error a scheduled fault reports.
#[derive(Debug, thiserror::Error)]
#[error("injected fault: the store is unavailable")]
struct InjectedFault;

impl<S> FaultyStore<S> {
    /// Wraps `inner`; nothing fails until scheduled.
    pub fn new(inner: S) -> FaultyStore<S> {
        FaultyStore {
            inner,
            plan: Mutex::new(Vec::new()),
        }
    }

    /// The next appends fail, one fault each, in order.
    pub fn fail_appends(&self, faults: impl IntoIterator<Item = Fault>) {
        let mut plan = self.plan.lock().unwrap_or_else(PoisonError::into_inner);
        let mut faults: Vec<Fault> = faults.into_iter().collect();
        faults.reverse();
        faults.append(&mut plan);
        *plan = faults;
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }
}

impl<S: EventStore> EventStore for FaultyStore<S> {
    async fn append(
        &self,
        org: &OrganizationId,
        expected: Version,
        events: &[Event],
    ) -> Result<Version, StoreError> {
        let fault = self
            .plan
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        match fault {
            None => self.inner.append(org, expected, events).await,
            Some(Fault::BeforeWrite) => Err(StoreError::backend(InjectedFault)),
            Some(Fault::AfterWrite) => {
                self.inner.append(org, expected, events).await?;
                Err(StoreError::backend(InjectedFault))
            }
        }
    }

    async fn read(&self, org: &OrganizationId, after: Version) -> Result<Vec<Event>, StoreError> {
        self.inner.read(org, after).await
    }
}

impl<S: SnapshotStore> SnapshotStore for FaultyStore<S> {
    async fn save_snapshot(
        &self,
        org: &OrganizationId,
        snapshot: &Snapshot,
    ) -> Result<(), StoreError> {
        self.inner.save_snapshot(org, snapshot).await
    }
    async fn load_snapshot(&self, org: &OrganizationId) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(org).await
    }
}

impl<S: ActivityStore> ActivityStore for FaultyStore<S> {
    async fn record_sign_in(
        &self,
        org: &OrganizationId,
        user: UserId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.record_sign_in(org, user, at).await
    }
    async fn sign_ins_after(
        &self,
        org: &OrganizationId,
        after: u64,
    ) -> Result<(Vec<SignIn>, u64), StoreError> {
        self.inner.sign_ins_after(org, after).await
    }
}
