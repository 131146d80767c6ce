//! The README's first command runs `examples/quickstart.rs`: check it does
//! the main job (`cargo test` builds the examples before running tests).
// Tests and benches assert by panicking.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Command;

#[test]
fn quickstart_runs_the_main_job() {
    let bin = common::example_binary("quickstart");
    // `cargo test --test quickstart` alone does not build the example: a
    // binary older than its source would test yesterday's quickstart.
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart.rs");
    let built = bin.metadata().unwrap().modified().unwrap();
    let written = source.metadata().unwrap().modified().unwrap();
    assert!(
        built >= written,
        "{} is older than {}: run `cargo test` (or add `--example quickstart`)",
        bin.display(),
        source.display()
    );
    let out = Command::new(bin).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "refused: already members of this organization: Cy@Example.com",
        "4 rows: 1 invited, 1 skipped, 2 failed.",
        "   4  eve@example.org  Some or all groups were invalid: no group is named \"Finanse\"",
        "still pending: 2",
        "  Email              Last active            Groups",
        "removed dee@example.org; 3 members left",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}
