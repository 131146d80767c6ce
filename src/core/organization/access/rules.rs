//! Services and role assignments: deciding, applying, querying.
//!
//! Choices made here (the design notes leave them open):
//!
//! - Role names are compared ignoring case. A command may spell a role
//!   differently from the service definition; events and state always carry
//!   the spelling of the service definition, so the audit log and the admin
//!   page show one spelling per role.
//! - A service's `roles` may list a role twice (ignoring case); the repeat is
//!   dropped, keeping the first spelling. Listing a group twice in
//!   `default_roles` is refused instead: the two entries may disagree, and
//!   guessing which one was meant is worse than asking.
//! - Administrators' default role is the service's administrator role: it is
//!   recorded in [`Service::default_role`] like the other default groups' and,
//!   like theirs, cannot be revoked. Other roles given to a default group by
//!   assignment can be revoked.
//! - Assigning a role that is already held, or revoking one that is not held,
//!   is accepted and changes nothing (no event), as adding a member already
//!   in a group does.

use std::collections::{BTreeMap, BTreeSet};

use crate::core::organization::Organization;
use crate::{
    Assignee, Command, DefaultGroup, DomainError, Email, Event, EventKind, GroupId, GroupName,
    Holder, OrganizationRole, RoleGrant, RoleName, RoleSource, Service, ServiceId, ServiceName,
    UserId,
};

impl Organization {
    /// The service with this name (ignoring case).
    pub fn service(&self, name: &ServiceName) -> Option<&Service> {
        let id = self.service_names.get(name)?;
        self.services.get(id)
    }

    /// Every service, in the order they were added.
    pub fn services(&self) -> impl Iterator<Item = &Service> {
        self.services.values()
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

    /// Decides a service or role command (the actor is an administrator).
    pub(crate) fn decide_roles(&self, command: &Command) -> Result<Vec<EventKind>, DomainError> {
        match command {
            Command::AddService {
                name,
                roles,
                admin_role,
                default_roles,
            } => self
                .decide_add_service(name, roles, admin_role, default_roles)
                .map(|kind| vec![kind]),
            Command::RemoveService { service } => {
                let service = self.resolve_service(service)?;
                Ok(vec![EventKind::ServiceRemoved {
                    service: service.id,
                }])
            }
            Command::AssignRole { service, to, role } => {
                let (service, holder, role) = self.resolve_assignment(service, to, role)?;
                if service.roles_of(holder).any(|r| r == role) {
                    return Ok(Vec::new());
                }
                Ok(vec![EventKind::RoleAssigned {
                    service: service.id,
                    holder,
                    role: role.clone(),
                }])
            }
            Command::RevokeRole {
                service,
                from,
                role,
            } => {
                let (service, holder, role) = self.resolve_assignment(service, from, role)?;
                if let Holder::Group(group) = holder
                    && service.default_role(group) == Some(role)
                    && let Some(group) = self.groups.get(&group)
                {
                    return Err(DomainError::DefaultRoleProtected {
                        service: service.name.clone(),
                        group: group.name.clone(),
                        role: role.clone(),
                    });
                }
                if !service.roles_of(holder).any(|r| r == role) {
                    return Ok(Vec::new());
                }
                Ok(vec![EventKind::RoleRevoked {
                    service: service.id,
                    holder,
                    role: role.clone(),
                }])
            }
            _ => Ok(Vec::new()),
        }
    }

    fn decide_add_service(
        &self,
        name: &ServiceName,
        roles: &[RoleName],
        admin_role: &RoleName,
        default_roles: &[(GroupName, RoleName)],
    ) -> Result<EventKind, DomainError> {
        if let Some(existing) = self.service(name) {
            return Err(DomainError::ServiceNameTaken {
                name: existing.name.clone(),
            });
        }
        let invalid = |reason: String| DomainError::InvalidService { reason };
        if roles.is_empty() {
            return Err(invalid(
                "it defines no roles; list at least its administrator role".to_owned(),
            ));
        }
        // Repeats dropped, first spelling kept, input order otherwise.
        let mut defined: Vec<RoleName> = Vec::with_capacity(roles.len());
        for role in roles {
            if !defined.contains(role) {
                defined.push(role.clone());
            }
        }
        let canonical =
            |role: &RoleName| -> Result<RoleName, DomainError> {
                defined.iter().find(|r| *r == role).cloned().ok_or_else(|| {
                    DomainError::UnknownRole {
                        service: name.clone(),
                        role: role.clone(),
                    }
                })
            };
        let admin_role = canonical(admin_role)?;

        let mut unknown: Vec<GroupName> = Vec::new();
        for (group, _) in default_roles {
            if self.group(group).is_none() && !unknown.contains(group) {
                unknown.push(group.clone());
            }
        }
        if !unknown.is_empty() {
            return Err(DomainError::UnknownGroups { names: unknown });
        }
        let mut defaults: BTreeMap<GroupId, RoleName> = BTreeMap::new();
        for (group_name, role) in default_roles {
            let Some(group) = self.group(group_name) else {
                continue; // Unreachable: every name was checked above.
            };
            match DefaultGroup::from_id(group.id) {
                Some(DefaultGroup::Administrators) => {
                    return Err(invalid(format!(
                        "{} get the administrator role ({admin_role}); \
                         do not list them among the default roles",
                        group.name
                    )));
                }
                Some(DefaultGroup::Everyone) => {
                    return Err(invalid(format!(
                        "{} cannot have a default role; it gets none in a new service",
                        group.name
                    )));
                }
                Some(_) => {}
                None => {
                    return Err(invalid(format!(
                        "{} is a custom group; only default groups have default roles, \
                         assign roles to custom groups once the service is added",
                        group.name
                    )));
                }
            }
            let role = canonical(role)?;
            if defaults.insert(group.id, role).is_some() {
                return Err(invalid(format!(
                    "{} is given a default role more than once; list each group once",
                    group.name
                )));
            }
        }
        let id = self
            .next_service
            .checked_add(1)
            .ok_or(DomainError::IdsExhausted { what: "service" })?;
        Ok(EventKind::ServiceAdded {
            service: ServiceId(id),
            name: name.clone(),
            roles: defined,
            admin_role,
            default_roles: defaults.into_iter().collect(),
        })
    }

    fn resolve_service(&self, name: &ServiceName) -> Result<&Service, DomainError> {
        self.service(name)
            .ok_or_else(|| DomainError::UnknownService { name: name.clone() })
    }

    /// Resolves the service, the role (as the service spells it) and the
    /// holder of an assignment or revocation, in that order.
    fn resolve_assignment<'a>(
        &'a self,
        service: &ServiceName,
        assignee: &Assignee,
        role: &RoleName,
    ) -> Result<(&'a Service, Holder, &'a RoleName), DomainError> {
        let service = self.resolve_service(service)?;
        let role = service
            .roles
            .get(role)
            .ok_or_else(|| DomainError::UnknownRole {
                service: service.name.clone(),
                role: role.clone(),
            })?;
        let holder = match assignee {
            Assignee::Group(name) => Holder::Group(
                self.group(name)
                    .ok_or_else(|| DomainError::UnknownGroups {
                        names: vec![name.clone()],
                    })?
                    .id,
            ),
            Assignee::User(email) => Holder::User(
                self.member(email)
                    .ok_or_else(|| DomainError::UnknownUsers {
                        emails: vec![email.clone()],
                    })?
                    .id,
            ),
        };
        Ok((service, holder, role))
    }

    /// Applies a service or role event.
    pub(crate) fn apply_roles(&mut self, event: &Event) {
        match &event.kind {
            EventKind::ServiceAdded {
                service,
                name,
                roles,
                admin_role,
                default_roles,
            } => self.add_service(*service, name, roles, admin_role, default_roles),
            EventKind::ServiceRemoved { service } => {
                if let Some(s) = self.services.remove(service) {
                    self.service_names.remove(&s.name);
                }
            }
            EventKind::RoleAssigned {
                service,
                holder,
                role,
            } => {
                if !self.holder_exists(*holder) {
                    return;
                }
                let Some(s) = self.services.get_mut(service) else {
                    return;
                };
                if let Some(role) = s.roles.get(role) {
                    let role = role.clone();
                    s.grants.entry(*holder).or_default().insert(role);
                }
            }
            EventKind::RoleRevoked {
                service,
                holder,
                role,
            } => {
                if let Some(s) = self.services.get_mut(service) {
                    revoke(s, *holder, role);
                }
            }
            _ => {}
        }
    }

    fn add_service(
        &mut self,
        id: ServiceId,
        name: &ServiceName,
        roles: &[RoleName],
        admin_role: &RoleName,
        default_roles: &[(GroupId, RoleName)],
    ) {
        if self.services.contains_key(&id) || self.service_names.contains_key(name) {
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
        self.service_names.insert(name.clone(), id);
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
        self.next_service = self.next_service.max(id.0);
    }

    fn holder_exists(&self, holder: Holder) -> bool {
        match holder {
            Holder::Group(g) => self.groups.contains_key(&g),
            Holder::User(u) => self.members.contains_key(&u),
        }
    }

    /// Drops a removed member's role assignments.
    pub(crate) fn roles_forget_user(&mut self, user: UserId) {
        for service in self.services.values_mut() {
            service.grants.remove(&Holder::User(user));
        }
    }

    /// Drops a deleted group's role assignments.
    pub(crate) fn roles_forget_group(&mut self, group: GroupId) {
        for service in self.services.values_mut() {
            service.grants.remove(&Holder::Group(group));
            service.default_roles.remove(&group);
        }
    }
}

/// Takes `role` from `holder`, dropping the holder once it holds nothing, so
/// the state stays canonical.
fn revoke(service: &mut Service, holder: Holder, role: &RoleName) {
    if let Some(held) = service.grants.get_mut(&holder) {
        held.remove(role);
        if held.is_empty() {
            service.grants.remove(&holder);
        }
    }
}
