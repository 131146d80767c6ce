//! The users-page indexes, kept lazily (see `index.rs`), against ones
//! built afresh, over histories of raw (possibly damaged) events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use jiff::Timestamp;
use proptest::prelude::*;

use super::Organization;
use crate::{
    Email, Event, EventKind, GroupId, GroupName, MemberQuery, SortBy, SortOrder, StatusFilter,
    UserId,
};

fn event(at: i64, kind: EventKind) -> Event {
    Event::new(Timestamp::from_second(at).unwrap(), UserId(1), kind)
}

fn email(n: u8) -> Email {
    // A few addresses that share an identity (case), so members may share one.
    let text = match n % 6 {
        0 => "a@example.com".to_owned(),
        1 => "A@example.com".to_owned(),
        k => format!("m{k}@example.com"),
    };
    Email::parse(&text).unwrap()
}

fn name(n: u8) -> GroupName {
    // Never a default group's name: a custom group holding one makes the
    // member/group inconsistency of
    // `the_same_events_list_a_group_differently_depending_on_when_a_page_was_read`,
    // which would hide everything else.
    GroupName::parse(&format!("Team {}", n % 4)).unwrap()
}

/// The organization with its users-page indexes dropped: the next page
/// builds them afresh from the members as they are.
fn fresh(org: &Organization) -> Organization {
    let mut fresh = org.clone();
    fresh.members.reset_page_index();
    fresh
}

fn queries(org: &Organization) -> Vec<MemberQuery> {
    let mut groups: Vec<Option<GroupName>> = vec![None];
    groups.extend(org.groups().map(|g| Some(g.name.clone())));
    let mut out = Vec::new();
    let mut n = 0usize;
    for group in groups {
        for status in [
            None,
            Some(StatusFilter::Pending),
            Some(StatusFilter::Active),
        ] {
            for (sort, order) in [
                (SortBy::Email, SortOrder::Ascending),
                (SortBy::Email, SortOrder::Descending),
                (SortBy::LastActive, SortOrder::Ascending),
                (SortBy::LastActive, SortOrder::Descending),
            ] {
                n += 1;
                let mut q = MemberQuery::new().sort(sort, order).limit(1 + n % 3);
                if let Some(g) = &group {
                    q = q.in_group(g.clone());
                }
                if let Some(s) = status {
                    q = q.status(s);
                }
                out.push(q);
            }
        }
    }
    out
}

/// Every page of `q`: each page's ids and whether it has a next cursor.
fn pages(org: &Organization, q: &MemberQuery) -> Vec<(Vec<u64>, Option<String>)> {
    let mut out = Vec::new();
    let mut q = q.clone();
    for _ in 0..100 {
        let page = org.members_page(&q);
        let ids = page.rows.iter().map(|r| r.member().id().get()).collect();
        let next = page.next.clone();
        out.push((ids, next.as_ref().map(|c| format!("{c:?}"))));
        match next {
            Some(c) => q = q.after(c),
            None => break,
        }
    }
    out
}

/// The first listing `org` and indexes built afresh disagree on.
fn first_difference(org: &Organization) -> Option<String> {
    let fresh = fresh(org);
    queries(org).iter().find_map(|q| {
        let (lazy, built) = (pages(org, q), pages(&fresh, q));
        (lazy != built).then(|| format!("{q:?}: lazy {lazy:?}, afresh {built:?}"))
    })
}

#[derive(Debug, Clone)]
enum Step {
    Create(u8, u8),
    Invite(u8, u8, Vec<u8>),
    Accept(u8),
    SignIn(u8, i64),
    Observe(u8, i64),
    Remove(u8),
    CreateGroup(u8, u8, Vec<u8>),
    Rename(u8, u8),
    DeleteGroup(u8),
    Join(u8, Vec<u8>),
    Leave(u8, Vec<u8>),
    Page,
    Clone,
}

fn user(n: u8) -> UserId {
    // Small ids, with a few far past the counter.
    match n % 16 {
        14 => UserId(1 << 40),
        15 => UserId(u64::MAX / 4),
        k => UserId(u64::from(k)),
    }
}

fn group(n: u8) -> GroupId {
    // Default ids (1..=6) and a few custom ones, reused after deletion.
    GroupId::new(u32::from(n % 10) + 1)
}

fn step() -> impl Strategy<Value = Step> {
    let ids = proptest::collection::vec(any::<u8>(), 0..4);
    prop_oneof![
        1 => (any::<u8>(), any::<u8>()).prop_map(|(u, e)| Step::Create(u, e)),
        4 => (any::<u8>(), any::<u8>(), ids.clone()).prop_map(|(u, e, g)| Step::Invite(u, e, g)),
        2 => any::<u8>().prop_map(Step::Accept),
        2 => (any::<u8>(), 0i64..20).prop_map(|(u, t)| Step::SignIn(u, t)),
        1 => (any::<u8>(), 0i64..20).prop_map(|(u, t)| Step::Observe(u, t)),
        2 => any::<u8>().prop_map(Step::Remove),
        2 => (any::<u8>(), any::<u8>(), ids.clone()).prop_map(|(g, n, m)| Step::CreateGroup(g, n, m)),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(g, n)| Step::Rename(g, n)),
        2 => any::<u8>().prop_map(Step::DeleteGroup),
        2 => (any::<u8>(), ids.clone()).prop_map(|(g, m)| Step::Join(g, m)),
        2 => (any::<u8>(), ids).prop_map(|(g, m)| Step::Leave(g, m)),
        3 => Just(Step::Page),
        1 => Just(Step::Clone),
    ]
}

fn run(org: &mut Organization, s: &Step, clock: &mut i64) {
    *clock += 1;
    let at = *clock;
    let users = |v: &Vec<u8>| v.iter().map(|u| user(*u)).collect::<Vec<_>>();
    let kind = match s {
        Step::Create(u, e) => EventKind::OrganizationCreated {
            name: "Org".into(),
            user: user(*u),
            email: email(*e),
        },
        Step::Invite(u, e, g) => EventKind::UserInvited {
            user: user(*u),
            email: email(*e),
            groups: g.iter().map(|g| group(*g)).collect::<Arc<[GroupId]>>(),
        },
        Step::Accept(u) => EventKind::InvitationAccepted { user: user(*u) },
        Step::SignIn(u, t) => {
            org.apply(&event(at + t, EventKind::UserSignedIn { user: user(*u) }));
            return;
        }
        Step::Observe(u, t) => {
            org.observe_sign_in(user(*u), Timestamp::from_second(at + t).unwrap());
            return;
        }
        Step::Remove(u) => EventKind::UserRemoved { user: user(*u) },
        Step::CreateGroup(g, n, m) => EventKind::GroupCreated {
            group: group(*g),
            name: name(*n),
            members: users(m),
        },
        Step::Rename(g, n) => EventKind::GroupRenamed {
            group: group(*g),
            name: name(*n),
        },
        Step::DeleteGroup(g) => EventKind::GroupDeleted { group: group(*g) },
        Step::Join(g, m) => EventKind::GroupMembersAdded {
            group: group(*g),
            users: users(m),
        },
        Step::Leave(g, m) => EventKind::GroupMembersRemoved {
            group: group(*g),
            users: users(m),
        },
        Step::Page => {
            let _ = org.members_page(&MemberQuery::new());
            return;
        }
        Step::Clone => {
            *org = org.clone();
            return;
        }
    };
    org.apply(&event(at, kind));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Any history of raw events (damaged ones included), with pages read
    /// and clones taken anywhere, leaves every listing as indexes built
    /// afresh list it.
    #[test]
    fn lazy_listings_equal_fresh_ones_over_raw_event_histories(
        steps in proptest::collection::vec(step(), 1..120),
    ) {
        let mut org = Organization::new();
        let mut clock = 100;
        // Cursors taken mid-history, continued after later changes.
        let mut cursors: Vec<MemberQuery> = Vec::new();
        for (i, s) in steps.iter().enumerate() {
            run(&mut org, s, &mut clock);
            if matches!(s, Step::Page) {
                let all = queries(&org);
                if let Some(q) = all.get((i * 7) % all.len().max(1))
                    && let Some(c) = org.members_page(&q.clone().limit(1)).next
                {
                    cursors.push(q.clone().limit(1).after(c));
                }
            }
            if i % 7 == 6 {
                prop_assert_eq!(first_difference(&org), None, "after step {}", i);
            }
        }
        prop_assert_eq!(first_difference(&org), None);
        let fresh = fresh(&org);
        for q in &cursors {
            prop_assert_eq!(pages(&org, q), pages(&fresh, q), "continuing {:?}", q);
        }
    }
}

fn ids(page: &crate::MemberPage<'_>) -> Vec<u64> {
    page.rows.iter().map(|r| r.member().id().get()).collect()
}

/// A damaged store makes a member whose own group list names a group the
/// groups do not list as theirs (the creator's Administrators, when the
/// default group could not be created because a custom group holds its
/// name). The same events then list that group differently depending on
/// whether a page was read before the group was deleted, unless the
/// creator joins only an Administrators group that exists: the users page
/// must not depend on when it was read, or two replicas of the same events
/// (two nodes, or a node before and after eviction) disagree.
#[test]
fn the_same_events_list_a_group_differently_depending_on_when_a_page_was_read() {
    let e = |s: &str| Email::parse(s).unwrap();
    let team = GroupName::parse("Team").unwrap();
    let events = [
        event(
            1,
            EventKind::GroupCreated {
                group: GroupId::new(2),
                name: GroupName::parse("Administrators").unwrap(),
                members: vec![],
            },
        ),
        event(
            2,
            EventKind::OrganizationCreated {
                name: "Acme".into(),
                user: UserId(1),
                email: e("ada@example.com"),
            },
        ),
        event(
            3,
            EventKind::GroupCreated {
                group: GroupId::new(1),
                name: team.clone(),
                members: vec![],
            },
        ),
        event(
            4,
            EventKind::GroupDeleted {
                group: GroupId::new(1),
            },
        ),
        event(
            5,
            EventKind::GroupCreated {
                group: GroupId::new(1),
                name: team.clone(),
                members: vec![],
            },
        ),
    ];
    let query = MemberQuery::new().in_group(team);
    let mut read_before = Organization::new();
    let mut never_read = Organization::new();
    for (i, ev) in events.iter().enumerate() {
        if i == 3 {
            let _ = read_before.members_page(&MemberQuery::new());
        }
        read_before.apply(ev);
        never_read.apply(ev);
    }
    assert_eq!(read_before, never_read, "the same state");
    assert_eq!(
        ids(&read_before.members_page(&query)),
        ids(&never_read.members_page(&query)),
        "the same events, the same listing"
    );
}

/// A member in many groups (an administrator may create 5,000 and put
/// anyone in all of them) who signs in again and again between two page
/// requests is noted once: the notes never hold more than the members
/// they describe, and the next page folds that member in once.
#[test]
fn a_member_changed_many_times_between_pages_is_noted_once() {
    let mut org = Organization::new();
    let mut at = 0;
    let mut apply = |org: &mut Organization, kind: EventKind| {
        at += 1;
        org.apply(&event(at, kind));
    };
    apply(
        &mut org,
        EventKind::OrganizationCreated {
            name: "Acme".into(),
            user: UserId(1),
            email: Email::parse("ada@example.com").unwrap(),
        },
    );
    let groups = 1000u32;
    for g in 0..groups {
        apply(
            &mut org,
            EventKind::GroupCreated {
                group: GroupId::new(100 + g),
                name: GroupName::parse(&format!("G {g}")).unwrap(),
                members: vec![UserId(1)],
            },
        );
    }
    let _ = org.members_page(&MemberQuery::new());
    for _ in 0..4000 {
        apply(&mut org, EventKind::UserSignedIn { user: UserId(1) });
    }
    let held: usize = org.members.iter().map(|m| m.groups.len()).sum();
    let noted = org.members.noted_group_ids();
    assert!(
        noted <= held,
        "the notes hold {noted} group ids for an organization whose members hold {held}"
    );
    let fresh = fresh(&org);
    assert_eq!(first_difference(&org), None);
    assert_eq!(
        ids(&org.members_page(&MemberQuery::new())),
        ids(&fresh.members_page(&MemberQuery::new()))
    );
}

#[test]
fn organization_is_send_sync_and_unwind_safe() {
    fn check<T: Send + Sync + std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    check::<Organization>();
    check::<crate::Snapshot>();
}
