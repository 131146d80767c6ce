//! The users page: list members with filters, sorting and pagination.

use std::iter::Peekable;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::core::organization::index::{ActivityKey, EmailKey, Keys, MemberIndex, ScopeIndex};
use crate::{Email, GroupName, Member, MemberStatus, Organization, UserId};

/// The page size when none is set.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// How many members one page may examine when a filter is not served by an
/// index (see [`MemberQuery`]).
pub const DEFAULT_SCAN_LIMIT: usize = 10_000;

/// Which members to list, in what order, from where.
///
/// Cost: a page starts in O(log n) and reads O(page) members when it filters
/// by at most one of status or group, because every status and every group
/// keeps its own sorted indexes. Combining status with group, or filtering
/// by email substring, reads the narrower index and skips non-matching
/// members; to keep every page bounded, at most `scan_limit` members are
/// examined per page. A page may then hold fewer rows than `limit` while
/// still having a [`next`](MemberPage::next) cursor: fetch it to go on.
///
/// The indexes are not kept by commands (a command costs the same whether
/// or not anyone reads the users page). The first page an organization
/// serves builds them, in O(n log n): about 0.2 s and 55 MiB at a million
/// members (`cargo bench --bench org_scale`). Each later page first folds
/// in the members changed since the page before, O(log n) each. After more
/// unread changes than a quarter of the members, the indexes are dropped
/// and the next page builds them again. Pages served at once wait for one
/// another while they do this.
///
/// ```
/// use org_accounts::{MemberQuery, SortBy, SortOrder, StatusFilter};
///
/// let query = MemberQuery::new()
///     .status(StatusFilter::Pending)
///     .email_contains("example.com")
///     .sort(SortBy::Email, SortOrder::Ascending)
///     .limit(20);
/// # let _ = query;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberQuery {
    status: Option<StatusFilter>,
    group: Option<GroupName>,
    email_contains: Option<String>,
    sort: SortBy,
    order: SortOrder,
    limit: usize,
    scan_limit: usize,
    after: Option<Cursor>,
}

impl Default for MemberQuery {
    fn default() -> Self {
        MemberQuery::new()
    }
}

impl MemberQuery {
    /// Everyone, by email ascending, [`DEFAULT_PAGE_SIZE`] per page.
    pub fn new() -> MemberQuery {
        MemberQuery {
            status: None,
            group: None,
            email_contains: None,
            sort: SortBy::Email,
            order: SortOrder::Ascending,
            limit: DEFAULT_PAGE_SIZE,
            scan_limit: DEFAULT_SCAN_LIMIT,
            after: None,
        }
    }
    /// Only pending or only active members.
    pub fn status(mut self, status: StatusFilter) -> Self {
        self.status = Some(status);
        self
    }
    /// Only explicit members of this group (`Everyone`: every member). An
    /// unknown group matches nobody.
    pub fn in_group(mut self, group: GroupName) -> Self {
        self.group = Some(group);
        self
    }
    /// Only addresses containing this text, ignoring case (simple case
    /// folding, as [`Email`] compares) and surrounding whitespace, in the
    /// spelling typed or in the canonical form ([`Email::canonical_key`],
    /// so `xn--bcher` finds `user@bücher.de`). An empty text matches
    /// everyone.
    pub fn email_contains(mut self, text: &str) -> Self {
        let needle = crate::core::email::fold_case(text.trim());
        self.email_contains = (!needle.is_empty()).then_some(needle);
        self
    }
    /// The order of the listing.
    pub fn sort(mut self, by: SortBy, order: SortOrder) -> Self {
        self.sort = by;
        self.order = order;
        self
    }
    /// Rows per page (at least 1).
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit.max(1);
        self
    }
    /// Members examined per page at most (at least `limit`).
    pub fn scan_limit(mut self, scan_limit: usize) -> Self {
        self.scan_limit = scan_limit.max(1);
        self
    }
    /// Continue after the page that returned `cursor`. The cursor's sort
    /// order wins over [`sort`](MemberQuery::sort), so a cursor always
    /// continues the listing it came from.
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.after = Some(cursor);
        self
    }
}

/// Filter by invitation status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusFilter {
    /// Invited, not yet accepted.
    Pending,
    /// Accepted.
    Active,
}

/// The column to sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortBy {
    /// Email address, by [`Email`]'s canonical key (case, Unicode
    /// normalization and the IDNA form of the domain do not matter);
    /// members sharing an address (see
    /// [`Organization::duplicate_addresses`]) in invitation order.
    Email,
    /// Last active. Ascending puts pending members first, then the least
    /// recently active; descending puts the most recently active first and
    /// pending members last. Ties are broken by invitation order.
    LastActive,
}

/// Ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    /// Smallest first.
    Ascending,
    /// Largest first.
    Descending,
}

/// Where a page ended. Serializable, so a web front end can hand it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    sort: SortBy,
    order: SortOrder,
    key: CursorKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum CursorKey {
    /// After every member with this address (written by earlier versions,
    /// which listed one member per address; still read).
    Email(#[serde(deserialize_with = "crate::core::email::deserialize_stored")] Email),
    /// After this member, in address order: several members may share an
    /// address (see [`Organization::duplicate_addresses`]), so the id breaks
    /// the tie.
    EmailUser {
        #[serde(deserialize_with = "crate::core::email::deserialize_stored")]
        email: Email,
        user: UserId,
    },
    Activity(Option<Timestamp>, UserId),
}

/// One page of members.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MemberPage<'a> {
    /// The rows, in the requested order.
    pub rows: Vec<MemberRow<'a>>,
    /// Where to continue, or `None` after the last page.
    pub next: Option<Cursor>,
}

/// One row of the users page.
#[derive(Debug, Clone)]
pub struct MemberRow<'a> {
    member: &'a Member,
    groups: Vec<&'a GroupName>,
}

impl<'a> MemberRow<'a> {
    /// The member.
    pub fn member(&self) -> &'a Member {
        self.member
    }
    /// The address.
    pub fn email(&self) -> &'a Email {
        &self.member.email
    }
    /// Pending or active.
    pub fn status(&self) -> MemberStatus {
        self.member.status
    }
    /// Last active, or `None` while pending.
    pub fn last_active(&self) -> Option<Timestamp> {
        self.member.status.last_active()
    }
    /// Canonical names of the member's groups, default groups first
    /// (`Everyone` is never listed).
    pub fn groups(&self) -> &[&'a GroupName] {
        &self.groups
    }
}

type KeyedIds<'a> = Box<dyn Iterator<Item = (CursorKey, UserId)> + 'a>;

impl Organization {
    /// One page of the users page. See [`MemberQuery`] for the cost.
    pub fn members_page(&self, query: &MemberQuery) -> MemberPage<'_> {
        self.members_state()
            .with_index(|index| self.members_page_from(index, query))
    }

    /// [`members_page`](Organization::members_page) over the indexes.
    fn members_page_from<'a>(&'a self, index: &MemberIndex, query: &MemberQuery) -> MemberPage<'a> {
        let (sort, order) = query
            .after
            .as_ref()
            .map_or((query.sort, query.order), |c| (c.sort, c.order));
        let empty = ScopeIndex::default();
        let mut status_filter = query.status;
        let scopes = match &query.group {
            Some(name) => match self.group(name) {
                Some(g) if g.is_everyone() => status_scopes(index, &mut status_filter),
                Some(g) => Scopes::One(index.groups.get(&g.id).unwrap_or(&empty)),
                None => Scopes::One(&empty),
            },
            None => status_scopes(index, &mut status_filter),
        };
        let ids = keyed_ids(scopes, sort, order, query.after.as_ref().map(|c| &c.key));
        let mut rows = Vec::new();
        let mut last = None;
        let mut more = false;
        let scan_limit = query.scan_limit.max(query.limit);
        for (scanned, (key, id)) in ids.enumerate() {
            if rows.len() == query.limit || scanned == scan_limit {
                more = true;
                break;
            }
            last = Some(key);
            let Some(member) = self.member_by_id(id) else {
                continue;
            };
            let status_ok = match status_filter {
                None => true,
                Some(StatusFilter::Pending) => member.status.is_pending(),
                Some(StatusFilter::Active) => !member.status.is_pending(),
            };
            let email_ok = query
                .email_contains
                .as_deref()
                .is_none_or(|n| member.email.contains_folded(n));
            if status_ok && email_ok {
                rows.push(self.member_row(member));
            }
        }
        MemberPage {
            rows,
            next: if more {
                last.map(|key| Cursor { sort, order, key })
            } else {
                None
            },
        }
    }

    /// The row for one member.
    pub fn member_row<'a>(&'a self, member: &'a Member) -> MemberRow<'a> {
        MemberRow {
            member,
            groups: member
                .groups
                .iter()
                .filter_map(|g| self.group_by_id(*g).map(|g| &g.name))
                .collect(),
        }
    }
}

/// The indexes serving a status filter (both statuses' without one);
/// consumes the filter.
fn status_scopes<'a>(index: &'a MemberIndex, status: &mut Option<StatusFilter>) -> Scopes<'a> {
    match status.take() {
        Some(StatusFilter::Pending) => Scopes::One(&index.pending),
        Some(StatusFilter::Active) => Scopes::One(&index.active),
        None => Scopes::Two(&index.pending, &index.active),
    }
}

/// The indexes a listing reads: one scope, or two whose members it merges
/// (every member is pending or active, so the unfiltered listing merges
/// those two).
#[derive(Clone, Copy)]
enum Scopes<'a> {
    One(&'a ScopeIndex),
    Two(&'a ScopeIndex, &'a ScopeIndex),
}

fn keyed_ids<'a>(
    scopes: Scopes<'a>,
    sort: SortBy,
    order: SortOrder,
    after: Option<&CursorKey>,
) -> KeyedIds<'a> {
    let descending = order == SortOrder::Descending;
    match sort {
        SortBy::Email => {
            let bound = match after {
                Some(CursorKey::EmailUser { email, user }) => Some((email.clone(), *user)),
                // An old cursor: past every member with the address, in
                // either direction.
                Some(CursorKey::Email(email)) => Some((
                    email.clone(),
                    if descending {
                        UserId(0)
                    } else {
                        UserId(u64::MAX)
                    },
                )),
                _ => None,
            };
            let map = |key: &EmailKey| {
                (
                    CursorKey::EmailUser {
                        email: key.email.clone(),
                        user: key.id,
                    },
                    key.id,
                )
            };
            match scopes {
                Scopes::One(scope) => Box::new(scope.emails(bound, descending).map(map)),
                Scopes::Two(a, b) => Box::new(
                    merge(
                        a.emails(bound.clone(), descending),
                        b.emails(bound, descending),
                        descending,
                    )
                    .map(map),
                ),
            }
        }
        SortBy::LastActive => {
            let bound = match after {
                Some(CursorKey::Activity(t, id)) => Some((*t, *id)),
                _ => None,
            };
            let map = |k: ActivityKey| (CursorKey::Activity(k.0, k.1), k.1);
            match scopes {
                Scopes::One(scope) => Box::new(scope.activity(bound, descending).map(map)),
                Scopes::Two(a, b) => Box::new(
                    merge(
                        a.activity(bound, descending),
                        b.activity(bound, descending),
                        descending,
                    )
                    .map(map),
                ),
            }
        }
    }
}

/// Two sorted sequences of distinct keys as one, ascending or descending.
pub(crate) fn merge<'a, K: Ord + 'a>(
    a: Keys<'a, K>,
    b: Keys<'a, K>,
    descending: bool,
) -> Merge<'a, K> {
    Merge {
        a: a.peekable(),
        b: b.peekable(),
        descending,
    }
}

/// See [`merge`].
pub(crate) struct Merge<'a, K> {
    a: Peekable<Keys<'a, K>>,
    b: Peekable<Keys<'a, K>>,
    descending: bool,
}

impl<K: Ord> Iterator for Merge<'_, K> {
    type Item = K;

    fn next(&mut self) -> Option<K> {
        let take_a = match (self.a.peek(), self.b.peek()) {
            (Some(x), Some(y)) => (x <= y) != self.descending,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if take_a { self.a.next() } else { self.b.next() }
    }
}
