//! A store written the way a host would write one: outside the crate, with
//! only its public API (the port traits, `Event` and `Snapshot` serde, the
//! id constructors), keeping JSON lines in a folder. It passes the
//! conformance suite, which is the point: everything a store must do is
//! written on the traits, and nothing private is needed to do it.
#![cfg(feature = "testing")]
// Tests assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use org_accounts::testing::conformance;
use org_accounts::{
    ActivityStore, ConflictError, Event, EventStore, OrganizationId, SignIn, Snapshot,
    SnapshotStore, StoreError, Timestamp, UserId, Version,
};
use serde::{Deserialize, Serialize};

/// Events, snapshots and sign-ins as files in one folder. One lock per
/// store serializes writers (one process); a real host would lock per
/// organization, or use a database.
struct JsonLinesStore {
    dir: PathBuf,
    lock: tokio::sync::Mutex<()>,
}

/// Sign-ins of one organization: each member's latest time and position.
#[derive(Default, Serialize, Deserialize)]
struct Activity {
    latest: BTreeMap<u64, (Timestamp, u64)>,
    next: u64,
}

impl JsonLinesStore {
    fn new(dir: &Path) -> JsonLinesStore {
        JsonLinesStore {
            dir: dir.to_owned(),
            lock: tokio::sync::Mutex::new(()),
        }
    }

    /// A file name for the organization (its id, hex-encoded: any id is a
    /// safe name).
    fn file(&self, org: &OrganizationId, kind: &str) -> PathBuf {
        let hex: String = org.as_str().bytes().map(|b| format!("{b:02x}")).collect();
        self.dir.join(format!("{hex}.{kind}"))
    }

    async fn events(&self, org: &OrganizationId) -> Result<Vec<Event>, StoreError> {
        let text = match tokio::fs::read_to_string(self.file(org, "events.jsonl")).await {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::backend(e)),
        };
        text.lines()
            .enumerate()
            .map(|(i, line)| {
                serde_json::from_str(line)
                    .map_err(|e| StoreError::Corrupt(format!("{org}: event {}: {e}", i + 1)))
            })
            .collect()
    }

    async fn write_atomically(&self, path: PathBuf, bytes: Vec<u8>) -> Result<(), StoreError> {
        let temp = path.with_extension("tmp");
        tokio::fs::write(&temp, bytes)
            .await
            .map_err(StoreError::backend)?;
        tokio::fs::rename(&temp, &path)
            .await
            .map_err(StoreError::backend)
    }

    async fn activity(&self, org: &OrganizationId) -> Result<Activity, StoreError> {
        match tokio::fs::read(self.file(org, "activity.json")).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("{org}: sign-ins: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Activity::default()),
            Err(e) => Err(StoreError::backend(e)),
        }
    }
}

impl EventStore for JsonLinesStore {
    async fn append(
        &self,
        org: &OrganizationId,
        expected: Version,
        events: &[Event],
    ) -> Result<Version, StoreError> {
        let _writer = self.lock.lock().await;
        let mut all = self.events(org).await?;
        let actual = all.len() as Version;
        if actual != expected {
            return Err(ConflictError { expected, actual }.into());
        }
        all.extend_from_slice(events);
        let mut text = String::new();
        for event in &all {
            text.push_str(&serde_json::to_string(event).unwrap());
            text.push('\n');
        }
        self.write_atomically(self.file(org, "events.jsonl"), text.into_bytes())
            .await?;
        Ok(all.len() as Version)
    }

    async fn read(&self, org: &OrganizationId, after: Version) -> Result<Vec<Event>, StoreError> {
        let all = self.events(org).await?;
        Ok(all.into_iter().skip(after as usize).collect())
    }
}

impl SnapshotStore for JsonLinesStore {
    async fn save_snapshot(
        &self,
        org: &OrganizationId,
        snapshot: &Snapshot,
    ) -> Result<(), StoreError> {
        let _writer = self.lock.lock().await;
        if let Some(stored) = self.load_snapshot(org).await?
            && stored.version() >= snapshot.version()
        {
            return Ok(());
        }
        let bytes = serde_json::to_vec(snapshot).unwrap();
        self.write_atomically(self.file(org, "snapshot.json"), bytes)
            .await
    }

    async fn load_snapshot(&self, org: &OrganizationId) -> Result<Option<Snapshot>, StoreError> {
        match tokio::fs::read(self.file(org, "snapshot.json")).await {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| StoreError::Corrupt(format!("{org}: snapshot: {e}"))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::backend(e)),
        }
    }
}

impl ActivityStore for JsonLinesStore {
    async fn record_sign_in(
        &self,
        org: &OrganizationId,
        user: UserId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let _writer = self.lock.lock().await;
        let mut activity = self.activity(org).await?;
        if activity
            .latest
            .get(&user.get())
            .is_some_and(|(last, _)| at <= *last)
        {
            return Ok(());
        }
        activity.next += 1;
        let position = activity.next;
        activity.latest.insert(user.get(), (at, position));
        let bytes = serde_json::to_vec(&activity).unwrap();
        self.write_atomically(self.file(org, "activity.json"), bytes)
            .await
    }

    async fn sign_ins_after(
        &self,
        org: &OrganizationId,
        after: u64,
    ) -> Result<(Vec<SignIn>, u64), StoreError> {
        let activity = self.activity(org).await?;
        let mut newer: Vec<(u64, SignIn)> = activity
            .latest
            .iter()
            .filter(|(_, (_, position))| *position > after)
            .map(|(user, (at, position))| {
                (
                    *position,
                    SignIn {
                        user: UserId::new(*user),
                        at: *at,
                    },
                )
            })
            .collect();
        newer.sort_by_key(|(position, _)| *position);
        Ok((
            newer.into_iter().map(|(_, s)| s).collect(),
            activity.next.max(after),
        ))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_store_written_from_scratch_with_the_public_api_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let counter = std::sync::atomic::AtomicUsize::new(0);
    conformance::run_all(|| {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let path = dir.path().join(format!("store-{n}"));
        async move {
            std::fs::create_dir(&path).unwrap();
            JsonLinesStore::new(&path)
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_service_runs_over_it() {
    use org_accounts::{AccountService, Command, Context, Email};
    let dir = tempfile::tempdir().unwrap();
    let service = AccountService::new(JsonLinesStore::new(dir.path()));
    let id = OrganizationId::new("acme").unwrap();
    let now: Timestamp = "2026-11-28T09:00:00Z".parse().unwrap();
    let ctx = Context::new(Email::parse("ada@example.com").unwrap(), now);
    service
        .execute(
            &id,
            &Command::CreateOrganization {
                name: "Acme".into(),
            },
            &ctx,
        )
        .await
        .unwrap();
    service
        .execute(
            &id,
            &Command::InviteUsers {
                emails: vec![Email::parse("bob@example.com").unwrap()],
                groups: vec![],
            },
            &ctx,
        )
        .await
        .unwrap();
    // Another service (another process) over the same folder sees it.
    let other = AccountService::new(JsonLinesStore::new(dir.path()));
    assert_eq!(other.read(&id, |org| org.member_count()).await.unwrap(), 2);
}
