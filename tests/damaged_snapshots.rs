//! A damaged snapshot is checked against the aggregate's invariants when
//! loaded and refused, and the service rebuilds the organization from its
//! events: written as the attack of a store (or someone with write access
//! to it) handing back a snapshot that no sequence of events could make.
// Tests assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use jiff::Timestamp;
use org_accounts::{
    AccountService, Assignee, Command, Context, Email, EventStore, GroupName, InMemoryStore,
    LicenseKind, MailSettings, Organization, OrganizationId, RoleName, ServiceConfig, ServiceName,
    Snapshot, SnapshotStore,
};
use serde_json::{Value, json};

const ADMIN: &str = "ada@example.com";

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

fn ctx(who: &str, minute: i64) -> Context {
    let at: Timestamp = "2026-11-28T09:00:00Z".parse().unwrap();
    Context::new(
        email(who),
        at.checked_add(jiff::SignedDuration::from_mins(minute))
            .unwrap(),
    )
}

fn id() -> OrganizationId {
    OrganizationId::new("acme").unwrap()
}

/// An organization with something of everything a snapshot holds: an
/// accepted and a pending member, a custom group, a service with a role
/// assigned to a member, a license pool with a direct and a group license,
/// mail settings and a queued email.
async fn populated(service: &AccountService<Arc<InMemoryStore>>) {
    let pro = LicenseKind::parse("Pro").unwrap();
    let finance = GroupName::parse("Finance").unwrap();
    let owner = RoleName::parse("Owner").unwrap();
    let viewer = RoleName::parse("Viewer").unwrap();
    let steps: Vec<(&str, Command)> = vec![
        (
            ADMIN,
            Command::CreateOrganization {
                name: "Acme".into(),
            },
        ),
        (
            ADMIN,
            Command::InviteUsers {
                emails: vec![email("bob@example.com")],
                groups: vec![],
            },
        ),
        ("bob@example.com", Command::AcceptInvitation),
        (
            ADMIN,
            Command::CreateGroup {
                name: finance.clone(),
                members: vec![email("bob@example.com")],
            },
        ),
        (
            ADMIN,
            Command::SetLicensePool {
                kind: pro.clone(),
                seats: 3,
            },
        ),
        (
            ADMIN,
            Command::SetGroupLicenseRule {
                group: finance.clone(),
                licenses: [(pro.clone(), Some(2))].into(),
            },
        ),
        // Bob signs in: he leases Pro through Finance.
        ("bob@example.com", Command::LeaseLicenses),
        (
            ADMIN,
            Command::AllocateLicense {
                user: email(ADMIN),
                kind: pro.clone(),
            },
        ),
        (
            ADMIN,
            Command::AddService {
                name: ServiceName::parse("CRM").unwrap(),
                roles: vec![owner.clone(), viewer.clone()],
                admin_role: owner,
                default_roles: vec![],
            },
        ),
        (
            ADMIN,
            Command::SetMailSettings {
                settings: MailSettings::new(
                    "smtp.example.com",
                    587,
                    email("noreply@example.com"),
                    "Acme",
                ),
            },
        ),
        (
            ADMIN,
            Command::InviteUsers {
                emails: vec![email("cy@example.com")],
                groups: vec![],
            },
        ),
        (
            ADMIN,
            Command::AssignRole {
                service: ServiceName::parse("CRM").unwrap(),
                to: Assignee::User(email("cy@example.com")),
                role: viewer,
            },
        ),
    ];
    for (minute, (who, command)) in (0..).zip(steps) {
        service
            .execute(&id(), &command, &ctx(who, minute))
            .await
            .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    }
}

/// Each damage: what it breaks, and the edit of the snapshot's JSON.
type Damage = (&'static str, Box<dyn Fn(&mut Value)>);

/// The id of the member with this address in the snapshot's JSON.
fn member_id(j: &Value, address: &str) -> Value {
    j["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == address)
        .unwrap()["id"]
        .clone()
}

/// The group with this name in the snapshot's JSON.
fn group<'a>(j: &'a mut Value, name: &str) -> &'a mut Value {
    j["groups"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|g| g["name"] == name)
        .unwrap()
}

fn damages() -> Vec<Damage> {
    vec![
        (
            "no member in Administrators",
            Box::new(|j| group(j, "Administrators")["members"] = json!([])),
        ),
        (
            "the only administrator pending",
            Box::new(|j| {
                let ada = member_id(j, ADMIN);
                for m in j["members"].as_array_mut().unwrap() {
                    if m["id"] == ada {
                        m["last_active"] = Value::Null;
                    }
                }
            }),
        ),
        (
            "a group member who is not a member",
            Box::new(|j| {
                group(j, "Finance")["members"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!(999))
            }),
        ),
        (
            "a member removed but still in a group",
            Box::new(|j| {
                let bob = member_id(j, "bob@example.com");
                j["members"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|m| m["id"] != bob);
            }),
        ),
        (
            "more seats used than the pool holds",
            Box::new(|j| j["licenses"]["pools"]["Pro"] = json!(1)),
        ),
        (
            "licenses held of a kind without a pool",
            Box::new(|j| {
                j["licenses"]["pools"] = json!({});
                j["licenses"]["rules"] = json!({});
            }),
        ),
        (
            "a license rule for a kind without a pool",
            Box::new(|j| {
                j["licenses"]["pools"] = json!({"Other": 3});
                j["licenses"]["holdings"] = json!({});
            }),
        ),
        (
            "a license held by someone who is not a member",
            Box::new(|j| {
                let ada = member_id(j, ADMIN).to_string();
                let held = j["licenses"]["holdings"][&ada].clone();
                j["licenses"]["holdings"]["999"] = held;
            }),
        ),
        (
            "a group license held by someone outside the group",
            Box::new(|j| group(j, "Finance")["members"] = json!([])),
        ),
        (
            "a role assigned to someone who is not a member",
            Box::new(|j| {
                j["services"][0]["grants"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!([{"user": 999}, ["Viewer"]]))
            }),
        ),
        (
            "a role the service does not define",
            Box::new(|j| {
                j["services"][0]["roles"] = json!(["Owner"]);
            }),
        ),
        (
            "a queued email for someone who is not a member",
            Box::new(|j| j["outbox"][0][1]["user"] = json!(999)),
        ),
        (
            "a queued email without mail settings",
            Box::new(|j| j["mail"] = Value::Null),
        ),
        (
            "a version below the events its contents take",
            Box::new(|j| j["version"] = json!(2)),
        ),
        (
            "members before the organization exists",
            Box::new(|j| {
                j["created_at"] = Value::Null;
            }),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn every_damaged_snapshot_is_refused_and_the_events_rebuild_the_state() {
    for (what, damage) in damages() {
        let store = Arc::new(InMemoryStore::new());
        let writer = AccountService::with_config(
            Arc::clone(&store),
            ServiceConfig::default().with_snapshot_every(None),
        );
        populated(&writer).await;
        let events = store.read(&id(), 0).await.unwrap();
        let good = Organization::replay(&events).snapshot();
        let mut json = serde_json::to_value(&good).unwrap();
        damage(&mut json);
        assert_ne!(json, serde_json::to_value(&good).unwrap(), "{what}");
        let damaged: Snapshot = serde_json::from_value(json)
            .unwrap_or_else(|e| panic!("{what}: the damaged JSON must still parse: {e}"));
        let refused = Organization::from_snapshot(&damaged);
        assert!(refused.is_err(), "{what}: loaded");
        assert_eq!(
            Organization::try_from(damaged.clone()).err(),
            refused.err(),
            "{what}: moved into a state, refused for the same reason"
        );
        store.save_snapshot(&id(), &damaged).await.unwrap();
        assert_eq!(
            store.load_snapshot(&id()).await.unwrap().as_ref(),
            Some(&damaged),
            "{what}: the damaged snapshot is the one stored"
        );

        // A cold service (another process) meets the damaged snapshot.
        let cold = AccountService::new(Arc::clone(&store));
        let done = cold
            .execute(
                &id(),
                &Command::InviteUsers {
                    emails: vec![email("dee@example.com")],
                    groups: vec![],
                },
                &ctx(ADMIN, 100),
            )
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(!done.events.is_empty(), "{what}");
        let state = cold
            .read(&id(), org_accounts::Organization::clone)
            .await
            .unwrap();
        let replayed = Organization::replay(&store.read(&id(), 0).await.unwrap());
        assert_eq!(state, replayed, "{what}: the state is the events' state");
        assert_eq!(
            replayed.version(),
            events.len() as u64 + done.events.len() as u64
        );
    }
}

#[test]
fn the_undamaged_snapshot_loads_to_the_same_state() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Arc::new(InMemoryStore::new());
        let writer = AccountService::new(Arc::clone(&store));
        populated(&writer).await;
        let org = Organization::replay(&store.read(&id(), 0).await.unwrap());
        let back: Snapshot =
            serde_json::from_value(serde_json::to_value(org.snapshot()).unwrap()).unwrap();
        assert_eq!(Organization::from_snapshot(&back).unwrap(), org);
    });
}
