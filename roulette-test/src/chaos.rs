//! Chaos tests written as Rust functions: the context that
//! [`chaos_test`](crate::chaos_test) hands to a test, and the function
//! its expansion calls.
//!
//! ```no_run
//! use roulette_test::ChaosContext;
//! use roulette_test::builder::{ExperimentBuilder, FaultBuilder, Ready, Verify};
//!
//! // Runs an experiment file as this test; the body then checks more.
//! // The path is relative to the package's Cargo.toml.
//! #[roulette_test::chaos_test(spec = "../examples/quickstart.yaml", timeout = "60s", seed = 42)]
//! async fn worker_survives_sigkill(ctx: ChaosContext) {
//!     let report = ctx.report().expect("the spec ran");
//!     assert_eq!(report.restarts, 5);
//! }
//!
//! // An experiment written in Rust, run with the test's seed.
//! #[roulette_test::chaos_test(flavor = "multi_thread")]
//! async fn worker_survives_a_freeze(ctx: ChaosContext) {
//!     let experiment = ExperimentBuilder::new("freeze")
//!         .cargo_bin("fixture-worker")
//!         .args(["--port", "${port.http}", "--state", "${tmp}/jobs.log"])
//!         .port("http")
//!         .ready(Ready::http("http://127.0.0.1:${port.http}/healthz"))
//!         .fault(FaultBuilder::freeze("pause", "500ms").at(["1s"]))
//!         .hypothesis("no-restart", Verify::restarts("== 0"))
//!         .build()
//!         .expect("a valid experiment");
//!     ctx.run(&experiment).await.assert_passed();
//! }
//! ```

use std::future::Future;
use std::time::{Duration, SystemTime};

use crate::report::audit::SpecFile;
use crate::report::files::ReportFiles;
use crate::report::replay;
use crate::report::{ExperimentError, Outcome, Report, render_text};
use crate::runner::{self, Session};
use crate::spec::{self, Experiment};

/// What a `#[chaos_test]` function receives: the test's seed, and with
/// `spec = "..."` the experiment of that file and its report.
#[derive(Debug)]
pub struct ChaosContext {
    name: &'static str,
    seed: Option<u64>,
    /// `ROULETTE_SEED`, which replaces every other seed.
    override_seed: Option<u64>,
    experiment: Option<Experiment>,
    report: Option<Report>,
}

impl ChaosContext {
    /// Returns the test's path, such as `chaos::worker_survives_sigkill`.
    pub fn name(&self) -> &str {
        self.name
    }

    /// Returns the `seed` argument of the attribute.
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// Returns the experiment of the `spec` file, with the `seed` argument
    /// applied.
    pub fn experiment(&self) -> Option<&Experiment> {
        self.experiment.as_ref()
    }

    /// Returns the report of the `spec` file's run, which passed.
    pub fn report(&self) -> Option<&Report> {
        self.report.as_ref()
    }

    /// Runs `experiment` to its report. Without a seed of its own it takes
    /// the test's `seed`; `ROULETTE_SEED` replaces both. The report carries
    /// the command that replays this test, and its files and audit entry
    /// are written as the test harness writes them.
    pub async fn run(&self, experiment: &Experiment) -> Report {
        let started = SystemTime::now();
        let mut report = runner::run(&self.seeded(experiment)).await;
        record(self.name, &mut report, experiment, started);
        report
    }

    /// Starts `experiment` for a step-by-step test; see [`Session`].
    pub async fn start(&self, experiment: &Experiment) -> Result<Session, ExperimentError> {
        Session::start(&self.seeded(experiment)).await
    }

    fn seeded(&self, experiment: &Experiment) -> Experiment {
        let mut experiment = experiment.clone();
        experiment.seed = self.override_seed.or(experiment.seed).or(self.seed);
        experiment
    }
}

/// Returns the libtest name of the test at `path`: the path without its
/// first segment, the crate name, which libtest leaves out.
fn test_name(path: &str) -> &str {
    path.split_once("::").map_or(path, |(_, rest)| rest)
}

/// Sets the replay command of a chaos test's `report` and writes its
/// report files and audit entry as the test harness does. A file that
/// cannot be written is reported on stderr; it does not fail the test.
fn record(path: &str, report: &mut Report, experiment: &Experiment, started: SystemTime) {
    let test_target = replay::test_target_name();
    if let Some(seed) = report.seed {
        let package = std::env::var("CARGO_PKG_NAME").ok();
        report.replay = Some(replay::harness_replay(
            seed,
            package.as_deref(),
            &test_target,
            test_name(path),
        ));
    }
    let spec_file = experiment
        .source
        .as_deref()
        .and_then(|source| SpecFile::read(source).ok());
    let files = ReportFiles::from_env(&test_target);
    if let Err(err) = files.write(
        test_name(path),
        report,
        spec_file.as_ref(),
        started,
        SystemTime::now(),
    ) {
        eprintln!("warning: {err}");
    }
}

impl Report {
    /// Panics with the rendered report unless every hypothesis held.
    #[track_caller]
    pub fn assert_passed(&self) {
        if self.outcome != Outcome::Passed {
            panic!(
                "experiment `{}` did not pass:\n{}",
                self.experiment,
                render_text(self, false)
            );
        }
    }
}

/// What a chaos test function may return: `()`, or a `Result` whose
/// error fails the test.
pub trait ChaosTestResult {
    /// Panics with the error, if there is one.
    fn finish(self);
}

impl ChaosTestResult for () {
    fn finish(self) {}
}

impl<E: std::fmt::Debug> ChaosTestResult for Result<(), E> {
    #[track_caller]
    fn finish(self) {
        if let Err(error) = self {
            panic!("the chaos test returned an error: {error:?}");
        }
    }
}

/// The arguments of one `#[chaos_test]`.
#[doc(hidden)]
#[derive(Clone, Debug)]
pub struct ChaosTestOptions {
    pub name: &'static str,
    pub spec: Option<&'static str>,
    pub timeout: Option<Duration>,
    pub seed: Option<u64>,
    pub multi_thread: bool,
}

/// Runs the body of every `#[chaos_test]`: a runtime of the chosen flavor,
/// the `spec` file run first (it must pass), then the function, all
/// within the `timeout`.
#[doc(hidden)]
pub fn run_chaos_test<F, Fut>(options: ChaosTestOptions, body: F)
where
    F: FnOnce(ChaosContext) -> Fut,
    Fut: Future,
    Fut::Output: ChaosTestResult,
{
    let runtime = if options.multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .expect("a tokio runtime starts");
    let override_seed = replay::seed_from_env();
    let mut experiment = options.spec.map(|path| {
        spec::load_file(std::path::Path::new(path)).unwrap_or_else(|err| panic!("{err}"))
    });
    if let (Some(experiment), Some(seed)) = (&mut experiment, override_seed.or(options.seed)) {
        experiment.seed = Some(seed);
    }
    let test = async move {
        let report = match &experiment {
            Some(experiment) => {
                let started = SystemTime::now();
                let mut report = runner::run(experiment).await;
                record(options.name, &mut report, experiment, started);
                report.assert_passed();
                Some(report)
            }
            None => None,
        };
        let context = ChaosContext {
            name: options.name,
            seed: options.seed,
            override_seed,
            experiment,
            report,
        };
        body(context).await.finish();
    };
    runtime.block_on(async {
        match options.timeout {
            Some(limit) => {
                if tokio::time::timeout(limit, test).await.is_err() {
                    panic!(
                        "chaos test `{}` ran longer than its timeout of {}",
                        options.name,
                        spec::format_duration(limit)
                    );
                }
            }
            None => test.await,
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_name_drops_crate() {
        assert_eq!(
            test_name("chaos::sigkill_keeps_the_count"),
            "sigkill_keeps_the_count"
        );
        assert_eq!(test_name("chaos::workers::sigkill"), "workers::sigkill");
        assert_eq!(test_name("lonely"), "lonely");
    }
}
