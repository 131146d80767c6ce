//! What several benches share: the acting administrator, a median, and a
//! large organization grown the way an administrator grows one (invites of
//! 20 at a time). Included with `#[path = "common/mod.rs"] mod common;`;
//! not a bench of its own.
#![allow(dead_code, clippy::unwrap_used, clippy::indexing_slicing)]

use std::time::Duration;

use org_accounts::{Command, Context, Email, Event, Organization, Timestamp};

/// The administrator every bench acts as.
pub const ADMIN: &str = "ada@example.com";

/// `ADMIN` at a fixed time.
pub fn ctx() -> Context {
    let now: Timestamp = "2026-11-28T09:00:00Z".parse().unwrap();
    Context::new(Email::parse(ADMIN).unwrap(), now)
}

/// The organization size a bench builds: `ORG_ACCOUNTS_BENCH_MEMBERS`, or
/// `default`.
pub fn members_from_env(default: usize) -> usize {
    std::env::var("ORG_ACCOUNTS_BENCH_MEMBERS")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(default)
}

/// The median of `values` (the upper one of an even count).
pub fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

/// An organization of `members` members (the creator included), created
/// and then invited 20 at a time, decided in memory; `sink` gets each
/// command's events in order, so a caller can store them as they come.
pub fn grow(members: usize, mut sink: impl FnMut(Vec<Event>)) -> Organization {
    let mut org = Organization::new();
    let admin = ctx();
    sink(
        org.execute(&Command::CreateOrganization { name: "Big".into() }, &admin)
            .unwrap(),
    );
    let mut next = 1;
    while next < members {
        let batch = (members - next).min(20);
        let emails = (next..next + batch)
            .map(|i| Email::parse(&format!("member{i}@example.com")).unwrap())
            .collect();
        sink(
            org.execute(
                &Command::InviteUsers {
                    emails,
                    groups: vec![],
                },
                &admin,
            )
            .unwrap(),
        );
        next += batch;
    }
    org
}
