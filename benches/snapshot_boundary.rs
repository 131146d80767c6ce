//! A command that crosses a snapshot boundary, on a warm 100k-member
//! organization in SQLite (issue 12): it must not wait for the snapshot.
//!
//! Single-address invitations are run one after another through the
//! service (default configuration: a snapshot 500 events after the last,
//! or members / 32 if that is more: 3,125 events at 100k members) until 10
//! boundaries have been crossed. Judged figure: median time of a crossing
//! command / median time of the others (target: about 1, "no command waits
//! for a snapshot"; before, the crossing command wrote the snapshot itself,
//! 84-91 ms against 0.2 ms). At this pace (a command every quarter
//! millisecond) a background write is running most of the time on the
//! other core, so the ratio to the command just before each crossing,
//! which runs in the same conditions, is printed too. Also printed, for
//! the record:
//! - what a crossing command used to wait for: a snapshot of the cached
//!   state taken and saved synchronously;
//! - the background write (load the stored snapshot, apply the events
//!   since, save): its time and the live heap it adds while it runs (its
//!   own copy of the organization), counted by a global allocator.
//!
//! Run with `cargo bench --features sqlite --bench snapshot_boundary`
//! (`ORG_ACCOUNTS_BENCH_MEMBERS` changes the size).
// Tests and benches assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[cfg(feature = "sqlite")]
#[path = "common/mod.rs"]
mod common;

#[cfg(feature = "sqlite")]
mod bench {
    use std::alloc::System;
    use std::time::{Duration, Instant};

    use cap::Cap;

    use super::common::{ctx, grow, median};
    use std::sync::Mutex;

    use org_accounts::{
        AccountService, ActivityStore, Command, Email, Event, EventStore, OrganizationId, SignIn,
        Snapshot, SnapshotStore, SqliteStore, StoreError, Timestamp, UserId, Version,
    };

    /// The SQLite store, noting when its snapshot calls run.
    struct Timed {
        inner: SqliteStore,
        snapshot_calls: Mutex<Vec<(Instant, Instant)>>,
    }

    impl Timed {
        fn note(&self, from: Instant) {
            self.snapshot_calls
                .lock()
                .unwrap()
                .push((from, Instant::now()));
        }
        /// Whether a snapshot call overlapped `from..to`.
        fn overlaps(&self, from: Instant, to: Instant) -> bool {
            self.snapshot_calls
                .lock()
                .unwrap()
                .iter()
                .any(|(a, b)| *a < to && *b > from)
        }
    }

    impl EventStore for Timed {
        async fn append(
            &self,
            org: &OrganizationId,
            expected: Version,
            events: &[Event],
        ) -> Result<Version, StoreError> {
            self.inner.append(org, expected, events).await
        }
        async fn read(
            &self,
            org: &OrganizationId,
            after: Version,
        ) -> Result<Vec<Event>, StoreError> {
            self.inner.read(org, after).await
        }
    }
    impl SnapshotStore for Timed {
        async fn save_snapshot(
            &self,
            org: &OrganizationId,
            s: &Snapshot,
        ) -> Result<(), StoreError> {
            let from = Instant::now();
            let result = self.inner.save_snapshot(org, s).await;
            self.note(from);
            result
        }
        async fn load_snapshot(
            &self,
            org: &OrganizationId,
        ) -> Result<Option<Snapshot>, StoreError> {
            let from = Instant::now();
            let result = self.inner.load_snapshot(org).await;
            self.note(from);
            result
        }
    }
    impl ActivityStore for Timed {
        async fn record_sign_in(
            &self,
            org: &OrganizationId,
            user: UserId,
            at: Timestamp,
        ) -> Result<(), StoreError> {
            self.inner.record_sign_in(org, user, at).await
        }
        async fn sign_ins_after(
            &self,
            org: &OrganizationId,
            after: u64,
        ) -> Result<(Vec<SignIn>, u64), StoreError> {
            self.inner.sign_ins_after(org, after).await
        }
    }

    #[global_allocator]
    static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

    const CROSSINGS: usize = 10;
    const MIB: f64 = 1024.0 * 1024.0;

    pub async fn run(members: usize) {
        let dir = tempfile::tempdir().unwrap();
        let id = OrganizationId::new("big").unwrap();
        let store = SqliteStore::open(dir.path().join("big.sqlite")).unwrap();
        {
            let mut events = Vec::new();
            let org = grow(members, |batch| events.extend(batch));
            let mut version = 0;
            for chunk in events.chunks(5_000) {
                version = store.append(&id, version, chunk).await.unwrap();
            }
            store.save_snapshot(&id, &org.snapshot()).await.unwrap();
        }
        let service = AccountService::new(Timed {
            inner: store,
            snapshot_calls: Mutex::new(Vec::new()),
        });
        // The service's rule: a snapshot max(500, members / 32) events
        // after the last; each command below adds one member.
        let interval = |members: usize| (members as u64 / 32).max(500);
        let mut members = members;
        let mut last_crossing = 0;
        // Warm: the organization is loaded and cached.
        let mut version = service.read(&id, |org| org.version()).await.unwrap();
        // The service's own count: the snapshot it loaded (the one stored
        // above), then each one it asks for.
        let mut snapshot_at = version;

        let mut crossing = Vec::new();
        let mut others = Vec::new();
        // The command just before each crossing: it runs in the same
        // conditions (the previous background write may still be running
        // on the other core), so it is the fair comparison.
        let mut just_before = Vec::new();
        // Commands over 10 ms, and how many overlapped a snapshot call of
        // the store.
        let (mut slow, mut slow_overlapping) = (0, 0);
        let mut n = 0;
        while crossing.len() < CROSSINGS {
            n += 1;
            let invite = Command::InviteUsers {
                emails: vec![Email::parse(&format!("new{n}@example.com")).unwrap()],
                groups: vec![],
            };
            let started = Instant::now();
            let done = service.execute(&id, &invite, &ctx()).await.unwrap();
            let took = started.elapsed();
            if took > Duration::from_millis(10) {
                slow += 1;
                if service.store().overlaps(started, started + took) {
                    slow_overlapping += 1;
                }
            }
            members += 1;
            let every = interval(members);
            if done.version - snapshot_at >= every {
                snapshot_at = done.version;
                crossing.push(took);
                last_crossing = done.version;
                if let Some(last) = others.last() {
                    just_before.push(*last);
                }
            } else {
                others.push(took);
            }
            version = done.version;
        }
        service.snapshots_written().await;
        let stored = service
            .store()
            .inner
            .load_snapshot(&id)
            .await
            .unwrap()
            .unwrap();
        assert!(stored.version() >= last_crossing);

        // The background write on its own: asked for by one more
        // crossing, measured until it is done, with the heap it adds.
        while version + 1 - snapshot_at < interval(members + 1) {
            members += 1;
            let invite = Command::InviteUsers {
                emails: vec![Email::parse(&format!("pad{version}@example.com")).unwrap()],
                groups: vec![],
            };
            version = service.execute(&id, &invite, &ctx()).await.unwrap().version;
        }
        service.snapshots_written().await;
        let base = ALLOCATOR.allocated();
        let peak = PeakSampler::start(base);
        let started = Instant::now();
        let invite = Command::InviteUsers {
            emails: vec![Email::parse("last@example.com").unwrap()],
            groups: vec![],
        };
        let command_took = {
            let s = Instant::now();
            service.execute(&id, &invite, &ctx()).await.unwrap();
            s.elapsed()
        };
        service.snapshots_written().await;
        let background = started.elapsed();
        let extra = peak.stop();

        // What a crossing command used to wait for.
        let started = Instant::now();
        let snapshot = service.read(&id, |org| org.snapshot()).await.unwrap();
        service
            .store()
            .inner
            .save_snapshot(&id, &snapshot)
            .await
            .unwrap();
        let synchronous = started.elapsed();

        let (c, o, b) = (
            median(crossing.clone()),
            median(others.clone()),
            median(just_before),
        );
        println!(
            "snapshot_boundary: {members} members, SQLite, {} commands: crossing a boundary median {c:?} (max {:?}), \
             the command just before each crossing median {b:?}, all others median {o:?} (max {:?})",
            crossing.len() + others.len(),
            crossing.iter().max().unwrap(),
            others.iter().max().unwrap(),
        );
        println!(
            "snapshot_boundary: {slow} commands took over 10 ms; {slow_overlapping} of them overlapped the store's \
             snapshot save or load (the SQLite store runs them on its one connection, under the database's write lock)"
        );
        println!(
            "snapshot_boundary: background write {background:?} (the command that asked for it took {command_took:?}), \
             its extra live heap at peak {:.0} MiB; a synchronous snapshot of the cached state (what the command used to wait for) {synchronous:?}",
            extra as f64 / MIB
        );
        println!(
            "snapshot_boundary: ratio crossing/all others = {:.2}; ratio crossing/just before = {:.2} \
             (target: about 1, no command waits for a snapshot)",
            c.as_secs_f64() / o.as_secs_f64(),
            c.as_secs_f64() / b.as_secs_f64()
        );
    }

    /// Samples the allocator's live heap on a thread every millisecond and
    /// keeps the highest value above `base`.
    struct PeakSampler {
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
        thread: std::thread::JoinHandle<usize>,
    }

    impl PeakSampler {
        fn start(base: usize) -> PeakSampler {
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let flag = std::sync::Arc::clone(&stop);
            let thread = std::thread::spawn(move || {
                let mut peak = 0;
                while !flag.load(std::sync::atomic::Ordering::SeqCst) {
                    peak = peak.max(ALLOCATOR.allocated().saturating_sub(base));
                    std::thread::sleep(Duration::from_millis(1));
                }
                peak
            });
            PeakSampler { stop, thread }
        }
        fn stop(self) -> usize {
            self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
            self.thread.join().unwrap()
        }
    }
}

fn main() {
    #[cfg(feature = "sqlite")]
    {
        let members = common::members_from_env(100_000);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(bench::run(members));
    }
    #[cfg(not(feature = "sqlite"))]
    println!("\n*** snapshot_boundary bench SKIPPED: it needs --features sqlite ***\n");
}
