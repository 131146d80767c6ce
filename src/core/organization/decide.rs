//! Turning commands into events. Pure: reads the state, never changes it.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use super::Organization;
use crate::core::command::{MAX_INVITE_GROUPS, MAX_INVITEES, MAX_ORGANIZATION_NAME_CHARS};
use crate::core::organization::{Group, GroupKind};
use crate::{
    Command, Context, DefaultGroup, DomainError, Email, Event, EventKind, GroupId, GroupName,
    UserId,
};

impl Organization {
    /// Checks `command` against the current state and returns the events it
    /// causes, without changing anything.
    ///
    /// An empty list means the command was accepted but changes nothing (a
    /// sign-in older than Last active, adding members already in a group).
    ///
    /// # Errors
    /// A [`DomainError`] whose message says what to fix. Permission is
    /// checked before anything else, so a non-administrator learns nothing
    /// about the organization from the error.
    pub fn decide(&self, command: &Command, ctx: &Context) -> Result<Vec<Event>, DomainError> {
        if let Command::CreateOrganization { name } = command {
            return self.decide_create(name, ctx);
        }
        if !self.exists() {
            return Err(DomainError::NotCreated);
        }
        match command {
            Command::AcceptInvitation => return self.decide_accept(ctx),
            Command::RecordSignIn => return self.decide_sign_in(ctx),
            _ => {}
        }
        let actor = self.require_admin(ctx)?;
        let event = |kind| Event::new(ctx.now, actor, kind);
        match command {
            Command::InviteUsers { emails, groups } => {
                let invited = self.decide_invite(emails, groups)?;
                let follow_up = self.after_invitations(&invited)?;
                Ok(invited.into_iter().chain(follow_up).map(event).collect())
            }
            Command::RemoveUsers { emails } => {
                let users = self.resolve_users(emails)?;
                if users.contains(&actor) {
                    return Err(DomainError::CannotRemoveSelf);
                }
                self.require_admin_left(&users)?;
                Ok(users
                    .into_iter()
                    .map(|user| event(EventKind::UserRemoved { user }))
                    .collect())
            }
            Command::CreateGroup { name, members } => {
                if let Some(existing) = self.group(name) {
                    return Err(DomainError::GroupNameTaken {
                        name: existing.name.clone(),
                    });
                }
                let members = if members.is_empty() {
                    Vec::new()
                } else {
                    self.resolve_users(members)?
                };
                if self.next_group == u32::MAX {
                    return Err(DomainError::IdsExhausted { what: "group" });
                }
                Ok(vec![event(EventKind::GroupCreated {
                    group: GroupId(self.next_group),
                    name: name.clone(),
                    members,
                })])
            }
            Command::RenameGroup { group, new_name } => {
                let id = self.resolve_custom_group(group)?;
                if let Some(other) = self.group(new_name) {
                    if other.id != id {
                        return Err(DomainError::GroupNameTaken {
                            name: other.name.clone(),
                        });
                    }
                    if other.name.as_str() == new_name.as_str() {
                        return Ok(Vec::new());
                    }
                }
                Ok(vec![event(EventKind::GroupRenamed {
                    group: id,
                    name: new_name.clone(),
                })])
            }
            Command::DeleteGroup { group } => {
                let id = self.resolve_custom_group(group)?;
                Ok(vec![event(EventKind::GroupDeleted { group: id })])
            }
            Command::AddGroupMembers { group, members } => {
                let id = self.resolve_editable_group(group)?;
                let users: Vec<UserId> = self
                    .resolve_users(members)?
                    .into_iter()
                    .filter(|u| !self.members.get(u).is_some_and(|m| m.groups.contains(&id)))
                    .collect();
                if users.is_empty() {
                    return Ok(Vec::new());
                }
                let group = [id];
                let joins: Vec<(UserId, &[GroupId])> =
                    users.iter().map(|u| (*u, &group[..])).collect();
                let grants = self.license_grants_for_joins(&joins)?;
                Ok(
                    std::iter::once(EventKind::GroupMembersAdded { group: id, users })
                        .chain(grants)
                        .map(event)
                        .collect(),
                )
            }
            Command::RemoveGroupMembers { group, members } => {
                let id = self.resolve_editable_group(group)?;
                let users: Vec<UserId> = self
                    .resolve_users(members)?
                    .into_iter()
                    .filter(|u| self.members.get(u).is_some_and(|m| m.groups.contains(&id)))
                    .collect();
                if id == DefaultGroup::Administrators.id() {
                    self.require_admin_left(&users)?;
                }
                Ok(if users.is_empty() {
                    Vec::new()
                } else {
                    vec![event(EventKind::GroupMembersRemoved { group: id, users })]
                })
            }
            Command::AddService { .. }
            | Command::RemoveService { .. }
            | Command::AssignRole { .. }
            | Command::RevokeRole { .. } => {
                Ok(self.decide_roles(command)?.into_iter().map(event).collect())
            }
            Command::SetLicensePool { .. }
            | Command::RemoveLicensePool { .. }
            | Command::SetGroupLicenseRule { .. }
            | Command::RemoveGroupLicenseRule { .. }
            | Command::AllocateLicense { .. }
            | Command::DeallocateLicense { .. } => Ok(self
                .decide_licenses(command)?
                .into_iter()
                .map(event)
                .collect()),
            Command::SetMailSettings { .. }
            | Command::ClearMailSettings
            | Command::SetInvitationExpiry { .. }
            | Command::ResendInvitation { .. }
            | Command::RevokeInvitation { .. } => Ok(self
                .decide_invitations(command)?
                .into_iter()
                .map(event)
                .collect()),
            Command::CreateOrganization { .. }
            | Command::AcceptInvitation
            | Command::RecordSignIn => Ok(Vec::new()),
        }
    }

    /// What follows new invitations: license grants from group rules and
    /// invitation emails. `invited` holds the `UserInvited` kinds.
    ///
    /// # Errors
    /// [`DomainError::NoSeatsLeft`] when group rules need more seats than
    /// are free.
    pub(crate) fn after_invitations<'a>(
        &self,
        invited: impl IntoIterator<Item = &'a EventKind>,
    ) -> Result<Vec<EventKind>, DomainError> {
        if self.licenses.rules.is_empty() && self.mail.is_none() {
            return Ok(Vec::new());
        }
        let joins: Vec<(UserId, &[GroupId])> = invited
            .into_iter()
            .filter_map(|kind| match kind {
                EventKind::UserInvited { user, groups, .. } => Some((*user, &groups[..])),
                _ => None,
            })
            .collect();
        let mut follow_up = self.license_grants_for_joins(&joins)?;
        let users: Vec<UserId> = joins.iter().map(|(u, _)| *u).collect();
        follow_up.extend(self.queue_invitation_emails(&users)?);
        Ok(follow_up)
    }

    /// Decides `command` and applies its events; returns the events.
    ///
    /// # Errors
    /// As [`decide`](Organization::decide); on error nothing changes.
    pub fn execute(&mut self, command: &Command, ctx: &Context) -> Result<Vec<Event>, DomainError> {
        let events = self.decide(command, ctx)?;
        for event in &events {
            self.apply(event);
        }
        Ok(events)
    }

    fn decide_create(&self, name: &str, ctx: &Context) -> Result<Vec<Event>, DomainError> {
        if self.exists() {
            return Err(DomainError::AlreadyCreated);
        }
        let trimmed = name.trim();
        let chars = trimmed.chars().count();
        if chars == 0
            || chars > MAX_ORGANIZATION_NAME_CHARS
            || trimmed.chars().any(char::is_control)
        {
            return Err(DomainError::InvalidOrganizationName {
                name: name.to_owned(),
            });
        }
        let user = UserId(
            self.next_free_user()
                .ok_or(DomainError::IdsExhausted { what: "user" })?,
        );
        Ok(vec![Event::new(
            ctx.now,
            user,
            EventKind::OrganizationCreated {
                name: trimmed.to_owned(),
                user,
                email: ctx.actor.clone(),
            },
        )])
    }

    fn decide_accept(&self, ctx: &Context) -> Result<Vec<Event>, DomainError> {
        let Some(member) = self.member(&ctx.actor) else {
            return Err(DomainError::NotInvited {
                email: ctx.actor.clone(),
            });
        };
        if !member.status.is_pending() {
            return Err(DomainError::AlreadyAccepted {
                email: member.email.clone(),
            });
        }
        if self.is_expired(member, ctx.now) {
            return Err(DomainError::InvitationExpired {
                email: member.email.clone(),
            });
        }
        Ok(vec![Event::new(
            ctx.now,
            member.id,
            EventKind::InvitationAccepted { user: member.id },
        )])
    }

    fn decide_sign_in(&self, ctx: &Context) -> Result<Vec<Event>, DomainError> {
        let Some(member) = self.member(&ctx.actor) else {
            return Err(DomainError::NotAMember {
                email: ctx.actor.clone(),
            });
        };
        match member.status.last_active() {
            None => Err(DomainError::InvitationNotAccepted {
                email: member.email.clone(),
            }),
            Some(last) if ctx.now <= last => Ok(Vec::new()),
            Some(_) => Ok(vec![Event::new(
                ctx.now,
                member.id,
                EventKind::UserSignedIn { user: member.id },
            )]),
        }
    }

    /// The event kinds for an invitation, all or nothing.
    pub(crate) fn decide_invite(
        &self,
        emails: &[Email],
        groups: &[GroupName],
    ) -> Result<Vec<EventKind>, DomainError> {
        if emails.is_empty() {
            return Err(DomainError::NoInvitees);
        }
        if emails.len() > MAX_INVITEES {
            return Err(DomainError::TooManyInvitees {
                given: emails.len(),
            });
        }
        if groups.len() > MAX_INVITE_GROUPS {
            return Err(DomainError::TooManyGroups {
                given: groups.len(),
            });
        }
        let groups: Arc<[GroupId]> = self.resolve_invite_groups(groups)?.into();
        let mut seen = HashSet::new();
        let mut repeated = Vec::new();
        for email in emails {
            if !seen.insert(email) && !repeated.contains(email) {
                repeated.push(email.clone());
            }
        }
        if !repeated.is_empty() {
            return Err(DomainError::DuplicateInvitees { emails: repeated });
        }
        let members: Vec<Email> = emails
            .iter()
            .filter_map(|e| self.member(e).map(|m| m.email.clone()))
            .collect();
        if !members.is_empty() {
            return Err(DomainError::AlreadyMembers { emails: members });
        }
        // Every id handed out must leave the counter room to move past it.
        let first = self
            .next_free_user()
            .filter(|first| {
                u64::try_from(emails.len())
                    .ok()
                    .and_then(|n| first.checked_add(n))
                    .is_some()
            })
            .ok_or(DomainError::IdsExhausted { what: "user" })?;
        Ok(emails
            .iter()
            .zip(first..)
            .map(|(email, id)| EventKind::UserInvited {
                user: UserId(id),
                email: email.clone(),
                groups: groups.clone(),
            })
            .collect())
    }

    /// The id the next member gets, or `None` when the counter is at the
    /// end of its range (a damaged store): an id is handed out only if the
    /// counter can move past it.
    pub(crate) fn next_free_user(&self) -> Option<u64> {
        let next = self.next_user.max(1);
        (next < u64::MAX).then_some(next)
    }

    /// Resolves invitation groups: every unknown name is reported; repeats
    /// and `Everyone` are dropped; the result is in id order.
    pub(crate) fn resolve_invite_groups(
        &self,
        names: &[GroupName],
    ) -> Result<Vec<GroupId>, DomainError> {
        let mut ids = BTreeSet::new();
        let mut unknown: Vec<GroupName> = Vec::new();
        for name in names {
            match self.group(name) {
                Some(g) if g.is_everyone() => {}
                Some(g) => {
                    ids.insert(g.id);
                }
                None if unknown.contains(name) => {}
                None => unknown.push(name.clone()),
            }
        }
        if unknown.is_empty() {
            Ok(ids.into_iter().collect())
        } else {
            Err(DomainError::UnknownGroups { names: unknown })
        }
    }

    /// The actor's id, if they are an active administrator.
    pub(crate) fn require_admin(&self, ctx: &Context) -> Result<UserId, DomainError> {
        match self.member(&ctx.actor) {
            Some(m) if self.is_active_administrator(m.id) => Ok(m.id),
            _ => Err(DomainError::Forbidden {
                actor: ctx.actor.clone(),
            }),
        }
    }

    /// Members' ids in first-seen order, repeats dropped; every unknown
    /// address is reported.
    fn resolve_users(&self, emails: &[Email]) -> Result<Vec<UserId>, DomainError> {
        if emails.is_empty() {
            return Err(DomainError::NoUsers);
        }
        let mut ids = Vec::with_capacity(emails.len());
        let mut seen = HashSet::new();
        let mut unknown: Vec<Email> = Vec::new();
        let mut seen_unknown: HashSet<&Email> = HashSet::new();
        for email in emails {
            match self.member(email) {
                Some(m) => {
                    if seen.insert(m.id) {
                        ids.push(m.id);
                    }
                }
                None => {
                    if seen_unknown.insert(email) {
                        unknown.push(email.clone());
                    }
                }
            }
        }
        if unknown.is_empty() {
            Ok(ids)
        } else {
            Err(DomainError::UnknownUsers { emails: unknown })
        }
    }

    /// The group with this name, or a refusal naming it.
    pub(crate) fn resolve_group(&self, name: &GroupName) -> Result<&Group, DomainError> {
        self.group(name).ok_or_else(|| DomainError::UnknownGroups {
            names: vec![name.clone()],
        })
    }

    fn resolve_custom_group(&self, name: &GroupName) -> Result<GroupId, DomainError> {
        let group = self.resolve_group(name)?;
        match group.kind {
            GroupKind::Custom => Ok(group.id),
            GroupKind::Default(_) => Err(DomainError::DefaultGroupImmutable {
                name: group.name.clone(),
            }),
        }
    }

    fn resolve_editable_group(&self, name: &GroupName) -> Result<GroupId, DomainError> {
        let group = self.resolve_group(name)?;
        if group.is_everyone() {
            return Err(DomainError::EveryoneImplicit);
        }
        Ok(group.id)
    }

    /// Refuses when losing `leaving` would leave no active administrator.
    fn require_admin_left(&self, leaving: &[UserId]) -> Result<(), DomainError> {
        let leaving: HashSet<&UserId> = leaving.iter().collect();
        let remaining = self
            .groups
            .get(&DefaultGroup::Administrators.id())
            .into_iter()
            .flat_map(|g| g.members.iter())
            .filter(|id| self.is_active_administrator(**id) && !leaving.contains(id))
            .count();
        if remaining == 0 {
            Err(DomainError::LastAdministrator)
        } else {
            Ok(())
        }
    }
}
