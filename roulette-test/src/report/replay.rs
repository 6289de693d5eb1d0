//! Commands that run an experiment again with the seed of an earlier run,
//! printed with a report that did not pass.

use std::borrow::Cow;
use std::path::Path;

/// The environment variable that overrides `spec.seed` of every case the
/// test harness runs.
pub const SEED_VARIABLE: &str = "ROULETTE_SEED";

/// Returns the `roulette run` command that replays `file` with `seed`.
pub fn cli_replay(seed: u64, file: &Path) -> String {
    format!(
        "roulette run --seed {seed} {}",
        shell_quote(&file.to_string_lossy())
    )
}

/// Returns the `cargo test` command that replays chaos case `case` of test
/// target `target` in package `package` with `seed`.
pub fn harness_replay(seed: u64, package: Option<&str>, target: &str, case: &str) -> String {
    let package = package
        .map(|package| format!(" -p {}", shell_quote(package)))
        .unwrap_or_default();
    format!(
        "{SEED_VARIABLE}={seed} cargo test{package} --test {} -- --exact {}",
        shell_quote(target),
        shell_quote(case)
    )
}

/// Returns the name of the running test target: the executable's name
/// without the `-<16 hex digits>` suffix that cargo adds.
pub fn test_target_name() -> String {
    let stem = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| String::from("chaos"));
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name.to_owned()
        }
        _ => stem,
    }
}

/// Returns the seed that `ROULETTE_SEED` sets, if it is set.
///
/// # Panics
///
/// When the variable holds something other than a whole number, with a
/// message that says how to set it.
pub fn seed_from_env() -> Option<u64> {
    match std::env::var(SEED_VARIABLE) {
        Ok(value) if !value.trim().is_empty() => {
            Some(parse_seed(&value).unwrap_or_else(|err| panic!("{err}")))
        }
        _ => None,
    }
}

/// Quotes `word` for a POSIX shell when it holds anything but letters,
/// digits and `-_./=:@%+,`.
pub fn shell_quote(word: &str) -> Cow<'_, str> {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c));
    if plain {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
    }
}

/// Parses the value of [`SEED_VARIABLE`]: a decimal `u64`.
pub fn parse_seed(value: &str) -> Result<u64, String> {
    value.trim().parse().map_err(|_| {
        format!("{SEED_VARIABLE}={value:?} is not a seed; set it to a whole number from 0 to 18446744073709551615, as a report prints it")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_leaves_plain_words() {
        assert_eq!(shell_quote("workers/sigkill.yaml"), "workers/sigkill.yaml");
        assert_eq!(shell_quote("a-b_c.d"), "a-b_c.d");
    }

    #[test]
    fn shell_quote_quotes_special_words() {
        assert_eq!(shell_quote("my case.yaml"), "'my case.yaml'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
    }

    #[test]
    fn harness_replay_names_case_exactly() {
        assert_eq!(
            harness_replay(7, Some("service"), "chaos", "workers/kill me.yaml"),
            "ROULETTE_SEED=7 cargo test -p service --test chaos -- --exact 'workers/kill me.yaml'"
        );
        assert_eq!(
            harness_replay(7, None, "chaos", "a.yaml"),
            "ROULETTE_SEED=7 cargo test --test chaos -- --exact a.yaml"
        );
    }

    #[test]
    fn cli_replay_quotes_path() {
        assert_eq!(
            cli_replay(42, Path::new("chaos/kill worker.yaml")),
            "roulette run --seed 42 'chaos/kill worker.yaml'"
        );
    }

    #[test]
    fn parse_seed_rejects_garbage() {
        assert_eq!(parse_seed(" 42 "), Ok(42));
        let err = parse_seed("forty").unwrap_err();
        assert!(
            err.contains("ROULETTE_SEED=\"forty\" is not a seed"),
            "{err}"
        );
        assert!(parse_seed("-1").is_err());
    }
}
