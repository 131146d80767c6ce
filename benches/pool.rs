#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Commands per second on 100 organizations over PostgreSQL with a pool of
//! 8 connections, against the same with 1 connection (the old design: one
//! connection behind a mutex, every organization of every request waiting
//! in one line). 16 tasks each run a fixed number of single invitations on
//! random organizations. Target: pooled / single >= 2.
//!
//! Run with
//! `ORG_ACCOUNTS_PG_URL=postgres://postgres@127.0.0.1:5432/test cargo bench --features postgres --bench pool`;
//! without the variable it prints that it was skipped. Each pool size works
//! in a schema of its own, dropped at the end.

#[cfg(feature = "postgres")]
mod bench {
    use std::sync::Arc;
    use std::time::Instant;

    use org_accounts::{
        AccountService, Command, Context, Email, OrganizationId, PostgresStore, Timestamp,
    };
    use sqlx::postgres::PgPoolOptions;

    const ORGANIZATIONS: usize = 100;
    const TASKS: usize = 16;
    const COMMANDS_PER_TASK: usize = 60;
    const ROUNDS: usize = 3;

    fn ctx(who: &str) -> Context {
        let now: Timestamp = "2026-11-28T09:00:00Z".parse().unwrap();
        Context::new(Email::parse(who).unwrap(), now)
    }

    fn org(i: usize) -> OrganizationId {
        OrganizationId::new(format!("org{i}")).unwrap()
    }

    /// A small deterministic generator (SplitMix64).
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) % n as u64) as usize
        }
    }

    struct Setup {
        service: Arc<AccountService<PostgresStore>>,
        pool: sqlx::PgPool,
        schema: String,
    }

    async fn setup(url: &str, connections: u32) -> Setup {
        let schema = format!(
            "org_accounts_bench_pool_{}_{connections}_{}",
            std::process::id(),
            Timestamp::now().as_millisecond()
        );
        let pool = PgPoolOptions::new()
            .max_connections(connections)
            .connect(url)
            .await
            .unwrap();
        let store = PostgresStore::with_schema(pool.clone(), &schema)
            .await
            .unwrap();
        let service = Arc::new(AccountService::new(store));
        for i in 0..ORGANIZATIONS {
            service
                .execute(
                    &org(i),
                    &Command::CreateOrganization {
                        name: format!("Org {i}"),
                    },
                    &ctx("ada@example.com"),
                )
                .await
                .unwrap();
        }
        Setup {
            service,
            pool,
            schema,
        }
    }

    /// One round: `TASKS` tasks, each `COMMANDS_PER_TASK` invitations on
    /// random organizations; commands per second.
    async fn round(setup: &Setup, round: usize) -> f64 {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let service = Arc::clone(&setup.service);
            tasks.push(tokio::spawn(async move {
                let mut rng = Rng((round * 1_000 + t) as u64);
                for c in 0..COMMANDS_PER_TASK {
                    let who = Email::parse(&format!("r{round}-t{t}-c{c}@example.com")).unwrap();
                    service
                        .execute(
                            &org(rng.below(ORGANIZATIONS)),
                            &Command::InviteUsers {
                                emails: vec![who],
                                groups: vec![],
                            },
                            &ctx("ada@example.com"),
                        )
                        .await
                        .unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        (TASKS * COMMANDS_PER_TASK) as f64 / started.elapsed().as_secs_f64()
    }

    fn median(mut values: Vec<f64>) -> f64 {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }

    pub async fn run(url: &str) {
        let single = setup(url, 1).await;
        let pooled = setup(url, 8).await;
        // Warm up both (connections opened, statements prepared), then
        // alternate so that both see the same machine.
        round(&single, 0).await;
        round(&pooled, 0).await;
        let (mut one, mut eight) = (Vec::new(), Vec::new());
        for r in 1..=ROUNDS {
            one.push(round(&single, r).await);
            eight.push(round(&pooled, r).await);
        }
        let (one, eight) = (median(one), median(eight));
        println!(
            "pool: {ORGANIZATIONS} organizations, {TASKS} tasks x {COMMANDS_PER_TASK} invitations, median of {ROUNDS} rounds"
        );
        println!("pool: 1 connection  {one:>8.0} commands/s");
        println!("pool: 8 connections {eight:>8.0} commands/s");
        println!(
            "pool: ratio 8 connections / 1 connection = {:.2} (target >= 2.00)",
            eight / one
        );
        for setup in [single, pooled] {
            sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", setup.schema))
                .execute(&setup.pool)
                .await
                .unwrap();
            setup.pool.close().await;
        }
    }
}

fn main() {
    #[cfg(feature = "postgres")]
    {
        let url = match std::env::var("ORG_ACCOUNTS_PG_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                println!(
                    "\n*** pool bench SKIPPED: set ORG_ACCOUNTS_PG_URL \
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
    #[cfg(not(feature = "postgres"))]
    println!(
        "\n*** pool bench SKIPPED: it needs --features postgres and ORG_ACCOUNTS_PG_URL ***\n"
    );
}
