//! Starting and stopping the `load` block around the fault schedule.

use crate::load::{HttpLoad, RunningLoad, summary};
use crate::report::{ErrorKind, ExperimentError, FaultReport, LoadReport};
use crate::spec::Experiment;
use crate::supervisor::timeline::{EventKind, Timeline};

/// Starts the load at once. It stops by itself after the experiment's
/// timeout at the latest.
pub(super) fn start(
    experiment: &Experiment,
    load: &HttpLoad,
    timeline: &Timeline,
) -> Result<RunningLoad, ExperimentError> {
    let running =
        RunningLoad::start(load.clone(), experiment.timeout.0).map_err(|err| ExperimentError {
            kind: ErrorKind::Prepare,
            message: format!("failed to start the load thread: {err}"),
        })?;
    let description = format!("{} {} at {}/s", load.method, load.url, load.per_second);
    timeline.record_at(
        running.started,
        EventKind::LoadStarted { load: description },
    );
    Ok(running)
}

/// Stops the load, waits for the requests in flight and sums them up
/// against the faults of the run.
pub(super) async fn finish(
    running: RunningLoad,
    load: &HttpLoad,
    timeline: &Timeline,
    faults: &[FaultReport],
) -> LoadReport {
    let finished = running.finish().await;
    timeline.record_at(
        finished.stopped,
        EventKind::LoadStopped {
            requests: finished.generated.records.len() as u64,
        },
    );
    summary::summarize(
        &finished,
        load,
        timeline.offset(finished.started),
        timeline.offset(finished.stopped),
        faults,
        &timeline.events(),
    )
}
