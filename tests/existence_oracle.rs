//! A refusal never tells whether an organization exists: written as the
//! attack of someone probing organization ids with commands they have no
//! right to run.
// Tests assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use jiff::Timestamp;
use org_accounts::{
    AccountService, Command, Context, CsvOptions, DomainError, Email, GroupName, InMemoryStore,
    LicenseKind, Organization, OrganizationId, ServiceError, read_invite_csv,
};

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

fn ctx(who: &str) -> Context {
    Context::new(
        email(who),
        "2026-11-28T09:00:00Z".parse::<Timestamp>().unwrap(),
    )
}

const ADMIN: &str = "ada@example.com";
const PROBER: &str = "mallory@example.net";

fn created() -> Organization {
    let mut org = Organization::new();
    org.execute(
        &Command::CreateOrganization {
            name: "Example".into(),
        },
        &ctx(ADMIN),
    )
    .unwrap();
    org
}

/// Administrative and member commands an outsider might try.
fn probes() -> Vec<Command> {
    vec![
        Command::InviteUsers {
            emails: vec![email("eve@example.net")],
            groups: vec![],
        },
        Command::RemoveUsers {
            emails: vec![email(ADMIN)],
        },
        Command::CreateGroup {
            name: GroupName::parse("Finance").unwrap(),
            members: vec![],
        },
        Command::SetLicensePool {
            kind: LicenseKind::parse("Pro").unwrap(),
            seats: 5,
        },
        Command::ClearMailSettings,
        Command::ResendInvitation {
            user: email("eve@example.net"),
        },
        Command::AcceptInvitation,
        Command::RecordSignIn,
    ]
}

#[test]
fn a_missing_organization_answers_an_outsider_as_an_existing_one_does() {
    let missing = Organization::new();
    let existing = created();
    for command in probes() {
        let there = existing.decide(&command, &ctx(PROBER)).unwrap_err();
        let not_there = missing.decide(&command, &ctx(PROBER)).unwrap_err();
        assert_eq!(not_there, there, "{command:?}");
        assert_eq!(not_there.to_string(), there.to_string(), "{command:?}");
        assert_ne!(not_there, DomainError::NotCreated, "{command:?}");
    }
    // The administrator of an organization that does not exist is nobody.
    assert_eq!(
        missing
            .decide(&probes()[0], &ctx(ADMIN))
            .unwrap_err()
            .code(),
        "forbidden"
    );
    // The host tells "no organization yet" by asking, not from a refusal.
    assert!(!missing.exists());
    assert!(existing.exists());
}

#[test]
fn a_bulk_upload_to_a_missing_organization_is_forbidden_alike() {
    let file = read_invite_csv(
        b"email,group membership\nbob@example.com,\n",
        &CsvOptions::default(),
    )
    .unwrap();
    let there = created()
        .decide_bulk_invite(&file, &ctx(PROBER))
        .map(|_| ())
        .unwrap_err();
    let not_there = Organization::new()
        .decide_bulk_invite(&file, &ctx(PROBER))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(not_there, there);
    assert_eq!(not_there.code(), "forbidden");
}

#[tokio::test]
async fn through_the_service_probing_ids_learns_nothing() {
    let service = AccountService::new(InMemoryStore::new());
    let real = OrganizationId::new("acme").unwrap();
    let guessed = OrganizationId::new("globex").unwrap();
    service
        .execute(
            &real,
            &Command::CreateOrganization {
                name: "Acme".into(),
            },
            &ctx(ADMIN),
        )
        .await
        .unwrap();
    for command in probes() {
        if matches!(command, Command::RecordSignIn) {
            let on = |id: OrganizationId| {
                let service = &service;
                async move { service.record_sign_in(&id, &ctx(PROBER)).await }
            };
            let (a, b) = (on(real.clone()).await, on(guessed.clone()).await);
            assert_eq!(a.unwrap_err().to_string(), b.unwrap_err().to_string());
            continue;
        }
        let a = service.execute(&real, &command, &ctx(PROBER)).await;
        let b = service.execute(&guessed, &command, &ctx(PROBER)).await;
        let (ServiceError::Refused(a), ServiceError::Refused(b)) = (a.unwrap_err(), b.unwrap_err())
        else {
            panic!("{command:?}: not a refusal");
        };
        assert_eq!(a, b, "{command:?}");
    }
    // The host's own way to tell.
    assert!(service.read(&real, Organization::exists).await.unwrap());
    assert!(!service.read(&guessed, Organization::exists).await.unwrap());
}
