//! Test support (feature `testing`).
//!
//! - [`conformance`]: checks any [`Store`](crate::Store) must pass: ordering,
//!   atomicity, conflicts, snapshots, sign-ins, concurrent appenders. Run
//!   [`conformance::run_all`] from a test of your own store.
//! - [`FaultyStore`]: wraps a store and fails appends on demand, before or
//!   after writing, to test what callers do when storage fails.

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
