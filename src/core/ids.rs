//! Identifiers allocated by an organization.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Identifies a member within one organization.
///
/// Allocated from a counter held in the organization's state, so replaying
/// the same events always yields the same ids. A user who is removed and
/// invited again gets a new id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(pub(crate) u64);

impl UserId {
    /// The id with this raw number, as a store reads it back. Ids are
    /// allocated by the organization; a host builds one only to hand back
    /// what it stored (a store implementation, a test).
    pub const fn new(raw: u64) -> UserId {
        UserId(raw)
    }
    /// The raw number, for storage and logs.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "user #{}", self.0)
    }
}

/// Identifies a group within one organization.
///
/// The six default groups have the fixed ids 1 to 6 (see
/// [`DefaultGroup::id`](crate::DefaultGroup::id)); custom groups are
/// numbered from 7 by a counter held in the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GroupId(pub(crate) u32);

impl GroupId {
    /// The id with this raw number, as a store reads it back. Ids are
    /// allocated by the organization; a host builds one only to hand back
    /// what it stored (a store implementation, a test).
    pub const fn new(raw: u32) -> GroupId {
        GroupId(raw)
    }
    /// The raw number, for storage and logs.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for GroupId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "group #{}", self.0)
    }
}

/// Identifies a service within one organization (allocated from a counter
/// in the state, from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ServiceId(pub(crate) u32);

impl ServiceId {
    /// The id with this raw number, as a store reads it back. Ids are
    /// allocated by the organization; a host builds one only to hand back
    /// what it stored (a store implementation, a test).
    pub const fn new(raw: u32) -> ServiceId {
        ServiceId(raw)
    }
    /// The raw number, for storage and logs.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// Identifies one invitation email to deliver (allocated from a counter in
/// the state, from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NotificationId(pub(crate) u64);

impl NotificationId {
    /// The id with this raw number, as a store reads it back. Ids are
    /// allocated by the organization; a host builds one only to hand back
    /// what it stored (a store implementation, a test).
    pub const fn new(raw: u64) -> NotificationId {
        NotificationId(raw)
    }
    /// The raw number, for storage and logs.
    pub fn get(self) -> u64 {
        self.0
    }
}
