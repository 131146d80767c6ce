//! The application service: load -> decide -> append -> (retry on
//! conflict), over any [`Store`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use jiff::Timestamp;

use crate::store::{OrganizationId, Store, StoreError, Version};
use crate::{
    Command, Context, DomainError, Email, Event, EventKind, ImportReport, InviteFile, Mailer,
    NotificationId, Organization,
};

/// How the service retries and snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceConfig {
    /// How many times a command is decided and appended before giving up
    /// on a busy organization (at least 1). Default 8.
    pub max_attempts: u32,
    /// Save a snapshot each time the version crosses a multiple of this
    /// many events; `None` never snapshots. Default 500.
    pub snapshot_every: Option<u64>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            max_attempts: 8,
            snapshot_every: Some(500),
        }
    }
}

impl ServiceConfig {
    /// Sets [`max_attempts`](ServiceConfig::max_attempts).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }
    /// Sets [`snapshot_every`](ServiceConfig::snapshot_every).
    pub fn with_snapshot_every(mut self, every: Option<u64>) -> Self {
        self.snapshot_every = every.filter(|n| *n > 0);
        self
    }
}

/// Why the service could not carry out a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The command breaks a rule; nothing changed. Handle: show the message.
    #[error(transparent)]
    Refused(#[from] DomainError),
    /// Storage failed. Handle: report it; for a command, the events may or
    /// may not have been stored, so reload before retrying (a retried
    /// invitation is then refused as already done, never applied twice).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Other writers kept changing the organization; nothing was stored.
    /// Handle: try again later.
    #[error(
        "the organization kept changing while this command was decided ({attempts} attempts); nothing was stored, try again"
    )]
    Contention {
        /// How many attempts were made.
        attempts: u32,
    },
}

impl ServiceError {
    /// A stable snake_case code: the [`DomainError::code`] of a refusal,
    /// `store_error`, or `contention`.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Refused(e) => e.code(),
            ServiceError::Store(_) => "store_error",
            ServiceError::Contention { .. } => "contention",
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
    /// The invitation emails this command queued and the service tried to
    /// deliver (empty without mail settings or without a mailer).
    pub deliveries: Vec<Delivery>,
}

/// One attempt to deliver a queued invitation email.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// The queued email.
    pub notification: NotificationId,
    /// The invitee.
    pub to: Email,
    /// `Err` holds why it failed; the email stays queued for
    /// [`AccountService::retry_deliveries`].
    pub result: Result<(), String>,
}

/// An organization as last seen, and how far its sign-ins were read.
#[derive(Clone)]
struct Cached {
    org: Arc<Organization>,
    activity: u64,
}

/// Runs commands against organizations kept in a [`Store`].
///
/// Each command is decided against the organization's latest state and
/// appended with that state's version; if another writer (thread or
/// process) appended first, the service reloads and decides again, up to
/// [`ServiceConfig::max_attempts`] times. A command writes only its own
/// events. Loading reads the latest snapshot and the events after it; the
/// service also keeps each organization it has seen in memory and only
/// reads what is newer.
///
/// Sign-ins go to the [`ActivityStore`](crate::ActivityStore), not the event
/// stream, so they never make an administrator's command conflict.
pub struct AccountService<S> {
    store: S,
    config: ServiceConfig,
    cache: Mutex<HashMap<OrganizationId, Cached>>,
    mailer: Option<Arc<dyn Mailer>>,
}

impl<S: Store> AccountService<S> {
    /// A service over `store` with the default configuration.
    pub fn new(store: S) -> AccountService<S> {
        AccountService::with_config(store, ServiceConfig::default())
    }

    /// A service over `store` configured by `config`.
    pub fn with_config(store: S, config: ServiceConfig) -> AccountService<S> {
        AccountService {
            store,
            config,
            cache: Mutex::new(HashMap::new()),
            mailer: None,
        }
    }

    /// Delivers invitation emails through `mailer`. Without a mailer,
    /// queued emails stay queued (see [`Organization::queued_emails`]).
    pub fn with_mailer(mut self, mailer: impl Mailer + 'static) -> AccountService<S> {
        self.mailer = Some(Arc::new(mailer));
        self
    }

    /// The underlying store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The organization's latest state, for queries (see
    /// [`Organization::members_page`]).
    ///
    /// # Errors
    /// [`ServiceError::Store`].
    pub fn organization(&self, id: &OrganizationId) -> Result<Arc<Organization>, ServiceError> {
        Ok(self.current(id)?.org)
    }

    /// Decides `command` against the latest state and stores its events.
    ///
    /// # Errors
    /// [`ServiceError::Refused`] when a rule refuses it,
    /// [`ServiceError::Contention`] when other writers kept winning,
    /// [`ServiceError::Store`] when storage failed.
    pub fn execute(
        &self,
        id: &OrganizationId,
        command: &Command,
        ctx: &Context,
    ) -> Result<Executed, ServiceError> {
        for _ in 0..self.config.max_attempts {
            let current = self.current(id)?;
            let events = current.org.decide(command, ctx)?;
            if events.is_empty() {
                return Ok(Executed {
                    events,
                    version: current.org.version(),
                    deliveries: Vec::new(),
                });
            }
            match self.store.append(id, current.org.version(), &events) {
                Ok(version) => {
                    self.stored(id, current, &events);
                    let deliveries = self.deliver(id, &queued_in(&events), ctx.now)?;
                    return Ok(Executed {
                        events,
                        version,
                        deliveries,
                    });
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => {
                    self.forget(id);
                    return Err(e.into());
                }
            }
        }
        Err(ServiceError::Contention {
            attempts: self.config.max_attempts,
        })
    }

    /// Decides a bulk invitation and stores all its invitations in one
    /// append (all or nothing). With `dry_run`, nothing is stored and the
    /// report says what would happen.
    ///
    /// When storing fails (or other writers kept winning), nothing from the
    /// file is stored and every row that was to be invited is reported as
    /// `api_error`; uploading the file again is safe.
    ///
    /// # Errors
    /// [`ServiceError::Refused`] (not an administrator, no organization) and
    /// [`ServiceError::Store`] when the organization cannot be loaded.
    pub fn bulk_invite(
        &self,
        id: &OrganizationId,
        file: &InviteFile,
        ctx: &Context,
        dry_run: bool,
    ) -> Result<ImportReport, ServiceError> {
        let mut last_report = None;
        for _ in 0..self.config.max_attempts {
            let current = self.current(id)?;
            let bulk = current.org.decide_bulk_invite(file, ctx)?;
            if dry_run {
                return Ok(bulk.into_dry_run());
            }
            let (events, mut report) = bulk.into_parts();
            if events.is_empty() {
                return Ok(report);
            }
            match self.store.append(id, current.org.version(), &events) {
                Ok(_) => {
                    self.stored(id, current, &events);
                    // The invitations are stored; a failed delivery stays
                    // queued and never undoes them.
                    let _ = self.deliver(id, &queued_in(&events), ctx.now);
                    return Ok(report);
                }
                Err(StoreError::Conflict(_)) => last_report = Some(report),
                Err(e) => {
                    self.forget(id);
                    report.mark_api_error(&e.to_string());
                    return Ok(report);
                }
            }
        }
        let mut report = last_report.unwrap_or_else(|| ImportReport {
            dry_run: false,
            rows: Vec::new(),
        });
        report.mark_api_error(
            &ServiceError::Contention {
                attempts: self.config.max_attempts,
            }
            .to_string(),
        );
        Ok(report)
    }

    /// Records that the actor signed in at `ctx.now`: Last active moves
    /// forward (an older time changes nothing). Written to the activity
    /// store, never the event stream.
    ///
    /// # Errors
    /// [`ServiceError::Refused`] with [`DomainError::NotAMember`] or
    /// [`DomainError::InvitationNotAccepted`]; [`ServiceError::Store`].
    pub fn record_sign_in(&self, id: &OrganizationId, ctx: &Context) -> Result<(), ServiceError> {
        let current = self.current(id)?;
        let events = current.org.decide(&Command::RecordSignIn, ctx)?;
        let Some(event) = events.first() else {
            return Ok(());
        };
        self.store.record_sign_in(id, event.actor, ctx.now)?;
        Ok(())
    }

    /// Tries again to deliver every queued invitation email, recording each
    /// result at `now`.
    ///
    /// # Errors
    /// [`ServiceError::Store`] when the organization cannot be loaded or a
    /// result cannot be recorded.
    pub fn retry_deliveries(
        &self,
        id: &OrganizationId,
        now: Timestamp,
    ) -> Result<Vec<Delivery>, ServiceError> {
        let current = self.current(id)?;
        let queued: Vec<NotificationId> = current.org.outbox.keys().copied().collect();
        self.deliver(id, &queued, now)
    }

    /// Sends the queued emails `notifications` and records each result as
    /// an event. A delivered email is recorded before the next is sent, so
    /// it is never sent again; if recording fails after a successful send,
    /// the email stays queued and a later retry may send it a second time
    /// (at least once, never zero times).
    fn deliver(
        &self,
        id: &OrganizationId,
        notifications: &[NotificationId],
        now: Timestamp,
    ) -> Result<Vec<Delivery>, ServiceError> {
        let Some(mailer) = &self.mailer else {
            return Ok(Vec::new());
        };
        let mut deliveries = Vec::new();
        for notification in notifications {
            let current = self.current(id)?;
            let Some(settings) = current.org.mail_settings().cloned() else {
                break;
            };
            let Some((_, _, email)) = current
                .org
                .queued_emails()
                .find(|(n, _, _)| n == notification)
            else {
                continue;
            };
            let result = mailer
                .send(&settings, &email)
                .map_err(|e| e.to_string());
            self.record(id, *notification, result.clone(), now)?;
            deliveries.push(Delivery {
                notification: *notification,
                to: email.to,
                result,
            });
        }
        Ok(deliveries)
    }

    /// Appends the delivery result, retrying on conflict.
    fn record(
        &self,
        id: &OrganizationId,
        notification: NotificationId,
        result: Result<(), String>,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        for _ in 0..self.config.max_attempts {
            let current = self.current(id)?;
            let Some(event) = current.org.delivery_event(notification, result.clone(), now) else {
                return Ok(());
            };
            let events = [event];
            match self.store.append(id, current.org.version(), &events) {
                Ok(_) => {
                    self.stored(id, current, &events);
                    return Ok(());
                }
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => {
                    self.forget(id);
                    return Err(e.into());
                }
            }
        }
        Err(ServiceError::Contention {
            attempts: self.config.max_attempts,
        })
    }

    /// The cached state brought up to date with the store.
    fn current(&self, id: &OrganizationId) -> Result<Cached, ServiceError> {
        let cached = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned();
        let mut current = match cached {
            Some(c) => c,
            None => Cached {
                org: Arc::new(self.load_base(id)?),
                activity: 0,
            },
        };
        let events = self.store.read(id, current.org.version())?;
        let (sign_ins, activity) = self.store.sign_ins_after(id, current.activity)?;
        if !events.is_empty() || !sign_ins.is_empty() {
            let org = Arc::make_mut(&mut current.org);
            for event in &events {
                org.apply(event);
            }
            for s in sign_ins {
                org.observe_sign_in(s.user, s.at);
            }
        }
        current.activity = activity;
        self.remember(id, &current);
        Ok(current)
    }

    /// The latest snapshot, or an empty organization. A snapshot that
    /// cannot be loaded is ignored: the events rebuild the state.
    fn load_base(&self, id: &OrganizationId) -> Result<Organization, ServiceError> {
        let snapshot = match self.store.load_snapshot(id) {
            Ok(s) => s,
            Err(StoreError::Corrupt(_)) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(snapshot
            .and_then(|s| Organization::from_snapshot(&s).ok())
            .unwrap_or_default())
    }

    /// Applies events this service stored, and snapshots when due.
    fn stored(&self, id: &OrganizationId, mut current: Cached, events: &[Event]) {
        let before = current.org.version();
        let org = Arc::make_mut(&mut current.org);
        for event in events {
            org.apply(event);
        }
        if let Some(every) = self.config.snapshot_every
            && org.version() / every > before / every
        {
            // Best effort: events are the source of truth, a missing
            // snapshot only makes the next cold load slower.
            let _ = self.store.save_snapshot(id, &org.snapshot());
        }
        self.remember(id, &current);
    }

    fn remember(&self, id: &OrganizationId, current: &Cached) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let newer = cache.get(id).is_none_or(|old| {
            (old.org.version(), old.activity) <= (current.org.version(), current.activity)
        });
        if newer {
            cache.insert(id.clone(), current.clone());
        }
    }

    fn forget(&self, id: &OrganizationId) {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }
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
