//! Commands: what an actor asks an organization to do.

use jiff::Timestamp;

use std::time::Duration;

use crate::{Assignee, Email, GroupName, LicenseKind, MailSettings, RoleName, ServiceName};

/// Most addresses one invitation may name (use a CSV file for more).
pub const MAX_INVITEES: usize = 20;
/// Most groups one invitation may name.
pub const MAX_INVITE_GROUPS: usize = 20;
/// Longest organization name, in characters.
pub const MAX_ORGANIZATION_NAME_CHARS: usize = 100;

/// Who is acting, and when.
///
/// The core reads no clock: the caller passes `now`, so deciding is
/// deterministic and testable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The signed-in person issuing the command.
    pub actor: Email,
    /// The time the command is issued.
    pub now: Timestamp,
}

impl Context {
    /// A context for `actor` at `now`.
    pub fn new(actor: Email, now: Timestamp) -> Context {
        Context { actor, now }
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
    /// Members of `group` receive `kind` (at most `quota` of them). Replaces
    /// the group's previous rule; current members receive it at once.
    SetGroupLicenseRule {
        /// The group (not `Everyone`).
        group: GroupName,
        /// A kind with a pool.
        kind: LicenseKind,
        /// At most this many members (at least 1), or all.
        quota: Option<u32>,
    },
    /// Remove a group's license rule; what it granted is released.
    RemoveGroupLicenseRule {
        /// The group.
        group: GroupName,
    },
    /// Allocate a license to a member directly (pending members too). It
    /// replaces what the member inherits from groups.
    AllocateLicense {
        /// The member.
        user: Email,
        /// A kind with a free seat.
        kind: LicenseKind,
    },
    /// Take a directly allocated license back.
    DeallocateLicense {
        /// The member.
        user: Email,
        /// The kind.
        kind: LicenseKind,
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
