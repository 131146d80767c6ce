//! The `Organization` aggregate: its state, how events change it
//! ([`Organization::apply`]) and how commands become events
//! ([`Organization::decide`]).
//!
//! Where things live:
//! - `mod.rs`: the aggregate (its sub-states) and the queries on members
//!   and groups;
//! - `decide.rs`: the one match over [`Command`](crate::Command), each
//!   command through its door (create, a member for themselves, an
//!   administrator) to its sub-state's decision; the invitation decision
//!   shared with the bulk path;
//! - `apply.rs`: the one match over [`EventKind`](crate::EventKind), and
//!   what crosses sub-states (membership, removal, group deletion);
//! - `resolve.rs`: looking members, groups and services up by name, with
//!   the refusals;
//! - one file per sub-state, with its decisions, its changes and its
//!   queries: `members.rs` (+ `index.rs`, the users-page indexes),
//!   `groups.rs`, `access/` (services and roles), `licenses/`,
//!   `invitations.rs` (mail settings, expiry, the email queue).
//!
//! A new command: its variant in `command.rs` (and its events in
//! `event.rs`), an arm in `decide.rs` (the compiler asks for it) calling a
//! `decide_*` method of the sub-state that owns it, an arm per new event
//! in `apply.rs` (the compiler asks again) calling an `apply_*` method.
//! A new query: a method on `Organization` in its sub-state's file, or in
//! `core/query.rs` for the users page.

mod access;
mod apply;
mod decide;
mod groups;
pub(crate) mod index;
mod invitations;
mod licenses;
mod members;
#[cfg(test)]
mod page_index_tests;
mod resolve;

pub(crate) use access::Access;
pub use access::{Assignee, Holder, OrganizationRole, RoleGrant, RoleSource, Service};
pub(crate) use groups::Groups;
pub use groups::{DefaultGroup, Group, GroupKind};
pub(crate) use invitations::Invitations;
pub use invitations::{InvitationStatus, MAX_DELIVERY_ATTEMPTS, QueuedEmail};
pub(crate) use licenses::HolderFacts;
pub(crate) use licenses::Licenses;
pub use licenses::{
    DEFAULT_LICENSE_IDLE_PERIOD, LicenseRule, LicenseSource, LicenseWait, MIN_LICENSE_IDLE_PERIOD,
    MemberLicenses, SeatUsage, WaitReason,
};
pub(crate) use members::Members;
pub use members::{Member, MemberStatus};
pub(crate) use resolve::invite_groups;

use jiff::Timestamp;

use crate::{Email, GroupId, GroupName, UserId};

/// One organization: its members, groups, services, licenses and
/// invitations.
///
/// The state is made of sub-states, each owning the decisions and the
/// changes of its own events: members (with the indexes behind the users
/// page), groups, access (services and roles), licenses and invitations
/// (mail settings, expiry, the email queue). What crosses them (removing a
/// member frees their groups, roles, licenses and queued emails; deleting a
/// group drops its roles and license rule) is in [`apply`](Organization::apply).
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
    info: Option<OrganizationInfo>,
    version: u64,
    members: Members,
    groups: Groups,
    access: Access,
    licenses: Licenses,
    invitations: Invitations,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OrganizationInfo {
    pub(crate) name: String,
    pub(crate) created_at: Timestamp,
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
        self.members.pending_count()
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
        self.members.by_email(email)
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
        self.members.sharing_an_address()
    }

    /// The member with this id.
    pub fn member_by_id(&self, id: UserId) -> Option<&Member> {
        self.members.get(id)
    }

    /// The group with this name (case-insensitive).
    pub fn group(&self, name: &GroupName) -> Option<&Group> {
        self.groups.by_name(name)
    }

    /// The group with this id.
    pub fn group_by_id(&self, id: GroupId) -> Option<&Group> {
        self.groups.get(id)
    }

    /// Every group, default groups first, then custom groups in creation
    /// order.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.iter()
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
        self.members.get(id).is_some_and(|m| {
            !m.status.is_pending() && m.groups.contains(&DefaultGroup::Administrators.id())
        })
    }

    /// The number of active members of Administrators (always at least one
    /// once the organization exists).
    pub fn active_administrator_count(&self) -> usize {
        self.groups
            .get(DefaultGroup::Administrators.id())
            .map_or(0, |g| {
                g.members
                    .iter()
                    .filter(|id| self.is_active_administrator(**id))
                    .count()
            })
    }
}

/// Read access to the sub-states, and rebuilding from them, for the
/// snapshot, the users page and the bulk path.
impl Organization {
    pub(crate) fn members_state(&self) -> &Members {
        &self.members
    }

    pub(crate) fn groups_state(&self) -> &Groups {
        &self.groups
    }

    pub(crate) fn access_state(&self) -> &Access {
        &self.access
    }

    pub(crate) fn licenses_state(&self) -> &Licenses {
        &self.licenses
    }

    pub(crate) fn invitations_state(&self) -> &Invitations {
        &self.invitations
    }

    /// An organization from its sub-states (a snapshot being loaded).
    pub(crate) fn from_parts(
        info: Option<(String, Timestamp)>,
        version: u64,
        parts: (Members, Groups, Access, Licenses, Invitations),
    ) -> Organization {
        let (members, groups, access, mut licenses, invitations) = parts;
        // Written before leases: group licenses of pending invitees are
        // released (see the licenses module docs).
        licenses.release_pending_leases(|user| {
            members.get(user).is_some_and(|m| m.status().is_pending())
        });
        Organization {
            info: info.map(|(name, created_at)| OrganizationInfo { name, created_at }),
            version,
            members,
            groups,
            access,
            licenses,
            invitations,
        }
    }
}
