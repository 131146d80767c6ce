//! Adapters: the ports implemented over real storage and mail servers, each
//! in its own module behind its feature (the in-memory store is always
//! built, and so is the default mail policy).

pub(crate) mod memory;
pub(crate) mod policy;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "smtp")]
pub(crate) mod smtp;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;
