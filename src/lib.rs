//! Account administration for multi-user organizations: the engine behind an
//! "Admin > Accounts & groups" page, without the page.
//!
//! Administrators invite people (one at a time, up to 20 at once, or a CSV
//! file of up to 1000), see who is still Pending, remove people, and
//! organise them into default and custom groups.
//!
//! # Overview
//!
//! The core is pure: no I/O, no clock. An [`Organization`] is built from
//! [`Event`]s; a [`Command`] with a [`Context`] (who acts, and when) is
//! decided into new events, or refused with a [`DomainError`] that says what
//! to fix. Store the events (they are also the audit log) and apply them.
//!
//! ```
//! use org_accounts::{Command, Context, Email, GroupName, Organization, MemberQuery};
//!
//! let now: jiff::Timestamp = "2026-11-28T09:00:00Z".parse()?;
//! let admin = Context::new(Email::parse("ada@example.com")?, now);
//!
//! // Create the organization; Ada is its first, active administrator.
//! let mut org = Organization::new();
//! org.execute(&Command::CreateOrganization { name: "Example Corp".into() }, &admin)?;
//!
//! // Invite two people into a custom group.
//! let finance = GroupName::parse("Finance")?;
//! org.execute(&Command::CreateGroup { name: finance.clone(), members: vec![] }, &admin)?;
//! let invited = org.execute(
//!     &Command::InviteUsers {
//!         emails: org_accounts::parse_address_list("bob@example.com, cy@example.com")?,
//!         groups: vec![finance.clone()],
//!     },
//!     &admin,
//! )?;
//! assert_eq!(invited.len(), 2);
//! assert_eq!(org.pending_count(), 2);
//!
//! // Remove one of them: they leave every group.
//! org.execute(
//!     &Command::RemoveUsers { emails: vec![Email::parse("cy@example.com")?] },
//!     &admin,
//! )?;
//! let page = org.members_page(&MemberQuery::new().in_group(finance));
//! let emails: Vec<&str> = page.rows.iter().map(|r| r.email().as_str()).collect();
//! assert_eq!(emails, ["bob@example.com"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Refusals leave the organization unchanged:
//!
//! ```
//! # use org_accounts::{Command, Context, Email, Organization, DomainError};
//! # let now: jiff::Timestamp = "2026-11-28T09:00:00Z".parse()?;
//! # let admin = Context::new(Email::parse("ada@example.com")?, now);
//! # let mut org = Organization::new();
//! # org.execute(&Command::CreateOrganization { name: "Example Corp".into() }, &admin)?;
//! let before = org.clone();
//! let err = org
//!     .execute(&Command::RemoveUsers { emails: vec![Email::parse("ada@example.com")?] }, &admin)
//!     .unwrap_err();
//! assert_eq!(err, DomainError::CannotRemoveSelf);
//! assert_eq!(err.to_string(), "cannot remove your own user; ask another administrator to remove you");
//! assert_eq!(org, before);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Rules
//!
//! - Only active members of `Administrators` (Organization Administrators)
//!   run administrative commands; there is always at least one.
//! - Default groups (`Administrators`, `Automation Users`, `Automation
//!   Developers`, `Citizen Developers`, `Automation Express`, `Everyone`)
//!   are never renamed or deleted. Every member is implicitly in
//!   `Everyone`, which is never listed and cannot be edited.
//! - Custom group names are unique ignoring case; members must already be
//!   in the organization.
//! - Email addresses are compared ignoring case and displayed as typed
//!   (see [`Email`]).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// The three rings of the design, innermost first: the pure core (no I/O,
// no clock, no async), the ports it needs from the world, and the adapters
// and application service around them. `tests/core_purity.rs` keeps the
// core pure.
mod core;
mod ports;

mod adapters;
mod files;
mod service;
#[cfg(feature = "testing")]
pub mod testing;

pub use crate::core::bulk::{
    BulkInvite, CsvError, CsvOptions, CsvRow, DEFAULT_MAX_FILE_BYTES, ImportReport, ImportTotals,
    InviteFile, MAX_CSV_ROWS, RowError, RowOutcome, RowReport, SkipReason, read_invite_csv,
};
pub use crate::core::command::{
    Command, Context, MAX_INVITE_GROUPS, MAX_INVITEES, MAX_ORGANIZATION_NAME_CHARS,
};
pub use crate::core::email::{
    AddressListError, Email, EmailError, EmailErrorKind, MAX_EMAIL_BYTES, MAX_LOCAL_PART_BYTES,
    parse_address_list,
};
pub use crate::core::error::DomainError;
pub use crate::core::event::{EVENT_SCHEMA_VERSION, Event, EventKind};
pub use crate::core::ids::{GroupId, NotificationId, ServiceId, UserId};
pub use crate::core::mail::{
    CredentialRef, InvitationEmail, MailError, MailErrorKind, MailSettings, SmtpAuth,
};
pub use crate::core::names::{
    GroupName, GroupNameError, GroupNameErrorKind, LicenseKind, MAX_GROUP_NAME_CHARS,
    MAX_NAME_CHARS, NameError, RoleName, ServiceName,
};
pub use crate::core::organization::{
    Assignee, DefaultGroup, Group, GroupKind, Holder, InvitationStatus, LicenseRule, LicenseSource,
    Member, MemberStatus, Organization, OrganizationRole, QueuedEmail, RoleGrant, RoleSource,
    SeatUsage, Service,
};
pub use crate::core::query::{
    Cursor, DEFAULT_PAGE_SIZE, DEFAULT_SCAN_LIMIT, MemberPage, MemberQuery, MemberRow, SortBy,
    SortOrder, StatusFilter,
};
pub use crate::core::snapshot::{SNAPSHOT_SCHEMA_VERSION, Snapshot, SnapshotError};

pub use crate::ports::{
    ActivityStore, ConflictError, EventStore, InvalidOrganizationId, Mailer, OrganizationId,
    SignIn, SnapshotStore, Store, StoreError, Version,
};

pub use crate::adapters::memory::InMemoryStore;
pub use crate::files::{CsvFileError, read_invite_csv_file};
pub use crate::service::{AccountService, Delivery, Executed, ServiceConfig, ServiceError};

/// The in-memory store: always built; for tests, examples and hosts that
/// keep nothing on disk.
pub mod memory {
    pub use crate::adapters::memory::InMemoryStore;
}

/// The SQLite store (feature `sqlite`): the embedded default.
#[cfg(feature = "sqlite")]
pub mod sqlite {
    pub use crate::adapters::sqlite::{DEFAULT_BUSY_TIMEOUT, SqliteStore};
}
#[cfg(feature = "sqlite")]
pub use crate::adapters::sqlite::SqliteStore;

/// The PostgreSQL store (feature `postgres`).
#[cfg(feature = "postgres")]
pub mod postgres {
    pub use crate::adapters::postgres::{DEFAULT_POOL_SIZE, DEFAULT_SCHEMA, PostgresStore};
}
#[cfg(feature = "postgres")]
pub use crate::adapters::postgres::PostgresStore;

/// SMTP delivery of invitation emails (feature `smtp`).
#[cfg(feature = "smtp")]
pub mod smtp {
    pub use crate::adapters::smtp::SmtpMailer;
}
#[cfg(feature = "smtp")]
pub use crate::adapters::smtp::SmtpMailer;

pub use jiff::Timestamp;
