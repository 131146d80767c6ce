//! Sorted indexes behind the users page, kept off the command path.
//!
//! [`PageIndex`] builds them on the first page request. After that a
//! command only notes which member it changed (and how that member was
//! indexed before); the next page request folds those changes in. So a
//! command costs the same whether or not anyone reads the users page, and
//! an organization nobody pages holds no indexes at all.
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
use std::sync::{Mutex, MutexGuard, PoisonError};

use hashbrown::HashMap;
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
        EmailKey {
            prefix: email_prefix(&email),
            email,
            id,
        }
    }
}

/// An address's canonical key's first 8 bytes as a number, ordered as the
/// keys are where the numbers differ (big-endian; a shorter key's zero
/// padding orders it first, or ties and falls through to the whole key).
pub(crate) fn email_prefix(email: &Email) -> u64 {
    let mut first = [0u8; 8];
    for (to, from) in first.iter_mut().zip(email.key().bytes()) {
        *to = from;
    }
    u64::from_be_bytes(first)
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

    /// Each set built from a sorted list (linear once sorted).
    fn finish(mut self) -> ScopeIndex {
        self.by_email.sort_unstable();
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
    /// Adds `m` to every scope it belongs to: its status's and its groups'.
    fn push(&mut self, m: &Member) {
        let status = if m.status.is_pending() {
            &mut self.pending
        } else {
            &mut self.active
        };
        status.push(m);
        for group in &m.groups {
            self.groups.entry(*group).or_default().push(m);
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
    /// The indexes of `members` at once (a group nobody is in has no
    /// scope; listings read that as empty).
    fn build(members: &[Member]) -> MemberIndex {
        let pending = members.iter().filter(|m| m.status.is_pending()).count();
        let active = members.len().saturating_sub(pending);
        let mut builder = IndexBuilder {
            pending: ScopeBuilder::with_capacity(pending, pending, 0),
            active: ScopeBuilder::with_capacity(active, 0, active),
            groups: BTreeMap::new(),
        };
        for m in members {
            builder.push(m);
        }
        MemberIndex {
            pending: builder.pending.finish(),
            active: builder.active.finish(),
            groups: builder
                .groups
                .into_iter()
                .map(|(g, scope)| (g, scope.finish()))
                .collect(),
        }
    }

    /// Adds `member` to every scope it belongs to.
    fn insert(&mut self, member: &Member) {
        self.status_scope(&member.status).insert(member);
        for group in &member.groups {
            self.groups.entry(*group).or_default().insert(member);
        }
    }

    /// Removes `member` (as it is given) from every scope.
    fn remove(&mut self, member: &Member) {
        self.status_scope(&member.status).remove(member);
        for group in &member.groups {
            if let Some(scope) = self.groups.get_mut(group) {
                scope.remove(member);
            }
        }
    }

    /// Every scope's keys, in order (groups nobody is in left out): what
    /// the listings can see, for tests comparing two indexes.
    #[cfg(test)]
    pub(crate) fn listed(&self) -> Vec<(Option<GroupId>, Vec<UserId>, Vec<ActivityKey>)> {
        let scope = |g: Option<GroupId>, s: &ScopeIndex| {
            (
                g,
                s.emails(None, false).map(|k| k.id).collect(),
                s.activity(None, false).collect(),
            )
        };
        [scope(None, &self.pending), scope(None, &self.active)]
            .into_iter()
            .chain(
                self.groups
                    .iter()
                    .filter(|(_, s)| !s.by_email.is_empty())
                    .map(|(g, s)| scope(Some(*g), s)),
            )
            .collect()
    }

    fn status_scope(&mut self, status: &MemberStatus) -> &mut ScopeIndex {
        match status {
            MemberStatus::Pending => &mut self.pending,
            MemberStatus::Active { .. } => &mut self.active,
        }
    }
}

/// The users-page indexes of an organization, built on the first page
/// request and then brought up to date on each, from the changes commands
/// noted since. Commands reach it through `&mut` and take no lock; page
/// requests (through `&`, possibly several at once) take its lock while
/// they read.
#[derive(Debug, Default)]
pub(crate) struct PageIndex {
    state: Mutex<Lazy>,
}

#[derive(Debug, Default, Clone)]
struct Lazy {
    /// `None` until a page asks for it, and again after more changes went
    /// unread than rebuilding costs.
    built: Option<MemberIndex>,
    /// Members changed since `built` was last brought up to date, each
    /// once, with how `built` holds them: as they were before their first
    /// change since (`None` for a member who is new since). Later changes
    /// to the same member note nothing, so a member who signs in a
    /// thousand times between two pages costs one note and one fold.
    changed: HashMap<UserId, Option<Member>>,
}

impl Clone for PageIndex {
    fn clone(&self) -> PageIndex {
        PageIndex {
            state: Mutex::new(self.lock().clone()),
        }
    }
}

/// Members noted before the indexes are dropped instead (and rebuilt by
/// the next page request): past a quarter of the members, folding them in
/// costs about what a rebuild does, and the notes would outweigh it.
fn change_limit(members: usize) -> usize {
    (members / 4).max(4096)
}

impl PageIndex {
    /// The state, whatever a panic elsewhere left: a poisoned lock drops
    /// the indexes (they are rebuilt from the members), never the caller.
    fn lock(&self) -> MutexGuard<'_, Lazy> {
        self.state.lock().unwrap_or_else(|poisoned| {
            self.state.clear_poison();
            let mut state = poisoned.into_inner();
            *state = Lazy::default();
            state
        })
    }

    fn state_mut(&mut self) -> &mut Lazy {
        self.state.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// Notes that the member `id` is about to change, is new (`before` is
    /// `None`) or is about to go, with `members` members in all. Costs
    /// nothing while no page has asked for the indexes, nor for a member
    /// already noted since the last page.
    pub(crate) fn note(&mut self, id: UserId, before: Option<&Member>, members: usize) {
        let state = self.state_mut();
        if state.built.is_none() || state.changed.contains_key(&id) {
            return;
        }
        if state.changed.len() >= change_limit(members) {
            *state = Lazy::default();
            return;
        }
        state.changed.insert(id, before.cloned());
    }

    /// Whether the indexes exist now (tests).
    #[cfg(test)]
    pub(crate) fn is_built(&self) -> bool {
        self.lock().built.is_some()
    }

    /// How many group ids the notes hold (tests).
    #[cfg(test)]
    pub(crate) fn noted_group_ids(&self) -> usize {
        let state = self.lock();
        state
            .changed
            .values()
            .flatten()
            .map(|m| m.groups.len())
            .sum()
    }

    /// A deleted group's scope goes (its members are not noted one by
    /// one: no other scope depends on their groups).
    pub(crate) fn drop_group(&mut self, group: GroupId) {
        if let Some(built) = &mut self.state_mut().built {
            built.groups.remove(&group);
        }
    }

    /// Calls `read` with the indexes of `members` (every member, in any
    /// order), found by id through `get`: built if no page asked before,
    /// otherwise brought up to date with the changes noted since.
    pub(crate) fn read<'m, R>(
        &self,
        members: &'m [Member],
        get: impl Fn(UserId) -> Option<&'m Member>,
        read: impl FnOnce(&MemberIndex) -> R,
    ) -> R {
        let mut state = self.lock();
        let Lazy { built, changed } = &mut *state;
        let index = match built {
            Some(index) => {
                // Every changed member's entries as the index holds them
                // go first, then each goes back in as it is now (keys hold
                // the id, so one member's entries never touch another's).
                for before in changed.values().flatten() {
                    index.remove(before);
                }
                for id in changed.keys() {
                    if let Some(member) = get(*id) {
                        index.insert(member);
                    }
                }
                changed.clear();
                changed.shrink_to(4096);
                index
            }
            None => built.insert(MemberIndex::build(members)),
        };
        read(index)
    }
}
