//! Reading an invite file from disk with the size cap checked first.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::core::bulk::CsvError;
use crate::core::bulk::{CsvOptions, InviteFile, read_invite_csv};

/// An invite file on disk could not be read, or was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsvFileError {
    /// The file could not be opened or read. Handle: show the message;
    /// check the path and the file's permissions.
    #[error("cannot read {}: {source}; check the path and that the file can be read", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: io::Error,
    },
    /// The file was read and refused as a whole (too large, not UTF-8,
    /// missing columns, ...). Handle: as [`CsvError`].
    #[error(transparent)]
    Csv(#[from] CsvError),
}

impl CsvFileError {
    /// A stable snake_case code: `cannot_read_file`, or the
    /// [`CsvError::code`] of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            CsvFileError::Io { .. } => "cannot_read_file",
            CsvFileError::Csv(e) => e.code(),
        }
    }
}

/// Reads the invite file at `path`, refusing a file over
/// [`CsvOptions::max_file_bytes`] before reading it.
///
/// The size the file system reports is checked first, so a huge file is
/// refused without being read; then at most one byte more than the cap is
/// read, so a file that grows while it is read, a pipe, or a device that
/// never ends is refused too, in memory bounded by the cap. The bytes then
/// go through [`read_invite_csv`].
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use org_accounts::{read_invite_csv_file, CsvOptions};
///
/// let dir = std::env::temp_dir().join(format!("org-accounts-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("invite.csv");
/// std::fs::write(&path, "email,group membership\nann@example.com,\n")?;
/// let file = read_invite_csv_file(&path, &CsvOptions::default())?;
/// assert_eq!(file.len(), 1);
///
/// let small = CsvOptions::default().with_max_file_bytes(10);
/// let err = read_invite_csv_file(&path, &small).unwrap_err();
/// assert_eq!(err.code(), "file_too_large");
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
///
/// # Errors
/// [`CsvFileError::Io`] when the file cannot be opened or read;
/// [`CsvFileError::Csv`] when it is refused ([`CsvError::FileTooLarge`]
/// for a file over the cap, whatever its contents).
pub fn read_invite_csv_file(
    path: impl AsRef<Path>,
    options: &CsvOptions,
) -> Result<InviteFile, CsvFileError> {
    let path = path.as_ref();
    let io_error = |source| CsvFileError::Io {
        path: path.to_owned(),
        source,
    };
    let max = options.max_file_bytes;
    let file = File::open(path).map_err(io_error)?;
    let metadata = file.metadata().map_err(io_error)?;
    if metadata.is_dir() {
        return Err(io_error(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is a directory, not a file",
        )));
    }
    let too_large = |bytes: u64| CsvError::FileTooLarge {
        bytes: usize::try_from(bytes).unwrap_or(usize::MAX),
        max,
    };
    let max_u64 = u64::try_from(max).unwrap_or(u64::MAX);
    // Pipes and devices report 0: only the bounded read below caps them.
    if metadata.len() > max_u64 {
        return Err(too_large(metadata.len()).into());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(max_u64.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    let read = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if read > max_u64 {
        // The file grew, or never ends: it is at least this large.
        return Err(too_large(read).into());
    }
    Ok(read_invite_csv(&bytes, options)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn too_large(result: Result<InviteFile, CsvFileError>) -> (usize, usize) {
        match result {
            Err(CsvFileError::Csv(CsvError::FileTooLarge { bytes, max })) => (bytes, max),
            other => panic!("expected file_too_large, got {other:?}"),
        }
    }

    #[test]
    fn a_huge_sparse_file_is_refused_by_its_size_without_being_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge.csv");
        // 1 TiB, sparse: reading it would take hours; it must not be read.
        let file = File::create(&path).unwrap();
        file.set_len(1 << 40).unwrap();
        drop(file);
        let started = std::time::Instant::now();
        let (bytes, max) = too_large(read_invite_csv_file(&path, &CsvOptions::default()));
        assert_eq!(bytes as u64, 1 << 40);
        assert_eq!(max, crate::DEFAULT_MAX_FILE_BYTES);
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn a_file_at_the_cap_is_read_and_one_byte_more_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ok.csv");
        let text = b"email,group membership\nann@example.com,\n";
        std::fs::write(&path, text).unwrap();
        let exact = CsvOptions::default().with_max_file_bytes(text.len());
        assert_eq!(read_invite_csv_file(&path, &exact).unwrap().len(), 1);
        let less = CsvOptions::default().with_max_file_bytes(text.len() - 1);
        assert_eq!(
            too_large(read_invite_csv_file(&path, &less)),
            (text.len(), text.len() - 1)
        );
    }

    #[test]
    fn io_errors_name_the_file() {
        let err = read_invite_csv_file("/no/such/dir/x.csv", &CsvOptions::default()).unwrap_err();
        assert_eq!(err.code(), "cannot_read_file");
        assert!(err.to_string().contains("/no/such/dir/x.csv"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let err = read_invite_csv_file(dir.path(), &CsvOptions::default()).unwrap_err();
        assert!(err.to_string().contains("directory"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn an_endless_device_is_capped() {
        let options = CsvOptions::default().with_max_file_bytes(1 << 16);
        assert_eq!(
            too_large(read_invite_csv_file("/dev/zero", &options)),
            ((1 << 16) + 1, 1 << 16)
        );
    }

    #[cfg(unix)]
    #[test]
    fn an_endless_fifo_is_capped() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("upload.csv");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success());
        if !made {
            eprintln!("\n*** SKIPPED: an_endless_fifo_is_capped needs mkfifo ***\n");
            return;
        }
        let writer_path = fifo.clone();
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let mut w = std::fs::OpenOptions::new()
                .write(true)
                .open(writer_path)
                .unwrap();
            let chunk = [b'a'; 4096];
            // Until the reader goes away (a broken pipe).
            while w.write_all(&chunk).is_ok() {}
        });
        let options = CsvOptions::default().with_max_file_bytes(100_000);
        assert_eq!(
            too_large(read_invite_csv_file(&fifo, &options)),
            (100_001, 100_000)
        );
        writer.join().unwrap();
    }
}
