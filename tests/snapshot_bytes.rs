//! The bytes stores keep for a snapshot (`Snapshot::to_bytes`, read back
//! by `Snapshot::from_bytes`): they round-trip every state, old JSON
//! snapshots still load from them, and no bytes (arbitrary, truncated,
//! mutated) make decoding or loading panic; what loads from damaged bytes
//! is still checked by `Organization::from_snapshot`.
// Tests assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use org_accounts::testing::check_invariants;
use org_accounts::testing::strategies::history;
use org_accounts::{
    Command, Context, Email, GroupName, MemberQuery, Organization, SNAPSHOT_SCHEMA_VERSION,
    Snapshot, SortBy, SortOrder, StatusFilter,
};
use proptest::prelude::*;

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

fn ctx(who: &str, minute: i64) -> Context {
    let at: jiff::Timestamp = "2026-11-28T09:00:00Z".parse().unwrap();
    Context::new(
        email(who),
        at.checked_add(jiff::SignedDuration::from_mins(minute))
            .unwrap(),
    )
}

/// An organization with pending and active members, in a custom group
/// and not, invited out of address order.
fn org() -> Organization {
    let mut org = Organization::new();
    let steps: Vec<(&str, Command)> = vec![
        (
            "ada@example.com",
            Command::CreateOrganization {
                name: "Acme".into(),
            },
        ),
        (
            "ada@example.com",
            Command::CreateGroup {
                name: GroupName::parse("Finance").unwrap(),
                members: vec![],
            },
        ),
        (
            "ada@example.com",
            Command::InviteUsers {
                emails: vec![
                    email("zed@example.com"),
                    email("Bob@Example.com"),
                    email("user@bücher.de"),
                ],
                groups: vec![GroupName::parse("Finance").unwrap()],
            },
        ),
        (
            "ada@example.com",
            Command::InviteUsers {
                emails: vec![email("cy@example.com"), email("amy@example.com")],
                groups: vec![],
            },
        ),
        ("bob@example.com", Command::AcceptInvitation),
        ("cy@example.com", Command::AcceptInvitation),
    ];
    for (minute, (who, command)) in (0..).zip(steps) {
        org.execute(&command, &ctx(who, minute))
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    }
    org
}

fn load(bytes: &[u8]) -> Organization {
    Organization::from_snapshot(&Snapshot::from_bytes(bytes).unwrap()).unwrap()
}

/// Every listing of the users page, as ids.
fn listings(org: &Organization) -> Vec<Vec<u64>> {
    let mut all = Vec::new();
    let groups: Vec<Option<GroupName>> = std::iter::once(None)
        .chain(org.groups().map(|g| Some(g.name().clone())))
        .collect();
    for group in &groups {
        for status in [
            None,
            Some(StatusFilter::Pending),
            Some(StatusFilter::Active),
        ] {
            for sort in [SortBy::Email, SortBy::LastActive] {
                for order in [SortOrder::Ascending, SortOrder::Descending] {
                    let mut q = MemberQuery::new().sort(sort, order).limit(2);
                    if let Some(s) = status {
                        q = q.status(s);
                    }
                    if let Some(g) = group {
                        q = q.in_group(g.clone());
                    }
                    let mut ids = Vec::new();
                    let mut page = org.members_page(&q);
                    loop {
                        ids.extend(page.rows.iter().map(|r| r.member().id().get()));
                        match page.next {
                            Some(cursor) => page = org.members_page(&q.clone().after(cursor)),
                            None => break,
                        }
                    }
                    all.push(ids);
                }
            }
        }
    }
    all
}

#[test]
fn the_bytes_start_with_a_header_and_load_back_to_the_same_state_and_pages() {
    let org = org();
    let snapshot = org.snapshot();
    let bytes = snapshot.to_bytes().unwrap();
    assert_eq!(&bytes[..8], b"\0OrgSnap");
    assert_eq!(bytes[8..12], SNAPSHOT_SCHEMA_VERSION.to_le_bytes());
    assert_eq!(Snapshot::from_bytes(&bytes).unwrap(), snapshot);
    let loaded = load(&bytes);
    assert_eq!(loaded, org);
    assert_eq!(listings(&loaded), listings(&org));
    // Far smaller than the JSON.
    assert!(bytes.len() < serde_json::to_vec(&snapshot).unwrap().len() / 2);
}

#[test]
fn json_snapshots_written_by_earlier_versions_still_load_from_bytes() {
    let org = org();
    let mut json = serde_json::to_value(org.snapshot()).unwrap();
    json["schema"] = 2.into();
    let bytes = serde_json::to_vec(&json).unwrap();
    let loaded = load(&bytes);
    assert_eq!(loaded, org);
    assert_eq!(listings(&loaded), listings(&org));
}

#[test]
fn a_newer_binary_schema_trailing_bytes_and_truncation_are_refused_with_reasons() {
    let bytes = org().snapshot().to_bytes().unwrap();
    let mut newer = bytes.clone();
    newer[8..12].copy_from_slice(&(SNAPSHOT_SCHEMA_VERSION + 1).to_le_bytes());
    let err = Snapshot::from_bytes(&newer).unwrap_err().to_string();
    assert!(err.contains("newer version"), "{err}");
    let mut trailing = bytes.clone();
    trailing.push(0);
    let err = Snapshot::from_bytes(&trailing).unwrap_err().to_string();
    assert!(err.contains("follow its end"), "{err}");
    for cut in [0, 5, 8, 11, 12, bytes.len() / 2, bytes.len() - 1] {
        assert!(Snapshot::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
    }
}

/// Loading whatever decodes: never a panic, and a state that loads keeps
/// the invariants.
fn load_any(bytes: &[u8]) {
    if let Ok(snapshot) = Snapshot::from_bytes(bytes)
        && let Ok(org) = Organization::from_snapshot(&snapshot)
    {
        let broken = check_invariants(&org);
        assert!(broken.is_empty(), "{broken:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_history_round_trips_through_the_bytes(h in history(24)) {
        let snapshot = h.org.snapshot();
        let bytes = snapshot.to_bytes().unwrap();
        prop_assert_eq!(&Snapshot::from_bytes(&bytes).unwrap(), &snapshot);
        let loaded = load(&bytes);
        prop_assert_eq!(&loaded, &h.org);
        prop_assert_eq!(listings(&loaded), listings(&h.org));
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        mut bytes in proptest::collection::vec(any::<u8>(), 0..512),
        magic in any::<bool>(),
    ) {
        if magic {
            let mut header = b"\0OrgSnap".to_vec();
            header.extend_from_slice(&SNAPSHOT_SCHEMA_VERSION.to_le_bytes());
            header.append(&mut bytes);
            bytes = header;
        }
        load_any(&bytes);
    }

    #[test]
    fn mutated_encodings_never_panic_and_what_loads_is_checked(
        h in history(12),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..4u8), 1..6),
    ) {
        let mut bytes = h.org.snapshot().to_bytes().unwrap();
        for (at, byte, how) in edits {
            // Past the header, where the state is.
            let i = 12 + at.index(bytes.len().saturating_sub(12).max(1));
            match how {
                0 if i < bytes.len() => bytes[i] = byte,
                1 if i < bytes.len() => bytes[i] ^= 1 << (byte % 8),
                2 if i <= bytes.len() => bytes.insert(i, byte),
                _ => bytes.truncate(i),
            }
        }
        load_any(&bytes);
    }
}
