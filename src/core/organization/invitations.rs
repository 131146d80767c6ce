//! The invitation lifecycle: mail settings, expiry, resending, revoking,
//! and the queue of invitation emails to deliver.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::{Member, Organization};
use crate::{
    Command, DomainError, Email, Event, EventKind, InvitationEmail, MailSettings, NotificationId,
    UserId,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedEmail {
    pub(crate) user: UserId,
    pub(crate) invited_by: UserId,
    pub(crate) attempts: u32,
    pub(crate) last_error: Option<String>,
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
}

/// The shortest invitation validity accepted.
const MIN_EXPIRY: SignedDuration = SignedDuration::from_secs(60);

/// The longest invitation validity accepted, in days: about ten years.
/// Longer periods mean "never" in practice (say so with no expiry), and
/// this bound keeps `sent_at + expiry` far inside what a timestamp holds.
const MAX_EXPIRY_DAYS: u32 = 3650;
const MAX_EXPIRY: SignedDuration = SignedDuration::from_hours(MAX_EXPIRY_DAYS as i64 * 24);

impl Organization {
    /// The custom mail settings, if any.
    pub fn mail_settings(&self) -> Option<&MailSettings> {
        self.mail.as_ref()
    }

    /// How long invitations stay valid (`None`: forever).
    pub fn invitation_expiry(&self) -> Option<SignedDuration> {
        self.invitation_expiry
    }

    /// Where `member`'s invitation stands at `now`.
    pub fn invitation_status(&self, member: &Member, now: Timestamp) -> InvitationStatus {
        if !member.status.is_pending() {
            InvitationStatus::Accepted
        } else if self.is_expired(member, now) {
            InvitationStatus::Expired
        } else {
            InvitationStatus::Pending
        }
    }

    /// When `member`'s invitation expires, if it can.
    pub fn invitation_expires_at(&self, member: &Member) -> Option<Timestamp> {
        let ttl = self.invitation_expiry?;
        if !member.status.is_pending() {
            return None;
        }
        member.invitation_sent_at.checked_add(ttl).ok()
    }

    pub(crate) fn is_expired(&self, member: &Member, now: Timestamp) -> bool {
        self.invitation_expires_at(member)
            .is_some_and(|end| now >= end)
    }

    /// Invitation emails waiting for delivery, oldest first, with the
    /// message each should carry.
    pub fn queued_emails(
        &self,
    ) -> impl Iterator<Item = (NotificationId, &QueuedEmail, InvitationEmail)> {
        self.outbox.iter().filter_map(|(id, queued)| {
            let settings = self.mail.as_ref()?;
            let to = self.members.get(&queued.user)?.email.clone();
            let by = self
                .members
                .get(&queued.invited_by)
                .map(|m| m.email.clone())
                .unwrap_or_else(|| settings.sender_address.clone());
            Some((
                *id,
                queued,
                InvitationEmail::new(settings, to, self.name(), &by),
            ))
        })
    }

    /// The event recording one delivery attempt of a queued email (`None`
    /// when it is no longer queued). Call [`apply`](Organization::apply)
    /// with it after storing it.
    pub fn delivery_event(
        &self,
        notification: NotificationId,
        result: Result<(), String>,
        at: Timestamp,
    ) -> Option<Event> {
        let queued = self.outbox.get(&notification)?;
        let kind = match result {
            Ok(()) => EventKind::InvitationEmailDelivered { notification },
            Err(error) => EventKind::InvitationEmailFailed {
                notification,
                error,
            },
        };
        Some(Event::new(at, queued.invited_by, kind))
    }

    /// One queued email per invitee, when the organization has mail
    /// settings; nothing otherwise.
    /// Whoever invites is the events' actor, which the queue records.
    ///
    /// # Errors
    /// [`DomainError::IdsExhausted`] when the email counter cannot number
    /// them all (only a damaged store gets there).
    pub(crate) fn queue_invitation_emails(
        &self,
        users: &[UserId],
    ) -> Result<Vec<EventKind>, DomainError> {
        if self.mail.is_none() {
            return Ok(Vec::new());
        }
        let fits = u64::try_from(users.len())
            .ok()
            .and_then(|n| self.next_notification.checked_add(n))
            .is_some_and(|last| last < u64::MAX);
        if !fits {
            return Err(DomainError::IdsExhausted { what: "email" });
        }
        Ok(users
            .iter()
            .zip(self.next_notification.saturating_add(1)..)
            .map(|(user, n)| EventKind::InvitationEmailQueued {
                notification: NotificationId(n),
                user: *user,
            })
            .collect())
    }

    pub(crate) fn decide_invitations(
        &self,
        command: &Command,
    ) -> Result<Vec<EventKind>, DomainError> {
        match command {
            Command::SetMailSettings { settings } => {
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
            Command::ClearMailSettings => Ok(if self.mail.is_some() {
                vec![EventKind::MailSettingsCleared]
            } else {
                Vec::new()
            }),
            Command::SetInvitationExpiry { after } => {
                let after = match after {
                    None => None,
                    Some(d) => {
                        let too_long = DomainError::ExpiryTooLong {
                            max_days: MAX_EXPIRY_DAYS,
                        };
                        // Only a duration too long for a SignedDuration
                        // fails to convert.
                        let d = SignedDuration::try_from(*d).map_err(|_| too_long.clone())?;
                        if d < MIN_EXPIRY {
                            return Err(DomainError::InvalidExpiry);
                        }
                        if d > MAX_EXPIRY {
                            return Err(too_long);
                        }
                        Some(d)
                    }
                };
                if after == self.invitation_expiry {
                    return Ok(Vec::new());
                }
                Ok(vec![EventKind::InvitationExpirySet { after }])
            }
            Command::ResendInvitation { user } => {
                let member = self.pending_member(user)?;
                let mut events = vec![EventKind::InvitationResent { user: member.id }];
                events.extend(self.queue_invitation_emails(&[member.id])?);
                Ok(events)
            }
            Command::RevokeInvitation { user } => {
                let member = self.pending_member(user)?;
                Ok(vec![EventKind::InvitationRevoked { user: member.id }])
            }
            _ => Ok(Vec::new()),
        }
    }

    fn pending_member(&self, email: &Email) -> Result<&Member, DomainError> {
        let member = self
            .member(email)
            .ok_or_else(|| DomainError::UnknownUsers {
                emails: vec![email.clone()],
            })?;
        if !member.status.is_pending() {
            return Err(DomainError::NotPending {
                email: member.email.clone(),
            });
        }
        Ok(member)
    }

    pub(crate) fn apply_invitations(&mut self, event: &Event) {
        match &event.kind {
            EventKind::MailSettingsSet { settings } => self.mail = Some(settings.clone()),
            EventKind::MailSettingsCleared => {
                // Nothing can be delivered without settings.
                self.mail = None;
                self.outbox.clear();
            }
            EventKind::InvitationExpirySet { after } => self.invitation_expiry = *after,
            EventKind::InvitationResent { user } => {
                if let Some(m) = self.members.get_mut(user)
                    && m.status.is_pending()
                {
                    m.invitation_sent_at = event.at;
                }
            }
            EventKind::InvitationEmailQueued { notification, user } => {
                self.next_notification = self.next_notification.max(notification.0);
                if self.mail.is_some() && self.members.contains_key(user) {
                    self.outbox.insert(
                        *notification,
                        QueuedEmail {
                            user: *user,
                            invited_by: event.actor,
                            attempts: 0,
                            last_error: None,
                        },
                    );
                }
            }
            EventKind::InvitationEmailDelivered { notification } => {
                self.outbox.remove(notification);
            }
            EventKind::InvitationEmailFailed {
                notification,
                error,
            } => {
                if let Some(q) = self.outbox.get_mut(notification) {
                    q.attempts = q.attempts.saturating_add(1);
                    q.last_error = Some(error.clone());
                }
            }
            _ => {}
        }
    }
}
