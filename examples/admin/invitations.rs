//! Mail settings, invitation expiry, resending, revoking, delivering.

use std::time::Duration;

use org_accounts::{Command, CredentialRef, Delivery, MailSettings, Store, Timestamp};
use serde_json::json;

use crate::args::{actor, email, exactly, no_args, required, take_flag, take_value};
use crate::{App, Failure, Output};

/// How many queued emails `deliver` sends at most by default.
const DEFAULT_DELIVER_LIMIT: usize = 100;

/// One line per delivery attempt, for people: a failure says whether
/// retrying can help.
fn delivery_lines(deliveries: &[Delivery]) -> String {
    deliveries
        .iter()
        .map(|d| match &d.result {
            Ok(()) => format!("invitation email sent to {}\n", d.to),
            Err(e) => {
                let code = e.code.map(|c| format!("SMTP {c}: ")).unwrap_or_default();
                // The kind's stable name (`MailErrorKind` serializes in
                // snake_case).
                let kind = serde_json::to_value(e.kind).unwrap_or_default();
                let advice = match kind.as_str() {
                    Some("transient") => "a temporary failure; run `admin deliver` again later",
                    Some("permanent") => {
                        "it will fail again as is; fix the mail settings or the address, then run `admin deliver`"
                    }
                    _ => "the credential or mail host is not configured; fix that, then run `admin deliver`",
                };
                format!("invitation email to {} not sent ({code}{e}): {advice}\n", d.to)
            }
        })
        .collect()
}

impl<S: Store> App<S> {
    pub(crate) async fn mail_set(&self, mut args: Vec<String>) -> Result<Output, Failure> {
        let actor = actor(&mut args)?;
        let host = required(take_value(&mut args, "--host")?, "--host HOST")?;
        let port = required(take_value(&mut args, "--port")?, "--port PORT")?;
        let port: u16 = port
            .parse()
            .map_err(|_| Failure::Usage(format!("--port must be 1 to 65535, got {port:?}")))?;
        let sender = email(&required(
            take_value(&mut args, "--sender")?,
            "--sender EMAIL",
        )?)?;
        let sender_name = required(
            take_value(&mut args, "--sender-name")?,
            "--sender-name NAME",
        )?;
        let no_tls = take_flag(&mut args, "--no-tls");
        let user = take_value(&mut args, "--user")?;
        let credential = take_value(&mut args, "--credential")?;
        let timeout = take_value(&mut args, "--timeout")?
            .map(|t| {
                t.parse::<u64>()
                    .map_err(|_| Failure::Usage(format!("--timeout takes seconds, got {t:?}")))
            })
            .transpose()?;
        no_args(&args)?;
        let mut settings = MailSettings::new(host, port, sender, sender_name).with_tls(!no_tls);
        match (user, credential) {
            (Some(user), Some(credential)) => {
                settings = settings.with_auth(user, CredentialRef(credential))
            }
            (None, None) => {}
            _ => return Err(Failure::Usage("--user and --credential go together".into())),
        }
        if let Some(seconds) = timeout {
            settings = settings.with_timeout(Duration::from_secs(seconds));
        }
        self.execute(&Command::SetMailSettings { settings }, &actor)
            .await?;
        Ok(Output {
            text: "mail settings saved: new invitations will be emailed\n".into(),
            json: json!({"mail": "set"}),
        })
    }

    pub(crate) async fn mail_clear(&self, mut args: Vec<String>) -> Result<Output, Failure> {
        let actor = actor(&mut args)?;
        no_args(&args)?;
        self.execute(&Command::ClearMailSettings, &actor).await?;
        Ok(Output {
            text: "mail settings cleared: invitations send no email\n".into(),
            json: json!({"mail": "cleared"}),
        })
    }

    pub(crate) async fn expiry(&self, mut args: Vec<String>) -> Result<Output, Failure> {
        let actor = actor(&mut args)?;
        let [hours] = exactly(args, "HOURS or none")?;
        let after = if hours == "none" {
            None
        } else {
            if hours.is_empty() || !hours.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Failure::Usage(format!(
                    "expected a number of hours or `none`, got {hours:?}"
                )));
            }
            // A number too large for u64 is still a number: the library
            // refuses it with the longest validity it accepts.
            let seconds = hours
                .parse::<u64>()
                .map_or(u64::MAX, |h| h.saturating_mul(3600));
            Some(Duration::from_secs(seconds))
        };
        self.execute(&Command::SetInvitationExpiry { after }, &actor)
            .await?;
        Ok(Output {
            text: match after {
                None => "invitations never expire\n".into(),
                Some(_) => format!("invitations expire after {hours} hours\n"),
            },
            json: json!({"expiry_hours": after.map(|d| d.as_secs() / 3600)}),
        })
    }

    pub(crate) async fn resend(&self, mut args: Vec<String>) -> Result<Output, Failure> {
        let actor = actor(&mut args)?;
        let [who] = exactly(args, "EMAIL")?;
        let who = email(&who)?;
        let done = self
            .execute(&Command::ResendInvitation { user: who.clone() }, &actor)
            .await?;
        Ok(Output {
            text: format!(
                "invitation for {who} renewed\n{}",
                crate::queued_line(done.queued.len())
            ),
            json: json!({"resent": who.as_str()}),
        })
    }

    pub(crate) async fn revoke(&self, mut args: Vec<String>) -> Result<Output, Failure> {
        let actor = actor(&mut args)?;
        let [who] = exactly(args, "EMAIL")?;
        let who = email(&who)?;
        self.execute(&Command::RevokeInvitation { user: who.clone() }, &actor)
            .await?;
        Ok(Output {
            text: format!("invitation for {who} revoked\n"),
            json: json!({"revoked": who.as_str()}),
        })
    }

    pub(crate) async fn deliver(&self, mut args: Vec<String>) -> Result<Output, Failure> {
        let limit = take_value(&mut args, "--limit")?
            .map(|n| {
                n.parse::<usize>().map_err(|_| {
                    Failure::Usage(format!("--limit takes a number of emails, got {n:?}"))
                })
            })
            .transpose()?
            .unwrap_or(DEFAULT_DELIVER_LIMIT);
        no_args(&args)?;
        // Refuse a database with no organization before sending anything.
        self.query(|_| Ok(())).await?;
        let deliveries = self
            .service
            .deliver(&self.org, Timestamp::now(), limit)
            .await?;
        let queued = self.query(|org| Ok(org.queued_emails().count())).await?;
        Ok(Output {
            text: format!(
                "{}{queued} invitation emails still queued\n",
                delivery_lines(&deliveries)
            ),
            json: json!({
                "sent": deliveries.iter().filter(|d| d.result.is_ok()).count(),
                "failed": deliveries.iter().filter(|d| d.result.is_err()).count(),
                "queued": queued,
            }),
        })
    }
}
