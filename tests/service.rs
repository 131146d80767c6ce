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
    last_read_after: AtomicUsize,
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
        self.last_read_after.store(after as usize, Ordering::SeqCst);
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
    let org = fresh.organization(&id()).await.unwrap();
    assert!(org.member(&email("bob@example.com")).is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_service_reloads_and_decides_again_on_conflict() {
    let store = std::sync::Arc::new(Counting::default());
    let a = AccountService::new(store.clone());
    let b = AccountService::new(store.clone());
    create(&a).await;
    a.organization(&id()).await.unwrap(); // a caches version 1
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
    assert_eq!(a.organization(&id()).await.unwrap().member_count(), 3);
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
    let org = service.organization(&id()).await.unwrap();
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
    let org = service.organization(&id()).await.unwrap();
    for p in &people {
        assert_eq!(
            org.member(&email(p)).unwrap().status().last_active(),
            Some(at(199))
        );
    }
    // A fresh service (another process) sees the same Last active.
    let fresh = AccountService::new(store.clone());
    let seen = fresh.organization(&id()).await.unwrap();
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
            .organization(&id())
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
    }
    assert_eq!(store.appended_events.load(Ordering::SeqCst), 26);
    let appends = store.appends.load(Ordering::SeqCst);
    service
        .execute(&id(), &invite(&["one.more@example.com"]), &ctx(ADMIN, 2))
        .await
        .unwrap();
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
    // A cold service loads the snapshot plus the six events after it.
    let cold = AccountService::new(store.clone());
    let org = cold.organization(&id()).await.unwrap();
    assert_eq!(
        store.last_read_after.load(Ordering::SeqCst),
        21,
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
        assert_eq!(service.organization(&id()).await.unwrap().member_count(), 2);
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
                .organization(&id())
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
        assert_eq!(service.organization(&id()).await.unwrap().member_count(), 1);
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

/// A store whose appends wait at a gate until the test opens it.
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
        self.waiting.notify_one();
        let _pass = self.gate.acquire().await.unwrap();
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
        std::time::Duration::from_secs(5),
        service.record_sign_in(&id(), &ctx("bob@example.com", 4)),
    )
    .await
    .expect("a sign-in waited for an append")
    .unwrap();
    let count = tokio::time::timeout(
        std::time::Duration::from_secs(5),
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
