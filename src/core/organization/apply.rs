//! Folding events into the state. Never fails: events are facts. An event
//! that refers to something missing (only possible with a tampered store)
//! changes nothing rather than panicking.

use std::collections::BTreeSet;

use super::{Member, MemberStatus, Organization, OrganizationInfo};
use crate::core::organization::{FIRST_CUSTOM_GROUP, Group, GroupKind};
use crate::{DefaultGroup, Event, EventKind, GroupId, GroupName, UserId};

impl Organization {
    /// Applies one event. Cannot fail; see the module docs.
    pub fn apply(&mut self, event: &Event) {
        // Saturating: a damaged snapshot may claim any version; applying
        // must not panic (the service refuses such a snapshot).
        self.version = self.version.saturating_add(1);
        let at = event.at;
        match &event.kind {
            EventKind::OrganizationCreated { name, user, email } => {
                self.info = Some(OrganizationInfo {
                    name: name.clone(),
                    created_at: at,
                });
                for default in DefaultGroup::ALL {
                    // The default names are valid group names.
                    if let Ok(name) = GroupName::parse(default.name()) {
                        self.insert_group(default.id(), name, GroupKind::Default(default));
                    }
                }
                self.next_group = self.next_group.max(FIRST_CUSTOM_GROUP);
                let mut groups = BTreeSet::new();
                groups.insert(DefaultGroup::Administrators.id());
                self.insert_member(Member {
                    id: *user,
                    email: email.clone(),
                    status: MemberStatus::Active { last_active: at },
                    invited_at: at,
                    invitation_sent_at: at,
                    groups,
                });
            }
            EventKind::UserInvited {
                user,
                email,
                groups,
            } => {
                let groups = groups
                    .iter()
                    .copied()
                    .filter(|g| {
                        self.kind_of(*g)
                            .is_some_and(|k| k != GroupKind::Default(DefaultGroup::Everyone))
                    })
                    .collect();
                self.insert_member(Member {
                    id: *user,
                    email: email.clone(),
                    status: MemberStatus::Pending,
                    invited_at: at,
                    invitation_sent_at: at,
                    groups,
                });
            }
            EventKind::InvitationAccepted { user } => {
                self.update_member(*user, |m| {
                    if m.status.is_pending() {
                        m.status = MemberStatus::Active { last_active: at };
                    }
                });
            }
            EventKind::UserSignedIn { user } => {
                self.update_member(*user, |m| {
                    if let MemberStatus::Active { last_active } = m.status
                        && at > last_active
                    {
                        m.status = MemberStatus::Active { last_active: at };
                    }
                });
            }
            EventKind::UserRemoved { user } | EventKind::InvitationRevoked { user } => {
                self.remove_member(*user);
            }
            EventKind::GroupCreated {
                group,
                name,
                members,
            } => {
                if self.groups.contains_key(group) || self.group_names.contains_key(name) {
                    return;
                }
                self.insert_group(*group, name.clone(), GroupKind::Custom);
                self.next_group = self.next_group.max(group.0.saturating_add(1));
                self.join(*group, members);
            }
            EventKind::GroupRenamed { group, name } => {
                let Some(g) = self.groups.get_mut(group) else {
                    return;
                };
                let old = std::mem::replace(&mut g.name, name.clone());
                self.group_names.remove(&old);
                self.group_names.insert(name.clone(), *group);
            }
            EventKind::GroupDeleted { group } => {
                self.roles_forget_group(*group);
                self.licenses_forget_group(*group);
                if let Some(g) = self.groups.remove(group) {
                    self.group_names.remove(&g.name);
                    for user in &g.members {
                        if let Some(m) = self.members.get_mut(user) {
                            m.groups.remove(group);
                        }
                    }
                    self.index.drop_group(*group);
                }
            }
            EventKind::GroupMembersAdded { group, users } => self.join(*group, users),
            EventKind::GroupMembersRemoved { group, users } => {
                let Some(g) = self.groups.get_mut(group) else {
                    return;
                };
                let mut left = Vec::new();
                for user in users {
                    if g.members.remove(user)
                        && let Some(m) = self.members.get_mut(user)
                    {
                        m.groups.remove(group);
                        self.index.leave(*group, m);
                        left.push(*user);
                    }
                }
                for user in left {
                    self.licenses_left_group(user, *group);
                }
            }
            EventKind::ServiceAdded { .. }
            | EventKind::ServiceRemoved { .. }
            | EventKind::RoleAssigned { .. }
            | EventKind::RoleRevoked { .. } => self.apply_roles(event),
            EventKind::LicensePoolSet { .. }
            | EventKind::LicensePoolRemoved { .. }
            | EventKind::LicenseRuleSet { .. }
            | EventKind::LicenseRuleRemoved { .. }
            | EventKind::LicenseGranted { .. }
            | EventKind::LicenseReleased { .. } => self.apply_licenses(event),
            EventKind::MailSettingsSet { .. }
            | EventKind::MailSettingsCleared
            | EventKind::InvitationExpirySet { .. }
            | EventKind::InvitationResent { .. }
            | EventKind::InvitationEmailQueued { .. }
            | EventKind::InvitationEmailDelivered { .. }
            | EventKind::InvitationEmailFailed { .. } => self.apply_invitations(event),
        }
    }

    /// Takes a member out of the organization, every group, every role
    /// assignment, every license and the email queue.
    fn remove_member(&mut self, user: UserId) {
        let Some(member) = self.members.remove(&user) else {
            return;
        };
        self.index.remove(&member);
        for group in &member.groups {
            if let Some(g) = self.groups.get_mut(group) {
                g.members.remove(&user);
            }
        }
        self.roles_forget_user(user);
        self.licenses_forget_user(user);
        self.outbox.retain(|_, queued| queued.user != user);
    }

    /// Moves a member's Last active to `at` if that is later, without an
    /// event: for sign-ins kept in an activity store outside the event
    /// stream (see [`ActivityStore`](crate::ActivityStore)). Pending members
    /// are left alone: accepting an invitation is an event. Returns whether
    /// anything changed.
    pub fn observe_sign_in(&mut self, user: UserId, at: jiff::Timestamp) -> bool {
        let later = self
            .members
            .get(&user)
            .and_then(|m| m.status.last_active())
            .is_some_and(|last| at > last);
        if later {
            self.update_member(user, |m| {
                m.status = MemberStatus::Active { last_active: at }
            });
        }
        later
    }

    fn insert_group(&mut self, id: GroupId, name: GroupName, kind: GroupKind) {
        self.group_names.insert(name.clone(), id);
        self.groups.insert(
            id,
            Group {
                id,
                name,
                kind,
                members: BTreeSet::new(),
            },
        );
        if kind != GroupKind::Default(DefaultGroup::Everyone) {
            self.index.groups.entry(id).or_default();
        }
    }

    /// Adds a member. A member whose address another member already holds
    /// (under [`Email`](crate::Email)'s identity rule) is kept as well:
    /// `decide` never invites a held address, so such an event comes from
    /// a store written under an older, finer identity rule, and dropping
    /// it would lose a member. [`Organization::duplicate_addresses`] lists
    /// them. An id that is already taken changes nothing.
    fn insert_member(&mut self, member: Member) {
        if self.members.contains_key(&member.id) {
            return;
        }
        self.next_user = self.next_user.max(member.id.0.saturating_add(1));
        for group in &member.groups {
            if let Some(g) = self.groups.get_mut(group) {
                g.members.insert(member.id);
            }
        }
        self.index.insert(&member);
        self.members.insert(member.id, member);
    }

    /// Changes a member, keeping the indexes in step.
    fn update_member(&mut self, id: UserId, change: impl FnOnce(&mut Member)) {
        if let Some(member) = self.members.get_mut(&id) {
            self.index.remove(member);
            change(member);
            self.index.insert(member);
        }
    }

    fn join(&mut self, group: GroupId, users: &[UserId]) {
        let Some(g) = self.groups.get_mut(&group) else {
            return;
        };
        if g.is_everyone() {
            return;
        }
        for user in users {
            if let Some(m) = self.members.get_mut(user)
                && g.members.insert(*user)
            {
                m.groups.insert(group);
                self.index.join(group, m);
            }
        }
    }
}
