//! One mailbox, one member: the canonical address key (NFC, IDNA ASCII
//! domain, simple case folding) in commands, bulk files, event streams
//! written by earlier versions, the users page and snapshots.
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
    Command, CsvOptions, Cursor, DomainError, Email, Event, EventKind, MemberQuery, Organization,
    RowError, RowOutcome, SortBy, SortOrder, UserId, parse_address_list, read_invite_csv,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// An event stream written by the previous version, which told these
// spellings apart.
// ---------------------------------------------------------------------------

const COMPOSED: &str = "jos\u{e9}@example.de";
const DECOMPOSED: &str = "jose\u{301}@example.de";

/// JSON event lines as the previous version wrote them: ada creates the
/// organization; 2 and 3 are one mailbox (Unicode and ASCII forms of the
/// domain); 4 and 5 are one mailbox (composed and decomposed é); 6 and 7
/// are different mailboxes (ß is not ss). 3 is in Automation Users.
fn old_stream() -> Vec<String> {
    let invite = |user: u64, email: &str, groups: &str| {
        format!(
            r#"{{"schema":1,"at":"2026-01-02T03:04:{user:02}Z","actor":1,"type":"user_invited","user":{user},"email":{},"groups":[{groups}]}}"#,
            serde_json::to_string(email).unwrap()
        )
    };
    vec![
        r#"{"schema":1,"at":"2026-01-02T03:04:00Z","actor":1,"type":"organization_created","name":"Example","user":1,"email":"ada@example.com"}"#.to_owned(),
        invite(2, "user@bücher.de", ""),
        invite(3, "user@xn--bcher-kva.de", "2"),
        invite(4, COMPOSED, ""),
        // Decomposed, written with a JSON escape as some stores do.
        r#"{"schema":1,"at":"2026-01-02T03:04:05Z","actor":1,"type":"user_invited","user":5,"email":"jose\u0301@example.de","groups":[]}"#.to_owned(),
        invite(6, "straße@x.de", ""),
        invite(7, "strasse@x.de", ""),
    ]
}

fn load(lines: &[String]) -> (Vec<Event>, Organization) {
    let events: Vec<Event> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let org = Organization::replay(&events);
    (events, org)
}

fn uid(n: u64) -> UserId {
    serde_json::from_str(&n.to_string()).unwrap()
}

fn ids(members: &[&org_accounts::Member]) -> Vec<u64> {
    members.iter().map(|m| m.id().get()).collect()
}

fn member_id(org: &Organization, address: &str) -> Option<u64> {
    org.member(&email(address)).map(|m| m.id().get())
}

#[test]
fn an_old_stream_keeps_every_member_and_lists_the_shared_addresses() {
    let (_, org) = load(&old_stream());
    // Nothing dropped (the previous apply dropped nothing here either, but
    // under the new key it would have dropped 3 and 5).
    assert_eq!(org.member_count(), 7);
    for id in 1..=7 {
        assert!(org.member_by_id(uid(id)).is_some(), "{id}");
    }
    let shared: Vec<Vec<u64>> = org.duplicate_addresses().iter().map(|m| ids(m)).collect();
    assert_eq!(shared, [vec![4, 5], vec![2, 3]], "in address order");
    // 3 kept its group.
    let three = org.member_by_id(uid(3)).unwrap();
    assert_eq!(three.group_ids().map(|g| g.get()).collect::<Vec<_>>(), [2]);
}

#[test]
fn a_shared_address_names_the_member_spelled_exactly_else_the_lowest_id() {
    let (_, org) = load(&old_stream());
    assert_eq!(member_id(&org, "user@bücher.de"), Some(2));
    assert_eq!(member_id(&org, "user@xn--bcher-kva.de"), Some(3));
    assert_eq!(member_id(&org, COMPOSED), Some(4));
    assert_eq!(member_id(&org, DECOMPOSED), Some(5));
    // No exact spelling: the lowest id.
    assert_eq!(member_id(&org, "USER@BÜCHER.DE"), Some(2));
    assert_eq!(member_id(&org, "User@XN--BCHER-KVA.de"), Some(2));
    assert_eq!(member_id(&org, "JOSÉ@example.de"), Some(4));
    // Different mailboxes stay apart.
    assert_eq!(member_id(&org, "straße@x.de"), Some(6));
    assert_eq!(member_id(&org, "STRASSE@x.de"), Some(7));
}

#[test]
fn inviting_a_shared_address_again_is_refused_in_any_spelling() {
    let (events, org) = load(&old_stream());
    let mut s = Scenario::empty();
    s.org = org;
    s.history = events;
    for (typed, stored) in [
        ("user@bücher.de", "user@bücher.de"),
        ("user@xn--bcher-kva.de", "user@xn--bcher-kva.de"),
        ("USER@Bu\u{308}cher.de", "user@bücher.de"),
        (COMPOSED, COMPOSED),
        (DECOMPOSED, DECOMPOSED),
    ] {
        let mut t = Scenario::empty();
        t.org = s.org.clone();
        t.history = s.history.clone();
        t.when(
            ADMIN,
            Command::InviteUsers {
                emails: emails(&[typed]),
                groups: vec![],
            },
        )
        .then_refused(DomainError::AlreadyMembers {
            emails: emails(&[stored]),
        });
        let refused = s
            .org
            .decide(
                &Command::InviteUsers {
                    emails: emails(&[typed]),
                    groups: vec![],
                },
                &ctx(ADMIN, 10),
            )
            .unwrap_err();
        let DomainError::AlreadyMembers { emails } = refused else {
            panic!("{refused:?}");
        };
        assert_eq!(emails[0].as_str(), stored, "the listed spelling");
    }
}

#[test]
fn a_bulk_file_naming_a_shared_address_skips_it() {
    let (_, org) = load(&old_stream());
    let file = read_invite_csv(
        "email,group membership\nuser@BÜCHER.de,\nnew@example.com,\n".as_bytes(),
        &CsvOptions::default(),
    )
    .unwrap();
    let bulk = org.decide_bulk_invite(&file, &ctx(ADMIN, 10)).unwrap();
    let (events, report) = bulk.into_parts();
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(matches!(report.rows()[0].outcome(), RowOutcome::Skipped(_)));
    assert_eq!(report.rows()[1].outcome(), &RowOutcome::Invited);
}

#[test]
fn the_users_page_lists_both_members_of_a_shared_address_on_every_page() {
    let (_, org) = load(&old_stream());
    let all: Vec<u64> = org
        .members_page(&MemberQuery::new().limit(100))
        .rows
        .iter()
        .map(|r| r.member().id().get())
        .collect();
    assert_eq!(all.len(), 7);
    // Sorted by address, ties by id.
    let pos = |id| all.iter().position(|x| *x == id).unwrap();
    assert_eq!(pos(3), pos(2) + 1);
    assert_eq!(pos(5), pos(4) + 1);

    for order in [SortOrder::Ascending, SortOrder::Descending] {
        // One row per page: cursors step through shared addresses without
        // skipping or repeating anyone.
        let mut seen = Vec::new();
        let mut query = MemberQuery::new().sort(SortBy::Email, order).limit(1);
        loop {
            let page = org.members_page(&query);
            seen.extend(page.rows.iter().map(|r| r.member().id().get()));
            let Some(next) = page.next else { break };
            // Cursors survive a trip through JSON.
            let next: Cursor =
                serde_json::from_str(&serde_json::to_string(&next).unwrap()).unwrap();
            query = MemberQuery::new().limit(1).after(next);
        }
        let mut expected = all.clone();
        if order == SortOrder::Descending {
            expected.reverse();
        }
        assert_eq!(seen, expected, "{order:?}");
    }

    // A search finds the typed spelling and the ASCII form.
    let found = |text: &str| -> Vec<u64> {
        org.members_page(&MemberQuery::new().email_contains(text))
            .rows
            .iter()
            .map(|r| r.member().id().get())
            .collect()
    };
    assert_eq!(found("xn--bcher"), [2, 3]);
    assert_eq!(found("BÜCHER"), [2]);
    assert_eq!(found("straße"), [6]);
    assert_eq!(found("STRASSE"), [7]);
}

#[test]
fn a_cursor_from_the_previous_version_continues_after_the_address() {
    let (_, org) = load(&old_stream());
    // The previous version wrote the address alone.
    let old = r#"{"sort":"email","order":"ascending","key":{"email":"user@bücher.de"}}"#;
    let cursor: Cursor = serde_json::from_str(old).unwrap();
    let page = org.members_page(&MemberQuery::new().after(cursor));
    assert!(
        page.rows.iter().all(|r| r.member().id().get() != 3),
        "past both"
    );
    let old_desc = r#"{"sort":"email","order":"descending","key":{"email":"user@bücher.de"}}"#;
    let cursor: Cursor = serde_json::from_str(old_desc).unwrap();
    let page = org.members_page(&MemberQuery::new().after(cursor));
    let listed: Vec<u64> = page.rows.iter().map(|r| r.member().id().get()).collect();
    assert!(!listed.contains(&2) && !listed.contains(&3), "{listed:?}");
    assert_eq!(listed.len(), 5);
}

#[test]
fn removing_one_member_of_a_shared_address_leaves_the_other() {
    let (events, org) = load(&old_stream());
    let mut s = Scenario::empty();
    s.org = org;
    s.history = events;
    let org = s
        .when(
            ADMIN,
            Command::RemoveUsers {
                emails: emails(&["user@xn--bcher-kva.de"]),
            },
        )
        .then_events(|events| {
            assert!(matches!(
                events[0].kind,
                EventKind::UserRemoved { user } if user.get() == 3
            ));
        });
    assert_eq!(org.member_count(), 6);
    assert_eq!(member_id(&org, "user@xn--bcher-kva.de"), Some(2));
    let shared: Vec<Vec<u64>> = org.duplicate_addresses().iter().map(|m| ids(m)).collect();
    assert_eq!(shared, [vec![4, 5]]);
    // Still refused as already a member.
    assert!(matches!(
        org.decide(
            &Command::InviteUsers {
                emails: emails(&["user@xn--bcher-kva.de"]),
                groups: vec![],
            },
            &ctx(ADMIN, 50),
        ),
        Err(DomainError::AlreadyMembers { .. })
    ));
    // Removing the lowest id first works the same way.
    let (_, mut org) = load(&old_stream());
    let events = org
        .execute(
            &Command::RemoveUsers {
                emails: emails(&[COMPOSED]),
            },
            &ctx(ADMIN, 50),
        )
        .unwrap();
    assert!(matches!(events[0].kind, EventKind::UserRemoved { user } if user.get() == 4));
    assert_eq!(member_id(&org, COMPOSED), Some(5));
    let page = org.members_page(&MemberQuery::new());
    assert_eq!(page.rows.len(), 6);
}

#[test]
fn each_member_of_a_shared_address_accepts_with_its_own_spelling() {
    let (_, mut org) = load(&old_stream());
    let events = org
        .execute(&Command::AcceptInvitation, &ctx("user@xn--bcher-kva.de", 5))
        .unwrap();
    assert!(matches!(events[0].kind, EventKind::InvitationAccepted { user } if user.get() == 3));
    assert!(!org.member_by_id(uid(3)).unwrap().status().is_pending());
    assert!(org.member_by_id(uid(2)).unwrap().status().is_pending());
}

#[test]
fn a_snapshot_keeps_both_members_of_a_shared_address() {
    let (events, org) = load(&old_stream());
    let snapshot = org.snapshot();
    let json = serde_json::to_string(&snapshot).unwrap();
    let back = Organization::from_snapshot(&serde_json::from_str(&json).unwrap()).unwrap();
    assert_eq!(back, org);
    assert_eq!(back.member_count(), 7);
    assert_eq!(back.duplicate_addresses().len(), 2);
    assert_eq!(member_id(&back, "user@xn--bcher-kva.de"), Some(3));
    assert_eq!(Organization::replay(&events), back);
    // Replaying events after the snapshot works on the loaded state.
    let mut back = back;
    let more = back
        .execute(
            &Command::RemoveUsers {
                emails: emails(&["user@bücher.de"]),
            },
            &ctx(ADMIN, 9),
        )
        .unwrap();
    let mut all = events;
    all.extend(more);
    assert_eq!(Organization::replay(&all), back);
}

// ---------------------------------------------------------------------------
// New input: one mailbox in two spellings is a duplicate.
// ---------------------------------------------------------------------------

#[test]
fn the_invite_box_refuses_two_spellings_of_one_mailbox() {
    for text in [
        "user@bücher.de user@xn--bcher-kva.de",
        "jos\u{e9}@example.de, jose\u{301}@example.de",
        "user@BÜCHER.de; USER@xn--BCHER-kva.DE",
    ] {
        let list = parse_address_list(text).unwrap();
        let first = list[0].clone();
        given_org()
            .when(
                ADMIN,
                Command::InviteUsers {
                    emails: list,
                    groups: vec![],
                },
            )
            .then_refused(DomainError::DuplicateInvitees {
                emails: vec![first],
            });
    }
}

#[test]
fn after_one_spelling_the_other_is_already_a_member() {
    given_org()
        .invited(&["user@bücher.de"], &[])
        .when(
            ADMIN,
            Command::InviteUsers {
                emails: emails(&["user@xn--bcher-kva.de"]),
                groups: vec![],
            },
        )
        .then_refused(DomainError::AlreadyMembers {
            emails: emails(&["user@bücher.de"]),
        });
    given_org()
        .invited(&[COMPOSED], &[])
        .when(
            ADMIN,
            Command::InviteUsers {
                emails: emails(&[DECOMPOSED]),
                groups: vec![],
            },
        )
        .then_refused(DomainError::AlreadyMembers {
            emails: emails(&[COMPOSED]),
        });
}

#[test]
fn distinct_mailboxes_are_not_merged() {
    // Before: full case folding made these one address.
    let org = given_org()
        .invited(&["user@faß.de", "straße@x.de"], &[])
        .when(
            ADMIN,
            Command::InviteUsers {
                emails: emails(&["user@fass.de", "strasse@x.de"]),
                groups: vec![],
            },
        )
        .then_events(|events| assert_eq!(events.len(), 2));
    assert_eq!(org.member_count(), 5);
    assert!(org.duplicate_addresses().is_empty());
    // Case still does not matter.
    assert_eq!(
        org.member(&email("STRASSE@X.DE")).unwrap().email().as_str(),
        "strasse@x.de"
    );
    assert_eq!(
        org.member(&email("STRAẞE@X.DE")).unwrap().email().as_str(),
        "straße@x.de"
    );
}

#[test]
fn a_csv_with_two_spellings_of_one_mailbox_reports_the_second_as_duplicate_in_file() {
    let csv = "email,group membership\nuser@bücher.de,\nuser@xn--bcher-kva.de,\njos\u{e9}@example.de,\njose\u{301}@example.de,\nuser@faß.de,\nuser@fass.de,\n";
    let file = read_invite_csv(csv.as_bytes(), &CsvOptions::default()).unwrap();
    let org = given_org().org;
    let (events, report) = org
        .decide_bulk_invite(&file, &ctx(ADMIN, 10))
        .unwrap()
        .into_parts();
    let codes: Vec<(u64, Vec<&str>)> = report
        .rows()
        .iter()
        .map(|r| {
            let what = match r.outcome() {
                RowOutcome::Invited => vec!["invited"],
                RowOutcome::Skipped(reason) => vec![reason.code()],
                RowOutcome::Failed(errors) => errors.iter().map(RowError::code).collect(),
                _ => vec!["?"],
            };
            (r.line(), what)
        })
        .collect();
    assert_eq!(
        codes,
        [
            (2, vec!["invited"]),
            (3, vec!["duplicate_in_file"]),
            (4, vec!["invited"]),
            (5, vec!["duplicate_in_file"]),
            (6, vec!["invited"]),
            (7, vec!["invited"]),
        ]
    );
    assert_eq!(events.len(), 4);
}

#[test]
fn an_invalid_xn_label_is_refused_when_typed_and_loads_when_stored() {
    let err = Email::parse("me@xn--abc.de").unwrap_err();
    assert!(err.to_string().contains("xn--abc"), "{err}");
    let mut lines = old_stream();
    lines.push(r#"{"schema":1,"at":"2026-01-02T03:05:00Z","actor":1,"type":"user_invited","user":8,"email":"me@xn--abc.de","groups":[]}"#.to_owned());
    let (_, org) = load(&lines);
    let me = org.member_by_id(uid(8)).unwrap();
    assert_eq!(me.email().as_str(), "me@xn--abc.de");
}

// ---------------------------------------------------------------------------
// Stored addresses never panic.
// ---------------------------------------------------------------------------

fn invited_event(address: &str) -> String {
    format!(
        r#"{{"schema":1,"at":"2026-01-02T03:04:05Z","actor":1,"type":"user_invited","user":2,"email":{},"groups":[]}}"#,
        serde_json::to_string(address).unwrap()
    )
}

#[test]
fn a_long_upper_case_stored_address_is_refused_not_a_panic() {
    // Panicked before: the key was built in a fixed stack buffer sliced
    // without a length check.
    let long = format!("{}@EXAMPLE.COM", "A".repeat(300));
    let err = serde_json::from_str::<Event>(&invited_event(&long)).unwrap_err();
    assert!(err.to_string().contains("at most 254"), "{err}");
    // In a snapshot too.
    let (_, org) = load(&old_stream());
    let json = serde_json::to_string(&org.snapshot())
        .unwrap()
        .replace("ada@example.com", &long);
    assert!(serde_json::from_str::<org_accounts::Snapshot>(&json).is_err());
    // Upper case within the limits loads.
    let at_limit = format!("{}@{}.COM", "A".repeat(64), "B".repeat(185));
    let event: Event = serde_json::from_str(&invited_event(&at_limit)).unwrap();
    assert!(
        matches!(event.kind, EventKind::UserInvited { email, .. } if email.as_str() == at_limit)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Any stored text: the event loads or is refused, never a panic.
    #[test]
    fn any_stored_address_loads_or_is_refused(text in any::<String>()) {
        let _ = serde_json::from_str::<Event>(&invited_event(&text));
    }

    /// Long and upper-case stored text, the shape that used to panic.
    #[test]
    fn long_stored_addresses_load_or_are_refused(
        local in "[A-ZÄÖ]{1,300}",
        domain in "[A-Z]{1,300}\\.[A-Z]{2,3}",
    ) {
        let _ = serde_json::from_str::<Event>(&invited_event(&format!("{local}@{domain}")));
    }

    /// Parsing never panics, and an accepted address parses again to the
    /// same spelling and key.
    #[test]
    fn parse_is_stable(text in any::<String>()) {
        if let Ok(e) = Email::parse(&text) {
            let again = Email::parse(e.as_str()).unwrap();
            prop_assert_eq!(again.as_str(), e.as_str());
            prop_assert_eq!(again.canonical_key(), e.canonical_key());
            prop_assert_eq!(&again, &e);
        }
    }

    /// Over address-shaped text with look-alike spellings.
    #[test]
    fn parse_is_stable_on_addresses(
        local in "[a-zA-Zß\u{e9}\u{c9}\u{301}Σσς]{1,12}",
        domain in "(xn--)?[a-zA-Züß\u{308}]{1,10}\\.(de|DE|com)",
    ) {
        let text = format!("{local}@{domain}");
        if let Ok(e) = Email::parse(&text) {
            let again = Email::parse(e.as_str()).unwrap();
            prop_assert_eq!(&again, &e);
            prop_assert_eq!(again.canonical_key(), e.canonical_key());
            let key = Email::parse(e.canonical_key()).unwrap();
            prop_assert_eq!(key.canonical_key(), e.canonical_key());
            prop_assert_eq!(&key, &e);
        }
    }
}
