//! A state-machine property test of the `Organization` aggregate, in the
//! style of `proptest-state-machine` (hand-rolled, no extra crate).
//!
//! Proptest generates sequences of up to 50 `(actor, command)` steps, every
//! command variant included (after creating the organization, most
//! sequences start with up to 9 setup steps: license pools, a service, mail
//! settings, an expiry, group license rules, invitations into groups with
//! rules, a custom group), over a small pool of addresses (some differing
//! only in case), group names (custom ones and default ones in odd case),
//! two service names, three role names and two license kinds (one of each
//! also spelled another way), pools of 0 to 4 seats (so seats run out often),
//! group license quotas of none, 1 or 2, mail settings (valid or not) and
//! invitation expiries (none, too short, an hour, a day, a week), with a
//! clock that moves forward by a random amount and sometimes backwards. As
//! in `proptest-state-machine`, where transitions are drawn from the
//! reference state, actors, users and groups are mostly generated as roles
//! ("the n-th active administrator", "another member", "the n-th pending
//! member", "the n-th custom group", "the n-th existing service or pool",
//! "the n-th member holding a license through a group, and that group",
//! "the n-th role assignment") and resolved against the model when the
//! step runs, so sequences reach deep states instead of stopping at
//! `forbidden`; the rest are plain pool entries. A reference model (plain
//! maps and sets keyed by lower-case text) runs beside the real aggregate
//! and decides independently whether each command is accepted, which error
//! code a refusal carries (and whom it names), and what the state is
//! afterwards: members, groups, services and their role assignments, license
//! pools, rules and holdings (following the rules documented in
//! `src/organization/licenses.rs`), mail settings, invitation expiry and the
//! queue of invitation emails. A failure message ends with the resolved
//! trace (time, actor, command, outcome) of the shrunk sequence.
//!
//! After every step the test checks:
//! - accepted/refused, the refusal code and its offenders agree with the model;
//! - `decide` does not change the state, and `execute` returns what `decide`
//!   did; a refusal leaves the organization equal to its clone;
//! - an accepted command returns no events exactly when the model says it
//!   changes nothing, and every event carries `now` and the acting user;
//!   an invitation or resend queues exactly one email per invitee when the
//!   organization has mail settings, and no command queues any otherwise;
//! - the model's projection (members with status, Last active, invitation
//!   time, groups; groups with kind and members; services with roles,
//!   defaults and assignments; pools with seats and seats used; group
//!   license rules; who holds which license and from where; mail settings,
//!   expiry, queued emails; invitation status, expiry time and organization
//!   role of each member) equals the real one; a pending invitation with an
//!   expiry is pending (and can be accepted) one second before it expires
//!   and expired (and cannot) at that instant;
//! - invariants of the real aggregate, checked without the model: at least
//!   one active administrator once created; every explicit group member is a
//!   member and the two sides of the membership agree; `Everyone` has no
//!   explicit members; no removed (or revoked) user appears in members,
//!   groups, listings, role assignments, license holdings or the email
//!   queue; for every license kind seats used <= seats and the holders
//!   listed number seats used; every license holder is a member, and a
//!   group-sourced one is in that group, whose rule gives that kind within
//!   its quota; a member holding a license directly holds none through
//!   groups; every role holder is a member or an existing group; a member's
//!   `effective_roles` in every service are exactly the union of
//!   `roles_of` their own holder, each of their groups and `Everyone`, with
//!   those sources; without mail settings the email queue (also as stored in
//!   a snapshot) is empty, and every queued email goes to a current member;
//!   `version` counts the events; replaying the events, and replaying them
//!   after a JSON round trip, rebuilds an equal organization; a snapshot
//!   (also after a JSON round trip) restores an equal organization.
//!
//! At the end of each sequence, every combination of group / status / email
//! filter and sort order is listed page by page (small pages and scan limits,
//! so cursors are exercised) and compared with the model's expected order.
//!
//! `PROPTEST_CASES=10000 cargo test --test state_machine` runs a deeper search.
// Tests and benches assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::time::Duration;

use org_accounts::{
    Assignee, Command, Context, CredentialRef, DefaultGroup, DomainError, Email, Event, EventKind,
    GroupId, GroupKind, GroupName, Holder, InvitationStatus, LicenseKind, LicenseSource,
    MailSettings, MemberQuery, NotificationId, Organization, OrganizationRole, RoleName,
    RoleSource, ServiceName, Snapshot, SortBy, SortOrder, StatusFilter, Timestamp, UserId,
};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};

/// Actor and invitee addresses: five people, two of them spelled two ways.
const EMAILS: [&str; 7] = [
    "ada@example.com",
    "ADA@Example.COM",
    "bob@example.com",
    "cy@example.org",
    "CY@EXAMPLE.ORG",
    "dee@sub.example.net",
    "josé@exämple.de",
];

/// Group names: custom ones (two spellings of one), default ones in odd case.
const GROUPS: [&str; 9] = [
    "Finance",
    "FINANCE",
    "Ops",
    "ops team",
    "Legal",
    "administrators",
    "EVERYONE",
    "automation users",
    "citizen DEVELOPERS",
];

/// Service names: two services, one spelled two ways.
const SERVICES: [&str; 3] = ["CRM", "crm", "Wiki"];

/// Role names: three roles, one spelled two ways.
const ROLES: [&str; 4] = ["Owner", "Viewer", "Editor", "VIEWER"];

/// License kinds: two kinds, one spelled two ways.
const KINDS: [&str; 3] = ["Pro", "basic", "PRO"];

/// How many mail settings [`mail_settings`] knows; the first
/// [`VALID_MAIL_SETTINGS`] are valid.
const MAIL_SETTINGS: usize = 4;
const VALID_MAIL_SETTINGS: usize = 2;

/// Invitation expiries, in seconds: none, too short, the shortest allowed,
/// an hour, a day, a week.
const EXPIRIES: [Option<u64>; 6] = [
    None,
    Some(30),
    Some(60),
    Some(3_600),
    Some(86_400),
    Some(7 * 86_400),
];

/// The clock starts here (seconds since the Unix epoch, 2027-01-15).
const START: i64 = 1_800_000_000;

/// Index of Administrators among the model's groups (defaults come first,
/// in `DefaultGroup::ALL` order).
const ADMINISTRATORS: usize = 0;

// ---------------------------------------------------------------------------
// Generated steps
// ---------------------------------------------------------------------------

/// A command over pool names. Generated with users, groups, services and
/// kinds named by role (`M = Who`, `G = Grp`, `P = Pick`; `H = usize` for
/// "the n-th role assignment"), resolved against the model when the step
/// runs into pool addresses and names (`&'static str`).
#[derive(Clone, Debug)]
enum Op<M = &'static str, G = &'static str, P = &'static str, H = Infallible> {
    CreateOrganization {
        name: String,
    },
    InviteUsers {
        emails: Vec<M>,
        groups: Vec<G>,
    },
    AcceptInvitation,
    RecordSignIn,
    RemoveUsers {
        emails: Vec<M>,
    },
    CreateGroup {
        name: &'static str,
        members: Vec<M>,
    },
    RenameGroup {
        group: G,
        new_name: G,
    },
    DeleteGroup {
        group: G,
    },
    AddGroupMembers {
        group: G,
        members: Vec<M>,
    },
    RemoveGroupMembers {
        group: G,
        members: Vec<M>,
    },
    AddService {
        name: &'static str,
        roles: Vec<&'static str>,
        admin_role: &'static str,
        default_roles: Vec<(G, &'static str)>,
    },
    RemoveService {
        service: P,
    },
    AssignRole {
        service: P,
        to: Target<M, G, H>,
        role: &'static str,
    },
    RevokeRole {
        service: P,
        from: Target<M, G, H>,
        role: &'static str,
    },
    SetLicensePool {
        kind: P,
        seats: u32,
    },
    RemoveLicensePool {
        kind: P,
    },
    SetGroupLicenseRule {
        group: G,
        kind: P,
        quota: Option<u32>,
    },
    RemoveGroupLicenseRule {
        group: G,
    },
    AllocateLicense {
        user: M,
        kind: P,
    },
    DeallocateLicense {
        user: M,
        kind: P,
    },
    /// Settings number `settings` of [`mail_settings`].
    SetMailSettings {
        settings: usize,
    },
    ClearMailSettings,
    /// Seconds.
    SetInvitationExpiry {
        after: Option<u64>,
    },
    ResendInvitation {
        user: M,
    },
    RevokeInvitation {
        user: M,
    },
    /// Not a command: the service delivers the n-th queued invitation
    /// email, successfully or not, and records the result as an event.
    Deliver {
        nth: usize,
        ok: bool,
    },
}

/// A command as generated: users, groups, services, kinds and role holders
/// named by role, resolved when the step runs.
type GenOp = Op<Who, Grp, Pick, usize>;

/// Who a role is assigned to or revoked from.
#[derive(Clone, Copy, Debug)]
enum Target<M = &'static str, G = &'static str, H = Infallible> {
    User(M),
    Group(G),
    /// Generated only: the n-th role assignment in the service (mostly a
    /// revocable one): its holder, and its role replaces the command's (a
    /// custom group if there is none).
    Holder(H),
}

/// A service or license kind named in a command.
#[derive(Clone, Copy, Debug)]
enum Pick {
    /// A pool spelling of the n-th existing service or pool (a pool name
    /// if there is none).
    Existing(usize),
    /// For a kind: a pool spelling of the n-th license held through a group
    /// (as `Existing` if there is none); with `Grp::Granting(n)`, the kind
    /// of that group's rule.
    Held(usize),
    /// For a kind: a pool spelling of the n-th kind with seats in use (as
    /// `Existing` if there is none).
    InUse(usize),
    /// This name from the pool.
    Named(&'static str),
}

impl Op<Who, Grp, Pick, usize> {
    /// The command with every user, group, service and kind named from the
    /// pools.
    fn resolve(&self, model: &Model, actor: &str) -> Op {
        let user = |w: &Who| model.resolve(*w, actor);
        let users = |list: &[Who]| list.iter().map(user).collect();
        let group = |g: &Grp| model.resolve_group_choice(*g);
        let service = |p: &Pick| model.resolve_service_choice(*p);
        let kind = |p: &Pick| model.resolve_kind_choice(*p);
        // The holder, and for `Holder` the role it holds.
        let target = |service: &str, t: &Target<Who, Grp, usize>, role: &'static str| match t {
            Target::User(w) => (Target::User(user(w)), role),
            Target::Group(g) => (Target::Group(group(g)), role),
            Target::Holder(n) => model
                .resolve_holder(service, *n)
                .unwrap_or_else(|| (Target::Group(group(&Grp::Custom(*n))), role)),
        };
        match self {
            Op::CreateOrganization { name } => Op::CreateOrganization { name: name.clone() },
            Op::InviteUsers { emails, groups } => Op::InviteUsers {
                emails: users(emails),
                groups: groups.iter().map(group).collect(),
            },
            Op::AcceptInvitation => Op::AcceptInvitation,
            Op::RecordSignIn => Op::RecordSignIn,
            Op::RemoveUsers { emails } => Op::RemoveUsers {
                emails: users(emails),
            },
            Op::CreateGroup { name, members } => Op::CreateGroup {
                name,
                members: users(members),
            },
            Op::RenameGroup { group: g, new_name } => Op::RenameGroup {
                group: group(g),
                new_name: group(new_name),
            },
            Op::DeleteGroup { group: g } => Op::DeleteGroup { group: group(g) },
            Op::AddGroupMembers { group: g, members } => Op::AddGroupMembers {
                group: group(g),
                members: users(members),
            },
            Op::RemoveGroupMembers { group: g, members } => Op::RemoveGroupMembers {
                group: group(g),
                members: users(members),
            },
            Op::AddService {
                name,
                roles,
                admin_role,
                default_roles,
            } => Op::AddService {
                name,
                roles: roles.clone(),
                admin_role,
                default_roles: default_roles.iter().map(|(g, r)| (group(g), *r)).collect(),
            },
            Op::RemoveService { service: s } => Op::RemoveService {
                service: service(s),
            },
            Op::AssignRole {
                service: s,
                to,
                role,
            } => {
                let s = service(s);
                let (to, role) = target(s, to, role);
                Op::AssignRole {
                    service: s,
                    to,
                    role,
                }
            }
            Op::RevokeRole {
                service: s,
                from,
                role,
            } => {
                let s = service(s);
                let (from, role) = target(s, from, role);
                Op::RevokeRole {
                    service: s,
                    from,
                    role,
                }
            }
            Op::SetLicensePool { kind: k, seats } => Op::SetLicensePool {
                kind: kind(k),
                seats: *seats,
            },
            Op::RemoveLicensePool { kind: k } => Op::RemoveLicensePool { kind: kind(k) },
            Op::SetGroupLicenseRule {
                group: g,
                kind: k,
                quota,
            } => Op::SetGroupLicenseRule {
                group: group(g),
                kind: kind(k),
                quota: *quota,
            },
            Op::RemoveGroupLicenseRule { group: g } => {
                Op::RemoveGroupLicenseRule { group: group(g) }
            }
            Op::AllocateLicense { user: u, kind: k } => Op::AllocateLicense {
                user: user(u),
                kind: kind(k),
            },
            Op::DeallocateLicense { user: u, kind: k } => Op::DeallocateLicense {
                user: user(u),
                kind: kind(k),
            },
            Op::SetMailSettings { settings } => Op::SetMailSettings {
                settings: *settings,
            },
            Op::ClearMailSettings => Op::ClearMailSettings,
            Op::SetInvitationExpiry { after } => Op::SetInvitationExpiry { after: *after },
            Op::ResendInvitation { user: u } => Op::ResendInvitation { user: user(u) },
            Op::RevokeInvitation { user: u } => Op::RevokeInvitation { user: user(u) },
            Op::Deliver { nth, ok } => Op::Deliver { nth: *nth, ok: *ok },
        }
    }
}

/// A group named in a command.
#[derive(Clone, Copy, Debug)]
enum Grp {
    /// A pool spelling of the n-th existing custom group (a default group
    /// in odd case if there is none).
    Custom(usize),
    /// A pool spelling of the n-th group with a license rule (as `Custom`
    /// if there is none).
    Ruled(usize),
    /// A pool spelling of the group of the n-th license held through a
    /// group (as `Ruled` if there is none).
    Granting(usize),
    /// A pool spelling of the n-th custom group whose rule granted a
    /// license (as `Assigned` if there is none).
    CustomGranting(usize),
    /// A pool spelling of the n-th custom group holding a role (as
    /// `Granting` if there is none).
    Assigned(usize),
    /// This name from the pool.
    Named(&'static str),
}

/// Who acts. As in `proptest-state-machine`, where transitions are drawn
/// from the reference state, most choices name a role that is resolved
/// against the model when the step runs (the n-th active administrator, the
/// n-th pending member, ...), so sequences reach deep states instead of being
/// refused as forbidden; the failure message prints the resolved addresses.
#[derive(Clone, Copy, Debug)]
enum Who {
    /// The n-th active administrator (any member, else the pool, if none).
    Admin(usize),
    /// The n-th pending member (any member, else the pool, if none).
    Pending(usize),
    /// The n-th member (the pool if none).
    Member(usize),
    /// The n-th member other than the actor (the pool if none).
    Other(usize),
    /// The n-th member holding a license (as `Other` if none).
    Licensed(usize),
    /// The n-th member holding a license directly (as `Licensed` if none).
    Direct(usize),
    /// A pool spelling of the n-th person who is not a member (any pool
    /// address if everyone is).
    Newcomer(usize),
    /// The holder of the n-th license held through a group (as `Licensed`
    /// if none): with `Grp::Granting(n)`, a member of the group granting it.
    Granted(usize),
    /// This address from the pool.
    Anyone(&'static str),
}

#[derive(Clone, Debug)]
struct Step {
    who: Who,
    /// Seconds the clock moves before this step (may be zero or negative).
    dt: i64,
    op: GenOp,
}

fn email(s: &str) -> Email {
    Email::parse(s).unwrap_or_else(|e| panic!("pool address {s:?}: {e}"))
}

fn emails(list: &[&str]) -> Vec<Email> {
    list.iter().map(|s| email(s)).collect()
}

fn group_name(s: &str) -> GroupName {
    GroupName::parse(s).unwrap_or_else(|e| panic!("pool group {s:?}: {e}"))
}

fn ts(seconds: i64) -> Timestamp {
    Timestamp::from_second(seconds).expect("timestamp in range")
}

fn service_name(s: &str) -> ServiceName {
    ServiceName::parse(s).unwrap_or_else(|e| panic!("pool service {s:?}: {e}"))
}

fn role_name(s: &str) -> RoleName {
    RoleName::parse(s).unwrap_or_else(|e| panic!("pool role {s:?}: {e}"))
}

fn license_kind(s: &str) -> LicenseKind {
    LicenseKind::parse(s).unwrap_or_else(|e| panic!("pool kind {s:?}: {e}"))
}

/// Mail settings number `n`: the first [`VALID_MAIL_SETTINGS`] are valid
/// (and differ), the others are refused.
fn mail_settings(n: usize) -> MailSettings {
    let sender = email("noreply@example.com");
    match n {
        0 => MailSettings::new("smtp.example.com", 587, sender, "Example Accounts"),
        1 => MailSettings::new("mail.example.org", 25, sender, "Accounts")
            .with_tls(false)
            .with_auth("mailer", CredentialRef("SMTP_PASSWORD".to_owned()))
            .with_timeout(Duration::from_secs(5)),
        2 => MailSettings::new("smtp.example.com", 0, sender, "Example Accounts"),
        _ => MailSettings::new("smtp example.com", 587, sender, "Example Accounts"),
    }
}

impl Op {
    fn command(&self) -> Command {
        let assignee = |t: &Target| match t {
            Target::User(e) => Assignee::User(email(e)),
            Target::Group(g) => Assignee::Group(group_name(g)),
            Target::Holder(never) => match *never {},
        };
        match self {
            Op::CreateOrganization { name } => Command::CreateOrganization { name: name.clone() },
            Op::InviteUsers { emails: e, groups } => Command::InviteUsers {
                emails: emails(e),
                groups: groups.iter().map(|g| group_name(g)).collect(),
            },
            Op::AcceptInvitation => Command::AcceptInvitation,
            Op::RecordSignIn => Command::RecordSignIn,
            Op::RemoveUsers { emails: e } => Command::RemoveUsers { emails: emails(e) },
            Op::CreateGroup { name, members } => Command::CreateGroup {
                name: group_name(name),
                members: emails(members),
            },
            Op::RenameGroup { group, new_name } => Command::RenameGroup {
                group: group_name(group),
                new_name: group_name(new_name),
            },
            Op::DeleteGroup { group } => Command::DeleteGroup {
                group: group_name(group),
            },
            Op::AddGroupMembers { group, members } => Command::AddGroupMembers {
                group: group_name(group),
                members: emails(members),
            },
            Op::RemoveGroupMembers { group, members } => Command::RemoveGroupMembers {
                group: group_name(group),
                members: emails(members),
            },
            Op::AddService {
                name,
                roles,
                admin_role,
                default_roles,
            } => Command::AddService {
                name: service_name(name),
                roles: roles.iter().map(|r| role_name(r)).collect(),
                admin_role: role_name(admin_role),
                default_roles: default_roles
                    .iter()
                    .map(|(g, r)| (group_name(g), role_name(r)))
                    .collect(),
            },
            Op::RemoveService { service } => Command::RemoveService {
                service: service_name(service),
            },
            Op::AssignRole { service, to, role } => Command::AssignRole {
                service: service_name(service),
                to: assignee(to),
                role: role_name(role),
            },
            Op::RevokeRole {
                service,
                from,
                role,
            } => Command::RevokeRole {
                service: service_name(service),
                from: assignee(from),
                role: role_name(role),
            },
            Op::SetLicensePool { kind, seats } => Command::SetLicensePool {
                kind: license_kind(kind),
                seats: *seats,
            },
            Op::RemoveLicensePool { kind } => Command::RemoveLicensePool {
                kind: license_kind(kind),
            },
            Op::SetGroupLicenseRule { group, kind, quota } => Command::SetGroupLicenseRule {
                group: group_name(group),
                kind: license_kind(kind),
                quota: *quota,
            },
            Op::RemoveGroupLicenseRule { group } => Command::RemoveGroupLicenseRule {
                group: group_name(group),
            },
            Op::AllocateLicense { user, kind } => Command::AllocateLicense {
                user: email(user),
                kind: license_kind(kind),
            },
            Op::DeallocateLicense { user, kind } => Command::DeallocateLicense {
                user: email(user),
                kind: license_kind(kind),
            },
            Op::SetMailSettings { settings } => Command::SetMailSettings {
                settings: mail_settings(*settings),
            },
            Op::ClearMailSettings => Command::ClearMailSettings,
            Op::SetInvitationExpiry { after } => Command::SetInvitationExpiry {
                after: after.map(Duration::from_secs),
            },
            Op::ResendInvitation { user } => Command::ResendInvitation { user: email(user) },
            Op::RevokeInvitation { user } => Command::RevokeInvitation { user: email(user) },
            Op::Deliver { .. } => unreachable!("a delivery is not a command"),
        }
    }
}

fn pool_email() -> impl Strategy<Value = &'static str> {
    select(&EMAILS[..])
}

fn pool_group() -> impl Strategy<Value = &'static str> {
    select(&GROUPS[..])
}

/// Who acts: mostly an administrator (so administrative commands get past
/// the permission check), sometimes a pending member (to accept) or anyone.
fn actor() -> impl Strategy<Value = Who> {
    prop_oneof![
        10 => (0..4usize).prop_map(Who::Admin),
        2 => (0..4usize).prop_map(Who::Pending),
        1 => (0..4usize).prop_map(Who::Member),
        2 => pool_email().prop_map(Who::Anyone),
    ]
}

/// A user named in a command: mostly another member, sometimes anyone.
fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        4 => (0..4usize).prop_map(Who::Other),
        2 => (0..4usize).prop_map(Who::Pending),
        1 => (0..4usize).prop_map(Who::Member),
        2 => (0..4usize).prop_map(Who::Admin),
        2 => pool_email().prop_map(Who::Anyone),
    ]
}

/// Mostly a valid name; sometimes empty, blank, too long or with a control
/// character.
fn org_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("Example Corp".to_owned()),
        1 => select(vec![
            "  Padded Corp \t".to_owned(),
            String::new(),
            "   ".to_owned(),
            "x".repeat(100),
            "é".repeat(100),
            "y".repeat(101),
            "Bell\u{7}Corp".to_owned(),
            "Line\nBreak".to_owned(),
        ]),
    ]
}

fn members_list() -> impl Strategy<Value = Vec<Who>> {
    prop::collection::vec(who(), 0..=4)
}

/// A group to rename or delete: mostly an existing custom group.
fn custom_group() -> impl Strategy<Value = Grp> {
    prop_oneof![
        3 => (0..3usize).prop_map(Grp::Custom),
        1 => (0..3usize).prop_map(Grp::CustomGranting),
        1 => (0..3usize).prop_map(Grp::Assigned),
        1 => pool_group().prop_map(Grp::Named),
    ]
}

/// A group whose members change: an existing custom group, Administrators
/// (it drives who may act) or any pool name.
fn edited_group() -> impl Strategy<Value = Grp> {
    prop_oneof![
        2 => (0..3usize).prop_map(Grp::Custom),
        1 => (0..3usize).prop_map(Grp::Ruled),
        1 => Just(Grp::Named("administrators")),
        2 => pool_group().prop_map(Grp::Named),
    ]
}

/// A group an invitation names: mostly an existing custom group or a
/// default group, sometimes any pool name.
fn invite_group() -> impl Strategy<Value = Grp> {
    prop_oneof![
        2 => (0..3usize).prop_map(Grp::Custom),
        2 => (0..3usize).prop_map(Grp::Ruled),
        2 => select(&GROUPS[5..]).prop_map(Grp::Named),
        1 => pool_group().prop_map(Grp::Named),
    ]
}

/// The membership and group commands.
fn membership_op() -> impl Strategy<Value = GenOp> {
    // Mostly small batches (which can succeed); sometimes up to 22
    // addresses, which are too many or hold repeats.
    let invitees = prop_oneof![
        3 => prop::sample::subsequence(EMAILS.to_vec(), 1..=3)
            .prop_map(|list| list.into_iter().map(Who::Anyone).collect()),
        3 => newcomers(),
        1 => prop::collection::vec(pool_email().prop_map(Who::Anyone), 0..=22),
    ];
    prop_oneof![
        1 => org_name().prop_map(|name| Op::CreateOrganization { name }),
        8 => (invitees, prop_oneof![
            3 => prop::collection::vec(invite_group(), 0..=1),
            1 => prop::collection::vec(invite_group(), 0..=3),
        ])
            .prop_map(|(emails, groups)| Op::InviteUsers { emails, groups }),
        4 => Just(Op::AcceptInvitation),
        3 => Just(Op::RecordSignIn),
        3 => prop::collection::vec(who(), 0..=3)
            .prop_map(|emails| Op::RemoveUsers { emails }),
        // Members holding licenses (and often roles) leave.
        2 => prop::collection::vec(license_holder(), 1..=2)
            .prop_map(|emails| Op::RemoveUsers { emails }),
        3 => (prop_oneof![3 => select(&GROUPS[..5]), 1 => pool_group()],
              prop::collection::vec(who(), 0..=3))
            .prop_map(|(name, members)| Op::CreateGroup { name, members }),
        2 => (custom_group(), prop_oneof![
            3 => pool_group().prop_map(Grp::Named),
            1 => (0..3usize).prop_map(Grp::Custom),
        ])
            .prop_map(|(group, new_name)| Op::RenameGroup { group, new_name }),
        2 => custom_group().prop_map(|group| Op::DeleteGroup { group }),
        // A custom group whose rule granted licenses is deleted.
        1 => (0..3usize).prop_map(|n| Op::DeleteGroup {
            group: Grp::CustomGranting(n)
        }),
        4 => (edited_group(), members_list())
            .prop_map(|(group, members)| Op::AddGroupMembers { group, members }),
        3 => (edited_group(), members_list())
            .prop_map(|(group, members)| Op::RemoveGroupMembers { group, members }),
        // Members leave a group with a license rule.
        1 => ((0..3usize).prop_map(Grp::Ruled), prop::collection::vec(license_holder(), 1..=2))
            .prop_map(|(group, members)| Op::RemoveGroupMembers { group, members }),
        // Members holding licenses join a group with a license rule.
        1 => ((0..3usize).prop_map(Grp::Ruled), prop::collection::vec(license_holder(), 1..=2))
            .prop_map(|(group, members)| Op::AddGroupMembers { group, members }),
        // A member holding a license through a group leaves that group.
        2 => (0..4usize).prop_map(|n| Op::RemoveGroupMembers {
            group: Grp::Granting(n),
            members: vec![Who::Granted(n)],
        }),
    ]
}

/// One to three people who are not members yet (fewer, repeated, if the
/// pool runs out).
fn newcomers() -> impl Strategy<Value = Vec<Who>> {
    prop::sample::subsequence(vec![0usize, 1, 2, 3, 4], 1..=3)
        .prop_map(|list| list.into_iter().map(Who::Newcomer).collect())
}

/// A member who leaves or joins a group: mostly one holding a license,
/// else another member.
fn license_holder() -> impl Strategy<Value = Who> {
    prop_oneof![
        3 => (0..4usize).prop_map(Who::Licensed),
        1 => (0..4usize).prop_map(Who::Other),
    ]
}

/// A member whose invitation is resent or revoked: mostly a pending one,
/// sometimes an active one or anyone.
fn invitee() -> impl Strategy<Value = Who> {
    prop_oneof![
        5 => (0..4usize).prop_map(Who::Pending),
        1 => (0..4usize).prop_map(Who::Other),
        1 => (0..4usize).prop_map(Who::Admin),
        1 => pool_email().prop_map(Who::Anyone),
    ]
}

/// A group given a default role in a new service: mostly a default group
/// that can have one, sometimes one that cannot, a custom group or any name.
fn default_role_group() -> impl Strategy<Value = Grp> {
    prop_oneof![
        6 => select(&GROUPS[7..]).prop_map(Grp::Named),
        1 => pool_group().prop_map(Grp::Named),
        1 => (0..3usize).prop_map(Grp::Custom),
    ]
}

/// Who gets or loses a role: a member, a custom or default group
/// (`Everyone` included) or any pool name.
fn role_target() -> impl Strategy<Value = Target<Who, Grp, usize>> {
    prop_oneof![
        3 => who().prop_map(Target::User),
        2 => (0..3usize).prop_map(|n| Target::Group(Grp::Custom(n))),
        2 => select(&GROUPS[5..]).prop_map(|g| Target::Group(Grp::Named(g))),
        1 => pool_group().prop_map(|g| Target::Group(Grp::Named(g))),
    ]
}

/// A group that gets or loses a license rule: mostly an existing custom
/// group or a default group (`Everyone` included), sometimes any name.
fn rule_group() -> impl Strategy<Value = Grp> {
    prop_oneof![
        4 => (0..3usize).prop_map(Grp::Custom),
        2 => (0..3usize).prop_map(Grp::Ruled),
        2 => select(vec![GROUPS[5], GROUPS[7], GROUPS[8]]).prop_map(Grp::Named),
        1 => pool_group().prop_map(Grp::Named),
    ]
}

/// Adding a service: mostly with an administrator role it lists, and
/// default roles for default groups that can have them.
fn add_service() -> impl Strategy<Value = GenOp> {
    let role = || select(&ROLES[..]);
    // Mostly one of the listed roles, sometimes any.
    let admin_role = (
        any::<prop::sample::Index>(),
        prop::bool::weighted(0.8),
        role(),
    );
    let roles = prop_oneof![
        8 => prop::sample::subsequence(ROLES.to_vec(), 1..=4),
        1 => Just(Vec::new()),
    ];
    let default_roles = prop_oneof![
        2 => Just(Vec::new()),
        3 => prop::collection::vec((default_role_group(), role()), 1..=1),
        1 => prop::collection::vec((default_role_group(), role()), 2..=3),
    ];
    (select(&SERVICES[..]), roles, admin_role, default_roles).prop_map(
        |(name, roles, (i, listed, any_role), default_roles)| Op::AddService {
            name,
            admin_role: if listed && !roles.is_empty() {
                roles[i.index(roles.len())]
            } else {
                any_role
            },
            roles,
            default_roles,
        },
    )
}

/// Adding a valid service (unless its name is taken): listed roles only,
/// default roles for Automation Users and Citizen Developers only.
fn add_valid_service() -> impl Strategy<Value = GenOp> {
    (
        select(&SERVICES[..]),
        prop::sample::subsequence(ROLES.to_vec(), 1..=4),
        any::<prop::sample::Index>(),
        prop::sample::subsequence(GROUPS[7..].to_vec(), 0..=2),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(name, roles, admin, groups, role)| Op::AddService {
            name,
            admin_role: roles[admin.index(roles.len())],
            default_roles: groups
                .into_iter()
                .map(|g| (Grp::Named(g), *role.get(&roles)))
                .collect(),
            roles,
        })
}

/// Seats in a pool: 0 to 4, mostly few, so seats run out often.
fn seats() -> impl Strategy<Value = u32> {
    prop_oneof![
        1 => Just(0u32),
        3 => Just(1u32),
        2 => Just(2u32),
        1 => 3..=4u32,
    ]
}

/// What the creator sets up right after creating the organization, each
/// part included or not, so that sequences spend their steps in states with
/// pools, services, mail settings, an expiry, group license rules and
/// members holding licenses through them.
fn setup() -> impl Strategy<Value = Vec<GenOp>> {
    let maybe = |p: f64, op: BoxedStrategy<GenOp>| prop::option::weighted(p, op);
    // Mostly rules that can grant several licenses, from pools that have
    // seats for several.
    let quota = || prop_oneof![2 => Just(None), 1 => Just(Some(1)), 2 => Just(Some(2))];
    let seats = || prop_oneof![1 => 0..=1u32, 2 => 2..=4u32];
    let default_group = || select(vec![GROUPS[5], GROUPS[7], GROUPS[8]]).prop_map(Grp::Named);
    let rule = |group: BoxedStrategy<Grp>| {
        (group, (0..2usize).prop_map(Pick::Existing), quota())
            .prop_map(|(group, kind, quota)| Op::SetGroupLicenseRule { group, kind, quota })
            .boxed()
    };
    (
        (
            maybe(
                0.8,
                (select(vec!["Pro", "PRO"]).prop_map(Pick::Named), seats())
                    .prop_map(|(kind, seats)| Op::SetLicensePool { kind, seats })
                    .boxed(),
            ),
            maybe(
                0.5,
                seats()
                    .prop_map(|seats| Op::SetLicensePool {
                        kind: Pick::Named("basic"),
                        seats,
                    })
                    .boxed(),
            ),
            maybe(0.7, add_valid_service().boxed()),
            maybe(
                0.5,
                (0..VALID_MAIL_SETTINGS)
                    .prop_map(|settings| Op::SetMailSettings { settings })
                    .boxed(),
            ),
            maybe(
                0.4,
                select(&EXPIRIES[2..])
                    .prop_map(|after| Op::SetInvitationExpiry { after })
                    .boxed(),
            ),
        ),
        (
            maybe(0.7, rule(default_group().boxed())),
            maybe(
                0.6,
                (
                    newcomers(),
                    prop::sample::subsequence(GROUPS[7..].to_vec(), 0..=2),
                )
                    .prop_map(|(emails, groups)| Op::InviteUsers {
                        emails,
                        groups: groups.into_iter().map(Grp::Named).collect(),
                    })
                    .boxed(),
            ),
            maybe(
                0.5,
                (
                    select(&GROUPS[..5]),
                    prop::collection::vec((0..4usize).prop_map(Who::Other), 0..=3),
                )
                    .prop_map(|(name, members)| Op::CreateGroup { name, members })
                    .boxed(),
            ),
            maybe(0.5, rule(Just(Grp::Custom(0)).boxed())),
        ),
    )
        .prop_map(|((a, b, c, d, e), (f, g, h, i))| {
            [a, b, c, d, e, f, g, h, i].into_iter().flatten().collect()
        })
}

/// Services, roles and licenses.
fn access_op() -> impl Strategy<Value = GenOp> {
    // Mostly an existing service or pool, sometimes any pool name.
    let service = || {
        prop_oneof![
            3 => (0..4usize).prop_map(Pick::Existing),
            1 => select(&SERVICES[..]).prop_map(Pick::Named),
        ]
    };
    let kind = || {
        prop_oneof![
            3 => (0..4usize).prop_map(Pick::Existing),
            1 => select(&KINDS[..]).prop_map(Pick::Named),
        ]
    };
    let role = || select(&ROLES[..]);
    let quota = || {
        prop_oneof![
            3 => Just(None),
            3 => Just(Some(1)),
            2 => Just(Some(2)),
            1 => Just(Some(0)),
        ]
    };
    prop_oneof![
        2 => add_service(),
        2 => add_valid_service(),
        1 => service().prop_map(|service| Op::RemoveService { service }),
        6 => (service(), role_target(), role())
            .prop_map(|(service, to, role)| Op::AssignRole { service, to, role }),
        5 => (
            service(),
            prop_oneof![
                2 => (0..6usize).prop_map(Target::Holder),
                1 => role_target(),
            ],
            role(),
        )
            .prop_map(|(service, from, role)| Op::RevokeRole { service, from, role }),
        4 => (kind(), seats()).prop_map(|(kind, seats)| Op::SetLicensePool { kind, seats }),
        2 => (select(&KINDS[..]).prop_map(Pick::Named), seats())
            .prop_map(|(kind, seats)| Op::SetLicensePool { kind, seats }),
        // A pool in use shrinks, often below the seats in use.
        1 => (0..4usize, 0..=1u32).prop_map(|(n, seats)| Op::SetLicensePool {
            kind: Pick::InUse(n),
            seats,
        }),
        2 => kind().prop_map(|kind| Op::RemoveLicensePool { kind }),
        4 => (rule_group(), kind(), quota())
            .prop_map(|(group, kind, quota)| Op::SetGroupLicenseRule { group, kind, quota }),
        // A rule that granted licenses is set again, same kind: re-applied,
        // or its quota changed (kept grants, releases, top-ups).
        2 => (
            0..4usize,
            prop_oneof![1 => Just(None), 2 => Just(Some(1)), 1 => Just(Some(2))],
        )
            .prop_map(|(n, quota)| Op::SetGroupLicenseRule {
            group: Grp::Granting(n),
            kind: Pick::Held(n),
            quota,
        }),
        2 => prop_oneof![
            3 => (0..3usize).prop_map(Grp::Ruled),
            1 => rule_group(),
        ]
            .prop_map(|group| Op::RemoveGroupLicenseRule { group }),
        4 => (who(), kind()).prop_map(|(user, kind)| Op::AllocateLicense { user, kind }),
        // A member is allocated directly the kind they hold through a
        // group: the seat changes source.
        1 => (0..4usize).prop_map(|n| Op::AllocateLicense {
            user: Who::Granted(n),
            kind: Pick::Held(n),
        }),
        3 => (
            prop_oneof![
                3 => (0..4usize).prop_map(Who::Direct),
                1 => (0..4usize).prop_map(Who::Licensed),
                1 => who(),
            ],
            kind(),
        )
            .prop_map(|(user, kind)| Op::DeallocateLicense { user, kind }),
    ]
}

/// Mail settings, expiry, resending and revoking invitations.
fn invitation_op() -> impl Strategy<Value = GenOp> {
    prop_oneof![
        2 => (0..MAIL_SETTINGS).prop_map(|settings| Op::SetMailSettings { settings }),
        1 => Just(Op::ClearMailSettings),
        2 => select(&EXPIRIES[..]).prop_map(|after| Op::SetInvitationExpiry { after }),
        3 => invitee().prop_map(|user| Op::ResendInvitation { user }),
        2 => invitee().prop_map(|user| Op::RevokeInvitation { user }),
        3 => (0..3usize, prop::bool::weighted(0.6)).prop_map(|(nth, ok)| Op::Deliver { nth, ok }),
    ]
}

fn op() -> impl Strategy<Value = GenOp> {
    prop_oneof![
        31 => membership_op(),
        32 => access_op(),
        12 => invitation_op(),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let dt = prop_oneof![
        8 => 1..=86_400i64,
        // Exactly an expiry: an invitation expires at that instant.
        1 => select(vec![60i64, 3_600, 86_400]),
        1 => Just(0i64),
        2 => -7_200..=-1i64,
    ];
    // Mostly a pending member accepts (as often as not too late, once the
    // organization has an expiry).
    let accepting = prop_oneof![
        3 => (0..4usize).prop_map(Who::Pending),
        1 => actor(),
    ];
    (actor(), accepting, dt, op()).prop_map(|(who, accepting, dt, op)| {
        let who = match op {
            Op::AcceptInvitation => accepting,
            _ => who,
        };
        Step { who, dt, op }
    })
}

/// Up to 50 steps; nine times in ten the first one creates the
/// organization, followed by up to 9 setup steps by its creator.
fn steps() -> impl Strategy<Value = Vec<Step>> {
    (
        prop::bool::weighted(0.9),
        pool_email(),
        setup(),
        prop::collection::vec(step(), 0..50),
    )
        .prop_map(|(create, creator, setup, steps)| {
            if !create {
                return steps;
            }
            let create = Step {
                who: Who::Anyone(creator),
                dt: 0,
                op: Op::CreateOrganization {
                    name: "Example Corp".to_owned(),
                },
            };
            let setup = setup.into_iter().map(|op| Step {
                who: Who::Admin(0),
                dt: 1,
                op,
            });
            std::iter::once(create).chain(setup).chain(steps).collect()
        })
}

// ---------------------------------------------------------------------------
// Reference model
// ---------------------------------------------------------------------------

fn key(s: &str) -> String {
    s.trim().to_lowercase()
}

#[derive(Clone, Debug)]
struct ModelMember {
    /// The address as typed when invited (or when creating).
    email: String,
    /// Invitation order (the real ids must follow it).
    seq: u64,
    invited_at: i64,
    /// When the invitation was last sent (invited or resent).
    sent_at: i64,
    /// `None` while pending.
    last_active: Option<i64>,
}

#[derive(Clone, Debug)]
struct ModelGroup {
    /// The real id: the default group's, else numbered from 7 in creation
    /// order. Only its order matters to the model.
    uid: u32,
    /// Canonical (display) name.
    name: String,
    default: Option<DefaultGroup>,
    /// Lower-case addresses; always empty for Everyone.
    members: BTreeSet<String>,
}

#[derive(Clone, Debug, Default)]
struct Model {
    created: bool,
    name: String,
    created_at: i64,
    /// Keyed by lower-case address.
    members: BTreeMap<String, ModelMember>,
    /// Defaults first, then custom groups in creation order.
    groups: Vec<ModelGroup>,
    next_seq: u64,
    next_group: u32,
    /// In the order they were added.
    services: Vec<ModelService>,
    /// Seats per lower-case kind, with the spelling the pool was created
    /// with.
    pools: BTreeMap<String, (String, u32)>,
    /// Group license rules, by group uid.
    rules: BTreeMap<u32, ModelRule>,
    /// What each member (lower-case address) holds: lower-case kind and
    /// where from. No empty entries.
    holdings: BTreeMap<String, BTreeMap<String, Src>>,
    /// Index into [`mail_settings`].
    mail: Option<usize>,
    /// Seconds.
    expiry: Option<i64>,
    /// Invitation emails to deliver, oldest first: lower-case address and
    /// failed attempts.
    outbox: Vec<(String, u32)>,
}

#[derive(Clone, Debug)]
struct ModelService {
    /// As added (trimmed).
    name: String,
    /// Role spellings, repeats dropped (the first spelling kept).
    roles: Vec<String>,
    /// Lower-case.
    admin_role: String,
    /// Group uid to lower-case role; Administrators included.
    defaults: BTreeMap<u32, String>,
    /// Lower-case roles per holder; no empty entries.
    grants: BTreeMap<MHolder, BTreeSet<String>>,
}

impl ModelService {
    /// The lower-case role if the service defines it.
    fn role(&self, name: &str) -> Option<String> {
        let k = key(name);
        self.roles.iter().any(|r| key(r) == k).then_some(k)
    }

    /// The service's spelling of a lower-case role.
    fn spelling(&self, role: &str) -> String {
        self.roles
            .iter()
            .find(|r| key(r) == role)
            .cloned()
            .unwrap_or_else(|| format!("<undefined {role}>"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum MHolder {
    /// By uid.
    Group(u32),
    /// By lower-case address.
    User(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ModelRule {
    /// Lower-case.
    kind: String,
    quota: Option<u32>,
}

impl ModelRule {
    fn full(&self, granted: usize) -> bool {
        self.quota
            .is_some_and(|q| granted >= usize::try_from(q).unwrap_or(usize::MAX))
    }
}

/// Where a model holding comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Src {
    Direct,
    /// By group uid.
    Group(u32),
}

/// Why the model expects a refusal: the error code and whom it names
/// (lower-case, in order).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal {
    code: &'static str,
    offenders: Vec<String>,
}

fn refuse<T>(code: &'static str, offenders: Vec<String>) -> Result<T, Refusal> {
    Err(Refusal { code, offenders })
}

/// Accepted (with whether anything changes) or refused.
type Outcome = Result<bool, Refusal>;

impl Model {
    /// Runs one step: on acceptance the model moves on, on refusal it stays.
    fn step(&mut self, actor: &str, now: i64, op: &Op) -> Outcome {
        let mut next = self.clone();
        let outcome = next.run(actor, now, op);
        if outcome.is_ok() {
            *self = next;
        }
        outcome
    }

    /// The address that acts for `who`: a pool spelling of the chosen
    /// member (alternating spellings with `n`).
    fn resolve(&self, who: Who, actor: &str) -> &'static str {
        let pick = |keys: Vec<&String>, n: usize| -> Option<&'static str> {
            let k = keys.get(n % keys.len().max(1))?;
            let spellings: Vec<&'static str> =
                EMAILS.iter().copied().filter(|e| key(e) == **k).collect();
            spellings
                .get(n / keys.len() % spellings.len().max(1))
                .copied()
        };
        let members = || self.members.keys().collect::<Vec<_>>();
        let chosen = match who {
            Who::Anyone(e) => Some(e),
            Who::Admin(n) => {
                let admins: Vec<&String> = self
                    .members
                    .keys()
                    .filter(|k| self.created && self.is_active_admin(k))
                    .collect();
                pick(admins, n).or_else(|| pick(members(), n))
            }
            Who::Pending(n) => {
                let pending: Vec<&String> = self
                    .members
                    .iter()
                    .filter(|(_, m)| m.last_active.is_none())
                    .map(|(k, _)| k)
                    .collect();
                pick(pending, n).or_else(|| pick(members(), n))
            }
            Who::Member(n) => pick(members(), n),
            Who::Other(n) => {
                let others: Vec<&String> =
                    self.members.keys().filter(|k| **k != key(actor)).collect();
                pick(others, n)
            }
            Who::Direct(n) => {
                let direct: Vec<&String> = self
                    .holdings
                    .keys()
                    .filter(|k| self.has_direct(k))
                    .collect();
                pick(direct, n).or_else(|| self.resolve(Who::Licensed(n), actor).into())
            }
            Who::Newcomer(n) => {
                let mut people: Vec<&'static str> = Vec::new();
                for e in EMAILS {
                    if !self.members.contains_key(&key(e))
                        && !people.iter().any(|p| key(p) == key(e))
                    {
                        people.push(e);
                    }
                }
                // Alternate spellings of the chosen person with `n`.
                people.get(n % people.len().max(1)).map(|p| {
                    let spellings: Vec<&'static str> = EMAILS
                        .iter()
                        .copied()
                        .filter(|e| key(e) == key(p))
                        .collect();
                    spellings[n / people.len() % spellings.len()]
                })
            }
            Who::Licensed(n) => {
                let licensed: Vec<&String> = self.holdings.keys().collect();
                pick(licensed, n).or_else(|| self.resolve(Who::Other(n), actor).into())
            }
            Who::Granted(n) => {
                let granted = self.group_holdings();
                match granted.get(n % granted.len().max(1)) {
                    Some((k, _, _)) => EMAILS.iter().copied().find(|e| key(e) == *k),
                    None => Some(self.resolve(Who::Licensed(n), actor)),
                }
            }
        };
        chosen.unwrap_or(match who {
            Who::Admin(n)
            | Who::Pending(n)
            | Who::Member(n)
            | Who::Other(n)
            | Who::Licensed(n)
            | Who::Direct(n)
            | Who::Newcomer(n)
            | Who::Granted(n) => EMAILS[n % EMAILS.len()],
            Who::Anyone(e) => e,
        })
    }

    /// The pool spelling of a group, if the pool has one.
    fn group_spelling(&self, g: &ModelGroup, n: usize) -> Option<&'static str> {
        let spellings: Vec<&'static str> = GROUPS
            .iter()
            .copied()
            .filter(|s| key(s) == key(&g.name))
            .collect();
        spellings.get(n % spellings.len().max(1)).copied()
    }

    /// The pool name for a service choice.
    fn resolve_service_choice(&self, choice: Pick) -> &'static str {
        match choice {
            Pick::Named(name) => name,
            Pick::Existing(n) | Pick::Held(n) | Pick::InUse(n) => self
                .services
                .get(n % self.services.len().max(1))
                .and_then(|s| {
                    let spellings: Vec<&'static str> = SERVICES
                        .iter()
                        .copied()
                        .filter(|p| key(p) == key(&s.name))
                        .collect();
                    spellings.get(n % spellings.len().max(1)).copied()
                })
                .unwrap_or(SERVICES[n % SERVICES.len()]),
        }
    }

    /// The pool name for a license kind choice.
    fn resolve_kind_choice(&self, choice: Pick) -> &'static str {
        match choice {
            Pick::Named(name) => name,
            Pick::Existing(n) => {
                let pools: Vec<&String> = self.pools.keys().collect();
                pools
                    .get(n % pools.len().max(1))
                    .and_then(|k| {
                        let spellings: Vec<&'static str> =
                            KINDS.iter().copied().filter(|p| key(p) == **k).collect();
                        spellings.get(n % spellings.len().max(1)).copied()
                    })
                    .unwrap_or(KINDS[n % KINDS.len()])
            }
            Pick::InUse(n) => {
                let in_use: Vec<&String> = self.pools.keys().filter(|k| self.used(k) > 0).collect();
                in_use
                    .get(n % in_use.len().max(1))
                    .and_then(|k| KINDS.iter().copied().find(|p| key(p) == **k))
                    .unwrap_or_else(|| self.resolve_kind_choice(Pick::Existing(n)))
            }
            Pick::Held(n) => {
                let granted = self.group_holdings();
                granted
                    .get(n % granted.len().max(1))
                    .and_then(|(_, kind, _)| KINDS.iter().copied().find(|p| key(p) == *kind))
                    .unwrap_or_else(|| self.resolve_kind_choice(Pick::Existing(n)))
            }
        }
    }

    /// The n-th role assignment in `service` (holder and role), named from
    /// the pools.
    fn resolve_holder(&self, service: &str, n: usize) -> Option<(Target, &'static str)> {
        let s = self.resolve_service(service).ok()?;
        let svc = &self.services[s];
        let all: Vec<(&MHolder, &String)> = svc
            .grants
            .iter()
            .flat_map(|(holder, roles)| roles.iter().map(move |r| (holder, r)))
            .collect();
        // Mostly one that can be revoked, if any.
        let revocable: Vec<(&MHolder, &String)> = all
            .iter()
            .copied()
            .filter(|(h, r)| !matches!(h, MHolder::Group(g) if svc.defaults.get(g) == Some(*r)))
            .collect();
        let assignments = if n < 4 && !revocable.is_empty() {
            revocable
        } else {
            all
        };
        let (holder, role) = assignments.get(n % assignments.len().max(1))?;
        let role = ROLES.iter().copied().find(|r| key(r) == **role)?;
        let target = match holder {
            MHolder::User(k) => Target::User(EMAILS.iter().copied().find(|e| key(e) == *k)?),
            MHolder::Group(uid) => {
                let g = self.groups.iter().find(|g| g.uid == *uid)?;
                Target::Group(self.group_spelling(g, n)?)
            }
        };
        Some((target, role))
    }

    /// The pool name for a group choice.
    fn resolve_group_choice(&self, choice: Grp) -> &'static str {
        match choice {
            Grp::Named(name) => name,
            Grp::Custom(n) => {
                let custom: Vec<&ModelGroup> =
                    self.groups.iter().filter(|g| g.default.is_none()).collect();
                custom
                    .get(n % custom.len().max(1))
                    .and_then(|g| self.group_spelling(g, n))
                    .unwrap_or(GROUPS[5 + n % 4])
            }
            Grp::Ruled(n) => {
                let ruled: Vec<&ModelGroup> = self
                    .groups
                    .iter()
                    .filter(|g| self.rules.contains_key(&g.uid))
                    .collect();
                ruled
                    .get(n % ruled.len().max(1))
                    .and_then(|g| self.group_spelling(g, n))
                    .unwrap_or_else(|| self.resolve_group_choice(Grp::Custom(n)))
            }
            Grp::Granting(n) => {
                let granted = self.group_holdings();
                granted
                    .get(n % granted.len().max(1))
                    .and_then(|(_, _, uid)| self.groups.iter().find(|g| g.uid == *uid))
                    .and_then(|g| self.group_spelling(g, n))
                    .unwrap_or_else(|| self.resolve_group_choice(Grp::Ruled(n)))
            }
            Grp::CustomGranting(n) => {
                let granting: BTreeSet<u32> = self
                    .group_holdings()
                    .into_iter()
                    .map(|(_, _, uid)| uid)
                    .collect();
                let custom: Vec<&ModelGroup> = self
                    .groups
                    .iter()
                    .filter(|g| g.default.is_none() && granting.contains(&g.uid))
                    .collect();
                custom
                    .get(n % custom.len().max(1))
                    .and_then(|g| self.group_spelling(g, n))
                    .unwrap_or_else(|| self.resolve_group_choice(Grp::Assigned(n)))
            }
            Grp::Assigned(n) => {
                let assigned: Vec<&ModelGroup> = self
                    .groups
                    .iter()
                    .filter(|g| {
                        g.default.is_none()
                            && self
                                .services
                                .iter()
                                .any(|s| s.grants.contains_key(&MHolder::Group(g.uid)))
                    })
                    .collect();
                assigned
                    .get(n % assigned.len().max(1))
                    .and_then(|g| self.group_spelling(g, n))
                    .unwrap_or_else(|| self.resolve_group_choice(Grp::Granting(n)))
            }
        }
    }

    fn group_index(&self, name: &str) -> Option<usize> {
        let k = key(name);
        self.groups.iter().position(|g| key(&g.name) == k)
    }

    fn is_active(&self, k: &str) -> bool {
        self.members.get(k).is_some_and(|m| m.last_active.is_some())
    }

    fn is_active_admin(&self, k: &str) -> bool {
        self.is_active(k) && self.groups[ADMINISTRATORS].members.contains(k)
    }

    fn active_admins_except(&self, leaving: &BTreeSet<String>) -> usize {
        self.groups[ADMINISTRATORS]
            .members
            .iter()
            .filter(|k| !leaving.contains(*k) && self.is_active(k))
            .count()
    }

    /// Members named, first-seen order, repeats dropped; every unknown
    /// address refused.
    fn resolve_users(&self, list: &[&str]) -> Result<Vec<String>, Refusal> {
        if list.is_empty() {
            return refuse("no_users", vec![]);
        }
        let mut keys = Vec::new();
        let mut unknown = Vec::new();
        for e in list {
            let k = key(e);
            if self.members.contains_key(&k) {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            } else if !unknown.contains(&k) {
                unknown.push(k);
            }
        }
        if unknown.is_empty() {
            Ok(keys)
        } else {
            refuse("unknown_users", unknown)
        }
    }

    fn resolve_group(&self, name: &str) -> Result<usize, Refusal> {
        match self.group_index(name) {
            Some(i) => Ok(i),
            None => refuse("unknown_groups", vec![key(name)]),
        }
    }

    fn resolve_custom_group(&self, name: &str) -> Result<usize, Refusal> {
        let i = self.resolve_group(name)?;
        if self.groups[i].default.is_some() {
            return refuse("default_group_immutable", vec![key(&self.groups[i].name)]);
        }
        Ok(i)
    }

    fn resolve_editable_group(&self, name: &str) -> Result<usize, Refusal> {
        let i = self.resolve_group(name)?;
        if self.groups[i].default == Some(DefaultGroup::Everyone) {
            return refuse("everyone_implicit", vec![]);
        }
        Ok(i)
    }

    fn add_member(&mut self, typed: &str, now: i64, last_active: Option<i64>) -> String {
        let k = key(typed);
        self.members.insert(
            k.clone(),
            ModelMember {
                email: typed.trim().to_owned(),
                seq: self.next_seq,
                invited_at: now,
                sent_at: now,
                last_active,
            },
        );
        self.next_seq += 1;
        k
    }

    fn run(&mut self, actor: &str, now: i64, op: &Op) -> Outcome {
        let me = key(actor);
        if let Op::CreateOrganization { name } = op {
            if self.created {
                return refuse("already_created", vec![]);
            }
            let trimmed = name.trim();
            let chars = trimmed.chars().count();
            if chars == 0 || chars > 100 || trimmed.chars().any(char::is_control) {
                return refuse("invalid_organization_name", vec![]);
            }
            self.created = true;
            self.name = trimmed.to_owned();
            self.created_at = now;
            self.groups = DefaultGroup::ALL
                .iter()
                .map(|d| ModelGroup {
                    uid: d.id().get(),
                    name: d.name().to_owned(),
                    default: Some(*d),
                    members: BTreeSet::new(),
                })
                .collect();
            let k = self.add_member(actor, now, Some(now));
            self.groups[ADMINISTRATORS].members.insert(k);
            self.next_group = 7;
            return Ok(true);
        }
        if !self.created {
            return refuse("not_created", vec![]);
        }
        match op {
            Op::AcceptInvitation => {
                let Some(m) = self.members.get_mut(&me) else {
                    return refuse("not_invited", vec![me]);
                };
                if m.last_active.is_some() {
                    return refuse("already_accepted", vec![me]);
                }
                if self.expiry.is_some_and(|ttl| now >= m.sent_at + ttl) {
                    return refuse("invitation_expired", vec![me]);
                }
                m.last_active = Some(now);
                return Ok(true);
            }
            Op::RecordSignIn => {
                let Some(m) = self.members.get_mut(&me) else {
                    return refuse("not_a_member", vec![me]);
                };
                return match m.last_active {
                    None => refuse("invitation_not_accepted", vec![me]),
                    Some(last) if now <= last => Ok(false),
                    Some(_) => {
                        m.last_active = Some(now);
                        Ok(true)
                    }
                };
            }
            _ => {}
        }
        if !self.is_active_admin(&me) {
            return refuse("forbidden", vec![me]);
        }
        match op {
            Op::InviteUsers {
                emails: invitees,
                groups,
            } => {
                if invitees.is_empty() {
                    return refuse("no_invitees", vec![]);
                }
                if invitees.len() > 20 {
                    return refuse("too_many_invitees", vec![]);
                }
                if groups.len() > 20 {
                    return refuse("too_many_groups", vec![]);
                }
                let mut joined = BTreeSet::new();
                let mut unknown = Vec::new();
                for g in groups {
                    match self.group_index(g) {
                        Some(i) if self.groups[i].default == Some(DefaultGroup::Everyone) => {}
                        Some(i) => {
                            joined.insert(i);
                        }
                        None => {
                            if !unknown.contains(&key(g)) {
                                unknown.push(key(g));
                            }
                        }
                    }
                }
                if !unknown.is_empty() {
                    return refuse("unknown_groups", unknown);
                }
                let mut seen = BTreeSet::new();
                let mut repeated = Vec::new();
                for e in invitees {
                    let k = key(e);
                    if !seen.insert(k.clone()) && !repeated.contains(&k) {
                        repeated.push(k);
                    }
                }
                if !repeated.is_empty() {
                    return refuse("duplicate_invitees", repeated);
                }
                let already: Vec<String> = invitees
                    .iter()
                    .map(|e| key(e))
                    .filter(|k| self.members.contains_key(k))
                    .collect();
                if !already.is_empty() {
                    return refuse("already_members", already);
                }
                let uids: Vec<u32> = joined.iter().map(|&i| self.groups[i].uid).collect();
                let mut joins = Vec::new();
                for e in invitees {
                    let k = self.add_member(e, now, None);
                    for &i in &joined {
                        self.groups[i].members.insert(k.clone());
                    }
                    joins.push((k, uids.clone()));
                }
                self.join_grants(&joins)?;
                if self.mail.is_some() {
                    self.outbox.extend(joins.into_iter().map(|(k, _)| (k, 0)));
                }
                Ok(true)
            }
            Op::RemoveUsers { emails: named } => {
                let keys = self.resolve_users(named)?;
                if keys.contains(&me) {
                    return refuse("cannot_remove_self", vec![]);
                }
                let leaving: BTreeSet<String> = keys.into_iter().collect();
                if self.active_admins_except(&leaving) == 0 {
                    return refuse("last_administrator", vec![]);
                }
                for k in &leaving {
                    self.forget_member(k);
                }
                Ok(true)
            }
            Op::CreateGroup { name, members } => {
                if let Some(i) = self.group_index(name) {
                    return refuse("group_name_taken", vec![key(&self.groups[i].name)]);
                }
                let keys = if members.is_empty() {
                    Vec::new()
                } else {
                    self.resolve_users(members)?
                };
                self.groups.push(ModelGroup {
                    uid: self.next_group,
                    name: name.trim().to_owned(),
                    default: None,
                    members: keys.into_iter().collect(),
                });
                self.next_group += 1;
                Ok(true)
            }
            Op::RenameGroup { group, new_name } => {
                let i = self.resolve_custom_group(group)?;
                if let Some(j) = self.group_index(new_name) {
                    if j != i {
                        return refuse("group_name_taken", vec![key(&self.groups[j].name)]);
                    }
                    if self.groups[i].name == new_name.trim() {
                        return Ok(false);
                    }
                }
                self.groups[i].name = new_name.trim().to_owned();
                Ok(true)
            }
            Op::DeleteGroup { group } => {
                let i = self.resolve_custom_group(group)?;
                let uid = self.groups.remove(i).uid;
                self.rules.remove(&uid);
                self.release_group_grants(None, uid);
                for s in &mut self.services {
                    s.grants.remove(&MHolder::Group(uid));
                    s.defaults.remove(&uid);
                }
                Ok(true)
            }
            Op::AddGroupMembers { group, members } => {
                let i = self.resolve_editable_group(group)?;
                let joining: Vec<String> = self
                    .resolve_users(members)?
                    .into_iter()
                    .filter(|k| !self.groups[i].members.contains(k))
                    .collect();
                if joining.is_empty() {
                    return Ok(false);
                }
                let uid = self.groups[i].uid;
                for k in &joining {
                    self.groups[i].members.insert(k.clone());
                }
                let joins: Vec<(String, Vec<u32>)> =
                    joining.into_iter().map(|k| (k, vec![uid])).collect();
                self.join_grants(&joins)?;
                Ok(true)
            }
            Op::RemoveGroupMembers { group, members } => {
                let i = self.resolve_editable_group(group)?;
                let leaving: BTreeSet<String> = self
                    .resolve_users(members)?
                    .into_iter()
                    .filter(|k| self.groups[i].members.contains(k))
                    .collect();
                if i == ADMINISTRATORS && self.active_admins_except(&leaving) == 0 {
                    return refuse("last_administrator", vec![]);
                }
                let uid = self.groups[i].uid;
                for k in &leaving {
                    self.groups[i].members.remove(k);
                    self.release_group_grants(Some(k), uid);
                }
                Ok(!leaving.is_empty())
            }
            Op::AddService {
                name,
                roles,
                admin_role,
                default_roles,
            } => self.add_service(name, roles, admin_role, default_roles),
            Op::RemoveService { service } => {
                let s = self.resolve_service(service)?;
                self.services.remove(s);
                Ok(true)
            }
            Op::AssignRole { service, to, role } => {
                let (s, holder, role) = self.resolve_assignment(service, to, role)?;
                Ok(self.services[s]
                    .grants
                    .entry(holder)
                    .or_default()
                    .insert(role))
            }
            Op::RevokeRole {
                service,
                from,
                role,
            } => {
                let (s, holder, role) = self.resolve_assignment(service, from, role)?;
                let svc = &mut self.services[s];
                if let MHolder::Group(uid) = holder
                    && svc.defaults.get(&uid) == Some(&role)
                {
                    let group = self.groups.iter().find(|g| g.uid == uid);
                    let group = group.map_or_else(String::new, |g| key(&g.name));
                    return refuse("default_role_protected", vec![group, role]);
                }
                let Some(held) = svc.grants.get_mut(&holder) else {
                    return Ok(false);
                };
                let removed = held.remove(&role);
                if held.is_empty() {
                    svc.grants.remove(&holder);
                }
                Ok(removed)
            }
            Op::SetLicensePool { kind, seats } => {
                let k = key(kind);
                let used = self.used(&k);
                match self.pools.get_mut(&k) {
                    None => {
                        self.pools.insert(k, (kind.trim().to_owned(), *seats));
                        Ok(true)
                    }
                    Some((_, current)) if *current == *seats => Ok(false),
                    Some(_) if *seats < used => refuse("seats_in_use", vec![k]),
                    Some((_, current)) => {
                        *current = *seats;
                        Ok(true)
                    }
                }
            }
            Op::RemoveLicensePool { kind } => {
                let k = self.resolve_kind(kind)?;
                if self.used(&k) > 0 {
                    return refuse("seats_in_use", vec![k]);
                }
                self.pools.remove(&k);
                self.rules.retain(|_, rule| rule.kind != k);
                Ok(true)
            }
            Op::SetGroupLicenseRule { group, kind, quota } => {
                let i = self.resolve_group(group)?;
                if self.groups[i].default == Some(DefaultGroup::Everyone) {
                    return refuse("everyone_implicit", vec![]);
                }
                if *quota == Some(0) {
                    return refuse("invalid_quota", vec![]);
                }
                let kind = self.resolve_kind(kind)?;
                self.set_rule(i, kind, *quota)
            }
            Op::RemoveGroupLicenseRule { group } => {
                let uid = self.groups[self.resolve_group(group)?].uid;
                if self.rules.remove(&uid).is_none() {
                    return Ok(false);
                }
                self.release_group_grants(None, uid);
                Ok(true)
            }
            Op::AllocateLicense { user, kind } => {
                let k = self.resolve_member(user)?;
                let kind = self.resolve_kind(kind)?;
                match self.holds(&k, &kind) {
                    Some(Src::Direct) => return Ok(false),
                    Some(Src::Group(_)) => {}
                    None if self.free(&kind) == 0 => return refuse("no_seats_left", vec![kind]),
                    None => {}
                }
                let inherited: Vec<String> = self
                    .holdings
                    .get(&k)
                    .into_iter()
                    .flatten()
                    .filter(|(_, src)| matches!(src, Src::Group(_)))
                    .map(|(kind, _)| kind.clone())
                    .collect();
                for held in &inherited {
                    self.release(&k, held);
                }
                self.grant(&k, &kind, Src::Direct);
                Ok(true)
            }
            Op::DeallocateLicense { user, kind } => {
                let k = self.resolve_member(user)?;
                let kind = key(kind);
                if self.holds(&k, &kind) != Some(Src::Direct) {
                    return refuse("not_allocated", vec![k, kind]);
                }
                self.release(&k, &kind);
                if self.has_direct(&k) {
                    return Ok(true);
                }
                // The member holds nothing now: their groups' rules apply
                // again, where seats and quotas allow.
                let groups: Vec<u32> = self
                    .groups
                    .iter()
                    .filter(|g| g.members.contains(&k))
                    .map(|g| g.uid)
                    .collect();
                for uid in groups {
                    let Some(rule) = self.rules.get(&uid).cloned() else {
                        continue;
                    };
                    if self.free(&rule.kind) == 0
                        || self.holds(&k, &rule.kind).is_some()
                        || rule.full(self.granted_count(uid))
                    {
                        continue;
                    }
                    self.grant(&k, &rule.kind, Src::Group(uid));
                }
                Ok(true)
            }
            Op::SetMailSettings { settings } => {
                if *settings >= VALID_MAIL_SETTINGS {
                    return refuse("invalid_mail_settings", vec![]);
                }
                Ok(self.mail.replace(*settings) != Some(*settings))
            }
            Op::ClearMailSettings => {
                self.outbox.clear();
                Ok(self.mail.take().is_some())
            }
            Op::SetInvitationExpiry { after } => {
                if after.is_some_and(|s| s < 60) {
                    return refuse("invalid_expiry", vec![]);
                }
                let after = after.map(|s| i64::try_from(s).expect("small expiry"));
                Ok(std::mem::replace(&mut self.expiry, after) != after)
            }
            Op::ResendInvitation { user } => {
                let k = self.resolve_pending(user)?;
                if let Some(m) = self.members.get_mut(&k) {
                    m.sent_at = now;
                }
                if self.mail.is_some() {
                    self.outbox.push((k, 0));
                }
                Ok(true)
            }
            Op::RevokeInvitation { user } => {
                let k = self.resolve_pending(user)?;
                self.forget_member(&k);
                Ok(true)
            }
            Op::CreateOrganization { .. } | Op::AcceptInvitation | Op::RecordSignIn => {
                unreachable!("handled above")
            }
            Op::Deliver { .. } => unreachable!("a delivery is not a command"),
        }
    }

    /// Lower-case addresses listed for a query, in the expected order.
    fn listing(
        &self,
        group: Option<&str>,
        status: Option<StatusFilter>,
        contains: Option<&str>,
        sort: SortBy,
        order: SortOrder,
    ) -> Vec<String> {
        let in_scope = |k: &String| match group {
            None => true,
            Some(name) => match self.group_index(name) {
                None => false,
                Some(i) if self.groups[i].default == Some(DefaultGroup::Everyone) => true,
                Some(i) => self.groups[i].members.contains(k),
            },
        };
        let mut rows: Vec<(&String, &ModelMember)> = self
            .members
            .iter()
            .filter(|(k, _)| in_scope(k))
            .filter(|(_, m)| match status {
                None => true,
                Some(StatusFilter::Pending) => m.last_active.is_none(),
                Some(StatusFilter::Active) => m.last_active.is_some(),
            })
            .filter(|(k, _)| contains.is_none_or(|n| k.contains(&n.trim().to_lowercase())))
            .collect();
        match sort {
            // The map is already in lower-case address order.
            SortBy::Email => {}
            SortBy::LastActive => rows.sort_by_key(|(_, m)| (m.last_active, m.seq)),
        }
        if order == SortOrder::Descending {
            rows.reverse();
        }
        rows.into_iter().map(|(k, _)| k.clone()).collect()
    }
}

/// Services, roles, licenses and invitations in the model.
impl Model {
    fn resolve_member(&self, user: &str) -> Result<String, Refusal> {
        let k = key(user);
        if self.members.contains_key(&k) {
            Ok(k)
        } else {
            refuse("unknown_users", vec![k])
        }
    }

    fn resolve_pending(&self, user: &str) -> Result<String, Refusal> {
        let k = self.resolve_member(user)?;
        if self.is_active(&k) {
            return refuse("not_pending", vec![k]);
        }
        Ok(k)
    }

    /// Lower-case addresses in invitation (real id) order.
    fn by_seq<'a>(&self, keys: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        let mut keys: Vec<&String> = keys.into_iter().collect();
        keys.sort_by_key(|k| self.members.get(*k).map_or(u64::MAX, |m| m.seq));
        keys.into_iter().cloned().collect()
    }

    /// Takes a member out: groups, role assignments, licenses, emails.
    fn forget_member(&mut self, k: &str) {
        self.members.remove(k);
        for g in &mut self.groups {
            g.members.remove(k);
        }
        self.holdings.remove(k);
        let holder = MHolder::User(k.to_owned());
        for s in &mut self.services {
            s.grants.remove(&holder);
        }
        self.outbox.retain(|(queued, _)| queued != k);
    }

    fn resolve_service(&self, name: &str) -> Result<usize, Refusal> {
        let k = key(name);
        match self.services.iter().position(|s| key(&s.name) == k) {
            Some(i) => Ok(i),
            None => refuse("unknown_service", vec![k]),
        }
    }

    /// The service, holder and lower-case role of an assignment, resolved
    /// in that order (service, role, holder).
    fn resolve_assignment(
        &self,
        service: &str,
        target: &Target,
        role: &str,
    ) -> Result<(usize, MHolder, String), Refusal> {
        let s = self.resolve_service(service)?;
        let Some(role) = self.services[s].role(role) else {
            return refuse("unknown_role", vec![key(role)]);
        };
        let holder = match target {
            Target::Group(g) => MHolder::Group(self.groups[self.resolve_group(g)?].uid),
            Target::User(e) => MHolder::User(self.resolve_member(e)?),
            Target::Holder(never) => match *never {},
        };
        Ok((s, holder, role))
    }

    fn add_service(
        &mut self,
        name: &str,
        roles: &[&str],
        admin_role: &str,
        default_roles: &[(&str, &str)],
    ) -> Outcome {
        if let Ok(s) = self.resolve_service(name) {
            return refuse("service_name_taken", vec![key(&self.services[s].name)]);
        }
        if roles.is_empty() {
            return refuse("invalid_service", vec![]);
        }
        let mut defined: Vec<String> = Vec::new();
        for r in roles {
            if !defined.iter().any(|d| key(d) == key(r)) {
                defined.push(r.trim().to_owned());
            }
        }
        let canonical = |r: &str| -> Result<String, Refusal> {
            if defined.iter().any(|d| key(d) == key(r)) {
                Ok(key(r))
            } else {
                refuse("unknown_role", vec![key(r)])
            }
        };
        let admin_role = canonical(admin_role)?;
        let mut unknown = Vec::new();
        for (g, _) in default_roles {
            if self.group_index(g).is_none() && !unknown.contains(&key(g)) {
                unknown.push(key(g));
            }
        }
        if !unknown.is_empty() {
            return refuse("unknown_groups", unknown);
        }
        let mut defaults = BTreeMap::new();
        for (g, r) in default_roles {
            let group = &self.groups[self.resolve_group(g)?];
            match group.default {
                None | Some(DefaultGroup::Administrators | DefaultGroup::Everyone) => {
                    return refuse("invalid_service", vec![]);
                }
                Some(_) => {}
            }
            let role = canonical(r)?;
            if defaults.insert(group.uid, role).is_some() {
                return refuse("invalid_service", vec![]);
            }
        }
        defaults.insert(DefaultGroup::Administrators.id().get(), admin_role.clone());
        let grants = defaults
            .iter()
            .map(|(uid, role)| (MHolder::Group(*uid), BTreeSet::from([role.clone()])))
            .collect();
        self.services.push(ModelService {
            name: name.trim().to_owned(),
            roles: defined,
            admin_role,
            defaults,
            grants,
        });
        Ok(true)
    }

    /// The lower-case kind of an existing pool.
    fn resolve_kind(&self, kind: &str) -> Result<String, Refusal> {
        let k = key(kind);
        if self.pools.contains_key(&k) {
            Ok(k)
        } else {
            refuse("unknown_license_kind", vec![k])
        }
    }

    fn used(&self, kind: &str) -> u32 {
        let n = self
            .holdings
            .values()
            .filter(|held| held.contains_key(kind))
            .count();
        u32::try_from(n).expect("few holders")
    }

    fn free(&self, kind: &str) -> u32 {
        self.pools
            .get(kind)
            .map_or(0, |(_, seats)| seats.saturating_sub(self.used(kind)))
    }

    fn holds(&self, k: &str, kind: &str) -> Option<Src> {
        self.holdings.get(k)?.get(kind).copied()
    }

    fn has_direct(&self, k: &str) -> bool {
        self.holdings
            .get(k)
            .is_some_and(|held| held.values().any(|src| *src == Src::Direct))
    }

    /// What group `uid`'s rule granted, as (member, kind) in (real id,
    /// kind) order.
    fn granted_by(&self, uid: u32) -> Vec<(String, String)> {
        let mut granted: Vec<(u64, String, String)> = self
            .holdings
            .iter()
            .flat_map(|(k, held)| {
                held.iter()
                    .filter(|(_, src)| **src == Src::Group(uid))
                    .map(|(kind, _)| (self.members[k].seq, k.clone(), kind.clone()))
            })
            .collect();
        granted.sort();
        granted.into_iter().map(|(_, k, kind)| (k, kind)).collect()
    }

    fn granted_count(&self, uid: u32) -> usize {
        self.granted_by(uid).len()
    }

    fn grant(&mut self, k: &str, kind: &str, src: Src) {
        self.holdings
            .entry(k.to_owned())
            .or_default()
            .insert(kind.to_owned(), src);
    }

    fn release(&mut self, k: &str, kind: &str) {
        if let Some(held) = self.holdings.get_mut(k) {
            held.remove(kind);
            if held.is_empty() {
                self.holdings.remove(k);
            }
        }
    }

    /// Releases what group `uid`'s rule granted (to `member` only, if
    /// given).
    fn release_group_grants(&mut self, member: Option<&str>, uid: u32) {
        for (k, kind) in self.granted_by(uid) {
            if member.is_none_or(|m| m == k) {
                self.release(&k, &kind);
            }
        }
    }

    /// The first kind (in kind order) with more seats used than it has.
    fn over_allocated(&self) -> Option<String> {
        self.pools
            .iter()
            .find(|(kind, (_, seats))| self.used(kind) > *seats)
            .map(|(kind, _)| kind.clone())
    }

    /// Members joining groups (in order) receive each joined group's rule
    /// kind, unless they hold a license directly or already hold the kind,
    /// or the rule's quota is full; refused if seats run out.
    fn join_grants(&mut self, joins: &[(String, Vec<u32>)]) -> Result<(), Refusal> {
        for (k, uids) in joins {
            if self.has_direct(k) {
                continue;
            }
            for uid in uids {
                let Some(rule) = self.rules.get(uid).cloned() else {
                    continue;
                };
                if self.holds(k, &rule.kind).is_some() || rule.full(self.granted_count(*uid)) {
                    continue;
                }
                self.grant(k, &rule.kind, Src::Group(*uid));
            }
        }
        match self.over_allocated() {
            Some(kind) => refuse("no_seats_left", vec![kind]),
            None => Ok(()),
        }
    }

    /// `SetGroupLicenseRule` on group index `i`, once the command is valid.
    fn set_rule(&mut self, i: usize, kind: String, quota: Option<u32>) -> Outcome {
        let uid = self.groups[i].uid;
        let limit = quota.map_or(usize::MAX, |q| usize::try_from(q).unwrap_or(usize::MAX));
        let mut kept = 0usize;
        let mut releases = Vec::new();
        for (k, held) in self.granted_by(uid) {
            if held == kind && kept < limit {
                kept += 1;
            } else {
                releases.push((k, held));
            }
        }
        let mut grants = Vec::new();
        for k in self.by_seq(&self.groups[i].members) {
            if kept + grants.len() >= limit {
                break;
            }
            if self.holds(&k, &kind).is_none() && !self.has_direct(&k) {
                grants.push(k);
            }
        }
        let rule = ModelRule {
            kind: kind.clone(),
            quota,
        };
        if self.rules.get(&uid) == Some(&rule) && releases.is_empty() && grants.is_empty() {
            return Ok(false);
        }
        self.rules.insert(uid, rule);
        for (k, held) in &releases {
            self.release(k, held);
        }
        for k in &grants {
            self.grant(k, &kind, Src::Group(uid));
        }
        match self.over_allocated() {
            Some(kind) => refuse("no_seats_left", vec![kind]),
            None => Ok(true),
        }
    }

    /// Every license held through a group, as (member, kind, group uid), in
    /// (real id, kind) order.
    fn group_holdings(&self) -> Vec<(String, String, u32)> {
        let mut held: Vec<(u64, String, String, u32)> = self
            .holdings
            .iter()
            .flat_map(|(k, held)| {
                held.iter().filter_map(|(kind, src)| match src {
                    Src::Group(uid) => Some((self.members[k].seq, kind.clone(), k.clone(), *uid)),
                    Src::Direct => None,
                })
            })
            .collect();
        held.sort();
        held.into_iter()
            .map(|(_, kind, k, uid)| (k, kind, uid))
            .collect()
    }

    /// Where a member's invitation stands at `now`.
    fn invitation_status(&self, m: &ModelMember, now: i64) -> InvitationStatus {
        if m.last_active.is_some() {
            InvitationStatus::Accepted
        } else if self.expiry.is_some_and(|ttl| now >= m.sent_at + ttl) {
            InvitationStatus::Expired
        } else {
            InvitationStatus::Pending
        }
    }
}

// ---------------------------------------------------------------------------
// Projections of the real aggregate and of the model
// ---------------------------------------------------------------------------

#[derive(Debug, PartialEq, Eq)]
struct MemberView {
    email: String,
    pending: bool,
    last_active: Option<i64>,
    invited_at: i64,
    /// Canonical group names, default groups first, then creation order.
    groups: Vec<String>,
    organization_role: Option<OrganizationRole>,
}

#[derive(Debug, PartialEq, Eq)]
struct ServiceView {
    name: String,
    /// Spellings, in role order (ignoring case).
    roles: Vec<String>,
    admin_role: String,
    /// Canonical group name to role, for every group with a default role.
    defaults: BTreeMap<String, String>,
    /// Holder label (`group <name>` or `user <lower-case address>`) to its
    /// roles, in role order.
    grants: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, PartialEq, Eq)]
struct GroupView {
    name: String,
    default: Option<DefaultGroup>,
    members: BTreeSet<String>,
}

#[derive(Debug, PartialEq, Eq)]
struct View {
    exists: bool,
    name: String,
    created_at: Option<i64>,
    members: Vec<MemberView>,
    groups: Vec<GroupView>,
    pending_count: usize,
    active_admins: usize,
    services: Vec<ServiceView>,
    /// Kind as the pool spells it, seats, seats used; in kind order.
    pools: Vec<(String, u32, u32)>,
    /// Canonical group name to lower-case kind and quota.
    rules: BTreeMap<String, (String, Option<u32>)>,
    /// Lower-case kind, lower-case address, `direct` or `group <name>`.
    holdings: BTreeSet<(String, String, String)>,
    mail: Option<MailSettings>,
    /// Seconds.
    expiry: Option<i64>,
    /// Lower-case addresses and failed attempts, oldest first.
    outbox: Vec<(String, u32)>,
}

impl Model {
    fn group_label(&self, uid: u32) -> String {
        self.groups
            .iter()
            .find(|g| g.uid == uid)
            .map_or_else(|| format!("<missing group {uid}>"), |g| g.name.clone())
    }

    fn service_view(&self, s: &ModelService) -> ServiceView {
        let mut roles = s.roles.clone();
        roles.sort_by_key(|r| key(r));
        ServiceView {
            name: s.name.clone(),
            roles,
            admin_role: s.spelling(&s.admin_role),
            defaults: s
                .defaults
                .iter()
                .map(|(uid, role)| (self.group_label(*uid), s.spelling(role)))
                .collect(),
            grants: s
                .grants
                .iter()
                .map(|(holder, roles)| {
                    let label = match holder {
                        MHolder::Group(uid) => format!("group {}", self.group_label(*uid)),
                        MHolder::User(k) => format!("user {k}"),
                    };
                    (label, roles.iter().map(|r| s.spelling(r)).collect())
                })
                .collect(),
        }
    }

    fn view(&self) -> View {
        let members = self
            .members
            .iter()
            .map(|(k, m)| MemberView {
                email: m.email.clone(),
                pending: m.last_active.is_none(),
                last_active: m.last_active,
                invited_at: m.invited_at,
                groups: self
                    .groups
                    .iter()
                    .filter(|g| g.members.contains(k))
                    .map(|g| g.name.clone())
                    .collect(),
                organization_role: Some(if self.is_active_admin(k) {
                    OrganizationRole::Administrator
                } else {
                    OrganizationRole::User
                }),
            })
            .collect();
        View {
            exists: self.created,
            name: self.name.clone(),
            created_at: self.created.then_some(self.created_at),
            members,
            groups: self
                .groups
                .iter()
                .map(|g| GroupView {
                    name: g.name.clone(),
                    default: g.default,
                    members: g.members.clone(),
                })
                .collect(),
            pending_count: self
                .members
                .values()
                .filter(|m| m.last_active.is_none())
                .count(),
            active_admins: if self.created {
                self.active_admins_except(&BTreeSet::new())
            } else {
                0
            },
            services: self.services.iter().map(|s| self.service_view(s)).collect(),
            pools: self
                .pools
                .iter()
                .map(|(k, (spelling, seats))| (spelling.clone(), *seats, self.used(k)))
                .collect(),
            rules: self
                .rules
                .iter()
                .map(|(uid, rule)| (self.group_label(*uid), (rule.kind.clone(), rule.quota)))
                .collect(),
            holdings: self
                .holdings
                .iter()
                .flat_map(|(k, held)| {
                    held.iter().map(move |(kind, src)| {
                        let source = match src {
                            Src::Direct => "direct".to_owned(),
                            Src::Group(uid) => format!("group {}", self.group_label(*uid)),
                        };
                        (kind.clone(), k.clone(), source)
                    })
                })
                .collect(),
            mail: self.mail.map(mail_settings),
            expiry: self.expiry,
            outbox: self.outbox.clone(),
        }
    }
}

/// Every row of a listing, fetched page by page through the cursors.
fn all_pages(org: &Organization, query: &MemberQuery) -> Result<Vec<UserId>, TestCaseError> {
    let mut ids = Vec::new();
    let mut q = query.clone();
    for _ in 0..1_000 {
        let page = org.members_page(&q);
        ids.extend(page.rows.iter().map(|r| r.member().id()));
        match page.next {
            Some(cursor) => q = query.clone().after(cursor),
            None => return Ok(ids),
        }
    }
    Err(TestCaseError::fail(format!(
        "listing {query:?} did not end after 1000 pages"
    )))
}

fn lower_email(org: &Organization, id: UserId) -> Result<String, TestCaseError> {
    org.member_by_id(id)
        .map(|m| m.email().as_str().to_lowercase())
        .ok_or_else(|| TestCaseError::fail(format!("{id} is listed but is not a member")))
}

fn real_view(org: &Organization) -> Result<View, TestCaseError> {
    let mut members = Vec::new();
    for id in all_pages(org, &MemberQuery::new().limit(2))? {
        let m = org
            .member_by_id(id)
            .ok_or_else(|| TestCaseError::fail(format!("{id} is listed but is not a member")))?;
        let row = org.member_row(m);
        let row_groups: Vec<String> = row.groups().iter().map(|g| g.as_str().to_owned()).collect();
        let id_groups: Vec<String> = m
            .group_ids()
            .map(|g| {
                org.group_by_id(g).map_or_else(
                    || format!("<missing {g}>"),
                    |g| g.name().as_str().to_owned(),
                )
            })
            .collect();
        prop_assert_eq!(&row_groups, &id_groups, "row groups of {}", m.email());
        members.push(MemberView {
            email: m.email().as_str().to_owned(),
            pending: m.status().is_pending(),
            last_active: m.status().last_active().map(|t| t.as_second()),
            invited_at: m.invited_at().as_second(),
            groups: row_groups,
            organization_role: org.organization_role(m.email()),
        });
    }
    let mut groups = Vec::new();
    for g in org.groups() {
        let mut names = BTreeSet::new();
        for id in g.members() {
            names.insert(lower_email(org, id)?);
        }
        groups.push(GroupView {
            name: g.name().as_str().to_owned(),
            default: match g.kind() {
                GroupKind::Default(d) => Some(d),
                _ => None,
            },
            members: names,
        });
    }
    let group_label = |g: GroupId| {
        org.group_by_id(g).map_or_else(
            || format!("<missing {g}>"),
            |g| g.name().as_str().to_owned(),
        )
    };
    let mut services = Vec::new();
    for s in org.services() {
        let mut grants = BTreeMap::new();
        for (holder, roles) in s.assignments() {
            let label = match holder {
                Holder::Group(g) => format!("group {}", group_label(g)),
                Holder::User(id) => format!("user {}", lower_email(org, id)?),
            };
            grants.insert(label, roles.iter().map(|r| r.as_str().to_owned()).collect());
        }
        services.push(ServiceView {
            name: s.name().as_str().to_owned(),
            roles: s.roles().map(|r| r.as_str().to_owned()).collect(),
            admin_role: s.admin_role().as_str().to_owned(),
            defaults: org
                .groups()
                .filter_map(|g| {
                    s.default_role(g.id())
                        .map(|r| (g.name().as_str().to_owned(), r.as_str().to_owned()))
                })
                .collect(),
            grants,
        });
    }
    let usage = org.seat_usage();
    let mut holdings = BTreeSet::new();
    for u in &usage {
        for (id, source) in org.license_holders(&u.kind) {
            let source = match source {
                LicenseSource::Direct => "direct".to_owned(),
                LicenseSource::Group(g) => format!("group {}", group_label(g)),
                other => format!("{other:?}"),
            };
            holdings.insert((key(u.kind.as_str()), lower_email(org, id)?, source));
        }
    }
    let mut outbox = Vec::new();
    for (_, queued, message) in org.queued_emails() {
        let to = lower_email(org, queued.user())?;
        prop_assert_eq!(key(message.to.as_str()), to.clone(), "queued email address");
        prop_assert_eq!(
            queued.last_error(),
            (queued.attempts() > 0).then_some(DELIVERY_ERROR),
            "last delivery error"
        );
        outbox.push((to, queued.attempts()));
    }
    Ok(View {
        exists: org.exists(),
        name: org.name().to_owned(),
        created_at: org.created_at().map(|t| t.as_second()),
        members,
        groups,
        pending_count: org.pending_count(),
        active_admins: org.active_administrator_count(),
        services,
        pools: usage
            .iter()
            .map(|u| (u.kind.as_str().to_owned(), u.seats, u.used))
            .collect(),
        rules: org
            .groups()
            .filter_map(|g| {
                org.license_rule(g.name()).map(|rule| {
                    (
                        g.name().as_str().to_owned(),
                        (key(rule.kind.as_str()), rule.quota),
                    )
                })
            })
            .collect(),
        holdings,
        mail: org.mail_settings().cloned(),
        expiry: org.invitation_expiry().map(|d| d.as_secs()),
        outbox,
    })
}

/// The real ids must follow invitation order (ties in Last active are
/// broken by it).
fn check_id_order(org: &Organization, model: &Model) -> Result<(), TestCaseError> {
    let mut by_seq: Vec<(&String, &ModelMember)> = model.members.iter().collect();
    by_seq.sort_by_key(|(_, m)| m.seq);
    let mut last: Option<UserId> = None;
    for (k, _) in by_seq {
        let m = org
            .member(&email(k))
            .ok_or_else(|| TestCaseError::fail(format!("model member {k} is missing")))?;
        if let Some(prev) = last {
            prop_assert!(prev < m.id(), "ids out of invitation order at {}", k);
        }
        last = Some(m.id());
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Invariants of the real aggregate
// ---------------------------------------------------------------------------

/// `log` holds the events as `execute` returned them, `stored` the same
/// events after a JSON round trip (each serialized once, as an event store
/// row would be).
fn check_invariants(
    org: &Organization,
    log: &[Event],
    stored: &[Event],
    removed: &BTreeSet<UserId>,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(org.version(), log.len() as u64, "version counts events");

    if org.exists() {
        let admins = org
            .group(&group_name("Administrators"))
            .ok_or_else(|| TestCaseError::fail("no Administrators group"))?;
        let active = admins
            .members()
            .filter(|id| org.is_active_administrator(*id))
            .count();
        prop_assert!(active >= 1, "no active administrator");
        prop_assert_eq!(active, org.active_administrator_count());
        prop_assert!(org.groups().count() >= DefaultGroup::ALL.len());
    } else {
        prop_assert_eq!(org.member_count(), 0);
        prop_assert_eq!(org.groups().count(), 0);
    }

    // Every listing: the whole organization, by status, by group.
    let everyone: Vec<UserId> = all_pages(org, &MemberQuery::new().limit(3))?;
    prop_assert_eq!(everyone.len(), org.member_count());
    let pending = all_pages(org, &MemberQuery::new().status(StatusFilter::Pending))?;
    prop_assert_eq!(pending.len(), org.pending_count());
    let active = all_pages(org, &MemberQuery::new().status(StatusFilter::Active))?;
    prop_assert_eq!(pending.len() + active.len(), org.member_count());
    for id in everyone.iter().chain(&pending).chain(&active) {
        prop_assert!(!removed.contains(id), "removed {} is listed", id);
    }

    for id in &everyone {
        let m = org
            .member_by_id(*id)
            .ok_or_else(|| TestCaseError::fail(format!("{id} listed, not a member")))?;
        prop_assert_eq!(org.member(m.email()).map(|x| x.id()), Some(*id));
        for g in m.group_ids() {
            let group = org
                .group_by_id(g)
                .ok_or_else(|| TestCaseError::fail(format!("{} is in missing {g}", m.email())))?;
            prop_assert!(!group.is_everyone(), "Everyone listed on {}", m.email());
            prop_assert!(
                group.members().any(|u| u == *id),
                "{} lists {} but the group does not list them",
                m.email(),
                group.name()
            );
        }
    }

    for g in org.groups() {
        prop_assert_eq!(org.group(g.name()).map(|x| x.id()), Some(g.id()));
        let listed: BTreeSet<UserId> =
            all_pages(org, &MemberQuery::new().in_group(g.name().clone()).limit(2))?
                .into_iter()
                .collect();
        if g.is_everyone() {
            prop_assert_eq!(g.members().len(), 0, "Everyone has explicit members");
            prop_assert_eq!(org.group_member_count(g), org.member_count());
            prop_assert_eq!(listed.len(), org.member_count());
        } else {
            prop_assert_eq!(org.group_member_count(g), g.members().len());
            let explicit: BTreeSet<UserId> = g.members().collect();
            prop_assert_eq!(&listed, &explicit, "listing of {}", g.name());
        }
        for id in g.members() {
            let m = org.member_by_id(id).ok_or_else(|| {
                TestCaseError::fail(format!("{} holds {id}, not a member", g.name()))
            })?;
            prop_assert!(m.is_in(g.id()), "{} not in {}", m.email(), g.name());
            prop_assert!(!removed.contains(&id), "removed {} in {}", id, g.name());
        }
        for id in &listed {
            prop_assert!(
                !removed.contains(id),
                "removed {} listed in {}",
                id,
                g.name()
            );
        }
    }

    for id in removed {
        prop_assert!(
            org.member_by_id(*id).is_none(),
            "removed {} is a member",
            id
        );
    }

    check_roles(org, &everyone, removed)?;
    check_licenses(org, &everyone, removed)?;
    check_email_queue(org, removed)?;

    // (Replaying the events is checked by the caller.)
    prop_assert_eq!(stored, log, "JSON round trip changed events");
    check_snapshot(org)
}

/// Role assignments name members and existing groups only; default roles
/// are held; effective roles are exactly the union of the member's own
/// roles and those of each of their groups and `Everyone`, with those
/// sources.
fn check_roles(
    org: &Organization,
    members: &[UserId],
    removed: &BTreeSet<UserId>,
) -> Result<(), TestCaseError> {
    let everyone = DefaultGroup::Everyone.id();
    for s in org.services() {
        prop_assert_eq!(org.service(s.name()).map(|x| x.id()), Some(s.id()));
        let defined: BTreeSet<&RoleName> = s.roles().collect();
        prop_assert!(defined.contains(s.admin_role()), "{} admin role", s.name());
        prop_assert_eq!(
            s.default_role(DefaultGroup::Administrators.id()),
            Some(s.admin_role()),
            "{}: Administrators' default role",
            s.name()
        );
        prop_assert_eq!(s.default_role(everyone), None, "{}: Everyone", s.name());
        for d in DefaultGroup::ALL {
            if let Some(role) = s.default_role(d.id()) {
                prop_assert!(
                    s.roles_of(Holder::Group(d.id())).any(|r| r == role),
                    "{}: {:?} lost its default role {}",
                    s.name(),
                    d,
                    role
                );
            }
        }
        for (holder, roles) in s.assignments() {
            prop_assert!(!roles.is_empty(), "{}: empty assignment", s.name());
            for role in roles {
                prop_assert!(defined.contains(role), "{}: undefined {}", s.name(), role);
            }
            match holder {
                Holder::User(id) => {
                    prop_assert!(
                        org.member_by_id(id).is_some(),
                        "{}: role holder {} is not a member",
                        s.name(),
                        id
                    );
                    prop_assert!(!removed.contains(&id), "{}: removed {id}", s.name());
                }
                Holder::Group(g) => prop_assert!(
                    org.group_by_id(g).is_some(),
                    "{}: role holder {} is not a group",
                    s.name(),
                    g
                ),
            }
        }
        for id in removed {
            prop_assert_eq!(s.roles_of(Holder::User(*id)).count(), 0);
        }
        for id in members {
            let m = org
                .member_by_id(*id)
                .ok_or_else(|| TestCaseError::fail(format!("{id} is not a member")))?;
            let mut expected: BTreeSet<(RoleName, RoleSource)> = s
                .roles_of(Holder::User(*id))
                .map(|r| (r.clone(), RoleSource::Direct))
                .collect();
            for g in m.group_ids().chain([everyone]) {
                expected.extend(
                    s.roles_of(Holder::Group(g))
                        .map(|r| (r.clone(), RoleSource::Group(g))),
                );
            }
            let actual: Vec<(RoleName, RoleSource)> = org
                .effective_roles(s.name(), m.email())
                .ok_or_else(|| TestCaseError::fail(format!("no roles for {}", m.email())))?
                .into_iter()
                .map(|g| (g.role, g.source))
                .collect();
            prop_assert_eq!(
                actual,
                expected.into_iter().collect::<Vec<_>>(),
                "effective roles of {} in {}",
                m.email(),
                s.name()
            );
        }
    }
    Ok(())
}

/// Seats used <= seats; holders listed per kind number the seats used and
/// are members; a group-sourced license belongs to a member of the group,
/// whose rule gives that kind within its quota; a member with a direct
/// license holds none through groups.
fn check_licenses(
    org: &Organization,
    members: &[UserId],
    removed: &BTreeSet<UserId>,
) -> Result<(), TestCaseError> {
    let usage = org.seat_usage();
    let mut seats_used = 0u32;
    let mut granted: BTreeMap<GroupId, u32> = BTreeMap::new();
    for u in &usage {
        prop_assert!(
            u.used <= u.seats,
            "{}: {} seats used of {}",
            u.kind,
            u.used,
            u.seats
        );
        prop_assert_eq!(u.free(), u.seats - u.used);
        let holders = org.license_holders(&u.kind);
        prop_assert_eq!(holders.len(), u.used as usize, "holders of {}", u.kind);
        seats_used += u.used;
        for (id, source) in holders {
            let m = org.member_by_id(id).ok_or_else(|| {
                TestCaseError::fail(format!("{} holder {id} is not a member", u.kind))
            })?;
            prop_assert!(!removed.contains(&id), "removed {} holds {}", id, u.kind);
            prop_assert!(
                org.licenses_of(m.email())
                    .contains(&(u.kind.clone(), source)),
                "{} holds {} ({:?}) but licenses_of disagrees",
                m.email(),
                u.kind,
                source
            );
            if let LicenseSource::Group(g) = source {
                let group = org
                    .group_by_id(g)
                    .ok_or_else(|| TestCaseError::fail(format!("{} from missing {g}", u.kind)))?;
                prop_assert!(
                    m.is_in(g),
                    "{} holds {} from {}",
                    m.email(),
                    u.kind,
                    group.name()
                );
                let rule = org.license_rule(group.name()).ok_or_else(|| {
                    TestCaseError::fail(format!("{} from {} without a rule", u.kind, group.name()))
                })?;
                prop_assert_eq!(&rule.kind, &u.kind, "rule of {}", group.name());
                *granted.entry(g).or_default() += 1;
            }
        }
    }
    for g in org.groups() {
        let Some(rule) = org.license_rule(g.name()) else {
            prop_assert_eq!(
                granted.get(&g.id()),
                None,
                "{} grants without a rule",
                g.name()
            );
            continue;
        };
        prop_assert!(!g.is_everyone(), "Everyone has a license rule");
        prop_assert!(
            usage.iter().any(|u| u.kind == rule.kind),
            "rule of {} without a pool",
            g.name()
        );
        if let Some(quota) = rule.quota {
            prop_assert!(quota >= 1, "{}: quota 0", g.name());
            let n = granted.get(&g.id()).copied().unwrap_or(0);
            prop_assert!(n <= quota, "{}: {} granted, quota {}", g.name(), n, quota);
        }
    }
    let mut held_total = 0usize;
    for id in members {
        let m = org
            .member_by_id(*id)
            .ok_or_else(|| TestCaseError::fail(format!("{id} is not a member")))?;
        let held = org.licenses_of(m.email());
        held_total += held.len();
        let direct = held.iter().any(|(_, s)| *s == LicenseSource::Direct);
        for (kind, source) in &held {
            prop_assert!(
                usage.iter().any(|u| u.kind == *kind),
                "{} without a pool",
                kind
            );
            prop_assert!(
                !(direct && matches!(source, LicenseSource::Group(_))),
                "{} holds a license directly and {} through {:?}",
                m.email(),
                kind,
                source
            );
        }
    }
    prop_assert_eq!(
        held_total,
        seats_used as usize,
        "licenses held vs seats used"
    );
    Ok(())
}

/// Without mail settings nothing is queued; every queued email goes to a
/// current member, as the settings say.
fn check_email_queue(org: &Organization, removed: &BTreeSet<UserId>) -> Result<(), TestCaseError> {
    let queued: Vec<_> = org.queued_emails().collect();
    let Some(settings) = org.mail_settings() else {
        prop_assert!(queued.is_empty(), "emails queued without mail settings");
        return Ok(());
    };
    for (_, q, message) in queued {
        let m = org.member_by_id(q.user()).ok_or_else(|| {
            TestCaseError::fail(format!("email queued for {}, not a member", q.user()))
        })?;
        prop_assert!(
            !removed.contains(&q.user()),
            "email queued for removed {}",
            q.user()
        );
        prop_assert_eq!(&message.to, m.email());
        prop_assert_eq!(&message.from_address, &settings.sender_address);
        prop_assert_eq!(&message.from_name, &settings.sender_name);
        prop_assert!(
            message.body.contains(org.name()),
            "body names the organization"
        );
    }
    Ok(())
}

/// A snapshot, also after a JSON round trip, restores an equal
/// organization; the email queue it stores holds exactly the deliverable
/// emails.
fn check_snapshot(org: &Organization) -> Result<(), TestCaseError> {
    let snapshot = org.snapshot();
    prop_assert_eq!(snapshot.version(), org.version());
    let json = serde_json::to_string(&snapshot)
        .map_err(|e| TestCaseError::fail(format!("snapshot to JSON: {e}")))?;
    let value: serde_json::Value = serde_json::from_str(&json)
        .map_err(|e| TestCaseError::fail(format!("snapshot JSON {json}: {e}")))?;
    // The queue as stored holds exactly the deliverable emails (nothing
    // for removed members or without mail settings lingers).
    let stored = value["outbox"]
        .as_array()
        .ok_or_else(|| TestCaseError::fail("the snapshot has no outbox list"))?
        .len();
    prop_assert_eq!(
        stored,
        org.queued_emails().count(),
        "stored vs deliverable queued emails"
    );
    let back: Snapshot = serde_json::from_value(value)
        .map_err(|e| TestCaseError::fail(format!("snapshot from JSON {json}: {e}")))?;
    prop_assert_eq!(&back, &snapshot, "snapshot JSON round trip");
    // `back` equals `snapshot`: this checks both round trips.
    let restored = Organization::from_snapshot(&back)
        .map_err(|e| TestCaseError::fail(format!("from_snapshot: {e}")))?;
    prop_assert_eq!(&restored, org, "snapshot round trip");
    Ok(())
}

/// Each member's invitation status and expiry at `now` agree with the
/// model.
fn check_invitations(org: &Organization, model: &Model, now: i64) -> Result<(), TestCaseError> {
    for (k, mm) in &model.members {
        let m = org
            .member(&email(k))
            .ok_or_else(|| TestCaseError::fail(format!("model member {k} is missing")))?;
        prop_assert_eq!(
            org.invitation_status(m, ts(now)),
            model.invitation_status(mm, now),
            "invitation status of {}",
            k
        );
        let expires = model
            .expiry
            .filter(|_| mm.last_active.is_none())
            .map(|ttl| mm.sent_at + ttl);
        prop_assert_eq!(
            org.invitation_expires_at(m).map(|t| t.as_second()),
            expires,
            "expiry of {}",
            k
        );
        // At the instant it expires, not a second before: for the status
        // and for accepting.
        if let Some(end) = expires {
            let accept = |at: i64| {
                org.decide(
                    &Command::AcceptInvitation,
                    &Context::new(m.email().clone(), ts(at)),
                )
            };
            prop_assert_eq!(
                org.invitation_status(m, ts(end - 1)),
                InvitationStatus::Pending
            );
            prop_assert_eq!(org.invitation_status(m, ts(end)), InvitationStatus::Expired);
            prop_assert!(accept(end - 1).is_ok(), "{} cannot accept before expiry", k);
            prop_assert_eq!(
                accept(end).map_err(|e| e.code()),
                Err("invitation_expired"),
                "{} accepts at expiry",
                k
            );
        }
    }
    Ok(())
}

/// Each event through JSON and back, as a store writes and reads a row.
fn round_trip(events: &[Event]) -> Result<Vec<Event>, TestCaseError> {
    events
        .iter()
        .map(|event| {
            let json = serde_json::to_string(event)
                .map_err(|e| TestCaseError::fail(format!("serialize {event:?}: {e}")))?;
            serde_json::from_str(&json)
                .map_err(|e| TestCaseError::fail(format!("deserialize {json}: {e}")))
        })
        .collect()
}

/// Every combination of filters and orders, in small pages, against the
/// model.
fn check_listings(org: &Organization, model: &Model) -> Result<(), TestCaseError> {
    let groups = std::iter::once(None)
        .chain(GROUPS.iter().map(|g| Some(*g)))
        .chain(std::iter::once(Some("Nobody Has This")));
    let sorts = [
        (SortBy::Email, SortOrder::Ascending),
        (SortBy::Email, SortOrder::Descending),
        (SortBy::LastActive, SortOrder::Ascending),
        (SortBy::LastActive, SortOrder::Descending),
    ];
    let mut n = 0usize;
    for group in groups {
        for status in [
            None,
            Some(StatusFilter::Pending),
            Some(StatusFilter::Active),
        ] {
            for contains in [None, Some(" Example.COM ")] {
                for (sort, order) in sorts {
                    n += 1;
                    let mut q = MemberQuery::new()
                        .sort(sort, order)
                        .limit(1 + n % 3)
                        .scan_limit(1 + n % 4);
                    if let Some(g) = group {
                        q = q.in_group(group_name(g));
                    }
                    if let Some(s) = status {
                        q = q.status(s);
                    }
                    if let Some(c) = contains {
                        q = q.email_contains(c);
                    }
                    let real: Vec<String> = all_pages(org, &q)?
                        .into_iter()
                        .map(|id| lower_email(org, id))
                        .collect::<Result<_, _>>()?;
                    let expected = model.listing(group, status, contains, sort, order);
                    prop_assert_eq!(real, expected, "listing {:?}", q);
                }
            }
        }
    }
    Ok(())
}

/// The lower-case text a refusal names, to compare with the model's.
fn offenders(e: &DomainError) -> Vec<String> {
    let lower = |list: &[Email]| list.iter().map(|e| key(e.as_str())).collect();
    match e {
        DomainError::UnknownGroups { names } => names.iter().map(|n| key(n.as_str())).collect(),
        DomainError::DuplicateInvitees { emails }
        | DomainError::AlreadyMembers { emails }
        | DomainError::UnknownUsers { emails } => lower(emails),
        DomainError::GroupNameTaken { name } | DomainError::DefaultGroupImmutable { name } => {
            vec![key(name.as_str())]
        }
        DomainError::Forbidden { actor: email }
        | DomainError::NotInvited { email }
        | DomainError::AlreadyAccepted { email }
        | DomainError::InvitationNotAccepted { email }
        | DomainError::NotAMember { email }
        | DomainError::NotPending { email }
        | DomainError::InvitationExpired { email } => vec![key(email.as_str())],
        DomainError::UnknownService { name } | DomainError::ServiceNameTaken { name } => {
            vec![key(name.as_str())]
        }
        DomainError::UnknownRole { role, .. } => vec![key(role.as_str())],
        DomainError::DefaultRoleProtected { group, role, .. } => {
            vec![key(group.as_str()), key(role.as_str())]
        }
        DomainError::UnknownLicenseKind { kind }
        | DomainError::NoSeatsLeft { kind, .. }
        | DomainError::SeatsInUse { kind, .. } => vec![key(kind.as_str())],
        DomainError::NotAllocated { email, kind } => vec![key(email.as_str()), key(kind.as_str())],
        _ => Vec::new(),
    }
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

/// Runs the steps; a failure message ends with the resolved trace (time,
/// actor, command, outcome), which is the minimal failing sequence once
/// proptest has shrunk it.
fn run(steps: &[Step]) -> Result<(), TestCaseError> {
    let mut trace = Vec::new();
    run_traced(steps, &mut trace).map_err(|e| match e {
        TestCaseError::Fail(reason) => TestCaseError::fail(format!(
            "{}\ntrace:\n{}",
            reason.message(),
            trace.join("\n")
        )),
        other => other,
    })
}

fn run_traced(steps: &[Step], trace: &mut Vec<String>) -> Result<(), TestCaseError> {
    let mut org = Organization::new();
    let mut model = Model::default();
    let mut log: Vec<Event> = Vec::new();
    let mut stored: Vec<Event> = Vec::new();
    // The events replayed so far, as read back from JSON; applied as they
    // come, which is what replaying them from scratch does.
    let mut replayed = Organization::new();
    let mut replayed_stored = Organization::new();
    let mut removed: BTreeSet<UserId> = BTreeSet::new();
    let mut now = START;

    for (i, step) in steps.iter().enumerate() {
        now += step.dt;
        let actor = model.resolve(step.who, "");
        let ctx = Context::new(email(actor), ts(now));
        let op = step.op.resolve(&model, actor);
        trace.push(format!("  {i:2}. +{}s {actor}: {op:?}", now - START));
        if let Op::Deliver { nth, ok } = op {
            let events = deliver(&mut org, &mut model, nth, ok, now)?;
            if let Some(line) = trace.last_mut() {
                line.push_str(&format!(" -> {} event(s)", events.len()));
            }
            stored.extend(round_trip(&events)?);
            log.extend(events);
        } else {
            let command = op.command();

            let before = org.clone();
            let decided = org.decide(&command, &ctx);
            prop_assert_eq!(&org, &before, "step {}: decide changed the state", i);
            let result = org.execute(&command, &ctx);
            prop_assert_eq!(&result, &decided, "step {}: execute differs from decide", i);
            if let Some(line) = trace.last_mut() {
                match &result {
                    Ok(events) => line.push_str(&format!(" -> {} event(s)", events.len())),
                    Err(e) => line.push_str(&format!(" -> {}", e.code())),
                }
            }

            let outbox_before = model.outbox.len();
            let expected = model.step(actor, now, &op);
            match (&result, &expected) {
                (Ok(events), Ok(changed)) => {
                    prop_assert_eq!(
                        events.is_empty(),
                        !changed,
                        "step {}: events {:?}",
                        i,
                        events
                    );
                    // Who acted: the member before the step, or the creator.
                    let actor_id = before
                        .member(&ctx.actor)
                        .or_else(|| org.member(&ctx.actor))
                        .map(|m| m.id());
                    for e in events {
                        prop_assert_eq!(e.at, ctx.now, "step {}: event time", i);
                        prop_assert_eq!(Some(e.actor), actor_id, "step {}: event actor", i);
                        if let EventKind::UserRemoved { user }
                        | EventKind::InvitationRevoked { user } = &e.kind
                        {
                            removed.insert(*user);
                        }
                    }
                    // Exactly one email per invitation (or resend), and only
                    // with mail settings; no other command queues any.
                    let queued = events
                        .iter()
                        .filter(|e| matches!(e.kind, EventKind::InvitationEmailQueued { .. }))
                        .count();
                    let expected_queued = match op {
                        Op::InviteUsers { .. } | Op::ResendInvitation { .. } => {
                            model.outbox.len() - outbox_before
                        }
                        _ => 0,
                    };
                    prop_assert_eq!(queued, expected_queued, "step {}: emails queued", i);
                    log.extend(events.iter().cloned());
                    stored.extend(round_trip(events)?);
                }
                (Err(err), Err(refusal)) => {
                    prop_assert_eq!(
                        (err.code(), offenders(err)),
                        (refusal.code, refusal.offenders.clone()),
                        "step {}: {}",
                        i,
                        err
                    );
                    prop_assert_eq!(&org, &before, "step {}: a refusal changed the state", i);
                }
                _ => {
                    return Err(TestCaseError::fail(format!(
                        "step {i}: real {result:?}, model {expected:?}"
                    )));
                }
            }
        }

        prop_assert_eq!(real_view(&org)?, model.view(), "step {}", i);
        check_id_order(&org, &model)?;
        check_invitations(&org, &model, now)?;
        check_invariants(&org, &log, &stored, &removed)?;
        // Events rebuild the state, also after a JSON round trip.
        let seen = usize::try_from(replayed.version()).expect("small log");
        for e in log.get(seen..).unwrap_or_default() {
            replayed.apply(e);
        }
        for e in stored.get(seen..).unwrap_or_default() {
            replayed_stored.apply(e);
        }
        prop_assert_eq!(&replayed, &org, "step {}: replay differs", i);
        prop_assert_eq!(&replayed_stored, &org, "step {}: JSON replay differs", i);
    }
    prop_assert_eq!(&Organization::replay(&log), &org, "replay differs");
    check_listings(&org, &model)
}

/// Why a simulated delivery fails.
const DELIVERY_ERROR: &str = "the mail server failed: connection refused";

/// The service delivers the `nth` queued email (if any): the event it
/// records, applied to the organization and to the model. A delivered email
/// leaves the queue for good; a failed one stays, with one more attempt.
fn deliver(
    org: &mut Organization,
    model: &mut Model,
    nth: usize,
    ok: bool,
    now: i64,
) -> Result<Vec<Event>, TestCaseError> {
    let queued: Vec<NotificationId> = org.queued_emails().map(|(id, _, _)| id).collect();
    let Some(&id) = queued.get(nth % queued.len().max(1)) else {
        return Ok(Vec::new());
    };
    let failure =
        org_accounts::MailError::new(org_accounts::MailErrorKind::Transient, None, DELIVERY_ERROR);
    let result = if ok { Ok(()) } else { Err(&failure) };
    let event = org
        .delivery_event(id, result, ts(now))
        .ok_or_else(|| TestCaseError::fail(format!("{id:?} is queued but has no event")))?;
    prop_assert_eq!(event.at, ts(now));
    org.apply(&event);
    let n = nth % queued.len();
    if ok {
        model.outbox.remove(n);
        prop_assert!(
            org.queued_emails().all(|(q, _, _)| q != id),
            "a delivered email is still queued"
        );
        prop_assert_eq!(
            org.delivery_event(id, result, ts(now)),
            None,
            "a delivered email can be delivered again"
        );
    } else {
        model.outbox[n].1 += 1;
    }
    Ok(vec![event])
}

/// 256 cases unless `PROPTEST_CASES` says otherwise; failures are saved
/// beside this file (`state_machine.proptest-regressions`) and replayed first.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 256;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn organization_matches_reference_model(steps in steps()) {
        run(&steps)?;
    }
}

/// The pool itself parses and has the intended case collisions.
#[test]
fn pools_are_valid() {
    let distinct: BTreeSet<Email> = EMAILS.iter().map(|s| email(s)).collect();
    assert_eq!(distinct.len(), 5);
    let keys: BTreeSet<String> = EMAILS.iter().map(|s| key(s)).collect();
    assert_eq!(keys.len(), 5);
    let groups: BTreeSet<GroupName> = GROUPS.iter().map(|s| group_name(s)).collect();
    assert_eq!(groups.len(), 8);
}
