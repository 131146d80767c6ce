//! Deciding an invite file against an organization: one batch of events for
//! the valid rows, and a report for every row.

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::hash_table::{self, HashTable};

use super::fast_hash::{FastBuild, FastHashSet};
use super::reader::{CsvRow, InviteFile};
use super::report::{CellText, ImportReport, RowError, RowOutcome, RowReport, SkipReason};
use crate::core::organization::invite_groups;
use crate::{
    Context, DomainError, Email, Event, GroupId, GroupName, MAX_GROUP_NAME_CHARS,
    MAX_INVITE_GROUPS, Organization,
};
use unicase::UniCase;

/// The decision on an invite file: the events to store (one `UserInvited`
/// per invited row, then the queued emails that follow,
/// to be stored together, all or nothing) and the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkInvite {
    events: Vec<Event>,
    report: ImportReport,
}

impl BulkInvite {
    /// The events to store atomically.
    pub fn events(&self) -> &[Event] {
        &self.events
    }
    /// What happens to every row once the events are stored.
    pub fn report(&self) -> &ImportReport {
        &self.report
    }
    /// The events and the report.
    pub fn into_parts(self) -> (Vec<Event>, ImportReport) {
        (self.events, self.report)
    }
    /// A dry run: the report of this decision, marked as such; the events
    /// are dropped.
    pub fn into_dry_run(self) -> ImportReport {
        ImportReport {
            dry_run: true,
            ..self.report
        }
    }
    /// The Error Summary once the caller has tried to store
    /// [`events`](BulkInvite::events): `Ok(())` when they were stored (or
    /// there were none), `Err(message)` when storing failed, and then every
    /// row that was to be invited is reported as `api_error` with the
    /// message (see [`ImportReport::mark_api_error`]). A store failure is
    /// not an error of the upload: the report says which rows to upload
    /// again.
    pub fn report_for(self, stored: Result<(), &str>) -> ImportReport {
        let mut report = self.report;
        if let Err(message) = stored {
            report.mark_api_error(message);
        }
        report
    }
}

/// A group cell resolved: known group ids and their canonical names, in id
/// order, and what is wrong with the cell, if anything.
#[derive(Default)]
struct Resolved {
    ids: Arc<[GroupId]>,
    names: Arc<[GroupName]>,
    error: Option<RowError>,
}

/// Every distinct group cell of a file, resolved once, by the index the
/// reader gave it (no hashing per row).
struct GroupCells {
    resolved: Vec<Resolved>,
    /// How many rows still use each distinct cell: the last one takes the
    /// cell's error instead of copying it (distinct cells are the costly
    /// case of a hostile file).
    uses: Vec<usize>,
}

impl GroupCells {
    fn resolve(org: &Organization, file: &InviteFile) -> GroupCells {
        let resolved: Vec<Resolved> = file
            .group_cells()
            .iter()
            .map(|cell| org.resolve_group_cell(cell))
            .collect();
        let mut uses = vec![0usize; resolved.len()];
        for row in file.rows() {
            if let Some(n) = uses.get_mut(row.group_cell as usize) {
                *n = n.saturating_add(1);
            }
        }
        GroupCells { resolved, uses }
    }

    /// A row's cell: its ids and names, and its error (moved out on the
    /// cell's last use).
    fn take(&mut self, cell: u32) -> (Option<&Resolved>, Option<RowError>) {
        let at = cell as usize;
        let last_use = self.uses.get_mut(at).is_some_and(|n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
        match self.resolved.get_mut(at) {
            Some(cell) => {
                let error = if last_use {
                    cell.error.take()
                } else {
                    cell.error.clone()
                };
                (Some(cell), error)
            }
            None => (None, None),
        }
    }

    /// The ids of a cell (none for an index the file does not have).
    fn ids(&self, cell: u32) -> Arc<[GroupId]> {
        self.resolved
            .get(cell as usize)
            .map_or_else(|| Arc::from([]), |c| Arc::clone(&c.ids))
    }
}

/// The state of one pass over the rows: the reports so far, the rows with
/// an address (by the address's canonical key, to find repeats), and the
/// invitees so far.
struct Pass {
    reports: Vec<RowReport>,
    /// Indexes into `reports` of rows whose address parsed, one per
    /// address (the first row that has it), hashed by canonical key. Four
    /// bytes a row: the key itself stays in the report.
    seen: HashTable<u32>,
    /// The address and group cell of each row to invite.
    invitees: Vec<(Email, u32)>,
    delimiter: char,
}

impl Pass {
    fn new(file: &InviteFile) -> Pass {
        Pass {
            reports: Vec::with_capacity(file.len()),
            seen: HashTable::with_capacity(file.len()),
            invitees: Vec::with_capacity(file.len()),
            delimiter: file.delimiter(),
        }
    }

    /// The line of the first row with `email`, or `None` when this is the
    /// first (which `at`, the index its report will have, then records).
    fn first_line(&mut self, email: &Email, at: usize) -> Option<u64> {
        let reports = &self.reports;
        let key_at = |i: &u32| match reports.get(*i as usize).map(|r| &r.email) {
            Some(CellText::Parsed(email)) => email.key(),
            _ => "",
        };
        let hash = |key: &str| FastBuild::default().hash_one(key);
        let key = email.key();
        match self
            .seen
            .entry(hash(key), |i| key_at(i) == key, |i| hash(key_at(i)))
        {
            hash_table::Entry::Occupied(first) => {
                reports.get(*first.get() as usize).map(|r| r.line)
            }
            hash_table::Entry::Vacant(slot) => {
                // Rows are at most `MAX_CSV_ROWS`, far below `u32::MAX`.
                slot.insert(u32::try_from(at).unwrap_or(u32::MAX));
                None
            }
        }
    }

    /// The row's address, if it is one, and everything wrong with the row,
    /// in the report's order: invalid email, invalid groups, unnamed cells,
    /// duplicate in file.
    fn check(
        &mut self,
        row: &CsvRow<'_>,
        cell_error: Option<RowError>,
    ) -> (Option<Email>, Vec<RowError>) {
        let mut errors = Vec::new();
        let email = match Email::parse_kind(row.email) {
            Ok(email) => Some(email),
            Err(kind) => {
                errors.push(RowError::InvalidEmail(kind));
                None
            }
        };
        errors.extend(cell_error);
        if !row.unnamed_cells.is_empty() {
            errors.push(RowError::UnnamedCells {
                cells: row.unnamed_cells.to_vec(),
                delimiter: self.delimiter,
            });
        }
        if let Some(email) = &email
            && let Some(first_line) = self.first_line(email, self.reports.len())
        {
            errors.push(RowError::DuplicateInFile { first_line });
        }
        (email, errors)
    }
}

impl Organization {
    /// Decides a bulk invitation from a file read by
    /// [`read_invite_csv`](crate::read_invite_csv).
    ///
    /// Each row is decided on its own: rows with an invalid address, unknown
    /// groups, more than [`MAX_INVITE_GROUPS`] groups, cells that no header
    /// column names, or an address seen on an earlier row fail; rows whose
    /// address is already a member are skipped (`already_member`, or
    /// `already_invited` while they are Pending), so uploading the same file
    /// again changes nothing, and the report lists the groups such a row
    /// names that the member is not in (they are not added); the others are
    /// invited with their own groups. The 20-address limit of
    /// [`Command::InviteUsers`](crate::Command::InviteUsers) does not apply;
    /// the file's own limit is [`MAX_CSV_ROWS`](crate::MAX_CSV_ROWS).
    ///
    /// Cost: linear in the file's size. Each distinct group cell is
    /// resolved once, every look-up is hashed, and a cell naming too many
    /// groups is only counted.
    ///
    /// Nothing changes until the caller applies the events (a dry run never
    /// does: see [`BulkInvite::into_dry_run`]).
    ///
    /// # Errors
    /// [`DomainError::Forbidden`] unless the actor is an active
    /// administrator (also when the organization does not exist): the same
    /// rule as single invites.
    /// [`DomainError::IdsExhausted`] when the organization cannot number
    /// another member (only a damaged store gets there).
    pub fn decide_bulk_invite(
        &self,
        file: &InviteFile,
        ctx: &Context,
    ) -> Result<BulkInvite, DomainError> {
        self.as_admin(ctx, |actor| {
            let mut cells = GroupCells::resolve(self, file);
            let mut pass = Pass::new(file);
            for row in file.rows() {
                let report = self.decide_row(file, row, &mut cells, &mut pass);
                pass.reports.push(report);
            }
            let Pass {
                reports, invitees, ..
            } = pass;
            let invitees = invitees
                .into_iter()
                .map(|(email, cell)| (email, cells.ids(cell)));
            let events =
                self.decide_invitations(invitees, |kind| Event::new(ctx.now, actor, kind))?;
            Ok(BulkInvite {
                events,
                report: ImportReport {
                    dry_run: false,
                    rows: reports,
                    sign_in: Vec::new(),
                },
            })
        })
    }

    /// One row: failed (with every reason), skipped (already a member), or
    /// invited (added to the pass's invitees).
    fn decide_row(
        &self,
        file: &InviteFile,
        row: CsvRow<'_>,
        cells: &mut GroupCells,
        pass: &mut Pass,
    ) -> RowReport {
        let (resolved, cell_error) = cells.take(row.group_cell);
        let (email, errors) = pass.check(&row, cell_error);
        let names = resolved.map_or_else(|| Arc::from([]), |c| Arc::clone(&c.names));
        let mut groups_not_changed = Vec::new();
        let (cell, outcome) = match email {
            Some(email) if errors.is_empty() => match self.member(&email) {
                Some(member) => {
                    if let Some(resolved) = resolved {
                        groups_not_changed = resolved
                            .ids
                            .iter()
                            .zip(resolved.names.iter())
                            .filter(|(id, _)| !member.is_in(**id))
                            .map(|(_, name)| name.clone())
                            .collect();
                    }
                    let reason = if member.status().is_pending() {
                        SkipReason::AlreadyInvited
                    } else {
                        SkipReason::AlreadyMember
                    };
                    (CellText::Parsed(email), RowOutcome::Skipped(reason))
                }
                None => {
                    pass.invitees.push((email.clone(), row.group_cell));
                    (CellText::Parsed(email), RowOutcome::Invited)
                }
            },
            Some(email) => (CellText::Parsed(email), RowOutcome::Failed(errors)),
            None => {
                let cell = row
                    .long_email
                    .map_or_else(|| Arc::from(row.email), Arc::clone);
                (CellText::Raw(cell), RowOutcome::Failed(errors))
            }
        };
        RowReport {
            line: row.line,
            email: cell,
            groups_cell: file
                .group_cells()
                .get(row.group_cell as usize)
                .map_or_else(|| Arc::from(""), Arc::clone),
            groups: names,
            groups_not_changed,
            outcome,
        }
    }

    /// Splits a group cell on commas and resolves each name, ignoring case;
    /// `Everyone` is dropped, repeats count once, known groups come back in
    /// id order (as for single invites). A cell naming more than
    /// [`MAX_INVITE_GROUPS`] distinct groups (repeats, ignoring case, count
    /// once) is refused as soon as the name past the limit is seen, so a
    /// huge cell costs little.
    fn resolve_group_cell(&self, cell: &str) -> Resolved {
        let mut found = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        // Names repeated (ignoring case) count once, as in an invitation.
        // A name longer than any group name can be is compared as written
        // (hashing it ignoring case costs a step per character, and no
        // group matches it anyway); others ignoring case. Each set gets
        // room for the limit on its first name (no rehashing as it grows).
        let mut distinct: FastHashSet<UniCase<&str>> = FastHashSet::default();
        let mut too_long: FastHashSet<&str> = FastHashSet::default();
        let parts = split_commas(cell).map(str::trim).filter(|p| !p.is_empty());
        for part in parts {
            let cut = past_group_name(part);
            let new = if cut.is_some() {
                if too_long.capacity() == 0 {
                    too_long.reserve(MAX_INVITE_GROUPS + 1);
                }
                too_long.insert(part)
            } else {
                if distinct.capacity() == 0 {
                    distinct.reserve(MAX_INVITE_GROUPS + 1);
                }
                distinct.insert(UniCase::new(part))
            };
            if !new {
                continue;
            }
            if distinct.len().saturating_add(too_long.len()) > MAX_INVITE_GROUPS {
                return Resolved {
                    error: Some(RowError::TooManyGroups {
                        max: MAX_INVITE_GROUPS,
                    }),
                    ..Resolved::default()
                };
            }
            // Too long for any group name: unknown, without checking it.
            let group = cut
                .is_none()
                .then(|| GroupName::parse(part).ok())
                .flatten()
                .and_then(|n| self.group(&n));
            match group {
                Some(g) => found.push(g),
                // A repeat was skipped above: each unknown name once.
                None => unknown.push(shown_name(part, cut)),
            }
        }
        let ids = invite_groups(found);
        let names: Vec<GroupName> = ids
            .iter()
            .filter_map(|id| self.group_by_id(*id).map(|g| g.name().clone()))
            .collect();
        Resolved {
            ids: ids.into(),
            names: names.into(),
            error: (!unknown.is_empty()).then_some(RowError::InvalidGroups { unknown }),
        }
    }
}

/// The parts of a group cell between commas (found with `memchr`: a
/// hostile cell holds megabytes).
fn split_commas(cell: &str) -> impl Iterator<Item = &str> {
    let mut start = 0;
    memchr::memchr_iter(b',', cell.as_bytes())
        .chain(std::iter::once(cell.len()))
        .map(move |end| {
            // Commas are ASCII: both ends are character boundaries.
            let part = cell.get(start..end).unwrap_or_default();
            start = end.saturating_add(1);
            part
        })
}

/// Where a name longer than any group name can be
/// ([`MAX_GROUP_NAME_CHARS`] characters) is cut, or `None` when it is not
/// that long.
fn past_group_name(part: &str) -> Option<usize> {
    if part.len() <= MAX_GROUP_NAME_CHARS {
        return None;
    }
    // The usual long name is ASCII at least that far: one byte a character.
    if part
        .as_bytes()
        .get(..=MAX_GROUP_NAME_CHARS)
        .is_some_and(<[u8]>::is_ascii)
    {
        return Some(MAX_GROUP_NAME_CHARS);
    }
    part.char_indices()
        .nth(MAX_GROUP_NAME_CHARS)
        .map(|(end, _)| end)
}

/// An unknown name as the report shows it: as written, or, when it is
/// longer than any group name can be (`cut` says where), cut to that
/// length with an ellipsis (the whole cell stays in
/// [`RowReport::groups_cell`]).
fn shown_name(part: &str, cut: Option<usize>) -> String {
    match cut.and_then(|end| part.get(..end)) {
        None => part.to_owned(),
        Some(head) => {
            let mut shown = String::with_capacity(head.len() + '…'.len_utf8());
            shown.push_str(head);
            shown.push('…');
            shown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// The quick helpers of a group cell are the plain ones: splitting
        /// at commas, and where a name past the group-name length is cut.
        #[test]
        fn cell_helpers_agree_with_the_plain_ones(
            cell in "[a,é ]{0,20}",
            name in "[aé]{0,70}[ab]{0,70}",
        ) {
            let quick: Vec<&str> = split_commas(&cell).collect();
            let plain: Vec<&str> = cell.split(',').collect();
            proptest::prop_assert_eq!(quick, plain);
            let cut = name.char_indices().nth(MAX_GROUP_NAME_CHARS).map(|(end, _)| end);
            proptest::prop_assert_eq!(past_group_name(&name), cut);
        }
    }
}
