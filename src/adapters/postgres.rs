//! The PostgreSQL store (feature `postgres`).
//!
//! Tables live in a schema of the host's choosing (`org_accounts` by
//! default), created and migrated by [`PostgresStore::connect`] under an
//! advisory lock, so several processes may start at once. An append takes
//! a per-organization advisory lock for its transaction, checks the
//! expected version, and inserts; `(org, version)` is the primary key, so
//! no two writers can ever store the same version.

use std::sync::{Mutex, MutexGuard, PoisonError};

use jiff::Timestamp;
use postgres::{Client, NoTls};

use crate::ports::{
    ActivityStore, ConflictError, EventStore, OrganizationId, SignIn, SnapshotStore, StoreError,
    Version,
};
use crate::{Event, Snapshot, UserId};

/// The schema version this library creates and reads.
const SCHEMA_VERSION: i32 = 1;

/// A fixed key for the migration advisory lock ("orgacct" in ASCII).
const MIGRATION_LOCK: i64 = 0x006f_7267_6163_6374;

/// Events, snapshots and sign-ins in PostgreSQL.
///
/// One connection, used by one thread at a time; hosts that need a pool can
/// open several stores or implement the store traits over their own pool.
pub struct PostgresStore {
    client: Mutex<Client>,
    sql: Sql,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.sql.schema)
            .finish_non_exhaustive()
    }
}

/// The statements, with the schema name filled in.
struct Sql {
    schema: String,
    max_version: String,
    min_version: String,
    min_position: String,
    insert_event: String,
    read_events: String,
    save_snapshot: String,
    load_snapshot: String,
    record_sign_in: String,
    sign_ins_after: String,
}

impl Sql {
    fn new(schema: &str) -> Sql {
        Sql {
            schema: schema.to_owned(),
            max_version: format!(
                "SELECT COALESCE(MAX(version), 0) FROM {schema}.events WHERE org = $1"
            ),
            min_version: format!("SELECT MIN(version) FROM {schema}.events WHERE org = $1"),
            min_position: format!("SELECT MIN(position) FROM {schema}.activity WHERE org = $1"),
            insert_event: format!(
                "INSERT INTO {schema}.events (org, version, data) VALUES ($1, $2, $3)"
            ),
            read_events: format!(
                "SELECT version, data FROM {schema}.events WHERE org = $1 AND version > $2 ORDER BY version"
            ),
            save_snapshot: format!(
                "INSERT INTO {schema}.snapshots (org, version, data) VALUES ($1, $2, $3)
                 ON CONFLICT (org) DO UPDATE SET version = excluded.version, data = excluded.data
                 WHERE excluded.version > {schema}.snapshots.version"
            ),
            load_snapshot: format!("SELECT version, data FROM {schema}.snapshots WHERE org = $1"),
            record_sign_in: format!(
                "INSERT INTO {schema}.activity (org, user_id, at_ns, position)
                 VALUES ($1, $2, $3, nextval('{schema}.activity_position'))
                 ON CONFLICT (org, user_id) DO UPDATE
                 SET at_ns = excluded.at_ns, position = excluded.position
                 WHERE {schema}.activity.at_ns < excluded.at_ns"
            ),
            sign_ins_after: format!(
                "SELECT user_id, at_ns, position FROM {schema}.activity
                 WHERE org = $1 AND position > $2 ORDER BY position"
            ),
        }
    }
}

fn backend(e: postgres::Error) -> StoreError {
    StoreError::backend(e)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{v} is out of range")))
}

/// Column `i` of a stored row; a value of another type (a damaged or
/// hand-altered table) is corruption, not a panic.
fn column<'a, T: postgres::types::FromSql<'a>>(
    row: &'a postgres::Row,
    i: usize,
    what: &str,
) -> Result<T, StoreError> {
    row.try_get(i).map_err(|e| corrupt(what, e))
}

impl PostgresStore {
    /// Connects to `url` (for example
    /// `postgres://user@localhost:5432/db`) without TLS, using the schema
    /// `org_accounts`.
    ///
    /// # Errors
    /// As [`PostgresStore::connect_with_schema`].
    pub fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::connect_with_schema(url, "org_accounts")
    }

    /// Connects to `url` without TLS and keeps the tables in `schema`
    /// (lower-case letters, digits and `_`, starting with a letter),
    /// creating or migrating them.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the server cannot be reached or the
    /// schema cannot be created; [`StoreError::Corrupt`] for a schema name
    /// that is not allowed or a schema written by a newer library.
    pub fn connect_with_schema(url: &str, schema: &str) -> Result<PostgresStore, StoreError> {
        let valid = schema.len() <= 63
            && schema.starts_with(|c: char| c.is_ascii_lowercase())
            && schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            return Err(StoreError::Corrupt(format!(
                "{schema:?} is not an allowed schema name: use lower-case letters, digits and _"
            )));
        }
        let mut client = Client::connect(url, NoTls).map_err(backend)?;
        migrate(&mut client, schema)?;
        Ok(PostgresStore {
            client: Mutex::new(client),
            sql: Sql::new(schema),
        })
    }

    /// Drops the store's schema and everything in it (for tests).
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub fn drop_schema(self) -> Result<(), StoreError> {
        let schema = self.sql.schema.clone();
        self.client()
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .map_err(backend)
    }

    fn client(&self) -> MutexGuard<'_, Client> {
        // A panic while holding the lock leaves no open transaction behind
        // (a dropped transaction rolls back), so the client is still usable.
        self.client.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn migrate(client: &mut Client, schema: &str) -> Result<(), StoreError> {
    let mut tx = client.transaction().map_err(backend)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(backend)?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.schema_version (version INTEGER NOT NULL);"
    ))
    .map_err(backend)?;
    let version: Option<i32> = tx
        .query_opt(&format!("SELECT version FROM {schema}.schema_version"), &[])
        .map_err(backend)?
        .map(|row| column(&row, 0, "the schema version"))
        .transpose()?;
    match version {
        Some(v) if v > SCHEMA_VERSION => {
            return Err(StoreError::Corrupt(format!(
                "the schema {schema} has version {v}, newer than this library reads ({SCHEMA_VERSION}); upgrade org-accounts"
            )));
        }
        Some(_) => {}
        None => {
            tx.batch_execute(&format!(
                "CREATE TABLE {schema}.events (
                     org     TEXT   NOT NULL,
                     version BIGINT NOT NULL,
                     data    TEXT   NOT NULL,
                     PRIMARY KEY (org, version)
                 );
                 CREATE TABLE {schema}.snapshots (
                     org     TEXT   NOT NULL PRIMARY KEY,
                     version BIGINT NOT NULL,
                     data    TEXT   NOT NULL
                 );
                 CREATE SEQUENCE {schema}.activity_position;
                 CREATE TABLE {schema}.activity (
                     org      TEXT   NOT NULL,
                     user_id  BIGINT NOT NULL,
                     at_ns    BIGINT NOT NULL,
                     position BIGINT NOT NULL,
                     PRIMARY KEY (org, user_id)
                 );
                 CREATE INDEX activity_by_position ON {schema}.activity (org, position);
                 INSERT INTO {schema}.schema_version (version) VALUES (1);"
            ))
            .map_err(backend)?;
        }
    }
    tx.commit().map_err(backend)
}

impl EventStore for PostgresStore {
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
        let mut client = self.client();
        let mut tx = client.transaction().map_err(backend)?;
        // Writers of one organization take turns; others are not blocked.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&org.as_str()],
        )
        .map_err(backend)?;
        let new_version = u64::try_from(events.len())
            .ok()
            .and_then(|n| expected.checked_add(n))
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "organization {org}: version {expected} plus {} events is out of range",
                    events.len()
                ))
            })?;
        let row = tx
            .query_one(&self.sql.max_version, &[&org.as_str()])
            .map_err(backend)?;
        let actual: i64 = column(&row, 0, "the latest event version")?;
        let actual = u64::try_from(actual).map_err(|_| {
            StoreError::Corrupt(format!(
                "organization {org} has a negative event version {actual}"
            ))
        })?;
        if actual != expected {
            return Err(ConflictError { expected, actual }.into());
        }
        let insert = tx.prepare(&self.sql.insert_event).map_err(backend)?;
        for (version, data) in (expected..new_version).map(|v| v + 1).zip(&rows) {
            tx.execute(&insert, &[&org.as_str(), &to_i64(version)?, data])
                .map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        Ok(new_version)
    }

    /// Reads the events after `after`, checking that their versions run
    /// `after + 1, after + 2, ...` without a gap and that none is below 1:
    /// damage is reported as [`StoreError::Corrupt`], never skipped.
    fn read(&self, org: &OrganizationId, after: Version) -> Result<Vec<Event>, StoreError> {
        let what = format!("an event version of organization {org}");
        let mut client = self.client();
        // Versions below 1 sort before the range asked for: look for them
        // first (one step down the primary key) so they are reported.
        let row = client
            .query_one(&self.sql.min_version, &[&org.as_str()])
            .map_err(backend)?;
        let lowest: Option<i64> = column(&row, 0, &what)?;
        if let Some(lowest) = lowest.filter(|v| *v <= 0) {
            return Err(StoreError::Corrupt(format!(
                "organization {org} has an event with version {lowest}; versions start at 1"
            )));
        }
        let rows = client
            .query(&self.sql.read_events, &[&org.as_str(), &to_i64(after)?])
            .map_err(backend)?;
        drop(client);
        let mut events = Vec::with_capacity(rows.len());
        let mut expected = after;
        for row in &rows {
            let version: i64 = column(row, 0, &what)?;
            let data: &str = column(row, 1, &format!("event {version} of organization {org}"))?;
            expected = expected.checked_add(1).ok_or_else(|| {
                StoreError::Corrupt(format!("organization {org} has too many events"))
            })?;
            if u64::try_from(version).ok() != Some(expected) {
                return Err(StoreError::Corrupt(format!(
                    "organization {org} is missing event {expected} (the next stored event is {version})"
                )));
            }
            events.push(
                serde_json::from_str(data)
                    .map_err(|e| corrupt(&format!("event {version} of organization {org}"), e))?,
            );
        }
        Ok(events)
    }
}

impl SnapshotStore for PostgresStore {
    fn save_snapshot(&self, org: &OrganizationId, snapshot: &Snapshot) -> Result<(), StoreError> {
        let data = serde_json::to_string(snapshot)
            .map_err(|e| corrupt("cannot serialize a snapshot", e))?;
        self.client()
            .execute(
                &self.sql.save_snapshot,
                &[&org.as_str(), &to_i64(snapshot.version())?, &data],
            )
            .map_err(backend)?;
        Ok(())
    }

    /// The stored snapshot; [`StoreError::Corrupt`] when its data does not
    /// parse or its version column disagrees with the version inside it
    /// (the service then rebuilds the organization from its events).
    fn load_snapshot(&self, org: &OrganizationId) -> Result<Option<Snapshot>, StoreError> {
        let row = self
            .client()
            .query_opt(&self.sql.load_snapshot, &[&org.as_str()])
            .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let what = format!("the snapshot of organization {org}");
        let version: i64 = column(&row, 0, &what)?;
        let data: &str = column(&row, 1, &what)?;
        let snapshot: Snapshot = serde_json::from_str(data).map_err(|e| corrupt(&what, e))?;
        if u64::try_from(version).ok() != Some(snapshot.version()) {
            return Err(StoreError::Corrupt(format!(
                "{what} is stored as version {version} but holds version {}",
                snapshot.version()
            )));
        }
        Ok(Some(snapshot))
    }
}

impl ActivityStore for PostgresStore {
    fn record_sign_in(
        &self,
        org: &OrganizationId,
        user: UserId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let at_ns = i64::try_from(at.as_nanosecond())
            .map_err(|_| StoreError::Corrupt(format!("{at} is out of the storable range")))?;
        self.client()
            .execute(
                &self.sql.record_sign_in,
                &[&org.as_str(), &to_i64(user.get())?, &at_ns],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn sign_ins_after(
        &self,
        org: &OrganizationId,
        after: u64,
    ) -> Result<(Vec<SignIn>, u64), StoreError> {
        let what = format!("a sign-in of organization {org}");
        let mut client = self.client();
        // Positions below 1 sort before the range asked for: look for them
        // first so they are reported, not skipped.
        let row = client
            .query_one(&self.sql.min_position, &[&org.as_str()])
            .map_err(backend)?;
        let lowest: Option<i64> = column(&row, 0, &what)?;
        if let Some(lowest) = lowest.filter(|p| *p <= 0) {
            return Err(StoreError::Corrupt(format!(
                "{what} has position {lowest}; positions start at 1"
            )));
        }
        let rows = client
            .query(&self.sql.sign_ins_after, &[&org.as_str(), &to_i64(after)?])
            .map_err(backend)?;
        drop(client);
        let mut sign_ins = Vec::with_capacity(rows.len());
        let mut next = after;
        for row in &rows {
            let user: i64 = column(row, 0, &what)?;
            let at_ns: i64 = column(row, 1, &what)?;
            let position: i64 = column(row, 2, &what)?;
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
                at: Timestamp::from_nanosecond(i128::from(at_ns)).map_err(|e| {
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
