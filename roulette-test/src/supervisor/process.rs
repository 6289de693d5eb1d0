//! Process-group mechanics on Linux: signalling a process or a group and
//! listing a group's members through `/proc`.

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// Sends `signal` to process `pid`. A process that is already gone is not
/// an error.
pub fn signal_process(pid: u32, signal: Signal) -> Result<(), Errno> {
    match kill(Pid::from_raw(pid as i32), signal) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(err) => Err(err),
    }
}

/// Sends `signal` to every process of group `pgid`. An empty group is not
/// an error.
pub fn signal_group(pgid: u32, signal: Signal) -> Result<(), Errno> {
    match killpg(Pid::from_raw(pgid as i32), signal) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(err) => Err(err),
    }
}

/// Lists the PIDs of the live (not zombie) members of process group `pgid`.
pub fn group_members(pgid: u32) -> Vec<u32> {
    use super::tree::{ProcFs, ProcessTable};
    let mut members: Vec<u32> = ProcFs
        .list()
        .into_iter()
        .filter(|p| p.pgid == pgid && !p.is_zombie())
        .map(|p| p.pid)
        .collect();
    members.sort_unstable();
    members
}

/// Waits up to `limit` for group `pgid` to have no live member, and
/// returns the members left.
pub fn wait_until_gone(pgid: u32, limit: Duration) -> Vec<u32> {
    let deadline = Instant::now() + limit;
    loop {
        let members = group_members(pgid);
        if members.is_empty() || Instant::now() >= deadline {
            return members;
        }
        // SIGKILL is delivered asynchronously; the members disappear from
        // /proc within microseconds, so a short bounded poll suffices.
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Reads the command line of `pid`, for messages.
pub fn command_line(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| {
            bytes
                .split(|b| *b == 0)
                .filter(|part| !part.is_empty())
                .map(|part| String::from_utf8_lossy(part))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_group_contains_self() {
        let own_pid = std::process::id();
        let own_pgid = nix::unistd::getpgrp().as_raw() as u32;
        assert!(group_members(own_pgid).contains(&own_pid));
    }
}
