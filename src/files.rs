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
    /// The path names no regular file: a directory, a device (`/dev/zero`),
    /// a FIFO or a socket. It is refused from its metadata before it is
    /// opened (opening a FIFO waits for a writer). Handle: show the message;
    /// upload a file saved on disk.
    #[error("cannot read {}: it is {what}, not a regular file; upload a CSV file saved on disk", path.display())]
    NotAFile {
        /// The path.
        path: PathBuf,
        /// What it is instead ("a directory", "a FIFO", ...).
        what: &'static str,
    },
    /// The file grew past [`CsvOptions::max_file_bytes`] while it was read
    /// (or its size was understated, as `/proc` files do): at least
    /// `at_least` bytes were there. Handle: as [`CsvError::FileTooLarge`].
    #[error(
        "the file grew to at least {at_least} bytes while it was read; at most {max} bytes are accepted. Remove unneeded columns or split the file, and upload it once it is no longer being written"
    )]
    GrewTooLarge {
        /// How many bytes were read before reading stopped (one more than
        /// the cap).
        at_least: usize,
        /// The cap.
        max: usize,
    },
    /// The file was read and refused as a whole (too large, not UTF-8,
    /// missing columns, ...). Handle: as [`CsvError`].
    #[error(transparent)]
    Csv(#[from] CsvError),
}

impl CsvFileError {
    /// A stable snake_case code: `cannot_read_file`, `not_a_file`,
    /// `file_too_large` (for [`CsvFileError::GrewTooLarge`]), or the
    /// [`CsvError::code`] of the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            CsvFileError::Io { .. } => "cannot_read_file",
            CsvFileError::NotAFile { .. } => "not_a_file",
            CsvFileError::GrewTooLarge { .. } => "file_too_large",
            CsvFileError::Csv(e) => e.code(),
        }
    }
}

/// What a file that is not a regular file is, in words.
fn kind_of(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// Reads the invite file at `path`, refusing a file over
/// [`CsvOptions::max_file_bytes`] before reading it.
///
/// Only a regular file (or a symbolic link to one) is read: a directory,
/// a device (`/dev/zero`), a FIFO or a socket is refused from its metadata
/// before it is opened, since opening a FIFO waits for a writer and a
/// device may never end. The size the file system reports is checked
/// next, so a huge file is refused without being read; then at most one
/// byte more than the cap is read, so a file that grows while it is read
/// is refused too ([`CsvFileError::GrewTooLarge`]), in memory bounded by
/// the cap. The bytes then go through [`read_invite_csv`].
///
/// A path swapped for a FIFO between the check and the opening could still
/// make the opening wait; the opened file is checked again.
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
/// [`CsvFileError::NotAFile`] for a directory, device, FIFO or socket;
/// [`CsvFileError::GrewTooLarge`] when more than the cap was read from a
/// file whose size said less; [`CsvFileError::Csv`] when it is refused
/// ([`CsvError::FileTooLarge`] for a file over the cap, whatever its
/// contents).
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
    let not_a_file = |metadata: &std::fs::Metadata| CsvFileError::NotAFile {
        path: path.to_owned(),
        what: kind_of(metadata.file_type()),
    };
    // Before opening: opening a FIFO blocks until someone writes to it.
    let before = std::fs::metadata(path).map_err(io_error)?;
    if !before.is_file() {
        return Err(not_a_file(&before));
    }
    let file = File::open(path).map_err(io_error)?;
    let metadata = file.metadata().map_err(io_error)?;
    if !metadata.is_file() {
        return Err(not_a_file(&metadata));
    }
    let too_large = |bytes: u64| CsvError::FileTooLarge {
        bytes: usize::try_from(bytes).unwrap_or(usize::MAX),
        max,
    };
    let max_u64 = u64::try_from(max).unwrap_or(u64::MAX);
    if metadata.len() > max_u64 {
        return Err(too_large(metadata.len()).into());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    file.take(max_u64.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() > max {
        // The file grew while it was read (or understated its size): it is
        // at least this large.
        return Err(CsvFileError::GrewTooLarge {
            at_least: bytes.len(),
            max,
        });
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
    fn devices_are_refused_without_being_read() {
        for device in ["/dev/zero", "/dev/null"] {
            let err = read_invite_csv_file(device, &CsvOptions::default()).unwrap_err();
            assert_eq!(err.code(), "not_a_file", "{device}: {err}");
            let message = err.to_string();
            assert!(
                message.contains(device) && message.contains("a device"),
                "{message}"
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_before_it_is_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("upload.csv");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .is_ok_and(|s| s.success());
        if !made {
            eprintln!("\n*** SKIPPED: a_fifo_is_refused_before_it_is_opened needs mkfifo ***\n");
            return;
        }
        // Nobody writes to the FIFO: opening it would wait forever, so
        // the answer must come from its metadata. Run it on a thread to
        // fail (rather than hang) if it does not.
        let (tx, rx) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || {
            let _ = tx.send(read_invite_csv_file(&path, &CsvOptions::default()).map(|f| f.len()));
        });
        let result = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("reading a FIFO hangs");
        let err = result.unwrap_err();
        assert_eq!(err.code(), "not_a_file");
        assert!(err.to_string().contains("FIFO"), "{err}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_larger_than_its_size_says_at_least() {
        // /proc files report a size of 0 but hold more: like a file that
        // grows while it is read.
        let options = CsvOptions::default().with_max_file_bytes(10);
        let err = read_invite_csv_file("/proc/self/status", &options).unwrap_err();
        assert_eq!(err.code(), "file_too_large");
        match &err {
            CsvFileError::GrewTooLarge { at_least, max } => assert_eq!((*at_least, *max), (11, 10)),
            other => panic!("expected GrewTooLarge, got {other:?}"),
        }
        assert!(err.to_string().contains("at least 11 bytes"), "{err}");
    }
}
