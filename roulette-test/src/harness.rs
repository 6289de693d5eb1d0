//! `cargo test` integration: every YAML file of a folder becomes one
//! libtest-mimic trial, so `cargo test` and `cargo nextest` run chaos
//! experiments like any other test.
//!
//! A test target with `harness = false`:
//!
//! ```toml
//! [[test]]
//! name = "chaos"
//! harness = false
//! ```
//!
//! and a `tests/chaos.rs` of one line:
//!
//! ```text
//! fn main() {
//!     roulette_test::harness::Harness::new(concat!(env!("CARGO_MANIFEST_DIR"), "/chaos")).run()
//! }
//! ```
//!
//! Subfolders that hold a `Cargo.toml` are other projects and are skipped.
//! Each trial is named by the file's path relative to the folder, such as
//! `workers/sigkill.yaml`. Each trial writes its report as JSON, Markdown
//! with an SVG timeline, and HTML, and appends an audit log entry.
//! [`report::files`](crate::report::files) says where they go. A report
//! that does not pass ends with the command that replays the case with
//! the same seed: `ROULETTE_SEED=N cargo test --test chaos -- --exact
//! NAME`. The usual libtest flags work: name filters,
//! `--exact`, `--list --format terse`, `--ignored`, `--test-threads`. An
//! `--exact` filter that names a YAML case (ends in `.yaml` or `.yml`) but
//! matches none is an error, so a renamed case cannot turn into a silent
//! pass; other exact names are left to the other test targets of a
//! workspace.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::time::SystemTime;

use libtest_mimic::{Arguments, Failed, Trial};

use crate::report::audit::SpecFile;
use crate::report::files::{self, AUDIT_LOG_VARIABLE, ReportFiles};
use crate::report::replay::{self, SEED_VARIABLE};
use crate::report::{Outcome, render_text};
use crate::{runner, spec};

/// The chaos test harness for one folder of YAML cases.
#[derive(Debug)]
pub struct Harness {
    root: PathBuf,
    expected_failures: BTreeMap<String, String>,
    ignored: BTreeMap<String, String>,
    /// Whether each trial also asserts its report snapshot.
    snapshots: bool,
    /// Cases whose report snapshot is not asserted, with the reason.
    without_snapshot: BTreeMap<String, String>,
}

impl Harness {
    /// Creates a harness for the cases under `root`, searched recursively.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        // `CARGO_MANIFEST_DIR/../chaos` reads better without the `..`.
        let root = root.canonicalize().unwrap_or(root);
        Harness {
            root,
            expected_failures: BTreeMap::new(),
            ignored: BTreeMap::new(),
            snapshots: false,
            without_snapshot: BTreeMap::new(),
        }
    }

    /// Declares that case `name` must fail a hypothesis, with a report that
    /// contains `message`. The trial passes only then, which keeps
    /// demonstrations of caught bugs in the test suite.
    pub fn expect_failure(mut self, name: &str, message: &str) -> Self {
        self.expected_failures
            .insert(name.to_owned(), message.to_owned());
        self
    }

    /// Marks case `name` as ignored, so it runs only with `--ignored` or
    /// `--include-ignored`.
    pub fn ignore(mut self, name: &str, reason: &str) -> Self {
        self.ignored.insert(name.to_owned(), reason.to_owned());
        self
    }

    /// Makes each trial also assert the snapshot of its report, named
    /// after the case path with `/` replaced by `__` and `.` by `_`
    /// (`workers/sigkill.yaml` becomes `workers__sigkill_yaml`), in the
    /// folder `snapshots` under the root. Cases declared with
    /// [`Harness::expect_failure`] are snapshotted too. A missing or
    /// changed snapshot fails the trial; `cargo insta review` accepts it.
    #[cfg(feature = "snapshots")]
    pub fn snapshots(mut self) -> Self {
        self.snapshots = true;
        self
    }

    /// Leaves case `name` out of [`Harness::snapshots`], for a case whose
    /// report changes from run to run in a way the snapshot view keeps,
    /// such as whether a killed process's children exited by themselves
    /// before the supervisor killed them. `reason` documents why.
    pub fn without_snapshot(mut self, name: &str, reason: &str) -> Self {
        self.without_snapshot
            .insert(name.to_owned(), reason.to_owned());
        self
    }

    /// Builds the trials, one per YAML file, sorted by name.
    pub fn trials(&self) -> Result<Vec<Trial>, String> {
        let seed = match std::env::var(SEED_VARIABLE) {
            Ok(value) if !value.trim().is_empty() => Some(replay::parse_seed(&value)?),
            _ => None,
        };
        let test_target = replay::test_target_name();
        let context = Arc::new(CaseContext {
            seed,
            files: ReportFiles::from_env(&test_target),
            package: std::env::var("CARGO_PKG_NAME").ok(),
            test_target,
        });

        let mut files = Vec::new();
        collect_yaml(&self.root, &mut files).map_err(|err| {
            format!(
                "failed to list chaos cases in {}: {err}",
                self.root.display()
            )
        })?;
        files.sort();

        let mut trials = Vec::new();
        for file in files {
            let name = file
                .strip_prefix(&self.root)
                .unwrap_or(&file)
                .to_string_lossy()
                .replace('\\', "/");
            let expected = self.expected_failures.get(&name).cloned();
            let snapshot = (self.snapshots && !self.without_snapshot.contains_key(&name))
                .then(|| (self.root.join("snapshots"), snapshot_name(&name)));
            let context = Arc::clone(&context);
            let case = name.clone();
            let trial = Trial::test(name.clone(), move || {
                run_case(
                    &context,
                    &case,
                    &file,
                    expected.as_deref(),
                    snapshot.as_ref(),
                )
            });
            trials.push(match self.ignored.get(&name) {
                Some(_) => trial.with_ignored_flag(true),
                None => trial,
            });
        }

        let known: Vec<&str> = trials.iter().map(Trial::name).collect();
        let named = self
            .expected_failures
            .keys()
            .chain(self.ignored.keys())
            .chain(self.without_snapshot.keys());
        for name in named {
            if !known.contains(&name.as_str()) {
                return Err(format!(
                    "case `{name}` named in `expect_failure`, `ignore` or `without_snapshot` does not exist under {}; known cases: {}",
                    self.root.display(),
                    known.join(", ")
                ));
            }
        }
        Ok(trials)
    }

    /// Parses the command line, runs the trials and exits the process with
    /// libtest's exit code.
    pub fn run(self) -> ! {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                    .unwrap_or_else(|_| "warn".into()),
            )
            .try_init();
        let args = Arguments::from_args();
        // A bad audit log path fails now, not after every case has run.
        if let Some(path) = files::audit_log_from_env(&files::cargo_target_dir())
            && let Err(message) = crate::report::audit::check_path(&path)
        {
            eprintln!("error: {message} (from {AUDIT_LOG_VARIABLE})");
            std::process::exit(101);
        }
        let trials = match self.trials() {
            Ok(trials) => trials,
            Err(message) => {
                eprintln!("error: {message}");
                std::process::exit(101);
            }
        };
        if let Some(filter) = args.filter.as_deref().filter(|_| args.exact) {
            let names_a_case = filter.ends_with(".yaml") || filter.ends_with(".yml");
            if names_a_case && !trials.iter().any(|trial| trial.name() == filter) {
                eprintln!(
                    "error: no chaos case is named `{filter}` under {}",
                    self.root.display()
                );
                let names: Vec<&str> = trials.iter().map(Trial::name).collect();
                eprintln!("known cases: {}", names.join(", "));
                std::process::exit(101);
            }
        }
        libtest_mimic::run(&args, trials).exit()
    }
}

fn collect_yaml(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            // A folder with its own Cargo.toml is another project, with
            // chaos cases of its own.
            if !path.join("Cargo.toml").exists() {
                collect_yaml(&path, files)?;
            }
        } else if path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            files.push(path);
        }
    }
    Ok(())
}

/// Returns the snapshot name of the case at `path`, relative to the root.
fn snapshot_name(path: &str) -> String {
    path.replace('/', "__").replace('.', "_")
}

/// The settings that every trial of one harness shares.
#[derive(Debug)]
struct CaseContext {
    /// `ROULETTE_SEED`, which overrides each spec's seed.
    seed: Option<u64>,
    files: ReportFiles,
    /// The package and test target, for the replay command.
    package: Option<String>,
    test_target: String,
}

/// Runs one case, writes its report files and turns its report into a
/// trial result. With `snapshot`, a folder and a name, the report must
/// also match its accepted snapshot.
fn run_case(
    context: &CaseContext,
    case: &str,
    file: &Path,
    expected_failure: Option<&str>,
    snapshot: Option<&(PathBuf, String)>,
) -> Result<(), Failed> {
    let mut experiment = spec::load_file(file).map_err(|err| Failed::from(err.to_string()))?;
    experiment.seed = context.seed.or(experiment.seed);
    let spec_file = SpecFile::read(file).ok();
    let started = SystemTime::now();
    let mut report = runner::run_blocking(&experiment);
    let ended = SystemTime::now();
    if let Some(seed) = report.seed {
        report.replay = Some(replay::harness_replay(
            seed,
            context.package.as_deref(),
            &context.test_target,
            case,
        ));
    }
    let written = context
        .files
        .write(case, &report, spec_file.as_ref(), started, ended)
        .map_err(|err| Failed::from(format!("error: {err}\n\n{}", render_text(&report, false))))?;
    if let Some((folder, name)) = snapshot {
        check_snapshot(folder, name, &report, &experiment)?;
    }
    let text = format!(
        "{}report: {}\n",
        render_text(&report, false),
        written.html.display()
    );
    match (report.outcome, expected_failure) {
        (Outcome::Passed, None) => Ok(()),
        (Outcome::Failed, Some(message)) if text.contains(message) => Ok(()),
        (Outcome::Failed, Some(message)) => {
            Err(format!("the experiment failed as expected, but its report does not contain `{message}`:\n{text}").into())
        }
        (Outcome::Passed, Some(message)) => {
            Err(format!("the experiment was expected to fail with `{message}`, but every hypothesis holds:\n{text}").into())
        }
        (Outcome::Failed | Outcome::Error, _) => Err(text.into()),
    }
}

/// Asserts the report snapshot and turns insta's panic into a trial
/// failure; insta has already printed the difference to stderr.
#[cfg(feature = "snapshots")]
fn check_snapshot(
    folder: &Path,
    name: &str,
    report: &crate::report::Report,
    experiment: &spec::Experiment,
) -> Result<(), Failed> {
    let assertion = std::panic::AssertUnwindSafe(|| {
        crate::report::snapshot::assert_report_snapshot_in(folder, name, report, experiment)
    });
    std::panic::catch_unwind(assertion).map_err(|_| {
        Failed::from(format!(
            "the report does not match snapshot `{name}` in {}; review it with `cargo insta review`",
            folder.display()
        ))
    })
}

/// Accepts every report. Without the `snapshots` feature,
/// [`Harness::snapshots`] does not exist, so no trial requests a snapshot.
#[cfg(not(feature = "snapshots"))]
fn check_snapshot(
    _folder: &Path,
    _name: &str,
    _report: &crate::report::Report,
    _experiment: &spec::Experiment,
) -> Result<(), Failed> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trials_skip_nested_cargo_projects() {
        let root = tempfile::tempdir().expect("a temp dir");
        let write = |path: &str| {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("a folder");
            std::fs::write(path, "").expect("a file");
        };
        write("sigkill.yaml");
        write("workers/sigterm.yml");
        write("service/Cargo.toml");
        write("service/chaos/own-case.yaml");
        let trials = Harness::new(root.path())
            .trials()
            .expect("the cases are listed");
        let names: Vec<&str> = trials.iter().map(Trial::name).collect();
        assert_eq!(names, ["sigkill.yaml", "workers/sigterm.yml"]);
    }
}
