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
    ServiceName, SortBy, SortOrder, StatusFilter, Timestamp, UserId,
};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};

mod invariants;
mod model;
mod strategies;

use invariants::*;
use model::*;
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

            let queued_before = model.queued_total;
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
                    // One email per invitation, and per resend unless one is
                    // still waiting; only with mail settings; no other
                    // command queues any.
                    let queued = events
                        .iter()
                        .filter(|e| matches!(e.kind, EventKind::InvitationEmailQueued { .. }))
                        .count();
                    let expected_queued = match op {
                        Op::InviteUsers { .. } | Op::ResendInvitation { .. } => {
                            model.queued_total - queued_before
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
