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

use jiff::Timestamp;

use crate::{Event, InvitationEmail, MailSettings, Snapshot, UserId};

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

/// An organization's event stream.
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
    ) -> Result<Version, StoreError>;

    /// The events after version `after`, in order (the first returned is
    /// event `after + 1`).
    ///
    /// # Errors
    /// [`StoreError::Backend`] or [`StoreError::Corrupt`].
    fn read(&self, org: &OrganizationId, after: Version) -> Result<Vec<Event>, StoreError>;
}

/// The latest snapshot of each organization.
pub trait SnapshotStore: Send + Sync {
    /// Stores `snapshot`, replacing an older one (a snapshot older than the
    /// stored one is ignored).
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    fn save_snapshot(&self, org: &OrganizationId, snapshot: &Snapshot) -> Result<(), StoreError>;

    /// The latest snapshot, if any.
    ///
    /// # Errors
    /// [`StoreError::Backend`] or [`StoreError::Corrupt`].
    fn load_snapshot(&self, org: &OrganizationId) -> Result<Option<Snapshot>, StoreError>;
}

/// Sign-ins, kept apart from the event stream.
///
/// Each member has one Last active time that only moves forward. Every
/// write gets a position in a per-organization sequence, so a reader that
/// remembers where it stopped reads only newer sign-ins.
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
    ) -> Result<(), StoreError>;

    /// Sign-ins recorded after position `after` of the sequence (0: all),
    /// and the position to pass next time.
    ///
    /// # Errors
    /// [`StoreError::Backend`] or [`StoreError::Corrupt`].
    fn sign_ins_after(
        &self,
        org: &OrganizationId,
        after: u64,
    ) -> Result<(Vec<SignIn>, u64), StoreError>;
}

/// One member's latest sign-in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
impl<S: EventStore + ?Sized> EventStore for std::sync::Arc<S> {
    fn append(
        &self,
        org: &OrganizationId,
        expected: Version,
        events: &[Event],
    ) -> Result<Version, StoreError> {
        (**self).append(org, expected, events)
    }

    fn read(&self, org: &OrganizationId, after: Version) -> Result<Vec<Event>, StoreError> {
        (**self).read(org, after)
    }
}

impl<S: SnapshotStore + ?Sized> SnapshotStore for std::sync::Arc<S> {
    fn save_snapshot(&self, org: &OrganizationId, snapshot: &Snapshot) -> Result<(), StoreError> {
        (**self).save_snapshot(org, snapshot)
    }

    fn load_snapshot(&self, org: &OrganizationId) -> Result<Option<Snapshot>, StoreError> {
        (**self).load_snapshot(org)
    }
}

impl<S: ActivityStore + ?Sized> ActivityStore for std::sync::Arc<S> {
    fn record_sign_in(
        &self,
        org: &OrganizationId,
        user: UserId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        (**self).record_sign_in(org, user, at)
    }

    fn sign_ins_after(
        &self,
        org: &OrganizationId,
        after: u64,
    ) -> Result<(Vec<SignIn>, u64), StoreError> {
        (**self).sign_ins_after(org, after)
    }
}

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The credential reference could not be resolved. Handle: fix the
    /// host's secret store, then retry the delivery.
    #[error("the credential {0:?} is not available")]
    MissingCredential(String),
    /// The mail server could not be reached or refused the message. Handle:
    /// retry later.
    #[error("the mail server failed: {0}")]
    Transport(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Sends invitation emails through an organization's mail server.
pub trait Mailer: Send + Sync {
    /// Sends `email` through the server `settings` describe.
    ///
    /// # Errors
    /// [`MailError`]; the delivery stays queued and can be retried.
    fn send(&self, settings: &MailSettings, email: &InvitationEmail) -> Result<(), MailError>;
}
