//! Helpers for the tests of spec loading: loading a spec text, and
//! changing one part of a valid spec to get the error of the change.

use std::path::Path;

use super::load::InvalidSpec;
use super::{Experiment, SpecError, load_str};

/// Loads `text` as the file `case.yaml` in the current directory.
pub(super) fn load(text: &str) -> Result<Experiment, SpecError> {
    load_str(text, Some(Path::new("case.yaml")), Path::new("."))
}

/// Replaces the first `from` in `valid` with `to` and returns the error of
/// the changed spec. Panics when `valid` lacks `from` or the change loads.
pub(super) fn invalid_change(valid: &str, from: &str, to: &str) -> InvalidSpec {
    assert!(valid.contains(from), "the spec lacks {from:?}");
    let err = load(&valid.replacen(from, to, 1)).expect_err("the changed spec is invalid");
    err.invalid()
        .expect("an invalid spec, not a read error")
        .clone()
}
