//! Given/when/then tests for services and roles: group-based and user-based
//! access, organization-level roles, and what removals do to assignments.
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
    Assignee, Command, DefaultGroup, DomainError, Event, EventKind, GroupId, Holder, Organization,
    OrganizationRole, RoleName, RoleSource, ServiceName,
};

const BOB: &str = "bob@example.com";
const CY: &str = "cy@example.com";

fn role(s: &str) -> RoleName {
    RoleName::parse(s).unwrap()
}

fn roles(list: &[&str]) -> Vec<RoleName> {
    list.iter().map(|s| role(s)).collect()
}

fn svc(s: &str) -> ServiceName {
    ServiceName::parse(s).unwrap()
}

fn add_service(name: &str, list: &[&str], admin: &str, defaults: &[(&str, &str)]) -> Command {
    Command::AddService {
        name: svc(name),
        roles: roles(list),
        admin_role: role(admin),
        default_roles: defaults.iter().map(|(g, r)| (group(g), role(r))).collect(),
    }
}

/// CRM: Owner for Administrators, Editor for Automation Developers, Viewer
/// for Automation Users (listed out of group order on purpose).
fn add_crm() -> Command {
    add_service(
        "CRM",
        &["Owner", "Editor", "Viewer", "Robot"],
        "Owner",
        &[
            ("automation developers", "Editor"),
            ("Automation Users", "viewer"),
        ],
    )
}

fn assign(service: &str, to: Assignee, r: &str) -> Command {
    Command::AssignRole {
        service: svc(service),
        to,
        role: role(r),
    }
}

fn revoke(service: &str, from: Assignee, r: &str) -> Command {
    Command::RevokeRole {
        service: svc(service),
        from,
        role: role(r),
    }
}

fn to_group(name: &str) -> Assignee {
    Assignee::Group(group(name))
}

fn to_user(who: &str) -> Assignee {
    Assignee::User(email(who))
}

fn gid(org: &Organization, name: &str) -> GroupId {
    org.group(&group(name)).unwrap().id()
}

fn uid(org: &Organization, who: &str) -> org_accounts::UserId {
    org.member(&email(who)).unwrap().id()
}

/// The roles a holder has in a service, as strings.
fn held(org: &Organization, service: &str, holder: Holder) -> Vec<String> {
    org.service(&svc(service))
        .unwrap()
        .roles_of(holder)
        .map(|r| r.as_str().to_owned())
        .collect()
}

/// Every holder a service references, in order.
fn holders(org: &Organization, service: &str) -> Vec<Holder> {
    org.service(&svc(service))
        .unwrap()
        .assignments()
        .map(|(h, _)| h)
        .collect()
}

/// Effective roles as (role, source) pairs.
fn effective(org: &Organization, service: &str, who: &str) -> Vec<(String, RoleSource)> {
    org.effective_roles(&svc(service), &email(who))
        .unwrap()
        .into_iter()
        .map(|g| (g.role.as_str().to_owned(), g.source))
        .collect()
}

fn pairs(list: &[(&str, RoleSource)]) -> Vec<(String, RoleSource)> {
    list.iter().map(|(r, s)| ((*r).to_owned(), *s)).collect()
}

fn invalid(reason: &str) -> DomainError {
    DomainError::InvalidService {
        reason: reason.to_owned(),
    }
}

fn g(d: DefaultGroup) -> GroupId {
    d.id()
}

fn by_group(d: DefaultGroup) -> RoleSource {
    RoleSource::Group(d.id())
}

fn with_crm() -> Scenario {
    given_org().and(ADMIN, add_crm())
}

// --- adding a service -------------------------------------------------------

#[test]
fn adding_a_service_records_its_roles_and_default_roles_in_group_order() {
    let org = given_org().when(ADMIN, add_crm()).then_events(|events| {
        assert_eq!(events.len(), 1);
        let EventKind::ServiceAdded {
            service,
            name,
            roles,
            admin_role,
            default_roles,
        } = &events[0].kind
        else {
            panic!("expected ServiceAdded, got {:?}", events[0].kind);
        };
        assert_eq!(service.get(), 1, "service ids start at 1");
        assert_eq!(name.as_str(), "CRM");
        let names: Vec<&str> = roles.iter().map(RoleName::as_str).collect();
        assert_eq!(names, ["Owner", "Editor", "Viewer", "Robot"]);
        assert_eq!(admin_role.as_str(), "Owner");
        let defaults: Vec<(GroupId, &str)> = default_roles
            .iter()
            .map(|(g, r)| (*g, r.as_str()))
            .collect();
        assert_eq!(
            defaults,
            [
                (g(DefaultGroup::AutomationUsers), "Viewer"),
                (g(DefaultGroup::AutomationDevelopers), "Editor"),
            ],
            "in group id order, spelled as the service defines the role"
        );
    });
    let crm = org.service(&svc("crm")).expect("found ignoring case");
    assert_eq!(crm.id().get(), 1);
    assert_eq!(crm.admin_role().as_str(), "Owner");
    let defined: Vec<&str> = crm.roles().map(RoleName::as_str).collect();
    assert_eq!(defined, ["Editor", "Owner", "Robot", "Viewer"]);
    assert_eq!(org.services().count(), 1);
}

#[test]
fn default_groups_are_referenced_automatically_but_not_everyone_or_custom_groups() {
    let org = given_org()
        .with_group("Finance", &[])
        .when(ADMIN, add_crm())
        .then_events(|_| {});
    assert_eq!(
        holders(&org, "CRM"),
        [
            Holder::Group(g(DefaultGroup::Administrators)),
            Holder::Group(g(DefaultGroup::AutomationUsers)),
            Holder::Group(g(DefaultGroup::AutomationDevelopers)),
        ],
        "Citizen Developers and Automation Express have no default role here; \
         Everyone and custom groups are never referenced automatically"
    );
    assert_eq!(
        held(&org, "CRM", Holder::Group(g(DefaultGroup::Administrators))),
        ["Owner"]
    );
    assert_eq!(
        held(&org, "CRM", Holder::Group(g(DefaultGroup::AutomationUsers))),
        ["Viewer"]
    );
    assert_eq!(
        held(
            &org,
            "CRM",
            Holder::Group(g(DefaultGroup::AutomationDevelopers))
        ),
        ["Editor"]
    );
    assert!(held(&org, "CRM", Holder::Group(g(DefaultGroup::Everyone))).is_empty());
    assert!(held(&org, "CRM", Holder::Group(gid(&org, "Finance"))).is_empty());
    let crm = org.service(&svc("CRM")).unwrap();
    assert_eq!(
        crm.default_role(g(DefaultGroup::Administrators))
            .map(RoleName::as_str),
        Some("Owner")
    );
    assert_eq!(
        crm.default_role(g(DefaultGroup::AutomationUsers))
            .map(RoleName::as_str),
        Some("Viewer")
    );
    assert_eq!(crm.default_role(g(DefaultGroup::Everyone)), None);
    assert_eq!(crm.default_role(g(DefaultGroup::CitizenDevelopers)), None);
}

#[test]
fn every_default_group_but_administrators_and_everyone_can_have_a_default_role() {
    let org = given_org()
        .when(
            ADMIN,
            add_service(
                "ERP",
                &["Admin", "User"],
                "Admin",
                &[
                    ("Automation Express", "User"),
                    ("Citizen Developers", "User"),
                    ("Automation Developers", "User"),
                    ("Automation Users", "User"),
                ],
            ),
        )
        .then_events(|_| {});
    let expected: Vec<Holder> = DefaultGroup::ALL
        .into_iter()
        .filter(|d| *d != DefaultGroup::Everyone)
        .map(|d| Holder::Group(d.id()))
        .collect();
    assert_eq!(holders(&org, "ERP"), expected);
}

#[test]
fn repeated_roles_count_once_and_keep_their_first_spelling() {
    let org = given_org()
        .when(
            ADMIN,
            add_service(
                "Wiki",
                &["Reader", "READER", "Writer", "reader"],
                "writer",
                &[],
            ),
        )
        .then_events(|events| {
            let EventKind::ServiceAdded {
                roles, admin_role, ..
            } = &events[0].kind
            else {
                panic!("expected ServiceAdded");
            };
            let names: Vec<&str> = roles.iter().map(RoleName::as_str).collect();
            assert_eq!(names, ["Reader", "Writer"]);
            assert_eq!(admin_role.as_str(), "Writer");
        });
    let wiki = org.service(&svc("Wiki")).unwrap();
    let defined: Vec<&str> = wiki.roles().map(RoleName::as_str).collect();
    assert_eq!(defined, ["Reader", "Writer"]);
}

#[test]
fn service_ids_count_up_and_are_never_reused() {
    let org = with_crm()
        .and(
            ADMIN,
            Command::RemoveService {
                service: svc("CRM"),
            },
        )
        .when(ADMIN, add_service("ERP", &["Admin"], "Admin", &[]))
        .then_events(|events| {
            assert!(matches!(
                &events[0].kind,
                EventKind::ServiceAdded { service, .. } if service.get() == 2
            ));
        });
    assert_eq!(org.service(&svc("ERP")).unwrap().id().get(), 2);
    let org = given_org()
        .and(ADMIN, add_crm())
        .when(ADMIN, add_service("ERP", &["Admin"], "Admin", &[]))
        .then_events(|_| {});
    let ids: Vec<u32> = org.services().map(|s| s.id().get()).collect();
    assert_eq!(
        ids,
        [1, 2],
        "services are listed in the order they were added"
    );
}

#[test]
fn a_service_name_is_unique_ignoring_case() {
    with_crm()
        .when(ADMIN, add_service("crm", &["Admin"], "Admin", &[]))
        .then_refused(DomainError::ServiceNameTaken { name: svc("CRM") });
}

#[test]
fn a_service_must_define_a_role() {
    let refused = invalid("it defines no roles; list at least its administrator role");
    assert_eq!(
        refused.to_string(),
        "the service definition is not valid: it defines no roles; list at least its administrator role"
    );
    given_org()
        .when(ADMIN, add_service("CRM", &[], "Owner", &[]))
        .then_refused(refused);
}

#[test]
fn the_administrator_role_must_be_one_of_the_roles() {
    given_org()
        .when(ADMIN, add_service("CRM", &["Viewer"], "Owner", &[]))
        .then_refused(DomainError::UnknownRole {
            service: svc("CRM"),
            role: role("Owner"),
        });
}

#[test]
fn a_default_role_must_be_one_of_the_roles() {
    given_org()
        .when(
            ADMIN,
            add_service(
                "CRM",
                &["Owner", "Viewer"],
                "Owner",
                &[
                    ("Automation Users", "Viewer"),
                    ("Automation Developers", "Editor"),
                ],
            ),
        )
        .then_refused(DomainError::UnknownRole {
            service: svc("CRM"),
            role: role("Editor"),
        });
}

#[test]
fn unknown_default_groups_are_all_named_once() {
    given_org()
        .when(
            ADMIN,
            add_service(
                "CRM",
                &["Owner", "Viewer"],
                "Owner",
                &[
                    ("Sales", "Viewer"),
                    ("Automation Users", "Viewer"),
                    ("Legal", "Viewer"),
                    ("sales", "Owner"),
                ],
            ),
        )
        .then_refused(DomainError::UnknownGroups {
            names: groups(&["Sales", "Legal"]),
        });
}

#[test]
fn administrators_get_the_administrator_role_not_a_default_role() {
    given_org()
        .when(
            ADMIN,
            add_service(
                "CRM",
                &["Owner", "Viewer"],
                "Owner",
                &[("administrators", "Viewer")],
            ),
        )
        .then_refused(invalid(
            "Administrators get the administrator role (Owner); do not list them among the default roles",
        ));
}

#[test]
fn everyone_cannot_have_a_default_role() {
    given_org()
        .when(
            ADMIN,
            add_service(
                "CRM",
                &["Owner", "Viewer"],
                "Owner",
                &[("everyone", "Viewer")],
            ),
        )
        .then_refused(invalid(
            "Everyone cannot have a default role; it gets none in a new service",
        ));
}

#[test]
fn custom_groups_cannot_have_a_default_role() {
    given_org()
        .with_group("Finance", &[])
        .when(
            ADMIN,
            add_service(
                "CRM",
                &["Owner", "Viewer"],
                "Owner",
                &[("finance", "Viewer")],
            ),
        )
        .then_refused(invalid(
            "Finance is a custom group; only default groups have default roles, \
             assign roles to custom groups once the service is added",
        ));
}

#[test]
fn a_group_given_two_default_roles_is_refused() {
    given_org()
        .when(
            ADMIN,
            add_service(
                "CRM",
                &["Owner", "Viewer", "Editor"],
                "Owner",
                &[
                    ("Automation Users", "Viewer"),
                    ("AUTOMATION USERS", "Editor"),
                ],
            ),
        )
        .then_refused(invalid(
            "Automation Users is given a default role more than once; list each group once",
        ));
    given_org()
        .when(
            ADMIN,
            add_service(
                "CRM",
                &["Owner", "Viewer"],
                "Owner",
                &[
                    ("Automation Users", "Viewer"),
                    ("automation users", "viewer"),
                ],
            ),
        )
        .then_refused(invalid(
            "Automation Users is given a default role more than once; list each group once",
        ));
}

#[test]
fn only_active_administrators_manage_services_and_roles() {
    let s = || {
        with_crm()
            .invited(&[BOB], &[])
            .accepted(BOB)
            .invited(&[CY], &["Administrators"])
    };
    let commands = [
        add_service("ERP", &["Admin"], "Admin", &[]),
        Command::RemoveService {
            service: svc("CRM"),
        },
        assign("CRM", to_user(BOB), "Owner"),
        revoke("CRM", to_group("Automation Users"), "Viewer"),
    ];
    for command in commands {
        for actor in [BOB, CY] {
            s().when(actor, command.clone())
                .then_refused(DomainError::Forbidden {
                    actor: email(actor),
                });
        }
    }
}

// --- removing a service -----------------------------------------------------

#[test]
fn removing_a_service_removes_its_assignments_and_frees_its_name() {
    let s = with_crm()
        .invited(&[BOB], &["Automation Users"])
        .and(ADMIN, assign("CRM", to_user(BOB), "Robot"));
    let org = s
        .when(
            ADMIN,
            Command::RemoveService {
                service: svc("crm"),
            },
        )
        .then_events(|events| {
            assert_eq!(events.len(), 1);
            assert!(matches!(
                &events[0].kind,
                EventKind::ServiceRemoved { service } if service.get() == 1
            ));
        });
    assert!(org.service(&svc("CRM")).is_none());
    assert_eq!(org.services().count(), 0);
    assert_eq!(org.effective_roles(&svc("CRM"), &email(BOB)), None);
}

#[test]
fn a_removed_service_name_can_be_used_again() {
    let org = with_crm()
        .and(
            ADMIN,
            Command::RemoveService {
                service: svc("CRM"),
            },
        )
        .when(ADMIN, add_service("crm", &["Admin"], "Admin", &[]))
        .then_events(|_| {});
    let crm = org.service(&svc("CRM")).unwrap();
    assert_eq!(crm.name().as_str(), "crm");
    assert_eq!(crm.id().get(), 2);
}

#[test]
fn removing_an_unknown_service_is_refused() {
    with_crm()
        .when(
            ADMIN,
            Command::RemoveService {
                service: svc("ERP"),
            },
        )
        .then_refused(DomainError::UnknownService { name: svc("ERP") });
}

// --- assigning roles --------------------------------------------------------

#[test]
fn a_custom_group_gets_a_role_only_when_assigned() {
    let s = with_crm().with_group("Finance", &[]);
    let finance = gid(&s.org, "Finance");
    let org = s
        .when(ADMIN, assign("crm", to_group("FINANCE"), "editor"))
        .then_events(|events| {
            assert_eq!(events.len(), 1);
            assert!(matches!(
                &events[0].kind,
                EventKind::RoleAssigned { service, holder, role }
                    if service.get() == 1
                        && *holder == Holder::Group(finance)
                        && role.as_str() == "Editor"
            ));
        });
    assert_eq!(held(&org, "CRM", Holder::Group(finance)), ["Editor"]);
}

#[test]
fn a_member_can_be_given_roles_directly() {
    let s = with_crm().invited(&[BOB], &[]).accepted(BOB);
    let bob = uid(&s.org, BOB);
    let org = s
        .when(ADMIN, assign("CRM", to_user("BOB@example.com"), "Robot"))
        .then_events(|events| {
            assert!(matches!(
                &events[0].kind,
                EventKind::RoleAssigned { holder, role, .. }
                    if *holder == Holder::User(bob) && role.as_str() == "Robot"
            ));
        });
    assert_eq!(held(&org, "CRM", Holder::User(bob)), ["Robot"]);
    assert_eq!(
        effective(&org, "CRM", BOB),
        pairs(&[("Robot", RoleSource::Direct)])
    );
}

#[test]
fn pending_members_can_be_given_roles() {
    let s = with_crm().invited(&[BOB], &[]);
    let bob = uid(&s.org, BOB);
    assert!(s.org.member(&email(BOB)).unwrap().status().is_pending());
    let org = s
        .when(ADMIN, assign("CRM", to_user(BOB), "Viewer"))
        .then_events(|events| assert_eq!(events.len(), 1));
    assert_eq!(held(&org, "CRM", Holder::User(bob)), ["Viewer"]);
}

#[test]
fn everyone_can_be_given_a_role() {
    let org = with_crm()
        .invited(&[BOB], &[])
        .when(ADMIN, assign("CRM", to_group("everyone"), "Viewer"))
        .then_events(|events| {
            assert!(matches!(
                &events[0].kind,
                EventKind::RoleAssigned { holder, .. }
                    if *holder == Holder::Group(g(DefaultGroup::Everyone))
            ));
        });
    assert_eq!(
        effective(&org, "CRM", BOB),
        pairs(&[("Viewer", by_group(DefaultGroup::Everyone))])
    );
}

#[test]
fn a_group_or_member_can_hold_several_roles() {
    let org = with_crm()
        .invited(&[BOB], &[])
        .and(ADMIN, assign("CRM", to_user(BOB), "Viewer"))
        .and(ADMIN, assign("CRM", to_group("Automation Users"), "Robot"))
        .when(ADMIN, assign("CRM", to_user(BOB), "Editor"))
        .then_events(|events| assert_eq!(events.len(), 1));
    let bob = uid(&org, BOB);
    assert_eq!(held(&org, "CRM", Holder::User(bob)), ["Editor", "Viewer"]);
    assert_eq!(
        held(&org, "CRM", Holder::Group(g(DefaultGroup::AutomationUsers))),
        ["Robot", "Viewer"]
    );
}

#[test]
fn assigning_a_role_already_held_changes_nothing() {
    with_crm()
        .when(ADMIN, assign("CRM", to_group("Administrators"), "owner"))
        .then_nothing_happens();
    with_crm()
        .when(ADMIN, assign("CRM", to_group("Automation Users"), "VIEWER"))
        .then_nothing_happens();
    with_crm()
        .invited(&[BOB], &[])
        .and(ADMIN, assign("CRM", to_user(BOB), "Robot"))
        .when(ADMIN, assign("CRM", to_user("Bob@Example.com"), "robot"))
        .then_nothing_happens();
}

#[test]
fn assigning_in_an_unknown_service_is_refused() {
    with_crm()
        .invited(&[BOB], &[])
        .when(ADMIN, assign("ERP", to_user(BOB), "Viewer"))
        .then_refused(DomainError::UnknownService { name: svc("ERP") });
}

#[test]
fn assigning_a_role_the_service_does_not_define_is_refused() {
    with_crm()
        .invited(&[BOB], &[])
        .when(ADMIN, assign("crm", to_user(BOB), "Auditor"))
        .then_refused(DomainError::UnknownRole {
            service: svc("CRM"),
            role: role("Auditor"),
        });
}

#[test]
fn assigning_to_an_unknown_group_is_refused() {
    with_crm()
        .when(ADMIN, assign("CRM", to_group("Sales"), "Viewer"))
        .then_refused(DomainError::UnknownGroups {
            names: groups(&["Sales"]),
        });
}

#[test]
fn assigning_to_a_non_member_is_refused() {
    with_crm()
        .when(ADMIN, assign("CRM", to_user(BOB), "Viewer"))
        .then_refused(DomainError::UnknownUsers {
            emails: emails(&[BOB]),
        });
    with_crm()
        .invited(&[BOB], &[])
        .and(
            ADMIN,
            Command::RemoveUsers {
                emails: emails(&[BOB]),
            },
        )
        .when(ADMIN, assign("CRM", to_user(BOB), "Viewer"))
        .then_refused(DomainError::UnknownUsers {
            emails: emails(&[BOB]),
        });
}

// --- revoking roles ---------------------------------------------------------

#[test]
fn revoking_a_direct_role_leaves_the_service_as_before() {
    let s = with_crm().invited(&[BOB], &[]);
    let before = s.org.service(&svc("CRM")).unwrap().clone();
    let bob = uid(&s.org, BOB);
    let org = s
        .and(ADMIN, assign("CRM", to_user(BOB), "Editor"))
        .when(ADMIN, revoke("crm", to_user("BOB@EXAMPLE.COM"), "EDITOR"))
        .then_events(|events| {
            assert_eq!(events.len(), 1);
            assert!(matches!(
                &events[0].kind,
                EventKind::RoleRevoked { service, holder, role }
                    if service.get() == 1
                        && *holder == Holder::User(bob)
                        && role.as_str() == "Editor"
            ));
        });
    assert_eq!(
        org.service(&svc("CRM")).unwrap(),
        &before,
        "no empty entry is left behind"
    );
    assert!(!holders(&org, "CRM").contains(&Holder::User(bob)));
}

#[test]
fn revoking_one_of_several_roles_keeps_the_others() {
    let s = with_crm()
        .with_group("Finance", &[])
        .and(ADMIN, assign("CRM", to_group("Finance"), "Editor"))
        .and(ADMIN, assign("CRM", to_group("Finance"), "Robot"));
    let finance = gid(&s.org, "Finance");
    let org = s
        .when(ADMIN, revoke("CRM", to_group("Finance"), "Robot"))
        .then_events(|events| assert_eq!(events.len(), 1));
    assert_eq!(held(&org, "CRM", Holder::Group(finance)), ["Editor"]);
}

#[test]
fn the_default_setup_can_be_changed_a_default_groups_default_role_is_revoked() {
    // Product: "That default setup can be changed afterwards like any other
    // assignment."
    let org = with_crm()
        .when(ADMIN, revoke("CRM", to_group("automation users"), "viewer"))
        .then_events(|events| {
            assert_eq!(events.len(), 1);
            assert!(matches!(
                &events[0].kind,
                EventKind::RoleRevoked { holder: Holder::Group(g), role, .. }
                    if *g == DefaultGroup::AutomationUsers.id() && role.as_str() == "Viewer"
            ));
        });
    assert!(held(&org, "CRM", Holder::Group(g(DefaultGroup::AutomationUsers))).is_empty());
    let service = org.service(&svc("CRM")).unwrap();
    assert_eq!(
        service
            .default_role(DefaultGroup::AutomationUsers.id())
            .map(RoleName::as_str),
        Some("Viewer"),
        "the default setup is still recorded"
    );
}

#[test]
fn a_revoked_default_role_can_be_assigned_again() {
    let org = with_crm()
        .and(
            ADMIN,
            revoke("CRM", to_group("Automation Developers"), "Editor"),
        )
        .when(
            ADMIN,
            assign("CRM", to_group("Automation Developers"), "Editor"),
        )
        .then_events(|events| assert_eq!(events.len(), 1));
    assert_eq!(
        held(
            &org,
            "CRM",
            Holder::Group(g(DefaultGroup::AutomationDevelopers))
        ),
        ["Editor"]
    );
}

#[test]
fn members_of_a_default_group_lose_its_revoked_default_role() {
    let org = with_crm()
        .invited(&[BOB], &["Automation Users"])
        .when(ADMIN, revoke("CRM", to_group("Automation Users"), "Viewer"))
        .then_events(|events| assert_eq!(events.len(), 1));
    assert!(effective(&org, "CRM", BOB).is_empty());
}

#[test]
fn administrators_always_hold_the_administrator_role() {
    let refused = DomainError::DefaultRoleProtected {
        service: svc("CRM"),
        group: group("Administrators"),
        role: role("Owner"),
    };
    assert_eq!(
        refused.to_string(),
        "Owner is the administrator role of CRM, which Administrators always hold so that \
         organization administrators can manage it; it cannot be revoked (to take someone's \
         administration away, remove them from Administrators)"
    );
    assert_eq!(refused.code(), "default_role_protected");
    with_crm()
        .when(ADMIN, revoke("CRM", to_group("Administrators"), "OWNER"))
        .then_refused(refused);
}

#[test]
fn a_stored_revocation_of_the_administrator_role_is_ignored() {
    // Only a tampered store holds one; apply keeps the invariant. The
    // tampered event is a real revocation of Robot with its role rewritten.
    let mut revoked = Vec::new();
    let mut org = with_crm()
        .and(ADMIN, assign("CRM", to_group("Administrators"), "Robot"))
        .when(ADMIN, revoke("CRM", to_group("Administrators"), "Robot"))
        .then_events(|events| revoked = events.to_vec());
    let json = serde_json::to_string(&revoked[0]).unwrap();
    assert!(json.contains("\"Robot\""), "{json}");
    let tampered: Event = serde_json::from_str(&json.replace("\"Robot\"", "\"Owner\"")).unwrap();
    org.apply(&tampered);
    assert_eq!(
        held(&org, "CRM", Holder::Group(g(DefaultGroup::Administrators))),
        ["Owner"]
    );
}

#[test]
fn other_roles_of_a_default_group_can_be_revoked() {
    let org = with_crm()
        .and(ADMIN, assign("CRM", to_group("Automation Users"), "Editor"))
        .and(ADMIN, assign("CRM", to_group("Administrators"), "Robot"))
        .when(ADMIN, revoke("CRM", to_group("Automation Users"), "Editor"))
        .then_events(|events| assert_eq!(events.len(), 1));
    assert_eq!(
        held(&org, "CRM", Holder::Group(g(DefaultGroup::AutomationUsers))),
        ["Viewer"]
    );
}

#[test]
fn a_default_role_given_to_a_member_directly_can_be_revoked() {
    with_crm()
        .invited(&[BOB], &["Automation Users"])
        .and(ADMIN, assign("CRM", to_user(BOB), "Viewer"))
        .when(ADMIN, revoke("CRM", to_user(BOB), "Viewer"))
        .then_events(|events| assert_eq!(events.len(), 1));
}

#[test]
fn revoking_a_role_not_held_changes_nothing() {
    with_crm()
        .invited(&[BOB], &[])
        .when(ADMIN, revoke("CRM", to_user(BOB), "Editor"))
        .then_nothing_happens();
    with_crm()
        .when(ADMIN, revoke("CRM", to_group("Everyone"), "Viewer"))
        .then_nothing_happens();
    with_crm()
        .when(
            ADMIN,
            revoke("CRM", to_group("Citizen Developers"), "Viewer"),
        )
        .then_nothing_happens();
}

#[test]
fn revoking_names_a_known_service_role_and_assignee() {
    with_crm()
        .invited(&[BOB], &[])
        .when(ADMIN, revoke("ERP", to_user(BOB), "Viewer"))
        .then_refused(DomainError::UnknownService { name: svc("ERP") });
    with_crm()
        .invited(&[BOB], &[])
        .when(ADMIN, revoke("CRM", to_user(BOB), "Auditor"))
        .then_refused(DomainError::UnknownRole {
            service: svc("CRM"),
            role: role("Auditor"),
        });
    with_crm()
        .when(ADMIN, revoke("CRM", to_group("Sales"), "Viewer"))
        .then_refused(DomainError::UnknownGroups {
            names: groups(&["Sales"]),
        });
    with_crm()
        .when(ADMIN, revoke("CRM", to_user(CY), "Viewer"))
        .then_refused(DomainError::UnknownUsers {
            emails: emails(&[CY]),
        });
}

// --- effective roles --------------------------------------------------------

#[test]
fn effective_roles_are_the_union_of_direct_and_group_roles_with_their_source() {
    let s = with_crm()
        .with_group("Finance", &[])
        .invited(
            &[BOB],
            &["Automation Users", "Finance", "Automation Developers"],
        )
        .and(ADMIN, assign("CRM", to_group("Finance"), "Editor"))
        .and(ADMIN, assign("CRM", to_group("Everyone"), "Robot"))
        .and(ADMIN, assign("CRM", to_user(BOB), "Viewer"));
    let finance = gid(&s.org, "Finance");
    let org = s.org;
    assert_eq!(
        effective(&org, "crm", "Bob@Example.com"),
        pairs(&[
            ("Editor", by_group(DefaultGroup::AutomationDevelopers)),
            ("Editor", RoleSource::Group(finance)),
            ("Robot", by_group(DefaultGroup::Everyone)),
            ("Viewer", RoleSource::Direct),
            ("Viewer", by_group(DefaultGroup::AutomationUsers)),
        ]),
        "sorted by role then source; a role held several ways is listed once per way"
    );
    let distinct: std::collections::BTreeSet<String> = effective(&org, "CRM", BOB)
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    assert_eq!(
        distinct.into_iter().collect::<Vec<_>>(),
        ["Editor", "Robot", "Viewer"]
    );
}

#[test]
fn effective_roles_match_the_union_computed_by_hand() {
    let org = with_crm()
        .with_group("Finance", &[])
        .with_group("Legal", &[])
        .invited(&[BOB], &["Finance", "Automation Users"])
        .invited(&[CY], &["Legal"])
        .and(ADMIN, assign("CRM", to_group("Finance"), "Editor"))
        .and(ADMIN, assign("CRM", to_group("Legal"), "Robot"))
        .and(ADMIN, assign("CRM", to_user(CY), "Viewer"))
        .org;
    let crm = org.service(&svc("CRM")).unwrap();
    for who in [ADMIN, BOB, CY] {
        let member = org.member(&email(who)).unwrap();
        let mut expected: Vec<(String, RoleSource)> = crm
            .roles_of(Holder::User(member.id()))
            .map(|r| (r.as_str().to_owned(), RoleSource::Direct))
            .collect();
        for gid in member.group_ids().chain([DefaultGroup::Everyone.id()]) {
            expected.extend(
                crm.roles_of(Holder::Group(gid))
                    .map(|r| (r.as_str().to_owned(), RoleSource::Group(gid))),
            );
        }
        expected.sort_by(|a, b| role(&a.0).cmp(&role(&b.0)).then_with(|| a.1.cmp(&b.1)));
        expected.dedup();
        assert_eq!(effective(&org, "CRM", who), expected, "{who}");
    }
}

#[test]
fn a_member_in_no_group_has_only_what_everyone_has() {
    let s = with_crm().invited(&[BOB], &[]);
    assert!(effective(&s.org, "CRM", BOB).is_empty());
    let org = s
        .when(ADMIN, assign("CRM", to_group("Everyone"), "Viewer"))
        .then_events(|_| {});
    assert_eq!(
        effective(&org, "CRM", BOB),
        pairs(&[("Viewer", by_group(DefaultGroup::Everyone))])
    );
}

#[test]
fn effective_roles_need_a_known_service_and_member() {
    let org = with_crm().org;
    assert_eq!(org.effective_roles(&svc("ERP"), &email(ADMIN)), None);
    assert_eq!(org.effective_roles(&svc("CRM"), &email(BOB)), None);
    assert_eq!(
        effective(&org, "CRM", ADMIN),
        pairs(&[("Owner", by_group(DefaultGroup::Administrators))])
    );
}

#[test]
fn pending_members_hold_roles_through_groups_and_directly() {
    let org = with_crm()
        .invited(&[BOB], &["Automation Users"])
        .and(ADMIN, assign("CRM", to_user(BOB), "Robot"))
        .org;
    assert!(org.member(&email(BOB)).unwrap().status().is_pending());
    assert_eq!(
        effective(&org, "CRM", BOB),
        pairs(&[
            ("Robot", RoleSource::Direct),
            ("Viewer", by_group(DefaultGroup::AutomationUsers)),
        ])
    );
}

#[test]
fn group_roles_follow_group_membership() {
    let s = with_crm()
        .with_group("Finance", &[])
        .invited(&[BOB], &[])
        .and(ADMIN, assign("CRM", to_group("Finance"), "Editor"));
    let finance = gid(&s.org, "Finance");
    let s = s.and(
        ADMIN,
        Command::AddGroupMembers {
            group: group("Finance"),
            members: emails(&[BOB]),
        },
    );
    assert_eq!(
        effective(&s.org, "CRM", BOB),
        pairs(&[("Editor", RoleSource::Group(finance))])
    );
    let s = s.and(
        ADMIN,
        Command::RemoveGroupMembers {
            group: group("Finance"),
            members: emails(&[BOB]),
        },
    );
    assert!(effective(&s.org, "CRM", BOB).is_empty());
    assert_eq!(
        held(&s.org, "CRM", Holder::Group(finance)),
        ["Editor"],
        "the group keeps its role when members leave"
    );
}

// --- organization roles -----------------------------------------------------

#[test]
fn organization_administrator_comes_only_from_active_membership_of_administrators() {
    let s = with_crm()
        .invited(&[BOB], &["Administrators"])
        .invited(&[CY], &["Automation Users"])
        .accepted(CY);
    assert_eq!(
        s.org.organization_role(&email(ADMIN)),
        Some(OrganizationRole::Administrator)
    );
    assert_eq!(
        s.org.organization_role(&email(BOB)),
        Some(OrganizationRole::User),
        "a pending member of Administrators is not an administrator yet"
    );
    assert_eq!(
        s.org.organization_role(&email(CY)),
        Some(OrganizationRole::User)
    );
    assert_eq!(s.org.organization_role(&email("dan@example.com")), None);
    // Holding a service's administrator role directly does not make one an
    // Organization Administrator.
    let s = s.and(ADMIN, assign("CRM", to_user(CY), "Owner"));
    assert_eq!(
        s.org.organization_role(&email(CY)),
        Some(OrganizationRole::User)
    );
    let s = s.accepted(BOB);
    assert_eq!(
        s.org.organization_role(&email(BOB)),
        Some(OrganizationRole::Administrator)
    );
    let s = s.and(
        ADMIN,
        Command::RemoveGroupMembers {
            group: group("Administrators"),
            members: emails(&[BOB]),
        },
    );
    assert_eq!(
        s.org.organization_role(&email(BOB)),
        Some(OrganizationRole::User)
    );
}

// --- removals ---------------------------------------------------------------

#[test]
fn a_removed_user_loses_every_assignment_and_a_new_invitation_starts_clean() {
    let s = with_crm()
        .and(ADMIN, add_service("ERP", &["Admin", "User"], "Admin", &[]))
        .invited(&[BOB], &["Automation Users"])
        .and(ADMIN, assign("CRM", to_user(BOB), "Robot"))
        .and(ADMIN, assign("ERP", to_user(BOB), "User"));
    let bob = uid(&s.org, BOB);
    let org = s
        .when(
            ADMIN,
            Command::RemoveUsers {
                emails: emails(&[BOB]),
            },
        )
        .then_events(|_| {});
    for service in ["CRM", "ERP"] {
        assert!(
            !holders(&org, service).contains(&Holder::User(bob)),
            "{service} still lists the removed user"
        );
    }
    let org = given_org()
        .and(ADMIN, add_crm())
        .invited(&[BOB], &[])
        .and(ADMIN, assign("CRM", to_user(BOB), "Robot"))
        .and(
            ADMIN,
            Command::RemoveUsers {
                emails: emails(&[BOB]),
            },
        )
        .invited(&[BOB], &[])
        .org;
    assert!(
        effective(&org, "CRM", BOB).is_empty(),
        "a new invitation does not bring back the old roles"
    );
}

#[test]
fn a_deleted_group_loses_its_assignments_and_its_name_starts_clean() {
    let s = with_crm()
        .with_group("Finance", &[])
        .invited(&[BOB], &["Finance"])
        .and(ADMIN, assign("CRM", to_group("Finance"), "Editor"));
    let finance = gid(&s.org, "Finance");
    let org = s
        .when(
            ADMIN,
            Command::DeleteGroup {
                group: group("Finance"),
            },
        )
        .then_events(|_| {});
    assert!(!holders(&org, "CRM").contains(&Holder::Group(finance)));
    assert!(effective(&org, "CRM", BOB).is_empty());
    let org = with_crm()
        .with_group("Finance", &[])
        .and(ADMIN, assign("CRM", to_group("Finance"), "Editor"))
        .and(
            ADMIN,
            Command::DeleteGroup {
                group: group("Finance"),
            },
        )
        .with_group("Finance", &[])
        .org;
    assert!(held(&org, "CRM", Holder::Group(gid(&org, "Finance"))).is_empty());
}

// --- replay and snapshots ---------------------------------------------------

fn busy() -> Scenario {
    with_crm()
        .and(
            ADMIN,
            add_service(
                "ERP",
                &["Admin", "User", "Auditor"],
                "Admin",
                &[("Citizen Developers", "User")],
            ),
        )
        .with_group("Finance", &[])
        .invited(&[BOB], &["Finance"])
        .invited(&[CY], &["Automation Users"])
        .accepted(CY)
        .and(ADMIN, assign("CRM", to_group("Finance"), "Editor"))
        .and(ADMIN, assign("ERP", to_user(BOB), "Auditor"))
        .and(ADMIN, assign("ERP", to_user(CY), "Auditor"))
        .and(ADMIN, assign("CRM", to_group("Everyone"), "Robot"))
        .and(ADMIN, revoke("CRM", to_group("Everyone"), "Robot"))
        .and(
            ADMIN,
            Command::RemoveUsers {
                emails: emails(&[CY]),
            },
        )
        .and(ADMIN, add_service("Wiki", &["Editor"], "Editor", &[]))
        .and(
            ADMIN,
            Command::RemoveService {
                service: svc("Wiki"),
            },
        )
}

#[test]
fn replaying_role_events_rebuilds_an_equal_state() {
    let s = busy();
    assert_eq!(Organization::replay(&s.history), s.org);
}

#[test]
fn a_snapshot_after_role_events_restores_an_equal_state() {
    let s = busy();
    let restored = Organization::from_snapshot(&s.org.snapshot()).unwrap();
    assert_eq!(restored, s.org);
    // Through JSON too, as a store would keep it.
    let json = serde_json::to_string(&s.org.snapshot()).unwrap();
    let restored = Organization::from_snapshot(&serde_json::from_str(&json).unwrap()).unwrap();
    assert_eq!(restored, s.org);
    // And the restored state decides like the original: ids carry on.
    let mut restored = restored;
    let events = restored
        .execute(
            &add_service("Docs", &["Reader"], "Reader", &[]),
            &ctx(ADMIN, 1_000),
        )
        .unwrap();
    assert!(matches!(
        &events[0].kind,
        EventKind::ServiceAdded { service, .. } if service.get() == 4
    ));
}

#[test]
fn role_events_survive_serialization() {
    let s = busy();
    let role_events: Vec<&Event> = s
        .history
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::ServiceAdded { .. }
                    | EventKind::ServiceRemoved { .. }
                    | EventKind::RoleAssigned { .. }
                    | EventKind::RoleRevoked { .. }
            )
        })
        .collect();
    assert_eq!(role_events.len(), 9);
    for event in role_events {
        let json = serde_json::to_string(event).unwrap();
        assert_eq!(
            &serde_json::from_str::<Event>(&json).unwrap(),
            event,
            "{json}"
        );
    }
}
