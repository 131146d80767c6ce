//! Adapters: the ports implemented over real storage and mail servers, each
//! in its own module behind its feature (the in-memory store is always
//! built).

pub(crate) mod memory;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "smtp")]
pub(crate) mod smtp;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;
