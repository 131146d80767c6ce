//! The application service: load -> decide -> append -> (retry on
//! conflict), over any [`Store`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use jiff::Timestamp;

use crate::ports::{OrganizationId, Store, StoreError, Version};
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
struct Entry {
    org: Organization,
    activity: u64,
}

/// One organization's slot in the cache; its lock serializes this
/// process's work on that organization (other organizations go on).
type Slot = Arc<Mutex<Option<Entry>>>;

/// What one attempt at storing events came to.
enum Attempt<T> {
    Done(T),
    Conflict,
}

/// Runs commands against organizations kept in a [`Store`].
///
/// Each command is decided against the organization's latest state and
/// appended with that state's version; if another writer (thread or
/// process) appended first, the service reloads and decides again, up to
/// [`ServiceConfig::max_attempts`] times. A command writes only its own
/// events. The service keeps each organization it has seen in memory and
/// brings it up to date by reading only what is newer (the latest snapshot
/// and the events after it on first use), applying events in place: a
/// command or a sign-in costs O(what changed), never a copy of the
/// organization.
///
/// Sign-ins go to the [`ActivityStore`](crate::ActivityStore), not the event
/// stream, so they never make an administrator's command conflict.
pub struct AccountService<S> {
    store: S,
    config: ServiceConfig,
    cache: Mutex<HashMap<OrganizationId, Slot>>,
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

    /// Runs `query` on the organization's latest state (see
    /// [`Organization::members_page`]). Costs what the query costs plus
    /// reading what is new in the store.
    ///
    /// # Errors
    /// [`ServiceError::Store`].
    pub fn read<R>(
        &self,
        id: &OrganizationId,
        query: impl FnOnce(&Organization) -> R,
    ) -> Result<R, ServiceError> {
        self.with_current(id, |entry| Ok(query(&entry.org)))
    }

    /// A copy of the organization's latest state. Convenient, but it copies
    /// the whole organization: prefer [`read`](AccountService::read).
    ///
    /// # Errors
    /// [`ServiceError::Store`].
    pub fn organization(&self, id: &OrganizationId) -> Result<Organization, ServiceError> {
        self.read(id, Organization::clone)
    }

    /// Decides `command` against the latest state and stores its events.
    /// Invitation emails it queues are then delivered through the mailer,
    /// if one is set; see [`Executed::deliveries`].
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
            let attempt = self.with_current(id, |entry| {
                let events = entry.org.decide(command, ctx)?;
                if events.is_empty() {
                    return Ok(Attempt::Done((events, entry.org.version())));
                }
                Ok(match self.append(id, entry, &events)? {
                    Attempt::Done(version) => Attempt::Done((events, version)),
                    Attempt::Conflict => Attempt::Conflict,
                })
            })?;
            if let Attempt::Done((events, version)) = attempt {
                let deliveries = self.deliver(id, &queued_in(&events), ctx.now)?;
                return Ok(Executed {
                    events,
                    version,
                    deliveries,
                });
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
    /// When storing fails (or other writers kept winning), every row that
    /// was to be invited is reported as `api_error`; uploading the file
    /// again is safe, since rows already stored are skipped.
    ///
    /// # Errors
    /// [`ServiceError::Refused`] (not an administrator, no organization, not
    /// enough license seats for the file's group rules) and
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
            let attempt = self.with_current(id, |entry| {
                let bulk = entry.org.decide_bulk_invite(file, ctx)?;
                if dry_run {
                    return Ok(Attempt::Done((bulk.into_dry_run(), Vec::new())));
                }
                let (events, mut report) = bulk.into_parts();
                if events.is_empty() {
                    return Ok(Attempt::Done((report, events)));
                }
                match self.append(id, entry, &events) {
                    Ok(Attempt::Done(_)) => Ok(Attempt::Done((report, events))),
                    Ok(Attempt::Conflict) => {
                        last_report = Some(report);
                        Ok(Attempt::Conflict)
                    }
                    Err(e) => {
                        report.mark_api_error(&e.to_string());
                        Ok(Attempt::Done((report, Vec::new())))
                    }
                }
            })?;
            if let Attempt::Done((report, events)) = attempt {
                // The invitations are stored; a failed delivery stays
                // queued and never undoes them.
                let _ = self.deliver(id, &queued_in(&events), ctx.now);
                return Ok(report);
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
        self.with_current(id, |entry| {
            let events = entry.org.decide(&Command::RecordSignIn, ctx)?;
            if let Some(event) = events.first() {
                self.store.record_sign_in(id, event.actor, ctx.now)?;
                entry.org.observe_sign_in(event.actor, ctx.now);
            }
            Ok(())
        })
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
        let queued: Vec<NotificationId> =
            self.read(id, |org| org.outbox.keys().copied().collect())?;
        self.deliver(id, &queued, now)
    }

    /// Sends the queued emails `notifications` (outside the organization's
    /// lock) and records each result as an event. A delivered email is
    /// recorded before the next is sent, so it is never sent again; if
    /// recording fails after a successful send, the email stays queued and a
    /// later retry may send it a second time (at least once, never zero
    /// times).
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
            let next = self.read(id, |org| {
                let settings = org.mail_settings()?.clone();
                org.queued_emails()
                    .find(|(n, _, _)| n == notification)
                    .map(|(_, _, email)| (settings, email))
            })?;
            let Some((settings, email)) = next else {
                continue;
            };
            let result = mailer.send(&settings, &email).map_err(|e| e.to_string());
            self.record(id, *notification, result.clone(), now)?;
            deliveries.push(Delivery {
                notification: *notification,
                to: email.to,
                result,
            });
        }
        Ok(deliveries)
    }

    /// Appends a delivery result, retrying on conflict.
    fn record(
        &self,
        id: &OrganizationId,
        notification: NotificationId,
        result: Result<(), String>,
        now: Timestamp,
    ) -> Result<(), ServiceError> {
        for _ in 0..self.config.max_attempts {
            let attempt = self.with_current(id, |entry| {
                match entry.org.delivery_event(notification, result.clone(), now) {
                    None => Ok(Attempt::Done(())),
                    Some(event) => Ok(match self.append(id, entry, &[event])? {
                        Attempt::Done(_) => Attempt::Done(()),
                        Attempt::Conflict => Attempt::Conflict,
                    }),
                }
            })?;
            if let Attempt::Done(()) = attempt {
                return Ok(());
            }
        }
        Err(ServiceError::Contention {
            attempts: self.config.max_attempts,
        })
    }

    /// Appends `events` at the entry's version and applies them in place;
    /// snapshots when due.
    fn append(
        &self,
        id: &OrganizationId,
        entry: &mut Entry,
        events: &[Event],
    ) -> Result<Attempt<Version>, ServiceError> {
        let before = entry.org.version();
        match self.store.append(id, before, events) {
            Ok(version) => {
                for event in events {
                    entry.org.apply(event);
                }
                if let Some(every) = self.config.snapshot_every
                    && version / every > before / every
                {
                    // Best effort: events are the source of truth, a missing
                    // snapshot only makes the next cold load slower.
                    let _ = self.store.save_snapshot(id, &entry.org.snapshot());
                }
                Ok(Attempt::Done(version))
            }
            Err(StoreError::Conflict(_)) => Ok(Attempt::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    /// Runs `f` on the organization's cached state, brought up to date
    /// first, under the organization's lock. If `f` or the update fails with
    /// a store error, the cached state is dropped and reloaded next time.
    fn with_current<R>(
        &self,
        id: &OrganizationId,
        f: impl FnOnce(&mut Entry) -> Result<R, ServiceError>,
    ) -> Result<R, ServiceError> {
        let slot = {
            let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(cache.entry(id.clone()).or_default())
        };
        let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
        let result = self
            .refresh(id, &mut guard)
            .and_then(|()| match guard.as_mut() {
                Some(entry) => f(entry),
                None => {
                    Err(StoreError::Corrupt("the organization could not be loaded".into()).into())
                }
            });
        if matches!(result, Err(ServiceError::Store(_))) {
            *guard = None;
        }
        result
    }

    /// Loads the organization on first use (latest snapshot, or nothing),
    /// then applies what is newer: sign-ins are read before events, so a
    /// sign-in is never read before the acceptance it depends on.
    fn refresh(&self, id: &OrganizationId, slot: &mut Option<Entry>) -> Result<(), ServiceError> {
        let entry = match slot {
            Some(entry) => entry,
            None => slot.insert(Entry {
                org: self.load_base(id)?,
                activity: 0,
            }),
        };
        let (sign_ins, activity) = self.store.sign_ins_after(id, entry.activity)?;
        let events = self.store.read(id, entry.org.version())?;
        for event in &events {
            entry.org.apply(event);
        }
        for s in sign_ins {
            entry.org.observe_sign_in(s.user, s.at);
        }
        entry.activity = activity;
        Ok(())
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
