//! Fault injection: a signal with a grace period and SIGKILL escalation,
//! or a freeze (SIGSTOP, wait, SIGCONT).

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::report::StopPath;
use crate::spec::{Fault, FaultAction, FaultTarget, format_duration};
use crate::supervisor::timeline::{EventKind, Timeline};
use crate::supervisor::{SignalError, Supervisor};

/// How long the harness waits for a process to disappear after SIGKILL.
/// SIGKILL cannot be caught; only a process stuck in uninterruptible
/// sleep takes longer.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// One injected fault.
#[derive(Clone, Debug)]
pub struct Injection {
    /// When the first signal was sent.
    pub started: Instant,
    /// The incarnation and main pid it hit, if the target was running.
    pub hit: Option<(u32, u32)>,
    pub stop: StopPath,
}

/// Describes a fault's action in a few words.
pub fn describe(fault: &Fault) -> String {
    let to = match fault.target {
        FaultTarget::Main => "main process",
        FaultTarget::Group => "process group",
    };
    match fault.action {
        FaultAction::Signal {
            signal,
            grace: Some(grace),
        } => format!("{signal} to {to}, grace {grace}"),
        FaultAction::Signal {
            signal,
            grace: None,
        } => format!("{signal} to {to}"),
        FaultAction::Freeze(duration) => format!("freeze {to} for {duration}"),
    }
}

/// Injects one occurrence of `fault` and waits for the main process to
/// react as far as the action demands: an exit after SIGKILL, an exit or
/// escalation within the grace period, or the end of a freeze.
pub async fn inject(
    supervisor: &Supervisor,
    timeline: &Timeline,
    fault: &Fault,
    occurrence: u32,
) -> Injection {
    timeline.record(EventKind::FaultStarted {
        fault: fault.name.clone(),
        occurrence,
    });
    match fault.action {
        FaultAction::Signal { signal, grace } => {
            send_signal(supervisor, timeline, fault, signal.0, grace.map(|g| g.0)).await
        }
        FaultAction::Freeze(duration) => freeze(supervisor, timeline, fault, duration.0).await,
    }
}

async fn send_signal(
    supervisor: &Supervisor,
    timeline: &Timeline,
    fault: &Fault,
    signal: Signal,
    grace: Option<Duration>,
) -> Injection {
    let delivery = match supervisor.signal(signal, fault.target).await {
        Ok(delivery) => delivery,
        Err(err) => return not_sent(err),
    };
    let started = delivery.at;
    let hit = Some((delivery.incarnation, delivery.pid));
    let incarnation = delivery.incarnation;

    let stop = if signal == Signal::SIGKILL {
        match supervisor.wait_for_exit(incarnation, KILL_WAIT).await {
            Some(exit) => StopPath::Exited {
                status: exit.status,
                after: exit.at - started,
            },
            None => StopPath::DidNotExit,
        }
    } else if let Some(grace) = grace {
        match supervisor.wait_for_exit(incarnation, grace).await {
            Some(exit) => StopPath::ExitedWithinGrace {
                status: exit.status,
                after: exit.at - started,
            },
            None => {
                // The grace period is over: the whole group gets SIGKILL,
                // so helpers the main process forked cannot linger.
                if let Some(pgid) = supervisor.kill_group_of(incarnation).await {
                    timeline.record(EventKind::Escalated {
                        fault: fault.name.clone(),
                        pgid,
                    });
                }
                tracing::info!(fault = %fault.name, grace = %format_duration(grace), "grace period over, escalated to SIGKILL");
                let exit = supervisor.wait_for_exit(incarnation, KILL_WAIT).await;
                StopPath::Escalated {
                    grace,
                    status: exit.map(|e| e.status),
                }
            }
        }
    } else {
        StopPath::NotAwaited
    };
    Injection { started, hit, stop }
}

async fn freeze(
    supervisor: &Supervisor,
    timeline: &Timeline,
    fault: &Fault,
    duration: Duration,
) -> Injection {
    let delivery = match supervisor.signal(Signal::SIGSTOP, fault.target).await {
        Ok(delivery) => delivery,
        Err(err) => return not_sent(err),
    };
    timeline.record_at(
        delivery.at,
        EventKind::Frozen {
            fault: fault.name.clone(),
        },
    );
    tokio::time::sleep(duration).await;
    // SIGCONT goes even if the process died meanwhile; a SIGKILL during the
    // freeze shows up as an exit on the timeline.
    if supervisor
        .signal(Signal::SIGCONT, fault.target)
        .await
        .is_ok()
    {
        timeline.record(EventKind::Thawed {
            fault: fault.name.clone(),
        });
    }
    Injection {
        started: delivery.at,
        hit: Some((delivery.incarnation, delivery.pid)),
        stop: StopPath::Frozen { duration },
    }
}

fn not_sent(err: SignalError) -> Injection {
    let stop = match err {
        SignalError::NotRunning => StopPath::NotRunning,
        other => StopPath::SignalFailed {
            error: other.to_string(),
        },
    };
    Injection {
        started: Instant::now(),
        hit: None,
        stop,
    }
}
