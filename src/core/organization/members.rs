//! Members: who belongs to the organization, with the indexes behind the
//! users page. Owns the member events (invited, accepted, signed in,
//! resent, removed) and each member's side of group membership.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};
use jiff::Timestamp;

use super::index::{MemberIndex, PageIndex};
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
    /// Explicit groups, in id order, each once; never `Everyone`. A
    /// sorted boxed slice: a member is in a handful of groups, an empty one
    /// allocates nothing, and it is 8 bytes smaller than a vector (a
    /// million members are a million of these).
    pub(crate) groups: Box<[GroupId]>,
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
        self.groups.binary_search(&group).is_ok()
    }

    /// Joins `group` (kept sorted, once); returns whether it was new.
    pub(crate) fn add_group(&mut self, group: GroupId) -> bool {
        match self.groups.binary_search(&group) {
            Ok(_) => false,
            Err(_) if self.groups.is_empty() => {
                self.groups = Box::new([group]);
                true
            }
            Err(at) => {
                let mut groups = std::mem::take(&mut self.groups).into_vec();
                groups.insert(at, group);
                self.groups = groups.into_boxed_slice();
                true
            }
        }
    }

    /// Leaves `group`.
    pub(crate) fn drop_group(&mut self, group: GroupId) {
        if let Ok(at) = self.groups.binary_search(&group) {
            let mut groups = std::mem::take(&mut self.groups).into_vec();
            groups.remove(at);
            self.groups = groups.into_boxed_slice();
        }
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

/// No slot: the id is not a member.
const NO_SLOT: u32 = u32::MAX;

/// The members of an organization and their indexes. The slots, the
/// look-ups and the indexes change together, only through the methods
/// below.
///
/// Members live in dense slots (a vector, in no particular order: removal
/// moves the last member into the gap). An id finds its slot through
/// [`SlotIds`]; an address finds it through `lookup`, a hash table of slot
/// numbers hashed by the slot's address, so no address is copied into it.
/// Addresses are chosen by outsiders (bulk uploads), so the hasher is
/// seeded at random (hashbrown's foldhash), against hash flooding.
#[derive(Debug, Clone, Default)]
pub(crate) struct Members {
    slots: Vec<Member>,
    ids: SlotIds,
    /// Every member's slot, by address. Members sharing an address (see
    /// `shared`) each have their entry.
    lookup: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// Addresses held by more than one member, each with all of their ids.
    /// Empty unless a store written under older identity rules holds such
    /// members.
    shared: BTreeMap<Email, BTreeSet<UserId>>,
    /// The users-page indexes, kept off the command path.
    index: PageIndex,
    /// How many members are pending.
    pending: usize,
    /// The next free user id.
    next: u64,
}

/// Members compare by their contents (members in id order and the
/// counter); slots, look-ups and indexes follow from those.
impl PartialEq for Members {
    fn eq(&self, other: &Members) -> bool {
        self.next == other.next && self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Members {}

/// The slot of each id: a dense table for ids handed out one by one, and
/// a sorted map for ids far past them (only a damaged store makes those).
/// The table grows to cover an id that extends it by one (the next id
/// handed out, however many came and went before: four bytes per id ever
/// handed out, at most one per event), or one within eight ids per member
/// (plus 1024). So no id, nor any sequence of ids, makes it larger than
/// the events or the members that made it; and an organization whose
/// members come and go keeps every id in the table, where a look-up is
/// one memory access rather than a walk down a tree. Every id in `sparse`
/// is at or past `dense.len()`, so `dense` then `sparse` is id order.
#[derive(Debug, Clone, Default)]
struct SlotIds {
    dense: Vec<u32>,
    sparse: BTreeMap<u64, u32>,
}

impl SlotIds {
    fn get(&self, id: UserId) -> Option<u32> {
        match usize::try_from(id.0).ok().and_then(|i| self.dense.get(i)) {
            Some(&slot) => (slot != NO_SLOT).then_some(slot),
            None => self.sparse.get(&id.0).copied(),
        }
    }

    /// Records `id`'s slot, with `population` members (this one included).
    fn set(&mut self, id: UserId, slot: u32, population: usize) {
        if let Ok(i) = usize::try_from(id.0) {
            if let Some(entry) = self.dense.get_mut(i) {
                *entry = slot;
                return;
            }
            if i == self.dense.len() || i < population.saturating_mul(8).saturating_add(1024) {
                let new_len = i.saturating_add(1);
                self.dense.resize(new_len, NO_SLOT);
                // Ids that were far past the table and now fall in it move
                // in (none, nearly always: looked at before splitting).
                let new_end = u64::try_from(new_len).unwrap_or(u64::MAX);
                let moving = self
                    .sparse
                    .first_key_value()
                    .is_some_and(|(k, _)| *k < new_end);
                let stay = if moving {
                    self.sparse.split_off(&new_end)
                } else {
                    std::mem::take(&mut self.sparse)
                };
                for (moved, s) in std::mem::replace(&mut self.sparse, stay) {
                    if let Some(entry) = usize::try_from(moved)
                        .ok()
                        .and_then(|m| self.dense.get_mut(m))
                    {
                        *entry = s;
                    }
                }
                if let Some(entry) = self.dense.get_mut(i) {
                    *entry = slot;
                }
                return;
            }
        }
        self.sparse.insert(id.0, slot);
    }

    fn clear(&mut self, id: UserId) {
        match usize::try_from(id.0)
            .ok()
            .and_then(|i| self.dense.get_mut(i))
        {
            Some(entry) => *entry = NO_SLOT,
            None => {
                self.sparse.remove(&id.0);
            }
        }
    }

    /// Every slot, in id order.
    fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.dense
            .iter()
            .copied()
            .filter(|s| *s != NO_SLOT)
            .chain(self.sparse.values().copied())
    }
}

/// The slot among `slots` whose member holds `email` (hashed to `hash`),
/// found through `lookup`.
fn find_slot(lookup: &HashTable<u32>, slots: &[Member], hash: u64, email: &Email) -> Option<u32> {
    lookup
        .find(hash, |s| {
            slots.get(at(*s)).is_some_and(|m| m.email == *email)
        })
        .copied()
}

/// Inserts `slot` (its address hashed to `hash`) into `lookup`; the table
/// rehashes the others from their members' addresses as it grows.
fn insert_slot(
    lookup: &mut HashTable<u32>,
    slots: &[Member],
    hasher: &DefaultHashBuilder,
    hash: u64,
    slot: u32,
) {
    lookup.insert_unique(hash, slot, |s| {
        slots.get(at(*s)).map_or(0, |m| hasher.hash_one(&m.email))
    });
}

fn at(slot: u32) -> usize {
    // u32 always fits usize on the targets this crate builds for (32 and
    // 64 bits); a slot that did not would find nothing.
    usize::try_from(slot).unwrap_or(usize::MAX)
}

impl Members {
    /// Members restored from a snapshot, each listed once, in any order
    /// (snapshots list them by address, which makes finding members who
    /// share an address a walk), with the members of each group and the
    /// next free id. The look-ups are built at once rather than one insert
    /// at a time; the users-page indexes wait for the first page request.
    ///
    /// # Errors
    /// Why the snapshot is inconsistent: an id listed twice, or a group
    /// listing someone who is not a member.
    pub(crate) fn restore<'a>(
        members: Vec<Member>,
        groups: impl IntoIterator<Item = (GroupId, &'a [UserId])>,
        next: u64,
    ) -> Result<Members, String> {
        let mut restored = Members {
            next,
            slots: members,
            ..Members::default()
        };
        if u32::try_from(restored.slots.len()).is_err() {
            return Err("it lists more members than an organization can hold".into());
        }
        let population = restored.slots.len();
        restored.pending = restored
            .slots
            .iter()
            .filter(|m| m.status.is_pending())
            .count();
        // The table covers every id handed out so far (so the next ones
        // extend it), unless that is more than 16 per member: a history
        // that long, or a damaged counter, leaves the farthest in `sparse`.
        let handed_out = usize::try_from(next).unwrap_or(usize::MAX);
        let reach = population.saturating_mul(16).saturating_add(1024);
        restored.ids.dense = vec![NO_SLOT; handed_out.min(reach)];
        for (slot, member) in (0u32..).zip(&restored.slots) {
            if restored.ids.get(member.id).is_some() {
                return Err(format!("member {} is listed twice", member.id));
            }
            restored.ids.set(member.id, slot, population);
        }
        for (group, users) in groups {
            for user in users {
                let member = restored
                    .ids
                    .get(*user)
                    .and_then(|slot| restored.slots.get_mut(at(slot)));
                let Some(member) = member else {
                    return Err(format!("group {group} lists a member that does not exist"));
                };
                member.add_group(group);
            }
        }
        let Members {
            slots,
            lookup,
            hasher,
            shared,
            ..
        } = &mut restored;
        // Snapshots list members by (address, id): members sharing an
        // address are then neighbours. Any other order is still loaded,
        // looking each up.
        let sorted = slots.is_sorted_by(|a, b| (&a.email, a.id) <= (&b.email, b.id));
        let mut share = |a: &Member, b: &Member| {
            let ids = shared.entry(a.email.clone()).or_default();
            ids.insert(a.id);
            ids.insert(b.id);
        };
        lookup.reserve(slots.len(), |_| 0);
        if sorted {
            // Inserted in the order of the table's positions, so the
            // writes walk the table instead of jumping about it (a cache
            // miss each, at a million members): the position is the
            // hash's low bits, which the rotation puts on top. Only a
            // matter of speed: any order builds the same table.
            let position_bits = lookup
                .capacity()
                .saturating_mul(8)
                .checked_div(7)
                .map_or(0, |b| {
                    b.saturating_add(1).next_power_of_two().trailing_zeros()
                });
            let mut hashed: Vec<(u64, u32)> = (0u32..)
                .zip(slots.iter())
                .map(|(slot, m)| (hasher.hash_one(&m.email), slot))
                .collect();
            hashed.sort_unstable_by_key(|(hash, _)| hash.rotate_right(position_bits));
            for (hash, slot) in hashed {
                insert_slot(lookup, slots, hasher, hash, slot);
            }
        } else {
            for (slot, member) in (0u32..).zip(slots.iter()) {
                let hash = hasher.hash_one(&member.email);
                if let Some(other) =
                    find_slot(lookup, slots, hash, &member.email).and_then(|s| slots.get(at(s)))
                {
                    share(other, member);
                }
                insert_slot(lookup, slots, hasher, hash, slot);
            }
        }
        if sorted {
            for pair in slots.windows(2) {
                if let [a, b] = pair
                    && a.email == b.email
                {
                    share(a, b);
                }
            }
        }
        Ok(restored)
    }

    /// The member with this id.
    pub(crate) fn get(&self, id: UserId) -> Option<&Member> {
        self.slots.get(at(self.ids.get(id)?))
    }

    fn get_mut(&mut self, id: UserId) -> Option<&mut Member> {
        self.slots.get_mut(at(self.ids.get(id)?))
    }

    /// Whether `id` is a member.
    pub(crate) fn contains(&self, id: UserId) -> bool {
        self.ids.get(id).is_some()
    }

    /// Every member, in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Member> {
        self.ids.iter().filter_map(|slot| self.slots.get(at(slot)))
    }

    /// Every member, in (address, id) order: the users page's order, and
    /// a snapshot's. Sorted here (by each address's first bytes as a
    /// number, falling through to the whole address only where those tie)
    /// rather than read from the users-page indexes, which may not exist.
    pub(crate) fn by_email_order(&self) -> Vec<&Member> {
        let mut keyed: Vec<(u64, &Member)> = self
            .slots
            .iter()
            .map(|m| (super::index::email_prefix(&m.email), m))
            .collect();
        keyed.sort_unstable_by(|(pa, a), (pb, b)| {
            pa.cmp(pb)
                .then_with(|| (&a.email, a.id).cmp(&(&b.email, b.id)))
        });
        keyed.into_iter().map(|(_, m)| m).collect()
    }

    /// The number of members.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Calls `read` with the indexes behind the users page, built or
    /// brought up to date first (see [`PageIndex`]).
    pub(crate) fn with_index<R>(&self, read: impl FnOnce(&MemberIndex) -> R) -> R {
        self.index.read(&self.slots, |id| self.get(id), read)
    }

    /// Drops the users-page indexes and their notes (tests: the next
    /// page builds them afresh).
    #[cfg(test)]
    pub(crate) fn reset_page_index(&mut self) {
        self.index = PageIndex::default();
    }

    /// How many group ids the users-page notes hold (tests).
    #[cfg(test)]
    pub(crate) fn noted_group_ids(&self) -> usize {
        self.index.noted_group_ids()
    }

    /// The number of pending members.
    pub(crate) fn pending_count(&self) -> usize {
        self.pending
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

    /// The slot of the member with this address (any of them, when several
    /// share it).
    fn slot_of(&self, email: &Email) -> Option<u32> {
        find_slot(
            &self.lookup,
            &self.slots,
            self.hasher.hash_one(email),
            email,
        )
    }

    /// The member with this address; see [`Organization::member`](super::Organization::member).
    pub(crate) fn by_email(&self, email: &Email) -> Option<&Member> {
        if !self.shared.is_empty()
            && let Some(ids) = self.shared.get(email)
        {
            let mut sharing = ids.iter().filter_map(|id| self.get(*id));
            let first = sharing.clone().next();
            return sharing
                .find(|m| m.email.as_str() == email.as_str())
                .or(first);
        }
        self.slots.get(at(self.slot_of(email)?))
    }

    /// Every address held by more than one member, as groups of members.
    pub(crate) fn sharing_an_address(&self) -> Vec<Vec<&Member>> {
        self.shared
            .values()
            .map(|ids| ids.iter().filter_map(|id| self.get(*id)).collect())
            .collect()
    }

    /// Adds a member. A member whose address another member already holds
    /// (under [`Email`]'s identity rule) is kept as well: `decide` never
    /// invites a held address, so such an event comes from a store written
    /// under an older, finer identity rule, and dropping it would lose a
    /// member. An id that is already taken changes nothing (nor does a
    /// member past the 4 294 967 294th, which no memory holds); returns
    /// whether the member was added.
    pub(crate) fn insert(&mut self, member: Member) -> bool {
        if self.contains(member.id) {
            return false;
        }
        let Some(slot) = u32::try_from(self.slots.len())
            .ok()
            .filter(|s| *s != NO_SLOT)
        else {
            return false;
        };
        self.next = self.next.max(member.id.0.saturating_add(1));
        let hash = self.hasher.hash_one(&member.email);
        if let Some(other) = find_slot(&self.lookup, &self.slots, hash, &member.email)
            .and_then(|s| self.slots.get(at(s)))
        {
            let ids = self.shared.entry(member.email.clone()).or_default();
            ids.insert(other.id);
            ids.insert(member.id);
        }
        let population = self.slots.len().saturating_add(1);
        self.index.note(member.id, None, population);
        if member.status.is_pending() {
            self.pending = self.pending.saturating_add(1);
        }
        self.ids.set(member.id, slot, population);
        self.slots.push(member);
        insert_slot(&mut self.lookup, &self.slots, &self.hasher, hash, slot);
        true
    }

    /// Takes a member out, with their index entries.
    pub(crate) fn remove(&mut self, user: UserId) -> Option<Member> {
        let slot = self.ids.get(user)?;
        let member = self.slots.get(at(slot))?;
        let hash = self.hasher.hash_one(&member.email);
        if let Ok(entry) = self.lookup.find_entry(hash, |s| *s == slot) {
            entry.remove();
        }
        if let Some(ids) = self.shared.get_mut(&member.email) {
            ids.remove(&user);
            if ids.len() < 2 {
                self.shared.remove(&member.email);
            }
        }
        self.index.note(user, Some(member), self.slots.len());
        if member.status.is_pending() {
            self.pending = self.pending.saturating_sub(1);
        }
        self.ids.clear(user);
        let member = self.slots.swap_remove(at(slot));
        // The last member moved into the freed slot: its look-ups follow.
        if let Some(moved) = self.slots.get(at(slot)) {
            let old = u32::try_from(self.slots.len()).unwrap_or(NO_SLOT);
            self.ids.set(moved.id, slot, self.slots.len());
            let hash = self.hasher.hash_one(&moved.email);
            if let Some(entry) = self.lookup.find_mut(hash, |s| *s == old) {
                *entry = slot;
            }
        }
        Some(member)
    }

    /// Changes a member, keeping the indexes in step; returns whether
    /// `id` is a member.
    fn update(&mut self, id: UserId, change: impl FnOnce(&mut Member)) -> bool {
        let Some(slot) = self.ids.get(id) else {
            return false;
        };
        let population = self.slots.len();
        let Some(member) = self.slots.get_mut(at(slot)) else {
            return false;
        };
        self.index.note(id, Some(member), population);
        let was_pending = member.status.is_pending();
        change(member);
        match (was_pending, member.status.is_pending()) {
            (true, false) => self.pending = self.pending.saturating_sub(1),
            (false, true) => self.pending = self.pending.saturating_add(1),
            _ => {}
        }
        true
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
            .get(user)
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
        if let Some(m) = self.get_mut(user)
            && m.status.is_pending()
        {
            m.invitation_sent_at = at;
        }
    }

    /// `user` joins `group`; returns whether they were a member.
    pub(crate) fn join(&mut self, user: UserId, group: GroupId) -> bool {
        self.update(user, |m| {
            m.add_group(group);
        })
    }

    /// `user` leaves `group`.
    pub(crate) fn leave(&mut self, user: UserId, group: GroupId) {
        self.update(user, |m| m.drop_group(group));
    }

    /// A deleted group's members leave it, and its scope goes.
    pub(crate) fn forget_group(&mut self, group: GroupId, users: &BTreeSet<UserId>) {
        for user in users {
            if let Some(m) = self.get_mut(*user) {
                m.drop_group(group);
            }
        }
        self.index.drop_group(group);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    fn member(id: u64, address: &str) -> Member {
        let at = Timestamp::UNIX_EPOCH;
        Member {
            id: UserId(id),
            email: Email::parse(address).unwrap(),
            status: MemberStatus::Pending,
            invited_at: at,
            invitation_sent_at: at,
            groups: Box::new([]),
        }
    }

    #[test]
    fn ids_far_past_the_others_are_kept_without_a_table_that_large() {
        let mut members = Members::default();
        let ids = [1, MAX_USER_ID - 1, 5, 1 << 40, 3];
        for (n, id) in ids.into_iter().enumerate() {
            assert!(members.insert(member(id, &format!("m{n}@example.com"))));
        }
        assert!(
            members.ids.dense.len() < 2048,
            "{}",
            members.ids.dense.len()
        );
        let listed: Vec<u64> = members.iter().map(|m| m.id.0).collect();
        assert_eq!(listed, [1, 3, 5, 1 << 40, MAX_USER_ID - 1]);
        assert_eq!(
            members.get(UserId(1 << 40)).unwrap().email.as_str(),
            "m3@example.com"
        );
        assert!(members.remove(UserId(1 << 40)).is_some());
        assert!(members.get(UserId(1 << 40)).is_none());
        // Ids growing one by one past the table move the far ones in, in
        // order.
        for id in 6..3000 {
            assert!(members.insert(member(id, &format!("n{id}@example.com"))));
        }
        assert!(members.iter().map(|m| m.id).is_sorted());
        assert_eq!(members.len(), 4 + 2994);

        // Ids each just inside the table's reach do not double it again
        // and again: it stays within eight ids per member (plus 1024).
        let mut members = Members::default();
        let mut id = 1u64;
        for n in 0..50 {
            assert!(members.insert(member(id, &format!("h{n}@example.com"))));
            id = id
                .saturating_mul(2)
                .saturating_add(1000)
                .min(MAX_USER_ID - 1);
        }
        assert!(
            members.ids.dense.len() <= 8 * 50 + 1024,
            "{}",
            members.ids.dense.len()
        );
        assert_eq!(members.iter().count(), 50);
        assert!(members.iter().map(|m| m.id).is_sorted());
    }

    #[test]
    fn members_who_come_and_go_keep_every_id_in_the_table() {
        // A small organization with a long history: ids run far past
        // eight per member, each handed out as the next.
        let mut members = Members::default();
        members.insert(member(1, "stays@example.com"));
        for id in 2..50_000 {
            assert!(members.insert(member(id, "passing@example.com")));
            assert!(members.remove(UserId(id)).is_some());
        }
        assert!(members.insert(member(50_000, "last@example.com")));
        assert!(
            members.ids.sparse.is_empty(),
            "{:?}",
            members.ids.sparse.len()
        );
        assert_eq!(members.ids.dense.len(), 50_001);
        assert_eq!(
            members.get(UserId(50_000)).unwrap().email.as_str(),
            "last@example.com"
        );
        // A jump far ahead is still kept aside, and the ids after it too.
        assert!(members.insert(member(1 << 40, "far@example.com")));
        assert!(members.insert(member((1 << 40) + 1, "next@example.com")));
        assert_eq!(members.ids.sparse.len(), 2);
        assert_eq!(members.ids.dense.len(), 50_001);
    }

    #[test]
    fn members_sharing_an_address_are_all_found_and_removal_keeps_the_rest() {
        let mut members = Members::default();
        assert!(members.insert(member(2, "user@xn--bcher-kva.de")));
        assert!(members.insert(member(1, "other@example.com")));
        assert!(members.insert(member(3, "user@bücher.de")));
        let typed = Email::parse("user@bücher.de").unwrap();
        let ascii = Email::parse("user@xn--bcher-kva.de").unwrap();
        assert_eq!(members.by_email(&typed).unwrap().id, UserId(3));
        assert_eq!(members.by_email(&ascii).unwrap().id, UserId(2));
        assert_eq!(members.sharing_an_address().len(), 1);
        members.remove(UserId(2));
        assert!(members.sharing_an_address().is_empty());
        assert_eq!(members.by_email(&ascii).unwrap().id, UserId(3));
        // The member moved into the freed slot is still found both ways.
        let other = Email::parse("other@example.com").unwrap();
        assert_eq!(members.by_email(&other).unwrap().id, UserId(1));
        assert_eq!(members.get(UserId(1)).unwrap().email, other);
    }

    #[test]
    fn page_indexes_are_built_on_the_first_read_and_dropped_when_changes_outgrow_them() {
        let mut members = Members::default();
        for id in 1..=5000 {
            members.insert(member(id, &format!("m{id}@example.com")));
            members.apply_accepted(UserId(id), Timestamp::UNIX_EPOCH);
        }
        assert!(!members.index.is_built(), "no page asked yet");
        let listed = |m: &Members| m.with_index(|i| i.listed());
        let before = listed(&members);
        assert!(members.index.is_built());
        // A member changed again and again is noted once.
        for s in 1..=5000 {
            members.apply_signed_in(UserId(1), Timestamp::from_second(s).unwrap());
        }
        assert!(members.index.is_built());
        // More members changed than a rebuild costs (4096 here): the
        // indexes go, and the next page builds them again from the
        // members as they are.
        for id in 2..=5000 {
            members.apply_signed_in(UserId(id), Timestamp::from_second(id as i64).unwrap());
        }
        assert!(!members.index.is_built());
        let after = listed(&members);
        assert_ne!(before, after, "Last active moved");
        let fresh = PageIndex::default();
        assert_eq!(
            after,
            fresh.read(&members.slots, |id| members.get(id), |i| i.listed())
        );
    }

    proptest! {
        /// Any sequence of insertions and removals leaves the members, their
        /// look-ups by id and by address, and a bulk restore of them, as a
        /// plain map of the same members says.
        #[test]
        fn slots_and_look_ups_follow_a_plain_map(
            steps in proptest::collection::vec((any::<bool>(), 0u64..40, 0u8..12), 1..200),
        ) {
            let mut members = Members::default();
            let mut model: BTreeMap<u64, String> = BTreeMap::new();
            for (add, id, name) in steps {
                let address = format!("p{name}@example.com");
                if add {
                    let added = members.insert(member(id, &address));
                    prop_assert_eq!(added, !model.contains_key(&id));
                    model.entry(id).or_insert(address);
                } else {
                    let removed = members.remove(UserId(id)).map(|m| m.id.0);
                    prop_assert_eq!(removed, model.remove(&id).map(|_| id));
                }
                let listed: Vec<(u64, String)> = members
                    .iter()
                    .map(|m| (m.id.0, m.email.as_str().to_owned()))
                    .collect();
                let expected: Vec<(u64, String)> =
                    model.iter().map(|(id, a)| (*id, a.clone())).collect();
                prop_assert_eq!(listed, expected);
                for (id, address) in &model {
                    let email = Email::parse(address).unwrap();
                    let found = members.by_email(&email).map(|m| m.id.0);
                    let lowest = model.iter().find(|(_, a)| *a == address).map(|(i, _)| *i);
                    prop_assert_eq!(found, lowest);
                    prop_assert!(members.get(UserId(*id)).is_some());
                }
            }
            let restored = Members::restore(
                members.by_email_order().into_iter().cloned().collect(),
                [],
                members.counter(),
            )
            .unwrap();
            prop_assert_eq!(&restored, &members);
            prop_assert_eq!(restored.sharing_an_address(), members.sharing_an_address());
        }

        /// The users-page indexes, read at any points of any history of
        /// invitations, removals, acceptances, sign-ins and group changes,
        /// are those built afresh from the members as they are then.
        #[test]
        fn page_indexes_brought_up_to_date_equal_ones_built_afresh(
            steps in proptest::collection::vec((0u8..7, 0u64..30, 0u8..3, any::<bool>()), 1..200),
        ) {
            let mut members = Members::default();
            for (step, id, group, read) in steps {
                let (user, group) = (UserId(id), GroupId::new(u32::from(group) + 4));
                let at = Timestamp::from_second(i64::try_from(id).unwrap() * 7 % 11).unwrap();
                match step {
                    0 | 1 => {
                        members.insert(member(id, &format!("p{}@example.com", id % 9)));
                    }
                    2 => {
                        members.remove(user);
                    }
                    3 => members.apply_accepted(user, at),
                    4 => {
                        members.apply_signed_in(user, at);
                    }
                    5 => {
                        members.join(user, group);
                    }
                    _ => members.leave(user, group),
                }
                if read {
                    let fresh = PageIndex::default();
                    let expected = fresh.read(&members.slots, |id| members.get(id), |i| i.listed());
                    prop_assert_eq!(members.with_index(|i| i.listed()), expected);
                    let pending = members.iter().filter(|m| m.status.is_pending()).count();
                    prop_assert_eq!(members.pending_count(), pending);
                }
            }
            let fresh = PageIndex::default();
            let expected = fresh.read(&members.slots, |id| members.get(id), |i| i.listed());
            prop_assert_eq!(members.with_index(|i| i.listed()), expected);
        }
    }
}
