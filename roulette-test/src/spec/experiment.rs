//! The checked experiment: what [`super::load_file`] returns and the
//! runner executes. Every choice the format leaves open is decided here,
//! so the runner never sees an ambiguous spec.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use regex::Regex;
use serde::Serialize;

use super::{Backoff, Dur, ExitSpec, Intensity, RestartPolicy, SignalName, Threshold};

/// One experiment, validated and ready to run.
#[derive(Clone, Debug)]
pub struct Experiment {
    pub name: String,
    pub description: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// The file it was read from, when it was read from a file.
    pub source: Option<PathBuf>,
    /// The directory that relative command paths resolve against and that
    /// commands run in: the spec file's directory.
    pub base_dir: PathBuf,
    pub target: TargetConfig,
    pub setup: Vec<Command>,
    pub faults: Vec<Fault>,
    pub seed: Option<u64>,
    pub settle: Dur,
    pub timeout: Dur,
    pub hypotheses: Vec<Hypothesis>,
    /// Scraping: the `target.metrics` endpoints and their timing.
    pub metrics: MetricsConfig,
    /// When to stop injecting and abort the run.
    pub abort: super::AbortSpec,
    /// Command-name patterns no fault may reach: [`BUILTIN_DENY`] and the
    /// spec's `policy.deny`.
    pub deny: Vec<Regex>,
    /// Every `${cargo_bin.NAME}` the spec uses.
    pub cargo_bins: BTreeSet<String>,
    /// The writes issued while the faults fire, if the spec has them.
    pub writes: Option<super::WritesConfig>,
    /// Traffic from the end of `setup` to the end of the settle period.
    pub load: Option<super::LoadConfig>,
}

/// What to run, with placeholders not yet expanded.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetConfig {
    pub program: Program,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub ports: Vec<String>,
    pub restart: RestartPolicy,
    pub backoff: Backoff,
    pub intensity: Intensity,
    pub ready: Readiness,
    /// The user name the program runs as, if not the harness's own.
    pub user: Option<String>,
    /// The first signal of teardown.
    pub stop_signal: SignalName,
}

/// The program of the target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Program {
    /// A path, or a name looked up on `PATH`.
    Command(String),
    /// A binary of the current cargo workspace.
    CargoBin(String),
}

/// The readiness probe with its timing.
#[derive(Clone, Debug, PartialEq)]
pub struct Readiness {
    pub probe: ProbeKind,
    pub interval: Dur,
    pub attempt_timeout: Dur,
    pub timeout: Dur,
}

/// One kind of readiness probe. Templates are not yet expanded.
#[derive(Clone, Debug)]
pub enum ProbeKind {
    /// A GET that must answer the given status.
    Http { url: String, status: u16 },
    /// A TCP connect to `host:port`.
    Tcp(String),
    /// A line printed by the current incarnation that matches.
    Log(Regex),
    /// A command that must exit 0.
    Exec(Vec<String>),
}

impl ProbeKind {
    /// The probe in a few words, for reports.
    pub fn describe(&self) -> String {
        match self {
            ProbeKind::Http { url, status } => format!("http GET {url} == {status}"),
            ProbeKind::Tcp(address) => format!("tcp connect {address}"),
            ProbeKind::Log(regex) => format!("log line matching /{}/", regex.as_str()),
            ProbeKind::Exec(argv) => format!("exec {}", argv.join(" ")),
        }
    }
}

/// A command with a time limit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Command {
    pub argv: Vec<String>,
    pub timeout: Dur,
}

/// One fault: what it does, to whom, and when.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub name: String,
    pub action: FaultAction,
    pub target: FaultTarget,
    /// Offsets from the end of `setup` at which the fault fires, sorted.
    /// Empty for a random schedule until the run chooses its seed.
    pub offsets: Vec<Dur>,
    /// A random schedule, drawn when the run's seed is known.
    pub random: Option<super::RandomSpec>,
}

impl Fault {
    /// How many times the fault fires.
    pub fn firings(&self) -> usize {
        self.random
            .map_or(self.offsets.len(), |random| random.count as usize)
    }
}

/// What a fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Send a signal. With a grace period, SIGKILL goes to the whole process
    /// group if the main process is still alive when it ends.
    Signal {
        signal: SignalName,
        grace: Option<Dur>,
    },
    /// SIGSTOP, wait, SIGCONT.
    Freeze(Dur),
}

impl FaultAction {
    /// Returns whether the main process is bound to exit: by SIGKILL, or by
    /// escalation after the grace period.
    pub fn expects_exit(&self) -> bool {
        match self {
            FaultAction::Signal { signal, grace } => {
                signal.0 == nix::sys::signal::Signal::SIGKILL || grace.is_some()
            }
            FaultAction::Freeze(_) => false,
        }
    }
}

/// Which processes a fault reaches.
#[derive(Clone, Debug, PartialEq)]
pub enum FaultTarget {
    /// The main process of the running incarnation.
    Main,
    /// Its whole process group.
    Group,
    /// Descendants picked by command name or command line.
    Processes(ProcessSelector),
}

/// Descendants of the target, picked by a regular expression.
#[derive(Clone, Debug)]
pub struct ProcessSelector {
    pub regex: Regex,
    pub pick: super::Pick,
}

/// Command names that no fault may reach, whatever a spec says: the init
/// system, remote access and container runtimes.
pub const BUILTIN_DENY: &[&str] = &[
    "^init$",
    "^systemd",
    "^sshd",
    "^dockerd$",
    "^containerd",
    "^kubelet$",
    "^runc$",
];

/// One named hypothesis.
#[derive(Clone, Debug, PartialEq)]
pub struct Hypothesis {
    pub name: String,
    pub check: Check,
}

/// The kinds of check a hypothesis can make.
#[derive(Clone, Debug)]
pub enum Check {
    /// Every recovery meets the threshold.
    TtrEach(Threshold<Dur>),
    /// Percentiles of the recoveries meet their thresholds.
    TtrPercentiles {
        p50: Option<Threshold<Dur>>,
        p95: Option<Threshold<Dur>>,
        max: Option<Threshold<Dur>>,
    },
    /// The number of restarts meets the threshold.
    Restarts(Threshold<u64>),
    /// After a graceful signal the target exited by itself within grace.
    Exit(ExitSpec),
    /// A command run after the settle period exits 0.
    Exec(Command),
    /// A PromQL expression over the scraped series meets the threshold,
    /// for every element of a vector; with `continuous`, at every scrape
    /// from the first fault on.
    Metric {
        expr: crate::metrics::promql::Expr,
        threshold: Threshold<f64>,
        continuous: bool,
    },
    /// Every acknowledged write of `spec.writes` is still present, counted
    /// against the given thresholds.
    Writes {
        lost: Option<Threshold<u64>>,
        duplicates: Option<Threshold<u64>>,
        acknowledged: Option<Threshold<u64>>,
    },
    /// The share of failed load requests in `phase` meets the threshold.
    ErrorRate {
        threshold: Threshold<f64>,
        phase: super::LoadPhase,
    },
    /// Latency percentiles of the load requests in `phase` meet their
    /// thresholds.
    Latency {
        p50: Option<Threshold<Dur>>,
        p95: Option<Threshold<Dur>>,
        p99: Option<Threshold<Dur>>,
        max: Option<Threshold<Dur>>,
        phase: super::LoadPhase,
    },
}

impl Check {
    /// Describes the check as one line, such as `ttr < 2s on every
    /// recovery`, for plans and listings.
    pub fn describe(&self) -> String {
        match self {
            Check::TtrEach(threshold) => format!("ttr {threshold} on every recovery"),
            Check::TtrPercentiles { p50, p95, max } => {
                format!(
                    "ttr {}",
                    describe_thresholds(&[("p50", p50), ("p95", p95), ("max", max)])
                )
            }
            Check::Restarts(threshold) => format!("restarts {threshold}"),
            Check::Exit(spec) => {
                let manner = if spec.graceful {
                    "exits by itself within grace"
                } else {
                    "exits"
                };
                match spec.code {
                    Some(code) => format!("target {manner} with code {code}"),
                    None => format!("target {manner}"),
                }
            }
            Check::Exec(command) => format!("exec {} exits 0", command.argv.join(" ")),
            Check::Metric {
                expr,
                threshold,
                continuous,
            } => {
                let when = if *continuous {
                    "at every scrape from the first fault"
                } else {
                    "at the end"
                };
                format!("metric {expr} {threshold} {when}")
            }
            Check::Writes {
                lost,
                duplicates,
                acknowledged,
            } => {
                format!(
                    "writes {}",
                    describe_thresholds(&[
                        ("lost", lost),
                        ("duplicates", duplicates),
                        ("acknowledged", acknowledged),
                    ])
                )
            }
            Check::ErrorRate { threshold, phase } => format!(
                "load error rate {} {} in phase {phase}",
                threshold.op.symbol(),
                crate::report::format_percent(threshold.value)
            ),
            Check::Latency {
                p50,
                p95,
                p99,
                max,
                phase,
            } => {
                format!(
                    "load latency {} in phase {phase}",
                    describe_thresholds(&[("p50", p50), ("p95", p95), ("p99", p99), ("max", max)])
                )
            }
        }
    }
}

/// Joins the thresholds that are set as `p50 < 1s, max < 2s`.
fn describe_thresholds<T: std::fmt::Display>(
    thresholds: &[(&str, &Option<Threshold<T>>)],
) -> String {
    let parts: Vec<String> = thresholds
        .iter()
        .filter_map(|(name, threshold)| {
            threshold
                .as_ref()
                .map(|threshold| format!("{name} {threshold}"))
        })
        .collect();
    parts.join(", ")
}

/// Scraping during the experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricsConfig {
    /// Endpoint URLs, placeholders not yet expanded; may be empty, since
    /// the supervisor-made series need no endpoint.
    pub endpoints: Vec<String>,
    pub interval: Dur,
    pub timeout: Dur,
}
