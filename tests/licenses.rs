//! Given/when/then tests for user licenses: pools, direct allocations,
//! group license rules, and how membership changes move seats.
// Tests and benches assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeMap;

use common::*;
use org_accounts::{
    Command, CsvOptions, DomainError, Event, EventKind, GroupId, LicenseKind, LicenseSource,
    Organization, Snapshot, UserId, read_invite_csv,
};

// --- helpers ----------------------------------------------------------------

fn kind(s: &str) -> LicenseKind {
    LicenseKind::parse(s).unwrap()
}

fn set_pool(k: &str, seats: u32) -> Command {
    Command::SetLicensePool {
        kind: kind(k),
        seats,
    }
}

fn remove_pool(k: &str) -> Command {
    Command::RemoveLicensePool { kind: kind(k) }
}

fn allocate(who: &str, k: &str) -> Command {
    Command::AllocateLicense {
        user: email(who),
        kind: kind(k),
    }
}

fn deallocate(who: &str, k: &str) -> Command {
    Command::DeallocateLicense {
        user: email(who),
        kind: kind(k),
    }
}

fn set_rule(g: &str, k: &str, quota: Option<u32>) -> Command {
    Command::SetGroupLicenseRule {
        group: group(g),
        kind: kind(k),
        quota,
    }
}

fn remove_rule(g: &str) -> Command {
    Command::RemoveGroupLicenseRule { group: group(g) }
}

fn add_members(g: &str, list: &[&str]) -> Command {
    Command::AddGroupMembers {
        group: group(g),
        members: emails(list),
    }
}

fn remove_members(g: &str, list: &[&str]) -> Command {
    Command::RemoveGroupMembers {
        group: group(g),
        members: emails(list),
    }
}

trait Given {
    fn pool(self, k: &str, seats: u32) -> Scenario;
    fn rule(self, g: &str, k: &str, quota: Option<u32>) -> Scenario;
    fn allocated(self, who: &str, k: &str) -> Scenario;
}

impl Given for Scenario {
    fn pool(self, k: &str, seats: u32) -> Scenario {
        self.and(ADMIN, set_pool(k, seats))
    }
    fn rule(self, g: &str, k: &str, quota: Option<u32>) -> Scenario {
        self.and(ADMIN, set_rule(g, k, quota))
    }
    fn allocated(self, who: &str, k: &str) -> Scenario {
        self.and(ADMIN, allocate(who, k))
    }
}

fn uid(org: &Organization, who: &str) -> UserId {
    org.member(&email(who)).unwrap().id()
}

fn gid(org: &Organization, name: &str) -> GroupId {
    org.group(&group(name)).unwrap().id()
}

fn via(org: &Organization, name: &str) -> LicenseSource {
    LicenseSource::Group(gid(org, name))
}

/// Every pool as (kind as spelled, seats, used).
fn usage(org: &Organization) -> Vec<(String, u32, u32)> {
    org.seat_usage()
        .into_iter()
        .map(|u| {
            assert_eq!(u.free(), u.seats - u.used);
            (u.kind.as_str().to_owned(), u.seats, u.used)
        })
        .collect()
}

/// (seats, used) of one kind.
fn seats(org: &Organization, k: &str) -> (u32, u32) {
    let u = org
        .seat_usage()
        .into_iter()
        .find(|u| u.kind == kind(k))
        .unwrap();
    (u.seats, u.used)
}

/// What a member holds, as (kind as spelled, source).
fn held(org: &Organization, who: &str) -> Vec<(String, LicenseSource)> {
    org.licenses_of(&email(who))
        .into_iter()
        .map(|(k, s)| (k.as_str().to_owned(), s))
        .collect()
}

fn holders(org: &Organization, k: &str) -> Vec<UserId> {
    org.license_holders(&kind(k))
        .into_iter()
        .map(|(u, _)| u)
        .collect()
}

fn kinds(events: &[Event]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind.clone()).collect()
}

fn granted(user: UserId, k: &str, source: LicenseSource) -> EventKind {
    EventKind::LicenseGranted {
        user,
        kind: kind(k),
        source,
    }
}

fn released(user: UserId, k: &str) -> EventKind {
    EventKind::LicenseReleased {
        user,
        kind: kind(k),
    }
}

/// The license invariants, seen through the public API, and the state
/// surviving a snapshot (in memory and as JSON).
fn check(org: &Organization) {
    for usage in org.seat_usage() {
        assert!(usage.used <= usage.seats, "over-allocated: {usage:?}");
        let holders = org.license_holders(&usage.kind);
        assert_eq!(holders.len(), usage.used as usize);
        let mut per_group: BTreeMap<GroupId, u32> = BTreeMap::new();
        for (user, source) in holders {
            let member = org.member_by_id(user).expect("a holder is a member");
            let theirs = org.licenses_of(member.email());
            assert!(theirs.contains(&(usage.kind.clone(), source)));
            if let LicenseSource::Group(g) = source {
                assert!(member.is_in(g), "{user} holds through a group they left");
                let group = org.group_by_id(g).unwrap();
                let rule = org.license_rule(group.name()).expect("a rule granted it");
                assert_eq!(rule.kind, usage.kind);
                assert!(
                    !theirs.iter().any(|(_, s)| *s == LicenseSource::Direct),
                    "{user} holds directly and through a group"
                );
                *per_group.entry(g).or_default() += 1;
            }
        }
        for (g, n) in per_group {
            let group = org.group_by_id(g).unwrap();
            if let Some(q) = org.license_rule(group.name()).unwrap().quota {
                assert!(n <= q, "quota of {} exceeded", group.name());
            }
        }
    }
    for group in org.groups() {
        if let Some(rule) = org.license_rule(group.name()) {
            assert!(org.seat_usage().iter().any(|u| u.kind == rule.kind));
            assert_ne!(rule.quota, Some(0));
        }
    }
    let snapshot = org.snapshot();
    assert_eq!(&Organization::from_snapshot(&snapshot).unwrap(), org);
    let json = serde_json::to_string(&snapshot).unwrap();
    let back: Snapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(&Organization::from_snapshot(&back).unwrap(), org);
}

const BOB: &str = "bob@example.com";
const CY: &str = "cy@example.com";
const DAN: &str = "dan@example.com";
const EVE: &str = "eve@example.com";

// --- pools ------------------------------------------------------------------

#[test]
fn a_pool_is_created_then_resized_keeping_its_spelling() {
    let org = given_org()
        .when(ADMIN, set_pool("Studio", 3))
        .then_events(|e| {
            assert_eq!(
                kinds(e),
                [EventKind::LicensePoolSet {
                    kind: kind("Studio"),
                    seats: 3
                }]
            );
        });
    assert_eq!(usage(&org), [("Studio".to_owned(), 3, 0)]);
    check(&org);

    let org = given_org()
        .pool("Studio", 3)
        .when(ADMIN, set_pool("STUDIO", 5))
        .then_events(|e| assert_eq!(e.len(), 1));
    assert_eq!(usage(&org), [("Studio".to_owned(), 5, 0)]);
}

#[test]
fn setting_the_same_seats_again_changes_nothing() {
    given_org()
        .pool("studio", 3)
        .when(ADMIN, set_pool("Studio", 3))
        .then_nothing_happens();
}

#[test]
fn pools_are_listed_in_kind_order() {
    let org = given_org()
        .pool("studio", 1)
        .pool("Attended", 2)
        .pool("robot", 0)
        .org;
    assert_eq!(
        usage(&org),
        [
            ("Attended".to_owned(), 2, 0),
            ("robot".to_owned(), 0, 0),
            ("studio".to_owned(), 1, 0)
        ]
    );
}

#[test]
fn a_pool_cannot_shrink_below_the_seats_in_use() {
    let s = || {
        given_org()
            .pool("studio", 3)
            .invited(&[BOB, CY], &[])
            .allocated(BOB, "studio")
            .allocated(CY, "studio")
    };
    s().when(ADMIN, set_pool("studio", 1))
        .then_refused(DomainError::SeatsInUse {
            kind: kind("studio"),
            used: 2,
            seats: 1,
        });
    let org = s()
        .when(ADMIN, set_pool("studio", 2))
        .then_events(|e| assert_eq!(e.len(), 1));
    assert_eq!(seats(&org, "studio"), (2, 2));
    check(&org);
}

#[test]
fn removing_a_pool_needs_it_to_exist_and_every_seat_free() {
    given_org()
        .when(ADMIN, remove_pool("studio"))
        .then_refused(DomainError::UnknownLicenseKind {
            kind: kind("studio"),
        });
    given_org()
        .pool("studio", 3)
        .invited(&[BOB], &[])
        .allocated(BOB, "studio")
        .when(ADMIN, remove_pool("studio"))
        .then_refused(DomainError::SeatsInUse {
            kind: kind("studio"),
            used: 1,
            seats: 0,
        });
    let org = given_org()
        .pool("studio", 3)
        .invited(&[BOB], &[])
        .allocated(BOB, "studio")
        .and(ADMIN, deallocate(BOB, "studio"))
        .when(ADMIN, remove_pool("Studio"))
        .then_events(|e| {
            assert_eq!(
                kinds(e),
                [EventKind::LicensePoolRemoved {
                    kind: kind("studio")
                }]
            );
        });
    assert!(org.seat_usage().is_empty());
    check(&org);
}

#[test]
fn removing_a_pool_removes_the_rules_of_its_kind() {
    let s = given_org()
        .pool("studio", 3)
        .pool("robot", 3)
        .with_group("Finance", &[])
        .with_group("Ops", &[])
        .rule("Finance", "studio", None)
        .rule("Ops", "robot", None);
    let finance = gid(&s.org, "Finance");
    let org = s.when(ADMIN, remove_pool("studio")).then_events(|e| {
        assert_eq!(
            kinds(e),
            [
                EventKind::LicenseRuleRemoved { group: finance },
                EventKind::LicensePoolRemoved {
                    kind: kind("studio")
                }
            ]
        );
    });
    assert!(org.license_rule(&group("Finance")).is_none());
    assert!(org.license_rule(&group("Ops")).is_some());
    check(&org);
}

#[test]
fn only_active_administrators_manage_licenses() {
    let s = || {
        given_org()
            .pool("studio", 3)
            .invited(&[BOB], &[])
            .accepted(BOB)
    };
    for command in [
        set_pool("studio", 5),
        remove_pool("studio"),
        set_rule("Administrators", "studio", None),
        remove_rule("Administrators"),
        allocate(BOB, "studio"),
        deallocate(BOB, "studio"),
    ] {
        s().when(BOB, command)
            .then_refused(DomainError::Forbidden { actor: email(BOB) });
    }
}

// --- direct allocations -----------------------------------------------------

#[test]
fn allocating_takes_a_seat_pending_members_too() {
    let s = given_org().pool("Studio", 2).invited(&[BOB], &[]);
    let bob = uid(&s.org, BOB);
    let org = s
        .when(ADMIN, allocate("bob@EXAMPLE.com", "STUDIO"))
        .then_events(|e| {
            assert_eq!(
                kinds(e),
                [granted(bob, "Studio", LicenseSource::Direct)]
            );
            // The event carries the pool's spelling.
            assert!(matches!(&e[0].kind, EventKind::LicenseGranted { kind, .. } if kind.as_str() == "Studio"));
        });
    assert!(org.member(&email(BOB)).unwrap().status().is_pending());
    assert_eq!(seats(&org, "studio"), (2, 1));
    assert_eq!(
        held(&org, BOB),
        [("Studio".to_owned(), LicenseSource::Direct)]
    );
    assert_eq!(
        org.license_holders(&kind("studio")),
        [(bob, LicenseSource::Direct)]
    );
    check(&org);
}

#[test]
fn allocating_needs_a_member_and_a_pool() {
    given_org()
        .pool("studio", 2)
        .when(ADMIN, allocate("nobody@example.com", "studio"))
        .then_refused(DomainError::UnknownUsers {
            emails: emails(&["nobody@example.com"]),
        });
    given_org()
        .pool("studio", 2)
        .invited(&[BOB], &[])
        .when(ADMIN, allocate(BOB, "robot"))
        .then_refused(DomainError::UnknownLicenseKind {
            kind: kind("robot"),
        });
}

#[test]
fn allocating_beyond_the_seats_is_refused() {
    given_org()
        .pool("studio", 1)
        .invited(&[BOB, CY], &[])
        .allocated(BOB, "studio")
        .when(ADMIN, allocate(CY, "studio"))
        .then_refused(DomainError::NoSeatsLeft {
            kind: kind("studio"),
            seats: 1,
            free: 0,
            needed: 1,
        });
    given_org()
        .pool("studio", 0)
        .invited(&[BOB], &[])
        .when(ADMIN, allocate(BOB, "studio"))
        .then_refused(DomainError::NoSeatsLeft {
            kind: kind("studio"),
            seats: 0,
            free: 0,
            needed: 1,
        });
}

#[test]
fn allocating_what_is_held_directly_changes_nothing() {
    given_org()
        .pool("studio", 1)
        .invited(&[BOB], &[])
        .allocated(BOB, "studio")
        .when(ADMIN, allocate(BOB, "studio"))
        .then_nothing_happens();
}

#[test]
fn a_member_may_hold_several_kinds_directly() {
    let org = given_org()
        .pool("studio", 1)
        .pool("robot", 1)
        .invited(&[BOB], &[])
        .allocated(BOB, "studio")
        .when(ADMIN, allocate(BOB, "robot"))
        .then_events(|e| assert_eq!(e.len(), 1));
    assert_eq!(
        held(&org, BOB),
        [
            ("robot".to_owned(), LicenseSource::Direct),
            ("studio".to_owned(), LicenseSource::Direct)
        ]
    );
    check(&org);
}

#[test]
fn a_direct_allocation_replaces_what_groups_give() {
    let s = given_org()
        .pool("studio", 5)
        .pool("robot", 5)
        .pool("attended", 1)
        .with_group("Finance", &[])
        .with_group("Ops", &[])
        .rule("Finance", "studio", None)
        .rule("Ops", "robot", None)
        .invited(&[BOB], &["Finance", "Ops"]);
    let bob = uid(&s.org, BOB);
    assert_eq!(
        held(&s.org, BOB),
        [
            ("robot".to_owned(), via(&s.org, "Ops")),
            ("studio".to_owned(), via(&s.org, "Finance"))
        ]
    );
    let org = s.when(ADMIN, allocate(BOB, "attended")).then_events(|e| {
        assert_eq!(
            kinds(e),
            [
                released(bob, "robot"),
                released(bob, "studio"),
                granted(bob, "attended", LicenseSource::Direct)
            ]
        );
    });
    assert_eq!(
        held(&org, BOB),
        [("attended".to_owned(), LicenseSource::Direct)]
    );
    assert_eq!(
        usage(&org),
        [
            ("attended".to_owned(), 1, 1),
            ("robot".to_owned(), 5, 0),
            ("studio".to_owned(), 5, 0)
        ]
    );
    check(&org);
}

#[test]
fn allocating_an_inherited_kind_needs_no_free_seat() {
    let s = given_org()
        .pool("studio", 1)
        .with_group("Finance", &[])
        .rule("Finance", "studio", None)
        .invited(&[BOB], &["Finance"]);
    let bob = uid(&s.org, BOB);
    assert_eq!(seats(&s.org, "studio"), (1, 1));
    let org = s.when(ADMIN, allocate(BOB, "studio")).then_events(|e| {
        assert_eq!(
            kinds(e),
            [
                released(bob, "studio"),
                granted(bob, "studio", LicenseSource::Direct)
            ]
        );
    });
    assert_eq!(seats(&org, "studio"), (1, 1));
    assert_eq!(
        held(&org, BOB),
        [("studio".to_owned(), LicenseSource::Direct)]
    );
    check(&org);
}

#[test]
fn a_refused_allocation_releases_nothing_inherited() {
    given_org()
        .pool("studio", 5)
        .pool("attended", 0)
        .with_group("Finance", &[])
        .rule("Finance", "studio", None)
        .invited(&[BOB], &["Finance"])
        .when(ADMIN, allocate(BOB, "attended"))
        .then_refused(DomainError::NoSeatsLeft {
            kind: kind("attended"),
            seats: 0,
            free: 0,
            needed: 1,
        });
}

// --- deallocating -----------------------------------------------------------

#[test]
fn deallocating_frees_the_seat() {
    let s = given_org()
        .pool("studio", 1)
        .invited(&[BOB, CY], &[])
        .allocated(BOB, "studio");
    let bob = uid(&s.org, BOB);
    let org = s
        .when(ADMIN, deallocate(BOB, "Studio"))
        .then_events(|e| assert_eq!(kinds(e), [released(bob, "studio")]));
    assert_eq!(seats(&org, "studio"), (1, 0));
    assert!(held(&org, BOB).is_empty());
    check(&org);
}

#[test]
fn deallocating_needs_a_direct_allocation() {
    let s = || {
        given_org()
            .pool("studio", 3)
            .with_group("Finance", &[])
            .rule("Finance", "studio", None)
            .invited(&[BOB], &["Finance"])
            .invited(&[CY], &[])
    };
    // Held through a group only.
    s().when(ADMIN, deallocate(BOB, "studio"))
        .then_refused(DomainError::NotAllocated {
            email: email(BOB),
            kind: kind("studio"),
        });
    // Not held at all.
    s().when(ADMIN, deallocate(CY, "studio"))
        .then_refused(DomainError::NotAllocated {
            email: email(CY),
            kind: kind("studio"),
        });
    // No such pool.
    s().when(ADMIN, deallocate(CY, "robot"))
        .then_refused(DomainError::NotAllocated {
            email: email(CY),
            kind: kind("robot"),
        });
    s().when(ADMIN, deallocate("nobody@example.com", "studio"))
        .then_refused(DomainError::UnknownUsers {
            emails: emails(&["nobody@example.com"]),
        });
}

#[test]
fn after_the_last_direct_license_goes_group_rules_apply_again() {
    let s = || {
        given_org()
            .pool("studio", 5)
            .pool("robot", 5)
            .pool("attended", 5)
            .with_group("Finance", &[])
            .with_group("Ops", &[])
            .rule("Finance", "studio", None)
            .rule("Ops", "robot", None)
            .invited(&[BOB], &["Finance", "Ops"])
            .allocated(BOB, "robot")
    };
    let bob = uid(&s().org, BOB);
    let (finance, ops) = (via(&s().org, "Finance"), via(&s().org, "Ops"));

    // Another direct license remains: nothing inherited comes back.
    let org = s()
        .allocated(BOB, "attended")
        .when(ADMIN, deallocate(BOB, "attended"))
        .then_events(|e| assert_eq!(kinds(e), [released(bob, "attended")]));
    assert_eq!(
        held(&org, BOB),
        [("robot".to_owned(), LicenseSource::Direct)]
    );

    // The last one goes: Finance and Ops apply again, in group-id order.
    let org = s().when(ADMIN, deallocate(BOB, "robot")).then_events(|e| {
        assert_eq!(
            kinds(e),
            [
                released(bob, "robot"),
                granted(bob, "studio", finance),
                granted(bob, "robot", ops)
            ]
        );
    });
    assert_eq!(
        held(&org, BOB),
        [("robot".to_owned(), ops), ("studio".to_owned(), finance)]
    );
    check(&org);
}

#[test]
fn deallocating_never_fails_for_lack_of_seats_or_quota() {
    // Seats: studio is full when bob's direct license goes.
    let s = given_org()
        .pool("studio", 1)
        .pool("attended", 1)
        .with_group("Finance", &[])
        .rule("Finance", "studio", None)
        .invited(&[BOB], &["Finance"])
        .allocated(BOB, "attended")
        .invited(&[CY], &["Finance"]);
    let bob = uid(&s.org, BOB);
    assert_eq!(holders(&s.org, "studio"), [uid(&s.org, CY)]);
    let org = s
        .when(ADMIN, deallocate(BOB, "attended"))
        .then_events(|e| assert_eq!(kinds(e), [released(bob, "attended")]));
    assert!(held(&org, BOB).is_empty());
    check(&org);

    // Quota: Finance's one license is taken by cy.
    let s = given_org()
        .pool("studio", 5)
        .pool("attended", 1)
        .with_group("Finance", &[])
        .rule("Finance", "studio", Some(1))
        .invited(&[BOB], &["Finance"])
        .allocated(BOB, "attended")
        .invited(&[CY], &["Finance"]);
    assert_eq!(holders(&s.org, "studio"), [uid(&s.org, CY)]);
    let org = s
        .when(ADMIN, deallocate(BOB, "attended"))
        .then_events(|e| assert_eq!(e.len(), 1));
    assert!(held(&org, BOB).is_empty());
    check(&org);
}

#[test]
fn deallocating_a_kind_a_group_gives_reuses_the_freed_seat() {
    let s = given_org()
        .pool("studio", 1)
        .with_group("Finance", &[])
        .rule("Finance", "studio", None)
        .invited(&[BOB], &["Finance"])
        .allocated(BOB, "studio");
    let bob = uid(&s.org, BOB);
    let finance = via(&s.org, "Finance");
    let org = s.when(ADMIN, deallocate(BOB, "studio")).then_events(|e| {
        assert_eq!(
            kinds(e),
            [released(bob, "studio"), granted(bob, "studio", finance)]
        );
    });
    assert_eq!(seats(&org, "studio"), (1, 1));
    check(&org);
}

// --- group license rules ----------------------------------------------------

#[test]
fn a_rule_gives_current_members_the_license_in_user_id_order_up_to_the_quota() {
    let s = given_org()
        .pool("studio", 10)
        .invited(&[BOB, CY, DAN], &[])
        .with_group("Finance", &[DAN, CY, BOB]);
    let (bob, cy) = (uid(&s.org, BOB), uid(&s.org, CY));
    let finance = via(&s.org, "Finance");
    let fid = gid(&s.org, "Finance");
    let org = s
        .when(ADMIN, set_rule("finance", "Studio", Some(2)))
        .then_events(|e| {
            assert_eq!(
                kinds(e),
                [
                    EventKind::LicenseRuleSet {
                        group: fid,
                        kind: kind("studio"),
                        quota: Some(2)
                    },
                    granted(bob, "studio", finance),
                    granted(cy, "studio", finance)
                ]
            );
        });
    let rule = org.license_rule(&group("FINANCE")).unwrap();
    assert_eq!((rule.kind.as_str(), rule.quota), ("studio", Some(2)));
    assert!(held(&org, DAN).is_empty());
    assert_eq!(
        org.license_holders(&kind("studio")),
        [(bob, finance), (cy, finance)]
    );
    assert_eq!(seats(&org, "studio"), (10, 2));
    check(&org);
}

#[test]
fn a_rule_skips_direct_holders_and_members_holding_the_kind_already() {
    let s = given_org()
        .pool("studio", 10)
        .pool("attended", 10)
        .invited(&[BOB, CY, DAN], &[])
        .with_group("Ops", &[DAN])
        .rule("Ops", "studio", None)
        .allocated(CY, "attended")
        .with_group("Finance", &[BOB, CY, DAN]);
    let bob = uid(&s.org, BOB);
    let finance = via(&s.org, "Finance");
    let ops = via(&s.org, "Ops");
    let org = s
        .when(ADMIN, set_rule("Finance", "studio", None))
        .then_events(|e| {
            assert_eq!(kinds(e)[1..], [granted(bob, "studio", finance)]);
        });
    assert_eq!(
        held(&org, CY),
        [("attended".to_owned(), LicenseSource::Direct)]
    );
    assert_eq!(held(&org, DAN), [("studio".to_owned(), ops)]);
    check(&org);
}

#[test]
fn a_rule_needs_a_real_group_a_pool_and_a_quota_of_at_least_one() {
    let s = || given_org().pool("studio", 3).with_group("Finance", &[]);
    s().when(ADMIN, set_rule("Legal", "studio", None))
        .then_refused(DomainError::UnknownGroups {
            names: groups(&["Legal"]),
        });
    s().when(ADMIN, set_rule("Everyone", "studio", None))
        .then_refused(DomainError::EveryoneImplicit);
    s().when(ADMIN, set_rule("Finance", "studio", Some(0)))
        .then_refused(DomainError::InvalidQuota);
    s().when(ADMIN, set_rule("Finance", "robot", Some(1)))
        .then_refused(DomainError::UnknownLicenseKind {
            kind: kind("robot"),
        });
    // Default groups may have rules.
    let org = s()
        .when(ADMIN, set_rule("Administrators", "studio", Some(1)))
        .then_events(|e| assert_eq!(e.len(), 2));
    assert_eq!(held(&org, ADMIN).len(), 1);
    check(&org);
}

#[test]
fn a_rule_needing_more_seats_than_are_free_is_refused_whole() {
    given_org()
        .pool("studio", 3)
        .invited(&[BOB, CY, DAN, EVE], &[])
        .allocated(EVE, "studio")
        .with_group("Finance", &[BOB, CY, DAN])
        .when(ADMIN, set_rule("Finance", "studio", None))
        .then_refused(DomainError::NoSeatsLeft {
            kind: kind("studio"),
            seats: 3,
            free: 2,
            needed: 3,
        });
    // A quota that fits is fine.
    let org = given_org()
        .pool("studio", 3)
        .invited(&[BOB, CY, DAN, EVE], &[])
        .allocated(EVE, "studio")
        .with_group("Finance", &[BOB, CY, DAN])
        .when(ADMIN, set_rule("Finance", "studio", Some(2)))
        .then_events(|e| assert_eq!(e.len(), 3));
    assert_eq!(seats(&org, "studio"), (3, 3));
    check(&org);
}

#[test]
fn replacing_a_rule_with_another_kind_moves_the_grants() {
    let s = given_org()
        .pool("studio", 2)
        .pool("robot", 2)
        .invited(&[BOB, CY], &[])
        .with_group("Finance", &[BOB, CY])
        .rule("Finance", "studio", None);
    let (bob, cy) = (uid(&s.org, BOB), uid(&s.org, CY));
    let finance = via(&s.org, "Finance");
    let fid = gid(&s.org, "Finance");
    let org = s
        .when(ADMIN, set_rule("Finance", "robot", None))
        .then_events(|e| {
            assert_eq!(
                kinds(e),
                [
                    EventKind::LicenseRuleSet {
                        group: fid,
                        kind: kind("robot"),
                        quota: None
                    },
                    released(bob, "studio"),
                    released(cy, "studio"),
                    granted(bob, "robot", finance),
                    granted(cy, "robot", finance)
                ]
            );
        });
    assert_eq!(
        usage(&org),
        [("robot".to_owned(), 2, 2), ("studio".to_owned(), 2, 0)]
    );
    check(&org);
}

#[test]
fn replacing_a_rule_is_refused_whole_when_the_new_kind_lacks_seats() {
    given_org()
        .pool("studio", 2)
        .pool("robot", 1)
        .invited(&[BOB, CY], &[])
        .with_group("Finance", &[BOB, CY])
        .rule("Finance", "studio", None)
        .when(ADMIN, set_rule("Finance", "robot", None))
        .then_refused(DomainError::NoSeatsLeft {
            kind: kind("robot"),
            seats: 1,
            free: 1,
            needed: 2,
        });
}

#[test]
fn changing_the_quota_keeps_current_holders() {
    let s = given_org()
        .pool("studio", 5)
        .invited(&[BOB, CY, DAN], &[])
        .with_group("Finance", &[BOB, CY, DAN])
        .rule("Finance", "studio", Some(3));
    let (bob, cy, dan) = (uid(&s.org, BOB), uid(&s.org, CY), uid(&s.org, DAN));
    let finance = via(&s.org, "Finance");
    let s = s.and(ADMIN, remove_members("Finance", &[BOB]));
    assert_eq!(holders(&s.org, "studio"), [cy, dan]);
    let s = s.and(ADMIN, add_members("Finance", &[BOB]));
    assert_eq!(holders(&s.org, "studio"), [bob, cy, dan]);

    // Lowering the quota releases the highest ids.
    let outcome = s.when(ADMIN, set_rule("Finance", "studio", Some(1)));
    let org = outcome.then_events(|e| {
        assert_eq!(
            kinds(e)[1..],
            [released(cy, "studio"), released(dan, "studio")]
        );
    });
    assert_eq!(org.license_holders(&kind("studio")), [(bob, finance)]);
    check(&org);

    // Raising it tops up, keeping bob.
    let s = given_org()
        .pool("studio", 5)
        .invited(&[BOB, CY, DAN], &[])
        .with_group("Finance", &[CY, DAN])
        .rule("Finance", "studio", Some(1))
        .and(ADMIN, add_members("Finance", &[BOB]));
    assert_eq!(holders(&s.org, "studio"), [cy]);
    let org = s
        .when(ADMIN, set_rule("Finance", "studio", None))
        .then_events(|e| {
            assert_eq!(
                kinds(e)[1..],
                [
                    granted(bob, "studio", finance),
                    granted(dan, "studio", finance)
                ]
            );
        });
    assert_eq!(holders(&org, "studio"), [bob, cy, dan]);
    check(&org);
}

#[test]
fn setting_the_same_rule_again_changes_nothing_unless_it_can_grant_more() {
    given_org()
        .pool("studio", 5)
        .invited(&[BOB, CY], &[])
        .with_group("Finance", &[BOB, CY])
        .rule("Finance", "studio", Some(1))
        .when(ADMIN, set_rule("finance", "STUDIO", Some(1)))
        .then_nothing_happens();

    // Bob's seat went with him; setting the rule again gives it to cy.
    let s = given_org()
        .pool("studio", 5)
        .invited(&[BOB, CY], &[])
        .with_group("Finance", &[BOB, CY])
        .rule("Finance", "studio", Some(1))
        .and(
            ADMIN,
            Command::RemoveUsers {
                emails: emails(&[BOB]),
            },
        );
    assert!(
        holders(&s.org, "studio").is_empty(),
        "not re-granted by itself"
    );
    let cy = uid(&s.org, CY);
    let finance = via(&s.org, "Finance");
    let org = s
        .when(ADMIN, set_rule("Finance", "studio", Some(1)))
        .then_events(|e| assert_eq!(kinds(e)[1..], [granted(cy, "studio", finance)]));
    check(&org);
}

#[test]
fn removing_a_rule_releases_what_it_granted_only() {
    let s = given_org()
        .pool("studio", 5)
        .invited(&[BOB, CY, DAN], &[])
        .allocated(DAN, "studio")
        .with_group("Finance", &[BOB, CY, DAN])
        .rule("Finance", "studio", None);
    let (bob, cy) = (uid(&s.org, BOB), uid(&s.org, CY));
    let fid = gid(&s.org, "Finance");
    assert_eq!(seats(&s.org, "studio"), (5, 3));
    let org = s.when(ADMIN, remove_rule("Finance")).then_events(|e| {
        assert_eq!(
            kinds(e),
            [
                released(bob, "studio"),
                released(cy, "studio"),
                EventKind::LicenseRuleRemoved { group: fid }
            ]
        );
    });
    assert!(org.license_rule(&group("Finance")).is_none());
    assert_eq!(seats(&org, "studio"), (5, 1));
    assert_eq!(
        held(&org, DAN),
        [("studio".to_owned(), LicenseSource::Direct)]
    );
    check(&org);
}

#[test]
fn removing_a_missing_rule_changes_nothing_and_an_unknown_group_is_refused() {
    given_org()
        .with_group("Finance", &[])
        .when(ADMIN, remove_rule("Finance"))
        .then_nothing_happens();
    given_org()
        .when(ADMIN, remove_rule("Legal"))
        .then_refused(DomainError::UnknownGroups {
            names: groups(&["Legal"]),
        });
}

// --- membership changes -----------------------------------------------------

#[test]
fn members_added_to_a_group_with_a_rule_receive_it_within_the_quota() {
    let s = given_org()
        .pool("studio", 5)
        .invited(&[BOB, CY, DAN, EVE], &[])
        .with_group("Finance", &[BOB])
        .rule("Finance", "studio", Some(3))
        .allocated(EVE, "studio");
    let (cy, dan) = (uid(&s.org, CY), uid(&s.org, DAN));
    let fid = gid(&s.org, "Finance");
    let finance = via(&s.org, "Finance");
    // Eve holds a direct license: she joins without a grant. The quota
    // counts bob and then the grants of this batch, in join order.
    let org = s
        .when(ADMIN, add_members("Finance", &[EVE, DAN, CY, BOB]))
        .then_events(|e| {
            assert!(
                matches!(&e[0].kind, EventKind::GroupMembersAdded { group, .. } if *group == fid)
            );
            assert_eq!(
                kinds(e)[1..],
                [
                    granted(dan, "studio", finance),
                    granted(cy, "studio", finance)
                ]
            );
        });
    assert_eq!(seats(&org, "studio"), (5, 4));
    check(&org);
}

#[test]
fn adding_members_beyond_the_free_seats_is_refused_whole() {
    given_org()
        .pool("studio", 2)
        .invited(&[BOB, CY, DAN], &[])
        .with_group("Finance", &[BOB])
        .rule("Finance", "studio", None)
        .when(ADMIN, add_members("Finance", &[CY, DAN]))
        .then_refused(DomainError::NoSeatsLeft {
            kind: kind("studio"),
            seats: 2,
            free: 1,
            needed: 2,
        });
}

#[test]
fn leaving_a_group_releases_what_its_rule_granted() {
    let s = given_org()
        .pool("studio", 5)
        .pool("robot", 5)
        .invited(&[BOB, CY], &[])
        .with_group("Finance", &[BOB, CY])
        .with_group("Ops", &[BOB])
        .rule("Finance", "studio", None)
        .rule("Ops", "robot", None)
        .allocated(CY, "robot");
    let ops = via(&s.org, "Ops");
    let org = s
        .when(ADMIN, remove_members("Finance", &[BOB, CY]))
        .then_events(|e| assert_eq!(e.len(), 1, "released implicitly"));
    assert_eq!(held(&org, BOB), [("robot".to_owned(), ops)]);
    assert_eq!(
        held(&org, CY),
        [("robot".to_owned(), LicenseSource::Direct)]
    );
    assert_eq!(
        usage(&org),
        [("robot".to_owned(), 5, 2), ("studio".to_owned(), 5, 0)]
    );
    check(&org);
}

#[test]
fn deleting_a_group_drops_its_rule_and_releases_its_grants() {
    let s = given_org()
        .pool("studio", 5)
        .invited(&[BOB, CY], &[])
        .with_group("Finance", &[BOB, CY])
        .rule("Finance", "studio", None);
    let org = s
        .when(
            ADMIN,
            Command::DeleteGroup {
                group: group("Finance"),
            },
        )
        .then_events(|e| assert_eq!(e.len(), 1));
    assert_eq!(seats(&org, "studio"), (5, 0));
    // A new group of the same name starts without a rule.
    let mut org = org;
    org.execute(
        &Command::CreateGroup {
            name: group("Finance"),
            members: emails(&[BOB]),
        },
        &ctx(ADMIN, 100),
    )
    .unwrap();
    assert!(org.license_rule(&group("Finance")).is_none());
    assert!(held(&org, BOB).is_empty());
    check(&org);
}

#[test]
fn removing_members_frees_every_seat_they_hold() {
    let s = given_org()
        .pool("studio", 5)
        .pool("attended", 5)
        .invited(&[BOB, CY, DAN], &[])
        .with_group("Finance", &[CY, DAN])
        .rule("Finance", "studio", None)
        .allocated(BOB, "attended")
        .allocated(BOB, "studio");
    assert_eq!(seats(&s.org, "studio"), (5, 3));
    let dan = uid(&s.org, DAN);
    let org = s
        .when(
            ADMIN,
            Command::RemoveUsers {
                emails: emails(&[BOB, CY]),
            },
        )
        .then_events(|e| assert_eq!(e.len(), 2));
    assert_eq!(
        usage(&org),
        [("attended".to_owned(), 5, 0), ("studio".to_owned(), 5, 1)]
    );
    assert_eq!(holders(&org, "studio"), [dan]);
    assert!(org.licenses_of(&email(BOB)).is_empty());
    check(&org);
}

#[test]
fn revoking_an_invitation_frees_the_seat() {
    let org = given_org()
        .pool("studio", 1)
        .invited(&[BOB], &[])
        .allocated(BOB, "studio")
        .when(ADMIN, Command::RevokeInvitation { user: email(BOB) })
        .then_events(|e| assert_eq!(e.len(), 1));
    assert_eq!(seats(&org, "studio"), (1, 0));
    check(&org);
}

// --- invitations ------------------------------------------------------------

#[test]
fn invitees_into_a_group_with_a_rule_receive_the_license() {
    let s = given_org()
        .pool("studio", 5)
        .with_group("Finance", &[])
        .rule("Finance", "studio", None);
    let finance = via(&s.org, "Finance");
    let org = s
        .when(ADMIN, invite(&[BOB, CY], &["Finance", "Everyone"]))
        .then_events(|e| {
            assert!(matches!(e[0].kind, EventKind::UserInvited { .. }));
            assert!(matches!(e[1].kind, EventKind::UserInvited { .. }));
            assert!(e[2..].iter().all(
                |e| matches!(e.kind, EventKind::LicenseGranted { source, .. } if source == finance)
            ));
            assert_eq!(e.len(), 4);
        });
    assert_eq!(held(&org, BOB), [("studio".to_owned(), finance)]);
    assert_eq!(held(&org, CY), [("studio".to_owned(), finance)]);
    assert_eq!(seats(&org, "studio"), (5, 2));
    check(&org);
}

#[test]
fn invitees_receive_each_kind_once_and_within_the_quota() {
    let s = given_org()
        .pool("studio", 5)
        .pool("robot", 5)
        .with_group("Finance", &[])
        .with_group("Ops", &[])
        .with_group("Lab", &[])
        .rule("Finance", "studio", Some(2))
        .rule("Ops", "studio", None)
        .rule("Lab", "robot", Some(1));
    let (finance, ops, lab) = (
        via(&s.org, "Finance"),
        via(&s.org, "Ops"),
        via(&s.org, "Lab"),
    );
    let org = s
        .when(ADMIN, invite(&[BOB, CY, DAN], &["Lab", "Ops", "Finance"]))
        .then_events(|e| assert_eq!(e.len(), 3 + 4));
    // Finance (lowest id) gives studio to bob and cy; dan gets it from Ops.
    assert_eq!(
        held(&org, BOB),
        [("robot".to_owned(), lab), ("studio".to_owned(), finance)]
    );
    assert_eq!(held(&org, CY), [("studio".to_owned(), finance)]);
    assert_eq!(held(&org, DAN), [("studio".to_owned(), ops)]);
    check(&org);
}

#[test]
fn an_invitation_needing_more_seats_than_are_free_is_refused_whole() {
    given_org()
        .pool("studio", 2)
        .with_group("Finance", &[])
        .rule("Finance", "studio", None)
        .when(ADMIN, invite(&[BOB, CY, DAN], &["Finance"]))
        .then_refused(DomainError::NoSeatsLeft {
            kind: kind("studio"),
            seats: 2,
            free: 2,
            needed: 3,
        });
}

#[test]
fn invitations_into_groups_without_rules_need_no_seats() {
    let org = given_org()
        .pool("studio", 0)
        .with_group("Finance", &[])
        .with_group("Ops", &[])
        .rule("Ops", "studio", Some(1))
        .when(ADMIN, invite(&[BOB, CY], &["Finance"]))
        .then_events(|e| assert_eq!(e.len(), 2));
    check(&org);
}

#[test]
fn a_bulk_invitation_needing_more_seats_than_are_free_is_refused_whole() {
    let s = given_org()
        .pool("studio", 2)
        .with_group("Finance", &[])
        .rule("Finance", "studio", None);
    let csv = b"Email,Group membership\nbob@example.com,Finance\ncy@example.com,Finance\ndan@example.com,Finance\n";
    let file = read_invite_csv(csv, &CsvOptions::default()).unwrap();
    let err = s
        .org
        .decide_bulk_invite(&file, &ctx(ADMIN, 100))
        .unwrap_err();
    assert_eq!(
        err,
        DomainError::NoSeatsLeft {
            kind: kind("studio"),
            seats: 2,
            free: 2,
            needed: 3,
        }
    );

    // Two rows fit.
    let mut s = s;
    let csv = b"Email,Group membership\nbob@example.com,Finance\ncy@example.com,\n";
    let file = read_invite_csv(csv, &CsvOptions::default()).unwrap();
    let (events, _) = s
        .org
        .decide_bulk_invite(&file, &ctx(ADMIN, 100))
        .unwrap()
        .into_parts();
    for e in &events {
        s.org.apply(e);
    }
    s.history.extend(events);
    assert_eq!(Organization::replay(&s.history), s.org);
    assert_eq!(seats(&s.org, "studio"), (2, 1));
    check(&s.org);
}

// --- state ------------------------------------------------------------------

#[test]
fn snapshots_and_replay_rebuild_the_license_state() {
    let s = given_org()
        .pool("studio", 4)
        .pool("Robot", 3)
        .pool("attended", 2)
        .with_group("Finance", &[])
        .with_group("Ops", &[])
        .rule("Finance", "studio", Some(2))
        .rule("Ops", "robot", None)
        .invited(&[BOB, CY, DAN], &["Finance", "Ops"])
        .allocated(CY, "attended")
        .invited(&[EVE], &["Finance"])
        .and(ADMIN, remove_members("Ops", &[DAN]))
        .and(ADMIN, deallocate(CY, "attended"))
        .and(
            ADMIN,
            Command::RemoveUsers {
                emails: emails(&[BOB]),
            },
        )
        .rule("Finance", "studio", None);
    assert_eq!(Organization::replay(&s.history), s.org);
    check(&s.org);
    assert!(!s.org.license_holders(&kind("studio")).is_empty());

    // Events round-trip through JSON too.
    let json: Vec<String> = s
        .history
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let back: Vec<Event> = json
        .iter()
        .map(|j| serde_json::from_str(j).unwrap())
        .collect();
    assert_eq!(Organization::replay(&back), s.org);

    // A restored organization keeps deciding the same way.
    let mut restored = Organization::from_snapshot(&s.org.snapshot()).unwrap();
    let mut org = s.org;
    let command = invite(&["fay@example.com"], &["Finance", "Ops"]);
    let a = org.execute(&command, &ctx(ADMIN, 200)).unwrap();
    let b = restored.execute(&command, &ctx(ADMIN, 200)).unwrap();
    assert_eq!(a, b);
    assert_eq!(org, restored);
}

// --- random sequences keep every invariant ----------------------------------

mod random {
    use super::*;
    use proptest::prelude::*;

    const USERS: [&str; 5] = [
        "bob@example.com",
        "cy@example.com",
        "dan@example.com",
        "eve@example.com",
        "fay@example.com",
    ];
    const GROUPS: [&str; 3] = ["Finance", "Ops", "Administrators"];
    const KINDS: [&str; 2] = ["studio", "robot"];

    fn users() -> impl Strategy<Value = Vec<&'static str>> {
        proptest::sample::subsequence(USERS.to_vec(), 1..=2)
    }

    fn command() -> impl Strategy<Value = Command> {
        let user = proptest::sample::select(USERS.to_vec());
        let grp = proptest::sample::select(GROUPS.to_vec());
        let k = proptest::sample::select(KINDS.to_vec());
        prop_oneof![
            2 => (k.clone(), 0u32..5).prop_map(|(k, n)| set_pool(k, n)),
            1 => k.clone().prop_map(remove_pool),
            4 => (grp.clone(), k.clone(), proptest::option::of(0u32..3))
                .prop_map(|(g, k, q)| set_rule(g, k, q)),
            1 => grp.clone().prop_map(remove_rule),
            4 => (user.clone(), k.clone()).prop_map(|(u, k)| allocate(u, k)),
            3 => (user.clone(), k.clone()).prop_map(|(u, k)| deallocate(u, k)),
            2 => (users(), proptest::sample::subsequence(GROUPS.to_vec(), 0..=2))
                .prop_map(|(u, g)| invite(&u, &g)),
            1 => user.clone().prop_map(|u| Command::RemoveUsers { emails: emails(&[u]) }),
            3 => (grp.clone(), user.clone()).prop_map(|(g, u)| add_members(g, &[u])),
            2 => (grp.clone(), user).prop_map(|(g, u)| remove_members(g, &[u])),
            1 => grp.clone().prop_map(|g| Command::DeleteGroup { group: group(g) }),
            1 => grp.prop_map(|g| Command::CreateGroup {
                name: group(g),
                members: Vec::new()
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn license_invariants_hold_after_any_commands(
            commands in proptest::collection::vec(command(), 1..40)
        ) {
            let mut s = given_org()
                .with_group("Finance", &[])
                .with_group("Ops", &[])
                .pool("studio", 3)
                .pool("robot", 2)
                .invited(&USERS[..3], &["Finance"]);
            for (i, command) in commands.iter().enumerate() {
                let before = s.org.clone();
                match s.org.execute(command, &ctx(ADMIN, 10 + i as i64)) {
                    Ok(events) => s.history.extend(events),
                    Err(_) => prop_assert_eq!(&s.org, &before),
                }
                check(&s.org);
            }
            prop_assert_eq!(Organization::replay(&s.history), s.org);
        }
    }
}
