//! A million members on one organization (issue 12): the cost of one
//! command and of the state itself as the organization grows.
//!
//! Judged ratios (medians of interleaved samples, one run):
//! - invite one address, 1M members / 1k members: target <= 1.3;
//! - remove one member, 1M / 1k: target <= 1.3;
//! - live heap of a 1M-member organization (10 % in a custom group),
//!   counted by a global allocator: target <= 256 MiB;
//! - snapshot load (decode + `Organization::try_from`, which moves the
//!   members out of the snapshot, as the service does) / decode alone, 1M: target
//!   <= 1.5.
//!
//! Reported beside them: the users-page indexes are built by the first
//! page request and brought up to date by later ones (never by a
//! command), so the bench also prints what the first page costs at 1M,
//! the live heap once it is built, and an invitation followed by a page
//! request (the fold of that one change plus 50 rows), 1M / 1k.
//!
//! Run with `cargo bench --bench org_scale`; the last lines print each
//! figure. The organizations are built by applying events in bulk (no
//! decisions), so a 1M organization takes seconds, not minutes.
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
use std::alloc::System;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cap::Cap;
use criterion::Criterion;
use org_accounts::{
    Command, Context, Email, EventKind, GroupId, GroupName, MemberQuery, Organization, Snapshot,
    Timestamp, UserId,
};

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

const SMALL: u64 = 1_000;
const LARGE: u64 = 1_000_000;
/// The custom group every tenth member is in.
const FINANCE: GroupId = GroupId::new(7);

/// A well-mixed 64-bit value (splitmix64), so addresses land all over the
/// sorted indexes.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn address(n: u64) -> Email {
    Email::parse(&format!("u{:016x}@example.com", mix(n))).expect("valid")
}

fn now() -> Timestamp {
    "2026-11-28T09:00:00Z".parse().expect("valid")
}

fn admin() -> Context {
    Context::new(address(0), now())
}

/// An organization with `members` members (the creator included), every
/// tenth in a custom group, built by applying its events.
fn org(members: u64) -> Organization {
    let ctx = admin();
    let mut org = Organization::new();
    // `Event` cannot be built outside the crate; the creation event is
    // the template the invitations are written over.
    let mut event = org
        .execute(
            &Command::CreateOrganization {
                name: "Scale".into(),
            },
            &ctx,
        )
        .expect("created")
        .remove(0);
    org.execute(
        &Command::CreateGroup {
            name: GroupName::parse("Finance").expect("valid"),
            members: vec![],
        },
        &ctx,
    )
    .expect("group");
    assert!(org.group_by_id(FINANCE).is_some());
    let in_finance: Arc<[GroupId]> = Arc::from([FINANCE]);
    let nowhere: Arc<[GroupId]> = Arc::from([]);
    for n in 1..members {
        event.kind = EventKind::UserInvited {
            user: UserId::new(n + 1),
            email: address(n),
            groups: if n % 10 == 0 {
                in_finance.clone()
            } else {
                nowhere.clone()
            },
        };
        org.apply(&event);
    }
    org
}

fn invite(org: &mut Organization, ctx: &Context, email: &Email) {
    org.execute(
        &Command::InviteUsers {
            emails: vec![email.clone()],
            groups: vec![],
        },
        ctx,
    )
    .expect("invited");
}

fn remove(org: &mut Organization, ctx: &Context, email: &Email) {
    org.execute(
        &Command::RemoveUsers {
            emails: vec![email.clone()],
        },
        ctx,
    )
    .expect("removed");
}

/// One timed invitation of an address not yet a member; removed again
/// untimed, so the organization keeps its size.
fn timed_invite(org: &mut Organization, ctx: &Context, fresh: u64) -> Duration {
    let email = address(fresh);
    let t = Instant::now();
    invite(org, ctx, &email);
    let took = t.elapsed();
    remove(org, ctx, &email);
    took
}

/// One timed removal of an existing member chosen at random (cold in the
/// caches, as a real removal is); invited again untimed.
fn timed_remove(org: &mut Organization, ctx: &Context, members: u64, pick: u64) -> Duration {
    let email = address(1 + mix(pick) % (members - 1));
    let t = Instant::now();
    remove(org, ctx, &email);
    let took = t.elapsed();
    invite(org, ctx, &email);
    took
}

/// One invitation and the users page's first 50 rows after it, timed
/// together (the page brings its indexes up to date with the invitation);
/// removed again untimed.
fn timed_invite_and_page(org: &mut Organization, ctx: &Context, fresh: u64) -> Duration {
    let email = address(fresh);
    let t = Instant::now();
    invite(org, ctx, &email);
    black_box(org.members_page(&MemberQuery::new()).rows.len());
    let took = t.elapsed();
    remove(org, ctx, &email);
    took
}

fn encode(snapshot: &Snapshot) -> Vec<u8> {
    snapshot.to_bytes().expect("encodes")
}

fn decode(bytes: &[u8]) -> Snapshot {
    Snapshot::from_bytes(bytes).expect("decodes")
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn main() {
    let ctx = admin();
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(20)
        .measurement_time(Duration::from_secs(3));

    // Live heap: what the 1M organization holds once built (the events
    // that built it are gone), and once loaded from its snapshot.
    let before = ALLOCATOR.allocated();
    let t = Instant::now();
    let mut large = org(LARGE);
    let built_in = t.elapsed();
    let heap_built = ALLOCATOR.allocated() - before;
    // The first page builds the users-page indexes.
    let before = ALLOCATOR.allocated();
    let t = Instant::now();
    black_box(large.members_page(&MemberQuery::new()).rows.len());
    let first_page = t.elapsed();
    let heap_indexes = ALLOCATOR.allocated() - before;
    let bytes = encode(&large.snapshot());
    let before = ALLOCATOR.allocated();
    let loaded = Organization::from_snapshot(&decode(&bytes)).expect("loads");
    let heap_loaded = ALLOCATOR.allocated() - before;
    assert_eq!(loaded, large);
    drop(loaded);
    let mut small = org(SMALL);

    let mut group = c.benchmark_group("org_scale");
    let mut fresh = LARGE * 2;
    for (name, org, members) in [("1k", &mut small, SMALL), ("1M", &mut large, LARGE)] {
        group.bench_function(format!("invite one address, {name} members"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        fresh += 1;
                        timed_invite(org, &ctx, fresh)
                    })
                    .sum()
            })
        });
        group.bench_function(format!("remove one member, {name} members"), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        fresh += 1;
                        timed_remove(org, &ctx, members, fresh)
                    })
                    .sum()
            })
        });
    }
    group.sample_size(10);
    group.bench_function("snapshot decode, 1M members", |b| {
        b.iter(|| decode(black_box(&bytes)))
    });
    group.bench_function("snapshot load (decode + try_from), 1M members", |b| {
        b.iter(|| Organization::try_from(decode(black_box(&bytes))).expect("loads"))
    });
    group.finish();
    c.final_summary();

    // The judged figures: interleaved samples, medians.
    let (mut invite_small, mut invite_large) = (Vec::new(), Vec::new());
    let (mut remove_small, mut remove_large) = (Vec::new(), Vec::new());
    for _ in 0..2001 {
        fresh += 1;
        invite_small.push(timed_invite(&mut small, &ctx, fresh));
        fresh += 1;
        invite_large.push(timed_invite(&mut large, &ctx, fresh));
        fresh += 1;
        remove_small.push(timed_remove(&mut small, &ctx, SMALL, fresh));
        fresh += 1;
        remove_large.push(timed_remove(&mut large, &ctx, LARGE, fresh));
    }
    // With the users page in use: every command followed by a page
    // request, which folds that command's change into the indexes.
    let (mut paged_small, mut paged_large) = (Vec::new(), Vec::new());
    small.members_page(&MemberQuery::new());
    for _ in 0..2001 {
        fresh += 1;
        paged_small.push(timed_invite_and_page(&mut small, &ctx, fresh));
        fresh += 1;
        paged_large.push(timed_invite_and_page(&mut large, &ctx, fresh));
    }
    let (mut parse, mut load) = (Vec::new(), Vec::new());
    // Timed without dropping what was built (freeing is not loading).
    for _ in 0..7 {
        let t = Instant::now();
        let parsed = decode(black_box(&bytes));
        parse.push(t.elapsed());
        drop(black_box(parsed));
        let t = Instant::now();
        let parsed = decode(black_box(&bytes));
        let loaded = Organization::try_from(parsed).expect("loads");
        load.push(t.elapsed());
        drop(black_box(loaded));
    }
    let report = |what: &str, small: Vec<Duration>, large: Vec<Duration>, target: f64| {
        let (s, l) = (median(small), median(large));
        println!(
            "{what}: 1k median {s:?}, 1M median {l:?}, ratio 1M/1k = {:.2} (target <= {target:.2})",
            l.as_secs_f64() / s.as_secs_f64()
        );
    };
    report("invite one address", invite_small, invite_large, 1.3);
    report("remove one member", remove_small, remove_large, 1.3);
    let (s, l) = (median(paged_small), median(paged_large));
    println!(
        "invite one address and read the first users page (not judged): 1k median {s:?}, 1M median {l:?}, ratio 1M/1k = {:.2}",
        l.as_secs_f64() / s.as_secs_f64()
    );
    let (p, l) = (median(parse), median(load));
    println!(
        "snapshot at 1M ({} bytes): decode median {p:?}, load median {l:?}, ratio load/decode = {:.2} (target <= 1.50)",
        bytes.len(),
        l.as_secs_f64() / p.as_secs_f64()
    );
    println!(
        "live heap of a 1M-member organization: {:.1} MiB built from events (in {built_in:?}), {:.1} MiB loaded from its snapshot (target <= 256 MiB)",
        mib(heap_built),
        mib(heap_loaded)
    );
    println!(
        "users-page indexes at 1M, built by the first page request: {first_page:?}, +{:.1} MiB",
        mib(heap_indexes)
    );
}
