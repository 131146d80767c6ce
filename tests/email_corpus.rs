//! `Email::parse` against addresses taken from public test corpora.
//!
//! Each list names where its entries come from. Only a representative
//! selection of each source is used, not the whole file.
//!
//! Our rules (DESIGN.md, "Input rules worth stating once") are stricter than
//! RFC 5322 on purpose, so several addresses that a corpus calls valid are
//! refused here; they sit in their own `*_REFUSED_ON_PURPOSE` lists together
//! with the rule that refuses them. The few addresses that a corpus refuses
//! but we accept on purpose (we trim surrounding whitespace, we check syntax
//! only) are listed in `accepted_on_purpose_although_a_corpus_refuses`.
// Tests assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use org_accounts::{Email, EmailErrorKind};

/// The rule an address is expected to break, as a cheap stand-in for
/// [`EmailErrorKind`] (whose variants carry data).
#[derive(Debug, Clone, Copy)]
enum Why {
    Empty,
    DisplayName,
    MissingAt,
    Quoted,
    Comment,
    Ip,
    NoDot,
    Label,
    Tld,
    LocalTooLong,
    TooLong,
    /// A forbidden character, by code point.
    Char(u32),
    Syntax,
    /// The domain has no IDNA form.
    Idna,
    /// Breaks several rules; any error will do.
    Any,
}

fn breaks(kind: &EmailErrorKind, why: Why) -> bool {
    use EmailErrorKind as K;
    match why {
        Why::Empty => matches!(kind, K::Empty),
        Why::DisplayName => matches!(kind, K::DisplayName),
        Why::MissingAt => matches!(kind, K::MissingAt),
        Why::Quoted => matches!(kind, K::QuotedLocalPart),
        Why::Comment => matches!(kind, K::Comment),
        Why::Ip => matches!(kind, K::IpAddress),
        Why::NoDot => matches!(kind, K::DomainWithoutDot),
        Why::Label => matches!(kind, K::InvalidDomainLabel { .. }),
        Why::Tld => matches!(kind, K::InvalidTopLevelDomain { .. }),
        Why::LocalTooLong => matches!(kind, K::LocalPartTooLong { .. }),
        Why::TooLong => matches!(kind, K::TooLong { .. }),
        Why::Char(code) => matches!(kind, K::ForbiddenCharacter { code: c, .. } if *c == code),
        Why::Syntax => matches!(kind, K::Syntax { .. }),
        Why::Idna => matches!(kind, K::InvalidInternationalDomain { .. }),
        Why::Any => true,
    }
}

/// Every entry parses, and `as_str` is the input without surrounding
/// whitespace. All failures are reported together.
fn assert_accepted(source: &str, list: &[&str]) {
    let failures: Vec<String> = list
        .iter()
        .filter_map(|input| match Email::parse(input) {
            Ok(email) if email.as_str() == input.trim() => None,
            Ok(email) => Some(format!("{input:?} parsed as {:?}", email.as_str())),
            Err(e) => Some(format!("{input:?} refused: {:?}", e.kind())),
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{source}: {} of {} valid addresses failed:\n  {}",
        failures.len(),
        list.len(),
        failures.join("\n  ")
    );
}

/// Every entry is refused, for the expected reason.
fn assert_refused(source: &str, list: &[(&str, Why)]) {
    let failures: Vec<String> = list
        .iter()
        .filter_map(|&(input, why)| match Email::parse(input) {
            Ok(email) => Some(format!("{input:?} accepted as {:?}", email.as_str())),
            Err(e) if breaks(e.kind(), why) => {
                assert_eq!(e.input(), input, "the error keeps the input as given");
                None
            }
            Err(e) => Some(format!(
                "{input:?} refused as {:?}, expected {why:?}",
                e.kind()
            )),
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{source}: {} of {} invalid addresses failed:\n  {}",
        failures.len(),
        list.len(),
        failures.join("\n  ")
    );
}

// ---------------------------------------------------------------------------
// Wikipedia, "Email address", section "Examples"
// (https://en.wikipedia.org/wiki/Email_address#Examples), as transcribed in
// the `email_address` crate's own tests: johnstonskj/rust-email_address,
// src/lib.rs, `test_good_examples_from_wikipedia_*` and
// `test_bad_examples_from_wikipedia_*`.
// ---------------------------------------------------------------------------

const WIKIPEDIA_VALID: &[&str] = &[
    "simple@example.com",
    "very.common@example.com",
    "disposable.style.email.with+symbol@example.com",
    "other.email-with-hyphen@example.com",
    "fully-qualified-domain@example.com",
    "user.name+tag+sorting@example.com",
    "x@example.com",
    "example-indeed@strange-example.com",
    "example@s.example",
    "mailhost!username@example.org",
    "user%example.com@example.org",
    "user+mailbox/department=shipping@example.com",
    "!#$%&'*+-/=?^_`.{|}~@example.com",
    // Internationalized (RFC 6531 / SMTPUTF8) examples.
    "用户@例子.广告",
    "अजय@डाटा.भारत",
    "квіточка@пошта.укр",
    "θσερ@εχαμπλε.ψομ",
    "Dörte@Sörensen.example.com",
    "коля@пример.рф",
];

const WIKIPEDIA_REFUSED_ON_PURPOSE: &[(&str, Why)] = &[
    // "local domain name with no TLD": we require a dot.
    ("admin@mailserver1", Why::NoDot),
    // Quoted local parts.
    ("\" \"@example.org", Why::Quoted),
    ("\"john..doe\"@example.org", Why::Quoted),
    ("\"Abc@def\"@example.com", Why::Quoted),
    ("\"Joe.\\\\Blow\"@example.com", Why::Quoted),
    // Domain literals.
    ("jsmith@[192.168.2.1]", Why::Ip),
    ("jsmith@[IPv6:2001:db8::1]", Why::Ip),
];

const WIKIPEDIA_INVALID: &[(&str, Why)] = &[
    ("Abc.example.com", Why::MissingAt),
    ("A@b@c@example.com", Why::Syntax),
    ("a\"b(c)d,e:f;g<h>i[j\\k]l@example.com", Why::Any),
    ("just\"not\"right@example.com", Why::Syntax),
    ("this is\"not\\allowed@example.com", Why::Char(0x20)),
    (
        "this\\ still\\\"not\\\\allowed@example.com",
        Why::Char(0x20),
    ),
    (
        "1234567890123456789012345678901234567890123456789012345678901234+x@example.com",
        Why::LocalTooLong,
    ),
];

#[test]
fn wikipedia_examples() {
    assert_accepted("Wikipedia valid", WIKIPEDIA_VALID);
    assert_refused(
        "Wikipedia valid, refused on purpose",
        WIKIPEDIA_REFUSED_ON_PURPOSE,
    );
    assert_refused("Wikipedia invalid", WIKIPEDIA_INVALID);
}

// ---------------------------------------------------------------------------
// The `email_address` crate's own tests and docs (the crate we build on):
// johnstonskj/rust-email_address, src/lib.rs, `test_bad_example_*` and the
// doc examples of `EmailAddress::display_part` / `to_display`.
// ---------------------------------------------------------------------------

/// Valid for the crate when display text is allowed (its default); we build
/// it `without_display_text()`.
const EMAIL_ADDRESS_CRATE_REFUSED_ON_PURPOSE: &[(&str, Why)] = &[
    ("Name <name@example.org>", Why::DisplayName),
    ("John Doe <john.doe@example.com>", Why::DisplayName),
    ("коля <коля@пример.рф>", Why::DisplayName),
];

const EMAIL_ADDRESS_CRATE_INVALID: &[(&str, Why)] = &[
    (
        "foo@example.v1234567890123456789012345678901234567890123456789012345678901234v.com",
        Why::Label,
    ),
    ("@example.com", Why::Syntax),
    ("\"\"@example.com", Why::Quoted),
    ("\"@example.com", Why::Quoted),
    ("simon@", Why::Syntax),
    ("example@invalid-.com", Why::Label),
    ("example@-invalid.com", Why::Label),
    ("example@invalid.com-", Why::Label),
    ("example@inv-.alid-.com", Why::Label),
    ("example@-inv.alid-.com", Why::Label),
    ("example@-.com", Why::Label),
    ("example@-", Why::Any),
    ("example@-abc", Why::Any),
    ("example@abc-", Why::Any),
    ("example@.com", Why::Label),
    ("email@[127.0.0.256]", Why::Ip),
    ("email@[2001:db8::12345]", Why::Ip),
];

#[test]
fn email_address_crate_examples() {
    assert_refused(
        "email_address crate valid, refused on purpose",
        EMAIL_ADDRESS_CRATE_REFUSED_ON_PURPOSE,
    );
    assert_refused("email_address crate invalid", EMAIL_ADDRESS_CRATE_INVALID);
}

// ---------------------------------------------------------------------------
// isemail test suite (Dominic Sayers, cases 1-100 by Michael Rushton):
// dominicsayers/isemail, test/tests.xml. The number is the test id.
// ---------------------------------------------------------------------------

const ISEMAIL_VALID: &[&str] = &[
    "test@iana.org",                                                             // 8
    "test@nominet.org.uk",                                                       // 9
    "test@about.museum",                                                         // 10
    "a@iana.org",                                                                // 11
    "test@e.com",                 // 12 (DNS warning only)
    "test@iana.a",                // 13 (DNS warning only)
    "test.test@iana.org",         // 14
    "!#$%&`*+/=?^`{|}~@iana.org", // 19
    "123@iana.org",               // 21
    "test@123.com",               // 22
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghiklm@iana.org", // 25: 64-byte local part
    "test@abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghikl.com", // 27: 63-byte label
    "test@mason-dixon.com",                                                     // 29
    "test@c--n.com",                                                            // 32
    "test@iana.co-uk", // 33 (DNS warning only)
    // 37: 253 bytes, 126 one-letter labels.
    "a@a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v",
    // 38: exactly 254 bytes.
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghiklm@abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghikl.abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghikl.abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghi",
    "test@xn--hxajbheg2az3al.xn--jxalpdlp", // 100: IDN in ASCII form
    "xn--test@iana.org",                    // 101
];

const ISEMAIL_REFUSED_ON_PURPOSE: &[(&str, Why)] = &[
    ("test@io", Why::NoDot),                   // 5: ISEMAIL_RFC5321_TLD
    ("test@iana.123", Why::Tld),               // 23: ISEMAIL_RFC5321_TLDNUMERIC
    ("test@255.255.255.255", Why::Ip),         // 24: ISEMAIL_RFC5321_TLDNUMERIC
    ("\"test\"@iana.org", Why::Quoted),        // 42: ISEMAIL_RFC5321_QUOTEDSTRING
    ("\"\"@iana.org", Why::Quoted),            // 43
    ("\"\\a\"@iana.org", Why::Quoted),         // 45
    ("\"\\\"\"@iana.org", Why::Quoted),        // 46
    ("\"test\\ test\"@iana.org", Why::Quoted), // 55
    ("\"test\".test@iana.org", Why::Quoted),   // 56: ISEMAIL_DEPREC_LOCALPART
    ("test@[255.255.255.255]", Why::Ip),       // 61: ISEMAIL_RFC5321_ADDRESSLITERAL
    (
        "test@[IPv6:1111:2222:3333:4444:5555:6666:7777:8888]",
        Why::Ip,
    ), // 68
    ("test@[IPv6:::]", Why::Ip),               // 77
    ("test@[IPv6:1111:2222:3333:4444::255.255.255.255]", Why::Ip), // 81
    (" test @iana.org", Why::Char(0x20)),      // 85: ISEMAIL_DEPREC_CFWS_NEAR_AT
    ("test@ iana .com", Why::Char(0x20)),      // 86
    ("test . test@iana.org", Why::Char(0x20)), // 87: ISEMAIL_DEPREC_FWS
    ("(comment)test@iana.org", Why::Comment),  // 90: ISEMAIL_CFWS_COMMENT
    ("(comment(comment))test@iana.org", Why::Comment), // 92
    ("test@(comment)iana.org", Why::Comment),  // 93
];

const ISEMAIL_INVALID: &[(&str, Why)] = &[
    ("", Why::Empty),                      // 1
    ("test", Why::MissingAt),              // 2
    ("@", Why::Syntax),                    // 3
    ("test@", Why::Syntax),                // 4
    ("@io", Why::Any),                     // 6
    ("@iana.org", Why::Syntax),            // 7
    (".test@iana.org", Why::Syntax),       // 15
    ("test.@iana.org", Why::Syntax),       // 16
    ("test..iana.org", Why::MissingAt),    // 17
    ("test_exa-mple.com", Why::MissingAt), // 18
    ("test\\@test@iana.org", Why::Syntax), // 20
    (
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghiklmn@iana.org",
        Why::LocalTooLong,
    ), // 26
    (
        "test@abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghiklm.com",
        Why::Label,
    ), // 28: 64-byte label
    ("test@-iana.org", Why::Label),        // 30
    ("test@iana-.com", Why::Label),        // 31
    ("test@.iana.org", Why::Label),        // 34
    ("test@iana.org.", Why::Label),        // 35
    ("test@iana..com", Why::Label),        // 36
    (
        "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghiklm@abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghikl.abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghikl.abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghij",
        Why::TooLong,
    ), // 39: 255 bytes
    (
        "a@abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghikl.abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghikl.abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghikl.abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefg.hij",
        Why::TooLong,
    ), // 40
    (
        "a@abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghikl.abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghikl.abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghikl.abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefg.hijk",
        Why::TooLong,
    ), // 41
    ("\"\"\"@iana.org", Why::Quoted),      // 44
    ("\"\\\"@iana.org", Why::Quoted),      // 47
    ("test\"@iana.org", Why::Quoted),      // 49
    ("\"test@iana.org", Why::Quoted),      // 50
    ("\"test\"test@iana.org", Why::Quoted), // 51
    ("test\"text\"@iana.org", Why::Quoted), // 52
    ("\"test\"\"test\"@iana.org", Why::Quoted), // 53
    ("test@a[255.255.255.255]", Why::Ip),  // 62
    ("test@[255.255.255]", Why::Ip),       // 63
    ("((comment)test@iana.org", Why::Comment), // 91
    ("test(comment)test@iana.org", Why::Comment), // 94
    ("test@iana.org-", Why::Label),        // 102
    ("(test@iana.org", Why::Comment),      // 104
    ("test@(iana.org", Why::Comment),      // 105
    ("test@[1.2.3.4", Why::Ip),            // 106
];

#[test]
fn isemail_suite() {
    assert_accepted("isemail valid", ISEMAIL_VALID);
    assert_refused(
        "isemail valid, refused on purpose",
        ISEMAIL_REFUSED_ON_PURPOSE,
    );
    assert_refused("isemail invalid", ISEMAIL_INVALID);
}

// ---------------------------------------------------------------------------
// python-email-validator (Joshua Tauberer): JoshData/python-email-validator,
// tests/test_syntax.py (`test_email_valid`, `test_email_valid_intl_local_part`,
// `test_email_valid_only_if_quoted_local_part`, `test_domain_literal`,
// `test_email_invalid_syntax`, `test_email_unsafe_character` and its copy of
// the pyIsEmail suite) and README.rst.
// ---------------------------------------------------------------------------

const PYTHON_EMAIL_VALIDATOR_VALID: &[&str] = &[
    "Abc@example.tld",
    "Abc.123@test-example.com",
    "user+mailbox/department=shipping@example.tld",
    "!#$%&'*+-/=?^_`.{|}~@example.tld",
    "jeff@臺網中心.tw",
    "伊昭傑@郵件.商務",
    "राम@मोहन.ईन्फो",
    "юзер@екзампл.ком",
    "θσερ@εχαμπλε.ψομ",
    "葉士豪@臺網中心.tw",
    "葉士豪@臺網中心.台灣",
    "jeff葉@臺網中心.tw",
    "ñoñó@example.tld",
    "我買@example.tld",
    "甲斐黒川日本@example.tld",
    "чебурашкаящик-с-апельсинами.рф@example.tld",
    "उदाहरण.परीक्ष@domain.with.idn.tld",
    "ιωάννης@εεττ.gr",
];

const PYTHON_EMAIL_VALIDATOR_REFUSED_ON_PURPOSE: &[(&str, Why)] = &[
    // Valid there only with `allow_quoted_local=True`.
    (
        "\"unnecessarily.quoted.local.part\"@example.com",
        Why::Quoted,
    ),
    ("\"quoted..local.part\"@example.com", Why::Quoted),
    ("\"quoted.with.at@\"@example.com", Why::Quoted),
    ("\"quoted with space\"@example.com", Why::Quoted),
    ("\"quoted.with..unicode.λ\"@example.com", Why::Quoted),
    // Valid there only with `allow_domain_literal=True`.
    ("me@[127.0.0.1]", Why::Ip),
    ("me@[IPv6:::1]", Why::Ip),
    ("me@[IPv6:0000:0000:0000:0000:0000:0000:0000:0001]", Why::Ip),
    // Valid there only with `test_environment=True`.
    ("anything@test", Why::NoDot),
];

const PYTHON_EMAIL_VALIDATOR_INVALID: &[(&str, Why)] = &[
    // README.rst: the To: line form is not accepted.
    ("My Name <my@address.com>", Why::DisplayName),
    ("my@localhost", Why::NoDot),
    ("my@.leadingdot.com", Why::Label),
    ("my@\u{FF0E}leadingfwdot.com", Why::Char(0xFF0E)),
    ("my@twodots..com", Why::Label),
    ("my@twofwdots\u{FF0E}\u{FF0E}.com", Why::Char(0xFF0E)),
    ("my@trailingdot.com.", Why::Label),
    ("my@trailingfwdot.com\u{FF0E}", Why::Char(0xFF0E)),
    ("me@-leadingdash", Why::Any),
    ("me@\u{FF0D}leadingdashfw", Why::Char(0xFF0D)),
    ("me@trailingdash-", Why::Any),
    ("my@baddash.-.com", Why::Label),
    ("my@baddash.-a.com", Why::Label),
    ("my@baddash.b-.com", Why::Label),
    ("my@baddashfw.\u{FF0D}.com", Why::Char(0xFF0D)),
    ("my@example\n.com", Why::Char(0x0A)),
    ("me@x!", Why::Any),
    ("me@x ", Why::NoDot), // the trailing space is trimmed; "x" has no dot
    (".leadingdot@domain.com", Why::Syntax),
    ("twodots..here@domain.com", Why::Syntax),
    ("trailingdot.@domain.email", Why::Syntax),
    ("me@\u{2488}wouldbeinvalid.com", Why::Char(0x2488)), // ⒈ looks like "1."
    ("@example.com", Why::Syntax),
    ("white space@test", Why::Char(0x20)),
    ("test@white space", Why::Char(0x20)),
    ("m\ny@example.com", Why::Char(0x0A)),
    ("my\n@example.com", Why::Char(0x0A)),
    ("bad\"quotes\"@example.com", Why::Quoted),
    ("obsolete.\"quoted\".atom@example.com", Why::Syntax),
    (
        "11111111112222222222333333333344444444445555555555666666666677777@example.com",
        Why::LocalTooLong,
    ),
    (
        "111111111122222222223333333333444444444455555555556666666666777777@example.com",
        Why::LocalTooLong,
    ),
    (
        "me@1111111111222222222233333333334444444444555555555.6666666666777777777788888888889999999999000000000.1111111111222222222233333333334444444444555555555.6666666666777777777788888888889999999999000000000.111111111122222222223333333333444444444455555555556.com",
        Why::TooLong,
    ),
    (
        "my.λong.address@1111111111222222222233333333334444444444555555555.6666666666777777777788888888889999999999000000000.1111111111222222222233333333334444444444555555555.6666666666777777777788888888889999999999000000000.111111111122222222223333333333444.info",
        Why::TooLong, // 255 bytes once λ is counted as two
    ),
    ("me@bad-tld-1", Why::NoDot),
    ("me@bad.tld-2", Why::Tld),
    ("me@[127.0.0.999]", Why::Ip),
    ("me@[IPv6:::G]", Why::Ip),
    ("me@[tag:text]", Why::Ip),
    ("me@[untaggedtext]", Why::Ip),
    // From the pyIsEmail suite copied into the same file.
    ("\u{7F}@iana.org", Why::Char(0x7F)),
    ("test@\u{7F}.org", Why::Char(0x7F)),
    ("\u{07}@iana.org", Why::Char(0x07)),
    ("test@\u{07}.org", Why::Char(0x07)),
    ("\"\u{07}\"@iana.org", Why::Quoted),
    ("test@[RFC-5322-domain-literal]", Why::Ip),
    // An A-label that is not valid Punycode has no IDNA form.
    ("me@xn--0.tld", Why::Idna),
];

/// `test_email_unsafe_character`: characters the specs permit but that are
/// unsafe. Upstream puts each one alone before `@test`; here each sits
/// between letters in the local part and in the domain, so that trimming
/// cannot remove it and the domain has a dot.
const PYTHON_EMAIL_VALIDATOR_UNSAFE_CHARACTERS: &[char] = &[
    '\u{2005}',   // FOUR-PER-EM SPACE (Zs)
    '\u{2028}',   // LINE SEPARATOR (Zl)
    '\u{2029}',   // PARAGRAPH SEPARATOR (Zp)
    '\u{009C}',   // STRING TERMINATOR (Cc)
    '\u{200B}',   // ZERO WIDTH SPACE (Cf)
    '\u{202D}',   // LEFT-TO-RIGHT OVERRIDE (Cf)
    '\u{202E}',   // RIGHT-TO-LEFT OVERRIDE (Cf)
    '\u{E000}',   // private use (Co)
    '\u{10FDEF}', // private use (Co)
    '\u{FDEF}',   // noncharacter (Cn)
];

#[test]
fn python_email_validator_suite() {
    assert_accepted("python-email-validator valid", PYTHON_EMAIL_VALIDATOR_VALID);
    assert_refused(
        "python-email-validator valid, refused on purpose",
        PYTHON_EMAIL_VALIDATOR_REFUSED_ON_PURPOSE,
    );
    assert_refused(
        "python-email-validator invalid",
        PYTHON_EMAIL_VALIDATOR_INVALID,
    );

    let built: Vec<(String, Why)> = PYTHON_EMAIL_VALIDATOR_UNSAFE_CHARACTERS
        .iter()
        .flat_map(|&c| {
            let why = Why::Char(u32::from(c));
            [
                (format!("te{c}st@example.com"), why),
                (format!("test@exa{c}mple.com"), why),
            ]
        })
        .collect();
    let list: Vec<(&str, Why)> = built.iter().map(|(s, w)| (s.as_str(), *w)).collect();
    assert_refused("python-email-validator unsafe characters", &list);
}

// ---------------------------------------------------------------------------
// Browser tests for <input type=email>, whose rules follow the HTML
// standard's "valid email address"
// (https://html.spec.whatwg.org/multipage/input.html#valid-e-mail-address).
// WebKit: WebKit/WebKit,
//   LayoutTests/fast/forms/resources/ValidityState-typeMismatch-email.js
// web-platform-tests: web-platform-tests/wpt,
//   html/semantics/forms/the-input-element/email-validity.window.js
// ---------------------------------------------------------------------------

const WEBKIT_VALID: &[&str] = &[
    "something@something.com",
    "someone@localhost.localdomain",
    "a@b.b",
    "a/b@domain.com",
    "{}@domain.com",
    "m*'!%@something.sa",
    "tu!!7n7.ad##0!!!@company.ca",
    "%@com.com",
    "!#$%&'*+/=?^_`{|}~.-@com.com",
    "someone@do-ma-in.com",
];

/// Valid for the HTML standard, which is looser than RFC 5322 about dots in
/// the local part and has no dot or TLD rule for the domain.
const WEBKIT_REFUSED_ON_PURPOSE: &[(&str, Why)] = &[
    ("someone@127.0.0.1", Why::Ip),
    (".wooly@example.com", Why::Syntax),
    ("wo..oly@example.com", Why::Syntax),
    ("ddjk-s-jk@asl-.com", Why::Label),
    ("someone@do-.com", Why::Label),
    ("somebody@-.com", Why::Label),
    ("somebody@example", Why::NoDot),
];

const WEBKIT_INVALID: &[(&str, Why)] = &[
    ("invalid:email@example.com", Why::Syntax),
    ("@somewhere.com", Why::Syntax),
    ("example.com", Why::MissingAt),
    ("@@example.com", Why::Syntax),
    ("a space@example.com", Why::Char(0x20)),
    ("something@ex..ample.com", Why::Label),
    ("a\\b@c", Why::NoDot),
    ("someone@somewhere.com.", Why::Label),
    ("\"\"test\\blah\"\"@example.com", Why::Quoted),
    ("\"testblah\"@example.com", Why::Quoted),
    ("someone@somewhere.com@", Why::Syntax),
    ("someone@somewhere_com", Why::NoDot),
    ("someone@some:where.com", Why::Label),
    (".", Why::MissingAt),
    ("F/s/f/a@feo+re.com", Why::Label),
    (
        "some+long+email+address@some+host-weird-/looking.com",
        Why::Label,
    ),
];

const WPT_REFUSED_ON_PURPOSE: &[(&str, Why)] = &[
    ("a@a", Why::NoDot),
    ("a@ñ", Why::NoDot),
    ("ñ@ñ", Why::NoDot),
    ("a@123", Why::Ip),
    ("a@123.123.123.123", Why::Ip),
    ("a@[::1]", Why::Ip),
];

const WPT_INVALID: &[(&str, Why)] = &[
    ("a", Why::MissingAt),
    ("a@123.123.123.123.123", Why::Ip),
    ("a@0xFFFFFFFFF", Why::NoDot),
    ("a@[123.123.123.123]", Why::Ip),
    ("a@\u{FFFD}", Why::Char(0xFFFD)),
];

#[test]
fn browser_input_type_email_tests() {
    assert_accepted("WebKit valid", WEBKIT_VALID);
    assert_refused(
        "WebKit valid, refused on purpose",
        WEBKIT_REFUSED_ON_PURPOSE,
    );
    assert_refused("WebKit invalid", WEBKIT_INVALID);
    assert_refused("WPT valid, refused on purpose", WPT_REFUSED_ON_PURPOSE);
    assert_refused("WPT invalid", WPT_INVALID);
}

// ---------------------------------------------------------------------------
// RFC 3696 section 3 (https://www.rfc-editor.org/rfc/rfc3696#section-3),
// with its examples as corrected by the errata
// (https://www.rfc-editor.org/errata_search.php?rfc=3696): a backslash
// escape is only allowed inside quotes.
// ---------------------------------------------------------------------------

const RFC3696_VALID: &[&str] = &[
    "customer/department=shipping@example.com",
    "$A12345@example.com",
    "!def!xyz%abc@example.com",
    "_somename@example.com",
];

const RFC3696_REFUSED_ON_PURPOSE: &[(&str, Why)] = &[
    ("\"Abc\\@def\"@example.com", Why::Quoted),
    ("\"Abc@def\"@example.com", Why::Quoted),
    ("\"Fred\\ Bloggs\"@example.com", Why::Quoted),
    ("\"Fred Bloggs\"@example.com", Why::Quoted),
    ("\"Joe.\\\\Blow\"@example.com", Why::Quoted),
];

const RFC3696_INVALID: &[(&str, Why)] = &[
    ("Abc\\@def@example.com", Why::Syntax),
    ("Fred\\ Bloggs@example.com", Why::Char(0x20)),
    ("Joe.\\\\Blow@example.com", Why::Syntax),
];

#[test]
fn rfc3696_examples() {
    assert_accepted("RFC 3696 valid", RFC3696_VALID);
    assert_refused(
        "RFC 3696 valid, refused on purpose",
        RFC3696_REFUSED_ON_PURPOSE,
    );
    assert_refused("RFC 3696 invalid", RFC3696_INVALID);
}

// ---------------------------------------------------------------------------
// The other direction: a corpus refuses these, we accept them on purpose.
// ---------------------------------------------------------------------------

#[test]
fn accepted_on_purpose_although_a_corpus_refuses() {
    // Surrounding whitespace, line breaks included, is trimmed (DESIGN.md);
    // browsers likewise strip line breaks from an email input's value
    // (web-platform-tests/wpt, html/semantics/forms/the-input-element/email.html).
    // isemail test/tests.xml #99, #88, #89 and pyIsEmail's CR case:
    assert_accepted(
        "isemail, trimmed",
        &[
            "test@iana.org\n",
            "\r\n test@iana.org",
            "\r\n \r\n test@iana.org",
            "test@iana.org\r",
        ],
    );
    // python-email-validator tests/test_syntax.py:
    assert_accepted(
        "python-email-validator, trimmed",
        &["my@example.com\n", "\nmy@example.com"],
    );
    // python-email-validator refuses hyphens in the third and fourth
    // places of a label (UTS #46 CheckHyphens); browsers, and we, allow them
    // outside `xn--` labels. (Its `me@xn--0.tld`, whose A-label is not valid
    // Punycode, we refuse too: see `PYTHON_EMAIL_VALIDATOR_INVALID`.)
    assert_accepted("python-email-validator, hyphens allowed", &["me@yy--0.tld"]);
    // python-email-validator `test_email_invalid_reserved_domain` refuses
    // special-use names; whether a domain exists is not a syntax question.
    assert_accepted(
        "python-email-validator, special-use domains",
        &[
            "me@anything.arpa",
            "me@valid.invalid",
            "me@link.local",
            "me@host.localhost",
            "me@onion.onion.onion",
            "me@test.test.test",
        ],
    );
}

// ---------------------------------------------------------------------------
// Look-alike and invisible characters, one by one.
// ---------------------------------------------------------------------------

#[test]
fn look_alike_and_invisible_characters_are_refused() {
    let cases: &[(&str, u32)] = &[
        ("ann\u{200B}@example.com", 0x200B), // zero-width space
        ("ann@exam\u{200B}ple.com", 0x200B),
        ("ann@example.com\u{200B}", 0x200B), // not whitespace, so not trimmed
        ("\u{FEFF}ann@example.com", 0xFEFF), // BOM from a pasted file
        ("ann@\u{FEFF}example.com", 0xFEFF),
        ("ann\u{A0}lee@example.com", 0xA0), // no-break space
        ("ann@exa\u{A0}mple.com", 0xA0),
        ("\u{2018}ann\u{2019}@example.com", 0x2018), // curly single quotes
        ("o\u{2019}neil@example.com", 0x2019),
        ("\u{201C}ann\u{201D}@example.com", 0x201C), // curly double quotes
        ("ann\u{201D}@example.com", 0x201D),
        ("ann\u{FF20}example.com", 0xFF20), // full-width commercial at
        ("ann@example\u{3002}com", 0x3002), // ideographic full stop
        ("ann@example\u{FF0E}com", 0xFF0E), // full-width full stop
        ("ann@example\u{FF61}com", 0xFF61), // half-width ideographic full stop
        ("\u{FF41}nn@example.com", 0xFF41), // full-width a
        ("\u{1D41A}nn@example.com", 0x1D41A), // mathematical bold a
        ("\u{212A}ate@example.com", 0x212A), // Kelvin sign, folds to k
        ("\u{FB01}le@example.com", 0xFB01), // fi ligature
        ("ann\u{B2}@example.com", 0xB2),    // superscript two
        ("ann@\u{2460}.example.com", 0x2460), // circled digit one
        ("ann\u{2060}@example.com", 0x2060), // word joiner
        ("ann\u{00AD}@example.com", 0x00AD), // soft hyphen
        ("ann\u{3164}@example.com", 0x3164), // Hangul filler
    ];
    let list: Vec<(&str, Why)> = cases
        .iter()
        .map(|&(input, code)| (input, Why::Char(code)))
        .collect();
    assert_refused("look-alike and invisible characters", &list);

    // The error says which character it was, so the administrator can act.
    let e = Email::parse("o\u{2019}neil@example.com").unwrap_err();
    assert!(e.to_string().contains("U+2019"), "{e}");
}

#[test]
fn surrounding_unicode_whitespace_is_trimmed() {
    // No-break space and ideographic space count as whitespace at the ends
    // (as pasted from a web page or typed with an IME); inside they are
    // refused (see above).
    let e = Email::parse("\u{A0}ann@example.com\u{3000}").unwrap();
    assert_eq!(e.as_str(), "ann@example.com");
}

// ---------------------------------------------------------------------------
// Scripts whose words need combining marks that Unicode does not count as
// letters (viramas, tone marks), and decomposed accents. Not from a corpus:
// they pin down the rule that such marks may follow a letter.
// ---------------------------------------------------------------------------

#[test]
fn combining_marks_inside_words_are_accepted() {
    assert_accepted(
        "combining marks",
        &[
            "ஒருவர்@எடுத்துக்காட்டு.இந்தியா",        // Tamil, viramas
            "ที่อยู่@ตัวอย่าง.ไทย",                 // Thai, tone marks
            "a\u{0308}nn@exa\u{0308}mple.de", // decomposed ä
        ],
    );
    assert_refused(
        "combining marks with nothing to attach to",
        &[
            ("ann@\u{0301}example.com", Why::Label),
            ("ann@example.\u{094D}com", Why::Label),
        ],
    );
}

// ---------------------------------------------------------------------------
// Equality, hashing and ordering ignore case, for Unicode too.
// ---------------------------------------------------------------------------

#[test]
fn unicode_addresses_compare_and_hash_ignoring_case() {
    let pairs = [
        ("Dörte@Sörensen.example.com", "DÖRTE@SÖRENSEN.EXAMPLE.COM"),
        ("коля@пример.рф", "КОЛЯ@ПРИМЕР.РФ"),
        ("квіточка@пошта.укр", "КВІТОЧКА@ПОШТА.УКР"),
        ("θσερ@εχαμπλε.ψομ", "ΘΣΕΡ@ΕΧΑΜΠΛΕ.ΨΟΜ"),
        // Final sigma: ς and Σ fold to the same letter.
        ("ιωάννης@εεττ.gr", "ΙΩΆΝΝΗΣ@ΕΕΤΤ.GR"),
        ("ñoñó@example.tld", "ÑOÑÓ@EXAMPLE.TLD"),
        ("用户@例子.广告", "用户@例子.广告"),
    ];
    let state = RandomState::new();
    for (lower, upper) in pairs {
        let a = Email::parse(lower).unwrap();
        let b = Email::parse(upper).unwrap();
        assert_eq!(a, b, "{lower} vs {upper}");
        assert_eq!(a.cmp(&b), std::cmp::Ordering::Equal, "{lower} vs {upper}");
        assert_eq!(state.hash_one(&a), state.hash_one(&b), "{lower} vs {upper}");
        // The spelling the administrator typed is kept.
        assert_eq!(a.as_str(), lower);
        assert_eq!(b.as_str(), upper);

        let set: HashSet<Email> = [a, b].into_iter().collect();
        assert_eq!(set.len(), 1, "{lower} vs {upper}");
    }

    // Different addresses stay different.
    let distinct = [
        "коля@пример.рф",
        "коля@пример.укр",
        "kolya@пример.рф",
        "dörte@sörensen.example.com",
        "dorte@sorensen.example.com",
    ];
    let set: HashSet<Email> = distinct.iter().map(|s| Email::parse(s).unwrap()).collect();
    assert_eq!(set.len(), distinct.len());
}
