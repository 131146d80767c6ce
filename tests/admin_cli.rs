//! Drives the `admin` example end to end on temporary SQLite files,
//! including several processes bulk-inviting into the same file at once.
//!
//! `cargo test --all-features` builds the example before running tests.
#![cfg(feature = "sqlite")]
// Tests and benches assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

fn admin_binary() -> PathBuf {
    common::example_binary("admin")
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
            // The test is the host: it allows mail hosts on loopback (its
            // own listeners, or a closed port).
            .env("ORG_ACCOUNTS_ALLOW_MAIL_HOSTS", "127.0.0.1")
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
                .contains("Usage: admin")
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
            {"line": 2, "email": "ann@example.com", "groups": ["Finance"]},
            {"line": 9, "email": "cy@example.com", "groups": ["Finance"]},
        ])
    );
    assert_eq!(
        report["skipped"],
        json!([{"line": 7, "email": "ada@example.com", "reason": "already_member"}])
    );
    let failed = report["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 4);
    assert_eq!(failed[0]["line"], 3);
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
    // A rule never needs seats: Robots' members lease at sign-in.
    ok(&[
        "license",
        "rule",
        "--as",
        "ada@example.com",
        "Robots",
        "studio",
    ]);
    let licenses = ok(&["licenses"]);
    assert_eq!(licenses[0]["used"], 0);
    assert_eq!(
        licenses[0]["waiting"],
        json!([
            {"email": "bob@example.com", "via": "Robots", "for": "next_sign_in"},
            {"email": "cy@example.com", "via": "Robots", "for": "next_sign_in"},
        ])
    );
    ok(&[
        "license",
        "allocate",
        "--as",
        "ada@example.com",
        "studio",
        "cy@example.com",
    ]);
    let (code, doc) = db.json(&[
        "license",
        "allocate",
        "--as",
        "ada@example.com",
        "studio",
        "bob@example.com",
    ]);
    assert_eq!(
        (code, doc["error"].as_str()),
        (1, Some("no_seats_left")),
        "{doc}"
    );
    let licenses = ok(&["licenses"]);
    assert_eq!(licenses[0]["used"], 1);
    assert_eq!(licenses[0]["free"], 0);
    let users = ok(&["users"]);
    let cy = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "cy@example.com")
        .unwrap();
    assert_eq!(cy["licenses"], json!([{"kind": "studio", "via": "direct"}]));
    assert_eq!(cy["user_level_allocation"], true);

    ok(&["expiry", "--as", "ada@example.com", "48"]);
    ok(&["resend", "--as", "ada@example.com", "bob@example.com"]);
    ok(&["revoke", "--as", "ada@example.com", "cy@example.com"]);
    let licenses = ok(&["licenses"]);
    assert_eq!(licenses[0]["used"], 0, "revoking freed the seat");
    let users = ok(&["users"]);
    assert_eq!(users.as_array().unwrap().len(), 2);

    // A mail domain that is not a name is refused, naming the rule.
    let (code, doc) = db.json(&[
        "mail",
        "set",
        "--as",
        "ada@example.com",
        "--host",
        "smtp.example.com",
        "--port",
        "587",
        "--domain",
        "acme.example MAIL",
        "--sender",
        "noreply@example.com",
        "--sender-name",
        "Acme",
    ]);
    assert_eq!(
        (code, doc["error"].as_str()),
        (1, Some("invalid_mail_settings"))
    );
    assert!(
        doc["message"]
            .as_str()
            .unwrap()
            .contains("the domain must be a name"),
        "{doc}"
    );

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
        "--domain",
        "mail.acme.example",
        "--timeout",
        "2",
    ]);
    ok(&["invite", "--as", "ada@example.com", "dee@example.com"]);
    let delivered = ok(&["deliver"]);
    assert_eq!(delivered["queued"], 1);
    ok(&["mail", "clear", "--as", "ada@example.com"]);
    assert_eq!(ok(&["deliver"])["queued"], 0);
}

// ---------------------------------------------------------------------------
// Issue 8: never lose data, never panic.

const ADMIN: &str = "ada@example.com";

fn code_of(out: &Output) -> i32 {
    out.status.code().unwrap()
}

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn no_panic(out: &Output) {
    let stderr = stderr_of(out);
    assert!(
        !stderr.contains("panicked at"),
        "the example panicked: {stderr}"
    );
}

fn user_count(db: &Db) -> usize {
    let (code, users) = db.json(&["users"]);
    assert_eq!(code, 0, "{users}");
    users.as_array().unwrap().len()
}

#[test]
fn failed_rows_out_never_destroys_a_file() {
    let db = Db::initialized();
    let dir = db.path.parent().unwrap().to_owned();
    let upload: &[u8] = b"email,group membership\nbob@example.com,\nnot-an-address,\n";
    let input = db.file("upload.csv", upload);
    let db_path = db.path.to_str().unwrap().to_owned();
    let db_bytes = std::fs::read(&db.path).unwrap();

    // OUT is the upload, spelled the same or differently, or a hard link
    // to it: a usage error, the upload unchanged.
    let link = dir.join("link.csv");
    std::fs::hard_link(&input, &link).unwrap();
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    for out in [
        input.clone(),
        "upload.csv".to_owned(),
        "./upload.csv".to_owned(),
        "sub/../upload.csv".to_owned(),
        link.to_str().unwrap().to_owned(),
    ] {
        let run = Command::new(admin_binary())
            .current_dir(&dir)
            .args(["--db", &db_path, "bulk-invite", "--as", ADMIN, "upload.csv"])
            .args(["--failed-rows", &out, "--json"])
            .output()
            .unwrap();
        no_panic(&run);
        assert_eq!(code_of(&run), 2, "{out}: {}", stderr_of(&run));
        assert_eq!(
            std::fs::read(&input).unwrap(),
            upload,
            "{out} wiped the upload"
        );
    }

    // OUT is the database or its journal: a usage error, the database fine.
    for out in [
        db_path.clone(),
        format!("{db_path}-wal"),
        format!("{}/./org.sqlite", dir.display()),
    ] {
        let run = db.run(&["bulk-invite", "--as", ADMIN, &input, "--failed-rows", &out]);
        no_panic(&run);
        assert_eq!(code_of(&run), 2, "{out}: {}", stderr_of(&run));
        assert_eq!(
            std::fs::read(&db.path).unwrap(),
            db_bytes,
            "{out} touched the database"
        );
    }
    assert_eq!(
        user_count(&db),
        1,
        "nobody was invited by a refused command"
    );

    // An existing OUT stays untouched whenever the command is refused.
    let keep: &[u8] = b"precious data\n";
    let out = db.file("keep.csv", keep);
    let bad = db.file("bad.csv", b"name,phone\nx,y\n");
    for (args, code) in [
        (vec!["bulk-invite", "--as", ADMIN, bad.as_str()], 1),
        (
            vec!["bulk-invite", "--as", "mallory@example.com", input.as_str()],
            1,
        ),
        (vec!["bulk-invite", "--as", ADMIN, "missing.csv"], 1),
        (vec!["bulk-invite", "--as", ADMIN], 2),
    ] {
        let mut args = args;
        args.extend(["--failed-rows", out.as_str()]);
        let run = db.run(&args);
        no_panic(&run);
        assert_eq!(code_of(&run), code, "{args:?}: {}", stderr_of(&run));
        assert_eq!(std::fs::read(&out).unwrap(), keep, "{args:?} touched OUT");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left behind: {leftovers:?}"
    );

    // A folder that does not exist: refused before anyone is invited.
    let nowhere = dir.join("no-such-folder/out.csv");
    let (code, doc) = db.json(&[
        "bulk-invite",
        "--as",
        ADMIN,
        &input,
        "--failed-rows",
        nowhere.to_str().unwrap(),
    ]);
    assert_eq!(
        (code, doc["error"].as_str()),
        (1, Some("cannot_write_file")),
        "{doc}"
    );
    assert_eq!(user_count(&db), 1);

    // A dry run may write OUT (it writes nothing else): the failed rows
    // replace the old contents, nobody is invited.
    let (code, doc) = db.json(&[
        "bulk-invite",
        "--as",
        ADMIN,
        &input,
        "--dry-run",
        "--failed-rows",
        &out,
    ]);
    assert_eq!(code, 0, "{doc}");
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.contains("not-an-address"), "{written}");
    assert!(!written.contains("bob@example.com"), "{written}");
    assert_eq!(user_count(&db), 1, "a dry run invites nobody");

    // A real run writes OUT after storing the invitations.
    std::fs::write(&out, keep).unwrap();
    let (code, doc) = db.json(&["bulk-invite", "--as", ADMIN, &input, "--failed-rows", &out]);
    assert_eq!(code, 0, "{doc}");
    assert!(
        std::fs::read_to_string(&out)
            .unwrap()
            .contains("not-an-address")
    );
    assert_eq!(user_count(&db), 2);
}

/// Runs the example with stdout (or stderr) a pipe whose reader is already
/// gone, as in `admin users | head -c 0`.
fn run_with_closed(db: &Db, args: &[&str], close_stderr: bool) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut command = Command::new(admin_binary());
    command.arg("--db").arg(&db.path).args(args);
    if close_stderr {
        command.stderr(writer).stdout(std::process::Stdio::null());
    } else {
        command.stdout(writer).stderr(std::process::Stdio::piped());
    }
    command.output().unwrap()
}

#[cfg(unix)]
#[test]
fn a_closed_stdout_or_stderr_exits_quietly_with_141() {
    let db = Db::initialized();
    let input = db.file("upload.csv", b"email,group membership\nbob@example.com,\n");
    for args in [
        vec!["users", "--json"],
        vec!["users"],
        vec!["groups", "--json"],
        vec!["groups"],
        vec!["licenses", "--json"],
        vec!["bulk-invite", "--as", ADMIN, input.as_str(), "--json"],
        vec!["no-such-command", "--json"],
    ] {
        let out = run_with_closed(&db, &args, false);
        assert_eq!(stderr_of(&out), "", "{args:?}");
        assert_eq!(code_of(&out), 141, "{args:?}");
    }
    // What was stored stays stored.
    assert_eq!(user_count(&db), 2);

    // stderr closed: a usage error and a refusal still exit quietly.
    for args in [
        vec!["no-such-command"],
        vec!["invite", "--as", "mallory@example.com", "x@example.com"],
    ] {
        let out = run_with_closed(&db, &args, true);
        assert_eq!(code_of(&out), 141, "{args:?}");
    }
}

#[cfg(unix)]
#[test]
fn a_huge_upload_is_refused_by_its_size_without_reading_it() {
    let db = Db::initialized();
    let path = db.path.parent().unwrap().join("huge.csv");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(1 << 30).unwrap(); // 1 GiB, sparse: costs no disk
    drop(file);
    let started = std::time::Instant::now();
    let (code, doc) = db.json(&["bulk-invite", "--as", ADMIN, path.to_str().unwrap()]);
    let took = started.elapsed();
    assert_eq!(
        (code, doc["error"].as_str()),
        (1, Some("file_too_large")),
        "{doc}"
    );
    assert!(
        took < std::time::Duration::from_millis(1500),
        "refusing a 1 GiB file took {took:?}: was it read?"
    );

    // An endless device is not a regular file: refused without reading.
    let (code, doc) = db.json(&["bulk-invite", "--as", ADMIN, "/dev/zero"]);
    assert_eq!(
        (code, doc["error"].as_str()),
        (1, Some("not_a_file")),
        "{doc}"
    );
}

#[test]
fn empty_odd_and_missing_database_paths_are_refused_and_never_created() {
    let dir = tempfile::tempdir().unwrap();
    let run = |db: &str, args: &[&str]| {
        let out = Command::new(admin_binary())
            .current_dir(dir.path())
            .arg("--db")
            .arg(db)
            .args(args)
            .output()
            .unwrap();
        no_panic(&out);
        out
    };
    // The empty path would be a private temporary database.
    let out = run("", &["init", "Example Corp", "--admin", ADMIN]);
    assert_eq!(code_of(&out), 2, "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("empty path"),
        "{}",
        stderr_of(&out)
    );
    // A directory is not a database file.
    let out = run(".", &["init", "Example Corp", "--admin", ADMIN]);
    assert_eq!(code_of(&out), 2, "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("directory"), "{}", stderr_of(&out));

    // A missing file: every command but init refuses, names the file and
    // says how to create it, and creates nothing.
    for args in [
        vec!["users"],
        vec!["groups", "--json"],
        vec!["invite", "--as", ADMIN, "bob@example.com"],
        vec!["deliver"],
        vec!["sign-in", ADMIN],
    ] {
        let out = run("missing.sqlite", &args);
        assert_eq!(code_of(&out), 1, "{args:?}");
        if !args.contains(&"--json") {
            let stderr = stderr_of(&out);
            assert!(
                stderr.contains("missing.sqlite") && stderr.contains("init"),
                "{args:?}: {stderr}"
            );
        }
        let created: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(created.is_empty(), "{args:?} created {created:?}");
    }
    let out = run("new.sqlite", &["init", "Example Corp", "--admin", ADMIN]);
    assert_eq!(code_of(&out), 0, "{}", stderr_of(&out));
    assert!(dir.path().join("new.sqlite").exists());
}

/// Makes files immutable (`chattr +i`) for the life of the guard; even
/// root cannot write them then. `None` when `chattr` is missing or the
/// file system does not support it.
struct Immutable(Vec<PathBuf>);

impl Immutable {
    fn new(paths: &[&Path]) -> Option<Immutable> {
        let mut guard = Immutable(Vec::new());
        for path in paths {
            let ok = Command::new("chattr")
                .arg("+i")
                .arg(path)
                .output()
                .is_ok_and(|o| o.status.success());
            if !ok {
                eprintln!(
                    "\n*** SKIPPED: read-only database test needs `chattr +i` (e2fsprogs, a file system that supports it, root) ***\n"
                );
                return None;
            }
            guard.0.push(path.to_path_buf());
        }
        Some(guard)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = Command::new("chattr").arg("-i").arg(path).output();
        }
    }
}

#[test]
fn a_read_only_database_can_still_be_queried() {
    let db = Db::initialized();
    db.json(&["invite", "--as", ADMIN, "bob@example.com"]);
    db.json(&["license", "pool", "--as", ADMIN, "pro", "2"]);
    db.json(&[
        "service",
        "add",
        "--as",
        ADMIN,
        "Orchestrator",
        "--role",
        "Admin",
        "--role",
        "User",
        "--admin-role",
        "Admin",
    ]);
    // Closing the last connection folded the WAL into the file.
    for suffix in ["-wal", "-shm"] {
        let mut name = db.path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(name));
    }
    // The file and its folder read-only, as on a read-only medium or in a
    // folder the user may not write: not even SQLite's `-shm` file can be
    // created beside it.
    let Some(_guard) = Immutable::new(&[&db.path, db.path.parent().unwrap()]) else {
        return;
    };
    for args in [
        vec!["users"],
        vec!["groups"],
        vec!["licenses"],
        vec!["roles", "Orchestrator", ADMIN],
    ] {
        let (code, doc) = db.json(&args);
        assert_eq!(code, 0, "{args:?}: {doc}");
    }
    let (_, users) = db.json(&["users"]);
    assert_eq!(users.as_array().unwrap().len(), 2);
    // A write still needs a writable file: refused, no panic.
    let (code, doc) = db.json(&["invite", "--as", ADMIN, "cy@example.com"]);
    assert_eq!(code, 1, "{doc}");
}

#[test]
fn expiry_refusals_name_the_limit_crossed() {
    let db = Db::initialized();
    for hours in ["100000", "99999999", "99999999999999999999999999"] {
        let (code, doc) = db.json(&["expiry", "--as", ADMIN, hours]);
        assert_eq!(code, 1, "{hours}: {doc}");
        assert_eq!(doc["error"], "expiry_too_long", "{hours}: {doc}");
        let message = doc["message"].as_str().unwrap();
        assert!(message.contains("at most 3650 days"), "{message}");
        assert!(!message.contains("at least"), "{message}");
    }
    let (code, doc) = db.json(&["expiry", "--as", ADMIN, "0"]);
    assert_eq!(
        (code, doc["error"].as_str()),
        (1, Some("invalid_expiry")),
        "{doc}"
    );
    assert!(
        doc["message"]
            .as_str()
            .unwrap()
            .contains("at least one minute")
    );
    let (code, doc) = db.json(&["expiry", "--as", ADMIN, "87600"]);
    assert_eq!(code, 0, "ten years is accepted: {doc}");
    let (code, doc) = db.json(&["expiry", "--as", ADMIN, "-5"]);
    assert_eq!(code, 2, "{doc}");
}

// ---------------------------------------------------------------------------
// Second hostile review.

/// Runs the example; fails (rather than hangs) when it does not finish
/// within `seconds`.
fn run_within(mut command: Command, seconds: u64) -> Output {
    use std::process::Stdio;
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the example hung for {seconds} s: {command:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Makes a FIFO at `path`; false (with a loud skip) when `mkfifo` is
/// missing.
fn mkfifo(path: &Path) -> bool {
    let ok = Command::new("mkfifo")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("\n*** SKIPPED part of this test: needs mkfifo ***\n");
    }
    ok
}

#[cfg(unix)]
fn file_type(path: &Path) -> std::fs::FileType {
    std::fs::symlink_metadata(path).unwrap().file_type()
}

#[cfg(unix)]
#[test]
fn failed_rows_never_replace_special_files_or_symbolic_links() {
    use std::os::unix::fs::FileTypeExt;
    let db = Db::initialized();
    let dir = db.path.parent().unwrap().to_owned();
    let input = db.file(
        "upload.csv",
        b"email,group membership\nbob@example.com,\nnot-an-address,\n",
    );
    let run = |out: &Path| {
        let mut command = Command::new(admin_binary());
        command
            .arg("--db")
            .arg(&db.path)
            .args(["bulk-invite", "--as", ADMIN, &input, "--failed-rows"])
            .arg(out);
        let run = run_within(command, 30);
        no_panic(&run);
        run
    };

    // A FIFO, a link to this process's stdout, a link to nothing, a link
    // to a FIFO, and (as root) a device like /dev/null: refused before
    // anyone is invited, each left as it was.
    // Each path, and what it must still be afterwards.
    type Still = fn(&std::fs::FileType) -> bool;
    let mut special: Vec<(PathBuf, Still)> = Vec::new();
    let fifo = dir.join("myfifo");
    if mkfifo(&fifo) {
        special.push((fifo.clone(), |t| t.is_fifo()));
        let to_fifo = dir.join("to-fifo");
        std::os::unix::fs::symlink(&fifo, &to_fifo).unwrap();
        special.push((to_fifo, |t| t.is_symlink()));
    }
    let stdout_link = dir.join("mystdout");
    std::os::unix::fs::symlink("/proc/self/fd/1", &stdout_link).unwrap();
    special.push((stdout_link, |t| t.is_symlink()));
    let dangling = dir.join("dangling");
    std::os::unix::fs::symlink(dir.join("nothing-here"), &dangling).unwrap();
    special.push((dangling, |t| t.is_symlink()));
    let null = dir.join("mynull");
    if Command::new("mknod")
        .arg(&null)
        .args(["c", "1", "3"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        special.push((null, |t| t.is_char_device()));
    } else {
        eprintln!("\n*** SKIPPED the device case: `mknod` needs root ***\n");
    }
    for (out, still) in &special {
        let run = run(out);
        assert_eq!(code_of(&run), 2, "{}: {}", out.display(), stderr_of(&run));
        assert!(
            stderr_of(&run).contains("regular file"),
            "{}",
            stderr_of(&run)
        );
        assert!(
            still(&file_type(out)),
            "{} was replaced: {:?}",
            out.display(),
            file_type(out)
        );
    }
    assert!(!dir.join("nothing-here").exists());
    assert_eq!(user_count(&db), 1, "a refused command invites nobody");

    // A link to a regular file: the file it points to gets the rows, the
    // link stays a link.
    let real = dir.join("real.csv");
    std::fs::write(&real, b"old\n").unwrap();
    let link = dir.join("link-to-real.csv");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let run = run(&link);
    assert_eq!(code_of(&run), 0, "{}", stderr_of(&run));
    assert!(file_type(&link).is_symlink());
    assert!(
        std::fs::read_to_string(&real)
            .unwrap()
            .contains("not-an-address")
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_reuploaded_failed_rows_file_fails_again_until_the_unnamed_cells_are_fixed() {
    for delimiter in [",", ";", "\t"] {
        let db = Db::initialized();
        let upload = format!(
            "email{d}group membership\nt1@example.com{d}Automation Users{d}Administrators\nt2@example.com{d}Automation Users\n",
            d = delimiter
        );
        let input = db.file("upload.csv", upload.as_bytes());
        let out = db.path.parent().unwrap().join("failed.csv");
        let out = out.to_str().unwrap();
        let (code, doc) = db.json(&["bulk-invite", "--as", ADMIN, &input, "--failed-rows", out]);
        assert_eq!(code, 0, "{doc}");
        assert_eq!(
            doc["failed"][0]["reasons"],
            json!(["unnamed_cells"]),
            "{doc}"
        );
        let written = std::fs::read_to_string(out).unwrap();
        assert!(
            written.contains("\"Administrators\""),
            "{delimiter:?}: the failed rows lost a cell: {written}"
        );
        assert_eq!(user_count(&db), 2, "t2 was invited");

        // The file uploaded again as it is: the row fails the same way,
        // nobody is invited without Administrators.
        let again = db.path.parent().unwrap().join("failed-again.csv");
        let (code, doc) = db.json(&[
            "bulk-invite",
            "--as",
            ADMIN,
            out,
            "--failed-rows",
            again.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{doc}");
        assert_eq!(doc["invited"], json!([]), "{delimiter:?}: {doc}");
        assert_eq!(doc["failed"][0]["email"], "t1@example.com", "{doc}");
        assert_eq!(
            doc["failed"][0]["reasons"],
            json!(["unnamed_cells"]),
            "{doc}"
        );
        assert_eq!(user_count(&db), 2);
        // Fixing the row (the groups in one quoted cell) invites it.
        let fixed = db.file(
            "fixed.csv",
            b"email,group membership\nt1@example.com,\"Automation Users, Administrators\"\n",
        );
        let (code, doc) = db.json(&["bulk-invite", "--as", ADMIN, &fixed]);
        assert_eq!(code, 0, "{doc}");
        assert_eq!(
            doc["invited"][0]["groups"].as_array().unwrap().len(),
            2,
            "{doc}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_non_utf8_argument_is_a_usage_error() {
    use std::os::unix::ffi::OsStrExt;
    let db = Db::initialized();
    let bad = std::ffi::OsStr::from_bytes(b"\xff.sqlite");
    for json in [false, true] {
        let mut command = Command::new(admin_binary());
        command.current_dir(db.path.parent().unwrap());
        command.arg("--db").arg(bad).arg("users");
        if json {
            command.arg("--json");
        }
        let out = command.output().unwrap();
        no_panic(&out);
        assert_eq!(code_of(&out), 2, "{}", stderr_of(&out));
        if json {
            let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(doc["error"], "usage");
            assert!(doc["message"].as_str().unwrap().contains("UTF-8"), "{doc}");
        } else {
            assert!(stderr_of(&out).contains("not UTF-8"), "{}", stderr_of(&out));
        }
    }
    let out = db.run(&["invite", "--as", ADMIN]).status.code();
    assert_eq!(out, Some(2));
}

#[test]
fn a_row_of_millions_of_unnamed_cells_keeps_a_bounded_few() {
    let db = Db::initialized();
    let mut upload = b"email,group membership\na1@example.com,".to_vec();
    for _ in 0..2_000_000 {
        upload.extend_from_slice(b",x");
    }
    upload.extend_from_slice(b"\nb1@example.com,\n");
    assert!(upload.len() <= org_accounts::DEFAULT_MAX_FILE_BYTES);
    let input = db.file("wide.csv", &upload);
    let out = db.path.parent().unwrap().join("failed.csv");
    let (code, doc) = db.json(&[
        "bulk-invite",
        "--as",
        ADMIN,
        &input,
        "--failed-rows",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        code,
        0,
        "{}",
        doc.to_string().chars().take(500).collect::<String>()
    );
    assert_eq!(doc["invited"][0]["email"], "b1@example.com");
    let message = doc["failed"][0]["message"].as_str().unwrap();
    assert!(
        message.len() < 1000,
        "{} bytes: {}",
        message.len(),
        &message[..1000]
    );
    assert!(
        message.contains("\"x\", \"x\", \"x\", and at least 97 more"),
        "{message}"
    );
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(
        written.len() < 2000,
        "{} bytes of failed rows",
        written.len()
    );
    let cells = written.lines().nth(1).unwrap().matches(",\"x\"").count();
    assert_eq!(cells, 100, "{written}");

    // A few cells are all shown, each cut to 64 characters.
    let long = "y".repeat(200);
    let few = format!("email,group membership\nc1@example.com,,{long},z\n");
    let input = db.file("few.csv", few.as_bytes());
    let (code, doc) = db.json(&["bulk-invite", "--as", ADMIN, &input]);
    assert_eq!(code, 0, "{doc}");
    let message = doc["failed"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("\"{}…\", \"z\")", "y".repeat(63))),
        "{message}"
    );
    assert!(!message.contains("more"), "{message}");
}

#[cfg(unix)]
#[test]
fn special_files_as_database_or_upload_are_refused_without_hanging() {
    let db = Db::initialized();
    let dir = db.path.parent().unwrap().to_owned();
    let mut specials = vec![PathBuf::from("/dev/zero")];
    let fifo = dir.join("f");
    if mkfifo(&fifo) {
        specials.push(fifo.clone());
    }
    let null = dir.join("mynull");
    if Command::new("mknod")
        .arg(&null)
        .args(["c", "1", "3"])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        specials.push(null.clone());
    }
    for special in &specials {
        for args in [
            vec!["users"],
            vec!["init", "X", "--admin", ADMIN],
            vec!["invite", "--as", ADMIN, "bob@example.com"],
        ] {
            let mut command = Command::new(admin_binary());
            command.arg("--db").arg(special).args(&args);
            let out = run_within(command, 30);
            no_panic(&out);
            assert_eq!(
                code_of(&out),
                2,
                "{special:?} {args:?}: {}",
                stderr_of(&out)
            );
            assert!(
                stderr_of(&out).contains("not a regular file"),
                "{}",
                stderr_of(&out)
            );
            let mut journal = special.as_os_str().to_owned();
            journal.push("-journal");
            if special.starts_with(&dir) {
                assert!(!Path::new(&journal).exists(), "{journal:?} was created");
            }
        }
        // As the upload.
        let mut command = Command::new(admin_binary());
        command
            .arg("--db")
            .arg(&db.path)
            .args(["bulk-invite", "--as", ADMIN, "--json"])
            .arg(special);
        let out = run_within(command, 30);
        no_panic(&out);
        assert_eq!(code_of(&out), 1, "{special:?}: {}", stderr_of(&out));
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["error"], "not_a_file", "{doc}");
    }
    // Nothing but the database was created in the folder (no journals).
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("journal"))
        .collect();
    names.sort();
    assert!(names.is_empty(), "{names:?}");
}

#[cfg(unix)]
#[test]
fn the_journal_files_of_a_linked_database_are_protected() {
    let db = Db::initialized();
    let dir = db.path.parent().unwrap().to_owned();
    let input = db.file("upload.csv", b"email,group membership\nnot-an-address,\n");
    let link = dir.join("dblink");
    std::os::unix::fs::symlink(&db.path, &link).unwrap();
    // A link to the database's folder, too: the journal named through it.
    let dir_link = dir.join("dirlink");
    std::os::unix::fs::symlink(&dir, &dir_link).unwrap();
    for out in [
        dir.join("org.sqlite-wal"),
        dir.join("org.sqlite-shm"),
        dir.join("org.sqlite-journal"),
        dir.join("dblink-wal"),
        dir_link.join("org.sqlite-wal"),
    ] {
        let before = std::fs::read(&out).ok();
        let out_run = Command::new(admin_binary())
            .arg("--db")
            .arg(&link)
            .args(["bulk-invite", "--as", ADMIN, &input, "--failed-rows"])
            .arg(&out)
            .output()
            .unwrap();
        no_panic(&out_run);
        assert_eq!(
            code_of(&out_run),
            2,
            "{}: {}",
            out.display(),
            stderr_of(&out_run)
        );
        assert!(
            stderr_of(&out_run).contains("database"),
            "{}",
            stderr_of(&out_run)
        );
        assert_eq!(
            std::fs::read(&out).ok(),
            before,
            "{} was touched",
            out.display()
        );
    }
}

#[test]
fn memory_database_says_it_is_not_a_file() {
    let dir = tempfile::tempdir().unwrap();
    for args in [vec!["users"], vec!["init", "X", "--admin", ADMIN]] {
        let out = Command::new(admin_binary())
            .current_dir(dir.path())
            .args(["--db", ":memory:"])
            .args(&args)
            .output()
            .unwrap();
        no_panic(&out);
        assert_eq!(code_of(&out), 2, "{args:?}");
        let stderr = stderr_of(&out);
        assert!(stderr.contains(":memory: is not a file"), "{stderr}");
        assert!(!stderr.contains("admin --db :memory: init"), "{stderr}");
    }
}

#[test]
fn the_usage_text_tells_of_a_leftover_temporary_file() {
    let out = Command::new(admin_binary())
        .args(["bulk-invite", "--help"])
        .output()
        .unwrap();
    assert_eq!(code_of(&out), 0);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains(".failed-rows-") && stdout.contains("stays behind"),
        "{stdout}"
    );
}

#[test]
fn commands_queue_invitation_emails_and_deliver_sends_them() {
    let db = Db::initialized();
    db.json(&[
        "mail",
        "set",
        "--as",
        ADMIN,
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
    let out = db.run(&["invite", "--as", ADMIN, "bob@example.com"]);
    assert_eq!(code_of(&out), 0, "{}", stderr_of(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("1 invitation email queued; `admin deliver` sends it"),
        "{text}"
    );
    let out = db.run(&["resend", "--as", ADMIN, "bob@example.com"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("`admin deliver`"), "{text}");
    let (code, doc) = db.json(&["deliver", "--limit", "5"]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["sent"], 0, "{doc}");
    assert!(doc["queued"].as_u64().unwrap() >= 1, "{doc}");
    let (code, _) = db.json(&["deliver", "--limit", "many"]);
    assert_eq!(code, 2);
}

// ---------------------------------------------------------------------------
// PostgreSQL: `--db postgres://...` with `--pg-schema NAME`.

#[cfg(feature = "postgres")]
#[test]
fn postgres_url_as_database() {
    let Ok(url) = std::env::var("ORG_ACCOUNTS_PG_URL") else {
        eprintln!(
            "\n*** SKIPPED: postgres_url_as_database needs ORG_ACCOUNTS_PG_URL (e.g. postgres://postgres@127.0.0.1:5432/test) ***\n"
        );
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let schema = format!("admin_cli_{}_{nanos}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let json = |args: &[&str]| {
        let out = Command::new(admin_binary())
            .current_dir(dir.path())
            .args(["--db", &url, "--pg-schema", &schema])
            .args(args)
            .arg("--json")
            .output()
            .unwrap();
        no_panic(&out);
        let doc: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", stderr_of(&out)));
        (code_of(&out), doc)
    };
    let (code, doc) = json(&["users"]);
    assert_eq!(
        (code, doc["error"].as_str()),
        (1, Some("not_created")),
        "{doc}"
    );
    let (code, doc) = json(&["init", "Example Corp", "--admin", ADMIN]);
    assert_eq!(code, 0, "{doc}");
    let (code, doc) = json(&[
        "invite",
        "--as",
        ADMIN,
        "--group",
        "automation users",
        "bob@example.com",
    ]);
    assert_eq!(code, 0, "{doc}");
    let upload = dir.path().join("upload.csv");
    std::fs::write(
        &upload,
        "email,group membership\ncy@example.com,\nnot-an-address,\n",
    )
    .unwrap();
    let (code, doc) = json(&["bulk-invite", "--as", ADMIN, upload.to_str().unwrap()]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["invited"][0]["email"], "cy@example.com", "{doc}");
    let (code, doc) = json(&["accept", "bob@example.com"]);
    assert_eq!(code, 0, "{doc}");
    let (code, users) = json(&["users"]);
    assert_eq!(code, 0, "{users}");
    let emails: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(
        emails,
        ["ada@example.com", "bob@example.com", "cy@example.com"]
    );
    assert_eq!(users[1]["status"], "active");
    // Nothing was written beside the working folder.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // A schema name that is not allowed is refused, not interpolated.
    let out = Command::new(admin_binary())
        .args(["--db", &url, "--pg-schema", "x; drop table y", "users"])
        .output()
        .unwrap();
    no_panic(&out);
    assert_eq!(code_of(&out), 1, "{}", stderr_of(&out));
    assert!(
        !stderr_of(&out).contains(&url),
        "the URL may hold a password"
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        org_accounts::PostgresStore::connect_with_schema(&url, &schema)
            .await
            .unwrap()
            .drop_schema()
            .await
            .unwrap();
    });
}

#[cfg(not(feature = "postgres"))]
#[test]
fn a_postgres_url_without_postgres_support_is_a_usage_error() {
    let out = Command::new(admin_binary())
        .args(["--db", "postgres://nobody@127.0.0.1/x", "users"])
        .output()
        .unwrap();
    assert_eq!(code_of(&out), 2);
    assert!(stderr_of(&out).contains("--features sqlite,postgres"));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Cells an administrator's spreadsheet might hold, and worse.
    fn cell() -> impl Strategy<Value = String> {
        prop_oneof![
            3 => "[a-z]{1,8}@[a-z]{1,8}\\.(com|de|org)",
            1 => Just(String::new()),
            1 => Just("Administrators, automation users".to_owned()),
            2 => any::<String>(),
            1 => "[ ,;\t\"\r\n=+@a-zA-Zß\u{200b}\u{ff20}]{0,40}",
            1 => (1usize..70_000).prop_map(|n| "x".repeat(n)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

        #[test]
        fn bulk_invite_never_panics_and_accounts_for_every_row(
            rows in prop::collection::vec((cell(), cell(), cell()), 0..12),
            delimiter in prop::sample::select(vec![b',', b';', b'\t']),
            dry_run in any::<bool>(),
        ) {
            let db = Db::initialized();
            let mut writer = csv::WriterBuilder::new()
                .delimiter(delimiter)
                .flexible(true)
                .from_writer(Vec::new());
            writer.write_record(["email", "group membership", "note"]).unwrap();
            for (email, groups, note) in &rows {
                writer.write_record([email, groups, note]).unwrap();
            }
            let bytes = writer.into_inner().unwrap();
            let input = db.file("upload.csv", &bytes);
            let out = db.path.parent().unwrap().join("failed.csv");
            let mut args = vec![
                "bulk-invite", "--as", ADMIN, input.as_str(),
                "--failed-rows", out.to_str().unwrap(), "--json",
            ];
            if dry_run {
                args.push("--dry-run");
            }
            let run = db.run(&args);
            let stderr = stderr_of(&run);
            prop_assert!(!stderr.contains("panicked at"), "{}", stderr);
            let code = code_of(&run);
            prop_assert!([0, 1, 2].contains(&code), "exit {} {}", code, stderr);
            let doc: Value = serde_json::from_slice(&run.stdout).unwrap();
            if code == 0 {
                let file = org_accounts::read_invite_csv(&bytes, &org_accounts::CsvOptions::default()).unwrap();
                let count = |k: &str| doc[k].as_array().map_or(0, Vec::len);
                prop_assert_eq!(doc["rows"].as_u64(), Some(file.len() as u64), "{}", doc);
                prop_assert_eq!(
                    count("invited") + count("skipped") + count("failed"),
                    file.len(),
                    "{}", doc
                );
                // The failed rows are written only when a row failed.
                prop_assert_eq!(out.exists(), count("failed") > 0, "{}", doc);
            } else {
                prop_assert!(doc["error"].is_string(), "{}", doc);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The first hour: help, usage errors, group editing, failed rows with the
// administrator's own columns, one wording for "no organization yet".

#[test]
fn help_prints_the_usage_and_a_usage_error_only_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(admin_binary())
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        no_panic(&out);
        out
    };
    for args in [vec!["--help"], vec!["-h"], vec!["help"]] {
        let out = run(&args);
        assert_eq!(code_of(&out), 0, "{args:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(stdout.contains("Usage: admin"), "{args:?}: {stdout}");
        assert!(stdout.contains("bulk-invite") && stdout.contains("deliver"));
    }
    for args in [vec!["invite", "--help"], vec!["help", "invite"]] {
        let out = run(&args);
        assert_eq!(code_of(&out), 0, "{args:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(stdout.contains("Usage: admin invite"), "{args:?}: {stdout}");
        assert!(stdout.contains("--group A --group B"), "{stdout}");
        assert!(stdout.contains("separated by spaces"), "{stdout}");
        assert!(!stdout.contains("bulk-invite"), "{stdout}");
    }
    let out = run(&["group", "rename", "--help"]);
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("Usage: admin group rename")
    );

    // A usage error: the one command's usage, exit 2, nothing created.
    let out = run(&["invite", "--as", ADMIN]);
    assert_eq!(code_of(&out), 2);
    let stderr = stderr_of(&out);
    assert!(stderr.contains("Usage: admin invite"), "{stderr}");
    assert!(!stderr.contains("bulk-invite"), "{stderr}");
    assert!(stderr.lines().count() < 10, "{stderr}");
    // With --json: one document.
    let out = run(&["invite", "--as", ADMIN, "--json"]);
    assert_eq!(code_of(&out), 2);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["error"], "usage");
    assert!(doc["message"].as_str().unwrap().contains("EMAIL"), "{doc}");
    let out = run(&["--help", "--json"]);
    assert_eq!(code_of(&out), 0);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["help"].as_str().unwrap().contains("Usage: admin"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn groups_are_edited_from_the_terminal() {
    let db = Db::initialized();
    let ok = |args: &[&str]| {
        let (code, doc) = db.json(args);
        assert_eq!(code, 0, "{args:?}: {doc}");
        doc
    };
    ok(&["invite", "--as", ADMIN, "bob@example.com", "cy@example.com"]);
    ok(&["group", "create", "--as", ADMIN, "Finance"]);
    let doc = ok(&[
        "group",
        "add",
        "--as",
        ADMIN,
        "finance",
        "bob@example.com",
        "cy@example.com",
    ]);
    assert_eq!(doc["members"], 2, "{doc}");
    let doc = ok(&[
        "group",
        "remove",
        "--as",
        ADMIN,
        "Finance",
        "cy@example.com",
    ]);
    assert_eq!(doc["members"], 1, "{doc}");
    ok(&["group", "rename", "--as", ADMIN, "Finance", "Treasury"]);
    let (_, groups) = db.json(&["groups"]);
    assert_eq!(
        groups[6],
        json!({"name": "Treasury", "kind": "custom", "members": 1})
    );
    let (code, doc) = db.json(&["group", "rename", "--as", ADMIN, "Everyone", "All"]);
    assert_eq!(code, 1, "{doc}");
    ok(&["group", "delete", "--as", ADMIN, "Treasury"]);
    let (_, groups) = db.json(&["groups"]);
    assert_eq!(groups.as_array().unwrap().len(), 6);

    // People only in Everyone show it; counts are singular when one.
    let text = String::from_utf8(db.run(&["users"]).stdout).unwrap();
    let bob = text.lines().find(|l| l.starts_with("bob@")).unwrap();
    assert!(bob.trim_end().ends_with("Everyone"), "{text}");
    let text = String::from_utf8(
        db.run(&["group", "create", "--as", ADMIN, "Solo", "--member", ADMIN])
            .stdout,
    )
    .unwrap();
    assert_eq!(text, "created group Solo with 1 member\n");
}

#[test]
fn failed_rows_keep_the_uploads_columns_and_none_is_written_when_none_failed() {
    let db = Db::initialized();
    let upload = db.file(
        "upload.csv",
        "Department;EMAIL;Group Membership;Error\r\nSales;bob@example.com;;old\r\n\r\nOps;not-an-address;;old\r\n=cmd;eve@example.com;Nope;\r\n"
            .as_bytes(),
    );
    let out = db.path.parent().unwrap().join("failed.csv");
    let (code, doc) = db.json(&[
        "bulk-invite",
        "--as",
        ADMIN,
        &upload,
        "--failed-rows",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["failed_rows_file"], out.to_str().unwrap());
    let written = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(
        lines[0],
        "\u{feff}\"error\",\"Department\",\"EMAIL\",\"Group Membership\""
    );
    assert!(
        lines[1].ends_with("\"Ops\",\"not-an-address\",\"\""),
        "{written}"
    );
    assert!(lines[1].starts_with("\"Invalid email format"), "{written}");
    assert!(
        lines[2].ends_with("\"'=cmd\",\"eve@example.com\",\"Nope\""),
        "{written}"
    );
    assert_eq!(lines.len(), 3, "{written}");

    // Uploaded again: the same rows fail, the error column is replaced.
    let again = db.path.parent().unwrap().join("again.csv");
    let (code, doc) = db.json(&[
        "bulk-invite",
        "--as",
        ADMIN,
        out.to_str().unwrap(),
        "--failed-rows",
        again.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["failed"].as_array().unwrap().len(), 2, "{doc}");
    assert_eq!(std::fs::read_to_string(&again).unwrap(), written);

    // No row failed: no file, and the output says so.
    let good = db.file("good.csv", b"email,group membership\ncy@example.com,\n");
    let none = db.path.parent().unwrap().join("none.csv");
    let run = db.run(&[
        "bulk-invite",
        "--as",
        ADMIN,
        &good,
        "--failed-rows",
        none.to_str().unwrap(),
    ]);
    assert_eq!(code_of(&run), 0, "{}", stderr_of(&run));
    let text = String::from_utf8(run.stdout).unwrap();
    assert!(text.contains("No row failed"), "{text}");
    assert!(!none.exists());
}

#[test]
fn no_organization_yet_is_said_one_way_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(admin_binary())
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["users"]);
    assert_eq!(code_of(&out), 1);
    let stderr = stderr_of(&out);
    let full = dir.path().join("org-accounts.sqlite");
    assert!(
        stderr.contains("no organization yet")
            && stderr.contains(full.to_str().unwrap())
            && stderr.contains("`admin init NAME --admin EMAIL`"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    // An empty file: the same words.
    std::fs::write(dir.path().join("empty.sqlite"), b"").unwrap();
    for args in [
        vec!["--db", "empty.sqlite", "users"],
        vec![
            "--db",
            "empty.sqlite",
            "invite",
            "--as",
            ADMIN,
            "bob@example.com",
        ],
        vec!["--db", "empty.sqlite", "deliver"],
        // The library answers these as it answers an outsider (no oracle);
        // the program, run by the operator, checks for itself.
        vec!["--db", "empty.sqlite", "accept", "bob@example.com"],
        vec!["--db", "empty.sqlite", "sign-in", "bob@example.com"],
        vec![
            "--db",
            "empty.sqlite",
            "group",
            "create",
            "--as",
            ADMIN,
            "Finance",
        ],
    ] {
        let out = run(&args);
        assert_eq!(code_of(&out), 1, "{args:?}");
        let stderr = stderr_of(&out);
        assert!(
            stderr.starts_with("refused: no organization yet: the database file")
                && stderr.contains("`admin --db empty.sqlite init NAME --admin EMAIL`"),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn mail_settings_and_deliver_say_where_the_emails_are() {
    let db = Db::initialized();
    let out = db.run(&["deliver"]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text, "0 invitation emails still queued\n");
    let out = db.run(&[
        "mail",
        "set",
        "--as",
        ADMIN,
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
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("queue an email") && text.contains("admin deliver"),
        "{text}"
    );
    assert!(!text.contains("will be emailed"), "{text}");
    db.json(&["invite", "--as", ADMIN, "bob@example.com"]);
    let text = String::from_utf8(db.run(&["deliver"]).stdout).unwrap();
    assert!(text.contains("1 invitation email still queued ("), "{text}");
}

// --- nothing from outside reaches the terminal raw ---------------------------

/// What must never reach a terminal raw: ESC (here opening `ESC[2J`, clear
/// the screen), the C1 CSI, and a right-to-left override.
const RAW: [char; 3] = ['\u{1b}', '\u{9b}', '\u{202e}'];

fn assert_no_raw(what: &str, out: &Output) {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        for c in RAW {
            assert!(
                !text.contains(c),
                "{what}: {stream} carries U+{:04X} raw: {text:?}",
                u32::from(c)
            );
        }
    }
}

/// Appends events to the organization in the database file as an older
/// version of the library would have stored them (`kinds`: each event's
/// `type` and fields, JSON as stored): names the one-name rule now refuses
/// (a right-to-left override) load from storage under the earlier rule.
fn plant_old_names(db: &Db, kinds: Vec<Value>) {
    use org_accounts::{Event, EventStore, OrganizationId, SqliteStore};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = SqliteStore::open(&db.path).unwrap();
        let org = OrganizationId::new("default").unwrap();
        let version = store.read(&org, 0).await.unwrap().len() as u64;
        let events: Vec<Event> = kinds
            .into_iter()
            .map(|mut kind| {
                kind["schema"] = json!(1);
                kind["at"] = json!("2026-11-28T09:00:00Z");
                kind["actor"] = json!(1);
                serde_json::from_value(kind).unwrap()
            })
            .collect();
        store.append(&org, version, &events).await.unwrap();
    });
}

#[test]
fn stored_names_written_before_the_one_name_rule_are_escaped_when_shown() {
    let db = Db::initialized();
    plant_old_names(
        &db,
        vec![
            json!({"type": "group_created", "group": 7, "name": "Admin\u{202E}nimdA", "members": [1]}),
            json!({"type": "license_pool_set", "kind": "Pro\u{202E}orP", "seats": 2}),
            json!({"type": "license_granted", "user": 1, "kind": "Pro\u{202E}orP", "source": "direct"}),
        ],
    );
    for command in [&["users"][..], &["groups"], &["licenses"]] {
        let out = db.run(command);
        assert_eq!(out.status.code(), Some(0), "{command:?}: {out:?}");
        assert_no_raw(&format!("{command:?}"), &out);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(r"\u{202e}"), "{command:?}: {text}");

        // JSON keeps the value whole, escaped as JSON.
        let mut args = command.to_vec();
        args.push("--json");
        let out = db.run(&args);
        assert_no_raw(&format!("{command:?} --json"), &out);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            doc.to_string().contains('\u{202e}'),
            "{command:?}: the value read back: {doc}"
        );
    }
}

#[test]
fn an_upload_whose_failing_cells_carry_escapes_reaches_the_terminal_escaped() {
    let db = Db::initialized();
    let csv = db.file(
        "hostile.csv",
        "email,group membership\n\
         \"bob\u{1b}[2J@example.com\",\n\
         cy@example.com,\"Fin\u{202e}ance\u{1b}[2J, Ops\u{9b}31m\"\n\
         \"dee@exa\u{202e}mple.com\",\n"
            .as_bytes(),
    );
    let failed = db.path.parent().unwrap().join("failed.csv");
    for args in [
        vec!["bulk-invite", "--as", "ada@example.com", &csv],
        vec!["bulk-invite", "--as", "ada@example.com", "--dry-run", &csv],
        vec![
            "bulk-invite",
            "--as",
            "ada@example.com",
            "--dry-run",
            "--failed-rows",
            failed.to_str().unwrap(),
            &csv,
        ],
    ] {
        let out = db.run(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {out:?}");
        assert_no_raw(&format!("{args:?}"), &out);
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("Error Summary"), "{text}");

        let mut json_args = args.clone();
        json_args.push("--json");
        let out = db.run(&json_args);
        assert_no_raw(&format!("{args:?} --json"), &out);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["failed"].as_array().unwrap().len(), 3, "{doc}");
    }
    // A refusal that quotes the input: the group named on the command line.
    let out = db.run(&[
        "invite",
        "--as",
        "ada@example.com",
        "--group",
        "Ops\u{9b}2J",
        "eve@example.com",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_no_raw("a refusal quoting a group name", &out);
}

/// Deallocating a member's last direct license leaves them on user-level
/// allocation with nothing selected: the users page says so (not just
/// "none", which reads like a member waiting for nothing), and
/// `license use-groups` switches them back, so they lease at their next
/// sign-in.
#[test]
fn a_member_with_nothing_selected_is_shown_so_and_switched_back_to_groups() {
    let db = Db::initialized();
    let ok = |args: &[&str]| {
        let out = db.run(args);
        assert_eq!(code_of(&out), 0, "{args:?}: {}", stderr_of(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    ok(&["group", "create", "--as", "ada@example.com", "Sales"]);
    ok(&["license", "pool", "--as", "ada@example.com", "Pro", "2"]);
    ok(&["license", "rule", "--as", "ada@example.com", "Sales", "Pro"]);
    ok(&[
        "invite",
        "--as",
        "ada@example.com",
        "--group",
        "Sales",
        "bob@example.com",
    ]);
    ok(&["accept", "bob@example.com"]);
    ok(&[
        "license",
        "allocate",
        "--as",
        "ada@example.com",
        "Pro",
        "bob@example.com",
    ]);
    ok(&[
        "license",
        "deallocate",
        "--as",
        "ada@example.com",
        "Pro",
        "bob@example.com",
    ]);
    let users = ok(&["users"]);
    let bob = users
        .lines()
        .find(|l| l.contains("bob@example.com"))
        .unwrap();
    assert!(
        bob.contains("licenses: none (user-level allocation, nothing selected)"),
        "{bob}"
    );
    ok(&["sign-in", "bob@example.com"]);
    let users = ok(&["users"]);
    let bob = users
        .lines()
        .find(|l| l.contains("bob@example.com"))
        .unwrap();
    assert!(
        bob.contains("nothing selected"),
        "signing in changes nothing: {bob}"
    );
    let back = ok(&[
        "license",
        "use-groups",
        "--as",
        "ada@example.com",
        "bob@example.com",
    ]);
    assert!(back.contains("group-based allocation"), "{back}");
    let signed_in = ok(&["sign-in", "bob@example.com"]);
    assert!(signed_in.contains("leased: Pro"), "{signed_in}");
    let users = ok(&["users"]);
    let bob = users
        .lines()
        .find(|l| l.contains("bob@example.com"))
        .unwrap();
    assert!(bob.contains("licenses: Pro (Sales)"), "{bob}");
}
