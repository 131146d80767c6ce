#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Two service instances ("nodes") over one PostgreSQL database, the way
//! hosts scale out: each node has its own pool and its own
//! `PostgresStore` on one schema, and many tasks per node work on ONE
//! organization at once, mixing single invitations, removals (of members
//! the task invited), 50 to 200-row bulk uploads whose addresses overlap
//! between nodes, acceptances and sign-ins. Afterwards:
//!
//! - no member is lost or duplicated: every address some task was told was
//!   invited (and did not remove) is a member exactly once, and nothing
//!   else is;
//! - every conflict was retried: the stores saw conflicts, yet no task got
//!   `ServiceError::Contention` (the retry budget is generous), a `Store`
//!   error, an unexpected refusal or an `api_error` row;
//! - each node's state equals a replay of the stored events (plus the
//!   sign-ins of the activity store, which never enter the event stream),
//!   both nodes agree, and so does a third node that loads from scratch
//!   (snapshot plus events).
//!
//! Needs a server: set `ORG_ACCOUNTS_PG_URL` (`.ci/run` does); without it
//! the test says loudly that it was skipped. It works in a schema of its
//! own, dropped at the end, also when it fails (a guard).
#![cfg(feature = "postgres")]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use jiff::{SignedDuration, Timestamp};
use org_accounts::{
    AccountService, ActivityStore, Command, Context, CsvOptions, Email, EventStore, GroupName,
    MemberQuery, MemberStatus, Organization, OrganizationId, PostgresStore, RowError, RowOutcome,
    ServiceConfig, ServiceError, SignIn, SkipReason, Snapshot, SnapshotStore, StoreError, UserId,
    Version, read_invite_csv,
};
use sqlx::postgres::PgPoolOptions;

const VARIABLE: &str = "ORG_ACCOUNTS_PG_URL";
const NODES: usize = 2;
const TASKS_PER_NODE: usize = 6;
const STEPS_PER_TASK: usize = 30;
/// Addresses every node's bulk uploads draw from, so uploads overlap.
const SHARED_ADDRESSES: usize = 700;
/// Far more than contention between two nodes can use up: a command must
/// never give up here.
const MAX_ATTEMPTS: u32 = 1_000;

fn url() -> Option<String> {
    match std::env::var(VARIABLE) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "\n*** SKIPPED: the two-node PostgreSQL test needs {VARIABLE} \
                 (e.g. postgres://postgres@127.0.0.1:5432/test); .ci/run sets it ***\n"
            );
            None
        }
    }
}

/// Runs only when the variable is unset, so that a skipped run shows up by
/// name in `cargo test` output.
#[test]
fn two_nodes_test_skipped_set_org_accounts_pg_url_to_run_it() {
    if std::env::var(VARIABLE).is_ok_and(|url| !url.is_empty()) {
        return;
    }
    eprintln!(
        "\n*** SKIPPED: the two-node test did nothing. Run it with \
         {VARIABLE}=postgres://postgres@127.0.0.1:5432/test \
         cargo test --features postgres --test two_nodes ***\n"
    );
}

/// A random schema name of its own.
fn schema() -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut rng = Rng::new(nanos as u64 ^ u64::from(std::process::id()));
    format!(
        "org_accounts_test_two_nodes_{}_{}_{:08x}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        rng.next() as u32
    )
}

/// Drops the schema when dropped: at the end of the test, and while
/// unwinding from a failed assertion. `Drop` cannot await, so the drop runs
/// on a thread of its own with a small runtime and connection.
struct SchemaGuard {
    url: String,
    schema: String,
}

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        let url = self.url.clone();
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&url)
                    .await
                    .map_err(|e| e.to_string())?;
                let done = sqlx::raw_sql(&sql).execute(&pool).await;
                pool.close().await;
                done.map(|_| ()).map_err(|e| e.to_string())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop schema {}: {e}", self.schema),
            Err(_) => eprintln!("could not drop schema {}: the thread panicked", self.schema),
        }
    }
}

/// A small deterministic generator (SplitMix64), seeded per task.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A store that counts the conflicts it reports, so the test can show
/// that conflicts happened and were all retried.
struct Counting {
    inner: PostgresStore,
    conflicts: Arc<AtomicUsize>,
}

impl EventStore for Counting {
    async fn append(
        &self,
        org: &OrganizationId,
        expected: Version,
        events: &[org_accounts::Event],
    ) -> Result<Version, StoreError> {
        let result = self.inner.append(org, expected, events).await;
        if matches!(result, Err(StoreError::Conflict(_))) {
            self.conflicts.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn read(
        &self,
        org: &OrganizationId,
        after: Version,
    ) -> impl Future<Output = Result<Vec<org_accounts::Event>, StoreError>> + Send {
        self.inner.read(org, after)
    }
}

impl SnapshotStore for Counting {
    fn save_snapshot(
        &self,
        org: &OrganizationId,
        snapshot: &Snapshot,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.save_snapshot(org, snapshot)
    }

    fn load_snapshot(
        &self,
        org: &OrganizationId,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send {
        self.inner.load_snapshot(org)
    }
}

impl ActivityStore for Counting {
    fn record_sign_in(
        &self,
        org: &OrganizationId,
        user: UserId,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        self.inner.record_sign_in(org, user, at)
    }

    fn sign_ins_after(
        &self,
        org: &OrganizationId,
        after: u64,
    ) -> impl Future<Output = Result<(Vec<SignIn>, u64), StoreError>> + Send {
        self.inner.sign_ins_after(org, after)
    }
}

type Node = Arc<AccountService<Counting>>;

async fn node(url: &str, schema: &str, conflicts: &Arc<AtomicUsize>) -> Node {
    // A pool of the node's own, as each host process would have.
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect(url)
        .await
        .unwrap();
    let store = PostgresStore::with_schema(pool, schema).await.unwrap();
    Arc::new(AccountService::with_config(
        Counting {
            inner: store,
            conflicts: Arc::clone(conflicts),
        },
        ServiceConfig::default().with_max_attempts(MAX_ATTEMPTS),
    ))
}

fn email(text: &str) -> Email {
    Email::parse(text).unwrap()
}

fn start() -> Timestamp {
    "2026-11-28T09:00:00Z".parse().unwrap()
}

fn ctx(who: &str, at: Timestamp) -> Context {
    Context::new(email(who), at)
}

fn shared_address(k: usize) -> String {
    format!("shared{k}@example.com")
}

/// Where one of a task's own members stands, as the task was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Own {
    Pending,
    Active { last_active: Timestamp },
    Removed,
}

/// What one task was told.
#[derive(Default)]
struct Ledger {
    /// Addresses only this task uses (single invitations and the
    /// task's own bulk rows), by what the task was told.
    own: BTreeMap<String, Own>,
    /// Shared addresses a bulk upload of this task reported `Invited`.
    shared_invited: Vec<String>,
    /// Shared addresses reported skipped as already there.
    shared_skipped: usize,
    commands: usize,
    contention: usize,
    store_errors: Vec<String>,
    unexpected: Vec<String>,
}

impl Ledger {
    fn failed(&mut self, what: &str, error: ServiceError) {
        match error {
            ServiceError::Contention { .. } => self.contention += 1,
            ServiceError::Store(e) => self.store_errors.push(format!("{what}: {e}")),
            other => self.unexpected.push(format!("{what}: {other}")),
        }
    }

    fn own_where(&self, rng: &mut Rng, pick: impl Fn(Own) -> bool) -> Option<String> {
        let candidates: Vec<&String> = self
            .own
            .iter()
            .filter(|(_, state)| pick(**state))
            .map(|(address, _)| address)
            .collect();
        (!candidates.is_empty()).then(|| candidates[rng.below(candidates.len())].clone())
    }
}

/// One task of one node: `STEPS_PER_TASK` random steps on the one
/// organization, acting as `admin`.
async fn run_task(
    service: Node,
    id: OrganizationId,
    admin: &'static str,
    node: usize,
    task: usize,
    barrier: Arc<tokio::sync::Barrier>,
) -> Ledger {
    let mut rng = Rng::new((node * 1_000 + task) as u64 + 7);
    let mut ledger = Ledger::default();
    // Each task's clock runs on its own, one second per step.
    let mut now = start() + SignedDuration::from_hours((1 + node * 10 + task) as i64);
    let mut fresh = 0usize;
    barrier.wait().await;
    for step in 0..STEPS_PER_TASK {
        now += SignedDuration::from_secs(1);
        let roll = rng.below(100);
        match roll {
            // A single invitation of 1 to 3 new addresses.
            0..=29 => {
                let addresses: Vec<String> = (0..1 + rng.below(3))
                    .map(|_| {
                        fresh += 1;
                        format!("n{node}-t{task}-{fresh}@example.com")
                    })
                    .collect();
                let groups = if rng.below(2) == 0 {
                    vec![]
                } else {
                    vec![GroupName::parse("Automation Users").unwrap()]
                };
                let command = Command::InviteUsers {
                    emails: addresses.iter().map(|a| email(a)).collect(),
                    groups,
                };
                ledger.commands += 1;
                match service.execute(&id, &command, &ctx(admin, now)).await {
                    Ok(done) => {
                        assert_eq!(done.events.len(), addresses.len(), "step {step}");
                        for address in addresses {
                            ledger.own.insert(address, Own::Pending);
                        }
                    }
                    Err(e) => ledger.failed("invite", e),
                }
            }
            // Remove one of the task's own members.
            30..=44 => {
                let Some(address) = ledger.own_where(&mut rng, |s| s != Own::Removed) else {
                    continue;
                };
                let command = Command::RemoveUsers {
                    emails: vec![email(&address)],
                };
                ledger.commands += 1;
                match service.execute(&id, &command, &ctx(admin, now)).await {
                    Ok(done) => {
                        assert!(!done.events.is_empty(), "removing {address}");
                        ledger.own.insert(address, Own::Removed);
                    }
                    Err(e) => ledger.failed("remove", e),
                }
            }
            // A 50 to 200-row upload: mostly shared addresses (overlapping
            // with the other node's uploads), the rest the task's own.
            45..=59 => {
                let rows = 50 + rng.below(151);
                let window = rng.below(SHARED_ADDRESSES);
                let mut text = String::from("email,group membership\n");
                let mut own_rows = BTreeSet::new();
                let mut seen = BTreeSet::new();
                for i in 0..rows {
                    let address = if rng.below(10) < 7 {
                        // A window of the shared pool, so uploads of the two
                        // nodes name many of the same addresses.
                        let k = (window + rng.below(250)) % SHARED_ADDRESSES;
                        shared_address(k)
                    } else {
                        fresh += 1;
                        let address = format!("n{node}-t{task}-b{fresh}@example.com");
                        own_rows.insert(address.clone());
                        address
                    };
                    if !seen.insert(address.clone()) {
                        continue;
                    }
                    let groups = match i % 3 {
                        0 => "",
                        1 => "Automation Users",
                        _ => "\"automation developers, citizen developers\"",
                    };
                    text.push_str(&format!("{address},{groups}\n"));
                }
                let file = read_invite_csv(text.as_bytes(), &CsvOptions::default()).unwrap();
                ledger.commands += 1;
                match service
                    .bulk_invite(&id, &file, &ctx(admin, now), false)
                    .await
                {
                    Ok(report) => {
                        assert_eq!(report.rows().len(), seen.len());
                        for row in report.rows() {
                            let address = row.email().to_owned();
                            let own = own_rows.contains(&address);
                            match row.outcome() {
                                RowOutcome::Invited if own => {
                                    ledger.own.insert(address, Own::Pending);
                                }
                                RowOutcome::Invited => ledger.shared_invited.push(address),
                                RowOutcome::Skipped(
                                    SkipReason::AlreadyInvited | SkipReason::AlreadyMember,
                                ) if !own => ledger.shared_skipped += 1,
                                RowOutcome::Failed(errors)
                                    if errors
                                        .iter()
                                        .any(|e| matches!(e, RowError::ApiError { .. })) =>
                                {
                                    // Contention or a store failure after the
                                    // file was decided.
                                    ledger
                                        .store_errors
                                        .push(format!("bulk row {address}: {}", row.message()));
                                }
                                other => ledger
                                    .unexpected
                                    .push(format!("bulk row {address}: {other:?}")),
                            }
                        }
                    }
                    Err(e) => ledger.failed("bulk", e),
                }
            }
            // One of the task's pending members accepts.
            60..=79 => {
                let Some(address) = ledger.own_where(&mut rng, |s| s == Own::Pending) else {
                    continue;
                };
                ledger.commands += 1;
                match service
                    .execute(&id, &Command::AcceptInvitation, &ctx(&address, now))
                    .await
                {
                    Ok(_) => {
                        ledger.own.insert(address, Own::Active { last_active: now });
                    }
                    Err(e) => ledger.failed("accept", e),
                }
            }
            // One of the task's active members signs in.
            _ => {
                let Some(address) = ledger.own_where(&mut rng, |s| matches!(s, Own::Active { .. }))
                else {
                    continue;
                };
                ledger.commands += 1;
                match service.record_sign_in(&id, &ctx(&address, now)).await {
                    Ok(()) => {
                        ledger.own.insert(address, Own::Active { last_active: now });
                    }
                    Err(e) => ledger.failed("sign-in", e),
                }
            }
        }
    }
    ledger
}

/// Every member of the organization: address (as typed) -> status, and how
/// many rows the listing had (to catch an address listed twice).
fn listing(org: &Organization) -> (BTreeMap<String, MemberStatus>, usize) {
    let mut members = BTreeMap::new();
    let mut rows = 0;
    let mut query = MemberQuery::new().limit(500);
    loop {
        let page = org.members_page(&query);
        for row in &page.rows {
            rows += 1;
            members.insert(row.email().as_str().to_owned(), row.status());
        }
        match page.next {
            Some(cursor) => query = MemberQuery::new().limit(500).after(cursor),
            None => break,
        }
    }
    (members, rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_organization_lose_and_duplicate_nothing() {
    let Some(url) = url() else { return };
    let schema = schema();
    let _guard = SchemaGuard {
        url: url.clone(),
        schema: schema.clone(),
    };
    let conflicts = Arc::new(AtomicUsize::new(0));
    let nodes = [
        node(&url, &schema, &conflicts).await,
        node(&url, &schema, &conflicts).await,
    ];
    let id = OrganizationId::new("acme").unwrap();

    // Node 0 creates the organization and makes bob a second administrator;
    // node 1 acts as bob.
    let admins = ["ada@example.com", "bob@example.com"];
    nodes[0]
        .execute(
            &id,
            &Command::CreateOrganization {
                name: "Acme".into(),
            },
            &ctx(admins[0], start()),
        )
        .await
        .unwrap();
    nodes[0]
        .execute(
            &id,
            &Command::InviteUsers {
                emails: vec![email(admins[1])],
                groups: vec![GroupName::parse("Administrators").unwrap()],
            },
            &ctx(admins[0], start()),
        )
        .await
        .unwrap();
    nodes[1]
        .execute(&id, &Command::AcceptInvitation, &ctx(admins[1], start()))
        .await
        .unwrap();

    let barrier = Arc::new(tokio::sync::Barrier::new(NODES * TASKS_PER_NODE));
    let mut tasks = Vec::new();
    for (n, service) in nodes.iter().enumerate() {
        for t in 0..TASKS_PER_NODE {
            tasks.push(tokio::spawn(run_task(
                Arc::clone(service),
                id.clone(),
                admins[n],
                n,
                t,
                Arc::clone(&barrier),
            )));
        }
    }
    let mut ledgers = Vec::new();
    for task in tasks {
        ledgers.push(task.await.unwrap());
    }

    // Every conflict was retried: none gave up, nothing failed.
    let contention: usize = ledgers.iter().map(|l| l.contention).sum();
    let store_errors: Vec<&String> = ledgers.iter().flat_map(|l| &l.store_errors).collect();
    let unexpected: Vec<&String> = ledgers.iter().flat_map(|l| &l.unexpected).collect();
    let commands: usize = ledgers.iter().map(|l| l.commands).sum();
    let conflicts = conflicts.load(Ordering::Relaxed);
    eprintln!(
        "two nodes: {commands} requests, {conflicts} append conflicts seen by the stores (all \
         retried), {contention} gave up, {} store errors, {} unexpected outcomes",
        store_errors.len(),
        unexpected.len()
    );
    assert_eq!(contention, 0, "commands gave up on contention");
    assert!(store_errors.is_empty(), "store errors: {store_errors:#?}");
    assert!(
        unexpected.is_empty(),
        "unexpected outcomes: {unexpected:#?}"
    );
    assert!(
        conflicts > 0,
        "the two nodes never conflicted: the test did not exercise retries"
    );

    // Who must be a member, exactly once: both administrators, each task's
    // own addresses it did not remove, and every shared address some upload
    // was told it invited (no upload removes shared addresses).
    let mut expected: BTreeMap<String, Option<Own>> = admins
        .iter()
        .map(|a| ((*a).to_owned(), None))
        .collect::<BTreeMap<_, _>>();
    let mut shared_invited: HashMap<&str, usize> = HashMap::new();
    for ledger in &ledgers {
        for (address, state) in &ledger.own {
            if *state != Own::Removed {
                assert!(
                    expected.insert(address.clone(), Some(*state)).is_none(),
                    "{address} is own to two tasks"
                );
            }
        }
        for address in &ledger.shared_invited {
            *shared_invited.entry(address.as_str()).or_default() += 1;
        }
    }
    let twice: Vec<_> = shared_invited.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "shared addresses reported invited by more than one upload: {twice:?}"
    );
    for address in shared_invited.keys() {
        expected.insert((*address).to_owned(), Some(Own::Pending));
    }
    let shared_skipped: usize = ledgers.iter().map(|l| l.shared_skipped).sum();
    eprintln!(
        "two nodes: {} members expected ({} shared addresses invited by one upload each, {} \
         shared rows skipped as already there, {} own addresses removed)",
        expected.len(),
        shared_invited.len(),
        shared_skipped,
        ledgers
            .iter()
            .flat_map(|l| l.own.values())
            .filter(|s| **s == Own::Removed)
            .count()
    );

    // Each node's state, and a replay of the stored events plus the
    // sign-ins the activity store holds.
    let states = [
        nodes[0].read(&id, Organization::clone).await.unwrap(),
        nodes[1].read(&id, Organization::clone).await.unwrap(),
    ];
    let events = nodes[0].store().inner.read(&id, 0).await.unwrap();
    let mut replayed = Organization::replay(&events);
    let (sign_ins, _) = nodes[0].store().inner.sign_ins_after(&id, 0).await.unwrap();
    for s in &sign_ins {
        replayed.observe_sign_in(s.user, s.at);
    }
    assert_eq!(replayed.version(), events.len() as u64);

    for (n, state) in states.iter().enumerate() {
        assert_eq!(state.version(), events.len() as u64, "node {n}'s version");
        let (members, rows) = listing(state);
        assert_eq!(rows, members.len(), "node {n} lists an address twice");
        assert_eq!(state.member_count(), members.len(), "node {n}");
        assert!(
            state.duplicate_addresses().is_empty(),
            "node {n}: {:?}",
            state.duplicate_addresses()
        );
        let missing: Vec<&String> = expected
            .keys()
            .filter(|a| !members.contains_key(*a))
            .collect();
        let extra: Vec<&String> = members
            .keys()
            .filter(|a| !expected.contains_key(*a))
            .collect();
        assert!(missing.is_empty(), "node {n} lost members: {missing:?}");
        assert!(
            extra.is_empty(),
            "node {n} has members nobody was told of: {extra:?}"
        );
        for (address, own) in &expected {
            let status = members[address];
            match own {
                Some(Own::Pending) => {
                    assert_eq!(status, MemberStatus::Pending, "node {n}: {address}");
                }
                Some(Own::Active { last_active }) => assert_eq!(
                    status,
                    MemberStatus::Active {
                        last_active: *last_active
                    },
                    "node {n}: {address}"
                ),
                _ => assert!(!status.is_pending(), "node {n}: {address}"),
            }
        }
        assert!(*state == replayed, "node {n}'s state is not the replay");
    }
    assert!(states[0] == states[1], "the nodes disagree");

    // A third node starting cold (snapshot, then the events after it)
    // agrees too.
    let late = node(&url, &schema, &Arc::new(AtomicUsize::new(0))).await;
    let cold = late.read(&id, Organization::clone).await.unwrap();
    assert!(cold == replayed, "a node loading from the store disagrees");
    eprintln!(
        "two nodes: {} events, {} members, {} sign-in rows; both nodes and a cold node equal the \
         replay",
        events.len(),
        replayed.member_count(),
        sign_ins.len()
    );
}
