//! Why a command was refused.

use std::fmt::Display;

use crate::{Email, GroupName, LicenseKind, RoleName, ServiceName};

/// A command was refused; the organization is unchanged.
///
/// Every message says what to fix. [`DomainError::code`] gives a stable
/// snake_case code for APIs and scripts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// The organization does not exist yet.
    ///
    /// [`Organization::decide`](crate::Organization::decide) no longer
    /// returns it: a refusal that named a missing organization before
    /// checking the caller's rights told anyone which organizations exist.
    /// A command on an organization that does not exist now answers as an
    /// existing one answers an outsider: [`DomainError::Forbidden`] for an
    /// administrative command (nobody administers an organization that
    /// does not exist), [`DomainError::NotInvited`] or
    /// [`DomainError::NotAMember`] for a member's own. A host that needs to
    /// say "no organization yet" (it trusts the person, or the answer is
    /// its own) asks [`Organization::exists`](crate::Organization::exists)
    /// itself, for example through `AccountService::read`, and may use this
    /// variant, whose code stays `not_created`, for its answer.
    #[error("the organization does not exist yet; create it first")]
    NotCreated,
    /// `CreateOrganization` on an existing organization. Handle: load it
    /// instead of creating it.
    #[error("the organization already exists")]
    AlreadyCreated,
    /// The organization name is empty, over 100 characters, or holds a
    /// control, format or invisible character (the rule of every name: see
    /// [`NameError`](crate::NameError)). Handle: show the message; let the
    /// person retype the name.
    #[error(
        "the organization name {name:?} is not valid: use 1 to 100 characters, without control, formatting or invisible characters (retype it instead of pasting it)"
    )]
    InvalidOrganizationName {
        /// The name given.
        name: String,
    },
    /// The actor is not an active member of Administrators, or the
    /// organization does not exist (nobody administers it; the answer is
    /// the same so that it does not tell who probes which organizations
    /// exist: see [`DomainError::NotCreated`]). Handle: show the message;
    /// do not retry.
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
    /// No service has this name. Handle: check the spelling or add the
    /// service first.
    #[error("no service is named {name}; check the spelling or add the service first")]
    UnknownService {
        /// The name given.
        name: ServiceName,
    },
    /// Another service has this name. Handle: choose another name.
    #[error("a service named {name} already exists; choose another name")]
    ServiceNameTaken {
        /// The existing service's name.
        name: ServiceName,
    },
    /// A service definition does not hold together. Handle: show the reason.
    #[error("the service definition is not valid: {reason}")]
    InvalidService {
        /// What is wrong.
        reason: String,
    },
    /// The service does not define this role. Handle: pick one of its roles.
    #[error("{service} has no role named {role}; pick one of its roles")]
    UnknownRole {
        /// The service.
        service: ServiceName,
        /// The role given.
        role: RoleName,
    },
    /// Administrators always hold each service's administrator role: it is
    /// what lets organization administrators manage the service. Handle:
    /// show the message; to take someone's administration away, remove them
    /// from Administrators.
    #[error(
        "{role} is the administrator role of {service}, which {group} always hold so that organization administrators can manage it; it cannot be revoked (to take someone's administration away, remove them from {group})"
    )]
    DefaultRoleProtected {
        /// The service.
        service: ServiceName,
        /// The default group.
        group: GroupName,
        /// Its default role.
        role: RoleName,
    },
    /// There is no pool of this license kind. Handle: create the pool first.
    #[error("there is no pool of {kind} licenses; add one first")]
    UnknownLicenseKind {
        /// The kind given.
        kind: LicenseKind,
    },
    /// Not enough free seats: nothing was changed. Handle: add seats or free
    /// some, then retry.
    #[error(
        "not enough {kind} licenses: {needed} more needed, {free} free of {seats}; add seats or free some first"
    )]
    NoSeatsLeft {
        /// The license kind.
        kind: LicenseKind,
        /// Seats in the pool.
        seats: u32,
        /// Seats free.
        free: u32,
        /// Seats the command needs.
        needed: u32,
    },
    /// A pool cannot shrink below, or be removed with, seats in use. Handle:
    /// free seats first.
    #[error(
        "{used} {kind} {} in use; free {} before shrinking the pool to {seats}",
        if *used == 1 { "license is" } else { "licenses are" },
        if *used == 1 { "it" } else { "them" }
    )]
    SeatsInUse {
        /// The license kind.
        kind: LicenseKind,
        /// Seats in use.
        used: u32,
        /// Seats asked for.
        seats: u32,
    },
    /// A group license rule quota of zero. Handle: use at least 1, or no
    /// quota.
    #[error("a license quota must be at least 1; leave it out to give the license to every member")]
    InvalidQuota,
    /// The member does not hold this license directly. Handle: show the
    /// message.
    #[error("{email} has no {kind} license allocated directly")]
    NotAllocated {
        /// The member.
        email: Email,
        /// The license kind.
        kind: LicenseKind,
    },
    /// A group license rule's quota lower than the leases it holds now.
    /// Handle: release some of them first (or keep the quota).
    #[error(
        "{held} members hold {kind} through {group}; release some before lowering its quota to {quota}"
    )]
    QuotaInUse {
        /// The group.
        group: GroupName,
        /// The license kind.
        kind: LicenseKind,
        /// Leases it holds now.
        held: u32,
        /// The quota asked for.
        quota: u32,
    },
    /// The member holds no license of this kind. Handle: show the message.
    #[error("{email} holds no {kind} license")]
    LicenseNotHeld {
        /// The member.
        email: Email,
        /// The license kind.
        kind: LicenseKind,
    },
    /// A license idle period shorter than a day. Handle: choose a longer
    /// one.
    #[error("a license idle period must be at least one day")]
    InvalidIdlePeriod,
    /// Mail settings that cannot work. Handle: show the reason.
    #[error("the mail settings are not valid: {reason}")]
    InvalidMailSettings {
        /// What is wrong.
        reason: &'static str,
    },
    /// An invitation expiry shorter than a minute. Handle: choose a longer
    /// period, or none.
    #[error("an invitation must stay valid for at least one minute")]
    InvalidExpiry,
    /// Resending or revoking the invitation of someone who already accepted.
    /// Handle: show the message.
    #[error("{email} has already accepted the invitation")]
    NotPending {
        /// The member.
        email: Email,
    },
    /// The organization cannot number another member, group, service or
    /// email: its counter is at the end of its range. Only a damaged or
    /// hand-edited store gets there (ids are allocated one by one). Handle:
    /// report it as an internal error; restore the store from a backup; do
    /// not retry.
    #[error(
        "the organization has no {what} id left to allocate; its stored events are damaged (ids near the integer limit), restore them from a backup"
    )]
    IdsExhausted {
        /// Which kind of id: `user`, `group`, `service` or `email`.
        what: &'static str,
    },
    /// Accepting an expired invitation. Handle: ask an administrator to
    /// resend it.
    #[error("the invitation for {email} has expired; ask an administrator to send it again")]
    InvitationExpired {
        /// The invitee.
        email: Email,
    },
    /// An invitation expiry longer than 3650 days (about ten years;
    /// `max_days` says the limit). Handle: choose a shorter period, or none
    /// (invitations that never expire).
    #[error(
        "an invitation can stay valid for at most {max_days} days; choose a shorter period, or none for invitations that never expire"
    )]
    ExpiryTooLong {
        /// The longest validity accepted, in days.
        max_days: u32,
    },
    /// The command would go past one of the bounds the host sets on what an
    /// organization may hold or a command may name (see
    /// [`Limits`](crate::Limits)): `what` says which, `limit` its value.
    /// Nothing was changed. Handle: HTTP 422 (or 413 for a list too long);
    /// do not retry as is: delete what is no longer needed (groups,
    /// services, license pools), define fewer roles, or split a long list
    /// of users into several commands. Only the host can raise a limit.
    #[error(
        "too many {what}: at most {limit} are allowed; remove some you no longer need, or split \
         the list into several requests (this limit is set by the host)"
    )]
    LimitReached {
        /// What is bounded: `custom groups in an organization`, `services
        /// in an organization`, `roles in one service`, `default roles in
        /// one service`, `license kinds in an organization` or `users named
        /// in one command`.
        what: &'static str,
        /// The bound.
        limit: usize,
    },
}

impl DomainError {
    /// The refusal of a command that would go past the host's bound on
    /// `what` (see [`Limits`](crate::Limits)).
    pub(crate) fn limit(what: &'static str, limit: usize) -> DomainError {
        DomainError::LimitReached { what, limit }
    }

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
            DomainError::UnknownService { .. } => "unknown_service",
            DomainError::ServiceNameTaken { .. } => "service_name_taken",
            DomainError::InvalidService { .. } => "invalid_service",
            DomainError::UnknownRole { .. } => "unknown_role",
            DomainError::DefaultRoleProtected { .. } => "default_role_protected",
            DomainError::UnknownLicenseKind { .. } => "unknown_license_kind",
            DomainError::NoSeatsLeft { .. } => "no_seats_left",
            DomainError::SeatsInUse { .. } => "seats_in_use",
            DomainError::InvalidQuota => "invalid_quota",
            DomainError::NotAllocated { .. } => "not_allocated",
            DomainError::QuotaInUse { .. } => "quota_in_use",
            DomainError::LicenseNotHeld { .. } => "license_not_held",
            DomainError::InvalidIdlePeriod => "invalid_idle_period",
            DomainError::InvalidMailSettings { .. } => "invalid_mail_settings",
            DomainError::InvalidExpiry => "invalid_expiry",
            DomainError::NotPending { .. } => "not_pending",
            DomainError::InvitationExpired { .. } => "invitation_expired",
            DomainError::IdsExhausted { .. } => "ids_exhausted",
            DomainError::ExpiryTooLong { .. } => "expiry_too_long",
            DomainError::LimitReached { .. } => "limit_reached",
        }
    }
}

/// The items for a message: the first ten, then how many more (a refusal
/// naming 10,000 unknown addresses stays readable; the variant's field
/// keeps them all).
fn list<T: Display>(items: &[T]) -> String {
    const SHOWN: usize = 10;
    let mut text = items
        .iter()
        .take(SHOWN)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if let Some(more) = items.len().checked_sub(SHOWN).filter(|n| *n > 0) {
        text.push_str(&format!(" and {more} more"));
    }
    text
}
