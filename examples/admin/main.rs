//! `admin`: a terminal front end over an organization kept in SQLite (or
//! PostgreSQL).
//!
//! ```text
//! cargo run --example admin --features sqlite -- --help
//! cargo run --example admin --features sqlite -- help bulk-invite
//! cargo run --example admin --features sqlite -- [--db PATH|URL] [--pg-schema NAME] [--json] COMMAND ...
//! ```
//!
//! The command line is declared in `cli.rs` with `clap` (derive): every
//! command has its own `--help`, and a usage error prints that one
//! command's usage. People are listed as positional arguments (`EMAIL...`);
//! every other list repeats its option (`--group A --group B`).
//!
//! PATH defaults to `org-accounts.sqlite` in the working directory; the file
//! holds one organization. Only `init` creates the file; every other
//! command refuses a path where there is no file (saying which file it
//! looked for and how to create it), and every command refuses a path that
//! is not a regular file (a device, a FIFO, a socket: SQLite would hang on
//! a FIFO or write `-journal` files beside a device). The query commands
//! (`users`, `groups`, `roles`, `licenses`) open the file read-only, so a
//! database the user may not write can still be read.
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
//! included, and `--help`), 1 when it was refused, 2 for a usage error (an
//! argument that is not UTF-8 text included), and 141 when
//! stdout or stderr was closed before the output was written (as in
//! `admin users | head -1`): that is the status a shell reports for a
//! Unix tool killed by SIGPIPE (128 + 13), so pipelines and `set -o
//! pipefail` scripts treat `admin` as they treat `cat`. The program exits
//! quietly then; whatever the command stored stays stored. With `--json`,
//! stdout holds exactly one JSON document (a usage error is
//! `{"error": "usage", "message": ...}`, `--help` is `{"help": TEXT}`);
//! these names and shapes are a contract scripts rely on. In the
//! `bulk-invite` report, every row is named by its `line` (the line the
//! table shows; this was `row` before).

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod access;
mod args;
mod cli;
mod failed_rows;
mod invitations;
mod members;
mod shown;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use org_accounts::{
    AccountService, Command, Context, Email, Executed, Organization, OrganizationId, ServiceConfig,
    ServiceError, SqliteStore, Store, Timestamp,
};
use serde_json::{Value, json};

use cli::{Cli, Cmd};

/// The organization's id inside the database (one organization per file
/// or schema).
const ORG: &str = "default";

/// The default `--db`.
const DEFAULT_DB: &str = "org-accounts.sqlite";

/// Where the SMTP passwords come from: `{prefix}{ORG}_{REF}`, the id and
/// the reference in upper-case hex (`SmtpMailer::env_var_name`).
#[cfg(feature = "smtp")]
const SMTP_ENV_PREFIX: &str = "ORG_ACCOUNTS_SMTP_";

/// Why the program stops short.
enum Failure {
    /// Help was asked for: printed on stdout, exit 0.
    Help(String),
    /// The command line is wrong: exit 2. `message` says what is wrong
    /// (for `--json`), `text` adds the command's usage (for stderr).
    Usage { message: String, text: String },
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

    /// A usage error found after parsing, shown with the usage of the
    /// command `path` names (`&[]` for the program, `&["bulk-invite"]`).
    fn usage(path: &[&str], message: impl ToString) -> Failure {
        let message = message.to_string();
        let mut command = Cli::command();
        command.build();
        for name in path {
            if let Some(sub) = command.find_subcommand(name).cloned() {
                command = sub;
            }
        }
        let text = command
            .error(ErrorKind::ValueValidation, &message)
            .render()
            .to_string();
        Failure::Usage { message, text }
    }

    /// A `clap` error: help (exit 0) or a usage error (exit 2).
    fn from_clap(e: clap::Error) -> Failure {
        let text = e.render().to_string();
        match e.kind() {
            ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Failure::Help(text),
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => Failure::Usage {
                message: "a command is needed; `admin --help` lists them".into(),
                text,
            },
            _ => {
                // What is wrong, on one line: clap's text before the usage,
                // without its `error: `.
                let what = text.split("\n\nUsage:").next().unwrap_or_default();
                let what = what.strip_prefix("error: ").unwrap_or(what);
                let message = what.split_whitespace().collect::<Vec<_>>().join(" ");
                Failure::Usage { message, text }
            }
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
    let _ = emit(
        &shown::terminal_text(&format!("warning: {message}\n")),
        true,
    );
}

/// The arguments as text. `clap` would refuse an argument that is not
/// UTF-8 too; this names it, and says what the program takes.
fn text_args(raw: Vec<OsString>) -> Result<Vec<String>, Failure> {
    raw.into_iter()
        .map(|arg| {
            arg.into_string().map_err(|bad| {
                Failure::usage(
                    &[],
                    format!(
                        "the argument {:?} is not UTF-8 text; this program takes paths, names and addresses written in UTF-8",
                        bad.to_string_lossy()
                    ),
                )
            })
        })
        .collect()
}

/// `n thing` or `n things`.
pub(crate) fn plural(n: usize, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

fn main() -> ExitCode {
    let raw: Vec<OsString> = std::env::args_os().collect();
    // Known before parsing, so that a usage error is JSON too.
    let json = raw.iter().skip(1).any(|a| a == "--json");
    // Work left after the output: the snapshot a command made due.
    let mut after_output: Option<(tokio::runtime::Runtime, Background)> = None;
    let outcome = text_args(raw)
        .and_then(|args| Cli::try_parse_from(args).map_err(Failure::from_clap))
        .and_then(|cli| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| {
                    Failure::refused("internal_error", format!("cannot start the runtime: {e}"))
                })?;
            let (outcome, background) = runtime.block_on(run(cli));
            after_output = background.map(|b| (runtime, b));
            outcome
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
        Err(Failure::Help(text)) => {
            let stdout = if json {
                format!("{}\n", json!({"help": text}))
            } else {
                text
            };
            (stdout, String::new(), 0)
        }
        Err(Failure::Usage { message, text }) => {
            let stdout = if json {
                format!("{}\n", json!({"error": "usage", "message": message}))
            } else {
                String::new()
            };
            (stdout, text, 2)
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
    // Nothing from outside reaches the terminal raw: JSON gets JSON
    // escapes, text `\u{..}` escapes (see `shown`).
    let stdout = if json {
        shown::json_text(&stdout).into_owned()
    } else {
        shown::terminal_text(&stdout).into_owned()
    };
    let stderr = shown::terminal_text(&stderr).into_owned();
    let printed = print(stdout, stderr);
    // The output is out; the snapshot a command made due is written
    // before the process ends (it makes the next run's load shorter).
    if let Some((runtime, background)) = after_output {
        runtime.block_on(background);
    }
    match printed {
        Some(code) => code,
        None => ExitCode::from(status),
    }
}

/// Work the program finishes after printing its output.
type Background = std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>;

/// Prints `stdout` and `stderr`; `Some` exit code when printing failed.
fn print(stdout: String, stderr: String) -> Option<ExitCode> {
    for (text, to_stderr) in [(stdout, false), (stderr, true)] {
        if text.is_empty() {
            continue;
        }
        match emit(&text, to_stderr) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                return Some(ExitCode::from(EXIT_BROKEN_PIPE));
            }
            Err(e) => {
                // stdout full or failing: say so where possible.
                if !to_stderr {
                    let _ = emit(
                        &shown::terminal_text(&format!("cannot write the output: {e}\n")),
                        true,
                    );
                }
                return Some(ExitCode::from(1));
            }
        }
    }
    None
}

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
    fn from_cli(db: &str, schema: Option<&str>) -> Result<Database, Failure> {
        let lower = db.get(..13).unwrap_or(db).to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(Database::Url {
                url: db.to_owned(),
                schema: schema.map(str::to_owned),
            });
        }
        if schema.is_some() {
            return Err(Failure::usage(
                &[],
                "--pg-schema goes with --db postgres://...; a SQLite file has no schemas",
            ));
        }
        Ok(Database::File(PathBuf::from(db)))
    }
}

/// The command that creates the organization, for messages: `admin
/// [--db ...] init NAME --admin EMAIL`.
fn init_hint(db: &str) -> String {
    if db == DEFAULT_DB {
        "`admin init NAME --admin EMAIL`".to_owned()
    } else {
        format!("`admin --db {db} init NAME --admin EMAIL`")
    }
}

/// The one wording for "no organization yet": where the program looked
/// and how to create it.
fn no_organization_yet(looked_in: &str, init: &str) -> String {
    format!("no organization yet: {looked_in}; create it with {init}")
}

/// The path as the program sees it (absolute), for messages.
fn shown_path(db: &Path) -> String {
    std::path::absolute(db)
        .unwrap_or_else(|_| db.to_path_buf())
        .display()
        .to_string()
}

/// Checks `--db PATH` before SQLite sees it: not empty, not `:memory:`,
/// a regular file (or, for `init`, nothing yet). Opening a FIFO would
/// hang, and SQLite writes a `-journal` file beside whatever it opens, so
/// a device (`/dev/null`) would leave `/dev/null-journal` behind.
fn check_db_path(db: &Path, init: bool) -> Result<(), Failure> {
    let shown = db.display();
    if db.as_os_str().is_empty() {
        return Err(Failure::usage(
            &[],
            "--db needs the path of a database file; an empty path names no file",
        ));
    }
    if db.as_os_str() == ":memory:" {
        return Err(Failure::usage(
            &[],
            "--db :memory: is not a file: SQLite would keep a private in-memory database that no later command can see; give the path of a database file (./:memory: for a file of that name)",
        ));
    }
    match std::fs::metadata(db) {
        Ok(meta) if meta.is_dir() => Err(Failure::usage(
            &[],
            format!("--db {shown} is a directory; give the path of a database file"),
        )),
        Ok(meta) if !meta.is_file() => Err(Failure::usage(
            &[],
            format!(
                "--db {shown} is not a regular file (a device, FIFO or socket); give the path of a database file"
            ),
        )),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && init => {
            // A dangling symbolic link would make SQLite create its target
            // somewhere unexpected: refuse it like any odd path.
            if std::fs::symlink_metadata(db).is_ok() {
                return Err(Failure::usage(
                    &[],
                    format!(
                        "--db {shown} is a symbolic link to nothing; give the path of a database file"
                    ),
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure::refused(
            "not_created",
            no_organization_yet(
                &format!("there is no database file at {}", shown_path(db)),
                &init_hint(&db.display().to_string()),
            ),
        )),
        Err(e) => Err(Failure::refused(
            "store_error",
            format!("cannot open the database file {}: {e}", shown_path(db)),
        )),
    }
}

/// Checks `--db PATH` and opens the store: `init` creates the file, the
/// queries open it read-only, every other command opens an existing file.
fn open_sqlite(db: &Path, init: bool, read_only: bool) -> Result<SqliteStore, Failure> {
    check_db_path(db, init)?;
    // An empty file (made by `touch`, say) holds no organization yet; opened
    // read-only it has no tables either: say so as for a missing file.
    if read_only && std::fs::metadata(db).is_ok_and(|m| m.len() == 0) {
        return Err(Failure::refused(
            "not_created",
            no_organization_yet(
                &format!("the database file {} is empty", shown_path(db)),
                &init_hint(&db.display().to_string()),
            ),
        ));
    }
    // Opening is quick, blocking work done once before any command runs;
    // the store itself runs its queries on the blocking pool.
    let store = if read_only {
        SqliteStore::open_read_only(db)
    } else {
        SqliteStore::open(db)
    };
    store.map_err(|e| Failure::refused("store_error", format!("{}: {e}", shown_path(db))))
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

/// Runs the command; returns its outcome, and the snapshot write it left
/// for after the output is printed.
async fn run(cli: Cli) -> (Result<Output, Failure>, Option<Background>) {
    match open_and_run(cli).await {
        Ok((outcome, background)) => (outcome, Some(background)),
        Err(failure) => (Err(failure), None),
    }
}

async fn open_and_run(cli: Cli) -> Result<(Result<Output, Failure>, Background), Failure> {
    let db = Database::from_cli(&cli.db, cli.pg_schema.as_deref())?;
    let org = OrganizationId::new(ORG).map_err(|e| Failure::refused("store_error", e))?;
    let init = matches!(cli.command, Cmd::Init { .. });
    let read_only = matches!(
        cli.command,
        Cmd::Users | Cmd::Groups | Cmd::Roles { .. } | Cmd::Licenses
    );
    match db {
        Database::File(path) => {
            let store = open_sqlite(&path, init, read_only)?;
            let not_created = no_organization_yet(
                &format!("the database file {} holds none", shown_path(&path)),
                &init_hint(&cli.db),
            );
            Ok(App::new(store, org, Some(path), not_created)
                .run(cli.command)
                .await)
        }
        #[cfg(feature = "postgres")]
        Database::Url { url, schema } => {
            let store = open_postgres(&url, schema.as_deref()).await?;
            let schema_shown = schema
                .as_deref()
                .unwrap_or(org_accounts::postgres::DEFAULT_SCHEMA);
            let not_created = no_organization_yet(
                &format!("the PostgreSQL schema {schema_shown} holds none"),
                &format!(
                    "`admin --db postgres://... --pg-schema {schema_shown} init NAME --admin EMAIL`"
                ),
            );
            Ok(App::new(store, org, None, not_created)
                .run(cli.command)
                .await)
        }
        #[cfg(not(feature = "postgres"))]
        Database::Url { .. } => Err(Failure::usage(
            &[],
            "--db names a PostgreSQL URL, but this build has no PostgreSQL support; build the example with --features sqlite,postgres",
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
    /// What to say when there is no organization yet.
    not_created: String,
}

/// The mail policy of this host (the operator running `admin`, not an
/// organization's administrator): public mail hosts only, plus the
/// addresses listed in `ORG_ACCOUNTS_ALLOW_MAIL_HOSTS` (comma-separated IP
/// addresses, for example a relay on `127.0.0.1`).
#[cfg(feature = "smtp")]
fn host_mail_policy() -> org_accounts::DefaultMailPolicy {
    std::env::var(ALLOW_MAIL_HOSTS_ENV)
        .unwrap_or_default()
        .split(',')
        .filter_map(|a| a.trim().parse::<std::net::IpAddr>().ok())
        .fold(org_accounts::DefaultMailPolicy::new(), |policy, address| {
            policy.allowing(address)
        })
}

/// The variable naming the mail hosts this host allows beyond public ones.
#[cfg(feature = "smtp")]
const ALLOW_MAIL_HOSTS_ENV: &str = "ORG_ACCOUNTS_ALLOW_MAIL_HOSTS";

impl<S: Store + 'static> App<S> {
    fn new(store: S, org: OrganizationId, db: Option<PathBuf>, not_created: String) -> App<S> {
        // Several `admin` processes may share the database: retry
        // generously. A due snapshot is written by `run` once the output
        // is out, from the state in memory (a process about to exit copies
        // it at no one's expense; a background write would load the
        // organization from the database again).
        let service = AccountService::with_config(
            store,
            ServiceConfig::default()
                .with_max_attempts(100)
                .with_background_snapshots(false),
        );
        // The mailer is also the mail policy: settings naming an internal
        // host, or a credential this host does not hold for the
        // organization, are refused when saved, and checked again at
        // delivery.
        #[cfg(feature = "smtp")]
        let service = {
            let mailer =
                org_accounts::SmtpMailer::from_env(SMTP_ENV_PREFIX).with_policy(host_mail_policy());
            service.with_mail_policy(mailer.clone()).with_mailer(mailer)
        };
        App {
            service,
            org,
            db,
            not_created,
        }
    }

    /// Runs `command`; returns its outcome and, to run after the output,
    /// the snapshot write it made due (see `ServiceConfig::with_snapshot_every`).
    async fn run(self, command: Cmd) -> (Result<Output, Failure>, Background) {
        let outcome = self.dispatch(command).await;
        let background = Box::pin(async move {
            // Best effort: a missing snapshot only makes the next run read
            // more events.
            let _ = self.service.write_due_snapshot(&self.org).await;
        });
        (outcome, background)
    }

    async fn dispatch(&self, command: Cmd) -> Result<Output, Failure> {
        use cli::{GroupCmd, LicenseCmd, MailCmd, RoleCmd, ServiceCmd};
        match command {
            Cmd::Init { name, admin } => self.init(name, &admin).await,
            Cmd::Invite {
                actor,
                groups,
                emails,
            } => self.invite(&actor.actor, &groups, &emails).await,
            Cmd::BulkInvite {
                actor,
                file,
                dry_run,
                failed_rows,
            } => {
                self.bulk_invite(&actor.actor, &file, dry_run, failed_rows.as_deref())
                    .await
            }
            Cmd::Accept { email } => self.accept(&email).await,
            Cmd::SignIn { email } => self.sign_in(&email).await,
            Cmd::Remove { actor, emails } => self.remove(&actor.actor, &emails).await,
            Cmd::Group(GroupCmd::Create {
                actor,
                name,
                members,
            }) => self.group_create(&actor.actor, &name, &members).await,
            Cmd::Group(GroupCmd::Add {
                actor,
                group,
                emails,
            }) => {
                self.group_members(&actor.actor, &group, &emails, true)
                    .await
            }
            Cmd::Group(GroupCmd::Remove {
                actor,
                group,
                emails,
            }) => {
                self.group_members(&actor.actor, &group, &emails, false)
                    .await
            }
            Cmd::Group(GroupCmd::Rename {
                actor,
                group,
                new_name,
            }) => self.group_rename(&actor.actor, &group, &new_name).await,
            Cmd::Group(GroupCmd::Delete { actor, group }) => {
                self.group_delete(&actor.actor, &group).await
            }
            Cmd::Users => self.users().await,
            Cmd::Groups => self.groups().await,
            Cmd::Service(ServiceCmd::Add {
                actor,
                name,
                roles,
                admin_role,
                defaults,
            }) => {
                self.service_add(&actor.actor, &name, &roles, &admin_role, &defaults)
                    .await
            }
            Cmd::Role(RoleCmd::Assign(args)) => self.role_change(args, true).await,
            Cmd::Role(RoleCmd::Revoke(args)) => self.role_change(args, false).await,
            Cmd::Roles { service, email } => self.roles(&service, &email).await,
            Cmd::License(LicenseCmd::Pool { actor, kind, seats }) => {
                self.license_pool(&actor.actor, &kind, seats).await
            }
            Cmd::License(LicenseCmd::Allocate { actor, kind, email }) => {
                self.license_allocation(&actor.actor, &kind, &email, true)
                    .await
            }
            Cmd::License(LicenseCmd::Deallocate { actor, kind, email }) => {
                self.license_allocation(&actor.actor, &kind, &email, false)
                    .await
            }
            Cmd::License(LicenseCmd::Release { actor, kind, email }) => {
                self.license_release(&actor.actor, &kind, &email).await
            }
            Cmd::License(LicenseCmd::UseGroups { actor, email }) => {
                self.license_use_groups(&actor.actor, &email).await
            }
            Cmd::License(LicenseCmd::Rule {
                actor,
                group,
                kind,
                quota,
            }) => self.license_rule(&actor.actor, &group, &kind, quota).await,
            Cmd::Licenses => self.licenses().await,
            Cmd::Mail(MailCmd::Set {
                actor,
                host,
                port,
                domain,
                sender,
                sender_name,
                no_tls,
                user,
                credential,
                timeout,
            }) => {
                let auth = user.zip(credential);
                self.mail_set(
                    &actor.actor,
                    invitations::MailArgs {
                        host,
                        port,
                        domain,
                        sender,
                        sender_name,
                        no_tls,
                        auth,
                        timeout,
                    },
                )
                .await
            }
            Cmd::Mail(MailCmd::Clear { actor }) => self.mail_clear(&actor.actor).await,
            Cmd::Expiry { actor, hours } => self.expiry(&actor.actor, hours.0).await,
            Cmd::Resend { actor, email } => self.resend(&actor.actor, &email).await,
            Cmd::Revoke { actor, email } => self.revoke(&actor.actor, &email).await,
            Cmd::Deliver { limit } => self.deliver(limit).await,
        }
    }

    async fn execute(&self, command: &Command, actor: &Email) -> Result<Executed, Failure> {
        let ctx = Context::new(actor.clone(), Timestamp::now());
        let executed = self.service.execute(&self.org, command, &ctx).await;
        self.refused(executed).await
    }

    /// A refusal, with the one wording for "no organization yet".
    ///
    /// The library answers a command on an organization that does not
    /// exist as an existing one answers an outsider (`forbidden`,
    /// `not_invited`, `not_a_member`), so that a refusal never tells
    /// whether an organization exists. This program is run by the
    /// operator, who holds the database: after such a refusal it asks
    /// the organization itself whether it exists, and says "no
    /// organization yet" when it does not.
    async fn refused<T>(&self, result: Result<T, ServiceError>) -> Result<T, Failure> {
        let e = match result {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        let outsider = matches!(
            e.code(),
            "not_created" | "forbidden" | "not_invited" | "not_a_member"
        );
        if outsider
            && self
                .service
                .read(&self.org, |org| !org.exists())
                .await
                .unwrap_or(false)
        {
            return Err(self.refusal_not_created());
        }
        Err(self.refusal(e))
    }

    /// A refusal as it is; "no organization yet" for `not_created`.
    fn refusal(&self, e: ServiceError) -> Failure {
        if e.code() == "not_created" {
            self.refusal_not_created()
        } else {
            Failure::from(e)
        }
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
                    return Err(self.refusal_not_created());
                }
                query(org)
            })
            .await
            .map_err(|e| self.refusal(e))?
    }

    fn refusal_not_created(&self) -> Failure {
        Failure::refused("not_created", &self.not_created)
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
