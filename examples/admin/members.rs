//! Members and groups: init, invite, bulk-invite, accept, sign-in, remove,
//! group create|add|remove|rename|delete, users, groups.

use std::path::Path;

use org_accounts::{
    Command, Context, CsvOptions, Email, EventKind, GroupKind, InvitationStatus, MemberQuery,
    Store, Timestamp, read_invite_csv_file,
};
use serde_json::{Value, json};

use crate::args::{email, emails, group_name};
use crate::failed_rows::FailedRowsOut;
use crate::shown::shown;
use crate::{App, Failure, Output, plural};

impl<S: Store + 'static> App<S> {
    pub(crate) async fn init(&self, name: String, admin: &str) -> Result<Output, Failure> {
        let admin = email(admin)?;
        self.execute(&Command::CreateOrganization { name: name.clone() }, &admin)
            .await?;
        Ok(Output {
            text: format!("created organization {name:?}; {admin} is its administrator\n"),
            json: json!({"organization": name.trim(), "admin": admin.as_str()}),
        })
    }

    pub(crate) async fn invite(
        &self,
        actor: &str,
        groups: &[String],
        invitees: &[String],
    ) -> Result<Output, Failure> {
        let actor = email(actor)?;
        let groups = groups
            .iter()
            .map(|g| group_name(g))
            .collect::<Result<Vec<_>, _>>()?;
        let invitees = emails(invitees)?;
        let done = self
            .execute(
                &Command::InviteUsers {
                    emails: invitees.clone(),
                    groups,
                },
                &actor,
            )
            .await?;
        let list: Vec<&str> = invitees.iter().map(Email::as_str).collect();
        let mut text = format!("invited {} (Pending until they accept)\n", list.join(", "));
        text.push_str(&crate::queued_line(done.queued.len()));
        Ok(Output {
            text,
            json: json!({"invited": list}),
        })
    }

    pub(crate) async fn bulk_invite(
        &self,
        actor: &str,
        path: &Path,
        dry_run: bool,
        failed_rows: Option<&str>,
    ) -> Result<Output, Failure> {
        let actor = email(actor)?;
        // Prepare the output before anything is stored, without touching
        // OUT: the failed rows go to a temporary file beside it, renamed
        // over OUT only once the upload has been decided. A refused
        // command (bad file, not an administrator, ...) leaves OUT as it
        // was.
        let failed_rows = failed_rows
            .map(|out| FailedRowsOut::prepare(out, path, self.db.as_deref()))
            .transpose()?;
        let file = read_invite_csv_file(path, &CsvOptions::default())
            .map_err(|e| Failure::refused(e.code(), e))?;
        let ctx = Context::new(actor, Timestamp::now());
        let report = self
            .refused(
                self.service
                    .bulk_invite(&self.org, &file, &ctx, dry_run)
                    .await,
            )
            .await?;
        // Cells and names from the upload, escaped for the terminal.
        let mut text = crate::shown::terminal_text(&report.to_string()).into_owned();
        if !dry_run && report.totals().invited > 0 {
            // The emails are queued with the invitations when the
            // organization has mail settings; `deliver` sends them.
            let queued = self
                .query(|org| Ok(org.queued_emails().count()))
                .await
                .unwrap_or(0);
            if queued > 0 {
                let (verb, them) = if queued == 1 {
                    ("is", "it")
                } else {
                    ("are", "them")
                };
                text.push_str(&format!(
                    "\n{} {verb} queued; `admin deliver` sends {them}.\n",
                    plural(queued, "invitation email")
                ));
            }
        }
        let mut json =
            serde_json::to_value(&report).map_err(|e| Failure::refused("internal_error", e))?;
        rename_row_to_line(&mut json);
        if let Some(out) = failed_rows {
            let shown = out.shown();
            let failed = report.totals().failed;
            if failed == 0 {
                text.push_str(&format!("\nNo row failed: {shown} was not written.\n"));
                set_failed_rows_file(&mut json, None);
            } else {
                // The invitations are stored by now: a write failure is a
                // warning, not a refusal.
                match out.write(&report, path, file.delimiter()) {
                    Ok(()) => {
                        text.push_str(&format!(
                            "\nWrote {} to {shown}, with your columns and an `error` column first: fix them and upload that file again.\n",
                            plural(failed, "failed row")
                        ));
                        set_failed_rows_file(&mut json, Some(&shown));
                    }
                    Err(e) => {
                        crate::warn(&format!("cannot write {shown}: {e}"));
                        set_failed_rows_file(&mut json, None);
                    }
                }
            }
        }
        Ok(Output { text, json })
    }

    pub(crate) async fn accept(&self, who: &str) -> Result<Output, Failure> {
        let who = email(who)?;
        self.execute(&Command::AcceptInvitation, &who).await?;
        let leased = self.leases_after_sign_in().await?;
        Ok(Output {
            text: format!(
                "{who} accepted the invitation and signed in\n{}",
                leased_line(&leased)
            ),
            json: json!({"accepted": who.as_str(), "leased": leased}),
        })
    }

    pub(crate) async fn sign_in(&self, who: &str) -> Result<Output, Failure> {
        let who = email(who)?;
        let ctx = Context::new(who.clone(), Timestamp::now());
        self.refused(self.service.record_sign_in(&self.org, &ctx).await)
            .await?;
        let leased = self.leases_after_sign_in().await?;
        Ok(Output {
            text: format!("{who} signed in\n{}", leased_line(&leased)),
            json: json!({"signed_in": who.as_str(), "leased": leased}),
        })
    }

    /// The group licenses a sign-in made due, appended once it returned (a
    /// server would spawn this; a one-shot command waits for it).
    async fn leases_after_sign_in(&self) -> Result<Vec<String>, Failure> {
        let events = self
            .refused(self.service.grant_due_leases(&self.org).await)
            .await?;
        Ok(events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::LicenseGranted { kind, .. } => Some(kind.as_str().to_owned()),
                _ => None,
            })
            .collect())
    }

    pub(crate) async fn remove(&self, actor: &str, who: &[String]) -> Result<Output, Failure> {
        let actor = email(actor)?;
        let who = emails(who)?;
        self.execute(
            &Command::RemoveUsers {
                emails: who.clone(),
            },
            &actor,
        )
        .await?;
        let list: Vec<&str> = who.iter().map(Email::as_str).collect();
        Ok(Output {
            text: format!("removed {}\n", list.join(", ")),
            json: json!({"removed": list}),
        })
    }

    pub(crate) async fn group_create(
        &self,
        actor: &str,
        name: &str,
        members: &[String],
    ) -> Result<Output, Failure> {
        let actor = email(actor)?;
        let members = emails(members)?;
        let name = group_name(name)?;
        self.execute(
            &Command::CreateGroup {
                name: name.clone(),
                members: members.clone(),
            },
            &actor,
        )
        .await?;
        Ok(Output {
            text: format!(
                "created group {name} with {}\n",
                plural(members.len(), "member")
            ),
            json: json!({"group": name.as_str(), "members": members.len()}),
        })
    }

    /// `group add` (`add` true) and `group remove`.
    pub(crate) async fn group_members(
        &self,
        actor: &str,
        group: &str,
        who: &[String],
        add: bool,
    ) -> Result<Output, Failure> {
        let actor = email(actor)?;
        let group = group_name(group)?;
        let members = emails(who)?;
        let command = if add {
            Command::AddGroupMembers {
                group: group.clone(),
                members: members.clone(),
            }
        } else {
            Command::RemoveGroupMembers {
                group: group.clone(),
                members: members.clone(),
            }
        };
        let done = self.execute(&command, &actor).await?;
        let count = self
            .query(|org| Ok(org.group(&group).map(|g| org.group_member_count(g))))
            .await?
            .unwrap_or(0);
        let list: Vec<&str> = members.iter().map(Email::as_str).collect();
        let (verb, to, key) = if add {
            ("added", "to", "added")
        } else {
            ("took", "out of", "removed")
        };
        let unchanged = if done.events.is_empty() {
            " (nothing changed)"
        } else {
            ""
        };
        Ok(Output {
            text: format!(
                "{verb} {} {to} {group}{unchanged}; it has {}\n",
                list.join(", "),
                plural(count, "member")
            ),
            json: json!({"group": group.as_str(), key: list, "members": count, "changed": !done.events.is_empty()}),
        })
    }

    pub(crate) async fn group_rename(
        &self,
        actor: &str,
        group: &str,
        new_name: &str,
    ) -> Result<Output, Failure> {
        let actor = email(actor)?;
        let (group, new_name) = (group_name(group)?, group_name(new_name)?);
        self.execute(
            &Command::RenameGroup {
                group: group.clone(),
                new_name: new_name.clone(),
            },
            &actor,
        )
        .await?;
        Ok(Output {
            text: format!("renamed group {group} to {new_name}\n"),
            json: json!({"renamed": group.as_str(), "group": new_name.as_str()}),
        })
    }

    pub(crate) async fn group_delete(&self, actor: &str, group: &str) -> Result<Output, Failure> {
        let actor = email(actor)?;
        let group = group_name(group)?;
        self.execute(
            &Command::DeleteGroup {
                group: group.clone(),
            },
            &actor,
        )
        .await?;
        Ok(Output {
            text: format!("deleted group {group}; its members stay in the organization\n"),
            json: json!({"deleted": group.as_str()}),
        })
    }

    pub(crate) async fn users(&self) -> Result<Output, Failure> {
        self.query(|org| {
            let with_licenses = !org.seat_usage().is_empty();
            let mut rows = Vec::new();
            let mut lines = Vec::new();
            let now = Timestamp::now();
            let query = MemberQuery::new().limit(500);
            let mut page = org.members_page(&query);
            loop {
                for row in &page.rows {
                    let groups: Vec<&str> = row.groups().iter().map(|g| g.as_str()).collect();
                    // Stored names and addresses, escaped for the terminal.
                    let shown_list: Vec<String> =
                        groups.iter().map(|g| shown(g).into_owned()).collect();
                    let last = match row.last_active() {
                        Some(t) => t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
                        None => {
                            let expired = org.member(row.email()).is_some_and(|m| {
                                org.invitation_status(m, now) == InvitationStatus::Expired
                            });
                            if expired { "Expired" } else { "Pending" }.to_owned()
                        }
                    };
                    // Everyone holds every member and is never listed: a
                    // member in no other group is shown in it.
                    let shown_groups = if groups.is_empty() {
                        "Everyone".to_owned()
                    } else {
                        shown_list.join(", ")
                    };
                    // Only shown once there are licenses at all.
                    let status = with_licenses
                        .then(|| org.license_status(row.email()))
                        .flatten();
                    let (held, waiting) = status.as_ref().map_or_else(
                        || (Vec::new(), Vec::new()),
                        |s| crate::access::license_lines(org, s),
                    );
                    let shown_groups = if with_licenses {
                        let mut cell = format!("{shown_groups}  |  licenses: ");
                        let user_level = status.as_ref().is_some_and(|s| s.user_level);
                        cell.push_str(&if held.is_empty() && user_level {
                            // Nothing selected: their groups give nothing
                            // until `license use-groups`.
                            "none (user-level allocation, nothing selected)".to_owned()
                        } else if held.is_empty() {
                            "none".to_owned()
                        } else {
                            held.iter()
                                .map(|(k, via)| format!("{} ({})", shown(k), shown(via)))
                                .collect::<Vec<_>>()
                                .join(", ")
                        });
                        if !waiting.is_empty() {
                            cell.push_str(&format!(
                                "; waiting: {}",
                                waiting
                                    .iter()
                                    .map(|(k, why)| {
                                        format!("{} ({})", shown(k), crate::access::wait_words(why))
                                    })
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ));
                        }
                        cell
                    } else {
                        shown_groups
                    };
                    lines.push((shown(row.email().as_str()).into_owned(), last, shown_groups));
                    let mut doc = json!({
                        "email": row.email().as_str(),
                        "status": if row.status().is_pending() { "pending" } else { "active" },
                        "last_active": row.last_active().map(|t| t.to_string()),
                        "groups": groups,
                    });
                    // What each member holds and why, once there are
                    // licenses at all.
                    if let (true, Value::Object(map)) = (with_licenses, &mut doc) {
                        map.insert(
                            "licenses".into(),
                            held.iter()
                                .map(|(k, via)| json!({"kind": k, "via": via}))
                                .collect(),
                        );
                        map.insert(
                            "user_level_allocation".into(),
                            json!(status.as_ref().is_some_and(|s| s.user_level)),
                        );
                        map.insert(
                            "waiting".into(),
                            waiting
                                .iter()
                                .map(|(k, why)| json!({"kind": k, "for": why}))
                                .collect(),
                        );
                    }
                    rows.push(doc);
                }
                match page.next.take() {
                    Some(cursor) => page = org.members_page(&query.clone().after(cursor)),
                    None => break,
                }
            }
            let mut text = format!(
                "{} of {}\n",
                plural(rows.len(), "member"),
                shown(org.name())
            );
            let width = lines
                .iter()
                .map(|(e, _, _)| e.chars().count())
                .max()
                .unwrap_or(5)
                .max(5);
            text.push_str(&format!(
                "{:<width$}  {:<25}  Groups\n",
                "Email", "Last active"
            ));
            for (email, last, groups) in &lines {
                text.push_str(&format!("{email:<width$}  {last:<25}  {groups}\n"));
            }
            Ok(Output {
                text,
                json: Value::Array(rows),
            })
        })
        .await
    }

    pub(crate) async fn groups(&self) -> Result<Output, Failure> {
        self.query(|org| {
            let mut text = format!("{:<24}  {:<7}  Members\n", "Group", "Kind");
            let rows: Vec<Value> = org
                .groups()
                .map(|g| {
                    let kind = if g.kind() == GroupKind::Custom {
                        "custom"
                    } else {
                        "default"
                    };
                    let members = org.group_member_count(g);
                    let name = shown(g.name().as_str());
                    text.push_str(&format!("{name:<24}  {kind:<7}  {members}\n"));
                    json!({"name": g.name().as_str(), "kind": kind, "members": members})
                })
                .collect();
            Ok(Output {
                text,
                json: Value::Array(rows),
            })
        })
        .await
    }
}

/// Adds `"failed_rows_file"`: the file the failed rows were written to,
/// or null when none was written (no row failed, or writing failed).
fn set_failed_rows_file(report: &mut Value, written: Option<&str>) {
    if let Some(fields) = report.as_object_mut() {
        fields.insert("failed_rows_file".to_owned(), json!(written));
    }
}

/// The report's JSON names each row by its `line`, as the table's `Line`
/// column does (the library's own JSON says `row`).
fn rename_row_to_line(report: &mut Value) {
    for key in ["invited", "skipped", "failed"] {
        if let Some(rows) = report.get_mut(key).and_then(Value::as_array_mut) {
            for row in rows {
                if let Some(fields) = row.as_object_mut()
                    && let Some(line) = fields.remove("row")
                {
                    fields.insert("line".to_owned(), line);
                }
            }
        }
    }
}

/// The line saying which group licenses a sign-in leased; empty for none.
fn leased_line(leased: &[String]) -> String {
    if leased.is_empty() {
        return String::new();
    }
    let kinds: Vec<String> = leased.iter().map(|k| shown(k).into_owned()).collect();
    format!("leased: {}\n", kinds.join(", "))
}
