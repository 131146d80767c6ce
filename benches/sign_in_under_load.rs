//! Sign-in latency while 1000-row uploads run on the same organization,
//! against sign-in latency when idle: sign-ins must never wait for an
//! administrator's command. Target: p99 under load <= 2x p99 idle.
//!
//! Run with `cargo bench --bench sign_in_under_load --features sqlite`;
//! it prints median and p99 for each store and the ratio it is judged by.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use org_accounts::{
    AccountService, Command, Context, CsvOptions, Email, InMemoryStore, OrganizationId, Store,
    Timestamp, read_invite_csv,
};

const MEMBERS: usize = 200;
const SIGN_INS: usize = 600;

fn ctx(who: &str, second: i64) -> Context {
    let start: Timestamp = "2026-11-28T09:00:00Z".parse().unwrap();
    Context::new(
        Email::parse(who).unwrap(),
        start + jiff::SignedDuration::from_secs(second),
    )
}

async fn populated<S: Store + 'static>(store: S) -> (Arc<AccountService<S>>, OrganizationId) {
    let service = Arc::new(AccountService::new(store));
    let id = OrganizationId::new("load").unwrap();
    service
        .execute(
            &id,
            &Command::CreateOrganization {
                name: "Load".into(),
            },
            &ctx("ada@example.com", 0),
        )
        .await
        .unwrap();
    for chunk in 0..MEMBERS / 20 {
        let emails = (0..20)
            .map(|i| Email::parse(&format!("m{}@example.com", chunk * 20 + i)).unwrap())
            .collect();
        service
            .execute(
                &id,
                &Command::InviteUsers {
                    emails,
                    groups: vec![],
                },
                &ctx("ada@example.com", 1),
            )
            .await
            .unwrap();
    }
    for m in 0..MEMBERS {
        service
            .execute(
                &id,
                &Command::AcceptInvitation,
                &ctx(&format!("m{m}@example.com"), 2),
            )
            .await
            .unwrap();
    }
    (service, id)
}

/// `SIGN_INS` sign-ins, one after another; each one's latency.
async fn sign_ins<S: Store + 'static>(
    service: &AccountService<S>,
    id: &OrganizationId,
    from_second: i64,
) -> Vec<Duration> {
    let mut latencies = Vec::with_capacity(SIGN_INS);
    for i in 0..SIGN_INS {
        let who = format!("m{}@example.com", i % MEMBERS);
        let t = Instant::now();
        service
            .record_sign_in(id, &ctx(&who, from_second + i as i64))
            .await
            .unwrap();
        latencies.push(t.elapsed());
    }
    latencies
}

fn upload(batch: usize) -> org_accounts::InviteFile {
    let mut text = String::from("email,group membership\n");
    for i in 0..1000 {
        text.push_str(&format!("u{batch}-{i}@example.com,Automation Users\n"));
    }
    read_invite_csv(text.as_bytes(), &CsvOptions::default()).unwrap()
}

fn stats(mut latencies: Vec<Duration>) -> (Duration, Duration) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 - 1.0) * q) as usize];
    (at(0.5), at(0.99))
}

async fn measure<S: Store + 'static>(name: &str, store: S) {
    let (service, id) = populated(store).await;
    // Warm up, then idle.
    sign_ins(&service, &id, 10).await;
    let (idle_median, idle_p99) = stats(sign_ins(&service, &id, 1_000).await);
    // Under load: an administrator uploads 1000-row files back to back.
    let running = Arc::new(AtomicBool::new(true));
    let uploader = {
        let (service, id, running) = (Arc::clone(&service), id.clone(), Arc::clone(&running));
        tokio::spawn(async move {
            let mut batch = 0;
            while running.load(Ordering::Relaxed) {
                let file = upload(batch);
                service
                    .bulk_invite(&id, &file, &ctx("ada@example.com", 5), false)
                    .await
                    .unwrap();
                batch += 1;
            }
            batch
        })
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    let loaded = sign_ins(&service, &id, 100_000).await;
    running.store(false, Ordering::Relaxed);
    let uploads = uploader.await.unwrap();
    let (load_median, load_p99) = stats(loaded);
    println!(
        "sign_in_under_load {name}: idle median {idle_median:?} p99 {idle_p99:?}; during {uploads} uploads of 1000 rows median {load_median:?} p99 {load_p99:?}; ratio p99 loaded/idle = {:.2} (target <= 2.00)",
        load_p99.as_secs_f64() / idle_p99.as_secs_f64()
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        measure("in-memory", InMemoryStore::new()).await;
        #[cfg(feature = "sqlite")]
        {
            let dir = tempfile::tempdir().unwrap();
            let store = org_accounts::SqliteStore::open(dir.path().join("load.sqlite")).unwrap();
            measure("sqlite", store).await;
        }
    });
}
