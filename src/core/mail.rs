//! Invitation emails: the organization's mail settings and the messages the
//! core asks to send (the [`Mailer`](crate::Mailer) port sends them).
//!
//! An organization has no mail settings by default, and then inviting sends
//! nothing. With custom settings, every new invitation queues one invitation
//! email (a resend keeps the one still waiting);
//! [`AccountService::deliver`](crate::AccountService::deliver), the host's
//! background work, sends queued emails and records each delivery's success
//! or failure as an event. A failed delivery stays queued with its kind; a
//! delivered one is never sent again.
//!
//! Settings hold a [`CredentialRef`], the name of a secret the host keeps,
//! never the password itself: events, snapshots, `Debug` output and
//! reports never contain a secret.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Email;
use crate::core::names::{NameRule, check_name, is_hidden_character};

/// The name of a secret the host keeps (a vault path, an environment
/// variable name, ...), resolved only when a message is sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CredentialRef(pub String);

/// SMTP authentication: a user name and where its password is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpAuth {
    /// The SMTP user name.
    pub username: String,
    /// Where the password is kept.
    pub credential: CredentialRef,
}

/// An organization's custom mail server.
///
/// An organization has no mail settings by default, and then inviting
/// sends nothing. With custom settings
/// ([`Command::SetMailSettings`](crate::Command::SetMailSettings)), every
/// new invitation (and every resend) queues exactly one invitation email;
/// the [`AccountService`](crate::AccountService) delivers queued emails
/// after the invitation is stored, and records each delivery's success or
/// failure as an event. A failed delivery stays queued and is tried again;
/// a delivered one is never sent again. The whole lifecycle is described
/// on [`QueuedEmail`](crate::QueuedEmail).
///
/// Settings hold a [`CredentialRef`], the name of a secret the host keeps,
/// never the password itself: events, snapshots, `Debug` output and
/// reports never contain a secret.
///
/// # Bounds
///
/// [`Command::SetMailSettings`](crate::Command::SetMailSettings) refuses
/// settings that cannot work or could leak a credential, with
/// [`DomainError::InvalidMailSettings`](crate::DomainError::InvalidMailSettings)
/// naming the rule:
///
/// - `host`: at most [`MAX_MAIL_HOST_BYTES`], a host name of ASCII
///   letters, digits, hyphens and dots (an internationalized name in its
///   `xn--` form) or an IP address, without spaces or control characters
///   (which hosts may be reached is the host's mail policy);
/// - `domain` (optional): a host name of at most [`MAX_MAIL_HOST_BYTES`]
///   under the same rule (no IP address);
/// - `port`: 1 to 65535;
/// - `sender_name`: 1 to [`MAX_SENDER_NAME_CHARS`], under the rule of every
///   name (no control, format or invisible character: see
///   [`NameError`](crate::NameError));
/// - `timeout`: 1 millisecond to 10 minutes;
/// - with `auth`, `tls` must be on: **credentials are never sent without
///   TLS**; the user name is 1 to [`MAX_SMTP_USERNAME_BYTES`] without
///   control characters, and the credential reference 1 to
///   [`MAX_CREDENTIAL_REF_CHARS`] characters of `A-Z a-z 0-9 . _ / -`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MailSettings {
    /// SMTP host name.
    pub host: String,
    /// The domain the organization's mail is sent from, which is the name
    /// announced to the mail server in the SMTP greeting (`EHLO`). Some
    /// servers refuse or mark as spam a client that greets them with a
    /// name they do not expect. `None`: the mailer's own default (lettre's
    /// is the machine's host name). Settings stored before this field
    /// existed read as `None`.
    #[serde(default)]
    pub domain: Option<String>,
    /// SMTP port (1 to 65535).
    pub port: u16,
    /// Whether to use TLS (STARTTLS on 587, implicit TLS on 465).
    pub tls: bool,
    /// Authentication, if the server requires it.
    pub auth: Option<SmtpAuth>,
    /// The address invitations come from.
    #[serde(deserialize_with = "crate::core::email::deserialize_stored")]
    pub sender_address: Email,
    /// The name invitations come from.
    pub sender_name: String,
    /// How long one delivery may take.
    #[serde(with = "duration_ms")]
    pub timeout: Duration,
}

impl MailSettings {
    /// Settings for `host:port` sending as `sender_name <sender_address>`,
    /// with TLS, no authentication and a 30-second timeout.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        sender_address: Email,
        sender_name: impl Into<String>,
    ) -> MailSettings {
        MailSettings {
            host: host.into(),
            domain: None,
            port,
            tls: true,
            auth: None,
            sender_address,
            sender_name: sender_name.into(),
            timeout: Duration::from_secs(30),
        }
    }

    /// Sets TLS on or off.
    pub fn with_tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// Sets authentication.
    pub fn with_auth(mut self, username: impl Into<String>, credential: CredentialRef) -> Self {
        self.auth = Some(SmtpAuth {
            username: username.into(),
            credential,
        });
        self
    }

    /// Sets the domain announced to the mail server (`EHLO`); see
    /// [`domain`](MailSettings::domain).
    pub fn with_domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Sets the delivery timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// What is wrong with these settings, if anything; see
    /// [`MailSettings`]'s "Bounds" for the rules, checked in that order.
    pub(crate) fn problem(&self) -> Option<&'static str> {
        if let Some(problem) = host_problem(&self.host) {
            return Some(problem);
        }
        if let Some(problem) = self.domain.as_deref().and_then(domain_problem) {
            return Some(problem);
        }
        if self.port == 0 {
            return Some("the port must be between 1 and 65535");
        }
        if let Err(rule) = check_name(self.sender_name.trim(), MAX_SENDER_NAME_CHARS) {
            return Some(match rule {
                NameRule::Empty => "the sender name must not be empty",
                NameRule::TooLong { .. } => {
                    "the sender name is longer than 100 characters; shorten it"
                }
                NameRule::Forbidden { .. } => {
                    "the sender name holds a control, formatting or invisible character; retype it"
                }
            });
        }
        if self.timeout.is_zero() || self.timeout > MAX_TIMEOUT {
            return Some("the timeout must be between 1 millisecond and 10 minutes");
        }
        let Some(auth) = &self.auth else {
            return None;
        };
        if !self.tls {
            return Some(
                "credentials are never sent without TLS; turn TLS on, or remove the authentication",
            );
        }
        auth_problem(auth)
    }
}

/// Longest host name, in bytes (a DNS name's limit).
pub const MAX_MAIL_HOST_BYTES: usize = 253;
/// Longest sender name, in characters.
pub const MAX_SENDER_NAME_CHARS: usize = 100;
/// Longest SMTP user name, in bytes.
pub const MAX_SMTP_USERNAME_BYTES: usize = 256;
/// Longest credential reference, in characters (all ASCII).
pub const MAX_CREDENTIAL_REF_CHARS: usize = 128;
/// Longest delivery timeout.
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Longest stored delivery error text, in characters.
pub const MAX_MAIL_ERROR_CHARS: usize = 200;

/// Whether `name` is a DNS host name: dot-separated labels of ASCII
/// letters, digits and inner hyphens, 1 to 63 bytes each, one final dot
/// allowed.
fn is_host_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let valid_label = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    name.split('.').all(valid_label)
}

/// What is wrong with the `EHLO` domain, if anything: a host name of at
/// most [`MAX_MAIL_HOST_BYTES`] (no address literal). Nothing else may
/// reach the SMTP greeting line: a space or line break there would let an
/// administrator write their own SMTP commands.
fn domain_problem(domain: &str) -> Option<&'static str> {
    if domain.is_empty() {
        return Some(
            "the domain is empty; enter the domain your mail comes from, like example.com, or leave it out",
        );
    }
    // A name, not an address: its last label is not all digits.
    let numeric = domain
        .trim_end_matches('.')
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()));
    if domain.len() > MAX_MAIL_HOST_BYTES || !is_host_name(domain) || numeric {
        return Some(
            "the domain must be a name of letters, digits, hyphens and dots of at most 253 bytes \
             (like example.com; an internationalized name in its xn-- form)",
        );
    }
    None
}

/// What is wrong with a mail host, if anything: at most
/// [`MAX_MAIL_HOST_BYTES`], and a host name (dot-separated labels of ASCII
/// letters, digits and inner hyphens, 1 to 63 bytes each, one final dot
/// allowed) or an IP address (`192.0.2.1`, `2001:db8::1` or
/// `[2001:db8::1]`). Which hosts may be reached is the host's mail policy,
/// not this check.
fn host_problem(host: &str) -> Option<&'static str> {
    if host.is_empty() {
        return Some("the host is empty; enter the mail server's name, like smtp.example.com");
    }
    if host.len() > MAX_MAIL_HOST_BYTES {
        return Some("the host is longer than 253 bytes; enter the mail server's name");
    }
    if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("the host must be a server name without spaces");
    }
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if literal.parse::<core::net::IpAddr>().is_ok() {
        return None;
    }
    if is_host_name(host) {
        None
    } else {
        Some(
            "the host must be a server name of letters, digits, hyphens and dots (like \
             smtp.example.com; an internationalized name in its xn-- form) or an IP address",
        )
    }
}

/// What is wrong with authentication settings, if anything: a user name of
/// 1 to [`MAX_SMTP_USERNAME_BYTES`] without control characters, and a
/// credential reference of 1 to [`MAX_CREDENTIAL_REF_CHARS`] characters
/// of `A-Z a-z 0-9 . _ / -`.
fn auth_problem(auth: &SmtpAuth) -> Option<&'static str> {
    let username = &auth.username;
    if username.trim().is_empty() {
        return Some("authentication needs a user name");
    }
    if username.len() > MAX_SMTP_USERNAME_BYTES {
        return Some("the user name is longer than 256 bytes");
    }
    if username.chars().any(is_hidden_character) {
        return Some("the user name holds a control, formatting or invisible character; retype it");
    }
    let reference = &auth.credential.0;
    if reference.is_empty() {
        return Some("authentication needs a credential reference");
    }
    if reference.len() > MAX_CREDENTIAL_REF_CHARS {
        return Some("the credential reference is longer than 128 characters");
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-');
    if !reference.bytes().all(allowed) {
        return Some(
            "the credential reference may hold only letters, digits and . _ / - (ASCII); \
             it names a secret the host keeps, never the password itself",
        );
    }
    None
}

/// Delivery error text as it is stored and shown: control characters
/// replaced by spaces, cut to [`MAX_MAIL_ERROR_CHARS`] characters.
pub(crate) fn stored_error_text(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_MAIL_ERROR_CHARS)
        .collect()
}

mod duration_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// One invitation email, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvitationEmail {
    /// The invitee.
    pub to: Email,
    /// The sender address (from the settings).
    pub from_address: Email,
    /// The sender name (from the settings).
    pub from_name: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body; it names the organization and who invited.
    pub body: String,
}

impl InvitationEmail {
    /// The invitation email the core queues when `invited_by` invites `to`
    /// into `organization` and the organization's mail settings are
    /// `settings`: sent from the settings' sender, with a subject and a
    /// plain-text body that name the organization and who invited.
    ///
    /// Useful to test a [`Mailer`](crate::Mailer) outside the
    /// [`AccountService`](crate::AccountService).
    ///
    /// ```
    /// use org_accounts::{Email, InvitationEmail, MailSettings};
    ///
    /// let settings = MailSettings::new(
    ///     "smtp.example.com",
    ///     587,
    ///     Email::parse("accounts@example.com")?,
    ///     "Example Accounts",
    /// );
    /// let email = InvitationEmail::for_invitation(
    ///     &settings,
    ///     Email::parse("bob@example.com")?,
    ///     "Example Corp",
    ///     &Email::parse("ada@example.com")?,
    /// );
    /// assert_eq!(email.subject, "You are invited to join Example Corp");
    /// assert!(email.body.contains("ada@example.com"));
    /// assert_eq!(email.from_name, "Example Accounts");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn for_invitation(
        settings: &MailSettings,
        to: Email,
        organization: &str,
        invited_by: &Email,
    ) -> InvitationEmail {
        InvitationEmail::new(settings, to, organization, invited_by)
    }

    pub(crate) fn new(
        settings: &MailSettings,
        to: Email,
        organization: &str,
        invited_by: &Email,
    ) -> InvitationEmail {
        InvitationEmail {
            subject: format!("You are invited to join {organization}"),
            body: format!(
                "Hello,\n\n{invited_by} invited you to join the organization \"{organization}\".\n\
                 Sign in with this address ({to}) to accept the invitation.\n"
            ),
            to,
            from_address: settings.sender_address.clone(),
            from_name: settings.sender_name.clone(),
        }
    }
}

/// Whether a failed delivery is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MailErrorKind {
    /// Worth retrying later as is: a 4xx reply, a connection that failed or
    /// was cut, a timeout.
    Transient,
    /// Will fail again as is: a 5xx reply, refused authentication, a
    /// refused recipient. Retry only after something changed (the settings,
    /// the address).
    Permanent,
    /// The host's side: a credential that cannot be resolved, a mail host
    /// the host's policy refuses. Retry after the host's configuration is
    /// fixed.
    Configuration,
}

/// Why a delivery failed: the kind (retry or not), the SMTP reply code if
/// the server answered, and a short summary (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{summary}")]
#[non_exhaustive]
pub struct MailError {
    /// Whether retrying can help.
    pub kind: MailErrorKind,
    /// The server's SMTP reply code, if it answered.
    pub code: Option<u16>,
    /// What went wrong, short and printable.
    pub summary: String,
}

impl MailError {
    /// A failure of `kind` with a summary; the summary is cut to
    /// [`MAX_MAIL_ERROR_CHARS`] characters and control characters are
    /// replaced, so it can be stored and shown.
    pub fn new(kind: MailErrorKind, code: Option<u16>, summary: impl AsRef<str>) -> MailError {
        let summary = stored_error_text(summary.as_ref());
        MailError {
            kind,
            code,
            summary,
        }
    }

    /// Whether a later retry can succeed without anything changing.
    pub fn is_transient(&self) -> bool {
        self.kind == MailErrorKind::Transient
    }
}
