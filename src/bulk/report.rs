//! The Error Summary: every row's outcome, as a table, as JSON, and as a
//! CSV of failed rows to fix and upload again.

use std::fmt;
use std::sync::Arc;

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Serialize, Serializer};

use super::cells::escape_cell;
use crate::{Email, EmailErrorKind, GroupName};

/// What happened to every row of an invite file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub(crate) dry_run: bool,
    pub(crate) rows: Vec<RowReport>,
}

/// One data row's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowReport {
    pub(crate) line: u64,
    pub(crate) email: CellText,
    pub(crate) groups_cell: Arc<str>,
    pub(crate) groups: Arc<[GroupName]>,
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
    /// The address is already a member (pending or active), so uploading the
    /// same file twice changes nothing.
    AlreadyMember,
}

impl SkipReason {
    /// A stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            SkipReason::AlreadyMember => "already_member",
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
        /// The unknown names, as written.
        unknown: Vec<String>,
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
    /// `duplicate_in_file` or `api_error`.
    pub fn code(&self) -> &'static str {
        match self {
            RowError::InvalidEmail(_) => "invalid_email",
            RowError::InvalidGroups { .. } => "invalid_groups",
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
    /// BOM (so spreadsheets read accents right), CRLF line ends, columns
    /// `email`, `group membership` and `error` (ignored on upload).
    ///
    /// Cells are made inert for spreadsheets (no cell starts a formula), and
    /// uploading the file unchanged addresses exactly the emails of the
    /// failed rows, with the same group cells.
    pub fn failed_rows_csv(&self) -> Vec<u8> {
        let mut out = b"\xEF\xBB\xBF".to_vec();
        {
            let mut writer = csv::WriterBuilder::new()
                .terminator(csv::Terminator::CRLF)
                .quote_style(csv::QuoteStyle::Always)
                .from_writer(&mut out);
            let mut write = |cells: [&str; 3]| {
                // Writing to a Vec cannot fail.
                let _ = writer.write_record(cells.map(|c| escape_cell(c).into_owned()));
            };
            write(["email", "group membership", "error"]);
            for row in self.failed() {
                write([row.email(), row.groups_cell(), &row.message()]);
            }
            let _ = writer.flush();
        }
        out
    }
}

impl Serialize for ImportReport {
    /// `{"dry_run", "rows", "invited": [{row, email, groups}], "skipped":
    /// [{row, email, reason}], "failed": [{row, email, reasons, message}]}`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct Rows<'a>(&'a ImportReport, u8);
        impl Serialize for Rows<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                let mut seq = s.serialize_seq(None)?;
                for row in &self.0.rows {
                    match (&row.outcome, self.1) {
                        (RowOutcome::Invited, 0) => seq.serialize_element(&Invited(row))?,
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
        struct Invited<'a>(&'a RowReport);
        impl Serialize for Invited<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("row", &self.0.line)?;
                m.serialize_entry("email", self.0.email())?;
                m.serialize_entry("groups", &*self.0.groups)?;
                m.end()
            }
        }
        struct Skipped<'a>(&'a RowReport, SkipReason);
        impl Serialize for Skipped<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("row", &self.0.line)?;
                m.serialize_entry("email", self.0.email())?;
                m.serialize_entry("reason", self.1.code())?;
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
    /// the skipped rows.
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
                .map(|r| [r.line.to_string(), printable(r.email()), r.message()])
                .collect();
            writeln!(f, "\nError Summary")?;
            table(f, ["Line", "Email", "Error"], &rows)?;
        }
        if t.skipped > 0 {
            let rows: Vec<[String; 3]> = self
                .rows
                .iter()
                .filter(|r| matches!(r.outcome, RowOutcome::Skipped(_)))
                .map(|r| {
                    [
                        r.line.to_string(),
                        printable(r.email()),
                        "Already a member".to_owned(),
                    ]
                })
                .collect();
            writeln!(f, "\nSkipped")?;
            table(f, ["Line", "Email", "Reason"], &rows)?;
        }
        Ok(())
    }
}

/// Control characters (line breaks in a multi-line cell) shown as spaces.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn table(f: &mut fmt::Formatter<'_>, header: [&str; 3], rows: &[[String; 3]]) -> fmt::Result {
    let width = |i: usize| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .chain([header[i].len()])
            .max()
            .unwrap_or(0)
    };
    let (w0, w1) = (width(0), width(1));
    writeln!(f, "{:>w0$}  {:<w1$}  {}", header[0], header[1], header[2])?;
    for r in rows {
        writeln!(f, "{:>w0$}  {:<w1$}  {}", r[0], r[1], r[2])?;
    }
    Ok(())
}
