//! Names chosen by administrators or hosts: organizations, groups,
//! services, roles, license kinds and the sender name of mail settings.
//!
//! One validator ([`check_name`]) for every name; the rules are documented
//! on [`NameError`], the public face of this module.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use unicase::UniCase;

/// Longest name of a group, service, role or license kind, in characters.
pub const MAX_NAME_CHARS: usize = 64;

/// Why a text is not an acceptable name.
///
/// # One rule for every name
///
/// Every name (of a group, service, role, license kind or organization,
/// and the sender name of mail settings) goes through one validator: the
/// text is trimmed, then it must be 1 to [`MAX_NAME_CHARS`] characters
/// ([`MAX_ORGANIZATION_NAME_CHARS`](crate::MAX_ORGANIZATION_NAME_CHARS)
/// for an organization, 100 for a sender name) and hold none of the
/// characters that make a name print as something it is not:
///
/// - control characters (Unicode category Cc: tabs, line feeds, `ESC`, ...);
/// - format characters (category Cf): the bidirectional overrides and
///   isolates U+202A to U+202E and U+2066 to U+2069, which reorder what a
///   terminal or page shows (`Admin\u{202E}` ...), the zero-width
///   characters U+200B to U+200F and U+2060 to U+2064, the byte order mark
///   U+FEFF, the soft hyphen U+00AD, and the others;
/// - the line and paragraph separators U+2028 and U+2029;
/// - invisible fillers that Unicode counts as letters or marks: the Hangul
///   fillers U+115F, U+1160, U+3164 and U+FFA0, the combining grapheme
///   joiner U+034F, the Mongolian vowel separator U+180E and free variation
///   selectors U+180B to U+180F, the Khmer inherent vowels U+17B4 and
///   U+17B5, variation selectors (U+FE00 to U+FE0F) and tags (U+E0000 to
///   U+E0FFF, supplementary variation selectors included).
///
/// Names are compared ignoring case and displayed as given. Group names
/// add the comma rule (a CSV cell separates group names with commas). The
/// error message shows at most 80 characters of the text, escaped.
///
/// # Stored names
///
/// Deserializing a name (events and snapshots) applies the rule above
/// first. A stored name that it refuses still loads when it passes the
/// rule of earlier versions (trimmed, 1 to 64 characters, no control
/// character, and no comma in a group name): the store holds what an
/// earlier version accepted, and an organization must not become
/// unreadable because the rules became stricter. Anything else (empty,
/// too long, a control character) was never written by this library and is
/// refused with a clear error naming the rule, never a panic. Input typed by
/// people must go through `parse` (or [`FromStr`](std::str::FromStr)),
/// which applies the current rule only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is not a valid {what}: {kind}", preview(input))]
pub struct NameError {
    what: &'static str,
    input: String,
    kind: NameRule,
}

impl NameError {
    /// The text as given.
    pub fn input(&self) -> &str {
        &self.input
    }
}

/// The rule a name breaks, for every kind of name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum NameRule {
    /// Nothing but whitespace.
    #[error("it is empty")]
    Empty,
    /// Longer than allowed.
    #[error("it has {chars} characters; at most {max} are allowed")]
    TooLong { chars: usize, max: usize },
    /// A character that hides or disguises text.
    #[error("it contains the {} U+{code:04X}; retype it", describe(*code))]
    Forbidden { code: u32 },
}

/// The one name validator: `text` (already trimmed) is 1 to `max_chars`
/// characters and holds no forbidden character (see [`NameError`]).
/// Allocates nothing; linear in the text.
pub(crate) fn check_name(text: &str, max_chars: usize) -> Result<(), NameRule> {
    if text.is_empty() {
        return Err(NameRule::Empty);
    }
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(NameRule::TooLong {
            chars,
            max: max_chars,
        });
    }
    if let Some(c) = text.chars().find(|&c| is_hidden_character(c)) {
        return Err(NameRule::Forbidden { code: u32::from(c) });
    }
    Ok(())
}

/// The rule of earlier versions, for stored names only: 1 to
/// [`MAX_NAME_CHARS`] characters, no control character.
fn check_stored_name(text: &str) -> Result<(), NameRule> {
    if text.is_empty() {
        return Err(NameRule::Empty);
    }
    let chars = text.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(NameRule::TooLong {
            chars,
            max: MAX_NAME_CHARS,
        });
    }
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(NameRule::Forbidden { code: u32::from(c) });
    }
    Ok(())
}

/// Whether `c` shows nothing or steers a terminal or text layout: control
/// characters (Cc: C0, DEL and C1, ESC and CSI among them), format
/// characters (Cf: bidirectional controls, zero-width characters, BOM,
/// tags, …), line and paragraph separators, invisible fillers and
/// variation selectors. Names refuse them; a host that prints text from
/// outside (stored data a tenant chose, a mail server's reply) should
/// escape them, as the `admin` example does.
///
/// ```
/// assert!(org_accounts::is_hidden_character('\u{202E}'));
/// assert!(org_accounts::is_hidden_character('\u{1b}'));
/// assert!(!org_accounts::is_hidden_character('é'));
/// ```
pub fn is_hidden_character(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_control();
    }
    c.is_control() || is_format(c) || is_invisible_filler(c) || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Unicode general category Cf (format characters), as of Unicode 16.0
/// (plus the reserved U+2065).
fn is_format(c: char) -> bool {
    matches!(u32::from(c),
        0x00AD
        | 0x0600..=0x0605
        | 0x061C
        | 0x06DD
        | 0x070F
        | 0x0890..=0x0891
        | 0x08E2
        | 0x180E
        | 0x200B..=0x200F
        | 0x202A..=0x202E
        // U+2065 is unassigned, but reserved in this block of invisible
        // operators and format characters.
        | 0x2060..=0x206F
        | 0xFEFF
        | 0xFFF9..=0xFFFB
        | 0x110BD
        | 0x110CD
        | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3
        | 0x1D173..=0x1D17A
        | 0xE0001
        | 0xE0020..=0xE007F)
}

/// Characters that show nothing although Unicode counts them as letters or
/// marks, variation selectors and the whole tag block.
fn is_invisible_filler(c: char) -> bool {
    matches!(u32::from(c),
        0x034F
        | 0x115F
        | 0x1160
        | 0x17B4
        | 0x17B5
        | 0x180B..=0x180F
        | 0x3164
        | 0xFE00..=0xFE0F
        | 0xFFA0
        | 0xE0000..=0xE0FFF)
}

/// What kind of forbidden character `code` is, for messages.
fn describe(code: u32) -> &'static str {
    match char::from_u32(code) {
        Some(c) if c.is_control() => "control character",
        Some('\u{2028}' | '\u{2029}') => "line or paragraph separator",
        Some(c) if matches!(u32::from(c), 0x202A..=0x202E | 0x2066..=0x2069) => {
            "bidirectional formatting character"
        }
        Some(c) if is_format(c) => "invisible formatting character",
        _ => "invisible character",
    }
}

/// At most 80 characters of `text`, quoted, for error messages (a name or
/// address typed by an attacker can be megabytes long).
pub(crate) fn preview(text: &str) -> String {
    const SHOWN: usize = 80;
    match text.char_indices().nth(SHOWN) {
        None => format!("{text:?}"),
        Some((end, _)) => {
            let head = text.get(..end).unwrap_or_default();
            format!("{head:?}… ({} bytes)", text.len())
        }
    }
}

/// Why a stored name that no version accepted is refused.
const DAMAGED: &str = "the store holds a name this library never wrote, so it may be damaged";

/// Reads a stored name: the current rule, else the rule of earlier
/// versions (see [`NameError`]); `Err` says why neither holds.
fn stored_name(
    input: &str,
    current: impl FnOnce(&str) -> Result<(), String>,
) -> Result<Arc<str>, String> {
    let text = input.trim();
    match current(text) {
        Ok(()) => Ok(Arc::from(text)),
        Err(why) => match check_stored_name(text) {
            Ok(()) => Ok(Arc::from(text)),
            Err(_) => Err(format!("{why}; {DAMAGED}")),
        },
    }
}

fn validate(input: &str, what: &'static str) -> Result<Arc<str>, NameError> {
    let text = input.trim();
    check_name(text, MAX_NAME_CHARS).map_err(|kind| NameError {
        what,
        input: input.to_owned(),
        kind,
    })?;
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
        /// Reads a stored name: the current rules, else the looser rule of
        /// earlier versions (see [`NameError`]).
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::from_stored(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// `parse` for the names whose only rules are the common ones.
macro_rules! plain_name_parse {
    ($name:ident, $what:literal) => {
        impl $name {
            /// Parses a name: trimmed, 1 to 64 characters, no control,
            /// format or invisible characters (see [`NameError`]).
            ///
            /// # Errors
            /// [`NameError`] says which rule the text breaks.
            pub fn parse(input: &str) -> Result<$name, NameError> {
                validate(input, $what).map($name)
            }

            fn from_stored(input: &str) -> Result<$name, String> {
                stored_name(input, |text| {
                    check_name(text, MAX_NAME_CHARS).map_err(|kind| {
                        format!("{} is not a valid {}: {kind}", preview(input), $what)
                    })
                })
                .map($name)
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
    /// separates group names with commas) and no control, format or
    /// invisible character (the one rule for every name: see
    /// [`NameError`]).
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

    fn from_stored(input: &str) -> Result<GroupName, String> {
        stored_name(input, |text| {
            check(text).map_err(|kind| {
                GroupNameError {
                    input: input.to_owned(),
                    kind,
                }
                .to_string()
            })
        })
        .and_then(|text| {
            if text.contains(',') {
                let why = GroupNameError {
                    input: input.to_owned(),
                    kind: GroupNameErrorKind::Comma,
                };
                Err(format!("{why}; {DAMAGED}"))
            } else {
                Ok(GroupName(text))
            }
        })
    }
}

/// Which rule a trimmed group name breaks, without allocating (a bulk
/// upload checks every name of every group cell): the one name rule, and
/// no comma.
pub(crate) fn check(text: &str) -> Result<(), GroupNameErrorKind> {
    check_name(text, MAX_GROUP_NAME_CHARS).map_err(|rule| match rule {
        NameRule::Empty => GroupNameErrorKind::Empty,
        NameRule::TooLong { chars, .. } => GroupNameErrorKind::TooLong { chars },
        NameRule::Forbidden { code } => GroupNameErrorKind::ForbiddenCharacter { code },
    })?;
    if text.contains(',') {
        return Err(GroupNameErrorKind::Comma);
    }
    Ok(())
}

/// Why a text is not an acceptable group name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is not a valid group name: {kind}", preview(input))]
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
    /// A control, format or invisible character (see [`NameError`]).
    #[error("it contains the {} U+{code:04X}; retype the name", describe(*code))]
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
            "\"a\\u{200b}b\" is not a valid license kind: it contains the invisible formatting character U+200B; retype it"
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
