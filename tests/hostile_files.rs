//! Regressions on the library's bulk path: files an administrator
//! (or an attacker) can upload, and damaged event streams. Each test names
//! the defect it pins down; every one of them failed before its fix.
// Tests assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use org_accounts::{
    Command, CsvError, CsvOptions, DomainError, Event, EventKind, ImportReport, MAX_INVITE_GROUPS,
    Organization, RowError, RowOutcome, SkipReason, read_invite_csv,
};

fn read(bytes: &[u8]) -> Result<org_accounts::InviteFile, CsvError> {
    read_invite_csv(bytes, &CsvOptions::default())
}

fn decide(s: &Scenario, bytes: &[u8]) -> ImportReport {
    s.org
        .decide_bulk_invite(&read(bytes).unwrap(), &ctx(ADMIN, 50))
        .unwrap()
        .into_parts()
        .1
}

fn codes(report: &ImportReport) -> Vec<(u64, Vec<&'static str>)> {
    report
        .rows()
        .iter()
        .map(|r| {
            let codes = match r.outcome() {
                RowOutcome::Invited => vec!["invited"],
                RowOutcome::Skipped(reason) => vec![reason.code()],
                RowOutcome::Failed(errors) => errors.iter().map(RowError::code).collect(),
                _ => vec!["?"],
            };
            (r.line(), codes)
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Cells that no header names are reported, never dropped.

#[test]
fn a_row_with_more_cells_than_its_header_is_reported_for_every_delimiter() {
    for (delimiter, name) in [(',', "comma"), (';', "semicolon"), ('\t', "tab")] {
        let d = delimiter;
        let text = format!(
            "email{d}group membership\r\n\
             t1@example.com{d}Automation Users{d}Administrators\r\n\
             t2@example.com{d}Automation Users\r\n\
             t3@example.com{d}Automation Users{d}{d}\r\n"
        );
        let s = given_org();
        let report = decide(&s, text.as_bytes());
        assert_eq!(
            codes(&report),
            [
                (2, vec!["unnamed_cells"]),
                (3, vec!["invited"]),
                (4, vec!["invited"]),
            ],
            "{name}: a cell beyond the header must fail its row; empty trailing cells are fine"
        );
        let message = report.rows()[0].message();
        assert!(
            message.starts_with("Some or all groups were invalid: ")
                && message.contains("\"Administrators\"")
                && message.contains("quotes"),
            "{name}: {message}"
        );
        // The cell is kept, not silently lost: it is in the JSON report.
        let json = serde_json::to_value(&report).unwrap();
        assert!(
            json["failed"][0]["message"]
                .as_str()
                .unwrap()
                .contains("Administrators")
        );
    }
}

#[test]
fn a_quoted_group_list_holding_the_delimiter_is_one_cell() {
    let s = given_org();
    let report = decide(
        &s,
        b"email;group membership\nt1@example.com;\"Automation Users, Administrators\"\n",
    );
    assert_eq!(codes(&report), [(2, vec!["invited"])]);
    assert_eq!(report.rows()[0].groups().len(), 2);
}

#[test]
fn a_cell_under_an_empty_header_cell_is_reported() {
    let s = given_org();
    let report = decide(
        &s,
        b"email,,group membership\nt1@example.com,Finance,\nt2@example.com,,\n",
    );
    assert_eq!(
        codes(&report),
        [(2, vec!["unnamed_cells"]), (3, vec!["invited"])]
    );
}

// ---------------------------------------------------------------------------
// Long cells never panic any report format.

#[test]
fn a_huge_email_cell_renders_cut_in_the_table_and_whole_elsewhere() {
    let s = given_org();
    let long = "A".repeat(70_000);
    let text = format!("email,group membership\n{long}@example.com,\nok@example.com,\n");
    let report = decide(&s, text.as_bytes());
    assert_eq!(codes(&report)[0].1, ["invalid_email"]);
    // This formatted a width of 70,000 and panicked ("Formatting argument
    // out of range").
    let table = report.to_string();
    assert!(table.contains('…'), "long cells are cut with an ellipsis");
    assert!(
        table.lines().all(|l| l.chars().count() < 600),
        "no table line holds the whole cell"
    );
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["failed"][0]["email"].as_str().unwrap().len(),
        long.len() + "@example.com".len()
    );
    let csv = report.failed_rows_csv();
    let again = read(&csv).unwrap();
    assert_eq!(
        again.rows().next().unwrap().email,
        format!("{long}@example.com")
    );
}

#[test]
fn a_huge_group_cell_renders_and_costs_one_pass() {
    let s = given_org();
    let names: Vec<String> = (0..50_000).map(|i| format!("Unknown {i}")).collect();
    let text = format!(
        "email,group membership\nann@example.com,\"{}\"\n",
        names.join(", ")
    );
    let report = decide(&s, text.as_bytes());
    assert_eq!(codes(&report), [(2, vec!["too_many_groups"])]);
    assert_eq!(
        report.rows()[0].errors()[0],
        RowError::TooManyGroups {
            max: MAX_INVITE_GROUPS
        }
    );
    assert!(report.to_string().contains("names more than 20 groups"));
}

#[test]
fn a_row_may_name_up_to_the_invitation_limit_of_groups() {
    let mut s = given_org();
    for i in 0..MAX_INVITE_GROUPS {
        s = s.with_group(&format!("G{i}"), &[]);
    }
    let all: Vec<String> = (0..MAX_INVITE_GROUPS).map(|i| format!("G{i}")).collect();
    let ok = format!("email,group membership\na@x.com,\"{}\"\n", all.join(","));
    assert_eq!(codes(&decide(&s, ok.as_bytes())), [(2, vec!["invited"])]);
    let over = format!(
        "email,group membership\na@x.com,\"{},Administrators\"\n",
        all.join(",")
    );
    assert_eq!(
        codes(&decide(&s, over.as_bytes())),
        [(2, vec!["too_many_groups"])]
    );
}

#[test]
fn many_unknown_groups_are_each_reported_once() {
    let s = given_org();
    let report = decide(
        &s,
        b"email,group membership\na@x.com,\"Nope, nope, NOPE, Other, Nope\"\n",
    );
    assert_eq!(
        report.rows()[0].errors()[0],
        RowError::InvalidGroups {
            unknown: vec!["Nope".into(), "Other".into()]
        },
        "repeats, ignoring case as group names do, are reported once, as first written"
    );
}

// ---------------------------------------------------------------------------
// File-level refusals say what is wrong.

#[test]
fn a_header_with_no_rows_is_not_called_empty() {
    for text in [
        &b"email,group membership\n"[..],
        b"email,group membership\r\n\r\n,\r\n  ,  \r\n",
        b"\xEF\xBB\xBFEmail;Group Membership",
    ] {
        let err = read(text).unwrap_err();
        assert_eq!(err, CsvError::NoRows, "{}", String::from_utf8_lossy(text));
        assert!(err.to_string().contains("no rows of people"), "{err}");
        assert!(!err.to_string().contains("empty"), "{err}");
    }
    assert_eq!(read(b" \r\n").unwrap_err(), CsvError::EmptyFile);
}

#[test]
fn a_nul_byte_in_utf8_text_names_its_line_and_is_not_called_utf16() {
    let text = b"email,group membership\na@x.com,\nb@x.com,\nc\0@x.com,\n";
    let err = read(text).unwrap_err();
    assert_eq!(err, CsvError::NulByte { line: 4 });
    assert!(err.to_string().contains("line 4"), "{err}");
    assert!(!err.to_string().contains("UTF-16"), "{err}");
}

#[test]
fn utf16_without_a_byte_order_mark_is_still_called_utf16() {
    let utf16: Vec<u8> = "email,group membership\r\na@x.com,\r\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    assert_eq!(
        read(&utf16).unwrap_err(),
        CsvError::NotUtf8 {
            line: 1,
            utf16: true
        }
    );
    let big_endian: Vec<u8> = "email,group membership\r\na@x.com,\r\n"
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect();
    assert_eq!(
        read(&big_endian).unwrap_err(),
        CsvError::NotUtf8 {
            line: 1,
            utf16: true
        }
    );
}

// ---------------------------------------------------------------------------
// Pending invitees are "already invited", and the report says groups were
// not changed.

#[test]
fn a_pending_invitee_is_already_invited_and_an_active_one_already_a_member() {
    let s = given_org()
        .with_group("Finance", &[])
        .invited(&["pending@example.com", "active@example.com"], &[])
        .accepted("active@example.com");
    let report = decide(
        &s,
        b"email,group membership\n\
          pending@example.com,Finance\n\
          active@example.com,\n\
          new@example.com,Finance\n",
    );
    assert_eq!(
        codes(&report),
        [
            (2, vec!["already_invited"]),
            (3, vec!["already_member"]),
            (4, vec!["invited"]),
        ]
    );
    let pending = &report.rows()[0];
    assert_eq!(
        pending.outcome(),
        &RowOutcome::Skipped(SkipReason::AlreadyInvited)
    );
    assert_eq!(
        pending
            .groups_not_changed()
            .iter()
            .map(|g| g.as_str())
            .collect::<Vec<_>>(),
        ["Finance"]
    );
    assert!(report.rows()[1].groups_not_changed().is_empty());
    let table = report.to_string();
    assert!(
        table.contains("Already invited, still Pending; groups not changed: Finance"),
        "{table}"
    );
    assert!(table.contains("Already a member"), "{table}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["skipped"][0],
        serde_json::json!({"row": 2, "email": "pending@example.com", "reason": "already_invited", "groups_not_changed": ["Finance"]})
    );
    assert_eq!(
        json["skipped"][1],
        serde_json::json!({"row": 3, "email": "active@example.com", "reason": "already_member"})
    );
}

// ---------------------------------------------------------------------------
// Ids near the integer limits (a damaged or hand-edited store) are refused,
// never a panic, never a success that did nothing.

fn stream(lines: &[String]) -> Vec<Event> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn created_with_user(id: u64) -> Vec<String> {
    vec![format!(
        r#"{{"schema":1,"at":"2026-01-02T03:04:05Z","actor":{id},"type":"organization_created","name":"Damaged","user":{id},"email":"ada@example.com"}}"#
    )]
}

#[test]
fn invites_at_the_end_of_the_user_id_space_are_refused() {
    // Ids stay below 2^63 (they must fit a signed 64-bit SQL column).
    let limit = i64::MAX as u64;
    for top in [u64::MAX, limit + 1, limit, limit - 1, limit - 3] {
        let events = stream(&created_with_user(top));
        let mut org = Organization::replay(&events);
        let before = org.clone();
        let invite = Command::InviteUsers {
            emails: emails(&["a@x.com", "b@x.com", "c@x.com", "d@x.com"]),
            groups: vec![],
        };
        assert_eq!(
            org.execute(&invite, &ctx(ADMIN, 1)),
            Err(DomainError::IdsExhausted { what: "user" }),
            "user id {top}"
        );
        let file = read(b"email,group membership\na@x.com,\nb@x.com,\nc@x.com,\n").unwrap();
        assert_eq!(
            org.decide_bulk_invite(&file, &ctx(ADMIN, 1)).unwrap_err(),
            DomainError::IdsExhausted { what: "user" }
        );
        assert_eq!(org, before);
    }
    // Just below the limit, what fits is invited and shows up.
    let mut org = Organization::replay(&stream(&created_with_user(limit - 3)));
    let events = org
        .execute(
            &Command::InviteUsers {
                emails: emails(&["a@x.com", "b@x.com"]),
                groups: vec![],
            },
            &ctx(ADMIN, 1),
        )
        .unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(org.member_count(), 3);
}

#[test]
fn a_group_at_the_end_of_the_group_id_space_is_refused_not_lost() {
    let mut lines = created_with_user(1);
    lines.push(format!(
        r#"{{"schema":1,"at":"2026-01-02T03:04:06Z","actor":1,"type":"group_created","group":{},"name":"Edge","members":[]}}"#,
        u32::MAX - 1
    ));
    let mut org = Organization::replay(&stream(&lines));
    assert!(org.group(&group("Edge")).is_some());
    let before = org.clone();
    // This used to report success and create nothing.
    assert_eq!(
        org.execute(
            &Command::CreateGroup {
                name: group("Next"),
                members: vec![]
            },
            &ctx(ADMIN, 1)
        ),
        Err(DomainError::IdsExhausted { what: "group" })
    );
    assert_eq!(org, before);
}

#[test]
fn queued_emails_at_the_end_of_their_id_space_are_refused() {
    let mut lines = created_with_user(1);
    lines.push(r#"{"schema":1,"at":"2026-01-02T03:04:06Z","actor":1,"type":"mail_settings_set","settings":{"host":"smtp.example.com","port":587,"tls":true,"auth":null,"sender_address":"accounts@example.com","sender_name":"Accounts","timeout":30000}}"#.to_owned());
    lines.push(r#"{"schema":1,"at":"2026-01-02T03:04:07Z","actor":1,"type":"user_invited","user":2,"email":"bob@example.com","groups":[]}"#.to_owned());
    lines.push(format!(
        r#"{{"schema":1,"at":"2026-01-02T03:04:08Z","actor":1,"type":"invitation_email_queued","notification":{},"user":2}}"#,
        u64::MAX - 1
    ));
    // Bob's email failed, so a resend must queue a fresh one (a resend
    // while an email is still queued keeps that one).
    lines.push(format!(
        r#"{{"schema":1,"at":"2026-01-02T03:04:09Z","actor":1,"type":"invitation_email_failed","notification":{},"error":"refused","kind":"permanent"}}"#,
        u64::MAX - 1
    ));
    let mut org = Organization::replay(&stream(&lines));
    let before = org.clone();
    assert_eq!(
        org.execute(
            &Command::InviteUsers {
                emails: emails(&["cy@example.com"]),
                groups: vec![]
            },
            &ctx(ADMIN, 1)
        ),
        Err(DomainError::IdsExhausted { what: "email" })
    );
    assert_eq!(
        org.execute(
            &Command::ResendInvitation {
                user: email("bob@example.com")
            },
            &ctx(ADMIN, 1)
        ),
        Err(DomainError::IdsExhausted { what: "email" })
    );
    assert_eq!(org, before);
    let err = DomainError::IdsExhausted { what: "email" };
    assert_eq!(err.code(), "ids_exhausted");
    assert!(err.to_string().contains("restore"), "{err}");
}

#[test]
fn a_service_at_the_end_of_the_service_id_space_is_refused() {
    let mut lines = created_with_user(1);
    lines.push(format!(
        r#"{{"schema":1,"at":"2026-01-02T03:04:06Z","actor":1,"type":"service_added","service":{},"name":"Edge","roles":["Admin"],"admin_role":"Admin","default_roles":[]}}"#,
        u32::MAX
    ));
    let mut org = Organization::replay(&stream(&lines));
    assert!(org.services().count() == 1);
    let role = org_accounts::RoleName::parse("Admin").unwrap();
    assert_eq!(
        org.execute(
            &Command::AddService {
                name: org_accounts::ServiceName::parse("Next").unwrap(),
                roles: vec![role.clone()],
                admin_role: role,
                default_roles: vec![],
            },
            &ctx(ADMIN, 1)
        ),
        Err(DomainError::IdsExhausted { what: "service" })
    );
}

#[test]
fn removing_many_unknown_addresses_reports_each_once() {
    let mut org = given_org().org;
    let mut list: Vec<_> = (0..2000)
        .map(|i| email(&format!("nobody{i}@example.com")))
        .collect();
    list.extend(list.clone());
    let Err(DomainError::UnknownUsers { emails }) =
        org.execute(&Command::RemoveUsers { emails: list }, &ctx(ADMIN, 1))
    else {
        panic!("expected unknown users");
    };
    assert_eq!(emails.len(), 2000);
}

#[test]
fn invited_events_carry_the_ids_the_state_shows() {
    let mut s = given_org();
    let report = decide(&s, b"email,group membership\nann@example.com,\n");
    assert_eq!(report.totals().invited, 1);
    let file = read(b"email,group membership\nann@example.com,\n").unwrap();
    let (events, _) = s
        .org
        .decide_bulk_invite(&file, &ctx(ADMIN, 2))
        .unwrap()
        .into_parts();
    for e in &events {
        s.org.apply(e);
    }
    let EventKind::UserInvited { user, .. } = &events[0].kind else {
        panic!("expected an invitation");
    };
    assert_eq!(s.org.member(&email("ann@example.com")).unwrap().id(), *user);
}

#[test]
fn a_group_named_many_times_counts_once_toward_the_limit() {
    let s = given_org();
    let cell = vec!["Administrators"; 25].join(",");
    let report = decide(
        &s,
        format!("email,group membership\na@x.com,\"{cell}, automation users\"\n").as_bytes(),
    );
    assert_eq!(codes(&report), [(2, vec!["invited"])]);
    let mut org = given_org().org;
    let invite = Command::InviteUsers {
        emails: emails(&["b@x.com"]),
        groups: (0..25).map(|_| group("administrators")).collect(),
    };
    assert_eq!(org.execute(&invite, &ctx(ADMIN, 1)).unwrap().len(), 1);
}

#[test]
fn the_table_escapes_bidi_and_invisible_characters_from_the_file() {
    let s = given_org();
    let report = decide(
        &s,
        "email,group membership\ndee@exa\u{202e}mple.com,\nbad\u{200b}@x.com,Fin\u{2066}ance\n"
            .as_bytes(),
    );
    let table = report.to_string();
    assert!(
        !table.contains('\u{202e}') && !table.contains('\u{200b}') && !table.contains('\u{2066}'),
        "{table:?}"
    );
    assert!(table.contains("\\u{202e}"), "{table}");
    // The JSON keeps the cell as written (a JSON reader escapes it anyway).
    let json = serde_json::to_value(&report).unwrap();
    assert!(
        json["failed"][0]["email"]
            .as_str()
            .unwrap()
            .contains('\u{202e}')
    );
}
