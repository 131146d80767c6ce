//! Checks of the real aggregate after every step: the library's
//! `check_invariants` (everything that needs no model) plus what needs the
//! history (removed users stay gone) or the model (invitation times,
//! listings, refusal offenders).
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
// Invariants of the real aggregate
// ---------------------------------------------------------------------------

/// `log` holds the events as `execute` returned them, `stored` the same
/// events after a JSON round trip (each serialized once, as an event store
/// row would be). Everything that needs no history is the library's
/// [`org_accounts::testing::check_invariants`]; with the history: the
/// version counts the events, removed (or revoked) users are members no
/// more (so, by those invariants, in no group, role, license or queued
/// email), and events survive JSON.
pub(crate) fn check_invariants(
    org: &Organization,
    log: &[Event],
    stored: &[Event],
    removed: &BTreeSet<UserId>,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(org.version(), log.len() as u64, "version counts events");
    let broken = org_accounts::testing::check_invariants(org);
    prop_assert!(
        broken.is_empty(),
        "invariants broken:\n{}",
        broken
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    for id in removed {
        prop_assert!(
            org.member_by_id(*id).is_none(),
            "removed {} is a member",
            id
        );
    }
    prop_assert_eq!(stored, log, "JSON round trip changed events");
    Ok(())
}

/// Each member's invitation status and expiry at `now` agree with the
/// model.
pub(crate) fn check_invitations(
    org: &Organization,
    model: &Model,
    now: i64,
) -> Result<(), TestCaseError> {
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
pub(crate) fn round_trip(events: &[Event]) -> Result<Vec<Event>, TestCaseError> {
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
pub(crate) fn check_listings(org: &Organization, model: &Model) -> Result<(), TestCaseError> {
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
pub(crate) fn offenders(e: &DomainError) -> Vec<String> {
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
        DomainError::LicenseNotHeld { email, kind } => {
            vec![key(email.as_str()), key(kind.as_str())]
        }
        DomainError::QuotaInUse { group, kind, .. } => {
            vec![key(group.as_str()), key(kind.as_str())]
        }
        _ => Vec::new(),
    }
}

/// An upload's report against the model's expectation, row by row (line,
/// outcome, groups a skipped member is not in); every invited row is a
/// Pending member in exactly the groups the report names.
pub(crate) fn check_report(
    report: &ImportReport,
    expected: &[ExpectedRow],
    org: &Organization,
) -> Result<(), String> {
    if report.rows().len() != expected.len() {
        return Err(format!(
            "{} rows reported, {} uploaded",
            report.rows().len(),
            expected.len()
        ));
    }
    for (n, (row, want)) in report.rows().iter().zip(expected).enumerate() {
        let outcome = match row.outcome() {
            org_accounts::RowOutcome::Invited => "invited".to_owned(),
            org_accounts::RowOutcome::Skipped(reason) => reason.code().to_owned(),
            org_accounts::RowOutcome::Failed(errors) => errors
                .iter()
                .map(org_accounts::RowError::code)
                .collect::<Vec<_>>()
                .join("+"),
            other => format!("{other:?}"),
        };
        let not_changed: BTreeSet<String> = row
            .groups_not_changed()
            .iter()
            .map(|g| key(g.as_str()))
            .collect();
        let got = ExpectedRow {
            outcome,
            groups_not_changed: not_changed,
        };
        if row.line() != n as u64 + 2 || &got != want {
            return Err(format!(
                "row {n} (line {}, {:?}): reported {got:?}, expected {want:?}",
                row.line(),
                row.email()
            ));
        }
        if matches!(row.outcome(), org_accounts::RowOutcome::Invited) {
            let m = Email::parse(row.email())
                .ok()
                .and_then(|e| org.member(&e))
                .ok_or_else(|| format!("invited row {n} ({}) is no member", row.email()))?;
            let groups: BTreeSet<GroupId> = m.group_ids().collect();
            let named: BTreeSet<GroupId> = row
                .groups()
                .iter()
                .filter_map(|g| org.group(g).map(|g| g.id()))
                .collect();
            if !m.status().is_pending() || groups != named {
                return Err(format!(
                    "invited row {n} ({}): pending {}, in {groups:?}, the row names {named:?}",
                    row.email(),
                    m.status().is_pending()
                ));
            }
        }
    }
    Ok(())
}

/// The post-conditions of a step's license grants (see [`Loose`]): each
/// member named holds the group's rule kind, or a license directly, or the
/// group's quota is full, or (where allowed) the kind has no seat left.
pub(crate) fn check_must_hold(org: &Organization, model: &Model) -> Result<(), String> {
    let usage = org.seat_usage();
    let granted_by = |uid: u32| {
        usage
            .iter()
            .flat_map(|u| org.license_holders(&u.kind))
            .filter(|(_, source)| matches!(source, LicenseSource::Group(g) if g.get() == uid))
            .count()
    };
    for (k, uid, short_ok) in &model.loose.must_hold {
        let Some(rule) = model.rules.get(uid) else {
            continue;
        };
        let held = org.licenses_of(&email(k));
        let full = rule
            .quota
            .is_some_and(|q| granted_by(*uid) >= usize::try_from(q).unwrap_or(usize::MAX));
        let short = usage
            .iter()
            .any(|u| key(u.kind.as_str()) == rule.kind && u.used >= u.seats);
        let ok = held.iter().any(|(kind, source)| {
            *source == LicenseSource::Direct || key(kind.as_str()) == rule.kind
        }) || full
            || (*short_ok && short);
        if !ok {
            return Err(format!(
                "{k} holds {held:?}, not the {} the rule of group {uid} gives (quota {:?}, {} granted, seats short: {short})",
                rule.kind,
                rule.quota,
                granted_by(*uid)
            ));
        }
    }
    Ok(())
}
