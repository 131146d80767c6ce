//! The one resolver: how commands name members (by address), groups (by
//! name) and services (by name), and the refusal when a name matches
//! nothing. Every decision looks names up here.

use std::collections::HashSet;
use std::hash::Hash;

use super::access::Access;
use super::groups::Groups;
use super::members::Members;
use crate::{DomainError, Email, Group, GroupId, GroupName, Member, Service, ServiceName, UserId};

impl Members {
    /// The member with this address, or [`DomainError::UnknownUsers`]
    /// naming it.
    pub(crate) fn resolve(&self, email: &Email) -> Result<&Member, DomainError> {
        self.by_email(email)
            .ok_or_else(|| DomainError::UnknownUsers {
                emails: vec![email.clone()],
            })
    }

    /// A pending member with this address: [`DomainError::UnknownUsers`]
    /// or [`DomainError::NotPending`] otherwise.
    pub(crate) fn resolve_pending(&self, email: &Email) -> Result<&Member, DomainError> {
        let member = self.resolve(email)?;
        if !member.status().is_pending() {
            return Err(DomainError::NotPending {
                email: member.email().clone(),
            });
        }
        Ok(member)
    }

    /// Members' ids in first-seen order, repeats dropped; every unknown
    /// address is reported, each once. Linear in the list.
    ///
    /// # Errors
    /// [`DomainError::NoUsers`] for an empty list,
    /// [`DomainError::UnknownUsers`] when any address is not a member.
    pub(crate) fn resolve_all(&self, emails: &[Email]) -> Result<Vec<UserId>, DomainError> {
        if emails.is_empty() {
            return Err(DomainError::NoUsers);
        }
        let (found, unknown) = look_up_all(emails, |email| self.by_email(email).map(Member::id));
        if !unknown.is_empty() {
            return Err(DomainError::UnknownUsers { emails: unknown });
        }
        let mut seen = HashSet::with_capacity(found.len());
        Ok(found.into_iter().filter(|id| seen.insert(*id)).collect())
    }
}

impl Groups {
    /// The group with this name, or [`DomainError::UnknownGroups`] naming
    /// it.
    pub(crate) fn resolve(&self, name: &GroupName) -> Result<&Group, DomainError> {
        self.by_name(name)
            .ok_or_else(|| DomainError::UnknownGroups {
                names: vec![name.clone()],
            })
    }

    /// The groups of `names`, in their order (repeats kept); every unknown
    /// name is reported, each once, in first-seen order. Linear in the
    /// list.
    pub(crate) fn resolve_each<'n>(
        &self,
        names: impl IntoIterator<Item = &'n GroupName>,
    ) -> Result<Vec<&Group>, DomainError> {
        let (found, unknown) = look_up_all(names, |name| self.by_name(name));
        if unknown.is_empty() {
            Ok(found)
        } else {
            Err(DomainError::UnknownGroups { names: unknown })
        }
    }

    /// A custom group: default groups are refused with
    /// [`DomainError::DefaultGroupImmutable`].
    pub(crate) fn resolve_custom(&self, name: &GroupName) -> Result<&Group, DomainError> {
        let group = self.resolve(name)?;
        if group.kind() != crate::GroupKind::Custom {
            return Err(DomainError::DefaultGroupImmutable {
                name: group.name().clone(),
            });
        }
        Ok(group)
    }

    /// A group whose membership can be edited: `Everyone` is refused with
    /// [`DomainError::EveryoneImplicit`].
    pub(crate) fn resolve_editable(&self, name: &GroupName) -> Result<&Group, DomainError> {
        let group = self.resolve(name)?;
        if group.is_everyone() {
            return Err(DomainError::EveryoneImplicit);
        }
        Ok(group)
    }

    /// The groups an invitation names: every unknown name is reported;
    /// repeats and `Everyone` are dropped; the result is in id order.
    pub(crate) fn resolve_invite_groups(
        &self,
        names: &[GroupName],
    ) -> Result<Vec<GroupId>, DomainError> {
        Ok(invite_groups(self.resolve_each(names)?))
    }
}

/// Looks every name up: what was found, in order (repeats kept), and the
/// names that match nothing, each once, in first-seen order. Linear in the
/// list (hashed de-duplication).
fn look_up_all<'n, N, T>(
    names: impl IntoIterator<Item = &'n N>,
    find: impl Fn(&'n N) -> Option<T>,
) -> (Vec<T>, Vec<N>)
where
    N: Hash + Eq + Clone + 'n,
{
    let mut found = Vec::new();
    let mut unknown = Vec::new();
    let mut seen_unknown: HashSet<&N> = HashSet::new();
    for name in names {
        match find(name) {
            Some(item) => found.push(item),
            None => {
                if seen_unknown.insert(name) {
                    unknown.push(name.clone());
                }
            }
        }
    }
    (found, unknown)
}

/// An invitation's groups, as invitations record them: `Everyone` dropped
/// (every member is in it), each group once, in id order.
pub(crate) fn invite_groups<'g>(groups: impl IntoIterator<Item = &'g Group>) -> Vec<GroupId> {
    let mut ids: Vec<GroupId> = groups
        .into_iter()
        .filter(|g| !g.is_everyone())
        .map(Group::id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

impl Access {
    /// The service with this name, or [`DomainError::UnknownService`].
    pub(crate) fn resolve(&self, name: &ServiceName) -> Result<&Service, DomainError> {
        self.by_name(name)
            .ok_or_else(|| DomainError::UnknownService { name: name.clone() })
    }
}
