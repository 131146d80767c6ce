//! The users page: filters, sorting and keyset pagination.
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
    Command, MemberQuery, MemberStatus, Organization, SortBy, SortOrder, StatusFilter,
};

/// Ada (admin, active at 1), 30 invitees u00..u29 in `Finance` for even
/// numbers, and every third one accepted at increasing times.
fn org() -> Organization {
    let all: Vec<String> = (0..30).map(|i| format!("u{i:02}@example.com")).collect();
    let mut s = given_org().with_group("Finance", &[]);
    for chunk in all.chunks(10) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        s = s.invited(&refs, &[]);
    }
    let even: Vec<&str> = all.iter().step_by(2).map(String::as_str).collect();
    s = s.and(
        ADMIN,
        Command::AddGroupMembers {
            group: group("Finance"),
            members: emails(&even),
        },
    );
    for who in all.iter().step_by(3) {
        s = s.accepted(who);
    }
    s.org
}

fn listed(org: &Organization, query: &MemberQuery) -> Vec<String> {
    org.members_page(query)
        .rows
        .iter()
        .map(|r| r.email().as_str().to_owned())
        .collect()
}

/// Follows `next` cursors to the end; returns every row's address.
fn all_pages(org: &Organization, query: MemberQuery) -> Vec<String> {
    let mut out = Vec::new();
    let mut page = org.members_page(&query);
    loop {
        out.extend(page.rows.iter().map(|r| r.email().as_str().to_owned()));
        match page.next {
            Some(cursor) => page = org.members_page(&query.clone().after(cursor)),
            None => return out,
        }
    }
}

#[test]
fn lists_by_email_with_status_and_groups() {
    let org = org();
    let page = org.members_page(&MemberQuery::new().limit(3));
    let rows: Vec<_> = page
        .rows
        .iter()
        .map(|r| (r.email().as_str(), r.status().is_pending()))
        .collect();
    assert_eq!(
        rows,
        [
            ("ada@example.com", false),
            ("u00@example.com", false),
            ("u01@example.com", true)
        ]
    );
    let groups: Vec<&str> = page.rows[0].groups().iter().map(|g| g.as_str()).collect();
    assert_eq!(groups, ["Administrators"]);
    assert!(page.next.is_some());
}

#[test]
fn pages_join_up_without_gaps_or_repeats() {
    let org = org();
    let everyone = all_pages(&org, MemberQuery::new().limit(7));
    assert_eq!(everyone.len(), 31);
    let mut sorted = everyone.clone();
    sorted.sort();
    assert_eq!(everyone, sorted);
    let descending = all_pages(
        &org,
        MemberQuery::new()
            .sort(SortBy::Email, SortOrder::Descending)
            .limit(4),
    );
    sorted.reverse();
    assert_eq!(descending, sorted);
}

#[test]
fn filters_by_status() {
    let org = org();
    let pending = all_pages(
        &org,
        MemberQuery::new().status(StatusFilter::Pending).limit(5),
    );
    assert_eq!(pending.len(), 20);
    assert!(
        pending
            .iter()
            .all(|e| org.member(&email(e)).unwrap().status() == MemberStatus::Pending)
    );
    let active = all_pages(&org, MemberQuery::new().status(StatusFilter::Active));
    assert_eq!(active.len(), 11);
}

#[test]
fn filters_by_group_and_status_together() {
    let org = org();
    let finance = all_pages(&org, MemberQuery::new().in_group(group("FINANCE")).limit(4));
    assert_eq!(finance.len(), 15);
    let finance_active = all_pages(
        &org,
        MemberQuery::new()
            .in_group(group("finance"))
            .status(StatusFilter::Active)
            .limit(2),
    );
    // Even and multiple of three: 0, 6, 12, 18, 24.
    assert_eq!(
        finance_active,
        [
            "u00@example.com",
            "u06@example.com",
            "u12@example.com",
            "u18@example.com",
            "u24@example.com"
        ]
    );
    assert_eq!(
        all_pages(&org, MemberQuery::new().in_group(group("Everyone"))).len(),
        31
    );
    assert!(listed(&org, &MemberQuery::new().in_group(group("Nope"))).is_empty());
}

#[test]
fn filters_by_email_substring_ignoring_case() {
    let org = org();
    assert_eq!(
        listed(&org, &MemberQuery::new().email_contains(" U1 ")).len(),
        10
    );
    assert_eq!(
        listed(&org, &MemberQuery::new().email_contains("ADA@")),
        ["ada@example.com"]
    );
    assert_eq!(
        listed(&org, &MemberQuery::new().email_contains("")).len(),
        31
    );
}

#[test]
fn sorts_by_last_active() {
    let org = org();
    let recent_first = listed(
        &org,
        &MemberQuery::new()
            .sort(SortBy::LastActive, SortOrder::Descending)
            .limit(3),
    );
    assert_eq!(
        recent_first,
        ["u27@example.com", "u24@example.com", "u21@example.com"]
    );
    let oldest_first = all_pages(
        &org,
        MemberQuery::new()
            .sort(SortBy::LastActive, SortOrder::Ascending)
            .limit(6),
    );
    assert_eq!(oldest_first.len(), 31);
    // Pending members come first when ascending.
    assert!(
        oldest_first[..20]
            .iter()
            .all(|e| org.member(&email(e)).unwrap().status().is_pending())
    );
    assert_eq!(oldest_first[20], "ada@example.com");
}

#[test]
fn a_cursor_survives_the_member_it_points_at_being_removed() {
    let mut org = org();
    let first = org.members_page(&MemberQuery::new().limit(3));
    let cursor = first.next.clone().unwrap();
    assert_eq!(first.rows[2].email().as_str(), "u01@example.com");
    org.execute(
        &Command::RemoveUsers {
            emails: emails(&["u01@example.com"]),
        },
        &ctx(ADMIN, 999),
    )
    .unwrap();
    let second = listed(&org, &MemberQuery::new().limit(2).after(cursor));
    assert_eq!(second, ["u02@example.com", "u03@example.com"]);
}

#[test]
fn the_scan_limit_bounds_a_page_and_the_cursor_goes_on() {
    let org = org();
    // u2x addresses come late in email order; with a scan limit of 5 the
    // first page finds none of them but says where to continue.
    let query = MemberQuery::new()
        .email_contains("u2")
        .scan_limit(5)
        .limit(5);
    let first = org.members_page(&query);
    assert!(first.rows.is_empty());
    assert!(first.next.is_some());
    let all = all_pages(&org, query);
    assert_eq!(all.len(), 10);
}

#[test]
fn a_cursor_keeps_its_own_sort_order() {
    let org = org();
    let query = MemberQuery::new()
        .sort(SortBy::LastActive, SortOrder::Descending)
        .limit(2);
    let cursor = org.members_page(&query).next.unwrap();
    let json = serde_json::to_string(&cursor).unwrap();
    let back = serde_json::from_str(&json).unwrap();
    let next = listed(&org, &MemberQuery::new().after(back).limit(1));
    assert_eq!(next, ["u21@example.com"]);
}
