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

mod bulk;
mod command;
mod email;
mod error;
mod event;
mod group;
mod group_name;
mod ids;
mod licenses;
mod mail;
mod name;
mod organization;
mod query;
mod roles;
mod service;
#[cfg(feature = "smtp")]
mod smtp;
mod snapshot;
mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use bulk::{
    BulkInvite, CsvError, CsvOptions, CsvRow, DEFAULT_MAX_FILE_BYTES, ImportReport, ImportTotals,
    InviteFile, MAX_CSV_ROWS, RowError, RowOutcome, RowReport, SkipReason, read_invite_csv,
};
pub use bulk::{CsvFileError, read_invite_csv_file};
pub use command::{Command, Context, MAX_INVITE_GROUPS, MAX_INVITEES, MAX_ORGANIZATION_NAME_CHARS};
pub use email::{
    AddressListError, Email, EmailError, EmailErrorKind, MAX_EMAIL_BYTES, MAX_LOCAL_PART_BYTES,
    parse_address_list,
};
pub use error::DomainError;
pub use event::{EVENT_SCHEMA_VERSION, Event, EventKind};
pub use group::{DefaultGroup, Group, GroupKind};
pub use group_name::{GroupName, GroupNameError, GroupNameErrorKind, MAX_GROUP_NAME_CHARS};
pub use ids::{GroupId, NotificationId, ServiceId, UserId};
pub use licenses::{LicenseRule, LicenseSource, SeatUsage};
pub use mail::{CredentialRef, InvitationEmail, MailError, MailSettings, Mailer, SmtpAuth};
pub use name::{LicenseKind, MAX_NAME_CHARS, NameError, RoleName, ServiceName};
pub use organization::{InvitationStatus, Member, MemberStatus, Organization, QueuedEmail};
pub use query::{
    Cursor, DEFAULT_PAGE_SIZE, DEFAULT_SCAN_LIMIT, MemberPage, MemberQuery, MemberRow, SortBy,
    SortOrder, StatusFilter,
};
pub use roles::{Assignee, Holder, OrganizationRole, RoleGrant, RoleSource, Service};

pub use service::{AccountService, Delivery, Executed, ServiceConfig, ServiceError};
#[cfg(feature = "smtp")]
pub use smtp::SmtpMailer;
pub use snapshot::{SNAPSHOT_SCHEMA_VERSION, Snapshot, SnapshotError};
pub use store::memory::InMemoryStore;
#[cfg(feature = "postgres")]
pub use store::postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use store::sqlite::{DEFAULT_BUSY_TIMEOUT, SqliteStore};
pub use store::{
    ActivityStore, ConflictError, EventStore, InvalidOrganizationId, OrganizationId, SignIn,
    SnapshotStore, Store, StoreError, Version,
};

pub use jiff::Timestamp;
