//! Commands: what an actor asks an organization to do.

use jiff::Timestamp;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::{
    Assignee, DomainError, Email, GroupName, LicenseKind, MailSettings, RoleName, ServiceName,
};

/// Most addresses one invitation may name (use a CSV file for more).
pub const MAX_INVITEES: usize = 20;
/// Most groups one invitation may name.
pub const MAX_INVITE_GROUPS: usize = 20;
/// Longest organization name, in characters.
pub const MAX_ORGANIZATION_NAME_CHARS: usize = 100;

/// Who is acting, when, and within which limits.
///
/// The core reads no clock: the caller passes `now`, so deciding is
/// deterministic and testable. The [`Limits`] come from the host (never
/// from a command, so a tenant's administrator cannot raise them):
/// [`Context::new`] uses [`Limits::default`], and
/// [`Context::with_limits`] sets the host's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The signed-in person issuing the command.
    pub actor: Email,
    /// The time the command is issued.
    pub now: Timestamp,
    /// The bounds on what one organization may hold and one command may
    /// name, set by the host.
    pub limits: Limits,
}

impl Context {
    /// A context for `actor` at `now`, with the default [`Limits`].
    pub fn new(actor: Email, now: Timestamp) -> Context {
        Context {
            actor,
            now,
            limits: Limits::default(),
        }
    }

    /// The same context with the host's `limits`.
    ///
    /// ```
    /// use org_accounts::{Context, Email, Limits};
    ///
    /// let limits = Limits::default().with_custom_groups(100).with_services(20);
    /// let ctx = Context::new(Email::parse("ada@example.com")?, jiff::Timestamp::UNIX_EPOCH)
    ///     .with_limits(limits);
    /// assert_eq!(ctx.limits.custom_groups, 100);
    /// # Ok::<(), org_accounts::EmailError>(())
    /// ```
    pub fn with_limits(mut self, limits: Limits) -> Context {
        self.limits = limits;
        self
    }
}

/// The bounds on everything a tenant can grow, set per organization by the
/// host (through [`Context::with_limits`]), never by a command.
///
/// Many organizations share one host, and any organization's administrator
/// may be an attacker: every list a command can grow is bounded, so one
/// tenant cannot exhaust the host's memory or CPU. A command that would go
/// past a bound is refused with
/// [`DomainError::LimitReached`](crate::DomainError::LimitReached), which
/// names the bound; nothing changes.
///
/// The defaults allow a million-member organization with 100,000-member
/// groups (members themselves are not bounded here; a group grows through
/// several commands):
///
/// | bound | default |
/// | --- | --- |
/// | [`custom_groups`](Limits::custom_groups) in an organization | 5,000 |
/// | [`services`](Limits::services) in an organization | 500 |
/// | [`roles_per_service`](Limits::roles_per_service) (distinct, ignoring case) | 100 |
/// | [`license_kinds`](Limits::license_kinds) (license pools) in an organization | 500 |
/// | [`users_per_command`](Limits::users_per_command): addresses named in one `RemoveUsers`, `CreateGroup`, `AddGroupMembers` or `RemoveGroupMembers` | 10,000 |
///
/// Fixed bounds, the same for every host: at most 20 invitees and 20
/// groups per invitation ([`MAX_INVITEES`], [`MAX_INVITE_GROUPS`]), 1000
/// rows per CSV file, one default role per default group in a service (so
/// no more default roles than [`DefaultGroup::ALL`](crate::DefaultGroup::ALL)
/// has groups), one queued invitation email per member (resends collapse
/// onto it; see [`QueuedEmail`](crate::QueuedEmail)), delivery error text
/// of at most [`MAX_MAIL_ERROR_CHARS`](crate::MAX_MAIL_ERROR_CHARS)
/// characters, names of at most 64 characters (100 for an organization or
/// a sender name), and the mail settings' fields (see
/// [`MailSettings`](crate::MailSettings)).
///
/// Limits are checked when a command is decided, never when events are
/// applied: lowering a limit removes nothing from an organization that
/// holds more, it only refuses growth beyond the new bound.
///
/// ```
/// use org_accounts::Limits;
///
/// let limits = Limits::default();
/// assert_eq!(limits.custom_groups, 5_000);
/// assert_eq!(limits.users_per_command, 10_000);
/// let small = limits.with_roles_per_service(20).with_license_kinds(50);
/// assert_eq!((small.roles_per_service, small.license_kinds), (20, 50));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Limits {
    /// Most custom groups an organization may have.
    pub custom_groups: usize,
    /// Most services an organization may have.
    pub services: usize,
    /// Most roles one service may define (distinct, ignoring case).
    pub roles_per_service: usize,
    /// Most license kinds (license pools) an organization may have.
    pub license_kinds: usize,
    /// Most addresses one `RemoveUsers`, `CreateGroup`, `AddGroupMembers`
    /// or `RemoveGroupMembers` may name (repeats counted).
    pub users_per_command: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            custom_groups: 5_000,
            services: 500,
            roles_per_service: 100,
            license_kinds: 500,
            users_per_command: 10_000,
        }
    }
}

impl Limits {
    /// Sets the most custom groups an organization may have.
    pub fn with_custom_groups(mut self, n: usize) -> Limits {
        self.custom_groups = n;
        self
    }
    /// Sets the most services an organization may have.
    pub fn with_services(mut self, n: usize) -> Limits {
        self.services = n;
        self
    }
    /// Sets the most roles one service may define.
    pub fn with_roles_per_service(mut self, n: usize) -> Limits {
        self.roles_per_service = n;
        self
    }
    /// Sets the most license kinds (pools) an organization may have.
    pub fn with_license_kinds(mut self, n: usize) -> Limits {
        self.license_kinds = n;
        self
    }
    /// Sets the most addresses one command may name.
    pub fn with_users_per_command(mut self, n: usize) -> Limits {
        self.users_per_command = n;
        self
    }

    /// Refuses `given` addresses in one command when over
    /// [`users_per_command`](Limits::users_per_command).
    pub(crate) fn check_users(&self, given: usize) -> Result<(), DomainError> {
        if given > self.users_per_command {
            return Err(DomainError::LimitReached {
                what: "users named in one command",
                limit: self.users_per_command,
            });
        }
        Ok(())
    }
}

/// What an actor asks the organization to do.
///
/// Users are named by email address, groups by name (case-insensitively).
/// Every administrative command requires the actor to be an active member
/// of `Administrators`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Command {
    /// Create the organization; the actor becomes its first member, active
    /// and in Administrators.
    CreateOrganization {
        /// Display name, 1 to [`MAX_ORGANIZATION_NAME_CHARS`] characters.
        name: String,
    },
    /// Invite 1 to [`MAX_INVITEES`] addresses into 0 to
    /// [`MAX_INVITE_GROUPS`] groups; all invitees get the same groups and are
    /// Pending until they accept.
    ///
    /// All or nothing: if any address is already a member, listed twice, or
    /// any group is unknown, nobody is invited and the error lists every
    /// offending address or group. Naming `Everyone` is a no-op; naming a
    /// group twice counts once.
    InviteUsers {
        /// The addresses to invite.
        emails: Vec<Email>,
        /// The groups every invitee joins.
        groups: Vec<GroupName>,
    },
    /// The actor, a pending member, accepts their invitation and signs in.
    AcceptInvitation,
    /// The actor, an active member, signed in: Last active moves to `now`
    /// (never backwards; an older sign-in changes nothing).
    RecordSignIn,
    /// Remove members (pending or active). Never the actor, never the last
    /// active administrator. Removed users leave every group. Naming a user
    /// twice counts once.
    RemoveUsers {
        /// Who to remove.
        emails: Vec<Email>,
    },
    /// Create a custom group whose initial members are already members of
    /// the organization.
    CreateGroup {
        /// A name no other group has (case-insensitively).
        name: GroupName,
        /// Initial members (may be empty).
        members: Vec<Email>,
    },
    /// Rename a custom group.
    RenameGroup {
        /// The group to rename.
        group: GroupName,
        /// Its new name; may differ from the old one only in case.
        new_name: GroupName,
    },
    /// Delete a custom group; its members stay in the organization.
    DeleteGroup {
        /// The group to delete.
        group: GroupName,
    },
    /// Add members of the organization to a group. Members already in it are
    /// left as they are (no error, no event).
    AddGroupMembers {
        /// The group (not `Everyone`).
        group: GroupName,
        /// Who joins.
        members: Vec<Email>,
    },
    /// Take members out of a group. Users who are members of the
    /// organization but not of the group are left as they are.
    RemoveGroupMembers {
        /// The group (not `Everyone`).
        group: GroupName,
        /// Who leaves.
        members: Vec<Email>,
    },
    /// Add a service. Administrators get `admin_role`; each default group
    /// named in `default_roles` gets its role (`Everyone` cannot have one);
    /// custom groups get nothing until assigned.
    AddService {
        /// A name no other service has (ignoring case).
        name: ServiceName,
        /// The roles the service defines (at least its administrator role).
        roles: Vec<RoleName>,
        /// The role Administrators get; one of `roles`.
        admin_role: RoleName,
        /// Default groups other than Administrators and Everyone, each with
        /// one of `roles`.
        default_roles: Vec<(GroupName, RoleName)>,
    },
    /// Remove a service and all its role assignments.
    RemoveService {
        /// The service.
        service: ServiceName,
    },
    /// Give a group or member one of a service's roles (no-op if held).
    AssignRole {
        /// The service.
        service: ServiceName,
        /// Who gets it.
        to: Assignee,
        /// One of the service's roles.
        role: RoleName,
    },
    /// Take a role assignment away (no-op if not held). A default group's
    /// default role cannot be revoked.
    RevokeRole {
        /// The service.
        service: ServiceName,
        /// Who loses it.
        from: Assignee,
        /// The role.
        role: RoleName,
    },
    /// Create a license pool or change its seats (never below the seats in
    /// use).
    SetLicensePool {
        /// The license kind.
        kind: LicenseKind,
        /// Seats in the pool.
        seats: u32,
    },
    /// Remove a license pool whose seats are all free.
    RemoveLicensePool {
        /// The license kind.
        kind: LicenseKind,
    },
    /// Set a group's license rule: its members lease each of these kinds
    /// at sign-in, at most `quota` of them per kind if set. Replaces the
    /// group's previous rule; no kinds removes it. A quota lower than the
    /// leases it holds now is refused (`quota_in_use`).
    SetGroupLicenseRule {
        /// The group (not `Everyone`).
        group: GroupName,
        /// Kinds with a pool, each with its quota (at least 1), or `None`
        /// for every member.
        licenses: BTreeMap<LicenseKind, Option<u32>>,
    },
    /// Remove a group's license rule; its leases are released (or move to
    /// another of the holder's groups giving the same kind).
    RemoveGroupLicenseRule {
        /// The group.
        group: GroupName,
    },
    /// Add a kind to a member's user-level allocation (pending members
    /// too). User-level allocation replaces what their groups give.
    AllocateLicense {
        /// The member.
        user: Email,
        /// A kind with a free seat.
        kind: LicenseKind,
    },
    /// Set a member's user-level allocation to exactly `kinds` ("Allocate
    /// to User"); no kinds: the member holds no license at all until
    /// [`UseGroupLicenses`](Command::UseGroupLicenses).
    SetUserLicenses {
        /// The member.
        user: Email,
        /// Kinds with a pool; each one not held yet needs a free seat.
        kinds: BTreeSet<LicenseKind>,
    },
    /// Take a kind out of a member's user-level allocation; they stay on
    /// user-level allocation (with nothing left: no license).
    DeallocateLicense {
        /// The member.
        user: Email,
        /// The kind.
        kind: LicenseKind,
    },
    /// Switch a member back to group-based allocation: direct licenses are
    /// released and their groups' licenses leased at their next sign-in.
    UseGroupLicenses {
        /// The member.
        user: Email,
    },
    /// "Release license": free a member's seat of `kind`. A group lease is
    /// leased again at a later sign-in if a seat is free; a direct license
    /// leaves their user-level allocation.
    ReleaseLicense {
        /// The member.
        user: Email,
        /// The kind they hold.
        kind: LicenseKind,
    },
    /// The actor, an active member who just signed in, leases what their
    /// groups give while quota and seats last. The service appends it
    /// after a sign-in (see
    /// [`AccountService::grant_due_leases`](crate::AccountService::grant_due_leases)).
    LeaseLicenses,
    /// Release the group leases of members with no sign-in for the
    /// organization's idle period, as of the context's `now`. Hosts run it
    /// periodically (for example daily), or call
    /// [`AccountService::release_idle_leases`](crate::AccountService::release_idle_leases).
    ReleaseIdleLeases,
    /// Set how long a group lease lasts without sign-in (at least a day;
    /// 90 days unless set).
    SetLicenseIdlePeriod {
        /// The period.
        after: jiff::SignedDuration,
    },
    /// Use a custom mail server for invitation emails.
    SetMailSettings {
        /// The settings.
        settings: MailSettings,
    },
    /// Stop sending invitation emails.
    ClearMailSettings,
    /// How long invitations stay valid (`None`: forever, the default).
    SetInvitationExpiry {
        /// The validity period (at least one minute).
        after: Option<Duration>,
    },
    /// Send a pending member's invitation again; an expired one is renewed.
    ResendInvitation {
        /// The invitee.
        user: Email,
    },
    /// Withdraw a pending invitation: the invitee is removed.
    RevokeInvitation {
        /// The invitee.
        user: Email,
    },
}
