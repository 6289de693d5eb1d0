//! The floor for kill to respawn: one thread that sends SIGKILL, blocks in
//! `wait` and spawns the fixture again at once, with no supervisor around
//! it. What remains is the kernel's exit, exec, the dynamic loader and the
//! fixture's start-up before `main`, which no supervisor can go below.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::clock::MonotonicClock;
use crate::stamps::StampReader;
use crate::stats::{millis, nanos_to_millis};
use crate::supervised::WARMUP;

/// Upper bound of one wait for a stamp.
const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// A child that is killed and reaped when dropped. `Child::kill` does
/// nothing for a child that was already reaped, so no recycled PID is hit.
struct Guarded(Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Samples of the floor, in ms.
#[derive(Default)]
pub struct Floor {
    /// SIGKILL sent to the new process's first instruction of `main`.
    pub kill_to_main: Vec<f64>,
    /// SIGKILL sent to the return of `wait`.
    pub kill_to_reaped: Vec<f64>,
    /// The return of `wait` to the new process's `main`.
    pub reaped_to_main: Vec<f64>,
}

fn spawn(fixture: &Path, dir: &Path) -> Result<Guarded, String> {
    Command::new(fixture)
        .arg("--port")
        .arg("0")
        .arg("--state")
        .arg(dir.join("floor-jobs.log"))
        .arg("--stamp-file")
        .arg(dir.join("floor-stamps"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map(Guarded)
        .map_err(|err| format!("failed to start {}: {err}", fixture.display()))
}

/// Kills the ready fixture `count` times and restarts it from the same
/// thread right after `wait` returns.
pub fn kill_to_respawn(
    count: u32,
    fixture: &Path,
    dir: &Path,
    clock: &MonotonicClock,
) -> Result<Floor, String> {
    let mut stamps = StampReader::new(&dir.join("floor-stamps"));
    let mut samples = Floor::default();
    let mut child = spawn(fixture, dir)?;
    for run in 0..count + WARMUP {
        let pid = child.0.id();
        stamps.wait_blocking(0, WAIT_LIMIT, |s| s.event == "ready" && s.pid == pid)?;
        let since = stamps.len();

        child
            .0
            .kill()
            .map_err(|err| format!("failed to kill pid {pid}: {err}"))?;
        let sent = Instant::now();
        child
            .0
            .wait()
            .map_err(|err| format!("failed to wait for pid {pid}: {err}"))?;
        let reaped = Instant::now();
        child = spawn(fixture, dir)?;

        let new_pid = child.0.id();
        let main = stamps.wait_blocking(since, WAIT_LIMIT, |s| {
            s.event == "start" && s.pid == new_pid
        })?;
        if run >= WARMUP {
            let main_at = main.nanos;
            samples
                .kill_to_main
                .push(nanos_to_millis(main_at - clock.nanos_at(sent)));
            samples.kill_to_reaped.push(millis(reaped - sent));
            samples
                .reaped_to_main
                .push(nanos_to_millis(main_at - clock.nanos_at(reaped)));
        }
    }
    Ok(samples)
}
