//! The store conformance suite kills mutants: a small store (rows kept as
//! JSON text on a shared "disk", so it can be reopened and damaged) passes
//! `conformance::run_all_with`, and each deliberately broken copy of it
//! fails, both the whole suite and the one check named for it. Each run is
//! a spawned task; a failed check is a panic (`JoinError::is_panic`).
#![cfg(feature = "testing")]
// Tests and benches assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use org_accounts::testing::conformance::{self, Damage, StoreFactory};
use org_accounts::{
    ActivityStore, ConflictError, Event, EventStore, OrganizationId, SignIn, Snapshot,
    SnapshotStore, StoreError, Timestamp, UserId, Version,
};

/// One defect each; `None` is the correct store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutant {
    None,
    /// Checks the expected version, lets go of the lock, waits 2 ms, then
    /// appends without checking again.
    LostUpdate,
    /// Numbers a sign-in at once but makes every other one visible 1 ms
    /// later, after higher positions.
    PositionsOutOfOrder,
    /// Stores all but the last event of a batch (and says it stored all).
    PartialBatch,
    /// Returns each pair of events swapped.
    ReorderedRead,
    /// Lets an older sign-in replace a newer one.
    SignInsBackwards,
    /// Ignores an older sign-in but uses up a position for it.
    PositionMovesOnIgnored,
    /// Lets any saved snapshot replace the stored one.
    OlderSnapshotWins,
    /// Keeps appended events in the handle, never on the disk.
    LostOnReopen,
    /// Skips rows that do not decode.
    CorruptionSkipped,
    /// Reports rows that do not decode as a backend failure.
    CorruptionAsBackend,
}

#[derive(Default)]
struct Activity {
    latest: HashMap<UserId, (Timestamp, u64)>,
    rows: BTreeMap<u64, String>,
    next: u64,
}

/// What survives a handle: rows as JSON text.
#[derive(Default)]
struct Disk {
    events: HashMap<OrganizationId, Vec<String>>,
    snapshots: HashMap<OrganizationId, (u64, String)>,
    activity: HashMap<OrganizationId, Activity>,
}

struct Store {
    disk: Arc<Mutex<Disk>>,
    /// Events only this handle holds (the `LostOnReopen` mutant).
    cache: Mutex<HashMap<OrganizationId, Vec<String>>>,
    mutant: Mutant,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Store {
    fn rows(&self, org: &OrganizationId) -> Vec<String> {
        let mut rows = lock(&self.disk)
            .events
            .get(org)
            .cloned()
            .unwrap_or_default();
        rows.extend(lock(&self.cache).get(org).cloned().unwrap_or_default());
        rows
    }

    /// Decodes rows; what a row that does not decode becomes depends on
    /// the mutant.
    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        rows: impl IntoIterator<Item = String>,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        for row in rows {
            match serde_json::from_str(&row) {
                Ok(value) => out.push(value),
                Err(_) if self.mutant == Mutant::CorruptionSkipped => {}
                Err(e) if self.mutant == Mutant::CorruptionAsBackend => {
                    return Err(StoreError::backend(e));
                }
                Err(e) => return Err(StoreError::Corrupt(format!("a row: {e}"))),
            }
        }
        Ok(out)
    }
}

impl EventStore for Store {
    async fn append(
        &self,
        org: &OrganizationId,
        expected: Version,
        events: &[Event],
    ) -> Result<Version, StoreError> {
        let mut rows: Vec<String> = events
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        let new = expected + events.len() as Version;
        if self.mutant == Mutant::LostUpdate {
            let actual = self.rows(org).len() as Version;
            if actual != expected {
                return Err(ConflictError { expected, actual }.into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
            lock(&self.disk)
                .events
                .entry(org.clone())
                .or_default()
                .extend(rows);
            return Ok(new);
        }
        let mut disk = lock(&self.disk);
        let mut cache = lock(&self.cache);
        let on_disk = disk.events.get(org).map_or(0, Vec::len);
        let cached = cache.get(org).map_or(0, Vec::len);
        let actual = (on_disk + cached) as Version;
        if actual != expected {
            return Err(ConflictError { expected, actual }.into());
        }
        if self.mutant == Mutant::PartialBatch && rows.len() > 1 {
            rows.pop();
        }
        let stream = if self.mutant == Mutant::LostOnReopen {
            cache.entry(org.clone()).or_default()
        } else {
            disk.events.entry(org.clone()).or_default()
        };
        stream.extend(rows);
        Ok(new)
    }

    async fn read(&self, org: &OrganizationId, after: Version) -> Result<Vec<Event>, StoreError> {
        let rows = self.rows(org);
        let mut events: Vec<Event> = self.decode(rows.into_iter().skip(after as usize))?;
        if self.mutant == Mutant::ReorderedRead {
            for pair in events.chunks_mut(2) {
                pair.reverse();
            }
        }
        Ok(events)
    }
}

impl SnapshotStore for Store {
    async fn save_snapshot(
        &self,
        org: &OrganizationId,
        snapshot: &Snapshot,
    ) -> Result<(), StoreError> {
        let mut disk = lock(&self.disk);
        let newer = disk
            .snapshots
            .get(org)
            .is_none_or(|(v, _)| *v < snapshot.version());
        if newer || self.mutant == Mutant::OlderSnapshotWins {
            let json = serde_json::to_string(snapshot).unwrap();
            disk.snapshots
                .insert(org.clone(), (snapshot.version(), json));
        }
        Ok(())
    }

    async fn load_snapshot(&self, org: &OrganizationId) -> Result<Option<Snapshot>, StoreError> {
        let row = lock(&self.disk).snapshots.get(org).map(|(_, j)| j.clone());
        Ok(self.decode(row)?.pop())
    }
}

impl ActivityStore for Store {
    async fn record_sign_in(
        &self,
        org: &OrganizationId,
        user: UserId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let row = serde_json::to_string(&SignIn { user, at }).unwrap();
        let position = {
            let mut disk = lock(&self.disk);
            let activity = disk.activity.entry(org.clone()).or_default();
            if let Some((last, position)) = activity.latest.get(&user).copied() {
                if at <= last && self.mutant != Mutant::SignInsBackwards {
                    if self.mutant == Mutant::PositionMovesOnIgnored {
                        activity.next += 1;
                    }
                    return Ok(());
                }
                activity.rows.remove(&position);
            }
            activity.next += 1;
            let position = activity.next;
            activity.latest.insert(user, (at, position));
            if self.mutant == Mutant::PositionsOutOfOrder && position % 2 == 1 {
                position
            } else {
                activity.rows.insert(position, row);
                return Ok(());
            }
        };
        tokio::time::sleep(Duration::from_millis(1)).await;
        let mut disk = lock(&self.disk);
        let activity = disk.activity.entry(org.clone()).or_default();
        activity.rows.insert(position, row);
        Ok(())
    }

    async fn sign_ins_after(
        &self,
        org: &OrganizationId,
        after: u64,
    ) -> Result<(Vec<SignIn>, u64), StoreError> {
        let (rows, next) = {
            let disk = lock(&self.disk);
            let Some(activity) = disk.activity.get(org) else {
                return Ok((Vec::new(), after));
            };
            let rows: Vec<String> = activity
                .rows
                .range(after.saturating_add(1)..)
                .map(|(_, row)| row.clone())
                .collect();
            (rows, activity.next.max(after))
        };
        Ok((self.decode(rows)?, next))
    }
}

/// Opens and damages stores with one defect; store `n`'s disk is kept, so
/// opening `n` again is reopening it.
struct Factory(Mutant, Mutex<HashMap<usize, Arc<Mutex<Disk>>>>);

fn factory(mutant: Mutant) -> Factory {
    Factory(mutant, Mutex::default())
}

impl StoreFactory for Factory {
    type Store = Store;

    async fn open(&self, n: usize) -> Store {
        Store {
            disk: Arc::clone(lock(&self.1).entry(n).or_default()),
            cache: Mutex::default(),
            mutant: self.0,
        }
    }

    fn persists(&self) -> bool {
        true
    }

    async fn corrupt(&self, _: usize, store: &Store, org: &OrganizationId, damage: Damage) -> bool {
        const GARBAGE: &str = "{\"at\": 12, \u{0}";
        let mut disk = lock(&store.disk);
        match damage {
            Damage::Events => {
                let mut cache = lock(&store.cache);
                let rows = match disk.events.get_mut(org) {
                    Some(rows) if !rows.is_empty() => rows,
                    _ => cache.entry(org.clone()).or_default(),
                };
                match rows.get_mut(1) {
                    Some(row) => *row = GARBAGE.into(),
                    None => return false,
                }
            }
            Damage::Snapshot => match disk.snapshots.get_mut(org) {
                Some((_, row)) => *row = GARBAGE.into(),
                None => return false,
            },
            Damage::SignIns => {
                match disk
                    .activity
                    .get_mut(org)
                    .and_then(|a| a.rows.values_mut().next())
                {
                    Some(row) => *row = GARBAGE.into(),
                    None => return false,
                }
            }
            _ => return false,
        }
        true
    }
}

/// Runs `check` in a spawned task: `Some(message)` when it panicked.
async fn panics<Fut>(check: Fut) -> Option<String>
where
    Fut: Future<Output = ()> + Send + 'static,
{
    let handle = tokio::spawn(check);
    match tokio::time::timeout(Duration::from_secs(60), handle).await {
        Err(_) => panic!("a check did not finish in a minute"),
        Ok(Ok(())) => None,
        Ok(Err(e)) => {
            assert!(e.is_panic(), "the check was cancelled: {e}");
            let payload = e.into_panic();
            Some(
                payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default(),
            )
        }
    }
}

/// The check named for `mutant`, on fresh stores with that defect.
async fn named_check(mutant: Mutant) {
    let f = factory(mutant);
    match mutant {
        Mutant::None => conformance::run_all_with(&f).await,
        Mutant::LostUpdate => {
            conformance::exactly_one_append_wins_each_version(
                Arc::new(f.open(usize::MAX).await),
                4,
                20,
            )
            .await;
        }
        Mutant::PositionsOutOfOrder => {
            conformance::a_polling_reader_never_misses_a_sign_in(
                Arc::new(f.open(usize::MAX).await),
                8,
                40,
            )
            .await;
        }
        Mutant::PartialBatch | Mutant::ReorderedRead => {
            conformance::appended_events_read_back_in_order(&f.open(usize::MAX).await).await;
        }
        Mutant::SignInsBackwards | Mutant::PositionMovesOnIgnored => {
            conformance::sign_ins_only_move_forward_and_are_read_incrementally(
                &f.open(usize::MAX).await,
            )
            .await;
        }
        Mutant::OlderSnapshotWins => {
            conformance::latest_snapshot_wins(&f.open(usize::MAX).await).await
        }
        Mutant::LostOnReopen => conformance::data_survives_reopening(&f).await,
        Mutant::CorruptionSkipped | Mutant::CorruptionAsBackend => {
            conformance::damaged_data_is_corrupt(&f).await;
        }
    }
}

const MUTANTS: [(Mutant, &str); 10] = [
    (Mutant::LostUpdate, "succeeded; exactly one may"),
    (Mutant::PositionsOutOfOrder, "missed a sign-in"),
    (Mutant::PartialBatch, "its whole batch"),
    (Mutant::ReorderedRead, "its whole batch, in order"),
    (
        Mutant::SignInsBackwards,
        "an older sign-in must change nothing",
    ),
    (Mutant::PositionMovesOnIgnored, "must not move the position"),
    (
        Mutant::OlderSnapshotWins,
        "an older snapshot replaced a newer one",
    ),
    (Mutant::LostOnReopen, "when the store was reopened"),
    (Mutant::CorruptionSkipped, "must report Corrupt"),
    (Mutant::CorruptionAsBackend, "must report Corrupt"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_correct_store_passes_every_check() {
    assert_eq!(panics(named_check(Mutant::None)).await, None);
}

/// Each mutant fails the check named for it, with that check's message,
/// three times out of three.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_mutant_fails_its_check() {
    for (mutant, message) in MUTANTS {
        for round in 0..3 {
            let failure = panics(named_check(mutant)).await;
            let failure =
                failure.unwrap_or_else(|| panic!("{mutant:?} passed its check (round {round})"));
            assert!(
                failure.contains(message),
                "{mutant:?} failed with {failure:?}, not {message:?}"
            );
        }
    }
}

/// The whole suite fails for each mutant.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_mutant_fails_the_suite() {
    for (mutant, _) in MUTANTS {
        let failure =
            panics(async move { conformance::run_all_with(&factory(mutant)).await }).await;
        assert!(failure.is_some(), "{mutant:?} passed the conformance suite");
    }
}

/// A store that loses events on reopening passes `run_all` (which cannot
/// reopen), which is why a persisting store runs `run_all_with`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_all_alone_cannot_see_a_store_forget() {
    let failure = panics(async {
        let f = factory(Mutant::LostOnReopen);
        let next = std::sync::atomic::AtomicUsize::new(0);
        conformance::run_all(|| f.open(next.fetch_add(1, std::sync::atomic::Ordering::SeqCst)))
            .await;
    })
    .await;
    assert_eq!(failure, None);
}

/// A store whose appends all fail (a refused connection, a missing table):
/// no append wins, and the one-winner check says why, with the store's
/// error, rather than as a concurrency defect ("0 appends succeeded").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "append failed")]
async fn a_store_whose_appends_fail_is_reported_with_its_error() {
    let store = org_accounts::testing::FaultyStore::new(org_accounts::InMemoryStore::new());
    store.fail_appends([org_accounts::testing::Fault::BeforeWrite; 4]);
    conformance::exactly_one_append_wins_each_version(Arc::new(store), 4, 1).await;
}
