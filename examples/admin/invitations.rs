//! Mail settings, invitation expiry, resending, revoking, delivering.

use std::time::Duration;

use org_accounts::{Command, CredentialRef, Delivery, MailSettings, Store, Timestamp};
use serde_json::json;

use crate::args::email;
use crate::shown::shown;
use crate::{App, Failure, Output, plural};

/// `mail set`'s options.
pub(crate) struct MailArgs {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) domain: Option<String>,
    pub(crate) sender: String,
    pub(crate) sender_name: String,
    pub(crate) no_tls: bool,
    /// The user name and the credential reference.
    pub(crate) auth: Option<(String, String)>,
    pub(crate) timeout: Option<u64>,
}

/// Whether this build sends email (`--features smtp`).
const SENDS_EMAIL: bool = cfg!(feature = "smtp");

/// One line per delivery attempt, for people: a failure says whether
/// retrying can help.
fn delivery_lines(deliveries: &[Delivery]) -> String {
    deliveries
        .iter()
        .map(|d| match &d.result {
            Ok(()) => format!("invitation email sent to {}\n", shown(d.to.as_str())),
            Err(e) => {
                let code = e.code.map(|c| format!("SMTP {c}: ")).unwrap_or_default();
                // The kind's stable name (`MailErrorKind` serializes in
                // snake_case).
                let kind = serde_json::to_value(e.kind).unwrap_or_default();
                let advice = match kind.as_str() {
                    Some("transient") => "a temporary failure; run `admin deliver` again later",
                    Some("permanent") => {
                        "it will fail again as is; fix the mail settings (new settings retry it), or remove the invitation and invite a corrected address"
                    }
                    _ => "the credential or mail host is not configured; fix that, then run `admin deliver`",
                };
                // The reply summary is the mail server's text.
                let reply = shown(&e.to_string()).into_owned();
                format!(
                    "invitation email to {} not sent ({code}{reply}): {advice}\n",
                    shown(d.to.as_str())
                )
            }
        })
        .collect()
}

impl<S: Store + 'static> App<S> {
    pub(crate) async fn mail_set(&self, actor: &str, args: MailArgs) -> Result<Output, Failure> {
        let actor = email(actor)?;
        let sender = email(&args.sender)?;
        let mut settings = MailSettings::new(args.host, args.port, sender, args.sender_name)
            .with_tls(!args.no_tls);
        if let Some((user, credential)) = args.auth {
            settings = settings.with_auth(user, CredentialRef(credential));
        }
        if let Some(domain) = args.domain {
            settings = settings.with_domain(domain);
        }
        if let Some(seconds) = args.timeout {
            settings = settings.with_timeout(Duration::from_secs(seconds));
        }
        self.execute(&Command::SetMailSettings { settings }, &actor)
            .await?;
        Ok(Output {
            text: if SENDS_EMAIL {
                "mail settings saved: new invitations queue an email; `admin deliver` sends the queued emails\n".into()
            } else {
                "mail settings saved: new invitations queue an email; this build cannot send them: build the example with --features sqlite,smtp, then run `admin deliver`\n".into()
            },
            json: json!({"mail": "set"}),
        })
    }

    pub(crate) async fn mail_clear(&self, actor: &str) -> Result<Output, Failure> {
        let actor = email(actor)?;
        self.execute(&Command::ClearMailSettings, &actor).await?;
        Ok(Output {
            text: "mail settings cleared: new invitations queue no email\n".into(),
            json: json!({"mail": "cleared"}),
        })
    }

    pub(crate) async fn expiry(&self, actor: &str, hours: Option<u64>) -> Result<Output, Failure> {
        let actor = email(actor)?;
        // An hour count too large in seconds is still refused by the
        // library, with the longest validity it accepts.
        let after = hours.map(|h| Duration::from_secs(h.saturating_mul(3600)));
        self.execute(&Command::SetInvitationExpiry { after }, &actor)
            .await?;
        Ok(Output {
            text: match after {
                None => "invitations never expire\n".into(),
                Some(_) => format!(
                    "invitations expire after {}\n",
                    plural(hours.unwrap_or_default() as usize, "hour")
                ),
            },
            json: json!({"expiry_hours": after.map(|d| d.as_secs() / 3600)}),
        })
    }

    pub(crate) async fn resend(&self, actor: &str, who: &str) -> Result<Output, Failure> {
        let actor = email(actor)?;
        let who = email(who)?;
        let done = self
            .execute(&Command::ResendInvitation { user: who.clone() }, &actor)
            .await?;
        // A resend while the member's email is still queued keeps that
        // email rather than queueing another.
        let waiting = if done.queued.is_empty() {
            self.query(|org| Ok(org.queued_emails().any(|(_, _, mail)| mail.to == who)))
                .await?
        } else {
            false
        };
        let queued = if waiting {
            "its invitation email is still queued; `admin deliver` sends it\n".to_owned()
        } else {
            crate::queued_line(done.queued.len())
        };
        Ok(Output {
            text: format!("invitation for {who} renewed\n{queued}"),
            json: json!({"resent": who.as_str()}),
        })
    }

    pub(crate) async fn revoke(&self, actor: &str, who: &str) -> Result<Output, Failure> {
        let actor = email(actor)?;
        let who = email(who)?;
        self.execute(&Command::RevokeInvitation { user: who.clone() }, &actor)
            .await?;
        Ok(Output {
            text: format!("invitation for {who} revoked\n"),
            json: json!({"revoked": who.as_str()}),
        })
    }

    pub(crate) async fn deliver(&self, limit: usize) -> Result<Output, Failure> {
        // Refuse a database with no organization before sending anything.
        self.query(|_| Ok(())).await?;
        let deliveries = self
            .service
            .deliver(&self.org, Timestamp::now(), limit)
            .await
            .map_err(|e| self.refusal(e))?;
        let (queued, has_settings) = self
            .query(|org| Ok((org.queued_emails().count(), org.mail_settings().is_some())))
            .await?;
        let why = if queued == 0 {
            ""
        } else if !SENDS_EMAIL {
            " (this build sends no email: build the example with --features sqlite,smtp)"
        } else if !has_settings {
            " (the organization has no mail settings: `admin mail set`)"
        } else if deliveries.len() == limit {
            " (--limit reached: run `admin deliver` again)"
        } else {
            " (each failure above says what to do)"
        };
        Ok(Output {
            text: format!(
                "{}{} still queued{why}\n",
                delivery_lines(&deliveries),
                plural(queued, "invitation email")
            ),
            json: json!({
                "sent": deliveries.iter().filter(|d| d.result.is_ok()).count(),
                "failed": deliveries.iter().filter(|d| d.result.is_err()).count(),
                "queued": queued,
            }),
        })
    }
}
