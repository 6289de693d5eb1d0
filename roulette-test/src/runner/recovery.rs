//! Timing one recovery: from a fault's first signal to the first passing
//! readiness probe after it, split into time to exit, to restart and to
//! ready; and the circuit breaker that may stop the faults afterwards.

use std::time::{Duration, Instant};

use super::{LOG_TAIL_LINES, Run};
use crate::fault::{Injection, Respawn};
use crate::probe::{Probe, ReadyOutcome};
use crate::report::{Recovery, StopPath};
use crate::spec::{Experiment, format_duration};
use crate::supervisor::Supervisor;
use crate::supervisor::timeline::{EventKind, Timeline};

/// A recovery still being timed.
pub(super) struct Pending {
    pub(super) report: usize,
    pub(super) injection: Injection,
    pub(super) min_incarnation: u32,
    pub(super) deadline: Instant,
}

/// Waits until the target's tree again has as many processes matching the
/// fault's selector as before it, none of them one that the fault reached.
/// Returns when that was first seen, or why it was not by `until`.
async fn wait_replaced(
    respawn: &Respawn,
    supervisor: &Supervisor,
    interval: Duration,
    until: Instant,
) -> Result<Instant, String> {
    loop {
        let now = supervisor.matching_processes(&respawn.selector);
        let survivors = now
            .iter()
            .filter(|process| respawn.reached.contains(process))
            .count();
        if now.len() >= respawn.matched && survivors == 0 {
            return Ok(Instant::now());
        }
        if Instant::now() >= until {
            return Err(format!(
                "{} of {} processes matching /{}/ ran again before the deadline",
                now.len() - survivors,
                respawn.matched,
                respawn.selector.regex.as_str()
            ));
        }
        tokio::time::sleep(interval.min(until.saturating_duration_since(Instant::now()))).await;
    }
}

/// Returns why the circuit breaker of `policy.abort` trips after the
/// recovery of fault report `report` ended, if it does.
pub(super) fn abort_reason(experiment: &Experiment, run: &Run, report: usize) -> Option<String> {
    let abort = &experiment.abort;
    let fault = &run.faults[report];
    if let (Some(limit), Recovery::NotRecovered { reason }) = (abort.not_ready_for, &fault.recovery)
    {
        return Some(format!(
            "`{}` #{} did not recover within `not_ready_for` ({limit}): {reason}",
            fault.fault, fault.occurrence
        ));
    }
    let failed = run
        .faults
        .iter()
        .filter(|f| matches!(f.recovery, Recovery::NotRecovered { .. }))
        .count();
    match abort.failed_recoveries {
        Some(limit) if failed >= limit as usize => {
            Some(format!("{failed} recoveries failed, the limit is {limit}"))
        }
        _ => None,
    }
}

/// Times one recovery to its end: a passing probe, its deadline, the
/// supervisor giving up, or the next fault (`next`) firing first.
pub(super) async fn finish_recovery(
    pending: Pending,
    next: Option<(Instant, String)>,
    supervisor: &Supervisor,
    probe: &Probe,
    timeline: &Timeline,
    run: &mut Run,
) {
    let until = next
        .as_ref()
        .map_or(pending.deadline, |(at, _)| (*at).min(pending.deadline));
    let started = pending.injection.started;
    let (fault_name, occurrence) = {
        let report = &run.faults[pending.report];
        (report.fault.clone(), report.occurrence)
    };

    // A process-target fault recovers only once the target's own
    // supervisor replaced what it removed.
    let mut replaced_at = None;
    if let Some(respawn) = &pending.injection.respawn {
        match wait_replaced(respawn, supervisor, probe.interval(), until).await {
            Ok(at) => replaced_at = Some(at),
            Err(missing) => {
                let interrupted = next.as_ref().filter(|(at, _)| *at < pending.deadline);
                let recovery = match interrupted {
                    Some((_, by)) => Recovery::Interrupted { by: by.clone() },
                    None => Recovery::NotRecovered {
                        reason: missing.clone(),
                    },
                };
                let reason = interrupted.map_or(missing, |(_, by)| format!("interrupted by {by}"));
                timeline.record(EventKind::NotRecovered {
                    fault: fault_name,
                    occurrence,
                    reason,
                });
                run.faults[pending.report].recovery = recovery;
                return;
            }
        }
    }
    let report = &mut run.faults[pending.report];

    report.recovery = match probe
        .wait_ready(supervisor, pending.min_incarnation, until)
        .await
    {
        ReadyOutcome::Ready { incarnation, at } => {
            timeline.record_at(at, EventKind::Ready { incarnation });
            let state = supervisor.state();
            // The incarnation that was hit exited only if a later one is
            // the one that became ready.
            let exit = pending
                .injection
                .hit
                .and_then(|(hit, _)| state.exit_of(hit))
                .filter(|exit| exit.incarnation != incarnation);
            let spawn = state
                .spawn_of(incarnation)
                .filter(|spawn| spawn.at >= started);
            let ttr = at.saturating_duration_since(started);
            if let Some(replaced) = replaced_at {
                let exited = match &pending.injection.stop {
                    StopPath::DescendantsExited { after, .. } => Some(started + *after),
                    _ => None,
                };
                timeline.record_at(
                    at,
                    EventKind::Recovered {
                        fault: fault_name,
                        occurrence,
                        ttr_ms: ttr.as_secs_f64() * 1000.0,
                    },
                );
                report.recovery = Recovery::Recovered {
                    incarnation,
                    ttr,
                    to_exit: exited.map(|e| e.saturating_duration_since(started)),
                    to_restart: exited.map(|e| replaced.saturating_duration_since(e)),
                    to_ready: at.saturating_duration_since(replaced),
                };
                return;
            }
            timeline.record_at(
                at,
                EventKind::Recovered {
                    fault: fault_name,
                    occurrence,
                    ttr_ms: ttr.as_secs_f64() * 1000.0,
                },
            );
            Recovery::Recovered {
                incarnation,
                ttr,
                to_exit: exit.map(|e| e.at.saturating_duration_since(started)),
                to_restart: exit
                    .zip(spawn)
                    .map(|(e, s)| s.at.saturating_duration_since(e.at)),
                to_ready: at.saturating_duration_since(spawn.map_or(started, |s| s.at)),
            }
        }
        ReadyOutcome::TimedOut { .. }
            if next.as_ref().is_some_and(|(at, _)| *at < pending.deadline) =>
        {
            let by = next.map(|(_, label)| label).unwrap_or_default();
            timeline.record(EventKind::NotRecovered {
                fault: fault_name,
                occurrence,
                reason: format!("interrupted by {by}"),
            });
            Recovery::Interrupted { by }
        }
        ReadyOutcome::TimedOut { last_failure } => {
            let waited = pending.deadline.saturating_duration_since(started);
            let mut reason = format!(
                "not ready within {} of the fault{}",
                format_duration(waited),
                last_failure
                    .map(|r| format!("; last probe: {r}"))
                    .unwrap_or_default()
            );
            // What the stuck incarnation printed is usually the cause.
            if let Some(running) = supervisor.state().running {
                let lines: Vec<String> = supervisor
                    .logs()
                    .tail(LOG_TAIL_LINES)
                    .into_iter()
                    .filter(|line| line.incarnation == running.incarnation)
                    .map(|line| line.text)
                    .collect();
                if !lines.is_empty() {
                    let last = &lines[lines.len().saturating_sub(3)..];
                    reason.push_str(&format!(
                        "; last output of incarnation #{}: {}",
                        running.incarnation,
                        last.join(" | ")
                    ));
                }
            }
            timeline.record(EventKind::NotRecovered {
                fault: fault_name,
                occurrence,
                reason: reason.clone(),
            });
            Recovery::NotRecovered { reason }
        }
        ReadyOutcome::Halted(halt) => {
            let reason = format!("the supervisor stopped restarting the target: {halt}");
            timeline.record(EventKind::NotRecovered {
                fault: fault_name,
                occurrence,
                reason: reason.clone(),
            });
            Recovery::NotRecovered { reason }
        }
    };
}
