//! Bulk invitations from the fixture files in tests/data.
// Tests and benches assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use org_accounts::{
    CsvError, CsvOptions, DomainError, EventKind, ImportReport, Organization, RowError, RowOutcome,
    read_invite_csv,
};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// An organization with a custom group `Finance` and an invited bob.
fn org() -> Scenario {
    given_org().with_group("Finance", &[])
}

fn read(name: &str) -> org_accounts::InviteFile {
    read_invite_csv(&fixture(name), &CsvOptions::default()).unwrap()
}

fn refusal(name: &str) -> CsvError {
    read_invite_csv(&fixture(name), &CsvOptions::default()).unwrap_err()
}

/// Decides, applies and checks that the events rebuild the state.
fn import(s: &mut Scenario, name: &str) -> ImportReport {
    let bulk = s
        .org
        .decide_bulk_invite(&read(name), &ctx(ADMIN, 100))
        .unwrap();
    let (events, report) = bulk.into_parts();
    for e in &events {
        s.org.apply(e);
    }
    s.history.extend(events);
    assert_eq!(Organization::replay(&s.history), s.org);
    let t = report.totals();
    assert_eq!(t.invited + t.skipped + t.failed, t.rows);
    report
}

fn outcomes(report: &ImportReport) -> Vec<(u64, &str, Vec<&str>)> {
    report
        .rows()
        .iter()
        .map(|r| {
            let what = match &r.outcome() {
                RowOutcome::Invited => vec!["invited"],
                RowOutcome::Skipped(reason) => vec![reason.code()],
                RowOutcome::Failed(errors) => errors.iter().map(RowError::code).collect(),
                _ => vec!["?"],
            };
            (r.line(), r.email(), what)
        })
        .collect()
}

#[test]
fn mixed_file_invites_valid_rows_and_explains_the_others() {
    let mut s = org();
    let report = import(&mut s, "mixed_outcomes.csv");
    assert_eq!(
        outcomes(&report),
        [
            (2, "ann@example.com", vec!["invited"]),
            (3, "not-an-address", vec!["invalid_email"]),
            (5, "bob@example.com", vec!["invalid_groups"]),
            (6, "ANN@example.com", vec!["duplicate_in_file"]),
            (7, "ada@example.com", vec!["already_member"]),
            (
                8,
                "John <j@example.com>",
                vec!["invalid_email", "invalid_groups"]
            ),
            (9, "cy@example.com", vec!["invited"]),
        ]
    );
    let failed: Vec<String> = report.failed().map(|r| r.message()).collect();
    assert_eq!(
        failed[1],
        "Some or all groups were invalid: no group is named \"Nope\", \"Also Nope\""
    );
    assert_eq!(failed[2], "Duplicate: this address is already on line 2");
    assert!(
        failed[0].starts_with("Invalid email format: "),
        "{}",
        failed[0]
    );
    // Canonical groups, Everyone never listed.
    let cy = &report.rows()[6];
    assert_eq!(
        cy.groups().iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        ["Finance"]
    );
    assert!(
        s.org
            .member(&email("cy@example.com"))
            .unwrap()
            .status()
            .is_pending()
    );
    assert!(s.org.member(&email("bob@example.com")).is_none());
}

#[test]
fn uploading_the_same_file_again_changes_nothing() {
    let mut s = org();
    import(&mut s, "mixed_outcomes.csv");
    let before = s.org.clone();
    let again = import(&mut s, "mixed_outcomes.csv");
    assert_eq!(again.totals().invited, 0);
    assert_eq!(again.totals().skipped, 3);
    assert_eq!(s.org, before);
}

#[test]
fn a_dry_run_decides_the_same_but_stores_nothing() {
    let s = org();
    let file = read("mixed_outcomes.csv");
    let real = s.org.decide_bulk_invite(&file, &ctx(ADMIN, 5)).unwrap();
    let dry = s
        .org
        .decide_bulk_invite(&file, &ctx(ADMIN, 5))
        .unwrap()
        .into_dry_run();
    assert!(dry.is_dry_run());
    assert_eq!(dry.rows(), real.report().rows());
    assert!(dry.to_string().contains("2 would be invited"), "{dry}");
}

#[test]
fn only_active_administrators_may_bulk_invite() {
    let s = org()
        .invited(&["bob@example.com"], &[])
        .accepted("bob@example.com");
    let err = s
        .org
        .decide_bulk_invite(&read("excel_bom_crlf.csv"), &ctx("bob@example.com", 9))
        .unwrap_err();
    assert_eq!(
        err,
        DomainError::Forbidden {
            actor: email("bob@example.com")
        }
    );
}

#[test]
fn excel_files_with_bom_crlf_semicolons_and_sep_lines() {
    let mut s = org();
    let report = import(&mut s, "excel_bom_crlf.csv");
    assert_eq!(report.totals().invited, 3);
    let bob = &report.rows()[1];
    assert_eq!(
        bob.groups().iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        ["Automation Users", "Automation Developers"]
    );
    assert!(s.org.member(&email("josé@EXÄMPLE.de")).is_some());

    let mut s = org();
    let report = import(&mut s, "excel_semicolon.csv");
    assert_eq!(
        outcomes(&report),
        [
            (2, "ann@example.com", vec!["invited"]),
            (3, "bob@example.com", vec!["invited"])
        ]
    );

    let mut s = org();
    let report = import(&mut s, "excel_sep_line.csv");
    assert_eq!(
        outcomes(&report),
        [
            (2, "ann@example.com", vec!["invited"]),
            (3, "bad-address", vec!["invalid_email"])
        ]
    );

    let mut s = org();
    let report = import(&mut s, "tab_delimited.csv");
    assert_eq!(report.totals().invited, 2);
}

#[test]
fn quoted_multi_line_group_cells() {
    let mut s = org();
    let report = import(&mut s, "multiline_groups.csv");
    assert_eq!(
        outcomes(&report),
        [
            (2, "ann@example.com", vec!["invited"]),
            (5, "bob@example.com", vec!["invalid_groups"]),
            (6, "cy@example.com", vec!["invited"]),
        ]
    );
    assert_eq!(report.rows()[0].groups().len(), 2);
}

#[test]
fn formula_looking_cells_are_inert_in_the_failed_rows_csv_and_round_trip() {
    let mut s = org();
    let report = import(&mut s, "formula_cells.csv");
    let failed: Vec<&str> = report.failed().map(|r| r.email()).collect();
    assert_eq!(failed.len(), 4, "{report}");
    let csv = report.failed_rows_csv();
    let text = std::str::from_utf8(&csv).unwrap();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    for record in reader.records() {
        for cell in record.unwrap().iter() {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "formula cell {cell:?}"
            );
        }
    }
    // Uploading the failed rows unchanged addresses the same emails and groups.
    let again = read_invite_csv(&csv, &CsvOptions::default()).unwrap();
    let back: Vec<(&str, &str)> = again.rows().map(|r| (r.email, r.groups)).collect();
    let original: Vec<(&str, &str)> = report
        .failed()
        .map(|r| (r.email(), r.groups_cell()))
        .collect();
    assert_eq!(back, original);
}

#[test]
fn file_level_refusals_say_what_to_fix() {
    assert_eq!(refusal("empty.csv"), CsvError::EmptyFile);
    assert_eq!(refusal("header_only.csv"), CsvError::NoRows);
    let missing = refusal("missing_column.csv");
    assert_eq!(missing.code(), "missing_column");
    assert_eq!(
        missing.to_string(),
        "the header has no \"group membership\" column (found: \"email\", \"groups\"); the first line must name the columns email and group membership, in any order"
    );
    assert_eq!(refusal("duplicate_column.csv").code(), "duplicate_column");
    assert_eq!(refusal("unclosed_quote.csv"), CsvError::MalformedCsv {
        line: 2,
        reason: "a quoted cell starting here is never closed; add the closing \" or remove the opening one".into()
    });
    let cp1252 = refusal("windows1252.csv");
    assert_eq!(
        cp1252,
        CsvError::NotUtf8 {
            line: 3,
            utf16: false
        }
    );
    assert!(
        cp1252.to_string().contains("CSV UTF-8 (Comma delimited)"),
        "{cp1252}"
    );
    let utf16 = refusal("utf16le.csv");
    assert_eq!(utf16.code(), "not_utf8");
    assert!(utf16.to_string().contains("UTF-16"), "{utf16}");
    assert_eq!(
        refusal("rows_1001.csv"),
        CsvError::TooManyRows {
            rows: 1001,
            max: 1000
        }
    );
    let small = CsvOptions::default().with_max_file_bytes(1024);
    assert_eq!(
        read_invite_csv(&fixture("rows_1000.csv"), &small)
            .unwrap_err()
            .code(),
        "file_too_large"
    );
}

#[test]
fn a_thousand_rows_are_invited_in_one_batch() {
    let mut s = org();
    let report = import(&mut s, "rows_1000.csv");
    assert_eq!(report.totals().invited, 1000);
    assert_eq!(s.org.member_count(), 1001);
    assert_eq!(report.rows()[999].line(), 1001);
    let finance = s.org.group(&group("Finance")).unwrap();
    assert_eq!(finance.members().count(), 500);
}

#[test]
fn api_error_marks_every_valid_row_and_the_file_can_be_uploaded_again() {
    let s = org();
    let bulk = s
        .org
        .decide_bulk_invite(&read("mixed_outcomes.csv"), &ctx(ADMIN, 5))
        .unwrap();
    assert!(
        bulk.events()
            .iter()
            .all(|e| matches!(e.kind, EventKind::UserInvited { .. }))
    );
    let (_, mut report) = bulk.into_parts();
    report.mark_api_error("the database is unavailable");
    let t = report.totals();
    assert_eq!((t.invited, t.failed), (0, 6));
    let ann = &report.rows()[0];
    assert_eq!(ann.errors()[0].code(), "api_error");
    assert_eq!(
        ann.message(),
        "API error: the database is unavailable; upload this row again (rows already invited are skipped)"
    );
}

#[test]
fn the_report_renders_as_a_table_json_and_csv() {
    let mut s = org();
    let report = import(&mut s, "mixed_outcomes.csv");
    let table = report.to_string();
    assert!(
        table.starts_with("7 rows: 2 invited, 1 skipped, 4 failed.\n"),
        "{table}"
    );
    assert!(table.contains("\nError Summary\nLine  Email"), "{table}");
    assert!(
        table.contains("   3  not-an-address        Invalid email format"),
        "{table}"
    );

    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    assert_eq!(json["dry_run"], false);
    assert_eq!(json["rows"], 7);
    assert_eq!(
        json["invited"][0],
        serde_json::json!({"row": 2, "email": "ann@example.com", "groups": ["Finance"]})
    );
    assert_eq!(
        json["skipped"][0],
        serde_json::json!({"row": 7, "email": "ada@example.com", "reason": "already_member"})
    );
    assert_eq!(
        json["failed"][3]["reasons"],
        serde_json::json!(["invalid_email", "invalid_groups"])
    );
    assert_eq!(json["failed"][3]["row"], 8);

    let csv = String::from_utf8(report.failed_rows_csv()).unwrap();
    let mut lines = csv.trim_start_matches('\u{feff}').split("\r\n");
    assert_eq!(
        lines.next(),
        Some("\"email\",\"group membership\",\"error\"")
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("\"not-an-address\",\"Finance\",\"Invalid email format")
    );
}
