//! Deciding an invite file against an organization: one batch of events for
//! the valid rows, and a report for every row.

use std::collections::hash_map::Entry;
use std::sync::Arc;

use super::fast_hash::FxHashMap;
use super::reader::InviteFile;
use super::report::{CellText, ImportReport, RowError, RowOutcome, RowReport, SkipReason};
use crate::{
    Context, DomainError, Email, Event, EventKind, GroupId, GroupName, MAX_GROUP_NAME_CHARS,
    MAX_INVITE_GROUPS, Organization, UserId,
};

/// The decision on an invite file: the events to store (one `UserInvited`
/// per invited row, to be stored together, all or nothing) and the report.
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
}

/// A group cell resolved: known group ids and their canonical names, in id
/// order, and what is wrong with the cell, if anything.
#[derive(Default)]
struct Resolved {
    ids: Arc<[GroupId]>,
    names: Arc<[GroupName]>,
    error: Option<RowError>,
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
    /// [`DomainError::NotCreated`], or [`DomainError::Forbidden`] unless the
    /// actor is an active administrator: the same rule as single invites.
    /// [`DomainError::NoSeatsLeft`] when the groups' license rules need more
    /// seats than are free: the file is refused whole, nothing half-happens.
    /// [`DomainError::IdsExhausted`] when the organization cannot number
    /// another member (only a damaged store gets there).
    pub fn decide_bulk_invite(
        &self,
        file: &InviteFile,
        ctx: &Context,
    ) -> Result<BulkInvite, DomainError> {
        if !self.exists() {
            return Err(DomainError::NotCreated);
        }
        let actor = self.require_admin(ctx)?;
        // Rows often share a group cell: resolve each distinct cell once.
        // The reader shares one allocation per distinct cell, so the cell's
        // address identifies it (no hashing of long cells).
        let mut cell_index: FxHashMap<*const u8, usize> =
            FxHashMap::with_capacity_and_hasher(file.len(), Default::default());
        let mut resolved: Vec<Resolved> = Vec::new();
        // How many rows still use each distinct cell: the last one takes
        // the cell's error instead of copying it (distinct cells are the
        // costly case of a hostile file).
        let mut uses: Vec<usize> = Vec::new();
        for (_, _, groups_cell, _) in file.rows_shared() {
            let at = *cell_index.entry(groups_cell.as_ptr()).or_insert_with(|| {
                resolved.push(self.resolve_group_cell(groups_cell));
                uses.push(0);
                resolved.len() - 1
            });
            if let Some(n) = uses.get_mut(at) {
                *n += 1;
            }
        }
        let mut first_seen: FxHashMap<Email, u64> =
            FxHashMap::with_capacity_and_hasher(file.len(), Default::default());
        // The next free id; `None` once the id space is used up (only a
        // damaged store gets there), which refuses the file below.
        let mut next_user = self.next_free_user();
        let mut events = Vec::new();
        let mut rows = Vec::with_capacity(file.len());
        events.reserve(file.len());

        for (line, email_cell, groups_cell, unnamed) in file.rows_shared() {
            let mut errors = Vec::new();
            let email = match Email::parse(email_cell) {
                Ok(email) => Some(email),
                Err(e) => {
                    errors.push(RowError::InvalidEmail(e.kind().clone()));
                    None
                }
            };
            let at = cell_index
                .get(&groups_cell.as_ptr())
                .copied()
                .unwrap_or(usize::MAX);
            let last_use = uses.get_mut(at).is_some_and(|n| {
                *n = n.saturating_sub(1);
                *n == 0
            });
            let empty = Resolved::default();
            let error = match resolved.get_mut(at) {
                Some(cell) if last_use => cell.error.take(),
                Some(cell) => cell.error.clone(),
                None => None,
            };
            errors.extend(error);
            let group_cell = resolved.get(at).unwrap_or(&empty);
            if !unnamed.is_empty() {
                errors.push(RowError::UnnamedCells {
                    cells: unnamed.to_vec(),
                    delimiter: file.delimiter(),
                });
            }
            if let Some(email) = &email {
                match first_seen.entry(email.clone()) {
                    Entry::Occupied(first) => errors.push(RowError::DuplicateInFile {
                        first_line: *first.get(),
                    }),
                    Entry::Vacant(slot) => {
                        slot.insert(line);
                    }
                }
            }
            let cell = match &email {
                Some(email) => CellText::Parsed(email.clone()),
                None => CellText::Raw(Arc::from(email_cell)),
            };
            let mut groups_not_changed = Vec::new();
            let outcome = match email {
                Some(email) if errors.is_empty() => match self.member(&email) {
                    Some(member) => {
                        groups_not_changed = group_cell
                            .ids
                            .iter()
                            .zip(group_cell.names.iter())
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
                        let user = next_user
                            .filter(|u| *u < u64::MAX)
                            .ok_or(DomainError::IdsExhausted { what: "user" })?;
                        next_user = user.checked_add(1);
                        events.push(Event::new(
                            ctx.now,
                            actor,
                            EventKind::UserInvited {
                                user: UserId(user),
                                email,
                                groups: group_cell.ids.clone(),
                            },
                        ));
                        RowOutcome::Invited
                    }
                },
                _ => RowOutcome::Failed(errors),
            };
            rows.push(RowReport {
                line,
                email: cell,
                groups_cell: Arc::clone(groups_cell),
                groups: Arc::clone(&group_cell.names),
                groups_not_changed,
                outcome,
            });
        }
        let follow_up = self.after_invitations(events.iter().map(|e| &e.kind))?;
        events.extend(
            follow_up
                .into_iter()
                .map(|kind| Event::new(ctx.now, actor, kind)),
        );
        Ok(BulkInvite {
            events,
            report: ImportReport {
                dry_run: false,
                rows,
            },
        })
    }

    /// Splits a group cell on commas and resolves each name, ignoring case;
    /// `Everyone` is dropped, repeats count once, known groups come back in
    /// id order (as for single invites). A cell naming more than
    /// [`MAX_INVITE_GROUPS`] groups is refused as soon as the name past
    /// the limit is seen, so a huge cell costs little.
    fn resolve_group_cell(&self, cell: &str) -> Resolved {
        let mut found = Vec::new();
        let mut unknown: Vec<String> = Vec::new();
        // At most MAX_INVITE_GROUPS names: a list beats a hash set.
        let mut seen_unknown: Vec<&str> = Vec::new();
        let parts = cell.split(',').map(str::trim).filter(|p| !p.is_empty());
        for (n, part) in parts.enumerate() {
            if n == MAX_INVITE_GROUPS {
                return Resolved {
                    error: Some(RowError::TooManyGroups {
                        max: MAX_INVITE_GROUPS,
                    }),
                    ..Resolved::default()
                };
            }
            let group = crate::core::names::check(part)
                .ok()
                .and_then(|()| GroupName::parse(part).ok())
                .and_then(|n| self.group(&n));
            match group {
                Some(g) if g.is_everyone() => {}
                Some(g) => found.push((g.id(), g.name().clone())),
                None => {
                    if !seen_unknown.contains(&part) {
                        seen_unknown.push(part);
                        unknown.push(shown_name(part));
                    }
                }
            }
        }
        found.sort_by_key(|(id, _)| *id);
        found.dedup_by_key(|(id, _)| *id);
        let (ids, names): (Vec<GroupId>, Vec<GroupName>) = found.into_iter().unzip();
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
