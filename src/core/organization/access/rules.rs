//! Services and role assignments: deciding, applying, querying. The rules
//! are documented on [`Service`].

use std::collections::{BTreeMap, BTreeSet, HashSet};

use super::Access;
use crate::core::organization::{Groups, Members, Organization};
use crate::{
    Assignee, DefaultGroup, DomainError, Email, EventKind, GroupId, GroupName, Holder, Limits,
    OrganizationRole, RoleGrant, RoleName, RoleSource, Service, ServiceId, ServiceName, UserId,
};

impl Organization {
    /// The service with this name (ignoring case).
    pub fn service(&self, name: &ServiceName) -> Option<&Service> {
        self.access.by_name(name)
    }

    /// Every service, in the order they were added.
    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.access.iter()
    }

    /// The roles `user` holds in `service`, each with where it comes from:
    /// [`RoleSource::Direct`] for a role assigned to the member, and
    /// [`RoleSource::Group`] for each group they are in that holds it
    /// (`Everyone`, which every member is in, included). A role held several
    /// ways appears once per way, so an admin page can explain why someone
    /// has it. Sorted by role, then source; pending members included.
    ///
    /// `None` if no service has that name or `user` is not a member.
    ///
    /// ```
    /// use org_accounts::{
    ///     Assignee, Command, Context, DefaultGroup, Email, Organization, RoleName, RoleSource,
    ///     ServiceName,
    /// };
    ///
    /// let now: jiff::Timestamp = "2026-11-28T09:00:00Z".parse()?;
    /// let ada = Email::parse("ada@example.com")?;
    /// let admin = Context::new(ada.clone(), now);
    /// let mut org = Organization::new();
    /// org.execute(&Command::CreateOrganization { name: "Example".into() }, &admin)?;
    /// let crm = ServiceName::parse("CRM")?;
    /// let (owner, viewer) = (RoleName::parse("Owner")?, RoleName::parse("Viewer")?);
    /// org.execute(
    ///     &Command::AddService {
    ///         name: crm.clone(),
    ///         roles: vec![owner.clone(), viewer.clone()],
    ///         admin_role: owner.clone(),
    ///         default_roles: vec![],
    ///     },
    ///     &admin,
    /// )?;
    /// org.execute(
    ///     &Command::AssignRole { service: crm.clone(), to: Assignee::User(ada.clone()), role: owner.clone() },
    ///     &admin,
    /// )?;
    ///
    /// let roles = org.effective_roles(&crm, &ada).unwrap_or_default();
    /// let why: Vec<(&str, RoleSource)> = roles.iter().map(|g| (g.role.as_str(), g.source)).collect();
    /// assert_eq!(
    ///     why,
    ///     [("Owner", RoleSource::Direct), ("Owner", RoleSource::Group(DefaultGroup::Administrators.id()))]
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn effective_roles(&self, service: &ServiceName, user: &Email) -> Option<Vec<RoleGrant>> {
        let service = self.service(service)?;
        let member = self.member(user)?;
        let holders = std::iter::once((Holder::User(member.id), RoleSource::Direct)).chain(
            member
                .groups
                .iter()
                .copied()
                .chain([DefaultGroup::Everyone.id()])
                .map(|g| (Holder::Group(g), RoleSource::Group(g))),
        );
        let grants: BTreeSet<RoleGrant> = holders
            .flat_map(|(holder, source)| {
                service.roles_of(holder).map(move |role| RoleGrant {
                    role: role.clone(),
                    source,
                })
            })
            .collect();
        Some(grants.into_iter().collect())
    }

    /// A member's role in the organization itself:
    /// [`OrganizationRole::Administrator`] for an active member of
    /// Administrators, [`OrganizationRole::User`] for every other member
    /// (a pending member of Administrators included, until they accept).
    /// `None` if `user` is not a member.
    pub fn organization_role(&self, user: &Email) -> Option<OrganizationRole> {
        let member = self.member(user)?;
        Some(if self.is_active_administrator(member.id) {
            OrganizationRole::Administrator
        } else {
            OrganizationRole::User
        })
    }
}

impl Access {
    /// The service with this name (ignoring case).
    pub(crate) fn by_name(&self, name: &ServiceName) -> Option<&Service> {
        self.services.get(self.names.get(name)?)
    }

    /// Every service, in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Service> {
        self.services.values()
    }

    /// The counter as stored: the next free id.
    pub(crate) fn counter(&self) -> u32 {
        self.next
    }

    /// Services restored from a snapshot, with the next free id.
    ///
    /// # Errors
    /// Why the snapshot is inconsistent: two services share a name.
    pub(crate) fn restore(services: &[Service], next: u32) -> Result<Access, String> {
        let mut access = Access {
            next,
            ..Access::default()
        };
        for service in services {
            if access
                .names
                .insert(service.name.clone(), service.id)
                .is_some()
            {
                return Err(format!("two services are named {}", service.name));
            }
            access.services.insert(service.id, service.clone());
        }
        Ok(access)
    }

    /// `AddService`. The default roles name groups, looked up in `groups`.
    /// Linear in the command: roles de-duplicated by hashing, at most
    /// `roles_per_service` of them looked at before refusing.
    pub(crate) fn decide_add_service(
        &self,
        groups: &Groups,
        name: &ServiceName,
        roles: &[RoleName],
        admin_role: &RoleName,
        default_roles: &[(GroupName, RoleName)],
        limits: &Limits,
    ) -> Result<Vec<EventKind>, DomainError> {
        if let Some(existing) = self.by_name(name) {
            return Err(DomainError::ServiceNameTaken {
                name: existing.name.clone(),
            });
        }
        if self.services.len() >= limits.services {
            return Err(DomainError::limit(
                "services in an organization",
                limits.services,
            ));
        }
        // One default role per default group at most: a longer list
        // repeats a group or names one that cannot have a default role.
        if default_roles.len() > DefaultGroup::ALL.len() {
            return Err(DomainError::limit(
                "default roles in one service",
                DefaultGroup::ALL.len(),
            ));
        }
        let defined = defined_roles(name, roles, limits.roles_per_service)?;
        let admin_role = defined.canonical(admin_role)?;
        let named = groups.resolve_each(default_roles.iter().map(|(group, _)| group))?;
        let mut defaults: BTreeMap<GroupId, RoleName> = BTreeMap::new();
        for (group, (_, role)) in named.into_iter().zip(default_roles) {
            default_role_allowed(group, &admin_role)?;
            let role = defined.canonical(role)?;
            if defaults.insert(group.id, role).is_some() {
                return Err(invalid(format!(
                    "{} is given a default role more than once; list each group once",
                    group.name
                )));
            }
        }
        let id = self.next.max(1);
        if id == u32::MAX {
            return Err(DomainError::IdsExhausted { what: "service" });
        }
        Ok(vec![EventKind::ServiceAdded {
            service: ServiceId(id),
            name: name.clone(),
            roles: defined.roles,
            admin_role,
            default_roles: defaults.into_iter().collect(),
        }])
    }

    /// `RemoveService`.
    pub(crate) fn decide_remove_service(
        &self,
        name: &ServiceName,
    ) -> Result<Vec<EventKind>, DomainError> {
        let service = self.resolve(name)?.id;
        Ok(vec![EventKind::ServiceRemoved { service }])
    }

    /// `AssignRole`: no events when the holder has the role already.
    pub(crate) fn decide_assign(
        &self,
        members: &Members,
        groups: &Groups,
        service: &ServiceName,
        to: &Assignee,
        role: &RoleName,
    ) -> Result<Vec<EventKind>, DomainError> {
        let (service, holder, role) =
            self.resolve_assignment(members, groups, service, to, role)?;
        if service.holds(holder, role) {
            return Ok(Vec::new());
        }
        Ok(vec![EventKind::RoleAssigned {
            service: service.id,
            holder,
            role: role.clone(),
        }])
    }

    /// `RevokeRole`: Administrators' hold on the administrator role is
    /// protected; no events when the holder does not have the role.
    pub(crate) fn decide_revoke(
        &self,
        members: &Members,
        groups: &Groups,
        service: &ServiceName,
        from: &Assignee,
        role: &RoleName,
    ) -> Result<Vec<EventKind>, DomainError> {
        let (service, holder, role) =
            self.resolve_assignment(members, groups, service, from, role)?;
        if service.is_protected(holder, role)
            && let Holder::Group(group) = holder
            && let Some(group) = groups.get(group)
        {
            return Err(DomainError::DefaultRoleProtected {
                service: service.name.clone(),
                group: group.name.clone(),
                role: role.clone(),
            });
        }
        if !service.holds(holder, role) {
            return Ok(Vec::new());
        }
        Ok(vec![EventKind::RoleRevoked {
            service: service.id,
            holder,
            role: role.clone(),
        }])
    }

    /// Resolves the service, the role (as the service spells it) and the
    /// holder of an assignment or revocation, in that order.
    fn resolve_assignment<'a>(
        &'a self,
        members: &Members,
        groups: &Groups,
        service: &ServiceName,
        assignee: &Assignee,
        role: &RoleName,
    ) -> Result<(&'a Service, Holder, &'a RoleName), DomainError> {
        let service = self.resolve(service)?;
        let role = service
            .roles
            .get(role)
            .ok_or_else(|| DomainError::UnknownRole {
                service: service.name.clone(),
                role: role.clone(),
            })?;
        let holder = match assignee {
            Assignee::Group(name) => Holder::Group(groups.resolve(name)?.id),
            Assignee::User(email) => Holder::User(members.resolve(email)?.id),
        };
        Ok((service, holder, role))
    }

    /// `ServiceAdded`. Only Administrators and the default groups other
    /// than `Everyone` get default roles, whatever the event says.
    pub(crate) fn apply_service_added(
        &mut self,
        id: ServiceId,
        name: &ServiceName,
        roles: &[RoleName],
        admin_role: &RoleName,
        default_roles: &[(GroupId, RoleName)],
    ) {
        if self.services.contains_key(&id) || self.names.contains_key(name) {
            return;
        }
        let mut defined: BTreeSet<RoleName> = roles.iter().cloned().collect();
        defined.insert(admin_role.clone());
        let mut defaults = BTreeMap::new();
        defaults.insert(DefaultGroup::Administrators.id(), admin_role.clone());
        for (group, role) in default_roles {
            let allowed = DefaultGroup::from_id(*group)
                .is_some_and(|g| g != DefaultGroup::Administrators && g != DefaultGroup::Everyone);
            if allowed && let Some(role) = defined.get(role) {
                defaults.entry(*group).or_insert_with(|| role.clone());
            }
        }
        let grants = defaults
            .iter()
            .map(|(group, role)| (Holder::Group(*group), BTreeSet::from([role.clone()])))
            .collect();
        self.names.insert(name.clone(), id);
        self.services.insert(
            id,
            Service {
                id,
                name: name.clone(),
                roles: defined,
                admin_role: admin_role.clone(),
                default_roles: defaults,
                grants,
            },
        );
        self.next = self.next.max(id.0.saturating_add(1));
    }

    /// `ServiceRemoved`.
    pub(crate) fn apply_service_removed(&mut self, service: ServiceId) {
        if let Some(s) = self.services.remove(&service) {
            self.names.remove(&s.name);
        }
    }

    /// `RoleAssigned`; `holder_exists` says whether the holder is still a
    /// member or group.
    pub(crate) fn apply_role_assigned(
        &mut self,
        service: ServiceId,
        holder: Holder,
        role: &RoleName,
        holder_exists: bool,
    ) {
        if !holder_exists {
            return;
        }
        let Some(s) = self.services.get_mut(&service) else {
            return;
        };
        if let Some(role) = s.roles.get(role) {
            let role = role.clone();
            s.grants.entry(holder).or_default().insert(role);
        }
    }

    /// `RoleRevoked`: takes `role` from `holder`, dropping the holder once
    /// it holds nothing, so the state stays canonical.
    pub(crate) fn apply_role_revoked(
        &mut self,
        service: ServiceId,
        holder: Holder,
        role: &RoleName,
    ) {
        let Some(service) = self.services.get_mut(&service) else {
            return;
        };
        // Only a tampered store revokes a protected assignment.
        if service.is_protected(holder, role) {
            return;
        }
        if let Some(held) = service.grants.get_mut(&holder) {
            held.remove(role);
            if held.is_empty() {
                service.grants.remove(&holder);
            }
        }
    }

    /// Drops a removed member's role assignments.
    pub(crate) fn forget_user(&mut self, user: UserId) {
        for service in self.services.values_mut() {
            service.grants.remove(&Holder::User(user));
        }
    }

    /// Drops a deleted group's role assignments and default roles.
    pub(crate) fn forget_group(&mut self, group: GroupId) {
        for service in self.services.values_mut() {
            service.grants.remove(&Holder::Group(group));
            service.default_roles.remove(&group);
        }
    }
}

fn invalid(reason: String) -> DomainError {
    DomainError::InvalidService { reason }
}

/// The roles a new service defines: repeats dropped, first spelling kept,
/// input order otherwise.
struct DefinedRoles<'a> {
    service: &'a ServiceName,
    roles: Vec<RoleName>,
    /// The same roles, for look-ups ignoring case (a set keeps the first
    /// spelling inserted).
    index: HashSet<&'a RoleName>,
}

/// The distinct roles of `roles` (hashed, linear); more than `limit` of
/// them is refused as soon as the next one is seen.
fn defined_roles<'a>(
    service: &'a ServiceName,
    roles: &'a [RoleName],
    limit: usize,
) -> Result<DefinedRoles<'a>, DomainError> {
    if roles.is_empty() {
        return Err(invalid(
            "it defines no roles; list at least its administrator role".to_owned(),
        ));
    }
    let mut index: HashSet<&RoleName> = HashSet::new();
    let mut defined: Vec<RoleName> = Vec::new();
    for role in roles {
        if index.insert(role) {
            if defined.len() >= limit {
                return Err(DomainError::limit("roles in one service", limit));
            }
            defined.push(role.clone());
        }
    }
    Ok(DefinedRoles {
        service,
        roles: defined,
        index,
    })
}

impl DefinedRoles<'_> {
    /// The service's own spelling of `role`.
    fn canonical(&self, role: &RoleName) -> Result<RoleName, DomainError> {
        self.index
            .get(role)
            .map(|r| (*r).clone())
            .ok_or_else(|| DomainError::UnknownRole {
                service: self.service.clone(),
                role: role.clone(),
            })
    }
}

/// Refuses a default role for Administrators (they get the administrator
/// role), `Everyone` and custom groups.
fn default_role_allowed(group: &crate::Group, admin_role: &RoleName) -> Result<(), DomainError> {
    match DefaultGroup::from_id(group.id) {
        Some(DefaultGroup::Administrators) => Err(invalid(format!(
            "{} get the administrator role ({admin_role}); \
             do not list them among the default roles",
            group.name
        ))),
        Some(DefaultGroup::Everyone) => Err(invalid(format!(
            "{} cannot have a default role; it gets none in a new service",
            group.name
        ))),
        Some(_) => Ok(()),
        None => Err(invalid(format!(
            "{} is a custom group; only default groups have default roles, \
             assign roles to custom groups once the service is added",
            group.name
        ))),
    }
}
