//! Sorted indexes behind the users page, kept up to date by `apply`.
//!
//! One [`ScopeIndex`] per status (pending, active) and per group holds the
//! scope's members sorted by address and by Last active, so a page
//! filtered by status or group starts in O(log n) and costs O(page). The
//! unfiltered listing merges the two status scopes as it goes (every
//! member is in exactly one), rather than keeping a third copy of every
//! key.
//!
//! Several members may share one address under [`Email`]'s identity rule
//! (stores written before the rule became stricter hold such pairs; new
//! invitations of a held address are refused). Every index holds them all:
//! the address indexes are keyed by (address, id).
//!
//! Keys are kept small, because at a million members the indexes weigh
//! more than the members: Last active is kept only for active members
//! (pending members sort first, by id, so their order is their ids'), and
//! an address key shares its text with the member (an [`Email`] is a
//! reference-counted pointer).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use jiff::Timestamp;

use super::{Member, MemberStatus};
use crate::{Email, GroupId, UserId};

/// Sort key by activity: pending members (`None`) sort before any time.
pub(crate) type ActivityKey = (Option<Timestamp>, UserId);

/// Sort key by address: the canonical key's first 8 bytes as a number,
/// then the address, then the id. Ordered as (address, id) are: two keys
/// whose first bytes differ are ordered by the number alone, without
/// following the address's pointer (one cache miss and one `memcmp` per
/// comparison otherwise, which at a million members dominated every
/// insertion and removal); equal first bytes fall through to the whole
/// address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct EmailKey {
    prefix: u64,
    pub(crate) email: Email,
    pub(crate) id: UserId,
}

impl EmailKey {
    pub(crate) fn new(email: Email, id: UserId) -> EmailKey {
        let mut first = [0u8; 8];
        for (to, from) in first.iter_mut().zip(email.key().bytes()) {
            *to = from;
        }
        // Big-endian: the number orders as the bytes do; a shorter key's
        // zero padding orders it first, or ties and falls through.
        EmailKey {
            prefix: u64::from_be_bytes(first),
            email,
            id,
        }
    }
}

/// One listing scope: its members by address and by activity.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ScopeIndex {
    /// By canonical address, then id (members may share an address).
    by_email: BTreeSet<EmailKey>,
    /// Pending members, whose activity order is their id order.
    pending: BTreeSet<UserId>,
    /// Active members by Last active, then id.
    active: BTreeSet<(Timestamp, UserId)>,
}

/// A scope's keys in one direction, from a bound.
pub(crate) type Keys<'a, K> = Box<dyn Iterator<Item = K> + 'a>;

impl ScopeIndex {
    fn insert(&mut self, member: &Member) {
        self.by_email
            .insert(EmailKey::new(member.email.clone(), member.id));
        match member.status {
            MemberStatus::Pending => self.pending.insert(member.id),
            MemberStatus::Active { last_active } => self.active.insert((last_active, member.id)),
        };
    }

    fn remove(&mut self, member: &Member) {
        self.by_email
            .remove(&EmailKey::new(member.email.clone(), member.id));
        match member.status {
            MemberStatus::Pending => self.pending.remove(&member.id),
            MemberStatus::Active { last_active } => self.active.remove(&(last_active, member.id)),
        };
    }

    pub(crate) fn len(&self) -> usize {
        self.by_email.len()
    }

    /// The scope's (address, id) keys after `after` (exclusive), ascending
    /// or descending.
    pub(crate) fn emails<'a>(
        &'a self,
        after: Option<(Email, UserId)>,
        descending: bool,
    ) -> Keys<'a, &'a EmailKey> {
        let bound = after.map_or(Bound::Unbounded, |(email, id)| {
            Bound::Excluded(EmailKey::new(email, id))
        });
        if descending {
            Box::new(self.by_email.range((Bound::Unbounded, bound)).rev())
        } else {
            Box::new(self.by_email.range((bound, Bound::Unbounded)))
        }
    }

    /// The scope's activity keys after `after` (exclusive), ascending
    /// (pending first, by id; then by Last active) or descending.
    pub(crate) fn activity<'a>(
        &'a self,
        after: Option<ActivityKey>,
        descending: bool,
    ) -> Keys<'a, ActivityKey> {
        let pending =
            |range: std::collections::btree_set::Range<'a, UserId>| range.map(|id| (None, *id));
        let active = |range: std::collections::btree_set::Range<'a, (Timestamp, UserId)>| {
            range.map(|(t, id)| (Some(*t), *id))
        };
        let all_pending = self.pending.range::<UserId, _>(..);
        let all_active = self.active.range::<(Timestamp, UserId), _>(..);
        match (after, descending) {
            (None, false) => Box::new(pending(all_pending).chain(active(all_active))),
            (None, true) => Box::new(active(all_active).rev().chain(pending(all_pending).rev())),
            (Some((None, id)), false) => Box::new(
                pending(self.pending.range((Bound::Excluded(id), Bound::Unbounded)))
                    .chain(active(all_active)),
            ),
            (Some((None, id)), true) => {
                Box::new(pending(self.pending.range((Bound::Unbounded, Bound::Excluded(id)))).rev())
            }
            (Some((Some(t), id)), false) => Box::new(active(
                self.active
                    .range((Bound::Excluded((t, id)), Bound::Unbounded)),
            )),
            (Some((Some(t), id)), true) => Box::new(
                active(
                    self.active
                        .range((Bound::Unbounded, Bound::Excluded((t, id)))),
                )
                .rev()
                .chain(pending(all_pending).rev()),
            ),
        }
    }
}

/// A scope's keys gathered before its sets are built at once.
#[derive(Default)]
struct ScopeBuilder {
    by_email: Vec<EmailKey>,
    pending: Vec<UserId>,
    active: Vec<(Timestamp, UserId)>,
}

impl ScopeBuilder {
    fn with_capacity(members: usize, pending: usize, active: usize) -> ScopeBuilder {
        ScopeBuilder {
            by_email: Vec::with_capacity(members),
            pending: Vec::with_capacity(pending),
            active: Vec::with_capacity(active),
        }
    }

    fn push(&mut self, m: &Member) {
        self.by_email.push(EmailKey::new(m.email.clone(), m.id));
        match m.status {
            MemberStatus::Pending => self.pending.push(m.id),
            MemberStatus::Active { last_active } => self.active.push((last_active, m.id)),
        }
    }

    /// Each set built from a sorted list (linear once sorted; lists that
    /// came sorted are only checked).
    fn finish(mut self, by_email_sorted: bool) -> ScopeIndex {
        if !by_email_sorted {
            self.by_email.sort_unstable();
        }
        self.pending.sort_unstable();
        self.active.sort_unstable();
        ScopeIndex {
            by_email: self.by_email.into_iter().collect(),
            pending: self.pending.into_iter().collect(),
            active: self.active.into_iter().collect(),
        }
    }
}

/// The scopes of an index being built: by status, and by group.
struct IndexBuilder {
    pending: ScopeBuilder,
    active: ScopeBuilder,
    groups: BTreeMap<GroupId, ScopeBuilder>,
}

impl IndexBuilder {
    /// `add` on every scope `m` belongs to: its status's and its groups'.
    fn each_scope(&mut self, m: &Member, add: fn(&mut ScopeBuilder, &Member)) {
        let status = if m.status.is_pending() {
            &mut self.pending
        } else {
            &mut self.active
        };
        add(status, m);
        for group in &m.groups {
            if let Some(scope) = self.groups.get_mut(group) {
                add(scope, m);
            }
        }
    }
}

/// The users-page indexes of an organization's members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MemberIndex {
    pub(crate) pending: ScopeIndex,
    pub(crate) active: ScopeIndex,
    /// Explicit group members; `Everyone` has no entry (it is everyone).
    pub(crate) groups: BTreeMap<GroupId, ScopeIndex>,
}

impl MemberIndex {
    /// The indexes of `members` at once, with a (possibly empty) scope for
    /// each of `groups`. `sorted` says whether `members` are in (address,
    /// id) order, as a snapshot lists them; the address indexes are then
    /// built without sorting.
    pub(crate) fn build(
        members: &[Member],
        sorted: bool,
        groups: impl IntoIterator<Item = GroupId>,
    ) -> MemberIndex {
        let pending = members.iter().filter(|m| m.status.is_pending()).count();
        let active = members.len().saturating_sub(pending);
        let mut builder = IndexBuilder {
            pending: ScopeBuilder::with_capacity(pending, pending, 0),
            active: ScopeBuilder::with_capacity(active, 0, active),
            groups: groups
                .into_iter()
                .chain(members.iter().flat_map(|m| m.groups.iter().copied()))
                .map(|g| (g, ScopeBuilder::default()))
                .collect(),
        };
        for m in members {
            builder.each_scope(m, ScopeBuilder::push);
        }
        MemberIndex {
            pending: builder.pending.finish(sorted),
            active: builder.active.finish(sorted),
            groups: builder
                .groups
                .into_iter()
                .map(|(g, scope)| (g, scope.finish(sorted)))
                .collect(),
        }
    }

    /// Adds `member` to every scope it belongs to.
    pub(crate) fn insert(&mut self, member: &Member) {
        self.status_scope(&member.status).insert(member);
        for group in &member.groups {
            self.groups.entry(*group).or_default().insert(member);
        }
    }

    /// Removes `member` (as it is now) from every scope.
    pub(crate) fn remove(&mut self, member: &Member) {
        self.status_scope(&member.status).remove(member);
        for group in &member.groups {
            if let Some(scope) = self.groups.get_mut(group) {
                scope.remove(member);
            }
        }
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
