//! The SUT's whole process tree, including processes that left its
//! process group (`setsid`, a double fork, a daemon).
//!
//! Three means find them, because none is enough alone:
//! - ancestry: a process whose parent is in the tree is in the tree;
//! - a marker: every incarnation starts with the environment variable
//!   [`MARKER_VAR`] set to the experiment's id, which its descendants
//!   inherit unless they clear their environment;
//! - the harness process is a child subreaper (`PR_SET_CHILD_SUBREAPER`),
//!   so orphans are reparented to it instead of to PID 1, and the harness
//!   reaps the ones it finds by PID (never with `waitpid(-1)`, which would
//!   steal exit statuses from tokio's own child handling).
//!
//! A process is identified by its PID and its start time, so a PID that
//! the kernel recycled for an unrelated process is never mistaken for a
//! member. Signals go through a pidfd opened and checked against that
//! start time, so they cannot reach a recycled PID either.
//!
//! The OS mechanics sit behind [`ProcessTable`], so the membership logic
//! is unit-tested with a fake table.

use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::{AsFd, OwnedFd};

use nix::sys::signal::Signal;
use serde::Serialize;

/// The environment variable that marks every process of an experiment.
pub const MARKER_VAR: &str = "ROULETTE_EXPERIMENT_ID";

/// The suffix of the marker value of the harness's own commands (`setup`,
/// `exec` probes and checks): they belong to the experiment, so teardown
/// kills what they leave behind, but not to any incarnation, so a restart
/// spares them.
pub const COMMANDS_SUFFIX: &str = "/commands";

/// The incarnation number of the harness's own commands in the tree.
pub const COMMANDS: u32 = 0;

/// One process as the kernel lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    pub sid: u32,
    /// Start time in clock ticks since boot; with the PID it identifies a
    /// process for its whole life.
    pub start_time: u64,
    /// The state letter of `/proc/PID/stat`: `R`, `S`, `Z` and so on.
    pub state: char,
}

impl ProcessInfo {
    /// Returns whether the process has exited and awaits its reaper.
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// Access to the kernel's process table.
pub trait ProcessTable: Send + Sync {
    /// Lists every process.
    fn list(&self) -> Vec<ProcessInfo>;
    /// Lists every process whose pid is not in `skip`, and returns apart
    /// the pids of `skip` that still exist, without reading their details.
    fn list_skipping(&self, skip: &BTreeSet<u32>) -> (Vec<ProcessInfo>, BTreeSet<u32>) {
        let (skipped, listed): (Vec<ProcessInfo>, Vec<ProcessInfo>) = self
            .list()
            .into_iter()
            .partition(|process| skip.contains(&process.pid));
        (
            listed,
            skipped.into_iter().map(|process| process.pid).collect(),
        )
    }
    /// Returns whether `pid`'s environment contains `VAR=value`.
    fn marker(&self, pid: u32) -> Option<String>;
    /// Reads the command line of `pid`, for reports.
    fn command_line(&self, pid: u32) -> String;
    /// Sends `signal` to `pid` only if it is still the process that
    /// started at `start_time`. Returns false when it is gone or is
    /// another process now.
    fn signal(&self, pid: u32, start_time: u64, signal: Signal) -> bool;
    /// Reaps `pid` if it is a zombie child of the harness.
    fn reap(&self, pid: u32);
}

/// Why a member is outside the incarnation's process group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Escape {
    /// It is in the group: no escape.
    None,
    /// It moved to another process group or session (`setsid`, `setpgid`).
    LeftGroup,
    /// Its parent died and it was reparented (a double fork or a daemon).
    Orphaned,
}

impl std::fmt::Display for Escape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Escape::None => "in the process group",
            Escape::LeftGroup => "left the process group (setsid or setpgid)",
            Escape::Orphaned => "orphaned and reparented (double fork or daemon)",
        })
    }
}

/// A process of the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub info: ProcessInfo,
    /// The incarnation whose tree it joined.
    pub incarnation: u32,
    pub escape: Escape,
}

/// The processes of one experiment, across incarnations.
#[derive(Debug)]
pub struct Tree {
    marker: String,
    harness_pid: u32,
    /// Main process and group of each incarnation.
    roots: BTreeMap<u32, (u32, u32)>,
    members: BTreeMap<(u32, u64), Member>,
    /// Processes seen without the marker, with how many scans saw them so.
    /// After two, their environment is not read again: it is fixed once a
    /// process has exec'd, and two scans 100 ms apart rule out catching a
    /// new process between its fork and its exec.
    unmarked: BTreeMap<(u32, u64), u8>,
    /// Scans since the last one that read every process. The others skip
    /// the processes seen unmarked twice and outside the tree, whose
    /// `/proc/PID/stat` costs about 10 µs each on a small VM and would
    /// make most of an idle harness's CPU time.
    scans_since_full: u32,
}

/// Every this many scans, one reads every process again, so a pid that a
/// new process took over is looked at within a second at 100 ms scans.
/// The kernel hands out pids in turn, so that takes a wrap of the whole
/// pid range between two scans.
const FULL_SCAN_EVERY: u32 = 10;

impl Tree {
    /// A tree for the experiment whose processes carry `marker` as
    /// `MARKER_VAR=marker`, in the harness process `harness_pid`.
    pub fn new(marker: &str, harness_pid: u32) -> Self {
        Tree {
            marker: marker.to_owned(),
            harness_pid,
            roots: BTreeMap::new(),
            members: BTreeMap::new(),
            unmarked: BTreeMap::new(),
            scans_since_full: 0,
        }
    }

    /// Records the main process of a new incarnation; its pgid is its pid.
    pub fn add_root(&mut self, incarnation: u32, pid: u32) {
        self.roots.insert(incarnation, (pid, pid));
    }

    /// Updates the members from the process table and returns the live
    /// ones. Zombies that the harness inherited as subreaper are reaped;
    /// `managed` lists PIDs whose parent is the harness but that another
    /// owner (tokio) waits for, so they are never reaped here.
    pub fn scan(&mut self, table: &dyn ProcessTable, managed: &dyn Fn(u32) -> bool) -> Vec<Member> {
        let skip = if self.scans_since_full == 0 {
            BTreeSet::new()
        } else {
            self.unrelated_pids()
        };
        self.scans_since_full = (self.scans_since_full + 1) % FULL_SCAN_EVERY;
        let (processes, skipped) = table.list_skipping(&skip);
        let alive: BTreeMap<(u32, u64), &ProcessInfo> = processes
            .iter()
            .map(|p| ((p.pid, p.start_time), p))
            .collect();

        // Forget members that are gone; a recycled PID has a new start
        // time, so it does not match its predecessor's key.
        self.members.retain(|key, _| alive.contains_key(key));
        self.unmarked
            .retain(|key, _| alive.contains_key(key) || skipped.contains(&key.0));

        // Roots and marked processes, then their descendants until no
        // process joins.
        for process in &processes {
            let key = (process.pid, process.start_time);
            if self.members.contains_key(&key) || process.pid == self.harness_pid {
                continue;
            }
            let root = self
                .roots
                .iter()
                .find(|(_, (pid, _))| *pid == process.pid)
                .map(|(incarnation, _)| *incarnation);
            if root.is_none() && self.unmarked.get(&key).is_some_and(|seen| *seen >= 2) {
                continue;
            }
            let incarnation = match root {
                Some(incarnation) => Some(incarnation),
                None => match table.marker(process.pid) {
                    Some(value) if value == self.marker => Some(self.incarnation_for(process)),
                    Some(value)
                        if value.strip_suffix(COMMANDS_SUFFIX) == Some(self.marker.as_str()) =>
                    {
                        Some(COMMANDS)
                    }
                    _ => None,
                },
            };
            match incarnation {
                Some(incarnation) => self.insert(process, incarnation),
                None => *self.unmarked.entry(key).or_default() += 1,
            }
        }
        loop {
            let mut joined = false;
            for process in &processes {
                let key = (process.pid, process.start_time);
                if self.members.contains_key(&key) || process.pid == self.harness_pid {
                    continue;
                }
                let parent = self
                    .members
                    .values()
                    .find(|m| m.info.pid == process.ppid)
                    .map(|m| m.incarnation);
                if let Some(incarnation) = parent {
                    self.insert(process, incarnation);
                    joined = true;
                }
            }
            if !joined {
                break;
            }
        }

        // Refresh the fields that change (parent, group, state).
        for (key, member) in self.members.iter_mut() {
            if let Some(info) = alive.get(key) {
                member.info = (*info).clone();
                member.escape = escape_of(
                    &member.info,
                    self.roots.get(&member.incarnation),
                    self.harness_pid,
                );
            }
        }

        // Inherited zombies: the harness is their parent as subreaper.
        for member in self.members.values() {
            if member.info.is_zombie()
                && member.info.ppid == self.harness_pid
                && !managed(member.info.pid)
            {
                table.reap(member.info.pid);
            }
        }

        self.members
            .values()
            .filter(|m| !m.info.is_zombie())
            .cloned()
            .collect()
    }

    /// Returns the pids of processes seen unmarked twice and never found
    /// in the tree. Such a process cannot join later: its parent only
    /// changes to a reaper outside the tree. Roots and members are never
    /// among them.
    fn unrelated_pids(&self) -> BTreeSet<u32> {
        let in_tree: BTreeSet<u32> = self
            .roots
            .values()
            .map(|(pid, _)| *pid)
            .chain(self.members.keys().map(|(pid, _)| *pid))
            .collect();
        self.unmarked
            .iter()
            .filter(|(_, seen)| **seen >= 2)
            .map(|((pid, _), _)| *pid)
            .filter(|pid| !in_tree.contains(pid))
            .collect()
    }

    fn insert(&mut self, process: &ProcessInfo, incarnation: u32) {
        let escape = escape_of(process, self.roots.get(&incarnation), self.harness_pid);
        self.members.insert(
            (process.pid, process.start_time),
            Member {
                info: process.clone(),
                incarnation,
                escape,
            },
        );
    }

    /// The incarnation a marked process belongs to: the one whose group
    /// it is in, or else the latest.
    fn incarnation_for(&self, process: &ProcessInfo) -> u32 {
        self.roots
            .iter()
            .find(|(_, (_, pgid))| *pgid == process.pgid)
            .map(|(incarnation, _)| *incarnation)
            .or_else(|| self.roots.keys().last().copied())
            .unwrap_or(0)
    }

    /// Sends SIGKILL to every live member of `incarnation`, or of every
    /// incarnation when `None`, and returns the members signalled.
    pub fn kill(
        &mut self,
        table: &dyn ProcessTable,
        managed: &dyn Fn(u32) -> bool,
        incarnation: Option<u32>,
    ) -> Vec<Member> {
        let members: Vec<Member> = self
            .scan(table, managed)
            .into_iter()
            .filter(|m| incarnation.is_none_or(|i| m.incarnation == i))
            .collect();
        members
            .into_iter()
            .filter(|m| table.signal(m.info.pid, m.info.start_time, Signal::SIGKILL))
            .collect()
    }
}

fn escape_of(process: &ProcessInfo, root: Option<&(u32, u32)>, harness_pid: u32) -> Escape {
    let Some((main_pid, pgid)) = root else {
        return Escape::LeftGroup;
    };
    if process.pid == *main_pid {
        Escape::None
    } else if process.ppid == harness_pid || process.ppid == 1 {
        Escape::Orphaned
    } else if process.pgid != *pgid {
        Escape::LeftGroup
    } else {
        Escape::None
    }
}

/// The real process table: `/proc`, pidfds and `waitpid`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcFs;

impl ProcessTable for ProcFs {
    fn list(&self) -> Vec<ProcessInfo> {
        self.list_skipping(&BTreeSet::new()).0
    }

    fn list_skipping(&self, skip: &BTreeSet<u32>) -> (Vec<ProcessInfo>, BTreeSet<u32>) {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return (Vec::new(), BTreeSet::new());
        };
        let mut listed = Vec::new();
        let mut skipped = BTreeSet::new();
        let pids = entries
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok());
        for pid in pids {
            if skip.contains(&pid) {
                skipped.insert(pid);
            } else if let Some(info) = read_stat(pid) {
                listed.push(info);
            }
        }
        (listed, skipped)
    }

    fn marker(&self, pid: u32) -> Option<String> {
        let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        let prefix = format!("{MARKER_VAR}=");
        environ
            .split(|b| *b == 0)
            .find_map(|entry| entry.strip_prefix(prefix.as_bytes()))
            .map(|value| String::from_utf8_lossy(value).into_owned())
    }

    fn command_line(&self, pid: u32) -> String {
        super::process::command_line(pid)
    }

    fn signal(&self, pid: u32, start_time: u64, signal: Signal) -> bool {
        open_verified(pid, start_time).is_some_and(|pidfd| send_through(&pidfd, signal))
    }

    fn reap(&self, pid: u32) {
        use nix::sys::wait::{WaitPidFlag, waitpid};
        let _ = waitpid(
            nix::unistd::Pid::from_raw(pid as i32),
            Some(WaitPidFlag::WNOHANG),
        );
    }
}

/// Opens a pidfd of `pid` if it is still the process that started at
/// `start_time`. The pidfd is opened first and the start time checked
/// after: if it still matches, the pidfd refers to that very process, and
/// a signal through it cannot reach a process that reused the PID later.
pub fn open_verified(pid: u32, start_time: u64) -> Option<OwnedFd> {
    use rustix::process::{Pid, PidfdFlags, pidfd_open};
    let pidfd = pidfd_open(Pid::from_raw(pid as i32)?, PidfdFlags::empty()).ok()?;
    read_stat(pid).filter(|info| info.start_time == start_time)?;
    Some(pidfd)
}

/// Sends `signal` through a pidfd. Returns false when the process is gone.
pub fn send_through(pidfd: &OwnedFd, signal: Signal) -> bool {
    let Some(signal) = rustix::process::Signal::from_named_raw(signal as i32) else {
        return false;
    };
    rustix::process::pidfd_send_signal(pidfd.as_fd(), signal).is_ok()
}

/// Waits until the process behind `pidfd` exits, for at most `limit`.
/// A pidfd becomes readable when its process exits, so this waits on an
/// event, not a poll. Returns whether it exited.
pub async fn wait_exit(pidfd: &OwnedFd, limit: std::time::Duration) -> bool {
    let Ok(duplicate) = pidfd.try_clone() else {
        return false;
    };
    // SAFETY: the AsyncFd owns `duplicate`, an OwnedFd, so the descriptor
    // stays open and refers to the same pidfd for the AsyncFd's lifetime.
    let registered = unsafe {
        tokio::io::unix::AsyncFd::register_with_interest(duplicate, tokio::io::Interest::READABLE)
    };
    let Ok(readable) = registered else {
        return false;
    };
    tokio::time::timeout(limit, readable.readable())
        .await
        .is_ok_and(|ready| ready.is_ok())
}

/// Reads the command name (`/proc/PID/comm`) of `pid`.
pub fn command_name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|name| name.trim_end().to_owned())
        .unwrap_or_default()
}

/// Reads pid, ppid, pgid, sid, start time and state from `/proc/PID/stat`.
/// The command name is in parentheses and may contain spaces and
/// parentheses itself, so fields are counted from the last `)`.
pub fn read_stat(pid: u32) -> Option<ProcessInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &stat)
}

fn parse_stat(pid: u32, stat: &str) -> Option<ProcessInfo> {
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // Field 3 of proc_pid_stat(5) is the state; after the name, index 0.
    Some(ProcessInfo {
        pid,
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgid: fields.get(2)?.parse().ok()?,
        sid: fields.get(3)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// Makes the harness process a child subreaper, once. Orphaned
/// descendants of a SUT are then reparented to the harness, where the
/// tree finds and reaps them, instead of to PID 1.
pub fn become_subreaper() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Err(err) = nix::sys::prctl::set_child_subreaper(true) {
            tracing::warn!(%err, "failed to become a child subreaper; orphaned SUT processes will be reparented to PID 1");
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    const HARNESS: u32 = 100;

    #[derive(Default)]
    struct FakeTable {
        processes: Mutex<Vec<ProcessInfo>>,
        marked: Vec<u32>,
        commands: Vec<u32>,
        marker_reads: Mutex<Vec<u32>>,
        /// The pids whose details each scan read.
        stat_reads: Mutex<Vec<u32>>,
        signalled: Mutex<Vec<(u32, u64)>>,
        reaped: Mutex<Vec<u32>>,
    }

    impl ProcessTable for FakeTable {
        fn list(&self) -> Vec<ProcessInfo> {
            let processes = self.processes.lock().unwrap().clone();
            self.stat_reads
                .lock()
                .unwrap()
                .extend(processes.iter().map(|p| p.pid));
            processes
        }
        fn list_skipping(&self, skip: &BTreeSet<u32>) -> (Vec<ProcessInfo>, BTreeSet<u32>) {
            let (skipped, listed): (Vec<ProcessInfo>, Vec<ProcessInfo>) = self
                .processes
                .lock()
                .unwrap()
                .iter()
                .cloned()
                .partition(|process| skip.contains(&process.pid));
            self.stat_reads
                .lock()
                .unwrap()
                .extend(listed.iter().map(|p| p.pid));
            (listed, skipped.into_iter().map(|p| p.pid).collect())
        }
        fn marker(&self, pid: u32) -> Option<String> {
            self.marker_reads.lock().unwrap().push(pid);
            if self.marked.contains(&pid) {
                Some(String::from("exp"))
            } else if self.commands.contains(&pid) {
                Some(format!("exp{COMMANDS_SUFFIX}"))
            } else {
                None
            }
        }
        fn command_line(&self, pid: u32) -> String {
            format!("process {pid}")
        }
        fn signal(&self, pid: u32, start_time: u64, _signal: Signal) -> bool {
            let alive = self
                .processes
                .lock()
                .unwrap()
                .iter()
                .any(|p| p.pid == pid && p.start_time == start_time);
            if alive {
                self.signalled.lock().unwrap().push((pid, start_time));
            }
            alive
        }
        fn reap(&self, pid: u32) {
            self.reaped.lock().unwrap().push(pid);
        }
    }

    fn process(pid: u32, ppid: u32, pgid: u32, start_time: u64) -> ProcessInfo {
        ProcessInfo {
            pid,
            ppid,
            pgid,
            sid: pgid,
            start_time,
            state: 'S',
        }
    }

    fn not_managed(_pid: u32) -> bool {
        false
    }

    #[test]
    fn descendants_join_through_ancestry() {
        let table = FakeTable::default();
        *table.processes.lock().unwrap() = vec![
            process(HARNESS, 1, HARNESS, 1),
            // Listed before its parent, so membership needs a fixpoint.
            process(12, 11, 10, 5),
            process(10, HARNESS, 10, 3),
            process(11, 10, 11, 4),
            process(99, 1, 99, 2),
        ];
        let mut tree = Tree::new("exp", HARNESS);
        tree.add_root(1, 10);
        let pids: Vec<u32> = tree
            .scan(&table, &not_managed)
            .iter()
            .map(|m| m.info.pid)
            .collect();
        assert_eq!(pids, [10, 11, 12]);
    }

    #[test]
    fn escapes_are_classified() {
        let table = FakeTable::default();
        *table.processes.lock().unwrap() = vec![
            process(10, HARNESS, 10, 3),
            process(11, 10, 10, 4),
            process(12, 10, 12, 5),
            process(13, HARNESS, 13, 6),
        ];
        let table = FakeTable {
            marked: vec![13],
            ..table
        };
        let mut tree = Tree::new("exp", HARNESS);
        tree.add_root(1, 10);
        let escapes: Vec<(u32, Escape)> = tree
            .scan(&table, &not_managed)
            .iter()
            .map(|m| (m.info.pid, m.escape))
            .collect();
        assert_eq!(
            escapes,
            [
                (10, Escape::None),
                (11, Escape::None),
                (12, Escape::LeftGroup),
                (13, Escape::Orphaned)
            ]
        );
    }

    #[test]
    fn recycled_pid_is_not_a_member() {
        let table = FakeTable::default();
        *table.processes.lock().unwrap() =
            vec![process(10, HARNESS, 10, 3), process(11, 10, 10, 4)];
        let mut tree = Tree::new("exp", HARNESS);
        tree.add_root(1, 10);
        assert_eq!(tree.scan(&table, &not_managed).len(), 2);

        // PID 11 exits and an unrelated process gets the same PID, with a
        // later start time and another parent.
        *table.processes.lock().unwrap() = vec![process(10, HARNESS, 10, 3), process(11, 1, 50, 9)];
        let pids: Vec<u32> = tree
            .scan(&table, &not_managed)
            .iter()
            .map(|m| m.info.pid)
            .collect();
        assert_eq!(pids, [10]);
    }

    #[test]
    fn kill_checks_identity_at_signal_time() {
        let table = FakeTable::default();
        *table.processes.lock().unwrap() =
            vec![process(10, HARNESS, 10, 3), process(11, 10, 10, 4)];
        let mut tree = Tree::new("exp", HARNESS);
        tree.add_root(1, 10);
        let killed = tree.kill(&table, &not_managed, None);
        assert_eq!(killed.len(), 2);
        assert_eq!(*table.signalled.lock().unwrap(), [(10, 3), (11, 4)]);
    }

    #[test]
    fn inherited_zombies_reaped_unless_managed() {
        let table = FakeTable::default();
        let mut zombie = process(12, HARNESS, 12, 5);
        zombie.state = 'Z';
        let mut main = process(10, HARNESS, 10, 3);
        main.state = 'Z';
        *table.processes.lock().unwrap() = vec![main, zombie];
        let table = FakeTable {
            marked: vec![12],
            ..table
        };
        let mut tree = Tree::new("exp", HARNESS);
        tree.add_root(1, 10);
        let live = tree.scan(&table, &|pid| pid == 10);
        assert!(live.is_empty());
        assert_eq!(*table.reaped.lock().unwrap(), [12]);
    }

    #[test]
    fn command_daemons_killed_only_at_teardown() {
        let table = FakeTable::default();
        *table.processes.lock().unwrap() = vec![process(10, HARNESS, 10, 3), process(20, 1, 20, 7)];
        let table = FakeTable {
            commands: vec![20],
            ..table
        };
        let mut tree = Tree::new("exp", HARNESS);
        tree.add_root(1, 10);
        let incarnations: Vec<(u32, u32)> = tree
            .scan(&table, &not_managed)
            .iter()
            .map(|m| (m.info.pid, m.incarnation))
            .collect();
        assert_eq!(incarnations, [(10, 1), (20, COMMANDS)]);

        // A restart of incarnation 1 spares the command's daemon; teardown
        // does not.
        let restart: Vec<u32> = tree
            .kill(&table, &not_managed, Some(1))
            .iter()
            .map(|m| m.info.pid)
            .collect();
        assert_eq!(restart, [10]);
        let teardown: Vec<u32> = tree
            .kill(&table, &not_managed, None)
            .iter()
            .map(|m| m.info.pid)
            .collect();
        assert_eq!(teardown, [10, 20]);
    }

    /// Returns a table with root 10 of incarnation 1 and the unrelated
    /// process 50, and a tree that has the root.
    fn root_and_stranger() -> (FakeTable, Tree) {
        let table = FakeTable::default();
        *table.processes.lock().unwrap() = vec![process(10, HARNESS, 10, 3), process(50, 1, 50, 2)];
        let mut tree = Tree::new("exp", HARNESS);
        tree.add_root(1, 10);
        (table, tree)
    }

    #[test]
    fn unrelated_process_skipped_between_full_scans() {
        let (table, mut tree) = root_and_stranger();
        for _ in 0..FULL_SCAN_EVERY + 1 {
            tree.scan(&table, &not_managed);
        }
        let reads_of = |pid: u32| {
            table
                .stat_reads
                .lock()
                .unwrap()
                .iter()
                .filter(|read| **read == pid)
                .count()
        };
        // Two scans to learn it is unrelated, then one full scan.
        assert_eq!(reads_of(50), 3);
        assert_eq!(reads_of(10), FULL_SCAN_EVERY as usize + 1);
    }

    #[test]
    fn unmarked_process_read_twice_only() {
        let (table, mut tree) = root_and_stranger();
        // Over two full-scan periods: skipped scans must not forget the
        // stranger, or its environment would be read again after them.
        for _ in 0..2 * FULL_SCAN_EVERY {
            tree.scan(&table, &not_managed);
        }
        let reads = table
            .marker_reads
            .lock()
            .unwrap()
            .iter()
            .filter(|pid| **pid == 50)
            .count();
        assert_eq!(reads, 2);
    }

    #[test]
    fn recycled_pid_found_at_full_scan() {
        let (table, mut tree) = root_and_stranger();
        let members = |tree: &mut Tree| -> Vec<u32> {
            tree.scan(&table, &not_managed)
                .iter()
                .map(|m| m.info.pid)
                .collect()
        };
        // Pid 50 is an unrelated process, skipped after two scans.
        for _ in 0..3 {
            assert_eq!(members(&mut tree), [10]);
        }
        // A child of the root takes over pid 50, with a later start time.
        table.processes.lock().unwrap()[1] = process(50, 10, 10, 9);
        let joined = (0..FULL_SCAN_EVERY).any(|_| members(&mut tree).contains(&50));
        assert!(
            joined,
            "the recycled pid joined within one full-scan period"
        );
    }

    #[test]
    fn harness_never_a_member() {
        let table = FakeTable::default();
        *table.processes.lock().unwrap() =
            vec![process(HARNESS, 1, HARNESS, 1), process(10, HARNESS, 10, 3)];
        let table = FakeTable {
            marked: vec![HARNESS],
            ..table
        };
        let mut tree = Tree::new("exp", HARNESS);
        tree.add_root(1, 10);
        let pids: Vec<u32> = tree
            .scan(&table, &not_managed)
            .iter()
            .map(|m| m.info.pid)
            .collect();
        assert_eq!(pids, [10]);
    }

    #[test]
    fn stat_with_odd_command_name() {
        let stat = "4242 (a) b (c) S 1 4240 4240 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 777 0";
        let info = parse_stat(4242, stat).unwrap();
        assert_eq!(
            (info.state, info.ppid, info.pgid, info.sid, info.start_time),
            ('S', 1, 4240, 4240, 777)
        );
    }

    #[test]
    fn own_process_readable() {
        let own = read_stat(std::process::id()).unwrap();
        assert_eq!(own.pid, std::process::id());
        assert!(own.start_time > 0);
    }
}
