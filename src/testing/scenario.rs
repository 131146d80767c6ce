//! Given / when / then over the [`Organization`] aggregate, in the manner of
//! cqrs-es's `TestFramework` and eventually-rs's `aggregate::test`.
//!
//! ```
//! use org_accounts::testing::{Scenario, email, invite};
//! use org_accounts::{Command, DomainError, EventKind};
//!
//! // Given an organization Ada created, with Bob invited,
//! Scenario::given_org()
//!     .invited(&["bob@example.com"], &[])
//!     // when Ada invites Bob again,
//!     .when("ada@example.com", invite(&["BOB@example.com"], &[]))
//!     // then it is refused and nothing changes.
//!     .then_refused(DomainError::AlreadyMembers { emails: vec![email("BOB@example.com")] });
//!
//! Scenario::given_org()
//!     .when("ada@example.com", invite(&["cy@example.com"], &["Administrators"]))
//!     .then_events(|events| {
//!         assert!(matches!(events[0].kind, EventKind::UserInvited { .. }));
//!     });
//! ```
//!
//! Every `then_*` checks, besides what it says:
//! - replaying the history (given events plus the events the command
//!   produced) rebuilds the same organization;
//! - [`check_invariants`](super::check_invariants) finds nothing broken.
//!
//! `when` also checks that `decide` does not change the state and that
//! `execute` returns what `decide` did.
//!
//! A `then` reports a failed expectation by panicking, as `assert!` does in
//! the test that calls it; so does a `given` step that is refused.

// A scenario reports a failed expectation by panicking, as `assert!` does
// in the test that runs it.
#![allow(clippy::panic)]

use std::fmt::Debug;

use jiff::{SignedDuration, Timestamp};

use crate::{Command, Context, DomainError, Email, Event, EventKind, GroupName, Organization};

/// The administrator who creates the organization in
/// [`Scenario::given_org`].
pub const ADMIN: &str = "ada@example.com";

/// The name [`Scenario::given_org`] gives the organization.
pub const ORGANIZATION_NAME: &str = "Example";

/// Parses an address the test spells out; panics if it is not valid.
pub fn email(s: &str) -> Email {
    Email::parse(s).unwrap_or_else(|e| panic!("test address {s:?}: {e}"))
}

/// Parses addresses the test spells out; panics on the first invalid one.
pub fn emails(list: &[&str]) -> Vec<Email> {
    list.iter().map(|s| email(s)).collect()
}

/// Parses a group name the test spells out; panics if it is not valid.
pub fn group(s: &str) -> GroupName {
    GroupName::parse(s).unwrap_or_else(|e| panic!("test group name {s:?}: {e}"))
}

/// Parses group names the test spells out.
pub fn groups(list: &[&str]) -> Vec<GroupName> {
    list.iter().map(|s| group(s)).collect()
}

/// `InviteUsers` of these addresses into these groups.
pub fn invite(list: &[&str], into: &[&str]) -> Command {
    Command::InviteUsers {
        emails: emails(list),
        groups: groups(into),
    }
}

/// Where a scenario's clock starts: 2026-11-28T09:00:00Z.
pub fn start() -> Timestamp {
    Timestamp::from_second(1_795_856_400).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `minutes` after [`start`].
pub fn at(minutes: i64) -> Timestamp {
    start() + SignedDuration::from_mins(minutes)
}

/// `actor` acting `minutes` after [`start`].
pub fn ctx(actor: &str, minutes: i64) -> Context {
    Context::new(email(actor), at(minutes))
}

/// An organization built from given events or given commands, and the
/// history that built it.
///
/// Each given command and the command under test run one minute after the
/// previous one (the first at minute 1 after [`start`]), so events are in
/// time order and a test can name the time of any step with [`at`].
///
/// The fields are public so a test can look at the state or extend the
/// history by hand (then apply the same events to `org`: the `then_*`
/// checks compare the replayed history with it).
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The organization so far.
    pub org: Organization,
    /// Every event that built it, in order.
    pub history: Vec<Event>,
    /// Minutes after [`start`] of the last step.
    pub clock: i64,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario::empty()
    }
}

impl Scenario {
    /// No organization yet (not created).
    pub fn empty() -> Scenario {
        Scenario {
            org: Organization::new(),
            history: Vec::new(),
            clock: 0,
        }
    }

    /// An organization created by [`ADMIN`], named [`ORGANIZATION_NAME`].
    pub fn given_org() -> Scenario {
        Scenario::empty().and(
            ADMIN,
            Command::CreateOrganization {
                name: ORGANIZATION_NAME.into(),
            },
        )
    }

    /// The organization these events build (as a store would hand them
    /// over). The clock continues after the last event's time.
    pub fn given(events: impl IntoIterator<Item = Event>) -> Scenario {
        Scenario::empty().and_events(events)
    }

    /// Applies more given events; the clock moves past the last one.
    pub fn and_events(mut self, events: impl IntoIterator<Item = Event>) -> Scenario {
        for event in events {
            self.org.apply(&event);
            let minutes = event.at.duration_since(start()).as_mins();
            // The next step is at least a minute after this event.
            self.clock = self.clock.max(minutes.saturating_add(1));
            self.history.push(event);
        }
        self
    }

    /// Runs a given step: `actor` (an address) runs `command` a minute
    /// after the previous step. Panics if it is refused.
    pub fn and(mut self, actor: &str, command: Command) -> Scenario {
        self.clock += 1;
        let events = self
            .org
            .execute(&command, &ctx(actor, self.clock))
            .unwrap_or_else(|e| panic!("given step {command:?} by {actor} refused: {e}"));
        self.history.extend(events);
        self
    }

    /// [`ADMIN`] invites `list` into the groups `into`.
    pub fn invited(self, list: &[&str], into: &[&str]) -> Scenario {
        self.and(ADMIN, invite(list, into))
    }

    /// `who` accepts their invitation.
    pub fn accepted(self, who: &str) -> Scenario {
        self.and(who, Command::AcceptInvitation)
    }

    /// [`ADMIN`] creates the custom group `name` with these members.
    pub fn with_group(self, name: &str, members: &[&str]) -> Scenario {
        self.and(
            ADMIN,
            Command::CreateGroup {
                name: group(name),
                members: emails(members),
            },
        )
    }

    /// When `actor` runs `command` (a minute after the previous step).
    pub fn when(mut self, actor: &str, command: Command) -> Outcome {
        self.clock += 1;
        let context = ctx(actor, self.clock);
        let before = self.org.clone();
        let decided = self.org.decide(&command, &context);
        if self.org != before {
            panic!("decide changed the state running {command:?}");
        }
        let result = self.org.execute(&command, &context);
        if result != decided {
            panic!("execute returned {result:?}, decide {decided:?}, running {command:?}");
        }
        if let Ok(events) = &result {
            self.history.extend(events.iter().cloned());
        }
        Outcome {
            before,
            events: result.as_ref().map_or(0, Vec::len),
            scenario: self,
            result,
        }
    }

    /// Panics unless the history replays to the state and no invariant is
    /// broken.
    fn check(&self) {
        let replayed = Organization::replay(&self.history);
        if replayed != self.org {
            panic!("replaying the history does not rebuild the state");
        }
        let broken = super::check_invariants(&self.org);
        if !broken.is_empty() {
            panic!(
                "invariants broken: {}",
                super::invariants::describe(&broken)
            );
        }
    }
}

/// What a command did: its result, and the scenario after it.
#[derive(Debug)]
pub struct Outcome {
    before: Organization,
    events: usize,
    /// The scenario after the command (its events are in the history).
    pub scenario: Scenario,
    /// What `execute` returned.
    pub result: Result<Vec<Event>, DomainError>,
}

impl Outcome {
    /// The command succeeded; `check` looks at its events. Returns the new
    /// state.
    pub fn then_events(self, check: impl FnOnce(&[Event])) -> Organization {
        let events = match &self.result {
            Ok(events) => events.as_slice(),
            Err(e) => panic!("expected success, got refusal: {e} ({e:?})"),
        };
        check(events);
        self.scenario.check();
        self.scenario.org
    }

    /// The command succeeded with events of exactly these kinds, in order
    /// (their time and actor are the step's). Returns the new state.
    pub fn then_expect_events(self, expected: &[EventKind]) -> Organization {
        let at = self.scenario.clock;
        self.then_events(|events| {
            let kinds: Vec<&EventKind> = events.iter().map(|e| &e.kind).collect();
            let expected: Vec<&EventKind> = expected.iter().collect();
            if kinds != expected {
                panic!("expected events {expected:#?}, got {kinds:#?}");
            }
            if let Some(e) = events.iter().find(|e| e.at != self::at(at)) {
                panic!("event {e:?} is not at the step's time {}", self::at(at));
            }
        })
    }

    /// The command was refused with `expected`, and the state is unchanged.
    pub fn then_refused(self, expected: DomainError) {
        match &self.result {
            Ok(events) => panic!("expected refusal {expected:?}, got events {events:?}"),
            Err(e) if *e != expected => panic!("expected refusal {expected:?}, got {e:?}"),
            Err(_) => {}
        }
        self.unchanged();
    }

    /// The command was refused with an error whose [`DomainError::code`] is
    /// `code`, and the state is unchanged. Returns the error.
    pub fn then_refused_with(self, code: &str) -> DomainError {
        let error = match &self.result {
            Ok(events) => panic!("expected refusal {code}, got events {events:?}"),
            Err(e) if e.code() != code => panic!("expected refusal {code}, got {e:?}"),
            Err(e) => e.clone(),
        };
        self.unchanged();
        error
    }

    /// The command was accepted and changed nothing (no events).
    pub fn then_nothing_happens(self) {
        if self.result != Ok(Vec::new()) {
            panic!("expected no events, got {:?}", self.result);
        }
        self.unchanged();
    }

    /// The command succeeded, and `query` over the new state returns
    /// `expected`. Returns the new state.
    pub fn then_query<T: PartialEq + Debug>(
        self,
        query: impl FnOnce(&Organization) -> T,
        expected: T,
    ) -> Organization {
        if let Err(e) = &self.result {
            panic!("expected success, got refusal: {e} ({e:?})");
        }
        let got = query(&self.scenario.org);
        if got != expected {
            panic!("query returned {got:?}, expected {expected:?}");
        }
        self.scenario.check();
        self.scenario.org
    }

    /// How many events the command produced (0 when refused).
    pub fn event_count(&self) -> usize {
        self.events
    }

    fn unchanged(&self) {
        if self.scenario.org != self.before {
            panic!("the state changed: {:?}", self.result);
        }
        self.scenario.check();
    }
}
