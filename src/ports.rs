//! Ports: what the application service needs from the outside world:
//! storage and mail. Narrow traits, so a host can back each with what suits
//! it.
//!
//! - [`EventStore`]: an organization's events, appended with an expected
//!   version (optimistic concurrency), read back in order.
//! - [`SnapshotStore`]: the latest [`Snapshot`] of an organization.
//! - [`ActivityStore`]: sign-ins (Last active), kept out of the event stream
//!   so frequent sign-ins never make administrators' commands conflict.
//! - [`Mailer`]: sends invitation emails through an organization's mail
//!   server.
//!
//! Implementations must be safe to share between threads. Errors from a
//! database driver are boxed into [`StoreError::Backend`]; driver types never
//! appear in these signatures.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{Event, InvitationEmail, MailError, MailSettings, Snapshot, UserId};

/// The number of events an organization has; the version after appending
/// `n` events to version `v` is `v + n`. A new organization is at 0.
pub type Version = u64;

/// Identifies an organization in a store: chosen by the host (a tenant id,
/// a UUID, ...). 1 to 200 bytes, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrganizationId(String);

impl OrganizationId {
    /// Checks and wraps a host-chosen id.
    ///
    /// # Errors
    /// [`InvalidOrganizationId`] when the id is empty, longer than 200
    /// bytes, or holds control characters.
    pub fn new(id: impl Into<String>) -> Result<OrganizationId, InvalidOrganizationId> {
        let id = id.into();
        if id.is_empty() || id.len() > 200 || id.chars().any(char::is_control) {
            return Err(InvalidOrganizationId { id });
        }
        Ok(OrganizationId(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrganizationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An organization id that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{id:?} is not a valid organization id: use 1 to 200 bytes without control characters")]
pub struct InvalidOrganizationId {
    id: String,
}

/// Another writer appended first: the events were not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the organization changed while this command was decided (expected version {expected}, found {actual}); reload it and decide again"
)]
pub struct ConflictError {
    /// The version the append expected.
    pub expected: Version,
    /// The version the store holds.
    pub actual: Version,
}

/// A store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Optimistic concurrency: someone else appended first; nothing was
    /// stored. Handle: reload, decide again, append again (the
    /// [`AccountService`](crate::AccountService) does this).
    #[error(transparent)]
    Conflict(#[from] ConflictError),
    /// The storage backend failed (I/O, database, lock timeout). Handle:
    /// report it; the operation may be retried later. For an append, the
    /// events may or may not have been stored: reload before retrying.
    #[error("the store failed: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Stored data cannot be read (corrupt, or written by a newer library).
    /// Handle: report it; do not retry.
    #[error("stored data cannot be read: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::Backend(Box::new(error))
    }
}

/// An organization's event stream: append with an expected version
/// (optimistic concurrency), read back in order.
///
/// The methods return `Send` futures, so a host awaits them in axum
/// handlers and `tokio::spawn`ed tasks; an implementation writes them as
/// plain `async fn`s. (Native `async fn` in traits, no boxing: the service
/// is generic over its store, so the traits need not be object-safe.) A
/// blocking driver must run its work on the runtime's blocking pool (see
/// the SQLite store) rather than block the calling task.
///
/// What every implementation must do, and
/// [`conformance`](crate::testing::conformance) (feature `testing`)
/// checks:
/// - `append` is all or nothing: either every event is stored, numbered
///   `expected + 1 ..= expected + n`, or none is.
/// - `append` at a version other than the stored one stores nothing and
///   returns [`StoreError::Conflict`] with both versions. Of several
///   concurrent appends at the same expected version (threads, processes or
///   nodes), exactly one succeeds.
/// - An empty append returns `expected` when the organization is at
///   `expected` (and conflicts otherwise); it stores nothing.
/// - `read(org, after)` returns the events numbered `after + 1` onwards, in
///   order, exactly as appended (equal by `==`); reading at or past the end
///   returns nothing, never an error.
/// - Organizations are independent streams.
/// - Data that cannot be read back (damaged rows, gaps, negative versions)
///   is [`StoreError::Corrupt`], never skipped and never a panic.
/// - What was appended survives reopening the store (for stores that
///   persist).
pub trait EventStore: Send + Sync {
    /// Appends `events` after version `expected`, all or nothing. Returns
    /// the new version (`expected + events.len()`).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the organization is not at `expected`
    /// (nothing is stored); [`StoreError::Backend`] when storage fails.
    fn append(
        &self,
        org: &OrganizationId,
        expected: Version,
        events: &[Event],
    ) -> impl Future<Output = Result<Version, StoreError>> + Send;

    /// The events after version `after`, in order (the first returned is
    /// event `after + 1`).
    ///
    /// # Errors
    /// [`StoreError::Backend`] or [`StoreError::Corrupt`].
    fn read(
        &self,
        org: &OrganizationId,
        after: Version,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;
}

/// The latest snapshot of each organization.
///
/// Rules (checked by the conformance suite): loading returns the snapshot
/// with the highest version saved; saving one at a lower or the same
/// version as the stored one changes nothing; a snapshot that cannot be
/// read back is [`StoreError::Corrupt`] (the service then rebuilds the
/// organization from its events).
pub trait SnapshotStore: Send + Sync {
    /// Stores `snapshot`, replacing an older one (a snapshot not newer than
    /// the stored one is ignored).
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn save_snapshot(
        &self,
        org: &OrganizationId,
        snapshot: &Snapshot,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The latest snapshot, if any.
    ///
    /// # Errors
    /// [`StoreError::Backend`] or [`StoreError::Corrupt`].
    fn load_snapshot(
        &self,
        org: &OrganizationId,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send;
}

/// Sign-ins, kept apart from the event stream.
///
/// Each member has one Last active time that only moves forward. Every
/// write that moves it gets a position in a per-organization sequence, so a
/// reader that remembers where it stopped reads only newer sign-ins.
///
/// Rules (checked by the conformance suite):
/// - A sign-in not later than the stored one changes nothing: not the
///   time, not the position.
/// - Positions only grow, and **become visible in order**: once a reader
///   has seen position `p`, no sign-in with a position at or below `p` may
///   appear later (a reader that remembers `p` would skip it forever). A
///   store that numbers sign-ins from a sequence whose values can commit
///   out of order must serialize the numbering per organization (the
///   PostgreSQL and SQLite stores number inside the writing transaction,
///   under a per-organization row lock).
/// - `sign_ins_after(org, p)` returns each member at most once, with the
///   latest time, and the position to pass next time (at least `p`).
pub trait ActivityStore: Send + Sync {
    /// Records that `user` signed in at `at` (ignored if not later than
    /// what is stored).
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn record_sign_in(
        &self,
        org: &OrganizationId,
        user: UserId,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Sign-ins recorded after position `after` of the sequence (0: all),
    /// and the position to pass next time.
    ///
    /// # Errors
    /// [`StoreError::Backend`] or [`StoreError::Corrupt`].
    fn sign_ins_after(
        &self,
        org: &OrganizationId,
        after: u64,
    ) -> impl Future<Output = Result<(Vec<SignIn>, u64), StoreError>> + Send;
}

/// One member's latest sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignIn {
    /// Who.
    pub user: UserId,
    /// When.
    pub at: Timestamp,
}

/// Everything the [`AccountService`](crate::AccountService) needs.
pub trait Store: EventStore + SnapshotStore + ActivityStore {}
impl<T: EventStore + SnapshotStore + ActivityStore> Store for T {}

/// A shared store is a store: several services (or a service and the host)
/// can hold the same one.
impl<S: EventStore + ?Sized> EventStore for Arc<S> {
    fn append(
        &self,
        org: &OrganizationId,
        expected: Version,
        events: &[Event],
    ) -> impl Future<Output = Result<Version, StoreError>> + Send {
        (**self).append(org, expected, events)
    }

    fn read(
        &self,
        org: &OrganizationId,
        after: Version,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send {
        (**self).read(org, after)
    }
}

impl<S: SnapshotStore + ?Sized> SnapshotStore for Arc<S> {
    fn save_snapshot(
        &self,
        org: &OrganizationId,
        snapshot: &Snapshot,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).save_snapshot(org, snapshot)
    }

    fn load_snapshot(
        &self,
        org: &OrganizationId,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send {
        (**self).load_snapshot(org)
    }
}

impl<S: ActivityStore + ?Sized> ActivityStore for Arc<S> {
    fn record_sign_in(
        &self,
        org: &OrganizationId,
        user: UserId,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).record_sign_in(org, user, at)
    }

    fn sign_ins_after(
        &self,
        org: &OrganizationId,
        after: u64,
    ) -> impl Future<Output = Result<(Vec<SignIn>, u64), StoreError>> + Send {
        (**self).sign_ins_after(org, after)
    }
}

/// Sends invitation emails through an organization's mail server.
///
/// `org` names the organization whose settings these are, so a mailer can
/// resolve secrets per organization (a tenant must never reach another's,
/// or the host's). Implementations return `Send` futures and never block
/// the calling task.
pub trait Mailer: Send + Sync {
    /// Sends `email` through the server `settings` describe.
    ///
    /// # Errors
    /// [`MailError`]; the email stays queued and its kind says whether a
    /// retry can help.
    fn send(
        &self,
        org: &OrganizationId,
        settings: &MailSettings,
        email: &InvitationEmail,
    ) -> impl Future<Output = Result<(), MailError>> + Send;
}
