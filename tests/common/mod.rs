//! Given/when/then helpers shared by the integration tests.
#![allow(dead_code)]
// Tests and benches assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use org_accounts::{
    Command, Context, DomainError, Email, Event, GroupName, Organization, Timestamp,
};

pub fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

pub fn emails(list: &[&str]) -> Vec<Email> {
    list.iter().map(|s| email(s)).collect()
}

pub fn group(s: &str) -> GroupName {
    GroupName::parse(s).unwrap()
}

pub fn groups(list: &[&str]) -> Vec<GroupName> {
    list.iter().map(|s| group(s)).collect()
}

/// Minutes after a fixed start.
pub fn at(minutes: i64) -> Timestamp {
    let start: Timestamp = "2026-11-28T09:00:00Z".parse().unwrap();
    start + jiff::SignedDuration::from_mins(minutes)
}

pub fn ctx(actor: &str, minutes: i64) -> Context {
    Context::new(email(actor), at(minutes))
}

pub const ADMIN: &str = "ada@example.com";

/// An organization built by running commands; each setup step must succeed.
pub struct Scenario {
    pub org: Organization,
    pub history: Vec<Event>,
    clock: i64,
}

/// Starts from an organization created by [`ADMIN`].
pub fn given_org() -> Scenario {
    Scenario::empty().and(
        ADMIN,
        Command::CreateOrganization {
            name: "Example".into(),
        },
    )
}

impl Scenario {
    pub fn empty() -> Scenario {
        Scenario {
            org: Organization::new(),
            history: Vec::new(),
            clock: 0,
        }
    }

    /// Runs a setup step; panics if it is refused.
    pub fn and(mut self, actor: &str, command: Command) -> Scenario {
        self.clock += 1;
        let events = self
            .org
            .execute(&command, &ctx(actor, self.clock))
            .unwrap_or_else(|e| panic!("setup step {command:?} by {actor} refused: {e}"));
        self.history.extend(events);
        self
    }

    pub fn invited(self, list: &[&str], into: &[&str]) -> Scenario {
        self.and(
            ADMIN,
            Command::InviteUsers {
                emails: emails(list),
                groups: groups(into),
            },
        )
    }

    pub fn accepted(self, who: &str) -> Scenario {
        self.and(who, Command::AcceptInvitation)
    }

    pub fn with_group(self, name: &str, members: &[&str]) -> Scenario {
        self.and(
            ADMIN,
            Command::CreateGroup {
                name: group(name),
                members: emails(members),
            },
        )
    }

    /// Runs the command under test.
    pub fn when(mut self, actor: &str, command: Command) -> Outcome {
        self.clock += 1;
        let before = self.org.clone();
        let result = self.org.execute(&command, &ctx(actor, self.clock));
        Outcome {
            before,
            scenario: self,
            result,
        }
    }
}

pub struct Outcome {
    before: Organization,
    pub scenario: Scenario,
    pub result: Result<Vec<Event>, DomainError>,
}

impl Outcome {
    /// The command succeeded; checks its events and returns the new state.
    pub fn then_events(self, check: impl FnOnce(&[Event])) -> Organization {
        let events = match &self.result {
            Ok(events) => events.clone(),
            Err(e) => panic!("expected success, got refusal: {e}"),
        };
        check(&events);
        let mut all = self.scenario.history.clone();
        all.extend(events);
        assert_eq!(
            Organization::replay(&all),
            self.scenario.org,
            "replay differs from state"
        );
        self.scenario.org
    }

    /// The command was refused with `expected`, and nothing changed.
    pub fn then_refused(self, expected: DomainError) {
        match self.result {
            Ok(events) => panic!("expected refusal {expected:?}, got events {events:?}"),
            Err(e) => assert_eq!(e, expected),
        }
        assert_eq!(
            self.scenario.org, self.before,
            "a refused command changed the state"
        );
    }

    /// The command was accepted and changed nothing.
    pub fn then_nothing_happens(self) {
        assert_eq!(self.result, Ok(Vec::new()));
        assert_eq!(self.scenario.org, self.before);
    }
}
