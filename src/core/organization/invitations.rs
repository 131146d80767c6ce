//! The invitation lifecycle: mail settings, expiry, resending, revoking,
//! and the queue of invitation emails to deliver. The rules are documented
//! on [`QueuedEmail`].

use std::collections::{BTreeMap, HashMap};

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::{Member, Organization};
use crate::core::mail::stored_error_text;
use crate::{
    DomainError, Event, EventKind, InvitationEmail, MailError, MailErrorKind, MailSettings,
    NotificationId, UserId,
};

/// Where a member's invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum InvitationStatus {
    /// Invited, can still accept.
    Pending,
    /// Invited, but the organization's expiry has passed: cannot accept
    /// until an administrator resends the invitation.
    Expired,
    /// Accepted: an active member.
    Accepted,
}

/// An invitation email waiting to be delivered.
///
/// # The invitation lifecycle
///
/// An invited member is Pending until they accept
/// ([`Command::AcceptInvitation`](crate::Command::AcceptInvitation)). With
/// an expiry set
/// ([`Command::SetInvitationExpiry`](crate::Command::SetInvitationExpiry),
/// one minute to ten years; none by default), an invitation not accepted
/// within that time after it was last sent is
/// [`Expired`](InvitationStatus::Expired) and cannot be accepted until an
/// administrator resends it
/// ([`Command::ResendInvitation`](crate::Command::ResendInvitation), which
/// restarts the clock). Revoking a pending invitation
/// ([`Command::RevokeInvitation`](crate::Command::RevokeInvitation)) removes
/// the member as removing a user does.
///
/// Without [`MailSettings`] inviting sends nothing. With them, every new
/// invitation (single or bulk) queues exactly one email, numbered by a
/// [`NotificationId`]; whoever invited is recorded as its sender.
///
/// **A member has at most one queued email: resends collapse onto it.** A
/// resend while the member's email is queued and has not failed keeps that
/// email (nothing new is queued; the invitation's clock restarts). A
/// resend after it failed queues a fresh email that replaces it (attempts
/// start again, so an email that failed for good is tried once more).
/// However many resends an administrator sends, the queue holds one email
/// per member. The error text of a failed attempt is kept to
/// [`MAX_MAIL_ERROR_CHARS`](crate::MAX_MAIL_ERROR_CHARS) characters, also
/// when a stored event holds more. The queue is in the state: [`Organization::queued_emails`]
/// lists it with each message, [`Organization::delivery_event`] records a
/// delivery attempt (delivered: it leaves the queue; failed: it stays,
/// with the error and the attempt count). Clearing the mail settings
/// empties the queue; removing a member (or revoking their invitation)
/// drops their queued emails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedEmail {
    pub(crate) user: UserId,
    pub(crate) invited_by: UserId,
    pub(crate) attempts: u32,
    pub(crate) last_error: Option<String>,
    /// The kind of the last failure (`None`: never failed, or failed before
    /// kinds were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last_failure: Option<MailErrorKind>,
    /// A delivery worker's claim, until this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) claimed_until: Option<Timestamp>,
    /// After a transient failure: not tried again before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) retry_after: Option<Timestamp>,
}

/// Transient failures back off: the n-th is retried after 1 minute × 2^(n-1),
/// at most [`MAX_RETRY_DELAY`] later.
const FIRST_RETRY_DELAY: SignedDuration = SignedDuration::from_mins(1);
/// The longest wait between two attempts.
const MAX_RETRY_DELAY: SignedDuration = SignedDuration::from_hours(6);
/// After this many failed attempts an email is not tried again until the
/// mail settings change or the invitation is resent: a tenant whose server
/// keeps answering 4xx cannot grow the event log without bound.
pub const MAX_DELIVERY_ATTEMPTS: u32 = 8;

/// The wait after the `attempts`-th failure.
fn retry_delay(attempts: u32) -> SignedDuration {
    let doublings = attempts.saturating_sub(1).min(16);
    let factor = 1i32.checked_shl(doublings).unwrap_or(i32::MAX);
    FIRST_RETRY_DELAY
        .checked_mul(factor)
        .map_or(MAX_RETRY_DELAY, |d| d.min(MAX_RETRY_DELAY))
}

impl QueuedEmail {
    /// The invitee.
    pub fn user(&self) -> UserId {
        self.user
    }
    /// Failed delivery attempts so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
    /// Why the last attempt failed, if one did.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
    /// The kind of the last failure, if one was recorded with a kind.
    pub fn last_failure(&self) -> Option<MailErrorKind> {
        self.last_failure
    }
    /// Until when a delivery worker holds it, if one claimed it.
    pub fn claimed_until(&self) -> Option<Timestamp> {
        self.claimed_until
    }
    /// Whether a delivery worker may send it at `now`: not claimed (or the
    /// claim lapsed), and never failed, or last failed in a way a retry can
    /// help, its back-off passed and fewer than [`MAX_DELIVERY_ATTEMPTS`]
    /// attempts made. An email that failed permanently, for configuration,
    /// or too often waits until the mail settings change or the invitation
    /// is resent.
    pub fn is_deliverable(&self, now: Timestamp) -> bool {
        let free = self.claimed_until.is_none_or(|until| until <= now);
        let retryable = matches!(self.last_failure, None | Some(MailErrorKind::Transient))
            && self.attempts < MAX_DELIVERY_ATTEMPTS;
        let due = self.retry_after.is_none_or(|after| after <= now);
        free && retryable && due
    }
    /// After a transient failure, when it may be tried again (backing off
    /// from 1 minute to 6 hours; at most [`MAX_DELIVERY_ATTEMPTS`]).
    pub fn retry_after(&self) -> Option<Timestamp> {
        self.retry_after
    }
}

/// The shortest invitation validity accepted.
const MIN_EXPIRY: SignedDuration = SignedDuration::from_secs(60);

/// The longest invitation validity accepted, in days: about ten years.
/// Longer periods mean "never" in practice (say so with no expiry), and
/// this bound keeps `sent_at + expiry` far inside what a timestamp holds.
const MAX_EXPIRY_DAYS: u32 = 3650;
const MAX_EXPIRY: SignedDuration = SignedDuration::from_hours(MAX_EXPIRY_DAYS as i64 * 24);

/// Mail settings, invitation expiry and the queue of invitation emails.
/// Changed only through its `apply_*` methods.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Invitations {
    mail: Option<MailSettings>,
    expiry: Option<SignedDuration>,
    outbox: BTreeMap<NotificationId, QueuedEmail>,
    /// The queued email of each member in the outbox (at most one each),
    /// so queuing, resending and removing never scan the queue.
    queued_for: HashMap<UserId, NotificationId>,
    /// The next free notification id.
    next: u64,
}

impl Organization {
    /// The custom mail settings, if any.
    pub fn mail_settings(&self) -> Option<&MailSettings> {
        self.invitations.mail.as_ref()
    }

    /// How long invitations stay valid (`None`: forever).
    pub fn invitation_expiry(&self) -> Option<SignedDuration> {
        self.invitations.expiry
    }

    /// Where `member`'s invitation stands at `now`.
    pub fn invitation_status(&self, member: &Member, now: Timestamp) -> InvitationStatus {
        if !member.status.is_pending() {
            InvitationStatus::Accepted
        } else if self.invitations.is_expired(member, now) {
            InvitationStatus::Expired
        } else {
            InvitationStatus::Pending
        }
    }

    /// When `member`'s invitation expires, if it can.
    pub fn invitation_expires_at(&self, member: &Member) -> Option<Timestamp> {
        self.invitations.expires_at(member)
    }

    /// Invitation emails waiting for delivery, oldest first, with the
    /// message each should carry.
    pub fn queued_emails(
        &self,
    ) -> impl Iterator<Item = (NotificationId, &QueuedEmail, InvitationEmail)> {
        self.invitations
            .outbox
            .iter()
            .filter_map(|(id, queued)| Some((*id, queued, self.invitation_email(queued)?)))
    }

    /// The message of a queued email: to the invitee, from whoever invited
    /// them (the sender address when they are gone).
    fn invitation_email(&self, queued: &QueuedEmail) -> Option<InvitationEmail> {
        let settings = self.invitations.mail.as_ref()?;
        let to = self.members.get(queued.user)?.email.clone();
        let by = self
            .members
            .get(queued.invited_by)
            .map(|m| m.email.clone())
            .unwrap_or_else(|| settings.sender_address.clone());
        Some(InvitationEmail::new(settings, to, self.name(), &by))
    }

    /// The ids of every queued invitation email, oldest first (including
    /// any that [`queued_emails`](Organization::queued_emails) cannot
    /// build a message for).
    pub fn queued_ids(&self) -> impl Iterator<Item = NotificationId> + '_ {
        self.invitations.outbox.keys().copied()
    }

    /// The message a queued email should carry (`None` when it is not
    /// queued, or cannot be sent: no mail settings, or the invitee is gone).
    pub fn queued_email(&self, notification: NotificationId) -> Option<InvitationEmail> {
        let queued = self.invitations.outbox.get(&notification)?;
        self.invitation_email(queued)
    }

    /// Up to `limit` emails a delivery worker may send at `now`, oldest
    /// first (see [`QueuedEmail::is_deliverable`]); none without mail
    /// settings. Costs O(queue) at most.
    pub fn deliverable(&self, now: Timestamp, limit: usize) -> Vec<NotificationId> {
        if self.invitations.mail.is_none() {
            return Vec::new();
        }
        self.invitations
            .outbox
            .iter()
            .filter(|(_, queued)| queued.is_deliverable(now))
            .map(|(id, _)| *id)
            .take(limit)
            .collect()
    }

    /// The event by which a delivery worker claims a queued email until
    /// `now + lease`, or `None` when it may not be sent now (gone, claimed
    /// by another worker, failed for good, no mail settings). Store it with
    /// the organization's version before sending: of two workers, only one
    /// can store its claim.
    pub fn claim_event(
        &self,
        notification: NotificationId,
        now: Timestamp,
        lease: SignedDuration,
    ) -> Option<Event> {
        self.invitations.mail.as_ref()?;
        let queued = self.invitations.outbox.get(&notification)?;
        if !queued.is_deliverable(now) {
            return None;
        }
        let until = now.checked_add(lease).ok()?;
        Some(Event::new(
            now,
            queued.invited_by,
            EventKind::InvitationEmailClaimed {
                notification,
                until,
            },
        ))
    }

    /// The event recording one delivery attempt of a queued email (`None`
    /// when it is no longer queued). Call [`apply`](Organization::apply)
    /// with it after storing it.
    pub fn delivery_event(
        &self,
        notification: NotificationId,
        result: Result<(), &MailError>,
        at: Timestamp,
    ) -> Option<Event> {
        let queued = self.invitations.outbox.get(&notification)?;
        let kind = match result {
            Ok(()) => EventKind::InvitationEmailDelivered { notification },
            Err(error) => EventKind::InvitationEmailFailed {
                notification,
                error: stored_error_text(&error.summary),
                kind: Some(error.kind),
                code: error.code,
            },
        };
        Some(Event::new(at, queued.invited_by, kind))
    }
}

impl Invitations {
    /// The state restored from a snapshot. A snapshot written before
    /// resends collapsed may queue several emails for one member: the
    /// newest is kept, as replaying the events keeps it; stored error text
    /// is cut as `apply` cuts it.
    pub(crate) fn restore(
        mail: Option<MailSettings>,
        expiry: Option<SignedDuration>,
        outbox: impl IntoIterator<Item = (NotificationId, QueuedEmail)>,
        next: u64,
    ) -> Invitations {
        let mut invitations = Invitations {
            mail,
            expiry,
            next,
            ..Invitations::default()
        };
        let mut outbox: Vec<(NotificationId, QueuedEmail)> = outbox.into_iter().collect();
        outbox.sort_by_key(|(id, _)| *id);
        for (id, mut queued) in outbox {
            if let Some(error) = &mut queued.last_error {
                *error = stored_error_text(error);
            }
            invitations.enqueue(id, queued);
        }
        invitations
    }

    /// Puts `queued` in the queue as its member's one email, replacing the
    /// one they had.
    fn enqueue(&mut self, id: NotificationId, queued: QueuedEmail) {
        if let Some(old) = self.queued_for.insert(queued.user, id)
            && old != id
        {
            self.outbox.remove(&old);
        }
        self.outbox.insert(id, queued);
    }

    /// The member's queued email, if any.
    fn queued_of(&self, user: UserId) -> Option<&QueuedEmail> {
        self.outbox.get(self.queued_for.get(&user)?)
    }

    /// The mail settings, if any.
    pub(crate) fn mail(&self) -> Option<&MailSettings> {
        self.mail.as_ref()
    }

    /// The expiry, if any.
    pub(crate) fn expiry(&self) -> Option<SignedDuration> {
        self.expiry
    }

    /// The queue, oldest first.
    pub(crate) fn outbox(&self) -> impl Iterator<Item = (&NotificationId, &QueuedEmail)> {
        self.outbox.iter()
    }

    /// The counter as stored: the next free id.
    pub(crate) fn counter(&self) -> u64 {
        self.next
    }

    /// When `member`'s invitation expires, if it can.
    pub(crate) fn expires_at(&self, member: &Member) -> Option<Timestamp> {
        let ttl = self.expiry?;
        if !member.status.is_pending() {
            return None;
        }
        member.invitation_sent_at.checked_add(ttl).ok()
    }

    /// Whether `member`'s invitation has expired at `now`.
    pub(crate) fn is_expired(&self, member: &Member, now: Timestamp) -> bool {
        self.expires_at(member).is_some_and(|end| now >= end)
    }

    /// One queued email per invitee, when the organization has mail
    /// settings; nothing otherwise. Whoever invites is the events' actor,
    /// which the queue records.
    ///
    /// # Errors
    /// [`DomainError::IdsExhausted`] when the email counter cannot number
    /// them all (only a damaged store gets there): an id is handed out
    /// only if the counter can move past it.
    pub(crate) fn queue_emails(&self, users: &[UserId]) -> Result<Vec<EventKind>, DomainError> {
        if self.mail.is_none() {
            return Ok(Vec::new());
        }
        let first = self.next.max(1);
        let fits = u64::try_from(users.len())
            .ok()
            .and_then(|n| first.checked_add(n))
            .is_some();
        if !fits {
            return Err(DomainError::IdsExhausted { what: "email" });
        }
        Ok(users
            .iter()
            .zip(first..)
            .map(|(user, n)| EventKind::InvitationEmailQueued {
                notification: NotificationId(n),
                user: *user,
            })
            .collect())
    }

    /// `SetMailSettings`.
    pub(crate) fn decide_set_mail(
        &self,
        settings: &MailSettings,
    ) -> Result<Vec<EventKind>, DomainError> {
        if let Some(reason) = settings.problem() {
            return Err(DomainError::InvalidMailSettings { reason });
        }
        if self.mail.as_ref() == Some(settings) {
            return Ok(Vec::new());
        }
        Ok(vec![EventKind::MailSettingsSet {
            settings: settings.clone(),
        }])
    }

    /// `ClearMailSettings`.
    pub(crate) fn decide_clear_mail(&self) -> Vec<EventKind> {
        if self.mail.is_some() {
            vec![EventKind::MailSettingsCleared]
        } else {
            Vec::new()
        }
    }

    /// `SetInvitationExpiry`: one minute to [`MAX_EXPIRY_DAYS`] days, or
    /// none.
    pub(crate) fn decide_set_expiry(
        &self,
        after: Option<std::time::Duration>,
    ) -> Result<Vec<EventKind>, DomainError> {
        let after = after.map(checked_expiry).transpose()?;
        if after == self.expiry {
            return Ok(Vec::new());
        }
        Ok(vec![EventKind::InvitationExpirySet { after }])
    }

    /// `ResendInvitation`, the pending member resolved: resends collapse
    /// onto the member's one queued email (see [`QueuedEmail`]). An email
    /// queued and not failed is kept; otherwise one is queued, replacing a
    /// failed one.
    pub(crate) fn decide_resend(&self, member: &Member) -> Result<Vec<EventKind>, DomainError> {
        let mut events = vec![EventKind::InvitationResent { user: member.id }];
        let waiting = self
            .queued_of(member.id)
            .is_some_and(|queued| queued.last_error.is_none() && queued.last_failure.is_none());
        if !waiting {
            events.extend(self.queue_emails(&[member.id])?);
        }
        Ok(events)
    }

    /// `RevokeInvitation`, the pending member resolved.
    pub(crate) fn decide_revoke(member: &Member) -> Vec<EventKind> {
        vec![EventKind::InvitationRevoked { user: member.id }]
    }

    /// `MailSettingsSet`: emails that failed for good under the old
    /// settings may be tried again under the new ones.
    pub(crate) fn apply_mail_set(&mut self, settings: &MailSettings) {
        self.mail = Some(settings.clone());
        // New settings: every waiting email starts over, tried at once.
        for queued in self.outbox.values_mut() {
            queued.last_failure = queued
                .last_failure
                .filter(|kind| *kind == MailErrorKind::Transient);
            queued.retry_after = None;
            queued.attempts = 0;
        }
    }

    /// `MailSettingsCleared`: nothing can be delivered without settings.
    pub(crate) fn apply_mail_cleared(&mut self) {
        self.mail = None;
        self.outbox.clear();
        self.queued_for.clear();
    }

    /// `InvitationExpirySet`.
    pub(crate) fn apply_expiry_set(&mut self, after: Option<SignedDuration>) {
        self.expiry = after;
    }

    /// `InvitationEmailQueued` by `invited_by`; `is_member` says whether
    /// the invitee is (still) a member. It replaces the member's queued
    /// email, if they had one: a member has one queued email at most.
    pub(crate) fn apply_email_queued(
        &mut self,
        notification: NotificationId,
        user: UserId,
        invited_by: UserId,
        is_member: bool,
    ) {
        self.next = self.next.max(notification.0.saturating_add(1));
        if self.mail.is_some() && is_member {
            self.enqueue(
                notification,
                QueuedEmail {
                    user,
                    invited_by,
                    attempts: 0,
                    last_error: None,
                    last_failure: None,
                    claimed_until: None,
                    retry_after: None,
                },
            );
        }
    }

    /// `InvitationEmailDelivered`.
    pub(crate) fn apply_email_delivered(&mut self, notification: NotificationId) {
        self.dequeue(notification);
    }

    /// Takes an email out of the queue.
    fn dequeue(&mut self, notification: NotificationId) {
        if let Some(queued) = self.outbox.remove(&notification)
            && self.queued_for.get(&queued.user) == Some(&notification)
        {
            self.queued_for.remove(&queued.user);
        }
    }

    /// `InvitationEmailFailed`: the claim ends with the attempt; the error
    /// text is kept to [`MAX_MAIL_ERROR_CHARS`](crate::MAX_MAIL_ERROR_CHARS)
    /// characters, whatever the event holds.
    pub(crate) fn apply_email_failed(
        &mut self,
        notification: NotificationId,
        error: &str,
        kind: Option<MailErrorKind>,
        at: Timestamp,
    ) {
        if let Some(q) = self.outbox.get_mut(&notification) {
            q.attempts = q.attempts.saturating_add(1);
            q.last_error = Some(stored_error_text(error));
            q.last_failure = kind;
            q.claimed_until = None;
            q.retry_after = at.checked_add(retry_delay(q.attempts)).ok();
        }
    }

    /// `InvitationEmailClaimed`.
    pub(crate) fn apply_email_claimed(&mut self, notification: NotificationId, until: Timestamp) {
        if let Some(q) = self.outbox.get_mut(&notification) {
            q.claimed_until = Some(until);
        }
    }

    /// A removed member's queued emails are dropped.
    pub(crate) fn forget_user(&mut self, user: UserId) {
        if let Some(notification) = self.queued_for.remove(&user) {
            self.outbox.remove(&notification);
        }
    }
}

/// An expiry as the state keeps it, or why it is refused.
fn checked_expiry(after: std::time::Duration) -> Result<SignedDuration, DomainError> {
    let too_long = || DomainError::ExpiryTooLong {
        max_days: MAX_EXPIRY_DAYS,
    };
    // Only a duration too long for a SignedDuration fails to convert.
    let after = SignedDuration::try_from(after).map_err(|_| too_long())?;
    if after < MIN_EXPIRY {
        return Err(DomainError::InvalidExpiry);
    }
    if after > MAX_EXPIRY {
        return Err(too_long());
    }
    Ok(after)
}
