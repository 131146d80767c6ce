//! Sorted indexes behind the users page, kept up to date by `apply`.
//!
//! One [`ScopeIndex`] per listing scope (everyone, pending, active, each
//! group) holds the scope's members sorted by email and by Last active, so a
//! page filtered by status or group starts in O(log n) and costs O(page).
//!
//! Several members may share one address under [`Email`]'s identity rule
//! (stores written before the rule became stricter hold such pairs; new
//! invitations of a held address are refused). Every index holds them all:
//! the sorted indexes are keyed by (address, id), and the look-up map points
//! at the lowest id while [`MemberIndex::shared`] lists every member of an
//! address held more than once.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;

use super::{Member, MemberStatus};
use crate::{Email, GroupId, UserId};

/// Sort key by activity: pending members (`None`) sort before any time.
pub(crate) type ActivityKey = (Option<Timestamp>, UserId);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ScopeIndex {
    /// By canonical address, then id (members may share an address).
    pub(crate) by_email: BTreeSet<(Email, UserId)>,
    pub(crate) by_activity: BTreeSet<ActivityKey>,
}

impl ScopeIndex {
    fn insert(&mut self, member: &Member) {
        self.by_email.insert((member.email.clone(), member.id));
        self.by_activity.insert(activity_key(member));
    }

    fn remove(&mut self, member: &Member) {
        self.by_email.remove(&(member.email.clone(), member.id));
        self.by_activity.remove(&activity_key(member));
    }

    pub(crate) fn len(&self) -> usize {
        self.by_email.len()
    }
}

pub(crate) fn activity_key(member: &Member) -> ActivityKey {
    (member.status.last_active(), member.id)
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MemberIndex {
    /// Address to member, for O(1) look-ups (commands and imports look up
    /// every address they name; a B-tree walk costs a cache miss per key).
    /// When several members share an address, the lowest id.
    pub(crate) lookup: HashMap<Email, UserId>,
    /// Addresses held by more than one member, each with all of their ids.
    /// Empty unless a store written under older identity rules holds such
    /// members.
    pub(crate) shared: BTreeMap<Email, BTreeSet<UserId>>,
    pub(crate) all: ScopeIndex,
    pub(crate) pending: ScopeIndex,
    pub(crate) active: ScopeIndex,
    /// Explicit group members; `Everyone` has no entry (it is `all`).
    pub(crate) groups: BTreeMap<GroupId, ScopeIndex>,
}

impl MemberIndex {
    /// Adds `member` to every scope it belongs to.
    pub(crate) fn insert(&mut self, member: &Member) {
        match self.lookup.entry(member.email.clone()) {
            Entry::Vacant(slot) => {
                slot.insert(member.id);
            }
            Entry::Occupied(mut slot) => {
                let first = *slot.get();
                if first != member.id {
                    let ids = self.shared.entry(member.email.clone()).or_default();
                    ids.insert(first);
                    ids.insert(member.id);
                    if member.id < first {
                        slot.insert(member.id);
                    }
                }
            }
        }
        self.all.insert(member);
        self.status_scope(&member.status).insert(member);
        for group in &member.groups {
            self.groups.entry(*group).or_default().insert(member);
        }
    }

    /// Removes `member` (as it is now) from every scope.
    pub(crate) fn remove(&mut self, member: &Member) {
        if let Some(ids) = self.shared.get_mut(&member.email) {
            ids.remove(&member.id);
            let first = ids.first().copied();
            if ids.len() < 2 {
                self.shared.remove(&member.email);
            }
            match first {
                Some(first) => {
                    self.lookup.insert(member.email.clone(), first);
                }
                None => {
                    self.lookup.remove(&member.email);
                }
            }
        } else if self.lookup.get(&member.email) == Some(&member.id) {
            self.lookup.remove(&member.email);
        }
        self.all.remove(member);
        self.status_scope(&member.status).remove(member);
        for group in &member.groups {
            if let Some(scope) = self.groups.get_mut(group) {
                scope.remove(member);
            }
        }
    }

    /// The ids of every member with this address (under [`Email`]'s
    /// identity rule), lowest first.
    pub(crate) fn ids_of<'a>(&'a self, email: &Email) -> impl Iterator<Item = UserId> + 'a {
        let shared = self.shared.get(email);
        let single = match shared {
            Some(_) => None,
            None => self.lookup.get(email).copied(),
        };
        shared.into_iter().flatten().copied().chain(single)
    }

    pub(crate) fn join(&mut self, group: GroupId, member: &Member) {
        self.groups.entry(group).or_default().insert(member);
    }

    pub(crate) fn leave(&mut self, group: GroupId, member: &Member) {
        if let Some(scope) = self.groups.get_mut(&group) {
            scope.remove(member);
        }
    }

    pub(crate) fn drop_group(&mut self, group: GroupId) {
        self.groups.remove(&group);
    }

    fn status_scope(&mut self, status: &MemberStatus) -> &mut ScopeIndex {
        match status {
            MemberStatus::Pending => &mut self.pending,
            MemberStatus::Active { .. } => &mut self.active,
        }
    }
}
