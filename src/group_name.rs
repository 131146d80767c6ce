//! Group names.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use unicase::UniCase;

/// Longest group name, in characters.
pub const MAX_GROUP_NAME_CHARS: usize = 64;

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
#[derive(Clone)]
pub struct GroupName(Arc<str>);

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

    /// The name as given (trimmed).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn key(&self) -> UniCase<&str> {
        UniCase::new(&self.0)
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

impl PartialEq for GroupName {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for GroupName {}
impl Hash for GroupName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}
impl Ord for GroupName {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}
impl PartialOrd for GroupName {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}
impl fmt::Debug for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GroupName({:?})", &*self.0)
    }
}
impl std::str::FromStr for GroupName {
    type Err = GroupNameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GroupName::parse(s)
    }
}
impl Serialize for GroupName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}
impl<'de> Deserialize<'de> for GroupName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        GroupName::parse(&s).map_err(serde::de::Error::custom)
    }
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
