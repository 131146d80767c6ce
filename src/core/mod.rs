//! The pure core: values, the `Organization` aggregate, commands, events,
//! errors, queries, snapshots and the bulk CSV path. No I/O, no clock, no
//! randomness, no async runtime: time and the actor come in the
//! [`Context`](command::Context), new ids from counters in the state.
//! Nothing here may use the ports, the adapters or the service; the check
//! `tests/core_purity.rs` (run by `.ci/run`) enforces it.

pub(crate) mod bulk;
pub(crate) mod command;
pub(crate) mod email;
pub(crate) mod error;
pub(crate) mod event;
pub(crate) mod ids;
pub(crate) mod mail;
pub(crate) mod names;
pub(crate) mod organization;
pub(crate) mod query;
pub(crate) mod snapshot;
