//! The architecture's first rule, checked on every test run: nothing under
//! `src/core/` uses the ports, the adapters, the service, the file helper,
//! the test support, a clock, randomness, I/O or an async runtime. The core
//! is pure so that the same events always rebuild the same state, and so
//! that deciding never blocks.
// Tests assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Text that must not appear in core code, and why.
const FORBIDDEN: &[(&str, &str)] = &[
    ("crate::ports", "the ports are outside the core"),
    ("crate::adapters", "the adapters are outside the core"),
    ("crate::service", "the service is outside the core"),
    ("crate::files", "file I/O is outside the core"),
    ("crate::testing", "test support is outside the core"),
    ("std::fs", "I/O"),
    ("std::net", "I/O"),
    ("std::io", "I/O"),
    ("std::env", "the environment"),
    ("std::process", "the process"),
    ("std::thread", "threads"),
    ("SystemTime", "a clock"),
    ("Instant", "a clock"),
    ("Timestamp::now", "a clock (time comes in the Context)"),
    ("Zoned::now", "a clock"),
    ("tokio", "an async runtime"),
    ("rand::", "randomness"),
    ("async fn", "async code"),
    (".await", "async code"),
    ("sqlx", "a database driver"),
    ("rusqlite", "a database driver"),
    ("lettre", "a mail driver"),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments (doc examples may show the service).
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(at) => &l[..at],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Names `lib.rs` re-exports from the outer rings: reaching them through
/// `crate::Name` would be the same dependency by another path.
fn outer_names(lib: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for stmt in lib.split(';') {
        let stmt = stmt.trim();
        let outer = ["ports", "adapters", "files", "service"]
            .iter()
            .any(|m| stmt.contains(&format!("pub use crate::{m}")));
        if !outer {
            continue;
        }
        let list = stmt.rsplit("::").next().unwrap();
        for name in list.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if name.chars().next().is_some_and(char::is_uppercase) {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

/// Every identifier in `use crate::...;` statements and `crate::Name`
/// paths.
fn crate_names(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        let end = rest.find(';').unwrap_or(rest.len());
        let path = &rest[..end];
        // Only the first segment after `crate::` names a root item, or a
        // braced list of them.
        let list = if path.starts_with('{') {
            &path[..path.find('}').map_or(path.len(), |e| e + 1)]
        } else {
            path.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap_or("")
        };
        for name in list.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if !name.is_empty() {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

#[test]
fn the_core_uses_nothing_from_the_outer_rings_and_no_io_clock_or_randomness() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let outer = outer_names(&code(&lib));
    assert!(
        outer.contains("AccountService") && outer.contains("EventStore"),
        "the check must know the outer names: {outer:?}"
    );
    let mut files = Vec::new();
    rust_files(&root.join("src/core"), &mut files);
    assert!(files.len() > 10, "src/core/ holds the core");
    let mut broken = Vec::new();
    for file in &files {
        let code = code(&std::fs::read_to_string(file).unwrap());
        let shown = file.strip_prefix(root).unwrap().display().to_string();
        for (pattern, why) in FORBIDDEN {
            if code.contains(pattern) {
                broken.push(format!("{shown}: uses {pattern} ({why})"));
            }
        }
        for name in crate_names(&code).intersection(&outer) {
            broken.push(format!(
                "{shown}: uses crate::{name}, which lives outside the core"
            ));
        }
    }
    assert!(
        broken.is_empty(),
        "the core must stay pure:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_check_catches_what_it_guards_against() {
    let lib = "pub use crate::ports::{EventStore, Mailer};\npub use crate::service::AccountService;\npub use crate::core::email::Email;";
    let outer = outer_names(lib);
    assert_eq!(
        outer,
        ["AccountService", "EventStore", "Mailer"]
            .map(String::from)
            .into()
    );
    let code = "use crate::{Email, Mailer};\nfn f() { crate::AccountService::new(); }";
    let used: BTreeSet<String> = crate_names(code).intersection(&outer).cloned().collect();
    assert_eq!(used, ["AccountService", "Mailer"].map(String::from).into());
}
