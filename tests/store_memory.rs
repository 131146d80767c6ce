//! The in-memory store passes the store conformance suite.
#![cfg(feature = "testing")]
// Tests and benches assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use org_accounts::InMemoryStore;
use org_accounts::testing::conformance;

#[tokio::test(flavor = "multi_thread")]
async fn in_memory_store_conforms() {
    conformance::run_all(|| async { InMemoryStore::new() }).await;
}
