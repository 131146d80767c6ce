//! Given/when/then tests for every rule of the Organization aggregate.
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
    Command, DefaultGroup, DomainError, EventKind, GroupKind, MemberStatus, Organization,
};

fn remove(list: &[&str]) -> Command {
    Command::RemoveUsers {
        emails: emails(list),
    }
}

fn is_in(org: &Organization, who: &str, group_name: &str) -> bool {
    let g = org.group(&group(group_name)).unwrap();
    org.member(&email(who)).unwrap().is_in(g.id())
}

// --- creating ---------------------------------------------------------------

#[test]
fn creating_makes_the_creator_an_active_administrator_with_default_groups() {
    Scenario::empty()
        .when(ADMIN, Command::CreateOrganization { name: "  Example Corp ".into() })
        .then_events(|events| {
            assert_eq!(events.len(), 1);
            assert!(matches!(&events[0].kind, EventKind::OrganizationCreated { name, .. } if name == "Example Corp"));
        });
    let org = given_org().org;
    let ada = org.member(&email(ADMIN)).unwrap();
    assert_eq!(ada.status(), MemberStatus::Active { last_active: at(1) });
    assert!(org.is_active_administrator(ada.id()));
    let names: Vec<&str> = org.groups().map(|g| g.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "Administrators",
            "Automation Users",
            "Automation Developers",
            "Citizen Developers",
            "Automation Express",
            "Everyone"
        ]
    );
    assert!(
        org.groups()
            .all(|g| matches!(g.kind(), GroupKind::Default(_)))
    );
}

#[test]
fn creating_twice_is_refused() {
    given_org()
        .when(
            ADMIN,
            Command::CreateOrganization {
                name: "Again".into(),
            },
        )
        .then_refused(DomainError::AlreadyCreated);
}

#[test]
fn an_organization_name_must_be_sensible() {
    for bad in ["", "   ", "a\u{7}b", &"x".repeat(101)] {
        Scenario::empty()
            .when(ADMIN, Command::CreateOrganization { name: bad.into() })
            .then_refused(DomainError::InvalidOrganizationName { name: bad.into() });
    }
}

#[test]
fn commands_before_creation_are_refused_as_an_outsider_is() {
    // Nothing tells a missing organization from one the actor does not
    // administer (see tests/existence_oracle.rs).
    Scenario::empty()
        .when(ADMIN, invite(&["bob@example.com"], &[]))
        .then_refused(DomainError::Forbidden {
            actor: email(ADMIN),
        });
}

// --- inviting ---------------------------------------------------------------

#[test]
fn invitees_are_pending_members_in_the_chosen_groups() {
    let org = given_org()
        .when(ADMIN, invite(&["bob@example.com", "Cy@Example.com"], &["automation users", "Everyone"]))
        .then_events(|events| {
            assert_eq!(events.len(), 2);
            assert!(events.iter().all(|e| matches!(&e.kind, EventKind::UserInvited { groups, .. } if **groups == [DefaultGroup::AutomationUsers.id()])));
        });
    let cy = org.member(&email("cy@example.com")).unwrap();
    assert_eq!(cy.email().as_str(), "Cy@Example.com", "spelling kept");
    assert_eq!(cy.status(), MemberStatus::Pending);
    assert!(is_in(&org, "cy@example.com", "Automation Users"));
    assert_eq!(cy.group_ids().count(), 1, "Everyone is never listed");
    assert_eq!(org.pending_count(), 2);
}

#[test]
fn twenty_invitees_and_twenty_groups_are_allowed() {
    let addresses: Vec<String> = (0..20).map(|i| format!("u{i}@example.com")).collect();
    let refs: Vec<&str> = addresses.iter().map(String::as_str).collect();
    let names: Vec<String> = (0..20).map(|i| format!("g{i}")).collect();
    let mut s = given_org();
    for n in &names {
        s = s.with_group(n, &[]);
    }
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let org = s
        .when(ADMIN, invite(&refs, &name_refs))
        .then_events(|e| assert_eq!(e.len(), 20));
    assert_eq!(org.member_count(), 21);
}

#[test]
fn more_than_twenty_invitees_are_refused() {
    let addresses: Vec<String> = (0..21).map(|i| format!("u{i}@example.com")).collect();
    let refs: Vec<&str> = addresses.iter().map(String::as_str).collect();
    given_org()
        .when(ADMIN, invite(&refs, &[]))
        .then_refused(DomainError::TooManyInvitees { given: 21 });
}

#[test]
fn more_than_twenty_groups_are_refused() {
    let names: Vec<String> = (0..21).map(|i| format!("g{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    given_org()
        .when(ADMIN, invite(&["bob@example.com"], &refs))
        .then_refused(DomainError::TooManyGroups { given: 21 });
}

#[test]
fn an_empty_invitation_is_refused() {
    given_org()
        .when(ADMIN, invite(&[], &[]))
        .then_refused(DomainError::NoInvitees);
}

#[test]
fn unknown_groups_refuse_the_whole_invitation_naming_each() {
    given_org()
        .when(
            ADMIN,
            invite(
                &["bob@example.com"],
                &["Finance", "Administrators", "Legal", "finance"],
            ),
        )
        .then_refused(DomainError::UnknownGroups {
            names: groups(&["Finance", "Legal"]),
        });
}

#[test]
fn duplicates_within_the_call_refuse_it_naming_each_once() {
    given_org()
        .when(
            ADMIN,
            invite(
                &[
                    "bob@example.com",
                    "BOB@example.com",
                    "cy@example.com",
                    "bob@example.com",
                ],
                &[],
            ),
        )
        .then_refused(DomainError::DuplicateInvitees {
            emails: emails(&["BOB@example.com"]),
        });
}

#[test]
fn existing_members_refuse_the_whole_invitation_naming_each() {
    given_org()
        .invited(&["bob@example.com"], &[])
        .when(
            ADMIN,
            invite(
                &["new@example.com", "Bob@Example.com", "ADA@example.com"],
                &[],
            ),
        )
        .then_refused(DomainError::AlreadyMembers {
            emails: emails(&["bob@example.com", "ada@example.com"]),
        });
}

#[test]
fn a_removed_user_can_be_invited_again_with_a_new_id() {
    let s = given_org().invited(&["bob@example.com"], &[]);
    let old_id = s.org.member(&email("bob@example.com")).unwrap().id();
    let org = s
        .and(ADMIN, remove(&["bob@example.com"]))
        .when(ADMIN, invite(&["bob@example.com"], &[]))
        .then_events(|_| {});
    assert_ne!(org.member(&email("bob@example.com")).unwrap().id(), old_id);
}

// --- accepting and signing in -----------------------------------------------

#[test]
fn accepting_makes_a_pending_user_active_now() {
    let org = given_org()
        .invited(&["bob@example.com"], &[])
        .when("Bob@example.com", Command::AcceptInvitation)
        .then_events(|e| assert!(matches!(e[0].kind, EventKind::InvitationAccepted { .. })));
    assert_eq!(
        org.member(&email("bob@example.com")).unwrap().status(),
        MemberStatus::Active { last_active: at(3) }
    );
    assert_eq!(org.pending_count(), 0);
}

#[test]
fn accepting_without_an_invitation_or_twice_is_refused() {
    given_org()
        .when("eve@example.com", Command::AcceptInvitation)
        .then_refused(DomainError::NotInvited {
            email: email("eve@example.com"),
        });
    given_org()
        .invited(&["bob@example.com"], &[])
        .accepted("bob@example.com")
        .when("bob@example.com", Command::AcceptInvitation)
        .then_refused(DomainError::AlreadyAccepted {
            email: email("bob@example.com"),
        });
}

#[test]
fn signing_in_moves_last_active_forward_never_back() {
    let s = given_org()
        .invited(&["bob@example.com"], &[])
        .accepted("bob@example.com");
    let org = s
        .when("bob@example.com", Command::RecordSignIn)
        .then_events(|e| assert_eq!(e.len(), 1));
    assert_eq!(
        org.member(&email("bob@example.com"))
            .unwrap()
            .status()
            .last_active(),
        Some(at(4))
    );

    // A sign-in stamped earlier than Last active changes nothing.
    let mut org = org;
    let before = org.clone();
    let stale = org
        .execute(&Command::RecordSignIn, &ctx("bob@example.com", 2))
        .unwrap();
    assert!(stale.is_empty());
    assert_eq!(org, before);
}

#[test]
fn signing_in_needs_an_accepted_membership() {
    given_org()
        .invited(&["bob@example.com"], &[])
        .when("bob@example.com", Command::RecordSignIn)
        .then_refused(DomainError::InvitationNotAccepted {
            email: email("bob@example.com"),
        });
    given_org()
        .when("eve@example.com", Command::RecordSignIn)
        .then_refused(DomainError::NotAMember {
            email: email("eve@example.com"),
        });
}

// --- removing ---------------------------------------------------------------

#[test]
fn removing_takes_users_out_of_the_organization_and_every_group() {
    let org = given_org()
        .invited(
            &["bob@example.com", "cy@example.com"],
            &["Automation Users"],
        )
        .with_group("Finance", &["bob@example.com", "cy@example.com"])
        .when(ADMIN, remove(&["bob@example.com", "BOB@example.com"]))
        .then_events(|e| assert_eq!(e.len(), 1, "a repeated name counts once"));
    assert!(org.member(&email("bob@example.com")).is_none());
    for g in org.groups() {
        assert_eq!(
            g.members()
                .filter(|id| org.member_by_id(*id).is_none())
                .count(),
            0
        );
    }
    let finance = org.group(&group("finance")).unwrap();
    assert_eq!(finance.members().count(), 1);
}

#[test]
fn you_cannot_remove_yourself() {
    given_org()
        .invited(&["bob@example.com"], &[])
        .when(ADMIN, remove(&["bob@example.com", "Ada@Example.com"]))
        .then_refused(DomainError::CannotRemoveSelf);
}

#[test]
fn removing_unknown_users_is_refused_naming_each() {
    given_org()
        .invited(&["bob@example.com"], &[])
        .when(
            ADMIN,
            remove(&["bob@example.com", "x@example.com", "y@example.com"]),
        )
        .then_refused(DomainError::UnknownUsers {
            emails: emails(&["x@example.com", "y@example.com"]),
        });
    given_org()
        .when(ADMIN, remove(&[]))
        .then_refused(DomainError::NoUsers);
}

#[test]
fn an_administrator_can_remove_another_administrator() {
    let org = given_org()
        .invited(&["bob@example.com"], &["Administrators"])
        .accepted("bob@example.com")
        .when("bob@example.com", remove(&[ADMIN]))
        .then_events(|_| {});
    assert_eq!(org.active_administrator_count(), 1);
}

// --- permissions --------------------------------------------------------------

#[test]
fn only_active_administrators_run_administrative_commands() {
    let s = || {
        given_org()
            .invited(&["bob@example.com"], &[])
            .accepted("bob@example.com")
            .invited(&["pending.admin@example.com"], &["Administrators"])
            .with_group("Finance", &[])
    };
    let commands = [
        invite(&["new@example.com"], &[]),
        remove(&["ada@example.com"]),
        Command::CreateGroup {
            name: group("Legal"),
            members: vec![],
        },
        Command::RenameGroup {
            group: group("Finance"),
            new_name: group("Money"),
        },
        Command::DeleteGroup {
            group: group("Finance"),
        },
        Command::AddGroupMembers {
            group: group("Finance"),
            members: emails(&["bob@example.com"]),
        },
        Command::RemoveGroupMembers {
            group: group("Finance"),
            members: emails(&["bob@example.com"]),
        },
    ];
    for actor in [
        "bob@example.com",
        "pending.admin@example.com",
        "stranger@example.com",
    ] {
        for command in &commands {
            s().when(actor, command.clone())
                .then_refused(DomainError::Forbidden {
                    actor: email(actor),
                });
        }
    }
}

// --- custom groups ------------------------------------------------------------

#[test]
fn creating_a_group_with_members_of_the_organization() {
    let org = given_org()
        .invited(&["bob@example.com"], &[])
        .when(
            ADMIN,
            Command::CreateGroup {
                name: group("Finance"),
                members: emails(&["BOB@example.com", ADMIN]),
            },
        )
        .then_events(|e| {
            assert!(
                matches!(&e[0].kind, EventKind::GroupCreated { members, .. } if members.len() == 2)
            )
        });
    let finance = org.group(&group("FINANCE")).unwrap();
    assert_eq!(finance.kind(), GroupKind::Custom);
    assert_eq!(finance.name().as_str(), "Finance");
    assert!(is_in(&org, "bob@example.com", "finance"));
}

#[test]
fn group_members_must_already_be_in_the_organization() {
    given_org()
        .when(
            ADMIN,
            Command::CreateGroup {
                name: group("Finance"),
                members: emails(&["out@example.com"]),
            },
        )
        .then_refused(DomainError::UnknownUsers {
            emails: emails(&["out@example.com"]),
        });
}

#[test]
fn group_names_are_unique_ignoring_case_including_default_names() {
    given_org()
        .with_group("Finance", &[])
        .when(
            ADMIN,
            Command::CreateGroup {
                name: group("FINANCE"),
                members: vec![],
            },
        )
        .then_refused(DomainError::GroupNameTaken {
            name: group("Finance"),
        });
    given_org()
        .when(
            ADMIN,
            Command::CreateGroup {
                name: group("everyone"),
                members: vec![],
            },
        )
        .then_refused(DomainError::GroupNameTaken {
            name: group("Everyone"),
        });
}

#[test]
fn renaming_a_custom_group() {
    let org = given_org()
        .with_group("Finance", &[])
        .when(
            ADMIN,
            Command::RenameGroup {
                group: group("finance"),
                new_name: group("Money"),
            },
        )
        .then_events(|e| assert_eq!(e.len(), 1));
    assert!(org.group(&group("Finance")).is_none());
    assert!(org.group(&group("money")).is_some());
}

#[test]
fn renaming_to_a_different_case_is_allowed_and_to_the_same_spelling_is_a_no_op() {
    let org = given_org()
        .with_group("Finance", &[])
        .when(
            ADMIN,
            Command::RenameGroup {
                group: group("finance"),
                new_name: group("FINANCE"),
            },
        )
        .then_events(|e| assert_eq!(e.len(), 1));
    assert_eq!(
        org.group(&group("finance")).unwrap().name().as_str(),
        "FINANCE"
    );
    given_org()
        .with_group("Finance", &[])
        .when(
            ADMIN,
            Command::RenameGroup {
                group: group("finance"),
                new_name: group("Finance"),
            },
        )
        .then_nothing_happens();
}

#[test]
fn renaming_onto_another_groups_name_is_refused() {
    given_org()
        .with_group("Finance", &[])
        .when(
            ADMIN,
            Command::RenameGroup {
                group: group("Finance"),
                new_name: group("citizen developers"),
            },
        )
        .then_refused(DomainError::GroupNameTaken {
            name: group("Citizen Developers"),
        });
}

#[test]
fn default_groups_cannot_be_renamed_or_deleted() {
    for name in DefaultGroup::ALL.map(DefaultGroup::name) {
        given_org()
            .when(
                ADMIN,
                Command::RenameGroup {
                    group: group(name),
                    new_name: group("Other"),
                },
            )
            .then_refused(DomainError::DefaultGroupImmutable { name: group(name) });
        given_org()
            .when(
                ADMIN,
                Command::DeleteGroup {
                    group: group(&name.to_uppercase()),
                },
            )
            .then_refused(DomainError::DefaultGroupImmutable { name: group(name) });
    }
}

#[test]
fn deleting_a_custom_group_keeps_its_members_in_the_organization() {
    let org = given_org()
        .invited(&["bob@example.com"], &[])
        .with_group("Finance", &["bob@example.com"])
        .when(
            ADMIN,
            Command::DeleteGroup {
                group: group("Finance"),
            },
        )
        .then_events(|e| assert_eq!(e.len(), 1));
    assert!(org.group(&group("Finance")).is_none());
    let bob = org.member(&email("bob@example.com")).unwrap();
    assert_eq!(bob.group_ids().count(), 0);
}

#[test]
fn unknown_groups_are_refused_by_name() {
    given_org()
        .when(
            ADMIN,
            Command::DeleteGroup {
                group: group("Nope"),
            },
        )
        .then_refused(DomainError::UnknownGroups {
            names: groups(&["Nope"]),
        });
}

#[test]
fn adding_and_removing_members() {
    let s = given_org()
        .invited(&["bob@example.com", "cy@example.com"], &[])
        .with_group("Finance", &["cy@example.com"]);
    let org = s
        .when(ADMIN, Command::AddGroupMembers { group: group("finance"), members: emails(&["bob@example.com", "cy@example.com"]) })
        .then_events(|e| {
            assert!(matches!(&e[0].kind, EventKind::GroupMembersAdded { users, .. } if users.len() == 1), "cy was already in");
        });
    assert!(is_in(&org, "bob@example.com", "Finance"));

    given_org()
        .invited(&["bob@example.com"], &[])
        .with_group("Finance", &["bob@example.com"])
        .when(ADMIN, Command::RemoveGroupMembers { group: group("Finance"), members: emails(&["bob@example.com", ADMIN]) })
        .then_events(|e| assert!(matches!(&e[0].kind, EventKind::GroupMembersRemoved { users, .. } if users.len() == 1)));
}

#[test]
fn adding_members_already_in_the_group_changes_nothing() {
    given_org()
        .invited(&["bob@example.com"], &[])
        .with_group("Finance", &["bob@example.com"])
        .when(
            ADMIN,
            Command::AddGroupMembers {
                group: group("Finance"),
                members: emails(&["bob@example.com"]),
            },
        )
        .then_nothing_happens();
}

#[test]
fn group_members_must_be_members_of_the_organization() {
    given_org()
        .with_group("Finance", &[])
        .when(
            ADMIN,
            Command::AddGroupMembers {
                group: group("Finance"),
                members: emails(&["out@example.com"]),
            },
        )
        .then_refused(DomainError::UnknownUsers {
            emails: emails(&["out@example.com"]),
        });
}

#[test]
fn everyone_cannot_be_edited() {
    given_org()
        .invited(&["bob@example.com"], &[])
        .when(
            ADMIN,
            Command::AddGroupMembers {
                group: group("everyone"),
                members: emails(&["bob@example.com"]),
            },
        )
        .then_refused(DomainError::EveryoneImplicit);
    given_org()
        .when(
            ADMIN,
            Command::RemoveGroupMembers {
                group: group("Everyone"),
                members: emails(&[ADMIN]),
            },
        )
        .then_refused(DomainError::EveryoneImplicit);
}

#[test]
fn the_last_active_administrator_cannot_leave_administrators() {
    // A pending administrator does not count.
    given_org()
        .invited(&["bob@example.com"], &["Administrators"])
        .when(
            ADMIN,
            Command::RemoveGroupMembers {
                group: group("Administrators"),
                members: emails(&[ADMIN]),
            },
        )
        .then_refused(DomainError::LastAdministrator);
    let org = given_org()
        .invited(&["bob@example.com"], &["Administrators"])
        .accepted("bob@example.com")
        .when(
            ADMIN,
            Command::RemoveGroupMembers {
                group: group("Administrators"),
                members: emails(&[ADMIN]),
            },
        )
        .then_events(|_| {});
    assert_eq!(org.active_administrator_count(), 1);
    assert!(!org.is_active_administrator(org.member(&email(ADMIN)).unwrap().id()));
}

#[test]
fn a_new_administrator_gains_the_right_to_manage() {
    let org = given_org()
        .invited(&["bob@example.com"], &[])
        .accepted("bob@example.com")
        .and(
            ADMIN,
            Command::AddGroupMembers {
                group: group("Administrators"),
                members: emails(&["bob@example.com"]),
            },
        )
        .when("bob@example.com", invite(&["cy@example.com"], &[]))
        .then_events(|e| assert_eq!(e[0].actor.get(), 2));
    assert_eq!(org.member_count(), 3);
}

#[test]
fn error_messages_say_what_to_fix() {
    let cases = [
        (
            DomainError::CannotRemoveSelf,
            "cannot remove your own user; ask another administrator to remove you",
        ),
        (
            DomainError::AlreadyMembers {
                emails: emails(&["a@x.com", "b@x.com"]),
            },
            "already members of this organization: a@x.com, b@x.com; remove them from the list",
        ),
        (
            DomainError::TooManyInvitees { given: 25 },
            "25 email addresses were given; invite at most 20 at a time, or upload a CSV file of up to 1000",
        ),
    ];
    for (error, message) in cases {
        assert_eq!(error.to_string(), message);
    }
    assert_eq!(
        DomainError::Forbidden {
            actor: email("b@x.com")
        }
        .code(),
        "forbidden"
    );
    assert_eq!(DomainError::LastAdministrator.code(), "last_administrator");
}
