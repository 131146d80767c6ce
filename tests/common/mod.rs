//! Given/when/then helpers shared by the integration tests: the library's
//! own [`org_accounts::testing::Scenario`] (feature `testing`, which the
//! crate's test command turns on with `--all-features`), re-exported with
//! its helpers so the rule tests read `given_org().invited(..).when(..)`.
#![allow(dead_code, unused_imports)]

pub use org_accounts::testing::{
    ADMIN, Outcome, Scenario, at, ctx, email, emails, group, groups, invite,
};

/// Starts from an organization created by [`ADMIN`].
pub fn given_org() -> Scenario {
    Scenario::given_org()
}

/// The built binary of example `name` (`cargo test` builds the examples
/// before it runs the tests).
pub fn example_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo test --all-features` (it builds the examples), or `cargo build --example {name} --all-features` first",
        bin.display()
    );
    bin
}
