//! The PostgreSQL store (feature `postgres`), async over a `sqlx` pool.
//!
//! # What it guarantees
//!
//! Every rule written on [`EventStore`], [`SnapshotStore`] and
//! [`ActivityStore`], across threads, processes and nodes that share one
//! database:
//!
//! - An append is **one statement** (one round trip per batch, whatever its
//!   size), so it is all or nothing. The events are sent as one `text[]`
//!   array and numbered by the database:
//!
//!   ```sql
//!   INSERT INTO <schema>.events (org, version, data)
//!   SELECT $1, $2 + t.ord, t.data
//!   FROM UNNEST($3::text[]) WITH ORDINALITY AS t(data, ord)
//!   WHERE (SELECT COALESCE(MAX(version), 0) FROM <schema>.events WHERE org = $1) = $2
//!   ```
//!
//! - **Concurrency is decided by the database**, not by a lock in this
//!   process: `(org, version)` is the primary key, so of two appends at the
//!   same expected version the second one to insert `expected + 1` waits
//!   for the first to finish and then fails with a unique violation
//!   (reported as [`StoreError::Conflict`]); the `WHERE` clause stores
//!   nothing when the organization is not at `expected` (no gap can be
//!   created by an `expected` that is ahead). Only when nothing was stored
//!   does the store read the actual version for the error: a second round
//!   trip on the conflict path only. No lock is held between requests, so
//!   any number of service instances can share the database.
//! - Reads are streamed from the server row by row and checked as they
//!   arrive: versions must run `after + 1, after + 2, ...` without a gap,
//!   none may be below 1, and every row must parse; damage is
//!   [`StoreError::Corrupt`] naming the organization and the version, never
//!   skipped.
//! - Snapshots: the newer wins, one at the same or a lower version is
//!   ignored, one that does not parse or whose version column disagrees
//!   with its content is [`StoreError::Corrupt`].
//! - Sign-in positions become visible in order; see [`PostgresStore`] for
//!   how.
//!
//! # Connections, pool size and TLS
//!
//! [`PostgresStore::new`] takes the host's own [`sqlx::PgPool`] (so the
//! host decides its size, timeouts and TLS). [`PostgresStore::connect`] is a
//! convenience that parses a URL with [`PgConnectOptions`], which honours
//! `sslmode`: `sslmode=require` encrypts, `sslmode=verify-full` also checks
//! the certificate and host name against the Mozilla root certificates
//! (`sslrootcert=...` adds a private authority). TLS is done by rustls with
//! the `ring` provider: nothing to install. Its pool holds up to
//! [`DEFAULT_POOL_SIZE`] connections; a host that needs another size builds
//! its own pool. An operation holds a connection only for its own
//! statements, so a pool a little larger than the number of CPU cores the
//! server has is usually enough.
//!
//! Statements are prepared once per connection and reused (sqlx's
//! per-connection statement cache); only runtime queries are used, so the
//! crate builds without a database.
//!
//! # The schema
//!
//! Tables live in a schema of the host's choosing (`org_accounts` by
//! default), created and upgraded by this library's own DDL when a store is
//! made, inside a transaction under `pg_advisory_xact_lock`, so several
//! processes may start at once. The version of the layout is kept in
//! `<schema>.schema_version`; a schema written by a newer library is refused
//! ([`StoreError::Corrupt`], saying to upgrade).
//!
//! | table | columns | key |
//! |---|---|---|
//! | `events` | `org TEXT, version BIGINT, data TEXT` (JSON) | `(org, version)` |
//! | `snapshots` | `org TEXT, version BIGINT, data BYTEA` ([`Snapshot::to_bytes`]; JSON bytes in rows written before version 3 of the layout, which still load) | `org` |
//! | `activity` | `org TEXT, user_id BIGINT, at_ns BIGINT, position BIGINT` | `(org, user_id)`, index `(org, position)` |
//! | `activity_seq` | `org TEXT, last BIGINT` | `org` |
//! | `schema_version` | `version INTEGER` | |

use std::future::poll_fn;
use std::str::FromStr;

use futures_core::stream::BoxStream;
use jiff::Timestamp;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Postgres, Row};

use crate::ports::{
    ActivityStore, ConflictError, EventStore, OrganizationId, SignIn, SnapshotStore, StoreError,
    Version,
};
use crate::{Event, Snapshot, UserId};

/// The schema version this library creates and reads. Version 1 numbered
/// sign-ins from a sequence; version 2 numbers them per organization in
/// `activity_seq`.
const SCHEMA_VERSION: i32 = 3;

/// The schema [`PostgresStore::new`] and [`PostgresStore::connect`] use.
pub const DEFAULT_SCHEMA: &str = "org_accounts";

/// The number of connections [`PostgresStore::connect`] opens at most.
pub const DEFAULT_POOL_SIZE: u32 = 8;

/// A fixed key for the migration advisory lock ("orgacct" in ASCII).
const MIGRATION_LOCK: i64 = 0x006f_7267_6163_6374;

/// Events, snapshots and sign-ins in PostgreSQL, over a `sqlx` pool
/// (feature `postgres`).
///
/// Cheap to share: put it in an `Arc` (an `Arc` of a store is a store) or
/// make several over clones of one pool.
///
/// # Sign-in positions never become visible out of order
///
/// A reader of [`ActivityStore::sign_ins_after`] remembers the highest
/// position it has seen and asks only for newer ones next time. If
/// positions came from a PostgreSQL sequence, two sign-ins on two pooled
/// connections could take positions 7 and 8 and commit 8 first; a reader
/// that saw 8 would then skip 7 forever.
///
/// So positions are numbered per organization, by the writing statement
/// itself, under a row lock:
///
/// ```sql
/// WITH newer AS (
///     SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM <schema>.activity
///                                WHERE org = $1 AND user_id = $2 AND at_ns >= $3)
/// ), seq AS (
///     INSERT INTO <schema>.activity_seq AS q (org, last)
///     SELECT $1, 1 FROM newer
///     ON CONFLICT (org) DO UPDATE SET last = q.last + 1
///     RETURNING q.last
/// )
/// INSERT INTO <schema>.activity AS a (org, user_id, at_ns, position)
/// SELECT $1, $2, $3, seq.last FROM seq
/// ON CONFLICT (org, user_id) DO UPDATE
///     SET at_ns = excluded.at_ns, position = excluded.position
///     WHERE a.at_ns < excluded.at_ns
/// ```
///
/// Taking position `p + 1` means updating the organization's
/// `activity_seq` row, which waits until the transaction holding position
/// `p` has committed (or rolled back, giving `p` back). Positions therefore
/// commit in the order they are handed out, and a reader that has seen `p`
/// can never later find a position at or below `p`. A sign-in not later
/// than the stored one changes nothing: not the time, not the member's
/// position. (When two sign-ins of the same member race, the older one may
/// use up a number without storing it; positions only need to grow, so a
/// skipped number is harmless.) Sign-ins of one organization take turns for
/// the length of one statement; organizations never wait for each other.
pub struct PostgresStore {
    pool: PgPool,
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
    append: String,
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
            append: format!(
                "INSERT INTO {schema}.events (org, version, data)
                 SELECT $1::text, $2::bigint + t.ord, t.data
                 FROM UNNEST($3::text[]) WITH ORDINALITY AS t(data, ord)
                 WHERE (SELECT COALESCE(MAX(version), 0) FROM {schema}.events WHERE org = $1::text)
                       = $2::bigint"
            ),
            read_events: format!(
                "SELECT version, data FROM {schema}.events
                 WHERE org = $1 AND version > $2 ORDER BY version"
            ),
            save_snapshot: format!(
                "INSERT INTO {schema}.snapshots AS s (org, version, data) VALUES ($1, $2, $3)
                 ON CONFLICT (org) DO UPDATE SET version = excluded.version, data = excluded.data
                 WHERE excluded.version > s.version"
            ),
            load_snapshot: format!("SELECT version, data FROM {schema}.snapshots WHERE org = $1"),
            record_sign_in: format!(
                "WITH newer AS (
                     SELECT 1 WHERE NOT EXISTS (
                         SELECT 1 FROM {schema}.activity
                         WHERE org = $1::text AND user_id = $2::bigint AND at_ns >= $3::bigint)
                 ), seq AS (
                     INSERT INTO {schema}.activity_seq AS q (org, last)
                     SELECT $1::text, 1 FROM newer
                     ON CONFLICT (org) DO UPDATE SET last = q.last + 1
                     RETURNING q.last
                 )
                 INSERT INTO {schema}.activity AS a (org, user_id, at_ns, position)
                 SELECT $1::text, $2::bigint, $3::bigint, seq.last FROM seq
                 ON CONFLICT (org, user_id) DO UPDATE
                 SET at_ns = excluded.at_ns, position = excluded.position
                 WHERE a.at_ns < excluded.at_ns"
            ),
            sign_ins_after: format!(
                "SELECT user_id, at_ns, position FROM {schema}.activity
                 WHERE org = $1 AND position > $2 ORDER BY position"
            ),
        }
    }
}

fn backend(e: sqlx::Error) -> StoreError {
    StoreError::backend(e)
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn to_i64(v: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(v)
        .map_err(|_| StoreError::Corrupt(format!("{what} {v} is beyond what PostgreSQL stores")))
}

/// Column `i` of a stored row; a value of another type or a NULL (a
/// damaged or hand-altered table) is corruption, not a panic.
fn column<'r, T>(row: &'r PgRow, i: usize, what: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(i).map_err(|e| corrupt(what, e))
}

/// The next row of a streamed result.
async fn next_row(
    rows: &mut BoxStream<'_, Result<PgRow, sqlx::Error>>,
) -> Result<Option<PgRow>, StoreError> {
    poll_fn(|cx| rows.as_mut().poll_next(cx))
        .await
        .transpose()
        .map_err(backend)
}

/// Refuses a schema name that cannot be written into statements as is:
/// only plain lower-case identifiers (which PostgreSQL never folds or
/// quotes) are allowed.
fn check_schema(schema: &str) -> Result<(), StoreError> {
    let valid = schema.len() <= 63
        && schema.starts_with(|c: char| c.is_ascii_lowercase())
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!(
            "{schema:?} is not an allowed schema name: use 1 to 63 lower-case ASCII letters, \
             digits and _, starting with a letter"
        )))
    }
}

impl PostgresStore {
    /// A store over the host's pool, in the schema `org_accounts`, created
    /// or upgraded if needed.
    ///
    /// # Errors
    /// As [`PostgresStore::with_schema`].
    pub async fn new(pool: PgPool) -> Result<PostgresStore, StoreError> {
        PostgresStore::with_schema(pool, DEFAULT_SCHEMA).await
    }

    /// A store over the host's pool that keeps its tables in `schema`
    /// (lower-case ASCII letters, digits and `_`, starting with a letter, at
    /// most 63 bytes), creating or upgrading them under an advisory lock.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the server cannot be reached or the
    /// schema cannot be created; [`StoreError::Corrupt`] for a schema name
    /// that is not allowed or a schema written by a newer library (upgrade
    /// org-accounts).
    pub async fn with_schema(pool: PgPool, schema: &str) -> Result<PostgresStore, StoreError> {
        check_schema(schema)?;
        migrate(&pool, schema).await?;
        Ok(PostgresStore {
            pool,
            sql: Sql::new(schema),
        })
    }

    /// Connects to `url` (for example
    /// `postgres://user@db.example.com/accounts?sslmode=verify-full`) with a
    /// pool of up to [`DEFAULT_POOL_SIZE`] connections, using the schema
    /// `org_accounts`.
    ///
    /// # Errors
    /// As [`PostgresStore::connect_with_schema`].
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        PostgresStore::connect_with_schema(url, DEFAULT_SCHEMA).await
    }

    /// Connects to `url` with a pool of up to [`DEFAULT_POOL_SIZE`]
    /// connections and keeps the tables in `schema` (see
    /// [`PostgresStore::with_schema`]). The URL's `sslmode` is honoured:
    /// `require` and `verify-full` use TLS (rustls).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the URL does not parse, the server
    /// cannot be reached or the schema cannot be created;
    /// [`StoreError::Corrupt`] as for [`PostgresStore::with_schema`].
    pub async fn connect_with_schema(url: &str, schema: &str) -> Result<PostgresStore, StoreError> {
        check_schema(schema)?;
        let options = PgConnectOptions::from_str(url).map_err(backend)?;
        let pool = PgPoolOptions::new()
            .max_connections(DEFAULT_POOL_SIZE)
            .connect_with(options)
            .await
            .map_err(backend)?;
        PostgresStore::with_schema(pool, schema).await
    }

    /// The schema the tables are in.
    pub fn schema(&self) -> &str {
        &self.sql.schema
    }

    /// Drops the store's schema and everything in it (for tests). The pool
    /// stays open: it is the host's.
    ///
    /// # Errors
    /// [`StoreError::Backend`].
    pub async fn drop_schema(self) -> Result<(), StoreError> {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.sql.schema);
        sqlx::raw_sql(&sql)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// The stored version of `org` (0 when it has no events).
    async fn version_of(&self, org: &OrganizationId) -> Result<Version, StoreError> {
        let row = sqlx::query(&self.sql.max_version)
            .bind(org.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        let actual: i64 = column(&row, 0, "the latest event version")?;
        u64::try_from(actual).map_err(|_| {
            StoreError::Corrupt(format!(
                "organization {org} has a negative event version {actual}"
            ))
        })
    }

    /// The conflict to report after an append stored nothing.
    async fn conflict(&self, org: &OrganizationId, expected: Version) -> StoreError {
        match self.version_of(org).await {
            Ok(actual) => ConflictError { expected, actual }.into(),
            Err(e) => e,
        }
    }
}

/// Creates the schema, or upgrades it, once, under an advisory lock.
async fn migrate(pool: &PgPool, schema: &str) -> Result<(), StoreError> {
    // Fast path, without a lock or any DDL (which would need the right to
    // create schemas): the schema is already current.
    if stored_schema_version(pool, schema).await? == Some(SCHEMA_VERSION) {
        return Ok(());
    }
    let mut tx = pool.begin().await.map_err(backend)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    let create = format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.schema_version (version INTEGER NOT NULL);"
    );
    sqlx::raw_sql(&create)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
    let version: Option<i32> =
        sqlx::query(&format!("SELECT MAX(version) FROM {schema}.schema_version"))
            .fetch_one(&mut *tx)
            .await
            .map_err(backend)
            .and_then(|row| column(&row, 0, "the schema version"))?;
    let ddl = match version {
        Some(v) if v > SCHEMA_VERSION => {
            return Err(StoreError::Corrupt(format!(
                "the schema {schema} has version {v}, newer than this library reads \
                 ({SCHEMA_VERSION}); upgrade org-accounts"
            )));
        }
        Some(SCHEMA_VERSION) => None,
        // Version 3: snapshots are bytes (`Snapshot::to_bytes`, binary);
        // the JSON text of older rows becomes its UTF-8 bytes, which
        // `Snapshot::from_bytes` still reads.
        Some(2) => Some(format!(
            "ALTER TABLE {schema}.snapshots ALTER COLUMN data TYPE BYTEA
                 USING convert_to(data, 'UTF8');
             UPDATE {schema}.schema_version SET version = {SCHEMA_VERSION};"
        )),
        Some(1) => Some(format!(
            "ALTER TABLE {schema}.snapshots ALTER COLUMN data TYPE BYTEA
                 USING convert_to(data, 'UTF8');
             CREATE TABLE {schema}.activity_seq (
                 org  TEXT   NOT NULL PRIMARY KEY,
                 last BIGINT NOT NULL
             );
             INSERT INTO {schema}.activity_seq (org, last)
                 SELECT org, MAX(position) FROM {schema}.activity GROUP BY org;
             DROP SEQUENCE IF EXISTS {schema}.activity_position;
             UPDATE {schema}.schema_version SET version = {SCHEMA_VERSION};"
        )),
        Some(v) => {
            return Err(StoreError::Corrupt(format!(
                "the schema {schema} has version {v}, which no version of org-accounts wrote"
            )));
        }
        None => Some(format!(
            "CREATE TABLE {schema}.events (
                 org     TEXT   NOT NULL,
                 version BIGINT NOT NULL,
                 data    TEXT   NOT NULL,
                 PRIMARY KEY (org, version)
             );
             CREATE TABLE {schema}.snapshots (
                 org     TEXT   NOT NULL PRIMARY KEY,
                 version BIGINT NOT NULL,
                 data    BYTEA  NOT NULL
             );
             CREATE TABLE {schema}.activity (
                 org      TEXT   NOT NULL,
                 user_id  BIGINT NOT NULL,
                 at_ns    BIGINT NOT NULL,
                 position BIGINT NOT NULL,
                 PRIMARY KEY (org, user_id)
             );
             CREATE INDEX activity_by_position ON {schema}.activity (org, position);
             CREATE TABLE {schema}.activity_seq (
                 org  TEXT   NOT NULL PRIMARY KEY,
                 last BIGINT NOT NULL
             );
             INSERT INTO {schema}.schema_version (version) VALUES ({SCHEMA_VERSION});"
        )),
    };
    if let Some(ddl) = ddl {
        sqlx::raw_sql(&ddl)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
    }
    tx.commit().await.map_err(backend)
}

/// The version recorded in `schema`, if the schema and its version table
/// exist.
async fn stored_schema_version(pool: &PgPool, schema: &str) -> Result<Option<i32>, StoreError> {
    let table: Option<String> = sqlx::query("SELECT to_regclass($1)::text")
        .bind(format!("{schema}.schema_version"))
        .fetch_one(pool)
        .await
        .map_err(backend)
        .and_then(|row| column(&row, 0, "the schema version table"))?;
    if table.is_none() {
        return Ok(None);
    }
    sqlx::query(&format!("SELECT MAX(version) FROM {schema}.schema_version"))
        .fetch_one(pool)
        .await
        .map_err(backend)
        .and_then(|row| column(&row, 0, "the schema version"))
}

impl EventStore for PostgresStore {
    async fn append(
        &self,
        org: &OrganizationId,
        expected: Version,
        events: &[Event],
    ) -> Result<Version, StoreError> {
        let new_version = u64::try_from(events.len())
            .ok()
            .and_then(|n| expected.checked_add(n))
            .ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "organization {org}: version {expected} plus {} events is out of range",
                    events.len()
                ))
            })?;
        // Both ends must be storable, so `$2 + ord` cannot overflow.
        let expected_i64 = to_i64(expected, "the expected version")?;
        to_i64(new_version, "the new version")?;
        if events.is_empty() {
            let actual = self.version_of(org).await?;
            if actual != expected {
                return Err(ConflictError { expected, actual }.into());
            }
            return Ok(expected);
        }
        let rows: Vec<String> = events
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<_, _>>()
            .map_err(|e| corrupt("cannot serialize an event", e))?;
        let inserted = sqlx::query(&self.sql.append)
            .bind(org.as_str())
            .bind(expected_i64)
            .bind(rows)
            .execute(&self.pool)
            .await;
        match inserted {
            Ok(done) if u64::try_from(events.len()).ok() == Some(done.rows_affected()) => {
                Ok(new_version)
            }
            // The organization was not at `expected`: nothing stored.
            Ok(done) if done.rows_affected() == 0 => Err(self.conflict(org, expected).await),
            Ok(done) => Err(StoreError::Corrupt(format!(
                "organization {org}: appending {} events stored {}",
                events.len(),
                done.rows_affected()
            ))),
            // Another writer stored `expected + 1` first.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(self.conflict(org, expected).await)
            }
            Err(e) => Err(backend(e)),
        }
    }

    /// Streams the events after `after`, checking that their versions run
    /// `after + 1, after + 2, ...` without a gap and that none is below 1:
    /// damage is reported as [`StoreError::Corrupt`], never skipped.
    async fn read(&self, org: &OrganizationId, after: Version) -> Result<Vec<Event>, StoreError> {
        let what = format!("an event version of organization {org}");
        // Versions below 1 sort before the range asked for: look for them
        // first (one step down the primary key) so they are reported.
        let row = sqlx::query(&self.sql.min_version)
            .bind(org.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        let lowest: Option<i64> = column(&row, 0, &what)?;
        if let Some(lowest) = lowest.filter(|v| *v <= 0) {
            return Err(StoreError::Corrupt(format!(
                "organization {org} has an event with version {lowest}; versions start at 1"
            )));
        }
        let mut rows = sqlx::query(&self.sql.read_events)
            .bind(org.as_str())
            .bind(to_i64(after, "the version to read after")?)
            .fetch(&self.pool);
        let mut events = Vec::new();
        let mut expected = after;
        while let Some(row) = next_row(&mut rows).await? {
            let version: i64 = column(&row, 0, &what)?;
            expected = expected.checked_add(1).ok_or_else(|| {
                StoreError::Corrupt(format!("organization {org} has too many events"))
            })?;
            if u64::try_from(version).ok() != Some(expected) {
                return Err(StoreError::Corrupt(format!(
                    "organization {org} is missing event {expected} (the next stored event is {version})"
                )));
            }
            let data: &str = column(&row, 1, &format!("event {version} of organization {org}"))?;
            events.push(
                serde_json::from_str(data)
                    .map_err(|e| corrupt(&format!("event {version} of organization {org}"), e))?,
            );
        }
        Ok(events)
    }
}

impl SnapshotStore for PostgresStore {
    async fn save_snapshot(
        &self,
        org: &OrganizationId,
        snapshot: &Snapshot,
    ) -> Result<(), StoreError> {
        let version = to_i64(snapshot.version(), "the snapshot version")?;
        let data = snapshot
            .to_bytes()
            .map_err(|e| corrupt("cannot encode a snapshot", e))?;
        sqlx::query(&self.sql.save_snapshot)
            .bind(org.as_str())
            .bind(version)
            .bind(data)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// The stored snapshot; [`StoreError::Corrupt`] when its data does not
    /// parse or its version column disagrees with the version inside it
    /// (the service then rebuilds the organization from its events).
    async fn load_snapshot(&self, org: &OrganizationId) -> Result<Option<Snapshot>, StoreError> {
        let row = sqlx::query(&self.sql.load_snapshot)
            .bind(org.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let what = format!("the snapshot of organization {org}");
        let version: i64 = column(&row, 0, &what)?;
        let data: &[u8] = column(&row, 1, &what)?;
        let snapshot = Snapshot::from_bytes(data).map_err(|e| corrupt(&what, e))?;
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
    /// Records the sign-in and numbers it in one statement (see
    /// [`PostgresStore`] for why positions become visible in order).
    async fn record_sign_in(
        &self,
        org: &OrganizationId,
        user: UserId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let at_ns = i64::try_from(at.as_nanosecond())
            .map_err(|_| StoreError::Corrupt(format!("{at} is out of the storable range")))?;
        sqlx::query(&self.sql.record_sign_in)
            .bind(org.as_str())
            .bind(to_i64(user.get(), "the user id")?)
            .bind(at_ns)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn sign_ins_after(
        &self,
        org: &OrganizationId,
        after: u64,
    ) -> Result<(Vec<SignIn>, u64), StoreError> {
        let what = format!("a sign-in of organization {org}");
        // Positions below 1 sort before the range asked for: look for them
        // first so they are reported, not skipped.
        let row = sqlx::query(&self.sql.min_position)
            .bind(org.as_str())
            .fetch_one(&self.pool)
            .await
            .map_err(backend)?;
        let lowest: Option<i64> = column(&row, 0, &what)?;
        if let Some(lowest) = lowest.filter(|p| *p <= 0) {
            return Err(StoreError::Corrupt(format!(
                "{what} has position {lowest}; positions start at 1"
            )));
        }
        let mut rows = sqlx::query(&self.sql.sign_ins_after)
            .bind(org.as_str())
            .bind(to_i64(after, "the position to read after")?)
            .fetch(&self.pool);
        let mut sign_ins = Vec::new();
        let mut next = after;
        while let Some(row) = next_row(&mut rows).await? {
            let user: i64 = column(&row, 0, &what)?;
            let at_ns: i64 = column(&row, 1, &what)?;
            let position: i64 = column(&row, 2, &what)?;
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
            let at = Timestamp::from_nanosecond(i128::from(at_ns)).map_err(|e| {
                corrupt(
                    &format!("the Last active time at position {position} of organization {org}"),
                    e,
                )
            })?;
            sign_ins.push(SignIn {
                user: UserId(user),
                at,
            });
            next = next.max(position);
        }
        Ok((sign_ins, next))
    }
}
