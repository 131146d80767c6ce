//! License leases that sign-ins make due, and idle leases released: the
//! service's side of the lease model (documented on
//! [`LicenseRule`](crate::LicenseRule)).
//!
//! A sign-in never waits for a lease. [`AccountService::record_sign_in`]
//! (and an accepted invitation) only notes, in this process's memory, that
//! the member signed in and may be due a lease. Every sign-in is noted,
//! whatever this process's cached state says: on a node that only serves
//! sign-ins that state may predate a rule, a freed seat or a new group
//! membership made on another node, and the lease must not be missed. The
//! lease itself is a separate command,
//! [`Command::LeaseLicenses`], appended later by
//! [`AccountService::grant_due_leases`] with the same optimistic
//! concurrency as any command: of two nodes racing for the last seat, the
//! second one's append conflicts, it decides again on the newer state, and
//! finds no seat. Hosts call `grant_due_leases` right after a sign-in
//! returned (for example in a `tokio::spawn`ed task:
//! [`AccountService::spawn_due_leases`] does that), or from a periodic task.
//! A lease noted by a process that stops before granting it is not lost for
//! good: the member leases at their next sign-in. At most [`MAX_DUE`]
//! sign-ins are kept noted at once per process, and at most
//! [`MAX_DUE_PER_ORGANIZATION`] per organization.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, PoisonError};

use jiff::Timestamp;

use super::AccountService;
use crate::ports::{OrganizationId, Store};
use crate::{Command, Context, Email, Event, Organization, ServiceError};

/// The most leases one process keeps due at once, over every
/// organization: a host that never calls `grant_due_leases` cannot make
/// the service grow without bound. A sign-in past it is not noted; the
/// member leases at a later sign-in.
const MAX_DUE: usize = 100_000;

/// The most sign-ins one organization keeps noted at once, so that one
/// busy tenant (or one whose grants keep failing) cannot take the whole of
/// [`MAX_DUE`] from the others.
const MAX_DUE_PER_ORGANIZATION: usize = 10_000;

/// Members due a lease, per organization, in sign-in order (each member
/// once), at most [`MAX_DUE`] in all.
#[derive(Default)]
pub(super) struct DueLeases {
    queues: HashMap<OrganizationId, Queue>,
    total: usize,
}

#[derive(Default)]
struct Queue {
    order: VecDeque<(Email, Timestamp)>,
    queued: HashSet<Email>,
}

impl DueLeases {
    /// Notes that `who` signed in at `at` and is due a lease (see
    /// [`is_due`]).
    pub(super) fn note(&mut self, id: &OrganizationId, who: &Email, at: Timestamp) {
        if self.total >= MAX_DUE {
            return;
        }
        // The id is copied only for an organization's first sign-in.
        if !self.queues.contains_key(id) {
            self.queues.insert(id.clone(), Queue::default());
        }
        let Some(queue) = self.queues.get_mut(id) else {
            return;
        };
        if queue.order.len() >= MAX_DUE_PER_ORGANIZATION {
            return;
        }
        if queue.queued.insert(who.clone()) {
            queue.order.push_back((who.clone(), at));
            self.total = self.total.saturating_add(1);
        }
    }

    fn take(&mut self, id: &OrganizationId) -> VecDeque<(Email, Timestamp)> {
        let order = self
            .queues
            .remove(id)
            .map(|queue| queue.order)
            .unwrap_or_default();
        self.total = self.total.saturating_sub(order.len());
        order
    }

    fn put_back(&mut self, id: &OrganizationId, rest: VecDeque<(Email, Timestamp)>) {
        let queue = self.queues.entry(id.clone()).or_default();
        for (who, at) in rest.into_iter().rev() {
            if queue.queued.insert(who.clone()) {
                queue.order.push_front((who, at));
                self.total = self.total.saturating_add(1);
            }
        }
    }
}

/// Whether `org` says `who`, signing in at `at`, is due a lease: a rule of
/// one of their groups gives a kind they do not hold, with a free seat and
/// quota (what [`Command::LeaseLicenses`] would lease; an organization
/// without rules answers at once). Asked of a state just read from the
/// store.
fn is_due(org: &Organization, who: &Email, at: Timestamp) -> bool {
    org.member(who)
        .is_some_and(|member| !org.leases_due(member, at).is_empty())
}

impl<S: Store> AccountService<S> {
    /// Appends the leases this process's sign-ins made due in `id`, in
    /// sign-in order. The organization is read from the store once (so a
    /// rule or a seat another node made is seen), and the members who
    /// signed in are checked against it; for each one due a lease,
    /// [`Command::LeaseLicenses`] as of their sign-in, decided against the
    /// latest state (first come, first served while seats and quota last)
    /// and appended with optimistic concurrency, retried on conflict like
    /// any command. A member who finds no seat any more, or was removed
    /// since, gets nothing. In an organization without license rules this
    /// costs that one read. Returns the events stored.
    ///
    /// # Errors
    /// [`ServiceError::Store`] or [`ServiceError::Contention`]; the leases
    /// not granted yet stay due for the next call.
    pub async fn grant_due_leases(&self, id: &OrganizationId) -> Result<Vec<Event>, ServiceError> {
        let mut due = self
            .due
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take(id);
        if due.is_empty() {
            return Ok(Vec::new());
        }
        // One read of what other nodes stored, then only the members that
        // state says are due go on to an append.
        let slot = self.slot(id);
        let refreshed = {
            let _writer = slot.writer.lock().await;
            self.refresh(id, &slot, super::Reading::All).await
        };
        if let Err(e) = refreshed {
            self.due
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .put_back(id, due);
            return Err(e);
        }
        self.remember(id, &slot);
        {
            let state = slot.read();
            let org = state.as_ref().map(|entry| &entry.org);
            due.retain(|(who, at)| org.is_some_and(|org| is_due(org, who, *at)));
        }
        drop(slot);
        let mut stored = Vec::new();
        while let Some((who, at)) = due.pop_front() {
            let ctx = Context::new(who.clone(), at);
            let outcome = self
                .retry(|| {
                    self.attempt(id, |org| {
                        // Removed or gone pending since: nothing to lease.
                        let events = org
                            .decide(&Command::LeaseLicenses, &ctx)
                            .unwrap_or_default();
                        Ok((events, ()))
                    })
                })
                .await;
            match outcome {
                Ok((events, _, ())) => stored.extend(events),
                Err(e) => {
                    due.push_front((who, at));
                    self.due
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .put_back(id, due);
                    return Err(e);
                }
            }
        }
        Ok(stored)
    }

    /// Releases the group leases of members of `id` with no sign-in for
    /// the organization's idle period, as of `now`: the periodic work a
    /// host runs (for example daily per organization). Each release is
    /// recorded as its holder's (see
    /// [`Organization::idle_lease_events`]). Returns the events stored.
    ///
    /// # Errors
    /// [`ServiceError::Store`] or [`ServiceError::Contention`].
    pub async fn release_idle_leases(
        &self,
        id: &OrganizationId,
        now: Timestamp,
    ) -> Result<Vec<Event>, ServiceError> {
        let (events, _, ()) = self
            .retry(|| self.attempt(id, |org| Ok((org.idle_lease_events(now), ()))))
            .await?;
        Ok(events)
    }

    /// Runs [`grant_due_leases`](AccountService::grant_due_leases) for
    /// `id` in a task of the current tokio runtime, so the caller (a
    /// sign-in handler) does not wait for it. `None` outside a tokio
    /// runtime (the leases stay due for a later call).
    pub fn spawn_due_leases(
        self: &Arc<Self>,
        id: &OrganizationId,
    ) -> Option<tokio::task::JoinHandle<Result<Vec<Event>, ServiceError>>>
    where
        S: 'static,
    {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        let service = Arc::clone(self);
        let id = id.clone();
        Some(handle.spawn(async move { service.grant_due_leases(&id).await }))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn one_organization_cannot_take_every_due_note() {
        let mut due = DueLeases::default();
        let [busy, other] = ["busy", "other"].map(|id| OrganizationId::new(id).unwrap());
        let at = Timestamp::UNIX_EPOCH;
        for i in 0..=MAX_DUE_PER_ORGANIZATION {
            due.note(
                &busy,
                &Email::parse(&format!("u{i}@example.com")).unwrap(),
                at,
            );
        }
        assert_eq!(due.take(&busy).len(), MAX_DUE_PER_ORGANIZATION);
        for i in 0..=MAX_DUE_PER_ORGANIZATION {
            due.note(
                &busy,
                &Email::parse(&format!("u{i}@example.com")).unwrap(),
                at,
            );
        }
        due.note(&other, &Email::parse("ada@example.com").unwrap(), at);
        assert_eq!(due.take(&other).len(), 1, "another tenant is still noted");
        assert_eq!(due.total, MAX_DUE_PER_ORGANIZATION);
    }
}
