//! Drives the `admin` example end to end on temporary SQLite files,
//! including several processes bulk-inviting into the same file at once.
//!
//! `cargo test --all-features` builds the example before running tests.
#![cfg(feature = "sqlite")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn admin_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir
        .join("examples")
        .join(format!("admin{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo test --all-features` (it builds the examples), or `cargo build --example admin --features sqlite` first",
        bin.display()
    );
    bin
}

struct Db {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Db {
    fn new() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("org.sqlite");
        Db { _dir: dir, path }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(admin_binary())
            .arg("--db")
            .arg(&self.path)
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs with `--json`; returns the exit code and the one JSON document.
    fn json(&self, args: &[&str]) -> (i32, Value) {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.run(&all);
        let stdout = String::from_utf8(out.stdout).unwrap();
        let doc: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {stdout:?}"));
        (out.status.code().unwrap(), doc)
    }

    fn file(&self, name: &str, contents: &[u8]) -> String {
        let path = self.path.parent().unwrap().join(name);
        std::fs::write(&path, contents).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn initialized() -> Db {
        let db = Db::new();
        let (code, doc) = db.json(&["init", "Example Corp", "--admin", "ada@example.com"]);
        assert_eq!(code, 0, "{doc}");
        db
    }
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
        .to_str()
        .unwrap()
        .to_owned()
}

#[test]
fn invite_accept_list_and_remove() {
    let db = Db::initialized();
    let (code, doc) = db.json(&[
        "invite",
        "--as",
        "ada@example.com",
        "--group",
        "automation users",
        "bob@example.com",
        "Cy@Example.com",
    ]);
    assert_eq!(
        (code, doc),
        (0, json!({"invited": ["bob@example.com", "Cy@Example.com"]}))
    );
    let (code, _) = db.json(&["accept", "bob@example.com"]);
    assert_eq!(code, 0);

    let (code, users) = db.json(&["users"]);
    assert_eq!(code, 0);
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 3);
    assert_eq!(
        users[2],
        json!({"email": "Cy@Example.com", "status": "pending", "last_active": null, "groups": ["Automation Users"]})
    );
    assert_eq!(users[1]["status"], "active");
    let last_active = users[1]["last_active"].as_str().unwrap();
    assert!(
        last_active.parse::<org_accounts::Timestamp>().is_ok(),
        "not RFC 3339: {last_active}"
    );
    assert_eq!(users[0]["groups"], json!(["Administrators"]));

    let (code, groups) = db.json(&["groups"]);
    assert_eq!(code, 0);
    assert_eq!(
        groups[0],
        json!({"name": "Administrators", "kind": "default", "members": 1})
    );
    assert_eq!(
        groups[5],
        json!({"name": "Everyone", "kind": "default", "members": 3})
    );

    let (code, doc) = db.json(&[
        "group",
        "create",
        "--as",
        "ada@example.com",
        "Finance",
        "--member",
        "bob@example.com",
    ]);
    assert_eq!((code, doc), (0, json!({"group": "Finance", "members": 1})));
    let (_, groups) = db.json(&["groups"]);
    assert_eq!(
        groups[6],
        json!({"name": "Finance", "kind": "custom", "members": 1})
    );

    let (code, doc) = db.json(&["remove", "--as", "ada@example.com", "cy@example.com"]);
    assert_eq!((code, doc), (0, json!({"removed": ["cy@example.com"]})));
    let (_, users) = db.json(&["users"]);
    assert_eq!(users.as_array().unwrap().len(), 2);

    // Without --json the output is for people.
    let out = db.run(&["users"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("bob@example.com") && text.contains("Automation Users, Finance"),
        "{text}"
    );
}

#[test]
fn refusals_exit_1_with_a_code_and_usage_errors_exit_2() {
    let db = Db::initialized();
    db.json(&["invite", "--as", "ada@example.com", "bob@example.com"]);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["invite", "--as", "bob@example.com", "x@example.com"],
            "forbidden",
        ),
        (
            vec!["remove", "--as", "ada@example.com", "ada@example.com"],
            "cannot_remove_self",
        ),
        (
            vec![
                "invite",
                "--as",
                "ada@example.com",
                "--group",
                "Nope",
                "x@example.com",
            ],
            "unknown_groups",
        ),
        (
            vec!["invite", "--as", "ada@example.com", "John <j@x.com>"],
            "invalid_email",
        ),
        (
            vec!["init", "Again", "--admin", "ada@example.com"],
            "already_created",
        ),
        (vec!["accept", "stranger@example.com"], "not_invited"),
    ];
    for (args, code) in cases {
        let (exit, doc) = db.json(&args);
        assert_eq!(exit, 1, "{args:?}: {doc}");
        assert_eq!(doc["error"], code, "{args:?}: {doc}");
        assert!(doc["message"].as_str().unwrap().len() > 10);
    }
    let many: Vec<String> = (0..21).map(|i| format!("u{i}@example.com")).collect();
    let mut args = vec!["invite", "--as", "ada@example.com"];
    args.extend(many.iter().map(String::as_str));
    assert_eq!(db.json(&args).1["error"], "too_many_invitees");

    for args in [
        vec!["frobnicate"],
        vec!["invite", "bob@example.com"],
        vec!["users", "extra"],
        vec![],
    ] {
        let out = db.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8(out.stderr)
                .unwrap()
                .contains("usage: admin")
        );
    }
    let fresh = Db::new();
    assert_eq!(fresh.json(&["users"]).1["error"], "not_created");
}

#[test]
fn bulk_invite_reports_every_row_and_file_refusals() {
    let db = Db::initialized();
    db.json(&["group", "create", "--as", "ada@example.com", "Finance"]);
    let (code, report) = db.json(&[
        "bulk-invite",
        "--as",
        "ada@example.com",
        &fixture("mixed_outcomes.csv"),
        "--dry-run",
    ]);
    assert_eq!(code, 0);
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["rows"], 7);
    let (_, users) = db.json(&["users"]);
    assert_eq!(
        users.as_array().unwrap().len(),
        1,
        "a dry run stores nothing"
    );

    let failed_csv = db.file("failed.csv", b"");
    let (code, report) = db.json(&[
        "bulk-invite",
        "--as",
        "ada@example.com",
        &fixture("mixed_outcomes.csv"),
        "--failed-rows",
        &failed_csv,
    ]);
    assert_eq!(code, 0, "failed rows still exit 0");
    assert_eq!(report["dry_run"], false);
    assert_eq!(
        report["invited"],
        json!([
            {"row": 2, "email": "ann@example.com", "groups": ["Finance"]},
            {"row": 9, "email": "cy@example.com", "groups": ["Finance"]},
        ])
    );
    assert_eq!(
        report["skipped"],
        json!([{"row": 7, "email": "ada@example.com", "reason": "already_member"}])
    );
    let failed = report["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 4);
    assert_eq!(failed[0]["row"], 3);
    assert_eq!(failed[0]["reasons"], json!(["invalid_email"]));
    assert_eq!(failed[2]["reasons"], json!(["duplicate_in_file"]));
    assert!(
        failed[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid email format")
    );

    // The failed rows, uploaded again unchanged, are the same addresses.
    let (_, again) = db.json(&[
        "bulk-invite",
        "--as",
        "ada@example.com",
        &failed_csv,
        "--dry-run",
    ]);
    let emails = |v: &Value| -> Vec<String> {
        ["invited", "skipped", "failed"]
            .iter()
            .flat_map(|k| {
                v[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["email"].as_str().unwrap().to_owned())
            })
            .collect()
    };
    let mut first: Vec<String> = failed
        .iter()
        .map(|r| r["email"].as_str().unwrap().to_owned())
        .collect();
    let mut second = emails(&again);
    first.sort();
    second.sort();
    assert_eq!(first, second);

    let refusals = [
        ("windows1252.csv", "not_utf8"),
        ("utf16le.csv", "not_utf8"),
        ("missing_column.csv", "missing_column"),
        ("duplicate_column.csv", "duplicate_column"),
        ("rows_1001.csv", "too_many_rows"),
        ("empty.csv", "empty_file"),
        ("unclosed_quote.csv", "malformed_csv"),
    ];
    for (file, code) in refusals {
        let (exit, doc) = db.json(&["bulk-invite", "--as", "ada@example.com", &fixture(file)]);
        assert_eq!(
            (exit, doc["error"].as_str()),
            (1, Some(code)),
            "{file}: {doc}"
        );
    }
    let out = db.run(&[
        "bulk-invite",
        "--as",
        "ada@example.com",
        &fixture("mixed_outcomes.csv"),
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("7 rows: 0 invited, 3 skipped, 4 failed."),
        "{text}"
    );
    assert!(text.contains("Error Summary"), "{text}");
}

#[test]
fn processes_bulk_inviting_into_one_file_at_once_lose_and_duplicate_nothing() {
    let db = Db::initialized();
    // Four files of 150 rows; each overlaps the next by 50 addresses.
    let files: Vec<String> = (0..4)
        .map(|f| {
            let mut text = String::from("email,group membership\n");
            for i in (f * 100)..(f * 100 + 150) {
                text.push_str(&format!("user{i:04}@example.com,automation users\n"));
            }
            db.file(&format!("batch{f}.csv"), text.as_bytes())
        })
        .collect();
    let children: Vec<_> = files
        .iter()
        .map(|file| {
            Command::new(admin_binary())
                .arg("--db")
                .arg(&db.path)
                .args(["bulk-invite", "--as", "ada@example.com", file, "--json"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut invited = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(report["failed"].as_array().unwrap().is_empty(), "{report}");
        invited.extend(
            report["invited"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["email"].as_str().unwrap().to_owned()),
        );
    }
    let expected = 3 * 100 + 150;
    assert_eq!(
        invited.len(),
        expected,
        "every address invited by exactly one process"
    );
    invited.sort();
    invited.dedup();
    assert_eq!(invited.len(), expected, "an address was invited twice");
    let (_, users) = db.json(&["users"]);
    assert_eq!(users.as_array().unwrap().len(), expected + 1);
}

#[test]
fn services_roles_licenses_and_invitations_from_the_terminal() {
    let db = Db::initialized();
    let ok = |args: &[&str]| {
        let (code, doc) = db.json(args);
        assert_eq!(code, 0, "{args:?}: {doc}");
        doc
    };
    ok(&["group", "create", "--as", "ada@example.com", "Robots"]);
    ok(&[
        "invite",
        "--as",
        "ada@example.com",
        "--group",
        "Robots",
        "bob@example.com",
        "cy@example.com",
    ]);
    ok(&[
        "service",
        "add",
        "--as",
        "ada@example.com",
        "Orchestrator",
        "--role",
        "Admin",
        "--role",
        "Developer",
        "--role",
        "Viewer",
        "--admin-role",
        "Admin",
        "--default",
        "Automation Developers=Developer",
    ]);
    ok(&[
        "role",
        "assign",
        "--as",
        "ada@example.com",
        "Orchestrator",
        "Viewer",
        "--group",
        "Robots",
    ]);
    assert_eq!(
        ok(&["roles", "Orchestrator", "bob@example.com"]),
        json!([{"role": "Viewer", "via": "Robots"}])
    );
    assert_eq!(
        ok(&["roles", "Orchestrator", "ada@example.com"]),
        json!([{"role": "Admin", "via": "Administrators"}])
    );
    let (code, doc) = db.json(&[
        "role",
        "revoke",
        "--as",
        "ada@example.com",
        "Orchestrator",
        "Admin",
        "--group",
        "Administrators",
    ]);
    assert_eq!(
        (code, doc["error"].as_str()),
        (1, Some("default_role_protected"))
    );

    ok(&["license", "pool", "--as", "ada@example.com", "studio", "1"]);
    let (code, doc) = db.json(&[
        "license",
        "rule",
        "--as",
        "ada@example.com",
        "Robots",
        "studio",
    ]);
    assert_eq!(
        (code, doc["error"].as_str()),
        (1, Some("no_seats_left")),
        "{doc}"
    );
    ok(&["license", "pool", "--as", "ada@example.com", "studio", "2"]);
    ok(&[
        "license",
        "rule",
        "--as",
        "ada@example.com",
        "Robots",
        "studio",
    ]);
    let licenses = ok(&["licenses"]);
    assert_eq!(licenses[0]["used"], 2);
    assert_eq!(licenses[0]["free"], 0);

    ok(&["expiry", "--as", "ada@example.com", "48"]);
    ok(&["resend", "--as", "ada@example.com", "bob@example.com"]);
    ok(&["revoke", "--as", "ada@example.com", "cy@example.com"]);
    let licenses = ok(&["licenses"]);
    assert_eq!(licenses[0]["used"], 1, "revoking freed the seat");
    let users = ok(&["users"]);
    assert_eq!(users.as_array().unwrap().len(), 2);

    // Mail settings pointing at a closed port: the invitation stands, the
    // email stays queued.
    ok(&[
        "mail",
        "set",
        "--as",
        "ada@example.com",
        "--host",
        "127.0.0.1",
        "--port",
        "9",
        "--no-tls",
        "--sender",
        "noreply@example.com",
        "--sender-name",
        "Acme",
        "--timeout",
        "2",
    ]);
    ok(&["invite", "--as", "ada@example.com", "dee@example.com"]);
    let delivered = ok(&["deliver"]);
    assert_eq!(delivered["queued"], 1);
    ok(&["mail", "clear", "--as", "ada@example.com"]);
    assert_eq!(ok(&["deliver"])["queued"], 0);
}
