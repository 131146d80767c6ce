//! Generated steps: the pools of names, the operations drawn as roles
//! ("the n-th active administrator") and resolved against the model.
// Tests assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(unused_imports)]
use super::*;
/// Actor and invitee addresses: five people, two of them spelled two ways.
pub(crate) const EMAILS: [&str; 7] = [
    "ada@example.com",
    "ADA@Example.COM",
    "bob@example.com",
    "cy@example.org",
    "CY@EXAMPLE.ORG",
    "dee@sub.example.net",
    "josé@exämple.de",
];

/// Group names: custom ones (two spellings of one), default ones in odd case.
pub(crate) const GROUPS: [&str; 9] = [
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
pub(crate) const SERVICES: [&str; 3] = ["CRM", "crm", "Wiki"];

/// Role names: three roles, one spelled two ways.
pub(crate) const ROLES: [&str; 4] = ["Owner", "Viewer", "Editor", "VIEWER"];

/// License kinds: two kinds, one spelled two ways.
pub(crate) const KINDS: [&str; 3] = ["Pro", "basic", "PRO"];

/// How many mail settings [`mail_settings`] knows; the first
/// [`VALID_MAIL_SETTINGS`] are valid.
pub(crate) const MAIL_SETTINGS: usize = 4;
pub(crate) const VALID_MAIL_SETTINGS: usize = 2;

/// Invitation expiries, in seconds: none, too short, the shortest allowed,
/// an hour, a day, a week.
pub(crate) const EXPIRIES: [Option<u64>; 6] = [
    None,
    Some(30),
    Some(60),
    Some(3_600),
    Some(86_400),
    Some(7 * 86_400),
];

/// The clock starts here (seconds since the Unix epoch, 2027-01-15).
pub(crate) const START: i64 = 1_800_000_000;

/// Index of Administrators among the model's groups (defaults come first,
/// in `DefaultGroup::ALL` order).
pub(crate) const ADMINISTRATORS: usize = 0;

// ---------------------------------------------------------------------------
// Generated steps
// ---------------------------------------------------------------------------

/// A command over pool names. Generated with users, groups, services and
/// kinds named by role (`M = Who`, `G = Grp`, `P = Pick`; `H = usize` for
/// "the n-th role assignment"), resolved against the model when the step
/// runs into pool addresses and names (`&'static str`).
#[derive(Clone, Debug)]
pub(crate) enum Op<M = &'static str, G = &'static str, P = &'static str, H = Infallible> {
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
    /// The actor leases what their groups give (after a sign-in).
    LeaseLicenses,
    /// User-level allocation of one kind, or nothing selected.
    SetUserLicenses {
        user: M,
        kind: Option<P>,
    },
    UseGroupLicenses {
        user: M,
    },
    ReleaseLicense {
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
    /// Not a command: an administrator uploads a CSV file of these rows
    /// (`email`, `group membership`), read by `read_invite_csv` and decided
    /// by `decide_bulk_invite`.
    BulkUpload {
        rows: Vec<(Cell<M>, Vec<G>)>,
    },
}

/// The email cell of an uploaded row.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Cell<M = &'static str> {
    Email(M),
    /// Not an address (one of [`INVALID_EMAILS`]).
    Invalid(&'static str),
}

/// Email cells that are not addresses.
pub(crate) const INVALID_EMAILS: [&str; 3] = ["not-an-email", "bob@", "ann@localhost"];

/// A command as generated: users, groups, services, kinds and role holders
/// named by role, resolved when the step runs.
pub(crate) type GenOp = Op<Who, Grp, Pick, usize>;

/// Who a role is assigned to or revoked from.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target<M = &'static str, G = &'static str, H = Infallible> {
    User(M),
    Group(G),
    /// Generated only: the n-th role assignment in the service (mostly a
    /// revocable one): its holder, and its role replaces the command's (a
    /// custom group if there is none).
    Holder(H),
}

/// A service or license kind named in a command.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Pick {
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
    pub(crate) fn resolve(&self, model: &Model, actor: &str) -> Op {
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
            Op::LeaseLicenses => Op::LeaseLicenses,
            Op::SetUserLicenses { user: u, kind: k } => Op::SetUserLicenses {
                user: user(u),
                kind: k.as_ref().map(kind),
            },
            Op::UseGroupLicenses { user: u } => Op::UseGroupLicenses { user: user(u) },
            Op::ReleaseLicense { user: u, kind: k } => Op::ReleaseLicense {
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
            Op::BulkUpload { rows } => Op::BulkUpload {
                rows: rows
                    .iter()
                    .map(|(cell, groups)| {
                        let cell = match cell {
                            Cell::Email(w) => Cell::Email(user(w)),
                            Cell::Invalid(text) => Cell::Invalid(text),
                        };
                        (cell, groups.iter().map(group).collect())
                    })
                    .collect(),
            },
        }
    }
}

/// A group named in a command.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Grp {
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
pub(crate) enum Who {
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
pub(crate) struct Step {
    pub(crate) who: Who,
    /// Seconds the clock moves before this step (may be zero or negative).
    pub(crate) dt: i64,
    pub(crate) op: GenOp,
}

pub(crate) fn email(s: &str) -> Email {
    Email::parse(s).unwrap_or_else(|e| panic!("pool address {s:?}: {e}"))
}

pub(crate) fn emails(list: &[&str]) -> Vec<Email> {
    list.iter().map(|s| email(s)).collect()
}

pub(crate) fn group_name(s: &str) -> GroupName {
    GroupName::parse(s).unwrap_or_else(|e| panic!("pool group {s:?}: {e}"))
}

pub(crate) fn ts(seconds: i64) -> Timestamp {
    Timestamp::from_second(seconds).expect("timestamp in range")
}

pub(crate) fn service_name(s: &str) -> ServiceName {
    ServiceName::parse(s).unwrap_or_else(|e| panic!("pool service {s:?}: {e}"))
}

pub(crate) fn role_name(s: &str) -> RoleName {
    RoleName::parse(s).unwrap_or_else(|e| panic!("pool role {s:?}: {e}"))
}

pub(crate) fn license_kind(s: &str) -> LicenseKind {
    LicenseKind::parse(s).unwrap_or_else(|e| panic!("pool kind {s:?}: {e}"))
}

/// Mail settings number `n`: the first [`VALID_MAIL_SETTINGS`] are valid
/// (and differ), the others are refused.
pub(crate) fn mail_settings(n: usize) -> MailSettings {
    let sender = email("noreply@example.com");
    match n {
        0 => MailSettings::new("smtp.example.com", 587, sender, "Example Accounts"),
        // Credentials go with TLS only (STARTTLS on 25).
        1 => MailSettings::new("mail.example.org", 25, sender, "Accounts")
            .with_auth("mailer", CredentialRef("SMTP_PASSWORD".to_owned()))
            .with_timeout(Duration::from_secs(5)),
        2 => MailSettings::new("smtp.example.com", 0, sender, "Example Accounts"),
        _ => MailSettings::new("smtp example.com", 587, sender, "Example Accounts"),
    }
}

impl Op {
    pub(crate) fn command(&self) -> Command {
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
                licenses: [(license_kind(kind), *quota)].into(),
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
            Op::LeaseLicenses => Command::LeaseLicenses,
            Op::SetUserLicenses { user, kind } => Command::SetUserLicenses {
                user: email(user),
                kinds: kind.iter().map(|k| license_kind(k)).collect(),
            },
            Op::UseGroupLicenses { user } => Command::UseGroupLicenses { user: email(user) },
            Op::ReleaseLicense { user, kind } => Command::ReleaseLicense {
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
            Op::BulkUpload { .. } => unreachable!("an upload is decided from its file"),
        }
    }
}

/// The CSV file of an upload's rows: a header, then each row's address
/// (or invalid cell) and its groups, comma-separated in one quoted cell.
pub(crate) fn csv_file(rows: &[(Cell, Vec<&'static str>)]) -> Vec<u8> {
    let mut file = String::from("email,group membership\n");
    for (cell, groups) in rows {
        let text = match cell {
            Cell::Email(e) | Cell::Invalid(e) => e,
        };
        file.push_str(&format!("{text},\"{}\"\n", groups.join(", ")));
    }
    file.into_bytes()
}

pub(crate) fn pool_email() -> impl Strategy<Value = &'static str> {
    select(&EMAILS[..])
}

pub(crate) fn pool_group() -> impl Strategy<Value = &'static str> {
    select(&GROUPS[..])
}

/// Who acts: mostly an administrator (so administrative commands get past
/// the permission check), sometimes a pending member (to accept) or anyone.
pub(crate) fn actor() -> impl Strategy<Value = Who> {
    prop_oneof![
        10 => (0..4usize).prop_map(Who::Admin),
        2 => (0..4usize).prop_map(Who::Pending),
        1 => (0..4usize).prop_map(Who::Member),
        2 => pool_email().prop_map(Who::Anyone),
    ]
}

/// A user named in a command: mostly another member, sometimes anyone.
pub(crate) fn who() -> impl Strategy<Value = Who> {
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
pub(crate) fn org_name() -> impl Strategy<Value = String> {
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

pub(crate) fn members_list() -> impl Strategy<Value = Vec<Who>> {
    prop::collection::vec(who(), 0..=4)
}

/// A group to rename or delete: mostly an existing custom group.
pub(crate) fn custom_group() -> impl Strategy<Value = Grp> {
    prop_oneof![
        3 => (0..3usize).prop_map(Grp::Custom),
        1 => (0..3usize).prop_map(Grp::CustomGranting),
        1 => (0..3usize).prop_map(Grp::Assigned),
        1 => pool_group().prop_map(Grp::Named),
    ]
}

/// A group whose members change: an existing custom group, Administrators
/// (it drives who may act) or any pool name.
pub(crate) fn edited_group() -> impl Strategy<Value = Grp> {
    prop_oneof![
        2 => (0..3usize).prop_map(Grp::Custom),
        1 => (0..3usize).prop_map(Grp::Ruled),
        1 => Just(Grp::Named("administrators")),
        2 => pool_group().prop_map(Grp::Named),
    ]
}

/// A group an invitation names: mostly an existing custom group or a
/// default group, sometimes any pool name.
pub(crate) fn invite_group() -> impl Strategy<Value = Grp> {
    prop_oneof![
        2 => (0..3usize).prop_map(Grp::Custom),
        2 => (0..3usize).prop_map(Grp::Ruled),
        2 => select(&GROUPS[5..]).prop_map(Grp::Named),
        1 => pool_group().prop_map(Grp::Named),
    ]
}

/// The membership and group commands.
pub(crate) fn membership_op() -> impl Strategy<Value = GenOp> {
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
        3 => Just(Op::LeaseLicenses),
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
pub(crate) fn newcomers() -> impl Strategy<Value = Vec<Who>> {
    prop::sample::subsequence(vec![0usize, 1, 2, 3, 4], 1..=3)
        .prop_map(|list| list.into_iter().map(Who::Newcomer).collect())
}

/// A member who leaves or joins a group: mostly one holding a license,
/// else another member.
pub(crate) fn license_holder() -> impl Strategy<Value = Who> {
    prop_oneof![
        3 => (0..4usize).prop_map(Who::Licensed),
        1 => (0..4usize).prop_map(Who::Other),
    ]
}

/// A member whose invitation is resent or revoked: mostly a pending one,
/// sometimes an active one or anyone.
pub(crate) fn invitee() -> impl Strategy<Value = Who> {
    prop_oneof![
        5 => (0..4usize).prop_map(Who::Pending),
        1 => (0..4usize).prop_map(Who::Other),
        1 => (0..4usize).prop_map(Who::Admin),
        1 => pool_email().prop_map(Who::Anyone),
    ]
}

/// A group given a default role in a new service: mostly a default group
/// that can have one, sometimes one that cannot, a custom group or any name.
pub(crate) fn default_role_group() -> impl Strategy<Value = Grp> {
    prop_oneof![
        6 => select(&GROUPS[7..]).prop_map(Grp::Named),
        1 => pool_group().prop_map(Grp::Named),
        1 => (0..3usize).prop_map(Grp::Custom),
    ]
}

/// Who gets or loses a role: a member, a custom or default group
/// (`Everyone` included) or any pool name.
pub(crate) fn role_target() -> impl Strategy<Value = Target<Who, Grp, usize>> {
    prop_oneof![
        3 => who().prop_map(Target::User),
        2 => (0..3usize).prop_map(|n| Target::Group(Grp::Custom(n))),
        2 => select(&GROUPS[5..]).prop_map(|g| Target::Group(Grp::Named(g))),
        1 => pool_group().prop_map(|g| Target::Group(Grp::Named(g))),
    ]
}

/// A group that gets or loses a license rule: mostly an existing custom
/// group or a default group (`Everyone` included), sometimes any name.
pub(crate) fn rule_group() -> impl Strategy<Value = Grp> {
    prop_oneof![
        4 => (0..3usize).prop_map(Grp::Custom),
        2 => (0..3usize).prop_map(Grp::Ruled),
        2 => select(vec![GROUPS[5], GROUPS[7], GROUPS[8]]).prop_map(Grp::Named),
        1 => pool_group().prop_map(Grp::Named),
    ]
}

/// Adding a service: mostly with an administrator role it lists, and
/// default roles for default groups that can have them.
pub(crate) fn add_service() -> impl Strategy<Value = GenOp> {
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
pub(crate) fn add_valid_service() -> impl Strategy<Value = GenOp> {
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
pub(crate) fn seats() -> impl Strategy<Value = u32> {
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
pub(crate) fn setup() -> impl Strategy<Value = Vec<GenOp>> {
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
pub(crate) fn access_op() -> impl Strategy<Value = GenOp> {
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
        2 => (who(), prop::option::of(kind()))
            .prop_map(|(user, kind)| Op::SetUserLicenses { user, kind }),
        2 => prop_oneof![
            2 => (0..4usize).prop_map(Who::Direct),
            1 => who(),
        ]
            .prop_map(|user| Op::UseGroupLicenses { user }),
        // A member's license is released, mostly one they lease.
        2 => (0..4usize).prop_map(|n| Op::ReleaseLicense {
            user: Who::Granted(n),
            kind: Pick::Held(n),
        }),
        1 => (license_holder(), kind())
            .prop_map(|(user, kind)| Op::ReleaseLicense { user, kind }),
    ]
}

/// Mail settings, expiry, resending and revoking invitations.
pub(crate) fn invitation_op() -> impl Strategy<Value = GenOp> {
    prop_oneof![
        2 => (0..MAIL_SETTINGS).prop_map(|settings| Op::SetMailSettings { settings }),
        1 => Just(Op::ClearMailSettings),
        2 => select(&EXPIRIES[..]).prop_map(|after| Op::SetInvitationExpiry { after }),
        3 => invitee().prop_map(|user| Op::ResendInvitation { user }),
        2 => invitee().prop_map(|user| Op::RevokeInvitation { user }),
        3 => (0..3usize, prop::bool::weighted(0.6)).prop_map(|(nth, ok)| Op::Deliver { nth, ok }),
    ]
}

/// An upload of up to 6 rows: mostly people who are not members yet,
/// also members (pending or not), invalid cells, and repeats (the same
/// role twice resolves to the same address); groups that exist, default
/// groups in odd case, and unknown names.
pub(crate) fn bulk_upload() -> impl Strategy<Value = GenOp> {
    let cell = prop_oneof![
        4 => (0..5usize).prop_map(|n| Cell::Email(Who::Newcomer(n))),
        1 => (0..4usize).prop_map(|n| Cell::Email(Who::Pending(n))),
        1 => (0..4usize).prop_map(|n| Cell::Email(Who::Member(n))),
        1 => pool_email().prop_map(|e| Cell::Email(Who::Anyone(e))),
        1 => select(&INVALID_EMAILS[..]).prop_map(Cell::Invalid),
    ];
    let groups = prop_oneof![
        2 => Just(Vec::new()),
        3 => prop::collection::vec(invite_group(), 1..=2),
        1 => prop::collection::vec(pool_group().prop_map(Grp::Named), 1..=2),
    ];
    prop::collection::vec((cell, groups), 1..=6).prop_map(|rows| Op::BulkUpload { rows })
}

pub(crate) fn op() -> impl Strategy<Value = GenOp> {
    prop_oneof![
        31 => membership_op(),
        32 => access_op(),
        12 => invitation_op(),
        4 => bulk_upload(),
    ]
}

pub(crate) fn step() -> impl Strategy<Value = Step> {
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
pub(crate) fn steps() -> impl Strategy<Value = Vec<Step>> {
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
