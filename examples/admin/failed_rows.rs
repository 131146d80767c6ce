//! `bulk-invite --failed-rows OUT_CSV`: the failed rows written back with
//! the administrator's own columns, ready to fix and upload again.
//!
//! The library's [`ImportReport::failed_rows_csv`] knows only the two
//! columns it reads (and the cells no header names); the rest of a row (a
//! `Department` column, say) is not in the report. So this file is built
//! from the upload itself: it is read again with the `csv` crate, with the
//! delimiter the library found, and its data rows are matched to the
//! report's rows in order (the report has one row per data row that is not
//! blank, in file order, as `read_invite_csv` reads them).
//!
//! The file: UTF-8 with a BOM, CRLF line ends, comma delimited, every cell
//! quoted; an `error` column first, then the upload's header as it was
//! spelled (an `error` column from an earlier round is replaced); each
//! failed row's cells in their columns. Cells are made inert for
//! spreadsheets the way the library does (a leading apostrophe before `=`,
//! `+`, `-`, `@`, ...), which the library's reader removes again, so the
//! file uploaded unchanged addresses exactly the failed rows' emails and
//! groups. Cells beyond the header's last column are kept (the first 100
//! that are not empty), after the others, so such a row fails again the
//! same way instead of losing its cells. Should the upload no longer match
//! the report (it changed on disk meanwhile), the library's two-column
//! file is written instead, with a warning.

use std::io::Write;
use std::path::{Path, PathBuf};

use org_accounts::ImportReport;

use crate::Failure;

/// How many cells beyond the header a failed row keeps (as the library
/// does).
const MAX_UNNAMED_CELLS: usize = 100;

/// The failed-rows file built from the upload `bytes` (as read from disk)
/// and its report; `None` when the upload's rows do not match the report.
fn failed_rows_csv(report: &ImportReport, bytes: &[u8], delimiter: char) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)).ok()?;
    let body = text.get(excel_sep_line_end(text)..)?;
    let delimiter = u8::try_from(delimiter).ok()?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(body.as_bytes());
    let mut records = reader.records();
    let header = records.next()?.ok()?;
    // An `error` column from an earlier round gives way to this one.
    let dropped: Vec<bool> = header
        .iter()
        .map(|h| h.trim().eq_ignore_ascii_case("error"))
        .collect();
    let width = header.len();
    let mut writer = csv::WriterBuilder::new()
        .quote_style(csv::QuoteStyle::Always)
        .terminator(csv::Terminator::CRLF)
        .flexible(true)
        .from_writer(b"\xEF\xBB\xBF".to_vec());
    let mut head = vec!["error".to_owned()];
    head.extend(
        header
            .iter()
            .zip(&dropped)
            .filter(|(_, drop)| !**drop)
            .map(|(cell, _)| inert(cell.trim())),
    );
    writer.write_record(&head).ok()?;
    let mut rows = report.rows().iter();
    for record in records {
        let record = record.ok()?;
        if record.iter().all(|c| c.trim_ascii().is_empty()) {
            continue; // a blank row: the library skips it too
        }
        let row = rows.next()?;
        if row.errors().is_empty() {
            continue;
        }
        let mut cells = vec![inert(&row.message())];
        let mut beyond = 0;
        for (i, cell) in record.iter().enumerate() {
            if i < width {
                if !dropped.get(i).copied().unwrap_or(false) {
                    cells.push(inert(cell.trim()));
                }
            } else if !cell.trim().is_empty() && beyond < MAX_UNNAMED_CELLS {
                beyond += 1;
                cells.push(inert(cell.trim()));
            }
        }
        writer.write_record(&cells).ok()?;
    }
    if rows.next().is_some() {
        return None;
    }
    writer.into_inner().ok()
}

/// Where the rows begin: after an Excel `sep=X` first line, which the
/// library skips (and which names the delimiter the library reports).
fn excel_sep_line_end(text: &str) -> usize {
    let line = text.split(['\n', '\r']).next().unwrap_or("");
    let trimmed = line.trim();
    let is_sep = trimmed
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("sep="))
        && match trimmed.as_bytes().get(4..) {
            Some([d]) => *d != b'"' && d.is_ascii() && !d.is_ascii_alphanumeric(),
            Some([]) => true,
            _ => false,
        };
    if !is_sep {
        return 0;
    }
    let rest = text.get(line.len()..).unwrap_or("");
    let after = rest
        .strip_prefix("\r\n")
        .or_else(|| rest.strip_prefix('\n'))
        .or_else(|| rest.strip_prefix('\r'))
        .unwrap_or("");
    text.len() - after.len()
}

/// The cell as it must be written: the library's own rule, so a file that
/// goes round many times stays as it is.
fn inert(cell: &str) -> String {
    org_accounts::inert_csv_cell(cell).into_owned()
}

/// Where `--failed-rows OUT` goes: a temporary file in the folder of the
/// file to replace, renamed over it once written.
///
/// Only a regular file is ever replaced: OUT itself, a new file at OUT, or
/// the regular file a symbolic link OUT leads to (the link stays, the file
/// it points to is replaced). Anything else (a device such as `/dev/null`,
/// a FIFO, a socket, `/dev/stdout`, a link to one of them or to nothing) is
/// refused as a usage error before anything is stored: renaming over it
/// would replace the special file with a plain one, and writing into it
/// could block or interleave with the report. The failed rows are in the
/// `--json` output as well.
pub(crate) struct FailedRowsOut {
    /// OUT as given, for messages.
    out: PathBuf,
    /// The regular file to replace.
    target: PathBuf,
    temp: tempfile::NamedTempFile,
}

impl FailedRowsOut {
    /// Checks OUT and creates the temporary file beside the file to
    /// replace; OUT itself is not touched.
    pub(crate) fn prepare(
        out: &str,
        input: &Path,
        db: Option<&Path>,
    ) -> Result<FailedRowsOut, Failure> {
        if out.is_empty() {
            return Err(Failure::usage(
                &["bulk-invite"],
                "--failed-rows needs the path of a file to write",
            ));
        }
        let out = PathBuf::from(out);
        let shown = out.display();
        let not_regular = || {
            Failure::usage(
                &["bulk-invite"],
                format!(
                    "--failed-rows {shown} is not a regular file (a device, FIFO or socket); give the path of a regular file to write"
                ),
            )
        };
        let directory = || {
            Failure::usage(
                &["bulk-invite"],
                format!("--failed-rows {shown} is a directory; give the path of a file to write"),
            )
        };
        let target = match std::fs::symlink_metadata(&out) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => out.clone(),
            Err(e) => {
                return Err(Failure::refused(
                    "cannot_write_file",
                    format!("cannot write {shown}: {e}"),
                ));
            }
            Ok(meta) if meta.file_type().is_symlink() => {
                let resolved = std::fs::canonicalize(&out).ok();
                match resolved.as_ref().map(std::fs::metadata) {
                    Some(Ok(m)) if m.is_file() => resolved.unwrap_or_else(|| out.clone()),
                    Some(Ok(m)) if m.is_dir() => return Err(directory()),
                    Some(Ok(_)) => return Err(not_regular()),
                    // A link to nothing, or through a magic link such as
                    // /dev/stdout to a pipe.
                    _ => {
                        return Err(Failure::usage(
                            &["bulk-invite"],
                            format!(
                                "--failed-rows {shown} is a symbolic link that does not lead to a regular file; give the path of a regular file to write"
                            ),
                        ));
                    }
                }
            }
            Ok(meta) if meta.is_dir() => return Err(directory()),
            Ok(meta) if meta.is_file() => out.clone(),
            Ok(_) => return Err(not_regular()),
        };
        if same_file(&target, input) {
            return Err(Failure::usage(
                &["bulk-invite"],
                format!(
                    "--failed-rows {shown} is the file being uploaded; write the failed rows to another file"
                ),
            ));
        }
        if let Some(db) = db
            && guarded_by(db).iter().any(|g| same_file(&target, g))
        {
            return Err(Failure::usage(
                &["bulk-invite"],
                format!(
                    "--failed-rows {shown} is the database (or its journal); write the failed rows to another file"
                ),
            ));
        }
        let dir = folder_of(&target);
        let temp = tempfile::Builder::new()
            .prefix(".failed-rows-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| {
                Failure::refused(
                    "cannot_write_file",
                    format!(
                        "cannot write {shown}: cannot create a file in {}: {e}",
                        dir.display()
                    ),
                )
            })?;
        Ok(FailedRowsOut { out, target, temp })
    }

    /// OUT as given, for messages.
    pub(crate) fn shown(&self) -> String {
        self.out.display().to_string()
    }

    /// Writes the failed rows of `report`, read from `upload` with
    /// `delimiter` (see the module docs), and renames the file over OUT
    /// (keeping an existing OUT's permissions; a new file is readable by
    /// its owner only, since it holds people's addresses).
    pub(crate) fn write(
        mut self,
        report: &ImportReport,
        upload: &Path,
        delimiter: char,
    ) -> std::io::Result<()> {
        // The library has checked the upload (a regular file within the
        // size cap): reading it again is bounded.
        let bytes = std::fs::read(upload)?;
        let rows = failed_rows_csv(report, &bytes, delimiter).unwrap_or_else(|| {
            crate::warn(&format!(
                "{} changed while it was read; the failed rows are written with the columns email and group membership only",
                upload.display()
            ));
            report.failed_rows_csv()
        });
        self.temp.write_all(&rows)?;
        self.temp.as_file().sync_all()?;
        if let Ok(existing) = std::fs::metadata(&self.target) {
            self.temp
                .as_file()
                .set_permissions(existing.permissions())?;
        }
        self.temp.persist(&self.target).map_err(|e| e.error)?;
        Ok(())
    }
}

/// The files no output may replace: the database and the journal files
/// SQLite keeps beside it, both as `--db` names them and beside the file
/// it resolves to (a symbolic link's `-wal` is the target's `-wal`).
fn guarded_by(db: &Path) -> Vec<PathBuf> {
    let mut bases = vec![db.to_path_buf()];
    bases.extend(std::fs::canonicalize(db).ok());
    let mut guarded = Vec::new();
    for base in bases {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = base.as_os_str().to_owned();
            name.push(suffix);
            guarded.push(PathBuf::from(name));
        }
    }
    guarded
}

/// The folder a path names a file in (`.` for a bare file name).
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The path with its folder resolved (symbolic links, `.`, `..`): the
/// file's canonical path if it exists, else its folder's canonical path
/// joined with its name.
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = std::fs::canonicalize(path) {
        return Some(p);
    }
    let name = path.file_name()?;
    std::fs::canonicalize(folder_of(path))
        .ok()
        .map(|dir| dir.join(name))
}

/// Whether `a` and `b` name the same file: the same resolved path, or
/// (on Unix) the same device and inode, which also catches hard links.
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b))
            && (ma.dev(), ma.ino()) == (mb.dev(), mb.ino())
        {
            return true;
        }
    }
    match (resolved(a), resolved(b)) {
        (Some(ra), Some(rb)) => ra == rb,
        // Unresolvable (a folder that does not exist): compare as given.
        _ => a == b,
    }
}
