//! What the users page and the licenses page show: seats, who holds what
//! and why, who is waiting, and what a new invitee would lease.

use std::collections::BTreeSet;

use crate::core::bulk::ImportReport;
use crate::core::organization::{Member, Organization};
use crate::{
    Email, GroupId, GroupName, LicenseKind, LicenseRule, LicenseSource, SeatUsage, UserId,
};

/// A member's licenses: what they hold and why, and what their groups give
/// that they do not hold yet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemberLicenses {
    /// Whether the member is on user-level allocation (licenses allocated
    /// directly, possibly none), which replaces what their groups give.
    pub user_level: bool,
    /// What they hold, in kind order, directly or through which group.
    pub held: Vec<(LicenseKind, LicenseSource)>,
    /// What their groups give that they do not hold, in kind order (empty
    /// on user-level allocation).
    pub waiting: Vec<LicenseWait>,
}

/// A license a member's group gives them but they do not hold yet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LicenseWait {
    /// The kind.
    pub kind: LicenseKind,
    /// The group whose rule gives it (the first in id order that could).
    pub group: GroupId,
    /// What they wait for.
    pub reason: WaitReason,
}

/// What a member waits for before leasing a license their group gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitReason {
    /// Their next sign-in: a seat is free now (pending invitees and members
    /// whose lease was released wait here).
    SignIn,
    /// A free seat in the pool: every seat is held.
    NoFreeSeat,
    /// Room in the rule's quota: it is used up.
    QuotaFull,
}

impl WaitReason {
    /// A stable code for APIs and reports.
    pub fn code(self) -> &'static str {
        match self {
            WaitReason::SignIn => "next_sign_in",
            WaitReason::NoFreeSeat => "no_free_seat",
            WaitReason::QuotaFull => "quota_full",
        }
    }
}

impl Organization {
    /// Seats per license kind: every pool, in kind order (ignoring case).
    /// A pool's seats are never fewer than the seats held. Costs O(pools).
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
                .held_by(m.id())
                .map(|(kind, source)| (kind.clone(), source))
                .collect()
        })
    }

    /// The member's licenses: what they hold and why, and what their
    /// groups give that they wait for (see [`WaitReason`]). `None` for an
    /// unknown address. Costs
    /// O(their groups × kinds per rule).
    pub fn license_status(&self, user: &Email) -> Option<MemberLicenses> {
        let member = self.member(user)?;
        Some(self.member_licenses(member))
    }

    /// [`license_status`](Organization::license_status) of a member.
    pub fn member_licenses(&self, member: &Member) -> MemberLicenses {
        let licenses = &self.licenses;
        let user = member.id();
        let held: Vec<(LicenseKind, LicenseSource)> = licenses
            .held_by(user)
            .map(|(kind, source)| (kind.clone(), source))
            .collect();
        let user_level = licenses.is_user_level(user);
        let waiting = if user_level {
            Vec::new()
        } else {
            self.waits_of(member)
        };
        MemberLicenses {
            user_level,
            held,
            waiting,
        }
    }

    fn waits_of(&self, member: &Member) -> Vec<LicenseWait> {
        let groups = self.rule_groups(member);
        let mut waits: Vec<LicenseWait> = Vec::new();
        let mut seen: BTreeSet<&LicenseKind> = BTreeSet::new();
        for (_, rule) in &groups {
            for kind in rule.licenses.keys() {
                if seen.insert(kind)
                    && let Some(wait) = self.wait_for(member.id(), &groups, kind)
                {
                    waits.push(wait);
                }
            }
        }
        waits.sort_by(|a, b| a.kind.cmp(&b.kind));
        waits
    }

    /// The member's groups that have a license rule, with it.
    fn rule_groups(&self, member: &Member) -> Vec<(GroupId, &LicenseRule)> {
        member
            .group_ids()
            .filter_map(|g| self.licenses.rule(g).map(|r| (g, r)))
            .collect()
    }

    /// What `user`, in `groups` (those with a rule), waits for of `kind`:
    /// nothing if they hold it or no group of theirs gives it. Costs
    /// O(groups), whatever the number of kinds.
    fn wait_for(
        &self,
        user: UserId,
        groups: &[(GroupId, &LicenseRule)],
        kind: &LicenseKind,
    ) -> Option<LicenseWait> {
        let licenses = &self.licenses;
        if licenses.source(user, kind).is_some() {
            return None;
        }
        let with_room = groups
            .iter()
            .find(|(g, r)| r.gives(kind) && licenses.rule_has_room(*g, kind, 0));
        let (first, rule) = groups.iter().find(|(_, r)| r.gives(kind))?;
        let (group, reason) = match with_room {
            Some((g, _)) if licenses.free(kind) > 0 => (*g, WaitReason::SignIn),
            Some((g, _)) => (*g, WaitReason::NoFreeSeat),
            None => (*first, WaitReason::QuotaFull),
        };
        // The rule's own spelling of the kind.
        let (kind, _) = rule.licenses.get_key_value(kind)?;
        Some(LicenseWait {
            kind: kind.clone(),
            group,
            reason,
        })
    }

    /// Who is eligible for `kind` through a group but does not hold it,
    /// in user-id order, with what they wait for: the "waiting for a seat"
    /// list of the licenses page. Members on user-level allocation are not
    /// listed. Costs O(members of the groups giving `kind`, times their
    /// groups), whatever the number of kinds their rules give.
    pub fn license_waiting(&self, kind: &LicenseKind) -> Vec<(UserId, LicenseWait)> {
        let mut users: BTreeSet<UserId> = BTreeSet::new();
        for (group, rule) in self.licenses.rules() {
            if rule.gives(kind)
                && let Some(g) = self.groups.get(group)
            {
                users.extend(g.members());
            }
        }
        users
            .into_iter()
            .filter(|u| !self.licenses.is_user_level(*u))
            .filter_map(|u| {
                let member = self.members.get(u)?;
                let wait = self.wait_for(u, &self.rule_groups(member), kind)?;
                Some((u, wait))
            })
            .collect()
    }

    /// Who holds `kind`, in user-id order, each directly or through which
    /// group. Empty for an unknown kind.
    pub fn license_holders(&self, kind: &LicenseKind) -> Vec<(UserId, LicenseSource)> {
        self.licenses.holders_of(kind).collect()
    }

    /// The license rule of the group with this name, if it has one.
    pub fn license_rule(&self, group: &GroupName) -> Option<&LicenseRule> {
        let group = self.group(group)?;
        self.licenses.rule(group.id())
    }

    /// Whether any group has a license rule (without one, nobody ever
    /// leases anything).
    pub fn has_license_rules(&self) -> bool {
        self.licenses.rules().next().is_some()
    }

    /// How long a group lease lasts without sign-in in this organization
    /// ([`DEFAULT_LICENSE_IDLE_PERIOD`](crate::DEFAULT_LICENSE_IDLE_PERIOD)
    /// unless set).
    pub fn license_idle_period(&self) -> jiff::SignedDuration {
        self.licenses.idle_period()
    }

    /// What a member of `groups` would lease at sign-in if seats stay as
    /// they are now: each kind their rules give while the rule's quota and
    /// the pool have a free seat, in kind order. The CSV dry run shows it
    /// per row (each row on its own, as if it signed in first).
    pub fn licenses_at_sign_in(&self, groups: &[GroupId]) -> Vec<LicenseKind> {
        let licenses = &self.licenses;
        let mut kinds: BTreeSet<&LicenseKind> = BTreeSet::new();
        for group in groups {
            let Some(rule) = licenses.rule(*group) else {
                continue;
            };
            for kind in rule.licenses.keys() {
                if licenses.free(kind) > 0 && licenses.rule_has_room(*group, kind, 0) {
                    kinds.insert(kind);
                }
            }
        }
        kinds.into_iter().cloned().collect()
    }

    /// Fills each invited row of a dry-run `report` with what the person
    /// would lease at sign-in (see
    /// [`licenses_at_sign_in`](Organization::licenses_at_sign_in)).
    pub fn with_sign_in_licenses(&self, mut report: ImportReport) -> ImportReport {
        if !self.has_license_rules() {
            return report;
        }
        let sign_in = report
            .rows
            .iter()
            .map(|row| {
                if !matches!(row.outcome, crate::RowOutcome::Invited) {
                    return Box::default();
                }
                let ids: Vec<GroupId> = row
                    .groups
                    .iter()
                    .filter_map(|name| self.group(name).map(|g| g.id()))
                    .collect();
                self.licenses_at_sign_in(&ids).into_boxed_slice()
            })
            .collect();
        report.sign_in = sign_in;
        report
    }
}
