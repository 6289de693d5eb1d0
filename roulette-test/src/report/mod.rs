//! The report of one experiment and its renderings: the terminal text,
//! JSON, JUnit XML and Markdown, and the audit log of runs.

pub mod audit;
pub mod files;
mod html;
mod junit;
mod load;
mod markdown;
pub mod provenance;
pub mod replay;
#[cfg(test)]
mod sample;
pub mod snapshot;
mod svg;
mod table;
mod terminal;
pub mod writes;

use std::time::Duration;

use serde::Serialize;

use crate::supervisor::logs::LogLine;
use crate::supervisor::timeline::{Event, ExitStatus};

pub use html::render_html;
pub use junit::render_junit;
pub use load::{
    IncarnationLoad, LatencySummary, LoadReport, OutcomeCounts, PhaseLoad, format_percent,
};
pub use markdown::render_markdown;
#[cfg(feature = "snapshots")]
pub use snapshot::assert_report_snapshot;
pub use snapshot::{SnapshotReport, snapshot_view};
pub use svg::render_timeline_svg;
pub use terminal::render_text;
pub use writes::WritesReport;

/// Version of the JSON report layout.
pub const REPORT_VERSION: u32 = 1;

/// Everything one experiment measured and concluded.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub report_version: u32,
    pub experiment: String,
    pub description: Option<String>,
    /// The spec file, when the experiment was read from one.
    pub source: Option<String>,
    pub seed: Option<u64>,
    /// The command that runs this experiment again with the same seed.
    /// The test harness and `roulette run` fill it in; the runner cannot
    /// know how it was invoked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// Labels, hashes of the spec and the target binary, the git commit
    /// and versions.
    pub provenance: provenance::Provenance,
    pub outcome: Outcome,
    /// Why the faults stopped early: the circuit breaker (`policy.abort`),
    /// or a crash loop that made the supervisor give up at its intensity
    /// limit. An aborted run fails.
    pub aborted: Option<String>,
    /// Invalid expositions served by the metrics endpoints, each with the
    /// endpoint and the line; such a scrape counts as failed (`up` 0).
    pub scrape_problems: Vec<String>,
    /// Why the experiment could not be carried out, when it could not.
    pub error: Option<ExperimentError>,
    pub probe: ProbeInfo,
    pub faults: Vec<FaultReport>,
    pub verdicts: Vec<Verdict>,
    /// The writes of `spec.writes` and what the store kept of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writes: Option<WritesReport>,
    pub restarts: u32,
    /// Why the supervisor stopped restarting before teardown, if it did.
    pub halted: Option<String>,
    pub teardown: TeardownReport,
    /// What the `load` block measured, when the spec has one and the
    /// load ran to its end.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadReport>,
    pub timeline: Vec<Event>,
    /// The last lines the target printed, oldest first.
    pub log_tail: Vec<LogLine>,
    #[serde(serialize_with = "millis", rename = "duration_ms")]
    pub duration: Duration,
}

/// The conclusion of an experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every hypothesis holds.
    Passed,
    /// At least one hypothesis does not hold.
    Failed,
    /// The experiment could not be carried out: a setup error, a timeout, or
    /// a process that survived teardown. No hypothesis was judged.
    Error,
}

/// Why an experiment could not be carried out.
#[derive(Clone, Debug, Serialize)]
pub struct ExperimentError {
    pub kind: ErrorKind,
    pub message: String,
}

/// The kinds of [`ExperimentError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The program or a command's program does not exist.
    MissingBinary,
    /// A placeholder had no value, or a port could not be allocated.
    Prepare,
    /// The target could not be started.
    SpawnFailed,
    /// The target never passed its readiness probe before the first fault.
    NeverReady,
    /// A `setup` command failed.
    SetupCommand,
    /// The experiment ran past `policy.timeout`.
    Timeout,
    /// A signal to the harness (SIGINT, SIGTERM) stopped the experiment.
    Interrupted,
    /// A process of the experiment was alive after teardown.
    Survivors,
}

impl ErrorKind {
    /// Returns whether this error happened before any fault was injected.
    pub fn is_setup(self) -> bool {
        !matches!(
            self,
            ErrorKind::Timeout | ErrorKind::Interrupted | ErrorKind::Survivors
        )
    }
}

/// The readiness probe, whose interval bounds the precision of every TTR.
#[derive(Clone, Debug, Serialize)]
pub struct ProbeInfo {
    pub description: String,
    #[serde(serialize_with = "millis", rename = "interval_ms")]
    pub interval: Duration,
    #[serde(serialize_with = "millis", rename = "attempt_timeout_ms")]
    pub attempt_timeout: Duration,
}

/// One firing of one fault and what followed.
#[derive(Clone, Debug, Serialize)]
pub struct FaultReport {
    pub fault: String,
    /// 1 for the first firing of this fault, 2 for the second, and so on.
    pub occurrence: u32,
    /// The action in a few words, such as `SIGTERM to main process, grace 5s`.
    pub action: String,
    /// Offset from the experiment start at which it fired.
    #[serde(serialize_with = "millis", rename = "at_ms")]
    pub at: Duration,
    /// The incarnation it hit, if the target was running.
    pub incarnation: Option<u32>,
    pub pid: Option<u32>,
    pub stop: StopPath,
    pub recovery: Recovery,
}

/// How the target's main process reacted to a fault.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "path", rename_all = "snake_case")]
pub enum StopPath {
    /// It exited by itself within the grace period.
    ExitedWithinGrace {
        status: ExitStatus,
        #[serde(serialize_with = "millis", rename = "after_ms")]
        after: Duration,
    },
    /// The grace period ended with it alive, so SIGKILL went to its group.
    Escalated {
        #[serde(serialize_with = "millis", rename = "grace_ms")]
        grace: Duration,
        status: Option<ExitStatus>,
    },
    /// It exited after a signal sent without a grace period.
    Exited {
        status: ExitStatus,
        #[serde(serialize_with = "millis", rename = "after_ms")]
        after: Duration,
    },
    /// It exited at no time the harness waited for: the signal has no grace
    /// period, so the harness did not wait for an exit.
    NotAwaited,
    /// It was stopped and continued.
    Frozen {
        #[serde(serialize_with = "millis", rename = "duration_ms")]
        duration: Duration,
    },
    /// It did not exit even after SIGKILL, within the harness's limit.
    DidNotExit,
    /// The descendants a process-target fault reached exited.
    DescendantsExited {
        pids: Vec<u32>,
        #[serde(serialize_with = "millis", rename = "after_ms")]
        after: Duration,
    },
    /// The descendants outlived the grace period and got SIGKILL.
    DescendantsEscalated {
        pids: Vec<u32>,
        #[serde(serialize_with = "millis", rename = "grace_ms")]
        grace: Duration,
    },
    /// The descendants were signalled; with no grace period, no exit was
    /// awaited.
    DescendantsSignalled { pids: Vec<u32> },
    /// The target was not running when the fault fired, so nothing was sent.
    NotRunning,
    /// The signal could not be sent.
    SignalFailed { error: String },
}

impl std::fmt::Display for StopPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::spec::format_duration as d;
        match self {
            StopPath::ExitedWithinGrace { status, after } => write!(
                f,
                "exited by itself within grace after {} ({status})",
                d(*after)
            ),
            StopPath::Escalated { grace, status } => {
                write!(
                    f,
                    "still alive after grace {}: escalated to SIGKILL",
                    d(*grace)
                )?;
                if let Some(status) = status {
                    write!(f, " ({status})")?;
                }
                Ok(())
            }
            StopPath::Exited { status, after } => {
                write!(f, "exited after {} ({status})", d(*after))
            }
            StopPath::NotAwaited => f.write_str("no exit awaited (no grace period)"),
            StopPath::Frozen { duration } => write!(f, "frozen for {}", d(*duration)),
            StopPath::DidNotExit => f.write_str("did not exit after SIGKILL"),
            StopPath::DescendantsExited { pids, after } => {
                write!(f, "descendant(s) {pids:?} exited after {}", d(*after))
            }
            StopPath::DescendantsEscalated { pids, grace } => {
                write!(
                    f,
                    "descendant(s) {pids:?} still alive after grace {}: SIGKILL",
                    d(*grace)
                )
            }
            StopPath::DescendantsSignalled { pids } => {
                write!(f, "descendant(s) {pids:?} signalled; no exit awaited")
            }
            StopPath::NotRunning => f.write_str("target not running; nothing sent"),
            StopPath::SignalFailed { error } => write!(f, "signal failed: {error}"),
        }
    }
}

/// The recovery that followed a fault.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Recovery {
    /// A readiness probe passed. TTR runs from the fault's first signal to
    /// that probe, and splits into time to exit, to restart and to ready.
    Recovered {
        incarnation: u32,
        #[serde(serialize_with = "millis", rename = "ttr_ms")]
        ttr: Duration,
        #[serde(serialize_with = "optional_millis", rename = "to_exit_ms")]
        to_exit: Option<Duration>,
        #[serde(serialize_with = "optional_millis", rename = "to_restart_ms")]
        to_restart: Option<Duration>,
        #[serde(serialize_with = "millis", rename = "to_ready_ms")]
        to_ready: Duration,
    },
    /// No probe passed in time, or the supervisor gave up.
    NotRecovered { reason: String },
    /// The next fault fired before this recovery ended.
    Interrupted { by: String },
    /// No recovery was due: nothing was sent.
    NotApplicable,
}

impl Recovery {
    /// The time to recover, when it recovered.
    pub fn ttr(&self) -> Option<Duration> {
        match self {
            Recovery::Recovered { ttr, .. } => Some(*ttr),
            _ => None,
        }
    }
}

/// The judgement of one hypothesis.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub name: String,
    /// The kind of check: `ttr`, `restarts`, `exit`, `exec`, `metric`,
    /// `error_rate` or `latency`.
    pub check: String,
    pub holds: bool,
    pub measured: String,
    pub threshold: String,
    /// Why it holds or does not, in a sentence.
    pub reason: String,
}

/// What teardown found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TeardownReport {
    /// The target ignored SIGTERM for the teardown grace period.
    pub killed_after_grace: bool,
    /// Processes alive after SIGKILL to every group, as `pid: command line`.
    pub survivors: Vec<String>,
}

impl Report {
    /// Writes the report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    /// The failed verdicts.
    pub fn failures(&self) -> impl Iterator<Item = &Verdict> {
        self.verdicts.iter().filter(|verdict| !verdict.holds)
    }
}

fn millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64() * 1000.0)
}

fn optional_millis<S: serde::Serializer>(
    duration: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match duration {
        Some(duration) => millis(duration, serializer),
        None => serializer.serialize_none(),
    }
}
