//! The `Organization` aggregate: its state, how events change it
//! ([`Organization::apply`]) and how commands become events
//! ([`Organization::decide`]).

mod access;
mod apply;
mod decide;
mod groups;
pub(crate) mod index;
mod invitations;
mod licenses;

pub use access::{Assignee, Holder, OrganizationRole, RoleGrant, RoleSource, Service};
pub(crate) use groups::FIRST_CUSTOM_GROUP;
pub use groups::{DefaultGroup, Group, GroupKind};
pub use invitations::{InvitationStatus, QueuedEmail};
pub(crate) use licenses::Licenses;
pub use licenses::{LicenseRule, LicenseSource, SeatUsage};

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use crate::{
    Email, GroupId, GroupName, MailSettings, NotificationId, ServiceId, ServiceName, UserId,
};
use index::MemberIndex;

/// One organization: its members, groups and the indexes behind the users
/// page.
///
/// The state is built only by applying events. Operations are two steps:
/// [`decide`](Organization::decide) checks a command against the state and
/// returns the events it causes (or a [`DomainError`](crate::DomainError),
/// leaving everything unchanged), and [`apply`](Organization::apply) folds
/// an event into the state and cannot fail. [`execute`](Organization::execute)
/// does both. Replaying the same events always rebuilds an equal state.
///
/// A new `Organization` (from [`Default`]) does not exist yet; the first
/// command must be [`Command::CreateOrganization`](crate::Command::CreateOrganization).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Organization {
    pub(crate) info: Option<OrganizationInfo>,
    pub(crate) version: u64,
    pub(crate) next_user: u64,
    pub(crate) next_group: u32,
    pub(crate) members: BTreeMap<UserId, Member>,
    pub(crate) groups: BTreeMap<GroupId, Group>,
    pub(crate) group_names: BTreeMap<GroupName, GroupId>,
    pub(crate) index: MemberIndex,
    pub(crate) services: BTreeMap<ServiceId, Service>,
    pub(crate) service_names: BTreeMap<ServiceName, ServiceId>,
    pub(crate) next_service: u32,
    pub(crate) licenses: Licenses,
    pub(crate) mail: Option<MailSettings>,
    pub(crate) invitation_expiry: Option<jiff::SignedDuration>,
    pub(crate) outbox: BTreeMap<NotificationId, QueuedEmail>,
    pub(crate) next_notification: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrganizationInfo {
    pub(crate) name: String,
    pub(crate) created_at: Timestamp,
}

/// A member of an organization, pending or active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub(crate) id: UserId,
    pub(crate) email: Email,
    pub(crate) status: MemberStatus,
    pub(crate) invited_at: Timestamp,
    /// When the invitation was last sent (invited or resent): expiry counts
    /// from here.
    pub(crate) invitation_sent_at: Timestamp,
    /// Explicit groups; never `Everyone`.
    pub(crate) groups: BTreeSet<GroupId>,
}

impl Member {
    /// The member's id in this organization.
    pub fn id(&self) -> UserId {
        self.id
    }
    /// The member's address, as the administrator typed it.
    pub fn email(&self) -> &Email {
        &self.email
    }
    /// Pending or active.
    pub fn status(&self) -> MemberStatus {
        self.status
    }
    /// When the member was invited (for the creator: when the organization
    /// was created).
    pub fn invited_at(&self) -> Timestamp {
        self.invited_at
    }
    /// The member's explicit groups, in id order (`Everyone` is implicit
    /// and never listed).
    pub fn group_ids(&self) -> impl ExactSizeIterator<Item = GroupId> + '_ {
        self.groups.iter().copied()
    }
    /// Whether the member is explicitly in `group`.
    pub fn is_in(&self, group: GroupId) -> bool {
        self.groups.contains(&group)
    }
}

/// Whether a member has accepted their invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MemberStatus {
    /// Invited, not yet accepted: "Pending" in the Last active column.
    Pending,
    /// Accepted; `last_active` is the latest sign-in.
    Active {
        /// The latest sign-in.
        last_active: Timestamp,
    },
}

impl MemberStatus {
    /// The latest sign-in, if the member is active.
    pub fn last_active(self) -> Option<Timestamp> {
        match self {
            MemberStatus::Pending => None,
            MemberStatus::Active { last_active } => Some(last_active),
        }
    }
    /// Whether the member has not accepted yet.
    pub fn is_pending(self) -> bool {
        self == MemberStatus::Pending
    }
}

impl Organization {
    /// An organization that does not exist yet (same as `default()`).
    pub fn new() -> Organization {
        Organization::default()
    }

    /// Rebuilds an organization from its events, in order.
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a crate::Event>) -> Organization {
        let mut org = Organization::new();
        for event in events {
            org.apply(event);
        }
        org
    }

    /// Whether `CreateOrganization` has happened.
    pub fn exists(&self) -> bool {
        self.info.is_some()
    }

    /// The organization's display name (empty before it exists).
    pub fn name(&self) -> &str {
        self.info.as_ref().map_or("", |i| i.name.as_str())
    }

    /// When the organization was created.
    pub fn created_at(&self) -> Option<Timestamp> {
        self.info.as_ref().map(|i| i.created_at)
    }

    /// How many events have been applied. Stores use it as the expected
    /// version when appending.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The number of members, pending and active.
    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    /// The number of pending members.
    pub fn pending_count(&self) -> usize {
        self.index.pending.len()
    }

    /// The member with this address, in O(1). Addresses compare by
    /// [`Email`]'s identity rule (case, Unicode normalization and the IDNA
    /// form of the domain do not matter).
    ///
    /// Commands name members by address and find them here. When several
    /// members share the address (only possible in a store written before
    /// the identity rule was stricter; see
    /// [`duplicate_addresses`](Organization::duplicate_addresses)), the one
    /// whose stored spelling equals `email`'s spelling exactly
    /// ([`Email::as_str`]) is chosen, and otherwise the one with the lowest
    /// id (the earliest invited). So an administrator reaches each of them
    /// by typing its address as it is listed.
    pub fn member(&self, email: &Email) -> Option<&Member> {
        let first = *self.index.lookup.get(email)?;
        if !self.index.shared.is_empty()
            && let Some(exact) = self
                .index
                .ids_of(email)
                .filter_map(|id| self.members.get(&id))
                .find(|m| m.email.as_str() == email.as_str())
        {
            return Some(exact);
        }
        self.members.get(&first)
    }

    /// Every address held by more than one member, as groups of those
    /// members (each group in id order; the groups in address order).
    /// Empty for any organization built by this version of the library.
    ///
    /// Such groups come from stores written under an older identity rule,
    /// which told apart spellings that [`Email`] now treats as one mailbox
    /// (`user@bücher.de` and `user@xn--bcher-kva.de`, or a composed and a
    /// decomposed `josé`). Nothing is dropped on load: every member keeps
    /// their groups, roles and licenses, and new invitations of the
    /// address are refused as already a member. An administrator can act on
    /// the list by removing the extra members, naming each by its listed
    /// spelling (see [`member`](Organization::member)).
    pub fn duplicate_addresses(&self) -> Vec<Vec<&Member>> {
        self.index
            .shared
            .values()
            .map(|ids| ids.iter().filter_map(|id| self.members.get(id)).collect())
            .collect()
    }

    /// The member with this id.
    pub fn member_by_id(&self, id: UserId) -> Option<&Member> {
        self.members.get(&id)
    }

    /// The group with this name (case-insensitive).
    pub fn group(&self, name: &GroupName) -> Option<&Group> {
        let id = self.group_names.get(name)?;
        self.groups.get(id)
    }

    /// The group with this id.
    pub fn group_by_id(&self, id: GroupId) -> Option<&Group> {
        self.groups.get(&id)
    }

    /// Every group, default groups first, then custom groups in creation
    /// order.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// How many members a group has; `Everyone` has every member.
    pub fn group_member_count(&self, group: &Group) -> usize {
        if group.is_everyone() {
            self.members.len()
        } else {
            group.members.len()
        }
    }

    /// Whether `id` is an active member of Administrators: an Organization
    /// Administrator.
    pub fn is_active_administrator(&self, id: UserId) -> bool {
        self.members.get(&id).is_some_and(|m| {
            !m.status.is_pending() && m.groups.contains(&DefaultGroup::Administrators.id())
        })
    }

    /// The number of active members of Administrators (always at least one
    /// once the organization exists).
    pub fn active_administrator_count(&self) -> usize {
        self.groups
            .get(&DefaultGroup::Administrators.id())
            .map_or(0, |g| {
                g.members
                    .iter()
                    .filter(|id| self.is_active_administrator(**id))
                    .count()
            })
    }

    pub(crate) fn kind_of(&self, id: GroupId) -> Option<GroupKind> {
        self.groups.get(&id).map(|g| g.kind)
    }
}
