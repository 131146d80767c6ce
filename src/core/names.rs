//! Names chosen by administrators or hosts: groups, services, roles and
//! license kinds. Trimmed, 1 to 64 characters, no control or invisible
//! characters; compared ignoring case, displayed as given. One macro
//! gives every name type the same comparison, display and serde; group
//! names add the comma rule (a CSV cell separates group names with commas).

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

/// The traits every name type shares: compared and hashed ignoring case,
/// displayed as given, serialized as a string and checked again when read
/// back. `$check` parses a name, so deserializing runs the same rules as
/// typing.
macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $err:ty) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(Arc<str>);

        impl $name {
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
            type Err = $err;
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

/// `parse` for the names whose only rules are the common ones.
macro_rules! plain_name_parse {
    ($name:ident, $what:literal) => {
        impl $name {
            /// Parses a name: trimmed, 1 to 64 characters, no control or
            /// invisible characters.
            ///
            /// # Errors
            /// [`NameError`] says which rule the text breaks.
            pub fn parse(input: &str) -> Result<$name, NameError> {
                validate(input, $what).map($name)
            }
        }
    };
}

name_type!(
    /// The name of a service (an application the organization uses), unique
    /// in the organization ignoring case.
    ServiceName,
    NameError
);
plain_name_parse!(ServiceName, "service name");
name_type!(
    /// The name of a role a service defines (`Viewer`, `Automation
    /// Developer`, ...), compared ignoring case.
    RoleName,
    NameError
);
plain_name_parse!(RoleName, "role name");
name_type!(
    /// A license kind, a code the host defines (`attended`, `studio`,
    /// ...), compared ignoring case.
    LicenseKind,
    NameError
);
plain_name_parse!(LicenseKind, "license kind");

/// Longest group name, in characters.
pub const MAX_GROUP_NAME_CHARS: usize = 64;

name_type!(
    /// The name of a group, default or custom.
    ///
    /// Surrounding whitespace is trimmed. A name is non-empty, at most
    /// [`MAX_GROUP_NAME_CHARS`] characters, and holds no comma (a CSV cell
    /// separates group names with commas) and no control or invisible character.
    /// Names are compared ignoring case (`administrators` names the
    /// `Administrators` group); the spelling given is kept for display.
    ///
    /// ```
    /// use org_accounts::GroupName;
    ///
    /// let name = GroupName::parse("  Finance Team ")?;
    /// assert_eq!(name.as_str(), "Finance Team");
    /// assert_eq!(name, GroupName::parse("finance team")?);
    /// assert!(GroupName::parse("a, b").is_err());
    /// # Ok::<(), org_accounts::GroupNameError>(())
    /// ```
    GroupName,
    GroupNameError
);

impl GroupName {
    /// Parses a group name; see the type's docs for the rules.
    ///
    /// # Errors
    /// [`GroupNameError`] says which rule the name breaks.
    pub fn parse(input: &str) -> Result<GroupName, GroupNameError> {
        let text = input.trim();
        check(text).map_err(|kind| GroupNameError {
            input: input.to_owned(),
            kind,
        })?;
        Ok(GroupName(Arc::from(text)))
    }
}

/// Which rule a trimmed name breaks, without allocating (a bulk upload
/// checks every name of every group cell).
pub(crate) fn check(text: &str) -> Result<(), GroupNameErrorKind> {
    if text.is_empty() {
        return Err(GroupNameErrorKind::Empty);
    }
    // Four bytes per character at most: a longer text is too long.
    if text.len() > 4 * MAX_GROUP_NAME_CHARS {
        return Err(GroupNameErrorKind::TooLong {
            chars: text.chars().count(),
        });
    }
    let chars = text.chars().count();
    if chars > MAX_GROUP_NAME_CHARS {
        return Err(GroupNameErrorKind::TooLong { chars });
    }
    if text.contains(',') {
        return Err(GroupNameErrorKind::Comma);
    }
    if let Some(c) = text.chars().find(|&c| invisible(c)) {
        return Err(GroupNameErrorKind::ForbiddenCharacter { code: u32::from(c) });
    }
    Ok(())
}

fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(u32::from(c),
            0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x180E | 0x200B..=0x200F
            | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F | 0xFEFF
            | 0xFFA0 | 0xFFF9..=0xFFFB | 0xE0000..=0xE0FFF)
}

/// Why a text is not an acceptable group name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a valid group name: {kind}")]
pub struct GroupNameError {
    input: String,
    kind: GroupNameErrorKind,
}

impl GroupNameError {
    /// The text as given.
    pub fn input(&self) -> &str {
        &self.input
    }
    /// Which rule it breaks.
    pub fn kind(&self) -> &GroupNameErrorKind {
        &self.kind
    }
}

/// The rule a group name breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupNameErrorKind {
    /// Nothing but whitespace.
    #[error("it is empty")]
    Empty,
    /// Over [`MAX_GROUP_NAME_CHARS`].
    #[error("it has {chars} characters; at most 64 are allowed")]
    TooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// Contains a comma.
    #[error(
        "it contains a comma; commas separate group names in CSV files, so choose another name"
    )]
    Comma,
    /// A control or invisible character.
    #[error("it contains the invisible or control character U+{code:04X}; retype the name")]
    ForbiddenCharacter {
        /// The character's code point.
        code: u32,
    },
}

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

#[cfg(test)]
mod group_name_tests {
    use super::*;

    #[test]
    fn rules() {
        assert_eq!(
            GroupName::parse(" ").unwrap_err().kind(),
            &GroupNameErrorKind::Empty
        );
        assert_eq!(
            GroupName::parse(&"x".repeat(65)).unwrap_err().kind(),
            &GroupNameErrorKind::TooLong { chars: 65 }
        );
        assert!(GroupName::parse(&"é".repeat(64)).is_ok());
        assert_eq!(
            GroupName::parse("a,b").unwrap_err().kind(),
            &GroupNameErrorKind::Comma
        );
        assert_eq!(
            GroupName::parse("a\u{200B}b").unwrap_err().kind(),
            &GroupNameErrorKind::ForbiddenCharacter { code: 0x200B }
        );
        assert_eq!(
            GroupName::parse("ÉQUIPE").unwrap(),
            GroupName::parse("équipe").unwrap()
        );
    }
}
