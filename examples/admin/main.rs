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
//!   service add --as EMAIL NAME --role ROLE... --admin-role ROLE [--default GROUP=ROLE]...
//!   role assign|revoke --as EMAIL SERVICE ROLE (--group NAME | --user EMAIL)
//!   roles SERVICE EMAIL
//!   license pool --as EMAIL KIND SEATS
//!   license allocate|deallocate --as EMAIL KIND EMAIL
//!   license rule --as EMAIL GROUP KIND [--quota N]
//!   licenses
//!   mail set --as EMAIL --host HOST --port PORT --sender EMAIL --sender-name NAME
//!            [--no-tls] [--user NAME --credential REF] [--timeout SECONDS]
//!   mail clear --as EMAIL
//!   expiry --as EMAIL (HOURS | none)
//!   resend --as EMAIL EMAIL
//!   revoke --as EMAIL EMAIL
//!   deliver
//! ```
//!
//! PATH defaults to `org-accounts.sqlite` in the working directory; the file
//! holds one organization. Only `init` creates the file; every other
//! command refuses a path where there is no file. The query commands
//! (`users`, `groups`, `roles`, `licenses`) open the file read-only, so a
//! database the user may not write can still be read.
//!
//! Exit status: 0 when the command ran (a bulk invite with failed rows
//! included), 1 when it was refused, 2 for a usage error, and 141 when
//! stdout or stderr was closed before the output was written (as in
//! `admin users | head -1`): that is the status a shell reports for a
//! Unix tool killed by SIGPIPE (128 + 13), so pipelines and `set -o
//! pipefail` scripts treat `admin` as they treat `cat`. The program exits
//! quietly then; whatever the command stored stays stored. With `--json`,
//! stdout holds exactly one JSON document; these names and shapes are a
//! contract scripts rely on.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod access;
mod args;
mod invitations;
mod members;

use org_accounts::{
    AccountService, Command, Context, Email, Executed, Organization, OrganizationId, ServiceConfig,
    ServiceError, SqliteStore, Timestamp,
};
use serde_json::{Value, json};

use args::{take_flag, take_value};

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
  groups
  service add --as EMAIL NAME --role ROLE... --admin-role ROLE [--default GROUP=ROLE]...
  role assign|revoke --as EMAIL SERVICE ROLE (--group NAME | --user EMAIL)
  roles SERVICE EMAIL
  license pool --as EMAIL KIND SEATS
  license allocate|deallocate --as EMAIL KIND EMAIL
  license rule --as EMAIL GROUP KIND [--quota N]
  licenses
  mail set --as EMAIL --host HOST --port PORT --sender EMAIL --sender-name NAME
           [--no-tls] [--user NAME --credential REF] [--timeout SECONDS]
  mail clear --as EMAIL
  expiry --as EMAIL (HOURS | none)
  resend --as EMAIL EMAIL
  revoke --as EMAIL EMAIL
  deliver

Invitation emails are sent only when the organization has mail settings and
the example is built with `--features sqlite,smtp` (the SMTP password is read
from the environment variable the credential reference names).";

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

/// The exit status when stdout or stderr is closed early: what a shell
/// reports for a tool killed by SIGPIPE (128 + 13).
const EXIT_BROKEN_PIPE: u8 = 141;

/// Writes `text` to stdout (`to_stderr` false) or stderr, through the
/// locked handle, flushed. `println!` would panic on a closed pipe.
fn emit(text: &str, to_stderr: bool) -> std::io::Result<()> {
    if to_stderr {
        let mut err = std::io::stderr().lock();
        err.write_all(text.as_bytes())?;
        err.flush()
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())?;
        out.flush()
    }
}

/// A warning on stderr while the command goes on; a closed stderr loses
/// it quietly (the outcome is still in the exit status and stdout).
pub(crate) fn warn(message: &str) {
    let _ = emit(&format!("warning: {message}\n"), true);
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let json = take_flag(&mut args, "--json");
    // (text for stdout, text for stderr, exit status)
    let (stdout, stderr, status) = match run(args) {
        Ok(out) => {
            let stdout = if json {
                format!("{}\n", out.json)
            } else {
                out.text
            };
            (stdout, String::new(), 0)
        }
        Err(Failure::Usage(message)) => {
            let stdout = if json {
                format!("{}\n", json!({"error": "usage", "message": message}))
            } else {
                String::new()
            };
            (stdout, format!("{message}\n\n{USAGE}\n"), 2)
        }
        Err(Failure::Refused { code, message }) => {
            if json {
                let doc = json!({"error": code, "message": message});
                (format!("{doc}\n"), String::new(), 1)
            } else {
                (String::new(), format!("refused: {message}\n"), 1)
            }
        }
    };
    for (text, to_stderr) in [(stdout, false), (stderr, true)] {
        if text.is_empty() {
            continue;
        }
        match emit(&text, to_stderr) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                return ExitCode::from(EXIT_BROKEN_PIPE);
            }
            Err(e) => {
                // stdout full or failing: say so where possible.
                if !to_stderr {
                    let _ = emit(&format!("cannot write the output: {e}\n"), true);
                }
                return ExitCode::from(1);
            }
        }
    }
    ExitCode::from(status)
}

/// Commands that only read the organization: they open the file
/// read-only.
const QUERIES: [&str; 4] = ["users", "groups", "roles", "licenses"];

/// Checks `--db PATH` and opens the store: `init` creates the file, the
/// queries open it read-only, every other command opens an existing file.
fn open_store(db: &Path, command: &str) -> Result<SqliteStore, Failure> {
    if db.as_os_str().is_empty() {
        return Err(Failure::Usage(
            "--db needs the path of a database file; an empty path names no file".into(),
        ));
    }
    if db.is_dir() {
        return Err(Failure::Usage(format!(
            "--db {} is a directory; give the path of a database file",
            db.display()
        )));
    }
    if command != "init" {
        match std::fs::metadata(db) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Failure::refused(
                    "not_created",
                    format!(
                        "there is no database file at {}; create it with `admin --db {} init NAME --admin EMAIL`",
                        db.display(),
                        db.display()
                    ),
                ));
            }
            Err(e) => {
                return Err(Failure::refused(
                    "store_error",
                    format!("cannot open the database file {}: {e}", db.display()),
                ));
            }
        }
    }
    let store = if QUERIES.contains(&command) {
        SqliteStore::open_read_only(db)
    } else {
        SqliteStore::open(db)
    };
    store.map_err(|e| Failure::refused("store_error", format!("{}: {e}", db.display())))
}

fn run(mut args: Vec<String>) -> Result<Output, Failure> {
    let db = PathBuf::from(
        take_value(&mut args, "--db")?.unwrap_or_else(|| "org-accounts.sqlite".to_owned()),
    );
    if args.is_empty() {
        return Err(Failure::Usage("no command given".into()));
    }
    let command = args.remove(0);
    const COMMANDS: [&str; 19] = [
        "init",
        "invite",
        "bulk-invite",
        "accept",
        "sign-in",
        "remove",
        "group",
        "users",
        "groups",
        "service",
        "role",
        "roles",
        "license",
        "licenses",
        "mail",
        "expiry",
        "resend",
        "revoke",
        "deliver",
    ];
    if !COMMANDS.contains(&command.as_str()) {
        return Err(Failure::Usage(format!("unknown command {command:?}")));
    }
    let store = open_store(&db, &command)?;
    // Several `admin` processes may share the file: retry generously.
    let service =
        AccountService::with_config(store, ServiceConfig::default().with_max_attempts(100));
    #[cfg(feature = "smtp")]
    let service = service.with_mailer(org_accounts::SmtpMailer::from_env());
    let org = OrganizationId::new(ORG).map_err(|e| Failure::refused("store_error", e))?;
    let app = App { service, org, db };
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
        "service" => match args.first().map(String::as_str) {
            Some("add") => app.service_add(args.split_off(1)),
            _ => Err(Failure::Usage("expected `service add`".into())),
        },
        "role" => match args.first().map(String::as_str) {
            Some("assign") => app.role_change(args.split_off(1), true),
            Some("revoke") => app.role_change(args.split_off(1), false),
            _ => Err(Failure::Usage("expected `role assign` or `role revoke`".into())),
        },
        "roles" => app.roles(args),
        "license" => match args.first().map(String::as_str) {
            Some("pool") => app.license_pool(args.split_off(1)),
            Some("allocate") => app.license_allocation(args.split_off(1), true),
            Some("deallocate") => app.license_allocation(args.split_off(1), false),
            Some("rule") => app.license_rule(args.split_off(1)),
            _ => Err(Failure::Usage(
                "expected `license pool`, `license allocate`, `license deallocate` or `license rule`".into(),
            )),
        },
        "licenses" => app.licenses(args),
        "mail" => match args.first().map(String::as_str) {
            Some("set") => app.mail_set(args.split_off(1)),
            Some("clear") => app.mail_clear(args.split_off(1)),
            _ => Err(Failure::Usage("expected `mail set` or `mail clear`".into())),
        },
        "expiry" => app.expiry(args),
        "resend" => app.resend(args),
        "revoke" => app.revoke(args),
        "deliver" => app.deliver(args),
        other => Err(Failure::Usage(format!("unknown command {other:?}"))),
    }
}

struct App {
    service: AccountService<SqliteStore>,
    org: OrganizationId,
    /// The database file, which no output may overwrite.
    db: PathBuf,
}

impl App {
    fn execute(&self, command: &Command, actor: &Email) -> Result<Executed, Failure> {
        let ctx = Context::new(actor.clone(), Timestamp::now());
        Ok(self.service.execute(&self.org, command, &ctx)?)
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
}
