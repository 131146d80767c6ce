//! The checks every [`Store`] must pass. Each check panics with a message
//! naming the broken rule. Run them from a multi-threaded tokio test: the
//! concurrency checks spawn tasks.
//!
//! A store that keeps nothing between runs passes a factory closure to
//! [`run_all`]:
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! use org_accounts::InMemoryStore;
//!
//! org_accounts::testing::conformance::run_all(|| async { InMemoryStore::new() }).await;
//! # });
//! ```
//!
//! A store that persists implements [`StoreFactory`] and runs
//! [`run_all_with`]: the suite then also reopens stores (what was written
//! must survive, versions and sign-in positions go on) and, through the
//! host's corruption hook, damages stored data (reads must report
//! [`StoreError::Corrupt`], never skip it, never panic). See
//! [`StoreFactory`] for an example.
//!
//! Which check catches which mistake (each shown by a deliberately broken
//! store in the crate's `tests/conformance_mutants.rs`):
//!
//! | A store that ... | is caught by |
//! |---|---|
//! | checks the expected version outside its lock (lost update) | [`exactly_one_append_wins_each_version`] |
//! | stores part of a batch | [`appended_events_read_back_in_order`] |
//! | returns events out of order | [`appended_events_read_back_in_order`] |
//! | lets an older snapshot replace a newer one | [`latest_snapshot_wins`] |
//! | lets a sign-in move Last active backwards | [`sign_ins_only_move_forward_and_are_read_incrementally`] |
//! | moves the position when it ignores an older sign-in | [`sign_ins_only_move_forward_and_are_read_incrementally`] |
//! | makes sign-in positions visible out of order | [`a_polling_reader_never_misses_a_sign_in`] |
//! | loses events when reopened | [`data_survives_reopening`] |
//! | skips damaged data, or reports it as anything but `Corrupt` | [`damaged_data_is_corrupt`] |
// A conformance check reports a broken rule by panicking, as `assert!` does
// in the host's test that runs it.
#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};

use crate::ports::{ActivityStore, EventStore, OrganizationId, SnapshotStore, Store, StoreError};
use crate::{Command, Context, Email, Event, EventKind, GroupName, Organization, UserId};

/// Which stored data [`StoreFactory::corrupt`] damages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Damage {
    /// One or more of the organization's stored events (a row that no
    /// longer decodes, a gap or a bad version number): `read` from 0 must
    /// then be [`StoreError::Corrupt`].
    Events,
    /// The organization's stored snapshot: `load_snapshot` must then be
    /// [`StoreError::Corrupt`].
    Snapshot,
    /// The organization's stored sign-ins: `sign_ins_after(org, 0)` must
    /// then be [`StoreError::Corrupt`].
    SignIns,
}

/// Opens stores for the suite, and (for stores that persist) opens them
/// again and damages their data.
///
/// The suite numbers the stores it asks for: `open(n)` the first time for
/// some `n` must give an empty store; for a store that
/// [`persists`](StoreFactory::persists), opening the same `n` again (the
/// first handle may still be open) must give a handle onto the same data,
/// as a restarted process or another node would see it. A host maps `n` to
/// a file, a schema or a folder.
///
/// `persists` and `corrupt` have defaults that do nothing: the checks that
/// need them ([`data_survives_reopening`], [`damaged_data_is_corrupt`])
/// then pass without looking. Implement them for any store that keeps data
/// beyond its handle, or those rules go unchecked.
///
/// ```
/// # #[cfg(feature = "testing")]
/// # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
/// use org_accounts::InMemoryStore;
/// use org_accounts::testing::conformance::{self, StoreFactory};
///
/// /// Store `n` is one shared in-memory store; opening it again is
/// /// "reopening". (A store on disk maps `n` to a file, and also
/// /// implements `corrupt`: garbage into the organization's rows, then
/// /// `true`.)
/// #[derive(Default)]
/// struct Shared(Mutex<HashMap<usize, Arc<InMemoryStore>>>);
///
/// impl StoreFactory for Shared {
///     type Store = Arc<InMemoryStore>;
///     async fn open(&self, n: usize) -> Arc<InMemoryStore> {
///         Arc::clone(self.0.lock().unwrap().entry(n).or_default())
///     }
///     fn persists(&self) -> bool {
///         true
///     }
/// }
///
/// conformance::run_all_with(&Shared::default()).await;
/// # });
/// ```
pub trait StoreFactory {
    /// The store under test.
    type Store: Store + 'static;

    /// Opens store number `n`: empty the first time; the same data again
    /// when it [`persists`](StoreFactory::persists).
    fn open(&self, n: usize) -> impl Future<Output = Self::Store>;

    /// Whether opening a store again gives what was written through
    /// earlier handles (default: false, the store keeps nothing beyond its
    /// handle).
    fn persists(&self) -> bool {
        false
    }

    /// Damages the data of `org` in store `n` (open as `store`) of the
    /// kind `damage` names, as a failing disk or a bad manual edit would,
    /// other organizations untouched, and returns true; false (the
    /// default) when this store cannot.
    fn corrupt(
        &self,
        n: usize,
        store: &Self::Store,
        org: &OrganizationId,
        damage: Damage,
    ) -> impl Future<Output = bool> {
        let _ = (n, store, org, damage);
        async { false }
    }
}

/// A factory closure as a [`StoreFactory`] that neither persists nor
/// damages.
struct Fresh<F>(F);

impl<S, F, Fut> StoreFactory for Fresh<F>
where
    S: Store + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    type Store = S;

    fn open(&self, _: usize) -> impl Future<Output = S> {
        (self.0)()
    }
}

/// Numbers the stores one run of the suite opens.
static NEXT_STORE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A new store from `factory`, under a number not used before in this
/// process.
async fn fresh<F: StoreFactory>(factory: &F) -> (usize, F::Store) {
    let n = NEXT_STORE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    (n, factory.open(n).await)
}

/// Runs every check, each on a fresh store from `make` (an async factory,
/// so a store that connects or opens a file can be built in it). For a
/// store that persists, use [`run_all_with`], which also reopens stores
/// and damages their data.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    run_all_with(&Fresh(make)).await;
}

/// Runs every check, each on a fresh store from `factory`, including those
/// that reopen a store and damage its data.
pub async fn run_all_with<F: StoreFactory>(factory: &F) {
    empty_store_has_nothing(&fresh(factory).await.1).await;
    appended_events_read_back_in_order(&fresh(factory).await.1).await;
    wrong_expected_version_conflicts_and_stores_nothing(&fresh(factory).await.1).await;
    organizations_are_independent(&fresh(factory).await.1).await;
    events_round_trip_exactly(&fresh(factory).await.1).await;
    latest_snapshot_wins(&fresh(factory).await.1).await;
    sign_ins_only_move_forward_and_are_read_incrementally(&fresh(factory).await.1).await;
    concurrent_appenders_lose_nothing(Arc::new(fresh(factory).await.1), 4, 25).await;
    exactly_one_append_wins_each_version(Arc::new(fresh(factory).await.1), 4, 20).await;
    a_polling_reader_never_misses_a_sign_in(Arc::new(fresh(factory).await.1), 8, 40).await;
    data_survives_reopening(factory).await;
    damaged_data_is_corrupt(factory).await;
}

fn org(id: &str) -> OrganizationId {
    OrganizationId::new(id).unwrap_or_else(|e| panic!("{e}"))
}

fn start() -> Timestamp {
    Timestamp::from_second(1_790_000_000).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `n` events of a real organization: created, then invitations.
pub fn sample_events(n: usize) -> Vec<Event> {
    let admin = Email::parse("ada@example.com").unwrap_or_else(|e| panic!("{e}"));
    let mut org = Organization::new();
    let mut events = Vec::new();
    let mut now = start();
    let ctx = |now| Context::new(admin.clone(), now);
    events.extend(
        org.execute(
            &Command::CreateOrganization {
                name: "Conformance".into(),
            },
            &ctx(now),
        )
        .unwrap_or_else(|e| panic!("{e}")),
    );
    let mut i = 0;
    while events.len() < n {
        now += SignedDuration::from_nanos(1_234_567);
        let email =
            Email::parse(&format!("Person.{i}@exämple.org")).unwrap_or_else(|e| panic!("{e}"));
        let groups = if i % 2 == 0 {
            vec![GroupName::parse("automation users").unwrap_or_else(|e| panic!("{e}"))]
        } else {
            Vec::new()
        };
        events.extend(
            org.execute(
                &Command::InviteUsers {
                    emails: vec![email],
                    groups,
                },
                &ctx(now),
            )
            .unwrap_or_else(|e| panic!("{e}")),
        );
        i += 1;
    }
    events.truncate(n);
    events
}

/// A new store holds no events, snapshots or sign-ins.
pub async fn empty_store_has_nothing<S: Store>(store: &S) {
    let id = org("empty");
    assert!(
        store.read(&id, 0).await.expect("read").is_empty(),
        "a new store returned events"
    );
    assert!(
        store.load_snapshot(&id).await.expect("load").is_none(),
        "a new store returned a snapshot"
    );
    let (sign_ins, _) = store.sign_ins_after(&id, 0).await.expect("sign-ins");
    assert!(sign_ins.is_empty(), "a new store returned sign-ins");
}

/// Appends return the new version; reads return events after a version,
/// in order.
pub async fn appended_events_read_back_in_order<S: Store>(store: &S) {
    let id = org("ordering");
    let events = sample_events(5);
    assert_eq!(store.append(&id, 0, &events[..2]).await.expect("append"), 2);
    assert_eq!(
        store.read(&id, 0).await.expect("read"),
        events[..2],
        "an append must store its whole batch, in order"
    );
    assert_eq!(store.append(&id, 2, &events[2..]).await.expect("append"), 5);
    assert_eq!(
        store.read(&id, 0).await.expect("read"),
        events,
        "read(0) must return every event in order"
    );
    assert_eq!(
        store.read(&id, 3).await.expect("read"),
        events[3..],
        "read(3) must start at event 4"
    );
    assert!(
        store.read(&id, 5).await.expect("read").is_empty(),
        "nothing after the last version"
    );
    assert!(
        store.read(&id, 99).await.expect("read").is_empty(),
        "nothing after a future version"
    );
    assert_eq!(
        store.append(&id, 5, &[]).await.expect("empty append"),
        5,
        "an empty append keeps the version"
    );
}

/// An append at the wrong version is refused with the actual version, and
/// none of its events are stored (all or nothing).
pub async fn wrong_expected_version_conflicts_and_stores_nothing<S: Store>(store: &S) {
    let id = org("conflicts");
    let events = sample_events(6);
    store.append(&id, 0, &events[..3]).await.expect("append");
    for expected in [0, 2, 4] {
        match store.append(&id, expected, &events[3..]).await {
            Err(StoreError::Conflict(c)) => {
                assert_eq!(
                    (c.expected, c.actual),
                    (expected, 3),
                    "conflict must report both versions"
                );
            }
            other => panic!("append at version {expected} of 3 must conflict, got {other:?}"),
        }
    }
    assert_eq!(
        store.read(&id, 0).await.expect("read"),
        events[..3],
        "a refused append stored events"
    );
}

/// Each organization has its own stream and versions.
pub async fn organizations_are_independent<S: Store>(store: &S) {
    let (a, b) = (org("tenant-a"), org("tenant-b"));
    let events = sample_events(4);
    store.append(&a, 0, &events[..3]).await.expect("append a");
    store
        .append(&b, 0, &events[..1])
        .await
        .expect("append b at 0");
    assert_eq!(store.read(&b, 0).await.expect("read b"), events[..1]);
    assert_eq!(store.read(&a, 0).await.expect("read a"), events[..3]);
}

/// Events come back equal: Unicode addresses, shared group lists,
/// nanosecond timestamps.
pub async fn events_round_trip_exactly<S: Store>(store: &S) {
    let id = org("round-trip");
    let events = sample_events(9);
    assert!(
        events.iter().any(
            |e| matches!(&e.kind, EventKind::UserInvited { groups, .. } if !groups.is_empty())
        )
    );
    store.append(&id, 0, &events).await.expect("append");
    let back = store.read(&id, 0).await.expect("read");
    assert_eq!(back, events, "events changed on the way through the store");
    assert_eq!(Organization::replay(&back), Organization::replay(&events));
}

/// Loading returns the newest snapshot saved; an older one never replaces
/// it.
pub async fn latest_snapshot_wins<S: Store>(store: &S) {
    let id = org("snapshots");
    let events = sample_events(8);
    let at = |n: usize| Organization::replay(&events[..n]).snapshot();
    store.save_snapshot(&id, &at(3)).await.expect("save");
    assert_eq!(store.load_snapshot(&id).await.expect("load"), Some(at(3)));
    store.save_snapshot(&id, &at(7)).await.expect("save");
    store.save_snapshot(&id, &at(5)).await.expect("save older");
    let loaded = store
        .load_snapshot(&id)
        .await
        .expect("load")
        .expect("a snapshot");
    assert_eq!(
        loaded.version(),
        7,
        "an older snapshot replaced a newer one"
    );
    assert_eq!(
        Organization::from_snapshot(&loaded).expect("loadable"),
        Organization::replay(&events[..7]),
        "the snapshot does not rebuild the state"
    );
}

/// Sign-ins keep the latest time per member and are read after a position.
pub async fn sign_ins_only_move_forward_and_are_read_incrementally<S: Store>(store: &S) {
    let id = org("activity");
    let (u1, u2) = (UserId(1), UserId(2));
    let t = |s: i64| start() + SignedDuration::from_secs(s);
    store.record_sign_in(&id, u1, t(10)).await.expect("sign in");
    let (first, p1) = store.sign_ins_after(&id, 0).await.expect("read");
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].user, first[0].at), (u1, t(10)));
    store
        .record_sign_in(&id, u1, t(5))
        .await
        .expect("older sign in");
    let (none, p1b) = store.sign_ins_after(&id, p1).await.expect("read");
    assert!(none.is_empty(), "an older sign-in must change nothing");
    assert_eq!(p1b, p1, "an older sign-in must not move the position");
    store.record_sign_in(&id, u2, t(11)).await.expect("sign in");
    store.record_sign_in(&id, u1, t(12)).await.expect("sign in");
    let (newer, p2) = store.sign_ins_after(&id, p1).await.expect("read");
    let mut got: Vec<(UserId, Timestamp)> = newer.iter().map(|s| (s.user, s.at)).collect();
    got.sort();
    assert_eq!(got, [(u1, t(12)), (u2, t(11))]);
    assert!(p2 > p1);
    let (all, _) = store.sign_ins_after(&id, 0).await.expect("read");
    assert_eq!(
        all.len(),
        2,
        "each member appears once, with the latest time"
    );
}

/// `tasks` writers each append `per_task` single-event batches, retrying
/// on conflict: every event is stored exactly once, versions have no gaps.
pub async fn concurrent_appenders_lose_nothing<S: Store + 'static>(
    store: Arc<S>,
    tasks: usize,
    per_task: usize,
) {
    let id = org("concurrency");
    let events = sample_events(tasks * per_task);
    let mut handles = Vec::new();
    for chunk in events.chunks(per_task) {
        let (store, id, chunk) = (Arc::clone(&store), id.clone(), chunk.to_vec());
        handles.push(tokio::spawn(async move {
            for event in chunk {
                loop {
                    let version = store.read(&id, 0).await.expect("read").len() as u64;
                    match store
                        .append(&id, version, std::slice::from_ref(&event))
                        .await
                    {
                        Ok(v) => {
                            assert_eq!(v, version + 1);
                            break;
                        }
                        Err(StoreError::Conflict(_)) => continue,
                        Err(e) => panic!("append failed: {e}"),
                    }
                }
            }
        }));
    }
    for handle in handles {
        handle.await.expect("an appender panicked");
    }
    let stored = store.read(&id, 0).await.expect("read");
    assert_eq!(stored.len(), events.len(), "events were lost or duplicated");
    let distinct: BTreeSet<String> = stored.iter().map(|e| format!("{e:?}")).collect();
    assert_eq!(distinct.len(), events.len(), "an event was stored twice");
}

/// For `rounds` rounds, `tasks` appenders released together by a barrier
/// append different events at the same expected version: exactly one
/// succeeds, the others get a conflict naming the new version, and the
/// stored event is the winner's. Catches a store that checks the version
/// outside its lock (a lost update), deterministically enough that a race
/// window of a few milliseconds fails within a few rounds.
pub async fn exactly_one_append_wins_each_version<S: Store + 'static>(
    store: Arc<S>,
    tasks: usize,
    rounds: usize,
) {
    let id = org("one-winner");
    let events = sample_events(tasks * rounds + 1);
    for (round, version) in (0..rounds).zip(0u64..) {
        let barrier = Arc::new(tokio::sync::Barrier::new(tasks));
        let mut handles = Vec::new();
        for t in 0..tasks {
            let event = events[round * tasks + t].clone();
            let (store, id, barrier) = (Arc::clone(&store), id.clone(), Arc::clone(&barrier));
            handles.push(tokio::spawn(async move {
                barrier.wait().await;
                let result = store
                    .append(&id, version, std::slice::from_ref(&event))
                    .await;
                (event, result)
            }));
        }
        let mut results = Vec::new();
        for handle in handles {
            let (event, result) = handle.await.expect("an appender panicked");
            // A store that fails outright says so, before anything else.
            if let Err(e) = &result
                && !matches!(e, StoreError::Conflict(_))
            {
                panic!("append failed: {e}");
            }
            results.push((event, result));
        }
        // How many won is checked first: a store that lets two win also
        // makes a loser see a version past the first winner's, and the
        // failure should name the cause, whichever task ran last.
        let winners: Vec<Event> = results
            .iter()
            .filter(|(_, result)| result.is_ok())
            .map(|(event, _)| event.clone())
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: {} appends at version {version} succeeded; exactly one may",
            winners.len()
        );
        for (_, result) in results {
            match result {
                Ok(v) => assert_eq!(v, version + 1, "a winning append returns the new version"),
                Err(StoreError::Conflict(c)) => assert_eq!(
                    (c.expected, c.actual),
                    (version, version + 1),
                    "a losing append reports the winner's version"
                ),
                Err(e) => panic!("append failed: {e}"),
            }
        }
        let stored = store.read(&id, version).await.expect("read");
        assert_eq!(stored, winners, "the stored event is the winner's");
    }
}

/// `tasks` writers record `per_task` sign-ins each (one per member, so
/// every sign-in is some member's latest and a skipped one shows) while a
/// reader polls `sign_ins_after` with the position it last got: at the end
/// the reader has seen every sign-in. A store whose positions become
/// visible out of order (numbers from a sequence that commit out of order)
/// makes the reader skip one for ever.
pub async fn a_polling_reader_never_misses_a_sign_in<S: Store + 'static>(
    store: Arc<S>,
    tasks: u64,
    per_task: u64,
) {
    let id = org("polling");
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, id, done) = (Arc::clone(&store), id.clone(), Arc::clone(&done));
        tokio::spawn(async move {
            let mut seen = std::collections::BTreeMap::new();
            let mut position = 0;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let (sign_ins, next) = store.sign_ins_after(&id, position).await.expect("read");
                assert!(next >= position, "the next position went backwards");
                for s in sign_ins {
                    seen.insert(s.user, s.at);
                }
                position = next;
                if finished {
                    break seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let mut writers = Vec::new();
    for t in 0..tasks {
        let (store, id) = (Arc::clone(&store), id.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..per_task {
                let user = UserId::new(1 + t * per_task + i);
                let at = start() + SignedDuration::from_millis((i * tasks + t) as i64);
                store.record_sign_in(&id, user, at).await.expect("sign in");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("a writer panicked");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.await.expect("the reader panicked");
    let (all, _) = store.sign_ins_after(&id, 0).await.expect("read");
    let latest: std::collections::BTreeMap<UserId, Timestamp> =
        all.into_iter().map(|s| (s.user, s.at)).collect();
    let missed: Vec<String> = latest
        .iter()
        .filter(|(user, at)| seen.get(user) != Some(at))
        .map(|(user, at)| format!("{user} at {at}"))
        .collect();
    assert!(
        missed.is_empty() && seen.len() == latest.len(),
        "a reader that remembers its position missed a sign-in (positions became visible out of order): {} of {} missed, such as {:?}",
        missed.len(),
        latest.len(),
        missed.iter().take(3).collect::<Vec<_>>()
    );
}

/// Appends, a snapshot and sign-ins, then the same store opened again: it reads the
/// same events, snapshot and sign-ins; appending goes on at the stored
/// version (and conflicts at an old one); a new sign-in gets a position
/// after the old ones. Passes without looking when the factory's stores do
/// not [persist](StoreFactory::persists).
pub async fn data_survives_reopening<F: StoreFactory>(factory: &F) {
    let id = org("reopened");
    let other = org("reopened-other");
    let events = sample_events(7);
    if !factory.persists() {
        return;
    }
    let (n, store) = fresh(factory).await;
    store.append(&id, 0, &events[..2]).await.expect("append");
    store.append(&id, 2, &events[2..5]).await.expect("append");
    store.append(&other, 0, &events[..1]).await.expect("append");
    let snapshot = Organization::replay(&events[..4]).snapshot();
    store.save_snapshot(&id, &snapshot).await.expect("save");
    let t = |s: i64| start() + SignedDuration::from_secs(s);
    store
        .record_sign_in(&id, UserId(1), t(1))
        .await
        .expect("sign in");
    store
        .record_sign_in(&id, UserId(2), t(2))
        .await
        .expect("sign in");
    let (_, position) = store.sign_ins_after(&id, 0).await.expect("sign-ins");
    let again = factory.open(n).await;
    assert_eq!(
        again.read(&id, 0).await.expect("read after reopening"),
        events[..5],
        "events were lost or changed when the store was reopened"
    );
    assert_eq!(
        again.read(&other, 0).await.expect("read after reopening"),
        events[..1],
        "another organization's events were lost when the store was reopened"
    );
    assert_eq!(
        again
            .load_snapshot(&id)
            .await
            .expect("load after reopening"),
        Some(snapshot),
        "the snapshot was lost or changed when the store was reopened"
    );
    let (sign_ins, after) = again.sign_ins_after(&id, 0).await.expect("sign-ins");
    let mut got: Vec<(UserId, Timestamp)> = sign_ins.iter().map(|s| (s.user, s.at)).collect();
    got.sort();
    assert_eq!(
        got,
        [(UserId(1), t(1)), (UserId(2), t(2))],
        "sign-ins were lost or changed when the store was reopened"
    );
    assert_eq!(after, position, "the sign-in position changed on reopening");
    match again.append(&id, 2, &events[5..]).await {
        Err(StoreError::Conflict(c)) => assert_eq!(
            (c.expected, c.actual),
            (2, 5),
            "after reopening, a conflict reports the stored version"
        ),
        other => {
            panic!("after reopening, an append at an old version must conflict, got {other:?}")
        }
    }
    assert_eq!(
        again
            .append(&id, 5, &events[5..])
            .await
            .expect("append after reopening"),
        7,
        "after reopening, appending goes on at the stored version"
    );
    assert_eq!(again.read(&id, 0).await.expect("read"), events);
    again
        .record_sign_in(&id, UserId(3), t(3))
        .await
        .expect("sign in after reopening");
    let (newer, _) = again.sign_ins_after(&id, position).await.expect("sign-ins");
    assert_eq!(
        newer.iter().map(|s| s.user).collect::<Vec<_>>(),
        [UserId(3)],
        "after reopening, a new sign-in must come after the old positions"
    );
}

/// For each kind of [`Damage`] the factory can do, on a fresh store: the
/// damaged organization's read reports [`StoreError::Corrupt`] (not an
/// empty or shorter answer, not another error, not a panic) while another
/// organization reads as before. Passes without looking when the factory
/// cannot damage data.
pub async fn damaged_data_is_corrupt<F: StoreFactory>(factory: &F) {
    let (id, intact) = (org("damaged"), org("intact"));
    let events = sample_events(5);
    let t = |s: i64| start() + SignedDuration::from_secs(s);
    for damage in [Damage::Events, Damage::Snapshot, Damage::SignIns] {
        let (n, store) = fresh(factory).await;
        for org in [&id, &intact] {
            store.append(org, 0, &events).await.expect("append");
            store
                .save_snapshot(org, &Organization::replay(&events).snapshot())
                .await
                .expect("save");
            store
                .record_sign_in(org, UserId(1), t(1))
                .await
                .expect("sign in");
        }
        if !factory.corrupt(n, &store, &id, damage).await {
            continue;
        }
        let outcome = match damage {
            Damage::Events => store
                .read(&id, 0)
                .await
                .map(|e| format!("{} events", e.len())),
            Damage::Snapshot => store
                .load_snapshot(&id)
                .await
                .map(|s| format!("snapshot {:?}", s.map(|s| s.version()))),
            Damage::SignIns => store
                .sign_ins_after(&id, 0)
                .await
                .map(|(s, p)| format!("{} sign-ins, position {p}", s.len())),
        };
        match outcome {
            Err(StoreError::Corrupt(_)) => {}
            other => panic!(
                "after damaging the stored {damage:?}, reading them must report Corrupt, got {other:?}"
            ),
        }
        assert_eq!(
            store
                .read(&intact, 0)
                .await
                .expect("read an intact organization"),
            events,
            "damaging one organization changed another ({damage:?})"
        );
        assert!(
            store
                .load_snapshot(&intact)
                .await
                .expect("load an intact organization")
                .is_some(),
            "damaging one organization lost another's snapshot ({damage:?})"
        );
    }
}
