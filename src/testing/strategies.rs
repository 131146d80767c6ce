//! [`proptest`](mod@proptest) strategies over the crate's inputs (feature `proptest`):
//! email addresses (valid, two spellings of one, hostile), group names,
//! commands drawn from an organization's state, histories of accepted
//! commands, and CSV upload files (plain, Excel-shaped, hostile).
//!
//! Each has an example property below. They run with a
//! [`TestRunner`](proptest::test_runner::TestRunner) so that they are
//! doctests; in a test file write them in a `proptest!` block:
//!
//! ```
//! use org_accounts::Email;
//! use org_accounts::testing::strategies::email_spellings;
//! use proptest::prelude::*;
//!
//! proptest! {
//!     // `#[test]` here in a test file.
//!     fn spellings_are_one_address((a, b) in email_spellings()) {
//!         prop_assert_eq!(Email::parse(&a).unwrap(), Email::parse(&b).unwrap());
//!     }
//! }
//! # spellings_are_one_address();
//! ```

// The strategies build only inputs the generators can vouch for; where a
// generated value does not parse it is filtered out, never unwrapped.

use proptest::collection::vec;
use proptest::prelude::*;

use crate::{
    Command, Context, DefaultGroup, Email, Event, GroupName, LicenseKind, MemberQuery,
    Organization, StatusFilter, UserId,
};

/// ASCII addresses that [`Email::parse`] accepts, and internationalized
/// ones (accented local parts, IDN domains in Unicode and in their
/// `xn--` form, other scripts), in random case.
///
/// ```
/// use org_accounts::Email;
/// use org_accounts::testing::strategies::valid_email;
/// use proptest::test_runner::{Config, TestRunner};
///
/// TestRunner::new(Config::with_cases(64))
///     .run(&valid_email(), |s| {
///         let email = Email::parse(&s).expect("valid");
///         // The spelling typed is kept for display.
///         proptest::prop_assert_eq!(email.as_str(), s.as_str());
///         Ok(())
///     })
///     .unwrap();
/// ```
pub fn valid_email() -> impl Strategy<Value = String> {
    let ascii = (
        "[a-z0-9]{1,10}(\\.[a-z0-9_+-]{1,6})?",
        "[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,4})?",
        "(\\.[a-z][a-z0-9]{1,5})?",
        "[a-z]{2,6}",
    )
        .prop_map(|(local, label, sub, tld)| format!("{local}@{label}{sub}.{tld}"));
    let unicode = prop_oneof![
        Just("josé@exämple.de".to_owned()),
        Just("jose\u{301}@example.de".to_owned()),
        Just("bücher@bücher.de".to_owned()),
        Just("info@xn--bcher-kva.de".to_owned()),
        Just("straße@faß.de".to_owned()),
        Just("δοκιμή@παράδειγμα.δοκιμή".to_owned()),
        Just("用户@例子.广告".to_owned()),
        Just("θσερ@εχαμπλε.ψομ".to_owned()),
    ];
    prop_oneof![3 => ascii, 1 => unicode]
        .prop_flat_map(|s| {
            let n = s.chars().count();
            (Just(s), vec(any::<bool>(), n))
        })
        .prop_map(|(s, upper)| {
            s.chars()
                .zip(upper)
                .map(|(c, up)| {
                    if up && c.is_ascii() {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect()
        })
}

/// Two spellings of one address, which parse to equal [`Email`]s: case,
/// surrounding whitespace, NFC and NFD (`josé` composed or `e` + combining
/// acute), and an IDN domain in Unicode or in its ASCII form (`bücher.de`
/// = `xn--bcher-kva.de`).
///
/// ```
/// use org_accounts::Email;
/// use org_accounts::testing::strategies::email_spellings;
/// use proptest::test_runner::{Config, TestRunner};
///
/// TestRunner::new(Config::with_cases(64))
///     .run(&email_spellings(), |(a, b)| {
///         proptest::prop_assert_eq!(Email::parse(&a).unwrap(), Email::parse(&b).unwrap());
///         Ok(())
///     })
///     .unwrap();
/// ```
pub fn email_spellings() -> impl Strategy<Value = (String, String)> {
    let local = prop_oneof![
        "[a-z][a-z0-9]{0,8}".prop_map(|l| (l.clone(), l.to_ascii_uppercase())),
        Just(("josé".to_owned(), "jose\u{301}".to_owned())),
        Just(("José".to_owned(), "jose\u{301}".to_owned())),
        Just(("ÄRGER".to_owned(), "a\u{308}rger".to_owned())),
    ];
    let domain = prop_oneof![
        Just(("example.com", "EXAMPLE.COM")),
        Just(("bücher.de", "xn--bcher-kva.de")),
        Just(("BÜCHER.de", "xn--bcher-kva.DE")),
        Just(("exämple.org", "xn--exmple-cua.org")),
    ];
    (local, domain, any::<bool>(), any::<bool>()).prop_map(|((l1, l2), (d1, d2), swap, pad)| {
        let a = format!("{l1}@{d1}");
        let b = if pad {
            format!("  {l2}@{d2}\t")
        } else {
            format!("{l2}@{d2}")
        };
        if swap { (b, a) } else { (a, b) }
    })
}

/// Addresses [`Email::parse`] refuses: a valid address with a display
/// name, a comment, a quoted local part, a zero-width space, a byte-order
/// mark, a control character, a full-width `@` or curly quotes; a domain
/// literal or bare IP address; a domain without a dot or whose last label
/// ends in a digit; a local part over 64 bytes or an address over 254;
/// nothing, or no `@`.
///
/// ```
/// use org_accounts::Email;
/// use org_accounts::testing::strategies::hostile_email;
/// use proptest::test_runner::{Config, TestRunner};
///
/// TestRunner::new(Config::with_cases(128))
///     .run(&hostile_email(), |s| {
///         proptest::prop_assert!(Email::parse(&s).is_err(), "{:?} was accepted", s);
///         Ok(())
///     })
///     .unwrap();
/// ```
pub fn hostile_email() -> impl Strategy<Value = String> {
    let base = ("[a-z]{1,8}", "[a-z]{1,8}", "[a-z]{2,4}");
    (base, 0..17u8, 1..40usize).prop_map(|((local, domain, tld), how, n)| {
        let ok = format!("{local}@{domain}.{tld}");
        match how {
            0 => format!("John Doe <{ok}>"),
            1 => format!("{local}(comment)@{domain}.{tld}"),
            2 => format!("\"{local} x\"@{domain}.{tld}"),
            3 => format!("{local}\u{200B}@{domain}.{tld}"),
            4 => format!("\u{FEFF}{ok}"),
            5 => format!("{local}\u{7}@{domain}.{tld}"),
            6 => format!("{local}\u{FF20}{domain}.{tld}"),
            7 => format!("\u{201C}{local}\u{201D}@{domain}.{tld}"),
            8 => format!("{local}@[192.168.{n}.1]"),
            9 => format!("{local}@10.0.{n}.1"),
            10 => format!("{local}@{domain}"),
            11 => format!("{local}@{domain}.{tld}{}", n % 10),
            12 => format!("{}@{domain}.{tld}", "a".repeat(64 + n)),
            13 => format!("{local}@{}.{tld}", vec!["abcdefghij"; 23 + n].join(".")),
            14 => String::new(),
            15 => format!("{local}.{domain}.{tld}"),
            _ => format!("{ok}\u{0}"),
        }
    })
}

/// Group names [`GroupName::parse`] accepts: letters, digits, spaces,
/// dashes and underscores, and the default groups' names in random case.
///
/// ```
/// use org_accounts::testing::strategies::group_name;
/// use org_accounts::GroupName;
/// use proptest::test_runner::{Config, TestRunner};
///
/// TestRunner::new(Config::with_cases(64))
///     .run(&group_name(), |name| {
///         // Names compare ignoring case.
///         let upper = GroupName::parse(&name.as_str().to_uppercase()).unwrap();
///         proptest::prop_assert_eq!(upper, name);
///         Ok(())
///     })
///     .unwrap();
/// ```
pub fn group_name() -> impl Strategy<Value = GroupName> {
    let custom = "[A-Za-z][A-Za-z0-9 _-]{0,20}[A-Za-z0-9]";
    let default = (0..DefaultGroup::ALL.len(), any::<bool>()).prop_map(|(i, upper)| {
        let name = DefaultGroup::ALL.get(i).map_or("Everyone", |d| d.name());
        if upper {
            name.to_uppercase()
        } else {
            name.to_lowercase()
        }
    });
    prop_oneof![3 => custom.prop_map(String::from), 1 => default]
        .prop_filter_map("not a group name", |s| GroupName::parse(&s).ok())
}

/// Raw choices a command is drawn from (kept small so it shrinks well).
type Choice = (u8, u16, u16, u16);

/// An actor and a command drawn from `org`'s state: an active
/// administrator inviting new addresses into existing groups, removing a
/// member, creating, renaming, deleting or editing a custom group, setting
/// a license pool or allocating a license; a pending member accepting.
/// Before the organization exists, its creation. Most are accepted; some
/// are refused for reasons only the state knows (seats run out, a name is
/// taken).
///
/// ```
/// use org_accounts::testing::strategies::command_for;
/// use org_accounts::testing::{Scenario, check_invariants};
/// use org_accounts::{Context, Timestamp};
/// use proptest::test_runner::{Config, TestRunner};
///
/// let org = Scenario::given_org().invited(&["bob@example.com"], &["Administrators"]).org;
/// TestRunner::new(Config::with_cases(64))
///     .run(&command_for(&org), |(actor, command)| {
///         let mut after = org.clone();
///         let ctx = Context::new(actor, "2027-01-01T00:00:00Z".parse::<Timestamp>().unwrap());
///         if after.execute(&command, &ctx).is_ok() {
///             proptest::prop_assert_eq!(check_invariants(&after), []);
///         }
///         Ok(())
///     })
///     .unwrap();
/// ```
pub fn command_for(org: &Organization) -> impl Strategy<Value = (Email, Command)> + use<> {
    let org = org.clone();
    any::<Choice>().prop_filter_map("nothing to draw from", move |c| pick(&org, c))
}

/// A history of accepted commands, from the organization's creation:
/// up to `max_steps` more commands drawn with [`command_for`] from the
/// state each reached, a minute apart; refused ones are left out.
#[derive(Debug, Clone)]
pub struct History {
    /// Each accepted command with the context it ran in.
    pub steps: Vec<(Context, Command)>,
    /// The events they produced, in order.
    pub events: Vec<Event>,
    /// The organization the events build.
    pub org: Organization,
}

/// Histories of up to `max_steps` commands after the creation (see
/// [`History`]). Shrinking drops and simplifies steps.
///
/// ```
/// use org_accounts::Organization;
/// use org_accounts::testing::strategies::history;
/// use org_accounts::testing::{check_invariants, check_replay};
/// use proptest::test_runner::{Config, TestRunner};
///
/// TestRunner::new(Config::with_cases(16))
///     .run(&history(20), |h| {
///         proptest::prop_assert_eq!(check_replay(&h.events), []);
///         proptest::prop_assert_eq!(check_invariants(&h.org), []);
///         proptest::prop_assert_eq!(Organization::replay(&h.events), h.org);
///         Ok(())
///     })
///     .unwrap();
/// ```
pub fn history(max_steps: usize) -> impl Strategy<Value = History> {
    vec(any::<Choice>(), 0..=max_steps).prop_map(|choices| {
        let mut org = Organization::new();
        let mut steps = Vec::new();
        let mut events = Vec::new();
        let start = super::start();
        let mut minute = 0i64;
        for c in std::iter::once((0, 0, 0, 0)).chain(choices) {
            let Some((actor, command)) = pick(&org, c) else {
                continue;
            };
            minute += 1;
            let ctx = Context::new(actor, start + jiff::SignedDuration::from_mins(minute));
            if let Ok(new) = org.execute(&command, &ctx) {
                events.extend(new);
                steps.push((ctx, command));
            }
        }
        History { steps, events, org }
    })
}

/// Every member, in address order.
fn members(org: &Organization, status: Option<StatusFilter>) -> Vec<(UserId, Email)> {
    let mut query = MemberQuery::new().limit(usize::MAX);
    if let Some(s) = status {
        query = query.status(s);
    }
    super::invariants::pages(org, &query)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|id| org.member_by_id(id).map(|m| (id, m.email().clone())))
        .collect()
}

fn nth<T: Clone>(list: &[T], n: u16) -> Option<T> {
    if list.is_empty() {
        return None;
    }
    list.get(usize::from(n) % list.len()).cloned()
}

/// A fresh address for step `version` (never a member yet).
fn newcomer(org: &Organization, i: u16) -> Option<Email> {
    Email::parse(&format!("p{}-{i}@example.com", org.version())).ok()
}

fn pick(org: &Organization, (what, a, b, n): Choice) -> Option<(Email, Command)> {
    if !org.exists() {
        let creator = Email::parse(super::ADMIN).ok()?;
        return Some((
            creator,
            Command::CreateOrganization {
                name: "Example".into(),
            },
        ));
    }
    let all = members(org, None);
    let admins: Vec<Email> = all
        .iter()
        .filter(|(id, _)| org.is_active_administrator(*id))
        .map(|(_, e)| e.clone())
        .collect();
    let actor = nth(&admins, a)?;
    let custom: Vec<GroupName> = org
        .groups()
        .filter(|g| DefaultGroup::from_id(g.id()).is_none())
        .map(|g| g.name().clone())
        .collect();
    let any_group: Vec<GroupName> = org
        .groups()
        .filter(|g| !g.is_everyone())
        .map(|g| g.name().clone())
        .collect();
    let others: Vec<Email> = all
        .iter()
        .map(|(_, e)| e.clone())
        .filter(|e| *e != actor)
        .collect();
    let kind = LicenseKind::parse("Pro").ok()?;
    let command = match what % 12 {
        0..=2 => Command::InviteUsers {
            emails: (0..1 + n % 3).filter_map(|i| newcomer(org, i)).collect(),
            groups: nth(&any_group, b)
                .into_iter()
                .take(usize::from(n % 2))
                .collect(),
        },
        3 => {
            let pending: Vec<Email> = members(org, Some(StatusFilter::Pending))
                .into_iter()
                .map(|(_, e)| e)
                .collect();
            return Some((nth(&pending, b)?, Command::AcceptInvitation));
        }
        4 => Command::RemoveUsers {
            emails: vec![nth(&others, b)?],
        },
        5 => Command::CreateGroup {
            name: GroupName::parse(&format!("Team {}", org.version())).ok()?,
            members: nth(&others, b).into_iter().collect(),
        },
        6 => Command::AddGroupMembers {
            group: nth(&any_group, b)?,
            members: vec![nth(&others, n)?],
        },
        7 => {
            let group = nth(&any_group, b)?;
            let member = org
                .group(&group)
                .and_then(|g| nth(&g.members().collect::<Vec<_>>(), n))
                .and_then(|id| org.member_by_id(id))
                .map(|m| m.email().clone())?;
            Command::RemoveGroupMembers {
                group,
                members: vec![member],
            }
        }
        8 => Command::RenameGroup {
            group: nth(&custom, b)?,
            new_name: GroupName::parse(&format!("Renamed {}", org.version())).ok()?,
        },
        9 => Command::DeleteGroup {
            group: nth(&custom, b)?,
        },
        10 => Command::SetLicensePool {
            kind,
            seats: u32::from(n % 4),
        },
        _ => Command::AllocateLicense {
            user: nth(&others, b)?,
            kind,
        },
    };
    Some((actor, command))
}

/// An invite upload: the file's bytes and the address of each data row,
/// in order.
#[derive(Debug, Clone)]
pub struct CsvUpload {
    /// The file as uploaded.
    pub bytes: Vec<u8>,
    /// Each data row's email cell as written (before trimming).
    pub emails: Vec<String>,
}

fn rows() -> impl Strategy<Value = Vec<(String, String)>> {
    let groups = prop_oneof![
        Just(String::new()),
        Just("Finance".to_owned()),
        Just("automation developers, administrators".to_owned()),
        "[A-Za-z]{1,10}",
    ];
    vec((valid_email(), groups), 1..30)
}

/// A plain upload: `email,group membership` header, comma-separated, LF
/// line ends, group cells quoted when they hold a comma.
///
/// ```
/// use org_accounts::{CsvOptions, read_invite_csv};
/// use org_accounts::testing::strategies::csv_file;
/// use proptest::test_runner::{Config, TestRunner};
///
/// TestRunner::new(Config::with_cases(32))
///     .run(&csv_file(), |upload| {
///         let file = read_invite_csv(&upload.bytes, &CsvOptions::default()).unwrap();
///         let read: Vec<&str> = file.rows().map(|r| r.email).collect();
///         proptest::prop_assert_eq!(read, upload.emails.iter().map(|e| e.trim()).collect::<Vec<_>>());
///         Ok(())
///     })
///     .unwrap();
/// ```
pub fn csv_file() -> impl Strategy<Value = CsvUpload> {
    rows().prop_map(|rows| {
        let mut text = String::from("email,group membership\n");
        for (email, groups) in &rows {
            text.push_str(&format!("{email},{}\n", quoted(groups)));
        }
        CsvUpload {
            bytes: text.into_bytes(),
            emails: rows.into_iter().map(|(e, _)| e).collect(),
        }
    })
}

fn quoted(cell: &str) -> String {
    format!("\"{}\"", cell.replace('"', "\"\""))
}

/// An upload as Excel writes it: a UTF-8 byte-order mark, CRLF line
/// ends, a `sep=;` first line or not, `;`, `,` or tab between cells,
/// columns in either order with an extra column, header in odd case,
/// blank lines.
///
/// ```
/// use org_accounts::{CsvOptions, read_invite_csv};
/// use org_accounts::testing::strategies::excel_csv_file;
/// use proptest::test_runner::{Config, TestRunner};
///
/// TestRunner::new(Config::with_cases(32))
///     .run(&excel_csv_file(), |upload| {
///         let file = read_invite_csv(&upload.bytes, &CsvOptions::default()).unwrap();
///         proptest::prop_assert_eq!(file.len(), upload.emails.len());
///         Ok(())
///     })
///     .unwrap();
/// ```
pub fn excel_csv_file() -> impl Strategy<Value = CsvUpload> {
    (
        rows(),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(';'), Just(','), Just('\t')],
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(rows, bom, sep_line, delimiter, groups_first, blank)| {
            let mut text = String::new();
            if bom {
                text.push('\u{FEFF}');
            }
            if sep_line {
                text.push_str(&format!("sep={delimiter}\r\n"));
            }
            let d = delimiter;
            if groups_first {
                text.push_str(&format!("Group Membership{d}Notes{d}EMAIL\r\n"));
            } else {
                text.push_str(&format!("Email{d}GROUP MEMBERSHIP{d}Notes\r\n"));
            }
            for (i, (email, groups)) in rows.iter().enumerate() {
                let groups = quoted(groups);
                if groups_first {
                    text.push_str(&format!("{groups}{d}note {i}{d}{email}\r\n"));
                } else {
                    text.push_str(&format!("{email}{d}{groups}{d}note {i}\r\n"));
                }
                if blank && i % 5 == 0 {
                    text.push_str("\r\n");
                }
            }
            CsvUpload {
                bytes: text.into_bytes(),
                emails: rows.into_iter().map(|(e, _)| e).collect(),
            }
        })
}

/// Files no reader should trust: random bytes, invalid UTF-8, UTF-16 with
/// its byte-order mark, NUL bytes, an unclosed quote, a header only, a
/// missing column, very long cells, formula cells, and valid files cut
/// anywhere.
///
/// ```
/// use org_accounts::{CsvOptions, read_invite_csv};
/// use org_accounts::testing::strategies::hostile_csv_file;
/// use proptest::test_runner::{Config, TestRunner};
///
/// TestRunner::new(Config::with_cases(64))
///     .run(&hostile_csv_file(), |bytes| {
///         // Never a panic: a file or a clear error.
///         let _ = read_invite_csv(&bytes, &CsvOptions::default().with_max_file_bytes(64 * 1024));
///         Ok(())
///     })
///     .unwrap();
/// ```
pub fn hostile_csv_file() -> impl Strategy<Value = Vec<u8>> {
    let cut = (csv_file(), any::<prop::sample::Index>()).prop_map(|(upload, at)| {
        let end = at.index(upload.bytes.len() + 1);
        upload
            .bytes
            .get(..end)
            .map(<[u8]>::to_vec)
            .unwrap_or_default()
    });
    prop_oneof![
        vec(any::<u8>(), 0..300),
        Just(with_header(b"bob@example.com,\xff\xfe\n")),
        Just(
            [0xFF, 0xFE]
                .into_iter()
                .chain("email,group membership\n".bytes().flat_map(|b| [b, 0]))
                .collect()
        ),
        Just(with_header(b"bob@example.com\0,Finance\n")),
        Just(with_header(b"\"bob@example.com,Finance\n")),
        Just(b"email,group membership\n".to_vec()),
        Just(b"name,groups\nbob@example.com,Finance\n".to_vec()),
        (1..5000usize).prop_map(|n| with_header(format!("{},x\n", "a".repeat(n)).as_bytes())),
        Just(with_header(b"=HYPERLINK(\"http://x\"),@SUM(A1)\n")),
        cut,
    ]
}

fn with_header(tail: &[u8]) -> Vec<u8> {
    let mut bytes = b"email,group membership\n".to_vec();
    bytes.extend_from_slice(tail);
    bytes
}
