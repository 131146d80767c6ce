//! Members and groups: init, invite, bulk-invite, accept, sign-in, remove,
//! group create, users, groups.

use std::io::Write;
use std::path::{Path, PathBuf};

use org_accounts::{
    Command, Context, CsvOptions, Email, GroupKind, InvitationStatus, MemberQuery, Store,
    Timestamp, read_invite_csv_file,
};
use serde_json::{Value, json};

use crate::args::{
    actor, email, exactly, group_name, no_args, no_flags, required, take_flag, take_value,
    take_values,
};
use crate::{App, Failure, Output};

impl<S: Store> App<S> {
    pub(crate) async fn init(&self, mut args: Vec<String>) -> Result<Output, Failure> {
        let admin = email(&required(
            take_value(&mut args, "--admin")?,
            "--admin EMAIL",
        )?)?;
        let [name] = exactly(args, "NAME")?;
        self.execute(&Command::CreateOrganization { name: name.clone() }, &admin)
            .await?;
        Ok(Output {
            text: format!("created organization {name:?}; {admin} is its administrator\n"),
            json: json!({"organization": name.trim(), "admin": admin.as_str()}),
        })
    }

    pub(crate) async fn invite(&self, mut args: Vec<String>) -> Result<Output, Failure> {
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
        let done = self
            .execute(
                &Command::InviteUsers {
                    emails: emails.clone(),
                    groups,
                },
                &actor,
            )
            .await?;
        let list: Vec<&str> = emails.iter().map(Email::as_str).collect();
        let mut text = format!("invited {} (Pending until they accept)\n", list.join(", "));
        text.push_str(&crate::queued_line(done.queued.len()));
        Ok(Output {
            text,
            json: json!({"invited": list}),
        })
    }

    pub(crate) async fn bulk_invite(&self, mut args: Vec<String>) -> Result<Output, Failure> {
        let actor = actor(&mut args)?;
        let dry_run = take_flag(&mut args, "--dry-run");
        let failed_rows = take_value(&mut args, "--failed-rows")?;
        let [path] = exactly(args, "FILE")?;
        // Prepare the output before anything is stored, without touching
        // OUT: the failed rows go to a temporary file beside it, renamed
        // over OUT only once the upload has been decided. A refused
        // command (bad file, not an administrator, ...) leaves OUT as it
        // was.
        let failed_rows = failed_rows
            .map(|out| FailedRowsOut::prepare(&out, Path::new(&path), self.db.as_deref()))
            .transpose()?;
        let file = read_invite_csv_file(&path, &CsvOptions::default())
            .map_err(|e| Failure::refused(e.code(), e))?;
        let ctx = Context::new(actor, Timestamp::now());
        let report = self
            .service
            .bulk_invite(&self.org, &file, &ctx, dry_run)
            .await?;
        let mut text = report.to_string();
        if !dry_run && report.totals().invited > 0 {
            // The emails are queued with the invitations when the
            // organization has mail settings; `deliver` sends them.
            let queued = self
                .query(|org| Ok(org.queued_emails().count()))
                .await
                .unwrap_or(0);
            if queued > 0 {
                text.push_str(&format!(
                    "\n{queued} invitation emails are queued; `admin deliver` sends them.\n"
                ));
            }
        }
        if let Some(out) = failed_rows {
            let shown = out.out.display().to_string();
            // The invitations are stored by now: a write failure is a
            // warning, not a refusal.
            match out.write(&report.failed_rows_csv()) {
                Ok(()) => text.push_str(&format!(
                    "\nWrote {} failed rows to {shown}: fix them and upload that file again.\n",
                    report.totals().failed
                )),
                Err(e) => crate::warn(&format!("cannot write {shown}: {e}")),
            }
        }
        let json =
            serde_json::to_value(&report).map_err(|e| Failure::refused("internal_error", e))?;
        Ok(Output { text, json })
    }

    pub(crate) async fn accept(&self, args: Vec<String>) -> Result<Output, Failure> {
        let [who] = exactly(args, "EMAIL")?;
        let who = email(&who)?;
        self.execute(&Command::AcceptInvitation, &who).await?;
        Ok(Output {
            text: format!("{who} accepted the invitation and signed in\n"),
            json: json!({"accepted": who.as_str()}),
        })
    }

    pub(crate) async fn sign_in(&self, args: Vec<String>) -> Result<Output, Failure> {
        let [who] = exactly(args, "EMAIL")?;
        let who = email(&who)?;
        let ctx = Context::new(who.clone(), Timestamp::now());
        self.service.record_sign_in(&self.org, &ctx).await?;
        Ok(Output {
            text: format!("{who} signed in\n"),
            json: json!({"signed_in": who.as_str()}),
        })
    }

    pub(crate) async fn remove(&self, mut args: Vec<String>) -> Result<Output, Failure> {
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
        )
        .await?;
        let list: Vec<&str> = emails.iter().map(Email::as_str).collect();
        Ok(Output {
            text: format!("removed {}\n", list.join(", ")),
            json: json!({"removed": list}),
        })
    }

    pub(crate) async fn group_create(&self, mut args: Vec<String>) -> Result<Output, Failure> {
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
        )
        .await?;
        Ok(Output {
            text: format!("created group {name} with {} members\n", members.len()),
            json: json!({"group": name.as_str(), "members": members.len()}),
        })
    }

    pub(crate) async fn users(&self, args: Vec<String>) -> Result<Output, Failure> {
        no_args(&args)?;
        self.query(|org| {
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
        })
        .await
    }

    pub(crate) async fn groups(&self, args: Vec<String>) -> Result<Output, Failure> {
        no_args(&args)?;
        self.query(|org| {
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
        })
        .await
    }
}

/// Where `--failed-rows OUT` goes: a temporary file in the folder of the
/// file to replace, renamed over it once written.
///
/// Only a regular file is ever replaced: OUT itself, a new file at OUT, or
/// the regular file a symbolic link OUT leads to (the link stays, the file
/// it points to is replaced). Anything else (a device such as `/dev/null`,
/// a FIFO, a socket, `/dev/stdout`, a link to one of them or to nothing) is
/// refused as a usage error before anything is stored: renaming over it
/// would replace the special file with a plain one, and writing into it
/// could block or interleave with the report. The failed rows are in the
/// `--json` output as well.
struct FailedRowsOut {
    /// OUT as given, for messages.
    out: PathBuf,
    /// The regular file to replace.
    target: PathBuf,
    temp: tempfile::NamedTempFile,
}

impl FailedRowsOut {
    /// Checks OUT and creates the temporary file beside the file to
    /// replace; OUT itself is not touched.
    fn prepare(out: &str, input: &Path, db: Option<&Path>) -> Result<FailedRowsOut, Failure> {
        if out.is_empty() {
            return Err(Failure::Usage(
                "--failed-rows needs the path of a file to write".into(),
            ));
        }
        let out = PathBuf::from(out);
        let shown = out.display();
        let not_regular = || {
            Failure::Usage(format!(
                "--failed-rows {shown} is not a regular file (a device, FIFO or socket); give the path of a regular file to write"
            ))
        };
        let directory = || {
            Failure::Usage(format!(
                "--failed-rows {shown} is a directory; give the path of a file to write"
            ))
        };
        let target = match std::fs::symlink_metadata(&out) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => out.clone(),
            Err(e) => {
                return Err(Failure::refused(
                    "cannot_write_file",
                    format!("cannot write {shown}: {e}"),
                ));
            }
            Ok(meta) if meta.file_type().is_symlink() => {
                let resolved = std::fs::canonicalize(&out).ok();
                match resolved.as_ref().map(std::fs::metadata) {
                    Some(Ok(m)) if m.is_file() => resolved.unwrap_or_else(|| out.clone()),
                    Some(Ok(m)) if m.is_dir() => return Err(directory()),
                    Some(Ok(_)) => return Err(not_regular()),
                    // A link to nothing, or through a magic link such as
                    // /dev/stdout to a pipe.
                    _ => {
                        return Err(Failure::Usage(format!(
                            "--failed-rows {shown} is a symbolic link that does not lead to a regular file; give the path of a regular file to write"
                        )));
                    }
                }
            }
            Ok(meta) if meta.is_dir() => return Err(directory()),
            Ok(meta) if meta.is_file() => out.clone(),
            Ok(_) => return Err(not_regular()),
        };
        if same_file(&target, input) {
            return Err(Failure::Usage(format!(
                "--failed-rows {shown} is the file being uploaded; write the failed rows to another file"
            )));
        }
        if let Some(db) = db
            && guarded_by(db).iter().any(|g| same_file(&target, g))
        {
            return Err(Failure::Usage(format!(
                "--failed-rows {shown} is the database (or its journal); write the failed rows to another file"
            )));
        }
        let dir = folder_of(&target);
        let temp = tempfile::Builder::new()
            .prefix(".failed-rows-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| {
                Failure::refused(
                    "cannot_write_file",
                    format!(
                        "cannot write {shown}: cannot create a file in {}: {e}",
                        dir.display()
                    ),
                )
            })?;
        Ok(FailedRowsOut { out, target, temp })
    }

    /// Writes `bytes` and renames the file over OUT (keeping an existing
    /// OUT's permissions; a new file is readable by its owner only, since
    /// it holds people's addresses).
    fn write(mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.temp.write_all(bytes)?;
        self.temp.as_file().sync_all()?;
        if let Ok(existing) = std::fs::metadata(&self.target) {
            self.temp
                .as_file()
                .set_permissions(existing.permissions())?;
        }
        self.temp.persist(&self.target).map_err(|e| e.error)?;
        Ok(())
    }
}

/// The files no output may replace: the database and the journal files
/// SQLite keeps beside it, both as `--db` names them and beside the file
/// it resolves to (a symbolic link's `-wal` is the target's `-wal`).
fn guarded_by(db: &Path) -> Vec<PathBuf> {
    let mut bases = vec![db.to_path_buf()];
    bases.extend(std::fs::canonicalize(db).ok());
    let mut guarded = Vec::new();
    for base in bases {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut name = base.as_os_str().to_owned();
            name.push(suffix);
            guarded.push(PathBuf::from(name));
        }
    }
    guarded
}

/// The folder a path names a file in (`.` for a bare file name).
fn folder_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The path with its folder resolved (symbolic links, `.`, `..`): the
/// file's canonical path if it exists, else its folder's canonical path
/// joined with its name.
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = std::fs::canonicalize(path) {
        return Some(p);
    }
    let name = path.file_name()?;
    std::fs::canonicalize(folder_of(path))
        .ok()
        .map(|dir| dir.join(name))
}

/// Whether `a` and `b` name the same file: the same resolved path, or
/// (on Unix) the same device and inode, which also catches hard links.
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b))
            && (ma.dev(), ma.ino()) == (mb.dev(), mb.ino())
        {
            return true;
        }
    }
    match (resolved(a), resolved(b)) {
        (Some(ra), Some(rb)) => ra == rb,
        // Unresolvable (a folder that does not exist): compare as given.
        _ => a == b,
    }
}
