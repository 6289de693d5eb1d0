//! The writer of `spec.writes` within a run: started after `setup`,
//! stopped at the end of settle, then the store is listed once the target
//! is ready again.

use std::time::Instant;

use super::prepare::Prepared;
use crate::probe::{Probe, ReadyOutcome};
use crate::report::{ErrorKind, ExperimentError, FaultReport, StopPath, WritesReport};
use crate::spec::Experiment;
use crate::supervisor::Supervisor;
use crate::supervisor::timeline::Timeline;
use crate::writes::{self, Boundary, Store, Writer, WriterSettings};

/// Starts the writer, when the spec has `spec.writes`.
pub(super) fn start(
    prepared: &Prepared,
    experiment: &Experiment,
    timeline: &Timeline,
) -> Result<Option<Writer>, ExperimentError> {
    let Some(writes) = &prepared.writes else {
        return Ok(None);
    };
    let store = Store::new(
        &writes.driver,
        writes.config.timeout.0,
        writes.config.list_timeout.0,
        experiment.base_dir.clone(),
        prepared.supervisor.marker.clone(),
    )
    .map_err(|message| ExperimentError {
        kind: ErrorKind::Prepare,
        message: format!("`spec.writes`: {message}"),
    })?;
    let settings = WriterSettings {
        rate: writes.config.rate,
        count: writes.config.count,
        timeout: writes.config.timeout.0,
        prefix: writes.prefix.clone(),
        start: timeline.start(),
    };
    Ok(Some(Writer::start(store, settings)))
}

/// Stops the writer, waits until the target is ready again, lists the
/// store and compares.
pub(super) async fn finish(
    writer: Writer,
    prepared: &Prepared,
    experiment: &Experiment,
    supervisor: &Supervisor,
    probe: &Probe,
    faults: &[FaultReport],
) -> WritesReport {
    let writes = prepared
        .writes
        .as_ref()
        .expect("a writer runs only with spec.writes");
    let boundaries: Vec<Boundary> = faults
        .iter()
        .filter(|fault| {
            !matches!(
                fault.stop,
                StopPath::NotRunning | StopPath::SignalFailed { .. }
            )
        })
        .map(|fault| Boundary {
            label: format!("{} #{}", fault.fault, fault.occurrence),
            at: fault.at,
        })
        .collect();

    let (log, mut store) = match writer.stop().await {
        Ok(stopped) => stopped,
        Err(error) => {
            return WritesReport {
                list_error: Some(error),
                ..WritesReport::default()
            };
        }
    };

    // The store is read as a client would after the last recovery: from
    // the incarnation that runs now, once it passes the readiness probe.
    let latest = supervisor
        .state()
        .spawns
        .last()
        .map_or(1, |spawn| spawn.incarnation);
    let deadline = Instant::now() + experiment.target.ready.timeout.0;
    let listed = match probe.wait_ready(supervisor, latest, deadline).await {
        ReadyOutcome::Ready { .. } => {
            let limit = writes.config.list_timeout.0;
            match tokio::time::timeout(limit, store.list()).await {
                Ok(listed) => listed,
                Err(_) => Err(format!(
                    "listing the ids took longer than `spec.writes.list_timeout` ({})",
                    writes.config.list_timeout
                )),
            }
        }
        ReadyOutcome::TimedOut { last_failure } => Err(format!(
            "the target was not ready again within {} after settle{}",
            experiment.target.ready.timeout,
            last_failure
                .map(|reason| format!(" (last attempt: {reason})"))
                .unwrap_or_default()
        )),
        ReadyOutcome::Halted(halt) => Err(format!(
            "the target is not running after settle, so nothing could be listed: {halt}"
        )),
    };
    writes::analyse(
        store.describe(),
        writes.config.rate,
        &log,
        listed,
        &writes.prefix,
        &boundaries,
    )
}
