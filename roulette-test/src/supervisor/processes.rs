//! Every process of one experiment, kept in a [`Tree`], and the ways the
//! supervisor kills them: one incarnation before its restart, all of them
//! at teardown and when the supervisor is dropped.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Survivor;
use super::tree::{self, Member, ProcessTable, Tree};
use super::watchdog;

/// Every process of the experiment, across incarnations. Dropping the
/// supervisor kills all of them, so a panicking test leaves nothing
/// running.
pub(super) struct Processes {
    tree: Mutex<Tree>,
    pub(super) table: Arc<dyn ProcessTable>,
    /// Members the watchdog knows of, by pid and start time.
    watched: Mutex<BTreeSet<(u32, u64)>>,
}

/// How often the tree is refreshed from `/proc` while an incarnation runs.
pub(super) const TREE_SCAN_INTERVAL: Duration = Duration::from_millis(100);

/// Rounds of kill-and-rescan before teardown reports survivors: a member
/// may fork once more between a scan and its SIGKILL.
const KILL_ROUNDS: usize = 5;

impl Processes {
    pub(super) fn new(marker: &str, table: Arc<dyn ProcessTable>) -> Self {
        Processes {
            tree: Mutex::new(Tree::new(marker, std::process::id())),
            table,
            watched: Mutex::new(BTreeSet::new()),
        }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Tree> {
        self.tree
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn add_root(&self, incarnation: u32, pid: u32) {
        self.lock().add_root(incarnation, pid);
        self.scan();
    }

    /// Updates the tree from the process table, tells the watchdog about
    /// members that joined or left, and returns the live members.
    pub(super) fn scan(&self) -> Vec<Member> {
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
    pub(super) fn kill(&self, incarnation: Option<u32>) -> (Vec<Member>, Vec<Member>) {
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
    pub(super) fn kill_all(&self) -> Vec<Survivor> {
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
pub(super) fn protected_pids() -> Vec<u32> {
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

    pub(super) fn lock() -> std::sync::MutexGuard<'static, BTreeSet<u32>> {
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
