//! User licenses: pools of seats per license kind, allocations to members,
//! and group license rules.
//!
//! The organization holds a pool of seats per [`LicenseKind`]. A member
//! (pending ones too) holds a license either directly (allocated by an
//! administrator) or through a group license rule. A direct allocation
//! replaces what the member inherits from groups. No pool is ever
//! over-allocated: a command that would need more seats than are free is
//! refused with [`DomainError::NoSeatsLeft`](crate::DomainError::NoSeatsLeft)
//! and changes nothing.
//!
//! [`Organization::seat_usage`](crate::Organization::seat_usage) sums the
//! rules up for users of the crate; the full rules (pools, allocations,
//! group rules, joins, removals, the events each command emits) are in the
//! docs of `src/organization/licenses.rs`.

mod rules;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize, Serializer};

use crate::{GroupId, LicenseKind, UserId};

/// Where a member's license comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LicenseSource {
    /// Allocated to the member directly.
    Direct,
    /// Through this group's license rule.
    Group(GroupId),
}

/// A group license rule: members of the group receive `kind`, at most
/// `quota` of them if set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LicenseRule {
    /// The license kind members receive.
    pub kind: LicenseKind,
    /// At most this many members receive it through the rule (at least 1).
    pub quota: Option<u32>,
}

/// Seats of one license kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SeatUsage {
    /// The license kind.
    pub kind: LicenseKind,
    /// Seats in the pool.
    pub seats: u32,
    /// Seats held.
    pub used: u32,
}

impl SeatUsage {
    /// Seats still free.
    pub fn free(&self) -> u32 {
        self.seats.saturating_sub(self.used)
    }
}

/// The license state of an organization.
///
/// `pools`, `rules` and `holdings` are the state proper (and all a snapshot
/// stores); `holders` and `granted` are indexes derived from `holdings`,
/// rebuilt when a snapshot is loaded. Change holdings only through
/// [`Licenses::grant`] and [`Licenses::release`], which keep the indexes
/// in step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "Wire")]
pub(crate) struct Licenses {
    /// Seats per kind. The key keeps the spelling the pool was created with.
    pub(crate) pools: BTreeMap<LicenseKind, u32>,
    /// One rule per group at most.
    pub(crate) rules: BTreeMap<GroupId, LicenseRule>,
    /// What each member holds, and from where (no empty entries).
    pub(crate) holdings: BTreeMap<UserId, BTreeMap<LicenseKind, LicenseSource>>,
    /// Index: who holds each kind (no empty entries). Seats used is its
    /// length.
    holders: BTreeMap<LicenseKind, BTreeMap<UserId, LicenseSource>>,
    /// Index: what each group's rule granted, as (member, kind) (no empty
    /// entries). The rule's quota counts its length.
    granted: BTreeMap<GroupId, BTreeSet<(UserId, LicenseKind)>>,
}

/// What a snapshot stores: the state without its indexes.
#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    pools: BTreeMap<LicenseKind, u32>,
    #[serde(default)]
    rules: BTreeMap<GroupId, LicenseRule>,
    #[serde(default)]
    holdings: BTreeMap<UserId, BTreeMap<LicenseKind, LicenseSource>>,
}

#[derive(Serialize)]
struct WireRef<'a> {
    pools: &'a BTreeMap<LicenseKind, u32>,
    rules: &'a BTreeMap<GroupId, LicenseRule>,
    holdings: &'a BTreeMap<UserId, BTreeMap<LicenseKind, LicenseSource>>,
}

impl Serialize for Licenses {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WireRef {
            pools: &self.pools,
            rules: &self.rules,
            holdings: &self.holdings,
        }
        .serialize(s)
    }
}

impl From<Wire> for Licenses {
    fn from(wire: Wire) -> Licenses {
        let mut licenses = Licenses {
            pools: wire.pools,
            rules: wire.rules,
            ..Licenses::default()
        };
        for (user, held) in wire.holdings {
            for (kind, source) in held {
                licenses.grant(user, kind, source);
            }
        }
        licenses
    }
}

impl Licenses {
    /// Seats in use of `kind`, in O(log kinds).
    pub(crate) fn used(&self, kind: &LicenseKind) -> u32 {
        self.holders
            .get(kind)
            .map_or(0, |h| u32::try_from(h.len()).unwrap_or(u32::MAX))
    }

    /// Free seats of `kind` (0 without a pool).
    pub(crate) fn free(&self, kind: &LicenseKind) -> u32 {
        self.pools
            .get(kind)
            .map_or(0, |seats| seats.saturating_sub(self.used(kind)))
    }

    /// Where `user`'s `kind` license comes from, if they hold one.
    pub(crate) fn source(&self, user: UserId, kind: &LicenseKind) -> Option<LicenseSource> {
        self.holdings.get(&user)?.get(kind).copied()
    }

    /// What `user` holds, in kind order.
    pub(crate) fn held_by(
        &self,
        user: UserId,
    ) -> impl Iterator<Item = (&LicenseKind, LicenseSource)> + '_ {
        self.holdings
            .get(&user)
            .into_iter()
            .flatten()
            .map(|(kind, source)| (kind, *source))
    }

    /// Whether `user` holds any license directly.
    pub(crate) fn has_direct(&self, user: UserId) -> bool {
        self.held_by(user)
            .any(|(_, source)| source == LicenseSource::Direct)
    }

    /// Who holds `kind`, in user-id order.
    pub(crate) fn holders_of(
        &self,
        kind: &LicenseKind,
    ) -> impl Iterator<Item = (UserId, LicenseSource)> + '_ {
        self.holders
            .get(kind)
            .into_iter()
            .flatten()
            .map(|(user, source)| (*user, *source))
    }

    /// What `group`'s rule granted, as (member, kind) in user-id order.
    pub(crate) fn granted_by(
        &self,
        group: GroupId,
    ) -> impl Iterator<Item = &(UserId, LicenseKind)> + '_ {
        self.granted.get(&group).into_iter().flatten()
    }

    /// How many licenses `group`'s rule granted.
    pub(crate) fn granted_count(&self, group: GroupId) -> usize {
        self.granted.get(&group).map_or(0, BTreeSet::len)
    }

    /// `user` holds `kind` from `source` (replacing where they held it from
    /// before). No checks: the caller checks seats.
    pub(crate) fn grant(&mut self, user: UserId, kind: LicenseKind, source: LicenseSource) {
        self.release(user, &kind);
        if let LicenseSource::Group(group) = source {
            self.granted
                .entry(group)
                .or_default()
                .insert((user, kind.clone()));
        }
        self.holders
            .entry(kind.clone())
            .or_default()
            .insert(user, source);
        self.holdings.entry(user).or_default().insert(kind, source);
    }

    /// `user` no longer holds `kind` (nothing happens if they did not).
    pub(crate) fn release(&mut self, user: UserId, kind: &LicenseKind) {
        let Some(held) = self.holdings.get_mut(&user) else {
            return;
        };
        let Some((kind, source)) = held.remove_entry(kind) else {
            return;
        };
        if held.is_empty() {
            self.holdings.remove(&user);
        }
        if let Some(holders) = self.holders.get_mut(&kind) {
            holders.remove(&user);
            if holders.is_empty() {
                self.holders.remove(&kind);
            }
        }
        if let LicenseSource::Group(group) = source
            && let Some(granted) = self.granted.get_mut(&group)
        {
            granted.remove(&(user, kind));
            if granted.is_empty() {
                self.granted.remove(&group);
            }
        }
    }

    /// `user` gives back everything they hold.
    pub(crate) fn release_all(&mut self, user: UserId) {
        let kinds: Vec<LicenseKind> = self.held_by(user).map(|(k, _)| k.clone()).collect();
        for kind in &kinds {
            self.release(user, kind);
        }
    }

    /// `user` gives back what `group`'s rule granted them.
    pub(crate) fn release_from_group(&mut self, user: UserId, group: GroupId) {
        let kinds: Vec<LicenseKind> = self
            .held_by(user)
            .filter(|(_, source)| *source == LicenseSource::Group(group))
            .map(|(k, _)| k.clone())
            .collect();
        for kind in &kinds {
            self.release(user, kind);
        }
    }

    /// Everything `group`'s rule granted is given back.
    pub(crate) fn release_group(&mut self, group: GroupId) {
        if let Some(granted) = self.granted.remove(&group) {
            for (user, kind) in &granted {
                self.release(*user, kind);
            }
        }
    }
}
