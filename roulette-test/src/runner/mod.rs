//! One experiment from start to verdict.
//!
//! The order is fixed: prepare (temp dir, ports, placeholders), spawn,
//! wait for the first ready (the baseline), run `setup`, fire the faults
//! on schedule while timing each recovery, settle, evaluate the
//! hypotheses, tear down. A failure before the first fault is an
//! experiment error, never a failed hypothesis. Teardown runs on every
//! path, the experiment timeout included.

mod collect;
mod prepare;
mod recovery;
mod session;
mod traffic;
mod writes;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub use prepare::{TEARDOWN_GRACE, resolve_cargo_bin};
pub use session::Session;

use crate::command;
use crate::fault;
use crate::hypothesis::{self, Evidence, MetricSamples};
use crate::probe::{Probe, ReadyOutcome};
use crate::report::provenance::Provenance;
use crate::report::{
    ErrorKind, ExperimentError, FaultReport, Outcome, ProbeInfo, REPORT_VERSION, Recovery, Report,
    StopPath, TeardownReport, Verdict,
};
use crate::schedule::{self, Rng};
use crate::spec::{Experiment, FaultTarget};
use crate::supervisor::logs::{DEFAULT_CAPACITY, LogBuffer};
use crate::supervisor::timeline::{EventKind, Timeline};
use crate::supervisor::{Halt, Supervisor};
use collect::Collector;
use prepare::Prepared;
use recovery::{Pending, abort_reason, finish_recovery};

/// Lines of the target's output kept in a report.
const LOG_TAIL_LINES: usize = 20;

/// Runs `experiment` on a runtime of its own and returns its report.
pub fn run_blocking(experiment: &Experiment) -> Report {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    runtime.block_on(run(experiment))
}

/// Runs `experiment` and returns its report. Every process it started is
/// gone when this returns.
pub async fn run(experiment: &Experiment) -> Report {
    run_until(experiment, std::future::pending()).await
}

/// Runs `experiment` like [`run`], but stops it early when `interrupt`
/// completes: the experiment then tears down as usual (SIGTERM, the
/// teardown grace period, SIGKILL) and its report carries an
/// [`ErrorKind::Interrupted`] error whose message includes the string the
/// future returned, such as the name of the signal that interrupted it.
pub async fn run_until(experiment: &Experiment, interrupt: impl Future<Output = String>) -> Report {
    let span = tracing::info_span!("experiment", experiment = %experiment.name);
    let _entered = span.enter();
    let mut run = Run {
        faults: Vec::new(),
        verdicts: Vec::new(),
        error: None,
        seed: experiment.seed.unwrap_or_else(random_seed),
        aborted: None,
        scrape_problems: Vec::new(),
        writes: None,
        load: None,
    };
    let logs = Arc::new(LogBuffer::new(DEFAULT_CAPACITY));
    // Random schedules are drawn from the run's seed, so the seed in the
    // report replays them.
    let resolved = schedule::resolve_random(experiment, run.seed);
    let experiment = resolved.as_ref().unwrap_or(experiment);

    let gather_provenance = |program: Option<PathBuf>| {
        let labels = experiment.labels.clone();
        let source = experiment.source.clone();
        let base_dir = experiment.base_dir.clone();
        move || Provenance::gather(labels, source.as_deref(), &base_dir, program.as_deref())
    };
    let prepared = match prepare::prepare(experiment, &experiment_id(&experiment.name)) {
        Ok(prepared) => prepared,
        Err(error) => {
            run.error = Some(error);
            let mut report = run.into_report(
                experiment,
                &Timeline::new(),
                &logs,
                None,
                0,
                None,
                TeardownReport::default(),
            );
            report.provenance = gather_provenance(None)();
            return report;
        }
    };
    // Hashing a large target binary takes a while in a debug build, so it
    // runs beside the experiment.
    let provenance =
        tokio::task::spawn_blocking(gather_provenance(Some(prepared.supervisor.program.clone())));

    // The timeline and the timeout count from the spawn: preparing (which
    // may build a cargo binary) is not part of the experiment.
    let timeline = Arc::new(Timeline::new());
    let deadline = Instant::now() + experiment.timeout.0;
    let mut supervisor =
        Supervisor::start(prepared.supervisor.clone(), timeline.clone(), logs.clone());
    let ready = &experiment.target.ready;
    let probe = Probe::new(
        prepared.probe.clone(),
        ready.interval.0,
        ready.attempt_timeout.0,
        logs.clone(),
        experiment.base_dir.clone(),
    )
    .with_marker(&prepared.supervisor.marker);

    // Series are collected from the spawn on, when a metric check or a
    // metrics endpoint needs them.
    let wants_series = !prepared.metrics_endpoints.is_empty()
        || experiment
            .hypotheses
            .iter()
            .any(|h| matches!(h.check, crate::spec::Check::Metric { .. }));
    let collector = wants_series.then(|| {
        let signals = experiment
            .faults
            .iter()
            .map(|fault| {
                let signal = match fault.action {
                    crate::spec::FaultAction::Signal { signal, .. } => signal.to_string(),
                    crate::spec::FaultAction::Freeze(_) => String::from("SIGSTOP"),
                };
                (fault.name.clone(), signal)
            })
            .collect();
        Collector::start(
            prepared.metrics_endpoints.clone(),
            experiment.metrics.interval.0,
            experiment.metrics.timeout.0,
            supervisor.subscribe(),
            timeline.clone(),
            signals,
        )
    });

    let stopped_early = {
        let body = execute(
            experiment,
            &prepared,
            &supervisor,
            &probe,
            &timeline,
            &mut run,
            collector,
        );
        tokio::select! {
            finished = tokio::time::timeout_at(deadline.into(), body) => finished.err().map(|_| ExperimentError {
                kind: ErrorKind::Timeout,
                message: format!(
                    "the experiment ran longer than its timeout of {}; raise `spec.policy.timeout` or shorten the schedule",
                    experiment.timeout
                ),
            }),
            cause = interrupt => Some(ExperimentError {
                kind: ErrorKind::Interrupted,
                message: format!("interrupted by {cause}; the target was stopped and no hypothesis was judged"),
            }),
        }
    };
    if let Some(error) = stopped_early {
        run.verdicts.clear();
        run.error = Some(error);
    }

    timeline.record(EventKind::TeardownStarted);
    let state_before_stop = supervisor.state();
    let stopped = supervisor.stop(TEARDOWN_GRACE).await;
    let survivors: Vec<String> = stopped
        .survivors
        .iter()
        .map(|s| format!("pid {} ({}): {}", s.pid, s.escape, s.command_line))
        .collect();
    if !survivors.is_empty() {
        run.error.get_or_insert(ExperimentError {
            kind: ErrorKind::Survivors,
            message: format!(
                "{} process(es) of the experiment survived SIGKILL: {}",
                survivors.len(),
                survivors.join(", ")
            ),
        });
    } else {
        timeline.record(EventKind::TeardownDone);
    }
    let teardown = TeardownReport {
        killed_after_grace: stopped.killed_after_grace,
        survivors,
    };
    let halted = state_before_stop.halted.as_ref().map(Halt::to_string);
    tracing::debug!(tmp = %prepared.tmp_dir.path().display(), "removing the experiment's temp dir");
    drop(prepared);
    let mut report = run.into_report(
        experiment,
        &timeline,
        &logs,
        Some(&probe),
        state_before_stop.restarts(),
        halted,
        teardown,
    );
    report.provenance = provenance.await.unwrap_or_default();
    report
}

/// The data a run collected so far.
struct Run {
    faults: Vec<FaultReport>,
    verdicts: Vec<Verdict>,
    error: Option<ExperimentError>,
    /// The seed of every random choice: the spec's, or one chosen now.
    seed: u64,
    /// Why the circuit breaker stopped the faults, if it did.
    aborted: Option<String>,
    /// Invalid expositions the metrics endpoints served.
    scrape_problems: Vec<String>,
    /// The writes of `spec.writes` and what the store kept.
    writes: Option<crate::report::WritesReport>,
    /// What the `load` block measured.
    load: Option<crate::report::LoadReport>,
}

async fn execute(
    experiment: &Experiment,
    prepared: &Prepared,
    supervisor: &Supervisor,
    probe: &Probe,
    timeline: &Timeline,
    run: &mut Run,
    collector: Option<Collector>,
) {
    if let Err(error) = baseline(experiment, supervisor, probe, timeline).await {
        run.error = Some(error);
        return;
    }
    for step in &prepared.setup {
        if let Err(error) = setup_step(
            &step.argv,
            step.timeout.0,
            experiment,
            &prepared.supervisor.marker,
        )
        .await
        {
            run.error = Some(error);
            return;
        }
    }
    timeline.record(EventKind::SetupDone);
    let writer = match writes::start(prepared, experiment, timeline) {
        Ok(writer) => writer,
        Err(error) => {
            run.error = Some(error);
            return;
        }
    };

    // The load starts before the schedule, so the time up to the first
    // fault is its baseline.
    let load = match &prepared.load {
        Some(load) => match traffic::start(experiment, load, timeline) {
            Ok(running) => Some(running),
            Err(error) => {
                run.error = Some(error);
                return;
            }
        },
        None => None,
    };

    let mut rng = Rng::new(run.seed);
    let schedule_start = Instant::now();
    let mut pending: Option<Pending> = None;
    for firing in schedule::plan(&experiment.faults) {
        let fault = &experiment.faults[firing.fault];
        let fire_at = schedule_start + firing.offset;
        if let Some(previous) = pending.take() {
            let next = format!("`{}` #{}", fault.name, firing.occurrence);
            let report = previous.report;
            finish_recovery(
                previous,
                Some((fire_at, next)),
                supervisor,
                probe,
                timeline,
                run,
            )
            .await;
            if let Some(reason) = abort_reason(experiment, run, report) {
                timeline.record(EventKind::Aborted {
                    reason: reason.clone(),
                });
                run.aborted = Some(reason);
                break;
            }
        }
        tokio::time::sleep_until(fire_at.into()).await;
        if let Some(reason) = crash_loop_reason(supervisor) {
            timeline.record(EventKind::Aborted {
                reason: reason.clone(),
            });
            run.aborted = Some(reason);
            break;
        }

        let injection = fault::inject(
            supervisor,
            timeline,
            fault,
            firing.occurrence,
            &experiment.deny,
            &mut rng,
        )
        .await;
        let mut report = FaultReport {
            fault: fault.name.clone(),
            occurrence: firing.occurrence,
            action: fault::describe(fault),
            at: timeline.offset(injection.started),
            incarnation: injection.hit.map(|(incarnation, _)| incarnation),
            pid: injection.hit.map(|(_, pid)| pid),
            stop: injection.stop.clone(),
            recovery: Recovery::NotApplicable,
        };
        match (&injection.stop, injection.hit) {
            (StopPath::DidNotExit, _) => {
                report.recovery = Recovery::NotRecovered {
                    reason: String::from("the main process did not exit after SIGKILL"),
                };
                run.faults.push(report);
            }
            // A fault that reached nothing (a process pattern that matches
            // no descendant, say) must not pass unnoticed.
            (StopPath::SignalFailed { error }, _) => {
                report.recovery = Recovery::NotRecovered {
                    reason: format!("the fault reached no process: {error}"),
                };
                run.faults.push(report);
            }
            (_, Some((incarnation, _)))
                if !matches!(injection.stop, StopPath::SignalFailed { .. }) =>
            {
                // After an awaited exit of the main process only a later
                // incarnation counts as recovered; otherwise the one that
                // was hit may recover.
                let exited = supervisor.state().exit_of(incarnation).is_some();
                let main_must_exit = fault.action.expects_exit()
                    && !matches!(fault.target, FaultTarget::Processes(_));
                let min_incarnation = if exited || main_must_exit {
                    incarnation + 1
                } else {
                    incarnation
                };
                // The circuit breaker's `not_ready_for` cuts the wait short.
                let limit = experiment
                    .abort
                    .not_ready_for
                    .map_or(experiment.target.ready.timeout.0, |d| {
                        d.0.min(experiment.target.ready.timeout.0)
                    });
                let deadline = Instant::now().max(injection.started) + limit;
                run.faults.push(report);
                pending = Some(Pending {
                    report: run.faults.len() - 1,
                    injection,
                    min_incarnation,
                    deadline,
                });
            }
            _ => run.faults.push(report),
        }
    }
    if let Some(previous) = pending.take() {
        let report = previous.report;
        finish_recovery(previous, None, supervisor, probe, timeline, run).await;
        if run.aborted.is_none()
            && let Some(reason) = abort_reason(experiment, run, report)
        {
            timeline.record(EventKind::Aborted {
                reason: reason.clone(),
            });
            run.aborted = Some(reason);
        }
    }

    timeline.record(EventKind::Settling);
    tokio::time::sleep(experiment.settle.0).await;
    // The load stops at the end of the settle period. Listing the writes
    // may then wait for the target to be ready again, which is not load
    // time.
    if let (Some(running), Some(config)) = (load, &prepared.load) {
        run.load = Some(traffic::finish(running, config, timeline, &run.faults).await);
    }
    if let Some(writer) = writer {
        let report =
            writes::finish(writer, prepared, experiment, supervisor, probe, &run.faults).await;
        run.writes = Some(report);
    }

    // A crash loop after the last fault, or without faults, leaves the
    // target down as surely as one during the schedule.
    if run.aborted.is_none()
        && let Some(reason) = crash_loop_reason(supervisor)
    {
        timeline.record(EventKind::Aborted {
            reason: reason.clone(),
        });
        run.aborted = Some(reason);
    }

    let state = supervisor.state();
    let collection = match collector {
        Some(collector) => Some(collector.finish().await),
        None => None,
    };
    let samples = collection.as_ref().map(|collection| MetricSamples {
        store: &collection.store,
        // The last collection, not the current instant: `increase` and
        // `rate` extrapolate past the last sample up to the evaluation
        // time, as Prometheus does, which would skew an exact count.
        now_ms: collection
            .ticks
            .last()
            .copied()
            .unwrap_or_else(|| timeline.offset(Instant::now()).as_millis() as i64),
        ticks: &collection.ticks,
        from_ms: run
            .faults
            .first()
            .map_or(0, |fault| fault.at.as_millis() as i64),
    });
    if let Some(collection) = &collection {
        run.scrape_problems.clone_from(&collection.problems);
    }
    let evidence = Evidence {
        faults: &run.faults,
        restarts: state.restarts(),
        marker: Some(&prepared.supervisor.marker),
        metrics: samples.as_ref(),
        writes: run.writes.as_ref(),
        load: run.load.as_ref(),
    };
    let mut verdicts = Vec::new();
    for (index, hypothesis) in experiment.hypotheses.iter().enumerate() {
        verdicts.push(
            hypothesis::evaluate(
                hypothesis,
                &evidence,
                prepared.checks.get(&index),
                &experiment.base_dir,
            )
            .await,
        );
    }
    run.verdicts = verdicts;
}

/// Waits for the first ready of incarnation 1.
async fn baseline(
    experiment: &Experiment,
    supervisor: &Supervisor,
    probe: &Probe,
    timeline: &Timeline,
) -> Result<(), ExperimentError> {
    let ready = &experiment.target.ready;
    let deadline = Instant::now() + ready.timeout.0;
    match probe.wait_ready(supervisor, 1, deadline).await {
        ReadyOutcome::Ready { incarnation, at } => {
            timeline.record_at(at, EventKind::Ready { incarnation });
            Ok(())
        }
        ReadyOutcome::TimedOut { last_failure } => {
            // A refused connection means nothing listens where the probe
            // looks: a wrong port is likelier than a slow start.
            let refused = last_failure
                .as_deref()
                .is_some_and(|reason| reason.contains("refused"));
            let advice = if refused {
                "check that the probe's address matches the port the target listens on (`${port.NAME}` in both), or raise `spec.target.ready.timeout` if it needs longer to start"
            } else {
                "raise `spec.target.ready.timeout` if it needs longer to start"
            };
            Err(ExperimentError {
                kind: ErrorKind::NeverReady,
                message: format!(
                    "the target never became ready before the first fault: the probe ({}) did not pass within {}{}; {advice}",
                    probe.describe(),
                    ready.timeout,
                    last_failure
                        .map(|reason| format!(" (last attempt: {reason})"))
                        .unwrap_or_default(),
                ),
            })
        }
        ReadyOutcome::Halted(Halt::SpawnFailed(message)) => Err(ExperimentError {
            kind: ErrorKind::SpawnFailed,
            message,
        }),
        ReadyOutcome::Halted(halt) => {
            let exit = supervisor
                .state()
                .exits
                .last()
                .map(|exit| format!(" ({})", exit.status))
                .unwrap_or_default();
            Err(ExperimentError {
                kind: ErrorKind::NeverReady,
                message: format!("the target exited before it became ready{exit}: {halt}"),
            })
        }
    }
}

async fn setup_step(
    argv: &[String],
    limit: Duration,
    experiment: &Experiment,
    marker: &str,
) -> Result<(), ExperimentError> {
    let failed = |detail: String| ExperimentError {
        kind: ErrorKind::SetupCommand,
        message: format!("setup command `{}` {detail}", argv.join(" ")),
    };
    let output = command::run_marked(argv, &experiment.base_dir, limit, Some(marker))
        .await
        .map_err(|err| failed(format!("could not start: {}", err.source)))?;
    if output.success() {
        return Ok(());
    }
    let tail = output.tail(5);
    let mut detail = format!("failed: {}", output.describe(limit));
    if !tail.is_empty() {
        detail.push_str("; last output: ");
        detail.push_str(&tail.join(" | "));
    }
    Err(failed(detail))
}

/// Returns why the run must stop when the supervisor gave up at its
/// intensity limit. The target then stays down, so however fast the
/// earlier recoveries were, the run fails.
fn crash_loop_reason(supervisor: &Supervisor) -> Option<String> {
    match supervisor.state().halted {
        Some(Halt::Intensity(reason)) => Some(format!(
            "the supervisor stopped restarting a crash-looping target: {reason}"
        )),
        _ => None,
    }
}

impl Run {
    #[allow(clippy::too_many_arguments)]
    fn into_report(
        self,
        experiment: &Experiment,
        timeline: &Timeline,
        logs: &LogBuffer,
        probe: Option<&Probe>,
        restarts: u32,
        halted: Option<String>,
        teardown: TeardownReport,
    ) -> Report {
        let outcome = if self.error.is_some() {
            Outcome::Error
        } else if self.aborted.is_none() && self.verdicts.iter().all(|verdict| verdict.holds) {
            Outcome::Passed
        } else {
            Outcome::Failed
        };
        let ready = &experiment.target.ready;
        Report {
            report_version: REPORT_VERSION,
            experiment: experiment.name.clone(),
            description: experiment.description.clone(),
            source: experiment
                .source
                .as_ref()
                .map(|path| path.display().to_string()),
            seed: Some(self.seed),
            replay: None,
            provenance: Default::default(),
            aborted: self.aborted,
            scrape_problems: self.scrape_problems,
            outcome,
            error: self.error,
            probe: ProbeInfo {
                description: probe.map_or_else(|| ready.probe.describe(), Probe::describe),
                interval: probe.map_or(ready.interval.0, Probe::interval),
                attempt_timeout: ready.attempt_timeout.0,
            },
            faults: self.faults,
            verdicts: self.verdicts,
            writes: self.writes,
            restarts,
            halted,
            teardown,
            load: self.load,
            timeline: timeline.events(),
            log_tail: logs.tail(LOG_TAIL_LINES),
            duration: timeline.offset(Instant::now()),
        }
    }
}

/// Chooses a seed when the spec gives none, from the clock and the pid.
fn random_seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut rng = Rng::new(nanos ^ u64::from(std::process::id()).rotate_left(32));
    // 53 bits, so that JSON readers that hold numbers as doubles (jq,
    // JavaScript) print the seed exactly and it replays the same run.
    rng.next_u64() & ((1 << 53) - 1)
}

/// Builds a unique id for one run from the experiment name, the harness's pid and
/// the wall-clock nanoseconds.
fn experiment_id(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let slug: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{slug}-{}-{:x}", std::process::id(), nanos & 0xffff_ffff)
}
