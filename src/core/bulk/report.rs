//! The Error Summary: every row's outcome, as a table, as JSON, and as a
//! CSV of failed rows to fix and upload again.

use std::fmt;
use std::sync::Arc;

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use super::cells::escape_cell;
use crate::{Email, EmailErrorKind, GroupName, LicenseKind};

/// What happened to every row of an invite file: the Error Summary, in
/// three forms — a table for people ([`Display`](fmt::Display)), JSON for
/// scripts ([`Serialize`]), and a CSV of the failed rows to fix and upload
/// again ([`ImportReport::failed_rows_csv`]).
///
/// ```
/// use org_accounts::{Command, Context, CsvOptions, Email, Organization, read_invite_csv};
///
/// let now: jiff::Timestamp = "2026-11-28T09:00:00Z".parse()?;
/// let admin = Context::new(Email::parse("ada@example.com")?, now);
/// let mut org = Organization::new();
/// org.execute(&Command::CreateOrganization { name: "Example".into() }, &admin)?;
///
/// let file = read_invite_csv(
///     b"email,group membership\nbob@example.com,Administrators\nnot-an-address,\ncy@example.com,Nope\n",
///     &CsvOptions::default(),
/// )?;
/// let report = org.decide_bulk_invite(&file, &admin)?.into_dry_run();
///
/// let table = report.to_string();
/// assert!(table.starts_with("3 rows: 1 would be invited, 0 skipped, 2 failed."));
/// assert!(table.contains("Error Summary"));
///
/// let json = serde_json::to_value(&report)?;
/// assert_eq!(json["failed"][1]["reasons"], serde_json::json!(["invalid_groups"]));
///
/// // The failed rows, safe to open in a spreadsheet and to upload again.
/// let again = read_invite_csv(&report.failed_rows_csv(), &CsvOptions::default())?;
/// assert_eq!(again.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub(crate) dry_run: bool,
    pub(crate) rows: Vec<RowReport>,
    /// Per row of a dry run, what the person would lease at sign-in if
    /// seats stay as they are (filled after the decision, see
    /// `Organization::with_sign_in_licenses`; empty otherwise, so a row
    /// costs nothing more).
    pub(crate) sign_in: Vec<Box<[LicenseKind]>>,
}

/// One data row's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowReport {
    pub(crate) line: u64,
    pub(crate) email: CellText,
    pub(crate) groups_cell: Arc<str>,
    pub(crate) groups: Arc<[GroupName]>,
    /// For a skipped row: the groups it names that the existing member is
    /// not in (they were not added).
    pub(crate) groups_not_changed: Vec<GroupName>,
    pub(crate) outcome: RowOutcome,
}

/// A row's email cell: the parsed address (whose text is the cell as
/// written) shares its allocation with the event; only cells that are not
/// addresses keep text of their own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CellText {
    Parsed(Email),
    Raw(Arc<str>),
}

impl CellText {
    fn as_str(&self) -> &str {
        match self {
            CellText::Parsed(email) => email.as_str(),
            CellText::Raw(text) => text,
        }
    }
}

/// What happened to a row.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RowOutcome {
    /// Invited (or, in a dry run, would be).
    Invited,
    /// Not invited, and nothing to fix.
    Skipped(SkipReason),
    /// Not invited; the reasons, in a fixed order: invalid email, invalid
    /// groups, duplicate in file, API error.
    Failed(Vec<RowError>),
}

/// Why a row was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// The address is already an active member, so uploading the same file
    /// twice changes nothing.
    AlreadyMember,
    /// The address was already invited and is still Pending: nothing is
    /// sent again (resend the invitation to do that).
    AlreadyInvited,
}

impl SkipReason {
    /// A stable snake_case code: `already_member` or `already_invited`.
    pub fn code(self) -> &'static str {
        match self {
            SkipReason::AlreadyMember => "already_member",
            SkipReason::AlreadyInvited => "already_invited",
        }
    }

    /// The reason in words, for the Error Summary.
    pub fn message(self) -> &'static str {
        match self {
            SkipReason::AlreadyMember => "Already a member",
            SkipReason::AlreadyInvited => "Already invited, still Pending",
        }
    }
}

/// Why a row failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RowError {
    /// The email cell is not a valid address.
    InvalidEmail(EmailErrorKind),
    /// Some group names match no group of the organization.
    InvalidGroups {
        /// The unknown names, as written, each once; a name longer than
        /// any group name can be ([`MAX_GROUP_NAME_CHARS`](crate::MAX_GROUP_NAME_CHARS))
        /// is cut to that length with an ellipsis (the whole cell is in
        /// [`RowReport::groups_cell`]).
        unknown: Vec<String>,
    },
    /// The group cell names more than
    /// [`MAX_INVITE_GROUPS`](crate::MAX_INVITE_GROUPS) groups, the limit of
    /// an invitation; none of them is looked up (nor all counted: a cell can
    /// hold hundreds of thousands).
    TooManyGroups {
        /// The most a row may name.
        max: usize,
    },
    /// The row has non-empty cells that no header cell names. The usual
    /// cause is a group list written with the file's delimiter (in a `;`
    /// file, `ann@x.com;Finance;Sales`); the cells are reported rather
    /// than dropped without a word, and written back after the error cell
    /// in [`ImportReport::failed_rows_csv`], so the row fails the same way
    /// until it is fixed.
    UnnamedCells {
        /// The cells, trimmed, in column order: at most the row's first
        /// 100 (one is enough to fail the row, and a row of millions of
        /// cells must cost no more than any file of its size; with 100 the
        /// row may have more, which are not read). The message shows the
        /// first 3, each cut to 64 characters, and how many more.
        cells: Vec<String>,
        /// The file's delimiter.
        delimiter: char,
    },
    /// The same address is on an earlier row.
    DuplicateInFile {
        /// The line of its first appearance.
        first_line: u64,
    },
    /// Storing the invitations failed. Depending on where it failed they
    /// may or may not have been stored; uploading the file again is safe
    /// (rows already stored are then skipped).
    ApiError {
        /// What went wrong.
        message: String,
    },
}

impl RowError {
    /// A stable snake_case code: `invalid_email`, `invalid_groups`,
    /// `too_many_groups`, `unnamed_cells`, `duplicate_in_file` or
    /// `api_error`.
    pub fn code(&self) -> &'static str {
        match self {
            RowError::InvalidEmail(_) => "invalid_email",
            RowError::InvalidGroups { .. } => "invalid_groups",
            RowError::TooManyGroups { .. } => "too_many_groups",
            RowError::UnnamedCells { .. } => "unnamed_cells",
            RowError::DuplicateInFile { .. } => "duplicate_in_file",
            RowError::ApiError { .. } => "api_error",
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowError::InvalidEmail(kind) => write!(f, "Invalid email format: {kind}"),
            RowError::InvalidGroups { unknown } => {
                let names: Vec<String> = unknown.iter().map(|n| format!("{n:?}")).collect();
                write!(
                    f,
                    "Some or all groups were invalid: no group is named {}",
                    names.join(", ")
                )
            }
            RowError::TooManyGroups { max } => write!(
                f,
                "Some or all groups were invalid: the cell names more than {max} groups; \
                 a row may name at most {max}"
            ),
            RowError::UnnamedCells { cells, delimiter } => {
                let mut shown: Vec<String> = cells
                    .iter()
                    .take(UNNAMED_CELLS_SHOWN)
                    .map(|c| format!("{:?}", printable(c, MAX_UNNAMED_CELL_SHOWN)))
                    .collect();
                let rest = cells.len().saturating_sub(UNNAMED_CELLS_SHOWN);
                if rest > 0 {
                    // At the cap, the row may hold more cells than were kept.
                    let at_least = if cells.len() >= MAX_UNNAMED_CELLS {
                        "at least "
                    } else {
                        ""
                    };
                    shown.push(format!("and {at_least}{rest} more"));
                }
                let delimiter = match delimiter {
                    '\t' => "a tab".to_owned(),
                    d => format!("{d:?}"),
                };
                write!(
                    f,
                    "Some or all groups were invalid: the row has cells that no column \
                     of the header names ({}); separate group names with commas inside the \
                     group membership cell, and put that cell in quotes if it holds {delimiter}, \
                     the file's delimiter",
                    shown.join(", ")
                )
            }
            RowError::DuplicateInFile { first_line } => {
                write!(f, "Duplicate: this address is already on line {first_line}")
            }
            RowError::ApiError { message } => {
                write!(
                    f,
                    "API error: {message}; upload this row again (rows already invited are skipped)"
                )
            }
        }
    }
}

/// Row counts; `invited + skipped + failed == rows`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[non_exhaustive]
pub struct ImportTotals {
    /// Data rows read (blank rows are not counted).
    pub rows: usize,
    /// Rows invited (or that would be, in a dry run).
    pub invited: usize,
    /// Rows skipped.
    pub skipped: usize,
    /// Rows failed.
    pub failed: usize,
}

impl RowReport {
    /// The line the row starts on (header = line 1).
    pub fn line(&self) -> u64 {
        self.line
    }
    /// The email cell as written (trimmed).
    pub fn email(&self) -> &str {
        self.email.as_str()
    }
    /// The group membership cell as written (trimmed).
    pub fn groups_cell(&self) -> &str {
        &self.groups_cell
    }
    /// The canonical names of the row's groups that exist, in id order
    /// (`Everyone` is never listed).
    pub fn groups(&self) -> &[GroupName] {
        &self.groups
    }
    /// For a skipped row, the groups it names that the member is not in:
    /// a skipped row changes nothing, so they were not added (add the
    /// member to them instead). Empty otherwise.
    pub fn groups_not_changed(&self) -> &[GroupName] {
        &self.groups_not_changed
    }
    /// Invited, skipped or failed.
    pub fn outcome(&self) -> &RowOutcome {
        &self.outcome
    }
    /// The failure reasons, empty unless the row failed.
    pub fn errors(&self) -> &[RowError] {
        match &self.outcome {
            RowOutcome::Failed(errors) => errors,
            _ => &[],
        }
    }

    /// The reasons in words, joined by "; ".
    pub fn message(&self) -> String {
        self.errors()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

impl ImportReport {
    /// A report of no rows (what a service returns when it could not
    /// decide the file at all).
    pub fn empty() -> ImportReport {
        ImportReport {
            dry_run: false,
            rows: Vec::new(),
            sign_in: Vec::new(),
        }
    }

    /// For the invited row number `row` (an index into
    /// [`rows`](ImportReport::rows)) of a dry run: the licenses the person
    /// would lease at their first sign-in if seats stay as they are, in
    /// kind order (each row on its own, as if it signed in first). Empty
    /// otherwise.
    pub fn sign_in_licenses(&self, row: usize) -> &[LicenseKind] {
        self.sign_in.get(row).map_or(&[], |kinds| kinds)
    }

    /// Whether this is a dry run: nothing was stored.
    pub fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    /// Every row, in file order.
    pub fn rows(&self) -> &[RowReport] {
        &self.rows
    }

    /// The rows that failed.
    pub fn failed(&self) -> impl Iterator<Item = &RowReport> {
        self.rows
            .iter()
            .filter(|r| matches!(r.outcome, RowOutcome::Failed(_)))
    }

    /// Counts per outcome.
    pub fn totals(&self) -> ImportTotals {
        let mut t = ImportTotals {
            rows: self.rows.len(),
            ..ImportTotals::default()
        };
        for row in &self.rows {
            match row.outcome {
                RowOutcome::Invited => t.invited += 1,
                RowOutcome::Skipped(_) => t.skipped += 1,
                RowOutcome::Failed(_) => t.failed += 1,
            }
        }
        t
    }

    /// Marks every row that was to be invited as failed with `api_error`:
    /// call it when storing the batch failed, so nothing was invited.
    pub fn mark_api_error(&mut self, message: &str) {
        for row in &mut self.rows {
            if row.outcome == RowOutcome::Invited {
                row.outcome = RowOutcome::Failed(vec![RowError::ApiError {
                    message: message.to_owned(),
                }]);
            }
        }
    }

    /// The failed rows as a CSV file to fix and upload again: UTF-8 with a
    /// BOM (so spreadsheets read accents right), CRLF line ends, comma
    /// delimited, columns `email`, `group membership` and `error` (ignored
    /// on upload).
    ///
    /// A row that failed with [`RowError::UnnamedCells`] gets its unnamed
    /// cells back after the error cell, in columns the header does not
    /// name: uploading the file unchanged fails that row again the same
    /// way, rather than inviting it without the cells (a group list split
    /// by the delimiter would otherwise lose groups silently).
    ///
    /// Cells are made inert for spreadsheets (no cell starts a formula), and
    /// uploading the file unchanged addresses exactly the emails of the
    /// failed rows, with the same group cells.
    pub fn failed_rows_csv(&self) -> Vec<u8> {
        let mut out = b"\xEF\xBB\xBF".to_vec();
        let mut write = |cells: &mut dyn Iterator<Item = &str>| {
            for (i, cell) in cells.enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_quoted(&mut out, &escape_cell(cell));
            }
            out.extend_from_slice(b"\r\n");
        };
        write(&mut ["email", "group membership", "error"].into_iter());
        for row in self.failed() {
            let message = row.message();
            let unnamed = row.errors().iter().flat_map(|e| match e {
                RowError::UnnamedCells { cells, .. } => cells.as_slice(),
                _ => &[],
            });
            write(
                &mut [row.email(), row.groups_cell(), &message]
                    .into_iter()
                    .chain(unnamed.map(String::as_str)),
            );
        }
        out
    }
}

/// Appends `cell` as a quoted CSV field (RFC 4180: inner quotes doubled).
/// Every field is quoted, so the writing needs no other rule; line breaks
/// inside stay as they are.
fn push_quoted(out: &mut Vec<u8>, cell: &str) {
    out.push(b'"');
    let mut pieces = cell.split('"');
    if let Some(first) = pieces.next() {
        out.extend_from_slice(first.as_bytes());
    }
    for piece in pieces {
        out.extend_from_slice(b"\"\"");
        out.extend_from_slice(piece.as_bytes());
    }
    out.push(b'"');
}

impl Serialize for ImportReport {
    /// `{"dry_run", "rows", "invited": [{row, email, groups,
    /// licenses_at_sign_in?}], "skipped":
    /// [{row, email, reason}], "failed": [{row, email, reasons, message}]}`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Rows<'a>(&'a ImportReport, u8);
        impl Serialize for Rows<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                let mut seq = s.serialize_seq(None)?;
                for (n, row) in self.0.rows.iter().enumerate() {
                    match (&row.outcome, self.1) {
                        (RowOutcome::Invited, 0) => {
                            seq.serialize_element(&Invited(row, self.0.sign_in_licenses(n)))?;
                        }
                        (RowOutcome::Skipped(reason), 1) => {
                            seq.serialize_element(&Skipped(row, *reason))?;
                        }
                        (RowOutcome::Failed(_), 2) => seq.serialize_element(&Failed(row))?,
                        _ => {}
                    }
                }
                seq.end()
            }
        }
        struct Invited<'a>(&'a RowReport, &'a [LicenseKind]);
        impl Serialize for Invited<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let licenses = self.1;
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("row", &self.0.line)?;
                m.serialize_entry("email", self.0.email())?;
                m.serialize_entry("groups", &*self.0.groups)?;
                if !licenses.is_empty() {
                    m.serialize_entry("licenses_at_sign_in", licenses)?;
                }
                m.end()
            }
        }
        struct Skipped<'a>(&'a RowReport, SkipReason);
        impl Serialize for Skipped<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let unchanged = &self.0.groups_not_changed;
                let mut m = s.serialize_map(None)?;
                m.serialize_entry("row", &self.0.line)?;
                m.serialize_entry("email", self.0.email())?;
                m.serialize_entry("reason", self.1.code())?;
                if !unchanged.is_empty() {
                    m.serialize_entry("groups_not_changed", unchanged)?;
                }
                m.end()
            }
        }
        struct Failed<'a>(&'a RowReport);
        impl Serialize for Failed<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let codes: Vec<&str> = self.0.errors().iter().map(RowError::code).collect();
                let mut m = s.serialize_map(Some(4))?;
                m.serialize_entry("row", &self.0.line)?;
                m.serialize_entry("email", self.0.email())?;
                m.serialize_entry("reasons", &codes)?;
                m.serialize_entry("message", &self.0.message())?;
                m.end()
            }
        }
        let mut st = s.serialize_struct("ImportReport", 5)?;
        st.serialize_field("dry_run", &self.dry_run)?;
        st.serialize_field("rows", &self.rows.len())?;
        st.serialize_field("invited", &Rows(self, 0))?;
        st.serialize_field("skipped", &Rows(self, 1))?;
        st.serialize_field("failed", &Rows(self, 2))?;
        st.end()
    }
}

impl fmt::Display for ImportReport {
    /// A summary line, then the Error Summary table of failed rows, then
    /// the skipped rows. Long cells are cut for display (with an ellipsis)
    /// and control characters shown as spaces; the JSON form and
    /// [`failed_rows_csv`](ImportReport::failed_rows_csv) keep every value
    /// whole.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.totals();
        let verb = if self.dry_run {
            "would be invited"
        } else {
            "invited"
        };
        writeln!(
            f,
            "{} rows: {} {verb}, {} skipped, {} failed.",
            t.rows, t.invited, t.skipped, t.failed
        )?;
        if self.dry_run {
            writeln!(f, "Dry run: nothing was stored.")?;
        }
        if t.failed > 0 {
            let rows: Vec<[String; 3]> = self
                .failed()
                .map(|r| {
                    [
                        r.line.to_string(),
                        printable(r.email(), MAX_EMAIL_SHOWN),
                        printable(&r.message(), MAX_MESSAGE_SHOWN),
                    ]
                })
                .collect();
            writeln!(f, "\nError Summary")?;
            table(f, ["Line", "Email", "Error"], &rows)?;
        }
        if t.skipped > 0 {
            let rows: Vec<[String; 3]> = self
                .rows
                .iter()
                .filter_map(|r| match r.outcome {
                    RowOutcome::Skipped(reason) => Some((r, reason)),
                    _ => None,
                })
                .map(|(r, reason)| {
                    let mut why = reason.message().to_owned();
                    if !r.groups_not_changed.is_empty() {
                        let names: Vec<&str> =
                            r.groups_not_changed.iter().map(GroupName::as_str).collect();
                        why.push_str(&format!("; groups not changed: {}", names.join(", ")));
                    }
                    [
                        r.line.to_string(),
                        printable(r.email(), MAX_EMAIL_SHOWN),
                        printable(&why, MAX_MESSAGE_SHOWN),
                    ]
                })
                .collect();
            writeln!(f, "\nSkipped")?;
            table(f, ["Line", "Email", "Reason"], &rows)?;
        }
        let leasing: Vec<[String; 3]> = self
            .rows
            .iter()
            .zip(&self.sign_in)
            .filter(|(_, kinds)| !kinds.is_empty())
            .map(|(r, kinds)| {
                let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                [
                    r.line.to_string(),
                    printable(r.email(), MAX_EMAIL_SHOWN),
                    printable(&kinds.join(", "), MAX_MESSAGE_SHOWN),
                ]
            })
            .collect();
        if !leasing.is_empty() {
            writeln!(f, "\nLicenses at first sign-in (if seats stay as they are)")?;
            table(f, ["Line", "Email", "Licenses"], &leasing)?;
        }
        Ok(())
    }
}

/// How many cells no header names a row keeps (see
/// [`RowError::UnnamedCells`]); the rest are not read.
pub(crate) const MAX_UNNAMED_CELLS: usize = 100;
/// How many unnamed cells a row's message shows.
const UNNAMED_CELLS_SHOWN: usize = 3;
/// The longest unnamed cell a message shows, in characters.
const MAX_UNNAMED_CELL_SHOWN: usize = 64;

/// The longest email cell the table shows, in characters.
const MAX_EMAIL_SHOWN: usize = 60;
/// The longest message the table shows, in characters.
const MAX_MESSAGE_SHOWN: usize = 400;

/// The text for a table cell: control characters (line breaks in a
/// multi-line cell) shown as spaces, format and invisible characters (bidi
/// controls, zero-width spaces) escaped as `\u{202e}`, cut to `max`
/// characters with an ellipsis.
fn printable(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (shown, c) in s.chars().enumerate() {
        if shown == max {
            out.pop();
            out.push('…');
            break;
        }
        if c.is_control() {
            // Line breaks of a multi-line cell, tabs, escapes: a space.
            out.push(' ');
        } else if crate::core::names::is_hidden_character(c) {
            // Bidi controls, zero-width and other invisible characters
            // (which would reorder or hide what the table shows): escaped.
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

fn table(f: &mut fmt::Formatter<'_>, header: [&str; 3], rows: &[[String; 3]]) -> fmt::Result {
    let width = |cell: fn(&[String; 3]) -> &String, title: &str| {
        rows.iter()
            .map(|r| cell(r).chars().count())
            .chain([title.chars().count()])
            .max()
            .unwrap_or(0)
    };
    let [h0, h1, h2] = header;
    let (w0, w1) = (width(|r| &r[0], h0), width(|r| &r[1], h1));
    writeln!(f, "{h0:>w0$}  {h1:<w1$}  {h2}")?;
    for [c0, c1, c2] in rows {
        writeln!(f, "{c0:>w0$}  {c1:<w1$}  {c2}")?;
    }
    Ok(())
}
