//! The invitation lifecycle: mail settings, emails queued and delivered,
//! resend, revoke, expiry.
// Tests and benches assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::*;
use org_accounts::{
    AccountService, Command, CredentialRef, DomainError, EventKind, InMemoryStore, InvitationEmail,
    InvitationStatus, MailError, MailErrorKind, MailSettings, Mailer, OrganizationId,
};

fn settings() -> MailSettings {
    MailSettings::new(
        "smtp.example.com",
        587,
        email("noreply@example.com"),
        "Example Corp",
    )
    .with_auth("mailer", CredentialRef("SMTP_PASSWORD".into()))
}

fn with_mail() -> Scenario {
    given_org().and(
        ADMIN,
        Command::SetMailSettings {
            settings: settings(),
        },
    )
}

fn queued_kinds(events: &[org_accounts::Event]) -> usize {
    events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::InvitationEmailQueued { .. }))
        .count()
}

#[test]
fn without_mail_settings_inviting_sends_nothing() {
    let org = given_org()
        .when(ADMIN, invite(&["bob@example.com"], &[]))
        .then_events(|e| assert_eq!(queued_kinds(e), 0));
    assert_eq!(org.queued_emails().count(), 0);
}

#[test]
fn with_mail_settings_each_invitation_queues_exactly_one_email() {
    let org = with_mail()
        .when(ADMIN, invite(&["bob@example.com", "cy@example.com"], &[]))
        .then_events(|e| assert_eq!(queued_kinds(e), 2));
    let queued: Vec<InvitationEmail> = org.queued_emails().map(|(_, _, m)| m).collect();
    assert_eq!(queued.len(), 2);
    assert_eq!(queued[0].to.as_str(), "bob@example.com");
    assert_eq!(queued[0].subject, "You are invited to join Example");
    assert!(
        queued[0].body.contains("\"Example\"") && queued[0].body.contains(ADMIN),
        "{}",
        queued[0].body
    );
    assert_eq!(queued[0].from_name, "Example Corp");
}

#[test]
fn mail_settings_are_validated_and_hold_no_secret() {
    let bad = MailSettings::new("smtp example.com", 587, email("noreply@example.com"), "X");
    given_org()
        .when(ADMIN, Command::SetMailSettings { settings: bad })
        .then_refused(DomainError::InvalidMailSettings {
            reason: "the host must be a server name without spaces",
        });
    let zero = MailSettings::new("smtp.example.com", 0, email("noreply@example.com"), "X");
    assert!(
        given_org()
            .when(ADMIN, Command::SetMailSettings { settings: zero })
            .result
            .is_err()
    );
    let s = with_mail();
    let json = serde_json::to_string(&s.history).unwrap();
    assert!(json.contains("SMTP_PASSWORD"), "the reference is stored");
    assert!(!format!("{:?}", s.org).contains("hunter2"));
}

#[test]
fn clearing_mail_settings_stops_emails_and_empties_the_queue() {
    let org = with_mail()
        .invited(&["bob@example.com"], &[])
        .when(ADMIN, Command::ClearMailSettings)
        .then_events(|e| assert_eq!(e.len(), 1));
    assert!(org.mail_settings().is_none());
    assert_eq!(org.queued_emails().count(), 0);
    given_org()
        .when(ADMIN, Command::ClearMailSettings)
        .then_nothing_happens();
}

#[test]
fn only_administrators_change_mail_settings_and_invitations() {
    let s = || {
        given_org()
            .invited(&["bob@example.com", "cy@example.com"], &[])
            .accepted("bob@example.com")
    };
    for command in [
        Command::SetMailSettings {
            settings: settings(),
        },
        Command::ClearMailSettings,
        Command::SetInvitationExpiry {
            after: Some(Duration::from_secs(3600)),
        },
        Command::ResendInvitation {
            user: email("cy@example.com"),
        },
        Command::RevokeInvitation {
            user: email("cy@example.com"),
        },
    ] {
        s().when("bob@example.com", command)
            .then_refused(DomainError::Forbidden {
                actor: email("bob@example.com"),
            });
    }
}

#[test]
fn resend_keeps_one_queued_email_for_pending_users_only() {
    // Resends collapse onto the email still queued: a tenant cannot grow
    // the queue by resending.
    let org = with_mail()
        .invited(&["bob@example.com"], &[])
        .when(
            ADMIN,
            Command::ResendInvitation {
                user: email("bob@example.com"),
            },
        )
        .then_events(|e| {
            assert!(matches!(e[0].kind, EventKind::InvitationResent { .. }));
            assert_eq!(queued_kinds(e), 0);
        });
    assert_eq!(org.queued_emails().count(), 1);
    with_mail()
        .invited(&["bob@example.com"], &[])
        .accepted("bob@example.com")
        .when(
            ADMIN,
            Command::ResendInvitation {
                user: email("bob@example.com"),
            },
        )
        .then_refused(DomainError::NotPending {
            email: email("bob@example.com"),
        });
    given_org()
        .when(
            ADMIN,
            Command::ResendInvitation {
                user: email("nobody@example.com"),
            },
        )
        .then_refused(DomainError::UnknownUsers {
            emails: emails(&["nobody@example.com"]),
        });
}

#[test]
fn revoking_removes_the_pending_user_and_their_queued_email() {
    let org = with_mail()
        .invited(&["bob@example.com"], &["Automation Users"])
        .when(
            ADMIN,
            Command::RevokeInvitation {
                user: email("bob@example.com"),
            },
        )
        .then_events(|e| assert!(matches!(e[0].kind, EventKind::InvitationRevoked { .. })));
    assert!(org.member(&email("bob@example.com")).is_none());
    assert_eq!(org.queued_emails().count(), 0);
    assert_eq!(
        org.group(&group("Automation Users"))
            .unwrap()
            .members()
            .count(),
        0
    );
    with_mail()
        .invited(&["bob@example.com"], &[])
        .accepted("bob@example.com")
        .when(
            ADMIN,
            Command::RevokeInvitation {
                user: email("bob@example.com"),
            },
        )
        .then_refused(DomainError::NotPending {
            email: email("bob@example.com"),
        });
}

#[test]
fn expired_invitations_cannot_be_accepted_until_resent() {
    let hour = Duration::from_secs(3600);
    let mut s = given_org()
        .and(ADMIN, Command::SetInvitationExpiry { after: Some(hour) })
        .invited(&["bob@example.com"], &[]);
    let bob = s.org.member(&email("bob@example.com")).unwrap().clone();
    // Invited at minute 3; valid until minute 63.
    assert_eq!(
        s.org.invitation_status(&bob, at(62)),
        InvitationStatus::Pending
    );
    assert_eq!(
        s.org.invitation_status(&bob, at(63)),
        InvitationStatus::Expired
    );
    let before = s.org.clone();
    let err = s
        .org
        .execute(&Command::AcceptInvitation, &ctx("bob@example.com", 70))
        .unwrap_err();
    assert_eq!(
        err,
        DomainError::InvitationExpired {
            email: email("bob@example.com")
        }
    );
    assert_eq!(s.org, before);
    s.org
        .execute(
            &Command::ResendInvitation {
                user: email("bob@example.com"),
            },
            &ctx(ADMIN, 80),
        )
        .unwrap();
    let bob = s.org.member(&email("bob@example.com")).unwrap().clone();
    assert_eq!(
        s.org.invitation_status(&bob, at(81)),
        InvitationStatus::Pending
    );
    assert_eq!(s.org.invitation_expires_at(&bob), Some(at(140)));
    s.org
        .execute(&Command::AcceptInvitation, &ctx("bob@example.com", 90))
        .unwrap();
    let bob = s.org.member(&email("bob@example.com")).unwrap().clone();
    assert_eq!(
        s.org.invitation_status(&bob, at(1000)),
        InvitationStatus::Accepted
    );
}

#[test]
fn no_expiry_by_default_and_short_expiries_are_refused() {
    let s = given_org().invited(&["bob@example.com"], &[]);
    let bob = s.org.member(&email("bob@example.com")).unwrap();
    assert_eq!(
        s.org.invitation_status(bob, at(10_000_000)),
        InvitationStatus::Pending
    );
    given_org()
        .when(
            ADMIN,
            Command::SetInvitationExpiry {
                after: Some(Duration::from_secs(59)),
            },
        )
        .then_refused(DomainError::InvalidExpiry);
    given_org()
        .when(ADMIN, Command::SetInvitationExpiry { after: None })
        .then_nothing_happens();
}

#[test]
fn snapshots_keep_the_lifecycle_state() {
    let s = with_mail()
        .and(
            ADMIN,
            Command::SetInvitationExpiry {
                after: Some(Duration::from_secs(7200)),
            },
        )
        .invited(&["bob@example.com"], &[]);
    let back = org_accounts::Organization::from_snapshot(&s.org.snapshot()).unwrap();
    assert_eq!(back, s.org);
}

/// Records what it sends (and for which organization); fails the
/// addresses it is told to, with the kind it is told.
#[derive(Default)]
struct FakeMailer {
    sent: Mutex<Vec<(OrganizationId, InvitationEmail)>>,
    failing: Mutex<Vec<(String, MailErrorKind)>>,
}

impl FakeMailer {
    fn sent_to(&self) -> Vec<String> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .map(|(_, m)| m.to.as_str().to_owned())
            .collect()
    }

    fn fail(&self, address: &str, kind: MailErrorKind) {
        self.failing.lock().unwrap().push((address.into(), kind));
    }
}

impl Mailer for &'static FakeMailer {
    async fn send(
        &self,
        org: &OrganizationId,
        _: &MailSettings,
        email: &InvitationEmail,
    ) -> Result<(), MailError> {
        let failure = self
            .failing
            .lock()
            .unwrap()
            .iter()
            .find(|(address, _)| address == email.to.as_str())
            .map(|(_, kind)| *kind);
        if let Some(kind) = failure {
            return Err(MailError::new(kind, None, "connection refused"));
        }
        self.sent.lock().unwrap().push((org.clone(), email.clone()));
        Ok(())
    }
}

async fn service(mailer: &'static FakeMailer) -> (AccountService<InMemoryStore>, OrganizationId) {
    let service = AccountService::new(InMemoryStore::new()).with_mailer(mailer);
    let id = OrganizationId::new("acme").unwrap();
    service
        .execute(
            &id,
            &Command::CreateOrganization {
                name: "Acme".into(),
            },
            &ctx(ADMIN, 0),
        )
        .await
        .unwrap();
    service
        .execute(
            &id,
            &Command::SetMailSettings {
                settings: settings(),
            },
            &ctx(ADMIN, 1),
        )
        .await
        .unwrap();
    (service, id)
}

async fn queue_len(service: &AccountService<InMemoryStore>, id: &OrganizationId) -> usize {
    service
        .read(id, |org| org.queued_emails().count())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_delivers_after_storing_and_never_sends_twice() {
    let mailer: &'static FakeMailer = Box::leak(Box::default());
    let (service, id) = service(mailer).await;
    let done = service
        .execute(
            &id,
            &invite(&["bob@example.com", "cy@example.com"], &[]),
            &ctx(ADMIN, 2),
        )
        .await
        .unwrap();
    // The command stores the invitations and queues their emails; it sends
    // nothing itself.
    assert_eq!(done.queued.len(), 2);
    assert_eq!(queued_kinds(&done.events), 2);
    assert!(mailer.sent_to().is_empty());
    assert_eq!(queue_len(&service, &id).await, 2);

    let delivered = service.deliver(&id, at(3), 100).await.unwrap();
    assert_eq!(delivered.len(), 2);
    assert!(delivered.iter().all(|d| d.result.is_ok()), "{delivered:?}");
    assert_eq!(
        delivered.iter().map(|d| d.notification).collect::<Vec<_>>(),
        done.queued
    );
    assert_eq!(mailer.sent_to(), ["bob@example.com", "cy@example.com"]);
    assert!(
        mailer
            .sent
            .lock()
            .unwrap()
            .iter()
            .all(|(org, _)| *org == id),
        "the mailer is told the organization"
    );
    assert_eq!(queue_len(&service, &id).await, 0);
    // Nothing left to deliver: nothing is sent again.
    assert!(service.deliver(&id, at(4), 100).await.unwrap().is_empty());
    assert_eq!(mailer.sent.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_delivery_is_recorded_reported_and_retried_without_undoing_the_invitation() {
    let mailer: &'static FakeMailer = Box::leak(Box::default());
    mailer.fail("cy@example.com", MailErrorKind::Transient);
    let (service, id) = service(mailer).await;
    service
        .execute(
            &id,
            &invite(&["bob@example.com", "cy@example.com"], &[]),
            &ctx(ADMIN, 2),
        )
        .await
        .unwrap();
    let delivered = service.deliver(&id, at(3), 100).await.unwrap();
    let failed: Vec<_> = delivered.iter().filter(|d| d.result.is_err()).collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].to.as_str(), "cy@example.com");
    assert_eq!(
        failed[0].result,
        Err(MailError::new(
            MailErrorKind::Transient,
            None,
            "connection refused"
        ))
    );
    let org = service
        .read(&id, org_accounts::Organization::clone)
        .await
        .unwrap();
    assert!(
        org.member(&email("cy@example.com")).is_some(),
        "the invitation stands"
    );
    let queued: Vec<_> = org
        .queued_emails()
        .map(|(_, q, _)| {
            (
                q.attempts(),
                q.last_error().map(str::to_owned),
                q.last_failure(),
            )
        })
        .collect();
    // The stored failure keeps the error's kind.
    assert_eq!(
        queued,
        [(
            1,
            Some("connection refused".to_owned()),
            Some(MailErrorKind::Transient)
        )]
    );

    mailer.failing.lock().unwrap().clear();
    let retried = service.deliver(&id, at(5), 100).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert!(retried[0].result.is_ok());
    assert_eq!(
        mailer.sent_to(),
        ["bob@example.com", "cy@example.com"],
        "each invitee got exactly one email"
    );
    assert!(service.deliver(&id, at(6), 100).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn each_failure_is_stored_with_its_kind() {
    let mailer: &'static FakeMailer = Box::leak(Box::default());
    mailer.fail("bob@example.com", MailErrorKind::Permanent);
    mailer.fail("cy@example.com", MailErrorKind::Configuration);
    let (service, id) = service(mailer).await;
    service
        .execute(
            &id,
            &invite(&["bob@example.com", "cy@example.com"], &[]),
            &ctx(ADMIN, 2),
        )
        .await
        .unwrap();
    let delivered = service.deliver(&id, at(3), 100).await.unwrap();
    let kinds: Vec<_> = delivered
        .iter()
        .map(|d| (d.to.as_str(), d.result.as_ref().unwrap_err().kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("bob@example.com", MailErrorKind::Permanent),
            ("cy@example.com", MailErrorKind::Configuration)
        ]
    );
    let stored: Vec<_> = service
        .read(&id, |org| {
            org.queued_emails()
                .map(|(_, q, _)| (q.last_error().map(str::to_owned), q.last_failure()))
                .collect()
        })
        .await
        .unwrap();
    assert_eq!(
        stored,
        [
            (
                Some("connection refused".to_owned()),
                Some(MailErrorKind::Permanent)
            ),
            (
                Some("connection refused".to_owned()),
                Some(MailErrorKind::Configuration)
            )
        ]
    );
    assert!(mailer.sent_to().is_empty());
    // Failures that a retry cannot mend are not retried...
    assert!(service.deliver(&id, at(4), 100).await.unwrap().is_empty());
    // ...until the mail settings change (or the invitation is resent).
    mailer.failing.lock().unwrap().clear();
    let settings = service
        .read(&id, |org| org.mail_settings().cloned())
        .await
        .unwrap()
        .unwrap()
        .with_timeout(std::time::Duration::from_secs(5));
    service
        .execute(&id, &Command::SetMailSettings { settings }, &ctx(ADMIN, 5))
        .await
        .unwrap();
    let retried = service.deliver(&id, at(6), 100).await.unwrap();
    assert_eq!(retried.len(), 2);
    assert!(retried.iter().all(|d| d.result.is_ok()));
}

/// Two delivery workers (two services over one store: two nodes) on one
/// queue of 1000 emails, against a counting mailer: each email is sent
/// exactly once, whatever the interleaving.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_workers_never_send_an_email_twice() {
    let mailer: &'static FakeMailer = Box::leak(Box::default());
    let store = std::sync::Arc::new(org_accounts::InMemoryStore::new());
    let node = || {
        std::sync::Arc::new(AccountService::new(std::sync::Arc::clone(&store)).with_mailer(mailer))
    };
    let (a, b) = (node(), node());
    let id = OrganizationId::new("acme").unwrap();
    a.execute(
        &id,
        &Command::CreateOrganization {
            name: "Acme".into(),
        },
        &ctx(ADMIN, 0),
    )
    .await
    .unwrap();
    let settings = MailSettings::new(
        "smtp.example.com",
        587,
        email("accounts@example.com"),
        "Accounts",
    );
    a.execute(&id, &Command::SetMailSettings { settings }, &ctx(ADMIN, 1))
        .await
        .unwrap();
    for chunk in 0..50 {
        let list: Vec<String> = (0..20)
            .map(|i| format!("person{}@example.com", chunk * 20 + i))
            .collect();
        let refs: Vec<&str> = list.iter().map(String::as_str).collect();
        a.execute(&id, &invite(&refs, &[]), &ctx(ADMIN, 2))
            .await
            .unwrap();
    }
    let workers: Vec<_> = [a, b]
        .into_iter()
        .map(|node| {
            let id = id.clone();
            tokio::spawn(async move {
                let mut sent = 0;
                loop {
                    let batch = node.deliver(&id, at(3), 50).await.unwrap();
                    if batch.is_empty() {
                        break sent;
                    }
                    sent += batch.len();
                }
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.await.unwrap();
    }
    let mut sent = mailer.sent_to();
    assert_eq!(sent.len(), 1000, "every email was sent");
    assert_eq!(total, 1000, "the workers' reports add up");
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), 1000, "no email was sent twice");
}

#[tokio::test(flavor = "multi_thread")]
async fn delivery_sends_at_most_the_limit() {
    let mailer: &'static FakeMailer = Box::leak(Box::default());
    let (service, id) = service(mailer).await;
    service
        .execute(
            &id,
            &invite(
                &["ann@example.com", "bob@example.com", "cy@example.com"],
                &[],
            ),
            &ctx(ADMIN, 2),
        )
        .await
        .unwrap();
    assert!(service.deliver(&id, at(3), 0).await.unwrap().is_empty());
    assert!(mailer.sent_to().is_empty());
    assert_eq!(service.deliver(&id, at(3), 2).await.unwrap().len(), 2);
    assert_eq!(mailer.sent_to(), ["ann@example.com", "bob@example.com"]);
    assert_eq!(queue_len(&service, &id).await, 1);
    assert_eq!(service.deliver(&id, at(4), 2).await.unwrap().len(), 1);
    assert_eq!(
        mailer.sent_to(),
        ["ann@example.com", "bob@example.com", "cy@example.com"]
    );
    assert!(service.deliver(&id, at(5), 2).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_mailer_queued_emails_stay_queued() {
    let service = AccountService::new(InMemoryStore::new());
    let id = OrganizationId::new("acme").unwrap();
    for (minute, command) in [
        Command::CreateOrganization {
            name: "Acme".into(),
        },
        Command::SetMailSettings {
            settings: settings(),
        },
        invite(&["bob@example.com"], &[]),
    ]
    .into_iter()
    .enumerate()
    {
        let minute = i64::try_from(minute).unwrap();
        service
            .execute(&id, &command, &ctx(ADMIN, minute))
            .await
            .unwrap();
    }
    assert!(service.deliver(&id, at(5), 100).await.unwrap().is_empty());
    assert_eq!(queue_len(&service, &id).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_invitations_are_emailed_too() {
    let mailer: &'static FakeMailer = Box::leak(Box::default());
    let (service, id) = service(mailer).await;
    let file = org_accounts::read_invite_csv(
        b"email,group membership\nann@example.com,\nbob@example.com,\n",
        &org_accounts::CsvOptions::default(),
    )
    .unwrap();
    let report = service
        .bulk_invite(&id, &file, &ctx(ADMIN, 2), false)
        .await
        .unwrap();
    assert_eq!(report.totals().invited, 2);
    assert!(
        mailer.sent_to().is_empty(),
        "the upload sends nothing itself"
    );
    assert_eq!(queue_len(&service, &id).await, 2);
    let delivered = service.deliver(&id, at(3), 100).await.unwrap();
    assert_eq!(delivered.len(), 2);
    assert!(delivered.iter().all(|d| d.result.is_ok()), "{delivered:?}");
    assert_eq!(mailer.sent_to(), ["ann@example.com", "bob@example.com"]);
}
