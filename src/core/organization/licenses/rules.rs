//! License pools, allocations and group license rules: deciding, applying,
//! querying.
//!
//! # State
//!
//! The organization holds one pool of seats per license kind. Holdings are
//! explicit and event-sourced: each member holds a set of kinds, each with a
//! [`LicenseSource`]: [`Direct`](LicenseSource::Direct) (allocated by an
//! administrator) or [`Group(g)`](LicenseSource::Group) (granted by `g`'s
//! license rule). A member holds a kind at most once. The seats used of a
//! kind are the number of members holding it, and **seats used <= seats
//! always**: every command that would need more seats than are free is
//! refused with [`DomainError::NoSeatsLeft`] and changes nothing.
//!
//! Invariants kept by every command (and checked again by `apply`, which
//! ignores an event that would break them, possible only with a tampered
//! store):
//! - a holding's kind has a pool, and no pool is over-allocated;
//! - a group-sourced holding belongs to a member of that group, and is of
//!   the kind of that group's rule;
//! - a member who holds any license directly holds none through groups
//!   (a direct allocation replaces what the member inherits);
//! - every rule's kind has a pool, and its quota (if any) is at least 1 and
//!   never exceeded.
//!
//! # Commands
//!
//! - `SetLicensePool { kind, seats }` creates the pool or resizes it. The
//!   same seats again: no events. Shrinking below the seats in use:
//!   [`DomainError::SeatsInUse`].
//! - `RemoveLicensePool { kind }`: [`DomainError::UnknownLicenseKind`]
//!   without a pool, [`DomainError::SeatsInUse`] while any seat is used.
//!   Group rules of that kind are removed with it (they granted nothing,
//!   since no seat was used): `LicenseRuleRemoved` for each, then
//!   `LicensePoolRemoved`.
//! - `AllocateLicense { user, kind }`: the member (pending ones too) must
//!   exist ([`DomainError::UnknownUsers`]) and the pool too
//!   ([`DomainError::UnknownLicenseKind`]). Already held directly: no
//!   events. Otherwise `LicenseReleased` for every license the member holds
//!   through a group (in kind order), then `LicenseGranted { Direct }`. It
//!   needs one free seat of `kind`, unless the member already holds `kind`
//!   through a group (the seat then just changes source); otherwise
//!   [`DomainError::NoSeatsLeft`] with `needed: 1`.
//! - `DeallocateLicense { user, kind }`: [`DomainError::NotAllocated`]
//!   unless the member holds `kind` directly. `LicenseReleased`, then, if
//!   the member has no direct license left, the rules of the groups they are
//!   in (in group-id order) apply to them again: `LicenseGranted { Group }`
//!   where the rule's quota and the pool's seats allow, skipped silently
//!   where they do not. Deallocating never fails for lack of seats.
//! - `SetGroupLicenseRule { group, kind, quota }`: the group must exist
//!   ([`DomainError::UnknownGroups`]) and not be `Everyone`
//!   ([`DomainError::EveryoneImplicit`]: give every member a license with
//!   direct allocations instead); `quota: Some(0)` is
//!   [`DomainError::InvalidQuota`]; the pool must exist. The rule replaces
//!   the group's previous one. Events: `LicenseRuleSet`, then
//!   `LicenseReleased` for what the old rule granted and the new one does
//!   not keep, then `LicenseGranted { Group }` for current members who now
//!   receive it. Who holds it afterwards:
//!   - when the kind is unchanged, members already holding it through the
//!     rule keep it (up to the new quota, lowest user ids first; the others
//!     are released); when the kind changes, everything the old rule granted
//!     is released;
//!   - then current members in user-id order receive it, up to the quota,
//!     skipping members with a direct allocation and members already
//!     holding the kind (through another group).
//!
//!   Needing more seats than are free: [`DomainError::NoSeatsLeft`], nothing
//!   changes. Setting the same rule again with nothing to change: no
//!   events; with seats or quota freed since, it tops the grants up (so
//!   setting a rule again is how to re-apply it).
//! - `RemoveGroupLicenseRule { group }`: [`DomainError::UnknownGroups`] for
//!   an unknown group; no rule: no events. Otherwise one explicit
//!   `LicenseReleased` per license the rule granted (user-id order), then
//!   `LicenseRuleRemoved` (whose apply also drops anything still sourced
//!   from the rule, which in a well-formed stream is nothing).
//!
//! # Joining groups
//!
//! Members joining groups (invited into them, or added with
//! `AddGroupMembers`) receive each joined group's rule kind, in the order
//! they join and in group-id order, when they hold no license directly,
//! do not already hold the kind (counting grants earlier in the same
//! command), and the rule's quota is not full (counting grants earlier in
//! the same command). If the grants need more seats of any kind than are
//! free, the whole command is refused with [`DomainError::NoSeatsLeft`]
//! (for the first such kind): nobody is invited or added. This includes
//! bulk CSV invitations: one row too many refuses the whole file.
//!
//! # Leaving
//!
//! Applying these events releases licenses implicitly (no extra events):
//! removing a member (or revoking an invitation) releases everything they
//! hold; a member leaving a group releases what that group's rule granted
//! them; deleting a group drops its rule and releases what it granted.
//! Freed seats and quota are not handed to anyone else automatically; set
//! the rule again to re-apply it.

use std::collections::{BTreeMap, BTreeSet};

use crate::core::organization::{Member, Organization};
use crate::{
    Command, DomainError, Email, Event, EventKind, GroupId, GroupName, LicenseKind, LicenseRule,
    LicenseSource, SeatUsage, UserId,
};

impl Organization {
    /// Seats per license kind: every pool, in kind order (ignoring case).
    ///
    /// A pool's seats are never fewer than the seats in use: commands that
    /// would need more seats than are free are refused with
    /// [`DomainError::NoSeatsLeft`]. A member holds a kind either directly
    /// ([`Command::AllocateLicense`]) or through a group license rule
    /// ([`Command::SetGroupLicenseRule`]); a direct allocation replaces what
    /// the member inherits from groups. Removing a member, deallocating, a
    /// member leaving a group, or deleting a group frees the seats
    /// concerned. Costs O(pools).
    pub fn seat_usage(&self) -> Vec<SeatUsage> {
        self.licenses
            .pools
            .iter()
            .map(|(kind, seats)| SeatUsage {
                kind: kind.clone(),
                seats: *seats,
                used: self.licenses.used(kind),
            })
            .collect()
    }

    /// The licenses the member with this address holds, in kind order, each
    /// with where it comes from (directly or through which group). Empty for
    /// an unknown address.
    pub fn licenses_of(&self, user: &Email) -> Vec<(LicenseKind, LicenseSource)> {
        self.member(user).map_or_else(Vec::new, |m| {
            self.licenses
                .held_by(m.id)
                .map(|(kind, source)| (kind.clone(), source))
                .collect()
        })
    }

    /// Who holds `kind`, in user-id order, each directly or through which
    /// group. Empty for an unknown kind.
    pub fn license_holders(&self, kind: &LicenseKind) -> Vec<(UserId, LicenseSource)> {
        self.licenses.holders_of(kind).collect()
    }

    /// The license rule of the group with this name, if it has one.
    pub fn license_rule(&self, group: &GroupName) -> Option<&LicenseRule> {
        let group = self.group(group)?;
        self.licenses.rules.get(&group.id)
    }

    /// Decides a license command (the actor is an administrator).
    pub(crate) fn decide_licenses(&self, command: &Command) -> Result<Vec<EventKind>, DomainError> {
        match command {
            Command::SetLicensePool { kind, seats } => self.decide_set_pool(kind, *seats),
            Command::RemoveLicensePool { kind } => self.decide_remove_pool(kind),
            Command::SetGroupLicenseRule { group, kind, quota } => {
                self.decide_set_rule(group, kind, *quota)
            }
            Command::RemoveGroupLicenseRule { group } => self.decide_remove_rule(group),
            Command::AllocateLicense { user, kind } => self.decide_allocate(user, kind),
            Command::DeallocateLicense { user, kind } => self.decide_deallocate(user, kind),
            _ => Ok(Vec::new()),
        }
    }

    /// The grants group license rules give members joining groups: each
    /// `(user, groups)` pair is a member (new or existing) joining those
    /// groups.
    ///
    /// # Errors
    /// [`DomainError::NoSeatsLeft`] when the grants need more seats than
    /// are free; then nothing is granted.
    pub(crate) fn license_grants_for_joins(
        &self,
        joins: &[(UserId, &[GroupId])],
    ) -> Result<Vec<EventKind>, DomainError> {
        if self.licenses.rules.is_empty() {
            return Ok(Vec::new());
        }
        let mut grants = Vec::new();
        // Grants earlier in this batch: per member, per group, per kind.
        let mut held: BTreeSet<(UserId, &LicenseKind)> = BTreeSet::new();
        let mut per_group: BTreeMap<GroupId, usize> = BTreeMap::new();
        let mut needed: BTreeMap<&LicenseKind, u32> = BTreeMap::new();
        for (user, groups) in joins {
            if self.licenses.has_direct(*user) {
                continue;
            }
            for group in *groups {
                let Some(rule) = self.licenses.rules.get(group) else {
                    continue;
                };
                if !self.licenses.pools.contains_key(&rule.kind)
                    || self.licenses.source(*user, &rule.kind).is_some()
                    || held.contains(&(*user, &rule.kind))
                {
                    continue;
                }
                let in_batch = per_group.entry(*group).or_default();
                if quota_full(rule, self.licenses.granted_count(*group) + *in_batch) {
                    continue;
                }
                *in_batch += 1;
                held.insert((*user, &rule.kind));
                *needed.entry(&rule.kind).or_default() += 1;
                grants.push(EventKind::LicenseGranted {
                    user: *user,
                    kind: rule.kind.clone(),
                    source: LicenseSource::Group(*group),
                });
            }
        }
        for (kind, needed) in needed {
            self.require_seats(kind, needed)?;
        }
        Ok(grants)
    }

    /// Applies a license event.
    pub(crate) fn apply_licenses(&mut self, event: &Event) {
        match &event.kind {
            EventKind::LicensePoolSet { kind, seats } => {
                if self.licenses.used(kind) > *seats {
                    return;
                }
                match self.licenses.pools.get_mut(kind) {
                    Some(pool) => *pool = *seats,
                    None => {
                        self.licenses.pools.insert(kind.clone(), *seats);
                    }
                }
            }
            EventKind::LicensePoolRemoved { kind } => {
                if self.licenses.used(kind) > 0 {
                    return;
                }
                self.licenses.pools.remove(kind);
                self.licenses.rules.retain(|_, rule| rule.kind != *kind);
            }
            EventKind::LicenseRuleSet { group, kind, quota } => {
                let known = self.groups.get(group).is_some_and(|g| !g.is_everyone());
                if !known || *quota == Some(0) || !self.licenses.pools.contains_key(kind) {
                    return;
                }
                self.licenses.rules.insert(
                    *group,
                    LicenseRule {
                        kind: kind.clone(),
                        quota: *quota,
                    },
                );
            }
            EventKind::LicenseRuleRemoved { group } => self.licenses_forget_group(*group),
            EventKind::LicenseGranted { user, kind, source }
                if self.may_hold(*user, kind, *source) =>
            {
                self.licenses.grant(*user, kind.clone(), *source);
            }
            EventKind::LicenseReleased { user, kind } => self.licenses.release(*user, kind),
            _ => {}
        }
    }

    /// Releases a removed member's licenses.
    pub(crate) fn licenses_forget_user(&mut self, user: UserId) {
        self.licenses.release_all(user);
    }

    /// Releases what a deleted group's rule granted and drops the rule.
    pub(crate) fn licenses_forget_group(&mut self, group: GroupId) {
        self.licenses.release_group(group);
        self.licenses.rules.remove(&group);
    }

    /// Releases what `group`'s rule granted `user`, who left it.
    pub(crate) fn licenses_left_group(&mut self, user: UserId, group: GroupId) {
        self.licenses.release_from_group(user, group);
    }

    /// Whether applying a grant keeps every invariant (see the module docs).
    fn may_hold(&self, user: UserId, kind: &LicenseKind, source: LicenseSource) -> bool {
        let Some(member) = self.members.get(&user) else {
            return false;
        };
        let Some(seats) = self.licenses.pools.get(kind) else {
            return false;
        };
        if let LicenseSource::Group(group) = source {
            let rule_matches = self.licenses.rules.get(&group).is_some_and(|r| {
                r.kind == *kind && !quota_full(r, self.licenses.granted_count(group))
            });
            if !member.groups.contains(&group) || !rule_matches {
                return false;
            }
        }
        self.licenses.source(user, kind).is_some() || self.licenses.used(kind) < *seats
    }

    /// The pool's own spelling of `kind`.
    fn pool_kind(&self, kind: &LicenseKind) -> Result<&LicenseKind, DomainError> {
        self.licenses
            .pools
            .get_key_value(kind)
            .map(|(k, _)| k)
            .ok_or_else(|| DomainError::UnknownLicenseKind { kind: kind.clone() })
    }

    /// Refuses unless `needed` seats of `kind` are free.
    fn require_seats(&self, kind: &LicenseKind, needed: u32) -> Result<(), DomainError> {
        let free = self.licenses.free(kind);
        if needed > free {
            return Err(DomainError::NoSeatsLeft {
                kind: kind.clone(),
                seats: self.licenses.pools.get(kind).copied().unwrap_or(0),
                free,
                needed,
            });
        }
        Ok(())
    }

    fn license_member(&self, email: &Email) -> Result<&Member, DomainError> {
        self.member(email).ok_or_else(|| DomainError::UnknownUsers {
            emails: vec![email.clone()],
        })
    }

    fn decide_set_pool(
        &self,
        kind: &LicenseKind,
        seats: u32,
    ) -> Result<Vec<EventKind>, DomainError> {
        let Ok(kind) = self.pool_kind(kind) else {
            return Ok(vec![EventKind::LicensePoolSet {
                kind: kind.clone(),
                seats,
            }]);
        };
        if self.licenses.pools.get(kind) == Some(&seats) {
            return Ok(Vec::new());
        }
        let used = self.licenses.used(kind);
        if seats < used {
            return Err(DomainError::SeatsInUse {
                kind: kind.clone(),
                used,
                seats,
            });
        }
        Ok(vec![EventKind::LicensePoolSet {
            kind: kind.clone(),
            seats,
        }])
    }

    fn decide_remove_pool(&self, kind: &LicenseKind) -> Result<Vec<EventKind>, DomainError> {
        let kind = self.pool_kind(kind)?;
        let used = self.licenses.used(kind);
        if used > 0 {
            return Err(DomainError::SeatsInUse {
                kind: kind.clone(),
                used,
                seats: 0,
            });
        }
        let mut events: Vec<EventKind> = self
            .licenses
            .rules
            .iter()
            .filter(|(_, rule)| rule.kind == *kind)
            .map(|(group, _)| EventKind::LicenseRuleRemoved { group: *group })
            .collect();
        events.push(EventKind::LicensePoolRemoved { kind: kind.clone() });
        Ok(events)
    }

    fn decide_allocate(
        &self,
        user: &Email,
        kind: &LicenseKind,
    ) -> Result<Vec<EventKind>, DomainError> {
        let member = self.license_member(user)?;
        let kind = self.pool_kind(kind)?;
        let user = member.id;
        let inherited = match self.licenses.source(user, kind) {
            Some(LicenseSource::Direct) => return Ok(Vec::new()),
            Some(LicenseSource::Group(_)) => true,
            None => false,
        };
        if !inherited {
            self.require_seats(kind, 1)?;
        }
        let mut events: Vec<EventKind> = self
            .licenses
            .held_by(user)
            .filter(|(_, source)| matches!(source, LicenseSource::Group(_)))
            .map(|(kind, _)| EventKind::LicenseReleased {
                user,
                kind: kind.clone(),
            })
            .collect();
        events.push(EventKind::LicenseGranted {
            user,
            kind: kind.clone(),
            source: LicenseSource::Direct,
        });
        Ok(events)
    }

    fn decide_deallocate(
        &self,
        user: &Email,
        kind: &LicenseKind,
    ) -> Result<Vec<EventKind>, DomainError> {
        let member = self.license_member(user)?;
        let not_allocated = || DomainError::NotAllocated {
            email: member.email.clone(),
            kind: kind.clone(),
        };
        let kind = self.pool_kind(kind).map_err(|_| not_allocated())?;
        if self.licenses.source(member.id, kind) != Some(LicenseSource::Direct) {
            return Err(not_allocated());
        }
        let user = member.id;
        let mut events = vec![EventKind::LicenseReleased {
            user,
            kind: kind.clone(),
        }];
        let direct_left = self
            .licenses
            .held_by(user)
            .any(|(k, source)| k != kind && source == LicenseSource::Direct);
        if direct_left {
            return Ok(events);
        }
        // The member now holds nothing: their groups' rules apply again.
        let mut granted: BTreeSet<&LicenseKind> = BTreeSet::new();
        for group in &member.groups {
            let Some(rule) = self.licenses.rules.get(group) else {
                continue;
            };
            let same = rule.kind == *kind;
            let free = self.licenses.free(&rule.kind) + u32::from(same);
            if free == 0
                || granted.contains(&rule.kind)
                || (!same && self.licenses.source(user, &rule.kind).is_some())
                || quota_full(rule, self.licenses.granted_count(*group))
            {
                continue;
            }
            granted.insert(&rule.kind);
            events.push(EventKind::LicenseGranted {
                user,
                kind: rule.kind.clone(),
                source: LicenseSource::Group(*group),
            });
        }
        Ok(events)
    }

    fn decide_set_rule(
        &self,
        group: &GroupName,
        kind: &LicenseKind,
        quota: Option<u32>,
    ) -> Result<Vec<EventKind>, DomainError> {
        let group = self
            .group(group)
            .ok_or_else(|| DomainError::UnknownGroups {
                names: vec![group.clone()],
            })?;
        if group.is_everyone() {
            return Err(DomainError::EveryoneImplicit);
        }
        if quota == Some(0) {
            return Err(DomainError::InvalidQuota);
        }
        let kind = self.pool_kind(kind)?;
        let id = group.id;
        let limit = quota.map_or(usize::MAX, |q| usize::try_from(q).unwrap_or(usize::MAX));

        // What the old rule granted: kept (same kind, within the quota) or
        // released.
        let mut kept = 0usize;
        let mut releases: Vec<(UserId, &LicenseKind)> = Vec::new();
        for (user, held) in self.licenses.granted_by(id) {
            if held == kind && kept < limit {
                kept += 1;
            } else {
                releases.push((*user, held));
            }
        }
        // Current members receive it, up to the quota.
        let mut grants: Vec<UserId> = Vec::new();
        if kept < limit {
            for user in &group.members {
                if kept + grants.len() >= limit {
                    break;
                }
                if self.licenses.source(*user, kind).is_none() && !self.licenses.has_direct(*user) {
                    grants.push(*user);
                }
            }
        }
        let freed = releases.iter().filter(|(_, k)| *k == kind).count();
        let needed = grants.len().saturating_sub(freed);
        self.require_seats(kind, u32::try_from(needed).unwrap_or(u32::MAX))?;

        let rule = LicenseRule {
            kind: kind.clone(),
            quota,
        };
        if self.licenses.rules.get(&id) == Some(&rule) && releases.is_empty() && grants.is_empty() {
            return Ok(Vec::new());
        }
        let mut events = vec![EventKind::LicenseRuleSet {
            group: id,
            kind: kind.clone(),
            quota,
        }];
        events.extend(
            releases
                .into_iter()
                .map(|(user, kind)| EventKind::LicenseReleased {
                    user,
                    kind: kind.clone(),
                }),
        );
        events.extend(grants.into_iter().map(|user| EventKind::LicenseGranted {
            user,
            kind: kind.clone(),
            source: LicenseSource::Group(id),
        }));
        Ok(events)
    }

    fn decide_remove_rule(&self, group: &GroupName) -> Result<Vec<EventKind>, DomainError> {
        let group = self
            .group(group)
            .ok_or_else(|| DomainError::UnknownGroups {
                names: vec![group.clone()],
            })?;
        if !self.licenses.rules.contains_key(&group.id) {
            return Ok(Vec::new());
        }
        let mut events: Vec<EventKind> = self
            .licenses
            .granted_by(group.id)
            .map(|(user, kind)| EventKind::LicenseReleased {
                user: *user,
                kind: kind.clone(),
            })
            .collect();
        events.push(EventKind::LicenseRuleRemoved { group: group.id });
        Ok(events)
    }
}

/// Whether `rule` cannot grant more once `granted` licenses are out.
fn quota_full(rule: &LicenseRule, granted: usize) -> bool {
    rule.quota
        .is_some_and(|q| granted >= usize::try_from(q).unwrap_or(usize::MAX))
}
