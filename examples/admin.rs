//! `admin`: a terminal front end over an organization kept in SQLite.
//!
//! ```text
//! cargo run --example admin --features sqlite -- [--db PATH] COMMAND [--json]
//!
//!   init NAME --admin EMAIL
//!   invite --as EMAIL [--group NAME]... EMAIL...
//!   bulk-invite --as EMAIL FILE [--dry-run] [--failed-rows OUT_CSV]
//!   accept EMAIL
//!   sign-in EMAIL
//!   remove --as EMAIL EMAIL...
//!   group create --as EMAIL NAME [--member EMAIL]...
//!   users
//!   groups
//! ```
//!
//! PATH defaults to `org-accounts.sqlite` in the working directory; the file
//! holds one organization. Exit status: 0 when the command ran (a bulk
//! invite with failed rows included), 1 when it was refused, 2 for a usage
//! error. With `--json`, stdout holds exactly one JSON document; these
//! names and shapes are a contract scripts rely on.

use std::process::ExitCode;

use org_accounts::{
    AccountService, Command, Context, CsvOptions, Email, GroupKind, GroupName, MemberQuery,
    Organization, OrganizationId, ServiceConfig, ServiceError, SqliteStore, Timestamp,
    read_invite_csv,
};
use serde_json::{Value, json};

const USAGE: &str = "usage: admin [--db PATH] COMMAND [--json]

commands:
  init NAME --admin EMAIL
  invite --as EMAIL [--group NAME]... EMAIL...
  bulk-invite --as EMAIL FILE [--dry-run] [--failed-rows OUT_CSV]
  accept EMAIL
  sign-in EMAIL
  remove --as EMAIL EMAIL...
  group create --as EMAIL NAME [--member EMAIL]...
  users
  groups";

/// The organization's id inside the file (one organization per file).
const ORG: &str = "default";

/// Why the program stops short.
enum Failure {
    /// The command line is wrong: exit 2.
    Usage(String),
    /// The command was refused: exit 1, with a stable code.
    Refused { code: String, message: String },
}

impl Failure {
    fn refused(code: &str, message: impl ToString) -> Failure {
        Failure::Refused {
            code: code.to_owned(),
            message: message.to_string(),
        }
    }
}

impl From<ServiceError> for Failure {
    fn from(e: ServiceError) -> Failure {
        Failure::refused(e.code(), e)
    }
}

/// What a command prints when it ran.
struct Output {
    text: String,
    json: Value,
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let json = take_flag(&mut args, "--json");
    match run(args) {
        Ok(out) => {
            if json {
                println!("{}", out.json);
            } else {
                print!("{}", out.text);
            }
            ExitCode::SUCCESS
        }
        Err(Failure::Usage(message)) => {
            if json {
                println!("{}", json!({"error": "usage", "message": message}));
            }
            eprintln!("{message}\n\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Refused { code, message }) => {
            if json {
                println!("{}", json!({"error": code, "message": message}));
            } else {
                eprintln!("refused: {message}");
            }
            ExitCode::from(1)
        }
    }
}

fn run(mut args: Vec<String>) -> Result<Output, Failure> {
    let db = take_value(&mut args, "--db")?.unwrap_or_else(|| "org-accounts.sqlite".to_owned());
    if args.is_empty() {
        return Err(Failure::Usage("no command given".into()));
    }
    let command = args.remove(0);
    const COMMANDS: [&str; 9] = [
        "init",
        "invite",
        "bulk-invite",
        "accept",
        "sign-in",
        "remove",
        "group",
        "users",
        "groups",
    ];
    if !COMMANDS.contains(&command.as_str()) {
        return Err(Failure::Usage(format!("unknown command {command:?}")));
    }
    let store = SqliteStore::open(&db).map_err(|e| Failure::refused("store_error", e))?;
    // Several `admin` processes may share the file: retry generously.
    let service =
        AccountService::with_config(store, ServiceConfig::default().with_max_attempts(100));
    let org = OrganizationId::new(ORG).map_err(|e| Failure::refused("store_error", e))?;
    let app = App { service, org };
    match command.as_str() {
        "init" => app.init(args),
        "invite" => app.invite(args),
        "bulk-invite" => app.bulk_invite(args),
        "accept" => app.accept(args),
        "sign-in" => app.sign_in(args),
        "remove" => app.remove(args),
        "group" => match args.first().map(String::as_str) {
            Some("create") => app.group_create(args.split_off(1)),
            _ => Err(Failure::Usage("expected `group create`".into())),
        },
        "users" => app.users(args),
        "groups" => app.groups(args),
        other => Err(Failure::Usage(format!("unknown command {other:?}"))),
    }
}

struct App {
    service: AccountService<SqliteStore>,
    org: OrganizationId,
}

impl App {
    fn execute(&self, command: &Command, actor: &Email) -> Result<(), Failure> {
        let ctx = Context::new(actor.clone(), Timestamp::now());
        self.service.execute(&self.org, command, &ctx)?;
        Ok(())
    }

    fn organization(&self) -> Result<Organization, Failure> {
        let org = self.service.organization(&self.org)?;
        if !org.exists() {
            return Err(Failure::refused(
                "not_created",
                "no organization in this file yet; run `admin init NAME --admin EMAIL` first",
            ));
        }
        Ok(org)
    }

    fn init(&self, mut args: Vec<String>) -> Result<Output, Failure> {
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

    fn invite(&self, mut args: Vec<String>) -> Result<Output, Failure> {
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
        self.execute(
            &Command::InviteUsers {
                emails: emails.clone(),
                groups,
            },
            &actor,
        )?;
        let list: Vec<&str> = emails.iter().map(Email::as_str).collect();
        Ok(Output {
            text: format!("invited {} (Pending until they accept)\n", list.join(", ")),
            json: json!({"invited": list}),
        })
    }

    fn bulk_invite(&self, mut args: Vec<String>) -> Result<Output, Failure> {
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

    fn accept(&self, args: Vec<String>) -> Result<Output, Failure> {
        let [who] = exactly(args, "EMAIL")?;
        let who = email(&who)?;
        self.execute(&Command::AcceptInvitation, &who)?;
        Ok(Output {
            text: format!("{who} accepted the invitation and signed in\n"),
            json: json!({"accepted": who.as_str()}),
        })
    }

    fn sign_in(&self, args: Vec<String>) -> Result<Output, Failure> {
        let [who] = exactly(args, "EMAIL")?;
        let who = email(&who)?;
        let ctx = Context::new(who.clone(), Timestamp::now());
        self.service.record_sign_in(&self.org, &ctx)?;
        Ok(Output {
            text: format!("{who} signed in\n"),
            json: json!({"signed_in": who.as_str()}),
        })
    }

    fn remove(&self, mut args: Vec<String>) -> Result<Output, Failure> {
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

    fn group_create(&self, mut args: Vec<String>) -> Result<Output, Failure> {
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

    fn users(&self, args: Vec<String>) -> Result<Output, Failure> {
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
        for r in &rows {
            let last = r["last_active"]
                .as_str()
                .and_then(|t| t.parse::<Timestamp>().ok())
                .map_or_else(
                    || "Pending".to_owned(),
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

    fn groups(&self, args: Vec<String>) -> Result<Output, Failure> {
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

fn email(text: &str) -> Result<Email, Failure> {
    Email::parse(text).map_err(|e| Failure::refused("invalid_email", e))
}

fn group_name(text: &str) -> Result<GroupName, Failure> {
    GroupName::parse(text).map_err(|e| Failure::refused("invalid_group_name", e))
}

fn actor(args: &mut Vec<String>) -> Result<Email, Failure> {
    email(&required(take_value(args, "--as")?, "--as EMAIL")?)
}

fn required(value: Option<String>, what: &str) -> Result<String, Failure> {
    value.ok_or_else(|| Failure::Usage(format!("{what} is required")))
}

/// Removes `flag` wherever it is; true if it was there.
fn take_flag(args: &mut Vec<String>, flag: &str) -> bool {
    let before = args.len();
    args.retain(|a| a != flag);
    args.len() != before
}

/// Removes `flag VALUE` (the last one wins if repeated).
fn take_value(args: &mut Vec<String>, flag: &str) -> Result<Option<String>, Failure> {
    Ok(take_values(args, flag)?.pop())
}

/// Removes every `flag VALUE`, in order.
fn take_values(args: &mut Vec<String>, flag: &str) -> Result<Vec<String>, Failure> {
    let mut values = Vec::new();
    while let Some(at) = args.iter().position(|a| a == flag) {
        if at + 1 >= args.len() {
            return Err(Failure::Usage(format!("{flag} needs a value")));
        }
        values.push(args.remove(at + 1));
        args.remove(at);
    }
    Ok(values)
}

fn no_flags(args: &[String]) -> Result<(), Failure> {
    match args.iter().find(|a| a.starts_with("--")) {
        Some(flag) => Err(Failure::Usage(format!("unknown option {flag}"))),
        None => Ok(()),
    }
}

fn no_args(args: &[String]) -> Result<(), Failure> {
    match args.first() {
        Some(extra) => Err(Failure::Usage(format!("unexpected argument {extra:?}"))),
        None => Ok(()),
    }
}

fn exactly<const N: usize>(args: Vec<String>, what: &str) -> Result<[String; N], Failure> {
    no_flags(&args)?;
    let given = args.len();
    args.try_into()
        .map_err(|_| Failure::Usage(format!("expected {what}, got {given} arguments")))
}
