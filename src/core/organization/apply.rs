//! Folding events into the state. Never fails: events are facts. An event
//! that refers to something missing (only possible with a tampered store)
//! changes nothing rather than panicking.
//!
//! One exhaustive match routes every event to the sub-state that owns it;
//! what crosses sub-states (membership, removal, deletion) is written here.

use jiff::Timestamp;

use super::{Member, MemberStatus, Organization, OrganizationInfo};
use crate::{DefaultGroup, Email, Event, EventKind, GroupId, GroupKind, GroupName, Holder, UserId};

impl Organization {
    /// Applies one event. Cannot fail; see the module docs.
    pub fn apply(&mut self, event: &Event) {
        // Saturating: a damaged snapshot may claim any version; applying
        // must not panic (the service refuses such a snapshot).
        self.version = self.version.saturating_add(1);
        let at = event.at;
        match &event.kind {
            EventKind::OrganizationCreated { name, user, email } => {
                self.apply_created(name, *user, email, at);
            }
            EventKind::UserInvited {
                user,
                email,
                groups,
            } => self.apply_invited(*user, email, groups, at),
            EventKind::InvitationAccepted { user } => self.members.apply_accepted(*user, at),
            EventKind::UserSignedIn { user } => {
                self.members.apply_signed_in(*user, at);
            }
            EventKind::UserRemoved { user } | EventKind::InvitationRevoked { user } => {
                self.remove_member(*user);
            }
            EventKind::GroupCreated {
                group,
                name,
                members,
            } => self.apply_group_created(*group, name, members),
            EventKind::GroupRenamed { group, name } => self.groups.apply_renamed(*group, name),
            EventKind::GroupDeleted { group } => self.delete_group(*group),
            EventKind::GroupMembersAdded { group, users } => self.join(*group, users),
            EventKind::GroupMembersRemoved { group, users } => self.leave(*group, users),
            EventKind::ServiceAdded {
                service,
                name,
                roles,
                admin_role,
                default_roles,
            } => self
                .access
                .apply_service_added(*service, name, roles, admin_role, default_roles),
            EventKind::ServiceRemoved { service } => self.access.apply_service_removed(*service),
            EventKind::RoleAssigned {
                service,
                holder,
                role,
            } => {
                let exists = match holder {
                    Holder::Group(g) => self.groups.contains(*g),
                    Holder::User(u) => self.members.contains(*u),
                };
                self.access
                    .apply_role_assigned(*service, *holder, role, exists);
            }
            EventKind::RoleRevoked {
                service,
                holder,
                role,
            } => self.access.apply_role_revoked(*service, *holder, role),
            EventKind::LicensePoolSet { kind, seats } => self.licenses.apply_pool_set(kind, *seats),
            EventKind::LicensePoolRemoved { kind } => self.licenses.apply_pool_removed(kind),
            EventKind::LicenseRuleSet { group, kind, quota } => {
                // Written by earlier versions: a rule of one kind.
                let licenses = std::collections::BTreeMap::from([(kind.clone(), *quota)]);
                self.apply_rule_set(*group, &licenses);
            }
            EventKind::GroupLicenseRuleSet { group, licenses } => {
                self.apply_rule_set(*group, licenses);
            }
            EventKind::LicenseRuleRemoved { group } => self.licenses.forget_group(*group),
            EventKind::LicenseGranted { user, kind, source } => {
                self.licenses
                    .apply_granted(self.members.get(*user), kind, *source);
            }
            EventKind::LicenseReleased { user, kind } => self.licenses.release(*user, kind),
            EventKind::LicensesWithheld { user } => {
                self.licenses.apply_withheld(self.members.get(*user));
            }
            EventKind::GroupLicensesRestored { user } => self.licenses.apply_group_restored(*user),
            EventKind::LicenseIdlePeriodSet { after } => {
                self.licenses.apply_idle_period_set(*after);
            }
            EventKind::MailSettingsSet { settings } => self.invitations.apply_mail_set(settings),
            EventKind::MailSettingsCleared => self.invitations.apply_mail_cleared(),
            EventKind::InvitationExpirySet { after } => self.invitations.apply_expiry_set(*after),
            EventKind::InvitationResent { user } => self.members.apply_resent(*user, at),
            EventKind::InvitationEmailQueued { notification, user } => {
                let is_member = self.members.contains(*user);
                self.invitations
                    .apply_email_queued(*notification, *user, event.actor, is_member);
            }
            EventKind::InvitationEmailDelivered { notification } => {
                self.invitations.apply_email_delivered(*notification);
            }
            EventKind::InvitationEmailFailed {
                notification,
                error,
                kind,
                code: _,
            } => self
                .invitations
                .apply_email_failed(*notification, error, *kind, at),
            EventKind::InvitationEmailClaimed {
                notification,
                until,
            } => self.invitations.apply_email_claimed(*notification, *until),
        }
    }

    /// Moves a member's Last active to `at` if that is later, without an
    /// event: for sign-ins kept in an activity store outside the event
    /// stream (see [`ActivityStore`](crate::ActivityStore)). Pending members
    /// are left alone: accepting an invitation is an event. Returns whether
    /// anything changed.
    pub fn observe_sign_in(&mut self, user: UserId, at: Timestamp) -> bool {
        self.members.apply_signed_in(user, at)
    }

    /// `OrganizationCreated`: the default groups, and the creator, active
    /// and in Administrators.
    fn apply_created(&mut self, name: &str, user: UserId, email: &Email, at: Timestamp) {
        self.info = Some(OrganizationInfo {
            name: name.to_owned(),
            created_at: at,
        });
        self.groups.apply_defaults();
        // In Administrators if it could be made: a damaged store may hold
        // a custom group by that name already, and a member must not name
        // a group that does not list them.
        let admins = DefaultGroup::Administrators;
        let groups: Box<[GroupId]> = match self.groups.get(admins.id()) {
            Some(g) if g.kind == GroupKind::Default(admins) => Box::new([admins.id()]),
            _ => Box::default(),
        };
        self.insert_member(Member {
            id: user,
            email: email.clone(),
            status: MemberStatus::Active { last_active: at },
            invited_at: at,
            invitation_sent_at: at,
            groups,
        });
    }

    /// `UserInvited`: a pending member in the event's groups that exist
    /// (never `Everyone`).
    fn apply_invited(&mut self, user: UserId, email: &Email, groups: &[GroupId], at: Timestamp) {
        let mut groups: Vec<GroupId> = groups
            .iter()
            .copied()
            .filter(|g| self.groups.get(*g).is_some_and(|g| !g.is_everyone()))
            .collect();
        groups.sort_unstable();
        groups.dedup();
        self.insert_member(Member {
            id: user,
            email: email.clone(),
            status: MemberStatus::Pending,
            invited_at: at,
            invitation_sent_at: at,
            groups: groups.into_boxed_slice(),
        });
    }

    /// Adds a member to the members and to each of their groups.
    fn insert_member(&mut self, member: Member) {
        let (id, groups) = (member.id, member.groups.clone());
        if self.members.insert(member) {
            for group in groups {
                self.groups.join(group, id);
            }
        }
    }

    /// Takes a member out of the organization, every group, every role
    /// assignment, every license and the email queue.
    fn remove_member(&mut self, user: UserId) {
        let Some(member) = self.members.remove(user) else {
            return;
        };
        for group in &member.groups {
            self.groups.leave(*group, user);
        }
        self.access.forget_user(user);
        self.licenses.forget_user(user);
        self.invitations.forget_user(user);
    }

    /// A group's license rule, kept only for a group that may have one
    /// (one that exists and is not `Everyone`).
    fn apply_rule_set(
        &mut self,
        group: GroupId,
        licenses: &std::collections::BTreeMap<crate::LicenseKind, Option<u32>>,
    ) {
        let may_have_rule = self.groups.get(group).is_some_and(|g| !g.is_everyone());
        self.licenses.apply_rule_set(group, licenses, may_have_rule);
    }

    /// `GroupCreated`: a custom group with its first members (ignored when
    /// the id or the name is taken).
    fn apply_group_created(&mut self, group: GroupId, name: &GroupName, members: &[UserId]) {
        if self.groups.insert(group, name.clone(), GroupKind::Custom) {
            self.join(group, members);
        }
    }

    /// Deletes a group: its role assignments, its license rule and what the
    /// rule granted go with it, and its members leave it.
    fn delete_group(&mut self, group: GroupId) {
        self.access.forget_group(group);
        self.licenses.forget_group(group);
        if let Some(g) = self.groups.remove(group) {
            self.members.forget_group(group, &g.members);
        }
    }

    /// Members join a group (never `Everyone`; unknown members are
    /// skipped).
    fn join(&mut self, group: GroupId, users: &[UserId]) {
        for user in users {
            if self.members.contains(*user) && self.groups.join(group, *user) {
                self.members.join(*user, group);
            }
        }
    }

    /// Members leave a group, and with it what its license rule granted
    /// them.
    fn leave(&mut self, group: GroupId, users: &[UserId]) {
        for user in users {
            if self.groups.leave(group, *user) && self.members.contains(*user) {
                self.members.leave(*user, group);
                self.licenses.release_from_group(*user, group);
            }
        }
    }
}
