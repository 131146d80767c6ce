//! The SQLite store passes the conformance suite, in memory and on disk,
//! and keeps its data across reopening.
#![cfg(all(feature = "sqlite", feature = "testing"))]

use org_accounts::testing::conformance;
use org_accounts::{EventStore, OrganizationId, SnapshotStore, SqliteStore};

#[test]
fn sqlite_in_memory_conforms() {
    conformance::run_all(|| SqliteStore::open_in_memory().unwrap());
}

#[test]
fn sqlite_file_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let counter = std::sync::atomic::AtomicUsize::new(0);
    conformance::run_all(|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        SqliteStore::open(dir.path().join(format!("store-{n}.sqlite"))).unwrap()
    });
}

#[test]
fn data_survives_reopening_and_two_handles_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accounts.sqlite");
    let id = OrganizationId::new("acme").unwrap();
    let events = conformance::sample_events(4);
    {
        let a = SqliteStore::open(&path).unwrap();
        let b = SqliteStore::open(&path).unwrap();
        a.append(&id, 0, &events[..2]).unwrap();
        assert_eq!(b.read(&id, 0).unwrap(), events[..2]);
        assert!(
            b.append(&id, 0, &events[2..]).is_err(),
            "the second handle must see the first's version"
        );
        b.append(&id, 2, &events[2..]).unwrap();
        let snapshot = org_accounts::Organization::replay(&events).snapshot();
        a.save_snapshot(&id, &snapshot).unwrap();
    }
    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(reopened.read(&id, 0).unwrap(), events);
    assert_eq!(reopened.load_snapshot(&id).unwrap().unwrap().version(), 4);
}

#[test]
fn a_database_from_a_newer_library_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("future.sqlite");
    drop(SqliteStore::open(&path).unwrap());
    bump_user_version(&path);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(err.to_string().contains("upgrade org-accounts"), "{err}");
}

/// Sets `PRAGMA user_version` to 99 through the file format itself (the
/// header's user version is the big-endian u32 at byte offset 60; closing
/// the last connection checkpointed the WAL into the file).
fn bump_user_version(path: &std::path::Path) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[60..64].copy_from_slice(&99u32.to_be_bytes());
    std::fs::write(path, bytes).unwrap();
}
