//! The same steps through an `AccountService` over an `InMemoryStore`,
//! driven by a current-thread runtime made once per case: every command
//! and upload is executed by the service too (it must decide the same),
//! and what the service keeps out of its commands (sign-ins, which go to
//! the activity store, and deliveries, which a mailer would make) is
//! appended to its store as the organization's own events. Every
//! [`SERVICE_CHECK_EVERY`] steps, and at the end, the service's state must
//! equal the organization.
// Tests assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(unused_imports)]
use super::*;

use org_accounts::{
    AccountService, EventStore, InMemoryStore, InviteFile, OrganizationId, ServiceError,
};
use tokio::runtime::Runtime;

/// How often the service's state is compared with the organization.
pub(crate) const SERVICE_CHECK_EVERY: usize = 8;

pub(crate) struct Mirror {
    runtime: Runtime,
    service: AccountService<InMemoryStore>,
    id: OrganizationId,
}

impl Mirror {
    pub(crate) fn new() -> Result<Mirror, TestCaseError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| TestCaseError::fail(format!("runtime: {e}")))?;
        Ok(Mirror {
            runtime,
            service: AccountService::new(InMemoryStore::new()),
            id: OrganizationId::new("state-machine").expect("a valid id"),
        })
    }

    /// The service executes `command`: the same events, or the same
    /// refusal, as the organization's `result`.
    pub(crate) fn execute(
        &self,
        command: &Command,
        ctx: &Context,
        result: &Result<Vec<Event>, DomainError>,
    ) -> Result<(), TestCaseError> {
        let got = self
            .runtime
            .block_on(self.service.execute(&self.id, command, ctx));
        match (got, result) {
            (Ok(executed), Ok(events)) => {
                prop_assert_eq!(&executed.events, events, "the service's events");
            }
            (Err(ServiceError::Refused(e)), Err(expected)) => {
                prop_assert_eq!(&e, expected, "the service's refusal");
            }
            (got, _) => {
                return Err(TestCaseError::fail(format!(
                    "the service: {got:?}, the organization: {result:?}"
                )));
            }
        }
        Ok(())
    }

    /// The service uploads `file`: the same report, or the same refusal.
    pub(crate) fn bulk_invite(
        &self,
        file: &InviteFile,
        ctx: &Context,
        result: &Result<Vec<Event>, DomainError>,
        report: &ImportReport,
    ) -> Result<(), TestCaseError> {
        let got = self
            .runtime
            .block_on(self.service.bulk_invite(&self.id, file, ctx, false));
        match (got, result) {
            (Ok(got), Ok(_)) => prop_assert_eq!(&got, report, "the service's report"),
            (Err(ServiceError::Refused(e)), Err(expected)) => {
                prop_assert_eq!(&e, expected, "the service's refusal of the upload");
            }
            (got, _) => {
                return Err(TestCaseError::fail(format!(
                    "the service's upload: {got:?}, the organization: {result:?}"
                )));
            }
        }
        Ok(())
    }

    /// Appends the organization's `events` (after the first `version`) to
    /// the service's store.
    pub(crate) fn mirror_events(
        &self,
        version: usize,
        events: &[Event],
    ) -> Result<(), TestCaseError> {
        if events.is_empty() {
            return Ok(());
        }
        self.runtime
            .block_on(
                self.service
                    .store()
                    .append(&self.id, version as u64, events),
            )
            .map_err(|e| TestCaseError::fail(format!("the service's store: {e}")))?;
        Ok(())
    }

    /// The service's state equals the organization after step `i`.
    pub(crate) fn check(&self, org: &Organization, i: usize) -> Result<(), TestCaseError> {
        let state = self
            .runtime
            .block_on(self.service.read(&self.id, Organization::clone))
            .map_err(|e| TestCaseError::fail(format!("the service's read: {e}")))?;
        prop_assert_eq!(&state, org, "step {}: the service's state differs", i);
        Ok(())
    }
}
