//! Sign-ins through the service must not cost more in a large organization:
//! one sign-in in a 20,000-member organization versus one in a 1,000-member
//! organization. Target: ratio <= 2 (a copy of the organization per
//! sign-in would make it about 20). Run with `cargo bench --bench sign_in`.
//!
//! The service is async: each call is driven to completion with
//! `block_on` on a single-threaded tokio runtime built here, which adds the
//! same small cost to both sizes.
// Tests and benches assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "common/mod.rs"]
mod common;
use common::median;
use std::hint::black_box;
use std::time::Instant;

use criterion::Criterion;
use jiff::SignedDuration;
use org_accounts::{
    AccountService, Command, Context, Email, InMemoryStore, OrganizationId, Timestamp,
};
use tokio::runtime::Runtime;

fn email(s: &str) -> Email {
    Email::parse(s).expect("valid")
}

/// An organization of `members` active members, and the context of one of
/// them signing in.
async fn setup(members: usize) -> (AccountService<InMemoryStore>, OrganizationId) {
    let start = Timestamp::UNIX_EPOCH + SignedDuration::from_hours(24 * 365 * 50);
    let admin = Context::new(email("ada@example.com"), start);
    let service = AccountService::new(InMemoryStore::new());
    let id = OrganizationId::new("bench").expect("valid");
    service
        .execute(
            &id,
            &Command::CreateOrganization {
                name: "Bench".into(),
            },
            &admin,
        )
        .await
        .expect("created");
    for chunk in 0..members.div_ceil(20) {
        let emails = (0..20)
            .map(|i| email(&format!("m{}@example.com", chunk * 20 + i)))
            .collect();
        service
            .execute(
                &id,
                &Command::InviteUsers {
                    emails,
                    groups: vec![],
                },
                &admin,
            )
            .await
            .expect("invited");
    }
    let who = Context::new(email("m7@example.com"), start);
    service
        .execute(&id, &Command::AcceptInvitation, &who)
        .await
        .expect("accepted");
    (service, id)
}

fn sign_in(
    runtime: &Runtime,
    service: &AccountService<InMemoryStore>,
    id: &OrganizationId,
    tick: &mut i64,
) {
    *tick += 1;
    let now = Timestamp::UNIX_EPOCH
        + SignedDuration::from_hours(24 * 365 * 50)
        + SignedDuration::from_secs(*tick);
    let who = Context::new(email("m7@example.com"), now);
    runtime
        .block_on(service.record_sign_in(id, &who))
        .expect("signed in");
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (small, small_id) = runtime.block_on(setup(1_000));
    let (large, large_id) = runtime.block_on(setup(20_000));
    let mut tick = 0;
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("record_sign_in");
    group.bench_function("1k members", |b| {
        b.iter(|| sign_in(&runtime, &small, &small_id, &mut tick))
    });
    group.bench_function("20k members", |b| {
        b.iter(|| sign_in(&runtime, &large, &large_id, &mut tick))
    });
    group.finish();
    c.final_summary();

    let (mut s, mut l) = (Vec::new(), Vec::new());
    for _ in 0..2001 {
        let t = Instant::now();
        sign_in(&runtime, &small, &small_id, &mut tick);
        s.push(t.elapsed());
        let t = Instant::now();
        sign_in(&runtime, &large, &large_id, &mut tick);
        l.push(t.elapsed());
    }
    let (s, l) = (median(s), median(l));
    black_box(&tick);
    println!(
        "record_sign_in: 1k members median {s:?}, 20k members median {l:?}, ratio 20k/1k = {:.2} (target <= 2.00)",
        l.as_secs_f64() / s.as_secs_f64()
    );
}
