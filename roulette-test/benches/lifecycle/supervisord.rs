//! The baseline for kill to respawn: supervisord restarting the same
//! fixture.
//!
//! supervisord runs in the foreground (`-n`) with a config file in a temp
//! dir and no control socket. Its one program is `fixture-worker` with
//! `autorestart=true` and `startsecs=0`, so it is restarted after every
//! exit without delay. Each sample sends SIGKILL to the worker, whose PID
//! comes from its own `ready` stamp and whose parent must be this
//! supervisord, and ends at the new worker's `start` stamp.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};

use crate::clock::MonotonicClock;
use crate::stamps::StampReader;
use crate::stats::nanos_to_millis;
use crate::usage::parent_of;

/// Upper bound of one wait for a stamp; supervisord wakes up once a second.
const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// Upper bound of supervisord's own stop after SIGTERM; it gives its
/// program `stopwaitsecs` (2 s) of that.
const STOP_LIMIT: Duration = Duration::from_secs(10);

/// Returns the path of `supervisord` on `PATH`, if it is installed.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("supervisord"))
        .find(|candidate| candidate.is_file())
}

/// Returns the version that `supervisord --version` prints.
pub fn version(supervisord: &Path) -> String {
    Command::new(supervisord)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .filter(|version| !version.is_empty())
        .unwrap_or_else(|| String::from("unknown version"))
}

/// A running supervisord. Dropping it stops supervisord and any worker
/// left behind.
struct Daemon {
    child: Child,
    dir: PathBuf,
    /// The last worker PID seen, killed at the end if it outlived
    /// supervisord.
    worker: Option<u32>,
    stopped: bool,
}

impl Daemon {
    fn spawn(supervisord: &Path, config: &Path, dir: &Path) -> Result<Daemon, String> {
        let output = File::create(dir.join("supervisord.out"))
            .map_err(|err| format!("failed to create supervisord.out: {err}"))?;
        let errors = output
            .try_clone()
            .map_err(|err| format!("failed to share supervisord.out: {err}"))?;
        let child = Command::new(supervisord)
            .arg("-n")
            .arg("-c")
            .arg(config)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(output)
            .stderr(errors)
            .process_group(0)
            .spawn()
            .map_err(|err| format!("failed to start {}: {err}", supervisord.display()))?;
        Ok(Daemon {
            child,
            dir: dir.to_owned(),
            worker: None,
            stopped: false,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGKILL to `worker` through a pidfd, after checking that it is
    /// a child of this supervisord. Returns when the signal was sent.
    fn kill_worker(&mut self, worker: u32) -> Result<Instant, String> {
        let pid = Pid::from_raw(worker as i32).ok_or_else(|| format!("invalid pid {worker}"))?;
        let pidfd = pidfd_open(pid, PidfdFlags::empty())
            .map_err(|err| format!("pidfd_open({worker}) failed: {err}"))?;
        // The pidfd was opened first, so if the parent still matches, the
        // pidfd names this very worker and not a process that reused its PID.
        if parent_of(worker) != Some(self.pid()) {
            return Err(format!(
                "pid {worker} is not a child of supervisord (pid {})",
                self.pid()
            ));
        }
        pidfd_send_signal(&pidfd, Signal::KILL)
            .map_err(|err| format!("SIGKILL to pid {worker} failed: {err}"))?;
        Ok(Instant::now())
    }

    /// Stops supervisord with SIGTERM, or SIGKILL after [`STOP_LIMIT`], and
    /// then kills the last worker if it is still alive.
    fn stop(&mut self) -> Result<(), String> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        let mut result = Ok(());
        // supervisord has not been reaped, so its PID is still its own.
        let pid = nix::unistd::Pid::from_raw(self.pid() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + STOP_LIMIT;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    result = Err(format!(
                        "supervisord did not stop within {STOP_LIMIT:?} of SIGTERM and was killed"
                    ));
                    break;
                }
            }
        }
        if let Some(worker) = self.worker
            && let Err(err) = self.kill_leftover_worker(worker)
        {
            result = result.and(Err(err));
        }
        result
    }

    /// Kills `worker` if it outlived supervisord. The command line must
    /// name this run's temp dir, so no other process is ever signalled.
    fn kill_leftover_worker(&self, worker: u32) -> Result<(), String> {
        let Some(pid) = Pid::from_raw(worker as i32) else {
            return Ok(());
        };
        let Ok(pidfd) = pidfd_open(pid, PidfdFlags::empty()) else {
            // The worker is gone.
            return Ok(());
        };
        let command_line = std::fs::read(format!("/proc/{worker}/cmdline")).unwrap_or_default();
        let marker = self.dir.display().to_string();
        let ours = String::from_utf8_lossy(&command_line).contains(&marker);
        let zombie = std::fs::read_to_string(format!("/proc/{worker}/stat")).is_ok_and(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
        });
        if !ours || zombie {
            return Ok(());
        }
        let _ = pidfd_send_signal(&pidfd, Signal::KILL);
        // Once a Supervisor has started, this process is a child subreaper.
        // A worker orphaned by supervisord's death is then reparented here,
        // so it is reaped here to leave no zombie.
        let _ = nix::sys::wait::waitpid(
            nix::unistd::Pid::from_raw(worker as i32),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG),
        );
        Err(format!(
            "worker pid {worker} outlived supervisord and was killed"
        ))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            eprintln!("warning: {err}");
        }
    }
}

/// Writes the supervisord config for one program running `fixture` in
/// `dir`, and returns its path.
fn write_config(fixture: &Path, dir: &Path) -> Result<PathBuf, String> {
    let fixture = fixture.display().to_string();
    let dir_text = dir.display().to_string();
    // supervisord splits `command` like a shell and expands `%(name)s`.
    for value in [&fixture, &dir_text] {
        if value.contains(char::is_whitespace) || value.contains('%') {
            return Err(format!(
                "the path {value:?} contains whitespace or `%`, which supervisord's config cannot take as is"
            ));
        }
    }
    let config = format!(
        "[supervisord]
nodaemon=true
logfile={dir_text}/supervisord.log
pidfile={dir_text}/supervisord.pid
childlogdir={dir_text}

[program:worker]
command={fixture} --port 0 --state {dir_text}/jobs.log --stamp-file {dir_text}/stamps
directory={dir_text}
autostart=true
autorestart=true
startsecs=0
stopsignal=TERM
stopwaitsecs=2
stdout_logfile={dir_text}/worker.out
stderr_logfile={dir_text}/worker.err
"
    );
    let path = dir.join("supervisord.conf");
    std::fs::write(&path, config)
        .map_err(|err| format!("failed to write {}: {err}", path.display()))?;
    Ok(path)
}

/// Measures the time from SIGKILL sent to the worker to the new worker's
/// first instruction of `main`, in ms, for `count` kills.
pub fn kill_to_respawn(
    supervisord: &Path,
    count: u32,
    fixture: &Path,
    clock: &MonotonicClock,
) -> Result<Vec<f64>, String> {
    let dir = tempfile::Builder::new()
        .prefix("lifecycle-supervisord-")
        .tempdir()
        .map_err(|err| format!("failed to create a temp dir: {err}"))?;
    let config = write_config(fixture, dir.path())?;
    let mut stamps = StampReader::new(&dir.path().join("stamps"));
    let mut daemon = Daemon::spawn(supervisord, &config, dir.path())?;

    let mut samples = Vec::new();
    let result = (|| {
        let mut worker = stamps
            .wait_blocking(0, WAIT_LIMIT, |s| s.event == "ready")?
            .pid;
        daemon.worker = Some(worker);
        for _ in 0..count {
            let since = stamps.len();
            let sent = daemon.kill_worker(worker)?;
            let main = stamps
                .wait_blocking(since, WAIT_LIMIT, |s| s.event == "start" && s.pid != worker)?;
            daemon.worker = Some(main.pid);
            samples.push(nanos_to_millis(main.nanos - clock.nanos_at(sent)));
            stamps.wait_blocking(since, WAIT_LIMIT, |s| {
                s.event == "ready" && s.pid == main.pid
            })?;
            worker = main.pid;
        }
        Ok::<(), String>(())
    })();
    let stopped = daemon.stop();
    result?;
    stopped?;
    Ok(samples)
}
