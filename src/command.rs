//! Commands: what an actor asks an organization to do.

use jiff::Timestamp;

use crate::{Email, GroupName};

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
}
