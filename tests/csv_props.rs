//! Property tests for the invite-file reader and the bulk decision: hostile
//! bytes never panic, well-formed files are read exactly (cells and line
//! numbers), every row is accounted for once, and the failed-rows CSV
//! round-trips.
// Tests and benches assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use org_accounts::{CsvError, CsvOptions, Organization, RowOutcome, read_invite_csv};
use proptest::prelude::*;

fn org() -> Organization {
    given_org()
        .with_group("Finance", &[])
        .invited(&["member@example.com"], &["finance"])
        .org
}

/// What the reader should make of a cell: trimmed, one protective
/// apostrophe removed.
fn expected_cell(raw: &str) -> String {
    let t = raw.trim();
    match t.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r', '\'']) => rest.to_owned(),
        _ => t.to_owned(),
    }
}

/// CSV-encodes one cell for `delimiter`, quoting when needed.
fn encode(cell: &str, delimiter: char) -> String {
    if cell.contains([delimiter, '"', '\r', '\n']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}

fn line_breaks(s: &str) -> u64 {
    let b = s.as_bytes();
    (0..b.len())
        .filter(|&i| b[i] == b'\n' || (b[i] == b'\r' && b.get(i + 1) != Some(&b'\n')))
        .count() as u64
}

fn cell_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,8}@example\\.com",
        "[A-Za-z0-9 ,;\"'=+@.\t\r\né-]{0,12}",
        Just(String::new()),
        Just("Finance, automation users".to_owned()),
        Just("member@EXAMPLE.com".to_owned()),
    ]
}

#[derive(Debug, Clone)]
struct FileSpec {
    bom: bool,
    sep_line: bool,
    delimiter: char,
    crlf: bool,
    groups_first: bool,
    extra_column: bool,
    rows: Vec<(String, String, u8)>,
}

fn file_spec() -> impl Strategy<Value = FileSpec> {
    (
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(','), Just(';'), Just('\t')],
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec((cell_text(), cell_text(), 0u8..4), 0..40),
    )
        .prop_map(
            |(bom, sep_line, delimiter, crlf, groups_first, extra_column, rows)| FileSpec {
                bom,
                sep_line,
                delimiter,
                crlf,
                groups_first,
                extra_column,
                rows,
            },
        )
}

/// Builds the file and the rows the reader must find: (line, email, groups).
fn build(spec: &FileSpec) -> (Vec<u8>, Vec<(u64, String, String)>) {
    let nl = if spec.crlf { "\r\n" } else { "\n" };
    let d = spec.delimiter;
    let mut text = String::new();
    if spec.bom {
        text.push('\u{feff}');
    }
    if spec.sep_line {
        text.push_str(&format!("sep={d}{nl}"));
    }
    let mut header = vec!["Email", " Group Membership "];
    if spec.groups_first {
        header.reverse();
    }
    if spec.extra_column {
        header.push("Note");
    }
    text.push_str(&header.join(&d.to_string()));
    text.push_str(nl);
    let mut line = 2u64;
    let mut expected = Vec::new();
    for (email, groups, blanks) in &spec.rows {
        for _ in 0..*blanks {
            text.push_str(nl);
            line += 1;
        }
        let mut cells = vec![encode(email, d), encode(groups, d)];
        if spec.groups_first {
            cells.reverse();
        }
        if spec.extra_column {
            cells.push(encode("x, y", d));
        }
        let record = cells.join(&d.to_string());
        let (e, g) = (expected_cell(email), expected_cell(groups));
        // A row is blank only when every cell is empty.
        if !(e.is_empty() && g.is_empty()) || spec.extra_column {
            expected.push((line, e, g));
        }
        line += line_breaks(&record) + 1;
        text.push_str(&record);
        text.push_str(nl);
    }
    (text.into_bytes(), expected)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic_and_every_row_is_accounted_for(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let org = org();
        if let Ok(file) = read_invite_csv(&bytes, &CsvOptions::default()) {
            let lines: Vec<u64> = file.rows().map(|r| r.line).collect();
            prop_assert!(lines.windows(2).all(|w| w[0] < w[1]), "lines not increasing: {lines:?}");
            prop_assert!(lines.iter().all(|l| *l >= 2));
            let bulk = org.decide_bulk_invite(&file, &ctx(ADMIN, 9)).unwrap();
            let t = bulk.report().totals();
            prop_assert_eq!(bulk.report().rows().len(), file.len());
            let report_lines: Vec<u64> = bulk.report().rows().iter().map(|r| r.line()).collect();
            prop_assert_eq!(&report_lines, &lines, "every row is reported once, in order");
            let invited = bulk.report().rows().iter().filter(|r| matches!(r.outcome(), RowOutcome::Invited)).count();
            prop_assert_eq!(bulk.events().len(), invited);
            prop_assert_eq!(t.invited, invited);
        }
    }

    #[test]
    fn csv_like_text_never_panics(text in "[a-z@., ;\t\"\r\n']{0,300}") {
        let with_header = format!("email,group membership\n{text}");
        for input in [text.as_str(), with_header.as_str()] {
            let _ = read_invite_csv(input.as_bytes(), &CsvOptions::default());
        }
    }

    #[test]
    fn the_size_cap_is_checked_before_parsing(bytes in prop::collection::vec(any::<u8>(), 65..400)) {
        let options = CsvOptions::default().with_max_file_bytes(64);
        prop_assert_eq!(
            read_invite_csv(&bytes, &options),
            Err(CsvError::FileTooLarge { bytes: bytes.len(), max: 64 })
        );
    }

    #[test]
    fn well_formed_files_are_read_exactly(spec in file_spec()) {
        let (bytes, expected) = build(&spec);
        match read_invite_csv(&bytes, &CsvOptions::default()) {
            Ok(file) => {
                let got: Vec<(u64, String, String)> =
                    file.rows().map(|r| (r.line, r.email.to_string(), r.groups.to_string())).collect();
                prop_assert_eq!(got, expected);
                prop_assert_eq!(file.delimiter(), spec.delimiter);
            }
            Err(CsvError::NoRows) => prop_assert!(expected.is_empty()),
            Err(e) => prop_assert!(false, "refused: {e}"),
        }
    }

    #[test]
    fn each_row_is_decided_once_and_duplicates_point_back(spec in file_spec()) {
        let (bytes, _) = build(&spec);
        let Ok(file) = read_invite_csv(&bytes, &CsvOptions::default()) else { return Ok(()) };
        let org = org();
        let bulk = org.decide_bulk_invite(&file, &ctx(ADMIN, 9)).unwrap();
        let report = bulk.report();
        prop_assert_eq!(report.rows().len(), file.rows().len());
        let mut invited = std::collections::HashSet::new();
        for row in report.rows() {
            if let RowOutcome::Invited = row.outcome() {
                prop_assert!(invited.insert(email(row.email())), "invited twice: {}", row.email());
                prop_assert!(org.member(&email(row.email())).is_none());
            }
            for e in row.errors() {
                if let org_accounts::RowError::DuplicateInFile { first_line } = e {
                    prop_assert!(*first_line < row.line());
                }
            }
        }
        let mut after = org.clone();
        for e in bulk.events() { after.apply(e); }
        prop_assert_eq!(after.member_count(), org.member_count() + invited.len());
    }

    #[test]
    fn failed_rows_csv_round_trips(spec in file_spec()) {
        let (bytes, _) = build(&spec);
        let Ok(file) = read_invite_csv(&bytes, &CsvOptions::default()) else { return Ok(()) };
        let org = org();
        let (_, mut report) = org.decide_bulk_invite(&file, &ctx(ADMIN, 9)).unwrap().into_parts();
        report.mark_api_error("store failed");
        let csv = report.failed_rows_csv();
        let failed: Vec<(String, String)> = report.failed().map(|r| (r.email().to_string(), r.groups_cell().to_string())).collect();
        match read_invite_csv(&csv, &CsvOptions::default()) {
            Ok(again) => {
                let back: Vec<(String, String)> = again.rows().map(|r| (r.email.to_string(), r.groups.to_string())).collect();
                prop_assert_eq!(back, failed);
            }
            Err(CsvError::NoRows) => prop_assert!(failed.is_empty()),
            Err(e) => prop_assert!(false, "failed-rows CSV refused: {e}"),
        }
    }
}

/// A cell of up to `len` characters built from a few pieces that stress
/// every report format: long runs, delimiters, quotes, line breaks,
/// formula starters and non-ASCII text.
fn long_cell() -> impl Strategy<Value = String> {
    (
        0usize..150_000,
        prop::collection::vec(
            prop::sample::select(vec![
                "a", "É", "€", ",", ";", "\"", "\n", "=", " ", "@", "\t", "x@y.com", "Finance",
            ]),
            1..6,
        ),
    )
        .prop_map(|(len, pieces)| {
            let mut cell = String::new();
            let mut i = 0;
            while cell.chars().count() < len.min(20) || cell.len() < len {
                cell.push_str(pieces[i % pieces.len()]);
                i += 1;
            }
            cell
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any cell the size cap allows: every report format renders without
    /// panicking, the table cuts what is long, the JSON keeps every row
    /// whole, and the failed-rows CSV reads back to the same cells.
    #[test]
    fn every_report_format_handles_any_cell_the_cap_allows(
        rows in prop::collection::vec((long_cell(), long_cell()), 1..6),
        delimiter in prop_oneof![Just(','), Just(';'), Just('\t')],
    ) {
        let mut text = format!("email{delimiter}group membership\n");
        for (e, g) in &rows {
            text.push_str(&format!("{}{delimiter}{}\n", encode(e, delimiter), encode(g, delimiter)));
        }
        let Ok(file) = read_invite_csv(text.as_bytes(), &CsvOptions::default()) else {
            return Ok(());
        };
        let org = org();
        let (_, report) = org.decide_bulk_invite(&file, &ctx(ADMIN, 9)).unwrap().into_parts();
        let t = report.totals();
        prop_assert_eq!(t.invited + t.skipped + t.failed, file.len());
        let table = report.to_string();
        prop_assert!(table.lines().all(|l| l.chars().count() <= 1_000), "a table line is too long");
        let json = serde_json::to_value(&report).unwrap();
        let listed = ["invited", "skipped", "failed"]
            .iter()
            .map(|k| json[*k].as_array().map_or(0, Vec::len))
            .sum::<usize>();
        prop_assert_eq!(listed, file.len(), "every row is in the JSON once");
        let failed: Vec<(String, String)> = report
            .failed()
            .map(|r| (r.email().to_string(), r.groups_cell().to_string()))
            .collect();
        let big = CsvOptions::default().with_max_file_bytes(64 << 20);
        match read_invite_csv(&report.failed_rows_csv(), &big) {
            Ok(again) => {
                let back: Vec<(String, String)> =
                    again.rows().map(|r| (r.email.to_string(), r.groups.to_string())).collect();
                prop_assert_eq!(back, failed);
            }
            Err(CsvError::NoRows) => prop_assert!(failed.is_empty()),
            Err(e) => prop_assert!(false, "failed-rows CSV refused: {e}"),
        }
    }
}
