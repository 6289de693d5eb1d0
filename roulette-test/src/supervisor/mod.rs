//! Spawning and supervising the system under test (SUT).
//!
//! The supervisor runs as one tokio task that owns the child process. Each
//! start of the target is an *incarnation*, numbered from 1, spawned in a
//! process group of its own with stdin closed and stdout and stderr
//! captured. Exits are seen through the runtime's child wait, never by
//! polling. The restart policy, backoff and intensity limit decide what
//! happens after an exit, and every decision lands on the [`Timeline`].
//!
//! Signals are sent from inside the task that owns the child, so the PID
//! they go to cannot have been reaped and reused in between: a child that
//! exited stays a zombie until the task itself waits for it.

pub mod logs;
pub mod process;
mod processes;
mod task;
pub mod timeline;

pub(crate) use processes::managed;
use processes::{Processes, protected_pids};
use task::Task;
pub mod tree;
pub(crate) mod watchdog;

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::spec::Pick;
use crate::spec::{Backoff, Intensity, ProcessSelector, RestartPolicy};
use logs::LogBuffer;
use timeline::{EventKind, ExitStatus, Timeline};
use tree::{Escape, Member, ProcFs};

/// The program to run and its restart policy, with every placeholder expanded.
#[derive(Clone, Debug)]
pub struct SupervisorConfig {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: PathBuf,
    pub restart: RestartPolicy,
    pub backoff: Backoff,
    pub intensity: Intensity,
    /// A value unique to this experiment, set as `ROULETTE_EXPERIMENT_ID`
    /// in the target's environment so that its descendants can be found.
    pub marker: String,
    /// The user the target runs as, when not the harness's own.
    pub user: Option<RunAs>,
    /// The first signal of teardown, sent to the process group.
    pub stop_signal: Signal,
}

/// A user to run the target as, resolved before the first spawn so that
/// the child only makes system calls between fork and exec.
#[derive(Clone, Debug)]
pub struct RunAs {
    pub name: String,
    pub uid: nix::unistd::Uid,
    pub gid: nix::unistd::Gid,
    /// The supplementary groups of the user, from the group database.
    pub groups: Vec<nix::unistd::Gid>,
    pub home: PathBuf,
}

/// A started incarnation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spawn {
    pub incarnation: u32,
    pub pid: u32,
    pub at: Instant,
}

/// An incarnation whose main process exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exit {
    pub incarnation: u32,
    pub pid: u32,
    pub status: ExitStatus,
    pub at: Instant,
}

/// The reason the supervisor stopped starting new incarnations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Halt {
    /// The restart policy does not restart after this exit.
    Policy(String),
    /// More restarts within the window than the intensity limit allows.
    Intensity(String),
    /// The program could not be started.
    SpawnFailed(String),
    /// Teardown stopped the target.
    Stopped,
}

impl std::fmt::Display for Halt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Halt::Policy(reason) | Halt::Intensity(reason) | Halt::SpawnFailed(reason) => {
                f.write_str(reason)
            }
            Halt::Stopped => f.write_str("stopped by teardown"),
        }
    }
}

/// A snapshot of the supervisor, published on every change.
#[derive(Clone, Debug, Default)]
pub struct SupervisorState {
    /// The incarnation whose main process is alive, if any.
    pub running: Option<Spawn>,
    pub spawns: Vec<Spawn>,
    pub exits: Vec<Exit>,
    /// Set once the supervisor will start no new incarnation.
    pub halted: Option<Halt>,
}

impl SupervisorState {
    /// Restarts so far: every spawn after the first.
    pub fn restarts(&self) -> u32 {
        self.spawns.len().saturating_sub(1) as u32
    }

    /// Returns the exit of `incarnation`, if it exited.
    pub fn exit_of(&self, incarnation: u32) -> Option<Exit> {
        self.exits
            .iter()
            .copied()
            .find(|exit| exit.incarnation == incarnation)
    }

    /// Returns the spawn of `incarnation`, if it was spawned.
    pub fn spawn_of(&self, incarnation: u32) -> Option<Spawn> {
        self.spawns
            .iter()
            .copied()
            .find(|spawn| spawn.incarnation == incarnation)
    }
}

/// The process or processes a signal to the running incarnation reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recipient {
    /// The main process.
    Main,
    /// Its whole process group.
    Group,
}

/// A descendant of the target that a fault reached.
#[derive(Debug)]
pub struct Reached {
    pub pid: u32,
    pub start_time: u64,
    pub command: String,
    /// A pidfd of the process, which becomes readable when it exits and
    /// through which a later SIGKILL cannot reach a recycled PID.
    pub pidfd: std::os::fd::OwnedFd,
}

/// The descendants a process-target fault reached.
#[derive(Debug)]
pub struct ProcessDelivery {
    pub incarnation: u32,
    pub at: Instant,
    pub reached: Vec<Reached>,
    /// How many live descendants matched before the signal.
    pub matched: usize,
}

/// A signal the supervisor delivered.
#[derive(Clone, Copy, Debug)]
pub struct Delivery {
    pub incarnation: u32,
    pub pid: u32,
    pub at: Instant,
}

/// A signal that could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("the target is not running")]
    NotRunning,
    #[error("failed to send {signal} to pid {pid}: {source}")]
    Kill {
        signal: &'static str,
        pid: u32,
        source: nix::errno::Errno,
    },
    #[error("the supervisor task has ended")]
    Closed,
    #[error("no descendant of the target matches `{pattern}`{}", describe_candidates(.seen))]
    NoMatch { pattern: String, seen: Vec<String> },
    #[error("every descendant matching `{pattern}` is on the deny list (`{rule}`)")]
    Denied { pattern: String, rule: String },
}

fn describe_candidates(seen: &[String]) -> String {
    if seen.is_empty() {
        String::from("; the target has no descendants")
    } else {
        format!("; its descendants are: {}", seen.join(", "))
    }
}

/// A process of the experiment that was still alive after teardown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Survivor {
    pub pid: u32,
    pub pgid: u32,
    pub command_line: String,
    /// How it got outside the incarnation's process group, if it did.
    pub escape: Escape,
}

/// The result of teardown.
#[derive(Clone, Debug, Default)]
pub struct StopOutcome {
    /// The main process did not exit within the teardown grace period.
    pub killed_after_grace: bool,
    /// Processes still alive after SIGKILL to every group.
    pub survivors: Vec<Survivor>,
}

enum Request {
    Signal {
        signal: Signal,
        to: Recipient,
        reply: oneshot::Sender<Result<Delivery, SignalError>>,
    },
    KillGroupOf {
        incarnation: u32,
        reply: oneshot::Sender<Option<u32>>,
    },
    Stop {
        grace: Duration,
        reply: oneshot::Sender<StopOutcome>,
    },
}

/// A running supervisor. Dropping it kills every process it started.
pub struct Supervisor {
    requests: mpsc::Sender<Request>,
    state: watch::Receiver<SupervisorState>,
    task: Option<JoinHandle<()>>,
    processes: Arc<Processes>,
    timeline: Arc<Timeline>,
    logs: Arc<LogBuffer>,
}

impl Supervisor {
    /// Starts the supervisor task, which spawns the first incarnation at
    /// once. Must be called inside a tokio runtime.
    pub fn start(
        config: SupervisorConfig,
        timeline: Arc<Timeline>,
        logs: Arc<LogBuffer>,
    ) -> Supervisor {
        let (requests, receiver) = mpsc::channel(16);
        let (state_sender, state) = watch::channel(SupervisorState::default());
        tree::become_subreaper();
        let processes = Arc::new(Processes::new(&config.marker, Arc::new(ProcFs)));
        let task = Task {
            config,
            timeline: timeline.clone(),
            logs: logs.clone(),
            processes: processes.clone(),
            state: state_sender,
            requests: receiver,
            restart_times: VecDeque::new(),
        };
        let task = tokio::spawn(task.run());
        Supervisor {
            requests,
            state,
            task: Some(task),
            processes,
            timeline,
            logs,
        }
    }

    /// Returns a copy of the current state.
    pub fn state(&self) -> SupervisorState {
        self.state.borrow().clone()
    }

    /// Returns a receiver that is notified of every state change.
    pub fn subscribe(&self) -> watch::Receiver<SupervisorState> {
        self.state.clone()
    }

    /// Returns the captured output.
    pub fn logs(&self) -> &Arc<LogBuffer> {
        &self.logs
    }

    /// Sends `signal` to the running incarnation's main process or group.
    pub async fn signal(&self, signal: Signal, to: Recipient) -> Result<Delivery, SignalError> {
        let (reply, response) = oneshot::channel();
        self.requests
            .send(Request::Signal { signal, to, reply })
            .await
            .map_err(|_| SignalError::Closed)?;
        response.await.map_err(|_| SignalError::Closed)?
    }

    /// Sends `signal` to the running incarnation's descendants that
    /// `selector` matches by command name or command line, never to the
    /// main process, a process a `deny` rule names, the harness, its
    /// ancestors or PID 1. `random` chooses among them for
    /// [`Pick::Random`].
    pub fn signal_processes(
        &self,
        selector: &ProcessSelector,
        signal: Signal,
        deny: &[regex::Regex],
        random: u64,
    ) -> Result<ProcessDelivery, SignalError> {
        let running = self.state().running.ok_or(SignalError::NotRunning)?;
        let pattern = selector.regex.as_str().to_owned();
        let protected = protected_pids();
        let members: Vec<Member> = self
            .processes
            .scan()
            .into_iter()
            .filter(|m| {
                m.incarnation == running.incarnation
                    && m.info.pid != running.pid
                    && !protected.contains(&m.info.pid)
            })
            .collect();
        let describe = |m: &Member| {
            (
                tree::command_name(m.info.pid),
                self.processes.table.command_line(m.info.pid),
            )
        };

        let mut seen = Vec::new();
        let mut matching = Vec::new();
        let mut denied_by = None;
        for member in members {
            let (name, command_line) = describe(&member);
            seen.push(format!("{} ({name})", member.info.pid));
            if !(selector.regex.is_match(&name) || selector.regex.is_match(&command_line)) {
                continue;
            }
            if let Some(rule) = deny.iter().find(|rule| rule.is_match(&name)) {
                denied_by = Some(rule.as_str().to_owned());
                continue;
            }
            matching.push((member, command_line));
        }
        if matching.is_empty() {
            return Err(match denied_by {
                Some(rule) => SignalError::Denied { pattern, rule },
                None => SignalError::NoMatch { pattern, seen },
            });
        }

        let matched = matching.len();
        matching.sort_by_key(|(m, _)| (m.info.start_time, m.info.pid));
        let picked: Vec<(Member, String)> = match selector.pick {
            Pick::All => matching,
            Pick::Oldest => matching.into_iter().take(1).collect(),
            Pick::Newest => matching.into_iter().next_back().into_iter().collect(),
            Pick::Random => {
                let index = (random % matched as u64) as usize;
                matching.into_iter().nth(index).into_iter().collect()
            }
        };

        let at = Instant::now();
        let mut reached = Vec::new();
        for (member, command) in picked {
            let Some(pidfd) = tree::open_verified(member.info.pid, member.info.start_time) else {
                continue;
            };
            if tree::send_through(&pidfd, signal) {
                let to = format!("descendant `{command}`");
                self.timeline.record_at(
                    at,
                    EventKind::SignalSent {
                        signal: signal.as_str().to_owned(),
                        to,
                        pid: member.info.pid,
                    },
                );
                reached.push(Reached {
                    pid: member.info.pid,
                    start_time: member.info.start_time,
                    command,
                    pidfd,
                });
            }
        }
        if reached.is_empty() {
            return Err(SignalError::NoMatch {
                pattern,
                seen: Vec::new(),
            });
        }
        Ok(ProcessDelivery {
            incarnation: running.incarnation,
            at,
            reached,
            matched,
        })
    }

    /// Returns the live descendants of the running incarnation that
    /// `selector` matches, as pid and start time.
    pub fn matching_processes(&self, selector: &ProcessSelector) -> Vec<(u32, u64)> {
        let Some(running) = self.state().running else {
            return Vec::new();
        };
        self.processes
            .scan()
            .into_iter()
            .filter(|m| m.incarnation == running.incarnation && m.info.pid != running.pid)
            .filter(|m| {
                selector.regex.is_match(&tree::command_name(m.info.pid))
                    || selector
                        .regex
                        .is_match(&self.processes.table.command_line(m.info.pid))
            })
            .map(|m| (m.info.pid, m.info.start_time))
            .collect()
    }

    /// Sends SIGKILL to the whole process group of `incarnation`, and
    /// returns the group id, or `None` when the group has no member left.
    pub async fn kill_group_of(&self, incarnation: u32) -> Option<u32> {
        let (reply, response) = oneshot::channel();
        self.requests
            .send(Request::KillGroupOf { incarnation, reply })
            .await
            .ok()?;
        response.await.ok().flatten()
    }

    /// Waits until `incarnation` exits, for at most `limit`.
    pub async fn wait_for_exit(&self, incarnation: u32, limit: Duration) -> Option<Exit> {
        let mut state = self.state.clone();
        let found =
            tokio::time::timeout(limit, state.wait_for(|s| s.exit_of(incarnation).is_some())).await;
        match found {
            Ok(Ok(state)) => state.exit_of(incarnation),
            _ => self.state().exit_of(incarnation),
        }
    }

    /// Stops supervising: the stop signal (SIGTERM unless the spec sets
    /// `stop_signal`) to the running incarnation's group,
    /// SIGKILL after `grace`, then SIGKILL to every group the experiment
    /// created. Returns what was left.
    pub async fn stop(&mut self, grace: Duration) -> StopOutcome {
        let (reply, response) = oneshot::channel();
        let outcome = if self
            .requests
            .send(Request::Stop { grace, reply })
            .await
            .is_ok()
        {
            response.await.ok()
        } else {
            None
        };
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        let mut outcome = outcome.unwrap_or_default();
        if outcome.survivors.is_empty() {
            outcome.survivors = self.processes.kill_all();
        }
        outcome
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        // Runs on the panic path too: no process of the experiment may
        // outlive it.
        let _ = self.processes.kill_all();
    }
}

/// Computes the delay before restart number `consecutive` (0-based) in a row.
pub fn backoff_delay(backoff: &Backoff, consecutive: u32) -> Duration {
    let initial = backoff.initial.0.as_secs_f64();
    let grown = initial * backoff.factor.powi(consecutive.min(64) as i32);
    let capped = grown.min(backoff.max.0.as_secs_f64());
    Duration::from_secs_f64(capped.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Dur;

    fn config(script: &str, restart: RestartPolicy, restarts: u32) -> SupervisorConfig {
        SupervisorConfig {
            program: PathBuf::from("sh"),
            args: vec!["-c".to_owned(), script.to_owned()],
            env: BTreeMap::new(),
            cwd: PathBuf::from("."),
            restart,
            backoff: Backoff {
                initial: Dur::from_millis(0),
                max: Dur::from_millis(0),
                factor: 1.0,
            },
            intensity: Intensity {
                restarts,
                within: Dur::from_secs(60),
            },
            marker: format!("unit-{script}"),
            user: None,
            stop_signal: Signal::SIGTERM,
        }
    }

    /// Starts a supervisor and waits until it halts.
    async fn run_until_halt(config: SupervisorConfig) -> (SupervisorState, Vec<timeline::Event>) {
        let timeline = Arc::new(Timeline::new());
        let mut supervisor =
            Supervisor::start(config, timeline.clone(), Arc::new(LogBuffer::new(100)));
        let mut state = supervisor.subscribe();
        // The guard that wait_for returns must be gone before stop(),
        // which needs the state's write lock.
        let halted = tokio::time::timeout(
            Duration::from_secs(10),
            state.wait_for(|s| s.halted.is_some()),
        )
        .await
        .is_ok_and(|result| result.is_ok());
        assert!(halted, "the supervisor did not halt within 10s");
        let state = supervisor.state();
        supervisor.stop(Duration::ZERO).await;
        (state, timeline.events())
    }

    #[tokio::test]
    async fn never_policy_halts_after_exit() {
        let (state, _) = run_until_halt(config("exit 3", RestartPolicy::Never, 5)).await;
        assert_eq!(state.spawns.len(), 1);
        assert_eq!(state.exits[0].status, ExitStatus::Code(3));
        assert!(
            matches!(state.halted, Some(Halt::Policy(_))),
            "{:?}",
            state.halted
        );
    }

    #[tokio::test]
    async fn on_failure_policy_skips_clean_exit() {
        let (state, _) = run_until_halt(config("exit 0", RestartPolicy::OnFailure, 5)).await;
        assert_eq!(state.spawns.len(), 1);
        assert!(
            matches!(state.halted, Some(Halt::Policy(ref r)) if r.contains("exited successfully")),
            "{:?}",
            state.halted
        );
    }

    #[tokio::test]
    async fn intensity_limit_gives_up() {
        let (state, events) = run_until_halt(config("exit 1", RestartPolicy::Always, 3)).await;
        // The first start and three restarts; the fourth restart exceeds
        // the limit.
        assert_eq!(state.spawns.len(), 4);
        assert_eq!(state.restarts(), 3);
        assert!(
            matches!(state.halted, Some(Halt::Intensity(_))),
            "{:?}",
            state.halted
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e.kind, EventKind::GaveUp { .. }))
        );
    }

    #[tokio::test]
    async fn signal_reaches_main_process() {
        let timeline = Arc::new(Timeline::new());
        let mut supervisor = Supervisor::start(
            config("exec sleep 30", RestartPolicy::Never, 0),
            timeline.clone(),
            Arc::new(LogBuffer::new(100)),
        );
        let mut state = supervisor.subscribe();
        let running = state
            .wait_for(|s| s.running.is_some())
            .await
            .unwrap()
            .running
            .unwrap();
        let delivery = supervisor
            .signal(Signal::SIGUSR1, Recipient::Main)
            .await
            .unwrap();
        assert_eq!(delivery.pid, running.pid);
        let exit = supervisor
            .wait_for_exit(running.incarnation, Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(
            exit.status,
            ExitStatus::Signal {
                signal: Signal::SIGUSR1 as i32,
                core_dumped: false
            }
        );
        let outcome = supervisor.stop(Duration::ZERO).await;
        assert!(outcome.survivors.is_empty());
        let after = supervisor.signal(Signal::SIGTERM, Recipient::Main).await;
        assert!(after.is_err());
    }

    #[test]
    fn backoff_grows_and_caps() {
        let backoff = Backoff {
            initial: Dur::from_millis(100),
            max: Dur::from_millis(500),
            factor: 2.0,
        };
        let delays: Vec<u128> = (0..5)
            .map(|n| backoff_delay(&backoff, n).as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 500, 500]);
    }

    #[test]
    fn backoff_zero_initial_stays_zero() {
        let backoff = Backoff {
            initial: Dur::from_millis(0),
            max: Dur::from_secs(2),
            factor: 2.0,
        };
        assert_eq!(backoff_delay(&backoff, 10), Duration::ZERO);
    }
}
