//! Account administration for multi-user organizations: the engine behind an
//! "Admin > Accounts & groups" page, without the page.
//!
//! Administrators invite people (one at a time, up to 20 at once, or a CSV
//! file of up to 1000), see who is still Pending, remove people, organise
//! them into default and custom groups, map groups to the roles of
//! services, hand out licenses, and send invitation emails through the
//! organization's own mail server.
//!
//! # What a host does
//!
//! A host builds one [`AccountService`] over a store and awaits its
//! methods in its request handlers; every organization (tenant) of the host
//! goes through it, named by an [`OrganizationId`]. Commands are decided,
//! stored as events, and return what they stored; queries read the
//! organization's latest state without copying it.
//!
//! ```
//! use org_accounts::{
//!     AccountService, Command, Context, CsvOptions, Email, GroupName, InMemoryStore,
//!     MemberQuery, OrganizationId, Timestamp, read_invite_csv,
//! };
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The service is async; a host awaits it on its own runtime (axum,
//! // tokio::spawn). Here a small runtime runs the example.
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! runtime.block_on(async {
//!     // 1. The service over a store: InMemoryStore here, SqliteStore or
//!     //    PostgresStore (features `sqlite`, `postgres`) in production.
//!     let accounts = AccountService::new(InMemoryStore::new());
//!     let org = OrganizationId::new("example-corp")?;
//!     let now: Timestamp = "2026-11-28T09:00:00Z".parse()?;
//!     // Who acts, and when: from the host's authentication and clock.
//!     let ada = Context::new(Email::parse("ada@example.com")?, now);
//!
//!     accounts
//!         .execute(&org, &Command::CreateOrganization { name: "Example Corp".into() }, &ada)
//!         .await?;
//!     let finance = GroupName::parse("Finance")?;
//!     accounts
//!         .execute(&org, &Command::CreateGroup { name: finance.clone(), members: vec![] }, &ada)
//!         .await?;
//!
//!     // 2. Invite: up to 20 addresses, all into the same groups.
//!     let invite = Command::InviteUsers {
//!         emails: org_accounts::parse_address_list("bob@example.com, cy@example.com")?,
//!         groups: vec![finance.clone()],
//!     };
//!     accounts.execute(&org, &invite, &ada).await?;
//!
//!     // 3. Bulk-invite the bytes of an uploaded CSV file, and show the
//!     //    Error Summary: good rows are invited, the others explained.
//!     let upload = b"email,group membership,Department\n\
//!                    dee@example.com,finance,Sales\n\
//!                    not-an-address,Finance,Sales\n\
//!                    eve@example.com,Finanse,Ops\n";
//!     let file = read_invite_csv(upload, &CsvOptions::default())?;
//!     let report = accounts.bulk_invite(&org, &file, &ada, false).await?;
//!     assert_eq!(report.totals().invited, 1);
//!     assert_eq!(report.totals().failed, 2);
//!     let table = report.to_string(); // also JSON (serde) and failed_rows_csv()
//!     assert!(table.starts_with("3 rows: 1 invited, 0 skipped, 2 failed."));
//!     assert!(table.contains("Some or all groups were invalid: no group is named \"Finanse\""));
//!
//!     // 4. Read the users page: email, Last active (None = Pending), groups.
//!     let pending = accounts
//!         .read(&org, |state| {
//!             state
//!                 .members_page(&MemberQuery::new())
//!                 .rows
//!                 .iter()
//!                 .filter(|row| row.last_active().is_none())
//!                 .map(|row| row.email().to_string())
//!                 .collect::<Vec<_>>()
//!         })
//!         .await?;
//!     assert_eq!(pending, ["bob@example.com", "cy@example.com", "dee@example.com"]);
//!     Ok::<(), Box<dyn std::error::Error>>(())
//! })?;
//! # Ok(())
//! # }
//! ```
//!
//! Commands that would send an invitation email queue it instead (when the
//! organization has mail settings); [`AccountService::deliver`], run as a
//! host's background task, sends what is queued through a [`Mailer`]
//! (`SmtpMailer` with the feature `smtp`).
//! Errors say how to handle them: [`ServiceError::code`] is a stable code,
//! and refusals (a [`DomainError`]) are separate from conflicts and store
//! failures.
//!
//! # Stores and features
//!
//! | store | feature | |
//! |---|---|---|
//! | [`InMemoryStore`] | always built | tests, examples, hosts that keep nothing |
//! | `SqliteStore` | `sqlite` | one machine; bundled SQLite, nothing to install |
//! | `PostgresStore` | `postgres` | several service instances over one database, on the host's `sqlx` pool |
//! | your own | | implement [`EventStore`], [`SnapshotStore`] and [`ActivityStore`]; the `testing` feature's conformance suite checks it |
//!
//! The feature `smtp` adds `SmtpMailer`, and `testing` the store conformance
//! suite and a fault-injecting store. Each gated item says which feature it
//! needs.
//!
//! # The pure core
//!
//! Under the service is a pure core: no I/O, no clock, no async. An
//! [`Organization`] is built from [`Event`]s; a [`Command`] with a
//! [`Context`] (who acts, and when) is decided into new events, or refused
//! with a [`DomainError`] that says what to fix. Hosts that keep their own
//! event log drive it directly: store the events (they are also the audit
//! log) and apply them.
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
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

// The three rings of the design, innermost first: the pure core (no I/O,
// no clock, no async), the ports it needs from the world, and the adapters
// and application service around them. `tests/core_purity.rs` keeps the
// core pure.
mod core;
mod ports;
mod runtime;

mod adapters;
mod files;
mod service;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use crate::core::bulk::{
    BulkInvite, CsvError, CsvOptions, CsvRow, DEFAULT_MAX_FILE_BYTES, ImportReport, ImportTotals,
    InviteFile, MAX_CSV_ROWS, RowError, RowOutcome, RowReport, SkipReason, inert_csv_cell,
    read_invite_csv,
};
pub use crate::core::command::{
    Command, Context, Limits, MAX_INVITE_GROUPS, MAX_INVITEES, MAX_ORGANIZATION_NAME_CHARS,
};
pub use crate::core::email::{
    AddressListError, Email, EmailError, EmailErrorKind, MAX_EMAIL_BYTES, MAX_LOCAL_PART_BYTES,
    parse_address_list,
};
pub use crate::core::error::DomainError;
pub use crate::core::event::{EVENT_SCHEMA_VERSION, Event, EventKind};
pub use crate::core::ids::{GroupId, NotificationId, ServiceId, UserId};
pub use crate::core::mail::{
    CredentialRef, InvitationEmail, MAX_CREDENTIAL_REF_CHARS, MAX_MAIL_ERROR_CHARS,
    MAX_MAIL_HOST_BYTES, MAX_SENDER_NAME_CHARS, MAX_SMTP_USERNAME_BYTES, MailError, MailErrorKind,
    MailSettings, SmtpAuth,
};
pub use crate::core::names::{
    GroupName, GroupNameError, GroupNameErrorKind, LicenseKind, MAX_GROUP_NAME_CHARS,
    MAX_NAME_CHARS, NameError, RoleName, ServiceName, is_hidden_character,
};
pub use crate::core::organization::{
    Assignee, DEFAULT_LICENSE_IDLE_PERIOD, DefaultGroup, Group, GroupKind, Holder,
    InvitationStatus, LicenseRule, LicenseSource, LicenseWait, MAX_DELIVERY_ATTEMPTS,
    MIN_LICENSE_IDLE_PERIOD, Member, MemberLicenses, MemberStatus, Organization, OrganizationRole,
    QueuedEmail, RoleGrant, RoleSource, SeatUsage, Service, WaitReason,
};
pub use crate::core::query::{
    Cursor, DEFAULT_PAGE_SIZE, DEFAULT_SCAN_LIMIT, MemberPage, MemberQuery, MemberRow, SortBy,
    SortOrder, StatusFilter,
};
pub use crate::core::snapshot::{SNAPSHOT_SCHEMA_VERSION, Snapshot, SnapshotError};

pub use crate::ports::{
    ActivityStore, ConflictError, EventStore, InvalidOrganizationId, MAX_ORGANIZATION_ID_CHARS,
    MailPolicy, MailRefusal, Mailer, OrganizationId, SignIn, SnapshotStore, Store, StoreError,
    Version,
};

pub use crate::adapters::memory::InMemoryStore;
pub use crate::adapters::policy::{DEFAULT_LOOKUP_TIMEOUT, DefaultMailPolicy};
pub use crate::files::{CsvFileError, read_invite_csv_file};
pub use crate::service::{
    AccountService, DEFAULT_CACHE_CAPACITY, DEFAULT_DELIVERIES_PER_ORGANIZATION, Delivery,
    Executed, ServiceConfig, ServiceError,
};

/// The in-memory store: always built; for tests, examples and hosts that
/// keep nothing on disk.
pub mod memory {
    pub use crate::adapters::memory::InMemoryStore;
}

/// The SQLite store (feature `sqlite`): the embedded default.
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite {
    pub use crate::adapters::sqlite::{DEFAULT_BUSY_TIMEOUT, SqliteStore};
}
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use crate::adapters::sqlite::SqliteStore;

/// The PostgreSQL store (feature `postgres`).
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres {
    pub use crate::adapters::postgres::{DEFAULT_POOL_SIZE, DEFAULT_SCHEMA, PostgresStore};
}
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use crate::adapters::postgres::PostgresStore;

/// SMTP delivery of invitation emails (feature `smtp`).
#[cfg(feature = "smtp")]
#[cfg_attr(docsrs, doc(cfg(feature = "smtp")))]
pub mod smtp {
    pub use crate::adapters::smtp::SmtpMailer;
}
#[cfg(feature = "smtp")]
#[cfg_attr(docsrs, doc(cfg(feature = "smtp")))]
pub use crate::adapters::smtp::SmtpMailer;

pub use jiff::Timestamp;
