//! Events: what happened to an organization. The source of truth and the
//! audit log.

use std::collections::BTreeMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{
    Email, GroupId, GroupName, Holder, LicenseKind, LicenseSource, MailErrorKind, MailSettings,
    NotificationId, RoleName, ServiceId, ServiceName, UserId,
};

/// The schema version written with every event.
///
/// Readers accept every version up to this one; an event written by a newer
/// library is refused with an error that says to upgrade.
pub const EVENT_SCHEMA_VERSION: u32 = 1;

/// Something that happened to an organization: when, who did it, and what.
///
/// Serialized (with serde) as one flat object carrying a `schema` version and
/// a `type` tag, for example
/// `{"schema":1,"at":"2026-01-02T03:04:05Z","actor":1,"type":"user_invited","user":2,"email":"ann@example.com","groups":[3]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Wire", try_from = "Wire")]
#[non_exhaustive]
pub struct Event {
    /// When it happened (the `now` of the command's context).
    pub at: Timestamp,
    /// Who did it: the acting member (for `OrganizationCreated`, the creator;
    /// for an accepted invitation or a sign-in, the user themself).
    pub actor: UserId,
    /// What happened.
    pub kind: EventKind,
}

impl Event {
    pub(crate) fn new(at: Timestamp, actor: UserId, kind: EventKind) -> Event {
        Event { at, actor, kind }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// The organization was created with its default groups; `user` is its
    /// first member: active, in Administrators.
    OrganizationCreated {
        /// The organization's display name.
        name: String,
        /// The creator's id.
        user: UserId,
        /// The creator's address.
        #[serde(deserialize_with = "crate::core::email::deserialize_stored")]
        email: Email,
    },
    /// A user was invited and is a Pending member.
    UserInvited {
        /// The new member's id.
        user: UserId,
        /// The address invited.
        #[serde(deserialize_with = "crate::core::email::deserialize_stored")]
        email: Email,
        /// Groups joined at once, in id order (never `Everyone`). Shared:
        /// a batch of invitations into the same groups holds one copy.
        groups: Arc<[GroupId]>,
    },
    /// A pending user accepted and signed in for the first time.
    InvitationAccepted {
        /// Who accepted.
        user: UserId,
    },
    /// An active user signed in; Last active moves to the event's time.
    UserSignedIn {
        /// Who signed in.
        user: UserId,
    },
    /// A member was removed from the organization and every group.
    UserRemoved {
        /// Who was removed.
        user: UserId,
    },
    /// A custom group was created.
    GroupCreated {
        /// The new group's id.
        group: GroupId,
        /// Its name.
        name: GroupName,
        /// Its initial members.
        members: Vec<UserId>,
    },
    /// A custom group was renamed.
    GroupRenamed {
        /// The group.
        group: GroupId,
        /// Its new name.
        name: GroupName,
    },
    /// A custom group was deleted.
    GroupDeleted {
        /// The group.
        group: GroupId,
    },
    /// Members joined a group.
    GroupMembersAdded {
        /// The group.
        group: GroupId,
        /// Who joined.
        users: Vec<UserId>,
    },
    /// Members left a group.
    GroupMembersRemoved {
        /// The group.
        group: GroupId,
        /// Who left.
        users: Vec<UserId>,
    },
    /// A service was added; its default roles are assigned to the default
    /// groups.
    ServiceAdded {
        /// The new service's id.
        service: ServiceId,
        /// Its name.
        name: ServiceName,
        /// The roles it defines.
        roles: Vec<RoleName>,
        /// The role Administrators get.
        admin_role: RoleName,
        /// The default role of other default groups.
        default_roles: Vec<(GroupId, RoleName)>,
    },
    /// A service was removed with all its assignments.
    ServiceRemoved {
        /// The service.
        service: ServiceId,
    },
    /// A role was assigned to a group or member.
    RoleAssigned {
        /// The service.
        service: ServiceId,
        /// Who holds it.
        holder: Holder,
        /// The role.
        role: RoleName,
    },
    /// A role assignment was revoked.
    RoleRevoked {
        /// The service.
        service: ServiceId,
        /// Who held it.
        holder: Holder,
        /// The role.
        role: RoleName,
    },
    /// A license pool was created or resized.
    LicensePoolSet {
        /// The license kind.
        kind: LicenseKind,
        /// Its seats.
        seats: u32,
    },
    /// A license pool was removed (no seat was in use).
    LicensePoolRemoved {
        /// The license kind.
        kind: LicenseKind,
    },
    /// A group license rule of one kind was set (replacing the group's
    /// previous rule). Written by earlier versions, which had one kind per
    /// rule; read as a rule of that one kind. No longer written: see
    /// [`GroupLicenseRuleSet`](EventKind::GroupLicenseRuleSet).
    LicenseRuleSet {
        /// The group.
        group: GroupId,
        /// The kind its members receive.
        kind: LicenseKind,
        /// At most this many members receive it.
        quota: Option<u32>,
    },
    /// A group license rule was set, replacing the group's previous rule:
    /// the kinds its members lease at sign-in, each with its quota. Leases
    /// of kinds it no longer gives are released.
    GroupLicenseRuleSet {
        /// The group.
        group: GroupId,
        /// Each kind with its quota (`None`: every member).
        licenses: BTreeMap<LicenseKind, Option<u32>>,
    },
    /// A group license rule was removed; what it granted is released.
    LicenseRuleRemoved {
        /// The group.
        group: GroupId,
    },
    /// A member received a license seat: allocated directly, or leased
    /// through a group's rule (at sign-in, or moved from a group they
    /// left).
    LicenseGranted {
        /// The member.
        user: UserId,
        /// The license kind.
        kind: LicenseKind,
        /// Directly or through a group rule.
        source: LicenseSource,
    },
    /// A member gave a license seat back.
    LicenseReleased {
        /// The member.
        user: UserId,
        /// The license kind.
        kind: LicenseKind,
    },
    /// A member was put on user-level allocation with nothing selected:
    /// they hold no license, group ones included, until switched back to
    /// group-based allocation.
    LicensesWithheld {
        /// The member.
        user: UserId,
    },
    /// A member was switched back to group-based allocation: they lease
    /// what their groups give at their next sign-in.
    GroupLicensesRestored {
        /// The member.
        user: UserId,
    },
    /// How long a group lease lasts without sign-in was set.
    LicenseIdlePeriodSet {
        /// The period.
        after: jiff::SignedDuration,
    },
    /// Custom mail settings were set or changed.
    MailSettingsSet {
        /// The settings (a credential reference, never a secret).
        settings: MailSettings,
    },
    /// Custom mail settings were cleared: invitations send nothing.
    MailSettingsCleared,
    /// How long invitations stay valid was set (`None`: forever).
    InvitationExpirySet {
        /// The validity period.
        after: Option<jiff::SignedDuration>,
    },
    /// A pending invitation was sent again; its validity starts over.
    InvitationResent {
        /// The invitee.
        user: UserId,
    },
    /// A pending invitation was revoked: the invitee is removed.
    InvitationRevoked {
        /// The invitee.
        user: UserId,
    },
    /// An invitation email was queued for delivery.
    InvitationEmailQueued {
        /// The delivery's id.
        notification: NotificationId,
        /// The invitee.
        user: UserId,
    },
    /// A queued invitation email was delivered.
    InvitationEmailDelivered {
        /// The delivery's id.
        notification: NotificationId,
    },
    /// A delivery attempt failed; the email stays queued.
    InvitationEmailFailed {
        /// The delivery's id.
        notification: NotificationId,
        /// What went wrong (short, printable).
        error: String,
        /// Whether a retry can help; `None` in events written before kinds
        /// were kept (read as transient).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<MailErrorKind>,
        /// The server's SMTP reply code, if it answered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<u16>,
    },
    /// A delivery worker claimed a queued email until `until`: no other
    /// worker sends it before then. Appended with the organization's
    /// version like any event, so of two workers only one wins the claim.
    InvitationEmailClaimed {
        /// The delivery's id.
        notification: NotificationId,
        /// When the claim lapses if no result is recorded (a crashed
        /// worker): another worker may then send it (at least once).
        until: Timestamp,
    },
}

#[derive(Serialize, Deserialize)]
struct Wire {
    schema: u32,
    at: Timestamp,
    actor: UserId,
    #[serde(flatten)]
    kind: EventKind,
}

impl From<Event> for Wire {
    fn from(e: Event) -> Wire {
        Wire {
            schema: EVENT_SCHEMA_VERSION,
            at: e.at,
            actor: e.actor,
            kind: e.kind,
        }
    }
}

impl TryFrom<Wire> for Event {
    type Error = String;
    fn try_from(w: Wire) -> Result<Event, String> {
        if w.schema == 0 || w.schema > EVENT_SCHEMA_VERSION {
            return Err(format!(
                "event schema version {} is not supported by this version of org-accounts \
                 (it reads versions 1 to {EVENT_SCHEMA_VERSION}); upgrade org-accounts",
                w.schema
            ));
        }
        Ok(Event {
            at: w.at,
            actor: w.actor,
            kind: w.kind,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_flat_tagged_and_versioned() {
        let e = Event::new(
            "2026-01-02T03:04:05Z".parse().unwrap(),
            UserId(1),
            EventKind::UserInvited {
                user: UserId(2),
                email: Email::parse("Ann@example.com").unwrap(),
                groups: Arc::from([GroupId(3)]),
            },
        );
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"schema":1,"at":"2026-01-02T03:04:05Z","actor":1,"type":"user_invited","user":2,"email":"Ann@example.com","groups":[3]}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), e);
    }

    #[test]
    fn newer_schema_is_refused_with_advice() {
        let json = r#"{"schema":2,"at":"2026-01-02T03:04:05Z","actor":1,"type":"user_signed_in","user":1}"#;
        let err = serde_json::from_str::<Event>(json).unwrap_err();
        assert!(err.to_string().contains("upgrade org-accounts"), "{err}");
    }
}

#[cfg(test)]
mod stored_tests {
    use super::*;

    #[test]
    fn stored_addresses_load_even_if_the_rules_got_stricter() {
        // A space is refused today; an event written under looser rules
        // still loads.
        let json = r#"{"schema":1,"at":"2026-01-02T03:04:05Z","actor":1,"type":"user_invited","user":2,"email":"old style@example.com","groups":[]}"#;
        let event: Event = serde_json::from_str(json).unwrap();
        assert!(
            matches!(event.kind, EventKind::UserInvited { ref email, .. } if email.as_str() == "old style@example.com")
        );
        let bad = json.replace("old style@example.com", "no-at-sign");
        assert!(serde_json::from_str::<Event>(&bad).is_err());
    }
}
