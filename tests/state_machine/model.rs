//! The reference model: plain maps and sets keyed by lower-case text,
//! deciding independently what each command does (except which members
//! group license rules grant to: see [`Loose`]), and the projections of
//! the model and of the real aggregate that are compared.
// Tests assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(unused_imports)]
use super::*;
// ---------------------------------------------------------------------------
// Reference model
// ---------------------------------------------------------------------------

pub(crate) fn key(s: &str) -> String {
    s.trim().to_lowercase()
}

#[derive(Clone, Debug)]
pub(crate) struct ModelMember {
    /// The address as typed when invited (or when creating).
    pub(crate) email: String,
    /// Invitation order (the real ids must follow it).
    pub(crate) seq: u64,
    pub(crate) invited_at: i64,
    /// When the invitation was last sent (invited or resent).
    pub(crate) sent_at: i64,
    /// `None` while pending.
    pub(crate) last_active: Option<i64>,
}

#[derive(Clone, Debug)]
pub(crate) struct ModelGroup {
    /// The real id: the default group's, else numbered from 7 in creation
    /// order. Only its order matters to the model.
    pub(crate) uid: u32,
    /// Canonical (display) name.
    pub(crate) name: String,
    pub(crate) default: Option<DefaultGroup>,
    /// Lower-case addresses; always empty for Everyone.
    pub(crate) members: BTreeSet<String>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Model {
    pub(crate) created: bool,
    pub(crate) name: String,
    pub(crate) created_at: i64,
    /// Keyed by lower-case address.
    pub(crate) members: BTreeMap<String, ModelMember>,
    /// Defaults first, then custom groups in creation order.
    pub(crate) groups: Vec<ModelGroup>,
    pub(crate) next_seq: u64,
    pub(crate) next_group: u32,
    /// In the order they were added.
    pub(crate) services: Vec<ModelService>,
    /// Seats per lower-case kind, with the spelling the pool was created
    /// with.
    pub(crate) pools: BTreeMap<String, (String, u32)>,
    /// Group license rules, by group uid.
    pub(crate) rules: BTreeMap<u32, ModelRule>,
    /// What each member (lower-case address) holds: lower-case kind and
    /// where from. No empty entries.
    pub(crate) holdings: BTreeMap<String, BTreeMap<String, Src>>,
    /// Members on user-level allocation with nothing selected.
    pub(crate) withheld: BTreeSet<String>,
    /// Index into [`mail_settings`].
    pub(crate) mail: Option<usize>,
    /// Seconds.
    pub(crate) expiry: Option<i64>,
    /// Invitation emails to deliver, oldest first: lower-case address and
    /// failed attempts.
    pub(crate) outbox: Vec<(String, u32)>,
    /// Lower-case addresses whose queued email failed to deliver (new mail
    /// settings start the attempts over, but the email still failed).
    pub(crate) failed: BTreeSet<String>,
    /// How many emails were ever queued (a replaced one counts).
    pub(crate) queued_total: usize,
    /// What the last upload reports for each row.
    pub(crate) report: Vec<ExpectedRow>,
    /// What the last step leaves to the real aggregate (see [`Loose`]).
    pub(crate) loose: Loose,
}

/// What the model does not decide itself: which members a group license
/// rule grants to (and so, for a command that grants, whether seats run
/// out and sometimes whether anything changes). The real aggregate's
/// choice is checked instead by the invariants (seats used within seats
/// and quotas, group-sourced licenses only for members of a group whose
/// rule gives that kind, none beside a direct one, none for a removed
/// member) and by the post-conditions below; its group-sourced holdings
/// are then adopted by the model ([`Model::adopt_group_licenses`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct Loose {
    /// The real aggregate may refuse with `no_seats_left` on one of these
    /// kinds, needing at most this many seats.
    pub(crate) seats: BTreeMap<String, u32>,
    /// Whether anything changes is the real aggregate's to say.
    pub(crate) changes: bool,
    /// After acceptance, each (member, group uid) holds the group's rule
    /// kind (from any source), or a license directly, or the group's
    /// quota is full, or (when the flag says so) the kind's seats are all
    /// used.
    pub(crate) must_hold: Vec<(String, u32, bool)>,
}

/// A row of an upload's report as the model expects it: the outcome code
/// (`invited`, `already_member`, `already_invited`, or the failure codes
/// joined by `+` in the report's order), and for a skipped row the
/// lower-case groups it names that the member is not in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ExpectedRow {
    pub(crate) outcome: String,
    pub(crate) groups_not_changed: BTreeSet<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct ModelService {
    /// As added (trimmed).
    pub(crate) name: String,
    /// Role spellings, repeats dropped (the first spelling kept).
    pub(crate) roles: Vec<String>,
    /// Lower-case.
    pub(crate) admin_role: String,
    /// Group uid to lower-case role; Administrators included.
    pub(crate) defaults: BTreeMap<u32, String>,
    /// Lower-case roles per holder; no empty entries.
    pub(crate) grants: BTreeMap<MHolder, BTreeSet<String>>,
}

impl ModelService {
    /// The lower-case role if the service defines it.
    pub(crate) fn role(&self, name: &str) -> Option<String> {
        let k = key(name);
        self.roles.iter().any(|r| key(r) == k).then_some(k)
    }

    /// The service's spelling of a lower-case role.
    pub(crate) fn spelling(&self, role: &str) -> String {
        self.roles
            .iter()
            .find(|r| key(r) == role)
            .cloned()
            .unwrap_or_else(|| format!("<undefined {role}>"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum MHolder {
    /// By uid.
    Group(u32),
    /// By lower-case address.
    User(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ModelRule {
    /// Lower-case.
    pub(crate) kind: String,
    pub(crate) quota: Option<u32>,
}

/// Where a model holding comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Src {
    Direct,
    /// By group uid.
    Group(u32),
}

/// Why the model expects a refusal: the error code and whom it names
/// (lower-case, in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) code: &'static str,
    pub(crate) offenders: Vec<String>,
}

pub(crate) fn refuse<T>(code: &'static str, offenders: Vec<String>) -> Result<T, Refusal> {
    Err(Refusal { code, offenders })
}

/// Accepted (with whether anything changes) or refused.
pub(crate) type Outcome = Result<bool, Refusal>;

impl Model {
    /// Runs one step: on acceptance the model moves on, on refusal it stays.
    pub(crate) fn step(&mut self, actor: &str, now: i64, op: &Op) -> Outcome {
        let mut next = self.clone();
        let outcome = next.run(actor, now, op);
        if outcome.is_ok() {
            *self = next;
        }
        outcome
    }

    /// The address that acts for `who`: a pool spelling of the chosen
    /// member (alternating spellings with `n`).
    pub(crate) fn resolve(&self, who: Who, actor: &str) -> &'static str {
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
    pub(crate) fn group_spelling(&self, g: &ModelGroup, n: usize) -> Option<&'static str> {
        let spellings: Vec<&'static str> = GROUPS
            .iter()
            .copied()
            .filter(|s| key(s) == key(&g.name))
            .collect();
        spellings.get(n % spellings.len().max(1)).copied()
    }

    /// The pool name for a service choice.
    pub(crate) fn resolve_service_choice(&self, choice: Pick) -> &'static str {
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
    pub(crate) fn resolve_kind_choice(&self, choice: Pick) -> &'static str {
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
    pub(crate) fn resolve_holder(&self, service: &str, n: usize) -> Option<(Target, &'static str)> {
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
    pub(crate) fn resolve_group_choice(&self, choice: Grp) -> &'static str {
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

    pub(crate) fn group_index(&self, name: &str) -> Option<usize> {
        let k = key(name);
        self.groups.iter().position(|g| key(&g.name) == k)
    }

    pub(crate) fn is_active(&self, k: &str) -> bool {
        self.members.get(k).is_some_and(|m| m.last_active.is_some())
    }

    pub(crate) fn is_active_admin(&self, k: &str) -> bool {
        self.is_active(k) && self.groups[ADMINISTRATORS].members.contains(k)
    }

    pub(crate) fn active_admins_except(&self, leaving: &BTreeSet<String>) -> usize {
        self.groups[ADMINISTRATORS]
            .members
            .iter()
            .filter(|k| !leaving.contains(*k) && self.is_active(k))
            .count()
    }

    /// Members named, first-seen order, repeats dropped; every unknown
    /// address refused.
    pub(crate) fn resolve_users(&self, list: &[&str]) -> Result<Vec<String>, Refusal> {
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

    pub(crate) fn resolve_group(&self, name: &str) -> Result<usize, Refusal> {
        match self.group_index(name) {
            Some(i) => Ok(i),
            None => refuse("unknown_groups", vec![key(name)]),
        }
    }

    pub(crate) fn resolve_custom_group(&self, name: &str) -> Result<usize, Refusal> {
        let i = self.resolve_group(name)?;
        if self.groups[i].default.is_some() {
            return refuse("default_group_immutable", vec![key(&self.groups[i].name)]);
        }
        Ok(i)
    }

    pub(crate) fn resolve_editable_group(&self, name: &str) -> Result<usize, Refusal> {
        let i = self.resolve_group(name)?;
        if self.groups[i].default == Some(DefaultGroup::Everyone) {
            return refuse("everyone_implicit", vec![]);
        }
        Ok(i)
    }

    pub(crate) fn add_member(&mut self, typed: &str, now: i64, last_active: Option<i64>) -> String {
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

    pub(crate) fn run(&mut self, actor: &str, now: i64, op: &Op) -> Outcome {
        self.loose = Loose::default();
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
        // An organization that does not exist answers as an existing one
        // answers an outsider: nothing tells the two apart.
        if !self.created {
            return match op {
                Op::AcceptInvitation => refuse("not_invited", vec![me]),
                Op::RecordSignIn | Op::LeaseLicenses => refuse("not_a_member", vec![me]),
                _ => refuse("forbidden", vec![me]),
            };
        }
        if let Op::BulkUpload { rows } = op {
            if !self.is_active_admin(&me) {
                return refuse("forbidden", vec![me]);
            }
            return self.bulk(now, rows);
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
            Op::LeaseLicenses => return self.lease(&me, now),
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
                    self.queued_total += joins.len();
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
                for k in &leaving {
                    self.groups[i].members.remove(k);
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
                // Only Administrators' hold on the administrator role is
                // protected; the rest of the default setup can change.
                if let MHolder::Group(uid) = holder
                    && uid == DefaultGroup::Administrators.id().get()
                    && svc.admin_role == role
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
                Ok(self.rules.remove(&uid).is_some())
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
                self.withheld.remove(&k);
                Ok(true)
            }
            Op::DeallocateLicense { user, kind } => {
                let k = self.resolve_member(user)?;
                let kind = key(kind);
                if self.holds(&k, &kind) != Some(Src::Direct) {
                    return refuse("not_allocated", vec![k, kind]);
                }
                self.release(&k, &kind);
                if !self.has_direct(&k) {
                    // Nothing selected: no license until switched back.
                    self.withheld.insert(k);
                }
                Ok(true)
            }
            Op::SetUserLicenses { user, kind } => {
                let k = self.resolve_member(user)?;
                let wanted: BTreeSet<String> = match kind {
                    Some(kind) => BTreeSet::from([self.resolve_kind(kind)?]),
                    None => BTreeSet::new(),
                };
                let direct: BTreeSet<String> = self
                    .holdings
                    .get(&k)
                    .into_iter()
                    .flatten()
                    .filter(|(_, src)| **src == Src::Direct)
                    .map(|(kind, _)| kind.clone())
                    .collect();
                let leased = !self.leases_of(&k).is_empty();
                if direct == wanted && !leased && (self.withheld.contains(&k) || !wanted.is_empty())
                {
                    return Ok(false);
                }
                for kind in &wanted {
                    if self.holds(&k, kind).is_none() && self.free(kind) == 0 {
                        return refuse("no_seats_left", vec![kind.clone()]);
                    }
                }
                for held in self.leases_of(&k) {
                    self.release(&k, &held);
                }
                for held in direct.difference(&wanted) {
                    self.release(&k, held);
                }
                for kind in &wanted {
                    self.grant(&k, kind, Src::Direct);
                }
                if wanted.is_empty() {
                    self.withheld.insert(k);
                } else {
                    self.withheld.remove(&k);
                }
                Ok(true)
            }
            Op::UseGroupLicenses { user } => {
                let k = self.resolve_member(user)?;
                if !self.is_user_level(&k) {
                    return Ok(false);
                }
                if let Some(held) = self.holdings.get_mut(&k) {
                    held.retain(|_, src| *src != Src::Direct);
                    if held.is_empty() {
                        self.holdings.remove(&k);
                    }
                }
                self.withheld.remove(&k);
                Ok(true)
            }
            Op::ReleaseLicense { user, kind } => {
                let k = self.resolve_member(user)?;
                let kind = key(kind);
                match self.holds(&k, &kind) {
                    None => refuse("license_not_held", vec![k, kind]),
                    Some(src) => {
                        self.release(&k, &kind);
                        if src == Src::Direct && !self.has_direct(&k) {
                            self.withheld.insert(k);
                        }
                        Ok(true)
                    }
                }
            }
            Op::SetMailSettings { settings } => {
                if *settings >= VALID_MAIL_SETTINGS {
                    return refuse("invalid_mail_settings", vec![]);
                }
                if self.mail.replace(*settings) == Some(*settings) {
                    return Ok(false);
                }
                // New settings: every waiting email starts over.
                for (_, tries) in &mut self.outbox {
                    *tries = 0;
                }
                Ok(true)
            }
            Op::ClearMailSettings => {
                self.outbox.clear();
                self.failed.clear();
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
                // One queued email per member: a resend keeps an email still
                // waiting, and replaces one that failed with a fresh one.
                if self.mail.is_some() {
                    match self.outbox.iter().position(|(queued, _)| *queued == k) {
                        Some(_) if !self.failed.contains(&k) => {}
                        Some(i) => {
                            self.outbox.remove(i);
                            self.failed.remove(&k);
                            self.outbox.push((k, 0));
                            self.queued_total += 1;
                        }
                        None => {
                            self.outbox.push((k, 0));
                            self.queued_total += 1;
                        }
                    }
                }
                Ok(true)
            }
            Op::RevokeInvitation { user } => {
                let k = self.resolve_pending(user)?;
                self.forget_member(&k);
                Ok(true)
            }
            Op::CreateOrganization { .. }
            | Op::AcceptInvitation
            | Op::RecordSignIn
            | Op::LeaseLicenses => {
                unreachable!("handled above")
            }
            Op::Deliver { .. } => unreachable!("a delivery is not a command"),
            Op::BulkUpload { .. } => unreachable!("handled above"),
        }
    }

    /// An upload by an active administrator: each row decided on its own
    /// against the organization before the upload (an invalid address,
    /// unknown groups, an address on an earlier row fail, in that order;
    /// members are skipped), the rest invited into their own groups, in
    /// row order; the file is refused whole when the license grants need
    /// more seats than are free.
    pub(crate) fn bulk(&mut self, now: i64, rows: &[(Cell, Vec<&'static str>)]) -> Outcome {
        let mut seen = BTreeSet::new();
        let mut report = Vec::new();
        let mut invitees = Vec::new();
        for (cell, groups) in rows {
            let mut codes = Vec::new();
            let typed = match cell {
                Cell::Email(e) => Some(*e),
                Cell::Invalid(_) => {
                    codes.push("invalid_email");
                    None
                }
            };
            let mut joined = BTreeSet::new();
            let mut unknown = false;
            for g in groups {
                match self.group_index(g) {
                    Some(i) if self.groups[i].default == Some(DefaultGroup::Everyone) => {}
                    Some(i) => {
                        joined.insert(i);
                    }
                    None => unknown = true,
                }
            }
            if unknown {
                codes.push("invalid_groups");
            }
            if let Some(e) = typed
                && !seen.insert(key(e))
            {
                codes.push("duplicate_in_file");
            }
            let mut groups_not_changed = BTreeSet::new();
            let outcome = match (typed, codes.is_empty()) {
                (Some(e), true) => match self.members.get(&key(e)) {
                    Some(m) => {
                        groups_not_changed = joined
                            .iter()
                            .filter(|&&i| !self.groups[i].members.contains(&key(e)))
                            .map(|&i| key(&self.groups[i].name))
                            .collect();
                        if m.last_active.is_none() {
                            "already_invited".to_owned()
                        } else {
                            "already_member".to_owned()
                        }
                    }
                    None => {
                        invitees.push((e, joined));
                        "invited".to_owned()
                    }
                },
                _ => codes.join("+"),
            };
            report.push(ExpectedRow {
                outcome,
                groups_not_changed,
            });
        }
        let mut joins = Vec::new();
        for (e, joined) in invitees {
            let k = self.add_member(e, now, None);
            let mut uids = Vec::new();
            for i in joined {
                self.groups[i].members.insert(k.clone());
                uids.push(self.groups[i].uid);
            }
            joins.push((k, uids));
        }
        self.join_grants(&joins)?;
        if self.mail.is_some() {
            self.queued_total += joins.len();
            self.outbox
                .extend(joins.iter().map(|(k, _)| (k.clone(), 0)));
        }
        self.report = report;
        Ok(!joins.is_empty())
    }

    /// Lower-case addresses listed for a query, in the expected order.
    pub(crate) fn listing(
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
    pub(crate) fn resolve_member(&self, user: &str) -> Result<String, Refusal> {
        let k = key(user);
        if self.members.contains_key(&k) {
            Ok(k)
        } else {
            refuse("unknown_users", vec![k])
        }
    }

    pub(crate) fn resolve_pending(&self, user: &str) -> Result<String, Refusal> {
        let k = self.resolve_member(user)?;
        if self.is_active(&k) {
            return refuse("not_pending", vec![k]);
        }
        Ok(k)
    }

    /// Takes a member out: groups, role assignments, licenses, emails.
    pub(crate) fn forget_member(&mut self, k: &str) {
        self.members.remove(k);
        for g in &mut self.groups {
            g.members.remove(k);
        }
        self.holdings.remove(k);
        self.withheld.remove(k);
        let holder = MHolder::User(k.to_owned());
        for s in &mut self.services {
            s.grants.remove(&holder);
        }
        self.outbox.retain(|(queued, _)| queued != k);
        self.failed.remove(k);
    }

    pub(crate) fn resolve_service(&self, name: &str) -> Result<usize, Refusal> {
        let k = key(name);
        match self.services.iter().position(|s| key(&s.name) == k) {
            Some(i) => Ok(i),
            None => refuse("unknown_service", vec![k]),
        }
    }

    /// The service, holder and lower-case role of an assignment, resolved
    /// in that order (service, role, holder).
    pub(crate) fn resolve_assignment(
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

    pub(crate) fn add_service(
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
    pub(crate) fn resolve_kind(&self, kind: &str) -> Result<String, Refusal> {
        let k = key(kind);
        if self.pools.contains_key(&k) {
            Ok(k)
        } else {
            refuse("unknown_license_kind", vec![k])
        }
    }

    pub(crate) fn used(&self, kind: &str) -> u32 {
        let n = self
            .holdings
            .values()
            .filter(|held| held.contains_key(kind))
            .count();
        u32::try_from(n).expect("few holders")
    }

    pub(crate) fn free(&self, kind: &str) -> u32 {
        self.pools
            .get(kind)
            .map_or(0, |(_, seats)| seats.saturating_sub(self.used(kind)))
    }

    pub(crate) fn holds(&self, k: &str, kind: &str) -> Option<Src> {
        self.holdings.get(k)?.get(kind).copied()
    }

    pub(crate) fn has_direct(&self, k: &str) -> bool {
        self.holdings
            .get(k)
            .is_some_and(|held| held.values().any(|src| *src == Src::Direct))
    }

    pub(crate) fn grant(&mut self, k: &str, kind: &str, src: Src) {
        self.holdings
            .entry(k.to_owned())
            .or_default()
            .insert(kind.to_owned(), src);
    }

    pub(crate) fn release(&mut self, k: &str, kind: &str) {
        if let Some(held) = self.holdings.get_mut(k) {
            held.remove(kind);
            if held.is_empty() {
                self.holdings.remove(k);
            }
        }
    }

    /// Members joining groups lease nothing: licenses are leased at
    /// sign-in, so joining never needs seats.
    pub(crate) fn join_grants(&mut self, _joins: &[(String, Vec<u32>)]) -> Result<(), Refusal> {
        Ok(())
    }

    /// `LeaseLicenses` by member `k` at `now`: the real aggregate chooses
    /// (see [`Loose`]); afterwards each of their groups' rule kinds is
    /// held, or its quota is full, or its seats are used up. Nothing for a
    /// member on user-level allocation or idle for 90 days.
    pub(crate) fn lease(&mut self, k: &str, now: i64) -> Outcome {
        let Some(m) = self.members.get(k) else {
            return refuse("not_a_member", vec![k.to_owned()]);
        };
        let Some(last) = m.last_active else {
            return refuse("invitation_not_accepted", vec![k.to_owned()]);
        };
        if self.is_user_level(k) || now - last >= 90 * 86_400 {
            return Ok(false);
        }
        self.loose.changes = true;
        for g in self.groups.iter().filter(|g| g.members.contains(k)) {
            if self.rules.contains_key(&g.uid) {
                self.loose.must_hold.push((k.to_owned(), g.uid, true));
            }
        }
        Ok(true)
    }

    /// Whether `k` is on user-level allocation.
    pub(crate) fn is_user_level(&self, k: &str) -> bool {
        self.has_direct(k) || self.withheld.contains(k)
    }

    /// The group licenses `k` holds.
    fn leases_of(&self, k: &str) -> Vec<String> {
        self.holdings
            .get(k)
            .into_iter()
            .flatten()
            .filter(|(_, src)| matches!(src, Src::Group(_)))
            .map(|(kind, _)| kind.clone())
            .collect()
    }

    /// `SetGroupLicenseRule` on group index `i`, once the command is valid:
    /// nothing is leased (members lease at sign-in); a quota below the
    /// leases the group holds of the kind is refused; leases of another
    /// kind are released (the real aggregate may move them to another of
    /// the holder's groups: adopted afterwards).
    pub(crate) fn set_rule(&mut self, i: usize, kind: String, quota: Option<u32>) -> Outcome {
        let uid = self.groups[i].uid;
        let held = self
            .holdings
            .values()
            .filter(|h| h.get(&kind) == Some(&Src::Group(uid)))
            .count();
        if quota.is_some_and(|q| (q as usize) < held) {
            return refuse("quota_in_use", vec![key(&self.groups[i].name), kind]);
        }
        let rule = ModelRule {
            kind: kind.clone(),
            quota,
        };
        let same = self
            .rules
            .insert(uid, rule)
            .is_some_and(|old| old.kind == kind && old.quota == quota);
        let lost: Vec<(String, String)> = self
            .holdings
            .iter()
            .flat_map(|(k, h)| {
                h.iter()
                    .filter(|(held, src)| **src == Src::Group(uid) && **held != kind)
                    .map(|(held, _)| (k.clone(), held.clone()))
            })
            .collect();
        for (k, held) in lost {
            self.release(&k, &held);
        }
        Ok(!same)
    }

    /// Takes the real aggregate's group-sourced licenses, which the model
    /// does not decide (see [`Loose`]); direct ones stay the model's.
    pub(crate) fn adopt_group_licenses(&mut self, org: &Organization) -> Result<(), TestCaseError> {
        for held in self.holdings.values_mut() {
            held.retain(|_, src| *src == Src::Direct);
        }
        self.holdings.retain(|_, held| !held.is_empty());
        for u in org.seat_usage() {
            for (id, source) in org.license_holders(&u.kind) {
                if let LicenseSource::Group(g) = source {
                    let k = lower_email(org, id)?;
                    self.grant(&k, &key(u.kind.as_str()), Src::Group(g.get()));
                }
            }
        }
        Ok(())
    }

    /// Every license held through a group, as (member, kind, group uid), in
    /// (real id, kind) order.
    pub(crate) fn group_holdings(&self) -> Vec<(String, String, u32)> {
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
    pub(crate) fn invitation_status(&self, m: &ModelMember, now: i64) -> InvitationStatus {
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
pub(crate) struct MemberView {
    pub(crate) email: String,
    pub(crate) pending: bool,
    pub(crate) last_active: Option<i64>,
    pub(crate) invited_at: i64,
    /// Canonical group names, default groups first, then creation order.
    pub(crate) groups: Vec<String>,
    pub(crate) organization_role: Option<OrganizationRole>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ServiceView {
    pub(crate) name: String,
    /// Spellings, in role order (ignoring case).
    pub(crate) roles: Vec<String>,
    pub(crate) admin_role: String,
    /// Canonical group name to role, for every group with a default role.
    pub(crate) defaults: BTreeMap<String, String>,
    /// Holder label (`group <name>` or `user <lower-case address>`) to its
    /// roles, in role order.
    pub(crate) grants: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct GroupView {
    pub(crate) name: String,
    pub(crate) default: Option<DefaultGroup>,
    pub(crate) members: BTreeSet<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct View {
    pub(crate) exists: bool,
    pub(crate) name: String,
    pub(crate) created_at: Option<i64>,
    pub(crate) members: Vec<MemberView>,
    pub(crate) groups: Vec<GroupView>,
    pub(crate) pending_count: usize,
    pub(crate) active_admins: usize,
    pub(crate) services: Vec<ServiceView>,
    /// Kind as the pool spells it, seats, seats used; in kind order.
    pub(crate) pools: Vec<(String, u32, u32)>,
    /// Canonical group name to lower-case kind and quota.
    pub(crate) rules: BTreeMap<String, (String, Option<u32>)>,
    /// Lower-case kind, lower-case address, `direct` or `group <name>`.
    pub(crate) holdings: BTreeSet<(String, String, String)>,
    pub(crate) mail: Option<MailSettings>,
    /// Seconds.
    pub(crate) expiry: Option<i64>,
    /// Lower-case addresses and failed attempts, oldest first.
    pub(crate) outbox: Vec<(String, u32)>,
}

impl Model {
    pub(crate) fn group_label(&self, uid: u32) -> String {
        self.groups
            .iter()
            .find(|g| g.uid == uid)
            .map_or_else(|| format!("<missing group {uid}>"), |g| g.name.clone())
    }

    pub(crate) fn service_view(&self, s: &ModelService) -> ServiceView {
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

    pub(crate) fn view(&self) -> View {
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
pub(crate) fn all_pages(
    org: &Organization,
    query: &MemberQuery,
) -> Result<Vec<UserId>, TestCaseError> {
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

pub(crate) fn lower_email(org: &Organization, id: UserId) -> Result<String, TestCaseError> {
    org.member_by_id(id)
        .map(|m| m.email().as_str().to_lowercase())
        .ok_or_else(|| TestCaseError::fail(format!("{id} is listed but is not a member")))
}

pub(crate) fn real_view(org: &Organization) -> Result<View, TestCaseError> {
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
        // New mail settings start the attempts over; the last (transient)
        // error stays.
        prop_assert!(
            queued.last_error().is_none_or(|e| e == DELIVERY_ERROR)
                && (queued.attempts() == 0 || queued.last_error().is_some()),
            "last delivery error {:?} after {} attempts",
            queued.last_error(),
            queued.attempts()
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
                        rule.licenses
                            .iter()
                            .next()
                            .map(|(kind, quota)| (key(kind.as_str()), *quota))
                            .unwrap_or_default(),
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
pub(crate) fn check_id_order(org: &Organization, model: &Model) -> Result<(), TestCaseError> {
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
