//! Turning the command line's text into the library's values.

use org_accounts::{Email, GroupName};

use crate::Failure;

pub(crate) fn email(text: &str) -> Result<Email, Failure> {
    Email::parse(text).map_err(|e| Failure::refused("invalid_email", e))
}

pub(crate) fn emails(texts: &[String]) -> Result<Vec<Email>, Failure> {
    texts.iter().map(|e| email(e)).collect()
}

pub(crate) fn group_name(text: &str) -> Result<GroupName, Failure> {
    GroupName::parse(text).map_err(|e| Failure::refused("invalid_group_name", e))
}
