//! Tenant safety: every list a tenant's administrator can grow is bounded
//! by limits the host sets (never a command), every command stays linear
//! in its input, and mail settings cannot leak a credential. Each test is
//! written as the attack.
// Tests assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, Instant};

use jiff::Timestamp;
use org_accounts::{
    Assignee, Command, Context, CredentialRef, DomainError, Email, Event, EventKind, GroupName,
    LicenseKind, Limits, MailError, MailErrorKind, MailSettings, Organization, RoleName,
    ServiceName,
};

const ADMIN: &str = "ada@example.com";

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

fn now() -> Timestamp {
    "2026-11-28T09:00:00Z".parse().unwrap()
}

fn ctx() -> Context {
    Context::new(email(ADMIN), now())
}

fn org() -> Organization {
    let mut org = Organization::new();
    org.execute(
        &Command::CreateOrganization {
            name: "Example".into(),
        },
        &ctx(),
    )
    .unwrap();
    org
}

fn group(s: &str) -> GroupName {
    GroupName::parse(s).unwrap()
}

fn role(s: &str) -> RoleName {
    RoleName::parse(s).unwrap()
}

fn service(s: &str) -> ServiceName {
    ServiceName::parse(s).unwrap()
}

fn limit_reached(result: Result<Vec<Event>, DomainError>, what: &str, limit: usize) {
    match result {
        Err(e @ DomainError::LimitReached { .. }) => {
            assert_eq!(e.code(), "limit_reached");
            let DomainError::LimitReached { what: w, limit: l } = &e else {
                unreachable!()
            };
            assert_eq!((*w, *l), (what, limit), "{e}");
            let message = e.to_string();
            assert!(
                message.contains(what) && message.contains(&limit.to_string()),
                "{message}"
            );
        }
        other => panic!("expected the {what} limit, got {other:?}"),
    }
}

/// `n` members invited 20 at a time; their addresses.
fn invite_many(org: &mut Organization, n: usize) -> Vec<Email> {
    let all: Vec<Email> = (0..n)
        .map(|i| email(&format!("user{i}@example.com")))
        .collect();
    for chunk in all.chunks(20) {
        org.execute(
            &Command::InviteUsers {
                emails: chunk.to_vec(),
                groups: vec![],
            },
            &ctx(),
        )
        .unwrap();
    }
    all
}

fn add_service(name: &str, roles: Vec<RoleName>) -> Command {
    Command::AddService {
        name: service(name),
        admin_role: roles[0].clone(),
        roles,
        default_roles: vec![],
    }
}

#[test]
fn the_defaults_allow_a_large_organization() {
    let limits = Limits::default();
    assert_eq!(limits, ctx().limits, "Context::new uses the defaults");
    assert_eq!(limits.custom_groups, 5_000);
    assert_eq!(limits.services, 500);
    assert_eq!(limits.roles_per_service, 100);
    assert_eq!(limits.license_kinds, 500);
    assert_eq!(limits.users_per_command, 10_000);
    // A 100k-member group is ten commands of 10k members.
    assert!(100_000 / limits.users_per_command <= 10);
}

#[test]
fn twenty_thousand_custom_groups_are_refused_at_the_limit() {
    let mut org = org();
    let mut created = 0;
    let mut refused = 0;
    let started = Instant::now();
    for i in 0..20_000 {
        let result = org.execute(
            &Command::CreateGroup {
                name: group(&format!("Team {i}")),
                members: vec![],
            },
            &ctx(),
        );
        match result {
            Ok(_) => created += 1,
            Err(e) => {
                limit_reached(Err(e), "custom groups in an organization", 5_000);
                refused += 1;
            }
        }
    }
    assert_eq!((created, refused), (5_000, 15_000));
    assert_eq!(org.groups().count(), 5_000 + 6);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    // Deleting one makes room for one.
    org.execute(
        &Command::DeleteGroup {
            group: group("Team 0"),
        },
        &ctx(),
    )
    .unwrap();
    let again = |org: &mut Organization, name: &str| {
        org.execute(
            &Command::CreateGroup {
                name: group(name),
                members: vec![],
            },
            &ctx(),
        )
    };
    assert!(again(&mut org, "Team again").is_ok());
    limit_reached(
        again(&mut org, "One more"),
        "custom groups in an organization",
        5_000,
    );
}

#[test]
fn the_host_sets_the_limits_and_lowering_one_removes_nothing() {
    let mut org = org();
    for i in 0..10 {
        org.execute(
            &Command::CreateGroup {
                name: group(&format!("G{i}")),
                members: vec![],
            },
            &ctx(),
        )
        .unwrap();
    }
    let strict = ctx().with_limits(Limits::default().with_custom_groups(3));
    let before = org.clone();
    limit_reached(
        org.execute(
            &Command::CreateGroup {
                name: group("G10"),
                members: vec![],
            },
            &strict,
        ),
        "custom groups in an organization",
        3,
    );
    assert_eq!(org, before, "nothing removed, nothing added");
    // Renaming and deleting still work above a lowered limit.
    org.execute(
        &Command::RenameGroup {
            group: group("G1"),
            new_name: group("G one"),
        },
        &strict,
    )
    .unwrap();
}

#[test]
fn services_are_bounded() {
    let mut org = org();
    let limits = Limits::default().with_services(50);
    let ctx = ctx().with_limits(limits);
    for i in 0..50 {
        org.execute(&add_service(&format!("S{i}"), vec![role("Owner")]), &ctx)
            .unwrap();
    }
    limit_reached(
        org.execute(&add_service("S50", vec![role("Owner")]), &ctx),
        "services in an organization",
        50,
    );
    // The default bound is 500.
    let mut org = self::org();
    for i in 0..500 {
        org.execute(
            &add_service(&format!("S{i}"), vec![role("Owner")]),
            &self::ctx(),
        )
        .unwrap();
    }
    limit_reached(
        org.execute(&add_service("S500", vec![role("Owner")]), &self::ctx()),
        "services in an organization",
        500,
    );
}

#[test]
fn add_service_with_forty_thousand_roles_is_refused_quickly() {
    let roles: Vec<RoleName> = (0..40_000).map(|i| role(&format!("Role {i}"))).collect();
    let mut org = org();
    let before = org.clone();
    let started = Instant::now();
    limit_reached(
        org.execute(&add_service("Big", roles), &ctx()),
        "roles in one service",
        100,
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(org, before);
}

#[test]
fn roles_per_service_count_distinct_roles_and_repeats_are_linear() {
    let mut org = org();
    let hundred: Vec<RoleName> = (0..100).map(|i| role(&format!("Role {i}"))).collect();
    org.execute(&add_service("Exactly", hundred.clone()), &ctx())
        .unwrap();
    let mut too_many = hundred.clone();
    too_many.push(role("Role 100"));
    limit_reached(
        org.execute(&add_service("Over", too_many), &ctx()),
        "roles in one service",
        100,
    );
    // 40k entries that repeat two roles (any case): de-duplicated by
    // hashing, so accepted at once.
    let repeats: Vec<RoleName> = (0..40_000)
        .map(|i| role(if i % 2 == 0 { "Owner" } else { "VIEWER" }))
        .chain([role("viewer")])
        .collect();
    let started = Instant::now();
    let events = org
        .execute(&add_service("Repeats", repeats), &ctx())
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let EventKind::ServiceAdded { roles, .. } = &events[0].kind else {
        panic!("{events:?}")
    };
    let spelled: Vec<&str> = roles.iter().map(RoleName::as_str).collect();
    assert_eq!(spelled, ["Owner", "VIEWER"], "first spelling kept");
    let defined = org.service(&service("Repeats")).unwrap().roles().count();
    assert_eq!(defined, 2);
}

#[test]
fn default_roles_are_at_most_one_per_default_group() {
    let mut org = org();
    let entries: Vec<(GroupName, RoleName)> = (0..40_000)
        .map(|_| (group("Automation Users"), role("User")))
        .collect();
    let started = Instant::now();
    limit_reached(
        org.execute(
            &Command::AddService {
                name: service("CRM"),
                roles: vec![role("Owner"), role("User")],
                admin_role: role("Owner"),
                default_roles: entries,
            },
            &ctx(),
        ),
        "default roles in one service",
        6,
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn role_assignments_are_decided_without_scans() {
    let mut org = org();
    let roles: Vec<RoleName> = (0..100).map(|i| role(&format!("Role {i}"))).collect();
    org.execute(&add_service("CRM", roles.clone()), &ctx())
        .unwrap();
    let users = invite_many(&mut org, 200);
    let started = Instant::now();
    for user in &users {
        for role in roles.iter().take(20) {
            let assign = Command::AssignRole {
                service: service("crm"),
                to: Assignee::User(user.clone()),
                role: role.clone(),
            };
            assert_eq!(org.execute(&assign, &ctx()).unwrap().len(), 1);
            // Assigning again is a no-op, found by look-up.
            assert!(org.execute(&assign, &ctx()).unwrap().is_empty());
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn license_kinds_are_bounded() {
    let mut org = org();
    let kind = |i: usize| LicenseKind::parse(&format!("kind-{i}")).unwrap();
    for i in 0..500 {
        org.execute(
            &Command::SetLicensePool {
                kind: kind(i),
                seats: 1,
            },
            &ctx(),
        )
        .unwrap();
    }
    limit_reached(
        org.execute(
            &Command::SetLicensePool {
                kind: kind(500),
                seats: 1,
            },
            &ctx(),
        ),
        "license kinds in an organization",
        500,
    );
    // Resizing an existing pool at the limit is fine.
    org.execute(
        &Command::SetLicensePool {
            kind: kind(7),
            seats: 10,
        },
        &ctx(),
    )
    .unwrap();
}

#[test]
fn remove_users_with_forty_thousand_unknown_addresses_is_refused_quickly() {
    let mut org = org();
    let unknown: Vec<Email> = (0..40_000)
        .map(|i| email(&format!("nobody{i}@example.com")))
        .collect();
    let started = Instant::now();
    limit_reached(
        org.execute(
            &Command::RemoveUsers {
                emails: unknown.clone(),
            },
            &ctx(),
        ),
        "users named in one command",
        10_000,
    );
    // At the limit the look-up is hashed: every unknown address once.
    let result = org.execute(
        &Command::RemoveUsers {
            emails: unknown[..10_000].to_vec(),
        },
        &ctx(),
    );
    let Err(DomainError::UnknownUsers { emails }) = result else {
        panic!("{result:?}")
    };
    assert_eq!(emails.len(), 10_000);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn group_membership_commands_name_at_most_ten_thousand_users() {
    let mut org = org();
    let users = invite_many(&mut org, 40);
    let many: Vec<Email> = users.iter().cycle().take(10_001).cloned().collect();
    limit_reached(
        org.execute(
            &Command::CreateGroup {
                name: group("Big"),
                members: many.clone(),
            },
            &ctx(),
        ),
        "users named in one command",
        10_000,
    );
    org.execute(
        &Command::CreateGroup {
            name: group("Big"),
            members: many[..10_000].to_vec(),
        },
        &ctx(),
    )
    .unwrap();
    for command in [
        Command::AddGroupMembers {
            group: group("Big"),
            members: many.clone(),
        },
        Command::RemoveGroupMembers {
            group: group("Big"),
            members: many.clone(),
        },
    ] {
        limit_reached(
            org.execute(&command, &ctx()),
            "users named in one command",
            10_000,
        );
    }
    let small = ctx().with_limits(Limits::default().with_users_per_command(5));
    limit_reached(
        org.execute(
            &Command::RemoveGroupMembers {
                group: group("Big"),
                members: users[..6].to_vec(),
            },
            &small,
        ),
        "users named in one command",
        5,
    );
}

fn mail() -> MailSettings {
    MailSettings::new(
        "smtp.example.com",
        587,
        email("noreply@example.com"),
        "Example Corp",
    )
}

fn with_mail_and_bob() -> Organization {
    let mut org = org();
    org.execute(&Command::SetMailSettings { settings: mail() }, &ctx())
        .unwrap();
    org.execute(
        &Command::InviteUsers {
            emails: vec![email("bob@example.com")],
            groups: vec![],
        },
        &ctx(),
    )
    .unwrap();
    org
}

#[test]
fn a_thousand_resends_leave_one_queued_email() {
    let mut org = with_mail_and_bob();
    let resend = Command::ResendInvitation {
        user: email("bob@example.com"),
    };
    for _ in 0..1000 {
        org.execute(&resend, &ctx()).unwrap();
    }
    assert_eq!(org.queued_emails().count(), 1);
    assert_eq!(org.queued_ids().count(), 1);
    // After a failure, a resend replaces the failed email with a fresh one.
    let id = org.queued_ids().next().unwrap();
    let failure = MailError::new(MailErrorKind::Permanent, Some(550), "mailbox unavailable");
    let event = org.delivery_event(id, Err(&failure), now()).unwrap();
    org.apply(&event);
    let queued = org.queued_emails().next().unwrap().1.clone();
    assert_eq!(queued.attempts(), 1);
    assert!(!queued.is_deliverable(now()));
    let events = org.execute(&resend, &ctx()).unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e.kind, EventKind::InvitationEmailQueued { .. }))
    );
    let queued: Vec<_> = org
        .queued_emails()
        .map(|(id, q, _)| (id, q.clone()))
        .collect();
    assert_eq!(queued.len(), 1);
    assert_ne!(queued[0].0, id, "a fresh email");
    assert_eq!(queued[0].1.attempts(), 0);
    assert!(queued[0].1.is_deliverable(now()));
    // Replaying the events rebuilds the same one-email queue.
    // And removing the member drops it, found without a scan.
    org.execute(
        &Command::RemoveUsers {
            emails: vec![email("bob@example.com")],
        },
        &ctx(),
    )
    .unwrap();
    assert_eq!(org.queued_emails().count(), 0);
}

#[test]
fn replaying_many_queued_events_for_one_member_keeps_the_newest() {
    let mut org = with_mail_and_bob();
    let mut events = Vec::new();
    let resend = Command::ResendInvitation {
        user: email("bob@example.com"),
    };
    // Fail and resend many times: each resend queues a replacement.
    for i in 0..50 {
        let id = org.queued_ids().next().unwrap();
        let failure = MailError::new(MailErrorKind::Permanent, None, format!("failure {i}"));
        let event = org.delivery_event(id, Err(&failure), now()).unwrap();
        org.apply(&event);
        events.push(event);
        events.extend(org.execute(&resend, &ctx()).unwrap());
    }
    assert_eq!(org.queued_ids().count(), 1);
    let last = org.queued_ids().next().unwrap();
    let mut again = with_mail_and_bob();
    for event in &events {
        again.apply(event);
    }
    assert_eq!(again.queued_ids().collect::<Vec<_>>(), [last]);
}

#[test]
fn stored_delivery_error_text_is_cut_to_two_hundred_characters() {
    let mut org = with_mail_and_bob();
    let id = org.queued_ids().next().unwrap();
    let failure = MailError::new(MailErrorKind::Transient, Some(421), "try later");
    let event = org.delivery_event(id, Err(&failure), now()).unwrap();
    // A stored event (a damaged or hostile store) with 100 KB of server text.
    let json = serde_json::to_string(&event).unwrap();
    let huge = "Ω\u{1b}[2J".repeat(25_000);
    let json = json.replace("try later", &huge.replace('\u{1b}', "\\u001b"));
    let stored: Event = serde_json::from_str(&json).unwrap();
    let EventKind::InvitationEmailFailed { error, .. } = &stored.kind else {
        panic!()
    };
    assert!(error.len() > 100_000);
    org.apply(&stored);
    let queued = org.queued_emails().next().unwrap().1.clone();
    let kept = queued.last_error().unwrap();
    assert_eq!(kept.chars().count(), org_accounts::MAX_MAIL_ERROR_CHARS);
    assert!(!kept.chars().any(char::is_control), "{kept:?}");
    // A worker's error whose summary was lengthened after construction is
    // cut in the event it stores.
    let mut long = MailError::new(MailErrorKind::Transient, None, "x");
    long.summary = "y".repeat(10_000);
    let event = org.delivery_event(id, Err(&long), now()).unwrap();
    let EventKind::InvitationEmailFailed { error, .. } = &event.kind else {
        panic!()
    };
    assert_eq!(error.chars().count(), 200);
}

fn refused_settings(settings: MailSettings, expected: &str) {
    let mut org = org();
    let result = org.execute(&Command::SetMailSettings { settings }, &ctx());
    match result {
        Err(DomainError::InvalidMailSettings { reason }) => {
            assert!(reason.contains(expected), "{reason:?} lacks {expected:?}");
        }
        other => panic!("expected a refusal ({expected}), got {other:?}"),
    }
}

#[test]
fn credentials_are_never_sent_without_tls() {
    // The attack: the tenant's own server on any port, TLS off, a host
    // secret named as the credential.
    refused_settings(
        mail()
            .with_tls(false)
            .with_auth("x", CredentialRef("HOST_SECRET".into())),
        "credentials are never sent without TLS",
    );
    // TLS off without authentication is still allowed; with TLS on,
    // authentication is fine.
    let mut org = org();
    org.execute(
        &Command::SetMailSettings {
            settings: mail().with_tls(false),
        },
        &ctx(),
    )
    .unwrap();
    org.execute(
        &Command::SetMailSettings {
            settings: mail().with_auth("mailer", CredentialRef("smtp/example".into())),
        },
        &ctx(),
    )
    .unwrap();
}

#[test]
fn every_mail_settings_field_is_bounded() {
    let auth =
        |user: &str, reference: &str| mail().with_auth(user, CredentialRef(reference.to_owned()));
    // A 10 MB credential reference and a 5 MB sender name, as reported.
    refused_settings(
        auth("mailer", &"a".repeat(10 << 20)),
        "longer than 128 characters",
    );
    refused_settings(
        MailSettings::new(
            "smtp.example.com",
            587,
            email("noreply@example.com"),
            "n".repeat(5 << 20),
        ),
        "longer than 100 characters",
    );
    refused_settings(auth("mailer", "smtp password"), "only letters, digits");
    refused_settings(auth("mailer", "$(cat /etc/passwd)"), "only letters, digits");
    refused_settings(auth("mailer", ""), "credential reference");
    refused_settings(auth(&"u".repeat(257), "smtp"), "longer than 256 bytes");
    refused_settings(auth("mail\ner", "smtp"), "control");
    refused_settings(auth(" ", "smtp"), "user name");
    let host = |h: &str| MailSettings::new(h, 587, email("noreply@example.com"), "Example");
    refused_settings(
        host(&format!("{}.com", "a".repeat(250))),
        "longer than 253 bytes",
    );
    refused_settings(host("smtp example.com"), "without spaces");
    refused_settings(host("smtp.example.com\r\nRCPT"), "without spaces");
    refused_settings(host("smtp_1.example.com"), "letters, digits, hyphens");
    refused_settings(host("-smtp.example.com"), "letters, digits, hyphens");
    refused_settings(host("smtp..example.com"), "letters, digits, hyphens");
    refused_settings(host(""), "empty");
    refused_settings(
        MailSettings::new(
            "smtp.example.com",
            587,
            email("noreply@example.com"),
            "Accounts\u{202E}",
        ),
        "formatting or invisible",
    );
    // The EHLO domain reaches the SMTP greeting line: nothing but a name.
    refused_settings(
        mail().with_domain("acme.example\r\nMAIL FROM:<x@y.z>"),
        "the domain must be a name",
    );
    refused_settings(
        mail().with_domain("acme example"),
        "the domain must be a name",
    );
    refused_settings(
        mail().with_domain("192.0.2.10"),
        "the domain must be a name",
    );
    refused_settings(
        mail().with_domain("[192.0.2.10]"),
        "the domain must be a name",
    );
    refused_settings(
        mail().with_domain(format!("{}.com", "a".repeat(250))),
        "at most 253 bytes",
    );
    refused_settings(mail().with_domain(""), "the domain is empty");
    refused_settings(mail().with_timeout(Duration::ZERO), "timeout");
    refused_settings(mail().with_timeout(Duration::from_secs(601)), "timeout");
    // What stays accepted: names, IP literals (the host's mail policy
    // decides which addresses may be reached), a 128-character reference
    // and a 100-character sender name.
    for settings in [
        host("smtp.example.com."),
        mail().with_domain("mail.acme.example"),
        mail().with_domain("xn--bcher-kva.example"),
        host("192.0.2.10"),
        host("2001:db8::1"),
        host("[2001:db8::1]"),
        host(&format!("{}.example.com", "a".repeat(63))),
        auth("mailer@example.com", &"a/b_c.d-e".repeat(14)[..126]),
        auth("mailer", &"r".repeat(128)),
        MailSettings::new(
            "smtp.example.com",
            587,
            email("noreply@example.com"),
            "é".repeat(100),
        ),
    ] {
        let mut org = org();
        org.execute(&Command::SetMailSettings { settings }, &ctx())
            .unwrap();
    }
}
