//! Deciding an invite file against an organization: one batch of events for
//! the valid rows, and a report for every row.

use std::collections::hash_map::Entry;
use std::sync::Arc;

use super::fast_hash::{FxHashMap, FxHashSet};
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

/// Every distinct group cell of a file, resolved once. The reader shares
/// one allocation per distinct cell, so the cell's address identifies it
/// (no hashing of long cells).
struct GroupCells {
    index: FxHashMap<*const u8, usize>,
    resolved: Vec<Resolved>,
    /// How many rows still use each distinct cell: the last one takes the
    /// cell's error instead of copying it (distinct cells are the costly
    /// case of a hostile file).
    uses: Vec<usize>,
}

impl GroupCells {
    fn resolve(org: &Organization, file: &InviteFile) -> GroupCells {
        let mut cells = GroupCells {
            index: FxHashMap::with_capacity_and_hasher(file.len(), Default::default()),
            resolved: Vec::new(),
            uses: Vec::new(),
        };
        for row in file.rows() {
            let at = *cells.index.entry(row.groups.as_ptr()).or_insert_with(|| {
                cells.resolved.push(org.resolve_group_cell(row.groups));
                cells.uses.push(0);
                cells.resolved.len() - 1
            });
            if let Some(n) = cells.uses.get_mut(at) {
                *n = n.saturating_add(1);
            }
        }
        cells
    }

    /// The ids and names of a row's cell, and its error (moved out on the
    /// cell's last use).
    fn take(&mut self, cell: &str) -> (Arc<[GroupId]>, Arc<[GroupName]>, Option<RowError>) {
        let at = self
            .index
            .get(&cell.as_ptr())
            .copied()
            .unwrap_or(usize::MAX);
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
                (Arc::clone(&cell.ids), Arc::clone(&cell.names), error)
            }
            None => (Arc::from([]), Arc::from([]), None),
        }
    }
}

/// The state of one pass over the rows: addresses seen (with the line of
/// their first row) and the invitees so far.
struct Pass {
    first_seen: FxHashMap<Email, u64>,
    invitees: Vec<(Email, Arc<[GroupId]>)>,
    delimiter: char,
}

impl Pass {
    /// The row's address, if it is one, and everything wrong with the row,
    /// in the report's order: invalid email, invalid groups, unnamed cells,
    /// duplicate in file.
    fn check(
        &mut self,
        row: &CsvRow<'_>,
        cell_error: Option<RowError>,
    ) -> (Option<Email>, Vec<RowError>) {
        let mut errors = Vec::new();
        let email = match Email::parse(row.email) {
            Ok(email) => Some(email),
            Err(e) => {
                errors.push(RowError::InvalidEmail(e.kind().clone()));
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
        if let Some(email) = &email {
            match self.first_seen.entry(email.clone()) {
                Entry::Occupied(first) => errors.push(RowError::DuplicateInFile {
                    first_line: *first.get(),
                }),
                Entry::Vacant(slot) => {
                    slot.insert(row.line);
                }
            }
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
            let mut pass = Pass {
                first_seen: FxHashMap::with_capacity_and_hasher(file.len(), Default::default()),
                invitees: Vec::with_capacity(file.len()),
                delimiter: file.delimiter(),
            };
            let rows: Vec<RowReport> = file
                .rows()
                .map(|row| self.decide_row(row, &mut cells, &mut pass))
                .collect();
            let events = self
                .decide_invitations(pass.invitees.into_iter())?
                .into_iter()
                .map(|kind| Event::new(ctx.now, actor, kind))
                .collect();
            Ok(BulkInvite {
                events,
                report: ImportReport {
                    dry_run: false,
                    rows,
                    sign_in: Vec::new(),
                },
            })
        })
    }

    /// One row: failed (with every reason), skipped (already a member), or
    /// invited (added to the pass's invitees).
    fn decide_row(&self, row: CsvRow<'_>, cells: &mut GroupCells, pass: &mut Pass) -> RowReport {
        let (ids, names, cell_error) = cells.take(row.groups);
        let (email, errors) = pass.check(&row, cell_error);
        let cell = match &email {
            Some(email) => CellText::Parsed(email.clone()),
            None => CellText::Raw(Arc::from(row.email)),
        };
        let mut groups_not_changed = Vec::new();
        let outcome = match email {
            Some(email) if errors.is_empty() => match self.member(&email) {
                Some(member) => {
                    groups_not_changed = ids
                        .iter()
                        .zip(names.iter())
                        .filter(|(id, _)| !member.is_in(**id))
                        .map(|(_, name)| name.clone())
                        .collect();
                    RowOutcome::Skipped(if member.status().is_pending() {
                        SkipReason::AlreadyInvited
                    } else {
                        SkipReason::AlreadyMember
                    })
                }
                None => {
                    pass.invitees.push((email, Arc::clone(&ids)));
                    RowOutcome::Invited
                }
            },
            _ => RowOutcome::Failed(errors),
        };
        RowReport {
            line: row.line,
            email: cell,
            groups_cell: Arc::clone(row.groups_shared),
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
        // group matches it anyway); others ignoring case.
        let mut distinct: FxHashSet<UniCase<&str>> = FxHashSet::default();
        let mut too_long: FxHashSet<&str> = FxHashSet::default();
        let parts = cell.split(',').map(str::trim).filter(|p| !p.is_empty());
        for part in parts {
            let long = part.len() > MAX_GROUP_NAME_CHARS * 4
                || part.chars().nth(MAX_GROUP_NAME_CHARS).is_some();
            let new = if long {
                too_long.insert(part)
            } else {
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
            let group = (!long)
                .then(|| GroupName::parse(part).ok())
                .flatten()
                .and_then(|n| self.group(&n));
            match group {
                Some(g) => found.push(g),
                // A repeat was skipped above: each unknown name once.
                None => unknown.push(shown_name(part)),
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

/// An unknown name as the report shows it: as written, or, when it is
/// longer than any group name can be, cut to that length with an ellipsis
/// (the whole cell stays in [`RowReport::groups_cell`]).
fn shown_name(part: &str) -> String {
    match part.char_indices().nth(MAX_GROUP_NAME_CHARS) {
        None => part.to_owned(),
        Some((end, _)) => format!("{}…", part.get(..end).unwrap_or(part)),
    }
}
