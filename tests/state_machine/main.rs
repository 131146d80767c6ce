//! A state-machine property test of the `Organization` aggregate, in the
//! style of `proptest-state-machine` (hand-rolled, no extra crate).
//!
//! Proptest generates sequences of up to 50 `(actor, command)` steps, every
//! command variant included, plus CSV uploads (1 to 6 rows: newcomers,
//! pending and active members, repeats, invalid addresses, existing,
//! default and unknown groups; read by `read_invite_csv` and decided by
//! `decide_bulk_invite`) and deliveries (after creating the organization, most
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
//! pools, rules and direct allocations, mail settings, invitation expiry and
//! the queue of invitation emails, and for an upload each row's outcome.
//! Which members a group license rule grants to is not mirrored: the model
//! says who is to hold the rule's kind unless a quota is full (members
//! joining a ruled group, a group whose rule is set, a member whose direct
//! license is taken back) and at most how many seats that can need; the
//! invariants (seats used within seats and quotas, group-sourced licenses
//! only for members of a group whose rule gives that kind, none beside a
//! direct one, none for a removed member) and those post-conditions check
//! the real choice, a `no_seats_left` refusal is checked against the free
//! seats and that bound, and the model adopts the real group-sourced
//! licenses after each step. A failure message ends with the resolved
//! trace (time, actor, command, outcome) of the shrunk sequence.
//!
//! Every step also goes through an `AccountService` over an
//! `InMemoryStore` (a current-thread runtime made once per case): commands
//! and uploads are executed by the service, which must return the same
//! events, refusal or report; sign-ins and deliveries, which the service
//! makes otherwise, reach its store as the organization's events. Every 8
//! steps and at the end, the service's state equals the organization.
//!
//! After every step the test checks:
//! - accepted/refused, the refusal code and its offenders agree with the model;
//! - an upload reports every row as the model expects (line, `invited`,
//!   `already_member` / `already_invited` with the groups not changed,
//!   `invalid_email`, `invalid_groups`, `duplicate_in_file`), and every
//!   invited row is a Pending member in exactly the groups it names;
//! - `decide` does not change the state, and `execute` returns what `decide`
//!   did; a refusal leaves the organization equal to its clone;
//! - an accepted command returns no events exactly when the model says it
//!   changes nothing (setting a group's rule to the one it has is the
//!   real aggregate's to say), and every event carries `now` and the
//!   acting user; the license post-conditions above hold;
//!   an invitation or resend queues exactly one email per invitee when the
//!   organization has mail settings, and no command queues any otherwise;
//! - the model's projection (members with status, Last active, invitation
//!   time, groups; groups with kind and members; services with roles,
//!   defaults and assignments; pools with seats and seats used; group
//!   license rules; who holds which license directly; mail settings,
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
    ServiceName, SortBy, SortOrder, StatusFilter, Timestamp, UserId,
};
use org_accounts::{CsvOptions, ImportReport, read_invite_csv};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};

mod invariants;
mod model;
mod service;
mod strategies;

use invariants::*;
use model::*;
use service::*;
use strategies::*;

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
    let service = Mirror::new()?;

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
            service.mirror_events(log.len(), &events)?;
            stored.extend(round_trip(&events)?);
            log.extend(events);
        } else {
            let before = org.clone();
            // A command, or an upload decided from its file (with its
            // report); both leave the state alone until applied.
            let (result, upload) = match &op {
                Op::BulkUpload { rows } => {
                    let file = read_invite_csv(&csv_file(rows), &CsvOptions::default())
                        .map_err(|e| TestCaseError::fail(format!("step {i}: the upload: {e}")))?;
                    let decided = org.decide_bulk_invite(&file, &ctx);
                    prop_assert_eq!(&org, &before, "step {}: deciding an upload changed it", i);
                    match decided {
                        Ok(bulk) => {
                            let (events, report) = bulk.into_parts();
                            for e in &events {
                                org.apply(e);
                            }
                            (Ok(events), Some((file, report)))
                        }
                        Err(e) => (Err(e), Some((file, ImportReport::empty()))),
                    }
                }
                _ => {
                    let command = op.command();
                    let decided = org.decide(&command, &ctx);
                    prop_assert_eq!(&org, &before, "step {}: decide changed the state", i);
                    let result = org.execute(&command, &ctx);
                    prop_assert_eq!(&result, &decided, "step {}: execute differs from decide", i);
                    (result, None)
                }
            };
            if let Some(line) = trace.last_mut() {
                match &result {
                    Ok(events) => line.push_str(&format!(" -> {} event(s)", events.len())),
                    Err(e) => line.push_str(&format!(" -> {}", e.code())),
                }
            }
            // The same step through the service, which must decide the
            // same.
            match &upload {
                Some((file, report)) => service.bulk_invite(file, &ctx, &result, report)?,
                None if matches!(op, Op::RecordSignIn) => {
                    // The service keeps sign-ins out of the event stream;
                    // the store gets the organization's event so the two
                    // states stay comparable.
                    if let Ok(events) = &result {
                        service.mirror_events(log.len(), events)?;
                    }
                }
                None => service.execute(&op.command(), &ctx, &result)?,
            }

            let queued_before = model.queued_total;
            let model_before = model.clone();
            let expected = model.step(actor, now, &op);
            match (&result, &expected) {
                (Ok(events), Ok(changed)) => {
                    prop_assert!(
                        model.loose.changes || events.is_empty() != *changed,
                        "step {}: model says changed: {}, events {:?}",
                        i,
                        changed,
                        events
                    );
                    // The licenses group rules granted: checked by the
                    // invariants and these post-conditions, then adopted.
                    check_must_hold(&org, &model)
                        .map_err(|e| TestCaseError::fail(format!("step {i}: {e}")))?;
                    model.adopt_group_licenses(&org)?;
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
                    // One email per invitation, and per resend unless one is
                    // still waiting; only with mail settings; no other
                    // command queues any.
                    let queued = events
                        .iter()
                        .filter(|e| matches!(e.kind, EventKind::InvitationEmailQueued { .. }))
                        .count();
                    let expected_queued = match op {
                        Op::InviteUsers { .. }
                        | Op::ResendInvitation { .. }
                        | Op::BulkUpload { .. } => model.queued_total - queued_before,
                        _ => 0,
                    };
                    prop_assert_eq!(queued, expected_queued, "step {}: emails queued", i);
                    if let Some((_, report)) = &upload {
                        check_report(report, &model.report, &org)
                            .map_err(|e| TestCaseError::fail(format!("step {i}: {e}")))?;
                    }
                    log.extend(events.iter().cloned());
                    stored.extend(round_trip(events)?);
                }
                // Seats ran out for grants the model leaves to the real
                // aggregate: the refusal's numbers agree with the state
                // before the step, and within what the command can need.
                (
                    Err(DomainError::NoSeatsLeft {
                        kind, free, needed, ..
                    }),
                    Ok(_),
                ) if model.loose.seats.contains_key(&key(kind.as_str())) => {
                    let k = key(kind.as_str());
                    let bound = model.loose.seats[&k];
                    prop_assert_eq!(*free, model_before.free(&k), "step {}: free {} seats", i, k);
                    prop_assert!(
                        *needed > *free && *needed <= bound,
                        "step {}: {} seats of {} needed, {} free, at most {} could be",
                        i,
                        needed,
                        k,
                        free,
                        bound
                    );
                    prop_assert_eq!(&org, &before, "step {}: a refusal changed the state", i);
                    model = model_before;
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
        if i % SERVICE_CHECK_EVERY == SERVICE_CHECK_EVERY - 1 {
            service.check(&org, i)?;
            // Mid-history too: the users-page indexes are brought up to
            // date by each page request, from the changes since the last.
            check_listings(&org, &model)?;
        }
    }
    service.check(&org, steps.len())?;
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
        let (k, _) = model.outbox.remove(n);
        model.failed.remove(&k);
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
        let k = model.outbox[n].0.clone();
        model.failed.insert(k);
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
