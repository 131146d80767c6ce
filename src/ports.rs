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
//! - [`MailPolicy`]: which mail hosts and credentials an organization may
//!   use; asked before mail settings are saved and again at each
//!   connection ([`DefaultMailPolicy`](crate::DefaultMailPolicy) is the
//!   default).
//!
//! Implementations must be safe to share between threads. Errors from a
//! database driver are boxed into [`StoreError::Backend`]; driver types never
//! appear in these signatures.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{CredentialRef, Event, InvitationEmail, MailError, MailSettings, Snapshot, UserId};

/// The number of events an organization has; the version after appending
/// `n` events to version `v` is `v + n`. A new organization is at 0.
pub type Version = u64;

/// The longest [`OrganizationId`], in characters (= bytes: they are all
/// ASCII).
pub const MAX_ORGANIZATION_ID_CHARS: usize = 128;

/// Identifies an organization in a store: chosen by the host, derived from
/// its own tenant ids (a slug such as `acme-corp`, a UUID, `tenant:42`).
///
/// 1 to [`MAX_ORGANIZATION_ID_CHARS`] characters, each an ASCII letter or
/// digit or one of `.`, `_`, `:` and `-`. Nothing else is accepted:
/// no spaces (not even around the id), no control, format, bidi or
/// zero-width characters, nothing outside ASCII, so two ids that look
/// alike are the same id, and an id is safe in a log line, a file name, an
/// environment variable name part and a SQL parameter. Ids are compared
/// exactly (`Acme` and `acme` are two organizations).
///
/// ```
/// use org_accounts::OrganizationId;
///
/// assert!(OrganizationId::new("acme-corp").is_ok());
/// assert!(OrganizationId::new("3f2c8a4e-6b1d-4f7a-9c3e-2d5b8e1f0a7c").is_ok());
/// assert!(OrganizationId::new(" acme").is_err());
/// assert!(OrganizationId::new("acme\u{200B}").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrganizationId(String);

impl OrganizationId {
    /// Checks and wraps a host-chosen id.
    ///
    /// # Errors
    /// [`InvalidOrganizationId`] when the id is empty, longer than
    /// [`MAX_ORGANIZATION_ID_CHARS`], or holds a character other than
    /// `A`-`Z`, `a`-`z`, `0`-`9`, `.`, `_`, `:` and `-`.
    pub fn new(id: impl Into<String>) -> Result<OrganizationId, InvalidOrganizationId> {
        let id = id.into();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
        if id.is_empty() || id.len() > MAX_ORGANIZATION_ID_CHARS || !id.chars().all(allowed) {
            return Err(InvalidOrganizationId::of(&id));
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

/// An organization id that cannot be used. Its message quotes (escaped,
/// and cut to 40 characters) the id that was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{shown} is not a valid organization id: use 1 to 128 characters, each a letter or digit (A-Z, a-z, 0-9) or one of . _ : - (no spaces or other characters)"
)]
pub struct InvalidOrganizationId {
    shown: String,
}

impl InvalidOrganizationId {
    fn of(id: &str) -> InvalidOrganizationId {
        let mut shown: String = id.chars().take(40).collect();
        if shown.len() < id.len() {
            shown.push_str("...");
        }
        // `{:?}` escapes quotes, controls, and bidi and zero-width
        // characters, so the message is safe to print.
        InvalidOrganizationId {
            shown: format!("{shown:?}"),
        }
    }
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
///
/// Implementing it: plain `async fn`s (here over a map behind a lock; see
/// `tests/host_store.rs` for a whole store kept in files, which passes the
/// conformance suite):
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
///
/// use org_accounts::{ConflictError, Event, EventStore, OrganizationId, StoreError, Version};
///
/// #[derive(Default)]
/// struct MapStore(Mutex<HashMap<OrganizationId, Vec<Event>>>);
///
/// impl EventStore for MapStore {
///     async fn append(
///         &self,
///         org: &OrganizationId,
///         expected: Version,
///         events: &[Event],
///     ) -> Result<Version, StoreError> {
///         let mut all = self.0.lock().map_err(|_| StoreError::Corrupt("poisoned".into()))?;
///         let stream = all.entry(org.clone()).or_default();
///         let actual = stream.len() as Version;
///         if actual != expected {
///             return Err(ConflictError { expected, actual }.into());
///         }
///         stream.extend_from_slice(events);
///         Ok(stream.len() as Version)
///     }
///
///     async fn read(&self, org: &OrganizationId, after: Version) -> Result<Vec<Event>, StoreError> {
///         let all = self.0.lock().map_err(|_| StoreError::Corrupt("poisoned".into()))?;
///         let stream = all.get(org).map(Vec::as_slice).unwrap_or_default();
///         Ok(stream.iter().skip(after as usize).cloned().collect())
///     }
/// }
/// ```
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

/// Which mail hosts and credentials an organization may use: the host's
/// defence against a tenant administrator who points their mail settings
/// at the host's internal network or names the host's secrets.
///
/// Asked twice:
/// - by the [`AccountService`](crate::AccountService) before it decides
///   [`Command::SetMailSettings`](crate::Command::SetMailSettings)
///   ([`check_settings`](MailPolicy::check_settings); see
///   [`AccountService::with_mail_policy`](crate::AccountService::with_mail_policy)):
///   refused settings are never stored;
/// - by the mailer at each delivery
///   ([`allowed_addresses`](MailPolicy::allowed_addresses)), since what a
///   name resolves to can change after it was saved (DNS rebinding): the
///   [`SmtpMailer`](crate::SmtpMailer) resolves the name once, through the
///   policy, and connects to one of the addresses the policy returned,
///   never to the name.
///
/// The [`DefaultMailPolicy`](crate::DefaultMailPolicy) allows public
/// internet addresses only. The `SmtpMailer` is a policy too: its inner
/// policy for addresses, its credential resolver for credentials.
///
/// Methods return `Send` futures, like the other ports.
pub trait MailPolicy: Send + Sync {
    /// The socket addresses mail for `org` to `host:port` may be sent to:
    /// `host` resolved once, and every address checked. Connect only to one
    /// of these.
    ///
    /// # Errors
    /// [`MailRefusal::HostNotAllowed`] when the name does not resolve, or
    /// resolves to an address the policy refuses (then nothing is
    /// returned, even if other addresses would be allowed: a name that
    /// mixes public and internal addresses is refused as a whole).
    fn allowed_addresses(
        &self,
        org: &OrganizationId,
        host: &str,
        port: u16,
    ) -> impl Future<Output = Result<Vec<SocketAddr>, MailRefusal>> + Send;

    /// Whether the host holds the secret `reference` for `org`. Never the
    /// secret itself; and whether a secret of that name exists for another
    /// organization or the host must make no difference.
    fn credential_exists(
        &self,
        org: &OrganizationId,
        reference: &CredentialRef,
    ) -> impl Future<Output = bool> + Send;

    /// Whether credentials may be sent without TLS to `address` (one that
    /// [`allowed_addresses`](MailPolicy::allowed_addresses) returned).
    /// Default: never. (The core also refuses settings with
    /// authentication and TLS off; this guards settings stored before.)
    fn allows_credentials_without_tls(&self, address: SocketAddr) -> bool {
        let _ = address;
        false
    }

    /// Whether `org` may save `settings`: the host is allowed
    /// ([`allowed_addresses`](MailPolicy::allowed_addresses)) and, with
    /// authentication, the credential is the organization's own
    /// ([`credential_exists`](MailPolicy::credential_exists)).
    ///
    /// # Errors
    /// The [`MailRefusal`] to show the administrator.
    fn check_settings(
        &self,
        org: &OrganizationId,
        settings: &MailSettings,
    ) -> impl Future<Output = Result<(), MailRefusal>> + Send {
        async move {
            self.allowed_addresses(org, settings.host.trim(), settings.port)
                .await?;
            if let Some(auth) = &settings.auth
                && !self.credential_exists(org, &auth.credential).await
            {
                return Err(MailRefusal::CredentialNotAvailable);
            }
            Ok(())
        }
    }
}

/// Why a [`MailPolicy`] refuses mail settings or a connection. The
/// messages are meant for the tenant's administrator: they name the
/// problem and reveal nothing of the host (not what an internal name
/// resolves to, not whether a secret exists elsewhere).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MailRefusal {
    /// The mail host does not resolve, or resolves to an address the
    /// host's policy does not allow (loopback, private, link-local,
    /// metadata, ...). Handle: use a public mail server (HTTP 422).
    #[error(
        "the mail host {host:?} is not allowed: it must resolve to public internet addresses only, and it does not (or does not resolve at all)"
    )]
    HostNotAllowed {
        /// The host name as given (cut to 253 characters).
        host: String,
    },
    /// The credential reference names no secret the host holds for this
    /// organization (whether or not such a secret exists for anyone
    /// else). Handle: ask the host's operator to provision it (HTTP 422).
    #[error(
        "the credential reference is not available to this organization; ask the operator of this service to provide it"
    )]
    CredentialNotAvailable,
}

impl MailRefusal {
    /// A refusal of `host`.
    pub fn host_not_allowed(host: &str) -> MailRefusal {
        MailRefusal::HostNotAllowed {
            host: host.chars().take(253).collect(),
        }
    }
}

impl<P: MailPolicy + ?Sized> MailPolicy for Arc<P> {
    fn allowed_addresses(
        &self,
        org: &OrganizationId,
        host: &str,
        port: u16,
    ) -> impl Future<Output = Result<Vec<SocketAddr>, MailRefusal>> + Send {
        (**self).allowed_addresses(org, host, port)
    }

    fn credential_exists(
        &self,
        org: &OrganizationId,
        reference: &CredentialRef,
    ) -> impl Future<Output = bool> + Send {
        (**self).credential_exists(org, reference)
    }

    fn allows_credentials_without_tls(&self, address: SocketAddr) -> bool {
        (**self).allows_credentials_without_tls(address)
    }

    fn check_settings(
        &self,
        org: &OrganizationId,
        settings: &MailSettings,
    ) -> impl Future<Output = Result<(), MailRefusal>> + Send {
        (**self).check_settings(org, settings)
    }
}

/// A shared mailer is a mailer (the host keeps a handle, for example to
/// observe it).
impl<M: Mailer + ?Sized> Mailer for Arc<M> {
    fn send(
        &self,
        org: &OrganizationId,
        settings: &MailSettings,
        email: &InvitationEmail,
    ) -> impl Future<Output = Result<(), MailError>> + Send {
        (**self).send(org, settings, email)
    }
}
