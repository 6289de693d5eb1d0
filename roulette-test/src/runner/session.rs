//! An experiment run step by step from a test, for cases that a YAML
//! schedule cannot express: spawn, wait for ready, inject a fault, wait
//! for the recovery, read the timeline, scrape, in any order and with
//! any Rust code in between.
//!
//! Dropping a [`Session`] kills every process it started, so a panicking
//! test leaks nothing; [`Session::stop`] tears down gracefully instead.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::prepare::{self, Prepared};
use super::{TEARDOWN_GRACE, experiment_id, random_seed};
use crate::fault::{self, Injection};
use crate::probe::{Probe, ReadyOutcome};
use crate::report::{ErrorKind, ExperimentError, StopPath};
use crate::schedule::Rng;
use crate::spec::{Experiment, Fault};
use crate::supervisor::logs::{DEFAULT_CAPACITY, LogBuffer};
use crate::supervisor::timeline::{Event, EventKind, Timeline};
use crate::supervisor::{StopOutcome, Supervisor, SupervisorState};

/// A running target under the harness's supervisor, driven by the test.
///
/// ```no_run
/// # async fn demo() -> Result<(), roulette_test::report::ExperimentError> {
/// use std::time::Duration;
/// use roulette_test::builder::{ExperimentBuilder, FaultBuilder, Ready};
/// use roulette_test::runner::Session;
///
/// let experiment = ExperimentBuilder::new("step-by-step")
///     .cargo_bin("fixture-worker")
///     .args(["--port", "${port.http}", "--state", "${tmp}/jobs.log"])
///     .port("http")
///     .ready(Ready::http("http://127.0.0.1:${port.http}/healthz"))
///     .fault(FaultBuilder::signal("kill", "SIGKILL").at(["0s"]))
///     .build()
///     .expect("a valid experiment");
/// let mut session = Session::start(&experiment).await?;
/// session.wait_ready(Duration::from_secs(10)).await?;
/// let injection = session.inject("kill").await?;
/// let ttr = session.wait_recovered(&injection, Duration::from_secs(5)).await?;
/// assert!(ttr < Duration::from_secs(2));
/// let metrics = session.scrape("http://127.0.0.1:${port.http}/metrics").await?;
/// assert!(metrics.contains("fixture_jobs"));
/// println!("{:#?}", session.timeline());
/// session.stop().await;
/// # Ok(()) }
/// ```
pub struct Session {
    experiment: Experiment,
    prepared: Prepared,
    timeline: Arc<Timeline>,
    supervisor: Supervisor,
    probe: Probe,
    rng: Rng,
    seed: u64,
    occurrences: std::collections::BTreeMap<String, u32>,
}

impl Session {
    /// Prepares `experiment` (temp dir, ports, binaries, placeholders) and
    /// spawns its target. Its faults, setup and hypotheses are not run;
    /// the test drives the rest. Must be called inside a tokio runtime.
    pub async fn start(experiment: &Experiment) -> Result<Session, ExperimentError> {
        let prepared = prepare::prepare(experiment, &experiment_id(&experiment.name))?;
        let timeline = Arc::new(Timeline::new());
        let logs = Arc::new(LogBuffer::new(DEFAULT_CAPACITY));
        let supervisor =
            Supervisor::start(prepared.supervisor.clone(), timeline.clone(), logs.clone());
        let ready = &experiment.target.ready;
        let probe = Probe::new(
            prepared.probe.clone(),
            ready.interval.0,
            ready.attempt_timeout.0,
            logs,
            experiment.base_dir.clone(),
        )
        .with_marker(&prepared.supervisor.marker);
        let seed = experiment.seed.unwrap_or_else(random_seed);
        Ok(Session {
            experiment: experiment.clone(),
            prepared,
            timeline,
            supervisor,
            probe,
            rng: Rng::new(seed),
            seed,
            occurrences: std::collections::BTreeMap::new(),
        })
    }

    /// Returns the seed of the random choices of this session.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Waits until the probe passes against any incarnation. Returns the
    /// time since the spawn.
    pub async fn wait_ready(&self, limit: Duration) -> Result<Duration, ExperimentError> {
        let at = self.ready_from(1, Instant::now() + limit).await?;
        Ok(self.timeline.offset(at))
    }

    /// Injects the spec's fault named `name` and waits for the processes
    /// it hit to react (an exit after SIGKILL, the end of a freeze).
    pub async fn inject(&mut self, name: &str) -> Result<Injection, ExperimentError> {
        let fault = self
            .experiment
            .faults
            .iter()
            .find(|fault| fault.name == name)
            .cloned()
            .ok_or_else(|| {
                let known: Vec<&str> = self
                    .experiment
                    .faults
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect();
                ExperimentError {
                    kind: ErrorKind::Prepare,
                    message: format!(
                        "the experiment has no fault named `{name}`; its faults are: {}",
                        known.join(", ")
                    ),
                }
            })?;
        self.inject_fault(&fault).await
    }

    /// Injects `fault`, which need not be one of the spec's.
    pub async fn inject_fault(&mut self, fault: &Fault) -> Result<Injection, ExperimentError> {
        let occurrence = self.occurrences.entry(fault.name.clone()).or_insert(0);
        *occurrence += 1;
        let injection = fault::inject(
            &self.supervisor,
            &self.timeline,
            fault,
            *occurrence,
            &self.experiment.deny,
            &mut self.rng,
        )
        .await;
        match &injection.stop {
            StopPath::SignalFailed { error } => Err(ExperimentError {
                kind: ErrorKind::Prepare,
                message: format!("fault `{}` reached no process: {error}", fault.name),
            }),
            _ => Ok(injection),
        }
    }

    /// Waits until the target is ready again after `injection`: a later
    /// incarnation when the hit process exited or had to, otherwise the
    /// one that was hit. Returns the time to recover.
    pub async fn wait_recovered(
        &self,
        injection: &Injection,
        limit: Duration,
    ) -> Result<Duration, ExperimentError> {
        let Some((incarnation, _)) = injection.hit else {
            return Err(ExperimentError {
                kind: ErrorKind::Prepare,
                message: String::from("the fault hit no running incarnation"),
            });
        };
        let exited = self.supervisor.state().exit_of(incarnation).is_some();
        let main_exited = matches!(
            injection.stop,
            StopPath::Exited { .. }
                | StopPath::ExitedWithinGrace { .. }
                | StopPath::Escalated { .. }
        );
        let min = if exited || main_exited {
            incarnation + 1
        } else {
            incarnation
        };
        let at = self
            .ready_from(min, Instant::now().max(injection.started) + limit)
            .await?;
        Ok(at.saturating_duration_since(injection.started))
    }

    /// Returns the events recorded so far: spawns, exits, faults, readiness.
    pub fn timeline(&self) -> Vec<Event> {
        self.timeline.events()
    }

    /// Returns the supervisor's view: running incarnation, spawns, exits.
    pub fn state(&self) -> SupervisorState {
        self.supervisor.state()
    }

    /// Returns the number of restarts so far.
    pub fn restarts(&self) -> u32 {
        self.supervisor.state().restarts()
    }

    /// Returns the port allocated for `${port.NAME}`.
    pub fn port(&self, name: &str) -> Option<u16> {
        self.prepared.placeholders.ports.get(name).copied()
    }

    /// Returns the experiment's temp dir, `${tmp}`.
    pub fn tmp_dir(&self) -> &Path {
        self.prepared.tmp_dir.path()
    }

    /// Expands `${...}` placeholders as the spec's fields are expanded.
    pub fn expand(&self, template: &str) -> Result<String, ExperimentError> {
        self.prepared
            .placeholders
            .expand(template)
            .map_err(|err| ExperimentError {
                kind: ErrorKind::Prepare,
                message: err.to_string(),
            })
    }

    /// Fetches one exposition from a loopback URL (placeholders expanded)
    /// and returns its text.
    pub async fn scrape(&self, url: &str) -> Result<String, ExperimentError> {
        let url = self.expand(url)?;
        prepare::check_expanded_url(&url)?;
        let failed = |message: String| ExperimentError {
            kind: ErrorKind::Prepare,
            message: format!("scrape of {url} failed: {message}"),
        };
        let client = reqwest::Client::builder()
            .timeout(self.experiment.metrics.timeout.0)
            .build()
            .map_err(|err| failed(err.to_string()))?;
        let response = client
            .get(&url)
            .send()
            .await
            .map_err(|err| failed(err.to_string()))?;
        if !response.status().is_success() {
            return Err(failed(format!("status {}", response.status())));
        }
        response.text().await.map_err(|err| failed(err.to_string()))
    }

    /// Tears down as a finished experiment does: SIGTERM, the grace
    /// period, SIGKILL to every process the session started.
    pub async fn stop(mut self) -> StopOutcome {
        self.timeline.record(EventKind::TeardownStarted);
        let outcome = self.supervisor.stop(TEARDOWN_GRACE).await;
        self.timeline.record(EventKind::TeardownDone);
        outcome
    }

    async fn ready_from(&self, min: u32, deadline: Instant) -> Result<Instant, ExperimentError> {
        match self.probe.wait_ready(&self.supervisor, min, deadline).await {
            ReadyOutcome::Ready { incarnation, at } => {
                self.timeline
                    .record_at(at, EventKind::Ready { incarnation });
                Ok(at)
            }
            ReadyOutcome::TimedOut { last_failure } => Err(ExperimentError {
                kind: ErrorKind::NeverReady,
                message: format!(
                    "the probe ({}) did not pass in time{}",
                    self.probe.describe(),
                    last_failure
                        .map(|reason| format!(" (last attempt: {reason})"))
                        .unwrap_or_default()
                ),
            }),
            ReadyOutcome::Halted(halt) => Err(ExperimentError {
                kind: ErrorKind::NeverReady,
                message: format!("the supervisor stopped restarting the target: {halt}"),
            }),
        }
    }
}
