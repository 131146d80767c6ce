//! The checks every [`Store`] must pass. Each check panics with a message
//! naming the broken rule. Run them from a multi-threaded tokio test: the
//! concurrency checks spawn tasks.
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! use org_accounts::InMemoryStore;
//!
//! org_accounts::testing::conformance::run_all(|| async { InMemoryStore::new() }).await;
//! # });
//! ```
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

use crate::ports::{OrganizationId, Store, StoreError};
use crate::{Command, Context, Email, Event, EventKind, GroupName, Organization, UserId};

/// Runs every check, each on a fresh store from `make` (an async factory,
/// so a store that connects or opens a file can be built in it).
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store + 'static,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    empty_store_has_nothing(&make().await).await;
    appended_events_read_back_in_order(&make().await).await;
    wrong_expected_version_conflicts_and_stores_nothing(&make().await).await;
    organizations_are_independent(&make().await).await;
    events_round_trip_exactly(&make().await).await;
    latest_snapshot_wins(&make().await).await;
    sign_ins_only_move_forward_and_are_read_incrementally(&make().await).await;
    concurrent_appenders_lose_nothing(Arc::new(make().await), 4, 25).await;
    exactly_one_append_wins_each_version(Arc::new(make().await), 4, 20).await;
    a_polling_reader_never_misses_a_sign_in(Arc::new(make().await), 8, 40).await;
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
    assert_eq!(p1b, p1);
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
        let mut winners = Vec::new();
        for handle in handles {
            let (event, result) = handle.await.expect("an appender panicked");
            match result {
                Ok(v) => {
                    assert_eq!(v, version + 1, "a winning append returns the new version");
                    winners.push(event);
                }
                Err(StoreError::Conflict(c)) => assert_eq!(
                    (c.expected, c.actual),
                    (version, version + 1),
                    "a losing append reports the winner's version"
                ),
                Err(e) => panic!("append failed: {e}"),
            }
        }
        assert_eq!(
            winners.len(),
            1,
            "round {round}: {} appends at version {version} succeeded; exactly one may",
            winners.len()
        );
        let stored = store.read(&id, version).await.expect("read");
        assert_eq!(stored, winners, "the stored event is the winner's");
    }
}

/// `tasks` writers record `per_task` sign-ins each (over a few members,
/// times rising) while a reader polls `sign_ins_after` with the position
/// it last got: at the end the reader has seen every member's latest
/// sign-in. A store whose positions become visible out of order (numbers
/// from a sequence that commit out of order) makes the reader skip one for
/// ever.
pub async fn a_polling_reader_never_misses_a_sign_in<S: Store + 'static>(
    store: Arc<S>,
    tasks: u64,
    per_task: u64,
) {
    let id = org("polling");
    let members = 10u64;
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
                let user = UserId::new(1 + (t + i) % members);
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
    assert_eq!(
        seen, latest,
        "a reader that remembers its position missed a sign-in (positions became visible out of order)"
    );
}
