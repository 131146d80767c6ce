//! The README's "Try it from a terminal" walkthrough, run as written: each
//! `cargo run --example admin ... -- ARGS` line of its ```sh block runs
//! the built `admin` example with ARGS, in order, in a fresh folder holding
//! a copy of `examples/data` (as a fresh checkout has it) with the default
//! database file; each must exit 0 and print the `# ` lines under it.
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
use std::process::Command;

fn admin_binary() -> PathBuf {
    common::example_binary("admin")
}

/// One walkthrough step: the arguments after `--`, and the lines it must
/// print.
struct Step {
    line: String,
    args: Vec<String>,
    prints: Vec<String>,
}

/// The ```sh block under "## Try it from a terminal".
fn walkthrough(readme: &str) -> Vec<Step> {
    let section = readme
        .split_once("## Try it from a terminal")
        .expect("the README has a \"Try it from a terminal\" section")
        .1;
    let block = section
        .split_once("```sh\n")
        .expect("the section has a ```sh block")
        .1
        .split_once("```")
        .unwrap()
        .0;
    let mut steps: Vec<Step> = Vec::new();
    for line in block.lines() {
        if let Some(expected) = line.strip_prefix("# ") {
            steps
                .last_mut()
                .expect("a `# ` line follows a command")
                .prints
                .push(expected.to_owned());
        } else if !line.trim().is_empty() {
            let words = shell_words(line);
            assert_eq!(
                &words[..3],
                ["cargo", "run", "--example"],
                "not a walkthrough command: {line}"
            );
            assert_eq!(words[3], "admin", "{line}");
            let at = words.iter().position(|w| w == "--").unwrap();
            steps.push(Step {
                line: line.to_owned(),
                args: words[at + 1..].to_vec(),
                prints: Vec::new(),
            });
        }
    }
    steps
}

/// Splits a command line into words as a shell would, for the quoting the
/// README uses (double quotes, no escapes).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let (mut quoted, mut started) = (false, false);
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                started = true;
            }
            ' ' if !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    assert!(!quoted, "unclosed quote in {line}");
    if started {
        words.push(word);
    }
    words
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn the_readme_walkthrough_does_what_it_says_in_order() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let steps = walkthrough(&readme);
    assert!(steps.len() >= 5, "a walkthrough of {} steps", steps.len());

    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &root.join("examples/data"),
        &dir.path().join("examples/data"),
    );
    for step in &steps {
        let out = Command::new(admin_binary())
            .current_dir(dir.path())
            .args(&step.args)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            step.line
        );
        for expected in &step.prints {
            assert!(
                stdout.lines().any(|l| l.contains(expected.as_str())),
                "{}\ndid not print {expected:?}; it printed:\n{stdout}",
                step.line
            );
        }
    }
    // The failed rows kept the upload's own column.
    let failed = std::fs::read_to_string(dir.path().join("failed-rows.csv")).unwrap();
    assert!(failed.contains("\"Department\""), "{failed}");
    assert!(failed.contains("\"Finanse\",\"Ops\""), "{failed}");
}

#[test]
fn every_path_the_readme_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    for piece in readme.split('`').skip(1).step_by(2) {
        let path = piece.split_whitespace().next().unwrap_or_default();
        let looks_like_path = ["src/", "tests/", "examples/", "benches/", ".ci/"]
            .iter()
            .any(|p| path.starts_with(p));
        if looks_like_path {
            assert!(
                root.join(path).exists(),
                "the README names {path}, which is missing"
            );
        }
    }
}
