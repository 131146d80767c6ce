//! License pools, allocations and group license rules: deciding, applying,
//! querying. The rules are documented on [`LicenseRule`].

use std::collections::{BTreeMap, BTreeSet};

use super::Licenses;
use crate::core::organization::{Group, Member, Organization};
use crate::{
    DomainError, Email, EventKind, GroupId, GroupName, LicenseKind, LicenseRule, LicenseSource,
    Limits, SeatUsage, UserId,
};

impl Organization {
    /// Seats per license kind: every pool, in kind order (ignoring case).
    ///
    /// A pool's seats are never fewer than the seats in use: commands that
    /// would need more seats than are free are refused with
    /// [`DomainError::NoSeatsLeft`]; the rules are on [`LicenseRule`]. A member holds a kind either directly
    /// ([`Command::AllocateLicense`](crate::Command::AllocateLicense)) or through a group license rule
    /// ([`Command::SetGroupLicenseRule`](crate::Command::SetGroupLicenseRule)); a direct allocation replaces what
    /// the member inherits from groups. Removing a member, deallocating, a
    /// member leaving a group, or deleting a group frees the seats
    /// concerned. Costs O(pools).
    pub fn seat_usage(&self) -> Vec<SeatUsage> {
        self.licenses
            .pools()
            .map(|(kind, seats)| SeatUsage {
                kind: kind.clone(),
                seats,
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
        self.licenses.rule(group.id)
    }
}

impl Licenses {
    /// Every pool with its seats, in kind order.
    pub(crate) fn pools(&self) -> impl Iterator<Item = (&LicenseKind, u32)> {
        self.pools.iter().map(|(kind, seats)| (kind, *seats))
    }

    /// `group`'s rule, if it has one.
    pub(crate) fn rule(&self, group: GroupId) -> Option<&LicenseRule> {
        self.rules.get(&group)
    }

    /// The grants group license rules give members joining groups: each
    /// `(user, groups)` pair is a member (new or existing) joining those
    /// groups.
    ///
    /// # Errors
    /// [`DomainError::NoSeatsLeft`] when the grants need more seats than
    /// are free; then nothing is granted.
    pub(crate) fn grants_for_joins(
        &self,
        joins: &[(UserId, &[GroupId])],
    ) -> Result<Vec<EventKind>, DomainError> {
        if self.rules.is_empty() {
            return Ok(Vec::new());
        }
        let mut grants = Vec::new();
        // Grants earlier in this batch: per member, per group, per kind.
        let mut held: BTreeSet<(UserId, &LicenseKind)> = BTreeSet::new();
        let mut per_group: BTreeMap<GroupId, usize> = BTreeMap::new();
        let mut needed: BTreeMap<&LicenseKind, u32> = BTreeMap::new();
        for (user, groups) in joins {
            if self.has_direct(*user) {
                continue;
            }
            for group in *groups {
                let Some(rule) = self.rules.get(group) else {
                    continue;
                };
                if !self.pools.contains_key(&rule.kind)
                    || self.source(*user, &rule.kind).is_some()
                    || held.contains(&(*user, &rule.kind))
                {
                    continue;
                }
                let in_batch = per_group.entry(*group).or_default();
                if quota_full(rule, self.granted_count(*group).saturating_add(*in_batch)) {
                    continue;
                }
                *in_batch = in_batch.saturating_add(1);
                held.insert((*user, &rule.kind));
                let count = needed.entry(&rule.kind).or_default();
                *count = count.saturating_add(1);
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
    /// The pool's own spelling of `kind`.
    fn pool_kind(&self, kind: &LicenseKind) -> Result<&LicenseKind, DomainError> {
        self.pools
            .get_key_value(kind)
            .map(|(k, _)| k)
            .ok_or_else(|| DomainError::UnknownLicenseKind { kind: kind.clone() })
    }

    /// Refuses unless `needed` seats of `kind` are free.
    fn require_seats(&self, kind: &LicenseKind, needed: u32) -> Result<(), DomainError> {
        let free = self.free(kind);
        if needed > free {
            return Err(DomainError::NoSeatsLeft {
                kind: kind.clone(),
                seats: self.pools.get(kind).copied().unwrap_or(0),
                free,
                needed,
            });
        }
        Ok(())
    }

    pub(crate) fn decide_set_pool(
        &self,
        kind: &LicenseKind,
        seats: u32,
        limits: &Limits,
    ) -> Result<Vec<EventKind>, DomainError> {
        let Ok(kind) = self.pool_kind(kind) else {
            // A new pool: room for another license kind.
            if self.pools.len() >= limits.license_kinds {
                return Err(DomainError::limit(
                    "license kinds in an organization",
                    limits.license_kinds,
                ));
            }
            return Ok(vec![EventKind::LicensePoolSet {
                kind: kind.clone(),
                seats,
            }]);
        };
        if self.pools.get(kind) == Some(&seats) {
            return Ok(Vec::new());
        }
        let used = self.used(kind);
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

    pub(crate) fn decide_remove_pool(
        &self,
        kind: &LicenseKind,
    ) -> Result<Vec<EventKind>, DomainError> {
        let kind = self.pool_kind(kind)?;
        let used = self.used(kind);
        if used > 0 {
            return Err(DomainError::SeatsInUse {
                kind: kind.clone(),
                used,
                seats: 0,
            });
        }
        let mut events: Vec<EventKind> = self
            .rules
            .iter()
            .filter(|(_, rule)| rule.kind == *kind)
            .map(|(group, _)| EventKind::LicenseRuleRemoved { group: *group })
            .collect();
        events.push(EventKind::LicensePoolRemoved { kind: kind.clone() });
        Ok(events)
    }

    /// `AllocateLicense`, the member resolved.
    pub(crate) fn decide_allocate(
        &self,
        member: &Member,
        kind: &LicenseKind,
    ) -> Result<Vec<EventKind>, DomainError> {
        let kind = self.pool_kind(kind)?;
        let user = member.id;
        let inherited = match self.source(user, kind) {
            Some(LicenseSource::Direct) => return Ok(Vec::new()),
            Some(LicenseSource::Group(_)) => true,
            None => false,
        };
        if !inherited {
            self.require_seats(kind, 1)?;
        }
        let mut events: Vec<EventKind> = self
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

    /// `DeallocateLicense`, the member resolved.
    pub(crate) fn decide_deallocate(
        &self,
        member: &Member,
        kind: &LicenseKind,
    ) -> Result<Vec<EventKind>, DomainError> {
        let not_allocated = || DomainError::NotAllocated {
            email: member.email.clone(),
            kind: kind.clone(),
        };
        let kind = self.pool_kind(kind).map_err(|_| not_allocated())?;
        if self.source(member.id, kind) != Some(LicenseSource::Direct) {
            return Err(not_allocated());
        }
        let user = member.id;
        let mut events = vec![EventKind::LicenseReleased {
            user,
            kind: kind.clone(),
        }];
        let direct_left = self
            .held_by(user)
            .any(|(k, source)| k != kind && source == LicenseSource::Direct);
        if direct_left {
            return Ok(events);
        }
        // The member now holds nothing: their groups' rules apply again.
        let mut granted: BTreeSet<&LicenseKind> = BTreeSet::new();
        for group in &member.groups {
            let Some(rule) = self.rules.get(group) else {
                continue;
            };
            let same = rule.kind == *kind;
            let free = self.free(&rule.kind).saturating_add(u32::from(same));
            if free == 0
                || granted.contains(&rule.kind)
                || (!same && self.source(user, &rule.kind).is_some())
                || quota_full(rule, self.granted_count(*group))
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

    /// `SetGroupLicenseRule`, the group resolved.
    pub(crate) fn decide_set_rule(
        &self,
        group: &Group,
        kind: &LicenseKind,
        quota: Option<u32>,
    ) -> Result<Vec<EventKind>, DomainError> {
        if group.is_everyone() {
            return Err(DomainError::EveryoneImplicit);
        }
        if quota == Some(0) {
            return Err(DomainError::InvalidQuota);
        }
        let kind = self.pool_kind(kind)?;
        let id = group.id;
        let (releases, grants) = self.rule_changes(group, kind, quota);
        let freed = releases.iter().filter(|(_, k)| *k == kind).count();
        let needed = grants.len().saturating_sub(freed);
        self.require_seats(kind, u32::try_from(needed).unwrap_or(u32::MAX))?;

        let rule = LicenseRule {
            kind: kind.clone(),
            quota,
        };
        if self.rules.get(&id) == Some(&rule) && releases.is_empty() && grants.is_empty() {
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

    /// `RemoveGroupLicenseRule`, the group resolved.
    pub(crate) fn decide_remove_rule(&self, group: &Group) -> Vec<EventKind> {
        if !self.rules.contains_key(&group.id) {
            return Vec::new();
        }
        let mut events: Vec<EventKind> = self
            .granted_by(group.id)
            .map(|(user, kind)| EventKind::LicenseReleased {
                user: *user,
                kind: kind.clone(),
            })
            .collect();
        events.push(EventKind::LicenseRuleRemoved { group: group.id });
        events
    }

    /// What setting `group`'s rule to `kind` and `quota` changes: the
    /// licenses the old rule granted that are released (those of another
    /// kind, and those past the new quota: the lowest user ids are kept),
    /// and the
    /// members who now receive `kind` (current members in id order, up to
    /// the quota, skipping members with a direct allocation or already
    /// holding the kind).
    fn rule_changes<'a>(
        &'a self,
        group: &Group,
        kind: &LicenseKind,
        quota: Option<u32>,
    ) -> (Vec<(UserId, &'a LicenseKind)>, Vec<UserId>) {
        let limit = quota.map_or(usize::MAX, |q| usize::try_from(q).unwrap_or(usize::MAX));
        let mut kept = 0usize;
        let mut releases: Vec<(UserId, &LicenseKind)> = Vec::new();
        for (user, held) in self.granted_by(group.id) {
            if held == kind && kept < limit {
                kept += 1;
            } else {
                releases.push((*user, held));
            }
        }
        let mut grants: Vec<UserId> = Vec::new();
        for user in &group.members {
            if kept.saturating_add(grants.len()) >= limit {
                break;
            }
            if self.source(*user, kind).is_none() && !self.has_direct(*user) {
                grants.push(*user);
            }
        }
        (releases, grants)
    }

    /// `LicensePoolSet`: ignored if it would over-allocate the pool.
    pub(crate) fn apply_pool_set(&mut self, kind: &LicenseKind, seats: u32) {
        if self.used(kind) > seats {
            return;
        }
        match self.pools.get_mut(kind) {
            Some(pool) => *pool = seats,
            None => {
                self.pools.insert(kind.clone(), seats);
            }
        }
    }

    /// `LicensePoolRemoved`: ignored while seats are used; the kind's rules
    /// go with it.
    pub(crate) fn apply_pool_removed(&mut self, kind: &LicenseKind) {
        if self.used(kind) > 0 {
            return;
        }
        self.pools.remove(kind);
        self.rules.retain(|_, rule| rule.kind != *kind);
    }

    /// `LicenseRuleSet`; `group_may_have_rule` says whether the group exists
    /// and is not `Everyone`.
    pub(crate) fn apply_rule_set(
        &mut self,
        group: GroupId,
        kind: &LicenseKind,
        quota: Option<u32>,
        group_may_have_rule: bool,
    ) {
        if !group_may_have_rule || quota == Some(0) || !self.pools.contains_key(kind) {
            return;
        }
        self.rules.insert(
            group,
            LicenseRule {
                kind: kind.clone(),
                quota,
            },
        );
    }

    /// `LicenseGranted` to `member` (`None`: not a member): ignored unless
    /// every invariant of [`LicenseRule`] still holds afterwards.
    pub(crate) fn apply_granted(
        &mut self,
        member: Option<&Member>,
        kind: &LicenseKind,
        source: LicenseSource,
    ) {
        let Some(member) = member else {
            return;
        };
        if self.may_hold(member, kind, source) {
            self.grant(member.id(), kind.clone(), source);
        }
    }

    /// Whether `member` may hold `kind` from `source` (see [`LicenseRule`]).
    fn may_hold(&self, member: &Member, kind: &LicenseKind, source: LicenseSource) -> bool {
        let Some(seats) = self.pools.get(kind) else {
            return false;
        };
        if let LicenseSource::Group(group) = source {
            let rule_matches = self
                .rules
                .get(&group)
                .is_some_and(|r| r.kind == *kind && !quota_full(r, self.granted_count(group)));
            if !member.is_in(group) || !rule_matches {
                return false;
            }
        }
        self.source(member.id(), kind).is_some() || self.used(kind) < *seats
    }

    /// A removed member's licenses are released.
    pub(crate) fn forget_user(&mut self, user: UserId) {
        self.release_all(user);
    }

    /// `LicenseRuleRemoved`, or a deleted group: what the rule granted is
    /// released and the rule dropped.
    pub(crate) fn forget_group(&mut self, group: GroupId) {
        self.release_group(group);
        self.rules.remove(&group);
    }

    /// `user` left `group`: what its rule granted them is released.
    pub(crate) fn left_group(&mut self, user: UserId, group: GroupId) {
        self.release_from_group(user, group);
    }
}

/// Whether `rule` cannot grant more once `granted` licenses are out.
fn quota_full(rule: &LicenseRule, granted: usize) -> bool {
    rule.quota
        .is_some_and(|q| granted >= usize::try_from(q).unwrap_or(usize::MAX))
}
