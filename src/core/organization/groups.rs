//! Default and custom groups: the group map with its name index. Owns the
//! group events (created, renamed, deleted) and each group's side of
//! membership.

use std::collections::{BTreeMap, BTreeSet};

use crate::{DomainError, EventKind, GroupId, GroupName, UserId};

/// The groups present in every organization. They are never renamed or
/// deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DefaultGroup {
    /// Membership makes someone an Organization Administrator.
    Administrators,
    /// Default role: the services' user role.
    AutomationUsers,
    /// Default role: the services' developer role.
    AutomationDevelopers,
    /// Citizen developers.
    CitizenDevelopers,
    /// Automation Express users.
    AutomationExpress,
    /// Every member, implicitly. Naming it is a no-op; it is never listed on
    /// a user and its membership cannot be edited.
    Everyone,
}

impl DefaultGroup {
    /// All default groups, in id order.
    pub const ALL: [DefaultGroup; 6] = [
        DefaultGroup::Administrators,
        DefaultGroup::AutomationUsers,
        DefaultGroup::AutomationDevelopers,
        DefaultGroup::CitizenDevelopers,
        DefaultGroup::AutomationExpress,
        DefaultGroup::Everyone,
    ];

    /// The group's canonical name.
    pub fn name(self) -> &'static str {
        match self {
            DefaultGroup::Administrators => "Administrators",
            DefaultGroup::AutomationUsers => "Automation Users",
            DefaultGroup::AutomationDevelopers => "Automation Developers",
            DefaultGroup::CitizenDevelopers => "Citizen Developers",
            DefaultGroup::AutomationExpress => "Automation Express",
            DefaultGroup::Everyone => "Everyone",
        }
    }

    /// The group's fixed id (1 to 6).
    pub fn id(self) -> GroupId {
        GroupId(match self {
            DefaultGroup::Administrators => 1,
            DefaultGroup::AutomationUsers => 2,
            DefaultGroup::AutomationDevelopers => 3,
            DefaultGroup::CitizenDevelopers => 4,
            DefaultGroup::AutomationExpress => 5,
            DefaultGroup::Everyone => 6,
        })
    }

    /// The default group with this id, if it is one.
    pub fn from_id(id: GroupId) -> Option<DefaultGroup> {
        DefaultGroup::ALL.into_iter().find(|g| g.id() == id)
    }
}

/// The first id handed to a custom group.
pub(crate) const FIRST_CUSTOM_GROUP: u32 = 7;

/// Whether a group is one of the defaults or created by an administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GroupKind {
    /// One of the [`DefaultGroup`]s.
    Default(DefaultGroup),
    /// A custom (local) group.
    Custom,
}

/// A group of an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub(crate) id: GroupId,
    pub(crate) name: GroupName,
    pub(crate) kind: GroupKind,
    /// Explicit members; always empty for `Everyone`.
    pub(crate) members: BTreeSet<UserId>,
}

impl Group {
    /// The group's id.
    pub fn id(&self) -> GroupId {
        self.id
    }
    /// The group's canonical name.
    pub fn name(&self) -> &GroupName {
        &self.name
    }
    /// Default or custom.
    pub fn kind(&self) -> GroupKind {
        self.kind
    }
    /// Whether this is the implicit `Everyone` group.
    pub fn is_everyone(&self) -> bool {
        self.kind == GroupKind::Default(DefaultGroup::Everyone)
    }
    /// The explicit members, in id order. Empty for `Everyone`, whose
    /// members are all the organization's members (see
    /// [`Organization::member_count`](crate::Organization::member_count)).
    pub fn members(&self) -> impl ExactSizeIterator<Item = UserId> + '_ {
        self.members.iter().copied()
    }
}

/// The groups of an organization and their names. Changed only through the
/// methods below, which keep the name index in step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Groups {
    map: BTreeMap<GroupId, Group>,
    names: BTreeMap<GroupName, GroupId>,
    /// The next free group id.
    next: u32,
}

impl Groups {
    /// The group with this id.
    pub(crate) fn get(&self, id: GroupId) -> Option<&Group> {
        self.map.get(&id)
    }

    /// The group with this name (case-insensitive).
    pub(crate) fn by_name(&self, name: &GroupName) -> Option<&Group> {
        self.map.get(self.names.get(name)?)
    }

    /// Every group, in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Group> {
        self.map.values()
    }

    /// How many custom groups there are, in O(1).
    pub(crate) fn custom_count(&self) -> usize {
        let defaults = DefaultGroup::ALL
            .iter()
            .filter(|g| self.map.contains_key(&g.id()))
            .count();
        self.map.len().saturating_sub(defaults)
    }

    /// Whether `id` is a group.
    pub(crate) fn contains(&self, id: GroupId) -> bool {
        self.map.contains_key(&id)
    }

    /// The counter as stored: the next free id.
    pub(crate) fn counter(&self) -> u32 {
        self.next
    }

    /// Sets the counter (from a snapshot).
    pub(crate) fn set_counter(&mut self, next: u32) {
        self.next = next;
    }

    /// Adds a group; refuses (returns `false`, changes nothing) when its id
    /// or name is taken.
    pub(crate) fn insert(&mut self, id: GroupId, name: GroupName, kind: GroupKind) -> bool {
        if self.map.contains_key(&id) || self.names.contains_key(&name) {
            return false;
        }
        self.names.insert(name.clone(), id);
        self.map.insert(
            id,
            Group {
                id,
                name,
                kind,
                members: BTreeSet::new(),
            },
        );
        self.next = self.next.max(id.0.saturating_add(1));
        true
    }

    /// Adds a group from a snapshot, members included.
    ///
    /// # Errors
    /// Why the snapshot is inconsistent: the id or the name is taken.
    pub(crate) fn restore(&mut self, group: Group) -> Result<(), String> {
        if self.map.contains_key(&group.id) {
            return Err(format!("group {} is listed twice", group.id));
        }
        if self.names.contains_key(&group.name) {
            return Err(format!("two groups are named {}", group.name));
        }
        self.names.insert(group.name.clone(), group.id);
        self.map.insert(group.id, group);
        Ok(())
    }

    /// `OrganizationCreated`: the default groups.
    pub(crate) fn apply_defaults(&mut self) {
        for default in DefaultGroup::ALL {
            // The default names are valid group names.
            if let Ok(name) = GroupName::parse(default.name()) {
                self.insert(default.id(), name, GroupKind::Default(default));
            }
        }
        self.next = self.next.max(FIRST_CUSTOM_GROUP);
    }

    /// `GroupRenamed`.
    pub(crate) fn apply_renamed(&mut self, group: GroupId, name: &GroupName) {
        let Some(g) = self.map.get_mut(&group) else {
            return;
        };
        let old = std::mem::replace(&mut g.name, name.clone());
        self.names.remove(&old);
        self.names.insert(name.clone(), group);
    }

    /// `GroupDeleted`: the group, as it was.
    pub(crate) fn remove(&mut self, group: GroupId) -> Option<Group> {
        let g = self.map.remove(&group)?;
        self.names.remove(&g.name);
        Some(g)
    }

    /// `user` joins `group` (never `Everyone`); returns whether they were
    /// not in it yet.
    pub(crate) fn join(&mut self, group: GroupId, user: UserId) -> bool {
        self.map
            .get_mut(&group)
            .is_some_and(|g| !g.is_everyone() && g.members.insert(user))
    }

    /// `user` leaves `group`; returns whether they were in it.
    pub(crate) fn leave(&mut self, group: GroupId, user: UserId) -> bool {
        self.map
            .get_mut(&group)
            .is_some_and(|g| g.members.remove(&user))
    }

    /// `CreateGroup`, with its members resolved.
    pub(crate) fn decide_create(
        &self,
        name: &GroupName,
        members: Vec<UserId>,
    ) -> Result<Vec<EventKind>, DomainError> {
        if self.next == u32::MAX {
            return Err(DomainError::IdsExhausted { what: "group" });
        }
        Ok(vec![EventKind::GroupCreated {
            group: GroupId(self.next.max(FIRST_CUSTOM_GROUP)),
            name: name.clone(),
            members,
        }])
    }

    /// `DeleteGroup`, the custom group resolved.
    pub(crate) fn decide_delete(group: &Group) -> Vec<EventKind> {
        vec![EventKind::GroupDeleted { group: group.id }]
    }

    /// Refuses a name another group has.
    pub(crate) fn require_name_free(&self, name: &GroupName) -> Result<(), DomainError> {
        match self.by_name(name) {
            Some(existing) => Err(DomainError::GroupNameTaken {
                name: existing.name.clone(),
            }),
            None => Ok(()),
        }
    }

    /// `RenameGroup`, the custom group resolved.
    pub(crate) fn decide_rename(
        &self,
        id: GroupId,
        new_name: &GroupName,
    ) -> Result<Vec<EventKind>, DomainError> {
        if let Some(other) = self.by_name(new_name) {
            if other.id != id {
                return Err(DomainError::GroupNameTaken {
                    name: other.name.clone(),
                });
            }
            if other.name.as_str() == new_name.as_str() {
                return Ok(Vec::new());
            }
        }
        Ok(vec![EventKind::GroupRenamed {
            group: id,
            name: new_name.clone(),
        }])
    }
}
