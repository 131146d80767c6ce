//! Reading an uploaded invite file: bytes in, rows with line numbers out.
//!
//! Everything that makes real uploads differ from textbook CSV is handled
//! here, before the `csv` crate sees the bytes: the size cap, encodings, the
//! BOM, Excel's `sep=` line, delimiter sniffing, unterminated quotes, and
//! line numbers (computed from the bytes, counting CRLF, blank lines and
//! multi-line cells).

use std::ops::Range;
use std::sync::Arc;

use super::cells::unescape_cell;
use super::error::CsvError;
use super::fast_hash::FastHashMap;

/// The default cap on an uploaded file's size: 4 MiB, far above what 1000
/// rows need, and checked before anything is parsed.
pub const DEFAULT_MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// The most data rows one file may hold.
pub const MAX_CSV_ROWS: usize = 1000;

/// Group cells up to this length are kept once per distinct text; longer
/// ones once per row.
const MAX_SHARED_CELL_BYTES: usize = 512;

/// Limits applied when reading an invite file.
///
/// ```
/// let options = org_accounts::CsvOptions::default().with_max_file_bytes(1 << 20);
/// assert_eq!(options.max_file_bytes, 1 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CsvOptions {
    /// Files larger than this are refused before parsing.
    pub max_file_bytes: usize,
}

impl CsvOptions {
    /// Sets the size cap.
    pub fn with_max_file_bytes(mut self, max: usize) -> Self {
        self.max_file_bytes = max;
        self
    }
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

/// An invite file that passed the file-level checks: its data rows, each
/// with the line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteFile {
    /// Every row's email cell, one after another (one allocation per file),
    /// but for cells too long to be an address.
    emails: String,
    /// Every distinct group cell (short cells once, long ones once per
    /// row), in order of first appearance, and the email cells too long to
    /// be an address; rows name theirs by index. The report keeps these
    /// without copying them (a hostile cell can be megabytes).
    group_cells: Vec<Arc<str>>,
    /// The rare rows' cells that no header cell names.
    unnamed: Vec<Box<[String]>>,
    rows: Vec<RowData>,
    delimiter: u8,
}

/// One row, as small as it can be kept (rows are at most [`MAX_CSV_ROWS`],
/// so their indexes fit in `u32`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct RowData {
    line: u64,
    /// The email cell's text in [`InviteFile::emails`] (which holds only
    /// cells of at most [`LONG_EMAIL_CELL`] bytes, so `u32` offsets fit).
    email: Range<u32>,
    /// A longer email cell's index in [`InviteFile::group_cells`], or
    /// [`NONE`].
    long_email: u32,
    /// The group cell's index in [`InviteFile::group_cells`].
    group_cell: u32,
    /// The index of the row's unnamed cells in [`InviteFile::unnamed`],
    /// or [`NONE`].
    unnamed: u32,
}

/// No such cell: a row whose every cell has a header name, or whose email
/// cell is short.
const NONE: u32 = u32::MAX;

/// Email cells longer than this cannot be an address (see
/// [`MAX_EMAIL_BYTES`](crate::MAX_EMAIL_BYTES)); they are kept like long
/// group cells, once, shared with the report.
const LONG_EMAIL_CELL: usize = 4 * crate::MAX_EMAIL_BYTES;

impl InviteFile {
    /// The data rows, in file order (blank rows are left out).
    pub fn rows(&self) -> impl ExactSizeIterator<Item = CsvRow<'_>> + '_ {
        self.rows.iter().map(|r| {
            let group_cell = self
                .group_cells
                .get(r.group_cell as usize)
                .map_or("", |cell| &**cell);
            let unnamed = self.unnamed.get(r.unnamed as usize);
            let long_email = self.group_cells.get(r.long_email as usize);
            let email = match long_email {
                Some(cell) => cell,
                None => self
                    .emails
                    .get(r.email.start as usize..r.email.end as usize)
                    .unwrap_or_default(),
            };
            CsvRow {
                line: r.line,
                email,
                long_email,
                groups: group_cell,
                unnamed_cells: unnamed.map(|cells| &**cells).unwrap_or_default(),
                group_cell: r.group_cell,
            }
        })
    }
    /// How many data rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }
    /// Whether there are no data rows (never true for a file that was read).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
    /// The delimiter used: `,`, `;`, tab, or what a `sep=` line named.
    pub fn delimiter(&self) -> char {
        char::from(self.delimiter)
    }
    /// The distinct group cells; [`CsvRow::group_cell`] indexes them. Rows
    /// naming the same short cell share it, so the bulk decision resolves
    /// each distinct cell once (no hashing per row) and the report keeps
    /// the cell without copying it.
    pub(crate) fn group_cells(&self) -> &[Arc<str>] {
        &self.group_cells
    }
}

/// One data row of an invite file: the two cells that matter, trimmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CsvRow<'a> {
    /// The line the record starts on; the header is line 1 (an Excel
    /// `sep=` line, which spreadsheets hide, is not counted).
    pub line: u64,
    /// The `email` cell as written (trimmed).
    pub email: &'a str,
    /// The `group membership` cell as written (trimmed): group names
    /// separated by commas, or empty.
    pub groups: &'a str,
    /// Non-empty cells that no header cell names (beyond the header's last
    /// column, or under an empty header cell), trimmed. Usually empty; a
    /// row that has any is not invited (see
    /// [`RowError::UnnamedCells`](crate::RowError::UnnamedCells)): its data
    /// would otherwise be dropped without a word.
    pub unnamed_cells: &'a [String],
    /// The index of the row's group cell in
    /// [`InviteFile::group_cells`].
    pub(crate) group_cell: u32,
    /// The email cell as the file keeps it when it is too long to be an
    /// address (the report shares it instead of copying it).
    pub(crate) long_email: Option<&'a Arc<str>>,
}

/// Reads an uploaded invite file.
///
/// The header row must name the columns `email` and `group membership`
/// (case and whitespace do not matter, any order, other columns ignored).
/// A UTF-8 BOM is stripped; the delimiter (`,`, `;` or tab) is sniffed from
/// the header unless an Excel `sep=X` first line names it; CRLF and LF line
/// ends, blank lines and quoted cells holding commas or line breaks are all
/// fine. A row whose every cell is empty counts as blank and is skipped
/// (spreadsheets write such rows as `,,`); any other row is a row of the
/// file, even if its email cell is empty.
///
/// Line numbers are the file's own lines (what a text editor shows; a
/// spreadsheet shows the same numbers unless a cell holds a line break),
/// so in the usual file the header is line 1. The one exception is an
/// Excel `sep=` first line: spreadsheets hide it, so it is not counted.
///
/// ```
/// use org_accounts::{read_invite_csv, CsvOptions};
///
/// let file = read_invite_csv(
///     b"\xEF\xBB\xBFGroup Membership;EMAIL\r\n\r\n\"Administrators, Finance\";ann@example.com\r\n",
///     &CsvOptions::default(),
/// )?;
/// let row = file.rows().next().unwrap();
/// assert_eq!((row.line, row.email, row.groups), (3, "ann@example.com", "Administrators, Finance"));
/// # Ok::<(), org_accounts::CsvError>(())
/// ```
///
/// # Errors
/// A [`CsvError`] refuses the whole file and says what to fix: empty file,
/// too large, not UTF-8, a missing or repeated column, more than
/// [`MAX_CSV_ROWS`] rows, or a quote that is never closed.
pub fn read_invite_csv(bytes: &[u8], options: &CsvOptions) -> Result<InviteFile, CsvError> {
    read(bytes, options, Lines::FromCsv)
}

/// How a row's line number is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lines {
    /// From the `csv` reader's own count of `\n` bytes where it can be
    /// used (no lone CR in the file), else as [`Lines::Counted`].
    FromCsv,
    /// Counted from the bytes by a [`LineCounter`] (the reference the
    /// other is tested against).
    #[cfg_attr(not(test), allow(dead_code))]
    Counted,
}

fn read(bytes: &[u8], options: &CsvOptions, mode: Lines) -> Result<InviteFile, CsvError> {
    if bytes.len() > options.max_file_bytes {
        return Err(CsvError::FileTooLarge {
            bytes: bytes.len(),
            max: options.max_file_bytes,
        });
    }
    let text = check_encoding(bytes)?;
    if text.trim().is_empty() {
        return Err(CsvError::EmptyFile);
    }

    let (body_start, sep) = excel_sep_line(text);
    let body = text.get(body_start..).unwrap_or_default();
    let mut lines = LineCounter::new(text);
    // Without a lone CR, a line ends at each `\n`, which the csv reader
    // counts: a record's line is its count, plus the line breaks skipped
    // before the record starts. (A `sep=` line ends in one `\n` then, and
    // is not counted, as the body's own count already does not.)
    let csv_lines = mode == Lines::FromCsv && !lines.lone_cr;
    let hidden_lines = u64::from(body_start > 0);
    let mut line_of =
        |offset: usize| lines.line_of(body_start.saturating_add(offset)) - hidden_lines;

    let delimiter = sep.unwrap_or_else(|| sniff_delimiter(first_line(body)));

    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(body.as_bytes());
    let mut record = csv::ByteRecord::new();
    let mut last_record_start = 0;
    let mut header: Option<Header> = None;
    let mut rows = RowsRead::with_capacity(body.len());
    loop {
        let more = reader
            .read_byte_record(&mut record)
            .map_err(|e| CsvError::MalformedCsv {
                line: e
                    .position()
                    .map_or(1, |p| line_of(start_of_record(body, p.byte()))),
                reason: e.to_string(),
            })?;
        if !more {
            break;
        }
        let position = record.position();
        let offset = position.map_or(0, |p| p.byte());
        last_record_start = start_of_record(body, offset);
        match &header {
            None => header = Some(Header::find(&record)?),
            Some(header) => rows.push(header, &record, || match position {
                Some(p) if csv_lines => {
                    let skipped = body
                        .as_bytes()
                        .get(usize::try_from(offset).unwrap_or(usize::MAX)..last_record_start)
                        .unwrap_or_default();
                    let breaks = skipped.iter().filter(|b| **b == b'\n').count();
                    p.line()
                        .saturating_add(u64::try_from(breaks).unwrap_or(u64::MAX))
                }
                _ => line_of(last_record_start),
            }),
        }
    }
    // A quote that is never closed swallows the rest of the file into the
    // last record, so that record is the only place to look for one.
    check_quotes(body.get(last_record_start..).unwrap_or_default(), delimiter).map_err(
        |offset| CsvError::MalformedCsv {
            line: line_of(last_record_start.saturating_add(offset)),
            reason: "a quoted cell starting here is never closed; add the closing \" or remove the opening one".into(),
        },
    )?;
    if header.is_none() {
        return Err(CsvError::EmptyFile);
    }
    rows.into_file(delimiter)
}

/// The data rows read so far.
#[derive(Default)]
struct RowsRead {
    rows: Vec<RowData>,
    emails: String,
    group_cells: Vec<Arc<str>>,
    unnamed: Vec<Box<[String]>>,
    /// Data rows seen, kept ones or not (past [`MAX_CSV_ROWS`] they are
    /// only counted, to tell the administrator how many).
    count: usize,
    /// Group cells repeat a lot: the index of each short one.
    shared: FastHashMap<Arc<str>, u32>,
}

impl RowsRead {
    /// Room for the rows of a file of `body_len` bytes: the row table for
    /// every row the file can hold (a few kilobytes), and the email text
    /// for typical addresses, so neither is copied while it grows.
    fn with_capacity(body_len: usize) -> RowsRead {
        RowsRead {
            rows: Vec::with_capacity(MAX_CSV_ROWS.min(body_len / 4)),
            emails: String::with_capacity(body_len.min(MAX_CSV_ROWS * 32)),
            ..RowsRead::default()
        }
    }

    /// Keeps one record (blank ones are skipped); `line` says where it
    /// starts.
    fn push(&mut self, header: &Header, record: &csv::ByteRecord, line: impl FnOnce() -> u64) {
        let fields = std::str::from_utf8(record.as_slice()).unwrap_or_default();
        if record.iter().all(|cell| cell.trim_ascii().is_empty()) {
            return;
        }
        self.count = self.count.saturating_add(1);
        if self.count > MAX_CSV_ROWS {
            return;
        }
        let email = cell(record, fields, header.email);
        let group_cell = self.share(unescape_cell(cell(record, fields, header.groups)));
        let unnamed = match header.unnamed_cells(record, fields) {
            None => NONE,
            Some(cells) => {
                self.unnamed.push(cells);
                index(self.unnamed.len() - 1)
            }
        };
        let email = unescape_cell(email);
        let start = index(self.emails.len());
        let long_email = if email.len() > LONG_EMAIL_CELL {
            self.group_cells.push(Arc::from(email));
            index(self.group_cells.len() - 1)
        } else {
            self.emails.push_str(email);
            NONE
        };
        self.rows.push(RowData {
            line: line(),
            email: start..index(self.emails.len()),
            long_email,
            group_cell,
            unnamed,
        });
    }

    /// The index of the group cell: short cells (group lists people write)
    /// repeat and are kept once; long ones are not worth hashing.
    fn share(&mut self, groups: &str) -> u32 {
        if groups.len() <= MAX_SHARED_CELL_BYTES
            && let Some(at) = self.shared.get(groups)
        {
            return *at;
        }
        let cell: Arc<str> = Arc::from(groups);
        let at = index(self.group_cells.len());
        if groups.len() <= MAX_SHARED_CELL_BYTES {
            self.shared.insert(Arc::clone(&cell), at);
        }
        self.group_cells.push(cell);
        at
    }

    /// The file, or why it has too few or too many rows.
    fn into_file(self, delimiter: u8) -> Result<InviteFile, CsvError> {
        if self.count == 0 {
            return Err(CsvError::NoRows);
        }
        if self.count > MAX_CSV_ROWS {
            return Err(CsvError::TooManyRows {
                rows: self.count,
                max: MAX_CSV_ROWS,
            });
        }
        Ok(InviteFile {
            emails: self.emails,
            group_cells: self.group_cells,
            unnamed: self.unnamed,
            rows: self.rows,
            delimiter,
        })
    }
}

/// An index below [`MAX_CSV_ROWS`] (rows past it are only counted), or an
/// offset in the short email cells (at most `MAX_CSV_ROWS` times
/// [`LONG_EMAIL_CELL`] bytes), as `u32`.
fn index(at: usize) -> u32 {
    u32::try_from(at).unwrap_or(u32::MAX)
}

/// The bytes as UTF-8 text without a BOM, or why they are not.
fn check_encoding(bytes: &[u8]) -> Result<&str, CsvError> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(CsvError::NotUtf8 {
            line: 1,
            utf16: true,
        });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            if looks_like_utf16(bytes) {
                return Err(CsvError::NotUtf8 {
                    line: 1,
                    utf16: true,
                });
            }
            let before = bytes
                .get(..e.valid_up_to())
                .and_then(|b| std::str::from_utf8(b).ok())
                .unwrap_or_default();
            return Err(CsvError::NotUtf8 {
                line: LineCounter::new(before).line_of(before.len()),
                utf16: false,
            });
        }
    };
    // ASCII text in UTF-16 without a BOM is valid UTF-8 full of NULs.
    if let Some(at) = text.find('\0') {
        if looks_like_utf16(bytes) {
            return Err(CsvError::NotUtf8 {
                line: 1,
                utf16: true,
            });
        }
        return Err(CsvError::NulByte {
            line: LineCounter::new(text).line_of(at),
        });
    }
    Ok(text)
}

/// Whether the bytes look like UTF-16 without a byte order mark: among the
/// first 64 bytes, NUL bytes fill at least half of one parity (the high
/// bytes of ASCII characters) and none of the other.
fn looks_like_utf16(bytes: &[u8]) -> bool {
    let head = bytes.get(..bytes.len().min(64)).unwrap_or_default();
    let pairs = head.len() / 2;
    let (mut even, mut odd) = (0usize, 0usize);
    for (i, b) in head.iter().enumerate() {
        if *b == 0 {
            if i % 2 == 0 {
                even += 1;
            } else {
                odd += 1;
            }
        }
    }
    pairs >= 2 && ((even * 2 >= pairs && odd == 0) || (odd * 2 >= pairs && even == 0))
}

/// Where the columns that matter are, and which columns have no name.
struct Header {
    email: usize,
    groups: usize,
    /// How many cells the header has.
    len: usize,
    /// Columns whose header cell is empty.
    unnamed: Vec<usize>,
}

impl Header {
    /// Finds the `email` and `group membership` columns.
    fn find(header: &csv::ByteRecord) -> Result<Header, CsvError> {
        let names: Vec<String> = header
            .iter()
            .map(|b| String::from_utf8_lossy(b).trim().to_owned())
            .collect();
        let normalized: Vec<String> = names
            .iter()
            .map(|n| {
                n.chars()
                    .filter(|c| !c.is_whitespace())
                    .flat_map(char::to_lowercase)
                    .collect()
            })
            .collect();
        let find = |wanted: &'static str, column: &'static str| {
            let at: Vec<usize> = normalized
                .iter()
                .enumerate()
                .filter(|(_, n)| n.as_str() == wanted)
                .map(|(i, _)| i)
                .collect();
            match at.as_slice() {
                [one] => Ok(*one),
                [] => Err(CsvError::MissingColumn {
                    column,
                    found: names.clone(),
                }),
                many => Err(CsvError::DuplicateColumn {
                    column,
                    count: many.len(),
                }),
            }
        };
        Ok(Header {
            email: find("email", "email")?,
            groups: find("groupmembership", "group membership")?,
            len: names.len(),
            unnamed: (0..names.len())
                .filter(|i| names.get(*i).is_some_and(String::is_empty))
                .collect(),
        })
    }

    /// The non-empty cells of `record` that no header cell names: beyond
    /// the header's last cell, or under an empty header cell. `None` when
    /// there are none (the usual case).
    ///
    /// At most [`MAX_UNNAMED_CELLS`](super::report::MAX_UNNAMED_CELLS) are
    /// kept: one is enough to fail the row, and a row of millions of cells
    /// must cost no more than any other file of its size. The scan stops
    /// there, so the rest is neither copied nor looked at.
    fn unnamed_cells(&self, record: &csv::ByteRecord, fields: &str) -> Option<Box<[String]>> {
        let unnamed: Vec<String> = self
            .unnamed
            .iter()
            .copied()
            .chain(self.len..record.len())
            .map(|i| cell(record, fields, i))
            .filter(|c| !c.is_empty())
            .take(super::report::MAX_UNNAMED_CELLS)
            .map(str::to_owned)
            .collect();
        (!unnamed.is_empty()).then(|| unnamed.into_boxed_slice())
    }
}

/// The trimmed text of a cell (missing cells are empty).
///
/// `fields` is the record's bytes as text, validated once per record (the
/// file is UTF-8 and fields split at ASCII delimiters, so it always is).
fn cell<'a>(record: &csv::ByteRecord, fields: &'a str, index: usize) -> &'a str {
    record
        .range(index)
        .and_then(|r| fields.get(r))
        .map_or("", trim_cell)
}

/// The cell without surrounding whitespace, as [`str::trim`] does it; runs
/// of spaces at either end (the padding of a fixed-width export, or of a
/// hostile file: megabytes of it) are skipped eight bytes at a time first.
fn trim_cell(cell: &str) -> &str {
    const SPACES: &[u8] = b"        ";
    let bytes = cell.as_bytes();
    let tail = bytes
        .rchunks_exact(SPACES.len())
        .take_while(|chunk| *chunk == SPACES)
        .count()
        * SPACES.len();
    let end = bytes.len().saturating_sub(tail);
    let head = bytes
        .chunks_exact(SPACES.len())
        .take_while(|chunk| *chunk == SPACES)
        .count()
        * SPACES.len();
    // Both ends border spaces (ASCII), so they are character boundaries.
    cell.get(head.min(end)..end).unwrap_or(cell).trim()
}

/// Skips line breaks that the csv reader counts as part of a record's
/// position when blank lines precede it.
fn start_of_record(body: &str, offset: u64) -> usize {
    let offset = usize::try_from(offset)
        .unwrap_or(body.len())
        .min(body.len());
    let skipped = body
        .as_bytes()
        .get(offset..)
        .unwrap_or_default()
        .iter()
        .take_while(|b| **b == b'\n' || **b == b'\r')
        .count();
    offset + skipped
}

/// Recognizes Excel's `sep=X` first line; returns where the rest begins
/// and the delimiter it names.
fn excel_sep_line(text: &str) -> (usize, Option<u8>) {
    // Excel writes it as the very first line; anywhere else it is data.
    let line = text.split(['\n', '\r']).next().unwrap_or("");
    let trimmed = line.trim();
    let Some(rest) = trimmed
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("sep="))
        .map(|_| &trimmed[4..])
    else {
        return (0, None);
    };
    let rest = rest.as_bytes();
    let delimiter = match rest {
        [d] if *d != b'"' && d.is_ascii() && !d.is_ascii_alphanumeric() => *d,
        [] => b'\t',
        _ => return (0, None),
    };
    let after = text[line.len()..]
        .strip_prefix("\r\n")
        .or_else(|| text[line.len()..].strip_prefix('\n'))
        .or_else(|| text[line.len()..].strip_prefix('\r'))
        .unwrap_or("");
    (text.len() - after.len(), Some(delimiter))
}

/// The first non-blank line (without its line break).
fn first_line(text: &str) -> &str {
    text.split(['\n', '\r'])
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}

/// Picks `,`, `;` or tab: whichever occurs most outside quotes in the
/// header line (ties favour the comma, then the semicolon).
fn sniff_delimiter(header: &str) -> u8 {
    let (mut comma, mut semicolon, mut tab) = (0usize, 0usize, 0usize);
    let mut quoted = false;
    for b in header.bytes() {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => comma += 1,
            b';' if !quoted => semicolon += 1,
            b'\t' if !quoted => tab += 1,
            _ => {}
        }
    }
    if tab > comma && tab > semicolon {
        b'\t'
    } else if semicolon > comma {
        b';'
    } else {
        b','
    }
}

/// Finds a quoted cell that is never closed, the way the `csv` crate reads
/// quotes (a quote opens a quoted cell only at the start of a cell; `""`
/// inside is an escaped quote). Returns the offset of the opening quote.
fn check_quotes(body: &str, delimiter: u8) -> Result<(), usize> {
    let bytes = body.as_bytes();
    let mut pos = 0;
    let mut open: Option<usize> = None;
    // Jump from quote to quote (`find` on a char uses memchr).
    while let Some(found) = body[pos..].find('"') {
        let i = pos + found;
        match open {
            Some(_) if bytes.get(i + 1) == Some(&b'"') => pos = i + 2,
            Some(_) => {
                open = None;
                pos = i + 1;
            }
            None => {
                let before = i.checked_sub(1).and_then(|p| bytes.get(p)).copied();
                let at_cell_start = match before {
                    None | Some(b'\n' | b'\r') => true,
                    Some(b) => b == delimiter,
                };
                if at_cell_start {
                    open = Some(i);
                }
                pos = i + 1;
            }
        }
    }
    match open {
        Some(start) => Err(start),
        None => Ok(()),
    }
}

/// Turns byte offsets into 1-based line numbers; a line ends at `\n`,
/// `\r\n` or a lone `\r`. Offsets asked for in increasing order cost one
/// pass over the bytes in all.
struct LineCounter<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: u64,
    lone_cr: bool,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> LineCounter<'a> {
        let bytes = text.as_bytes();
        // Jump from CR to CR; stop at the first one without its LF.
        let mut lone_cr = false;
        let mut pos = 0;
        while let Some(i) = bytes
            .get(pos..)
            .and_then(|rest| memchr::memchr(b'\r', rest))
        {
            let at = pos + i;
            if bytes.get(at + 1) != Some(&b'\n') {
                lone_cr = true;
                break;
            }
            pos = at + 2;
        }
        LineCounter {
            bytes,
            pos: 0,
            line: 1,
            lone_cr,
        }
    }

    /// The line holding byte `offset`.
    fn line_of(&mut self, offset: usize) -> u64 {
        let offset = offset.min(self.bytes.len());
        if offset < self.pos {
            self.pos = 0;
            self.line = 1;
        }
        let span = self.bytes.get(self.pos..offset).unwrap_or_default();
        let breaks = if self.lone_cr {
            // A CR counts unless an LF follows it (that LF counts).
            let base = self.pos;
            memchr::memchr2_iter(b'\n', b'\r', span)
                .filter(|i| {
                    self.bytes.get(base + i) == Some(&b'\n')
                        || self.bytes.get(base + i + 1) != Some(&b'\n')
                })
                .count()
        } else {
            memchr::memchr_iter(b'\n', span).count()
        };
        self.line += u64::try_from(breaks).unwrap_or(u64::MAX);
        self.pos = offset;
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<InviteFile, CsvError> {
        read_invite_csv(bytes, &CsvOptions::default())
    }

    fn lines(file: &InviteFile) -> Vec<(u64, &str, &str)> {
        file.rows().map(|r| (r.line, r.email, r.groups)).collect()
    }

    #[test]
    fn line_numbers_count_crlf_blank_lines_and_multi_line_cells() {
        let file = read(
            b"email,group membership\r\n\r\na@x.com,\"Administrators,\r\nFinance\"\r\n\r\n\r\nb@x.com,\nc@x.com,x\r",
        )
        .unwrap();
        assert_eq!(
            lines(&file),
            [
                (3, "a@x.com", "Administrators,\r\nFinance"),
                (7, "b@x.com", ""),
                (8, "c@x.com", "x")
            ]
        );
    }

    #[test]
    fn lone_cr_line_ends_count() {
        let file = read(b"email,group membership\ra@x.com,\r\rb@x.com,").unwrap();
        assert_eq!(lines(&file), [(2, "a@x.com", ""), (4, "b@x.com", "")]);
    }

    #[test]
    fn excel_sep_line_is_honoured_and_not_counted() {
        let file = read(b"sep=;\r\nemail;group membership\r\na@x.com;A, B\r\n").unwrap();
        assert_eq!(file.delimiter(), ';');
        assert_eq!(lines(&file), [(2, "a@x.com", "A, B")]);
    }

    #[test]
    fn delimiter_is_sniffed_from_the_header() {
        assert_eq!(
            read(b"email;group membership;x,y\na@x.com;g;1")
                .unwrap()
                .delimiter(),
            ';'
        );
        assert_eq!(
            read(b"email\tgroup membership\na@x.com\tg")
                .unwrap()
                .delimiter(),
            '\t'
        );
        assert_eq!(
            read(b"\"e;mail\",email,group membership\n1,a@x.com,g")
                .unwrap()
                .delimiter(),
            ','
        );
    }

    #[test]
    fn header_is_case_and_whitespace_insensitive_and_extra_columns_are_ignored() {
        let file = read(b"Name, Group  Membership ,EMAIL \nAnn,Finance,ann@x.com").unwrap();
        assert_eq!(lines(&file), [(2, "ann@x.com", "Finance")]);
    }

    #[test]
    fn short_rows_have_empty_cells_and_blank_rows_are_skipped() {
        let file = read(b"email,group membership\na@x.com\n,\n  ,  \n,,,\n").unwrap();
        assert_eq!(lines(&file), [(2, "a@x.com", "")]);
    }

    #[test]
    fn a_row_with_only_other_columns_filled_is_still_a_row() {
        let file = read(b"name,email,group membership\nBob,,\n,,\n").unwrap();
        assert_eq!(lines(&file), [(2, "", "")]);
    }

    #[test]
    fn a_sep_line_counts_only_as_the_first_line() {
        // After blank lines it is not Excel's: it is a (bad) header.
        let text = "\r\nsep=;\r\nemail;group membership\r\na@x.com;x\r\n";
        assert!(matches!(
            read(text.as_bytes()),
            Err(CsvError::MissingColumn { .. })
        ));
        let text = "\u{3000}\u{3000}\nsep=;\nemail;group membership\na@x.com;x\n";
        assert!(read(text.as_bytes()).is_err());
    }

    #[test]
    fn blank_lines_before_the_header_count() {
        let file = read(b"\n\nemail,group membership\na@x.com,\n").unwrap();
        assert_eq!(lines(&file), [(4, "a@x.com", "")]);
    }

    #[test]
    fn file_level_refusals() {
        assert_eq!(read(b""), Err(CsvError::EmptyFile));
        assert_eq!(read(b"\xEF\xBB\xBF \r\n\r\n"), Err(CsvError::EmptyFile));
        assert!(matches!(
            read(b"email\na@x.com"),
            Err(CsvError::MissingColumn {
                column: "group membership",
                ..
            })
        ));
        assert!(matches!(
            read(b"group membership,Email,EMAIL\n"),
            Err(CsvError::DuplicateColumn {
                column: "email",
                count: 2
            })
        ));
        assert_eq!(
            read(b"email,group membership\na@x.com,\"Finance\nb@x.com,"),
            Err(CsvError::MalformedCsv {
                line: 2,
                reason: "a quoted cell starting here is never closed; add the closing \" or remove the opening one".into()
            })
        );
        assert_eq!(
            read(b"email,group membership\na@x.com,\nb\xE9@x.com,\n"),
            Err(CsvError::NotUtf8 {
                line: 3,
                utf16: false
            })
        );
        assert_eq!(
            read(b"\xFF\xFEe\0m\0"),
            Err(CsvError::NotUtf8 {
                line: 1,
                utf16: true
            })
        );
        let big = CsvOptions::default().with_max_file_bytes(10);
        assert_eq!(
            read_invite_csv(b"email,group membership\n", &big),
            Err(CsvError::FileTooLarge { bytes: 23, max: 10 })
        );
    }

    #[test]
    fn a_thousand_rows_are_fine_and_one_more_is_refused() {
        let mut text = String::from("email,group membership\n");
        for i in 0..1000 {
            text.push_str(&format!("u{i}@x.com,\n"));
        }
        assert_eq!(read(text.as_bytes()).unwrap().len(), 1000);
        text.push_str("one.more@x.com,\n");
        assert_eq!(
            read(text.as_bytes()),
            Err(CsvError::TooManyRows {
                rows: 1001,
                max: 1000
            })
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// Trimming a cell is `str::trim`, whatever the runs of spaces.
        #[test]
        fn trim_cell_is_trim(
            cell in "[ ]{0,20}[a \t\u{3000}é]{0,6}[ ]{0,20}[\u{a0}\r\n]?[ ]{0,20}",
        ) {
            proptest::prop_assert_eq!(trim_cell(&cell), cell.trim());
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Line numbers taken from the csv reader's count are the ones
        /// counted from the bytes, whatever the line ends, blank lines,
        /// quotes and `sep=` line.
        #[test]
        fn csv_line_numbers_agree_with_counted_ones(
            sep in "(sep=;(\r\n|\n))?",
            body in "([a-c@.;,\" ]{0,6}(\r\n|\n|\n\n|\r\n\r\n)?){0,12}\r?",
        ) {
            let text = format!("{sep}email;group membership\r\n{body}");
            let fast = read_invite_csv(text.as_bytes(), &CsvOptions::default());
            let counted = super::read(text.as_bytes(), &CsvOptions::default(), Lines::Counted);
            proptest::prop_assert_eq!(fast, counted);
        }
    }

    #[test]
    fn email_cells_too_long_for_an_address_are_kept_whole_beside_short_ones() {
        let long = format!("{}@example.com", "a".repeat(LONG_EMAIL_CELL));
        let text = format!("email,group membership\na@x.com,g\n{long},h\nb@x.com,g\n");
        let file = read(text.as_bytes()).unwrap();
        assert_eq!(
            lines(&file),
            [
                (2, "a@x.com", "g"),
                (3, long.as_str(), "h"),
                (4, "b@x.com", "g")
            ]
        );
        let rows: Vec<CsvRow<'_>> = file.rows().collect();
        assert!(
            rows.iter()
                .map(|r| r.long_email.is_some())
                .eq([false, true, false])
        );
    }

    #[test]
    fn stray_quotes_inside_cells_are_literal() {
        let file = read(b"email,group membership\nab\"c@x.com,g\n").unwrap();
        assert_eq!(lines(&file), [(2, "ab\"c@x.com", "g")]);
    }
}
