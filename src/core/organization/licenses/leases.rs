//! Group leases: leasing at sign-in, releasing (idle, by an administrator,
//! leaving a group), and moving a lease to another group of the holder. The
//! model is documented on [`LicenseRule`](crate::LicenseRule).

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};

use super::{Licenses, MIN_LICENSE_IDLE_PERIOD};
use crate::core::organization::{Member, Organization};
use crate::{DomainError, Event, EventKind, GroupId, LicenseKind, LicenseSource, UserId};

/// Whether a member last seen at `last_active` is idle at `now`: no
/// sign-in for `period` or longer.
pub(crate) fn is_idle(last_active: Timestamp, period: SignedDuration, now: Timestamp) -> bool {
    last_active
        .checked_add(period)
        .is_ok_and(|until| until <= now)
}

impl Organization {
    /// What `member` leases when signing in at `now`: for each of their
    /// groups in id order, each kind its rule gives (kind order) that they
    /// do not hold yet, while the rule's quota and the pool have a free
    /// seat. Nothing for a pending member, a member on user-level
    /// allocation, or one whose last sign-in is older than the idle period.
    pub(crate) fn leases_due(&self, member: &Member, now: Timestamp) -> Vec<EventKind> {
        let licenses = &self.licenses;
        let Some(last_active) = member.status().last_active() else {
            return Vec::new();
        };
        let user = member.id();
        if licenses.rules.is_empty()
            || licenses.is_user_level(user)
            || is_idle(last_active, licenses.idle_period(), now)
        {
            return Vec::new();
        }
        let mut taken: BTreeSet<&LicenseKind> = BTreeSet::new();
        let mut events = Vec::new();
        for group in member.group_ids() {
            let Some(rule) = licenses.rule(group) else {
                continue;
            };
            for kind in rule.licenses.keys() {
                if licenses.source(user, kind).is_some()
                    || taken.contains(kind)
                    || licenses.free(kind) == 0
                    || !licenses.rule_has_room(group, kind, 0)
                {
                    continue;
                }
                taken.insert(kind);
                events.push(EventKind::LicenseGranted {
                    user,
                    kind: kind.clone(),
                    source: LicenseSource::Group(group),
                });
            }
        }
        events
    }

    /// `LeaseLicenses`: the actor, an active member, leases what is due
    /// (see [`leases_due`](Organization::leases_due)).
    pub(crate) fn decide_lease(
        &self,
        actor: &crate::Email,
        now: Timestamp,
    ) -> Result<Vec<Event>, DomainError> {
        let Some(member) = self.member(actor) else {
            return Err(DomainError::NotAMember {
                email: actor.clone(),
            });
        };
        if member.status().is_pending() {
            return Err(DomainError::InvitationNotAccepted {
                email: member.email().clone(),
            });
        }
        Ok(self
            .leases_due(member, now)
            .into_iter()
            .map(|kind| Event::new(now, member.id(), kind))
            .collect())
    }

    /// The group leases idle at `now`: held by members with no sign-in for
    /// the organization's idle period, as (member, kind) in user-id then
    /// kind order.
    pub(crate) fn idle_leases(&self, now: Timestamp) -> Vec<(UserId, LicenseKind)> {
        let period = self.licenses.idle_period();
        let idle: BTreeSet<(UserId, &LicenseKind)> = self
            .licenses
            .leases()
            .filter(|(user, _, _)| {
                self.members
                    .get(*user)
                    .and_then(|m| m.status().last_active())
                    .is_none_or(|last| is_idle(last, period, now))
            })
            .map(|(user, kind, _)| (user, kind))
            .collect();
        idle.into_iter()
            .map(|(user, kind)| (user, kind.clone()))
            .collect()
    }

    /// The events releasing the group leases idle at `now` (see
    /// [`Command::ReleaseIdleLeases`](crate::Command::ReleaseIdleLeases)),
    /// each recorded as its holder's: nobody acted, their absence did.
    /// For a host's periodic task
    /// ([`AccountService::release_idle_leases`](crate::AccountService::release_idle_leases)
    /// runs it); apply them after storing them.
    pub fn idle_lease_events(&self, now: Timestamp) -> Vec<Event> {
        self.idle_leases(now)
            .into_iter()
            .map(|(user, kind)| Event::new(now, user, EventKind::LicenseReleased { user, kind }))
            .collect()
    }

    /// Leases that lose their group (`from` is left, deleted, or its rule
    /// stops giving the kind) move to another of the holder's groups whose
    /// rule gives the same kind with quota left, first in group-id order:
    /// one `LicenseGranted` each, after the events that release them. The
    /// others stay released.
    pub(crate) fn relocate_leases(
        &self,
        lost: &[(UserId, LicenseKind)],
        from: GroupId,
    ) -> Vec<EventKind> {
        let mut moved: BTreeMap<(GroupId, &LicenseKind), usize> = BTreeMap::new();
        let mut events = Vec::new();
        for (user, kind) in lost {
            let Some(member) = self.members.get(*user) else {
                continue;
            };
            if member.status().is_pending() {
                continue;
            }
            let target = member.group_ids().find(|group| {
                *group != from
                    && self.licenses.rule_has_room(
                        *group,
                        kind,
                        moved.get(&(*group, kind)).copied().unwrap_or(0),
                    )
            });
            if let Some(group) = target {
                let count = moved.entry((group, kind)).or_default();
                *count = count.saturating_add(1);
                events.push(EventKind::LicenseGranted {
                    user: *user,
                    kind: kind.clone(),
                    source: LicenseSource::Group(group),
                });
            }
        }
        events
    }

    /// The leases `users` hold through `group`, as (member, kind).
    pub(crate) fn leases_through(
        &self,
        group: GroupId,
        users: &[UserId],
    ) -> Vec<(UserId, LicenseKind)> {
        users
            .iter()
            .flat_map(|user| {
                self.licenses
                    .held_by(*user)
                    .filter(move |(_, source)| *source == LicenseSource::Group(group))
                    .map(move |(kind, _)| (*user, kind.clone()))
            })
            .collect()
    }

    /// `RemoveGroupMembers` and `DeleteGroup`: after the event that takes
    /// `users` out of `group`, their leases through it move to another of
    /// their groups where one gives the kind (see
    /// [`relocate_leases`](Organization::relocate_leases)).
    pub(crate) fn leases_after_leaving(&self, group: GroupId, users: &[UserId]) -> Vec<EventKind> {
        if !self.licenses.granted.contains_key(&group) {
            return Vec::new();
        }
        self.relocate_leases(&self.leases_through(group, users), group)
    }

    /// `DeleteGroup`: what [`leases_after_leaving`](Organization::leases_after_leaving)
    /// gives for every member holding a lease through it.
    pub(crate) fn leases_after_deleting(&self, group: GroupId) -> Vec<EventKind> {
        // The group's own index of its leases, in the order
        // `leases_through` gives them (member, then kind).
        let mut leases: Vec<(UserId, LicenseKind)> = self
            .licenses
            .granted_by(group)
            .map(|(user, kind)| (user, kind.clone()))
            .collect();
        leases.sort_unstable();
        self.relocate_leases(&leases, group)
    }
}

impl Licenses {
    /// `SetLicenseIdlePeriod`.
    pub(crate) fn decide_set_idle_period(
        &self,
        after: SignedDuration,
    ) -> Result<Vec<EventKind>, DomainError> {
        if after < MIN_LICENSE_IDLE_PERIOD {
            return Err(DomainError::InvalidIdlePeriod);
        }
        if self.idle_period() == after {
            return Ok(Vec::new());
        }
        Ok(vec![EventKind::LicenseIdlePeriodSet { after }])
    }

    /// `LicenseIdlePeriodSet`: ignored below the minimum.
    pub(crate) fn apply_idle_period_set(&mut self, after: SignedDuration) {
        if after >= MIN_LICENSE_IDLE_PERIOD {
            self.idle_after = Some(after);
        }
    }

    /// `LicenseGranted` to `member` (`None`: not a member): ignored unless
    /// every rule on [`LicenseRule`](crate::LicenseRule) still holds afterwards. A
    /// direct grant puts the member on user-level allocation.
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
            if source == LicenseSource::Direct {
                self.withheld.remove(&member.id());
            }
            self.grant(member.id(), kind.clone(), source);
        }
    }

    /// Whether `member` may hold `kind` from `source`.
    fn may_hold(&self, member: &Member, kind: &LicenseKind, source: LicenseSource) -> bool {
        let Some(seats) = self.pools.get(kind) else {
            return false;
        };
        let user = member.id();
        match source {
            LicenseSource::Group(group) => {
                if member.status().is_pending()
                    || self.is_user_level(user)
                    || !member.is_in(group)
                    || !self.rule_has_room(group, kind, 0)
                {
                    return false;
                }
            }
            LicenseSource::Direct => {
                // Direct allocation replaces group leases: the decision
                // released them first.
                let leases_other = self
                    .held_by(user)
                    .any(|(k, s)| k != kind && matches!(s, LicenseSource::Group(_)));
                if leases_other {
                    return false;
                }
            }
        }
        self.source(user, kind).is_some() || self.used(kind) < *seats
    }

    /// A removed member's licenses are released, and their allocation
    /// forgotten.
    pub(crate) fn forget_user(&mut self, user: UserId) {
        self.release_all(user);
        self.withheld.remove(&user);
    }

    /// Group licenses held by pending members (only in a snapshot written
    /// before leases) are released.
    pub(crate) fn release_pending_leases(&mut self, is_pending: impl Fn(UserId) -> bool) {
        let pending: Vec<(UserId, LicenseKind)> = self
            .leases()
            .filter(|(user, _, _)| is_pending(*user))
            .map(|(user, kind, _)| (user, kind.clone()))
            .collect();
        for (user, kind) in &pending {
            self.release(*user, kind);
        }
    }
}
