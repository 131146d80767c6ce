//! The command line, declared with `clap` (derive): `admin --help`,
//! `admin help COMMAND` and `admin COMMAND --help` print it.
//!
//! Repetition follows one rule: a list of people is written as positional
//! arguments (`EMAIL...`, separated by spaces), every other list repeats
//! its option (`--group A --group B`, `--role A --role B`); each option's
//! help says which.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The text after `admin --help`'s option list.
const AFTER_HELP: &str = "\
--db PATH is a SQLite file; only `init` creates it. --db postgres://USER@HOST/DB
(or postgresql://) keeps the organization in PostgreSQL instead, in the schema
org_accounts or the one --pg-schema NAME names; that needs the example built
with --features sqlite,postgres.

Commands store their changes and return; invitation emails they queue are sent
by `admin deliver`, only when the organization has mail settings (`admin mail
set`) and the example is built with --features sqlite,smtp.

Exit status: 0 when the command ran, 1 when it was refused (with --json:
{\"error\": CODE, \"message\": ...}), 2 for a usage error (with --json:
{\"error\": \"usage\", \"message\": ...}), 141 when the output pipe was closed.

`admin help COMMAND` or `admin COMMAND --help` shows one command.";

const BULK_AFTER_HELP: &str = "\
The file: a header row naming the columns `email` and `group membership` (any
case, any order; other columns are ignored), then up to 1000 rows; groups in a
cell are separated by commas. Comma, semicolon or tab delimited, at most 4 MiB.

--failed-rows OUT_CSV must be a regular file, or a new one, or a symbolic link
to a regular file (the file it points to is replaced); devices, FIFOs and
sockets are refused. It gets the failed rows with the upload's own columns and
header, an `error` column first; fix them and upload that file again. When no
row failed, no file is written. The rows are written to a temporary file
.failed-rows-XXXXXX.tmp in OUT_CSV's folder and renamed over OUT_CSV once the
upload is decided; if the program is killed in between, that temporary file
stays behind: delete it.";

const MAIL_AFTER_HELP: &str = "\
Built with --features sqlite,smtp, `admin deliver` reads the SMTP password from
the environment variable ORG_ACCOUNTS_SMTP_64656661756C74_REF, REF being the
credential reference in upper-case hex: --credential smtp reads
ORG_ACCOUNTS_SMTP_64656661756C74_736D7470.";

/// Administers one organization kept in a SQLite file (or PostgreSQL):
/// invitations, CSV uploads, groups, services, licenses, emails.
#[derive(Debug, Parser)]
#[command(
    name = "admin",
    after_help = AFTER_HELP,
    arg_required_else_help = true,
    disable_version_flag = true
)]
pub(crate) struct Cli {
    /// The database: a SQLite file, or postgres://USER@HOST/DB
    #[arg(
        long,
        global = true,
        value_name = "PATH|URL",
        default_value = "org-accounts.sqlite"
    )]
    pub(crate) db: String,
    /// The PostgreSQL schema, with --db postgres://... [default: org_accounts]
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) pg_schema: Option<String>,
    /// Print exactly one JSON document on stdout, refusals and usage errors included
    #[arg(long, global = true)]
    pub(crate) json: bool,
    #[command(subcommand)]
    pub(crate) command: Cmd,
}

/// The administrator who runs the command.
#[derive(Debug, Args)]
pub(crate) struct Actor {
    /// The administrator who acts (an active member of Administrators)
    #[arg(long = "as", value_name = "EMAIL")]
    pub(crate) actor: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Cmd {
    /// Create the organization and the database file, with its first administrator
    Init {
        /// The organization's name
        name: String,
        /// Its first administrator
        #[arg(long, value_name = "EMAIL")]
        admin: String,
    },
    /// Invite people (up to 20); they are Pending until they accept
    Invite {
        #[command(flatten)]
        actor: Actor,
        /// A group for every invitee; repeat the option for more: --group A --group B
        #[arg(long = "group", value_name = "NAME")]
        groups: Vec<String>,
        /// The addresses to invite, separated by spaces
        #[arg(value_name = "EMAIL", required = true)]
        emails: Vec<String>,
    },
    /// Invite the rows of a CSV file (up to 1000) and print the Error Summary
    #[command(after_help = BULK_AFTER_HELP)]
    BulkInvite {
        #[command(flatten)]
        actor: Actor,
        /// The CSV file
        file: PathBuf,
        /// Decide every row, store nothing
        #[arg(long)]
        dry_run: bool,
        /// Write the failed rows here, to fix and upload again
        #[arg(long, value_name = "OUT_CSV")]
        failed_rows: Option<String>,
    },
    /// Accept an invitation (the invitee signs in for the first time)
    Accept {
        /// The invitee
        email: String,
    },
    /// Record a sign-in (moves Last active)
    SignIn {
        /// The member
        email: String,
    },
    /// Remove people from the organization
    Remove {
        #[command(flatten)]
        actor: Actor,
        /// The addresses to remove, separated by spaces
        #[arg(value_name = "EMAIL", required = true)]
        emails: Vec<String>,
    },
    /// Create, edit and delete custom groups
    #[command(subcommand)]
    Group(GroupCmd),
    /// List the members: email, Last active (or Pending), groups
    Users,
    /// List the groups and how many members each has
    Groups,
    /// Add a service and its roles
    #[command(subcommand)]
    Service(ServiceCmd),
    /// Give a role to a group or a user, or take it back
    #[command(subcommand)]
    Role(RoleCmd),
    /// A member's effective roles in a service, with where each comes from
    Roles {
        /// The service
        service: String,
        /// The member
        email: String,
    },
    /// License pools, allocations and group rules
    #[command(subcommand)]
    License(LicenseCmd),
    /// Seats used per license kind, and who holds them
    Licenses,
    /// The organization's mail settings, without which no email is queued
    #[command(subcommand)]
    Mail(MailCmd),
    /// How long invitations stay valid
    Expiry {
        #[command(flatten)]
        actor: Actor,
        /// A number of hours, or `none` for invitations that never expire
        #[arg(value_name = "HOURS|none", value_parser = parse_expiry)]
        hours: Expiry,
    },
    /// Renew a pending invitation (and queue its email again)
    Resend {
        #[command(flatten)]
        actor: Actor,
        /// The invitee
        email: String,
    },
    /// Withdraw a pending invitation (the invitee is removed)
    Revoke {
        #[command(flatten)]
        actor: Actor,
        /// The invitee
        email: String,
    },
    /// Send the queued invitation emails
    Deliver {
        /// Send at most this many
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum GroupCmd {
    /// Create a custom group
    Create {
        #[command(flatten)]
        actor: Actor,
        /// Its name (unique, ignoring case)
        name: String,
        /// A first member; repeat the option for more: --member A --member B
        #[arg(long = "member", value_name = "EMAIL")]
        members: Vec<String>,
    },
    /// Add members of the organization to a group
    Add {
        #[command(flatten)]
        actor: Actor,
        /// The group
        group: String,
        /// The members to add, separated by spaces
        #[arg(value_name = "EMAIL", required = true)]
        emails: Vec<String>,
    },
    /// Take members out of a group (they stay in the organization)
    Remove {
        #[command(flatten)]
        actor: Actor,
        /// The group
        group: String,
        /// The members to take out, separated by spaces
        #[arg(value_name = "EMAIL", required = true)]
        emails: Vec<String>,
    },
    /// Rename a custom group
    Rename {
        #[command(flatten)]
        actor: Actor,
        /// The group
        group: String,
        /// Its new name
        new_name: String,
    },
    /// Delete a custom group (its members stay in the organization)
    Delete {
        #[command(flatten)]
        actor: Actor,
        /// The group
        group: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ServiceCmd {
    /// Add a service: Administrators get its admin role, the default groups their default roles
    Add {
        #[command(flatten)]
        actor: Actor,
        /// The service's name
        name: String,
        /// One of its roles; repeat the option for each: --role A --role B
        #[arg(long = "role", value_name = "ROLE", required = true)]
        roles: Vec<String>,
        /// The role Administrators get
        #[arg(long, value_name = "ROLE")]
        admin_role: String,
        /// A default group's role; repeat the option for more: --default A=X --default B=Y
        #[arg(long = "default", value_name = "GROUP=ROLE", value_parser = parse_pair)]
        defaults: Vec<(String, String)>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum RoleCmd {
    /// Give a role to a group or a user
    Assign(RoleArgs),
    /// Take a role back from a group or a user
    Revoke(RoleArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RoleArgs {
    #[command(flatten)]
    pub(crate) actor: Actor,
    /// The service
    pub(crate) service: String,
    /// The role
    pub(crate) role: String,
    #[command(flatten)]
    pub(crate) to: RoleTarget,
}

/// Exactly one of `--group` or `--user`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct RoleTarget {
    /// A group
    #[arg(long, value_name = "NAME")]
    pub(crate) group: Option<String>,
    /// A member
    #[arg(long, value_name = "EMAIL")]
    pub(crate) user: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum LicenseCmd {
    /// Set how many seats of a license kind the organization has
    Pool {
        #[command(flatten)]
        actor: Actor,
        /// The license kind
        kind: String,
        /// How many seats
        seats: u32,
    },
    /// Give a member a license directly (replaces what their groups give)
    Allocate {
        #[command(flatten)]
        actor: Actor,
        /// The license kind
        kind: String,
        /// The member
        email: String,
    },
    /// Take a directly given license back
    Deallocate {
        #[command(flatten)]
        actor: Actor,
        /// The license kind
        kind: String,
        /// The member
        email: String,
    },
    /// Release a member's license (a group license is leased again at a later sign-in)
    Release {
        #[command(flatten)]
        actor: Actor,
        /// The license kind
        kind: String,
        /// The member
        email: String,
    },
    /// Switch a member back to group-based allocation (after allocate or deallocate): their direct licenses are released and their groups' licenses leased at their next sign-in
    UseGroups {
        #[command(flatten)]
        actor: Actor,
        /// The member
        email: String,
    },
    /// Add a license kind to a group's rule: its members lease it at sign-in
    Rule {
        #[command(flatten)]
        actor: Actor,
        /// The group
        group: String,
        /// The license kind
        kind: String,
        /// At most this many of the group's members hold one
        #[arg(long, value_name = "N")]
        quota: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum MailCmd {
    /// Save the organization's mail settings: invitations queue an email from then on
    #[command(after_help = MAIL_AFTER_HELP)]
    Set {
        #[command(flatten)]
        actor: Actor,
        /// The SMTP server
        #[arg(long)]
        host: String,
        /// Its port
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        port: u16,
        /// The domain your mail comes from, announced to the server (EHLO)
        #[arg(long, value_name = "DOMAIN")]
        domain: Option<String>,
        /// The sender address
        #[arg(long, value_name = "EMAIL")]
        sender: String,
        /// The sender's display name
        #[arg(long, value_name = "NAME")]
        sender_name: String,
        /// Connect without TLS (a local relay only)
        #[arg(long)]
        no_tls: bool,
        /// The SMTP user name (with --credential)
        #[arg(long, value_name = "NAME", requires = "credential")]
        user: Option<String>,
        /// The reference of the SMTP password (with --user); never the password itself
        #[arg(long, value_name = "REF", requires = "user")]
        credential: Option<String>,
        /// The deadline of one delivery
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<u64>,
    },
    /// Clear the mail settings: invitations queue no email
    Clear {
        #[command(flatten)]
        actor: Actor,
    },
}

/// `expiry`'s argument: a number of hours, or none.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Expiry(pub(crate) Option<u64>);

fn parse_expiry(text: &str) -> Result<Expiry, String> {
    if text == "none" {
        return Ok(Expiry(None));
    }
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "expected a number of hours or `none`, got {text:?}"
        ));
    }
    // A number too large for u64 is still a number: the library refuses
    // it with the longest validity it accepts.
    Ok(Expiry(Some(text.parse::<u64>().unwrap_or(u64::MAX))))
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(group, role)| (group.to_owned(), role.to_owned()))
        .ok_or_else(|| format!("expected GROUP=ROLE, got {text:?}"))
}
