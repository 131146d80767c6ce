//! The SQLite store (feature `sqlite`; SQLite is bundled, nothing to
//! install).
//!
//! One file can hold many organizations and be shared by several processes:
//! the database runs in WAL mode, every write is one `BEGIN IMMEDIATE`
//! transaction, and a busy database is waited for (up to the busy timeout)
//! rather than failed. Appends check the expected version inside the write
//! transaction, and `(org, version)` is the events table's primary key, so
//! two writers can never both append the same version.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::{
    ActivityStore, ConflictError, EventStore, OrganizationId, SignIn, SnapshotStore, StoreError,
    Version,
};
use crate::{Event, Snapshot, UserId};

/// The schema version this library creates and reads (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 1;

/// How long a write waits for another process's write to finish.
pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Events, snapshots and sign-ins in a SQLite database file.
pub struct SqliteStore {
    conn: Mutex<Connection>,
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

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, creates or
    /// migrates its schema, and switches it to WAL mode.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the file cannot be opened or migrated;
    /// [`StoreError::Corrupt`] when it was written by a newer library.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path).map_err(backend)?;
        SqliteStore::with_connection(conn)
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
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    /// How long a write waits for another process's write to finish before
    /// failing with [`StoreError::Backend`] (default
    /// [`DEFAULT_BUSY_TIMEOUT`]).
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub fn set_busy_timeout(&self, timeout: Duration) -> Result<(), StoreError> {
        self.conn().busy_timeout(timeout).map_err(backend)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no open transaction behind
        // (rusqlite rolls back on drop), so the connection is still usable.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
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

impl EventStore for SqliteStore {
    fn append(
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
            .map_err(backend)?;
        let actual = u64::try_from(actual).map_err(|e| corrupt("negative version", e))?;
        if actual != expected {
            return Err(ConflictError { expected, actual }.into());
        }
        {
            let mut insert = tx
                .prepare_cached("INSERT INTO events (org, version, data) VALUES (?1, ?2, ?3)")
                .map_err(backend)?;
            for (i, data) in rows.iter().enumerate() {
                let version = to_i64(expected + i as u64 + 1)?;
                insert
                    .execute(params![org.as_str(), version, data])
                    .map_err(backend)?;
            }
        }
        tx.commit().map_err(backend)?;
        Ok(expected + events.len() as u64)
    }

    fn read(&self, org: &OrganizationId, after: Version) -> Result<Vec<Event>, StoreError> {
        let conn = self.conn();
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
            let (version, data) = row.map_err(backend)?;
            expected += 1;
            if u64::try_from(version).ok() != Some(expected) {
                return Err(StoreError::Corrupt(format!(
                    "organization {org} is missing event {expected}"
                )));
            }
            events.push(
                serde_json::from_str(&data)
                    .map_err(|e| corrupt(&format!("event {version} of {org}"), e))?,
            );
        }
        Ok(events)
    }
}

impl SnapshotStore for SqliteStore {
    fn save_snapshot(&self, org: &OrganizationId, snapshot: &Snapshot) -> Result<(), StoreError> {
        let data = serde_json::to_string(snapshot)
            .map_err(|e| corrupt("cannot serialize a snapshot", e))?;
        self.conn()
            .execute(
                "INSERT INTO snapshots (org, version, data) VALUES (?1, ?2, ?3)
                 ON CONFLICT (org) DO UPDATE SET version = excluded.version, data = excluded.data
                 WHERE excluded.version > snapshots.version",
                params![org.as_str(), to_i64(snapshot.version())?, data],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn load_snapshot(&self, org: &OrganizationId) -> Result<Option<Snapshot>, StoreError> {
        let data: Option<String> = self
            .conn()
            .query_row(
                "SELECT data FROM snapshots WHERE org = ?1",
                [org.as_str()],
                |row| row.get(0),
            )
            .optional()
            .map_err(backend)?;
        data.map(|d| {
            serde_json::from_str(&d).map_err(|e| corrupt(&format!("snapshot of {org}"), e))
        })
        .transpose()
    }
}

impl ActivityStore for SqliteStore {
    fn record_sign_in(
        &self,
        org: &OrganizationId,
        user: UserId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
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
            .map_err(backend)?;
        if let Some(stored) = stored {
            let last: Timestamp = stored
                .parse()
                .map_err(|e| corrupt("a Last active time", e))?;
            if at <= last {
                return Ok(());
            }
        }
        tx.execute(
            "INSERT INTO activity (org, user_id, last_active, position)
             VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(position), 0) + 1 FROM activity WHERE org = ?1))
             ON CONFLICT (org, user_id) DO UPDATE
             SET last_active = excluded.last_active, position = excluded.position",
            params![org.as_str(), user, at.to_string()],
        )
        .map_err(backend)?;
        tx.commit().map_err(backend)
    }

    fn sign_ins_after(
        &self,
        org: &OrganizationId,
        after: u64,
    ) -> Result<(Vec<SignIn>, u64), StoreError> {
        let conn = self.conn();
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
            let (user, at, position) = row.map_err(backend)?;
            let user = u64::try_from(user).map_err(|e| corrupt("a user id", e))?;
            sign_ins.push(SignIn {
                user: UserId(user),
                at: at.parse().map_err(|e| corrupt("a Last active time", e))?,
            });
            next = next.max(u64::try_from(position).map_err(|e| corrupt("a position", e))?);
        }
        Ok((sign_ins, next))
    }
}
