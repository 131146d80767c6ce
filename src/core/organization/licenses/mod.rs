//! User licenses: pools of seats per license kind, allocations to members,
//! and group license rules. The rules are documented on [`LicenseRule`].

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
///
/// The organization holds a pool of seats per [`LicenseKind`]. A member
/// (pending ones too) holds a license either directly (allocated by an
/// administrator) or through a group license rule. A direct allocation
/// replaces what the member inherits from groups. No pool is ever
/// over-allocated. [`Organization::seat_usage`](crate::Organization::seat_usage)
/// sums it up; the full rules follow.
///
/// # State
///
/// The organization holds one pool of seats per license kind. Holdings are
/// explicit and event-sourced: each member holds a set of kinds, each with a
/// [`LicenseSource`]: [`Direct`](LicenseSource::Direct) (allocated by an
/// administrator) or [`Group(g)`](LicenseSource::Group) (granted by `g`'s
/// license rule). A member holds a kind at most once. The seats used of a
/// kind are the number of members holding it, and **seats used <= seats
/// always**: every command that would need more seats than are free is
/// refused with [`DomainError::NoSeatsLeft`](crate::DomainError::NoSeatsLeft) and changes nothing.
///
/// Invariants kept by every command (and checked again by `apply`, which
/// ignores an event that would break them, possible only with a tampered
/// store):
/// - a holding's kind has a pool, and no pool is over-allocated;
/// - a group-sourced holding belongs to a member of that group, and is of
///   the kind of that group's rule;
/// - a member who holds any license directly holds none through groups
///   (a direct allocation replaces what the member inherits);
/// - every rule's kind has a pool, and its quota (if any) is at least 1 and
///   never exceeded.
///
/// # Commands
///
/// - `SetLicensePool { kind, seats }` creates the pool or resizes it. The
///   same seats again: no events. Shrinking below the seats in use:
///   [`DomainError::SeatsInUse`](crate::DomainError::SeatsInUse).
/// - `RemoveLicensePool { kind }`: [`DomainError::UnknownLicenseKind`](crate::DomainError::UnknownLicenseKind)
///   without a pool, [`DomainError::SeatsInUse`](crate::DomainError::SeatsInUse) while any seat is used.
///   Group rules of that kind are removed with it (they granted nothing,
///   since no seat was used): `LicenseRuleRemoved` for each, then
///   `LicensePoolRemoved`.
/// - `AllocateLicense { user, kind }`: the member (pending ones too) must
///   exist ([`DomainError::UnknownUsers`](crate::DomainError::UnknownUsers)) and the pool too
///   ([`DomainError::UnknownLicenseKind`](crate::DomainError::UnknownLicenseKind)). Already held directly: no
///   events. Otherwise `LicenseReleased` for every license the member holds
///   through a group (in kind order), then `LicenseGranted { Direct }`. It
///   needs one free seat of `kind`, unless the member already holds `kind`
///   through a group (the seat then just changes source); otherwise
///   [`DomainError::NoSeatsLeft`](crate::DomainError::NoSeatsLeft) with `needed: 1`.
/// - `DeallocateLicense { user, kind }`: [`DomainError::NotAllocated`](crate::DomainError::NotAllocated)
///   unless the member holds `kind` directly. `LicenseReleased`, then, if
///   the member has no direct license left, the rules of the groups they are
///   in (in group-id order) apply to them again: `LicenseGranted { Group }`
///   where the rule's quota and the pool's seats allow, skipped silently
///   where they do not. Deallocating never fails for lack of seats.
/// - `SetGroupLicenseRule { group, kind, quota }`: the group must exist
///   ([`DomainError::UnknownGroups`](crate::DomainError::UnknownGroups)) and not be `Everyone`
///   ([`DomainError::EveryoneImplicit`](crate::DomainError::EveryoneImplicit): give every member a license with
///   direct allocations instead); `quota: Some(0)` is
///   [`DomainError::InvalidQuota`](crate::DomainError::InvalidQuota); the pool must exist. The rule replaces
///   the group's previous one. Events: `LicenseRuleSet`, then
///   `LicenseReleased` for what the old rule granted and the new one does
///   not keep, then `LicenseGranted { Group }` for current members who now
///   receive it. Who holds it afterwards:
///   - when the kind is unchanged, members already holding it through the
///     rule keep it (up to the new quota, lowest user ids first; the others
///     are released); when the kind changes, everything the old rule granted
///     is released;
///   - then current members in user-id order receive it, up to the quota,
///     skipping members with a direct allocation and members already
///     holding the kind (through another group).
///
///   Needing more seats than are free: [`DomainError::NoSeatsLeft`](crate::DomainError::NoSeatsLeft), nothing
///   changes. Setting the same rule again with nothing to change: no
///   events; with seats or quota freed since, it tops the grants up (so
///   setting a rule again is how to re-apply it).
/// - `RemoveGroupLicenseRule { group }`: [`DomainError::UnknownGroups`](crate::DomainError::UnknownGroups) for
///   an unknown group; no rule: no events. Otherwise one explicit
///   `LicenseReleased` per license the rule granted (user-id order), then
///   `LicenseRuleRemoved` (whose apply also drops anything still sourced
///   from the rule, which in a well-formed stream is nothing).
///
/// # Joining groups
///
/// Members joining groups (invited into them, or added with
/// `AddGroupMembers`) receive each joined group's rule kind, in the order
/// they join and in group-id order, when they hold no license directly,
/// do not already hold the kind (counting grants earlier in the same
/// command), and the rule's quota is not full (counting grants earlier in
/// the same command). If the grants need more seats of any kind than are
/// free, the whole command is refused with [`DomainError::NoSeatsLeft`](crate::DomainError::NoSeatsLeft)
/// (for the first such kind): nobody is invited or added. This includes
/// bulk CSV invitations: one row too many refuses the whole file.
///
/// # Leaving
///
/// Applying these events releases licenses implicitly (no extra events):
/// removing a member (or revoking an invitation) releases everything they
/// hold; a member leaving a group releases what that group's rule granted
/// them; deleting a group drops its rule and releases what it granted.
/// Freed seats and quota are not handed to anyone else automatically; set
/// the rule again to re-apply it.
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
    pools: BTreeMap<LicenseKind, u32>,
    /// One rule per group at most.
    rules: BTreeMap<GroupId, LicenseRule>,
    /// What each member holds, and from where (no empty entries).
    holdings: BTreeMap<UserId, BTreeMap<LicenseKind, LicenseSource>>,
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
    /// Checks what a snapshot stored against the rules every event keeps,
    /// in one pass over the licenses: every pool's seats cover the seats
    /// used, every held kind and every rule's kind has a pool, every holder
    /// is a member, every rule's group exists, and a license held through a
    /// group belongs to a member of that group whose rule gives that kind,
    /// within its quota. `is_member` and `in_group` answer from the
    /// loaded members and groups.
    pub(crate) fn check_loaded(
        &self,
        is_member: impl Fn(UserId) -> bool,
        group_exists: impl Fn(GroupId) -> bool,
        in_group: impl Fn(GroupId, UserId) -> bool,
    ) -> Result<(), String> {
        for (kind, holders) in &self.holders {
            let Some(seats) = self.pools.get(kind) else {
                return Err(format!("licenses of {kind} are held but it has no pool"));
            };
            if u32::try_from(holders.len()).map_or(true, |used| used > *seats) {
                return Err(format!(
                    "{} seats of {kind} are used, more than its {seats}",
                    holders.len()
                ));
            }
        }
        for (group, rule) in &self.rules {
            if !group_exists(*group) {
                return Err(format!(
                    "a license rule names {group}, which does not exist"
                ));
            }
            if !self.pools.contains_key(&rule.kind) {
                return Err(format!(
                    "a license rule gives {}, which has no pool",
                    rule.kind
                ));
            }
        }
        for (user, held) in &self.holdings {
            if !is_member(*user) {
                return Err(format!("{user} holds licenses but is not a member"));
            }
            for (kind, source) in held {
                let LicenseSource::Group(group) = source else {
                    continue;
                };
                let by_rule = self.rules.get(group).is_some_and(|r| r.kind == *kind);
                if !by_rule || !in_group(*group, *user) {
                    return Err(format!(
                        "{user} holds {kind} through {group}, which does not give it to them"
                    ));
                }
            }
        }
        for (group, granted) in &self.granted {
            let quota = self.rules.get(group).and_then(|r| r.quota);
            if quota.is_some_and(|q| u32::try_from(granted.len()).map_or(true, |n| n > q)) {
                return Err(format!("{group}'s license rule is over its quota"));
            }
        }
        Ok(())
    }

    /// How many pools (license kinds) there are.
    pub(crate) fn pool_count(&self) -> usize {
        self.pools.len()
    }

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
