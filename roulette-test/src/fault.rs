//! Fault injection: a signal with a grace period and SIGKILL escalation,
//! or a freeze (SIGSTOP, wait, SIGCONT), to the main process, its process
//! group, or descendants picked by command line.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use regex::Regex;

use crate::report::StopPath;
use crate::schedule::Rng;
use crate::spec::{Fault, FaultAction, FaultTarget, Pick, ProcessSelector, format_duration};
use crate::supervisor::timeline::{EventKind, Timeline};
use crate::supervisor::{ProcessDelivery, Recipient, SignalError, Supervisor, tree};

/// How long the harness waits for a process to disappear after SIGKILL.
/// SIGKILL cannot be caught; only a process stuck in uninterruptible
/// sleep takes longer.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// One injected fault.
#[derive(Clone, Debug)]
pub struct Injection {
    /// When the first signal was sent.
    pub started: Instant,
    /// The incarnation and the pid it hit first, if the target was running.
    pub hit: Option<(u32, u32)>,
    pub stop: StopPath,
    /// For a process target: what must be running again for a recovery.
    pub respawn: Option<Respawn>,
}

/// The descendants a process-target fault removed, which the target's own
/// supervisor is expected to replace.
#[derive(Clone, Debug)]
pub struct Respawn {
    pub selector: ProcessSelector,
    /// Matching descendants before the fault.
    pub matched: usize,
    /// The processes the fault reached, as pid and start time.
    pub reached: Vec<(u32, u64)>,
}

/// Describes a fault's action in a few words.
pub fn describe(fault: &Fault) -> String {
    let to = match &fault.target {
        FaultTarget::Main => String::from("main process"),
        FaultTarget::Group => String::from("process group"),
        FaultTarget::Processes(selector) => {
            let which = match selector.pick {
                Pick::Random => "a random descendant",
                Pick::All => "every descendant",
                Pick::Oldest => "the oldest descendant",
                Pick::Newest => "the newest descendant",
            };
            format!("{which} matching /{}/", selector.regex.as_str())
        }
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

/// Injects one occurrence of `fault` and waits for the processes it hit
/// to react as far as the action demands: an exit after SIGKILL, an exit
/// or escalation within the grace period, or the end of a freeze. `deny`
/// lists command names no fault may reach; `rng` picks among matching
/// descendants.
pub async fn inject(
    supervisor: &Supervisor,
    timeline: &Timeline,
    fault: &Fault,
    occurrence: u32,
    deny: &[Regex],
    rng: &mut Rng,
) -> Injection {
    timeline.record(EventKind::FaultStarted {
        fault: fault.name.clone(),
        occurrence,
    });
    let recipient = match &fault.target {
        FaultTarget::Main => Recipient::Main,
        FaultTarget::Group => Recipient::Group,
        FaultTarget::Processes(selector) => {
            let FaultAction::Signal { signal, grace } = fault.action else {
                unreachable!("the spec checker rejects a freeze of a process target");
            };
            return signal_descendants(
                supervisor,
                selector,
                signal.0,
                grace.map(|g| g.0),
                deny,
                rng.next_u64(),
            )
            .await;
        }
    };
    match fault.action {
        FaultAction::Signal { signal, grace } => {
            send_signal(
                supervisor,
                timeline,
                fault,
                recipient,
                signal.0,
                grace.map(|g| g.0),
            )
            .await
        }
        FaultAction::Freeze(duration) => {
            freeze(supervisor, timeline, fault, recipient, duration.0).await
        }
    }
}

async fn send_signal(
    supervisor: &Supervisor,
    timeline: &Timeline,
    fault: &Fault,
    recipient: Recipient,
    signal: Signal,
    grace: Option<Duration>,
) -> Injection {
    let delivery = match supervisor.signal(signal, recipient).await {
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
                // The grace period is over: the whole tree gets SIGKILL,
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
    Injection {
        started,
        hit,
        stop,
        respawn: None,
    }
}

async fn signal_descendants(
    supervisor: &Supervisor,
    selector: &ProcessSelector,
    signal: Signal,
    grace: Option<Duration>,
    deny: &[Regex],
    random: u64,
) -> Injection {
    let delivery: ProcessDelivery =
        match supervisor.signal_processes(selector, signal, deny, random) {
            Ok(delivery) => delivery,
            Err(err) => return not_sent(err),
        };
    let started = delivery.at;
    let pids: Vec<u32> = delivery.reached.iter().map(|r| r.pid).collect();
    let hit = pids.first().map(|pid| (delivery.incarnation, *pid));
    let respawn = Some(Respawn {
        selector: selector.clone(),
        matched: delivery.matched,
        reached: delivery
            .reached
            .iter()
            .map(|r| (r.pid, r.start_time))
            .collect(),
    });

    let awaited = if signal == Signal::SIGKILL {
        Some(KILL_WAIT)
    } else {
        grace
    };
    let stop = match awaited {
        None => StopPath::DescendantsSignalled { pids },
        Some(limit) => {
            if wait_all_exited(&delivery, limit).await {
                StopPath::DescendantsExited {
                    pids,
                    after: started.elapsed(),
                }
            } else if signal == Signal::SIGKILL {
                StopPath::DidNotExit
            } else {
                // Grace is over: SIGKILL through the same pidfds, so a
                // process that exited meanwhile cannot be confused with a
                // new one that got its PID.
                for reached in &delivery.reached {
                    tree::send_through(&reached.pidfd, Signal::SIGKILL);
                }
                for reached in &delivery.reached {
                    tree::wait_exit(&reached.pidfd, KILL_WAIT).await;
                }
                StopPath::DescendantsEscalated { pids, grace: limit }
            }
        }
    };
    Injection {
        started,
        hit,
        stop,
        respawn,
    }
}

/// Waits until every reached process exits, for at most `limit` from the
/// signal, and returns whether all did.
async fn wait_all_exited(delivery: &ProcessDelivery, limit: Duration) -> bool {
    let mut exited = true;
    for reached in &delivery.reached {
        let remaining = limit.saturating_sub(delivery.at.elapsed());
        exited &= tree::wait_exit(&reached.pidfd, remaining).await;
    }
    exited
}

async fn freeze(
    supervisor: &Supervisor,
    timeline: &Timeline,
    fault: &Fault,
    recipient: Recipient,
    duration: Duration,
) -> Injection {
    let delivery = match supervisor.signal(Signal::SIGSTOP, recipient).await {
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
    if supervisor.signal(Signal::SIGCONT, recipient).await.is_ok() {
        timeline.record(EventKind::Thawed {
            fault: fault.name.clone(),
        });
    }
    Injection {
        started: delivery.at,
        hit: Some((delivery.incarnation, delivery.pid)),
        stop: StopPath::Frozen { duration },
        respawn: None,
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
        respawn: None,
    }
}
