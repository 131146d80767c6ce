//! Services and roles: group-based and user-based access. The rules are
//! documented on [`Service`].

mod rules;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{Email, GroupId, GroupName, RoleName, ServiceId, ServiceName, UserId};

/// Who a role is assigned to, as a command names them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Assignee {
    /// A group (default or custom), by name.
    Group(GroupName),
    /// A member (pending or active), by address.
    User(Email),
}

/// Who holds a role assignment, as events and state record them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Holder {
    /// A group.
    Group(GroupId),
    /// A member.
    User(UserId),
}

/// A service added to the organization, with its role assignments.
///
/// # Roles
///
/// A service lists the roles it defines, which one is its administrator
/// role, and the default role of each default group. When an administrator
/// adds a service ([`Command::AddService`](crate::Command::AddService)),
/// Administrators get its administrator role and the other default groups
/// their default roles (`Everyone` gets none); custom groups get roles only
/// when an administrator assigns them
/// ([`Command::AssignRole`](crate::Command::AssignRole)). A member's
/// effective roles in a service are the union of their direct roles and
/// the roles of every group they are in (every member is in `Everyone`):
/// see [`Organization::effective_roles`](crate::Organization::effective_roles).
///
/// - Role names are compared ignoring case. A command may spell a role
///   differently from the service definition; events and state always carry
///   the spelling of the service definition, so the audit log and the admin
///   page show one spelling per role.
/// - A service's `roles` may list a role twice (ignoring case); the repeat is
///   dropped, keeping the first spelling. Listing a group twice in
///   `default_roles` is refused instead: the two entries may disagree, and
///   guessing which one was meant is worse than asking.
/// - The default setup can be changed afterwards like any other
///   assignment: a default group's default role can be revoked (and
///   assigned again), and default groups can be given other roles.
///   [`Service::default_role`] keeps recording the default setup made when
///   the service was added, whatever has been revoked since.
/// - One assignment is protected: Administrators always hold the service's
///   administrator role (their default role). Membership of Administrators
///   is what makes someone an Organization Administrator, and organization
///   administrators manage every service the organization has added;
///   revoking it would leave a service that no administrator of the
///   organization can manage, which the product has no way to repair.
///   Revoking it is refused with
///   [`DomainError::DefaultRoleProtected`](crate::DomainError::DefaultRoleProtected)
///   (to take someone's administration away, take them out of
///   Administrators).
/// - Assigning a role that is already held, or revoking one that is not held,
///   is accepted and changes nothing (no event), as adding a member already
///   in a group does.
/// - Removing a member drops their assignments; deleting a group drops the
///   group's assignments and default roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub(crate) id: ServiceId,
    pub(crate) name: ServiceName,
    pub(crate) roles: BTreeSet<RoleName>,
    pub(crate) admin_role: RoleName,
    /// The default role of each default group (never `Everyone`), as set up
    /// when the service was added; only Administrators' one (the
    /// administrator role) cannot be revoked.
    pub(crate) default_roles: BTreeMap<GroupId, RoleName>,
    /// Every assignment, default ones included. Serialized as a list of
    /// `[holder, roles]` pairs: a holder cannot be a JSON object key.
    #[serde(with = "grants_as_pairs")]
    pub(crate) grants: BTreeMap<Holder, BTreeSet<RoleName>>,
}

mod grants_as_pairs {
    use std::collections::{BTreeMap, BTreeSet};

    use serde::{Deserialize, Deserializer, Serializer};

    use super::Holder;
    use crate::RoleName;

    pub(super) fn serialize<S: Serializer>(
        grants: &BTreeMap<Holder, BTreeSet<RoleName>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(grants)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<Holder, BTreeSet<RoleName>>, D::Error> {
        Ok(Vec::<(Holder, BTreeSet<RoleName>)>::deserialize(d)?
            .into_iter()
            .collect())
    }
}

impl Service {
    /// The service's id.
    pub fn id(&self) -> ServiceId {
        self.id
    }
    /// The service's name.
    pub fn name(&self) -> &ServiceName {
        &self.name
    }
    /// The roles the service defines.
    pub fn roles(&self) -> impl Iterator<Item = &RoleName> {
        self.roles.iter()
    }
    /// The role Administrators get.
    pub fn admin_role(&self) -> &RoleName {
        &self.admin_role
    }
    /// The default role of a default group, if it has one: the role the
    /// group was given when the service was added. It may have been
    /// revoked since (see [`roles_of`](Service::roles_of) for what the
    /// group holds now), except Administrators' administrator role.
    pub fn default_role(&self, group: GroupId) -> Option<&RoleName> {
        self.default_roles.get(&group)
    }
    /// Whether revoking `role` from `holder` is refused: Administrators'
    /// hold on the administrator role.
    pub(crate) fn is_protected(&self, holder: Holder, role: &RoleName) -> bool {
        holder == Holder::Group(crate::DefaultGroup::Administrators.id())
            && *role == self.admin_role
    }
    /// The roles assigned to a group or member directly.
    pub fn roles_of(&self, holder: Holder) -> impl Iterator<Item = &RoleName> {
        self.grants.get(&holder).into_iter().flatten()
    }
    /// Whether `holder` is assigned `role` directly, in O(log n).
    pub(crate) fn holds(&self, holder: Holder, role: &RoleName) -> bool {
        self.grants
            .get(&holder)
            .is_some_and(|held| held.contains(role))
    }
    /// The groups and members the service references, with their roles.
    pub fn assignments(&self) -> impl Iterator<Item = (Holder, &BTreeSet<RoleName>)> {
        self.grants.iter().map(|(h, r)| (*h, r))
    }
}

/// The services of an organization, by id and by name (ignoring case).
/// Changed only through its `apply_*` methods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Access {
    services: BTreeMap<ServiceId, Service>,
    names: BTreeMap<ServiceName, ServiceId>,
    /// The next free service id.
    next: u32,
}

/// Where a member's role comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RoleSource {
    /// Assigned to the member directly.
    Direct,
    /// Through membership of this group (`Everyone` included).
    Group(GroupId),
}

/// One role a member holds in a service, and why.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[non_exhaustive]
pub struct RoleGrant {
    /// The role.
    pub role: RoleName,
    /// Where it comes from. A role held several ways appears once per way.
    pub source: RoleSource,
}

/// A member's role in the organization itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OrganizationRole {
    /// An active member of Administrators.
    Administrator,
    /// Every other member.
    User,
}
