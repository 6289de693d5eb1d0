//! The experiment file format (`roulette-test/v1alpha1`): serde types,
//! defaults, validation, and errors that name the file, line, column and
//! field.
//!
//! One YAML file describes one experiment. [`load_file`] reads and checks
//! one; [`Experiment`] is the checked value that the runner executes.

mod check;
mod equality;
mod experiment;
mod load;
mod location;
mod placeholder;
mod traffic;
mod values;
mod writes;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

pub use experiment::{
    BUILTIN_DENY, Check, Command, Experiment, Fault, FaultAction, FaultTarget, Hypothesis,
    MetricsConfig, ProbeKind, ProcessSelector, Program, Readiness, TargetConfig,
};
pub use load::{SpecError, load_file, load_str};
pub use placeholder::{PlaceholderError, Placeholders};
pub use traffic::{
    HttpLoadSpec, LatencySpec, LoadConfig, LoadPhase, LoadSpec, MAX_IN_FLIGHT, MAX_RATE, Rate,
};
pub use values::{Comparison, Dur, SignalName, Threshold, format_duration, parse_duration};
pub use writes::{
    ExecWritesSpec, HttpWritesSpec, MAX_WRITE_COUNT, MAX_WRITE_RATE, PostgresWritesSpec,
    RedisWritesSpec, WriteDriver, WritesCheckSpec, WritesConfig, WritesSpec, parse_rate,
};

/// The only `apiVersion` this version of the harness reads.
pub const API_VERSION: &str = "roulette-test/v1alpha1";

/// The only `kind` this version of the harness reads.
pub const KIND: &str = "ProcessKillExperiment";

/// One experiment file, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Document {
    pub api_version: Spanned<String>,
    pub kind: Spanned<String>,
    pub metadata: Metadata,
    pub spec: ExperimentSpec,
}

/// Name, description and labels of an experiment.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// The body of an experiment: what to run, what to break and what must hold.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    pub target: Spanned<Target>,
    #[serde(default)]
    pub setup: Vec<Spanned<ExecStep>>,
    #[serde(default)]
    pub faults: Vec<Spanned<FaultSpec>>,
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default = "default_settle")]
    pub settle: Dur,
    #[serde(default)]
    pub load: Option<Spanned<LoadSpec>>,
    /// Uniquely identified writes issued while the faults fire, listed
    /// afterwards for the `writes` hypothesis.
    #[serde(default)]
    pub writes: Option<Spanned<WritesSpec>>,
    #[serde(default)]
    pub policy: Policy,
    #[serde(default)]
    pub hypothesis: Vec<Spanned<HypothesisSpec>>,
}

fn default_settle() -> Dur {
    Dur::from_secs(2)
}

/// The system under test and how it is supervised.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// A program path or a name looked up on `PATH`.
    #[serde(default)]
    pub command: Option<Spanned<String>>,
    /// A binary of the current cargo workspace.
    #[serde(default)]
    pub cargo_bin: Option<Spanned<String>>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Names of free 127.0.0.1 ports to allocate, used as `${port.NAME}`.
    #[serde(default)]
    pub ports: Vec<String>,
    #[serde(default)]
    pub supervisor: SupervisorSpec,
    pub ready: Spanned<ReadySpec>,
    #[serde(default)]
    pub metrics: Option<Spanned<MetricsSpec>>,
    /// The user the program runs as, switched to with setgid and setuid
    /// in the child before exec. Needs a harness that runs as root.
    #[serde(default)]
    pub user: Option<Spanned<String>>,
    /// The signal that teardown sends first; SIGKILL follows after the
    /// teardown grace period.
    #[serde(default)]
    pub stop_signal: Option<SignalName>,
}

/// Restart policy of the supervisor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Restart after every exit.
    #[default]
    Always,
    /// Restart after an exit with a non-zero code or by a signal.
    OnFailure,
    /// Never restart.
    Never,
}

/// Restart policy, backoff and intensity limit.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorSpec {
    #[serde(default)]
    pub restart: RestartPolicy,
    #[serde(default)]
    pub backoff: Backoff,
    #[serde(default)]
    pub intensity: Intensity,
}

impl Default for SupervisorSpec {
    fn default() -> Self {
        SupervisorSpec {
            restart: RestartPolicy::Always,
            backoff: Backoff::default(),
            intensity: Intensity::default(),
        }
    }
}

/// Delay before each restart: `initial`, multiplied by `factor` after each
/// consecutive restart, capped at `max`.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    #[serde(default = "Backoff::default_initial")]
    pub initial: Dur,
    #[serde(default = "Backoff::default_max")]
    pub max: Dur,
    #[serde(default = "Backoff::default_factor")]
    pub factor: f64,
}

impl Backoff {
    fn default_initial() -> Dur {
        Dur::from_millis(0)
    }
    fn default_max() -> Dur {
        Dur::from_secs(2)
    }
    fn default_factor() -> f64 {
        2.0
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Self::default_initial(),
            max: Self::default_max(),
            factor: Self::default_factor(),
        }
    }
}

/// The restart intensity limit: more than `restarts` restarts within
/// `within` and the supervisor gives up, as an OTP supervisor does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Intensity {
    #[serde(default = "Intensity::default_restarts")]
    pub restarts: u32,
    #[serde(default = "Intensity::default_within")]
    pub within: Dur,
}

impl Intensity {
    fn default_restarts() -> u32 {
        10
    }
    fn default_within() -> Dur {
        Dur::from_secs(30)
    }
}

impl Default for Intensity {
    fn default() -> Self {
        Intensity {
            restarts: Self::default_restarts(),
            within: Self::default_within(),
        }
    }
}

/// Prometheus endpoints the harness scrapes during the experiment.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSpec {
    /// One endpoint.
    #[serde(default)]
    pub url: Option<String>,
    /// Several endpoints.
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default = "MetricsSpec::default_interval")]
    pub interval: Dur,
    /// One scrape; a frozen process accepts the connection and never answers.
    #[serde(default = "MetricsSpec::default_timeout")]
    pub timeout: Dur,
}

impl MetricsSpec {
    fn default_interval() -> Dur {
        Dur::from_millis(250)
    }
    fn default_timeout() -> Dur {
        Dur::from_millis(500)
    }
}

/// When a metric check applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum During {
    /// At every scrape from the first fault to the end.
    Continuous,
}

/// The readiness probe and its timing, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadySpec {
    #[serde(default)]
    pub http: Option<HttpProbeSpec>,
    #[serde(default)]
    pub tcp: Option<String>,
    #[serde(default)]
    pub log: Option<String>,
    #[serde(default)]
    pub exec: Option<Vec<String>>,
    #[serde(default = "ReadySpec::default_interval")]
    pub interval: Dur,
    #[serde(default = "ReadySpec::default_attempt_timeout")]
    pub attempt_timeout: Dur,
    #[serde(default = "ReadySpec::default_timeout")]
    pub timeout: Dur,
}

impl ReadySpec {
    fn default_interval() -> Dur {
        Dur::from_millis(10)
    }
    fn default_attempt_timeout() -> Dur {
        Dur::from_millis(500)
    }
    fn default_timeout() -> Dur {
        Dur::from_secs(10)
    }
}

/// An HTTP readiness probe: a GET that must return `status`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpProbeSpec {
    pub url: String,
    #[serde(default = "HttpProbeSpec::default_status")]
    pub status: u16,
}

impl HttpProbeSpec {
    fn default_status() -> u16 {
        200
    }
}

/// A command run by the harness: in `setup`, or as a readiness or data check.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExecStep {
    pub exec: Vec<String>,
    #[serde(default = "ExecStep::default_timeout")]
    pub timeout: Dur,
}

impl ExecStep {
    fn default_timeout() -> Dur {
        Dur::from_secs(60)
    }
}

/// One fault as written: a signal or a freeze, a target and a schedule.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub name: String,
    #[serde(default)]
    pub signal: Option<SignalName>,
    #[serde(default)]
    pub grace: Option<Spanned<Dur>>,
    #[serde(default)]
    pub freeze: Option<Dur>,
    #[serde(default)]
    pub target: Option<Spanned<FaultTargetSpec>>,
    pub schedule: Spanned<ScheduleSpec>,
}

/// Which processes a fault reaches: `main`, `group`, or
/// `{process: REGEX, pick: random | all | oldest | newest}`.
#[derive(Clone, Debug)]
pub enum FaultTargetSpec {
    /// The process the supervisor spawned.
    Main,
    /// The whole process group of the spawned process.
    Group,
    /// Descendants of the target whose command name or command line
    /// matches.
    Process(ProcessTargetSpec),
}

/// Descendants of the target picked by a regular expression.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessTargetSpec {
    /// Matched against the command name and the command line.
    pub process: String,
    #[serde(default)]
    pub pick: Pick,
}

/// Which of the matching processes a fault reaches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pick {
    /// One, chosen with the experiment's seed.
    #[default]
    Random,
    /// Every matching process.
    All,
    /// The one that started first.
    Oldest,
    /// The one that started last.
    Newest,
}

impl<'de> Deserialize<'de> for FaultTargetSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TargetVisitor;

        impl<'de> serde::de::Visitor<'de> for TargetVisitor {
            type Value = FaultTargetSpec;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "`main`, `group`, or a map such as `{process: \"worker\", pick: random}`",
                )
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<FaultTargetSpec, E> {
                match text {
                    "main" => Ok(FaultTargetSpec::Main),
                    "group" => Ok(FaultTargetSpec::Group),
                    other => Err(E::custom(format!(
                        "unknown target `{other}`; write `main`, `group`, or `{{process: REGEX, pick: random}}`"
                    ))),
                }
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<FaultTargetSpec, A::Error> {
                ProcessTargetSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(FaultTargetSpec::Process)
            }
        }

        deserializer.deserialize_any(TargetVisitor)
    }
}

/// When a fault fires, as offsets from the end of `setup`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    #[serde(default)]
    pub at: Option<Vec<Dur>>,
    #[serde(default)]
    pub every: Option<Dur>,
    #[serde(default)]
    pub count: Option<u32>,
    /// `count` offsets drawn from `[0, within)` with the experiment's seed.
    #[serde(default)]
    pub random: Option<RandomSpec>,
}

/// A random schedule: `count` firings at offsets drawn within a window
/// from the experiment's seed, so the report's seed replays them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RandomSpec {
    pub count: u32,
    pub within: Dur,
}

/// Guardrails of an experiment.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The whole experiment, from spawn to teardown, must end within this.
    #[serde(default = "Policy::default_timeout")]
    pub timeout: Dur,
    /// Faults in progress at once. This version injects one at a time, so
    /// only 1 is accepted.
    #[serde(default)]
    pub max_concurrent: Option<Spanned<u32>>,
    /// Regular expressions of command names that no fault may reach, on
    /// top of the built-in list.
    #[serde(default)]
    pub deny: Vec<String>,
    #[serde(default)]
    pub abort: AbortSpec,
}

/// The circuit breaker: conditions that stop injecting faults, tear down
/// and mark the run aborted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbortSpec {
    /// Abort when the target is not ready this long after a fault.
    #[serde(default)]
    pub not_ready_for: Option<Dur>,
    /// Abort after this many recoveries failed.
    #[serde(default)]
    pub failed_recoveries: Option<u32>,
}

impl Policy {
    fn default_timeout() -> Dur {
        Dur::from_secs(300)
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            timeout: Self::default_timeout(),
            max_concurrent: None,
            deny: Vec::new(),
            abort: AbortSpec::default(),
        }
    }
}

/// One hypothesis as written: a name and exactly one kind of check.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HypothesisSpec {
    pub name: String,
    #[serde(default)]
    pub ttr: Option<TtrSpec>,
    #[serde(default)]
    pub restarts: Option<Threshold<u64>>,
    #[serde(default)]
    pub exit: Option<ExitSpec>,
    #[serde(default)]
    pub exec: Option<Vec<String>>,
    /// Time limit of an `exec` check.
    #[serde(default)]
    pub timeout: Option<Dur>,
    #[serde(default)]
    pub metric: Option<String>,
    #[serde(default)]
    pub threshold: Option<Threshold<f64>>,
    /// `continuous`: a `metric` check must hold at every scrape from the
    /// first fault to the end, not only at the end.
    #[serde(default)]
    pub during: Option<During>,
    /// The share of failed load requests, such as `"< 0.5%"`.
    #[serde(default)]
    pub error_rate: Option<Threshold<f64>>,
    /// Thresholds on latency percentiles of the load requests.
    #[serde(default)]
    pub latency: Option<LatencySpec>,
    /// The part of the load window an `error_rate` or `latency` check
    /// looks at; `all` by default.
    #[serde(default)]
    pub phase: Option<LoadPhase>,
    /// Thresholds on the write counts of `spec.writes`.
    #[serde(default)]
    pub writes: Option<WritesCheckSpec>,
}

/// A time-to-recover threshold: on every recovery, or on percentiles.
#[derive(Clone, Debug)]
pub enum TtrSpec {
    /// Every recovery must meet this threshold.
    Each(Threshold<Dur>),
    /// Thresholds on the distribution of recoveries.
    Percentiles(TtrPercentiles),
}

impl<'de> Deserialize<'de> for TtrSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TtrVisitor;

        impl<'de> serde::de::Visitor<'de> for TtrVisitor {
            type Value = TtrSpec;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "a threshold such as \"< 2s\", or a map with p50, p95 and max thresholds",
                )
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<TtrSpec, E> {
                text.parse().map(TtrSpec::Each).map_err(E::custom)
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<TtrSpec, A::Error> {
                TtrPercentiles::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(TtrSpec::Percentiles)
            }
        }

        deserializer.deserialize_any(TtrVisitor)
    }
}

/// Thresholds on the p50, p95 and maximum time to recover.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtrPercentiles {
    #[serde(default)]
    pub p50: Option<Threshold<Dur>>,
    #[serde(default)]
    pub p95: Option<Threshold<Dur>>,
    #[serde(default)]
    pub max: Option<Threshold<Dur>>,
}

/// Expectations on how the target stops after a graceful signal.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExitSpec {
    /// The target exited by itself within the grace period.
    #[serde(default = "ExitSpec::default_graceful")]
    pub graceful: bool,
    /// The exit code it must exit with.
    #[serde(default)]
    pub code: Option<i32>,
}

impl ExitSpec {
    fn default_graceful() -> bool {
        true
    }
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
