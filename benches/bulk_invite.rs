//! Deciding a 1000-row invite file versus the floor of merely reading the
//! same bytes with `csv` and parsing each address with `email_address`.
//!
//! Target: ours / floor <= 1.3 (medians, measured in the same run, samples
//! interleaved so machine noise hits both alike). Run with
//! `cargo bench --bench bulk_invite`; the last line prints the ratio.
//!
//! Ours does more than the floor by design: the file-level checks (size,
//! encoding, BOM, `sep=`, delimiter, line numbers), the canonical key of
//! every address (NFC, IDNA, case folding) and the script checks,
//! duplicate detection, group resolution, the member look-up, the events
//! and the Error Summary for every row; the ratio is what that costs.
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
use email_address::{EmailAddress, Options};
use org_accounts::{
    Command, Context, CsvOptions, Email, GroupName, Organization, Timestamp, read_invite_csv,
};

const GROUPS: [&str; 5] = [
    "Finance",
    "automation users",
    "ADMINISTRATORS",
    "Sales, Finance",
    "",
];

fn file() -> Vec<u8> {
    let mut text = String::from("\u{feff}Email,Group Membership,Department\r\n");
    for i in 0..1000 {
        let group = GROUPS[i % GROUPS.len()];
        let email = if i % 50 == 7 {
            format!("broken{i}@@example.com")
        } else {
            format!("First.Last{i}@example{}.com", i % 7)
        };
        text.push_str(&format!("{email},\"{group}\",Dept {}\r\n", i % 13));
    }
    text.into_bytes()
}

fn org() -> Organization {
    let now: Timestamp = "2026-11-28T09:00:00Z"
        .parse()
        .unwrap_or(Timestamp::UNIX_EPOCH);
    let admin = Context::new(Email::parse("ada@example.com").expect("valid"), now);
    let mut org = Organization::new();
    org.execute(
        &Command::CreateOrganization {
            name: "Bench".into(),
        },
        &admin,
    )
    .expect("created");
    for name in ["Finance", "Sales"] {
        org.execute(
            &Command::CreateGroup {
                name: GroupName::parse(name).expect("valid"),
                members: vec![],
            },
            &admin,
        )
        .expect("group");
    }
    // 2000 existing members, some of them in the file (skipped rows).
    for chunk in 0..100 {
        let emails = (0..20)
            .map(|i| {
                let n = chunk * 20 + i;
                let text = if n % 10 == 0 {
                    format!("first.last{n}@example{}.com", n % 7)
                } else {
                    format!("member{n}@example.org")
                };
                Email::parse(&text).expect("valid")
            })
            .collect();
        org.execute(
            &Command::InviteUsers {
                emails,
                groups: vec![],
            },
            &admin,
        )
        .expect("invited");
    }
    org
}

fn floor(bytes: &[u8]) -> usize {
    let options = Options::default()
        .without_display_text()
        .without_domain_literal()
        .with_required_tld();
    let mut reader = csv::Reader::from_reader(bytes);
    let mut valid = 0;
    for record in reader.byte_records() {
        let record = record.expect("readable");
        let email = std::str::from_utf8(&record[0]).unwrap_or("");
        if EmailAddress::parse_with_options(email.trim(), options).is_ok() {
            valid += 1;
        }
    }
    valid
}

fn ours(org: &Organization, ctx: &Context, bytes: &[u8]) -> usize {
    let file = read_invite_csv(bytes, &CsvOptions::default()).expect("readable");
    let bulk = org.decide_bulk_invite(&file, ctx).expect("allowed");
    bulk.events().len()
}

fn main() {
    let bytes = file();
    let org = org();
    let ctx = Context::new(
        Email::parse("ada@example.com").expect("valid"),
        Timestamp::UNIX_EPOCH,
    );
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("bulk_invite_1000_rows");
    group.bench_function("floor: csv + email_address", |b| {
        b.iter(|| floor(black_box(&bytes)))
    });
    group.bench_function("read_invite_csv + decide_bulk_invite", |b| {
        b.iter(|| ours(&org, &ctx, black_box(&bytes)))
    });
    group.finish();
    c.final_summary();

    // The judged ratio: interleaved samples, medians.
    let (mut f, mut o) = (Vec::new(), Vec::new());
    for _ in 0..201 {
        let t = Instant::now();
        black_box(floor(black_box(&bytes)));
        f.push(t.elapsed());
        let t = Instant::now();
        black_box(ours(&org, &ctx, black_box(&bytes)));
        o.push(t.elapsed());
    }
    let (f, o) = (median(f), median(o));
    println!(
        "bulk_invite_1000_rows: floor median {f:?}, ours median {o:?}, ratio ours/floor = {:.2} (target <= 1.30)",
        o.as_secs_f64() / f.as_secs_f64()
    );
}
