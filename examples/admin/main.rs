//! `admin`: a terminal front end over an organization kept in SQLite (or
//! PostgreSQL).
//!
//! ```text
//! cargo run --example admin --features sqlite -- [--db PATH|URL] [--pg-schema NAME] COMMAND [--json]
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
//!   deliver [--limit N]
//! ```
//!
//! PATH defaults to `org-accounts.sqlite` in the working directory; the file
//! holds one organization. Only `init` creates the file; every other
//! command refuses a path where there is no file, and every command
//! refuses a path that is not a regular file (a device, a FIFO, a socket:
//! SQLite would hang on a FIFO or write `-journal` files beside a device).
//! The query commands (`users`, `groups`, `roles`, `licenses`) open the
//! file read-only, so a database the user may not write can still be read.
//!
//! `--db postgres://...` (or `postgresql://...`) keeps the organization in
//! PostgreSQL instead, in the schema `org_accounts` or the one `--pg-schema
//! NAME` names (created on first use; lower-case letters, digits and `_`).
//! That needs the example built with `--features sqlite,postgres`; a build
//! without it refuses a URL with a usage error.
//!
//! The example runs the library's async service on a small single-threaded
//! tokio runtime. Commands store their events and return; invitation
//! emails they queue are sent by `admin deliver` (the background work a
//! host would run), with the example built with `--features sqlite,smtp`.
//! The SMTP password is read from the environment variable
//! `ORG_ACCOUNTS_SMTP_64656661756C74_{REF}`, where `64656661756C74` is the
//! organization id `default` and REF the mail settings' credential
//! reference, each in upper-case hex (`SmtpMailer::env_var_name`;
//! `--credential smtp` reads `ORG_ACCOUNTS_SMTP_64656661756C74_736D7470`).
//!
//! Exit status: 0 when the command ran (a bulk invite with failed rows
//! included), 1 when it was refused, 2 for a usage error (an argument
//! that is not UTF-8 text included), and 141 when
//! stdout or stderr was closed before the output was written (as in
//! `admin users | head -1`): that is the status a shell reports for a
//! Unix tool killed by SIGPIPE (128 + 13), so pipelines and `set -o
//! pipefail` scripts treat `admin` as they treat `cat`. The program exits
//! quietly then; whatever the command stored stays stored. With `--json`,
//! stdout holds exactly one JSON document; these names and shapes are a
//! contract scripts rely on.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod access;
mod args;
mod invitations;
mod members;

use org_accounts::{
    AccountService, Command, Context, Email, Executed, Organization, OrganizationId, ServiceConfig,
    ServiceError, SqliteStore, Store, Timestamp,
};
use serde_json::{Value, json};

use args::take_value;

const USAGE: &str = "usage: admin [--db PATH|URL] [--pg-schema NAME] COMMAND [--json]

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
  deliver [--limit N]

--db PATH is a regular file (default org-accounts.sqlite; only init creates
it). --db postgres://USER@HOST/DB (or postgresql://) keeps the organization
in PostgreSQL, in the schema org_accounts or the one --pg-schema NAME names;
that needs the example built with --features sqlite,postgres.

--failed-rows OUT_CSV must be a regular file, or a new one, or a symbolic
link to a regular file (the file it points to is replaced); devices, FIFOs
and sockets are refused. The rows are written to a temporary file
.failed-rows-XXXXXX.tmp in OUT_CSV's folder and renamed over OUT_CSV once
the upload is decided; if the program is killed in between, that temporary
file stays behind: delete it.

Commands store their changes and return; invitation emails they queue are
sent by `admin deliver` (up to --limit N, default 100), only when the
organization has mail settings and the example is built with
`--features sqlite,smtp` (the SMTP password is read from the environment
variable ORG_ACCOUNTS_SMTP_64656661756C74_REF, REF being the credential
reference in upper-case hex: --credential smtp reads
ORG_ACCOUNTS_SMTP_64656661756C74_736D7470).";

/// The organization's id inside the database (one organization per file
/// or schema).
const ORG: &str = "default";

/// Where the SMTP passwords come from: `{prefix}{ORG}__{REF}`.
#[cfg(feature = "smtp")]
const SMTP_ENV_PREFIX: &str = "ORG_ACCOUNTS_SMTP_";

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

/// The arguments as text. `std::env::args` panics on an argument that is
/// not UTF-8; this reads them with `args_os` and refuses such an argument
/// as a usage error.
fn text_args(raw: Vec<OsString>) -> Result<Vec<String>, Failure> {
    raw.into_iter()
        .map(|arg| {
            arg.into_string().map_err(|bad| {
                Failure::Usage(format!(
                    "the argument {:?} is not UTF-8 text; this program takes paths, names and addresses written in UTF-8",
                    bad.to_string_lossy()
                ))
            })
        })
        .collect()
}

fn main() -> ExitCode {
    let mut raw: Vec<OsString> = std::env::args_os().skip(1).collect();
    let before = raw.len();
    raw.retain(|a| a != "--json");
    let json = raw.len() != before;
    let outcome = text_args(raw).and_then(|args| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                Failure::refused("internal_error", format!("cannot start the runtime: {e}"))
            })?;
        runtime.block_on(run(args))
    });
    // (text for stdout, text for stderr, exit status)
    let (stdout, stderr, status) = match outcome {
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

/// What `--db` names.
enum Database {
    /// A SQLite file.
    File(PathBuf),
    /// A PostgreSQL URL, and the schema `--pg-schema` named (only read
    /// when the example is built with PostgreSQL support).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Url { url: String, schema: Option<String> },
}

impl Database {
    /// Reads `--db` and `--pg-schema`.
    fn from_args(args: &mut Vec<String>) -> Result<Database, Failure> {
        let db = take_value(args, "--db")?.unwrap_or_else(|| "org-accounts.sqlite".to_owned());
        let schema = take_value(args, "--pg-schema")?;
        let lower = db.get(..13).unwrap_or(&db).to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(Database::Url { url: db, schema });
        }
        if schema.is_some() {
            return Err(Failure::Usage(
                "--pg-schema goes with --db postgres://...; a SQLite file has no schemas".into(),
            ));
        }
        Ok(Database::File(PathBuf::from(db)))
    }
}

/// Checks `--db PATH` before SQLite sees it: not empty, not `:memory:`,
/// a regular file (or, for `init`, nothing yet). Opening a FIFO would
/// hang, and SQLite writes a `-journal` file beside whatever it opens, so
/// a device (`/dev/null`) would leave `/dev/null-journal` behind.
fn check_db_path(db: &Path, command: &str) -> Result<(), Failure> {
    let shown = db.display();
    if db.as_os_str().is_empty() {
        return Err(Failure::Usage(
            "--db needs the path of a database file; an empty path names no file".into(),
        ));
    }
    if db.as_os_str() == ":memory:" {
        return Err(Failure::Usage(
            "--db :memory: is not a file: SQLite would keep a private in-memory database that no later command can see; give the path of a database file (./:memory: for a file of that name)".into(),
        ));
    }
    match std::fs::metadata(db) {
        Ok(meta) if meta.is_dir() => Err(Failure::Usage(format!(
            "--db {shown} is a directory; give the path of a database file"
        ))),
        Ok(meta) if !meta.is_file() => Err(Failure::Usage(format!(
            "--db {shown} is not a regular file (a device, FIFO or socket); give the path of a database file"
        ))),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && command == "init" => {
            // A dangling symbolic link would make SQLite create its target
            // somewhere unexpected: refuse it like any odd path.
            if std::fs::symlink_metadata(db).is_ok() {
                return Err(Failure::Usage(format!(
                    "--db {shown} is a symbolic link to nothing; give the path of a database file"
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure::refused(
            "not_created",
            format!(
                "there is no database file at {shown}; create it with `admin --db {shown} init NAME --admin EMAIL`"
            ),
        )),
        Err(e) => Err(Failure::refused(
            "store_error",
            format!("cannot open the database file {shown}: {e}"),
        )),
    }
}

/// Checks `--db PATH` and opens the store: `init` creates the file, the
/// queries open it read-only, every other command opens an existing file.
fn open_sqlite(db: &Path, command: &str) -> Result<SqliteStore, Failure> {
    check_db_path(db, command)?;
    // Opening is quick, blocking work done once before any command runs;
    // the store itself runs its queries on the blocking pool.
    let store = if QUERIES.contains(&command) {
        SqliteStore::open_read_only(db)
    } else {
        SqliteStore::open(db)
    };
    store.map_err(|e| Failure::refused("store_error", format!("{}: {e}", db.display())))
}

/// Connects to PostgreSQL. The URL is never printed: it may hold a
/// password.
#[cfg(feature = "postgres")]
async fn open_postgres(
    url: &str,
    schema: Option<&str>,
) -> Result<org_accounts::PostgresStore, Failure> {
    let store = match schema {
        Some(schema) => org_accounts::PostgresStore::connect_with_schema(url, schema).await,
        None => org_accounts::PostgresStore::connect(url).await,
    };
    store.map_err(|e| Failure::refused("store_error", format!("the PostgreSQL database: {e}")))
}

async fn run(mut args: Vec<String>) -> Result<Output, Failure> {
    let db = Database::from_args(&mut args)?;
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
    let org = OrganizationId::new(ORG).map_err(|e| Failure::refused("store_error", e))?;
    match db {
        Database::File(path) => {
            let store = open_sqlite(&path, &command)?;
            App::new(store, org, Some(path))
                .dispatch(&command, args)
                .await
        }
        #[cfg(feature = "postgres")]
        Database::Url { url, schema } => {
            let store = open_postgres(&url, schema.as_deref()).await?;
            App::new(store, org, None).dispatch(&command, args).await
        }
        #[cfg(not(feature = "postgres"))]
        Database::Url { .. } => Err(Failure::Usage(
            "--db names a PostgreSQL URL, but this build has no PostgreSQL support; build the example with --features sqlite,postgres".into(),
        )),
    }
}

/// The organization and the service over its store (SQLite or
/// PostgreSQL).
struct App<S> {
    service: AccountService<S>,
    org: OrganizationId,
    /// The database file, which no output may overwrite (`None` for
    /// PostgreSQL).
    db: Option<PathBuf>,
}

impl<S: Store> App<S> {
    fn new(store: S, org: OrganizationId, db: Option<PathBuf>) -> App<S> {
        // Several `admin` processes may share the database: retry
        // generously.
        let service =
            AccountService::with_config(store, ServiceConfig::default().with_max_attempts(100));
        #[cfg(feature = "smtp")]
        let service = service.with_mailer(org_accounts::SmtpMailer::from_env(SMTP_ENV_PREFIX));
        App { service, org, db }
    }

    async fn dispatch(&self, command: &str, args: Vec<String>) -> Result<Output, Failure> {
        let sub = args.first().cloned().unwrap_or_default();
        let rest = |mut args: Vec<String>| args.split_off(1.min(args.len()));
        match (command, sub.as_str()) {
            ("init", _) => self.init(args).await,
            ("invite", _) => self.invite(args).await,
            ("bulk-invite", _) => self.bulk_invite(args).await,
            ("accept", _) => self.accept(args).await,
            ("sign-in", _) => self.sign_in(args).await,
            ("remove", _) => self.remove(args).await,
            ("group", "create") => self.group_create(rest(args)).await,
            ("group", _) => Err(Failure::Usage("expected `group create`".into())),
            ("users", _) => self.users(args).await,
            ("groups", _) => self.groups(args).await,
            ("service", "add") => self.service_add(rest(args)).await,
            ("service", _) => Err(Failure::Usage("expected `service add`".into())),
            ("role", "assign") => self.role_change(rest(args), true).await,
            ("role", "revoke") => self.role_change(rest(args), false).await,
            ("role", _) => Err(Failure::Usage(
                "expected `role assign` or `role revoke`".into(),
            )),
            ("roles", _) => self.roles(args).await,
            ("license", "pool") => self.license_pool(rest(args)).await,
            ("license", "allocate") => self.license_allocation(rest(args), true).await,
            ("license", "deallocate") => self.license_allocation(rest(args), false).await,
            ("license", "rule") => self.license_rule(rest(args)).await,
            ("license", _) => Err(Failure::Usage(
                "expected `license pool`, `license allocate`, `license deallocate` or `license rule`".into(),
            )),
            ("licenses", _) => self.licenses(args).await,
            ("mail", "set") => self.mail_set(rest(args)).await,
            ("mail", "clear") => self.mail_clear(rest(args)).await,
            ("mail", _) => Err(Failure::Usage("expected `mail set` or `mail clear`".into())),
            ("expiry", _) => self.expiry(args).await,
            ("resend", _) => self.resend(args).await,
            ("revoke", _) => self.revoke(args).await,
            ("deliver", _) => self.deliver(args).await,
            (other, _) => Err(Failure::Usage(format!("unknown command {other:?}"))),
        }
    }

    async fn execute(&self, command: &Command, actor: &Email) -> Result<Executed, Failure> {
        let ctx = Context::new(actor.clone(), Timestamp::now());
        Ok(self.service.execute(&self.org, command, &ctx).await?)
    }

    /// Runs `query` on the organization's latest state, without copying
    /// it; refused when no organization was created yet.
    async fn query<R>(
        &self,
        query: impl FnOnce(&Organization) -> Result<R, Failure>,
    ) -> Result<R, Failure> {
        self.service
            .read(&self.org, |org| {
                if !org.exists() {
                    return Err(Failure::refused(
                        "not_created",
                        "no organization in this database yet; run `admin init NAME --admin EMAIL` first",
                    ));
                }
                query(org)
            })
            .await?
    }
}

/// A line saying how many invitation emails a command queued, and how to
/// send them; empty when it queued none.
pub(crate) fn queued_line(queued: usize) -> String {
    match queued {
        0 => String::new(),
        1 => "1 invitation email queued; `admin deliver` sends it\n".to_owned(),
        n => format!("{n} invitation emails queued; `admin deliver` sends them\n"),
    }
}
