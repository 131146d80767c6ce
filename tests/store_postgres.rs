//! The PostgreSQL store keeps every store rule, across pooled connections,
//! tasks and stores. Needs a server: set `ORG_ACCOUNTS_PG_URL` (`.ci/run`
//! does); without it the tests say loudly that they were skipped, and the
//! test named `postgres_tests_skipped_...` shows it in the test list.
//!
//! Each test works in a schema of its own, dropped at the end.
#![cfg(all(feature = "postgres", feature = "testing"))]
// Tests and benches assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};
use org_accounts::testing::conformance;
use org_accounts::{
    ActivityStore, Event, EventStore, Organization, OrganizationId, PostgresStore, Snapshot,
    SnapshotStore, StoreError, UserId,
};

const VARIABLE: &str = "ORG_ACCOUNTS_PG_URL";

fn url() -> Option<String> {
    match std::env::var(VARIABLE) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "\n*** SKIPPED: PostgreSQL store tests need {VARIABLE} \
                 (e.g. postgres://postgres@127.0.0.1:5432/test); .ci/run sets it ***\n"
            );
            None
        }
    }
}

/// Runs only when the variable is unset, so that a skipped run shows up by
/// name in `cargo test` output.
#[test]
fn postgres_tests_skipped_set_org_accounts_pg_url_to_run_them() {
    if std::env::var(VARIABLE).is_ok_and(|url| !url.is_empty()) {
        return;
    }
    eprintln!(
        "\n*** SKIPPED: every PostgreSQL store test in this file did nothing. \
         Run them with {VARIABLE}=postgres://postgres@127.0.0.1:5432/test \
         cargo test --features postgres,testing --test store_postgres ***\n"
    );
}

/// A schema of its own per store, so runs and tests never share data.
fn schema() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "org_accounts_test_{}_{}_{}",
        std::process::id(),
        Timestamp::now().as_millisecond(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

async fn store(url: &str) -> PostgresStore {
    PostgresStore::connect_with_schema(url, &schema())
        .await
        .unwrap()
}

async fn raw(url: &str, sql: &str) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    sqlx::raw_sql(sql).execute(&pool).await.unwrap();
    pool.close().await;
}

fn org(id: &str) -> OrganizationId {
    OrganizationId::new(id).unwrap()
}

fn user(n: u64) -> UserId {
    serde_json::from_str(&n.to_string()).unwrap()
}

fn start() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().unwrap()
}

fn conflict(result: Result<u64, StoreError>) -> (u64, u64) {
    match result {
        Err(StoreError::Conflict(c)) => (c.expected, c.actual),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// The store conformance suite, each check on a store in a schema of its
/// own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_conforms() {
    let Some(url) = url() else { return };
    let schemas = std::sync::Mutex::new(Vec::new());
    conformance::run_all(|| {
        let name = schema();
        schemas.lock().unwrap().push(name.clone());
        let url = url.clone();
        async move {
            PostgresStore::connect_with_schema(&url, &name)
                .await
                .unwrap()
        }
    })
    .await;
    for name in schemas.into_inner().unwrap() {
        raw(&url, &format!("DROP SCHEMA {name} CASCADE")).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn appends_and_reads_keep_the_rules() {
    let Some(url) = url() else { return };
    let store = store(&url).await;
    let id = org("acme");
    let events = conformance::sample_events(9);

    assert!(store.read(&id, 0).await.unwrap().is_empty());
    assert_eq!(store.append(&id, 0, &[]).await.unwrap(), 0);
    assert_eq!(conflict(store.append(&id, 1, &[]).await), (1, 0));
    // Ahead of the stored version: nothing stored, no gap.
    assert_eq!(conflict(store.append(&id, 2, &events[..2]).await), (2, 0));
    assert!(store.read(&id, 0).await.unwrap().is_empty());

    assert_eq!(store.append(&id, 0, &events[..3]).await.unwrap(), 3);
    assert_eq!(store.append(&id, 3, &events[3..5]).await.unwrap(), 5);
    for expected in [0, 2, 4, 6] {
        assert_eq!(
            conflict(store.append(&id, expected, &events[5..]).await),
            (expected, 5)
        );
        assert_eq!(
            conflict(store.append(&id, expected, &[]).await),
            (expected, 5)
        );
    }
    assert_eq!(store.read(&id, 0).await.unwrap(), events[..5]);
    assert_eq!(store.append(&id, 5, &[]).await.unwrap(), 5);
    assert_eq!(store.append(&id, 5, &events[5..]).await.unwrap(), 9);

    assert_eq!(store.read(&id, 0).await.unwrap(), events);
    assert_eq!(store.read(&id, 4).await.unwrap(), events[4..]);
    assert!(store.read(&id, 9).await.unwrap().is_empty());
    assert!(store.read(&id, 1_000).await.unwrap().is_empty());
    assert_eq!(
        Organization::replay(&store.read(&id, 0).await.unwrap()),
        Organization::replay(&events)
    );

    // Organizations are independent streams.
    let other = org("globex");
    assert_eq!(store.append(&other, 0, &events[..1]).await.unwrap(), 1);
    assert_eq!(store.read(&other, 0).await.unwrap(), events[..1]);
    assert_eq!(store.read(&id, 0).await.unwrap().len(), 9);

    store.drop_schema().await.unwrap();
}

/// Each statement is prepared once per connection and reused: after many
/// appends and reads over a one-connection pool, the session holds one
/// prepared statement per kind, and an append is one statement (the
/// server's own count of prepared statements shows no re-preparing).
#[tokio::test(flavor = "multi_thread")]
async fn statements_are_prepared_once_per_connection() {
    let Some(url) = url() else { return };
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .unwrap();
    let name = schema();
    let store = PostgresStore::with_schema(pool.clone(), &name)
        .await
        .unwrap();
    let id = org("acme");
    let events = conformance::sample_events(9);
    for (n, event) in events.iter().enumerate() {
        let version = n as u64;
        store
            .append(&id, version, std::slice::from_ref(event))
            .await
            .unwrap();
        assert_eq!(store.read(&id, version).await.unwrap().len(), 1);
    }
    let prepared: Vec<String> = sqlx::query_scalar(
        "SELECT statement FROM pg_prepared_statements WHERE statement LIKE '%' || $1 || '.events%'",
    )
    .bind(&name)
    .fetch_all(&pool)
    .await
    .unwrap();
    let count = |needle: &str| prepared.iter().filter(|s| s.contains(needle)).count();
    assert_eq!(
        count("UNNEST"),
        1,
        "the append was prepared again: {prepared:#?}"
    );
    assert_eq!(
        count("SELECT version, data"),
        1,
        "the read was prepared again: {prepared:#?}"
    );
    store.drop_schema().await.unwrap();
    pool.close().await;
}

/// Versions beyond what PostgreSQL stores are refused before anything is
/// sent, never wrapped.
#[tokio::test(flavor = "multi_thread")]
async fn versions_out_of_range_are_refused() {
    let Some(url) = url() else { return };
    let store = store(&url).await;
    let id = org("acme");
    let events = conformance::sample_events(2);
    let huge = u64::try_from(i64::MAX).unwrap();
    for (expected, batch) in [
        (u64::MAX, &events[..]),
        (huge, &events[..1]),
        (huge + 1, &[][..]),
    ] {
        match store.append(&id, expected, batch).await {
            Err(StoreError::Corrupt(message)) => assert!(message.contains("version"), "{message}"),
            other => panic!("append at {expected}: {other:?}"),
        }
    }
    assert!(matches!(
        store.read(&id, u64::MAX).await,
        Err(StoreError::Corrupt(_))
    ));
    assert!(store.read(&id, 0).await.unwrap().is_empty());
    store.drop_schema().await.unwrap();
}

/// Many tasks, released together by a barrier, append at the same expected
/// version, round after round: exactly one wins each round, every loser is
/// told the winner's version, and the stream holds exactly the winners'
/// batches.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exactly_one_winner_per_expected_version() {
    let Some(url) = url() else { return };
    let store = Arc::new(store(&url).await);
    let id = org("race");
    const TASKS: usize = 8;
    const ROUNDS: usize = 30;
    let events = Arc::new(conformance::sample_events(TASKS * 2));
    // Task t appends a batch of one or two events of its own.
    let batch = |t: usize| t * 2..t * 2 + 1 + t % 2;
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (store, id, events, barrier) =
            (store.clone(), id.clone(), events.clone(), barrier.clone());
        tasks.push(tokio::spawn(async move {
            let mut won = Vec::new();
            for round in 0..ROUNDS {
                // Everyone reads the same version, then all append at once.
                let expected = store.read(&id, 0).await.unwrap().len() as u64;
                barrier.wait().await;
                let mine = &events[batch(t)];
                match store.append(&id, expected, mine).await {
                    Ok(v) => {
                        assert_eq!(v, expected + mine.len() as u64);
                        won.push(round);
                    }
                    Err(StoreError::Conflict(c)) => {
                        assert_eq!(c.expected, expected);
                        assert!(c.actual > expected, "{c:?}");
                    }
                    Err(e) => panic!("{e}"),
                }
                barrier.wait().await;
            }
            won
        }));
    }
    let mut winners = BTreeMap::new();
    for (t, task) in tasks.into_iter().enumerate() {
        for round in task.await.unwrap() {
            assert!(
                winners.insert(round, t).is_none(),
                "two appends won round {round}"
            );
        }
    }
    assert_eq!(winners.len(), ROUNDS, "a round had no winner");
    let expected: Vec<Event> = winners
        .values()
        .flat_map(|&t| events[batch(t)].iter().cloned())
        .collect();
    assert_eq!(store.read(&id, 0).await.unwrap(), expected);
    Arc::into_inner(store).unwrap().drop_schema().await.unwrap();
}

/// Writers that retry on conflict lose nothing and store nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appenders_lose_nothing() {
    let Some(url) = url() else { return };
    let store = Arc::new(store(&url).await);
    let id = org("busy");
    const TASKS: usize = 6;
    const EACH: usize = 15;
    let events = Arc::new(conformance::sample_events(TASKS * EACH));
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let (store, id, events) = (store.clone(), id.clone(), events.clone());
        tasks.push(tokio::spawn(async move {
            for event in &events[t * EACH..(t + 1) * EACH] {
                loop {
                    let version = store.read(&id, 0).await.unwrap().len() as u64;
                    match store
                        .append(&id, version, std::slice::from_ref(event))
                        .await
                    {
                        Ok(v) => {
                            assert_eq!(v, version + 1);
                            break;
                        }
                        Err(StoreError::Conflict(_)) => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stored = store.read(&id, 0).await.unwrap();
    assert_eq!(stored.len(), events.len());
    for event in events.iter() {
        assert_eq!(stored.iter().filter(|e| *e == event).count(), 1);
    }
    Arc::into_inner(store).unwrap().drop_schema().await.unwrap();
}

/// A snapshot like `snapshot` but with another organization name: same
/// version, different content.
fn renamed(snapshot: &Snapshot) -> Snapshot {
    let json = serde_json::to_string(snapshot).unwrap();
    assert!(json.contains("\"Conformance\""));
    serde_json::from_str(&json.replace("\"Conformance\"", "\"Renamed\"")).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_newest_snapshot_wins() {
    let Some(url) = url() else { return };
    let store = store(&url).await;
    let id = org("snapshots");
    let events = conformance::sample_events(8);
    let at = |n: usize| Organization::replay(&events[..n]).snapshot();
    assert_eq!(store.load_snapshot(&id).await.unwrap(), None);
    store.save_snapshot(&id, &at(3)).await.unwrap();
    assert_eq!(store.load_snapshot(&id).await.unwrap(), Some(at(3)));
    store.save_snapshot(&id, &at(7)).await.unwrap();
    store.save_snapshot(&id, &at(5)).await.unwrap();
    assert_eq!(store.load_snapshot(&id).await.unwrap(), Some(at(7)));
    // The same version again is ignored, even with other content.
    store.save_snapshot(&id, &renamed(&at(7))).await.unwrap();
    let loaded = store.load_snapshot(&id).await.unwrap().unwrap();
    assert_eq!(loaded, at(7));
    assert_eq!(
        Organization::from_snapshot(&loaded).unwrap(),
        Organization::replay(&events[..7])
    );
    assert_eq!(store.load_snapshot(&org("other")).await.unwrap(), None);
    store.drop_schema().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_ins_only_move_forward_and_are_read_incrementally() {
    let Some(url) = url() else { return };
    let store = store(&url).await;
    let id = org("activity");
    let t = |s: i64| start() + SignedDuration::from_secs(s);
    let (u1, u2) = (user(1), user(2));
    assert_eq!(store.sign_ins_after(&id, 0).await.unwrap(), (vec![], 0));
    store.record_sign_in(&id, u1, t(10)).await.unwrap();
    let (first, p1) = store.sign_ins_after(&id, 0).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!((first[0].user, first[0].at), (u1, t(10)));
    assert!(p1 > 0);
    // Older or equal: nothing changes, not even the position.
    store.record_sign_in(&id, u1, t(5)).await.unwrap();
    store.record_sign_in(&id, u1, t(10)).await.unwrap();
    assert_eq!(store.sign_ins_after(&id, p1).await.unwrap(), (vec![], p1));
    assert_eq!(store.sign_ins_after(&id, 0).await.unwrap(), (first, p1));
    store.record_sign_in(&id, u2, t(11)).await.unwrap();
    store.record_sign_in(&id, u1, t(12)).await.unwrap();
    let (newer, p2) = store.sign_ins_after(&id, p1).await.unwrap();
    let got: Vec<_> = newer.iter().map(|s| (s.user, s.at)).collect();
    assert_eq!(got, [(u2, t(11)), (u1, t(12))], "in position order");
    assert!(p2 > p1);
    let (all, p_all) = store.sign_ins_after(&id, 0).await.unwrap();
    assert_eq!(all.len(), 2, "each member once, with the latest time");
    assert_eq!(p_all, p2);
    assert_eq!(store.sign_ins_after(&id, p2 + 100).await.unwrap().0, vec![]);
    // Another organization has its own sign-ins.
    assert_eq!(
        store.sign_ins_after(&org("other"), 0).await.unwrap().0,
        vec![]
    );
    store.drop_schema().await.unwrap();
}

/// Many tasks sign members in at once over the pool while a reader polls
/// with the position it remembers: positions become visible in order, so
/// at the end the reader has every member's latest sign-in (a reader of
/// sequence numbers that commit out of order would have skipped some).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_polling_reader_never_misses_a_sign_in() {
    let Some(url) = url() else { return };
    let store = Arc::new(store(&url).await);
    let id = org("sign-ins");
    const TASKS: u64 = 16;
    const EACH: u64 = 60;
    const MEMBERS: u64 = 50;
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, id, done) = (store.clone(), id.clone(), done.clone());
        tokio::spawn(async move {
            let mut seen: BTreeMap<UserId, Timestamp> = BTreeMap::new();
            let mut position = 0;
            let mut polls = 0;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let (sign_ins, next) = store.sign_ins_after(&id, position).await.unwrap();
                assert!(next >= position);
                for s in sign_ins {
                    let at = seen.entry(s.user).or_insert(s.at);
                    *at = (*at).max(s.at);
                }
                position = next;
                polls += 1;
                if finished {
                    return (seen, polls);
                }
            }
        })
    };
    let mut writers = Vec::new();
    for t in 0..TASKS {
        let (store, id) = (store.clone(), id.clone());
        writers.push(tokio::spawn(async move {
            let mut latest = BTreeMap::new();
            for i in 0..EACH {
                let member = user(1 + (t * 7 + i * 13) % MEMBERS);
                // Times unique across writers, in no particular order.
                let nanos = i64::try_from((i * TASKS + t) * 1_000 + (t * 31 + i) % 997).unwrap();
                let at = start() + SignedDuration::from_nanos(nanos);
                store.record_sign_in(&id, member, at).await.unwrap();
                let known = latest.entry(member).or_insert(at);
                *known = (*known).max(at);
            }
            latest
        }));
    }
    let mut truth: BTreeMap<UserId, Timestamp> = BTreeMap::new();
    for writer in writers {
        for (member, at) in writer.await.unwrap() {
            let known = truth.entry(member).or_insert(at);
            *known = (*known).max(at);
        }
    }
    done.store(true, Ordering::SeqCst);
    let (seen, polls) = reader.await.unwrap();
    eprintln!(
        "{} sign-ins by {TASKS} tasks, read in {polls} polls",
        TASKS * EACH
    );
    assert_eq!(seen, truth, "the reader missed a sign-in");
    let (all, _) = store.sign_ins_after(&id, 0).await.unwrap();
    let stored: BTreeMap<UserId, Timestamp> = all.iter().map(|s| (s.user, s.at)).collect();
    assert_eq!(stored, truth);
    Arc::into_inner(store).unwrap().drop_schema().await.unwrap();
}

/// A second store on the same schema (another pool: another process or
/// node) sees everything the first stored, and their appends conflict.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_store_sees_everything_and_conflicts() {
    let Some(url) = url() else { return };
    let name = schema();
    let a = PostgresStore::connect_with_schema(&url, &name)
        .await
        .unwrap();
    let id = org("acme");
    let events = conformance::sample_events(6);
    a.append(&id, 0, &events[..2]).await.unwrap();
    let snapshot = Organization::replay(&events[..2]).snapshot();
    a.save_snapshot(&id, &snapshot).await.unwrap();
    a.record_sign_in(&id, user(1), start()).await.unwrap();

    let b = PostgresStore::connect_with_schema(&url, &name)
        .await
        .unwrap();
    assert_eq!(b.read(&id, 0).await.unwrap(), events[..2]);
    assert_eq!(b.load_snapshot(&id).await.unwrap(), Some(snapshot));
    let (sign_ins, p) = b.sign_ins_after(&id, 0).await.unwrap();
    assert_eq!(sign_ins.len(), 1);
    assert_eq!(conflict(b.append(&id, 0, &events[2..]).await), (0, 2));
    assert_eq!(b.append(&id, 2, &events[2..4]).await.unwrap(), 4);
    assert_eq!(conflict(a.append(&id, 2, &events[4..]).await), (2, 4));
    assert_eq!(a.append(&id, 4, &events[4..]).await.unwrap(), 6);
    assert_eq!(b.read(&id, 0).await.unwrap(), events);
    b.record_sign_in(&id, user(2), start()).await.unwrap();
    let (newer, _) = a.sign_ins_after(&id, p).await.unwrap();
    assert_eq!(newer.len(), 1);
    assert_eq!(newer[0].user, user(2));
    // The store built from the host's own pool finds the schema as is.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let c = PostgresStore::with_schema(pool.clone(), &name)
        .await
        .unwrap();
    assert_eq!(c.read(&id, 0).await.unwrap(), events);
    assert_eq!(
        format!("{c:?}"),
        format!("PostgresStore {{ schema: {name:?}, .. }}")
    );
    drop((b, c));
    a.drop_schema().await.unwrap();
    pool.close().await;
}

/// The store is called from spawned tasks on a multi-threaded runtime
/// (the synchronous driver this store replaced panicked there).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn works_from_spawned_tasks() {
    let Some(url) = url() else { return };
    let store = Arc::new(store(&url).await);
    let events = Arc::new(conformance::sample_events(5));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (store, events) = (store.clone(), events.clone());
            tokio::spawn(async move {
                let id = org(&format!("tenant-{i}"));
                assert_eq!(store.append(&id, 0, &events[..]).await.unwrap(), 5);
                store.record_sign_in(&id, user(1), start()).await.unwrap();
                store
                    .save_snapshot(&id, &Organization::replay(&events[..]).snapshot())
                    .await
                    .unwrap();
                assert_eq!(store.read(&id, 2).await.unwrap(), events[2..]);
                assert!(store.load_snapshot(&id).await.unwrap().is_some());
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    Arc::into_inner(store).unwrap().drop_schema().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn schema_names_are_checked() {
    let Some(url) = url() else { return };
    let long = format!("a{}", "b".repeat(63));
    for bad in [
        "bad; DROP TABLE x",
        "",
        "Upper",
        "1abc",
        "_abc",
        "a-b",
        "a.b",
        "\"q\"",
        "ä",
        &long,
    ] {
        let err = PostgresStore::connect_with_schema(&url, bad)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Corrupt(m) if m.contains("not an allowed schema name")),
            "{bad:?}: {err}"
        );
    }
}

/// A schema written by a newer library is refused with a message that says
/// to upgrade; nothing in it is touched.
#[tokio::test(flavor = "multi_thread")]
async fn a_newer_schema_is_refused() {
    let Some(url) = url() else { return };
    let store = store(&url).await;
    let name = store.schema().to_owned();
    raw(
        &url,
        &format!("UPDATE {name}.schema_version SET version = 99"),
    )
    .await;
    let err = PostgresStore::connect_with_schema(&url, &name)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::Corrupt(m) if m.contains("99") && m.contains("upgrade")),
        "{err}"
    );
    store.drop_schema().await.unwrap();
}

/// A schema made by the previous store (sign-ins numbered from a sequence)
/// is upgraded in place: events, snapshots and sign-ins are kept and new
/// positions continue after the old ones.
#[tokio::test(flavor = "multi_thread")]
async fn a_version_1_schema_is_upgraded() {
    let Some(url) = url() else { return };
    let s = schema();
    let events = conformance::sample_events(3);
    let data: Vec<String> = events
        .iter()
        .map(|e| serde_json::to_string(e).unwrap().replace('\'', "''"))
        .collect();
    let snapshot = Organization::replay(&events).snapshot();
    let json_snapshot = serde_json::to_string(&snapshot)
        .unwrap()
        .replace('\'', "''");
    raw(
        &url,
        &format!(
            "CREATE SCHEMA {s};
             CREATE TABLE {s}.schema_version (version INTEGER NOT NULL);
             CREATE TABLE {s}.events (org TEXT NOT NULL, version BIGINT NOT NULL,
                 data TEXT NOT NULL, PRIMARY KEY (org, version));
             CREATE TABLE {s}.snapshots (org TEXT NOT NULL PRIMARY KEY,
                 version BIGINT NOT NULL, data TEXT NOT NULL);
             CREATE SEQUENCE {s}.activity_position;
             CREATE TABLE {s}.activity (org TEXT NOT NULL, user_id BIGINT NOT NULL,
                 at_ns BIGINT NOT NULL, position BIGINT NOT NULL, PRIMARY KEY (org, user_id));
             CREATE INDEX activity_by_position ON {s}.activity (org, position);
             INSERT INTO {s}.schema_version (version) VALUES (1);
             INSERT INTO {s}.events VALUES ('acme', 1, '{}'), ('acme', 2, '{}'), ('acme', 3, '{}');
             INSERT INTO {s}.activity VALUES ('acme', 1, 1000, 41), ('acme', 2, 2000, 42);
             INSERT INTO {s}.snapshots VALUES ('acme', {}, '{}');",
            data[0],
            data[1],
            data[2],
            snapshot.version(),
            json_snapshot
        ),
    )
    .await;
    let store = PostgresStore::connect_with_schema(&url, &s).await.unwrap();
    let id = org("acme");
    assert_eq!(store.read(&id, 0).await.unwrap(), events);
    // The JSON snapshot written then still loads from the bytes column.
    assert_eq!(store.load_snapshot(&id).await.unwrap(), Some(snapshot));
    let (old, p) = store.sign_ins_after(&id, 0).await.unwrap();
    assert_eq!((old.len(), p), (2, 42));
    store.record_sign_in(&id, user(3), start()).await.unwrap();
    let (new, p2) = store.sign_ins_after(&id, p).await.unwrap();
    assert_eq!((new.len(), new[0].user, p2), (1, user(3), 43));
    // Opening it again finds it current.
    let again = PostgresStore::connect_with_schema(&url, &s).await.unwrap();
    assert_eq!(again.append(&id, 3, &[]).await.unwrap(), 3);
    store.drop_schema().await.unwrap();
}

/// A schema of layout version 2 (snapshots as JSON text) is upgraded in
/// place: the snapshot column becomes bytes, the JSON snapshot stored
/// then still loads, and new snapshots are written in the binary encoding.
#[tokio::test(flavor = "multi_thread")]
async fn a_version_2_schema_keeps_its_json_snapshots_readable() {
    let Some(url) = url() else { return };
    let s = schema();
    let events = conformance::sample_events(3);
    let snapshot = Organization::replay(&events).snapshot();
    let json_snapshot = serde_json::to_string(&snapshot)
        .unwrap()
        .replace('\'', "''");
    raw(
        &url,
        &format!(
            "CREATE SCHEMA {s};
             CREATE TABLE {s}.schema_version (version INTEGER NOT NULL);
             CREATE TABLE {s}.events (org TEXT NOT NULL, version BIGINT NOT NULL,
                 data TEXT NOT NULL, PRIMARY KEY (org, version));
             CREATE TABLE {s}.snapshots (org TEXT NOT NULL PRIMARY KEY,
                 version BIGINT NOT NULL, data TEXT NOT NULL);
             CREATE TABLE {s}.activity (org TEXT NOT NULL, user_id BIGINT NOT NULL,
                 at_ns BIGINT NOT NULL, position BIGINT NOT NULL, PRIMARY KEY (org, user_id));
             CREATE INDEX activity_by_position ON {s}.activity (org, position);
             CREATE TABLE {s}.activity_seq (org TEXT NOT NULL PRIMARY KEY, last BIGINT NOT NULL);
             INSERT INTO {s}.schema_version (version) VALUES (2);
             INSERT INTO {s}.snapshots VALUES ('acme', {}, '{json_snapshot}');",
            snapshot.version()
        ),
    )
    .await;
    let store = PostgresStore::connect_with_schema(&url, &s).await.unwrap();
    let id = org("acme");
    assert_eq!(
        store.load_snapshot(&id).await.unwrap(),
        Some(snapshot.clone())
    );
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let column_type: String = sqlx::query_scalar(
        "SELECT data_type FROM information_schema.columns
         WHERE table_schema = $1 AND table_name = 'snapshots' AND column_name = 'data'",
    )
    .bind(&s)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(column_type, "bytea");
    // A newer snapshot is written as bytes with the binary header.
    let newer = Organization::replay(&conformance::sample_events(events.len() + 2)).snapshot();
    store.save_snapshot(&id, &newer).await.unwrap();
    let stored: Vec<u8> = sqlx::query_scalar(&format!(
        "SELECT data FROM {s}.snapshots WHERE org = 'acme'"
    ))
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(&stored[..8], b"\0OrgSnap");
    assert_eq!(store.load_snapshot(&id).await.unwrap(), Some(newer));
    pool.close().await;
    store.drop_schema().await.unwrap();
}

/// `sslmode` in the URL is honoured: `require` connects over TLS (rustls).
#[tokio::test(flavor = "multi_thread")]
async fn sslmode_require_uses_tls() {
    let Some(url) = url() else { return };
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let server_ssl: String = sqlx::query_scalar("SHOW ssl")
        .fetch_one(&pool)
        .await
        .unwrap();
    let s = schema();
    let separator = if url.contains('?') { '&' } else { '?' };
    let tls_url = format!("{url}{separator}sslmode=require&application_name={s}");
    let result = PostgresStore::connect_with_schema(&tls_url, &s).await;
    if server_ssl != "on" {
        assert!(
            matches!(result, Err(StoreError::Backend(_))),
            "sslmode=require must refuse a server without TLS: {result:?}"
        );
        eprintln!("the server has no TLS: checked that sslmode=require refuses it");
        pool.close().await;
        return;
    }
    let store = result.unwrap();
    store.append(&org("acme"), 0, &[]).await.unwrap();
    let encrypted: Vec<bool> = sqlx::query_scalar(
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
         WHERE a.application_name = $1",
    )
    .bind(&s)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(
        !encrypted.is_empty(),
        "the store's connection was not found"
    );
    assert!(encrypted.iter().all(|&tls| tls), "{encrypted:?}");
    store.drop_schema().await.unwrap();
    pool.close().await;
}

/// Which read a damage test checks.
enum Read {
    Events,
    SignIns,
    Snapshots,
}

/// Damage the tables by hand: every read reports it, naming what is
/// damaged; nothing is skipped.
#[tokio::test(flavor = "multi_thread")]
async fn damaged_rows_are_corruption() {
    let Some(url) = url() else { return };
    let id = org("acme");
    let events = conformance::sample_events(5);
    let cases = [
        (
            Read::Events,
            "a gap",
            "DELETE FROM {s}.events WHERE version = 3",
            "missing event 3",
        ),
        (
            Read::Events,
            "a negative version",
            "INSERT INTO {s}.events SELECT org, -1, data FROM {s}.events WHERE version = 1",
            "-1",
        ),
        (
            Read::Events,
            "a zero version",
            "INSERT INTO {s}.events SELECT org, 0, data FROM {s}.events WHERE version = 1",
            "version 0",
        ),
        (
            Read::Events,
            "an event that is not JSON",
            "UPDATE {s}.events SET data = '{x' WHERE version = 4",
            "event 4 of organization acme",
        ),
        (
            Read::Events,
            "an event that is not an event",
            "UPDATE {s}.events SET data = '[1, 2]' WHERE version = 2",
            "event 2 of organization acme",
        ),
        (
            Read::SignIns,
            "a negative position",
            "UPDATE {s}.activity SET position = -3",
            "-3",
        ),
        (
            Read::SignIns,
            "a zero position",
            "UPDATE {s}.activity SET position = 0",
            "position 0",
        ),
        (
            Read::SignIns,
            "a negative user id",
            "UPDATE {s}.activity SET user_id = -5",
            "-5",
        ),
        (
            Read::SignIns,
            "a sign-in time of another type",
            "ALTER TABLE {s}.activity ALTER COLUMN at_ns TYPE TEXT",
            "a sign-in of organization acme",
        ),
        (
            Read::Snapshots,
            "a snapshot that is not JSON",
            "UPDATE {s}.snapshots SET data = 'x'",
            "snapshot of organization acme",
        ),
        (
            Read::Snapshots,
            "a snapshot with another version",
            "UPDATE {s}.snapshots SET version = 2",
            "version 2",
        ),
        (
            Read::Events,
            "a column of another type",
            "ALTER TABLE {s}.events ALTER COLUMN version TYPE TEXT",
            "organization acme",
        ),
    ];
    for (read, what, sql, word) in cases {
        let store = store(&url).await;
        let name = store.schema().to_owned();
        store.append(&id, 0, &events).await.unwrap();
        store.record_sign_in(&id, user(1), start()).await.unwrap();
        store
            .save_snapshot(&id, &Organization::replay(&events).snapshot())
            .await
            .unwrap();
        raw(&url, &sql.replace("{s}", &name)).await;
        let result = match read {
            Read::Snapshots => store.load_snapshot(&id).await.map(|_| ()),
            Read::SignIns => store.sign_ins_after(&id, 0).await.map(|_| ()),
            Read::Events => store.read(&id, 0).await.map(|_| ()),
        };
        match result {
            Err(StoreError::Corrupt(message)) => {
                assert!(message.contains(word), "{what}: {message}")
            }
            other => panic!("{what}: expected StoreError::Corrupt, got {other:?}"),
        }
        if what == "a negative version" || what == "a negative position" {
            // Reading only the tail, or past the end, still notices.
            let tails = if what.contains("version") {
                [
                    store.read(&id, 4).await.map(|_| ()),
                    store.read(&id, 5).await.map(|_| ()),
                ]
            } else {
                [
                    store.sign_ins_after(&id, 1).await.map(|_| ()),
                    store.sign_ins_after(&id, 100).await.map(|_| ()),
                ]
            };
            for tail in tails {
                assert!(
                    matches!(tail, Err(StoreError::Corrupt(_))),
                    "{what}: {tail:?}"
                );
            }
        }
        store.drop_schema().await.unwrap();
    }
}

/// Large batches: one append of 1000 events is one statement; 110 of them
/// read back as one stream. Prints the times (figures, not a timed test).
#[tokio::test(flavor = "multi_thread")]
async fn large_batches_round_trip() {
    let Some(url) = url() else { return };
    let store = store(&url).await;
    let id = org("large");
    let batch = conformance::sample_events(1_000);
    let mut appends = Vec::new();
    for i in 0..110u64 {
        let began = Instant::now();
        assert_eq!(
            store.append(&id, i * 1_000, &batch).await.unwrap(),
            (i + 1) * 1_000
        );
        appends.push(began.elapsed());
    }
    appends.sort();
    let began = Instant::now();
    let all = store.read(&id, 0).await.unwrap();
    let read = began.elapsed();
    assert_eq!(all.len(), 110_000);
    assert!(all.chunks(1_000).all(|chunk| chunk == batch));
    let began = Instant::now();
    let tail = store.read(&id, 109_990).await.unwrap();
    let tail_read = began.elapsed();
    assert_eq!(tail, batch[990..]);
    eprintln!(
        "append of 1000 events in one batch: median {:?}, best {:?}; \
         read of 110000 events: {read:?}; read of the last 10: {tail_read:?}",
        appends[appends.len() / 2],
        appends[0]
    );
    store.drop_schema().await.unwrap();
}
