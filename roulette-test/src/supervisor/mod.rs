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
pub mod timeline;
pub mod tree;
mod watchdog;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::spec::Pick;
use crate::spec::{Backoff, Intensity, ProcessSelector, RestartPolicy};
use logs::{LogBuffer, Stream};
use timeline::{EventKind, ExitStatus, Timeline};
use tree::{Escape, Member, ProcFs, ProcessTable, Tree};

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

/// Every process of the experiment, across incarnations. Dropping the
/// supervisor kills all of them, so a panicking test leaves nothing
/// running.
struct Processes {
    tree: Mutex<Tree>,
    table: Arc<dyn ProcessTable>,
    /// Members the watchdog knows of, by pid and start time.
    watched: Mutex<BTreeSet<(u32, u64)>>,
}

/// How often the tree is refreshed from `/proc` while an incarnation runs.
const TREE_SCAN_INTERVAL: Duration = Duration::from_millis(100);

/// Rounds of kill-and-rescan before teardown reports survivors: a member
/// may fork once more between a scan and its SIGKILL.
const KILL_ROUNDS: usize = 5;

impl Processes {
    fn new(marker: &str, table: Arc<dyn ProcessTable>) -> Self {
        Processes {
            tree: Mutex::new(Tree::new(marker, std::process::id())),
            table,
            watched: Mutex::new(BTreeSet::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tree> {
        self.tree
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn add_root(&self, incarnation: u32, pid: u32) {
        self.lock().add_root(incarnation, pid);
        self.scan();
    }

    /// Updates the tree from the process table, tells the watchdog about
    /// members that joined or left, and returns the live members.
    fn scan(&self) -> Vec<Member> {
        let members = self.lock().scan(self.table.as_ref(), &managed::contains);
        let current: BTreeSet<(u32, u64)> = members
            .iter()
            .map(|m| (m.info.pid, m.info.start_time))
            .collect();
        let mut watched = self
            .watched
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for (pid, _) in watched.difference(&current) {
            watchdog::unregister(*pid);
        }
        for (pid, start_time) in current.difference(&watched) {
            watchdog::register(*pid, *start_time);
        }
        *watched = current;
        members
    }

    /// Kills the live members of `incarnation` (or of all incarnations),
    /// rescanning until none is left, and returns the members killed and
    /// the ones still alive after the last round.
    fn kill(&self, incarnation: Option<u32>) -> (Vec<Member>, Vec<Member>) {
        let mut killed: Vec<Member> = Vec::new();
        for _ in 0..KILL_ROUNDS {
            let signalled = self
                .lock()
                .kill(self.table.as_ref(), &managed::contains, incarnation);
            if signalled.is_empty() {
                return (killed, Vec::new());
            }
            for member in &signalled {
                wait_until_exited(&member.info, Duration::from_secs(2));
            }
            killed.extend(signalled);
        }
        let survivors = self
            .scan()
            .into_iter()
            .filter(|m| incarnation.is_none_or(|i| m.incarnation == i))
            .collect();
        (killed, survivors)
    }

    /// Kills every member and describes the ones that survived.
    fn kill_all(&self) -> Vec<Survivor> {
        let (_, survivors) = self.kill(None);
        survivors
            .into_iter()
            .map(|m| Survivor {
                pid: m.info.pid,
                pgid: m.info.pgid,
                command_line: self.table.command_line(m.info.pid),
                escape: m.escape,
            })
            .collect()
    }
}

/// PID 1, the harness and its ancestors: processes no fault may reach.
fn protected_pids() -> Vec<u32> {
    let mut protected = vec![1, std::process::id()];
    let mut pid = std::process::id();
    while let Some(parent) = tree::read_stat(pid)
        .map(|info| info.ppid)
        .filter(|ppid| *ppid > 1)
    {
        protected.push(parent);
        pid = parent;
    }
    protected
}

/// Waits up to `limit` for the process to exit. SIGKILL is delivered
/// asynchronously, and the process disappears (or turns zombie) within
/// microseconds, so a short bounded poll suffices.
fn wait_until_exited(process: &tree::ProcessInfo, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        match tree::read_stat(process.pid) {
            Some(now) if now.start_time == process.start_time && !now.is_zombie() => {
                std::thread::sleep(Duration::from_millis(1));
            }
            _ => return,
        }
    }
}

/// PIDs that tokio waits for: the main processes of every incarnation
/// and the harness's own commands, in every experiment of this process.
/// The tree never reaps these, because reaping them would take their exit
/// status from tokio.
pub(crate) mod managed {
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    static PIDS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());

    fn lock() -> std::sync::MutexGuard<'static, BTreeSet<u32>> {
        PIDS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn insert(pid: u32) {
        lock().insert(pid);
    }

    pub(crate) fn remove(pid: u32) {
        lock().remove(&pid);
    }

    pub(crate) fn contains(pid: u32) -> bool {
        lock().contains(&pid)
    }
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

    /// Stops supervising: SIGTERM to the running incarnation's group,
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

/// The supervisor task's own state.
struct Task {
    config: SupervisorConfig,
    timeline: Arc<Timeline>,
    logs: Arc<LogBuffer>,
    processes: Arc<Processes>,
    state: watch::Sender<SupervisorState>,
    requests: mpsc::Receiver<Request>,
    restart_times: VecDeque<Instant>,
}

/// The end of the wait for an incarnation's exit.
enum Ended {
    Exited(Exit),
    Stopped,
}

impl Task {
    async fn run(mut self) {
        let mut incarnation = 0;
        let mut consecutive_restarts = 0u32;
        loop {
            incarnation += 1;
            let ended = match self.spawn(incarnation) {
                Ok(child) => self.supervise(incarnation, child).await,
                Err(error) => {
                    self.timeline.record(EventKind::SpawnFailed {
                        incarnation,
                        error: error.clone(),
                    });
                    self.state
                        .send_modify(|s| s.halted = Some(Halt::SpawnFailed(error)));
                    break;
                }
            };
            let exit = match ended {
                Ended::Exited(exit) => exit,
                Ended::Stopped => return,
            };

            self.kill_leftovers(exit.incarnation);

            if let Some(halt) = self.restart_decision(exit) {
                if let Halt::Intensity(reason) = &halt {
                    self.timeline.record(EventKind::GaveUp {
                        reason: reason.clone(),
                    });
                }
                self.state.send_modify(|s| s.halted = Some(halt));
                break;
            }

            // Consecutive restarts grow the backoff; an incarnation that
            // ran longer than the intensity window resets it.
            let ran_for = exit.at.saturating_duration_since(
                self.state
                    .borrow()
                    .spawn_of(exit.incarnation)
                    .map_or(exit.at, |s| s.at),
            );
            if ran_for >= self.config.intensity.within.0 {
                consecutive_restarts = 0;
            }
            let delay = backoff_delay(&self.config.backoff, consecutive_restarts);
            consecutive_restarts += 1;
            self.timeline.record(EventKind::RestartScheduled {
                incarnation: incarnation + 1,
                delay_ms: delay.as_millis() as u64,
            });
            if !self.wait_backoff(delay).await {
                return;
            }
        }
        self.serve_halted().await;
    }

    fn spawn(&mut self, incarnation: u32) -> Result<Child, String> {
        let mut command = tokio::process::Command::new(&self.config.program);
        command
            .args(&self.config.args)
            .envs(&self.config.env)
            .current_dir(&self.config.cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env(tree::MARKER_VAR, &self.config.marker)
            // A group of its own: faults and teardown can reach every
            // process the target forks, and the harness's own group (which
            // a terminal's Ctrl-C or nextest's timeout signals) is spared
            // from the target's signals.
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|err| format!("failed to start {}: {err}", self.config.program.display()))?;
        let pid = child
            .id()
            .ok_or_else(|| String::from("the spawned process has no pid"))?;
        let at = Instant::now();
        managed::insert(pid);
        self.processes.add_root(incarnation, pid);
        self.timeline
            .record_at(at, EventKind::Spawned { incarnation, pid });
        tracing::debug!(
            pid,
            incarnation,
            "spawned {}",
            self.config.program.display()
        );

        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(logs::capture(
                stdout,
                Stream::Stdout,
                incarnation,
                self.logs.clone(),
                self.timeline.clone(),
            ));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(logs::capture(
                stderr,
                Stream::Stderr,
                incarnation,
                self.logs.clone(),
                self.timeline.clone(),
            ));
        }
        let spawn = Spawn {
            incarnation,
            pid,
            at,
        };
        self.state.send_modify(|s| {
            s.running = Some(spawn);
            s.spawns.push(spawn);
        });
        Ok(child)
    }

    /// Serves requests until the incarnation's main process exits.
    async fn supervise(&mut self, incarnation: u32, mut child: Child) -> Ended {
        let pid = child.id().unwrap_or_default();
        let mut scan = tokio::time::interval(TREE_SCAN_INTERVAL);
        scan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                // A process that leaves the group and then clears its
                // environment is only found through its parent, so the
                // tree is refreshed while its parent still lives.
                _ = scan.tick() => {
                    self.processes.scan();
                }
                // Child::wait is cancel safe, so a request arriving first
                // loses nothing.
                status = child.wait() => {
                    let status = status.map(ExitStatus::from_std).unwrap_or(ExitStatus::Code(-1));
                    return Ended::Exited(self.record_exit(incarnation, pid, status));
                }
                request = self.requests.recv() => match request {
                    Some(Request::Signal { signal, to, reply }) => {
                        let _ = reply.send(self.deliver(incarnation, pid, signal, to));
                    }
                    Some(Request::KillGroupOf { incarnation: target, reply }) => {
                        let _ = reply.send(self.kill_group(target));
                    }
                    Some(Request::Stop { grace, reply }) => {
                        let outcome = self.stop(incarnation, pid, &mut child, grace).await;
                        let _ = reply.send(outcome);
                        return Ended::Stopped;
                    }
                    None => {
                        let _ = self.stop(incarnation, pid, &mut child, Duration::ZERO).await;
                        return Ended::Stopped;
                    }
                },
            }
        }
    }

    fn record_exit(&mut self, incarnation: u32, pid: u32, status: ExitStatus) -> Exit {
        let at = Instant::now();
        managed::remove(pid);
        self.timeline.record_at(
            at,
            EventKind::Exited {
                incarnation,
                pid,
                status,
            },
        );
        let exit = Exit {
            incarnation,
            pid,
            status,
            at,
        };
        self.state.send_modify(|s| {
            s.running = None;
            s.exits.push(exit);
        });
        exit
    }

    fn deliver(
        &self,
        incarnation: u32,
        pid: u32,
        signal: Signal,
        to: Recipient,
    ) -> Result<Delivery, SignalError> {
        // The child has not been waited for, so `pid` still names it (or
        // its zombie) and cannot belong to another process.
        let result = match to {
            Recipient::Main => process::signal_process(pid, signal),
            Recipient::Group => process::signal_group(pid, signal),
        };
        let at = Instant::now();
        result.map_err(|source| SignalError::Kill {
            signal: signal.as_str(),
            pid,
            source,
        })?;
        let to = match to {
            Recipient::Main => "main process",
            Recipient::Group => "process group",
        };
        self.timeline.record_at(
            at,
            EventKind::SignalSent {
                signal: signal.as_str().to_owned(),
                to: to.to_owned(),
                pid,
            },
        );
        Ok(Delivery {
            incarnation,
            pid,
            at,
        })
    }

    /// Sends SIGKILL to every process of `incarnation`'s tree, escaped
    /// ones included, and returns its group id, or `None` when none was
    /// left to kill.
    fn kill_group(&self, incarnation: u32) -> Option<u32> {
        let signalled = self.processes.lock().kill(
            self.processes.table.as_ref(),
            &managed::contains,
            Some(incarnation),
        );
        signalled.first().map(|member| member.info.pgid)
    }

    /// Kills processes of `incarnation` that outlived its main process, so
    /// the next incarnation does not race them for ports or lock files.
    fn kill_leftovers(&self, incarnation: u32) {
        let (killed, survivors) = self.processes.kill(Some(incarnation));
        if !killed.is_empty() {
            let pids = killed.iter().map(|member| member.info.pid).collect();
            self.timeline
                .record(EventKind::LeftoversKilled { incarnation, pids });
        }
        for member in survivors {
            tracing::warn!(
                pid = member.info.pid,
                incarnation,
                "a process of the previous incarnation survived SIGKILL"
            );
        }
    }

    /// Returns why the supervisor must not restart after `exit`, if it must not.
    fn restart_decision(&mut self, exit: Exit) -> Option<Halt> {
        match self.config.restart {
            RestartPolicy::Never => {
                return Some(Halt::Policy(format!(
                    "restart policy `never`; incarnation #{} ended: {}",
                    exit.incarnation, exit.status
                )));
            }
            RestartPolicy::OnFailure if exit.status.success() => {
                return Some(Halt::Policy(format!(
                    "restart policy `on-failure`; incarnation #{} exited successfully",
                    exit.incarnation
                )));
            }
            _ => {}
        }

        let Intensity { restarts, within } = self.config.intensity;
        let now = Instant::now();
        self.restart_times.push_back(now);
        while self
            .restart_times
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > within.0)
        {
            self.restart_times.pop_front();
        }
        if self.restart_times.len() > restarts as usize {
            return Some(Halt::Intensity(format!(
                "incarnation #{} ended after {restarts} restart(s) within {within}, and one more would exceed the intensity limit of {restarts}",
                exit.incarnation
            )));
        }
        None
    }

    /// Waits out the backoff delay while serving requests. Returns false
    /// when teardown arrived in the meantime.
    async fn wait_backoff(&mut self, delay: Duration) -> bool {
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return true,
                request = self.requests.recv() => match request {
                    Some(Request::Signal { reply, .. }) => { let _ = reply.send(Err(SignalError::NotRunning)); }
                    Some(Request::KillGroupOf { incarnation, reply }) => { let _ = reply.send(self.kill_group(incarnation)); }
                    Some(Request::Stop { reply, .. }) => {
                        let _ = reply.send(self.finish());
                        return false;
                    }
                    None => { self.finish(); return false; }
                },
            }
        }
    }

    /// Serves requests after the supervisor halted, until teardown.
    async fn serve_halted(&mut self) {
        while let Some(request) = self.requests.recv().await {
            match request {
                Request::Signal { reply, .. } => {
                    let _ = reply.send(Err(SignalError::NotRunning));
                }
                Request::KillGroupOf { incarnation, reply } => {
                    let _ = reply.send(self.kill_group(incarnation));
                }
                Request::Stop { reply, .. } => {
                    let _ = reply.send(self.finish());
                    return;
                }
            }
        }
        self.finish();
    }

    async fn stop(
        &mut self,
        incarnation: u32,
        pid: u32,
        child: &mut Child,
        grace: Duration,
    ) -> StopOutcome {
        let mut killed_after_grace = false;
        if !grace.is_zero() {
            let _ = process::signal_group(pid, Signal::SIGTERM);
            // A group stopped by a freeze cannot act on SIGTERM until it
            // is continued.
            let _ = process::signal_group(pid, Signal::SIGCONT);
        }
        let status = match tokio::time::timeout(grace, child.wait()).await {
            Ok(status) => status,
            Err(_) => {
                killed_after_grace = !grace.is_zero();
                let _ = process::signal_group(pid, Signal::SIGKILL);
                child.wait().await
            }
        };
        let status = status
            .map(ExitStatus::from_std)
            .unwrap_or(ExitStatus::Code(-1));
        self.record_exit(incarnation, pid, status);
        let mut outcome = self.finish();
        outcome.killed_after_grace = killed_after_grace;
        outcome
    }

    /// Kills every group of the experiment and marks the supervisor stopped.
    fn finish(&mut self) -> StopOutcome {
        let survivors = self.processes.kill_all();
        self.state.send_modify(|s| {
            if s.halted.is_none() {
                s.halted = Some(Halt::Stopped);
            }
        });
        StopOutcome {
            killed_after_grace: false,
            survivors,
        }
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
