//! Members: who belongs to the organization, with the indexes behind the
//! users page. Owns the member events (invited, accepted, signed in,
//! resent, removed) and each member's side of group membership.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use super::index::MemberIndex;
use crate::{Email, GroupId, UserId};

/// The highest user id an organization hands out: `i64::MAX`, so every id
/// fits the signed 64-bit integer columns of SQL stores. Ids are allocated
/// one by one; only a damaged store gets near it.
pub(crate) const MAX_USER_ID: u64 = i64::MAX as u64;

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

/// The members of an organization and their indexes. The map and the
/// indexes change together, only through the methods below.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Members {
    map: BTreeMap<UserId, Member>,
    index: MemberIndex,
    /// The next free user id.
    next: u64,
}

impl Members {
    /// Members restored from a snapshot (each with its groups), with the
    /// next free id.
    pub(crate) fn restore(members: impl IntoIterator<Item = Member>, next: u64) -> Members {
        let mut restored = Members {
            next,
            ..Members::default()
        };
        for member in members {
            restored.index.insert(&member);
            restored.map.insert(member.id, member);
        }
        restored
    }

    /// The member with this id.
    pub(crate) fn get(&self, id: UserId) -> Option<&Member> {
        self.map.get(&id)
    }

    /// Whether `id` is a member.
    pub(crate) fn contains(&self, id: UserId) -> bool {
        self.map.contains_key(&id)
    }

    /// Every member, in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Member> {
        self.map.values()
    }

    /// The number of members.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The indexes behind the users page.
    pub(crate) fn index(&self) -> &MemberIndex {
        &self.index
    }

    /// The counter as stored: the next free id (0 before anyone joined).
    pub(crate) fn counter(&self) -> u64 {
        self.next
    }

    /// The id the next member gets, or `None` when the counter is at the
    /// end of its range (a damaged store): an id is handed out only if the
    /// counter can move past it, and stays within [`MAX_USER_ID`].
    pub(crate) fn next_free(&self) -> Option<u64> {
        let next = self.next.max(1);
        (next < MAX_USER_ID).then_some(next)
    }

    /// The member with this address; see [`Organization::member`](super::Organization::member).
    pub(crate) fn by_email(&self, email: &Email) -> Option<&Member> {
        let first = *self.index.lookup.get(email)?;
        if !self.index.shared.is_empty()
            && let Some(exact) = self
                .index
                .ids_of(email)
                .filter_map(|id| self.map.get(&id))
                .find(|m| m.email.as_str() == email.as_str())
        {
            return Some(exact);
        }
        self.map.get(&first)
    }

    /// Every address held by more than one member, as groups of members.
    pub(crate) fn sharing_an_address(&self) -> Vec<Vec<&Member>> {
        self.index
            .shared
            .values()
            .map(|ids| ids.iter().filter_map(|id| self.map.get(id)).collect())
            .collect()
    }

    /// Adds a member. A member whose address another member already holds
    /// (under [`Email`]'s identity rule) is kept as well: `decide` never
    /// invites a held address, so such an event comes from a store written
    /// under an older, finer identity rule, and dropping it would lose a
    /// member. An id that is already taken changes nothing; returns whether
    /// the member was added.
    pub(crate) fn insert(&mut self, member: Member) -> bool {
        if self.map.contains_key(&member.id) {
            return false;
        }
        self.next = self.next.max(member.id.0.saturating_add(1));
        self.index.insert(&member);
        self.map.insert(member.id, member);
        true
    }

    /// Takes a member out, with their index entries.
    pub(crate) fn remove(&mut self, user: UserId) -> Option<Member> {
        let member = self.map.remove(&user)?;
        self.index.remove(&member);
        Some(member)
    }

    /// Changes a member, keeping the indexes in step.
    fn update(&mut self, id: UserId, change: impl FnOnce(&mut Member)) {
        if let Some(member) = self.map.get_mut(&id) {
            self.index.remove(member);
            change(member);
            self.index.insert(member);
        }
    }

    /// `InvitationAccepted`: a pending member becomes active at `at`.
    pub(crate) fn apply_accepted(&mut self, user: UserId, at: Timestamp) {
        self.update(user, |m| {
            if m.status.is_pending() {
                m.status = MemberStatus::Active { last_active: at };
            }
        });
    }

    /// `UserSignedIn` (or a sign-in kept outside the event stream): Last
    /// active moves to `at` if that is later. Pending members are left
    /// alone. Returns whether anything changed.
    pub(crate) fn apply_signed_in(&mut self, user: UserId, at: Timestamp) -> bool {
        let later = self
            .map
            .get(&user)
            .and_then(|m| m.status.last_active())
            .is_some_and(|last| at > last);
        if later {
            self.update(user, |m| {
                m.status = MemberStatus::Active { last_active: at }
            });
        }
        later
    }

    /// `InvitationResent`: expiry counts from `at` again.
    pub(crate) fn apply_resent(&mut self, user: UserId, at: Timestamp) {
        if let Some(m) = self.map.get_mut(&user)
            && m.status.is_pending()
        {
            m.invitation_sent_at = at;
        }
    }

    /// Starts an (empty) users-page scope for a new group.
    pub(crate) fn open_group(&mut self, group: GroupId) {
        self.index.groups.entry(group).or_default();
    }

    /// `user` joins `group`; returns whether they were a member.
    pub(crate) fn join(&mut self, user: UserId, group: GroupId) -> bool {
        let Some(m) = self.map.get_mut(&user) else {
            return false;
        };
        m.groups.insert(group);
        self.index.join(group, m);
        true
    }

    /// `user` leaves `group`.
    pub(crate) fn leave(&mut self, user: UserId, group: GroupId) {
        if let Some(m) = self.map.get_mut(&user) {
            m.groups.remove(&group);
            self.index.leave(group, m);
        }
    }

    /// A deleted group's members leave it, and its scope goes.
    pub(crate) fn forget_group(&mut self, group: GroupId, users: &BTreeSet<UserId>) {
        for user in users {
            if let Some(m) = self.map.get_mut(user) {
                m.groups.remove(&group);
            }
        }
        self.index.drop_group(group);
    }
}
