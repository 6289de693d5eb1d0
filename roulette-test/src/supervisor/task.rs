//! The supervisor task: it owns the child process of the running
//! incarnation, serves signal requests, detects exits, and applies the
//! restart policy, backoff and intensity limit.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::process::Child;
use tokio::sync::{mpsc, watch};

use super::logs::{self, LogBuffer, Stream};
use super::processes::{Processes, TREE_SCAN_INTERVAL, managed};
use super::timeline::{EventKind, ExitStatus, Timeline};
use super::{
    Delivery, Exit, Halt, Recipient, Request, SignalError, Spawn, StopOutcome, SupervisorConfig,
    SupervisorState, backoff_delay, process, tree,
};
use crate::spec::{Intensity, RestartPolicy};

/// The supervisor task's own state.
pub(super) struct Task {
    pub(super) config: SupervisorConfig,
    pub(super) timeline: Arc<Timeline>,
    pub(super) logs: Arc<LogBuffer>,
    pub(super) processes: Arc<Processes>,
    pub(super) state: watch::Sender<SupervisorState>,
    pub(super) requests: mpsc::Receiver<Request>,
    pub(super) restart_times: VecDeque<Instant>,
}

/// The end of the wait for an incarnation's exit.
enum Ended {
    Exited(Exit),
    Stopped,
}

impl Task {
    pub(super) async fn run(mut self) {
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
            // A zero delay restarts at once: even a zero-length timer
            // costs about a millisecond, since tokio rounds deadlines up
            // to its 1 ms granularity.
            if !delay.is_zero() && !self.wait_backoff(delay).await {
                return;
            }
        }
        self.serve_halted().await;
    }

    fn spawn(&mut self, incarnation: u32) -> Result<Child, String> {
        let mut command = tokio::process::Command::new(&self.config.program);
        if let Some(user) = &self.config.user {
            // As `su` and `runuser` do; `target.env` may still override them.
            command
                .env("HOME", &user.home)
                .env("USER", &user.name)
                .env("LOGNAME", &user.name);
            let (uid, gid, groups) = (user.uid, user.gid, user.groups.clone());
            // SAFETY: the closure runs in the child between fork and exec.
            // It makes only the setgroups, setgid and setuid system calls,
            // which are async-signal-safe, and allocates nothing, because
            // the group list was resolved before the fork. Groups and gid
            // go first, since the child cannot change them after setuid.
            // The child is already in its own process group and in its
            // working directory when this runs.
            unsafe {
                command.pre_exec(move || {
                    nix::unistd::setgroups(&groups)?;
                    nix::unistd::setgid(gid)?;
                    nix::unistd::setuid(uid)?;
                    Ok(())
                });
            }
        }
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
        // The instant before the call: a client of the target can see the
        // effect of a SIGKILL before this thread runs again, and a request
        // cut off by the signal must not look as if it ended before it.
        let at = Instant::now();
        // The child has not been waited for, so `pid` still names it (or
        // its zombie) and cannot belong to another process.
        let result = match to {
            Recipient::Main => process::signal_process(pid, signal),
            Recipient::Group => process::signal_group(pid, signal),
        };
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
            let _ = process::signal_group(pid, self.config.stop_signal);
            // A group stopped by a freeze cannot act on the stop signal until it
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
