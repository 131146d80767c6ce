//! Bulk invitations from a CSV file and the Error Summary.
//!
//! Pure: callers hand in the uploaded bytes. [`read_invite_csv`] refuses
//! files that cannot be read at all ([`CsvError`]); then
//! [`Organization::decide_bulk_invite`](crate::Organization::decide_bulk_invite)
//! decides each row and returns one batch of events plus an
//! [`ImportReport`] for every row.

mod cells;
mod decide;
mod error;
mod fast_hash;
mod reader;
mod report;

pub use cells::inert_csv_cell;
pub use decide::BulkInvite;
pub use error::CsvError;
pub use reader::{
    CsvOptions, CsvRow, DEFAULT_MAX_FILE_BYTES, InviteFile, MAX_CSV_ROWS, read_invite_csv,
};
pub use report::{ImportReport, ImportTotals, RowError, RowOutcome, RowReport, SkipReason};
