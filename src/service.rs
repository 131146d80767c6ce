//! The application service: load -> decide -> append -> (retry on
//! conflict), over any [`Store`], async end to end.

mod cache;
mod leases;
mod snapshots;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use jiff::{SignedDuration, Timestamp};
use tokio::sync::Semaphore;

use self::cache::{Cache, Entry, Slot};
use self::snapshots::Snapshots;
use crate::ports::{MailPolicy, MailRefusal, Mailer, OrganizationId, Store, StoreError, Version};
use crate::{
    BulkInvite, Command, Context, DomainError, Email, Event, EventKind, ImportReport,
    InvitationEmail, InviteFile, MailError, MailSettings, NotificationId, Organization,
};

/// The longest delivery a mail server may take (the largest timeout mail
/// settings accept): a claim never lapses before it.
const MIN_CLAIM_LEASE: SignedDuration = SignedDuration::from_mins(10);
/// The default claim lease.
const DEFAULT_CLAIM_LEASE: SignedDuration = SignedDuration::from_mins(15);
/// The default number of organizations the service keeps in memory.
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;
/// The default number of deliveries one organization may have in flight in
/// one service.
pub const DEFAULT_DELIVERIES_PER_ORGANIZATION: usize = 2;

/// How the service retries and snapshots. Built from
/// [`ServiceConfig::default`] and its `with_` methods, which keep every
/// setting in its valid range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceConfig {
    max_attempts: u32,
    snapshot_every: Option<u64>,
    background_snapshots: bool,
    claim_lease: SignedDuration,
    cache_capacity: usize,
    deliveries_per_organization: usize,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            max_attempts: 8,
            snapshot_every: Some(500),
            background_snapshots: true,
            claim_lease: DEFAULT_CLAIM_LEASE,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            deliveries_per_organization: DEFAULT_DELIVERIES_PER_ORGANIZATION,
        }
    }
}

impl ServiceConfig {
    /// How many times a command is decided and appended before giving up
    /// on a busy organization (at least 1; a smaller number counts as 1).
    /// Default 8. After each conflict the service waits a random time
    /// (up to 1 ms after the first, doubling, at most 64 ms) so that busy
    /// writers on several nodes do not keep colliding in step.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }
    /// Save a snapshot once this many events were appended since the last
    /// one this service loaded or asked for, or a 32nd of the
    /// organization's member count if that is more; `None` (or `Some(0)`)
    /// never snapshots. Default 500.
    ///
    /// Why the member count: a snapshot costs in proportion to the
    /// organization, a cold load replays the events after it at a few
    /// microseconds each. At a million members a snapshot every 500
    /// events would have a busy organization rebuilt and rewritten (about
    /// five seconds of one core with today's JSON snapshot) nearly
    /// without pause; every 31,250 events, a cold load replays at most
    /// about a tenth of a second of events.
    ///
    /// Snapshots are written **off the command path**: the command that
    /// makes one due returns without waiting, and a task
    /// spawned on the tokio runtime writes the snapshot. That task builds
    /// its own copy of the organization from the store (the latest stored
    /// snapshot and the events after it; its CPU work runs on the blocking
    /// pool), so no command, read or sign-in ever waits for it; while it
    /// runs it holds a second copy of the organization in memory. At most
    /// one snapshot write per organization is in flight in a service (one
    /// made due meanwhile makes it go once more, with everything stored by
    /// then). A failed or slow write never fails or delays a command:
    /// events are the source of truth, a missing snapshot only makes the
    /// next cold load read more events, and the next one is due an
    /// interval later.
    /// [`AccountService::snapshots_written`] waits for the writes in
    /// flight (before a host shuts its runtime down, say). Polled without a
    /// tokio runtime, the service writes the snapshot before the command
    /// returns, having nowhere else to run it.
    pub fn with_snapshot_every(mut self, every: Option<u64>) -> Self {
        self.snapshot_every = every.filter(|n| *n > 0);
        self
    }
    /// Whether due snapshots are written in the background (the default;
    /// see [`with_snapshot_every`](ServiceConfig::with_snapshot_every)).
    /// With `false`, the service only notes that one is due and the host
    /// writes it with [`AccountService::write_due_snapshot`], from the
    /// state in memory: for a command-line process that writes it after
    /// its output, just before it exits (a background write would load the
    /// organization from the store a second time).
    pub fn with_background_snapshots(mut self, background: bool) -> Self {
        self.background_snapshots = background;
        self
    }
    /// See
    /// [`with_background_snapshots`](ServiceConfig::with_background_snapshots).
    pub fn background_snapshots(&self) -> bool {
        self.background_snapshots
    }
    /// How long a delivery worker's claim on a queued email lasts (see
    /// [`AccountService::deliver`]): at least the longest delivery (mail
    /// settings allow a timeout of up to 10 minutes), so that a claim never
    /// lapses while its worker is still sending. Shorter values are raised
    /// to 10 minutes. Default 15 minutes.
    pub fn with_claim_lease(mut self, lease: std::time::Duration) -> Self {
        self.claim_lease = SignedDuration::try_from(lease)
            .unwrap_or(SignedDuration::MAX)
            .max(MIN_CLAIM_LEASE);
        self
    }
    /// How many organizations the service keeps in memory (at least 1).
    /// Default [`DEFAULT_CACHE_CAPACITY`] (10,000).
    ///
    /// Only organizations that exist are kept (a read of an unknown id
    /// loads nothing into the cache); past the capacity, the least recently
    /// used organization not in use by a running call is dropped, and
    /// loaded again from the store (its latest snapshot and the events
    /// after it) when next used. While every kept organization is in use,
    /// the cache may hold more, up to one per running call, until the next
    /// one is added. An evicted organization is never wrong, only slower:
    /// the store's optimistic concurrency keeps writers correct whatever
    /// this process holds in memory.
    pub fn with_cache_capacity(mut self, organizations: usize) -> Self {
        self.cache_capacity = organizations.max(1);
        self
    }
    /// See [`with_cache_capacity`](ServiceConfig::with_cache_capacity).
    pub fn cache_capacity(&self) -> usize {
        self.cache_capacity
    }
    /// How many deliveries of one organization may be in flight at once in
    /// this service (at least 1). Default
    /// [`DEFAULT_DELIVERIES_PER_ORGANIZATION`] (2).
    ///
    /// A call to [`AccountService::deliver`] that finds the organization
    /// at this limit returns at once with what it has sent so far (nothing
    /// is claimed for it), so a tenant whose mail server is slow holds at
    /// most this many of the host's delivery workers, each for at most its
    /// settings' timeout; the other workers go on with other
    /// organizations.
    pub fn with_deliveries_per_organization(mut self, deliveries: usize) -> Self {
        self.deliveries_per_organization = deliveries.clamp(1, Semaphore::MAX_PERMITS);
        self
    }
    /// See
    /// [`with_deliveries_per_organization`](ServiceConfig::with_deliveries_per_organization).
    pub fn deliveries_per_organization(&self) -> usize {
        self.deliveries_per_organization
    }
    /// See [`with_claim_lease`](ServiceConfig::with_claim_lease).
    pub fn claim_lease(&self) -> std::time::Duration {
        std::time::Duration::try_from(self.claim_lease).unwrap_or(std::time::Duration::MAX)
    }
    /// See [`with_max_attempts`](ServiceConfig::with_max_attempts).
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }
    /// See [`with_snapshot_every`](ServiceConfig::with_snapshot_every).
    pub fn snapshot_every(&self) -> Option<u64> {
        self.snapshot_every
    }
}

/// Why the service could not carry out a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The command breaks a rule; nothing changed. Handle: show the message
    /// (HTTP 4xx); do not retry as is.
    #[error(transparent)]
    Refused(#[from] DomainError),
    /// Storage failed. Handle: report it (HTTP 5xx); for a command, the
    /// events may or may not have been stored, so reload before retrying (a
    /// retried invitation is then refused as already done, never applied
    /// twice).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The host's [`MailPolicy`] refuses the mail settings (a host that is
    /// not allowed, a credential the organization does not have); nothing
    /// was stored. Handle: show the message (HTTP 422); retry with other
    /// settings.
    #[error(transparent)]
    MailSettingsRefused(#[from] MailRefusal),
    /// Other writers kept changing the organization; nothing was stored.
    /// Handle: try again later (HTTP 503).
    #[error(
        "the organization kept changing while this command was decided ({attempts} attempts); nothing was stored, try again"
    )]
    Contention {
        /// How many attempts were made.
        attempts: u32,
    },
    /// The request does not go through this method. Handle: fix the call
    /// (a programming error, HTTP 500).
    #[error("{0}")]
    Misuse(&'static str),
}

impl ServiceError {
    /// A stable snake_case code: the [`DomainError::code`] of a refusal,
    /// `mail_settings_refused`, `store_error`, `contention` or `misuse`.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Refused(e) => e.code(),
            ServiceError::MailSettingsRefused(_) => "mail_settings_refused",
            ServiceError::Store(_) => "store_error",
            ServiceError::Contention { .. } => "contention",
            ServiceError::Misuse(_) => "misuse",
        }
    }
}

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Executed {
    /// The events stored (empty when the command changed nothing).
    pub events: Vec<Event>,
    /// The organization's version afterwards.
    pub version: Version,
    /// The invitation emails this command queued. They are sent by
    /// [`AccountService::deliver`], which a host runs as background work:
    /// a command never waits for a mail server.
    pub queued: Vec<NotificationId>,
}

/// How long to wait after the `tried`-th conflict (from 0): a random time
/// up to 1 ms, doubling with each conflict, at most 64 ms.
fn conflict_backoff(tried: u32) -> std::time::Duration {
    use std::hash::{BuildHasher, RandomState};
    let ceiling_us = 1_000u64 << tried.min(6);
    // `RandomState` is seeded randomly per instance: enough jitter, no
    // crate for it.
    let random = RandomState::new().hash_one(tried);
    std::time::Duration::from_micros(random % ceiling_us)
}

/// One attempt to deliver a queued invitation email.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// The queued email.
    pub notification: NotificationId,
    /// The invitee.
    pub to: Email,
    /// `Err` holds why it failed, and whether a retry can help; the email
    /// stays queued.
    pub result: Result<(), MailError>,
}

/// What one attempt at storing events came to.
enum Attempt<T> {
    Done(T),
    Conflict,
}

/// A mailer behind a pointer: [`Mailer`] returns `impl Future`, so it is
/// not object-safe; this boxes the one future per delivery.
trait DynMailer: Send + Sync {
    fn send<'a>(
        &'a self,
        org: &'a OrganizationId,
        settings: &'a MailSettings,
        email: &'a InvitationEmail,
    ) -> Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>>;
}

impl<M: Mailer> DynMailer for M {
    fn send<'a>(
        &'a self,
        org: &'a OrganizationId,
        settings: &'a MailSettings,
        email: &'a InvitationEmail,
    ) -> Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'a>> {
        Box::pin(Mailer::send(self, org, settings, email))
    }
}

/// A mail policy behind a pointer (see [`DynMailer`]).
trait DynPolicy: Send + Sync {
    fn check_settings<'a>(
        &'a self,
        org: &'a OrganizationId,
        settings: &'a MailSettings,
    ) -> Pin<Box<dyn Future<Output = Result<(), MailRefusal>> + Send + 'a>>;
}

impl<P: MailPolicy> DynPolicy for P {
    fn check_settings<'a>(
        &'a self,
        org: &'a OrganizationId,
        settings: &'a MailSettings,
    ) -> Pin<Box<dyn Future<Output = Result<(), MailRefusal>> + Send + 'a>> {
        Box::pin(MailPolicy::check_settings(self, org, settings))
    }
}

/// Runs commands against organizations kept in a [`Store`].
///
/// Every method is `async` and returns a `Send` future: call it from axum
/// handlers and `tokio::spawn`ed tasks on a multi-threaded runtime. Nothing
/// blocks an executor thread (a blocking store runs its work on the
/// blocking pool).
///
/// Each command is decided against the organization's latest state and
/// appended with that state's version; if another writer (task, process or
/// node) appended first, the service reloads and decides again, up to
/// [`ServiceConfig::max_attempts`] times. Within one process, writers of one
/// organization take turns; across processes and nodes, the store's
/// optimistic concurrency decides. The service keeps each organization it
/// has seen in memory and brings it up to date by reading only what is
/// newer, applying events in place. A command on an organization this
/// service holds reads no events before deciding (only the sign-ins, which
/// no version guards): if another writer appended meanwhile, the append
/// conflicts and the command is decided again after reading what is new.
/// Snapshots are written in the background, never by a command (see
/// [`ServiceConfig::with_snapshot_every`]).
///
/// Sign-ins go to the [`ActivityStore`](crate::ActivityStore), never the
/// event stream, and never wait for an administrator's command. Invitation
/// emails are queued by commands and sent by [`AccountService::deliver`].
///
/// Memory: the service keeps only organizations that exist, at most
/// [`ServiceConfig::cache_capacity`] of them (least recently used dropped
/// first); reading unknown ids keeps nothing.
///
/// ```
/// use org_accounts::{AccountService, Command, Context, Email, InMemoryStore, OrganizationId};
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let service = AccountService::new(InMemoryStore::new());
/// let acme = OrganizationId::new("acme")?;
/// let now: org_accounts::Timestamp = "2026-11-28T09:00:00Z".parse()?;
/// let ada = Context::new(Email::parse("ada@example.com")?, now);
///
/// service
///     .execute(&acme, &Command::CreateOrganization { name: "Acme".into() }, &ada)
///     .await?;
/// let invite = Command::InviteUsers {
///     emails: org_accounts::parse_address_list("bob@example.com cy@example.com")?,
///     groups: vec![],
/// };
/// let done = service.execute(&acme, &invite, &ada).await?;
/// assert_eq!(done.events.len(), 2);
///
/// // Queries run on the cached state, without copying it.
/// let pending = service.read(&acme, |org| org.pending_count()).await?;
/// assert_eq!(pending, 2);
///
/// // A refusal says what to fix, and has a stable code for APIs.
/// let again = service.execute(&acme, &invite, &ada).await.unwrap_err();
/// assert_eq!(again.code(), "already_members");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AccountService<S> {
    store: Arc<S>,
    config: ServiceConfig,
    cache: Mutex<Cache>,
    snapshots: Arc<Snapshots>,
    /// Asks for a background snapshot of an organization (see
    /// [`Snapshots::request`]); built where the store is known to be
    /// `'static`, so the other methods need no such bound.
    request_snapshot: RequestSnapshot,
    mailer: Option<Arc<dyn DynMailer>>,
    policy: Option<Arc<dyn DynPolicy>>,
    /// Members due a license lease after a sign-in (see `leases.rs`).
    due: Mutex<leases::DueLeases>,
}

/// See [`AccountService::request_snapshot`](AccountService).
type RequestSnapshot =
    Arc<dyn Fn(&OrganizationId) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

impl<S: Store + 'static> AccountService<S> {
    /// A service over `store` with the default configuration.
    pub fn new(store: S) -> AccountService<S> {
        AccountService::with_config(store, ServiceConfig::default())
    }

    /// A service over `store` configured by `config`.
    pub fn with_config(store: S, config: ServiceConfig) -> AccountService<S> {
        let store = Arc::new(store);
        let snapshots = Arc::new(Snapshots::default());
        let request_snapshot: RequestSnapshot = {
            let (store, snapshots) = (Arc::clone(&store), Arc::clone(&snapshots));
            Arc::new(move |id: &OrganizationId| {
                let (store, snapshots, id) =
                    (Arc::clone(&store), Arc::clone(&snapshots), id.clone());
                Box::pin(async move { snapshots.request(&store, &id).await })
            })
        };
        AccountService {
            store,
            config,
            cache: Mutex::new(Cache::new(config.cache_capacity)),
            snapshots,
            request_snapshot,
            mailer: None,
            policy: None,
            due: Mutex::default(),
        }
    }
}

impl<S: Store> AccountService<S> {
    /// Delivers invitation emails through `mailer` (see
    /// [`deliver`](AccountService::deliver)). Without a mailer, queued
    /// emails stay queued.
    pub fn with_mailer(mut self, mailer: impl Mailer + 'static) -> AccountService<S> {
        self.mailer = Some(Arc::new(mailer));
        self
    }

    /// Checks every [`Command::SetMailSettings`] with `policy` before
    /// deciding it: the settings' host must be one the policy allows and,
    /// with authentication, the credential one the host holds for this
    /// organization; otherwise the command is refused with
    /// [`ServiceError::MailSettingsRefused`] and nothing is stored. The
    /// policy is asked only after the command passed the organization's
    /// own checks (the actor is an administrator, the settings are well
    /// formed), so it answers nobody else.
    ///
    /// Without a policy, settings are stored unchecked, and only the
    /// mailer's own check at each delivery protects the host (the
    /// [`SmtpMailer`](crate::SmtpMailer) always makes it). An `SmtpMailer`
    /// is a policy itself (its addresses policy, its own credentials):
    /// `service.with_mail_policy(mailer.clone()).with_mailer(mailer)`.
    pub fn with_mail_policy(mut self, policy: impl MailPolicy + 'static) -> AccountService<S> {
        self.policy = Some(Arc::new(policy));
        self
    }

    /// How many organizations the service holds in memory now (at most
    /// about [`ServiceConfig::cache_capacity`]).
    pub fn cached_organizations(&self) -> usize {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The underlying store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> ServiceConfig {
        self.config
    }

    /// Writes a snapshot of the organization as this service holds it,
    /// now, if one is due (see [`ServiceConfig::with_snapshot_every`]), and
    /// returns its version (`None` when none was due). For a host that
    /// turned background snapshots off
    /// ([`ServiceConfig::with_background_snapshots`]), where a copy costs
    /// nobody a wait: a command-line process after its output, whose next
    /// run loads the snapshot. Not for a request path: it takes its turn
    /// among this process's writers of the organization, and commands of
    /// the organization wait while it copies the state.
    ///
    /// # Errors
    /// [`ServiceError::Store`] when the organization cannot be loaded or
    /// the snapshot cannot be saved (it stays due).
    pub async fn write_due_snapshot(
        &self,
        id: &OrganizationId,
    ) -> Result<Option<Version>, ServiceError> {
        let Some(every) = self.config.snapshot_every else {
            return Ok(None);
        };
        let slot = self.slot(id);
        let _writer = slot.writer.lock().await;
        // Nothing held (no command or read loaded it): nothing to write
        // from memory, and loading it here would cost what the snapshot
        // saves.
        if slot.read().is_none() {
            return Ok(None);
        }
        self.refresh(id, &slot, Reading::All).await?;
        let snapshot = {
            let state = slot.read();
            let entry = state.as_ref().ok_or_else(not_loaded)?;
            entry.snapshot_due(every).then(|| entry.org.snapshot())
        };
        let Some(snapshot) = snapshot else {
            return Ok(None);
        };
        self.store.save_snapshot(id, &snapshot).await?;
        if let Some(entry) = slot.write().as_mut() {
            entry.snapshot_at = entry.snapshot_at.max(snapshot.version());
        }
        Ok(Some(snapshot.version()))
    }

    /// Waits until the snapshot writes this service has in flight are done
    /// (see [`ServiceConfig::with_snapshot_every`]): for a host about to
    /// shut its runtime down, or a test that looks at the stored snapshot.
    /// Commands never need it.
    pub async fn snapshots_written(&self) {
        self.snapshots.idle().await;
    }

    /// Runs `query` on the organization's latest state (see
    /// [`Organization::members_page`]). Costs what the query costs plus
    /// reading what is new in the store. While a command of this process is
    /// being stored, the query sees the state just before it rather than
    /// waiting. `query` runs under the state's read lock: keep it short (a
    /// page of [`Organization::members_page`], not an export of a million
    /// members), since a command applying its events waits for it. The
    /// first users page after the organization is loaded also builds the
    /// page's indexes, here, under that lock (about 0.2 s at a million
    /// members; see [`MemberQuery`](crate::MemberQuery)); later pages only
    /// fold in what changed since.
    ///
    /// # Errors
    /// [`ServiceError::Store`].
    pub async fn read<R>(
        &self,
        id: &OrganizationId,
        query: impl FnOnce(&Organization) -> R,
    ) -> Result<R, ServiceError> {
        let slot = self.slot(id);
        let loaded = slot.read().is_some();
        match slot.writer.try_lock() {
            Ok(_writer) => self.refresh(id, &slot, Reading::All).await?,
            Err(_) if loaded => {}
            Err(_) => {
                let _writer = slot.writer.lock().await;
                self.refresh(id, &slot, Reading::All).await?;
            }
        }
        self.remember(id, &slot);
        let state = slot.read();
        let entry = state.as_ref().ok_or_else(not_loaded)?;
        Ok(query(&entry.org))
    }

    /// A copy of the organization's latest state.
    ///
    /// Deprecated: it copies the whole organization (at a million members,
    /// about half a second and half a gigabyte), which no request path
    /// should do. Use [`read`](AccountService::read) with a closure that
    /// takes what it needs (a page of [`Organization::members_page`], a
    /// count); a test that really wants a copy writes
    /// `service.read(&id, Organization::clone)`.
    ///
    /// # Errors
    /// [`ServiceError::Store`].
    #[deprecated(
        since = "0.1.0",
        note = "copies the whole organization; use `read` with a closure (or `read(id, Organization::clone)` where a copy is really wanted)"
    )]
    pub async fn organization(&self, id: &OrganizationId) -> Result<Organization, ServiceError> {
        self.read(id, Organization::clone).await
    }

    /// Decides `command` against the latest state and stores its events.
    /// Invitation emails it queues are listed in [`Executed::queued`] and
    /// sent later by [`deliver`](AccountService::deliver).
    ///
    /// # Errors
    /// [`ServiceError::Refused`] when a rule refuses it,
    /// [`ServiceError::Contention`] when other writers kept winning,
    /// [`ServiceError::Store`] when storage failed,
    /// [`ServiceError::Misuse`] for [`Command::RecordSignIn`] (use
    /// [`record_sign_in`](AccountService::record_sign_in)).
    pub async fn execute(
        &self,
        id: &OrganizationId,
        command: &Command,
        ctx: &Context,
    ) -> Result<Executed, ServiceError> {
        if matches!(command, Command::RecordSignIn) {
            return Err(ServiceError::Misuse(
                "sign-ins go through AccountService::record_sign_in, which keeps them out of the event stream",
            ));
        }
        if let (Command::SetMailSettings { settings }, Some(policy)) = (command, &self.policy) {
            // The organization's own checks first (rights, well-formed
            // settings), so the policy's look-ups answer administrators
            // only; then the host's policy, outside the writer lock (a
            // name lookup may take seconds). The command is decided again
            // below, against the latest state.
            self.read(id, |org| org.decide(command, ctx)).await??;
            policy.check_settings(id, settings).await?;
        }
        let (events, version, ()) = self
            .retry(|| self.attempt(id, |org| Ok((org.decide(command, ctx)?, ()))))
            .await?;
        if matches!(command, Command::AcceptInvitation) {
            // Accepting is the first sign-in: group leases become due.
            self.note_due_lease(id, ctx);
        }
        let queued = queued_in(&events);
        Ok(Executed {
            events,
            version,
            queued,
        })
    }

    /// Decides a bulk invitation and stores all its invitations in one
    /// append (all or nothing). With `dry_run`, nothing is stored and the
    /// report says what would happen.
    ///
    /// When storing fails (or other writers kept winning), every row that
    /// was to be invited is reported as `api_error`; uploading the file
    /// again is safe, since rows already stored are skipped.
    ///
    /// # Errors
    /// [`ServiceError::Refused`] (not an administrator, no organization, no
    /// ids left) and [`ServiceError::Store`] when the organization cannot be
    /// loaded.
    pub async fn bulk_invite(
        &self,
        id: &OrganizationId,
        file: &InviteFile,
        ctx: &Context,
        dry_run: bool,
    ) -> Result<ImportReport, ServiceError> {
        if dry_run {
            // What each row would lease at sign-in is added after the
            // decision, from the same state.
            return self
                .read(id, |org| {
                    org.decide_bulk_invite(file, ctx)
                        .map(|bulk| org.with_sign_in_licenses(bulk.into_dry_run()))
                })
                .await?
                .map_err(ServiceError::from);
        }
        // The decision of the last attempt; kept outside the attempt so a
        // failed append can still report every row.
        let decided: Mutex<Option<BulkInvite>> = Mutex::new(None);
        let outcome = self
            .retry(|| {
                self.attempt(id, |org| {
                    let bulk = org.decide_bulk_invite(file, ctx)?;
                    let events = bulk.events().to_vec();
                    *decided.lock().unwrap_or_else(PoisonError::into_inner) = Some(bulk);
                    Ok((events, ()))
                })
            })
            .await;
        let decided = decided.into_inner().unwrap_or_else(PoisonError::into_inner);
        match (outcome, decided) {
            (Ok(_), Some(bulk)) => Ok(bulk.report_for(Ok(()))),
            (Ok(_), None) => Ok(ImportReport::empty()),
            (Err(ServiceError::Refused(e)), _) => Err(e.into()),
            // A store failure or contention after the file was decided:
            // the rows to invite are `api_error` (they may or may not be
            // stored; uploading the file again is safe).
            (Err(failure), Some(bulk)) => Ok(bulk.report_for(Err(&failure.to_string()))),
            (Err(failure), None) => Err(failure),
        }
    }

    /// Records that the actor signed in at `ctx.now`: Last active moves
    /// forward (an older time changes nothing). Written to the activity
    /// store, never the event stream; membership is checked against the
    /// cached state without waiting for a running append (only a member
    /// the cache does not know yet makes it reload first).
    ///
    /// The sign-in is noted for the group license lease it may make due
    /// (a rule of the member's groups gives a kind they do not hold, with
    /// a free seat and quota); the lease is decided on the stored state
    /// and appended later, never waited for here: call
    /// [`grant_due_leases`](AccountService::grant_due_leases) after this
    /// returns (or [`spawn_due_leases`](AccountService::spawn_due_leases)).
    ///
    /// # Errors
    /// [`ServiceError::Refused`] with [`DomainError::NotAMember`] or
    /// [`DomainError::InvitationNotAccepted`]; [`ServiceError::Store`].
    pub async fn record_sign_in(
        &self,
        id: &OrganizationId,
        ctx: &Context,
    ) -> Result<(), ServiceError> {
        let slot = self.slot(id);
        let check = |slot: &Slot| -> Option<Result<Vec<Event>, DomainError>> {
            let state = slot.read();
            let entry = state.as_ref()?;
            Some(entry.org.decide(&Command::RecordSignIn, ctx))
        };
        let decided = match check(&slot) {
            Some(Ok(events)) => Ok(events),
            // Unknown here, or not loaded yet: another writer may have
            // invited or accepted; read what is new, then decide.
            _ => {
                {
                    let _writer = slot.writer.lock().await;
                    self.refresh(id, &slot, Reading::All).await?;
                }
                self.remember(id, &slot);
                check(&slot).ok_or_else(not_loaded)?
            }
        };
        let Some(event) = decided?.into_iter().next() else {
            // Not newer than Last active: a lease may still be due.
            self.note_due_lease(id, ctx);
            return Ok(());
        };
        self.store
            .record_sign_in(id, event.actor, ctx.now)
            .await
            .inspect_err(|_| slot.forget())?;
        if let Some(entry) = slot.write().as_mut() {
            entry.org.observe_sign_in(event.actor, ctx.now);
        }
        self.note_due_lease(id, ctx);
        Ok(())
    }

    /// Notes the actor's sign-in for `grant_due_leases`, which decides on
    /// a state read from the store whether a lease is due (see
    /// `leases.rs`: this process's cached state may predate a rule made on
    /// another node). No store call here.
    fn note_due_lease(&self, id: &OrganizationId, ctx: &Context) {
        self.due
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .note(id, &ctx.actor, ctx.now);
    }

    /// Sends up to `limit` queued invitation emails through the mailer, and
    /// records each result as an event at `now`: the background work a host
    /// runs (for example a `tokio::spawn`ed loop per organization with mail
    /// settings). Without a mailer, nothing is sent.
    ///
    /// Each email is claimed before it is sent: a claim event appended with
    /// the organization's version, so of two workers (tasks, processes or
    /// nodes) only one wins it; the loser moves on. A claim lasts
    /// [`ServiceConfig::claim_lease`]. Guarantee: **at least once, never
    /// twice while a claim holds** (a worker that crashes after sending and
    /// before recording leaves the claim to lapse, and the email is sent
    /// again after it). Claims and results are stamped with `now` plus the
    /// time the call has run, so a claim taken late in a long call still
    /// covers its own send; a call sends its emails one after another, each
    /// within its settings' timeout. A failure keeps the email queued with
    /// its kind: a transient one is retried by a later call after backing
    /// off (1 minute, doubling, at most 6 hours), at most
    /// [`MAX_DELIVERY_ATTEMPTS`](crate::MAX_DELIVERY_ATTEMPTS) times; a
    /// permanent or configuration one, or one tried that often, waits for
    /// new mail settings or a resend.
    ///
    /// # Errors
    /// [`ServiceError::Store`] when the organization cannot be loaded or a
    /// claim or result cannot be recorded.
    pub async fn deliver(
        &self,
        id: &OrganizationId,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<Delivery>, ServiceError> {
        let Some(mailer) = self.mailer.clone() else {
            return Ok(Vec::new());
        };
        let lease = self.config.claim_lease;
        let candidates = self.read(id, |org| org.deliverable(now, limit)).await?;
        let mut deliveries = Vec::with_capacity(candidates.len());
        // `now` is when the call started; each claim and result is stamped
        // with `now` plus the time the call has run (a monotonic clock), so
        // a claim taken late in a long call still covers its own send.
        let started = tokio::time::Instant::now();
        let at = || {
            let elapsed =
                SignedDuration::try_from(started.elapsed()).unwrap_or(SignedDuration::MAX);
            now.checked_add(elapsed).unwrap_or(now)
        };
        // The slot is held until the last send is recorded, so it is not
        // evicted with its permits.
        let slot = self.slot(id);
        for notification in candidates {
            // At most `deliveries_per_organization` sends of this
            // organization at once: at the limit, leave the rest for later
            // (unclaimed) and free this worker.
            let Ok(_sending) = Arc::clone(&slot.sending).try_acquire_owned() else {
                break;
            };
            // Claim it, with the message to send; another worker's claim
            // (or a delivery) since the list was read makes this `None`.
            let (_, _, message) = self
                .retry(|| {
                    self.attempt(id, |org| {
                        let Some(claim) = org.claim_event(notification, at(), lease) else {
                            return Ok((Vec::new(), None));
                        };
                        match org
                            .mail_settings()
                            .cloned()
                            .zip(org.queued_email(notification))
                        {
                            Some(message) => Ok((vec![claim], Some(message))),
                            None => Ok((Vec::new(), None)),
                        }
                    })
                })
                .await?;
            let Some((settings, email)) = message else {
                continue;
            };
            let result = mailer.send(id, &settings, &email).await;
            self.retry(|| {
                self.attempt(id, |org| {
                    let event = org.delivery_event(notification, result.as_ref().copied(), at());
                    Ok((event.into_iter().collect(), ()))
                })
            })
            .await?;
            deliveries.push(Delivery {
                notification,
                to: email.to,
                result,
            });
        }
        Ok(deliveries)
    }

    /// The one retry loop: runs `attempt` until it is done, at most
    /// [`ServiceConfig::max_attempts`] times.
    async fn retry<T, F, Fut>(&self, mut attempt: F) -> Result<T, ServiceError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Attempt<T>, ServiceError>>,
    {
        for tried in 0..self.config.max_attempts {
            if let Attempt::Done(done) = attempt().await? {
                return Ok(done);
            }
            // Lost to another writer: wait a random while before the next
            // attempt, so two busy nodes do not keep colliding in step.
            // Polled without a tokio runtime (which has the only timer
            // this crate can use), the next attempt comes at once.
            if tried.saturating_add(1) < self.config.max_attempts
                && tokio::runtime::Handle::try_current().is_ok()
            {
                tokio::time::sleep(conflict_backoff(tried)).await;
            }
        }
        Err(ServiceError::Contention {
            attempts: self.config.max_attempts,
        })
    }

    /// One attempt: as this process's writer of the organization, bring it
    /// up to date, decide with `decide`, append the events at the state's
    /// version and apply them. A conflict asks for another attempt.
    async fn attempt<X>(
        &self,
        id: &OrganizationId,
        mut decide: impl FnMut(&Organization) -> Result<(Vec<Event>, X), ServiceError>,
    ) -> Result<Attempt<(Vec<Event>, Version, X)>, ServiceError> {
        let slot = self.slot(id);
        let _writer = slot.writer.lock().await;
        // A state this process keeps current needs no read of the event
        // stream: if another writer appended since, the append below
        // conflicts and the next attempt reads what is new. Sign-ins, which
        // no version guards, are read every time.
        let current = slot.read().as_ref().is_some_and(|entry| !entry.stale);
        let mut reading = if current {
            Reading::SignIns
        } else {
            Reading::All
        };
        // What a state has taken in: its version and its sign-ins.
        let seen = |slot: &Slot| {
            slot.read()
                .as_ref()
                .map(|entry| (entry.org.version(), entry.activity))
        };
        // Whether the state was read from the store just before deciding.
        let mut just_read = false;
        let ((events, extra), before) = loop {
            if !just_read {
                self.refresh(id, &slot, reading).await?;
                self.remember(id, &slot);
            }
            let (decided, before) = {
                let state = slot.read();
                let entry = state.as_ref().ok_or_else(not_loaded)?;
                (decide(&entry.org), (entry.org.version(), entry.activity))
            };
            // A refusal, or a decision to store nothing, has no append to
            // catch a stale state: taken on a state not read from the store
            // just now, it stands only if reading the store changes
            // nothing, and is decided again otherwise.
            let unguarded = match &decided {
                Ok((events, _)) => events.is_empty(),
                Err(_) => true,
            };
            if unguarded && reading == Reading::SignIns {
                reading = Reading::All;
                self.refresh(id, &slot, reading).await?;
                self.remember(id, &slot);
                if seen(&slot) != Some(before) {
                    just_read = true;
                    continue;
                }
            }
            break (decided?, before.0);
        };
        if events.is_empty() {
            return Ok(Attempt::Done((events, before, extra)));
        }
        let version = match self.store.append(id, before, &events).await {
            Ok(version) => version,
            Err(StoreError::Conflict(_)) => {
                if let Some(entry) = slot.write().as_mut() {
                    entry.stale = true;
                }
                return Ok(Attempt::Conflict);
            }
            Err(e) => {
                // The events may or may not be stored: reload next time.
                slot.forget();
                return Err(e.into());
            }
        };
        let due = {
            let mut state = slot.write();
            let entry = state.as_mut().ok_or_else(not_loaded)?;
            for event in &events {
                entry.org.apply(event);
            }
            let due = self
                .config
                .snapshot_every
                .is_some_and(|every| entry.snapshot_due(every))
                && self.config.background_snapshots;
            if due {
                // Asked for now: the next one is due an interval later,
                // whether this one is written or not.
                entry.snapshot_at = version;
            }
            due
        };
        // A new organization is kept from its first event on.
        self.remember(id, &slot);
        if due {
            // Not awaited (see `ServiceConfig::with_snapshot_every`).
            (self.request_snapshot)(id).await;
        }
        Ok(Attempt::Done((events, version, extra)))
    }

    /// The organization's cache slot, or a new empty one that is not kept
    /// (see [`remember`](AccountService::remember)).
    fn slot(&self, id: &OrganizationId) -> Arc<Slot> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .get(id)
            .unwrap_or_else(|| Arc::new(Slot::new(&self.config)))
    }

    /// Keeps `slot` in the cache if its organization exists and none is
    /// kept for it yet (an unknown id is never kept; when two calls loaded
    /// the same new organization, the first kept wins and the other's slot
    /// is dropped after its call).
    fn remember(&self, id: &OrganizationId, slot: &Arc<Slot>) {
        if !slot.exists() {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.insert(id, slot);
    }

    /// Loads the organization on first use (latest snapshot, or nothing),
    /// then applies what is newer. Call it as the slot's writer. Sign-ins
    /// are read before events, so a sign-in is never read before the
    /// acceptance it depends on. A store error drops the cached state, to
    /// be rebuilt next time.
    ///
    /// With [`Reading::SignIns`], events are read only when a sign-in
    /// names a member the cached state does not know as active (the
    /// acceptance or invitation it follows is then newer than the cache).
    async fn refresh(
        &self,
        id: &OrganizationId,
        slot: &Slot,
        reading: Reading,
    ) -> Result<(), ServiceError> {
        let result = self.refresh_inner(id, slot, reading).await;
        if result.is_err() {
            slot.forget();
        }
        result
    }

    async fn refresh_inner(
        &self,
        id: &OrganizationId,
        slot: &Slot,
        reading: Reading,
    ) -> Result<(), ServiceError> {
        let known = slot
            .read()
            .as_ref()
            .map(|entry| (entry.org.version(), entry.activity));
        let (version, activity, reading) = match known {
            Some((version, activity)) => (version, activity, reading),
            None => {
                let (org, snapshot_at) = snapshots::load_stored(&*self.store, id).await?;
                let version = org.version();
                *slot.write() = Some(Entry::new(org, snapshot_at));
                // Just loaded: the snapshot's tail was read with it, but a
                // writer may have appended since.
                (version, 0, Reading::All)
            }
        };
        let (sign_ins, next_activity) = self.store.sign_ins_after(id, activity).await?;
        let read_events = match reading {
            Reading::All => true,
            Reading::SignIns => {
                let state = slot.read();
                let entry = state.as_ref().ok_or_else(not_loaded)?;
                sign_ins.iter().any(|s| {
                    entry
                        .org
                        .member_by_id(s.user)
                        .is_none_or(|m| m.status().last_active().is_none())
                })
            }
        };
        let events = if read_events {
            self.store.read(id, version).await?
        } else {
            Vec::new()
        };
        let mut state = slot.write();
        let entry = state.as_mut().ok_or_else(not_loaded)?;
        for event in &events {
            entry.org.apply(event);
        }
        for s in sign_ins {
            entry.org.observe_sign_in(s.user, s.at);
        }
        entry.activity = next_activity;
        if read_events {
            entry.stale = false;
        }
        Ok(())
    }
}

/// How many events apart snapshots of an organization of `members` members
/// are written: `every`, or `members / 32` if that is more (see
/// [`ServiceConfig::with_snapshot_every`]). Never 0.
fn snapshot_interval(every: u64, members: usize) -> u64 {
    u64::try_from(members / SNAPSHOT_MEMBERS_PER_EVENT)
        .unwrap_or(u64::MAX)
        .max(every)
        .max(1)
}

/// See [`snapshot_interval`].
const SNAPSHOT_MEMBERS_PER_EVENT: usize = 32;

/// What a refresh reads from the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Sign-ins, then the events after the cached version.
    All,
    /// Sign-ins only (events only if a sign-in needs them).
    SignIns,
}

fn not_loaded() -> ServiceError {
    StoreError::Corrupt("the organization could not be loaded".into()).into()
}

/// The emails queued by `events`.
fn queued_in(events: &[Event]) -> Vec<NotificationId> {
    events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::InvitationEmailQueued { notification, .. } => Some(notification),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::snapshot_interval;

    #[test]
    fn large_organizations_are_snapshotted_less_often() {
        assert_eq!(snapshot_interval(500, 0), 500);
        assert_eq!(snapshot_interval(500, 16_000), 500);
        assert_eq!(snapshot_interval(500, 100_000), 3_125);
        assert_eq!(snapshot_interval(500, 1_000_000), 31_250);
        assert_eq!(snapshot_interval(100_000, 1_000_000), 100_000);
        assert_eq!(snapshot_interval(0, 0), 1, "never a division by zero");
    }
}
