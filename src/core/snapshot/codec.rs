//! The bytes a store keeps for a [`Snapshot`]: a compact binary encoding,
//! versioned, that old JSON snapshots still load beside.
//!
//! Layout (schema 3): the 8-byte [`MAGIC`] (it starts with a NUL byte, so
//! no JSON text is mistaken for it), the schema as a little-endian `u32`,
//! then a [`postcard`] body. The members and groups, which hold nearly all
//! of a large organization's bytes, are encoded field by field (timestamps
//! as seconds and nanoseconds, not text); the rest of the state (services,
//! licenses, mail settings, the expiry and the email queue: small, with
//! serde forms owned by their own modules, some of which a
//! non-self-describing format cannot carry) travels as one embedded JSON
//! document.
//!
//! Bytes that do not start with the magic are read as the JSON written
//! before schema 3 (schemas 1 and 2), so stored snapshots keep loading.
//! Nothing decoded here is trusted: [`Organization::from_snapshot`]
//! checks the state as it does for JSON, and every length, timestamp and
//! address is checked while decoding (an error, never a panic).
//!
//! [`Organization::from_snapshot`]: crate::Organization::from_snapshot

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::{Snapshot, SnapshotError, SnapshotGroup};
use crate::core::organization::Licenses;
use crate::{
    Email, GroupId, GroupName, MailSettings, MemberStatus, NotificationId, QueuedEmail, Service,
    UserId,
};

/// The first bytes of every binary snapshot.
pub(crate) const MAGIC: [u8; 8] = *b"\0OrgSnap";

/// The schema of the binary encoding written by this library.
pub(crate) const BINARY_SCHEMA: u32 = 3;

/// A timestamp as seconds since the Unix epoch and nanoseconds.
#[derive(Serialize, Deserialize)]
struct Time(i64, i32);

impl Time {
    fn of(t: Timestamp) -> Time {
        Time(t.as_second(), t.subsec_nanosecond())
    }

    fn get(&self) -> Result<Timestamp, String> {
        Timestamp::new(self.0, self.1).map_err(|e| {
            format!(
                "a timestamp ({}s {}ns) is out of range: {e}",
                self.0, self.1
            )
        })
    }
}

#[derive(Serialize, Deserialize)]
struct Body<'a> {
    version: u64,
    name: &'a str,
    created_at: Option<Time>,
    next_user: u64,
    next_group: u32,
    #[serde(borrow)]
    members: Vec<Member<'a>>,
    groups: Vec<Group>,
    /// [`Rest`] as JSON.
    rest: &'a [u8],
}

#[derive(Serialize, Deserialize)]
struct Member<'a> {
    id: u64,
    email: &'a str,
    last_active: Option<Time>,
    invited_at: Time,
    invitation_sent_at: Time,
}

#[derive(Serialize, Deserialize)]
struct Group {
    id: u32,
    name: GroupName,
    default: Option<u32>,
    members: Vec<u64>,
}

/// The small parts of the state, in their own serde forms.
#[derive(Serialize, Deserialize)]
struct Rest {
    next_service: u32,
    services: Vec<Service>,
    licenses: Licenses,
    mail: Option<MailSettings>,
    invitation_expiry: Option<SignedDuration>,
    next_notification: u64,
    outbox: Vec<(NotificationId, QueuedEmail)>,
}

/// The binary encoding of `snapshot` (see the module docs). A snapshot
/// read from an older schema is written in the current one: schema 1's
/// counters (the last id used) become the next free id, as loading it
/// would make them.
pub(crate) fn encode(snapshot: &Snapshot) -> Result<Vec<u8>, String> {
    let (next_service, next_notification) = match snapshot.schema {
        1 => (
            snapshot.next_service.saturating_add(1),
            snapshot.next_notification.saturating_add(1),
        ),
        2 | BINARY_SCHEMA => (snapshot.next_service, snapshot.next_notification),
        other => return Err(format!("schema {other} is not one this library writes")),
    };
    let rest = serde_json::to_vec(&Rest {
        next_service,
        services: snapshot.services.clone(),
        licenses: snapshot.licenses.clone(),
        mail: snapshot.mail.clone(),
        invitation_expiry: snapshot.invitation_expiry,
        next_notification,
        outbox: snapshot.outbox.clone(),
    })
    .map_err(|e| e.to_string())?;
    let body = Body {
        version: snapshot.version,
        name: &snapshot.name,
        created_at: snapshot.created_at.map(Time::of),
        next_user: snapshot.next_user,
        next_group: snapshot.next_group,
        members: snapshot
            .members
            .iter()
            .map(|m| Member {
                id: m.id.get(),
                email: m.email.as_str(),
                last_active: m.status.last_active().map(Time::of),
                invited_at: Time::of(m.invited_at),
                invitation_sent_at: Time::of(m.invitation_sent_at),
            })
            .collect(),
        groups: snapshot
            .groups
            .iter()
            .map(|g| Group {
                id: g.id.get(),
                name: g.name.clone(),
                default: g.default,
                members: g.members.iter().map(|u| u.get()).collect(),
            })
            .collect(),
        rest: &rest,
    };
    let mut bytes = Vec::with_capacity(
        MAGIC
            .len()
            .saturating_add(4)
            .saturating_add(snapshot.members.len().saturating_mul(48))
            .saturating_add(rest.len()),
    );
    bytes.extend_from_slice(&MAGIC);
    bytes.extend_from_slice(&BINARY_SCHEMA.to_le_bytes());
    postcard::to_io(&body, &mut bytes).map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// A snapshot from stored bytes: the binary encoding, or the JSON of
/// schemas 1 and 2.
pub(crate) fn decode(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
    let fail = |reason: String| SnapshotError { reason };
    let Some(after_magic) = bytes.strip_prefix(&MAGIC) else {
        return serde_json::from_slice(bytes)
            .map_err(|e| fail(format!("its JSON does not parse: {e}")));
    };
    let (schema, body) = after_magic
        .split_first_chunk::<4>()
        .ok_or_else(|| fail("it ends inside its header".into()))?;
    let schema = u32::from_le_bytes(*schema);
    if schema != BINARY_SCHEMA {
        return Err(fail(format!(
            "it has binary schema {schema}, which this library does not read \
             (it reads {BINARY_SCHEMA}); it may come from a newer version"
        )));
    }
    let (body, trailing): (Body<'_>, &[u8]) =
        postcard::take_from_bytes(body).map_err(|e| fail(format!("it does not decode: {e}")))?;
    if !trailing.is_empty() {
        return Err(fail(format!("{} bytes follow its end", trailing.len())));
    }
    from_body(body).map_err(fail)
}

fn from_body(body: Body<'_>) -> Result<Snapshot, String> {
    let rest: Rest = serde_json::from_slice(body.rest)
        .map_err(|e| format!("its services, licenses and queue do not parse: {e}"))?;
    let members = body
        .members
        .iter()
        .map(|m| {
            Ok(crate::Member {
                id: UserId(m.id),
                email: Email::from_stored(m.email)?,
                status: match &m.last_active {
                    None => MemberStatus::Pending,
                    Some(t) => MemberStatus::Active {
                        last_active: t.get()?,
                    },
                },
                invited_at: m.invited_at.get()?,
                invitation_sent_at: m.invitation_sent_at.get()?,
                groups: Box::default(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let groups = body
        .groups
        .into_iter()
        .map(|g| {
            Ok(SnapshotGroup {
                id: GroupId(g.id),
                name: g.name,
                default: g.default,
                members: g.members.into_iter().map(UserId).collect(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Snapshot {
        schema: BINARY_SCHEMA,
        version: body.version,
        name: body.name.to_owned(),
        created_at: body.created_at.as_ref().map(Time::get).transpose()?,
        next_user: body.next_user,
        next_group: body.next_group,
        members,
        groups,
        next_service: rest.next_service,
        services: rest.services,
        licenses: rest.licenses,
        mail: rest.mail,
        invitation_expiry: rest.invitation_expiry,
        next_notification: rest.next_notification,
        outbox: rest.outbox,
    })
}
