//! SMTP delivery of invitation emails (feature `smtp`), through the
//! blocking SMTP transport of the `lettre` crate.
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
use lettre::{Address, SmtpTransport, Transport};

use crate::{CredentialRef, Email, InvitationEmail, MailError, MailSettings, Mailer};

/// The port of SMTP with implicit TLS ("submissions", RFC 8314).
const IMPLICIT_TLS_PORT: u16 = 465;

type Resolver = dyn Fn(&CredentialRef) -> Option<String> + Send + Sync;

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
/// built with (for example [`SmtpMailer::from_env`]), then sent with
/// `AUTH PLAIN` or `AUTH LOGIN`, whichever the server offers. The password
/// is never stored in the mailer, nor in any error.
///
/// The message is plain text (UTF-8), from `"sender name"
/// <sender address>` to the invitee, with the email's subject and body.
///
/// ```no_run
/// use org_accounts::{AccountService, InMemoryStore, SmtpMailer};
///
/// // Passwords live in environment variables named by the credential
/// // references of the organizations' mail settings.
/// let service = AccountService::new(InMemoryStore::new()).with_mailer(SmtpMailer::from_env());
/// # drop(service);
/// ```
#[derive(Clone)]
pub struct SmtpMailer {
    resolve: Arc<Resolver>,
}

impl SmtpMailer {
    /// A mailer that resolves credential references with `resolve`: it
    /// returns the password a reference names, or `None` when the host has
    /// no such secret (the delivery then fails with
    /// [`MailError::MissingCredential`], without connecting).
    ///
    /// ```
    /// use std::collections::HashMap;
    ///
    /// use org_accounts::SmtpMailer;
    ///
    /// let secrets = HashMap::from([("smtp/example".to_owned(), "s3cret".to_owned())]);
    /// let mailer = SmtpMailer::new(move |reference| secrets.get(&reference.0).cloned());
    /// # drop(mailer);
    /// ```
    pub fn new(resolve: impl Fn(&CredentialRef) -> Option<String> + Send + Sync + 'static) -> Self {
        SmtpMailer {
            resolve: Arc::new(resolve),
        }
    }

    /// A mailer that reads each password from the environment variable the
    /// credential reference names (`CredentialRef("SMTP_PASSWORD".into())`
    /// reads `$SMTP_PASSWORD`). An unset or empty variable, or one that is
    /// not valid Unicode, is a missing credential.
    pub fn from_env() -> Self {
        SmtpMailer::new(|reference| {
            std::env::var(&reference.0)
                .ok()
                .filter(|secret| !secret.is_empty())
        })
    }

    fn credentials(&self, settings: &MailSettings) -> Result<Option<Credentials>, MailError> {
        let Some(auth) = &settings.auth else {
            return Ok(None);
        };
        let secret = (self.resolve)(&auth.credential)
            .ok_or_else(|| MailError::MissingCredential(auth.credential.0.clone()))?;
        Ok(Some(Credentials::new(auth.username.clone(), secret)))
    }
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer").finish_non_exhaustive()
    }
}

impl Mailer for SmtpMailer {
    fn send(&self, settings: &MailSettings, email: &InvitationEmail) -> Result<(), MailError> {
        // Resolve the secret first: a missing one fails without connecting.
        let credentials = self.credentials(settings)?;
        let message = message(email)?;
        let transport = transport(settings, credentials)?;
        transport.send(&message).map_err(transport_error)?;
        Ok(())
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
    TlsParameters::new(host.to_owned()).map_err(transport_error)
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
        .map_err(transport_error)
}

fn address(email: &Email) -> Result<Address, MailError> {
    email.as_str().parse::<Address>().map_err(transport_error)
}

fn transport_error(error: impl std::error::Error + Send + Sync + 'static) -> MailError {
    MailError::Transport(Box::new(error))
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
        let mailer = SmtpMailer::new(|_| Some("s3cret".into()));
        assert_eq!(format!("{mailer:?}"), "SmtpMailer { .. }");
    }
}
