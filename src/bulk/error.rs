//! Why a whole invite file was refused.

/// An invite file was refused as a whole; nobody was invited.
///
/// Every message says what to fix in the file. [`CsvError::code`] gives a
/// stable snake_case code for APIs and scripts. Handle every variant the
/// same way: show the message and let the administrator upload a corrected
/// file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsvError {
    /// No header, or nothing but whitespace.
    #[error(
        "the file is empty; its first line must name the columns email and group membership, followed by one line per person"
    )]
    EmptyFile,
    /// Larger than [`CsvOptions::max_file_bytes`](crate::CsvOptions::max_file_bytes).
    #[error(
        "the file is {bytes} bytes; at most {max} bytes are accepted. Remove unneeded columns or split the file"
    )]
    FileTooLarge {
        /// The file's size.
        bytes: usize,
        /// The cap.
        max: usize,
    },
    /// Not UTF-8 text (Excel's "CSV (Comma delimited)" in a Windows code
    /// page, or "Unicode Text", which is UTF-16).
    #[error(
        "{} is not UTF-8 text{}; in Excel choose File > Save As > \"CSV UTF-8 (Comma delimited) (*.csv)\" and upload that file",
        if *utf16 { "the file".to_owned() } else { format!("line {line}") },
        if *utf16 { " (it looks like UTF-16, Excel's \"Unicode Text\")" } else { "" }
    )]
    NotUtf8 {
        /// The first line with a byte that is not UTF-8.
        line: u64,
        /// Whether the file looks like UTF-16.
        utf16: bool,
    },
    /// The header names no such column.
    #[error(
        "the header has no \"{column}\" column (found: {}); the first line must name the columns email and group membership, in any order",
        found_list(found)
    )]
    MissingColumn {
        /// `email` or `group membership`.
        column: &'static str,
        /// The header cells that were found.
        found: Vec<String>,
    },
    /// The header names a required column more than once.
    #[error("the header names the \"{column}\" column {count} times; keep only one")]
    DuplicateColumn {
        /// `email` or `group membership`.
        column: &'static str,
        /// How many times.
        count: usize,
    },
    /// More than [`MAX_CSV_ROWS`](crate::MAX_CSV_ROWS) data rows.
    #[error(
        "the file has {rows} rows of people; at most {max} are accepted. Split it into several files"
    )]
    TooManyRows {
        /// Non-blank data rows found.
        rows: usize,
        /// The cap.
        max: usize,
    },
    /// A record the CSV reader cannot read.
    #[error("line {line} cannot be read as CSV: {reason}")]
    MalformedCsv {
        /// Where the record starts.
        line: u64,
        /// What is wrong.
        reason: String,
    },
}

impl CsvError {
    /// A stable snake_case code for this refusal.
    pub fn code(&self) -> &'static str {
        match self {
            CsvError::EmptyFile => "empty_file",
            CsvError::FileTooLarge { .. } => "file_too_large",
            CsvError::NotUtf8 { .. } => "not_utf8",
            CsvError::MissingColumn { .. } => "missing_column",
            CsvError::DuplicateColumn { .. } => "duplicate_column",
            CsvError::TooManyRows { .. } => "too_many_rows",
            CsvError::MalformedCsv { .. } => "malformed_csv",
        }
    }
}

fn found_list(found: &[String]) -> String {
    if found.iter().all(String::is_empty) {
        "nothing".to_owned()
    } else {
        found
            .iter()
            .map(|f| format!("{f:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}
