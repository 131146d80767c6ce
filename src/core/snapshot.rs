//! Snapshots: an organization's state at a version, so loading reads the
//! latest snapshot and only the events after it.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::core::organization::Licenses;
use crate::core::organization::{Group, GroupKind};
use crate::core::organization::{Member, MemberStatus, Organization, OrganizationInfo};
use crate::{
    DefaultGroup, Email, GroupId, GroupName, MailSettings, NotificationId, QueuedEmail, Service,
    UserId,
};

/// The snapshot schema version written by this library.
pub const SNAPSHOT_SCHEMA_VERSION: u32 = 1;

/// An organization's state after `version` events, serializable (serde) for
/// storage. Indexes are not stored; they are rebuilt on load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    schema: u32,
    version: u64,
    name: String,
    created_at: Option<Timestamp>,
    next_user: u64,
    next_group: u32,
    members: Vec<SnapshotMember>,
    groups: Vec<SnapshotGroup>,
    #[serde(default)]
    next_service: u32,
    #[serde(default)]
    services: Vec<Service>,
    #[serde(default)]
    licenses: Licenses,
    #[serde(default)]
    mail: Option<MailSettings>,
    #[serde(default)]
    invitation_expiry: Option<SignedDuration>,
    #[serde(default)]
    next_notification: u64,
    #[serde(default)]
    outbox: Vec<(NotificationId, QueuedEmail)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SnapshotMember {
    id: UserId,
    #[serde(deserialize_with = "crate::core::email::deserialize_stored")]
    email: Email,
    last_active: Option<Timestamp>,
    invited_at: Timestamp,
    invitation_sent_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SnapshotGroup {
    id: GroupId,
    name: GroupName,
    /// `None` for custom groups.
    default: Option<u32>,
    members: Vec<UserId>,
}

/// A snapshot this library cannot load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cannot load the snapshot: {reason}; delete it and the organization will be rebuilt from its events"
)]
pub struct SnapshotError {
    reason: String,
}

impl Snapshot {
    /// How many events the snapshot covers.
    pub fn version(&self) -> u64 {
        self.version
    }
}

impl Organization {
    /// The state as a snapshot at [`version`](Organization::version).
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            schema: SNAPSHOT_SCHEMA_VERSION,
            version: self.version,
            name: self.name().to_owned(),
            created_at: self.created_at(),
            next_user: self.next_user,
            next_group: self.next_group,
            members: self
                .members
                .values()
                .map(|m| SnapshotMember {
                    id: m.id,
                    email: m.email.clone(),
                    last_active: m.status.last_active(),
                    invited_at: m.invited_at,
                    invitation_sent_at: m.invitation_sent_at,
                })
                .collect(),
            groups: self
                .groups
                .values()
                .map(|g| SnapshotGroup {
                    id: g.id,
                    name: g.name.clone(),
                    default: match g.kind {
                        GroupKind::Default(d) => Some(d.id().get()),
                        GroupKind::Custom => None,
                    },
                    members: g.members.iter().copied().collect(),
                })
                .collect(),
            next_service: self.next_service,
            services: self.services.values().cloned().collect(),
            licenses: self.licenses.clone(),
            mail: self.mail.clone(),
            invitation_expiry: self.invitation_expiry,
            next_notification: self.next_notification,
            outbox: self.outbox.iter().map(|(id, q)| (*id, q.clone())).collect(),
        }
    }

    /// Rebuilds the state a snapshot was taken of.
    ///
    /// # Errors
    /// [`SnapshotError`] when the snapshot was written by a newer library or
    /// is inconsistent; the caller can drop it and replay the events.
    pub fn from_snapshot(snapshot: &Snapshot) -> Result<Organization, SnapshotError> {
        let fail = |reason: String| SnapshotError { reason };
        if snapshot.schema == 0 || snapshot.schema > SNAPSHOT_SCHEMA_VERSION {
            return Err(fail(format!(
                "it has schema version {}, newer than this library reads ({SNAPSHOT_SCHEMA_VERSION})",
                snapshot.schema
            )));
        }
        let mut org = Organization {
            info: snapshot.created_at.map(|created_at| OrganizationInfo {
                name: snapshot.name.clone(),
                created_at,
            }),
            version: snapshot.version,
            next_user: snapshot.next_user,
            next_group: snapshot.next_group,
            next_service: snapshot.next_service,
            licenses: snapshot.licenses.clone(),
            mail: snapshot.mail.clone(),
            invitation_expiry: snapshot.invitation_expiry,
            next_notification: snapshot.next_notification,
            outbox: snapshot.outbox.iter().cloned().collect(),
            ..Organization::default()
        };
        for service in &snapshot.services {
            if org
                .service_names
                .insert(service.name.clone(), service.id)
                .is_some()
            {
                return Err(fail(format!("two services are named {}", service.name)));
            }
            org.services.insert(service.id, service.clone());
        }
        for g in &snapshot.groups {
            let kind = match g.default {
                None => GroupKind::Custom,
                Some(id) => match DefaultGroup::from_id(GroupId(id)) {
                    Some(d) => GroupKind::Default(d),
                    None => return Err(fail(format!("unknown default group {id}"))),
                },
            };
            if org.group_names.insert(g.name.clone(), g.id).is_some() {
                return Err(fail(format!("two groups are named {}", g.name)));
            }
            org.groups.insert(
                g.id,
                Group {
                    id: g.id,
                    name: g.name.clone(),
                    kind,
                    members: Default::default(),
                },
            );
            if kind != GroupKind::Default(DefaultGroup::Everyone) {
                org.index.groups.entry(g.id).or_default();
            }
        }
        let mut members: Vec<Member> = snapshot
            .members
            .iter()
            .map(|m| Member {
                id: m.id,
                email: m.email.clone(),
                status: match m.last_active {
                    None => MemberStatus::Pending,
                    Some(last_active) => MemberStatus::Active { last_active },
                },
                invited_at: m.invited_at,
                invitation_sent_at: m.invitation_sent_at,
                groups: Default::default(),
            })
            .collect();
        members.sort_by_key(|m| m.id);
        if let Some(pair) = members.windows(2).find(|pair| match pair {
            [a, b] => a.id == b.id,
            _ => false,
        }) && let Some(twice) = pair.first()
        {
            return Err(fail(format!("member {} is listed twice", twice.id)));
        }
        for g in &snapshot.groups {
            for user in &g.members {
                let member = members
                    .binary_search_by_key(user, |m| m.id)
                    .ok()
                    .and_then(|at| members.get_mut(at));
                let Some(member) = member else {
                    return Err(fail(format!(
                        "{} lists a member that does not exist",
                        g.name
                    )));
                };
                member.groups.insert(g.id);
                if let Some(group) = org.groups.get_mut(&g.id) {
                    group.members.insert(*user);
                }
            }
        }
        // Members that share an address under the current identity rule
        // (written under an older one) are all kept, as replaying their
        // events keeps them; see `Organization::duplicate_addresses`.
        for member in members {
            org.index.insert(&member);
            org.members.insert(member.id, member);
        }
        Ok(org)
    }
}
