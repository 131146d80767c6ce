//! User-level allocation (licenses allocated to a member directly, which
//! replace whatever their groups give) and an administrator's "Release
//! license". The model is documented on [`LicenseRule`](crate::LicenseRule).

use std::collections::BTreeSet;

use super::Licenses;
use crate::core::organization::Member;
use crate::{DomainError, EventKind, LicenseKind, LicenseSource, UserId};

impl Licenses {
    /// `LicenseReleased` for every group lease `user` holds, in kind order.
    fn release_leases(&self, user: UserId) -> impl Iterator<Item = EventKind> + '_ {
        self.held_by(user)
            .filter(|(_, source)| matches!(source, LicenseSource::Group(_)))
            .map(move |(kind, _)| EventKind::LicenseReleased {
                user,
                kind: kind.clone(),
            })
    }

    /// `AllocateLicense`, the member resolved: `kind` joins the member's
    /// user-level allocation. Their group leases are released (user-level
    /// allocation replaces them). It needs a free seat of `kind`, unless
    /// the member leases `kind` already (the seat then changes source).
    pub(crate) fn decide_allocate(
        &self,
        member: &Member,
        kind: &LicenseKind,
    ) -> Result<Vec<EventKind>, DomainError> {
        let kind = self.pool_kind(kind)?;
        let user = member.id();
        match self.source(user, kind) {
            Some(LicenseSource::Direct) => return Ok(Vec::new()),
            Some(LicenseSource::Group(_)) => {}
            None => self.require_seats(kind, 1)?,
        }
        let mut events: Vec<EventKind> = self.release_leases(user).collect();
        events.push(EventKind::LicenseGranted {
            user,
            kind: kind.clone(),
            source: LicenseSource::Direct,
        });
        Ok(events)
    }

    /// `SetUserLicenses`, the member resolved: the member's user-level
    /// allocation becomes exactly `kinds` (none: no license at all). Group
    /// leases are released; a kind leased already keeps its seat; the
    /// other new kinds each need a free seat, or nothing changes.
    pub(crate) fn decide_set_user_licenses(
        &self,
        member: &Member,
        kinds: &BTreeSet<LicenseKind>,
    ) -> Result<Vec<EventKind>, DomainError> {
        let user = member.id();
        let mut wanted: BTreeSet<&LicenseKind> = BTreeSet::new();
        for kind in kinds {
            wanted.insert(self.pool_kind(kind)?);
        }
        let direct: BTreeSet<&LicenseKind> = self
            .held_by(user)
            .filter(|(_, s)| *s == LicenseSource::Direct)
            .map(|(k, _)| k)
            .collect();
        let leased = self
            .held_by(user)
            .any(|(_, s)| matches!(s, LicenseSource::Group(_)));
        let withheld = self.withheld.contains(&user);
        if direct == wanted && !leased && (withheld || !wanted.is_empty()) {
            return Ok(Vec::new());
        }
        // Each wanted kind not held yet takes a seat (in kind order, so
        // the first kind short of seats is the one named).
        for kind in &wanted {
            if self.source(user, kind).is_none() {
                self.require_seats(kind, 1)?;
            }
        }
        let mut events: Vec<EventKind> = self.release_leases(user).collect();
        events.extend(direct.iter().filter(|k| !wanted.contains(*k)).map(|kind| {
            EventKind::LicenseReleased {
                user,
                kind: (*kind).clone(),
            }
        }));
        events.extend(wanted.iter().filter(|k| !direct.contains(*k)).map(|kind| {
            EventKind::LicenseGranted {
                user,
                kind: (*kind).clone(),
                source: LicenseSource::Direct,
            }
        }));
        if wanted.is_empty() {
            events.push(EventKind::LicensesWithheld { user });
        }
        Ok(events)
    }

    /// `DeallocateLicense`, the member resolved: `kind` leaves their
    /// user-level allocation, freeing its seat. They stay on user-level
    /// allocation: with nothing left, they hold no license until switched
    /// back to group-based allocation.
    pub(crate) fn decide_deallocate(
        &self,
        member: &Member,
        kind: &LicenseKind,
    ) -> Result<Vec<EventKind>, DomainError> {
        let not_allocated = || DomainError::NotAllocated {
            email: member.email().clone(),
            kind: kind.clone(),
        };
        let kind = self.pool_kind(kind).map_err(|_| not_allocated())?;
        if self.source(member.id(), kind) != Some(LicenseSource::Direct) {
            return Err(not_allocated());
        }
        Ok(self.release_direct(member.id(), kind))
    }

    /// Releasing `user`'s direct `kind`, keeping them on user-level
    /// allocation.
    fn release_direct(&self, user: UserId, kind: &LicenseKind) -> Vec<EventKind> {
        let mut events = vec![EventKind::LicenseReleased {
            user,
            kind: kind.clone(),
        }];
        let direct_left = self
            .held_by(user)
            .any(|(k, source)| k != kind && source == LicenseSource::Direct);
        if !direct_left {
            events.push(EventKind::LicensesWithheld { user });
        }
        events
    }

    /// `UseGroupLicenses`, the member resolved: back to group-based
    /// allocation. Direct licenses are released; group licenses are leased
    /// at the member's next sign-in. Already group-based: no events.
    pub(crate) fn decide_use_group_licenses(&self, member: &Member) -> Vec<EventKind> {
        let user = member.id();
        if !self.is_user_level(user) {
            return Vec::new();
        }
        let mut events: Vec<EventKind> = self
            .held_by(user)
            .filter(|(_, s)| *s == LicenseSource::Direct)
            .map(|(kind, _)| EventKind::LicenseReleased {
                user,
                kind: kind.clone(),
            })
            .collect();
        events.push(EventKind::GroupLicensesRestored { user });
        events
    }

    /// `ReleaseLicense`, the member resolved: an administrator's "Release
    /// license". A group lease is released (the member leases again at a
    /// later sign-in, if a seat is free); a direct license leaves the
    /// member's user-level allocation, as `DeallocateLicense`.
    pub(crate) fn decide_release(
        &self,
        member: &Member,
        kind: &LicenseKind,
    ) -> Result<Vec<EventKind>, DomainError> {
        let not_held = || DomainError::LicenseNotHeld {
            email: member.email().clone(),
            kind: kind.clone(),
        };
        let kind = self.pool_kind(kind).map_err(|_| not_held())?;
        match self.source(member.id(), kind) {
            None => Err(not_held()),
            Some(LicenseSource::Direct) => Ok(self.release_direct(member.id(), kind)),
            Some(LicenseSource::Group(_)) => Ok(vec![EventKind::LicenseReleased {
                user: member.id(),
                kind: kind.clone(),
            }]),
        }
    }

    /// `LicensesWithheld`: the member is on user-level allocation with
    /// nothing selected (ignored for a non-member, or one still holding a
    /// group lease: the decision released those first).
    pub(crate) fn apply_withheld(&mut self, member: Option<&Member>) {
        let Some(member) = member else {
            return;
        };
        let user = member.id();
        if self.held_by(user).next().is_none() {
            self.withheld.insert(user);
        }
    }

    /// `GroupLicensesRestored`: back to group-based allocation (ignored
    /// while the member still holds a direct license).
    pub(crate) fn apply_group_restored(&mut self, user: UserId) {
        if !self.has_direct(user) {
            self.withheld.remove(&user);
        }
    }
}
