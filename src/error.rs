//! Why a command was refused.

use std::fmt::Display;

use crate::{Email, GroupName};

/// A command was refused; the organization is unchanged.
///
/// Every message says what to fix. [`DomainError::code`] gives a stable
/// snake_case code for APIs and scripts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// Any command but `CreateOrganization` on an organization that does not
    /// exist. Handle: create it first, or check the organization id.
    #[error("the organization does not exist yet; create it first")]
    NotCreated,
    /// `CreateOrganization` on an existing organization. Handle: load it
    /// instead of creating it.
    #[error("the organization already exists")]
    AlreadyCreated,
    /// The organization name is empty, too long or holds control characters.
    /// Handle: show the message; let the person retype the name.
    #[error(
        "the organization name {name:?} is not valid: use 1 to 100 characters, without control characters"
    )]
    InvalidOrganizationName {
        /// The name given.
        name: String,
    },
    /// The actor is not an active member of Administrators. Handle: show the
    /// message; do not retry.
    #[error(
        "{actor} is not an active administrator of this organization; only organization administrators can manage accounts"
    )]
    Forbidden {
        /// Who tried.
        actor: Email,
    },
    /// An invitation with no address. Handle: ask for at least one address.
    #[error("no email addresses were given; enter 1 to 20 addresses")]
    NoInvitees,
    /// More than [`MAX_INVITEES`](crate::MAX_INVITEES) addresses. Handle:
    /// split the list, or upload a CSV file.
    #[error(
        "{given} email addresses were given; invite at most 20 at a time, or upload a CSV file of up to 1000"
    )]
    TooManyInvitees {
        /// How many were given.
        given: usize,
    },
    /// More than [`MAX_INVITE_GROUPS`](crate::MAX_INVITE_GROUPS) groups.
    /// Handle: choose fewer groups.
    #[error("{given} groups were given; choose at most 20")]
    TooManyGroups {
        /// How many were given.
        given: usize,
    },
    /// Some named groups do not exist. Handle: show the names; fix the
    /// spelling or create the groups first.
    #[error(
        "no group is named {}; check the spelling or create the group first",
        list(names)
    )]
    UnknownGroups {
        /// Every unknown name, in input order.
        names: Vec<GroupName>,
    },
    /// An invitation names an address more than once. Handle: remove the
    /// repeats and resend.
    #[error("listed more than once: {}; list each address once", list(emails))]
    DuplicateInvitees {
        /// Each repeated address, once.
        emails: Vec<Email>,
    },
    /// Some invitees are already members (pending or active). Handle: remove
    /// them from the list and resend; nobody was invited.
    #[error(
        "already members of this organization: {}; remove them from the list",
        list(emails)
    )]
    AlreadyMembers {
        /// Every address that is already a member.
        emails: Vec<Email>,
    },
    /// Some named users are not members. Handle: show the addresses; invite
    /// them first, or fix the spelling.
    #[error(
        "not members of this organization: {}; invite them first",
        list(emails)
    )]
    UnknownUsers {
        /// Every address that is not a member.
        emails: Vec<Email>,
    },
    /// An administrator tried to remove their own user. Handle: ask another
    /// administrator.
    #[error("cannot remove your own user; ask another administrator to remove you")]
    CannotRemoveSelf,
    /// The command would leave no active member in Administrators. Handle:
    /// make another active member an administrator first.
    #[error(
        "this would leave the organization without an active administrator; add another active member to Administrators first"
    )]
    LastAdministrator,
    /// `AcceptInvitation` by someone who has no invitation. Handle: ask an
    /// administrator for an invitation.
    #[error("{email} has no invitation to this organization; ask an administrator to invite you")]
    NotInvited {
        /// Who tried.
        email: Email,
    },
    /// `AcceptInvitation` by an active member. Handle: treat it as a sign-in.
    #[error("{email} has already accepted the invitation")]
    AlreadyAccepted {
        /// Who tried.
        email: Email,
    },
    /// `RecordSignIn` by a pending member. Handle: accept the invitation
    /// first.
    #[error("{email} has not accepted the invitation yet; accept it first")]
    InvitationNotAccepted {
        /// Who tried.
        email: Email,
    },
    /// `RecordSignIn` by someone who is not a member. Handle: deny access.
    #[error("{email} is not a member of this organization")]
    NotAMember {
        /// Who tried.
        email: Email,
    },
    /// Another group already has this name (ignoring case). Handle: choose
    /// another name.
    #[error("a group named {name} already exists; choose another name")]
    GroupNameTaken {
        /// The existing group's name.
        name: GroupName,
    },
    /// Renaming or deleting a default group. Handle: show the message.
    #[error("{name} is a default group; default groups cannot be renamed or deleted")]
    DefaultGroupImmutable {
        /// The default group.
        name: GroupName,
    },
    /// Editing the members of `Everyone`. Handle: show the message.
    #[error("every member is in Everyone; its members cannot be edited")]
    EveryoneImplicit,
    /// A removal or membership change that names nobody. Handle: ask for at
    /// least one address.
    #[error("no users were given; name at least one")]
    NoUsers,
}

impl DomainError {
    /// A stable snake_case code for this refusal, for APIs and scripts.
    pub fn code(&self) -> &'static str {
        match self {
            DomainError::NotCreated => "not_created",
            DomainError::AlreadyCreated => "already_created",
            DomainError::InvalidOrganizationName { .. } => "invalid_organization_name",
            DomainError::Forbidden { .. } => "forbidden",
            DomainError::NoInvitees => "no_invitees",
            DomainError::TooManyInvitees { .. } => "too_many_invitees",
            DomainError::TooManyGroups { .. } => "too_many_groups",
            DomainError::UnknownGroups { .. } => "unknown_groups",
            DomainError::DuplicateInvitees { .. } => "duplicate_invitees",
            DomainError::AlreadyMembers { .. } => "already_members",
            DomainError::UnknownUsers { .. } => "unknown_users",
            DomainError::CannotRemoveSelf => "cannot_remove_self",
            DomainError::LastAdministrator => "last_administrator",
            DomainError::NotInvited { .. } => "not_invited",
            DomainError::AlreadyAccepted { .. } => "already_accepted",
            DomainError::InvitationNotAccepted { .. } => "invitation_not_accepted",
            DomainError::NotAMember { .. } => "not_a_member",
            DomainError::GroupNameTaken { .. } => "group_name_taken",
            DomainError::DefaultGroupImmutable { .. } => "default_group_immutable",
            DomainError::EveryoneImplicit => "everyone_implicit",
            DomainError::NoUsers => "no_users",
        }
    }
}

fn list<T: Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
