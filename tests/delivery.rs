//! Delivery workers over time: claims cover a worker's own send however
//! long its call has run, and a tenant whose mail server keeps failing
//! transiently backs off and stops, instead of growing the event log.
#![cfg(feature = "testing")]
// Tests assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use org_accounts::testing::{ADMIN, at, ctx, email, invite};
use org_accounts::{
    AccountService, Command, EventStore, InMemoryStore, InvitationEmail, MAX_DELIVERY_ATTEMPTS,
    MailError, MailErrorKind, MailSettings, Mailer, OrganizationId,
};

/// Sends take `delay` of (tokio's, here paused) time; failures as told.
#[derive(Default)]
struct SlowMailer {
    sent: Mutex<Vec<String>>,
    delay: Duration,
    fail_with: Option<MailErrorKind>,
}

impl Mailer for &'static SlowMailer {
    async fn send(
        &self,
        _: &OrganizationId,
        _: &MailSettings,
        email: &InvitationEmail,
    ) -> Result<(), MailError> {
        tokio::time::sleep(self.delay).await;
        if let Some(kind) = self.fail_with {
            return Err(MailError::new(kind, Some(421), "try again later"));
        }
        self.sent.lock().unwrap().push(email.to.as_str().to_owned());
        Ok(())
    }
}

async fn organization_with_queue(store: &Arc<InMemoryStore>, people: &[&str]) -> OrganizationId {
    let service = AccountService::new(Arc::clone(store));
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
    let settings = MailSettings::new(
        "smtp.example.com",
        587,
        email("accounts@example.com"),
        "Accounts",
    );
    service
        .execute(&id, &Command::SetMailSettings { settings }, &ctx(ADMIN, 1))
        .await
        .unwrap();
    service
        .execute(&id, &invite(people, &[]), &ctx(ADMIN, 2))
        .await
        .unwrap();
    id
}

/// A worker whose sends take 8 minutes each claims its third email 16
/// minutes into its call; a second worker starting then (with its own,
/// correct clock) must see that claim as held, not lapsed.
#[tokio::test(start_paused = true)]
async fn a_claim_taken_late_in_a_long_call_covers_its_own_send() {
    let store = Arc::new(InMemoryStore::new());
    let id = organization_with_queue(&store, &["p0@x.com", "p1@x.com", "p2@x.com"]).await;
    let mailer: &'static SlowMailer = Box::leak(Box::new(SlowMailer {
        delay: Duration::from_secs(8 * 60),
        ..SlowMailer::default()
    }));
    let node = || Arc::new(AccountService::new(Arc::clone(&store)).with_mailer(mailer));
    let (a, b) = (node(), node());
    let first = {
        let (a, id) = (Arc::clone(&a), id.clone());
        tokio::spawn(async move { a.deliver(&id, at(10), 10).await.unwrap().len() })
    };
    // Sixteen minutes later (the first worker is sending p2 by now), a
    // second worker looks at the queue with the time of its own start.
    tokio::time::sleep(Duration::from_secs(16 * 60 + 30)).await;
    let second = b.deliver(&id, at(10 + 16), 10).await.unwrap().len();
    let first = first.await.unwrap();
    let mut sent = mailer.sent.lock().unwrap().clone();
    assert_eq!(first + second, 3, "the workers' reports add up");
    sent.sort();
    assert_eq!(
        sent,
        ["p0@x.com", "p1@x.com", "p2@x.com"],
        "each email sent once"
    );
}

#[tokio::test(start_paused = true)]
async fn a_server_that_keeps_failing_transiently_backs_off_and_stops() {
    let store = Arc::new(InMemoryStore::new());
    let id = organization_with_queue(&store, &["bob@x.com"]).await;
    let mailer: &'static SlowMailer = Box::leak(Box::new(SlowMailer {
        fail_with: Some(MailErrorKind::Transient),
        ..SlowMailer::default()
    }));
    let service = AccountService::new(Arc::clone(&store)).with_mailer(mailer);
    let version_before = store.read(&id, 0).await.unwrap().len();
    // A host's loop calling deliver every few seconds for a week.
    let mut attempts = 0;
    for minute in 0..(7 * 24 * 60) {
        let now = at(10 + minute);
        let tried = service.deliver(&id, now, 100).await.unwrap();
        attempts += tried.len();
        if minute == 0 {
            assert_eq!(tried.len(), 1, "the first call tries");
        }
        if minute == 1 {
            // Backed off: one minute after the first failure at the
            // earliest, then two, four, ...
            assert!(tried.len() <= 1);
        }
    }
    assert_eq!(
        attempts as u32, MAX_DELIVERY_ATTEMPTS,
        "tried at most MAX_DELIVERY_ATTEMPTS times"
    );
    let events = store.read(&id, 0).await.unwrap().len() - version_before;
    assert_eq!(
        events as u32,
        2 * MAX_DELIVERY_ATTEMPTS,
        "a claim and a failure per attempt, nothing more"
    );
    // New mail settings start it over.
    let settings = MailSettings::new(
        "smtp2.example.com",
        587,
        email("accounts@example.com"),
        "Accounts",
    );
    service
        .execute(
            &id,
            &Command::SetMailSettings { settings },
            &ctx(ADMIN, 20_000),
        )
        .await
        .unwrap();
    assert_eq!(service.deliver(&id, at(20_001), 10).await.unwrap().len(), 1);
}
