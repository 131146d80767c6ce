//! A state-machine property test of the `Organization` aggregate, in the
//! style of `proptest-state-machine` (hand-rolled, no extra crate).
//!
//! Proptest generates sequences of up to 40 `(actor, command)` steps, every
//! command variant included, over a small pool of addresses (some differing
//! only in case) and group names (custom ones and default ones in odd case),
//! with a clock that moves forward by a random amount and sometimes
//! backwards. As in `proptest-state-machine`, where transitions are drawn
//! from the reference state, actors, users and groups are mostly generated
//! as roles ("the n-th active administrator", "another member", "the n-th
//! custom group") and resolved against the model when the step runs, so
//! sequences reach deep states instead of stopping at `forbidden`; the rest
//! are plain pool entries. A small reference model (plain maps and sets keyed
//! by lower-case text) runs beside the real aggregate and decides
//! independently whether each command is accepted, which error code a
//! refusal carries (and whom it names), and what the state is afterwards.
//! A failure message ends with the resolved trace (time, actor, command,
//! outcome) of the shrunk sequence.
//!
//! After every step the test checks:
//! - accepted/refused, the refusal code and its offenders agree with the model;
//! - `decide` does not change the state, and `execute` returns what `decide`
//!   did; a refusal leaves the organization equal to its clone;
//! - an accepted command returns no events exactly when the model says it
//!   changes nothing, and every event carries `now` and the acting user;
//! - the model's projection (members with status, Last active, invitation
//!   time, groups; groups with kind and members) equals the real one;
//! - invariants: at least one active administrator once created; every
//!   explicit group member is a member and the two sides of the membership
//!   agree; `Everyone` has no explicit members; no removed user appears in
//!   members, groups or `members_page` listings; `version` counts the
//!   events; replaying the events, and replaying them after a JSON round
//!   trip, rebuilds an equal organization.
//!
//! At the end of each sequence, every combination of group / status / email
//! filter and sort order is listed page by page (small pages and scan limits,
//! so cursors are exercised) and compared with the model's expected order.
//!
//! `PROPTEST_CASES=10000 cargo test --test state_machine` runs a deeper search.

use std::collections::{BTreeMap, BTreeSet};

use org_accounts::{
    Command, Context, DefaultGroup, DomainError, Email, Event, EventKind, GroupKind, GroupName,
    MemberQuery, Organization, SortBy, SortOrder, StatusFilter, Timestamp, UserId,
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

/// The clock starts here (seconds since the Unix epoch, 2027-01-15).
const START: i64 = 1_800_000_000;

/// Index of Administrators among the model's groups (defaults come first,
/// in `DefaultGroup::ALL` order).
const ADMINISTRATORS: usize = 0;

// ---------------------------------------------------------------------------
// Generated steps
// ---------------------------------------------------------------------------

/// A command over pool names. Generated with users and groups named by
/// role (`M = Who`, `G = Grp`), resolved against the model when the step
/// runs into pool addresses and names (`&'static str`).
#[derive(Clone, Debug)]
enum Op<M = &'static str, G = &'static str> {
    CreateOrganization {
        name: String,
    },
    InviteUsers {
        emails: Vec<&'static str>,
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
}

impl Op<Who, Grp> {
    /// The command with every user and group named from the pools.
    fn resolve(&self, model: &Model, actor: &str) -> Op {
        let users = |list: &[Who]| list.iter().map(|w| model.resolve(*w, actor)).collect();
        let group = |g: &Grp| model.resolve_group_choice(*g);
        match self {
            Op::CreateOrganization { name } => Op::CreateOrganization { name: name.clone() },
            Op::InviteUsers { emails, groups } => Op::InviteUsers {
                emails: emails.clone(),
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
        }
    }
}

/// A group named in a command.
#[derive(Clone, Copy, Debug)]
enum Grp {
    /// A pool spelling of the n-th existing custom group (a default group
    /// in odd case if there is none).
    Custom(usize),
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
    /// This address from the pool.
    Anyone(&'static str),
}

#[derive(Clone, Debug)]
struct Step {
    who: Who,
    /// Seconds the clock moves before this step (may be zero or negative).
    dt: i64,
    op: Op<Who, Grp>,
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

impl Op {
    fn command(&self) -> Command {
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
        6 => (0..4usize).prop_map(Who::Admin),
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
        1 => pool_group().prop_map(Grp::Named),
    ]
}

/// A group whose members change: an existing custom group, Administrators
/// (it drives who may act) or any pool name.
fn edited_group() -> impl Strategy<Value = Grp> {
    prop_oneof![
        2 => (0..3usize).prop_map(Grp::Custom),
        1 => Just(Grp::Named("administrators")),
        2 => pool_group().prop_map(Grp::Named),
    ]
}

/// A group an invitation names: mostly an existing custom group or a
/// default group, sometimes any pool name.
fn invite_group() -> impl Strategy<Value = Grp> {
    prop_oneof![
        2 => (0..3usize).prop_map(Grp::Custom),
        2 => select(&GROUPS[5..]).prop_map(Grp::Named),
        1 => pool_group().prop_map(Grp::Named),
    ]
}

fn op() -> impl Strategy<Value = Op<Who, Grp>> {
    // Mostly small batches (which can succeed); sometimes up to 22
    // addresses, which are too many or hold repeats.
    let invitees = prop_oneof![
        6 => prop::sample::subsequence(EMAILS.to_vec(), 1..=3),
        1 => prop::collection::vec(pool_email(), 0..=22),
    ];
    prop_oneof![
        1 => org_name().prop_map(|name| Op::CreateOrganization { name }),
        6 => (invitees, prop_oneof![
            3 => prop::collection::vec(invite_group(), 0..=1),
            1 => prop::collection::vec(invite_group(), 0..=3),
        ])
            .prop_map(|(emails, groups)| Op::InviteUsers { emails, groups }),
        4 => Just(Op::AcceptInvitation),
        3 => Just(Op::RecordSignIn),
        3 => prop::collection::vec(who(), 0..=3)
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
        4 => (edited_group(), members_list())
            .prop_map(|(group, members)| Op::AddGroupMembers { group, members }),
        3 => (edited_group(), members_list())
            .prop_map(|(group, members)| Op::RemoveGroupMembers { group, members }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let dt = prop_oneof![
        8 => 1..=86_400i64,
        1 => Just(0i64),
        2 => -7_200..=-1i64,
    ];
    (actor(), dt, op()).prop_map(|(who, dt, op)| Step { who, dt, op })
}

/// Up to 40 steps; nine times in ten the first one creates the organization.
fn steps() -> impl Strategy<Value = Vec<Step>> {
    (
        prop::bool::weighted(0.9),
        pool_email(),
        prop::collection::vec(step(), 0..40),
    )
        .prop_map(|(create, creator, mut steps)| {
            if create {
                steps.insert(
                    0,
                    Step {
                        who: Who::Anyone(creator),
                        dt: 0,
                        op: Op::CreateOrganization {
                            name: "Example Corp".to_owned(),
                        },
                    },
                );
            }
            steps
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
    /// `None` while pending.
    last_active: Option<i64>,
}

#[derive(Clone, Debug)]
struct ModelGroup {
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
        };
        chosen.unwrap_or(match who {
            Who::Admin(n) | Who::Pending(n) | Who::Member(n) | Who::Other(n) => {
                EMAILS[n % EMAILS.len()]
            }
            Who::Anyone(e) => e,
        })
    }

    /// The pool name for a group choice.
    fn resolve_group_choice(&self, choice: Grp) -> &'static str {
        match choice {
            Grp::Named(name) => name,
            Grp::Custom(n) => {
                let custom: Vec<&ModelGroup> =
                    self.groups.iter().filter(|g| g.default.is_none()).collect();
                let spellings: Vec<&'static str> = custom
                    .get(n % custom.len().max(1))
                    .map(|g| {
                        GROUPS
                            .iter()
                            .copied()
                            .filter(|s| key(s) == key(&g.name))
                            .collect()
                    })
                    .unwrap_or_default();
                spellings
                    .get(n % spellings.len().max(1))
                    .copied()
                    .unwrap_or(GROUPS[5 + n % 4])
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
                    name: d.name().to_owned(),
                    default: Some(*d),
                    members: BTreeSet::new(),
                })
                .collect();
            let k = self.add_member(actor, now, Some(now));
            self.groups[ADMINISTRATORS].members.insert(k);
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
                for e in invitees {
                    let k = self.add_member(e, now, None);
                    for &i in &joined {
                        self.groups[i].members.insert(k.clone());
                    }
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
                    self.members.remove(k);
                    for g in &mut self.groups {
                        g.members.remove(k);
                    }
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
                    name: name.trim().to_owned(),
                    default: None,
                    members: keys.into_iter().collect(),
                });
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
                self.groups.remove(i);
                Ok(true)
            }
            Op::AddGroupMembers { group, members } => {
                let i = self.resolve_editable_group(group)?;
                let keys = self.resolve_users(members)?;
                let mut changed = false;
                for k in keys {
                    changed |= self.groups[i].members.insert(k);
                }
                Ok(changed)
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
                for k in &leaving {
                    self.groups[i].members.remove(k);
                }
                Ok(!leaving.is_empty())
            }
            Op::CreateOrganization { .. } | Op::AcceptInvitation | Op::RecordSignIn => {
                unreachable!("handled above")
            }
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
}

impl Model {
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
    Ok(View {
        exists: org.exists(),
        name: org.name().to_owned(),
        created_at: org.created_at().map(|t| t.as_second()),
        members,
        groups,
        pending_count: org.pending_count(),
        active_admins: org.active_administrator_count(),
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

    // Events rebuild the state, also after a JSON round trip.
    let replayed = Organization::replay(log);
    prop_assert_eq!(&replayed, org, "replay differs");
    prop_assert_eq!(stored, log, "JSON round trip changed events");
    prop_assert_eq!(&Organization::replay(stored), org, "JSON replay differs");
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
        | DomainError::NotAMember { email } => vec![key(email.as_str())],
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
    let mut removed: BTreeSet<UserId> = BTreeSet::new();
    let mut now = START;

    for (i, step) in steps.iter().enumerate() {
        now += step.dt;
        let actor = model.resolve(step.who, "");
        let ctx = Context::new(email(actor), ts(now));
        let op = step.op.resolve(&model, actor);
        let command = op.command();
        trace.push(format!("  {i:2}. +{}s {actor}: {op:?}", now - START));

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
                    if let EventKind::UserRemoved { user } = &e.kind {
                        removed.insert(*user);
                    }
                }
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

        prop_assert_eq!(real_view(&org)?, model.view(), "step {}", i);
        check_id_order(&org, &model)?;
        check_invariants(&org, &log, &stored, &removed)?;
    }
    check_listings(&org, &model)
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
