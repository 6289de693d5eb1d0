//! Experiments written in Rust: a builder over the same format as the
//! YAML files.
//!
//! [`ExperimentBuilder::build`] writes the experiment as a YAML document
//! and checks it with [`spec::load_str`], so a builder and the equivalent
//! YAML file give equal [`Experiment`] values, with the same defaults and
//! the same errors (which name the field to fix).
//!
//! ```
//! use roulette_test::builder::{ExperimentBuilder, FaultBuilder, Ready, Verify};
//!
//! let experiment = ExperimentBuilder::new("worker-sigkill")
//!     .cargo_bin("fixture-worker")
//!     .args(["--port", "${port.http}", "--state", "${tmp}/jobs.log"])
//!     .port("http")
//!     .ready(Ready::http("http://127.0.0.1:${port.http}/healthz").interval("5ms"))
//!     .fault(FaultBuilder::signal("kill-worker", "SIGKILL").every("700ms", 3))
//!     .settle("500ms")
//!     .hypothesis("recovers-fast", Verify::ttr("< 2s"))
//!     .hypothesis("restarted-three-times", Verify::restarts("== 3"))
//!     .seed(7)
//!     .build()
//!     .expect("a valid experiment");
//! assert_eq!(experiment.faults[0].offsets.len(), 3);
//! assert_eq!(experiment.seed, Some(7));
//! ```
//!
//! A wrong value fails [`ExperimentBuilder::build`] with the field and
//! the fix, as a YAML file would:
//!
//! ```
//! use roulette_test::builder::{ExperimentBuilder, FaultBuilder, Ready};
//!
//! let err = ExperimentBuilder::new("typo")
//!     .command("sleep")
//!     .ready(Ready::log("started"))
//!     .fault(FaultBuilder::signal("kill", "SIGKIL").at(["1s"]))
//!     .build()
//!     .unwrap_err();
//! let invalid = err.invalid().expect("an invalid spec");
//! assert_eq!(invalid.field, "spec.faults[0].signal");
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::spec::{self, API_VERSION, Experiment, KIND, SpecError, format_duration};

/// A duration as the format writes it: `"1500ms"`, `"2s"`, or a
/// [`Duration`].
pub trait IntoDuration {
    /// Returns the duration in the format's syntax.
    fn into_duration_text(self) -> String;
}

impl IntoDuration for &str {
    fn into_duration_text(self) -> String {
        self.to_owned()
    }
}

impl IntoDuration for String {
    fn into_duration_text(self) -> String {
        self
    }
}

/// The format counts in whole milliseconds, so a finer duration is
/// written in microseconds, which [`ExperimentBuilder::build`] rejects as
/// an invalid duration.
impl IntoDuration for Duration {
    fn into_duration_text(self) -> String {
        if self.subsec_nanos().is_multiple_of(1_000_000) {
            format_duration(self)
        } else {
            format!("{}us", self.as_micros())
        }
    }
}

/// Builds an [`Experiment`] field by field. Each method sets the YAML field
/// of the same name; see the module documentation for an example.
#[derive(Clone, Debug)]
pub struct ExperimentBuilder {
    metadata: Map<String, Value>,
    target: Map<String, Value>,
    supervisor: Map<String, Value>,
    spec: Map<String, Value>,
    policy: Map<String, Value>,
    setup: Vec<Value>,
    faults: Vec<Value>,
    hypotheses: Vec<Value>,
    base_dir: Option<PathBuf>,
}

impl ExperimentBuilder {
    /// Starts an experiment named `name` (`metadata.name`).
    pub fn new(name: impl Into<String>) -> Self {
        let mut metadata = Map::new();
        metadata.insert("name".into(), Value::String(name.into()));
        ExperimentBuilder {
            metadata,
            target: Map::new(),
            supervisor: Map::new(),
            spec: Map::new(),
            policy: Map::new(),
            setup: Vec::new(),
            faults: Vec::new(),
            hypotheses: Vec::new(),
            base_dir: None,
        }
    }

    /// Sets `metadata.description`.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.metadata
            .insert("description".into(), Value::String(text.into()));
        self
    }

    /// Adds one entry to `metadata.labels`.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let labels = self
            .metadata
            .entry("labels")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(labels) = labels {
            labels.insert(key.into(), Value::String(value.into()));
        }
        self
    }

    /// Sets the directory that commands run in and relative paths resolve
    /// against. Without it, the current directory is used.
    pub fn base_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.base_dir = Some(dir.into());
        self
    }

    /// Sets `target.command`: a program path or a name looked up on `PATH`.
    pub fn command(mut self, program: impl Into<String>) -> Self {
        self.target
            .insert("command".into(), Value::String(program.into()));
        self
    }

    /// Sets `target.cargo_bin`: a binary of the current cargo workspace.
    pub fn cargo_bin(mut self, name: impl Into<String>) -> Self {
        self.target
            .insert("cargo_bin".into(), Value::String(name.into()));
        self
    }

    /// Appends to `target.args`, after any arguments given before.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list = self
            .target
            .entry("args")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(list) = list {
            list.extend(args.into_iter().map(|arg| Value::String(arg.into())));
        }
        self
    }

    /// Adds one entry to `target.env`.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let env = self
            .target
            .entry("env")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(env) = env {
            env.insert(name.into(), Value::String(value.into()));
        }
        self
    }

    /// Adds one name to `target.ports`, used as `${port.NAME}`.
    pub fn port(mut self, name: impl Into<String>) -> Self {
        let ports = self
            .target
            .entry("ports")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(ports) = ports {
            ports.push(Value::String(name.into()));
        }
        self
    }

    /// Sets `target.supervisor.restart`: `always`, `on-failure` or `never`.
    pub fn restart(mut self, policy: spec::RestartPolicy) -> Self {
        let text = match policy {
            spec::RestartPolicy::Always => "always",
            spec::RestartPolicy::OnFailure => "on-failure",
            spec::RestartPolicy::Never => "never",
        };
        self.supervisor
            .insert("restart".into(), Value::String(text.into()));
        self
    }

    /// Sets `target.supervisor.backoff`.
    pub fn backoff(
        mut self,
        initial: impl IntoDuration,
        max: impl IntoDuration,
        factor: f64,
    ) -> Self {
        self.supervisor.insert(
            "backoff".into(),
            json!({
                "initial": initial.into_duration_text(),
                "max": max.into_duration_text(),
                "factor": factor,
            }),
        );
        self
    }

    /// Sets `target.supervisor.intensity`.
    pub fn intensity(mut self, restarts: u32, within: impl IntoDuration) -> Self {
        self.supervisor.insert(
            "intensity".into(),
            json!({"restarts": restarts, "within": within.into_duration_text()}),
        );
        self
    }

    /// Sets `target.ready`.
    pub fn ready(mut self, ready: Ready) -> Self {
        self.target.insert("ready".into(), Value::Object(ready.0));
        self
    }

    /// Sets `target.metrics` to one endpoint.
    pub fn metrics(mut self, url: impl Into<String>) -> Self {
        let metrics = self
            .target
            .entry("metrics")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(metrics) = metrics {
            metrics.insert("url".into(), Value::String(url.into()));
        }
        self
    }

    /// Sets `target.metrics.interval`.
    pub fn metrics_interval(mut self, interval: impl IntoDuration) -> Self {
        let metrics = self
            .target
            .entry("metrics")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(metrics) = metrics {
            metrics.insert(
                "interval".into(),
                Value::String(interval.into_duration_text()),
            );
        }
        self
    }

    /// Adds one `setup` step with the default time limit.
    pub fn setup<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.setup.push(json!({"exec": strings(argv)}));
        self
    }

    /// Adds one fault.
    pub fn fault(mut self, fault: FaultBuilder) -> Self {
        self.faults.push(Value::Object(fault.0));
        self
    }

    /// Sets `spec.seed`: the seed of every random choice.
    pub fn seed(mut self, seed: u64) -> Self {
        self.spec.insert("seed".into(), json!(seed));
        self
    }

    /// Sets `spec.settle`: the wait after the last recovery, before the checks.
    pub fn settle(mut self, settle: impl IntoDuration) -> Self {
        self.spec
            .insert("settle".into(), Value::String(settle.into_duration_text()));
        self
    }

    /// Sets `spec.policy.timeout`.
    pub fn timeout(mut self, timeout: impl IntoDuration) -> Self {
        self.policy.insert(
            "timeout".into(),
            Value::String(timeout.into_duration_text()),
        );
        self
    }

    /// Adds one regular expression to `spec.policy.deny`.
    pub fn deny(mut self, pattern: impl Into<String>) -> Self {
        let deny = self
            .policy
            .entry("deny")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(deny) = deny {
            deny.push(Value::String(pattern.into()));
        }
        self
    }

    /// Adds one hypothesis named `name`.
    pub fn hypothesis(mut self, name: impl Into<String>, check: Verify) -> Self {
        let mut map = Map::new();
        map.insert("name".into(), Value::String(name.into()));
        map.extend(check.0);
        self.hypotheses.push(Value::Object(map));
        self
    }

    /// Renders the experiment as a YAML document in the
    /// `roulette-test/v1alpha1` format.
    pub fn to_yaml(&self) -> String {
        let mut target = self.target.clone();
        if !self.supervisor.is_empty() {
            target.insert("supervisor".into(), Value::Object(self.supervisor.clone()));
        }
        let mut spec = Map::new();
        spec.insert("target".into(), Value::Object(target));
        if !self.setup.is_empty() {
            spec.insert("setup".into(), Value::Array(self.setup.clone()));
        }
        if !self.faults.is_empty() {
            spec.insert("faults".into(), Value::Array(self.faults.clone()));
        }
        spec.extend(self.spec.clone());
        if !self.policy.is_empty() {
            spec.insert("policy".into(), Value::Object(self.policy.clone()));
        }
        if !self.hypotheses.is_empty() {
            spec.insert("hypothesis".into(), Value::Array(self.hypotheses.clone()));
        }
        let document = json!({
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": Value::Object(self.metadata.clone()),
            "spec": Value::Object(spec),
        });
        // Indented list items, the layout the located errors expect.
        let options = serde_saphyr::ser_options! { compact_list_indent: false };
        serde_saphyr::to_string_with_options(&document, options).unwrap_or_else(|err| {
            // A JSON value of strings, numbers, lists and maps always has a
            // YAML form; this branch only keeps the builder panic-free.
            format!("# the builder could not write YAML: {err}\n")
        })
    }

    /// Checks the experiment as [`spec::load_str`] checks a YAML file.
    pub fn build(&self) -> Result<Experiment, SpecError> {
        let base_dir = self.base_dir.clone().unwrap_or_else(|| PathBuf::from("."));
        spec::load_str(&self.to_yaml(), None, Path::new(&base_dir))
    }
}

/// A readiness probe (`target.ready`) and its timing.
#[derive(Clone, Debug)]
pub struct Ready(Map<String, Value>);

impl Ready {
    /// Creates a probe that sends a GET to `url`, which must return
    /// status 200.
    pub fn http(url: impl Into<String>) -> Self {
        Ready::with("http", json!({"url": url.into()}))
    }

    /// Creates a probe that sends a GET to `url`, which must return
    /// `status`.
    pub fn http_status(url: impl Into<String>, status: u16) -> Self {
        Ready::with("http", json!({"url": url.into(), "status": status}))
    }

    /// Creates a probe that connects over TCP to `address`
    /// (`127.0.0.1:${port.NAME}`).
    pub fn tcp(address: impl Into<String>) -> Self {
        Ready::with("tcp", Value::String(address.into()))
    }

    /// Creates a probe that waits for a line of the current incarnation's
    /// output that matches `pattern`.
    pub fn log(pattern: impl Into<String>) -> Self {
        Ready::with("log", Value::String(pattern.into()))
    }

    /// Creates a probe that runs a command, which must exit 0.
    pub fn exec<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Ready::with("exec", strings(argv))
    }

    /// Sets the pause between two attempts of the probe.
    pub fn interval(self, interval: impl IntoDuration) -> Self {
        self.set("interval", interval)
    }

    /// Sets the time limit of one attempt.
    pub fn attempt_timeout(self, limit: impl IntoDuration) -> Self {
        self.set("attempt_timeout", limit)
    }

    /// Sets the time the target has to become ready.
    pub fn timeout(self, limit: impl IntoDuration) -> Self {
        self.set("timeout", limit)
    }

    fn with(kind: &str, value: Value) -> Self {
        let mut map = Map::new();
        map.insert(kind.into(), value);
        Ready(map)
    }

    fn set(mut self, field: &str, duration: impl IntoDuration) -> Self {
        self.0
            .insert(field.into(), Value::String(duration.into_duration_text()));
        self
    }
}

/// One fault: a signal or a freeze, its target and its schedule.
#[derive(Clone, Debug)]
pub struct FaultBuilder(Map<String, Value>);

impl FaultBuilder {
    /// Creates a fault named `name` that sends `signal`, such as
    /// `"SIGKILL"`.
    pub fn signal(name: impl Into<String>, signal: impl Into<String>) -> Self {
        let mut map = Map::new();
        map.insert("name".into(), Value::String(name.into()));
        map.insert("signal".into(), Value::String(signal.into()));
        FaultBuilder(map)
    }

    /// Creates a fault named `name` that stops the target with SIGSTOP and
    /// resumes it with SIGCONT after `duration`.
    pub fn freeze(name: impl Into<String>, duration: impl IntoDuration) -> Self {
        let mut map = Map::new();
        map.insert("name".into(), Value::String(name.into()));
        map.insert(
            "freeze".into(),
            Value::String(duration.into_duration_text()),
        );
        FaultBuilder(map)
    }

    /// Sets the grace period after the signal, then SIGKILL to the group.
    pub fn grace(mut self, grace: impl IntoDuration) -> Self {
        self.0
            .insert("grace".into(), Value::String(grace.into_duration_text()));
        self
    }

    /// Sets `target: main`, the default.
    pub fn main(mut self) -> Self {
        self.0.insert("target".into(), Value::String("main".into()));
        self
    }

    /// Sets `target: group`: the whole process group.
    pub fn group(mut self) -> Self {
        self.0
            .insert("target".into(), Value::String("group".into()));
        self
    }

    /// Sets `target: {process: REGEX, pick: PICK}`: descendants of the
    /// target.
    pub fn process(mut self, pattern: impl Into<String>, pick: spec::Pick) -> Self {
        let pick = match pick {
            spec::Pick::Random => "random",
            spec::Pick::All => "all",
            spec::Pick::Oldest => "oldest",
            spec::Pick::Newest => "newest",
        };
        self.0.insert(
            "target".into(),
            json!({"process": pattern.into(), "pick": pick}),
        );
        self
    }

    /// Sets `schedule: {at: [...]}`: fixed offsets from the end of `setup`.
    pub fn at<I, D>(mut self, offsets: I) -> Self
    where
        I: IntoIterator<Item = D>,
        D: IntoDuration,
    {
        let offsets: Vec<Value> = offsets
            .into_iter()
            .map(|offset| Value::String(offset.into_duration_text()))
            .collect();
        self.0
            .insert("schedule".into(), json!({"at": Value::Array(offsets)}));
        self
    }

    /// Sets `schedule: {random: {count, within}}`: `count` offsets drawn
    /// within the window from the experiment's seed.
    pub fn random(mut self, count: u32, within: impl IntoDuration) -> Self {
        self.0.insert(
            "schedule".into(),
            json!({"random": {"count": count, "within": within.into_duration_text()}}),
        );
        self
    }

    /// Sets `schedule: {every, count}`.
    pub fn every(mut self, period: impl IntoDuration, count: u32) -> Self {
        self.0.insert(
            "schedule".into(),
            json!({"every": period.into_duration_text(), "count": count}),
        );
        self
    }
}

/// The check of one hypothesis.
#[derive(Clone, Debug)]
pub struct Verify(Map<String, Value>);

impl Verify {
    /// Creates `ttr: "< 2s"`: every recovery meets the threshold.
    pub fn ttr(threshold: impl Into<String>) -> Self {
        Verify::with("ttr", Value::String(threshold.into()))
    }

    /// Creates `ttr: {p50, p95, max}`: percentiles of the recoveries. A
    /// `None` leaves one out.
    pub fn ttr_percentiles(p50: Option<&str>, p95: Option<&str>, max: Option<&str>) -> Self {
        let mut map = Map::new();
        for (key, value) in [("p50", p50), ("p95", p95), ("max", max)] {
            if let Some(value) = value {
                map.insert(key.into(), Value::String(value.into()));
            }
        }
        Verify::with("ttr", Value::Object(map))
    }

    /// Creates `restarts: "== 3"`.
    pub fn restarts(threshold: impl Into<String>) -> Self {
        Verify::with("restarts", Value::String(threshold.into()))
    }

    /// Creates `exit: {graceful: true}`, with the exit code when given.
    pub fn exit(code: Option<i32>) -> Self {
        let mut map = Map::new();
        map.insert("graceful".into(), Value::Bool(true));
        if let Some(code) = code {
            map.insert("code".into(), json!(code));
        }
        Verify::with("exit", Value::Object(map))
    }

    /// Creates `exec: [...]`: a command run after the settle period must
    /// exit 0.
    pub fn exec<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Verify::with("exec", strings(argv))
    }

    /// Creates `metric: EXPR` with `threshold: "== 0"`.
    pub fn metric(expr: impl Into<String>, threshold: impl Into<String>) -> Self {
        let mut map = Map::new();
        map.insert("metric".into(), Value::String(expr.into()));
        map.insert("threshold".into(), Value::String(threshold.into()));
        Verify(map)
    }

    /// Sets `during: continuous`: a metric check that must hold at every
    /// scrape from the first fault on.
    pub fn continuous(mut self) -> Self {
        self.0
            .insert("during".into(), Value::String("continuous".into()));
        self
    }

    /// Sets `timeout`: the time limit of an `exec` check.
    pub fn timeout(mut self, limit: impl IntoDuration) -> Self {
        self.0
            .insert("timeout".into(), Value::String(limit.into_duration_text()));
        self
    }

    fn with(kind: &str, value: Value) -> Self {
        let mut map = Map::new();
        map.insert(kind.into(), value);
        Verify(map)
    }
}

fn strings<I, S>(items: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    Value::Array(
        items
            .into_iter()
            .map(|item| Value::String(item.into()))
            .collect(),
    )
}

#[cfg(test)]
mod tests;
