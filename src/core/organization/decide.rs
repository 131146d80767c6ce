//! Turning commands into events. Pure: reads the state, never changes it.
//!
//! One exhaustive match routes every command through its door (create,
//! a member acting for themselves, or an administrator) to the decision
//! of the sub-state that owns it, with the command's fields; names are
//! looked up by the resolver (`resolve.rs`) first.

use std::collections::HashSet;
use std::sync::Arc;

use super::{Groups, Invitations, Organization};
use crate::core::command::{MAX_INVITE_GROUPS, MAX_INVITEES, MAX_ORGANIZATION_NAME_CHARS};
use crate::core::names::check_name;
use crate::{
    Command, Context, DefaultGroup, DomainError, Email, Event, EventKind, GroupId, GroupName,
    Limits, UserId,
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
    /// about the organization from the error, not even whether it exists:
    /// every command but `CreateOrganization` answers on an organization
    /// that does not exist as an existing one answers someone who is not
    /// its administrator ([`DomainError::Forbidden`]) or not its member
    /// ([`DomainError::NotInvited`], [`DomainError::NotAMember`]). Use
    /// [`Organization::exists`] to tell "no organization yet".
    pub fn decide(&self, command: &Command, ctx: &Context) -> Result<Vec<Event>, DomainError> {
        let (members, groups) = (&self.members, &self.groups);
        let limits = &ctx.limits;
        let admin = |decide: &dyn Fn(UserId) -> Result<Vec<EventKind>, DomainError>| {
            self.as_admin(ctx, |actor| {
                let kinds = decide(actor)?;
                Ok(kinds
                    .into_iter()
                    .map(|kind| Event::new(ctx.now, actor, kind))
                    .collect())
            })
        };
        match command {
            Command::CreateOrganization { name } => self.decide_create(name, ctx),
            // A member acting for themselves. An organization that does not
            // exist has no members, so these answer as an existing one
            // answers someone who is not a member (`NotInvited`,
            // `NotAMember`): the refusal does not tell whether it exists.
            Command::AcceptInvitation => self.decide_accept(ctx),
            Command::RecordSignIn => self.decide_sign_in(ctx),
            Command::InviteUsers { emails, groups } => {
                admin(&|_| self.decide_invite_users(emails, groups))
            }
            Command::RemoveUsers { emails } => admin(&|actor| {
                limits.check_users(emails.len())?;
                self.decide_remove(actor, emails)
            }),
            Command::CreateGroup { name, members } => admin(&|_| {
                limits.check_users(members.len())?;
                self.decide_create_group(name, members, limits)
            }),
            Command::RenameGroup { group, new_name } => {
                admin(&|_| groups.decide_rename(groups.resolve_custom(group)?.id(), new_name))
            }
            Command::DeleteGroup { group } => admin(&|_| {
                let group = groups.resolve_custom(group)?;
                let mut events = Groups::decide_delete(group);
                events.extend(self.leases_after_deleting(group.id()));
                Ok(events)
            }),
            Command::AddGroupMembers { group, members } => admin(&|_| {
                limits.check_users(members.len())?;
                self.decide_add_members(group, members)
            }),
            Command::RemoveGroupMembers { group, members } => admin(&|_| {
                limits.check_users(members.len())?;
                self.decide_remove_members(group, members)
            }),
            Command::AddService {
                name,
                roles,
                admin_role,
                default_roles,
            } => admin(&|_| {
                self.access.decide_add_service(
                    groups,
                    name,
                    roles,
                    admin_role,
                    default_roles,
                    limits,
                )
            }),
            Command::RemoveService { service } => {
                admin(&|_| self.access.decide_remove_service(service))
            }
            Command::AssignRole { service, to, role } => admin(&|_| {
                self.access
                    .decide_assign(members, groups, service, to, role)
            }),
            Command::RevokeRole {
                service,
                from,
                role,
            } => admin(&|_| {
                self.access
                    .decide_revoke(members, groups, service, from, role)
            }),
            Command::SetLicensePool { kind, seats } => {
                admin(&|_| self.licenses.decide_set_pool(kind, *seats, limits))
            }
            Command::RemoveLicensePool { kind } => {
                admin(&|_| self.licenses.decide_remove_pool(kind))
            }
            Command::SetGroupLicenseRule { group, licenses } => {
                admin(&|_| self.decide_set_license_rule(groups.resolve(group)?, licenses))
            }
            Command::RemoveGroupLicenseRule { group } => {
                admin(&|_| Ok(self.decide_remove_license_rule(groups.resolve(group)?)))
            }
            Command::AllocateLicense { user, kind } => {
                admin(&|_| self.licenses.decide_allocate(members.resolve(user)?, kind))
            }
            Command::SetUserLicenses { user, kinds } => admin(&|_| {
                self.licenses
                    .decide_set_user_licenses(members.resolve(user)?, kinds)
            }),
            Command::DeallocateLicense { user, kind } => admin(&|_| {
                self.licenses
                    .decide_deallocate(members.resolve(user)?, kind)
            }),
            Command::UseGroupLicenses { user } => admin(&|_| {
                Ok(self
                    .licenses
                    .decide_use_group_licenses(members.resolve(user)?))
            }),
            Command::ReleaseLicense { user, kind } => {
                admin(&|_| self.licenses.decide_release(members.resolve(user)?, kind))
            }
            Command::LeaseLicenses => self.decide_lease(&ctx.actor, ctx.now),
            Command::ReleaseIdleLeases => admin(&|_| {
                Ok(self
                    .idle_leases(ctx.now)
                    .into_iter()
                    .map(|(user, kind)| EventKind::LicenseReleased { user, kind })
                    .collect())
            }),
            Command::SetLicenseIdlePeriod { after } => {
                admin(&|_| self.licenses.decide_set_idle_period(*after))
            }
            Command::SetMailSettings { settings } => {
                admin(&|_| self.invitations.decide_set_mail(settings))
            }
            Command::ClearMailSettings => admin(&|_| Ok(self.invitations.decide_clear_mail())),
            Command::SetInvitationExpiry { after } => {
                admin(&|_| self.invitations.decide_set_expiry(*after))
            }
            Command::ResendInvitation { user } => admin(&|_| {
                self.invitations
                    .decide_resend(members.resolve_pending(user)?)
            }),
            Command::RevokeInvitation { user } => {
                admin(&|_| Ok(Invitations::decide_revoke(members.resolve_pending(user)?)))
            }
        }
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

    /// The administrators' door, for every administrative decision (single
    /// commands and bulk invitations alike): the actor must be an active
    /// administrator, checked before anything else; `decide` gets the
    /// actor's id. Nobody administers an organization that does not exist,
    /// so there the answer is [`DomainError::Forbidden`], the same as a
    /// non-administrator gets from an existing one: the refusal does not
    /// tell whether the organization exists (the host asks
    /// [`Organization::exists`] itself when it needs to know).
    ///
    /// # Errors
    /// [`DomainError::Forbidden`], or what `decide` returns.
    pub(crate) fn as_admin<T>(
        &self,
        ctx: &Context,
        decide: impl FnOnce(UserId) -> Result<T, DomainError>,
    ) -> Result<T, DomainError> {
        // A state that does not exist has no members (`member` finds
        // nobody), so it falls to `Forbidden` below; checked explicitly
        // all the same, so the rule does not rest on that.
        match self.member(&ctx.actor).filter(|_| self.exists()) {
            Some(m) if self.is_active_administrator(m.id) => decide(m.id),
            _ => Err(DomainError::Forbidden {
                actor: ctx.actor.clone(),
            }),
        }
    }

    fn decide_create(&self, name: &str, ctx: &Context) -> Result<Vec<Event>, DomainError> {
        if self.exists() {
            return Err(DomainError::AlreadyCreated);
        }
        // The one name rule (see `NameError`), with a longer bound.
        let trimmed = name.trim();
        if check_name(trimmed, MAX_ORGANIZATION_NAME_CHARS).is_err() {
            return Err(DomainError::InvalidOrganizationName {
                name: name.to_owned(),
            });
        }
        let user = UserId(
            self.members
                .next_free()
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
        if self.invitations.is_expired(member, ctx.now) {
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

    /// `InviteUsers`: all or nothing.
    fn decide_invite_users(
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
        // Naming a group twice counts once.
        let distinct = groups.iter().collect::<HashSet<&GroupName>>().len();
        if distinct > MAX_INVITE_GROUPS {
            return Err(DomainError::TooManyGroups { given: distinct });
        }
        let groups: Arc<[GroupId]> = self.groups.resolve_invite_groups(groups)?.into();
        let mut seen = HashSet::new();
        let mut repeated = Vec::new();
        let mut seen_repeated = HashSet::new();
        for email in emails {
            if !seen.insert(email) && seen_repeated.insert(email) {
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
        self.decide_invitations(
            emails.iter().map(|email| (email.clone(), groups.clone())),
            |kind| kind,
        )
    }

    /// The events of new invitations, for single and bulk invites alike:
    /// one `UserInvited` per invitee (checked already: not a member, not
    /// repeated, groups resolved), numbered from the user counter, then
    /// what follows them: one queued email each when the organization has
    /// mail settings. Invitees lease no group license until they sign in,
    /// so a shortage of seats never refuses an invitation. `wrap` turns
    /// each event kind into the caller's item (the bulk path makes its
    /// `Event`s here, so a thousand-row batch is built in one buffer, not
    /// copied from a buffer of kinds).
    ///
    /// # Errors
    /// [`DomainError::IdsExhausted`] when the counters cannot number them
    /// (only a damaged store gets there).
    pub(crate) fn decide_invitations<T>(
        &self,
        invitees: impl ExactSizeIterator<Item = (Email, Arc<[GroupId]>)>,
        wrap: impl FnMut(EventKind) -> T,
    ) -> Result<Vec<T>, DomainError> {
        if invitees.len() == 0 {
            return Ok(Vec::new());
        }
        // Every id handed out must leave the counter room to move past it.
        let first = self
            .members
            .next_free()
            .filter(|first| {
                u64::try_from(invitees.len())
                    .ok()
                    .and_then(|n| first.checked_add(n))
                    .is_some_and(|end| end <= super::members::MAX_USER_ID)
            })
            .ok_or(DomainError::IdsExhausted { what: "user" })?;
        let invited: Vec<(UserId, Email, Arc<[GroupId]>)> = invitees
            .zip(first..)
            .map(|((email, groups), id)| (UserId(id), email, groups))
            .collect();
        let users: Vec<UserId> = invited.iter().map(|(user, _, _)| *user).collect();
        let emails = self.invitations.queue_emails(&users)?;
        Ok(invited
            .into_iter()
            .map(|(user, email, groups)| EventKind::UserInvited {
                user,
                email,
                groups,
            })
            .chain(emails)
            .map(wrap)
            .collect())
    }

    /// `RemoveUsers`: never oneself, never the last administrator.
    fn decide_remove(
        &self,
        actor: UserId,
        emails: &[Email],
    ) -> Result<Vec<EventKind>, DomainError> {
        let users = self.members.resolve_all(emails)?;
        if users.contains(&actor) {
            return Err(DomainError::CannotRemoveSelf);
        }
        self.require_admin_left(&users)?;
        Ok(users
            .into_iter()
            .map(|user| EventKind::UserRemoved { user })
            .collect())
    }

    /// `CreateGroup`: a free name, room for another custom group; its
    /// first members must be members.
    fn decide_create_group(
        &self,
        name: &GroupName,
        members: &[Email],
        limits: &Limits,
    ) -> Result<Vec<EventKind>, DomainError> {
        self.groups.require_name_free(name)?;
        if self.groups.custom_count() >= limits.custom_groups {
            return Err(DomainError::limit(
                "custom groups in an organization",
                limits.custom_groups,
            ));
        }
        let members = if members.is_empty() {
            Vec::new()
        } else {
            self.members.resolve_all(members)?
        };
        self.groups.decide_create(name, members)
    }

    /// `AddGroupMembers`: members already in the group are left out. They
    /// lease what the group's rule gives at their next sign-in.
    fn decide_add_members(
        &self,
        group: &GroupName,
        members: &[Email],
    ) -> Result<Vec<EventKind>, DomainError> {
        let (id, users) = self.editable_group_and_members(group, members, false)?;
        if users.is_empty() {
            return Ok(Vec::new());
        }
        Ok(vec![EventKind::GroupMembersAdded { group: id, users }])
    }

    /// `RemoveGroupMembers`: members not in the group are left out;
    /// Administrators keep an active administrator. Their leases through
    /// the group move to another of their groups giving the same kind, or
    /// are released.
    fn decide_remove_members(
        &self,
        group: &GroupName,
        members: &[Email],
    ) -> Result<Vec<EventKind>, DomainError> {
        let (id, users) = self.editable_group_and_members(group, members, true)?;
        if id == DefaultGroup::Administrators.id() {
            self.require_admin_left(&users)?;
        }
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let moved = self.leases_after_leaving(id, &users);
        Ok(
            std::iter::once(EventKind::GroupMembersRemoved { group: id, users })
                .chain(moved)
                .collect(),
        )
    }

    /// A group whose membership can be edited, and those of `members` who
    /// are in it (`in_group`) or not in it (`!in_group`), in first-seen
    /// order.
    fn editable_group_and_members(
        &self,
        group: &GroupName,
        members: &[Email],
        in_group: bool,
    ) -> Result<(GroupId, Vec<UserId>), DomainError> {
        let id = self.groups.resolve_editable(group)?.id();
        let users = self
            .members
            .resolve_all(members)?
            .into_iter()
            .filter(|u| self.members.get(*u).is_some_and(|m| m.is_in(id)) == in_group)
            .collect();
        Ok((id, users))
    }

    /// Refuses when losing `leaving` would leave no active administrator.
    fn require_admin_left(&self, leaving: &[UserId]) -> Result<(), DomainError> {
        let leaving: HashSet<&UserId> = leaving.iter().collect();
        let remaining = self
            .groups
            .get(DefaultGroup::Administrators.id())
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
