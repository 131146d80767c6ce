//! The SQLite store (feature `sqlite`; SQLite is bundled, nothing to
//! install).
//!
//! One file can hold many organizations and be shared by several processes:
//! the database runs in WAL mode, every write is one `BEGIN IMMEDIATE`
//! transaction, and a busy database is waited for (up to the busy timeout)
//! rather than failed. Appends check the expected version inside the write
//! transaction, and `(org, version)` is the events table's primary key, so
//! two writers can never both append the same version.
//!
//! Why `rusqlite` on tokio's blocking pool rather than `sqlx`'s SQLite
//! driver: the bundled SQLite and these transaction semantics (WAL, one
//! `BEGIN IMMEDIATE` per write, `synchronous=FULL`, multi-process safety,
//! all-or-nothing uploads under `kill -9`) are what the store was built and
//! tested on; SQLite is synchronous underneath either way (`sqlx` runs it
//! on worker threads too); and linking both `rusqlite` and `sqlx`'s SQLite
//! would link two builds of the same C library. Every call runs in
//! `spawn_blocking`, so no executor thread ever waits on the disk.
//!
//! Sign-ins become visible in order: a sign-in takes the next position
//! inside its `BEGIN IMMEDIATE` transaction, and SQLite lets one writer at a
//! time (across processes) hold that lock until it commits, so no reader
//! sees position `p + 1` before `p`. One limit remains, measured by
//! `cargo bench --bench sign_in_under_load`: a sign-in shares the
//! database's one write lock with appends, so it waits for a running
//! 1000-row upload's transaction (p99 about 4x idle, where the in-memory
//! store stays under 2x).

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::ports::{
    ActivityStore, ConflictError, EventStore, OrganizationId, SignIn, SnapshotStore, StoreError,
    Version,
};
use crate::{Event, Snapshot, UserId};

/// The schema version this library creates and reads (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

/// How long a write waits for another process's write to finish.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Events, snapshots and sign-ins in a SQLite database file (feature
/// `sqlite`).
///
/// Open it with [`SqliteStore::open`] to read and write, or with
/// [`SqliteStore::open_read_only`] to only read (a file the process may
/// not write, or a query that must not change anything).
///
/// The connection is synchronous (`rusqlite`, bundled SQLite); every
/// operation runs on the tokio runtime's blocking pool
/// (`spawn_blocking`), so awaiting the store never blocks an executor
/// thread. Outside a tokio runtime it runs on the calling thread. Cloning
/// is cheap and shares the connection.
#[derive(Clone)]
pub struct SqliteStore {
    db: Arc<Db>,
}

/// The connection and its mode: the synchronous half of the store.
struct Db {
    conn: Mutex<Connection>,
    read_only: bool,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::backend(e)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// A refusal of this store itself (a path it will not open, a write to a
/// read-only store), reported as [`StoreError::Backend`] with a message
/// that says what to do.
#[derive(Debug)]
struct Refused(String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

fn refused(message: String) -> StoreError {
    StoreError::backend(Refused(message))
}

/// An error while reading a stored row: a value of the wrong type (text
/// where a number belongs, a number out of range) is damage, not a
/// failure of the database.
fn row_error(what: &str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| match e {
        rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => corrupt(what, e),
        other => backend(other),
    }
}

/// Refuses paths that SQLite would turn into something other than the
/// named file: the empty path (a private temporary database, gone when
/// the store is dropped), `:memory:` (a private in-memory database), and a
/// directory.
fn check_path(path: &Path) -> Result<(), StoreError> {
    if path.as_os_str().is_empty() {
        return Err(refused(
            "an empty path names no database file (SQLite would open a private temporary database that nothing else can see); give the path of a file, or use SqliteStore::open_in_memory".into(),
        ));
    }
    if path.as_os_str() == ":memory:" {
        return Err(refused(
            "\":memory:\" names no database file (SQLite would open a private in-memory database); use SqliteStore::open_in_memory for that, or ./:memory: for a file of that name".into(),
        ));
    }
    if path.is_dir() {
        return Err(refused(format!(
            "{} is a directory, not a database file; give the path of a file",
            path.display()
        )));
    }
    // A FIFO would block the open, a device would be written to: only a
    // regular file (or a path that does not exist yet) is a database.
    if let Ok(meta) = std::fs::metadata(path)
        && !meta.is_file()
    {
        return Err(refused(format!(
            "{} is not a regular file (a device, FIFO or socket); give the path of a database file",
            path.display()
        )));
    }
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, creates or
    /// migrates its schema, and switches it to WAL mode.
    ///
    /// `path` is a file path, taken literally (`file:` URIs are not
    /// interpreted). The empty path and `:memory:`, which SQLite would turn
    /// into a private database no other handle can see, are refused: use
    /// [`SqliteStore::open_in_memory`] for that.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the path is empty, `:memory:` or a
    /// directory, or the file cannot be opened or migrated;
    /// [`StoreError::Corrupt`] when it was written by a newer library.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref();
        check_path(path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(backend)?;
        SqliteStore::with_connection(conn)
    }

    /// Opens an existing database at `path` for reading only: nothing is
    /// created, migrated or switched to WAL mode, so a file the process may
    /// not write (or on a read-only medium) can still be queried.
    ///
    /// A WAL-mode reader needs the `-shm` file beside the database. When it
    /// cannot be created (a folder the process may not write) and no `-wal`
    /// file is there (no writer has the database open), the file is read
    /// as immutable: SQLite then takes no locks, so a writer that opens the
    /// database while this store reads it may make reads fail; reopen then.
    ///
    /// Every write ([`EventStore::append`], [`SnapshotStore::save_snapshot`],
    /// [`ActivityStore::record_sign_in`]) then fails with
    /// [`StoreError::Backend`] saying the store was opened read-only.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the path is empty, `:memory:` or a
    /// directory, when there is no file at `path`, or when it cannot be
    /// opened; [`StoreError::Corrupt`] when the file holds no schema of this
    /// library (not created by it, or never opened for writing) or one
    /// written by a newer library.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref();
        check_path(path)?;
        if let Err(e) = std::fs::metadata(path) {
            return Err(refused(format!(
                "cannot open the database {} for reading: {e}",
                path.display()
            )));
        }
        let (conn, version) = match read_only_connection(path, false) {
            Ok(opened) => opened,
            // In WAL mode even a reader needs the `-shm` file beside the
            // database; in a folder the process may not write, it cannot be
            // created. With no `-wal` file (no writer has the database
            // open, and nothing is waiting to be checkpointed) the file
            // alone is the whole database: read it as immutable.
            Err(e) if cannot_open(&e) && !has_wal_frames(path) => {
                read_only_connection(path, true).map_err(|_| backend(e))?
            }
            Err(e) => return Err(backend(e)),
        };
        if version > SCHEMA_VERSION {
            return Err(StoreError::Corrupt(format!(
                "the database {} has schema version {version}, newer than this library reads ({SCHEMA_VERSION}); upgrade org-accounts",
                path.display()
            )));
        }
        if version < SCHEMA_VERSION {
            return Err(StoreError::Corrupt(format!(
                "the database {} has no org-accounts schema{}; open it for writing once (SqliteStore::open) to create it",
                path.display(),
                if version == 0 {
                    String::new()
                } else {
                    format!(" of this version (it has version {version})")
                }
            )));
        }
        Ok(SqliteStore::from_db(Db {
            conn: Mutex::new(conn),
            read_only: true,
        }))
    }

    /// A private in-memory database (for tests).
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let conn = Connection::open_in_memory().map_err(backend)?;
        SqliteStore::with_connection(conn)
    }

    fn with_connection(mut conn: Connection) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(DEFAULT_BUSY_TIMEOUT).map_err(backend)?;
        // WAL lets readers proceed while one process writes. (An in-memory
        // database answers "memory"; that is fine.)
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(backend)?;
        // FULL: a committed invitation survives a power cut, not just a
        // crash of the process.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(backend)?;
        migrate(&mut conn)?;
        Ok(SqliteStore::from_db(Db {
            conn: Mutex::new(conn),
            read_only: false,
        }))
    }

    fn from_db(db: Db) -> SqliteStore {
        SqliteStore { db: Arc::new(db) }
    }

    /// Whether this store was opened with [`SqliteStore::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.db.read_only
    }

    /// How long a write waits for another process's write to finish before
    /// failing with [`StoreError::Backend`] (default
    /// [`DEFAULT_BUSY_TIMEOUT`]).
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<(), StoreError> {
        self.db.conn().busy_timeout(timeout).map_err(backend)
    }

    /// Runs `work` on the connection on the blocking pool (or right here
    /// outside a tokio runtime).
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Db) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = Arc::clone(&self.db);
        crate::runtime::off_executor(move || work(&db))
            .await
            .map_err(|e| refused(format!("a SQLite operation did not finish: {e}")))?
    }
}

impl Db {
    fn writable(&self, what: &str) -> Result<(), StoreError> {
        if self.read_only {
            return Err(refused(format!(
                "cannot {what}: this store was opened read-only (SqliteStore::open_read_only); open it with SqliteStore::open to write"
            )));
        }
        Ok(())
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no open transaction behind
        // (rusqlite rolls back on drop), so the connection is still usable.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Opens `path` read-only and reads its schema version (which makes
/// SQLite open the WAL index, so a missing `-shm` shows here). With
/// `immutable`, SQLite is told the file cannot change: no locks, no WAL
/// index.
fn read_only_connection(
    path: &Path,
    immutable: bool,
) -> Result<(Connection, i64), rusqlite::Error> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = if immutable {
        let uri =
            immutable_uri(path).ok_or_else(|| rusqlite::Error::InvalidPath(path.to_owned()))?;
        Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)?
    } else {
        Connection::open_with_flags(path, flags)?
    };
    conn.busy_timeout(DEFAULT_BUSY_TIMEOUT)?;
    let version = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    Ok((conn, version))
}

/// `file:PATH?mode=ro&immutable=1`, the path percent-encoded; `None` for
/// a path that is not UTF-8.
fn immutable_uri(path: &Path) -> Option<String> {
    let absolute = std::path::absolute(path).ok()?;
    let text = absolute.to_str()?;
    let mut uri = String::from("file:");
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri.push_str("?mode=ro&immutable=1");
    Some(uri)
}

/// Whether SQLite could not open a file it needs (the database, or the
/// `-shm` beside it).
fn cannot_open(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
    )
}

/// Whether a non-empty `-wal` file lies beside `path` (or cannot be
/// checked).
fn has_wal_frames(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    match std::fs::metadata(std::path::PathBuf::from(wal)) {
        Ok(m) => m.len() > 0,
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
}

/// Creates the schema, or upgrades an older one, in one write transaction
/// (so two processes opening a new file at once do not race).
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(backend)?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(backend)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Corrupt(format!(
            "the database has schema version {version}, newer than this library reads ({SCHEMA_VERSION}); upgrade org-accounts"
        )));
    }
    if version < 1 {
        tx.execute_batch(
            "CREATE TABLE events (
                 org     TEXT    NOT NULL,
                 version INTEGER NOT NULL,
                 data    TEXT    NOT NULL,
                 PRIMARY KEY (org, version)
             ) WITHOUT ROWID;
             CREATE TABLE snapshots (
                 org     TEXT    NOT NULL PRIMARY KEY,
                 version INTEGER NOT NULL,
                 data    TEXT    NOT NULL
             );
             CREATE TABLE activity (
                 org         TEXT    NOT NULL,
                 user_id     INTEGER NOT NULL,
                 last_active TEXT    NOT NULL,
                 position    INTEGER NOT NULL,
                 PRIMARY KEY (org, user_id)
             ) WITHOUT ROWID;
             CREATE INDEX activity_position ON activity (org, position);
             PRAGMA user_version = 1;",
        )
        .map_err(backend)?;
    }
    tx.commit().map_err(backend)
}

fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("version {v} is out of range")))
}

impl Db {
    fn append(
        &self,
        org: &OrganizationId,
        expected: Version,
        rows: &[String],
    ) -> Result<Version, StoreError> {
        self.writable("append events")?;
        let new_version = u64::try_from(rows.len())
            .ok()
            .and_then(|n| expected.checked_add(n))
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "organization {org}: version {expected} plus {} events is out of range",
                    rows.len()
                ))
            })?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let actual: i64 = tx
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM events WHERE org = ?1",
                [org.as_str()],
                |row| row.get(0),
            )
            .map_err(row_error("the latest event version"))?;
        let actual = u64::try_from(actual).map_err(|_| {
            StoreError::Corrupt(format!(
                "organization {org} has a negative event version {actual}"
            ))
        })?;
        if actual != expected {
            return Err(ConflictError { expected, actual }.into());
        }
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO events (org, version, data) VALUES (?1, ?2, ?3)")
                .map_err(backend)?;
            for (version, data) in (expected..new_version).map(|v| v + 1).zip(rows) {
                insert
                    .execute(params![org.as_str(), to_i64(version)?, data])
                    .map_err(backend)?;
            }
        }
        tx.commit().map_err(backend)?;
        Ok(new_version)
    }

    /// Reads the events after `after`, checking that their versions run
    /// `after + 1, after + 2, ...` without a gap, and that no version is
    /// below 1 or not an integer: damage is reported as
    /// [`StoreError::Corrupt`], never skipped.
    fn read(&self, org: &OrganizationId, after: Version) -> Result<Vec<Event>, StoreError> {
        let conn = self.conn();
        let what = format!("an event version of organization {org}");
        // Versions below 1 sort before the range asked for: look for them
        // first (one step down the primary key), so they are reported
        // rather than skipped.
        let lowest: Option<i64> = conn
            .prepare_cached("SELECT MIN(version) FROM events WHERE org = ?1")
            .and_then(|mut s| s.query_row([org.as_str()], |row| row.get(0)))
            .map_err(row_error(&what))?;
        if let Some(lowest) = lowest.filter(|v| *v <= 0) {
            return Err(StoreError::Corrupt(format!(
                "organization {org} has an event with version {lowest}; versions start at 1"
            )));
        }
        let mut select = conn
            .prepare_cached(
                "SELECT version, data FROM events WHERE org = ?1 AND version > ?2 ORDER BY version",
            )
            .map_err(backend)?;
        let rows = select
            .query_map(params![org.as_str(), to_i64(after)?], |row| {
                Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(backend)?;
        let mut events = Vec::new();
        let mut expected = after;
        for row in rows {
            let (version, data) = row.map_err(row_error(&what))?;
            expected = expected.checked_add(1).ok_or_else(|| {
                StoreError::Corrupt(format!("organization {org} has too many events"))
            })?;
            if u64::try_from(version).ok() != Some(expected) {
                return Err(StoreError::Corrupt(format!(
                    "organization {org} is missing event {expected} (the next stored event is {version})"
                )));
            }
            events.push(
                serde_json::from_str(&data)
                    .map_err(|e| corrupt(&format!("event {version} of organization {org}"), e))?,
            );
        }
        Ok(events)
    }
}

impl Db {
    fn save_snapshot(
        &self,
        org: &OrganizationId,
        version: Version,
        data: &[u8],
    ) -> Result<(), StoreError> {
        self.writable("save a snapshot")?;
        self.conn()
            .execute(
                "INSERT INTO snapshots (org, version, data) VALUES (?1, ?2, ?3)
                 ON CONFLICT (org) DO UPDATE SET version = excluded.version, data = excluded.data
                 WHERE excluded.version > snapshots.version",
                params![org.as_str(), to_i64(version)?, data],
            )
            .map_err(backend)?;
        Ok(())
    }

    /// The stored snapshot; [`StoreError::Corrupt`] when its data does not
    /// decode or its version column disagrees with the version inside it
    /// (the service then rebuilds the organization from its events).
    ///
    /// `data` holds [`Snapshot::to_bytes`] as a BLOB, or, written by
    /// earlier versions, JSON text; both decode (SQLite keeps a BLOB in
    /// the TEXT-declared column as it is, so no migration is needed).
    fn load_snapshot(&self, org: &OrganizationId) -> Result<Option<Snapshot>, StoreError> {
        let what = format!("the snapshot of organization {org}");
        let row: Option<(i64, Result<Snapshot, String>)> = self
            .conn()
            .query_row(
                "SELECT version, data FROM snapshots WHERE org = ?1",
                [org.as_str()],
                |row| {
                    let data = match row.get_ref(1)? {
                        ValueRef::Blob(bytes) | ValueRef::Text(bytes) => {
                            Snapshot::from_bytes(bytes).map_err(|e| e.to_string())
                        }
                        _ => Err("its data is neither bytes nor text".to_owned()),
                    };
                    Ok((row.get(0)?, data))
                },
            )
            .optional()
            .map_err(row_error(&what))?;
        let Some((version, data)) = row else {
            return Ok(None);
        };
        let snapshot = data.map_err(|e| corrupt(&what, e))?;
        if u64::try_from(version).ok() != Some(snapshot.version()) {
            return Err(StoreError::Corrupt(format!(
                "{what} is stored as version {version} but holds version {}",
                snapshot.version()
            )));
        }
        Ok(Some(snapshot))
    }
}

impl Db {
    fn record_sign_in(
        &self,
        org: &OrganizationId,
        user: UserId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.writable("record a sign-in")?;
        let user = to_i64(user.get())?;
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(backend)?;
        let stored: Option<String> = tx
            .query_row(
                "SELECT last_active FROM activity WHERE org = ?1 AND user_id = ?2",
                params![org.as_str(), user],
                |row| row.get(0),
            )
            .optional()
            .map_err(row_error("a Last active time"))?;
        if let Some(stored) = stored {
            let last: Timestamp = stored
                .parse()
                .map_err(|e| corrupt("a Last active time", e))?;
            if at <= last {
                return Ok(());
            }
        }
        // Positions become visible in the order they are given: the write
        // transaction is IMMEDIATE, so one writer at a time (in any
        // process) takes the next position and commits before the next
        // writer reads the highest. No reader can see position p+1 before
        // p. The next position is computed here, checked, rather than in
        // SQL, where it would overflow into a float.
        let highest: Option<i64> = tx
            .query_row(
                "SELECT MAX(position) FROM activity WHERE org = ?1",
                [org.as_str()],
                |row| row.get(0),
            )
            .map_err(row_error("the latest sign-in position"))?;
        let position = highest.unwrap_or(0).checked_add(1).ok_or_else(|| {
            StoreError::Corrupt(format!(
                "organization {org}: the sign-in position is at its limit; the activity table is damaged"
            ))
        })?;
        tx.execute(
            "INSERT INTO activity (org, user_id, last_active, position)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (org, user_id) DO UPDATE
             SET last_active = excluded.last_active, position = excluded.position",
            params![org.as_str(), user, at.to_string(), position],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)
    }

    /// The sign-ins after `after`. A position or user id that is not a
    /// positive integer is reported as corruption, never skipped.
    fn sign_ins_after(
        &self,
        org: &OrganizationId,
        after: u64,
    ) -> Result<(Vec<SignIn>, u64), StoreError> {
        let conn = self.conn();
        let what = format!("a sign-in of organization {org}");
        // Positions below 1 sort before the range asked for: look for them
        // first (one step down the index), so they are reported, not skipped.
        let lowest: Option<i64> = conn
            .prepare_cached("SELECT MIN(position) FROM activity WHERE org = ?1")
            .and_then(|mut s| s.query_row([org.as_str()], |row| row.get(0)))
            .map_err(row_error(&what))?;
        if let Some(lowest) = lowest.filter(|p| *p <= 0) {
            return Err(StoreError::Corrupt(format!(
                "{what} has position {lowest}; positions start at 1"
            )));
        }
        let mut select = conn
            .prepare_cached(
                "SELECT user_id, last_active, position FROM activity
                 WHERE org = ?1 AND position > ?2 ORDER BY position",
            )
            .map_err(backend)?;
        let rows = select
            .query_map(params![org.as_str(), to_i64(after)?], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })
            .map_err(backend)?;
        let mut sign_ins = Vec::new();
        let mut next = after;
        for row in rows {
            let (user, at, position) = row.map_err(row_error(&what))?;
            let position = u64::try_from(position)
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "{what} has position {position}; positions start at 1"
                    ))
                })?;
            let user = u64::try_from(user).map_err(|_| {
                StoreError::Corrupt(format!("{what} (position {position}) names user {user}"))
            })?;
            sign_ins.push(SignIn {
                user: UserId(user),
                at: at.parse().map_err(|e| {
                    corrupt(
                        &format!(
                            "the Last active time at position {position} of organization {org}"
                        ),
                        e,
                    )
                })?,
            });
            next = next.max(position);
        }
        Ok((sign_ins, next))
    }
}

impl EventStore for SqliteStore {
    async fn append(
        &self,
        org: &OrganizationId,
        expected: Version,
        events: &[Event],
    ) -> Result<Version, StoreError> {
        let rows: Vec<String> = events
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<_, _>>()
            .map_err(|e| corrupt("cannot serialize an event", e))?;
        let org = org.clone();
        self.run(move |db| db.append(&org, expected, &rows)).await
    }

    async fn read(&self, org: &OrganizationId, after: Version) -> Result<Vec<Event>, StoreError> {
        let org = org.clone();
        self.run(move |db| db.read(&org, after)).await
    }
}

impl SnapshotStore for SqliteStore {
    async fn save_snapshot(
        &self,
        org: &OrganizationId,
        snapshot: &Snapshot,
    ) -> Result<(), StoreError> {
        let data = snapshot
            .to_bytes()
            .map_err(|e| corrupt("cannot encode a snapshot", e))?;
        let (org, version) = (org.clone(), snapshot.version());
        self.run(move |db| db.save_snapshot(&org, version, &data))
            .await
    }

    async fn load_snapshot(&self, org: &OrganizationId) -> Result<Option<Snapshot>, StoreError> {
        let org = org.clone();
        self.run(move |db| db.load_snapshot(&org)).await
    }
}

impl ActivityStore for SqliteStore {
    async fn record_sign_in(
        &self,
        org: &OrganizationId,
        user: UserId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let org = org.clone();
        self.run(move |db| db.record_sign_in(&org, user, at)).await
    }

    async fn sign_ins_after(
        &self,
        org: &OrganizationId,
        after: u64,
    ) -> Result<(Vec<SignIn>, u64), StoreError> {
        let org = org.clone();
        self.run(move |db| db.sign_ins_after(&org, after)).await
    }
}
