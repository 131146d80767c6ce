//! SMTP delivery of invitation emails (feature `smtp`), through the async
//! (tokio) SMTP transport of the `lettre` crate.
//!
//! Every delivery opens one connection to the organization's server, sends
//! one message and closes the connection: settings differ per
//! organization and invitations are rare, so nothing is pooled.

use std::fmt;
use std::sync::Arc;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::MailErrorKind;
use crate::{
    CredentialRef, Email, InvitationEmail, MailError, MailSettings, Mailer, OrganizationId,
};

type SmtpTransport = AsyncSmtpTransport<Tokio1Executor>;

/// The port of SMTP with implicit TLS ("submissions", RFC 8314).
const IMPLICIT_TLS_PORT: u16 = 465;

type Resolver = dyn Fn(&OrganizationId, &CredentialRef) -> Option<String> + Send + Sync;

/// A [`Mailer`] that delivers invitation emails over SMTP (feature `smtp`).
///
/// It connects to the organization's [`MailSettings`]: `host` and `port`;
/// with `tls` off, plain SMTP (no encryption, no STARTTLS); with `tls` on,
/// implicit TLS on port 465 and STARTTLS on any other port, where the
/// server must offer STARTTLS or nothing (credentials included) is sent.
/// Certificates are checked against the Mozilla root certificates (no
/// system certificate store is needed). `timeout` bounds connecting and
/// each exchange with the server.
///
/// When the settings have authentication, the password is resolved from
/// its [`CredentialRef`] at each delivery by the resolver the mailer was
/// built with, which is given the organization too, so a host scopes
/// secrets per organization (see [`SmtpMailer::from_env`]). The password is
/// sent with `AUTH PLAIN` or `AUTH LOGIN`, whichever the server offers, and
/// never stored in the mailer, nor in any error.
///
/// The message is plain text (UTF-8), from `"sender name"
/// <sender address>` to the invitee, with the email's subject and body.
///
/// Failures keep their kind ([`MailErrorKind`](crate::MailErrorKind)): a
/// 4xx reply, a connection failure or a timeout is transient; a 5xx reply
/// (refused authentication or recipient included), a TLS failure or an
/// address the transport cannot use is permanent; a missing credential is
/// configuration. The summary holds the reply code and a short, escaped
/// excerpt of what the server said.
///
/// ```no_run
/// use org_accounts::{AccountService, InMemoryStore, SmtpMailer};
///
/// // Passwords live in environment variables scoped per organization (see
/// // SmtpMailer::env_var_name): organization "acme", reference "smtp" reads
/// // $ORG_ACCOUNTS_SMTP_61636D65_736D7470.
/// let service = AccountService::new(InMemoryStore::new())
///     .with_mailer(SmtpMailer::from_env("ORG_ACCOUNTS_SMTP_"));
/// # drop(service);
/// ```
#[derive(Clone)]
pub struct SmtpMailer {
    resolve: Arc<Resolver>,
}

impl SmtpMailer {
    /// A mailer that resolves credential references with `resolve`: given
    /// the organization and the reference, it returns the password, or
    /// `None` when the host has no such secret for that organization (the
    /// delivery then fails as a configuration error, without connecting).
    ///
    /// ```
    /// use std::collections::HashMap;
    ///
    /// use org_accounts::SmtpMailer;
    ///
    /// let secrets = HashMap::from([(("acme".to_owned(), "smtp".to_owned()), "s3cret".to_owned())]);
    /// let mailer = SmtpMailer::new(move |org, reference| {
    ///     secrets.get(&(org.as_str().to_owned(), reference.0.clone())).cloned()
    /// });
    /// # drop(mailer);
    /// ```
    pub fn new(
        resolve: impl Fn(&OrganizationId, &CredentialRef) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        SmtpMailer {
            resolve: Arc::new(resolve),
        }
    }

    /// A mailer that reads each password from an environment variable
    /// scoped to the organization, named by [`SmtpMailer::env_var_name`]:
    /// `{prefix}{ORG}_{REFERENCE}` with the organization id and the
    /// reference each written in upper-case hex of their UTF-8 bytes (an
    /// encoding in which no two organizations or references can meet, and
    /// that a tenant cannot steer onto another tenant's variables or the
    /// host's). An unset or empty variable, or one that is not valid
    /// Unicode, is a missing credential, and so is an empty prefix (it would
    /// scope nothing).
    pub fn from_env(prefix: &str) -> Self {
        let prefix = prefix.to_owned();
        SmtpMailer::new(move |org, reference| {
            if prefix.is_empty() {
                return None;
            }
            let name = SmtpMailer::env_var_name(&prefix, org, reference);
            std::env::var(name).ok().filter(|secret| !secret.is_empty())
        })
    }

    /// The environment variable [`SmtpMailer::from_env`] reads for
    /// `reference` of `org`, for a host provisioning its secrets.
    ///
    /// ```
    /// use org_accounts::{CredentialRef, OrganizationId, SmtpMailer};
    ///
    /// let org = OrganizationId::new("acme")?;
    /// let name = SmtpMailer::env_var_name("ACCOUNTS_SMTP_", &org, &CredentialRef("smtp".into()));
    /// assert_eq!(name, "ACCOUNTS_SMTP_61636D65_736D7470");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn env_var_name(prefix: &str, org: &OrganizationId, reference: &CredentialRef) -> String {
        format!(
            "{prefix}{}_{}",
            env_part(org.as_str()),
            env_part(&reference.0)
        )
    }

    fn credentials(
        &self,
        org: &OrganizationId,
        settings: &MailSettings,
    ) -> Result<Option<Credentials>, MailError> {
        let Some(auth) = &settings.auth else {
            return Ok(None);
        };
        let secret = (self.resolve)(org, &auth.credential).ok_or_else(|| {
            MailError::new(
                MailErrorKind::Configuration,
                None,
                "the mail settings' credential is not available to this organization",
            )
        })?;
        Ok(Some(Credentials::new(auth.username.clone(), secret)))
    }
}

/// An environment variable name part: the text's UTF-8 bytes in
/// upper-case hex (never `_`, so the separator is unambiguous).
fn env_part(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02X}")).collect()
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer").finish_non_exhaustive()
    }
}

impl Mailer for SmtpMailer {
    async fn send(
        &self,
        org: &OrganizationId,
        settings: &MailSettings,
        email: &InvitationEmail,
    ) -> Result<(), MailError> {
        // Resolve the secret first: a missing one fails without connecting.
        let credentials = self.credentials(org, settings)?;
        let message = message(email)?;
        let transport = transport(settings, credentials)?;
        // lettre's timeout bounds each read; a server that trickles one
        // byte at a time would hold the delivery for ever. The settings'
        // timeout is the deadline of the whole delivery.
        match tokio::time::timeout(settings.timeout, transport.send(message)).await {
            Ok(sent) => sent.map(drop).map_err(smtp_error),
            Err(_) => Err(MailError::new(
                MailErrorKind::Transient,
                None,
                format!(
                    "the mail server did not finish within {} ms",
                    settings.timeout.as_millis()
                ),
            )),
        }
    }
}

/// How a connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    /// Plain SMTP: no encryption at all.
    None,
    /// Plain connection upgraded with STARTTLS, which is required.
    StartTls,
    /// TLS from the first byte.
    Implicit,
}

fn security(settings: &MailSettings) -> Security {
    match (settings.tls, settings.port) {
        (false, _) => Security::None,
        (true, IMPLICIT_TLS_PORT) => Security::Implicit,
        (true, _) => Security::StartTls,
    }
}

fn transport(
    settings: &MailSettings,
    credentials: Option<Credentials>,
) -> Result<SmtpTransport, MailError> {
    let host = settings.host.trim();
    let tls = match security(settings) {
        Security::None => Tls::None,
        Security::StartTls => Tls::Required(tls_parameters(host)?),
        Security::Implicit => Tls::Wrapper(tls_parameters(host)?),
    };
    let mut builder = SmtpTransport::builder_dangerous(host)
        .port(settings.port)
        .tls(tls)
        .timeout(Some(settings.timeout));
    if let Some(credentials) = credentials {
        builder = builder.credentials(credentials);
    }
    Ok(builder.build())
}

fn tls_parameters(host: &str) -> Result<TlsParameters, MailError> {
    TlsParameters::new(host.to_owned()).map_err(smtp_error)
}

fn message(email: &InvitationEmail) -> Result<Message, MailError> {
    Message::builder()
        .from(Mailbox::new(
            Some(email.from_name.clone()),
            address(&email.from_address)?,
        ))
        .to(Mailbox::new(None, address(&email.to)?))
        .subject(email.subject.as_str())
        .header(ContentType::TEXT_PLAIN)
        .body(email.body.clone())
        .map_err(|e| permanent(&e))
}

fn address(email: &Email) -> Result<Address, MailError> {
    email.as_str().parse::<Address>().map_err(|e| permanent(&e))
}

fn permanent(error: &dyn std::error::Error) -> MailError {
    MailError::new(
        MailErrorKind::Permanent,
        None,
        format!("the message cannot be built: {error}"),
    )
}

/// The kind, reply code and a short escaped summary of a transport error.
fn smtp_error(error: lettre::transport::smtp::Error) -> MailError {
    let code = error.status().map(u16::from);
    // A client error (the server lacks STARTTLS while TLS is required, a
    // reply the client cannot use) fails the same way next time.
    let kind = if error.is_permanent() || error.is_tls() || error.is_client() {
        MailErrorKind::Permanent
    } else {
        MailErrorKind::Transient
    };
    let said: String = error.to_string().escape_debug().take(120).collect();
    let summary = match code {
        Some(code) => format!("the mail server answered {code}: {said}"),
        None if error.is_timeout() => "the mail server did not answer in time".to_owned(),
        None => format!("the mail server could not be reached: {said}"),
    };
    MailError::new(kind, code, summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(port: u16, tls: bool) -> MailSettings {
        MailSettings::new(
            "smtp.example.com",
            port,
            Email::parse("accounts@example.com").unwrap(),
            "Accounts",
        )
        .with_tls(tls)
    }

    #[test]
    fn tls_is_implicit_on_465_and_starttls_elsewhere() {
        assert_eq!(security(&settings(465, true)), Security::Implicit);
        assert_eq!(security(&settings(587, true)), Security::StartTls);
        assert_eq!(security(&settings(25, true)), Security::StartTls);
        assert_eq!(security(&settings(465, false)), Security::None);
        assert_eq!(security(&settings(587, false)), Security::None);
    }

    #[test]
    fn tls_parameters_build_without_system_certificates() {
        for port in [465, 587] {
            transport(&settings(port, true), None).expect("rustls with the Mozilla roots");
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let mailer = SmtpMailer::new(|_, _| Some("s3cret".into()));
        assert_eq!(format!("{mailer:?}"), "SmtpMailer { .. }");
    }
}
