//! SMTP delivery of invitation emails (feature `smtp`), through the async
//! (tokio) SMTP transport of the `lettre` crate.
//!
//! Every delivery opens one connection to the organization's server, sends
//! one message and closes the connection: settings differ per
//! organization and invitations are rare, so nothing is pooled.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::MailErrorKind;
use crate::adapters::policy::DefaultMailPolicy;
use crate::ports::{MailPolicy, MailRefusal};
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
/// system certificate store is needed). `timeout` is the deadline of the
/// whole delivery (looking the host up, connecting, every exchange): a
/// server that answers one byte at a time is cut off at it.
///
/// **Where it connects.** Before connecting, the mailer asks its
/// [`MailPolicy`] ([`DefaultMailPolicy`] unless
/// [`with_policy`](SmtpMailer::with_policy) sets another) for the
/// addresses of the settings' host: the name is resolved once, every
/// address checked (the default refuses loopback, private, link-local,
/// metadata and other non-public addresses), and the mailer connects to the
/// first returned address itself, never to the name, so a name that
/// resolves elsewhere a moment later (DNS rebinding) does not move the
/// connection. The name is kept for TLS (SNI and certificate checks). A
/// refused host fails as a configuration error without any connection.
///
/// **Credentials.** When the settings have authentication, the password is
/// resolved from its [`CredentialRef`] at each delivery by the resolver the
/// mailer was built with, which is given the organization too, so a host
/// scopes secrets per organization (see [`SmtpMailer::from_env`]). The
/// password is sent with `AUTH PLAIN` or `AUTH LOGIN`, whichever the server
/// offers, only over TLS (unless the policy allows otherwise for an address
/// the host named, such as its own relay on loopback), and never stored in
/// the mailer, nor in any error.
///
/// The mailer is a [`MailPolicy`] too: addresses from its policy,
/// [`credential_exists`](MailPolicy::credential_exists) from its credential
/// resolver (the answer only, never the secret). Give it to the service as
/// its policy, so settings naming a refused host or a credential the
/// organization does not have are refused when saved (see the example
/// below).
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
/// let mailer = SmtpMailer::from_env("ORG_ACCOUNTS_SMTP_");
/// let service = AccountService::new(InMemoryStore::new())
///     .with_mail_policy(mailer.clone())
///     .with_mailer(mailer);
/// # drop(service);
/// ```
#[derive(Clone)]
pub struct SmtpMailer<P = DefaultMailPolicy> {
    resolve: Arc<Resolver>,
    policy: P,
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
            policy: DefaultMailPolicy::new(),
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
}

impl<P: MailPolicy> SmtpMailer<P> {
    /// The same mailer, asking `policy` which addresses it may connect to
    /// (and whether credentials may go without TLS). Credentials still come
    /// from the mailer's resolver.
    ///
    /// ```
    /// use std::net::{IpAddr, Ipv4Addr};
    ///
    /// use org_accounts::{DefaultMailPolicy, SmtpMailer};
    ///
    /// // The host's own relay on loopback is allowed; nothing else private.
    /// let mailer = SmtpMailer::from_env("ACCOUNTS_SMTP_")
    ///     .with_policy(DefaultMailPolicy::new().allowing(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    /// # drop(mailer);
    /// ```
    pub fn with_policy<Q: MailPolicy>(self, policy: Q) -> SmtpMailer<Q> {
        SmtpMailer {
            resolve: self.resolve,
            policy,
        }
    }

    /// The policy the mailer asks.
    pub fn policy(&self) -> &P {
        &self.policy
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

impl<P> fmt::Debug for SmtpMailer<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer").finish_non_exhaustive()
    }
}

impl<P: MailPolicy> Mailer for SmtpMailer<P> {
    async fn send(
        &self,
        org: &OrganizationId,
        settings: &MailSettings,
        email: &InvitationEmail,
    ) -> Result<(), MailError> {
        // Resolve the secret first: a missing one fails without connecting.
        let credentials = self.credentials(org, settings)?;
        let message = message(email)?;
        // lettre's timeout bounds each read; a server that trickles one
        // byte at a time would hold the delivery for ever. The settings'
        // timeout is the deadline of the whole delivery, name lookup
        // included.
        let delivery = async {
            let address = self.vetted_address(org, settings).await?;
            if credentials.is_some()
                && security(settings) == Security::None
                && !self.policy.allows_credentials_without_tls(address)
            {
                return Err(MailError::new(
                    MailErrorKind::Configuration,
                    None,
                    "credentials are never sent without TLS: turn TLS on in the mail settings",
                ));
            }
            let transport = transport(settings, address, credentials)?;
            transport.send(message).await.map(drop).map_err(smtp_error)
        };
        match tokio::time::timeout(settings.timeout, delivery).await {
            Ok(sent) => sent,
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

impl<P: MailPolicy> SmtpMailer<P> {
    /// The address to connect to: the host resolved once and checked by
    /// the policy.
    async fn vetted_address(
        &self,
        org: &OrganizationId,
        settings: &MailSettings,
    ) -> Result<SocketAddr, MailError> {
        let refused = |refusal: MailRefusal| {
            MailError::new(MailErrorKind::Configuration, None, refusal.to_string())
        };
        let host = settings.host.trim();
        let addresses = self
            .policy
            .allowed_addresses(org, host, settings.port)
            .await
            .map_err(refused)?;
        addresses
            .first()
            .copied()
            .ok_or_else(|| refused(MailRefusal::host_not_allowed(host)))
    }
}

/// The mailer as a policy: addresses from its policy, credentials from its
/// resolver (whether it has one; the secret is dropped at once).
impl<P: MailPolicy> MailPolicy for SmtpMailer<P> {
    fn allowed_addresses(
        &self,
        org: &OrganizationId,
        host: &str,
        port: u16,
    ) -> impl std::future::Future<Output = Result<Vec<SocketAddr>, MailRefusal>> + Send {
        self.policy.allowed_addresses(org, host, port)
    }

    async fn credential_exists(&self, org: &OrganizationId, reference: &CredentialRef) -> bool {
        (self.resolve)(org, reference).is_some()
    }

    fn allows_credentials_without_tls(&self, address: SocketAddr) -> bool {
        self.policy.allows_credentials_without_tls(address)
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

/// A transport to `address` (an IP address: lettre does no name lookup
/// for it), with TLS checked against the settings' host name.
fn transport(
    settings: &MailSettings,
    address: SocketAddr,
    credentials: Option<Credentials>,
) -> Result<SmtpTransport, MailError> {
    let host = settings.host.trim();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let tls = match security(settings) {
        Security::None => Tls::None,
        Security::StartTls => Tls::Required(tls_parameters(host)?),
        Security::Implicit => Tls::Wrapper(tls_parameters(host)?),
    };
    let mut builder = SmtpTransport::builder_dangerous(address.ip().to_string())
        .port(address.port())
        .tls(tls)
        .timeout(Some(settings.timeout));
    if let Some(credentials) = credentials {
        builder = builder.credentials(credentials);
    }
    // Validated by the core (a host name, nothing else): the greeting line
    // carries nothing the administrator could turn into a command.
    if let Some(domain) = &settings.domain {
        builder = builder.hello_name(ClientId::Domain(domain.clone()));
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
    let text = error.to_string();
    // For a reply, what the server said follows lettre's "permanent error
    // (550): " prefix, which repeats the code.
    let reply = text
        .split_once("): ")
        .map_or(text.as_str(), |(_, said)| said);
    let said: String = error.to_string().escape_debug().take(120).collect();
    let summary = match code {
        Some(code) => {
            let reply: String = reply.escape_debug().take(120).collect();
            format!("the mail server answered {code}: {reply}")
        }
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
            transport(&settings(port, true), ([203, 0, 113, 7], port).into(), None)
                .expect("rustls with the Mozilla roots");
        }
    }

    #[test]
    fn debug_shows_no_secret() {
        let mailer = SmtpMailer::new(|_, _| Some("s3cret".into()));
        assert_eq!(format!("{mailer:?}"), "SmtpMailer { .. }");
    }
}
