//! License pools, allocations and group license rules: deciding, applying,
//! querying.

use super::Organization;
use crate::{Command, DomainError, Event, EventKind, GroupId, UserId};

impl Organization {
    /// Decides a license command (the actor is an administrator).
    pub(crate) fn decide_licenses(&self, command: &Command) -> Result<Vec<EventKind>, DomainError> {
        let _ = command;
        Ok(Vec::new())
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
        let _ = joins;
        Ok(Vec::new())
    }

    /// Applies a license event.
    pub(crate) fn apply_licenses(&mut self, event: &Event) {
        let _ = event;
    }

    /// Releases a removed member's licenses.
    pub(crate) fn licenses_forget_user(&mut self, user: UserId) {
        let _ = user;
    }

    /// Releases what a deleted group's rule granted and drops the rule.
    pub(crate) fn licenses_forget_group(&mut self, group: GroupId) {
        let _ = group;
    }

    /// Releases what `group`'s rule granted `user`, who left it.
    pub(crate) fn licenses_left_group(&mut self, user: UserId, group: GroupId) {
        let _ = (user, group);
    }
}
