//! User licenses: pools of seats per license kind, allocations to members,
//! and group license rules.
//!
//! The organization holds a pool of seats per [`LicenseKind`]. A member
//! (pending ones too) holds a license either directly (allocated by an
//! administrator) or through a group license rule. A direct allocation
//! replaces what the member inherits from groups. No pool is ever
//! over-allocated: a command that would need more seats than are free is
//! refused with [`DomainError::NoSeatsLeft`](crate::DomainError::NoSeatsLeft)
//! and changes nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{GroupId, LicenseKind, UserId};

/// Where a member's license comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LicenseSource {
    /// Allocated to the member directly.
    Direct,
    /// Through this group's license rule.
    Group(GroupId),
}

/// A group license rule: members of the group receive `kind`, at most
/// `quota` of them if set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LicenseRule {
    /// The license kind members receive.
    pub kind: LicenseKind,
    /// At most this many members receive it through the rule (at least 1).
    pub quota: Option<u32>,
}

/// Seats of one license kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SeatUsage {
    /// The license kind.
    pub kind: LicenseKind,
    /// Seats in the pool.
    pub seats: u32,
    /// Seats held.
    pub used: u32,
}

impl SeatUsage {
    /// Seats still free.
    pub fn free(&self) -> u32 {
        self.seats.saturating_sub(self.used)
    }
}

/// The license state of an organization.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Licenses {
    /// Seats per kind.
    pub(crate) pools: BTreeMap<LicenseKind, u32>,
    /// One rule per group at most.
    pub(crate) rules: BTreeMap<GroupId, LicenseRule>,
    /// What each member holds, and from where.
    pub(crate) holdings: BTreeMap<UserId, BTreeMap<LicenseKind, LicenseSource>>,
}
