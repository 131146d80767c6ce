//! Services and role assignments: deciding, applying, querying.

use super::Organization;
use crate::{Command, DomainError, Event, EventKind, GroupId, UserId};

impl Organization {
    /// Decides a service or role command (the actor is an administrator).
    pub(crate) fn decide_roles(&self, command: &Command) -> Result<Vec<EventKind>, DomainError> {
        let _ = command;
        Ok(Vec::new())
    }

    /// Applies a service or role event.
    pub(crate) fn apply_roles(&mut self, event: &Event) {
        let _ = event;
    }

    /// Drops a removed member's role assignments.
    pub(crate) fn roles_forget_user(&mut self, user: UserId) {
        let _ = user;
    }

    /// Drops a deleted group's role assignments.
    pub(crate) fn roles_forget_group(&mut self, group: GroupId) {
        let _ = group;
    }
}
