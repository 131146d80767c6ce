//! The mail policy (issue 15): a tenant administrator's mail settings must
//! not reach the host's network or secrets.
//!
//! Written as the attacks. No test here sends a packet: names go to an
//! injected resolver that records what it was asked, refused addresses are
//! never connected to, and the service tests use a mailer that records
//! what it would have sent.
// Tests and benches assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use org_accounts::{
    AccountService, Command, CredentialRef, DefaultMailPolicy, Email, InMemoryStore, MailPolicy,
    MailRefusal, MailSettings, OrganizationId, ServiceError,
};

fn org(id: &str) -> OrganizationId {
    OrganizationId::new(id).unwrap()
}

/// What the injected resolver was asked, in order.
type Lookups = Arc<Mutex<Vec<String>>>;

/// A policy whose resolver answers from `names` (anything else does not
/// resolve) and records each lookup.
fn policy(names: &[(&str, &[&str])]) -> (DefaultMailPolicy, Lookups) {
    let names: HashMap<String, Vec<IpAddr>> = names
        .iter()
        .map(|(name, addresses)| {
            (
                (*name).to_owned(),
                addresses.iter().map(|a| a.parse().unwrap()).collect(),
            )
        })
        .collect();
    let lookups: Lookups = Arc::default();
    let recorded = Arc::clone(&lookups);
    let policy = DefaultMailPolicy::new().with_resolver(move |host: String| {
        recorded.lock().unwrap().push(host.clone());
        let found = names.get(&host).cloned();
        async move { found.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such name")) }
    });
    (policy, lookups)
}

fn settings(host: &str) -> MailSettings {
    MailSettings::new(
        host,
        587,
        Email::parse("accounts@acme.example").unwrap(),
        "Acme",
    )
}

#[tokio::test]
async fn internal_addresses_are_refused() {
    let (policy, lookups) = policy(&[
        ("localhost", &["127.0.0.1", "::1"]),
        ("metadata.google.internal", &["169.254.169.254"]),
        ("db.internal", &["10.1.2.3"]),
        ("cgnat.test", &["100.64.0.9"]),
        ("v6-metadata.test", &["fd00:ec2::254"]),
        ("mapped.test", &["::ffff:192.168.0.1"]),
        ("nat64.test", &["64:ff9b::a9fe:a9fe"]),
        // A public address next to an internal one: refused as a whole,
        // since a transport may try either.
        ("mixed.test", &["8.8.8.8", "10.0.0.1"]),
        ("empty.test", &[]),
        ("mail.acme.test", &["8.8.8.8", "2001:4860:4860::8888"]),
    ]);
    let acme = org("acme");
    for host in [
        "127.0.0.1",
        "127.1.2.3",
        "localhost",
        "[::1]",
        "::1",
        "0.0.0.0",
        "[::]",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.10.10",
        "metadata.google.internal",
        "fe80::1",
        "[fd00:ec2::254]",
        "fc00::1",
        "100.64.0.1",
        "224.0.0.1",
        "255.255.255.255",
        "192.0.2.10",
        "::ffff:10.0.0.1",
        "db.internal",
        "cgnat.test",
        "v6-metadata.test",
        "mapped.test",
        "nat64.test",
        "mixed.test",
        "empty.test",
        "no-such-name.test",
    ] {
        let refused = policy.allowed_addresses(&acme, host, 25).await.unwrap_err();
        assert_eq!(refused, MailRefusal::host_not_allowed(host), "{host}");
        let text = refused.to_string();
        assert!(text.contains("not allowed"), "{text}");
        // It says which host, never what an internal name resolves to (a
        // map of the host's network).
        assert!(!text.contains("10.1.2.3") || host == "10.1.2.3", "{text}");
        assert!(
            !text.contains("169.254") || host.contains("169.254"),
            "{text}"
        );
    }
    // Literal addresses are never looked up; names once each.
    assert_eq!(
        *lookups.lock().unwrap(),
        [
            "localhost",
            "metadata.google.internal",
            "db.internal",
            "cgnat.test",
            "v6-metadata.test",
            "mapped.test",
            "nat64.test",
            "mixed.test",
            "empty.test",
            "no-such-name.test"
        ]
    );
    // A public name: every address, with the port.
    let allowed = policy
        .allowed_addresses(&acme, "mail.acme.test", 465)
        .await
        .unwrap();
    assert_eq!(
        allowed,
        [
            "8.8.8.8:465".parse::<SocketAddr>().unwrap(),
            "[2001:4860:4860::8888]:465".parse().unwrap()
        ]
    );
}

#[tokio::test]
async fn the_host_allows_internal_addresses_explicitly() {
    let (policy, _) = policy(&[("relay.internal", &["10.20.0.5"])]);
    let acme = org("acme");
    assert!(
        policy
            .allowed_addresses(&acme, "relay.internal", 25)
            .await
            .is_err()
    );
    let policy = policy
        .allowing("127.0.0.1".parse().unwrap())
        .allowing_network("10.20.0.0".parse().unwrap(), 16)
        .allowing_network("169.254.0.0".parse().unwrap(), 16);
    assert_eq!(
        policy
            .allowed_addresses(&acme, "relay.internal", 25)
            .await
            .unwrap(),
        ["10.20.0.5:25".parse::<SocketAddr>().unwrap()]
    );
    assert!(
        policy
            .allowed_addresses(&acme, "127.0.0.1", 25)
            .await
            .is_ok()
    );
    // Only what was named: the rest of loopback and private space stays
    // refused, and a metadata address needs an exact allowance even inside
    // an allowed network.
    assert!(
        policy
            .allowed_addresses(&acme, "127.0.0.2", 25)
            .await
            .is_err()
    );
    assert!(
        policy
            .allowed_addresses(&acme, "10.21.0.1", 25)
            .await
            .is_err()
    );
    assert!(
        policy
            .allowed_addresses(&acme, "169.254.1.1", 25)
            .await
            .is_ok()
    );
    assert!(
        policy
            .allowed_addresses(&acme, "169.254.169.254", 25)
            .await
            .is_err()
    );
    let policy = policy.allowing("169.254.169.254".parse().unwrap());
    assert!(
        policy
            .allowed_addresses(&acme, "169.254.169.254", 25)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_name_that_never_resolves_is_refused_at_the_lookup_timeout() {
    let policy = DefaultMailPolicy::new()
        .with_resolver(|_host: String| std::future::pending::<io::Result<Vec<IpAddr>>>())
        .with_lookup_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let refused = policy
        .allowed_addresses(&org("acme"), "slow.test", 25)
        .await
        .unwrap_err();
    assert!(matches!(refused, MailRefusal::HostNotAllowed { .. }));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn credentials_are_scoped_per_organization_without_an_oracle() {
    let vault: HashMap<(String, String), ()> = HashMap::from([
        (("acme".to_owned(), "smtp".to_owned()), ()),
        (("host".to_owned(), "DATABASE_URL".to_owned()), ()),
    ]);
    let (policy, _) = policy(&[("mail.acme.test", &["8.8.8.8"])]);
    let policy = policy.with_credentials(move |org, reference| {
        vault.contains_key(&(org.as_str().to_owned(), reference.0.clone()))
    });
    let with = |reference: &str| {
        settings("mail.acme.test").with_auth("mailer", CredentialRef(reference.into()))
    };
    assert_eq!(
        policy.check_settings(&org("acme"), &with("smtp")).await,
        Ok(())
    );
    assert!(
        policy
            .credential_exists(&org("acme"), &CredentialRef("smtp".into()))
            .await
    );
    // Another organization's reference, the host's own secret, and one
    // nobody has: refused alike.
    let refusals = [
        policy.check_settings(&org("other"), &with("smtp")).await,
        policy
            .check_settings(&org("acme"), &with("DATABASE_URL"))
            .await,
        policy.check_settings(&org("acme"), &with("NOPE")).await,
    ];
    for refusal in &refusals {
        assert_eq!(refusal, &Err(MailRefusal::CredentialNotAvailable));
    }
    // Without a credential source, no credential exists.
    let (bare, _) = self::policy(&[("mail.acme.test", &["8.8.8.8"])]);
    assert_eq!(
        bare.check_settings(&org("acme"), &with("smtp")).await,
        Err(MailRefusal::CredentialNotAvailable)
    );
    assert_eq!(
        bare.check_settings(&org("acme"), &settings("mail.acme.test"))
            .await,
        Ok(())
    );
}

// ---------------------------------------------------------------------------
// Through the service
// ---------------------------------------------------------------------------

async fn service_with(
    policy: DefaultMailPolicy,
) -> (AccountService<InMemoryStore>, OrganizationId) {
    let service = AccountService::new(InMemoryStore::new()).with_mail_policy(policy);
    let id = org("acme");
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
        .execute(&id, &invite(&["bob@example.com"]), &ctx(ADMIN, 1))
        .await
        .unwrap();
    service
        .execute(&id, &Command::AcceptInvitation, &ctx("bob@example.com", 2))
        .await
        .unwrap();
    (service, id)
}

fn invite(list: &[&str]) -> Command {
    Command::InviteUsers {
        emails: emails(list),
        groups: vec![],
    }
}

#[tokio::test]
async fn the_service_refuses_internal_mail_hosts_before_storing_anything() {
    let (policy, lookups) = policy(&[
        ("mail.acme.test", &["8.8.8.8"]),
        ("redis.internal", &["10.0.0.7"]),
    ]);
    let (service, id) = service_with(policy).await;
    let before = service.read(&id, |org| org.version()).await.unwrap();
    for host in [
        "127.0.0.1",
        "localhost",
        "[::1]",
        "10.0.0.1",
        "169.254.169.254",
        "redis.internal",
    ] {
        let error = service
            .execute(
                &id,
                &Command::SetMailSettings {
                    settings: settings(host),
                },
                &ctx(ADMIN, 3),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                &error,
                ServiceError::MailSettingsRefused(MailRefusal::HostNotAllowed { .. })
            ),
            "{host}: {error:?}"
        );
        assert_eq!(error.code(), "mail_settings_refused");
        assert!(error.to_string().contains(host), "{error}");
    }
    assert_eq!(
        service.read(&id, |org| org.version()).await.unwrap(),
        before
    );
    assert!(
        service
            .read(&id, |org| org.mail_settings().is_none())
            .await
            .unwrap()
    );

    // A public host is stored; the policy was asked once for it.
    lookups.lock().unwrap().clear();
    service
        .execute(
            &id,
            &Command::SetMailSettings {
                settings: settings("mail.acme.test"),
            },
            &ctx(ADMIN, 4),
        )
        .await
        .unwrap();
    assert_eq!(*lookups.lock().unwrap(), ["mail.acme.test"]);
    assert_eq!(
        service
            .read(&id, |org| org.mail_settings().map(|s| s.host.clone()))
            .await
            .unwrap()
            .as_deref(),
        Some("mail.acme.test")
    );
}

/// The policy answers administrators only: a member who is not one, or an
/// organization that does not exist, is refused by the organization's own
/// rules before any name is looked up (no DNS probe, no credential
/// oracle, for anyone else).
#[tokio::test]
async fn the_policy_is_asked_only_after_the_organizations_own_checks() {
    let (policy, lookups) = policy(&[("mail.acme.test", &["8.8.8.8"])]);
    let (service, id) = service_with(policy).await;
    let set = Command::SetMailSettings {
        settings: settings("redis.internal"),
    };
    let error = service
        .execute(&id, &set, &ctx("bob@example.com", 3))
        .await
        .unwrap_err();
    assert!(matches!(error, ServiceError::Refused(_)), "{error:?}");
    let error = service
        .execute(&org("nobody"), &set, &ctx(ADMIN, 3))
        .await
        .unwrap_err();
    assert!(matches!(error, ServiceError::Refused(_)), "{error:?}");
    // Settings the core refuses (port 0) never reach the policy either.
    let mut bad = settings("redis.internal");
    bad.port = 0;
    let error = service
        .execute(
            &id,
            &Command::SetMailSettings { settings: bad },
            &ctx(ADMIN, 3),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, ServiceError::Refused(_)), "{error:?}");
    assert!(
        lookups.lock().unwrap().is_empty(),
        "{:?}",
        lookups.lock().unwrap()
    );
}

/// DNS rebinding: the name is public when the settings are saved and points
/// at the metadata service when the email is sent. The mailer asks the
/// policy again at delivery and connects nowhere.
#[cfg(feature = "smtp")]
#[tokio::test(flavor = "multi_thread")]
async fn a_name_that_rebinds_after_it_was_saved_is_refused_at_delivery() {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use org_accounts::{MailErrorKind, SmtpMailer};

    let answers = Arc::new(AtomicUsize::new(0));
    let policy = {
        let answers = Arc::clone(&answers);
        DefaultMailPolicy::new().with_resolver(move |_host: String| {
            let address: IpAddr = if answers.fetch_add(1, Ordering::SeqCst) == 0 {
                "8.8.8.8".parse().unwrap()
            } else {
                "169.254.169.254".parse().unwrap()
            };
            async move { Ok(vec![address]) }
        })
    };
    let mailer = SmtpMailer::new(|_, _| None).with_policy(policy);
    let service = AccountService::new(InMemoryStore::new())
        .with_mail_policy(mailer.clone())
        .with_mailer(mailer);
    let id = org("acme");
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
                settings: settings("rebind.test"),
            },
            &ctx(ADMIN, 1),
        )
        .await
        .unwrap();
    service
        .execute(&id, &invite(&["bob@example.com"]), &ctx(ADMIN, 2))
        .await
        .unwrap();
    let delivered = service.deliver(&id, at(3), 10).await.unwrap();
    assert_eq!(delivered.len(), 1);
    let error = delivered[0].result.as_ref().unwrap_err();
    assert_eq!(error.kind, MailErrorKind::Configuration, "{error:?}");
    assert!(error.summary.contains("not allowed"), "{error:?}");
    assert_eq!(
        answers.load(Ordering::SeqCst),
        2,
        "resolved at save and at delivery"
    );
}
