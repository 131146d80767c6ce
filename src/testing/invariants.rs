//! Invariants of the [`Organization`] aggregate that hold in every state a
//! history of accepted commands can reach, checked through its public API.
//!
//! A property test calls [`check_invariants`] after every step instead of
//! re-implementing the rules in a model, and [`check_replay`] over the
//! events it collected.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::{
    DefaultGroup, Event, GroupId, Holder, LicenseKind, LicenseSource, MemberQuery, Organization,
    RoleName, RoleSource, Snapshot, StatusFilter, UserId,
};

/// One broken invariant: which, and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Broken {
    /// A short name of the invariant, such as `active_administrator` (see
    /// [`check_invariants`] for the list).
    pub invariant: &'static str,
    /// What was found, naming the members, groups or kinds involved.
    pub detail: String,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.detail)
    }
}

/// The broken invariants, one per line.
pub(crate) fn describe(broken: &[Broken]) -> String {
    broken
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Collects broken invariants.
#[derive(Default)]
struct Report(Vec<Broken>);

impl Report {
    fn check(&mut self, ok: bool, invariant: &'static str, detail: impl FnOnce() -> String) {
        if !ok {
            self.0.push(Broken {
                invariant,
                detail: detail(),
            });
        }
    }
}

/// Every invariant of `org` that needs no history and no model, and what is
/// broken (empty when all hold):
///
/// - `active_administrator`: once created, `Administrators` exists and has
///   at least one active member, as many as
///   [`active_administrator_count`](Organization::active_administrator_count);
///   every default group exists. Before creation there are no members and
///   no groups.
/// - `membership`: every member's groups exist and list them back; every
///   group's members are members; `Everyone` has no explicit members and
///   counts everyone; names and ids find the same member, group and
///   service.
/// - `listing`: paging through the member list (all, pending, active, per
///   group) returns each member once, as many as the counts say.
/// - `roles`: every service defines its administrator role, which
///   `Administrators` holds by default; `Everyone` has no default role;
///   default roles are held; assignments name defined roles, current
///   members and existing groups (so none names a removed member); a
///   member's effective roles are exactly the union of their own, their
///   groups' and `Everyone`'s, with those sources.
/// - `licenses`: per kind, seats used ≤ seats, and the holders number the
///   seats used; every holder is a current member (none removed); a
///   group lease belongs to an active (not pending) member of that group,
///   on group-based allocation, whose rule gives that kind within its
///   quota for that kind; a member holding a license directly holds none
///   through groups; licenses held sum to seats used.
/// - `email_queue`: without mail settings nothing is queued; every queued
///   email goes to a current member (none removed), from the configured
///   sender.
/// - `snapshot`: `Organization::from_snapshot(&org.snapshot()) == org`,
///   also after a JSON round trip of the snapshot, whose stored queue holds
///   exactly the deliverable emails.
///
/// ```
/// use org_accounts::testing::{Scenario, check_invariants};
///
/// let org = Scenario::given_org().invited(&["bob@example.com"], &[]).org;
/// assert_eq!(check_invariants(&org), []);
/// ```
pub fn check_invariants(org: &Organization) -> Vec<Broken> {
    let mut report = Report::default();
    let members = all_members(org, &mut report);
    administrators(org, &mut report);
    membership(org, &members, &mut report);
    roles(org, &members, &mut report);
    licenses(org, &members, &mut report);
    email_queue(org, &mut report);
    snapshot(org, &mut report);
    report.0
}

/// Replaying `events` rebuilds one state, whichever way: applied one by
/// one, replayed at once, after a JSON round trip of every event (as a
/// store writes and reads rows), and through a snapshot taken half way
/// (then the rest applied) or at the end; the version counts the events.
/// Returns what differs (empty when all agree).
///
/// ```
/// use org_accounts::testing::{Scenario, check_replay};
///
/// let s = Scenario::given_org().invited(&["bob@example.com"], &[]).accepted("bob@example.com");
/// assert_eq!(check_replay(&s.history), []);
/// ```
pub fn check_replay(events: &[Event]) -> Vec<Broken> {
    let mut report = Report::default();
    let replayed = Organization::replay(events);
    let mut one_by_one = Organization::new();
    for event in events {
        one_by_one.apply(event);
    }
    report.check(one_by_one == replayed, "replay", || {
        "applying the events one by one differs from replaying them".into()
    });
    report.check(replayed.version() == events.len() as u64, "replay", || {
        format!(
            "version {} after {} events",
            replayed.version(),
            events.len()
        )
    });
    match events
        .iter()
        .map(|e| serde_json::to_string(e).and_then(|json| serde_json::from_str::<Event>(&json)))
        .collect::<Result<Vec<Event>, _>>()
    {
        Ok(back) => {
            report.check(back == events, "replay", || {
                "events changed through JSON".into()
            });
            report.check(Organization::replay(&back) == replayed, "replay", || {
                "events read back from JSON rebuild another state".into()
            });
        }
        Err(e) => report.check(false, "replay", || format!("an event through JSON: {e}")),
    }
    let half = events.len() / 2;
    let (head, tail) = events.split_at(half);
    match Organization::from_snapshot(&Organization::replay(head).snapshot()) {
        Ok(mut resumed) => {
            for event in tail {
                resumed.apply(event);
            }
            report.check(resumed == replayed, "replay", || {
                format!("a snapshot after {half} events, then the rest, rebuilds another state")
            });
        }
        Err(e) => report.check(false, "replay", || {
            format!("the snapshot after {half} events does not load: {e}")
        }),
    }
    snapshot(&replayed, &mut report);
    report.0
}

/// Pages through `query` (small pages, so cursors are used); `None` when
/// the pages do not end.
pub(crate) fn pages(org: &Organization, query: &MemberQuery) -> Option<Vec<UserId>> {
    let mut ids = Vec::new();
    let mut q = query.clone();
    // Each page makes progress, so the member count bounds the pages (an
    // empty page with a cursor is allowed when a scan limit stops early).
    for _ in 0..=(org.member_count() + 1).saturating_mul(64) {
        let page = org.members_page(&q);
        ids.extend(page.rows.iter().map(|r| r.member().id()));
        match page.next {
            Some(cursor) => q = query.clone().after(cursor),
            None => return Some(ids),
        }
    }
    None
}

/// Every member, from the listing; checks the listings agree with the
/// counts.
fn all_members(org: &Organization, report: &mut Report) -> Vec<UserId> {
    let listed = |report: &mut Report, query: MemberQuery, what: &str| {
        let ids = pages(org, &query);
        report.check(ids.is_some(), "listing", || {
            format!("the pages of {what} never end")
        });
        let ids = ids.unwrap_or_default();
        let distinct: BTreeSet<UserId> = ids.iter().copied().collect();
        report.check(distinct.len() == ids.len(), "listing", || {
            format!("{what} lists a member twice")
        });
        ids
    };
    let everyone = listed(report, MemberQuery::new().limit(7), "everyone");
    report.check(everyone.len() == org.member_count(), "listing", || {
        format!(
            "{} listed, member_count {}",
            everyone.len(),
            org.member_count()
        )
    });
    let pending = listed(
        report,
        MemberQuery::new().status(StatusFilter::Pending).limit(7),
        "pending members",
    );
    report.check(pending.len() == org.pending_count(), "listing", || {
        format!(
            "{} pending listed, pending_count {}",
            pending.len(),
            org.pending_count()
        )
    });
    let active = listed(
        report,
        MemberQuery::new().status(StatusFilter::Active).limit(7),
        "active members",
    );
    report.check(
        pending.len() + active.len() == org.member_count(),
        "listing",
        || "pending and active do not add up to everyone".into(),
    );
    for g in org.groups() {
        let ids = listed(
            report,
            MemberQuery::new().in_group(g.name().clone()).limit(7),
            g.name().as_str(),
        );
        let ids: BTreeSet<UserId> = ids.into_iter().collect();
        if g.is_everyone() {
            report.check(ids.len() == org.member_count(), "listing", || {
                "Everyone does not list every member".into()
            });
        } else {
            let explicit: BTreeSet<UserId> = g.members().collect();
            report.check(ids == explicit, "listing", || {
                format!("the listing of {} differs from its members", g.name())
            });
        }
    }
    everyone
}

fn administrators(org: &Organization, report: &mut Report) {
    if !org.exists() {
        report.check(org.member_count() == 0, "active_administrator", || {
            "members before the organization exists".into()
        });
        report.check(org.groups().count() == 0, "active_administrator", || {
            "groups before the organization exists".into()
        });
        return;
    }
    for d in DefaultGroup::ALL {
        report.check(
            org.group_by_id(d.id()).is_some(),
            "active_administrator",
            || format!("default group {} is missing", d.name()),
        );
    }
    let active = org
        .group_by_id(DefaultGroup::Administrators.id())
        .map_or(0, |admins| {
            admins
                .members()
                .filter(|id| org.is_active_administrator(*id))
                .count()
        });
    report.check(active >= 1, "active_administrator", || {
        "no active administrator".into()
    });
    report.check(
        active == org.active_administrator_count(),
        "active_administrator",
        || {
            format!(
                "{active} active members of Administrators, active_administrator_count {}",
                org.active_administrator_count()
            )
        },
    );
}

fn membership(org: &Organization, members: &[UserId], report: &mut Report) {
    for id in members {
        let Some(m) = org.member_by_id(*id) else {
            report.check(false, "membership", || format!("{id} listed, not a member"));
            continue;
        };
        report.check(
            org.member(m.email()).map(|x| x.id()) == Some(*id),
            "membership",
            || format!("{} is not found by its address", m.email()),
        );
        for g in m.group_ids() {
            match org.group_by_id(g) {
                None => report.check(false, "membership", || {
                    format!("{} is in missing group {g}", m.email())
                }),
                Some(group) => {
                    report.check(!group.is_everyone(), "membership", || {
                        format!("Everyone is listed on {}", m.email())
                    });
                    report.check(group.members().any(|u| u == *id), "membership", || {
                        format!(
                            "{} lists {} but the group does not list them",
                            m.email(),
                            group.name()
                        )
                    });
                }
            }
        }
    }
    for g in org.groups() {
        report.check(
            org.group(g.name()).map(|x| x.id()) == Some(g.id()),
            "membership",
            || format!("group {} is not found by its name", g.name()),
        );
        if g.is_everyone() {
            report.check(g.members().len() == 0, "membership", || {
                "Everyone has explicit members".into()
            });
            report.check(
                org.group_member_count(g) == org.member_count(),
                "membership",
                || "Everyone does not count every member".into(),
            );
        } else {
            report.check(
                org.group_member_count(g) == g.members().len(),
                "membership",
                || format!("{} counts other than its members", g.name()),
            );
        }
        for id in g.members() {
            report.check(
                org.member_by_id(id).is_some_and(|m| m.is_in(g.id())),
                "membership",
                || format!("{} holds {id}, who is not a member in it", g.name()),
            );
        }
    }
}

fn roles(org: &Organization, members: &[UserId], report: &mut Report) {
    let everyone = DefaultGroup::Everyone.id();
    for s in org.services() {
        report.check(
            org.service(s.name()).map(|x| x.id()) == Some(s.id()),
            "roles",
            || format!("service {} is not found by its name", s.name()),
        );
        let defined: BTreeSet<&RoleName> = s.roles().collect();
        report.check(defined.contains(s.admin_role()), "roles", || {
            format!("{}: the administrator role is not defined", s.name())
        });
        report.check(
            s.default_role(DefaultGroup::Administrators.id()) == Some(s.admin_role()),
            "roles",
            || format!("{}: Administrators' default role", s.name()),
        );
        report.check(s.default_role(everyone).is_none(), "roles", || {
            format!("{}: Everyone has a default role", s.name())
        });
        report.check(
            s.roles_of(Holder::Group(DefaultGroup::Administrators.id()))
                .any(|r| r == s.admin_role()),
            "roles",
            || format!("{}: Administrators lost the administrator role", s.name()),
        );
        for (holder, held) in s.assignments() {
            report.check(!held.is_empty(), "roles", || {
                format!("{}: an empty assignment", s.name())
            });
            for role in held {
                report.check(defined.contains(role), "roles", || {
                    format!("{}: undefined role {role} assigned", s.name())
                });
            }
            match holder {
                Holder::User(id) => report.check(org.member_by_id(id).is_some(), "roles", || {
                    format!("{}: role holder {id} is not a member", s.name())
                }),
                Holder::Group(g) => report.check(org.group_by_id(g).is_some(), "roles", || {
                    format!("{}: role holder {g} is not a group", s.name())
                }),
            }
        }
        for id in members {
            let Some(m) = org.member_by_id(*id) else {
                continue;
            };
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
            let actual: Option<Vec<(RoleName, RoleSource)>> = org
                .effective_roles(s.name(), m.email())
                .map(|grants| grants.into_iter().map(|g| (g.role, g.source)).collect());
            let expected: Vec<_> = expected.into_iter().collect();
            report.check(actual.as_ref() == Some(&expected), "roles", || {
                format!(
                    "effective roles of {} in {}: {actual:?}, assignments say {expected:?}",
                    m.email(),
                    s.name()
                )
            });
        }
    }
}

fn licenses(org: &Organization, members: &[UserId], report: &mut Report) {
    let usage = org.seat_usage();
    let mut seats_used = 0usize;
    let mut granted: BTreeMap<(GroupId, LicenseKind), u32> = BTreeMap::new();
    for u in &usage {
        report.check(u.used <= u.seats, "licenses", || {
            format!("{}: {} seats used of {}", u.kind, u.used, u.seats)
        });
        let holders = org.license_holders(&u.kind);
        report.check(holders.len() == u.used as usize, "licenses", || {
            format!(
                "{}: {} holders, {} seats used",
                u.kind,
                holders.len(),
                u.used
            )
        });
        seats_used += u.used as usize;
        for (id, source) in holders {
            let Some(m) = org.member_by_id(id) else {
                report.check(false, "licenses", || {
                    format!("{} holder {id} is not a member", u.kind)
                });
                continue;
            };
            report.check(
                org.licenses_of(m.email())
                    .contains(&(u.kind.clone(), source)),
                "licenses",
                || format!("{} holds {} but licenses_of disagrees", m.email(), u.kind),
            );
            if let LicenseSource::Group(g) = source {
                *granted.entry((g, u.kind.clone())).or_default() += 1;
                report.check(!m.status().is_pending(), "licenses", || {
                    format!("{} is pending but leases {}", m.email(), u.kind)
                });
                report.check(
                    org.license_status(m.email())
                        .is_some_and(|status| !status.user_level),
                    "licenses",
                    || {
                        format!(
                            "{} is on user-level allocation but leases {}",
                            m.email(),
                            u.kind
                        )
                    },
                );
                let Some(group) = org.group_by_id(g) else {
                    report.check(false, "licenses", || {
                        format!("{} holds {} from missing group {g}", m.email(), u.kind)
                    });
                    continue;
                };
                report.check(m.is_in(g), "licenses", || {
                    format!(
                        "{} holds {} from {} without being in it",
                        m.email(),
                        u.kind,
                        group.name()
                    )
                });
                report.check(
                    org.license_rule(group.name())
                        .is_some_and(|rule| rule.gives(&u.kind)),
                    "licenses",
                    || {
                        format!(
                            "{} from {}, whose rule does not give it",
                            u.kind,
                            group.name()
                        )
                    },
                );
            }
        }
    }
    for g in org.groups() {
        let Some(rule) = org.license_rule(g.name()) else {
            report.check(
                !granted.keys().any(|(group, _)| *group == g.id()),
                "licenses",
                || format!("{} grants licenses without a rule", g.name()),
            );
            continue;
        };
        report.check(!g.is_everyone(), "licenses", || {
            "Everyone has a license rule".into()
        });
        report.check(!rule.licenses.is_empty(), "licenses", || {
            format!("the rule of {} gives nothing", g.name())
        });
        for (kind, quota) in &rule.licenses {
            report.check(usage.iter().any(|u| u.kind == *kind), "licenses", || {
                format!("the rule of {} names {kind}, without a pool", g.name())
            });
            if let Some(quota) = quota {
                let n = granted.get(&(g.id(), kind.clone())).copied().unwrap_or(0);
                report.check(*quota >= 1 && n <= *quota, "licenses", || {
                    format!("{} {kind}: {n} leased, quota {quota}", g.name())
                });
            }
        }
    }
    let mut held_total = 0usize;
    for id in members {
        let Some(m) = org.member_by_id(*id) else {
            continue;
        };
        let held = org.licenses_of(m.email());
        held_total += held.len();
        let direct = held.iter().any(|(_, s)| *s == LicenseSource::Direct);
        for (kind, source) in &held {
            report.check(usage.iter().any(|u| u.kind == *kind), "licenses", || {
                format!("{} holds {kind}, which has no pool", m.email())
            });
            report.check(
                !(direct && matches!(source, LicenseSource::Group(_))),
                "licenses",
                || {
                    format!(
                        "{} holds a license directly and {kind} through a group",
                        m.email()
                    )
                },
            );
        }
    }
    report.check(held_total == seats_used, "licenses", || {
        format!("{held_total} licenses held, {seats_used} seats used")
    });
}

fn email_queue(org: &Organization, report: &mut Report) {
    let queued: Vec<_> = org.queued_emails().collect();
    let Some(settings) = org.mail_settings() else {
        report.check(queued.is_empty(), "email_queue", || {
            format!("{} emails queued without mail settings", queued.len())
        });
        return;
    };
    for (_, q, message) in queued {
        let Some(m) = org.member_by_id(q.user()) else {
            report.check(false, "email_queue", || {
                format!("an email is queued for {}, who is not a member", q.user())
            });
            continue;
        };
        report.check(message.to == *m.email(), "email_queue", || {
            format!("an email for {} goes to {}", m.email(), message.to)
        });
        report.check(
            message.from_address == settings.sender_address
                && message.from_name == settings.sender_name,
            "email_queue",
            || {
                format!(
                    "the email to {} is not from the configured sender",
                    m.email()
                )
            },
        );
    }
}

fn snapshot(org: &Organization, report: &mut Report) {
    let snapshot = org.snapshot();
    report.check(snapshot.version() == org.version(), "snapshot", || {
        format!(
            "snapshot version {}, organization {}",
            snapshot.version(),
            org.version()
        )
    });
    match Organization::from_snapshot(&snapshot) {
        Ok(back) => report.check(back == *org, "snapshot", || {
            "the snapshot restores another state".into()
        }),
        Err(e) => report.check(false, "snapshot", || {
            format!("the snapshot does not load: {e}")
        }),
    }
    match Organization::try_from(snapshot.clone()) {
        Ok(back) => report.check(back == *org, "snapshot", || {
            "the snapshot, moved into a state, restores another state".into()
        }),
        Err(e) => report.check(false, "snapshot", || {
            format!("the snapshot, moved into a state, does not load: {e}")
        }),
    }
    let value = match serde_json::to_value(&snapshot) {
        Ok(value) => value,
        Err(e) => {
            report.check(false, "snapshot", || format!("the snapshot to JSON: {e}"));
            return;
        }
    };
    // The queue as stored holds exactly the deliverable emails: nothing for
    // removed members, or without mail settings, lingers.
    let stored = value
        .get("outbox")
        .and_then(serde_json::Value::as_array)
        .map(Vec::len);
    report.check(
        stored == Some(org.queued_emails().count()),
        "snapshot",
        || {
            format!(
                "the snapshot stores {stored:?} queued emails, {} deliverable",
                org.queued_emails().count()
            )
        },
    );
    match serde_json::from_value::<Snapshot>(value) {
        Ok(back) => {
            report.check(back == snapshot, "snapshot", || {
                "the snapshot changed through JSON".into()
            });
            report.check(
                Organization::from_snapshot(&back).is_ok_and(|o| o == *org),
                "snapshot",
                || "the snapshot read back from JSON restores another state".into(),
            );
        }
        Err(e) => report.check(false, "snapshot", || format!("the snapshot from JSON: {e}")),
    }
}
