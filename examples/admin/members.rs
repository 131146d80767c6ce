//! Members and groups: init, invite, bulk-invite, accept, sign-in, remove,
//! group create, users, groups.

use org_accounts::{
    Command, Context, CsvOptions, Email, GroupKind, InvitationStatus, MemberQuery, Timestamp,
    read_invite_csv,
};
use serde_json::{Value, json};

use crate::args::{
    actor, email, exactly, group_name, no_args, no_flags, required, take_flag, take_value,
    take_values,
};
use crate::{App, Failure, Output};

impl App {
    pub(crate) fn init(&self, mut args: Vec<String>) -> Result<Output, Failure> {
        let admin = email(&required(
            take_value(&mut args, "--admin")?,
            "--admin EMAIL",
        )?)?;
        let [name] = exactly(args, "NAME")?;
        self.execute(&Command::CreateOrganization { name: name.clone() }, &admin)?;
        Ok(Output {
            text: format!("created organization {name:?}; {admin} is its administrator\n"),
            json: json!({"organization": name.trim(), "admin": admin.as_str()}),
        })
    }

    pub(crate) fn invite(&self, mut args: Vec<String>) -> Result<Output, Failure> {
        let actor = actor(&mut args)?;
        let groups = take_values(&mut args, "--group")?
            .iter()
            .map(|g| group_name(g))
            .collect::<Result<Vec<_>, _>>()?;
        no_flags(&args)?;
        if args.is_empty() {
            return Err(Failure::Usage("name at least one EMAIL to invite".into()));
        }
        let emails = args
            .iter()
            .map(|e| email(e))
            .collect::<Result<Vec<_>, _>>()?;
        let done = self.execute(
            &Command::InviteUsers {
                emails: emails.clone(),
                groups,
            },
            &actor,
        )?;
        let list: Vec<&str> = emails.iter().map(Email::as_str).collect();
        let mut text = format!("invited {} (Pending until they accept)\n", list.join(", "));
        text.push_str(&crate::invitations::delivery_lines(&done.deliveries));
        Ok(Output {
            text,
            json: json!({"invited": list}),
        })
    }

    pub(crate) fn bulk_invite(&self, mut args: Vec<String>) -> Result<Output, Failure> {
        let actor = actor(&mut args)?;
        let dry_run = take_flag(&mut args, "--dry-run");
        let failed_rows = take_value(&mut args, "--failed-rows")?;
        let [path] = exactly(args, "FILE")?;
        // Open the output first: a path that cannot be written must refuse
        // the command before anyone is invited.
        let mut failed_rows = failed_rows
            .map(|out| {
                std::fs::File::create(&out)
                    .map(|file| (out.clone(), file))
                    .map_err(|e| {
                        Failure::refused("cannot_write_file", format!("cannot write {out}: {e}"))
                    })
            })
            .transpose()?;
        let bytes = std::fs::read(&path).map_err(|e| {
            Failure::refused("cannot_read_file", format!("cannot read {path}: {e}"))
        })?;
        let file = read_invite_csv(&bytes, &CsvOptions::default())
            .map_err(|e| Failure::refused(e.code(), e))?;
        let ctx = Context::new(actor, Timestamp::now());
        let report = self.service.bulk_invite(&self.org, &file, &ctx, dry_run)?;
        let mut text = report.to_string();
        if let Some((out, file)) = failed_rows.as_mut() {
            use std::io::Write;
            // The invitations are stored by now: a write failure is a
            // warning, not a refusal.
            match file.write_all(&report.failed_rows_csv()) {
                Ok(()) => text.push_str(&format!(
                    "\nWrote {} failed rows to {out}: fix them and upload that file again.\n",
                    report.totals().failed
                )),
                Err(e) => eprintln!("warning: cannot write {out}: {e}"),
            }
        }
        let json =
            serde_json::to_value(&report).map_err(|e| Failure::refused("internal_error", e))?;
        Ok(Output { text, json })
    }

    pub(crate) fn accept(&self, args: Vec<String>) -> Result<Output, Failure> {
        let [who] = exactly(args, "EMAIL")?;
        let who = email(&who)?;
        self.execute(&Command::AcceptInvitation, &who)?;
        Ok(Output {
            text: format!("{who} accepted the invitation and signed in\n"),
            json: json!({"accepted": who.as_str()}),
        })
    }

    pub(crate) fn sign_in(&self, args: Vec<String>) -> Result<Output, Failure> {
        let [who] = exactly(args, "EMAIL")?;
        let who = email(&who)?;
        let ctx = Context::new(who.clone(), Timestamp::now());
        self.service.record_sign_in(&self.org, &ctx)?;
        Ok(Output {
            text: format!("{who} signed in\n"),
            json: json!({"signed_in": who.as_str()}),
        })
    }

    pub(crate) fn remove(&self, mut args: Vec<String>) -> Result<Output, Failure> {
        let actor = actor(&mut args)?;
        no_flags(&args)?;
        if args.is_empty() {
            return Err(Failure::Usage("name at least one EMAIL to remove".into()));
        }
        let emails = args
            .iter()
            .map(|e| email(e))
            .collect::<Result<Vec<_>, _>>()?;
        self.execute(
            &Command::RemoveUsers {
                emails: emails.clone(),
            },
            &actor,
        )?;
        let list: Vec<&str> = emails.iter().map(Email::as_str).collect();
        Ok(Output {
            text: format!("removed {}\n", list.join(", ")),
            json: json!({"removed": list}),
        })
    }

    pub(crate) fn group_create(&self, mut args: Vec<String>) -> Result<Output, Failure> {
        let actor = actor(&mut args)?;
        let members = take_values(&mut args, "--member")?
            .iter()
            .map(|m| email(m))
            .collect::<Result<Vec<_>, _>>()?;
        let [name] = exactly(args, "NAME")?;
        let name = group_name(&name)?;
        self.execute(
            &Command::CreateGroup {
                name: name.clone(),
                members: members.clone(),
            },
            &actor,
        )?;
        Ok(Output {
            text: format!("created group {name} with {} members\n", members.len()),
            json: json!({"group": name.as_str(), "members": members.len()}),
        })
    }

    pub(crate) fn users(&self, args: Vec<String>) -> Result<Output, Failure> {
        no_args(&args)?;
        let org = self.organization()?;
        let mut rows = Vec::new();
        let query = MemberQuery::new().limit(500);
        let mut page = org.members_page(&query);
        loop {
            for row in &page.rows {
                rows.push(json!({
                    "email": row.email().as_str(),
                    "status": if row.status().is_pending() { "pending" } else { "active" },
                    "last_active": row.last_active().map(|t| t.to_string()),
                    "groups": row.groups().iter().map(|g| g.as_str()).collect::<Vec<_>>(),
                }));
            }
            match page.next.take() {
                Some(cursor) => page = org.members_page(&query.clone().after(cursor)),
                None => break,
            }
        }
        let mut text = format!("{} members of {}\n", rows.len(), org.name());
        let width = rows
            .iter()
            .map(|r| r["email"].as_str().map_or(0, |e| e.chars().count()))
            .max()
            .unwrap_or(5)
            .max(5);
        text.push_str(&format!(
            "{:<width$}  {:<25}  Groups\n",
            "Email", "Last active"
        ));
        let now = Timestamp::now();
        for r in &rows {
            let expired = r["email"]
                .as_str()
                .and_then(|e| Email::parse(e).ok())
                .and_then(|e| org.member(&e).cloned())
                .is_some_and(|m| org.invitation_status(&m, now) == InvitationStatus::Expired);
            let last = r["last_active"]
                .as_str()
                .and_then(|t| t.parse::<Timestamp>().ok())
                .map_or_else(
                    || {
                        if expired {
                            "Expired".to_owned()
                        } else {
                            "Pending".to_owned()
                        }
                    },
                    |t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
                );
            let groups: Vec<&str> = r["groups"]
                .as_array()
                .map(|g| g.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            text.push_str(&format!(
                "{:<width$}  {:<25}  {}\n",
                r["email"].as_str().unwrap_or(""),
                last,
                groups.join(", ")
            ));
        }
        Ok(Output {
            text,
            json: Value::Array(rows),
        })
    }

    pub(crate) fn groups(&self, args: Vec<String>) -> Result<Output, Failure> {
        no_args(&args)?;
        let org = self.organization()?;
        let rows: Vec<Value> = org
            .groups()
            .map(|g| {
                json!({
                    "name": g.name().as_str(),
                    "kind": if g.kind() == GroupKind::Custom { "custom" } else { "default" },
                    "members": org.group_member_count(g),
                })
            })
            .collect();
        let mut text = format!("{:<24}  {:<7}  Members\n", "Group", "Kind");
        for r in &rows {
            text.push_str(&format!(
                "{:<24}  {:<7}  {}\n",
                r["name"].as_str().unwrap_or(""),
                r["kind"].as_str().unwrap_or(""),
                r["members"]
            ));
        }
        Ok(Output {
            text,
            json: Value::Array(rows),
        })
    }
}
