//! The PostgreSQL store passes the conformance suite. Needs a server: set
//! `ORG_ACCOUNTS_PG_URL` (`.ci/run` does); without it the tests say loudly
//! that they were skipped.
#![cfg(all(feature = "postgres", feature = "testing"))]
// Tests and benches assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::atomic::{AtomicUsize, Ordering};

use org_accounts::testing::conformance;
use org_accounts::{EventStore, OrganizationId, PostgresStore};

fn url() -> Option<String> {
    match std::env::var("ORG_ACCOUNTS_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "\n*** SKIPPED: PostgreSQL store tests need ORG_ACCOUNTS_PG_URL \
                 (e.g. postgres://postgres@127.0.0.1:5432/test); .ci/run sets it ***\n"
            );
            None
        }
    }
}

/// A schema of its own per store, so runs and tests never share data.
fn schema() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "org_accounts_test_{}_{}_{}",
        std::process::id(),
        jiff::Timestamp::now().as_millisecond(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

#[test]
fn postgres_store_conforms() {
    let Some(url) = url() else { return };
    let schemas = std::sync::Mutex::new(Vec::new());
    conformance::run_all(|| {
        let name = schema();
        schemas.lock().unwrap().push(name.clone());
        PostgresStore::connect_with_schema(&url, &name).unwrap()
    });
    for name in schemas.into_inner().unwrap() {
        PostgresStore::connect_with_schema(&url, &name)
            .unwrap()
            .drop_schema()
            .unwrap();
    }
}

#[test]
fn two_connections_see_each_other_and_conflict() {
    let Some(url) = url() else { return };
    let name = schema();
    let a = PostgresStore::connect_with_schema(&url, &name).unwrap();
    let b = PostgresStore::connect_with_schema(&url, &name).unwrap();
    let id = OrganizationId::new("acme").unwrap();
    let events = conformance::sample_events(4);
    a.append(&id, 0, &events[..2]).unwrap();
    assert_eq!(b.read(&id, 0).unwrap(), events[..2]);
    assert!(b.append(&id, 0, &events[2..]).is_err());
    b.append(&id, 2, &events[2..]).unwrap();
    assert_eq!(a.read(&id, 0).unwrap(), events);
    drop(b);
    a.drop_schema().unwrap();
}

#[test]
fn schema_names_are_checked() {
    let Some(url) = url() else { return };
    let err = PostgresStore::connect_with_schema(&url, "bad; DROP TABLE x").unwrap_err();
    assert!(
        err.to_string().contains("not an allowed schema name"),
        "{err}"
    );
}

/// Damage the tables by hand: every read reports it, nothing is skipped.
#[test]
fn damaged_rows_are_corruption() {
    use org_accounts::{ActivityStore, Organization, SnapshotStore, StoreError};
    let Some(url) = url() else { return };
    let id = OrganizationId::new("acme").unwrap();
    let events = conformance::sample_events(5);
    let user: org_accounts::UserId = serde_json::from_str("1").unwrap();
    let cases = [
        (
            "a gap",
            "DELETE FROM {s}.events WHERE version = 3",
            "missing event 3",
        ),
        (
            "a negative version",
            "INSERT INTO {s}.events SELECT org, -1, data FROM {s}.events WHERE version = 1",
            "-1",
        ),
        (
            "an event that is not JSON",
            "UPDATE {s}.events SET data = '{x' WHERE version = 4",
            "event 4",
        ),
        (
            "a negative position",
            "UPDATE {s}.activity SET position = -3",
            "-3",
        ),
        (
            "a negative user id",
            "UPDATE {s}.activity SET user_id = -5",
            "-5",
        ),
        (
            "a snapshot that is not JSON",
            "UPDATE {s}.snapshots SET data = 'x'",
            "snapshot",
        ),
        (
            "a snapshot with another version",
            "UPDATE {s}.snapshots SET version = 2",
            "version 2",
        ),
    ];
    for (what, sql, word) in cases {
        let name = schema();
        let store = PostgresStore::connect_with_schema(&url, &name).unwrap();
        store.append(&id, 0, &events).unwrap();
        store
            .record_sign_in(&id, user, "2026-01-01T00:00:00Z".parse().unwrap())
            .unwrap();
        store
            .save_snapshot(&id, &Organization::replay(&events).snapshot())
            .unwrap();
        let mut raw = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        raw.batch_execute(&sql.replace("{s}", &name)).unwrap();
        let result = if what.contains("snapshot") {
            store.load_snapshot(&id).map(|_| ())
        } else if what.contains("position") || what.contains("user id") {
            store.sign_ins_after(&id, 0).map(|_| ())
        } else {
            store.read(&id, 0).map(|_| ())
        };
        match result {
            Err(StoreError::Corrupt(message)) => {
                assert!(message.contains(word), "{what}: {message}")
            }
            other => panic!("{what}: expected StoreError::Corrupt, got {other:?}"),
        }
        if what == "a negative version" || what == "a negative position" {
            // Reading only the tail still notices the damage.
            let tail = if what.contains("version") {
                store.read(&id, 4).map(|_| ())
            } else {
                store.sign_ins_after(&id, 1).map(|_| ())
            };
            assert!(
                matches!(tail, Err(StoreError::Corrupt(_))),
                "{what}: {tail:?}"
            );
        }
        store.drop_schema().unwrap();
    }
}
