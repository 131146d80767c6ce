//! Command-line helpers.

use org_accounts::{Email, GroupName};

use crate::Failure;

pub(crate) fn email(text: &str) -> Result<Email, Failure> {
    Email::parse(text).map_err(|e| Failure::refused("invalid_email", e))
}

pub(crate) fn group_name(text: &str) -> Result<GroupName, Failure> {
    GroupName::parse(text).map_err(|e| Failure::refused("invalid_group_name", e))
}

pub(crate) fn actor(args: &mut Vec<String>) -> Result<Email, Failure> {
    email(&required(take_value(args, "--as")?, "--as EMAIL")?)
}

pub(crate) fn required(value: Option<String>, what: &str) -> Result<String, Failure> {
    value.ok_or_else(|| Failure::Usage(format!("{what} is required")))
}

/// Removes `flag` wherever it is; true if it was there.
pub(crate) fn take_flag(args: &mut Vec<String>, flag: &str) -> bool {
    let before = args.len();
    args.retain(|a| a != flag);
    args.len() != before
}

/// Removes `flag VALUE` (the last one wins if repeated).
pub(crate) fn take_value(args: &mut Vec<String>, flag: &str) -> Result<Option<String>, Failure> {
    Ok(take_values(args, flag)?.pop())
}

/// Removes every `flag VALUE`, in order.
pub(crate) fn take_values(args: &mut Vec<String>, flag: &str) -> Result<Vec<String>, Failure> {
    let mut values = Vec::new();
    while let Some(at) = args.iter().position(|a| a == flag) {
        if at + 1 >= args.len() {
            return Err(Failure::Usage(format!("{flag} needs a value")));
        }
        values.push(args.remove(at + 1));
        args.remove(at);
    }
    Ok(values)
}

pub(crate) fn no_flags(args: &[String]) -> Result<(), Failure> {
    match args.iter().find(|a| a.starts_with("--")) {
        Some(flag) => Err(Failure::Usage(format!("unknown option {flag}"))),
        None => Ok(()),
    }
}

pub(crate) fn no_args(args: &[String]) -> Result<(), Failure> {
    match args.first() {
        Some(extra) => Err(Failure::Usage(format!("unexpected argument {extra:?}"))),
        None => Ok(()),
    }
}

pub(crate) fn exactly<const N: usize>(
    args: Vec<String>,
    what: &str,
) -> Result<[String; N], Failure> {
    no_flags(&args)?;
    let given = args.len();
    args.try_into()
        .map_err(|_| Failure::Usage(format!("expected {what}, got {given} arguments")))
}
