//! Short names chosen by administrators or hosts: services, roles and
//! license kinds. Trimmed, 1 to 64 characters, no control or invisible
//! characters; compared ignoring case, displayed as given.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use unicase::UniCase;

/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Why a text is not an acceptable name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a valid {what}: {reason}")]
pub struct NameError {
    what: &'static str,
    input: String,
    reason: &'static str,
}

fn validate(input: &str, what: &'static str) -> Result<Arc<str>, NameError> {
    let text = input.trim();
    let fail = |reason| NameError {
        what,
        input: input.to_owned(),
        reason,
    };
    if text.is_empty() {
        return Err(fail("it is empty"));
    }
    if text.chars().count() > MAX_NAME_CHARS {
        return Err(fail("it is longer than 64 characters"));
    }
    if text.chars().any(|c| {
        c.is_control() || matches!(u32::from(c), 0x200B..=0x200F | 0x2060..=0x206F | 0xFEFF)
    }) {
        return Err(fail(
            "it contains a control or invisible character; retype it",
        ));
    }
    Ok(Arc::from(text))
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Parses a name: trimmed, 1 to 64 characters, no control or
            /// invisible characters.
            ///
            /// # Errors
            /// [`NameError`] says which rule the text breaks.
            pub fn parse(input: &str) -> Result<$name, NameError> {
                validate(input, $what).map($name)
            }
            /// The name as given (trimmed).
            pub fn as_str(&self) -> &str {
                &self.0
            }
            fn key(&self) -> UniCase<&str> {
                UniCase::new(&self.0)
            }
        }
        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.key() == other.key()
            }
        }
        impl Eq for $name {}
        impl Hash for $name {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.key().hash(state);
            }
        }
        impl Ord for $name {
            fn cmp(&self, other: &Self) -> Ordering {
                self.key().cmp(&other.key())
            }
        }
        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), &*self.0)
            }
        }
        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::parse(s)
            }
        }
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

name_type!(
    /// The name of a service (an application the organization uses), unique
    /// in the organization ignoring case.
    ServiceName,
    "service name"
);
name_type!(
    /// The name of a role a service defines (`Viewer`, `Automation
    /// Developer`, ...), compared ignoring case.
    RoleName,
    "role name"
);
name_type!(
    /// A license kind, a code the host defines (`attended`, `studio`,
    /// ...), compared ignoring case.
    LicenseKind,
    "license kind"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_case_insensitive() {
        assert_eq!(RoleName::parse(" Viewer ").unwrap().as_str(), "Viewer");
        assert_eq!(
            RoleName::parse("viewer").unwrap(),
            RoleName::parse("VIEWER").unwrap()
        );
        assert!(ServiceName::parse("  ").is_err());
        assert!(LicenseKind::parse(&"x".repeat(65)).is_err());
        let e = LicenseKind::parse("a\u{200B}b").unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"a\\u{200b}b\" is not a valid license kind: it contains a control or invisible character; retype it"
        );
    }
}
