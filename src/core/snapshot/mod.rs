//! Snapshots: an organization's state at a version, so loading reads the
//! latest snapshot and only the events after it. `codec.rs` holds the
//! bytes stores keep (a versioned binary encoding; old JSON still reads).

mod codec;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::Holder;
use crate::core::organization::{
    Access, Group, GroupKind, Groups, Invitations, Licenses, Member, MemberStatus, Members,
    Organization,
};
use crate::{
    DefaultGroup, Email, GroupId, GroupName, MailSettings, NotificationId, QueuedEmail, Service,
    UserId,
};

/// The snapshot schema version written by this library.
///
/// - 3: the same contents as 2; [`Snapshot::to_bytes`] writes the compact
///   binary encoding (a header with a magic and the schema, then the
///   members and groups field by field), and members are listed by
///   address so loading builds the address indexes without sorting.
///   [`Snapshot::from_bytes`] still reads the JSON of schemas 1 and 2.
/// - 2: every id counter (`next_user`, `next_group`, `next_service`,
///   `next_notification`) holds the next free id.
/// - 1: `next_service` and `next_notification` held the last id used
///   (0: none yet); such snapshots still load, converted.
pub const SNAPSHOT_SCHEMA_VERSION: u32 = codec::BINARY_SCHEMA;

/// An organization's state after `version` events. Stores keep
/// [`to_bytes`](Snapshot::to_bytes) (compact, versioned) and read it back
/// with [`from_bytes`](Snapshot::from_bytes), which also reads the JSON
/// older versions stored; the serde forms (JSON and the like) remain for
/// hosts that want them. Indexes are not stored; they are rebuilt on load,
/// in bulk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    schema: u32,
    version: u64,
    name: String,
    created_at: Option<Timestamp>,
    next_user: u64,
    next_group: u32,
    /// In the state's own form (their groups empty: the groups list their
    /// members), so loading moves them rather than converting each;
    /// serialized in the [`SnapshotMember`] form.
    #[serde(with = "member_form")]
    members: Vec<Member>,
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

    /// The snapshot as the bytes a store keeps: a header (a magic and the
    /// schema, [`SNAPSHOT_SCHEMA_VERSION`]) and a compact binary body.
    /// About a sixth of the JSON's size for a large organization, and
    /// several times faster to read.
    ///
    /// # Errors
    /// [`SnapshotError`] only if a part of the state cannot be encoded (a
    /// bug, reported rather than hidden); the caller skips this snapshot.
    pub fn to_bytes(&self) -> Result<Vec<u8>, SnapshotError> {
        codec::encode(self).map_err(|reason| SnapshotError { reason })
    }

    /// A snapshot from the bytes a store kept: those of
    /// [`to_bytes`](Snapshot::to_bytes), or the JSON stored by earlier
    /// versions (schemas 1 and 2). The bytes are only decoded here;
    /// [`Organization::from_snapshot`] checks the state they describe.
    ///
    /// # Errors
    /// [`SnapshotError`] when the bytes are neither (damaged, truncated, or
    /// written by a newer library); the caller drops the snapshot and
    /// rebuilds the organization from its events. Never panics, whatever
    /// the bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        codec::decode(bytes)
    }
}

impl Organization {
    /// The state as a snapshot at [`version`](Organization::version).
    pub fn snapshot(&self) -> Snapshot {
        let members = self.members_state();
        let groups = self.groups_state();
        let access = self.access_state();
        let invitations = self.invitations_state();
        Snapshot {
            schema: SNAPSHOT_SCHEMA_VERSION,
            version: self.version(),
            name: self.name().to_owned(),
            created_at: self.created_at(),
            next_user: members.counter(),
            next_group: groups.counter(),
            members: members
                .by_email_order()
                .into_iter()
                .map(SnapshotMember::stored)
                .collect(),
            groups: groups.iter().map(SnapshotGroup::of).collect(),
            next_service: access.counter(),
            services: access.iter().cloned().collect(),
            licenses: self.licenses_state().clone(),
            mail: invitations.mail().cloned(),
            invitation_expiry: invitations.expiry(),
            next_notification: invitations.counter(),
            outbox: invitations
                .outbox()
                .map(|(id, q)| (*id, q.clone()))
                .collect(),
        }
    }

    /// Rebuilds the state a snapshot was taken of.
    ///
    /// Snapshots of schema 1 load too: their service and email counters
    /// (the last id used) are converted to the next free id.
    ///
    /// Nothing a store returns is trusted: besides the schema, ids listed
    /// twice and the default groups, the state is checked against the
    /// invariants every sequence of events keeps, in one pass (linear in
    /// the snapshot's size): once created, at least one active
    /// administrator; group members are members; role assignments name
    /// defined roles and existing members and groups; seats used within
    /// each pool, a pool for every kind held or given by a rule, licenses
    /// held by members (through a group only by its members); queued
    /// emails for members, and only with mail settings; a version at least
    /// the number of events its contents take. Counters below the ids in
    /// use are raised rather than refused.
    ///
    /// # Errors
    /// [`SnapshotError`] when the snapshot was written by a newer library or
    /// breaks one of these invariants (a damaged store); the caller drops
    /// it and replays the events, as
    /// [`AccountService`](crate::AccountService) does.
    pub fn from_snapshot(snapshot: &Snapshot) -> Result<Organization, SnapshotError> {
        Organization::load(snapshot, snapshot.members.clone())
    }

    /// [`from_snapshot`](Organization::from_snapshot) of `snapshot` with
    /// `members`, its members as the state holds them.
    fn load(snapshot: &Snapshot, members: Vec<Member>) -> Result<Organization, SnapshotError> {
        let fail = |reason: String| SnapshotError { reason };
        let (next_service, next_notification) = match snapshot.schema {
            1 => (
                snapshot.next_service.saturating_add(1),
                snapshot.next_notification.saturating_add(1),
            ),
            2 | 3 => (snapshot.next_service, snapshot.next_notification),
            schema => {
                return Err(fail(format!(
                    "it has schema version {schema}, newer than this library reads ({SNAPSHOT_SCHEMA_VERSION})"
                )));
            }
        };
        // Trust no counter a store returns: each is at least one past the
        // highest id in use, or the next command would reuse an id and
        // apply would ignore what it decided (a success that did nothing).
        let next_service = snapshot
            .services
            .iter()
            .map(|svc| svc.id().get().saturating_add(1))
            .fold(next_service, u32::max);
        let next_notification = snapshot
            .outbox
            .iter()
            .map(|(id, _)| id.get().saturating_add(1))
            .fold(next_notification, u64::max);
        let access = Access::restore(&snapshot.services, next_service).map_err(fail)?;
        let (groups, members) = snapshot.groups_and_members(members).map_err(fail)?;
        let invitations = Invitations::restore(
            snapshot.mail.clone(),
            snapshot.invitation_expiry,
            snapshot.outbox.iter().cloned(),
            next_notification,
        );
        let info = snapshot
            .created_at
            .map(|created_at| (snapshot.name.clone(), created_at));
        let org = Organization::from_parts(
            info,
            snapshot.version,
            (
                members,
                groups,
                access,
                snapshot.licenses.clone(),
                invitations,
            ),
        );
        org.check_loaded().map_err(fail)?;
        Ok(org)
    }

    /// The invariants every sequence of events keeps, checked on a state
    /// rebuilt from a snapshot, in one pass over it (linear in its size).
    /// A damaged snapshot that breaks one is refused, and the service
    /// rebuilds the state from the events instead.
    ///
    /// - Before creation the organization is empty; once created it has
    ///   at least one active administrator.
    /// - Every group's members are members (checked while restoring); the
    ///   groups a member is in are rebuilt from the groups, so they exist.
    /// - Every role assignment names a role its service defines and a
    ///   member or group that exists; every default role names a group
    ///   that exists and a role the service defines, as does its
    ///   administrator role.
    /// - Licenses: see `Licenses::check_loaded` (seats used within the
    ///   pool, a pool for every kind held or given by a rule, holders are
    ///   members, group licenses held by that group's members).
    /// - Queued emails go to members, and only with mail settings.
    /// - The version counts at least the events that made what the state
    ///   holds: one event per member (creation or invitation), custom
    ///   group, service, license pool and queued email, and the mail
    ///   settings'. (No upper bound can be checked here: the service
    ///   refuses a snapshot claiming more events than the store holds.)
    fn check_loaded(&self) -> Result<(), String> {
        let members = self.members_state();
        let groups = self.groups_state();
        let access = self.access_state();
        let invitations = self.invitations_state();
        if !self.exists() {
            if members.len() > 0 || groups.iter().next().is_some() {
                return Err("the organization does not exist but has members or groups".into());
            }
            if access.iter().next().is_some() || invitations.outbox().next().is_some() {
                return Err(
                    "the organization does not exist but has services or queued emails".into(),
                );
            }
        } else if self.active_administrator_count() == 0 {
            return Err("the organization has no active administrator".into());
        }
        for service in access.iter() {
            let name = &service.name;
            if !service.roles.contains(&service.admin_role) {
                return Err(format!(
                    "{name}'s administrator role is not one of its roles"
                ));
            }
            for (group, role) in &service.default_roles {
                if !groups.contains(*group) || !service.roles.contains(role) {
                    return Err(format!(
                        "{name} has a default role for a missing group or role"
                    ));
                }
            }
            for (holder, roles) in &service.grants {
                let exists = match holder {
                    Holder::User(user) => members.contains(*user),
                    Holder::Group(group) => groups.contains(*group),
                };
                if !exists {
                    return Err(format!(
                        "{name} assigns roles to a member or group that does not exist"
                    ));
                }
                if let Some(role) = roles.iter().find(|r| !service.roles.contains(*r)) {
                    return Err(format!("{name} assigns {role}, which it does not define"));
                }
            }
        }
        self.licenses_state().check_loaded(
            |user| {
                let member = members.get(user);
                crate::core::organization::HolderFacts {
                    member: member.is_some(),
                    pending: member.is_some_and(|m| m.status().is_pending()),
                }
            },
            |group| groups.contains(group),
            |group, user| members.get(user).is_some_and(|m| m.groups.contains(&group)),
        )?;
        let mut queued = 0usize;
        for (_, email) in invitations.outbox() {
            if !members.contains(email.user) {
                return Err(format!(
                    "an invitation email is queued for {}, who is not a member",
                    email.user
                ));
            }
            queued = queued.saturating_add(1);
        }
        if queued > 0 && invitations.mail().is_none() {
            return Err("invitation emails are queued without mail settings".into());
        }
        let made = [
            members.len(),
            groups.custom_count(),
            access.iter().count(),
            self.licenses_state().pool_count(),
            queued,
            usize::from(invitations.mail().is_some()),
        ]
        .into_iter()
        .fold(0u64, |sum, n| {
            sum.saturating_add(u64::try_from(n).unwrap_or(u64::MAX))
        });
        if self.version() < made {
            return Err(format!(
                "version {} is below the {made} events its contents take",
                self.version()
            ));
        }
        Ok(())
    }
}

impl Snapshot {
    /// The groups and `members` (this snapshot's), each member with their
    /// groups.
    fn groups_and_members(&self, members: Vec<Member>) -> Result<(Groups, Members), String> {
        let mut groups = Groups::default();
        for g in &self.groups {
            groups.restore(g.to_group()?)?;
        }
        if self.created_at.is_some()
            && let Some(missing) = DefaultGroup::ALL.into_iter().find(|d| {
                groups
                    .get(d.id())
                    .is_none_or(|g| g.kind != GroupKind::Default(*d))
            })
        {
            return Err(format!("the default group {} is missing", missing.name()));
        }
        let next_group = self
            .groups
            .iter()
            .map(|g| g.id.get().saturating_add(1))
            .fold(self.next_group, u32::max);
        groups.set_counter(next_group);
        // Members that share an address under the current identity rule
        // (written under an older one) are all kept, as replaying their
        // events keeps them; see `Organization::duplicate_addresses`.
        let next_user = members
            .iter()
            .map(|m| m.id.get().saturating_add(1))
            .fold(self.next_user, u64::max);
        let members = Members::restore(
            members,
            self.groups.iter().map(|g| (g.id, g.members.as_slice())),
            next_user,
        )?;
        Ok((groups, members))
    }
}

/// [`Organization::from_snapshot`], moving the members out of the snapshot
/// instead of copying them: the way to load a snapshot that is not needed
/// afterwards (at a million members, the copies and freeing the snapshot
/// are a sixth of the load).
impl TryFrom<Snapshot> for Organization {
    type Error = SnapshotError;

    fn try_from(mut snapshot: Snapshot) -> Result<Organization, SnapshotError> {
        let members = std::mem::take(&mut snapshot.members);
        Organization::load(&snapshot, members)
    }
}

impl SnapshotMember {
    /// `m` as a snapshot holds it: without its groups.
    fn stored(m: &Member) -> Member {
        Member {
            id: m.id,
            email: m.email.clone(),
            status: m.status,
            invited_at: m.invited_at,
            invitation_sent_at: m.invitation_sent_at,
            groups: Box::default(),
        }
    }

    fn of(m: &Member) -> SnapshotMember {
        SnapshotMember {
            id: m.id,
            email: m.email.clone(),
            last_active: m.status.last_active(),
            invited_at: m.invited_at,
            invitation_sent_at: m.invitation_sent_at,
        }
    }

    fn into_member(self) -> Member {
        Member {
            id: self.id,
            email: self.email,
            status: match self.last_active {
                None => MemberStatus::Pending,
                Some(last_active) => MemberStatus::Active { last_active },
            },
            invited_at: self.invited_at,
            invitation_sent_at: self.invitation_sent_at,
            groups: Box::default(),
        }
    }
}

/// A snapshot's members in their serde form: a list of [`SnapshotMember`].
mod member_form {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::SnapshotMember;
    use crate::Member;

    pub(super) fn serialize<S: Serializer>(members: &[Member], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(members.iter().map(SnapshotMember::of))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Member>, D::Error> {
        let members = Vec::<SnapshotMember>::deserialize(d)?;
        Ok(members
            .into_iter()
            .map(SnapshotMember::into_member)
            .collect())
    }
}

impl SnapshotGroup {
    fn of(g: &Group) -> SnapshotGroup {
        SnapshotGroup {
            id: g.id,
            name: g.name.clone(),
            default: match g.kind {
                GroupKind::Default(d) => Some(d.id().get()),
                GroupKind::Custom => None,
            },
            members: g.members.iter().copied().collect(),
        }
    }

    /// The group with its members (checked against the members later).
    fn to_group(&self) -> Result<Group, String> {
        let kind = match self.default {
            None => GroupKind::Custom,
            Some(id) => match DefaultGroup::from_id(GroupId(id)) {
                Some(d) => GroupKind::Default(d),
                None => return Err(format!("unknown default group {id}")),
            },
        };
        Ok(Group {
            id: self.id,
            name: self.name.clone(),
            kind,
            members: self.members.iter().copied().collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use crate::{
        Command, Context, Email, EventKind, GroupName, LicenseKind, RoleName, ServiceName,
    };

    /// Written by version 1 of the schema (the library before the counters
    /// had one meaning): an organization with a custom group, a service
    /// (`next_service` 1: the last id used) and a queued email
    /// (`next_notification` 1: the last id used).
    const SCHEMA_1: &str = r#"{"schema":1,"version":10,"name":"Example","created_at":"2026-11-28T09:00:00Z","next_user":3,"next_group":8,"members":[{"id":1,"email":"ada@example.com","last_active":"2026-11-28T09:00:00Z","invited_at":"2026-11-28T09:00:00Z","invitation_sent_at":"2026-11-28T09:00:00Z"},{"id":2,"email":"bob@example.com","last_active":null,"invited_at":"2026-11-28T09:00:00Z","invitation_sent_at":"2026-11-28T09:00:00Z"}],"groups":[{"id":1,"name":"Administrators","default":1,"members":[1]},{"id":2,"name":"Automation Users","default":2,"members":[]},{"id":3,"name":"Automation Developers","default":3,"members":[]},{"id":4,"name":"Citizen Developers","default":4,"members":[]},{"id":5,"name":"Automation Express","default":5,"members":[]},{"id":6,"name":"Everyone","default":6,"members":[]},{"id":7,"name":"Finance","default":null,"members":[2]}],"next_service":1,"services":[{"id":1,"name":"CRM","roles":["Owner","Viewer"],"admin_role":"Owner","default_roles":{"1":"Owner"},"grants":[[{"group":1},["Owner"]],[{"user":2},["Viewer"]]]}],"licenses":{"pools":{"Pro":5},"rules":{"7":{"kind":"Pro","quota":2}},"holdings":{"2":{"Pro":{"group":7}}}},"mail":{"host":"smtp.example.com","port":587,"tls":true,"auth":null,"sender_address":"noreply@example.com","sender_name":"Example Corp","timeout":30000},"invitation_expiry":null,"next_notification":1,"outbox":[[1,{"user":2,"invited_by":1,"attempts":0,"last_error":null}]]}"#;

    fn admin() -> Context {
        Context::new(
            Email::parse("ada@example.com").unwrap(),
            "2026-11-29T09:00:00Z".parse().unwrap(),
        )
    }

    #[test]
    fn a_schema_1_snapshot_loads_with_its_counters_converted() {
        let snapshot: Snapshot = serde_json::from_str(SCHEMA_1).unwrap();
        let mut org = Organization::from_snapshot(&snapshot).unwrap();
        assert_eq!(org.version(), 10);
        assert_eq!(org.member_count(), 2);
        assert_eq!(org.services().count(), 1);
        assert_eq!(org.queued_emails().count(), 1);
        let crm = ServiceName::parse("CRM").unwrap();
        assert!(org.service(&crm).is_some());
        assert_eq!(
            org.license_rule(&GroupName::parse("Finance").unwrap())
                .map(|r| r.licenses.keys().cloned().collect::<Vec<_>>()),
            Some(vec![LicenseKind::parse("Pro").unwrap()])
        );
        // Bob is pending: the group license granted to him before leases
        // is released on load; he leases it at his first sign-in.
        assert!(
            org.licenses_of(&Email::parse("bob@example.com").unwrap())
                .is_empty()
        );

        // The next service and the next email get fresh ids.
        let owner = RoleName::parse("Owner").unwrap();
        let added = org
            .execute(
                &Command::AddService {
                    name: ServiceName::parse("ERP").unwrap(),
                    roles: vec![owner.clone()],
                    admin_role: owner,
                    default_roles: vec![],
                },
                &admin(),
            )
            .unwrap();
        assert!(matches!(
            added[0].kind,
            EventKind::ServiceAdded { service, .. } if service.0 == 2
        ));
        let invited = org
            .execute(
                &Command::InviteUsers {
                    emails: vec![Email::parse("cy@example.com").unwrap()],
                    groups: vec![],
                },
                &admin(),
            )
            .unwrap();
        let queued: Vec<u64> = invited
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::InvitationEmailQueued { notification, .. } => Some(notification.0),
                _ => None,
            })
            .collect();
        assert_eq!(queued, [2]);
        assert_eq!(org.queued_emails().count(), 2);

        // Written again, it is the current schema with next-free counters,
        // and loads back to the same state, from its bytes too.
        let again = org.snapshot();
        let json = serde_json::to_value(&again).unwrap();
        assert_eq!(json["schema"], SNAPSHOT_SCHEMA_VERSION);
        let bytes = again.to_bytes().unwrap();
        assert_eq!(Snapshot::from_bytes(&bytes).unwrap(), again);
        assert_eq!(json["next_service"], 3);
        assert_eq!(json["next_notification"], 3);
        assert_eq!(Organization::from_snapshot(&again).unwrap(), org);
    }

    #[test]
    fn a_schema_1_snapshot_written_as_bytes_keeps_its_meaning() {
        let old: Snapshot = serde_json::from_str(SCHEMA_1).unwrap();
        let again = Snapshot::from_bytes(&old.to_bytes().unwrap()).unwrap();
        assert_eq!(again.schema, SNAPSHOT_SCHEMA_VERSION);
        assert_eq!((again.next_service, again.next_notification), (2, 2));
        assert_eq!(
            Organization::from_snapshot(&again).unwrap(),
            Organization::from_snapshot(&old).unwrap()
        );
        let mut unknown = old;
        unknown.schema = 0;
        assert!(unknown.to_bytes().is_err());
    }

    #[test]
    fn unknown_schemas_are_refused() {
        for schema in [0, SNAPSHOT_SCHEMA_VERSION + 1] {
            let json = SCHEMA_1.replacen(r#""schema":1"#, &format!(r#""schema":{schema}"#), 1);
            let snapshot: Snapshot = serde_json::from_str(&json).unwrap();
            assert!(Organization::from_snapshot(&snapshot).is_err(), "{schema}");
        }
    }
}
