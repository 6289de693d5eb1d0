//! A watchdog process that kills the experiment's processes if the
//! harness dies without its teardown: SIGKILL, a nextest timeout (SIGTERM
//! to the test's process group, then SIGKILL) or a crash.
//!
//! The watchdog is a small `sh` script in a process group of its own, so
//! signals meant for the test's group do not reach it. It reads
//! `+ PID START` and `- PID` lines on stdin; the write end of that pipe
//! belongs to the harness alone (close-on-exec, so no child inherits it),
//! and end of input therefore means the harness is gone. It then sends
//! SIGKILL to every listed process whose start time still matches, so a
//! recycled PID is spared, removes the experiments' temp dirs, listed by
//! `d PATH` and `u PATH` lines, and exits.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

const SCRIPT: &str = r#"
trap '' INT TERM HUP
# The lists are split into words, never expanded as globs.
set -f
list=""
dirs=""
while read -r op pid start; do
    case "$op" in
        +) list="$list $pid:$start" ;;
        -) kept=""
           for entry in $list; do
               [ "${entry%%:*}" = "$pid" ] || kept="$kept $entry"
           done
           list="$kept" ;;
        d) dirs="$dirs $pid" ;;
        u) kept=""
           for dir in $dirs; do
               [ "$dir" = "$pid" ] || kept="$kept $dir"
           done
           dirs="$kept" ;;
    esac
done
for entry in $list; do
    pid=${entry%%:*}
    start=${entry#*:}
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    set -- ${stat##*) }
    # After the command name, field 20 is the start time (field 22 of
    # proc_pid_stat(5)).
    [ "${20}" = "$start" ] && kill -KILL "$pid" 2>/dev/null
done
for dir in $dirs; do
    case "$dir" in
        /*/roulette-*) rm -rf -- "$dir" ;;
    esac
done
exit 0
"#;

/// The watchdog of this harness process, started on first use.
struct Watchdog {
    stdin: Mutex<ChildStdin>,
}

fn watchdog() -> Option<&'static Watchdog> {
    static WATCHDOG: OnceLock<Option<Watchdog>> = OnceLock::new();
    WATCHDOG
        .get_or_init(|| {
            let spawned = Command::new("/bin/sh")
                .args(["-c", SCRIPT])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn();
            match spawned {
                Ok(mut child) => {
                    let stdin = child.stdin.take()?;
                    tracing::debug!(pid = child.id(), "started the watchdog");
                    // The handle is dropped without a wait: the watchdog
                    // lives as long as this process, and the kernel
                    // reparents it when this process ends.
                    Some(Watchdog { stdin: Mutex::new(stdin) })
                }
                Err(err) => {
                    tracing::warn!(%err, "failed to start the watchdog; a harness killed by SIGKILL will leave its target running");
                    None
                }
            }
        })
        .as_ref()
}

fn send(line: &str) {
    let Some(watchdog) = watchdog() else { return };
    let mut stdin = watchdog
        .stdin
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    // A failed write means the watchdog is gone; the harness goes on.
    let _ = stdin.write_all(line.as_bytes());
}

/// Asks the watchdog to kill `pid` if the harness dies while it lives.
pub fn register(pid: u32, start_time: u64) {
    send(&format!("+ {pid} {start_time}\n"));
}

/// Tells the watchdog that `pid` is gone.
pub fn unregister(pid: u32) {
    send(&format!("- {pid}\n"));
}

/// Asks the watchdog to remove `dir`, an experiment's temp dir, if the
/// harness dies while it exists. A path that is relative, not named
/// `roulette-*`, or contains whitespace is not registered, because the
/// watchdog reads whitespace-separated words.
pub fn register_dir(dir: &Path) {
    if let Some(dir) = watched_dir(dir) {
        send(&format!("d {dir}\n"));
    }
}

/// Tells the watchdog that `dir` is removed.
pub fn unregister_dir(dir: &Path) {
    if let Some(dir) = watched_dir(dir) {
        send(&format!("u {dir}\n"));
    }
}

fn watched_dir(dir: &Path) -> Option<&str> {
    let text = dir.to_str()?;
    let named = dir
        .file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with("roulette-"));
    (dir.is_absolute() && named && !text.contains(char::is_whitespace)).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_dir_needs_roulette_name() {
        assert_eq!(
            watched_dir(Path::new("/tmp/roulette-ab12")),
            Some("/tmp/roulette-ab12")
        );
        assert_eq!(watched_dir(Path::new("tmp/roulette-ab12")), None);
        assert_eq!(watched_dir(Path::new("/tmp/other-ab12")), None);
        assert_eq!(watched_dir(Path::new("/my tmp/roulette-ab12")), None);
        assert_eq!(watched_dir(Path::new("/")), None);
    }
}
