//! Default and custom groups.

use std::collections::BTreeSet;

use crate::{GroupId, GroupName, UserId};

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
