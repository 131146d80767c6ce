//! Worst-case invite files at the size cap, against an ordinary file of the
//! same size: reading and deciding must stay linear in the file's size.
//!
//! Each hostile file is as large as the default cap
//! ([`DEFAULT_MAX_FILE_BYTES`], 4 MiB); the ordinary one is 1000 valid rows
//! padded to the same size with an ignored `Notes` column. Judged: reading
//! and deciding (`read_invite_csv` + `decide_bulk_invite`), every hostile /
//! ordinary ratio <= 2 (medians of interleaved samples). Rendering the
//! report (table, JSON, failed-rows CSV) is printed too: it is linear in
//! what it writes, and a hostile file makes it write megabytes where an
//! ordinary one writes nothing, so it is shown per megabyte written rather
//! than as a ratio. Run with `cargo bench --bench hostile_files`; the last
//! lines print the figures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

#[path = "common/mod.rs"]
mod common;
use common::median;
use std::hint::black_box;
use std::time::Instant;

use criterion::Criterion;
use org_accounts::{
    Command, Context, CsvOptions, DEFAULT_MAX_FILE_BYTES, Email, GroupName, ImportReport,
    Organization, Timestamp, read_invite_csv,
};

/// Pads `text` to exactly the cap with a last, blank line of spaces (a
/// blank row, skipped when read).
fn pad_to_cap(mut text: String) -> Vec<u8> {
    assert!(text.len() < DEFAULT_MAX_FILE_BYTES, "{}", text.len());
    while text.len() < DEFAULT_MAX_FILE_BYTES - 1 {
        text.push(' ');
    }
    text.push('\n');
    text.into_bytes()
}

/// 1000 valid rows whose ignored `Notes` column fills the file.
fn ordinary() -> Vec<u8> {
    let per_row = DEFAULT_MAX_FILE_BYTES / 1000 - 60;
    let mut text = String::from("email,group membership,notes\n");
    for i in 0..1000 {
        text.push_str(&format!(
            "person{i}@example.com,Finance,\"{}\"\n",
            "n".repeat(per_row)
        ));
    }
    pad_to_cap(text)
}

/// One row whose group cell lists distinct unknown names up to the cap.
fn one_huge_group_cell() -> Vec<u8> {
    let mut text = String::from("email,group membership\nann@example.com,\"");
    let mut i = 0;
    while text.len() < DEFAULT_MAX_FILE_BYTES - 40 {
        text.push_str(&format!("Unknown group {i}, "));
        i += 1;
    }
    text.push_str("\"\n");
    pad_to_cap(text)
}

/// 1000 rows, each naming the invitation limit of distinct unknown groups,
/// with long names filling the file.
fn many_unknown_groups() -> Vec<u8> {
    let name_len = DEFAULT_MAX_FILE_BYTES / 1000 / 20 - 4;
    let mut text = String::from("email,group membership\n");
    for row in 0..1000 {
        let names: Vec<String> = (0..20)
            .map(|g| format!("{row}-{g}-{}", "x".repeat(name_len - 10)))
            .collect();
        text.push_str(&format!("r{row}@example.com,\"{}\"\n", names.join(",")));
    }
    pad_to_cap(text)
}

/// 1000 rows of one address (999 duplicates), with long group cells of
/// known groups.
fn many_duplicates() -> Vec<u8> {
    let per_row = DEFAULT_MAX_FILE_BYTES / 1000 - 60;
    let mut text = String::from("email,group membership\n");
    for i in 0..1000 {
        // Distinct cells (so no cache helps) of repeated known names.
        let mut cell = format!("Finance{}", ", Finance".repeat(18));
        cell.push_str(&" ".repeat(per_row.saturating_sub(cell.len() + i % 7)));
        text.push_str(&format!("Same.Person@Example.com,\"{cell}\"\n"));
    }
    pad_to_cap(text)
}

/// One row whose email cell fills the file.
fn one_huge_email_cell() -> Vec<u8> {
    let mut text = String::from("email,group membership\n");
    text.push_str(&"a".repeat(DEFAULT_MAX_FILE_BYTES - 60));
    text.push_str("@example.com,\n");
    pad_to_cap(text)
}

fn org() -> Organization {
    let now: Timestamp = "2026-11-28T09:00:00Z".parse().unwrap();
    let admin = Context::new(Email::parse("ada@example.com").unwrap(), now);
    let mut org = Organization::new();
    org.execute(
        &Command::CreateOrganization {
            name: "Bench".into(),
        },
        &admin,
    )
    .unwrap();
    org.execute(
        &Command::CreateGroup {
            name: GroupName::parse("Finance").unwrap(),
            members: vec![],
        },
        &admin,
    )
    .unwrap();
    org
}

/// Reads and decides: the judged work.
fn decide(org: &Organization, ctx: &Context, bytes: &[u8]) -> ImportReport {
    let file = read_invite_csv(bytes, &CsvOptions::default()).expect("readable");
    org.decide_bulk_invite(&file, ctx)
        .expect("allowed")
        .into_parts()
        .1
}

/// Renders the report in every format; returns the bytes written.
fn render(report: &ImportReport) -> usize {
    let text = report.to_string();
    let json = serde_json::to_string(report).unwrap();
    let csv = report.failed_rows_csv();
    text.len() + json.len() + csv.len()
}

fn main() {
    let org = org();
    let ctx = Context::new(
        Email::parse("ada@example.com").unwrap(),
        Timestamp::UNIX_EPOCH,
    );
    let base = ordinary();
    let hostile: [(&str, Vec<u8>); 4] = [
        ("one huge group cell", one_huge_group_cell()),
        ("many unknown groups", many_unknown_groups()),
        ("many duplicates", many_duplicates()),
        ("one huge email cell", one_huge_email_cell()),
    ];
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("hostile_files_at_the_cap");
    group.sample_size(20);
    group.bench_function("ordinary", |b| {
        b.iter(|| decide(&org, &ctx, black_box(&base)))
    });
    for (name, bytes) in &hostile {
        group.bench_function(*name, |b| b.iter(|| decide(&org, &ctx, black_box(bytes))));
    }
    group.finish();
    c.final_summary();

    // The judged ratios: interleaved samples, medians.
    for (name, bytes) in &hostile {
        assert_eq!(bytes.len(), base.len(), "{name}: same size as the base");
        let (mut b, mut h, mut r) = (Vec::new(), Vec::new(), Vec::new());
        let mut written = 0;
        for _ in 0..31 {
            let t = Instant::now();
            black_box(decide(&org, &ctx, black_box(&base)));
            b.push(t.elapsed());
            let t = Instant::now();
            let report = decide(&org, &ctx, black_box(bytes));
            h.push(t.elapsed());
            let t = Instant::now();
            written = black_box(render(&report));
            r.push(t.elapsed());
        }
        let (b, h, r) = (median(b), median(h), median(r));
        let mib = written as f64 / f64::from(1 << 20);
        println!(
            "hostile_files {name}: read+decide ordinary median {b:?}, hostile median {h:?}, ratio hostile/ordinary = {:.2} (target <= 2.00); rendering {mib:.1} MiB took {r:?} ({:.0} MiB/s)",
            h.as_secs_f64() / b.as_secs_f64(),
            mib / r.as_secs_f64()
        );
    }
}
