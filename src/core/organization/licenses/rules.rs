//! License pools and group license rules: deciding and applying them. The
//! model is documented on [`LicenseRule`](crate::LicenseRule).

use std::collections::BTreeMap;

use super::{LicenseRule, Licenses};
use crate::core::organization::{Group, Organization};
use crate::{DomainError, EventKind, GroupId, LicenseKind, Limits, UserId};

impl Licenses {
    /// Every pool with its seats, in kind order.
    pub(crate) fn pools(&self) -> impl Iterator<Item = (&LicenseKind, u32)> {
        self.pools.iter().map(|(kind, seats)| (kind, *seats))
    }

    /// `group`'s rule, if it has one.
    pub(crate) fn rule(&self, group: GroupId) -> Option<&LicenseRule> {
        self.rules.get(&group)
    }

    /// Every rule, in group-id order.
    pub(crate) fn rules(&self) -> impl Iterator<Item = (GroupId, &LicenseRule)> {
        self.rules.iter().map(|(group, rule)| (*group, rule))
    }

    /// The pool's own spelling of `kind`.
    pub(crate) fn pool_kind(&self, kind: &LicenseKind) -> Result<&LicenseKind, DomainError> {
        self.pools
            .get_key_value(kind)
            .map(|(k, _)| k)
            .ok_or_else(|| DomainError::UnknownLicenseKind { kind: kind.clone() })
    }

    /// Refuses unless `needed` seats of `kind` are free.
    pub(crate) fn require_seats(&self, kind: &LicenseKind, needed: u32) -> Result<(), DomainError> {
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

    /// Whether `group`'s rule gives `kind` and has quota left once
    /// `extra` more leases are counted.
    pub(crate) fn rule_has_room(&self, group: GroupId, kind: &LicenseKind, extra: usize) -> bool {
        let Some(rule) = self.rules.get(&group) else {
            return false;
        };
        let Some(quota) = rule.licenses.get(kind) else {
            return false;
        };
        quota.is_none_or(|q| {
            self.granted_count(group, kind).saturating_add(extra)
                < usize::try_from(q).unwrap_or(usize::MAX)
        })
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

    /// `RemoveLicensePool`: refused while a seat is held; the kind leaves
    /// every rule that gives it (a rule left with no kind is removed).
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
        let mut events: Vec<EventKind> = Vec::new();
        for (group, rule) in &self.rules {
            if !rule.gives(kind) {
                continue;
            }
            let mut licenses = rule.licenses.clone();
            licenses.remove(kind);
            events.push(if licenses.is_empty() {
                EventKind::LicenseRuleRemoved { group: *group }
            } else {
                EventKind::GroupLicenseRuleSet {
                    group: *group,
                    licenses,
                }
            });
        }
        events.push(EventKind::LicensePoolRemoved { kind: kind.clone() });
        Ok(events)
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

    /// `LicensePoolRemoved`: ignored while seats are used; the kind leaves
    /// every rule (a rule left with no kind goes).
    pub(crate) fn apply_pool_removed(&mut self, kind: &LicenseKind) {
        if self.used(kind) > 0 {
            return;
        }
        self.pools.remove(kind);
        for rule in self.rules.values_mut() {
            rule.licenses.remove(kind);
        }
        self.rules.retain(|_, rule| !rule.licenses.is_empty());
    }

    /// `GroupLicenseRuleSet` (or an older `LicenseRuleSet`, one kind):
    /// `group_may_have_rule` says whether the group exists and is not
    /// `Everyone`. Ignored when a kind has no pool or a quota is 0; leases
    /// of kinds the rule no longer gives are released, and a lowered quota
    /// never takes leases away here (the decision refuses it; an older
    /// store's explicit releases follow the event).
    pub(crate) fn apply_rule_set(
        &mut self,
        group: GroupId,
        licenses: &BTreeMap<LicenseKind, Option<u32>>,
        group_may_have_rule: bool,
    ) {
        let valid = licenses
            .iter()
            .all(|(kind, quota)| *quota != Some(0) && self.pools.contains_key(kind));
        if !group_may_have_rule || !valid {
            return;
        }
        if licenses.is_empty() {
            self.forget_group(group);
            return;
        }
        self.release_group_kinds(group, |kind| licenses.contains_key(kind));
        self.rules.insert(
            group,
            LicenseRule {
                licenses: licenses.clone(),
            },
        );
    }

    /// `LicenseRuleRemoved`, or a deleted group: what the rule leased is
    /// released and the rule dropped.
    pub(crate) fn forget_group(&mut self, group: GroupId) {
        self.release_group_kinds(group, |_| false);
        self.rules.remove(&group);
    }
}

impl Organization {
    /// `SetGroupLicenseRule`, the group resolved: the rule becomes exactly
    /// `licenses` (no kinds: the rule is removed). Nothing is leased here:
    /// members lease at their next sign-in.
    pub(crate) fn decide_set_license_rule(
        &self,
        group: &Group,
        licenses: &BTreeMap<LicenseKind, Option<u32>>,
    ) -> Result<Vec<EventKind>, DomainError> {
        if group.is_everyone() {
            return Err(DomainError::EveryoneImplicit);
        }
        if licenses.is_empty() {
            return Ok(self.decide_remove_license_rule(group));
        }
        let state = &self.licenses;
        let mut rule: BTreeMap<LicenseKind, Option<u32>> = BTreeMap::new();
        for (kind, quota) in licenses {
            if *quota == Some(0) {
                return Err(DomainError::InvalidQuota);
            }
            let kind = state.pool_kind(kind)?;
            let held = state.granted_count(group.id, kind);
            if let Some(q) = quota
                && usize::try_from(*q).is_ok_and(|q| q < held)
            {
                return Err(DomainError::QuotaInUse {
                    group: group.name().clone(),
                    kind: kind.clone(),
                    held: u32::try_from(held).unwrap_or(u32::MAX),
                    quota: *q,
                });
            }
            rule.insert(kind.clone(), *quota);
        }
        if state.rule(group.id).is_some_and(|r| r.licenses == rule) {
            return Ok(Vec::new());
        }
        let lost: Vec<(UserId, LicenseKind)> = state
            .granted_by(group.id)
            .filter(|(_, kind)| !rule.contains_key(*kind))
            .map(|(user, kind)| (user, kind.clone()))
            .collect();
        Ok(self.release_around(
            &lost,
            EventKind::GroupLicenseRuleSet {
                group: group.id,
                licenses: rule,
            },
            group.id,
        ))
    }

    /// `RemoveGroupLicenseRule`, the group resolved: one `LicenseReleased`
    /// per lease the rule gave, the rule removed, then the leases that
    /// another of the holder's groups gives move there.
    pub(crate) fn decide_remove_license_rule(&self, group: &Group) -> Vec<EventKind> {
        if self.licenses.rule(group.id).is_none() {
            return Vec::new();
        }
        let lost: Vec<(UserId, LicenseKind)> = self
            .licenses
            .granted_by(group.id)
            .map(|(user, kind)| (user, kind.clone()))
            .collect();
        self.release_around(
            &lost,
            EventKind::LicenseRuleRemoved { group: group.id },
            group.id,
        )
    }

    /// A rule change that takes leases from `group`: one `LicenseReleased`
    /// per lost lease, the change itself, then the leases that another of
    /// the holder's groups gives move there.
    fn release_around(
        &self,
        lost: &[(UserId, LicenseKind)],
        change: EventKind,
        group: GroupId,
    ) -> Vec<EventKind> {
        let mut events: Vec<EventKind> = lost
            .iter()
            .map(|(user, kind)| EventKind::LicenseReleased {
                user: *user,
                kind: kind.clone(),
            })
            .collect();
        events.push(change);
        events.extend(self.relocate_leases(lost, group));
        events
    }
}
