//! The common case of a bulk upload, decided in one pass: a plain ASCII
//! address that passes every rule of [`Email::parse`](super::Email::parse).
//!
//! A 256-entry table classifies each byte once; the pass also notes what
//! building the address needs next (where the `@` is, whether any letter
//! is upper case, whether the domain has a hyphen and so may hold an
//! `xn--` label), so nothing is scanned twice. `None` says nothing: the
//! general checks (which use `email_address`) then decide and name the
//! precise error. Property tests check that both paths always agree.

use super::{MAX_EMAIL_BYTES, MAX_LOCAL_PART_BYTES};

/// What one pass over a plain ASCII address found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PlainAscii {
    /// The byte offset of the `@` (the only one).
    pub(super) at: usize,
    /// Whether any letter is upper case (the key is then the lower case).
    pub(super) upper_case: bool,
    /// Whether the domain has a hyphen (only then can it have an `xn--`
    /// label, which must go through IDNA).
    pub(super) domain_hyphen: bool,
}

/// RFC 5322 `atext`: what a dot-atom local part is made of, besides dots.
const ATEXT: u8 = 1;
const LETTER: u8 = 2;
const DIGIT: u8 = 4;
const UPPER: u8 = 8;

/// The class bits of every byte (zero beyond ASCII).
const CLASSES: [u8; 256] = classes();

const fn classes() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        let mut class = 0;
        if b.is_ascii_alphanumeric()
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
        {
            class |= ATEXT;
        }
        if b.is_ascii_alphabetic() {
            class |= LETTER;
        }
        if b.is_ascii_digit() {
            class |= DIGIT;
        }
        if b.is_ascii_uppercase() {
            class |= UPPER;
        }
        #[allow(clippy::indexing_slicing)] // i < 128 <= table.len()
        {
            table[i] = class;
        }
        i += 1;
    }
    table
}

fn class(b: u8) -> u8 {
    // Always in range (the table has an entry for every byte).
    CLASSES.get(usize::from(b)).copied().unwrap_or(0)
}

/// The facts of `text` when it is a plain ASCII address that passes every
/// check: a dot-atom local part of at most 64 bytes, and a domain of at
/// least two labels of letters, digits and inner hyphens (at most 63
/// bytes each), not all digits, the last ending in a letter, the whole at
/// most 254 bytes.
pub(super) fn plain_ascii(text: &str) -> Option<PlainAscii> {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_EMAIL_BYTES {
        return None;
    }
    // Local part, up to the first `@` (a second one would be in the
    // domain, which refuses it, so this `@` is also the last).
    let mut seen = 0u8;
    let mut prev = b'.';
    let mut at = 0;
    loop {
        let b = *bytes.get(at)?;
        if b == b'@' {
            break;
        }
        let c = class(b);
        if b == b'.' {
            if prev == b'.' {
                return None;
            }
        } else if c & ATEXT == 0 {
            return None;
        }
        seen |= c;
        prev = b;
        at += 1;
    }
    if at == 0 || at > MAX_LOCAL_PART_BYTES || prev == b'.' {
        return None;
    }
    // Domain: dot-separated labels of letters, digits and inner hyphens,
    // at least two labels, not all digits, the last ending in a letter.
    // `prev` is the byte before the current one (`.` at the start).
    let mut labels = 1;
    let mut label_len = 0;
    let mut all_numeric = true;
    let mut label_numeric = true;
    let mut hyphen = false;
    let mut prev = b'.';
    for &b in bytes.get(at + 1..)? {
        if b == b'.' {
            if label_len == 0 || prev == b'-' {
                return None;
            }
            all_numeric &= label_numeric;
            label_numeric = true;
            label_len = 0;
            labels += 1;
        } else {
            let c = class(b);
            if b == b'-' {
                if prev == b'.' {
                    return None;
                }
                hyphen = true;
                label_numeric = false;
            } else if c & LETTER != 0 {
                label_numeric = false;
            } else if c & DIGIT == 0 {
                return None;
            }
            seen |= c;
            label_len += 1;
            if label_len > 63 {
                return None;
            }
        }
        prev = b;
    }
    all_numeric &= label_numeric;
    let ends_in_letter = class(prev) & LETTER != 0;
    (labels >= 2 && !all_numeric && ends_in_letter).then_some(PlainAscii {
        at,
        upper_case: seen & UPPER != 0,
        domain_hyphen: hyphen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// The facts the pass reports are the text's: the last `@`, any
        /// upper-case letter, a hyphen in the domain.
        #[test]
        fn facts_are_the_texts(
            text in "[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]{0,12}@[a-zA-Z0-9.-]{0,14}"
        ) {
            if let Some(plain) = plain_ascii(&text) {
                let at = text.rfind('@');
                proptest::prop_assert_eq!(Some(plain.at), at);
                let domain = text.get(plain.at + 1..).unwrap_or_default();
                proptest::prop_assert_eq!(plain.upper_case, text.bytes().any(|b| b.is_ascii_uppercase()));
                proptest::prop_assert_eq!(plain.domain_hyphen, domain.contains('-'));
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        /// Parsing (this pass first) and the strict path alone agree on
        /// every input: the same text and key, or the same error.
        #[test]
        fn parse_agrees_with_the_strict_path(
            text in "[ ]?[a-zA-Z0-9.+_'-]{0,8}(@|@@)?([xX][nN]--|[a-zA-Z0-9-]){0,8}(\\.[a-zA-Z0-9-]{0,6}){0,3}[ ]?"
        ) {
            let fast = super::super::Email::parse(&text)
                .map(|e| (e.as_str().to_owned(), e.key().to_owned()))
                .map_err(|e| e.kind().clone());
            let strict = super::super::Email::strict(text.trim())
                .map(|e| (e.as_str().to_owned(), e.key().to_owned()));
            proptest::prop_assert_eq!(fast, strict);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]
        /// Over near-valid ASCII addresses (dots and hyphens anywhere), the
        /// pass accepts exactly what the general checks accept.
        #[test]
        fn the_pass_accepts_what_the_general_checks_accept(
            text in "[a-z.+-]{0,4}@[a-zA-Z0-9.-]{0,10}"
        ) {
            proptest::prop_assert_eq!(plain_ascii(&text).is_some(), super::super::check_general(&text).is_ok());
        }
    }

    #[test]
    fn the_table_classifies_ascii_only() {
        assert_eq!(class(b'a'), ATEXT | LETTER);
        assert_eq!(class(b'Z'), ATEXT | LETTER | UPPER);
        assert_eq!(class(b'7'), ATEXT | DIGIT);
        assert_eq!(class(b'~'), ATEXT);
        assert_eq!(class(b'.'), 0);
        assert_eq!(class(b'@'), 0);
        assert_eq!(class(b' '), 0);
        assert_eq!(class(0xC3), 0);
        assert!(plain_ascii("Ann.Lee@Example-1.com").is_some());
        assert_eq!(plain_ascii("a@@b.com"), None);
        assert_eq!(plain_ascii("a@b@c.com"), None);
        assert_eq!(plain_ascii("josé@x.com"), None);
    }
}
