//! User licenses, the way the product hands them out.
//!
//! The model and its rules are documented on [`LicenseRule`] (public
//! docs); this module holds the state (`Licenses`), `rules.rs` pools and
//! group rules, `leases.rs` leasing and releasing, `allocation.rs`
//! user-level allocation, `queries.rs` what the pages show.

mod allocation;
mod leases;
mod queries;
mod rules;

use std::collections::{BTreeMap, BTreeSet};

use jiff::SignedDuration;
use serde::{Deserialize, Serialize, Serializer};

use crate::{GroupId, LicenseKind, UserId};

pub use queries::{LicenseWait, MemberLicenses, WaitReason};

/// How long a group lease lasts without a sign-in, unless the organization
/// set another period: 90 days (the product's "about three months").
pub const DEFAULT_LICENSE_IDLE_PERIOD: SignedDuration = SignedDuration::from_hours(90 * 24);

/// The shortest idle period an organization may set: one day.
pub const MIN_LICENSE_IDLE_PERIOD: SignedDuration = SignedDuration::from_hours(24);

/// Where a member's license comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LicenseSource {
    /// Allocated to the member directly (user-level allocation).
    Direct,
    /// Leased through this group's license rule.
    Group(GroupId),
}

/// A group license rule: the license kinds the group's members lease at
/// sign-in, each with an optional quota (at most that many members hold it
/// through this group; at least 1).
///
/// # The model, in the product's terms
///
/// The organization holds a **pool of seats per license kind**
/// (`SetLicensePool`). A member holds licenses in one of two ways, never
/// both at once:
///
/// - **Group-based allocation** (every member starts there). A group may
///   have a **license rule**: a set of license kinds, each with an optional
///   quota (at least 1) — see [`LicenseRule`]. Group licenses are **leased
///   when a member signs in**, first come first served while the rule's
///   quota and the pool's seats last ([`Command::LeaseLicenses`](crate::Command::LeaseLicenses),
///   which the service appends after each sign-in: see
///   [`AccountService::grant_due_leases`](crate::AccountService::grant_due_leases)).
///   **Pending invitees hold no group license** until they sign in, so
///   a shortage of seats never blocks an invitation or a CSV upload: the
///   people are invited, and those who find no free seat at their sign-in
///   simply wait for one. A lease is **released after a period without
///   sign-in** (an organization setting, [`DEFAULT_LICENSE_IDLE_PERIOD`]
///   = 90 days by default, changed with `SetLicenseIdlePeriod`; hosts run
///   [`Command::ReleaseIdleLeases`](crate::Command::ReleaseIdleLeases) or
///   [`AccountService::release_idle_leases`](crate::AccountService::release_idle_leases)
///   periodically, for example daily), or by an administrator's
///   **Release license** (`ReleaseLicense`). A released member picks a
///   license up again at their next sign-in, if a seat is free; a freed
///   seat goes to the next eligible member who signs in.
/// - **User-level allocation.** An administrator allocates licenses to a
///   member directly (`AllocateLicense` adds one kind, `SetUserLicenses`
///   sets the whole selection), pending members too. It **replaces
///   whatever their groups give, entirely**: the member's group leases are
///   released and they lease none while on user-level allocation. With
///   nothing selected (`SetUserLicenses` with no kinds, or deallocating
///   the last kind) the member holds no license at all, until an
///   administrator switches them back to group-based allocation
///   (`UseGroupLicenses`).
///
/// # What the rules keep
///
/// - **No pool is ever over-allocated by a command**: a direct allocation
///   needing a seat that is not free is refused
///   ([`DomainError::NoSeatsLeft`](crate::DomainError::NoSeatsLeft)); a
///   lease that finds no free seat is simply not made. A pool cannot shrink
///   below the seats held ([`DomainError::SeatsInUse`](crate::DomainError::SeatsInUse)).
/// - A rule's **quota cannot be lowered below the leases it holds**
///   ([`DomainError::QuotaInUse`](crate::DomainError::QuotaInUse) says how
///   many hold it); release some first. Removing a kind from a rule, or
///   the rule, releases its leases.
/// - A group lease belongs to an active member of that group whose rule
///   gives the kind, within its quota; a member on user-level allocation
///   holds none; a member holds a kind at most once.
/// - **Leaving a group re-evaluates the member's other groups**: a lease of
///   a group the member leaves (or that is deleted, or whose rule stops
///   giving the kind) moves to another of their groups whose rule gives the
///   same kind and has quota left (the seat stays theirs); otherwise it is
///   released. Removing a member (or revoking an invitation) releases
///   everything they hold.
///
/// `apply` checks these again and ignores an event that would break them
/// (possible only with a tampered store).
///
/// # Stores written before leases
///
/// Earlier versions had one kind per rule (`license_rule_set` events) and
/// granted group licenses at once, pending invitees included. Such stores
/// load unchanged: a `license_rule_set` event is read as a rule of one
/// kind, and **a group license granted to a member still pending is
/// released on load** (the event is ignored, as it would be now): the
/// invitee leases it at their first sign-in, as anyone invited today. Group
/// licenses of active members are kept as leases. A snapshot holding such
/// a grant loads with it released, as the events would rebuild it. Direct
/// allocations are kept, pending members' included; a member who held one
/// is on user-level allocation, and one whose last direct license was
/// deallocated by an earlier version is back on group-based allocation, as
/// then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RuleWire")]
#[non_exhaustive]
pub struct LicenseRule {
    /// Each kind the rule gives, with its quota (`None`: every member).
    pub licenses: BTreeMap<LicenseKind, Option<u32>>,
}

impl LicenseRule {
    /// Whether the rule gives `kind`.
    pub fn gives(&self, kind: &LicenseKind) -> bool {
        self.licenses.contains_key(kind)
    }

    /// The quota of `kind` (`None`: no quota, or the rule does not give it).
    pub fn quota(&self, kind: &LicenseKind) -> Option<u32> {
        self.licenses.get(kind).copied().flatten()
    }
}

/// A stored rule: today's set of kinds, or an older rule of one kind.
#[derive(Deserialize)]
#[serde(untagged)]
enum RuleWire {
    Kinds {
        licenses: BTreeMap<LicenseKind, Option<u32>>,
    },
    OneKind {
        kind: LicenseKind,
        #[serde(default)]
        quota: Option<u32>,
    },
}

impl From<RuleWire> for LicenseRule {
    fn from(wire: RuleWire) -> LicenseRule {
        match wire {
            RuleWire::Kinds { licenses } => LicenseRule { licenses },
            RuleWire::OneKind { kind, quota } => LicenseRule {
                licenses: BTreeMap::from([(kind, quota)]),
            },
        }
    }
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
/// `pools`, `rules`, `holdings`, `withheld` and `idle_after` are the state
/// proper (and all a snapshot stores); `holders` and `granted` are indexes
/// derived from `holdings`, rebuilt when a snapshot is loaded. Change
/// holdings only through [`Licenses::grant`] and [`Licenses::release`],
/// which keep the indexes in step. A member who holds nothing and is on
/// group-based allocation has no entry anywhere: licenses cost nothing per
/// member until someone holds one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "Wire")]
pub(crate) struct Licenses {
    /// Seats per kind. The key keeps the spelling the pool was created with.
    pools: BTreeMap<LicenseKind, u32>,
    /// One rule per group at most.
    rules: BTreeMap<GroupId, LicenseRule>,
    /// What each member holds, and from where (no empty entries).
    holdings: BTreeMap<UserId, BTreeMap<LicenseKind, LicenseSource>>,
    /// Members on user-level allocation with nothing selected (a member
    /// holding a license directly is on user-level allocation anyway).
    withheld: BTreeSet<UserId>,
    /// How long a lease lasts without sign-in (`None`: the default).
    idle_after: Option<SignedDuration>,
    /// Index: who holds each kind (no empty entries). Seats used is its
    /// length.
    holders: BTreeMap<LicenseKind, BTreeMap<UserId, LicenseSource>>,
    /// Index: the leases each group's rule gave, per kind (no empty
    /// entries). The quota of a kind counts its length.
    granted: BTreeMap<GroupId, BTreeMap<LicenseKind, BTreeSet<UserId>>>,
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
    #[serde(default)]
    withheld: BTreeSet<UserId>,
    #[serde(default)]
    idle_after: Option<SignedDuration>,
}

#[derive(Serialize)]
struct WireRef<'a> {
    pools: &'a BTreeMap<LicenseKind, u32>,
    rules: &'a BTreeMap<GroupId, LicenseRule>,
    holdings: &'a BTreeMap<UserId, BTreeMap<LicenseKind, LicenseSource>>,
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    withheld: &'a BTreeSet<UserId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    idle_after: &'a Option<SignedDuration>,
}

impl Serialize for Licenses {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        WireRef {
            pools: &self.pools,
            rules: &self.rules,
            holdings: &self.holdings,
            withheld: &self.withheld,
            idle_after: &self.idle_after,
        }
        .serialize(s)
    }
}

impl From<Wire> for Licenses {
    fn from(wire: Wire) -> Licenses {
        let mut licenses = Licenses {
            pools: wire.pools,
            rules: wire.rules,
            withheld: wire.withheld,
            idle_after: wire.idle_after,
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

/// What the load check needs to know of a holder.
pub(crate) struct HolderFacts {
    /// Whether they are a member at all.
    pub(crate) member: bool,
    /// Whether they are a pending member.
    pub(crate) pending: bool,
}

impl Licenses {
    /// Checks what a snapshot stored against the rules every event keeps,
    /// in one pass over the licenses: every pool's seats cover the seats
    /// used, every held kind and every rule's kind has a pool, every
    /// holder is a member, every rule's group exists, a group lease belongs
    /// to an active member of that group on group-based allocation whose
    /// rule gives that kind, within its quota, and every idle period is at
    /// least the minimum. `holder` and `in_group` answer from the loaded
    /// members and groups.
    pub(crate) fn check_loaded(
        &self,
        holder: impl Fn(UserId) -> HolderFacts,
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
            if rule.licenses.is_empty() {
                return Err(format!("{group}'s license rule gives nothing"));
            }
            for (kind, quota) in &rule.licenses {
                if !self.pools.contains_key(kind) {
                    return Err(format!("a license rule gives {kind}, which has no pool"));
                }
                if *quota == Some(0) {
                    return Err(format!("{group}'s license rule has a quota of 0"));
                }
            }
        }
        for (user, held) in &self.holdings {
            let facts = holder(*user);
            if !facts.member {
                return Err(format!("{user} holds licenses but is not a member"));
            }
            let direct = held.values().any(|s| *s == LicenseSource::Direct);
            for (kind, source) in held {
                let LicenseSource::Group(group) = source else {
                    continue;
                };
                if facts.pending || direct || self.withheld.contains(user) {
                    return Err(format!(
                        "{user} leases {kind} through {group} while pending or on user-level allocation"
                    ));
                }
                let by_rule = self.rules.get(group).is_some_and(|r| r.gives(kind));
                if !by_rule || !in_group(*group, *user) {
                    return Err(format!(
                        "{user} holds {kind} through {group}, which does not give it to them"
                    ));
                }
            }
        }
        for user in &self.withheld {
            if !holder(*user).member {
                return Err(format!(
                    "{user} has a user-level allocation but is not a member"
                ));
            }
        }
        for (group, kinds) in &self.granted {
            for (kind, users) in kinds {
                let quota = self.rules.get(group).and_then(|r| r.quota(kind));
                if quota.is_some_and(|q| u32::try_from(users.len()).map_or(true, |n| n > q)) {
                    return Err(format!("{group}'s license rule is over its {kind} quota"));
                }
            }
        }
        if self.idle_after.is_some_and(|p| p < MIN_LICENSE_IDLE_PERIOD) {
            return Err("the license idle period is shorter than a day".into());
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

    /// Whether `user` is on user-level allocation (holding licenses
    /// directly, or nothing selected).
    pub(crate) fn is_user_level(&self, user: UserId) -> bool {
        self.withheld.contains(&user) || self.has_direct(user)
    }

    /// How long a lease lasts without sign-in.
    pub(crate) fn idle_period(&self) -> SignedDuration {
        self.idle_after.unwrap_or(DEFAULT_LICENSE_IDLE_PERIOD)
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

    /// The leases `group`'s rule gave, as (member, kind), in kind order
    /// then user-id order.
    pub(crate) fn granted_by(
        &self,
        group: GroupId,
    ) -> impl Iterator<Item = (UserId, &LicenseKind)> + '_ {
        self.granted
            .get(&group)
            .into_iter()
            .flatten()
            .flat_map(|(kind, users)| users.iter().map(move |u| (*u, kind)))
    }

    /// How many leases of `kind` `group`'s rule gave.
    pub(crate) fn granted_count(&self, group: GroupId, kind: &LicenseKind) -> usize {
        self.granted
            .get(&group)
            .and_then(|kinds| kinds.get(kind))
            .map_or(0, BTreeSet::len)
    }

    /// Every group lease, as (member, kind, group).
    pub(crate) fn leases(&self) -> impl Iterator<Item = (UserId, &LicenseKind, GroupId)> + '_ {
        self.granted.iter().flat_map(|(group, kinds)| {
            kinds
                .iter()
                .flat_map(move |(kind, users)| users.iter().map(move |u| (*u, kind, *group)))
        })
    }

    /// `user` holds `kind` from `source` (replacing where they held it from
    /// before). No checks: the caller checks seats.
    pub(crate) fn grant(&mut self, user: UserId, kind: LicenseKind, source: LicenseSource) {
        self.release(user, &kind);
        if let LicenseSource::Group(group) = source {
            self.granted
                .entry(group)
                .or_default()
                .entry(kind.clone())
                .or_default()
                .insert(user);
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
            && let Some(kinds) = self.granted.get_mut(&group)
        {
            if let Some(users) = kinds.get_mut(&kind) {
                users.remove(&user);
                if users.is_empty() {
                    kinds.remove(&kind);
                }
            }
            if kinds.is_empty() {
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

    /// `user` gives back what `group`'s rule leased them (they left it).
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

    /// Every lease `group`'s rule gave of a kind `keep` rejects is given
    /// back.
    pub(crate) fn release_group_kinds(
        &mut self,
        group: GroupId,
        keep: impl Fn(&LicenseKind) -> bool,
    ) {
        let gone: Vec<(UserId, LicenseKind)> = self
            .granted_by(group)
            .filter(|(_, kind)| !keep(kind))
            .map(|(user, kind)| (user, kind.clone()))
            .collect();
        for (user, kind) in &gone {
            self.release(*user, kind);
        }
    }
}
