//! What a host crate writes with `features = ["testing", "proptest"]`:
//! properties over the crate's strategies and store tests over the
//! conformance suite, a few lines each, public API only.
#![cfg(all(feature = "testing", feature = "proptest"))]
// Tests and benches assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use org_accounts::testing::strategies::{
    command_for, email_spellings, excel_csv_file, history, hostile_csv_file, hostile_email,
    valid_email,
};
use org_accounts::testing::{Scenario, check_invariants, check_replay, conformance};
use org_accounts::{Context, CsvOptions, Email, InMemoryStore, read_invite_csv};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn valid_addresses_parse(s in valid_email()) {
        prop_assert!(Email::parse(&s).is_ok(), "{:?} was refused", s);
    }

    #[test]
    fn spellings_are_one_address((a, b) in email_spellings()) {
        prop_assert_eq!(Email::parse(&a).unwrap(), Email::parse(&b).unwrap());
    }

    #[test]
    fn hostile_addresses_are_refused(s in hostile_email()) {
        prop_assert!(Email::parse(&s).is_err(), "{:?} was accepted", s);
    }

    #[test]
    fn excel_files_read_every_row(upload in excel_csv_file()) {
        let file = read_invite_csv(&upload.bytes, &CsvOptions::default()).unwrap();
        prop_assert_eq!(file.len(), upload.emails.len());
    }

    #[test]
    fn hostile_files_never_panic(bytes in hostile_csv_file()) {
        let _ = read_invite_csv(&bytes, &CsvOptions::default());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Any history keeps the invariants and replays.
    #[test]
    fn histories_keep_the_invariants(h in history(30)) {
        prop_assert_eq!(check_invariants(&h.org), []);
        prop_assert_eq!(check_replay(&h.events), []);
    }

    /// One more command on a scenario's organization.
    #[test]
    fn a_command_keeps_the_invariants(
        (actor, command) in command_for(&Scenario::given_org().invited(&["bob@example.com"], &["Administrators"]).org)
    ) {
        let mut org = Scenario::given_org().invited(&["bob@example.com"], &["Administrators"]).org;
        let _ = org.execute(&command, &Context::new(actor, org_accounts::testing::at(60)));
        prop_assert_eq!(check_invariants(&org), []);
    }
}

/// Histories are not trivial: most steps are accepted.
#[test]
fn histories_reach_deep_states() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut steps, mut members) = (0, 0);
    for _ in 0..20 {
        let h = history(30).new_tree(&mut runner).unwrap().current();
        steps += h.steps.len();
        members += h.org.member_count();
    }
    assert!(
        steps > 20 * 8,
        "only {steps} steps accepted in 20 histories"
    );
    assert!(members > 20 * 3, "only {members} members in 20 histories");
}

/// A store test: the suite over the host's store.
#[tokio::test(flavor = "multi_thread")]
async fn the_in_memory_store_conforms() {
    conformance::run_all(|| async { InMemoryStore::new() }).await;
}

/// A persisting store: store `n` is a file; opening it again reopens it.
#[cfg(feature = "sqlite")]
mod sqlite {
    use org_accounts::SqliteStore;
    use org_accounts::testing::conformance::{self, StoreFactory};

    struct Files(tempfile::TempDir);

    impl StoreFactory for Files {
        type Store = SqliteStore;
        async fn open(&self, n: usize) -> SqliteStore {
            SqliteStore::open(self.0.path().join(format!("{n}.db"))).unwrap()
        }
        fn persists(&self) -> bool {
            true
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn sqlite_files_conform_and_survive_reopening() {
        conformance::run_all_with(&Files(tempfile::tempdir().unwrap())).await;
    }
}
