//! Email addresses as an administrator types them, and the invite box.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use email_address::{EmailAddress, Options};

use crate::core::names::preview;
use idna::AsciiDenyList;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use unicode_normalization::{UnicodeNormalization, is_nfc};
use unicode_security::mixed_script::AugmentedScriptSet;

mod plain;

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
///   space, BOM, non-breaking space, curly quotes, full-width `＠`, ...);
/// - no mixing of scripts inside the local part or inside one domain label
///   (see below).
///
/// Internationalized addresses (`josé@exämple.de`, `用户@例子.广告`) are
/// accepted.
///
/// # Mixed scripts
///
/// A look-alike address swaps one letter for a letter of another script
/// that looks the same: `pаypal@example.com` with a Cyrillic `а`, or
/// `boss@exаmple.com`. Such an address is another mailbox, and an
/// invitation sent to it reaches whoever registered it. So the local part
/// and each domain label (checked in its Unicode form, also when typed as
/// `xn--`) must each satisfy the *highly restrictive* level of Unicode
/// Technical Standard #39 (the level browsers apply to domain names before
/// showing them in Unicode), with the script data of the `unicode-security`
/// crate:
///
/// - one script per part: Latin, Cyrillic, Greek, Arabic, Devanagari, Han,
///   ... (`josé`, `дмитрий`, `用户`); digits and punctuation (`.`, `-`,
///   `+`, `_`) belong to every script, and combining marks to the letter
///   they follow;
/// - or Latin together with the scripts written with Han in one language:
///   Han, Hiragana and Katakana (Japanese), Han and Bopomofo (Chinese), Han
///   and Hangul (Korean): `tanaka田中@example.jp`, `サポート@例え.jp`;
/// - any other mix is refused with [`EmailErrorKind::MixedScripts`]
///   (Latin with Cyrillic or Greek, Cyrillic with Greek, ...), naming the
///   part and its scripts: retype it in one script.
///
/// A part written only with the Cyrillic letters that look like Latin ones
/// (`boss@аррӏе.com`, which reads "apple") is refused too
/// ([`EmailErrorKind::LatinLookAlike`]): it is single-script, yet made to
/// pass for Latin, and browsers refuse such labels for the same reason.
///
/// Each part is checked on its own, so `ivan@пример.рф` (a Latin local part,
/// a Cyrillic domain) is fine. Pure ASCII is a single script and is never
/// looked at. Addresses read back from a store (events, snapshots) load
/// even when they break this rule: the rule may be newer than the data.
///
/// # Identity
///
/// Two spellings are one address when their canonical keys are equal, and
/// equality, hashing and ordering use that key only. The key is the address
/// in Unicode NFC with the domain in its IDNA ASCII form (UTS #46 as
/// browsers process it: non-transitional, so IDNA 2008's `ß` and `ς` are
/// kept; `Bücher.de` and `xn--bcher-kva.de` are one domain, `faß.de` and
/// `fass.de` are two) and the local part with Unicode *simple* case folding
/// (one letter for one letter: `JOSÉ` is `josé` and `STRASSE` is
/// `strasse`, but `straße` is not `strasse`, because only full folding turns
/// `ß` into `ss`; likewise `İ` is not `i`). Composed and decomposed accents
/// are one spelling. [`Email::as_str`] keeps the spelling the administrator
/// typed, for display; [`Email::canonical_key`] shows the key.
///
/// A domain that has no IDNA form (an `xn--` label that is not valid
/// Punycode, or letters that IDNA does not allow together) is refused with
/// [`EmailErrorKind::InvalidInternationalDomain`].
///
/// Cloning is cheap (the text is shared).
///
/// ```
/// use org_accounts::Email;
///
/// let a = Email::parse("  Ann.Lee@Example.com ")?;
/// assert_eq!(a.as_str(), "Ann.Lee@Example.com");
/// assert_eq!(a, Email::parse("ann.lee@example.COM")?);
/// assert!(Email::parse("Ann <ann@example.com>").is_err());
///
/// // One mailbox, however it is spelled:
/// assert_eq!(Email::parse("user@bücher.de")?, Email::parse("user@xn--bcher-kva.de")?);
/// assert_eq!(Email::parse("jos\u{e9}@example.de")?, Email::parse("jose\u{301}@example.de")?);
/// assert_eq!(Email::parse("JOSÉ@example.de")?, Email::parse("josé@example.de")?);
/// assert_eq!(Email::parse("user@bücher.de")?.canonical_key(), "user@xn--bcher-kva.de");
///
/// // Different mailboxes stay different:
/// assert_ne!(Email::parse("user@faß.de")?, Email::parse("user@fass.de")?);
/// assert_ne!(Email::parse("straße@x.de")?, Email::parse("strasse@x.de")?);
/// assert_eq!(Email::parse("STRASSE@x.de")?, Email::parse("strasse@x.de")?);
/// # Ok::<(), org_accounts::EmailError>(())
/// ```
#[derive(Clone)]
pub struct Email {
    /// The text as typed, followed by its canonical key (see the type's
    /// docs) when the key differs from the text: one allocation per
    /// address. Comparing and hashing the key is a plain byte operation,
    /// which keeps look-ups in large organizations and bulk imports fast.
    buf: Arc<str>,
    /// Where the typed text ends in `buf`.
    text_len: usize,
}

/// What to do when the domain has no IDNA form.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DomainRule {
    /// Refuse the address (input typed by a person).
    Strict,
    /// Use the case-folded domain as the key (addresses read back from a
    /// store, which must load even if the rules have become stricter).
    Lenient,
}

impl Email {
    /// Parses an address typed by a person. See the type's docs for the rules.
    ///
    /// # Errors
    /// [`EmailError`] names the input and the first rule it breaks, in words
    /// an administrator can act on.
    pub fn parse(input: &str) -> Result<Email, EmailError> {
        Email::parse_kind(input).map_err(|kind| EmailError {
            input: input.to_owned(),
            kind,
        })
    }

    /// [`Email::parse`], saying only which rule the input breaks (a bulk
    /// file's report keeps the cell already, and a cell can be megabytes:
    /// no copy of it in the error).
    pub(crate) fn parse_kind(input: &str) -> Result<Email, EmailErrorKind> {
        let text = input.trim();
        // The common case of a bulk upload: a plain ASCII address without
        // `xn--` labels (whose key is its lower case), decided in one pass.
        if let Some(plain) = plain::plain_ascii(text) {
            let ace =
                plain.domain_hyphen && has_ace_label(text.get(plain.at + 1..).unwrap_or_default());
            if !ace {
                return Ok(Email::ascii(text, plain.upper_case));
            }
        }
        Email::strict(text)
    }

    /// Every rule of [`Email::parse`], on trimmed text.
    fn strict(text: &str) -> Result<Email, EmailErrorKind> {
        check(text)?;
        let email = Email::build(text, DomainRule::Strict)?;
        check_scripts(text)?;
        Ok(email)
    }

    /// Builds the address and its canonical key from text that passed the
    /// checks (or, with [`DomainRule::Lenient`], the basic shape checks of
    /// [`Email::from_stored`]).
    fn build(text: &str, rule: DomainRule) -> Result<Email, EmailErrorKind> {
        let domain = text.rsplit_once('@').map_or("", |(_, d)| d);
        if text.is_ascii() && !has_ace_label(domain) {
            let upper_case = text.bytes().any(|b| b.is_ascii_uppercase());
            return Ok(Email::ascii(text, upper_case));
        }
        let key = canonical_key(text, rule)?;
        Ok(Email::with_key(text, &key))
    }

    /// An ASCII address without `xn--` labels: the key is the text in ASCII
    /// lower case (UTS #46 maps such a domain to its lower case and nothing
    /// else). `upper_case` says whether the text has any upper-case letter.
    fn ascii(text: &str, upper_case: bool) -> Email {
        let text_len = text.len();
        if !upper_case {
            return Email {
                buf: Arc::from(text),
                text_len,
            };
        }
        // Build text and key on the stack, then make the one allocation.
        let mut stack = [0u8; 2 * MAX_EMAIL_BYTES];
        if let Some(both) = stack.get_mut(..2 * text_len)
            && let Some((typed, key)) = both.split_at_mut_checked(text_len)
        {
            typed.copy_from_slice(text.as_bytes());
            key.copy_from_slice(text.as_bytes());
            key.make_ascii_lowercase();
            if let Ok(both) = std::str::from_utf8(both) {
                return Email {
                    buf: Arc::from(both),
                    text_len,
                };
            }
        }
        Email::with_key(text, &text.to_ascii_lowercase())
    }

    /// `text` followed by `key`, or `text` alone when they are equal.
    fn with_key(text: &str, key: &str) -> Email {
        let buf: Arc<str> = if key == text {
            Arc::from(text)
        } else {
            let mut both = String::with_capacity(text.len() + key.len());
            both.push_str(text);
            both.push_str(key);
            Arc::from(both)
        };
        Email {
            buf,
            text_len: text.len(),
        }
    }

    /// Reads an address back from a store (events, snapshots, mail
    /// settings). The rules of [`Email::parse`] apply first; an address they
    /// refuse still loads when it has the basic shape and fits the length
    /// limits, because stored data was valid when written and the rules may
    /// have become stricter since (its key then uses the case-folded domain
    /// if the domain has no IDNA form). Nothing longer than the limits was
    /// ever written, so longer text is refused as damage.
    pub(crate) fn from_stored(stored: &str) -> Result<Email, String> {
        let text = stored.trim();
        let why = match Email::parse_kind(text) {
            Ok(email) => return Ok(email),
            Err(kind) => kind,
        };
        let refuse = |reason: String| {
            Err(format!(
                "the stored address {} cannot be read: {reason}; the store holds data this \
                 library never wrote, so it may be damaged",
                preview(stored)
            ))
        };
        let Some((local, domain)) = text.rsplit_once('@') else {
            return refuse(why.to_string());
        };
        if text.len() > MAX_EMAIL_BYTES {
            return refuse(EmailErrorKind::TooLong { bytes: text.len() }.to_string());
        }
        if local.len() > MAX_LOCAL_PART_BYTES {
            return refuse(EmailErrorKind::LocalPartTooLong { bytes: local.len() }.to_string());
        }
        if local.is_empty() || domain.is_empty() || text.chars().any(char::is_control) {
            return refuse(why.to_string());
        }
        Email::build(text, DomainRule::Lenient).or_else(|kind| refuse(kind.to_string()))
    }

    /// The address as typed (trimmed).
    pub fn as_str(&self) -> &str {
        self.buf.get(..self.text_len).unwrap_or(&self.buf)
    }

    /// The part after the last `@`, as typed.
    pub fn domain(&self) -> &str {
        self.as_str().rsplit_once('@').map_or("", |(_, d)| d)
    }

    /// Whether `needle` occurs in the address as typed or in its canonical
    /// key, ignoring case.
    ///
    /// `needle` must already be case-folded (see [`fold_case`]).
    pub(crate) fn contains_folded(&self, needle: &str) -> bool {
        let text = self.as_str();
        self.key().contains(needle) || (!text.is_ascii() && fold_case(text).contains(needle))
    }

    /// The canonical key that equality, hashing and ordering use (see the
    /// type's docs).
    pub fn canonical_key(&self) -> &str {
        self.key()
    }

    /// The canonical key that equality, hashing and ordering use.
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

/// Text case-folded the way [`Email`] compares local parts: NFC, then
/// simple case folding (see [`simple_fold`]), then NFC again (folding can
/// leave a composable pair). ASCII text is lower-cased without any other
/// work.
pub(crate) fn fold_case(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    let folded: String = text.nfc().map(simple_fold).collect();
    if is_nfc(&folded) {
        folded
    } else {
        folded.nfc().collect()
    }
}

/// The canonical key of an address with at least one non-ASCII character
/// or `xn--` label: the folded local part (see [`fold_case`]), `@`, and
/// the domain's IDNA ASCII form (UTS #46 ToASCII as the WHATWG URL
/// standard runs it; `idna` 1.x only does non-transitional processing, so
/// `ß` and `ς` are kept). UTS #46 normalizes to NFC and maps case itself.
///
/// With [`DomainRule::Lenient`], a domain without an IDNA form is folded
/// like the local part instead of being refused.
fn canonical_key(text: &str, rule: DomainRule) -> Result<String, EmailErrorKind> {
    let (local, domain) = text.rsplit_once('@').unwrap_or((text, ""));
    let mut key = fold_case(local);
    key.push('@');
    match idna::domain_to_ascii_cow(domain.as_bytes(), AsciiDenyList::URL) {
        Ok(ascii) => key.push_str(&ascii),
        Err(_) if rule == DomainRule::Lenient => key.push_str(&fold_case(domain)),
        Err(_) => {
            return Err(EmailErrorKind::InvalidInternationalDomain {
                label: failing_label(domain).to_owned(),
            });
        }
    }
    Ok(key)
}

/// The first label of `domain` that has no IDNA form on its own, or the
/// whole domain when only the labels together fail (the bidirectional
/// text rule spans labels).
fn failing_label(domain: &str) -> &str {
    domain
        .split('.')
        .find(|label| idna::domain_to_ascii_cow(label.as_bytes(), AsciiDenyList::URL).is_err())
        .unwrap_or(domain)
}

/// Whether a domain has a label in IDNA ASCII form (`xn--`, any case).
/// Such a domain goes through IDNA, which checks its Punycode.
fn has_ace_label(domain: &str) -> bool {
    // Most domains have no hyphen at all: one quick pass says so.
    if !domain.as_bytes().contains(&b'-') {
        return false;
    }
    domain.split('.').any(|label| {
        label
            .as_bytes()
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"xn--"))
    })
}

/// Unicode simple case folding (the `C` and `S` entries of
/// `CaseFolding.txt`) of one character, one character to one: never the
/// full folding that turns `ß` into `ss`, and never the Turkic mapping of
/// `İ`, which therefore stays as it is.
///
/// For almost every character this is its lower case when that is one
/// character, and the character itself otherwise (`İ` lower-cases to two
/// characters; `ß`, `ς` and other lower-case letters lower-case to
/// themselves). The exceptions, where simple folding maps a character that
/// lower-casing leaves alone, are in [`FOLD_EXCEPTIONS`]. A test checked
/// this against the simple case folding classes of every code point (as
/// `regex-syntax` tabulates them for Unicode 16).
fn simple_fold(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    if let Ok(at) = FOLD_EXCEPTIONS.binary_search_by_key(&c, |&(from, _)| from)
        && let Some(&(_, to)) = FOLD_EXCEPTIONS.get(at)
    {
        return to;
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Characters whose simple case folding is not their lower case, sorted:
/// variant forms of Greek letters (final sigma `ς` folds to `σ`, `ϐ` to
/// `β`, ...), the Greek iota subscript, the long s, the micro sign, the
/// Cyrillic historical variants and two ligatures. Several are refused in
/// addresses anyway; they are listed so that the folding is complete.
const FOLD_EXCEPTIONS: &[(char, char)] = &[
    ('\u{00B5}', '\u{03BC}'),
    ('\u{017F}', 's'),
    ('\u{0345}', '\u{03B9}'),
    ('\u{03C2}', '\u{03C3}'),
    ('\u{03D0}', '\u{03B2}'),
    ('\u{03D1}', '\u{03B8}'),
    ('\u{03D5}', '\u{03C6}'),
    ('\u{03D6}', '\u{03C0}'),
    ('\u{03F0}', '\u{03BA}'),
    ('\u{03F1}', '\u{03C1}'),
    ('\u{03F5}', '\u{03B5}'),
    ('\u{1C80}', '\u{0432}'),
    ('\u{1C81}', '\u{0434}'),
    ('\u{1C82}', '\u{043E}'),
    ('\u{1C83}', '\u{0441}'),
    ('\u{1C84}', '\u{0442}'),
    ('\u{1C85}', '\u{0442}'),
    ('\u{1C86}', '\u{044A}'),
    ('\u{1C87}', '\u{0463}'),
    ('\u{1C88}', '\u{A64B}'),
    ('\u{1E9B}', '\u{1E61}'),
    ('\u{1FBE}', '\u{03B9}'),
    ('\u{1FD3}', '\u{0390}'),
    ('\u{1FE3}', '\u{03B0}'),
    ('\u{FB05}', '\u{FB06}'),
];

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
    /// The domain has no IDNA form: an `xn--` label that is not valid
    /// Punycode (`john@xn--abc.de`), or letters that IDNA does not allow
    /// together (a right-to-left letter after a left-to-right one).
    #[error(
        "the domain {label:?} is not a valid internationalized domain name; check its spelling, \
         or type the domain in its own script instead of its xn-- form"
    )]
    InvalidInternationalDomain {
        /// The offending label, or the whole domain when no single label
        /// is at fault.
        label: String,
    },
    /// The local part or a domain label mixes scripts in a way UTS #39
    /// does not allow at its highly restrictive level, as look-alike
    /// addresses do (`pаypal@example.com` with a Cyrillic `а`); see
    /// [`Email`]'s docs.
    #[error(
        "{part:?} mixes letters of the {} scripts, as look-alike addresses do (a Cyrillic \"а\" \
         among Latin letters looks the same but is another mailbox); retype it with the letters \
         of one script",
        scripts.join(" and ")
    )]
    MixedScripts {
        /// The local part or domain label, as typed (a label typed in its
        /// `xn--` form is shown in Unicode).
        part: String,
        /// The scripts found in it, in order of appearance.
        scripts: Vec<&'static str>,
    },
    /// The local part or a domain label is written only with Cyrillic
    /// letters that look like Latin ones (`аррӏе`, which reads "apple"): a
    /// whole-script look-alike.
    #[error(
        "{part:?} is written in Cyrillic letters that all look like Latin ones, as look-alike \
         addresses are; retype it with Latin letters (or check that it is the address you meant)"
    )]
    LatinLookAlike {
        /// The local part or domain label, as typed (in Unicode).
        part: String,
    },
    /// Any other syntax error (`a@@b.com`, `a..b@x.com`, `.a@x.com`, `a@b@c.com`).
    #[error("it is not of the form name@example.com ({detail})")]
    Syntax {
        /// What the syntax checker found.
        detail: String,
    },
}

/// Refuses an address whose local part or any domain label is not
/// *highly restrictive* in the sense of UTS #39 (see [`Email`]'s docs).
/// Pure ASCII text without `xn--` labels passes at once.
fn check_scripts(text: &str) -> Result<(), EmailErrorKind> {
    let (local, domain) = text.rsplit_once('@').unwrap_or((text, ""));
    if text.is_ascii() && !has_ace_label(domain) {
        return Ok(());
    }
    let mixed = |part: &str| EmailErrorKind::MixedScripts {
        part: part.to_owned(),
        scripts: scripts_of(part),
    };
    let latin_alike = |part: &str| EmailErrorKind::LatinLookAlike {
        part: part.to_owned(),
    };
    if !highly_restrictive(local) {
        return Err(mixed(local));
    }
    if made_of_latin_alike_cyrillic(local) {
        return Err(latin_alike(local));
    }
    for label in domain.split('.') {
        if !highly_restrictive(label) {
            return Err(mixed(label));
        }
        if made_of_latin_alike_cyrillic(label) {
            return Err(latin_alike(label));
        }
        if label.is_ascii() && has_ace_label(label) {
            // The label as it is shown in Unicode (a valid `xn--` label
            // has one: the domain passed IDNA already).
            let (unicode, _) = idna::domain_to_unicode(label);
            if !highly_restrictive(&unicode) {
                return Err(mixed(&unicode));
            }
            if made_of_latin_alike_cyrillic(&unicode) {
                return Err(latin_alike(&unicode));
            }
        }
    }
    Ok(())
}

/// Whether `part` is written only with the Cyrillic letters that look like
/// Latin ones (and digits, `-`, `.`), as `аррӏе` (which reads "apple"):
/// a whole-script look-alike, single-script yet made to pass for Latin.
/// The letters are those Chromium refuses in a Cyrillic domain label for
/// the same reason; a real Cyrillic word nearly always holds a letter with
/// no Latin twin (`б`, `д`, `ж`, `л`, ...).
fn made_of_latin_alike_cyrillic(part: &str) -> bool {
    const LATIN_ALIKE: &str = "асԁеһіјӏорԛѕԝхуъьҽпгѵѡ";
    let mut letters = 0usize;
    for c in part.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_digit() || matches!(c, '-' | '.' | '_' | '+') {
            continue;
        }
        if !LATIN_ALIKE.contains(c) {
            return false;
        }
        letters += 1;
    }
    letters > 0
}

/// Whether `part` is single-script, or Latin with Han and the scripts
/// written with it in one language (Japanese: Hiragana, Katakana; Chinese:
/// Bopomofo; Korean: Hangul): UTS #39's highly restrictive level, without
/// its identifier-character test (an address allows `+`, `!`, ...; which
/// characters may appear is decided by [`forbidden`]).
fn highly_restrictive(part: &str) -> bool {
    if part.is_ascii() {
        return true;
    }
    let latin = AugmentedScriptSet::for_char('a').base;
    let mut all = AugmentedScriptSet::default();
    let mut beside_latin = AugmentedScriptSet::default();
    for c in part.chars() {
        let set = AugmentedScriptSet::for_char(c);
        all.intersect_with(set);
        // Characters of Latin (and those of every script, such as digits)
        // may sit beside any one of the Han-based writing systems.
        if set.base.intersection(latin).is_empty() {
            beside_latin.intersect_with(set);
        }
    }
    !all.is_empty() || beside_latin.hanb || beside_latin.jpan || beside_latin.kore
}

/// The scripts of `part`'s characters, each once, in order of appearance
/// (characters of every script, such as digits, left out).
fn scripts_of(part: &str) -> Vec<&'static str> {
    let mut scripts: Vec<&'static str> = Vec::new();
    for c in part.chars() {
        let set = AugmentedScriptSet::for_char(c);
        if set.is_all() {
            continue;
        }
        if let Some(script) = set.base.iter().next() {
            let name = script.full_name();
            if !scripts.contains(&name) {
                scripts.push(name);
            }
        }
    }
    scripts
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
    // Far beyond any address: say so before looking at every character
    // (a spreadsheet cell can hold megabytes).
    if text.len() > 4 * MAX_EMAIL_BYTES {
        return Err(EmailErrorKind::TooLong { bytes: text.len() });
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

/// Reads an address back from stored events, snapshots and mail settings
/// (see [`Email::from_stored`]): never panics, whatever the bytes.
pub(crate) fn deserialize_stored<'de, D: Deserializer<'de>>(d: D) -> Result<Email, D::Error> {
    let s = String::deserialize(d)?;
    Email::from_stored(&s).map_err(serde::de::Error::custom)
}

/// Whether `text` is a plain ASCII address that passes every check (see
/// [`plain::plain_ascii`]).
fn plain_ascii_address(text: &str) -> bool {
    plain::plain_ascii(text).is_some()
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
            if plain_ascii_address(&text) {
                let fast = Email::parse(&text).map(|e| e.key().to_owned());
                let slow = canonical_key(&text, DomainRule::Strict);
                proptest::prop_assert_eq!(fast, slow.map_err(|kind| EmailError { input: text.clone(), kind }));
            }
        }

        /// Domains with `xn--` labels in any case go through IDNA: the key
        /// is the one the general path computes.
        #[test]
        fn ace_labels_are_found(
            text in "[a-zA-Z0-9.]{1,6}@([xX][nN]--[a-z0-9-]{0,8}\\.|[a-zA-Z0-9-]{1,6}\\.){1,3}[a-zA-Z]{2,3}"
        ) {
            let domain = text.rsplit_once('@').map_or("", |(_, d)| d);
            let labels = domain.split('.').any(|l| l.to_ascii_lowercase().starts_with("xn--"));
            proptest::prop_assert_eq!(has_ace_label(domain), labels);
            if let Ok(e) = Email::parse(&text) {
                proptest::prop_assert_eq!(Ok(e.key().to_owned()), canonical_key(&text, DomainRule::Strict));
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// Any text: parsing and reading back from a store never panic; an
        /// accepted address parses again to itself, its key is a fixed
        /// point, and a stored address that parses loads to the same one.
        #[test]
        fn parse_and_stored_never_panic_and_keys_are_stable(
            text in proptest::prelude::any::<String>()
        ) {
            check_text(&text)?;
        }

        /// The same over text shaped like addresses, mixing ASCII, accents,
        /// decomposed marks, Greek, `ß`, `İ`, `xn--` labels and whitespace.
        #[test]
        fn address_like_text_keys_are_stable(
            local in "[a-zA-Z0-9._ßẞİıΣσςéÉ\\u{0301}\\u{0307}äÄ-]{0,20}",
            domain in "(xn--)?[a-zA-Z0-9äÄüÜßσς\\u{0308}-]{0,12}\\.[a-zA-Zé]{0,4}",
            pad in "[ \t]{0,2}",
        ) {
            check_text(&format!("{pad}{local}@{domain}{pad}"))?;
        }

        /// Long text, upper case or not, never panics on load (the stored
        /// path once sliced a fixed buffer without a length check).
        #[test]
        fn long_stored_text_never_panics(
            local in "[A-Za-zÄ]{1,400}",
            domain in "[A-Za-z.]{1,400}",
        ) {
            check_text(&format!("{local}@{domain}"))?;
        }
    }

    fn check_text(text: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        use proptest::prop_assert_eq;
        if let Ok(email) = Email::parse(text) {
            let again = Email::parse(email.as_str());
            prop_assert_eq!(again.as_ref().map(Email::as_str), Ok(email.as_str()));
            prop_assert_eq!(again.as_ref().map(Email::key), Ok(email.key()));
            if let Ok(from_key) = Email::parse(email.key()) {
                prop_assert_eq!(from_key.key(), email.key());
            }
            let stored = Email::from_stored(text);
            prop_assert_eq!(stored.as_ref().map(Email::key), Ok(email.key()));
        }
        let json = serde_json::to_string(text).unwrap_or_default();
        let mut de = serde_json::Deserializer::from_str(&json);
        if let Ok(stored) = deserialize_stored(&mut de) {
            proptest::prop_assert!(stored.as_str().len() <= MAX_EMAIL_BYTES);
            prop_assert_eq!(
                Email::from_stored(stored.as_str()).map(|e| e.key().to_owned()),
                Ok(stored.key().to_owned())
            );
        }
        Ok(())
    }

    #[test]
    fn a_long_upper_case_stored_address_is_refused_not_a_panic() {
        let long = format!("{}@EXAMPLE.COM", "A".repeat(300));
        let err = Email::from_stored(&long).unwrap_err();
        assert!(err.contains("bytes long; at most 254"), "{err}");
        assert!(err.contains("damaged"), "{err}");
        let long_local = format!("{}@EXAMPLE.COM", "A".repeat(70));
        let err = Email::from_stored(&long_local).unwrap_err();
        assert!(err.contains("at most 64"), "{err}");
        // At the limit, upper case: loads, key in lower case.
        let at_limit = format!("{}@{}.COM", "A".repeat(64), "B".repeat(185));
        assert_eq!(at_limit.len(), MAX_EMAIL_BYTES);
        let e = Email::from_stored(&at_limit).unwrap();
        assert_eq!(e.as_str(), at_limit);
        assert_eq!(e.key(), at_limit.to_ascii_lowercase());
    }

    #[test]
    fn stored_addresses_that_newer_rules_refuse_still_load() {
        // An `xn--` label that is not Punycode: refused when typed, loaded
        // from a store, keyed by its lower case.
        assert!(matches!(
            Email::parse("me@xn--0.tld").unwrap_err().kind(),
            EmailErrorKind::InvalidInternationalDomain { label } if label == "xn--0"
        ));
        let e = Email::from_stored("Me@XN--0.tld").unwrap();
        assert_eq!(e.as_str(), "Me@XN--0.tld");
        assert_eq!(e.key(), "me@xn--0.tld");
        assert_eq!(e, Email::from_stored("me@xn--0.TLD").unwrap());
        // Shape still matters.
        assert!(Email::from_stored("no at sign").is_err());
        assert!(Email::from_stored("@x.com").is_err());
        assert!(Email::from_stored("a@").is_err());
        assert!(Email::from_stored("a\u{7}@x.com").is_err());
    }

    #[test]
    fn simple_case_folding() {
        // ß stays ß (full folding would give ss); ẞ folds to ß.
        assert_eq!(fold_case("STRAẞE"), "straße");
        assert_eq!(fold_case("Straße"), "straße");
        assert_ne!(fold_case("straße"), fold_case("strasse"));
        // İ has no simple folding: it stays, and differs from i and I.
        assert_eq!(fold_case("İ"), "İ");
        assert_eq!(fold_case("I\u{307}"), "İ", "NFC first");
        assert_ne!(fold_case("İ"), fold_case("i"));
        assert_ne!(fold_case("ı"), fold_case("i"));
        // Σ, σ and final ς are one letter.
        assert_eq!(fold_case("Σ"), "σ");
        assert_eq!(fold_case("ς"), "σ");
        assert_eq!(fold_case("ΟΔΥΣΣΕΥΣ"), fold_case("οδυσσευς"));
        // Variant Greek forms and accents.
        assert_eq!(fold_case("ϐ"), fold_case("Β"));
        assert_eq!(fold_case("JOSÉ"), "josé");
        assert_eq!(fold_case("jose\u{301}"), "jos\u{e9}");
        assert!(
            FOLD_EXCEPTIONS
                .windows(2)
                .all(|w| matches!(w, [a, b] if a.0 < b.0))
        );
    }

    #[test]
    fn identity_rule() {
        let e = |s: &str| Email::parse(s).unwrap();
        assert_eq!(e("user@bücher.de"), e("user@xn--bcher-kva.de"));
        assert_eq!(e("user@BÜCHER.de"), e("user@XN--BCHER-KVA.DE"));
        assert_eq!(e("user@bücher.de").key(), "user@xn--bcher-kva.de");
        assert_eq!(e("user@bu\u{308}cher.de"), e("user@bücher.de"));
        assert_ne!(e("user@faß.de"), e("user@fass.de"));
        assert_eq!(e("user@faß.de").key(), "user@xn--fa-hia.de");
        assert_ne!(e("straße@x.de"), e("strasse@x.de"));
        assert_eq!(e("STRASSE@x.de"), e("strasse@x.de"));
        assert_eq!(e("JOSÉ@example.de"), e("jos\u{e9}@example.de"));
        assert_eq!(e("jose\u{301}@example.de"), e("jos\u{e9}@example.de"));
        assert_eq!(e("ΣΟΦΙΑ@x.gr"), e("σοφια@x.gr"));
        assert_eq!(e("σοφιας@x.gr"), e("σοφιασ@x.gr"));
        // The domain is IDNA 2008: final sigma is its own letter there.
        assert_ne!(e("a@σοφια.gr"), e("a@σοφιας.gr"));
        // The spelling typed is kept.
        assert_eq!(e("user@Bücher.de").as_str(), "user@Bücher.de");
        assert_eq!(e("user@Bücher.de").domain(), "Bücher.de");
        // An ASCII address without xn-- labels keeps its one-allocation
        // layout: the key follows the text only when it differs.
        assert_eq!(e("ann@x.com").buf.len(), "ann@x.com".len());
        assert_eq!(e("Ann@x.com").buf.as_ref(), "Ann@x.comann@x.com");
    }

    #[test]
    fn look_alike_addresses_that_mix_scripts_are_refused() {
        for (address, part, scripts) in [
            // A Cyrillic `а` among Latin letters, in the local part.
            (
                "p\u{430}ypal@example.com",
                "p\u{430}ypal",
                vec!["Latin", "Cyrillic"],
            ),
            // ... and in a domain label.
            (
                "boss@ex\u{430}mple.com",
                "ex\u{430}mple",
                vec!["Latin", "Cyrillic"],
            ),
            // The same label typed in its xn-- form is shown in Unicode.
            (
                "boss@xn--exmple-4nf.com",
                "ex\u{430}mple",
                vec!["Latin", "Cyrillic"],
            ),
            // A Greek omicron in a Latin word.
            (
                "g\u{3bf}ogle@example.com",
                "g\u{3bf}ogle",
                vec!["Latin", "Greek"],
            ),
            // Cyrillic with Greek.
            (
                "\u{43f}\u{440}\u{3b9}@example.com",
                "\u{43f}\u{440}\u{3b9}",
                vec!["Cyrillic", "Greek"],
            ),
            // Han with Cyrillic is no single writing system.
            (
                "\u{7528}\u{6237}\u{434}@example.com",
                "\u{7528}\u{6237}\u{434}",
                vec!["Han", "Cyrillic"],
            ),
            // Latin with Armenian (a Latin `o` look-alike).
            (
                "g\u{585}\u{585}gle@example.com",
                "g\u{585}\u{585}gle",
                vec!["Latin", "Armenian"],
            ),
        ] {
            let error = Email::parse(address).unwrap_err();
            assert_eq!(
                error.kind(),
                &EmailErrorKind::MixedScripts {
                    part: part.to_owned(),
                    scripts: scripts.clone(),
                },
                "{address}"
            );
            let message = error.to_string();
            assert!(message.contains("one script"), "{message}");
            assert!(message.contains(&scripts.join(" and ")), "{message}");
            // Stored addresses still load (the rule may be newer than them).
            assert!(Email::from_stored(address).is_ok(), "{address}");
        }
    }

    #[test]
    fn single_script_and_japanese_chinese_korean_mixes_are_accepted() {
        for address in [
            "josé@exämple.de",
            "дмитрий@пример.рф",
            "ivan@пример.рф",
            "用户@例子.广告",
            "tanaka田中@example.jp",
            "サポート@例え.jp",
            "たなか.taro@example.jp",
            "김철수kim@예시.한국",
            "ㄅㄆ中文abc@example.tw",
            "αλφα-1@παράδειγμα.ελ",
            "user+tag_1@xn--bcher-kva.de",
            "ईन्फो@example.in",
            "pаypal@example.com".replace('а', "a").as_str(),
        ] {
            assert!(
                Email::parse(address).is_ok(),
                "{address}: {:?}",
                Email::parse(address)
            );
        }
    }

    #[test]
    fn domains_without_an_idna_form_are_refused() {
        let kind = |s: &str| Email::parse(s).unwrap_err().kind().clone();
        for (input, label) in [
            ("me@xn--abc.de", "xn--abc"),
            ("me@mail.XN--A.de", "XN--A"),
            ("me@aא.com", "aא"),
        ] {
            assert_eq!(
                kind(input),
                EmailErrorKind::InvalidInternationalDomain {
                    label: label.to_owned()
                },
                "{input}"
            );
        }
        let message = Email::parse("me@xn--abc.de").unwrap_err().to_string();
        assert!(message.contains("\"xn--abc\""), "{message}");
        assert!(message.contains("check its spelling"), "{message}");
        // Valid A-labels and hyphens elsewhere are fine.
        assert!(Email::parse("me@xn--bcher-kva.de").is_ok());
        assert!(Email::parse("me@ab--cd.de").is_ok());
    }

    #[test]
    fn substring_finds_typed_and_canonical_spelling() {
        let a = Email::parse("user@Bücher.de").unwrap();
        assert!(a.contains_folded(&fold_case("BÜCHER")));
        assert!(a.contains_folded("xn--bcher"));
        let b = Email::parse("Straße@x.de").unwrap();
        assert!(b.contains_folded(&fold_case("STRAẞE")));
        assert!(!b.contains_folded(&fold_case("strasse")));
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
