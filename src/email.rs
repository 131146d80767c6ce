//! Email addresses as an administrator types them, and the invite box.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use email_address::{EmailAddress, Options};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use unicase::UniCase;

/// Longest local part (before the `@`), in bytes (RFC 5321 §4.5.3.1.1).
pub const MAX_LOCAL_PART_BYTES: usize = 64;
/// Longest whole address, in bytes (RFC 5321 path limit less the angle brackets).
pub const MAX_EMAIL_BYTES: usize = 254;

/// A validated email address.
///
/// Parsing ([`Email::parse`]) trims surrounding whitespace and then accepts a
/// plain `local@domain` address only:
///
/// - no display name (`John <j@x.com>`), comment, quoted local part, domain
///   literal (`[1.2.3.4]`) or bare IP address;
/// - the domain has at least one dot, its labels are letters, digits and
///   hyphens (internationalized labels are fine), and its last label ends in
///   a letter;
/// - the local part is at most 64 bytes and the whole address 254 bytes;
/// - no control, format, invisible or look-alike character (zero-width
///   space, BOM, non-breaking space, curly quotes, full-width `＠`, ...).
///
/// Internationalized addresses (`josé@exämple.de`, `用户@例子.广告`) are
/// accepted.
///
/// Equality, hashing and ordering ignore case (`Ann@X.com == ann@x.COM`),
/// while [`Email::as_str`] keeps the spelling the administrator typed.
/// Cloning is cheap (the text is shared).
///
/// ```
/// use org_accounts::Email;
///
/// let a = Email::parse("  Ann.Lee@Example.com ")?;
/// assert_eq!(a.as_str(), "Ann.Lee@Example.com");
/// assert_eq!(a, Email::parse("ann.lee@example.COM")?);
/// assert!(Email::parse("Ann <ann@example.com>").is_err());
/// # Ok::<(), org_accounts::EmailError>(())
/// ```
#[derive(Clone)]
pub struct Email {
    /// The text as typed, followed by its case-folded form (Unicode full
    /// case folding, as `unicase` does) when folding changes it: one
    /// allocation per address. Comparing and hashing the folded form is a
    /// plain byte operation, which keeps look-ups in large organizations and
    /// bulk imports fast.
    buf: Arc<str>,
    /// Where the typed text ends in `buf`.
    text_len: usize,
}

impl Email {
    /// Parses an address typed by a person. See the type's docs for the rules.
    ///
    /// # Errors
    /// [`EmailError`] names the input and the first rule it breaks, in words
    /// an administrator can act on.
    pub fn parse(input: &str) -> Result<Email, EmailError> {
        let text = input.trim();
        check(text).map_err(|kind| EmailError {
            input: input.to_owned(),
            kind,
        })?;
        Ok(Email::from_checked(text))
    }

    fn from_checked(text: &str) -> Email {
        let text_len = text.len();
        let buf: Arc<str> = if text.is_ascii() {
            if text.bytes().any(|b| b.is_ascii_uppercase()) {
                // Addresses are at most 254 bytes: build text and key on the
                // stack, then make the one allocation.
                let mut stack = [0u8; 2 * MAX_EMAIL_BYTES];
                let both = &mut stack[..2 * text_len];
                both[..text_len].copy_from_slice(text.as_bytes());
                both[text_len..].copy_from_slice(text.as_bytes());
                both[text_len..].make_ascii_lowercase();
                match std::str::from_utf8(both) {
                    Ok(both) => Arc::from(both),
                    Err(_) => Arc::from(format!("{text}{}", text.to_ascii_lowercase())),
                }
            } else {
                Arc::from(text)
            }
        } else {
            let folded = UniCase::new(text).to_folded_case();
            if folded == text {
                Arc::from(text)
            } else {
                Arc::from(format!("{text}{folded}"))
            }
        };
        Email { buf, text_len }
    }

    /// The address as typed (trimmed).
    pub fn as_str(&self) -> &str {
        self.buf.get(..self.text_len).unwrap_or(&self.buf)
    }

    /// The part after the last `@`.
    pub fn domain(&self) -> &str {
        self.as_str().rsplit_once('@').map_or("", |(_, d)| d)
    }

    /// Whether `needle` occurs in the address, ignoring case.
    ///
    /// `needle` must already be case-folded (see [`fold_case`]).
    pub(crate) fn contains_folded(&self, needle: &str) -> bool {
        self.key().contains(needle)
    }

    /// The case-folded form that equality, hashing and ordering use.
    pub(crate) fn key(&self) -> &str {
        if self.buf.len() == self.text_len {
            &self.buf
        } else {
            self.buf.get(self.text_len..).unwrap_or(&self.buf)
        }
    }
}

impl PartialEq for Email {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Email {}
impl Hash for Email {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}
impl Ord for Email {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(other.key())
    }
}
impl PartialOrd for Email {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({:?})", self.as_str())
    }
}
impl std::str::FromStr for Email {
    type Err = EmailError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Email::parse(s)
    }
}
impl Serialize for Email {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Email::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The text case-folded the way [`Email`] compares addresses.
pub(crate) fn fold_case(text: &str) -> String {
    UniCase::new(text).to_folded_case()
}

/// Why a text is not an acceptable email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a valid email address: {kind}")]
pub struct EmailError {
    input: String,
    kind: EmailErrorKind,
}

impl EmailError {
    /// The text as it was given (untrimmed).
    pub fn input(&self) -> &str {
        &self.input
    }
    /// Which rule the text breaks.
    pub fn kind(&self) -> &EmailErrorKind {
        &self.kind
    }
}

/// The rule an address breaks. Each message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmailErrorKind {
    /// Nothing but whitespace.
    #[error("it is empty; enter an address like name@example.com")]
    Empty,
    /// `John <john@x.com>` and the like.
    #[error("enter only the address, without a name or angle brackets")]
    DisplayName,
    /// No `@`.
    #[error("it has no @; enter an address like name@example.com")]
    MissingAt,
    /// `"john doe"@x.com`.
    #[error("quoted local parts are not accepted; remove the quotes")]
    QuotedLocalPart,
    /// `(comment)john@x.com`.
    #[error("comments in parentheses are not accepted; remove them")]
    Comment,
    /// `john@[192.0.2.1]`, `john@192.0.2.1`.
    #[error("the domain must be a name like example.com, not an IP address")]
    IpAddress,
    /// `john@localhost`.
    #[error("the domain must contain a dot, like example.com")]
    DomainWithoutDot,
    /// `john@exa_mple.com`, `john@-x.com`, `john@x..com`.
    #[error(
        "the domain label {label:?} is not valid; use letters, digits and hyphens, not starting or ending with a hyphen"
    )]
    InvalidDomainLabel {
        /// The offending label.
        label: String,
    },
    /// `john@example.c0m`.
    #[error("the last part of the domain ({tld:?}) must end in a letter")]
    InvalidTopLevelDomain {
        /// The last label.
        tld: String,
    },
    /// Local part over 64 bytes.
    #[error("the part before the @ is {bytes} bytes long; at most 64 are allowed")]
    LocalPartTooLong {
        /// Its length in bytes.
        bytes: usize,
    },
    /// Whole address over 254 bytes.
    #[error("it is {bytes} bytes long; at most 254 are allowed")]
    TooLong {
        /// Its length in bytes.
        bytes: usize,
    },
    /// A control, format, invisible or look-alike character.
    #[error(
        "it contains the character U+{code:04X} {description}; retype the address instead of pasting it"
    )]
    ForbiddenCharacter {
        /// The character's code point.
        code: u32,
        /// What kind of character it is.
        description: &'static str,
    },
    /// Any other syntax error (`a@@b.com`, `a..b@x.com`, `.a@x.com`, `a@b@c.com`).
    #[error("it is not of the form name@example.com ({detail})")]
    Syntax {
        /// What the syntax checker found.
        detail: String,
    },
}

fn check(text: &str) -> Result<(), EmailErrorKind> {
    if plain_ascii_address(text) {
        return Ok(());
    }
    check_general(text)
}

/// Every rule, one at a time, so the first broken one is named.
fn check_general(text: &str) -> Result<(), EmailErrorKind> {
    if text.is_empty() {
        return Err(EmailErrorKind::Empty);
    }
    if text.ends_with('>') || text.contains(" <") || text.starts_with('<') {
        return Err(EmailErrorKind::DisplayName);
    }
    if text.contains('(') || text.contains(')') {
        return Err(EmailErrorKind::Comment);
    }
    if text.starts_with('"') || text.contains("\"@") {
        return Err(EmailErrorKind::QuotedLocalPart);
    }
    for c in text.chars() {
        if let Some(description) = forbidden(c) {
            return Err(EmailErrorKind::ForbiddenCharacter {
                code: u32::from(c),
                description,
            });
        }
    }
    let Some((local, domain)) = text.rsplit_once('@') else {
        return Err(EmailErrorKind::MissingAt);
    };
    if text.len() > MAX_EMAIL_BYTES {
        return Err(EmailErrorKind::TooLong { bytes: text.len() });
    }
    if local.len() > MAX_LOCAL_PART_BYTES {
        return Err(EmailErrorKind::LocalPartTooLong { bytes: local.len() });
    }
    if domain.starts_with('[') || domain.ends_with(']') {
        return Err(EmailErrorKind::IpAddress);
    }
    check_domain(domain)?;
    syntax(text)
}

/// The RFC 5322 address syntax, as checked by `email_address`.
fn syntax(text: &str) -> Result<(), EmailErrorKind> {
    let options = Options::default()
        .without_display_text()
        .without_domain_literal()
        .with_required_tld();
    EmailAddress::parse_with_options(text, options)
        .map(drop)
        .map_err(|e| EmailErrorKind::Syntax {
            detail: match e {
                email_address::Error::InvalidCharacter => {
                    "a character is not allowed where it stands: look for two dots in a row, \
                     a dot at the start or end of the name, or a symbol such as , ; : [ ] \\"
                        .to_owned()
                }
                email_address::Error::LocalPartEmpty => "nothing before the @".to_owned(),
                email_address::Error::MissingSeparator => "no @".to_owned(),
                other => other.to_string(),
            },
        })
}

/// Reads an address back from stored events and snapshots. Stored data was
/// valid when written; if the rules have since become stricter it must
/// still load, so only the basic shape is checked here.
pub(crate) fn deserialize_stored<'de, D: Deserializer<'de>>(d: D) -> Result<Email, D::Error> {
    let s = String::deserialize(d)?;
    let text = s.trim();
    if text.is_empty() || !text.contains('@') || text.chars().any(char::is_control) {
        return Err(serde::de::Error::custom(format!(
            "{s:?} is not an email address"
        )));
    }
    Ok(Email::from_checked(text))
}

/// Whether `text` is a plain ASCII address that passes every check, found
/// in one pass: a dot-atom local part of at most 64 bytes, and a domain of
/// at least two labels of letters, digits and inner hyphens, not all
/// digits, the last ending in a letter, the whole at most 254 bytes. This
/// is the common case of a bulk upload and keeps it fast; `false` says
/// nothing, and the general checks (which use `email_address`) then decide
/// and name the precise error. A property test checks that both paths
/// always agree.
fn plain_ascii_address(text: &str) -> bool {
    plain_ascii_shape(text).is_some()
}

fn plain_ascii_shape(text: &str) -> Option<()> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_EMAIL_BYTES {
        return None;
    }
    let at = bytes.iter().rposition(|b| *b == b'@')?;
    let (local, domain) = (&bytes[..at], &bytes[at + 1..]);
    if local.is_empty() || local.len() > MAX_LOCAL_PART_BYTES {
        return None;
    }
    // Local part: a dot-atom (RFC 5322 atext separated by single dots), the
    // same test `email_address` applies to an unquoted local part.
    let is_atext = |b: u8| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'/'
                    | b'='
                    | b'?'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'{'
                    | b'|'
                    | b'}'
                    | b'~'
            )
    };
    let mut prev = b'.';
    for &b in local {
        if b == b'.' {
            if prev == b'.' {
                return None;
            }
        } else if !is_atext(b) {
            return None;
        }
        prev = b;
    }
    if prev == b'.' {
        return None;
    }
    // Domain: dot-separated labels of letters, digits and inner hyphens,
    // at least two labels, not all digits, the last ending in a letter. One
    // pass; `prev` is the byte before the current one (`.` at the start).
    let mut labels = 1;
    let mut label_len = 0;
    let mut all_numeric = true;
    let mut label_numeric = true;
    let mut prev = b'.';
    for &b in domain {
        match b {
            b'.' => {
                if label_len == 0 || prev == b'-' {
                    return None;
                }
                all_numeric &= label_numeric;
                label_numeric = true;
                label_len = 0;
                labels += 1;
            }
            b'-' if prev == b'.' => return None,
            b'-' => label_numeric = false,
            b'0'..=b'9' => {}
            b if b.is_ascii_alphabetic() => label_numeric = false,
            _ => return None,
        }
        if b != b'.' {
            label_len += 1;
            if label_len > 63 {
                return None;
            }
        }
        prev = b;
    }
    all_numeric &= label_numeric;
    let last_end = prev;
    (labels >= 2 && !all_numeric && last_end.is_ascii_alphabetic()).then_some(())
}

fn check_domain(domain: &str) -> Result<(), EmailErrorKind> {
    if domain.is_empty() {
        return Err(EmailErrorKind::Syntax {
            detail: "nothing after the @".into(),
        });
    }
    let labels = || domain.split('.');
    let all_numeric = labels().all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()));
    if all_numeric {
        return Err(EmailErrorKind::IpAddress);
    }
    if !domain.contains('.') {
        return Err(EmailErrorKind::DomainWithoutDot);
    }
    for label in labels() {
        // A label starts with a letter or digit (not a hyphen or a mark that
        // would attach to the dot); marks may follow letters (`ईन्फो`).
        let valid = label.len() <= 63
            && label.chars().next().is_some_and(char::is_alphanumeric)
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c == '-' || c.is_alphanumeric() || is_combining_mark(c));
        if !valid {
            return Err(EmailErrorKind::InvalidDomainLabel {
                label: label.to_owned(),
            });
        }
    }
    let tld = domain.rsplit('.').next().unwrap_or(domain);
    if !tld.chars().last().is_some_and(char::is_alphabetic) {
        return Err(EmailErrorKind::InvalidTopLevelDomain {
            tld: tld.to_owned(),
        });
    }
    Ok(())
}

/// Combining marks that Unicode does not count as alphabetic but that are
/// part of ordinary words: decomposed accents, and the nuktas, viramas, tone
/// marks and voicing marks of Indic, Thai, Lao, Tibetan, Myanmar, Khmer and
/// Japanese writing (`ईन्फो`, `ที่`). Vowel signs and most other marks
/// already count as alphabetic.
fn is_combining_mark(c: char) -> bool {
    matches!(
        u32::from(c),
        0x0300..=0x036F
            | 0x1AB0..=0x1AFF
            | 0x1DC0..=0x1DFF
            | 0x20D0..=0x20FF
            | 0xFE20..=0xFE2F
            // Indic nuktas, viramas and Vedic stress signs.
            | 0x093C
            | 0x094D
            | 0x0951..=0x0954
            | 0x09BC
            | 0x09CD
            | 0x09FE
            | 0x0A3C
            | 0x0A4D
            | 0x0ABC
            | 0x0ACD
            | 0x0AFD..=0x0AFF
            | 0x0B3C
            | 0x0B4D
            | 0x0B55
            | 0x0BCD
            | 0x0C3C
            | 0x0C4D
            | 0x0CBC
            | 0x0CCD
            | 0x0D3B..=0x0D3C
            | 0x0D4D
            | 0x0DCA
            // Thai and Lao tone marks.
            | 0x0E47..=0x0E4C
            | 0x0E4E
            | 0x0EBA
            | 0x0EC8..=0x0ECE
            // Tibetan, Myanmar and Khmer signs.
            | 0x0F18..=0x0F19
            | 0x0F35
            | 0x0F37
            | 0x0F39
            | 0x0F3E..=0x0F3F
            | 0x0F84
            | 0x0F86..=0x0F87
            | 0x0FC6
            | 0x1037
            | 0x1039..=0x103A
            | 0x17C9..=0x17D3
            | 0x17DD
            // Ideographic tone marks and the combining kana voicing marks.
            | 0x302A..=0x302F
            | 0x3099..=0x309A
    )
}

/// Returns a description when `c` may not appear in an address.
///
/// ASCII: control characters and spaces. Beyond ASCII an address may hold
/// letters, digits and combining marks only; everything else (symbols,
/// punctuation such as curly quotes, spaces, format characters such as the
/// zero-width space or BOM) is refused, as are the full-width and
/// mathematical forms of ASCII letters, which look like ASCII but are not,
/// other compatibility forms of letters and digits (superscripts, circled
/// digits, ligatures, ...), and invisible fillers that Unicode counts as
/// letters.
fn forbidden(c: char) -> Option<&'static str> {
    let code = u32::from(c);
    if c.is_ascii() {
        return if c.is_ascii_control() {
            Some("(a control character)")
        } else if c == ' ' {
            Some("(a space)")
        } else {
            None
        };
    }
    match code {
        0x80..=0x9F => Some("(a control character)"),
        0xFF00..=0xFF64 => Some("(a full-width form that looks like ASCII)"),
        0x1D400..=0x1D7FF => Some("(a mathematical letter that looks like ASCII)"),
        0x115F | 0x1160 | 0x3164 | 0xFFA0 | 0x034F | 0x17B4 | 0x17B5 => {
            Some("(an invisible character)")
        }
        0xE000..=0xF8FF | 0xF0000..=0x10FFFF => Some("(a private-use character)"),
        // Compatibility forms that Unicode counts as letters or digits but
        // that imitate plain ones: superscripts, ordinals and fractions,
        // letterlike symbols (the Kelvin sign U+212A folds to `k`), Roman
        // numerals, enclosed forms (①, ⒈ which looks like `1.`), ligatures
        // (ﬁ) and presentation forms.
        0x00AA
        | 0x00B2
        | 0x00B3
        | 0x00B5
        | 0x00B9
        | 0x00BA
        | 0x00BC..=0x00BE
        | 0x017F
        | 0x2070..=0x209F
        | 0x2100..=0x218F
        | 0x2460..=0x24FF
        | 0x3200..=0x33FF
        | 0xFB00..=0xFDFF
        | 0xFE70..=0xFEFE
        | 0x1F100..=0x1F1FF => Some("(a compatibility form that imitates a letter or digit)"),
        _ if c.is_whitespace() => Some("(a space character)"),
        _ if c.is_alphanumeric() => None,
        _ if is_combining_mark(c) => None,
        0x00AD
        | 0x0600..=0x0605
        | 0x061C
        | 0x06DD
        | 0x070F
        | 0x180E
        | 0x200B..=0x200F
        | 0x202A..=0x202E
        | 0x2060..=0x206F
        | 0xFE00..=0xFE0F
        | 0xFEFF
        | 0xFFF9..=0xFFFB
        | 0xE0000..=0xE0FFF => Some("(an invisible formatting character)"),
        0x2018..=0x201F | 0x2032..=0x2037 => Some("(a curly quote)"),
        0xFE50..=0xFE6B => Some("(a small form that looks like ASCII punctuation)"),
        _ => Some("(a symbol or punctuation mark that is not allowed)"),
    }
}

/// Splits what an administrator typed into the invite box into addresses.
///
/// Addresses may be separated by any mix of whitespace, commas and
/// semicolons; empty entries are ignored. Every entry is parsed with
/// [`Email::parse`]; the order is kept and duplicates are kept (deciding the
/// invitation reports them).
///
/// ```
/// use org_accounts::parse_address_list;
///
/// let emails = parse_address_list("ann@example.com, bob@example.com;\ncy@example.org")?;
/// assert_eq!(emails.len(), 3);
/// # Ok::<(), org_accounts::AddressListError>(())
/// ```
///
/// # Errors
/// [`AddressListError`] lists every entry that is not an address, so the
/// administrator can fix them all at once.
pub fn parse_address_list(text: &str) -> Result<Vec<Email>, AddressListError> {
    let mut emails = Vec::new();
    let mut invalid = Vec::new();
    for entry in text
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|e| !e.is_empty())
    {
        match Email::parse(entry) {
            Ok(email) => emails.push(email),
            Err(e) => invalid.push(e),
        }
    }
    if invalid.is_empty() {
        Ok(emails)
    } else {
        Err(AddressListError { invalid })
    }
}

/// Some entries of an address list are not valid addresses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} of the entries {} not valid: {}", invalid.len(), if invalid.len() == 1 { "is" } else { "are" }, join(invalid))]
pub struct AddressListError {
    invalid: Vec<EmailError>,
}

impl AddressListError {
    /// Every invalid entry, in input order.
    pub fn invalid(&self) -> &[EmailError] {
        &self.invalid
    }
}

fn join(errors: &[EmailError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// The ASCII fast path decides exactly as the general checks do.
        #[test]
        fn fast_path_agrees_with_the_general_checks(
            text in "[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~@<>()\\[\\]\" ,;:-]{0,12}@[a-zA-Z0-9.\\[\\]_-]{0,12}"
        ) {
            proptest::prop_assert_eq!(check(&text), check_general(&text));
        }
    }

    #[test]
    fn keeps_spelling_and_ignores_case() {
        let a = Email::parse(" Ann@Example.COM\t").unwrap();
        assert_eq!(a.as_str(), "Ann@Example.COM");
        assert_eq!(a, Email::parse("ann@example.com").unwrap());
        assert_eq!(
            a.cmp(&Email::parse("ANN@EXAMPLE.COM").unwrap()),
            Ordering::Equal
        );
        assert_eq!(a.domain(), "Example.COM");
    }

    #[test]
    fn unicode_case_folding() {
        assert_eq!(
            Email::parse("JOSÉ@exämple.de").unwrap(),
            Email::parse("josé@EXÄMPLE.de").unwrap()
        );
    }

    #[test]
    fn substring_ignores_case() {
        let a = Email::parse("Ann.Lee@Example.com").unwrap();
        assert!(a.contains_folded(&fold_case("LEE@ex")));
        assert!(!a.contains_folded("bob"));
        let b = Email::parse("ÄNN@exämple.de").unwrap();
        assert!(b.contains_folded(&fold_case("äNN")));
    }

    #[test]
    fn each_rule_has_its_kind() {
        use EmailErrorKind::*;
        let kind = |s: &str| Email::parse(s).unwrap_err().kind().clone();
        assert_eq!(kind("   "), Empty);
        assert_eq!(kind("John <j@x.com>"), DisplayName);
        assert_eq!(kind("<j@x.com>"), DisplayName);
        assert_eq!(kind("jx.com"), MissingAt);
        assert_eq!(kind("\"j d\"@x.com"), QuotedLocalPart);
        assert_eq!(
            kind("j d@x.com"),
            ForbiddenCharacter {
                code: 32,
                description: "(a space)"
            }
        );
        assert_eq!(kind("\"jd\"@x.com"), QuotedLocalPart);
        assert_eq!(kind("j(c)@x.com"), Comment);
        assert_eq!(kind("j@[1.2.3.4]"), IpAddress);
        assert_eq!(kind("j@1.2.3.4"), IpAddress);
        assert_eq!(kind("j@localhost"), DomainWithoutDot);
        assert!(matches!(kind("j@ex_ample.com"), InvalidDomainLabel { .. }));
        assert!(matches!(kind("j@-x.com"), InvalidDomainLabel { .. }));
        assert!(matches!(kind("j@x..com"), InvalidDomainLabel { .. }));
        assert!(matches!(kind("j@x.c0m1"), InvalidTopLevelDomain { .. }));
        assert_eq!(
            kind(&format!("{}@x.com", "a".repeat(65))),
            LocalPartTooLong { bytes: 65 }
        );
        let long = format!("a@{}.com", vec!["b".repeat(60); 5].join("."));
        assert!(matches!(kind(&long), TooLong { .. }));
        assert!(matches!(
            kind("a\u{200B}@x.com"),
            ForbiddenCharacter { code: 0x200B, .. }
        ));
        assert!(matches!(
            kind("\u{FEFF}a@x.com"),
            ForbiddenCharacter { code: 0xFEFF, .. }
        ));
        assert!(matches!(
            kind("a\u{FF20}x.com"),
            ForbiddenCharacter { code: 0xFF20, .. }
        ));
        assert!(matches!(
            kind("o\u{2019}neil@x.com"),
            ForbiddenCharacter { code: 0x2019, .. }
        ));
        assert!(matches!(
            kind("a\u{A0}b@x.com"),
            ForbiddenCharacter { code: 0xA0, .. }
        ));
        assert!(matches!(kind("a..b@x.com"), Syntax { .. }));
        assert!(matches!(kind("a@b@x.com"), Syntax { .. }));
    }

    #[test]
    fn messages_say_what_to_fix() {
        let e = Email::parse("John <j@x.com>").unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"John <j@x.com>\" is not a valid email address: enter only the address, without a name or angle brackets"
        );
    }

    #[test]
    fn address_list_splits_on_spaces_commas_semicolons() {
        let list = parse_address_list(" a@x.com,b@x.com ; c@x.com\n\td@x.com,,").unwrap();
        let texts: Vec<_> = list.iter().map(Email::as_str).collect();
        assert_eq!(texts, ["a@x.com", "b@x.com", "c@x.com", "d@x.com"]);
    }

    #[test]
    fn address_list_reports_every_invalid_entry() {
        let err = parse_address_list("a@x.com nope b@ c@x.com").unwrap_err();
        let bad: Vec<_> = err.invalid().iter().map(EmailError::input).collect();
        assert_eq!(bad, ["nope", "b@"]);
        assert!(
            err.to_string()
                .starts_with("2 of the entries are not valid")
        );
    }

    #[test]
    fn serde_round_trip_validates() {
        let a = Email::parse("Ann@x.com").unwrap();
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, "\"Ann@x.com\"");
        let back: Email = serde_json::from_str(&json).unwrap();
        assert_eq!(back.as_str(), "Ann@x.com");
        assert!(serde_json::from_str::<Email>("\"not an email\"").is_err());
    }
}
