//! `cargo_bin` resolution: a spec names a binary of the cargo workspace,
//! and the harness builds it with cargo and finds its path.

use std::path::Path;

use roulette_test::report::ErrorKind;
use roulette_test::runner::resolve_cargo_bin;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const WORKSPACE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

#[test]
fn resolves_from_workspace_root() {
    let path = resolve_cargo_bin("fixture-worker", Path::new(WORKSPACE_DIR))
        .unwrap_or_else(|err| panic!("{}", err.message));

    assert!(path.is_file(), "{}", path.display());
    assert_eq!(
        path.file_name().and_then(|name| name.to_str()),
        Some("fixture-worker")
    );
}

#[test]
fn resolves_from_member_package() {
    // This package has no binaries, and `fixture-worker` belongs to `fixtures`,
    // a member of the same workspace.
    let path = resolve_cargo_bin("fixture-worker", Path::new(MANIFEST_DIR))
        .unwrap_or_else(|err| panic!("{}", err.message));

    assert!(path.is_file(), "{}", path.display());
}

#[test]
fn unknown_binary_is_missing() {
    let err = resolve_cargo_bin("no-such-bin-xyz", Path::new(WORKSPACE_DIR))
        .expect_err("no package has this binary");

    assert_eq!(err.kind, ErrorKind::MissingBinary);
    assert!(err.message.contains("no-such-bin-xyz"), "{}", err.message);
}

#[test]
fn unknown_binary_error_quotes_cargo() {
    let err = resolve_cargo_bin("no-such-bin-xyz", Path::new(WORKSPACE_DIR))
        .expect_err("no package has this binary");

    assert!(
        err.message
            .contains("no bin target named `no-such-bin-xyz`"),
        "{}",
        err.message
    );
}
