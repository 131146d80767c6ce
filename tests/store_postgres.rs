//! The PostgreSQL store passes the conformance suite. Needs a server: set
//! `ORG_ACCOUNTS_PG_URL` (`.ci/run` does); without it the tests say loudly
//! that they were skipped.
#![cfg(all(feature = "postgres", feature = "testing"))]

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
