//! The in-memory store passes the store conformance suite.
#![cfg(feature = "testing")]

use org_accounts::InMemoryStore;
use org_accounts::testing::conformance;

#[test]
fn in_memory_store_conforms() {
    conformance::run_all(InMemoryStore::new);
}
