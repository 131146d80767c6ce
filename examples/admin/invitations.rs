//! Mail settings, invitation expiry, resending, revoking, delivering.

use std::time::Duration;

use org_accounts::{Command, CredentialRef, Delivery, MailSettings, Timestamp};
use serde_json::json;

use crate::args::{actor, email, exactly, no_args, required, take_flag, take_value};
use crate::{App, Failure, Output};

/// One line per delivery attempt, for people.
pub(crate) fn delivery_lines(deliveries: &[Delivery]) -> String {
    deliveries
        .iter()
        .map(|d| match &d.result {
            Ok(()) => format!("invitation email sent to {}\n", d.to),
            Err(e) => format!(
                "invitation email to {} not sent ({e}); run `admin deliver` to retry\n",
                d.to
            ),
        })
        .collect()
}

impl App {
    pub(crate) fn mail_set(&self, mut args: Vec<String>) -> Result<Output, Failure> {
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
        self.execute(&Command::SetMailSettings { settings }, &actor)?;
        Ok(Output {
            text: "mail settings saved: new invitations will be emailed\n".into(),
            json: json!({"mail": "set"}),
        })
    }

    pub(crate) fn mail_clear(&self, mut args: Vec<String>) -> Result<Output, Failure> {
        let actor = actor(&mut args)?;
        no_args(&args)?;
        self.execute(&Command::ClearMailSettings, &actor)?;
        Ok(Output {
            text: "mail settings cleared: invitations send no email\n".into(),
            json: json!({"mail": "cleared"}),
        })
    }

    pub(crate) fn expiry(&self, mut args: Vec<String>) -> Result<Output, Failure> {
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
        self.execute(&Command::SetInvitationExpiry { after }, &actor)?;
        Ok(Output {
            text: match after {
                None => "invitations never expire\n".into(),
                Some(_) => format!("invitations expire after {hours} hours\n"),
            },
            json: json!({"expiry_hours": after.map(|d| d.as_secs() / 3600)}),
        })
    }

    pub(crate) fn resend(&self, mut args: Vec<String>) -> Result<Output, Failure> {
        let actor = actor(&mut args)?;
        let [who] = exactly(args, "EMAIL")?;
        let who = email(&who)?;
        let done = self.execute(&Command::ResendInvitation { user: who.clone() }, &actor)?;
        Ok(Output {
            text: format!(
                "invitation for {who} renewed\n{}",
                delivery_lines(&done.deliveries)
            ),
            json: json!({"resent": who.as_str()}),
        })
    }

    pub(crate) fn revoke(&self, mut args: Vec<String>) -> Result<Output, Failure> {
        let actor = actor(&mut args)?;
        let [who] = exactly(args, "EMAIL")?;
        let who = email(&who)?;
        self.execute(&Command::RevokeInvitation { user: who.clone() }, &actor)?;
        Ok(Output {
            text: format!("invitation for {who} revoked\n"),
            json: json!({"revoked": who.as_str()}),
        })
    }

    pub(crate) fn deliver(&self, args: Vec<String>) -> Result<Output, Failure> {
        no_args(&args)?;
        let deliveries = self.service.retry_deliveries(&self.org, Timestamp::now())?;
        let queued = self.organization()?.queued_emails().count();
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
