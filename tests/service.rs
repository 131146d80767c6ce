//! The application service: retries on conflict, snapshots, sign-ins kept
//! out of the event stream, and what happens when storage fails.
// Tests and benches assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use org_accounts::{
    AccountService, ActivityStore, Command, CsvOptions, DomainError, Event, EventStore,
    InMemoryStore, OrganizationId, ServiceConfig, ServiceError, SignIn, Snapshot, SnapshotStore,
    StoreError, Timestamp, UserId, Version, read_invite_csv,
};

fn id() -> OrganizationId {
    OrganizationId::new("acme").unwrap()
}

async fn create<S: org_accounts::Store>(service: &AccountService<S>) {
    service
        .execute(
            &id(),
            &Command::CreateOrganization {
                name: "Acme".into(),
            },
            &ctx(ADMIN, 0),
        )
        .await
        .unwrap();
}

fn invite(list: &[&str]) -> Command {
    Command::InviteUsers {
        emails: emails(list),
        groups: vec![],
    }
}

/// Counts appends and conflicts, passing everything through.
#[derive(Default)]
struct Counting {
    inner: InMemoryStore,
    appends: AtomicUsize,
    conflicts: AtomicUsize,
    appended_events: AtomicUsize,
    /// The lowest `after` read since it was last reset.
    lowest_read_after: AtomicUsize,
}

impl EventStore for Counting {
    async fn append(
        &self,
        org: &OrganizationId,
        expected: Version,
        events: &[Event],
    ) -> Result<Version, StoreError> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        let result = self.inner.append(org, expected, events).await;
        match &result {
            Err(StoreError::Conflict(_)) => {
                self.conflicts.fetch_add(1, Ordering::SeqCst);
            }
            Ok(_) => {
                self.appended_events
                    .fetch_add(events.len(), Ordering::SeqCst);
            }
            Err(_) => {}
        }
        result
    }
    async fn read(&self, org: &OrganizationId, after: Version) -> Result<Vec<Event>, StoreError> {
        self.lowest_read_after
            .fetch_min(after as usize, Ordering::SeqCst);
        self.inner.read(org, after).await
    }
}
impl SnapshotStore for Counting {
    async fn save_snapshot(&self, org: &OrganizationId, s: &Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(org, s).await
    }
    async fn load_snapshot(&self, org: &OrganizationId) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(org).await
    }
}
impl ActivityStore for Counting {
    async fn record_sign_in(
        &self,
        org: &OrganizationId,
        user: UserId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.record_sign_in(org, user, at).await
    }
    async fn sign_ins_after(
        &self,
        org: &OrganizationId,
        after: u64,
    ) -> Result<(Vec<SignIn>, u64), StoreError> {
        self.inner.sign_ins_after(org, after).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_are_stored_and_a_new_service_sees_them() {
    let service = AccountService::new(InMemoryStore::new());
    create(&service).await;
    let done = service
        .execute(&id(), &invite(&["bob@example.com"]), &ctx(ADMIN, 1))
        .await
        .unwrap();
    assert_eq!((done.events.len(), done.version), (1, 2));
    let refused = service
        .execute(&id(), &invite(&["BOB@example.com"]), &ctx(ADMIN, 2))
        .await
        .unwrap_err();
    assert!(matches!(
        refused,
        ServiceError::Refused(DomainError::AlreadyMembers { .. })
    ));
    assert_eq!(refused.code(), "already_members");

    let store = service.store();
    let events = store.read(&id(), 0).await.unwrap();
    let fresh = AccountService::new(InMemoryStore::new());
    fresh.store().append(&id(), 0, &events).await.unwrap();
    let org = fresh
        .read(&id(), org_accounts::Organization::clone)
        .await
        .unwrap();
    assert!(org.member(&email("bob@example.com")).is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_service_reloads_and_decides_again_on_conflict() {
    let store = std::sync::Arc::new(Counting::default());
    let a = AccountService::new(store.clone());
    let b = AccountService::new(store.clone());
    create(&a).await;
    a.read(&id(), org_accounts::Organization::clone)
        .await
        .unwrap(); // a caches version 1
    b.execute(&id(), &invite(&["bob@example.com"]), &ctx(ADMIN, 1))
        .await
        .unwrap();
    // a's cache is stale, but it reads what is newer before deciding:
    let err = a
        .execute(&id(), &invite(&["bob@example.com"]), &ctx(ADMIN, 2))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ServiceError::Refused(DomainError::AlreadyMembers { .. })
    ));
    a.execute(&id(), &invite(&["cy@example.com"]), &ctx(ADMIN, 3))
        .await
        .unwrap();
    assert_eq!(a.read(&id(), |org| org.member_count()).await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_administrators_never_lose_or_duplicate_an_invitation() {
    let store = std::sync::Arc::new(Counting::default());
    let service = AccountService::with_config(
        store.clone(),
        ServiceConfig::default().with_max_attempts(50),
    );
    create(&service).await;
    let service = std::sync::Arc::new(service);
    let mut tasks = Vec::new();
    for t in 0..4 {
        let service = std::sync::Arc::clone(&service);
        tasks.push(tokio::spawn(async move {
            for i in 0..15 {
                // Every task also tries one shared address.
                let mine = format!("t{t}-{i}@example.com");
                let _ = service
                    .execute(&id(), &invite(&["shared@example.com"]), &ctx(ADMIN, 10))
                    .await;
                service
                    .execute(&id(), &invite(&[mine.as_str()]), &ctx(ADMIN, 10))
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let org = service
        .read(&id(), org_accounts::Organization::clone)
        .await
        .unwrap();
    assert_eq!(org.member_count(), 1 + 60 + 1);
    let events = store.inner.read(&id(), 0).await.unwrap();
    assert_eq!(
        org_accounts::Organization::replay(&events).member_count(),
        62
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_ins_never_make_administrators_retry() {
    let store = std::sync::Arc::new(Counting::default());
    let service = AccountService::new(store.clone());
    create(&service).await;
    let people: Vec<String> = (0..10).map(|i| format!("p{i}@example.com")).collect();
    let refs: Vec<&str> = people.iter().map(String::as_str).collect();
    service
        .execute(&id(), &invite(&refs), &ctx(ADMIN, 1))
        .await
        .unwrap();
    for p in &people {
        service
            .execute(&id(), &Command::AcceptInvitation, &ctx(p, 2))
            .await
            .unwrap();
    }
    let before = store.inner.read(&id(), 0).await.unwrap().len();
    let appends_before = store.appends.load(Ordering::SeqCst);
    let service = std::sync::Arc::new(service);
    let mut tasks = Vec::new();
    for p in people.clone() {
        let service = std::sync::Arc::clone(&service);
        tasks.push(tokio::spawn(async move {
            for minute in 3..200 {
                service
                    .record_sign_in(&id(), &ctx(&p, minute))
                    .await
                    .unwrap();
            }
        }));
    }
    let admin = std::sync::Arc::clone(&service);
    tasks.push(tokio::spawn(async move {
        for i in 0..20 {
            let who = format!("new{i}@example.com");
            admin
                .execute(&id(), &invite(&[who.as_str()]), &ctx(ADMIN, 100))
                .await
                .unwrap();
        }
    }));
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        store.conflicts.load(Ordering::SeqCst),
        0,
        "an administrator's command had to retry"
    );
    assert_eq!(
        store.appends.load(Ordering::SeqCst) - appends_before,
        20,
        "sign-ins must not append events"
    );
    assert_eq!(store.inner.read(&id(), 0).await.unwrap().len(), before + 20);
    let org = service
        .read(&id(), org_accounts::Organization::clone)
        .await
        .unwrap();
    for p in &people {
        assert_eq!(
            org.member(&email(p)).unwrap().status().last_active(),
            Some(at(199))
        );
    }
    // A fresh service (another process) sees the same Last active.
    let fresh = AccountService::new(store.clone());
    let seen = fresh
        .read(&id(), org_accounts::Organization::clone)
        .await
        .unwrap();
    assert_eq!(
        seen.member(&email("p3@example.com"))
            .unwrap()
            .status()
            .last_active(),
        Some(at(199))
    );
    // Older sign-ins change nothing; pending users cannot sign in.
    service
        .record_sign_in(&id(), &ctx("p3@example.com", 50))
        .await
        .unwrap();
    assert_eq!(
        service
            .read(&id(), org_accounts::Organization::clone)
            .await
            .unwrap()
            .member(&email("p3@example.com"))
            .unwrap()
            .status()
            .last_active(),
        Some(at(199))
    );
    let err = service
        .record_sign_in(&id(), &ctx("new1@example.com", 300))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "invitation_not_accepted");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_writes_only_its_own_events_and_snapshots_follow_the_policy() {
    let store = std::sync::Arc::new(Counting::default());
    let service = AccountService::with_config(
        store.clone(),
        ServiceConfig::default().with_snapshot_every(Some(10)),
    );
    create(&service).await;
    for chunk in 0..5 {
        let list: Vec<String> = (0..5)
            .map(|i| format!("u{chunk}-{i}@example.com"))
            .collect();
        let refs: Vec<&str> = list.iter().map(String::as_str).collect();
        service
            .execute(&id(), &invite(&refs), &ctx(ADMIN, 1))
            .await
            .unwrap();
        // Snapshots are written in the background: wait for each, so
        // the one stored is the one of the boundary crossed.
        service.snapshots_written().await;
    }
    assert_eq!(store.appended_events.load(Ordering::SeqCst), 26);
    let appends = store.appends.load(Ordering::SeqCst);
    service
        .execute(&id(), &invite(&["one.more@example.com"]), &ctx(ADMIN, 2))
        .await
        .unwrap();
    service.snapshots_written().await;
    assert_eq!(store.appends.load(Ordering::SeqCst), appends + 1);
    assert_eq!(
        store.appended_events.load(Ordering::SeqCst),
        27,
        "one invitation, one event"
    );
    let snapshot = store
        .inner
        .load_snapshot(&id())
        .await
        .unwrap()
        .expect("a snapshot");
    assert_eq!(
        snapshot.version(),
        21,
        "taken when version 21 crossed 20; 27 crossed no multiple of 10"
    );
    // A cold service loads the snapshot plus the events after it: it
    // reads from the snapshot's last event (20, to check the snapshot is
    // not ahead of the store), never from the start.
    store.lowest_read_after.store(usize::MAX, Ordering::SeqCst);
    let cold = AccountService::new(store.clone());
    let org = cold
        .read(&id(), org_accounts::Organization::clone)
        .await
        .unwrap();
    assert_eq!(
        store.lowest_read_after.load(Ordering::SeqCst),
        20,
        "the cold load must start from the snapshot"
    );
    assert_eq!(org.version(), 27);
    assert_eq!(
        org,
        org_accounts::Organization::replay(&store.inner.read(&id(), 0).await.unwrap())
    );
}

#[cfg(feature = "testing")]
mod faults {
    use super::*;
    use org_accounts::testing::{Fault, FaultyStore};

    const FILE: &[u8] = b"email,group membership\nann@example.com,\nbad-address,\nbob@example.com,Automation Users\n";

    async fn service() -> AccountService<FaultyStore<InMemoryStore>> {
        let service = AccountService::new(FaultyStore::new(InMemoryStore::new()));
        create(&service).await;
        service
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_append_that_fails_before_writing_stores_nothing_and_can_be_retried() {
        let service = service().await;
        service.store().fail_appends([Fault::BeforeWrite]);
        let err = service
            .execute(&id(), &invite(&["bob@example.com"]), &ctx(ADMIN, 1))
            .await
            .unwrap_err();
        assert_eq!(err.code(), "store_error");
        assert_eq!(
            service.store().read(&id(), 0).await.unwrap().len(),
            1,
            "nothing new was stored"
        );
        service
            .execute(&id(), &invite(&["bob@example.com"]), &ctx(ADMIN, 2))
            .await
            .unwrap();
        assert_eq!(
            service.read(&id(), |org| org.member_count()).await.unwrap(),
            2
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_append_that_fails_after_writing_is_never_applied_twice() {
        let service = service().await;
        service.store().fail_appends([Fault::AfterWrite]);
        assert!(
            service
                .execute(&id(), &invite(&["bob@example.com"]), &ctx(ADMIN, 1))
                .await
                .is_err()
        );
        // The caller retries: the reload shows bob was stored after all.
        let retry = service
            .execute(&id(), &invite(&["bob@example.com"]), &ctx(ADMIN, 2))
            .await
            .unwrap_err();
        assert!(matches!(
            retry,
            ServiceError::Refused(DomainError::AlreadyMembers { .. })
        ));
        let events = service.store().read(&id(), 0).await.unwrap();
        assert_eq!(events.len(), 2, "bob was invited exactly once");
        // Everything stored before the failure is still there.
        assert!(
            service
                .read(&id(), org_accounts::Organization::clone)
                .await
                .unwrap()
                .member(&email(ADMIN))
                .is_some()
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_failed_bulk_append_reports_api_errors_and_stores_nothing() {
        let service = service().await;
        let file = read_invite_csv(FILE, &CsvOptions::default()).unwrap();
        service.store().fail_appends([Fault::BeforeWrite]);
        let report = service
            .bulk_invite(&id(), &file, &ctx(ADMIN, 1), false)
            .await
            .unwrap();
        let codes: Vec<Vec<&str>> = report
            .rows()
            .iter()
            .map(|r| r.errors().iter().map(|e| e.code()).collect())
            .collect();
        assert_eq!(
            codes,
            [vec!["api_error"], vec!["invalid_email"], vec!["api_error"]]
        );
        assert_eq!(
            service.read(&id(), |org| org.member_count()).await.unwrap(),
            1
        );
        let again = service
            .bulk_invite(&id(), &file, &ctx(ADMIN, 2), false)
            .await
            .unwrap();
        assert_eq!(again.totals().invited, 2);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_bulk_append_that_failed_after_writing_invites_nobody_twice_on_upload_again() {
        let service = service().await;
        let file = read_invite_csv(FILE, &CsvOptions::default()).unwrap();
        service.store().fail_appends([Fault::AfterWrite]);
        let report = service
            .bulk_invite(&id(), &file, &ctx(ADMIN, 1), false)
            .await
            .unwrap();
        assert_eq!(report.totals().failed, 3);
        let again = service
            .bulk_invite(&id(), &file, &ctx(ADMIN, 2), false)
            .await
            .unwrap();
        assert_eq!((again.totals().invited, again.totals().skipped), (0, 2));
        assert_eq!(service.store().read(&id(), 0).await.unwrap().len(), 3);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_dry_run_stores_nothing() {
        let service = service().await;
        let file = read_invite_csv(FILE, &CsvOptions::default()).unwrap();
        let report = service
            .bulk_invite(&id(), &file, &ctx(ADMIN, 1), true)
            .await
            .unwrap();
        assert!(report.is_dry_run());
        assert_eq!(report.totals().invited, 2);
        assert_eq!(service.store().read(&id(), 0).await.unwrap().len(), 1);
    }
}

/// Saves a snapshot of the organization's events, altered by `damage`, as a
/// damaged or hand-edited store would hold it.
async fn damaged_snapshot(store: &InMemoryStore, damage: impl FnOnce(&mut serde_json::Value)) {
    let events = store.read(&id(), 0).await.unwrap();
    let mut json =
        serde_json::to_value(org_accounts::Organization::replay(&events).snapshot()).unwrap();
    damage(&mut json);
    let snapshot: Snapshot = serde_json::from_value(json).unwrap();
    store.save_snapshot(&id(), &snapshot).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_damaged_snapshot_never_makes_a_command_report_what_it_did_not_do() {
    for (what, damage) in [
        (
            "a user counter below the ids in use",
            Box::new(|j: &mut serde_json::Value| j["next_user"] = 2.into())
                as Box<dyn FnOnce(&mut serde_json::Value)>,
        ),
        (
            "a version ahead of the events",
            Box::new(|j: &mut serde_json::Value| j["version"] = 5000.into()),
        ),
        (
            "a version at the integer limit",
            Box::new(|j: &mut serde_json::Value| j["version"] = u64::MAX.into()),
        ),
        (
            "no default groups",
            Box::new(|j: &mut serde_json::Value| j["groups"] = serde_json::json!([])),
        ),
    ] {
        let store = std::sync::Arc::new(InMemoryStore::new());
        let writer = AccountService::new(std::sync::Arc::clone(&store));
        create(&writer).await;
        writer
            .execute(
                &id(),
                &invite(&["bob@example.com", "cy@example.com"]),
                &ctx(ADMIN, 1),
            )
            .await
            .unwrap();
        damaged_snapshot(&store, damage).await;
        // A cold service (another process) loads the damaged snapshot.
        let cold = AccountService::new(std::sync::Arc::clone(&store));
        let done = cold
            .execute(&id(), &invite(&["dee@example.com"]), &ctx(ADMIN, 2))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(done.events.len(), 1, "{what}");
        let members = cold
            .read(&id(), |org| {
                ["bob@example.com", "cy@example.com", "dee@example.com"]
                    .iter()
                    .filter(|e| org.member(&email(e)).is_some())
                    .count()
            })
            .await
            .unwrap();
        assert_eq!(
            members, 3,
            "{what}: the invitation shows up and nobody is lost"
        );
        let replayed = org_accounts::Organization::replay(&store.read(&id(), 0).await.unwrap());
        assert_eq!(replayed.member_count(), 4, "{what}");
    }
}

/// A store whose appends each take a permit the test hands out; one that
/// finds none says so on `waiting` and waits for the next.
struct Gated {
    inner: InMemoryStore,
    gate: tokio::sync::Semaphore,
    waiting: tokio::sync::Notify,
}

impl EventStore for Gated {
    async fn append(
        &self,
        org: &OrganizationId,
        expected: Version,
        events: &[Event],
    ) -> Result<Version, StoreError> {
        if self.gate.available_permits() == 0 {
            self.waiting.notify_one();
        }
        self.gate.acquire().await.unwrap().forget();
        self.inner.append(org, expected, events).await
    }
    async fn read(&self, org: &OrganizationId, after: Version) -> Result<Vec<Event>, StoreError> {
        self.inner.read(org, after).await
    }
}
impl SnapshotStore for Gated {
    async fn save_snapshot(&self, org: &OrganizationId, s: &Snapshot) -> Result<(), StoreError> {
        self.inner.save_snapshot(org, s).await
    }
    async fn load_snapshot(&self, org: &OrganizationId) -> Result<Option<Snapshot>, StoreError> {
        self.inner.load_snapshot(org).await
    }
}
impl ActivityStore for Gated {
    async fn record_sign_in(
        &self,
        org: &OrganizationId,
        user: UserId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.inner.record_sign_in(org, user, at).await
    }
    async fn sign_ins_after(
        &self,
        org: &OrganizationId,
        after: u64,
    ) -> Result<(Vec<SignIn>, u64), StoreError> {
        self.inner.sign_ins_after(org, after).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sign_in_and_a_read_never_wait_for_a_running_append() {
    let store = std::sync::Arc::new(Gated {
        inner: InMemoryStore::new(),
        gate: tokio::sync::Semaphore::new(0),
        waiting: tokio::sync::Notify::new(),
    });
    let service = std::sync::Arc::new(AccountService::new(std::sync::Arc::clone(&store)));
    store.gate.add_permits(3);
    create(&service).await;
    service
        .execute(&id(), &invite(&["bob@example.com"]), &ctx(ADMIN, 1))
        .await
        .unwrap();
    service
        .execute(
            &id(),
            &Command::AcceptInvitation,
            &ctx("bob@example.com", 2),
        )
        .await
        .unwrap();
    // An administrator's append is stuck in the store...
    let stuck = {
        let service = std::sync::Arc::clone(&service);
        tokio::spawn(async move {
            service
                .execute(&id(), &invite(&["cy@example.com"]), &ctx(ADMIN, 3))
                .await
        })
    };
    store.waiting.notified().await;
    // ...and a sign-in and a users-page read still complete.
    tokio::time::timeout(
        // Generous: a busy 2-core machine; waiting for the gate would be
        // forever.
        std::time::Duration::from_secs(60),
        service.record_sign_in(&id(), &ctx("bob@example.com", 4)),
    )
    .await
    .expect("a sign-in waited for an append")
    .unwrap();
    let count = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        service.read(&id(), |org| org.member_count()),
    )
    .await
    .expect("a read waited for an append")
    .unwrap();
    assert_eq!(count, 2, "the read sees the state before the stuck command");
    store.gate.add_permits(1);
    stuck.await.unwrap().unwrap();
    assert_eq!(
        service.read(&id(), |org| org.member_count()).await.unwrap(),
        3
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn execute_refuses_sign_ins_which_go_through_record_sign_in() {
    let service = AccountService::new(InMemoryStore::new());
    create(&service).await;
    let err = service
        .execute(&id(), &Command::RecordSignIn, &ctx(ADMIN, 1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "misuse");
    assert!(err.to_string().contains("record_sign_in"), "{err}");
    assert_eq!(service.store().read(&id(), 0).await.unwrap().len(), 1);
}

// ---------------------------------------------------------------------------
// Tenant safety (issue 15): ids, the cache, deliveries in flight
// ---------------------------------------------------------------------------

#[test]
fn organization_ids_are_what_a_host_derives_from_a_slug_or_a_uuid() {
    for good in [
        "acme",
        "Acme-Corp",
        "tenant:42",
        "eu.west_1:acme",
        "3f2c8a4e-6b1d-4f7a-9c3e-2d5b8e1f0a7c",
        &"a".repeat(128),
    ] {
        let id = OrganizationId::new(good).unwrap();
        assert_eq!(id.as_str(), good);
    }
    for bad in [
        String::new(),
        " acme".into(),
        "acme ".into(),
        "ac me".into(),
        "acme\t".into(),
        "acme\n".into(),
        "acme\u{200B}".into(),
        "\u{FEFF}acme".into(),
        "acme\u{202E}".into(),
        "\u{FF41}cme".into(),
        "acm\u{E9}".into(),
        "\u{430}cme".into(),
        "a/b".into(),
        "a\\b".into(),
        "a%2Fb".into(),
        "a".repeat(129),
        "\u{202E}".repeat(10_000),
    ] {
        let error = OrganizationId::new(bad.clone()).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("is not a valid organization id"), "{text}");
        assert!(text.contains("1 to 128 characters"), "{text}");
        // Safe to print: escaped, and short whatever was given.
        assert!(
            !text
                .chars()
                .any(|c| c.is_control() || matches!(c, '\u{200B}' | '\u{FEFF}' | '\u{202E}')),
            "{text:?}"
        );
        assert!(text.chars().count() < 600, "{} chars", text.chars().count());
    }
}

async fn create_org<S: org_accounts::Store>(service: &AccountService<S>, id: &OrganizationId) {
    service
        .execute(
            id,
            &Command::CreateOrganization { name: "Org".into() },
            &ctx(ADMIN, 0),
        )
        .await
        .unwrap();
}

/// Reading 200k organizations that do not exist grew the process by
/// 200 MB: only organizations that exist are kept.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_organizations_are_never_cached() {
    let service = AccountService::new(InMemoryStore::new());
    create(&service).await;
    assert_eq!(service.cached_organizations(), 1);
    for i in 0..200_000 {
        let unknown = OrganizationId::new(format!("unknown-{i}")).unwrap();
        let members = service
            .read(&unknown, |org| org.member_count())
            .await
            .unwrap();
        assert_eq!(members, 0);
    }
    let unknown = OrganizationId::new("unknown").unwrap();
    assert!(
        service
            .record_sign_in(&unknown, &ctx(ADMIN, 1))
            .await
            .is_err()
    );
    assert!(
        service
            .deliver(&unknown, at(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        service
            .execute(&unknown, &invite(&["bob@example.com"]), &ctx(ADMIN, 1))
            .await
            .is_err()
    );
    assert_eq!(service.cached_organizations(), 1);
    assert_eq!(service.store().read(&unknown, 0).await.unwrap(), []);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cache_is_bounded_and_an_evicted_organization_reloads() {
    let config = ServiceConfig::default().with_cache_capacity(3);
    assert_eq!(config.cache_capacity(), 3);
    assert_eq!(ServiceConfig::default().cache_capacity(), 10_000);
    assert_eq!(
        ServiceConfig::default()
            .with_cache_capacity(0)
            .cache_capacity(),
        1
    );
    let store = std::sync::Arc::new(InMemoryStore::new());
    let service = AccountService::with_config(std::sync::Arc::clone(&store), config);
    // Another service (another process) writes behind this one's back.
    let other = AccountService::new(std::sync::Arc::clone(&store));
    let ids: Vec<OrganizationId> = (0..10)
        .map(|i| OrganizationId::new(format!("org-{i}")).unwrap())
        .collect();
    for (n, id) in ids.iter().enumerate() {
        create_org(&service, id).await;
        let invitee = format!("user{n}@example.com");
        service
            .execute(id, &invite(&[invitee.as_str()]), &ctx(ADMIN, 1))
            .await
            .unwrap();
        assert!(service.cached_organizations() <= 3);
    }
    for (n, id) in ids.iter().enumerate() {
        let late = format!("late{n}@example.com");
        other
            .execute(id, &invite(&[late.as_str()]), &ctx(ADMIN, 2))
            .await
            .unwrap();
    }
    // Evicted or not, every organization reads its latest state, and a
    // command on it is decided against that state.
    for round in 0..2 {
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(
                service.read(id, |org| org.member_count()).await.unwrap(),
                3,
                "{id} round {round}"
            );
            if round == 0 {
                let late = format!("late{n}@example.com");
                let again = service
                    .execute(id, &invite(&[late.as_str()]), &ctx(ADMIN, 3))
                    .await;
                assert!(again.is_err(), "already invited: {again:?}");
            }
            assert!(service.cached_organizations() <= 3);
        }
    }
    assert_eq!(service.cached_organizations(), 3);
}

/// An organization whose command is running is never evicted under it (its
/// writer lock and delivery permits stay with it); the cache holds one more
/// while it runs and shrinks back afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn an_organization_in_use_is_not_evicted_and_stays_correct() {
    let store = std::sync::Arc::new(Gated {
        inner: InMemoryStore::new(),
        gate: tokio::sync::Semaphore::new(0),
        waiting: tokio::sync::Notify::new(),
    });
    let service = std::sync::Arc::new(AccountService::with_config(
        std::sync::Arc::clone(&store),
        ServiceConfig::default().with_cache_capacity(1),
    ));
    let [a, b, c] = ["a", "b", "c"].map(|x| OrganizationId::new(x).unwrap());
    store.gate.add_permits(3);
    for id in [&a, &b, &c] {
        create_org(&service, id).await;
    }
    assert_eq!(service.cached_organizations(), 1);
    // A's append is stuck in the store, holding A's writer lock.
    let stuck = {
        let service = std::sync::Arc::clone(&service);
        let a = a.clone();
        tokio::spawn(async move {
            service
                .execute(&a, &invite(&["bob@example.com"]), &ctx(ADMIN, 1))
                .await
        })
    };
    store.waiting.notified().await;
    for id in [&b, &c, &b] {
        assert_eq!(service.read(id, |org| org.member_count()).await.unwrap(), 1);
        assert!(service.cached_organizations() <= 2);
    }
    store.gate.add_permits(1);
    stuck.await.unwrap().unwrap();
    assert_eq!(service.read(&a, |org| org.member_count()).await.unwrap(), 2);
    assert_eq!(service.read(&b, |org| org.member_count()).await.unwrap(), 1);
    // The stuck task lets go of A's slot when tokio drops its future, which
    // may come a moment after its result: the next use shrinks the cache.
    let mut shrunk = false;
    for _ in 0..100 {
        service.read(&b, |org| org.member_count()).await.unwrap();
        if service.cached_organizations() == 1 {
            shrunk = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(shrunk, "the cache shrinks back to its capacity");
}

/// A mailer that holds every send to `slow` until the test releases it,
/// and records how many were in flight at most.
struct SlowMailer {
    in_flight: AtomicUsize,
    most: AtomicUsize,
    sent: std::sync::Mutex<Vec<String>>,
    release: tokio::sync::Semaphore,
}

impl org_accounts::Mailer for SlowMailer {
    async fn send(
        &self,
        org: &OrganizationId,
        _settings: &org_accounts::MailSettings,
        email: &org_accounts::InvitationEmail,
    ) -> Result<(), org_accounts::MailError> {
        if org.as_str() == "slow" {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            self.release.acquire().await.unwrap().forget();
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
        self.sent.lock().unwrap().push(email.to.as_str().to_owned());
        Ok(())
    }
}

/// A tenant whose mail server answers slowly holds at most two of the
/// host's delivery workers: the others return at once, and other
/// organizations' deliveries go on.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_tenant_holds_at_most_two_delivery_workers() {
    assert_eq!(ServiceConfig::default().deliveries_per_organization(), 2);
    let mailer = std::sync::Arc::new(SlowMailer {
        in_flight: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
        sent: std::sync::Mutex::default(),
        release: tokio::sync::Semaphore::new(0),
    });
    let service = std::sync::Arc::new(
        AccountService::new(InMemoryStore::new()).with_mailer(std::sync::Arc::clone(&mailer)),
    );
    let [slow, fast] = ["slow", "fast"].map(|x| OrganizationId::new(x).unwrap());
    let settings = org_accounts::MailSettings::new(
        "smtp.example.com",
        587,
        org_accounts::Email::parse("accounts@example.com").unwrap(),
        "Accounts",
    );
    let addresses: Vec<String> = (0..10).map(|i| format!("user{i}@example.com")).collect();
    let addresses: Vec<&str> = addresses.iter().map(String::as_str).collect();
    for id in [&slow, &fast] {
        create_org(&service, id).await;
        service
            .execute(
                id,
                &Command::SetMailSettings {
                    settings: settings.clone(),
                },
                &ctx(ADMIN, 1),
            )
            .await
            .unwrap();
        service
            .execute(id, &invite(&addresses), &ctx(ADMIN, 2))
            .await
            .unwrap();
    }
    // Six workers on the slow organization.
    let workers: Vec<_> = (0..6)
        .map(|_| {
            let service = std::sync::Arc::clone(&service);
            let slow = slow.clone();
            tokio::spawn(async move { service.deliver(&slow, at(3), 100).await })
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while mailer.in_flight.load(Ordering::SeqCst) < 2 {
        assert!(std::time::Instant::now() < deadline, "two sends started");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // Four of them come back at once with nothing sent...
    let mut waiting = Vec::new();
    let mut returned = 0;
    for worker in workers {
        match tokio::time::timeout(std::time::Duration::from_millis(500), async {
            while !worker.is_finished() {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        })
        .await
        {
            Ok(()) => {
                let done = worker.await.unwrap().unwrap();
                assert!(done.is_empty(), "{done:?}");
                returned += 1;
            }
            Err(_) => waiting.push(worker),
        }
    }
    assert_eq!(returned, 4);
    assert_eq!(waiting.len(), 2);
    // ...and another organization's emails go out meanwhile.
    let fast_done = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        service.deliver(&fast, at(3), 100),
    )
    .await
    .expect("another organization is not held up")
    .unwrap();
    assert_eq!(fast_done.len(), 10);
    // Released, the two workers send the rest, each email once.
    mailer.release.add_permits(100);
    let mut slow_sent = 0;
    for worker in waiting {
        slow_sent += worker.await.unwrap().unwrap().len();
    }
    assert_eq!(slow_sent, 10);
    assert_eq!(mailer.most.load(Ordering::SeqCst), 2);
    let sent = mailer.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 20, "each email once: {sent:?}");
    assert!(service.deliver(&slow, at(4), 100).await.unwrap().is_empty());
}
