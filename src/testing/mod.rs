//! Test support (feature `testing`; strategies also need `proptest`).
//!
//! - [`Scenario`]: given events or commands, when a command, then events,
//!   a refusal (state unchanged), nothing, or a query result; every `then`
//!   checks that the history replays to the state and no invariant broke.
//! - [`check_invariants`] and [`check_replay`]: what holds in every
//!   reachable state, and that events rebuild one state however replayed.
//! - [`conformance`]: the checks any [`Store`](crate::Store) must pass, with
//!   a [`StoreFactory`](conformance::StoreFactory) to reopen and damage
//!   stores that persist.
//! - `strategies` (feature `proptest`): addresses, group names, commands,
//!   histories and CSV uploads for property tests.
//! - [`FaultyStore`]: wraps a store and fails appends on demand, before or
//!   after writing, to test what callers do when storage fails.
//!
//! A store test: your store against the whole suite.
//!
//! ```
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! use org_accounts::InMemoryStore;
//! use org_accounts::testing::conformance;
//!
//! conformance::run_all(|| async { InMemoryStore::new() }).await;
//! # });
//! ```
//!
//! A rule test, given / when / then:
//!
//! ```
//! use org_accounts::DomainError;
//! use org_accounts::testing::{ADMIN, Scenario, email, invite};
//!
//! Scenario::given_org()
//!     .invited(&["bob@example.com"], &[])
//!     .when(ADMIN, invite(&["Bob@Example.com"], &[]))
//!     .then_refused(DomainError::AlreadyMembers { emails: vec![email("Bob@Example.com")] });
//! ```
//!
//! A property (feature `proptest`): any history of accepted commands keeps
//! the invariants and replays. In a test file, the same in a `proptest!`
//! block.
//!
//! ```
//! # #[cfg(feature = "proptest")] {
//! use org_accounts::testing::strategies::history;
//! use org_accounts::testing::{check_invariants, check_replay};
//! use proptest::test_runner::{Config, TestRunner};
//!
//! TestRunner::new(Config::with_cases(16))
//!     .run(&history(25), |h| {
//!         proptest::prop_assert_eq!(check_invariants(&h.org), []);
//!         proptest::prop_assert_eq!(check_replay(&h.events), []);
//!         Ok(())
//!     })
//!     .unwrap();
//! # }
//! ```

pub mod conformance;
mod faulty;
mod invariants;
mod scenario;
#[cfg(feature = "proptest")]
pub mod strategies;

pub use faulty::{Fault, FaultyStore};
pub use invariants::{Broken, check_invariants, check_replay};
pub use scenario::{
    ADMIN, ORGANIZATION_NAME, Outcome, Scenario, at, ctx, email, emails, group, groups, invite,
    start,
};
