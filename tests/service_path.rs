//! The command path of the service: a command never waits for a snapshot
//! (written in the background, at most one per organization at a time),
//! a failed snapshot write loses nothing, a cold load starts from the
//! latest snapshot, and a command on a warm organization reads no events
//! before deciding (the append's optimistic concurrency catches a stale
//! state).
// Tests assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use org_accounts::{
    AccountService, ActivityStore, Command, Event, EventStore, InMemoryStore, Organization,
    OrganizationId, ServiceConfig, SignIn, Snapshot, SnapshotStore, StoreError, Timestamp, UserId,
    Version,
};

fn id() -> OrganizationId {
    OrganizationId::new("acme").unwrap()
}

/// Generous: a busy 2-core machine; waiting for a blocked snapshot write
/// would be forever.
const PATIENCE: Duration = Duration::from_secs(60);

/// A store whose snapshot writes can be held at a gate or made to fail,
/// and which counts what it is asked.
struct Watched {
    inner: InMemoryStore,
    /// Snapshot writes wait here while `hold` is set.
    gate: tokio::sync::Semaphore,
    hold: AtomicBool,
    /// Snapshot writes fail while set.
    fail: AtomicBool,
    /// Snapshot writes begun, and in progress.
    saves_started: AtomicUsize,
    saves_running: AtomicUsize,
    most_saves_running: AtomicUsize,
    started: tokio::sync::Notify,
    /// Event reads and sign-in reads.
    reads: AtomicUsize,
    sign_in_reads: AtomicUsize,
    /// The lowest `after` read since it was last reset.
    lowest_read_after: AtomicUsize,
}

impl Default for Watched {
    fn default() -> Watched {
        Watched {
            inner: InMemoryStore::new(),
            gate: tokio::sync::Semaphore::new(0),
            hold: AtomicBool::new(false),
            fail: AtomicBool::new(false),
            saves_started: AtomicUsize::new(0),
            saves_running: AtomicUsize::new(0),
            most_saves_running: AtomicUsize::new(0),
            started: tokio::sync::Notify::new(),
            reads: AtomicUsize::new(0),
            sign_in_reads: AtomicUsize::new(0),
            lowest_read_after: AtomicUsize::new(usize::MAX),
        }
    }
}

impl Watched {
    fn holding() -> Watched {
        let store = Watched::default();
        store.hold.store(true, Ordering::SeqCst);
        store
    }
    fn release(&self) {
        self.hold.store(false, Ordering::SeqCst);
        self.gate.add_permits(1000);
    }
}

impl EventStore for Watched {
    async fn append(
        &self,
        org: &OrganizationId,
        expected: Version,
        events: &[Event],
    ) -> Result<Version, StoreError> {
        self.inner.append(org, expected, events).await
    }
    async fn read(&self, org: &OrganizationId, after: Version) -> Result<Vec<Event>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.lowest_read_after
            .fetch_min(after as usize, Ordering::SeqCst);
        self.inner.read(org, after).await
    }
}

impl SnapshotStore for Watched {
    async fn save_snapshot(&self, org: &OrganizationId, s: &Snapshot) -> Result<(), StoreError> {
        self.saves_started.fetch_add(1, Ordering::SeqCst);
        let running = self.saves_running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_saves_running.fetch_max(running, Ordering::SeqCst);
        self.started.notify_one();
        if self.hold.load(Ordering::SeqCst) {
            self.gate.acquire().await.unwrap().forget();
        }
        let result = if self.fail.load(Ordering::SeqCst) {
            Err(StoreError::backend(std::io::Error::other("disk full")))
        } else {
            self.inner.save_snapshot(org, s).await
        };
        self.saves_running.fetch_sub(1, Ordering::SeqCst);
        result
    }
    async fn load_snapshot(&self, org: &OrganizationId) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(org).await
    }
}

impl ActivityStore for Watched {
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
        self.sign_in_reads.fetch_add(1, Ordering::SeqCst);
        self.inner.sign_ins_after(org, after).await
    }
}

fn service(store: &Arc<Watched>, every: u64) -> AccountService<Arc<Watched>> {
    AccountService::with_config(
        Arc::clone(store),
        ServiceConfig::default().with_snapshot_every(Some(every)),
    )
}

async fn create(service: &AccountService<Arc<Watched>>) {
    service
        .execute(
            &id(),
            &Command::CreateOrganization {
                name: "Acme".into(),
            },
            &ctx(ADMIN, 0),
        )
        .await
        .unwrap();
}

/// Invites `n` new addresses named after `tag`, one event each; the
/// command must return within [`PATIENCE`].
async fn invite_n(service: &AccountService<Arc<Watched>>, tag: &str, n: usize) -> Version {
    let list: Vec<String> = (0..n).map(|i| format!("{tag}-{i}@example.com")).collect();
    let refs: Vec<&str> = list.iter().map(String::as_str).collect();
    tokio::time::timeout(
        PATIENCE,
        service.execute(&id(), &invite(&refs, &[]), &ctx(ADMIN, 1)),
    )
    .await
    .expect("a command waited for a snapshot write")
    .unwrap()
    .version
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_crossing_a_snapshot_boundary_never_waits_for_the_snapshot_write() {
    let store = Arc::new(Watched::holding());
    let service = service(&store, 5);
    create(&service).await;
    // Given a command that crosses version 5, whose snapshot write is now
    // stuck in the store...
    assert_eq!(invite_n(&service, "a", 5).await, 6);
    tokio::time::timeout(PATIENCE, store.started.notified())
        .await
        .expect("no snapshot write was started for the boundary");
    assert_eq!(store.saves_running.load(Ordering::SeqCst), 1);
    // ...later commands crossing more boundaries return too, and reads
    // and sign-ins go on...
    assert_eq!(invite_n(&service, "b", 5).await, 11);
    assert_eq!(invite_n(&service, "c", 5).await, 16);
    let members = tokio::time::timeout(PATIENCE, service.read(&id(), |o| o.member_count()))
        .await
        .expect("a read waited for a snapshot write")
        .unwrap();
    assert_eq!(members, 16);
    // ...and no second write of the organization was started meanwhile.
    assert_eq!(
        store.saves_started.load(Ordering::SeqCst),
        1,
        "a second snapshot write of one organization started while one was in flight"
    );
    assert!(
        store.inner.load_snapshot(&id()).await.unwrap().is_none(),
        "nothing is stored while the write is held"
    );
    // When the store lets it through, the boundaries crossed meanwhile are
    // covered by one more write, of everything stored by then.
    store.release();
    tokio::time::timeout(PATIENCE, service.snapshots_written())
        .await
        .expect("the snapshot writes never ended");
    assert_eq!(store.most_saves_running.load(Ordering::SeqCst), 1);
    assert_eq!(store.saves_started.load(Ordering::SeqCst), 2);
    let snapshot = store.inner.load_snapshot(&id()).await.unwrap().unwrap();
    assert_eq!(snapshot.version(), 16);
    let events = store.inner.read(&id(), 0).await.unwrap();
    assert_eq!(
        Organization::from_snapshot(&snapshot).unwrap(),
        Organization::replay(&events),
        "the snapshot is the state its events build"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_snapshot_write_fails_no_command_and_loses_nothing() {
    let store = Arc::new(Watched::default());
    store.fail.store(true, Ordering::SeqCst);
    let service = service(&store, 4);
    create(&service).await;
    for round in 0..5 {
        invite_n(&service, &format!("r{round}"), 3).await;
        service.snapshots_written().await;
    }
    assert!(store.saves_started.load(Ordering::SeqCst) >= 3);
    assert!(store.inner.load_snapshot(&id()).await.unwrap().is_none());
    // Every event is stored, and a cold service rebuilds the same state
    // from them.
    let events = store.inner.read(&id(), 0).await.unwrap();
    assert_eq!(events.len(), 16);
    let cold = service_of(&store);
    let org = cold.read(&id(), Organization::clone).await.unwrap();
    assert_eq!(org.member_count(), 16);
    assert_eq!(org, Organization::replay(&events));
    // Once the store accepts snapshots again, the next boundary writes one.
    store.fail.store(false, Ordering::SeqCst);
    invite_n(&service, "late", 4).await;
    service.snapshots_written().await;
    let snapshot = store.inner.load_snapshot(&id()).await.unwrap().unwrap();
    assert_eq!(snapshot.version(), 20);
}

fn service_of(store: &Arc<Watched>) -> AccountService<Arc<Watched>> {
    AccountService::new(Arc::clone(store))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cold_load_starts_from_the_latest_snapshot_written_in_the_background() {
    let store = Arc::new(Watched::default());
    let service = service(&store, 10);
    create(&service).await;
    for round in 0..4 {
        invite_n(&service, &format!("r{round}"), 6).await;
        service.snapshots_written().await;
    }
    // Versions 1, 7, 13, 19, 25, then 27: boundaries 10 and 20 were
    // crossed, at 13 and 25; the snapshot is the later one.
    invite_n(&service, "tail", 2).await;
    service.snapshots_written().await;
    let snapshot = store.inner.load_snapshot(&id()).await.unwrap().unwrap();
    assert_eq!(snapshot.version(), 25);
    store.lowest_read_after.store(usize::MAX, Ordering::SeqCst);
    let cold = service_of(&store);
    let org = cold.read(&id(), Organization::clone).await.unwrap();
    assert_eq!(
        store.lowest_read_after.load(Ordering::SeqCst),
        24,
        "the cold load must start from the snapshot's last event"
    );
    assert_eq!(org.version(), 27);
    assert_eq!(
        org,
        Organization::replay(&store.inner.read(&id(), 0).await.unwrap())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_on_a_warm_organization_reads_no_events_before_deciding() {
    let store = Arc::new(Watched::default());
    let service = service(&store, 1000);
    create(&service).await;
    invite_n(&service, "warm", 2).await;
    let (reads, sign_in_reads) = (
        store.reads.load(Ordering::SeqCst),
        store.sign_in_reads.load(Ordering::SeqCst),
    );
    invite_n(&service, "one", 1).await;
    assert_eq!(
        store.reads.load(Ordering::SeqCst),
        reads,
        "a warm command read the event stream"
    );
    assert_eq!(
        store.sign_in_reads.load(Ordering::SeqCst),
        sign_in_reads + 1,
        "a warm command reads sign-ins once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_cache_is_caught_by_the_append_and_the_command_decided_again() {
    let store = Arc::new(Watched::default());
    let a = service(&store, 1000);
    let b = service(&store, 1000);
    create(&a).await;
    invite_n(&a, "x", 1).await;
    // b invites bob behind a's back; a's cache does not know.
    b.execute(&id(), &invite(&["bob@example.com"], &[]), &ctx(ADMIN, 2))
        .await
        .unwrap();
    // a decides on its cache, its append conflicts, it reads what is new
    // and decides again: bob is already a member.
    let err = a
        .execute(&id(), &invite(&["bob@example.com"], &[]), &ctx(ADMIN, 3))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "already_members");
    let done = a
        .execute(&id(), &invite(&["cy@example.com"], &[]), &ctx(ADMIN, 4))
        .await
        .unwrap();
    assert_eq!(done.version, 4);
    assert_eq!(
        store.inner.read(&id(), 0).await.unwrap().len(),
        4,
        "nothing was stored twice"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_from_another_process_is_seen_by_the_next_command() {
    // A member accepted and signed in through another service: the
    // sign-in names a member this cache still holds as pending, so the
    // command reads the events too, and the sign-in is not lost.
    let store = Arc::new(Watched::default());
    let a = service(&store, 1000);
    let b = service(&store, 1000);
    create(&a).await;
    a.execute(&id(), &invite(&["bob@example.com"], &[]), &ctx(ADMIN, 1))
        .await
        .unwrap();
    b.execute(
        &id(),
        &Command::AcceptInvitation,
        &ctx("bob@example.com", 2),
    )
    .await
    .unwrap();
    b.record_sign_in(&id(), &ctx("bob@example.com", 30))
        .await
        .unwrap();
    a.execute(&id(), &invite(&["cy@example.com"], &[]), &ctx(ADMIN, 31))
        .await
        .unwrap();
    let last = a
        .read(&id(), |o| {
            o.member(&email("bob@example.com"))
                .and_then(|m| m.status().last_active())
        })
        .await
        .unwrap();
    assert_eq!(last, Some(at(30)));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_background_snapshots_the_host_writes_the_due_one_from_memory() {
    let store = Arc::new(Watched::default());
    let service = AccountService::with_config(
        Arc::clone(&store),
        ServiceConfig::default()
            .with_snapshot_every(Some(5))
            .with_background_snapshots(false),
    );
    create(&service).await;
    assert_eq!(invite_n(&service, "a", 3).await, 4);
    assert_eq!(service.write_due_snapshot(&id()).await.unwrap(), None);
    assert_eq!(invite_n(&service, "b", 3).await, 7);
    service.snapshots_written().await;
    assert_eq!(
        store.saves_started.load(Ordering::SeqCst),
        0,
        "nothing is written in the background"
    );
    store.lowest_read_after.store(usize::MAX, Ordering::SeqCst);
    assert_eq!(service.write_due_snapshot(&id()).await.unwrap(), Some(7));
    assert_eq!(
        store.lowest_read_after.load(Ordering::SeqCst),
        7,
        "written from the state in memory (only what is newer is read), not rebuilt from the store"
    );
    assert_eq!(service.write_due_snapshot(&id()).await.unwrap(), None);
    let snapshot = store.inner.load_snapshot(&id()).await.unwrap().unwrap();
    assert_eq!(snapshot.version(), 7);
    // A cold service counts from the snapshot it loaded.
    let cold = AccountService::with_config(
        Arc::clone(&store),
        ServiceConfig::default()
            .with_snapshot_every(Some(5))
            .with_background_snapshots(false),
    );
    assert_eq!(invite_n(&cold, "c", 4).await, 11);
    assert_eq!(cold.write_due_snapshot(&id()).await.unwrap(), None);
    assert_eq!(invite_n(&cold, "d", 1).await, 12);
    assert_eq!(cold.write_due_snapshot(&id()).await.unwrap(), Some(12));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_is_never_decided_on_a_state_the_store_has_moved_past() {
    // A refusal stores nothing, so no append would catch a stale cache:
    // the service reads what is new before it refuses.
    let store = Arc::new(Watched::default());
    let a = service(&store, 1000);
    let b = service(&store, 1000);
    create(&a).await;
    a.execute(&id(), &invite(&["bob@example.com"], &[]), &ctx(ADMIN, 1))
        .await
        .unwrap();
    b.execute(
        &id(),
        &Command::RemoveUsers {
            emails: emails(&["bob@example.com"]),
        },
        &ctx(ADMIN, 2),
    )
    .await
    .unwrap();
    // a still holds bob as a member; inviting him again is right.
    let done = a
        .execute(&id(), &invite(&["bob@example.com"], &[]), &ctx(ADMIN, 3))
        .await
        .unwrap();
    assert_eq!(done.events.len(), 1);
    assert_eq!(done.version, 4);
}
