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
    /// Nothing but whitespace: no header, no rows.
    #[error(
        "the file is empty; its first line must name the columns email and group membership, followed by one line per person"
    )]
    EmptyFile,
    /// A header, but no row of people after it (or only blank rows).
    ///
    /// Refused rather than accepted as an upload of zero rows: an
    /// administrator who uploads a file means to invite someone, and the
    /// likely mistake (the wrong file, or rows saved in another sheet) is
    /// worth saying.
    #[error(
        "the file has a header but no rows of people; add one line per person below the header (email, group membership)"
    )]
    NoRows,
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
    /// page, or "Unicode Text", which is UTF-16). `utf16` is set only when
    /// the file is UTF-16: it starts with a UTF-16 byte order mark, or its
    /// first bytes alternate between ASCII and NUL.
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
    /// UTF-8 text that holds a NUL byte, which no text file contains (a
    /// binary file, or text damaged on the way).
    #[error(
        "line {line} holds a NUL byte (0x00), which a text file never contains; check that this is the CSV file you meant, or save it again as \"CSV UTF-8 (Comma delimited) (*.csv)\""
    )]
    NulByte {
        /// The line holding the first NUL byte.
        line: u64,
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
            CsvError::NoRows => "no_rows",
            CsvError::NulByte { .. } => "nul_byte",
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
