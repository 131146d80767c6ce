//! The service embedded the way hosts run it: awaited inside
//! `tokio::spawn` on a multi-threaded runtime, with every store. A
//! blocking driver inside the runtime would panic or stall here; the
//! futures' `Send`-ness is checked at compile time.
#![cfg(feature = "sqlite")]
// Tests assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use org_accounts::{
    AccountService, Command, Context, CsvOptions, Email, InMemoryStore, OrganizationId,
    SqliteStore, Store, Timestamp, read_invite_csv,
};

fn assert_send<T: Send>(_: &T) {}

/// Compile-time check: every method's future is `Send` for every store, so
/// a host can `tokio::spawn` it or await it in an axum handler.
#[allow(dead_code)]
fn every_future_is_send<S: Store + 'static>(
    service: &AccountService<S>,
    id: &OrganizationId,
    ctx: &Context,
    command: &Command,
    file: &org_accounts::InviteFile,
) {
    assert_send(&service.execute(id, command, ctx));
    assert_send(&service.bulk_invite(id, file, ctx, false));
    assert_send(&service.read(id, |org| org.member_count()));
    assert_send(&service.snapshots_written());
    assert_send(&service.record_sign_in(id, ctx));
    assert_send(&service.deliver(id, ctx.now, 10));
}

fn ctx(who: &str) -> Context {
    let now: Timestamp = "2026-11-28T09:00:00Z".parse().unwrap();
    Context::new(Email::parse(who).unwrap(), now)
}

/// Creates an organization, invites from many spawned tasks at once,
/// bulk-invites, accepts and signs in, all inside `tokio::spawn`.
async fn exercise<S: Store + 'static>(store: S) {
    let service = Arc::new(AccountService::new(store));
    let id = OrganizationId::new("acme").unwrap();
    let created = {
        let (service, id) = (Arc::clone(&service), id.clone());
        tokio::spawn(async move {
            service
                .execute(
                    &id,
                    &Command::CreateOrganization {
                        name: "Acme".into(),
                    },
                    &ctx("ada@example.com"),
                )
                .await
        })
    };
    created.await.unwrap().unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (service, id) = (Arc::clone(&service), id.clone());
        tasks.push(tokio::spawn(async move {
            let who = Email::parse(&format!("person{i}@example.com")).unwrap();
            service
                .execute(
                    &id,
                    &Command::InviteUsers {
                        emails: vec![who],
                        groups: vec![],
                    },
                    &ctx("ada@example.com"),
                )
                .await
                .map(|done| done.events.len())
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), 1);
    }
    let bulk = {
        let (service, id) = (Arc::clone(&service), id.clone());
        tokio::spawn(async move {
            let file = read_invite_csv(
                b"email,group membership\nbulk1@example.com,\nbulk2@example.com,Administrators\n",
                &CsvOptions::default(),
            )
            .unwrap();
            service
                .bulk_invite(&id, &file, &ctx("ada@example.com"), false)
                .await
        })
    };
    assert_eq!(bulk.await.unwrap().unwrap().totals().invited, 2);
    let signed_in = {
        let (service, id) = (Arc::clone(&service), id.clone());
        tokio::spawn(async move {
            service
                .execute(&id, &Command::AcceptInvitation, &ctx("person3@example.com"))
                .await?;
            service
                .record_sign_in(&id, &ctx("person3@example.com"))
                .await
        })
    };
    signed_in.await.unwrap().unwrap();
    let count = service.read(&id, |org| org.member_count()).await.unwrap();
    assert_eq!(count, 1 + 8 + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_inside_spawned_tasks() {
    exercise(InMemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_inside_spawned_tasks() {
    let dir = tempfile::tempdir().unwrap();
    exercise(SqliteStore::open(dir.path().join("org.sqlite")).unwrap()).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_inside_spawned_tasks() {
    let Ok(url) = std::env::var("ORG_ACCOUNTS_PG_URL") else {
        eprintln!("SKIPPED: set ORG_ACCOUNTS_PG_URL to run the PostgreSQL embedding test");
        return;
    };
    let schema = format!(
        "embed_{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let store = Arc::new(
        org_accounts::PostgresStore::connect_with_schema(&url, &schema)
            .await
            .unwrap(),
    );
    exercise(Arc::clone(&store)).await;
    Arc::try_unwrap(store)
        .ok()
        .unwrap()
        .drop_schema()
        .await
        .unwrap();
}

/// Polls `future` on this thread until it is ready: an executor that is
/// not tokio, as a host with another runtime has.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// Given a service polled without a tokio runtime whose cached state is
/// behind (another service appended), when a command conflicts, then it
/// is retried at once instead of panicking on a tokio timer.
#[test]
fn a_conflict_is_retried_without_a_tokio_runtime() {
    let store = Arc::new(InMemoryStore::new());
    let id = OrganizationId::new("acme").unwrap();
    let ours = AccountService::new(Arc::clone(&store));
    let theirs = AccountService::new(Arc::clone(&store));
    let invite = |who: &str| Command::InviteUsers {
        emails: vec![Email::parse(who).unwrap()],
        groups: vec![],
    };
    block_on(async {
        ours.execute(
            &id,
            &Command::CreateOrganization {
                name: "Acme".into(),
            },
            &ctx("ada@example.com"),
        )
        .await
        .unwrap();
        theirs
            .execute(&id, &invite("bob@example.com"), &ctx("ada@example.com"))
            .await
            .unwrap();
        let done = ours
            .execute(&id, &invite("cy@example.com"), &ctx("ada@example.com"))
            .await
            .unwrap();
        assert_eq!(done.version, 3, "appended after the other service's event");
    });
}
