#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! PostgreSQL against SQLite on the two paths where a store's round trips
//! show:
//!
//! - a 1000-row bulk invitation through the service, each run into a
//!   fresh organization (median of 15 runs per store). Target:
//!   PostgreSQL / SQLite <= 3.
//! - reading 110k events of one organization from the store (median of 5
//!   reads per store). Target: PostgreSQL / SQLite <= 3.
//!
//! Run with
//! `ORG_ACCOUNTS_PG_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --features sqlite,postgres --bench bulk_stores`;
//! without the variable (or the features) it prints that it was skipped.
//! The PostgreSQL side works in a schema of its own, dropped at the end;
//! the SQLite side in a temporary file.

#[cfg(all(feature = "postgres", feature = "sqlite"))]
#[path = "common/mod.rs"]
mod common;

#[cfg(all(feature = "postgres", feature = "sqlite"))]
mod bench {
    use std::time::{Duration, Instant};

    use super::common::{ctx, grow, median};
    use org_accounts::{
        AccountService, Command, CsvOptions, Event, EventStore, InviteFile, OrganizationId,
        PostgresStore, SqliteStore, Store, Timestamp, read_invite_csv,
    };

    const BULK_RUNS: usize = 15;
    const BULK_ROWS: usize = 1_000;
    /// 5500 invitations of 20 addresses, one event each, plus the creation.
    const READ_INVITATIONS: usize = 5_500;
    const READ_RUNS: usize = 5;

    fn upload(run: usize) -> InviteFile {
        let mut text = String::from("email,group membership\n");
        for i in 0..BULK_ROWS {
            let groups = match i % 3 {
                0 => "",
                1 => "Automation Users",
                _ => "\"automation developers, citizen developers\"",
            };
            text.push_str(&format!("user{run}-{i}@example.com,{groups}\n"));
        }
        read_invite_csv(text.as_bytes(), &CsvOptions::default()).unwrap()
    }

    /// Median time of a 1000-row bulk invitation into a fresh organization,
    /// the organization created (and cached by the service) beforehand.
    async fn bulk<S: Store + 'static>(store: S) -> Duration {
        let service = AccountService::new(store);
        let file = (0..=BULK_RUNS).map(upload).collect::<Vec<_>>();
        let mut times = Vec::new();
        // Run 0 warms up (connections, statements, caches).
        for (run, file) in file.iter().enumerate() {
            let id = OrganizationId::new(format!("bulk{run}")).unwrap();
            service
                .execute(
                    &id,
                    &Command::CreateOrganization {
                        name: format!("Bulk {run}"),
                    },
                    &ctx(),
                )
                .await
                .unwrap();
            let started = Instant::now();
            let report = service.bulk_invite(&id, file, &ctx(), false).await.unwrap();
            let took = started.elapsed();
            assert_eq!(report.totals().invited, BULK_ROWS, "run {run}");
            if run > 0 {
                times.push(took);
            }
        }
        median(times)
    }

    /// 110k events of one organization, decided in memory.
    fn many_events() -> Vec<Event> {
        let mut events = Vec::new();
        grow(1 + READ_INVITATIONS * 20, |batch| events.extend(batch));
        events
    }

    /// Median time to read every event of an organization holding
    /// `events`.
    async fn read_all<S: EventStore>(store: &S, events: &[Event]) -> Duration {
        let id = OrganizationId::new("big").unwrap();
        let mut version = 0;
        for chunk in events.chunks(1_000) {
            version = store.append(&id, version, chunk).await.unwrap();
        }
        let mut times = Vec::new();
        for run in 0..=READ_RUNS {
            let started = Instant::now();
            let read = store.read(&id, 0).await.unwrap();
            let took = started.elapsed();
            assert_eq!(read.len(), events.len());
            if run > 0 {
                times.push(took);
            }
        }
        median(times)
    }

    fn schema(what: &str) -> String {
        format!(
            "org_accounts_bench_{what}_{}_{}",
            std::process::id(),
            Timestamp::now().as_millisecond()
        )
    }

    pub async fn run(url: &str) {
        let dir = tempfile::tempdir().unwrap();

        let sqlite = bulk(SqliteStore::open(dir.path().join("bulk.sqlite")).unwrap()).await;
        let postgres = {
            // The pool the service's store runs on, kept to drop the schema.
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(org_accounts::postgres::DEFAULT_POOL_SIZE)
                .connect(url)
                .await
                .unwrap();
            let schema = schema("bulk");
            let store = PostgresStore::with_schema(pool.clone(), &schema)
                .await
                .unwrap();
            let took = bulk(store).await;
            sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
            took
        };
        println!(
            "bulk_stores: {BULK_ROWS}-row bulk invite through the service, median of {BULK_RUNS}: \
             sqlite {sqlite:?}, postgres {postgres:?}; ratio postgres/sqlite = {:.2} (target <= 3.00)",
            postgres.as_secs_f64() / sqlite.as_secs_f64()
        );

        let events = many_events();
        let sqlite = {
            let store = SqliteStore::open(dir.path().join("read.sqlite")).unwrap();
            read_all(&store, &events).await
        };
        let postgres = {
            let store = PostgresStore::connect_with_schema(url, &schema("read"))
                .await
                .unwrap();
            let took = read_all(&store, &events).await;
            store.drop_schema().await.unwrap();
            took
        };
        println!(
            "bulk_stores: reading {} events, median of {READ_RUNS}: sqlite {sqlite:?}, postgres \
             {postgres:?}; ratio postgres/sqlite = {:.2} (target <= 3.00)",
            events.len(),
            postgres.as_secs_f64() / sqlite.as_secs_f64()
        );
    }
}

fn main() {
    #[cfg(all(feature = "postgres", feature = "sqlite"))]
    {
        let url = match std::env::var("ORG_ACCOUNTS_PG_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                println!(
                    "\n*** bulk_stores bench SKIPPED: set ORG_ACCOUNTS_PG_URL \
                     (e.g. postgres://postgres@127.0.0.1:5432/test) ***\n"
                );
                return;
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(bench::run(&url));
    }
    #[cfg(not(all(feature = "postgres", feature = "sqlite")))]
    println!(
        "\n*** bulk_stores bench SKIPPED: it needs --features sqlite,postgres and ORG_ACCOUNTS_PG_URL ***\n"
    );
}
