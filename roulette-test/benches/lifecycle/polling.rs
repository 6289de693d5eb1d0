//! The baseline for exit detection: polling the process table with
//! `sysinfo` until the killed process is gone, as tools without a child
//! wait do.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sysinfo::{Pid, ProcessStatus, ProcessesToUpdate, System};

use crate::stats::millis;
use crate::supervised::WARMUP;

/// Upper bound of one wait for the killed process to disappear.
const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// Pause between the spawn and the kill, as in the harness's run.
const SETTLE: Duration = Duration::from_millis(5);

/// A child that is killed and reaped when dropped, so that an error in the
/// middle of a run leaves no `sleep` behind.
struct Guarded(Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        // The child is not reaped before this point, so its PID cannot
        // belong to another process yet.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Measures the time from SIGKILL sent to the poll that finds the process
/// gone, in ms, for `count` runs of `sleep 60`. `interval` is the pause
/// between two polls, and zero polls without pause, keeping one core busy.
///
/// The process is this program's own child, so it stays a zombie until it
/// is reaped, and the zombie state counts as gone. A watcher that is not
/// the parent finds the entry gone once the parent reaps it.
pub fn exit_detection(count: u32, interval: Duration) -> Result<Vec<f64>, String> {
    let mut system = System::new();
    let mut samples = Vec::new();
    for run in 0..count + WARMUP {
        let child = Command::new("sleep")
            .arg("60")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|err| format!("failed to start sleep: {err}"))?;
        let mut child = Guarded(child);
        let pid = Pid::from_u32(child.0.id());
        std::thread::sleep(SETTLE);

        // A watcher has listed the process before it dies.
        system.refresh_processes(ProcessesToUpdate::Some(&[pid]), true);
        if system.process(pid).is_none() {
            return Err(format!("sysinfo does not list the new process {pid}"));
        }

        child
            .0
            .kill()
            .map_err(|err| format!("failed to kill pid {pid}: {err}"))?;
        let sent = Instant::now();
        let deadline = sent + WAIT_LIMIT;
        let seen = loop {
            system.refresh_processes(ProcessesToUpdate::Some(&[pid]), true);
            let gone = system
                .process(pid)
                .is_none_or(|process| process.status() == ProcessStatus::Zombie);
            let now = Instant::now();
            if gone {
                break now;
            }
            if now >= deadline {
                return Err(format!(
                    "sysinfo still lists pid {pid} as alive {WAIT_LIMIT:?} after SIGKILL"
                ));
            }
            if !interval.is_zero() {
                std::thread::sleep(interval);
            }
        };
        if run >= WARMUP {
            samples.push(millis(seen - sent));
        }
    }
    Ok(samples)
}
