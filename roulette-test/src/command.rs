//! Commands the harness runs itself: `setup` steps, `exec` probes and
//! `exec` checks. Each runs in a process group of its own with a time
//! limit, and the whole group is killed when the limit passes, so a shell
//! script's children do not outlive it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tokio::io::AsyncReadExt;

use crate::supervisor::timeline::ExitStatus;
use crate::supervisor::{process, tree};

/// Bytes of stdout and of stderr kept from one command.
pub(crate) const OUTPUT_LIMIT: usize = 64 * 1024;

/// The exit status and output of a finished command.
#[derive(Clone, Debug)]
pub struct CommandOutput {
    /// `None` when the command was killed at its time limit.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl CommandOutput {
    /// Returns whether the command exited with code 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(ExitStatus::success)
    }

    /// Describes the outcome in a few words: `exit code 1`, `timed out after 5s`.
    pub fn describe(&self, limit: Duration) -> String {
        match self.status {
            Some(status) => status.to_string(),
            None => format!("timed out after {}", crate::spec::format_duration(limit)),
        }
    }

    /// Returns the last `count` lines of stdout and stderr together.
    pub fn tail(&self, count: usize) -> Vec<String> {
        let lines: Vec<String> = self
            .stdout
            .lines()
            .chain(self.stderr.lines())
            .map(str::to_owned)
            .collect();
        lines[lines.len().saturating_sub(count)..].to_vec()
    }
}

/// A command that could not be started.
#[derive(Debug, thiserror::Error)]
#[error("failed to start `{program}`: {source}")]
pub struct StartError {
    pub program: String,
    #[source]
    pub source: std::io::Error,
}

/// Runs `argv` in `cwd`, killing its process group after `limit`.
pub async fn run(
    argv: &[String],
    cwd: &Path,
    limit: Duration,
) -> Result<CommandOutput, StartError> {
    run_marked(argv, cwd, limit, None).await
}

/// Runs `argv` like [`run`]. With `experiment` set, the command carries
/// that experiment's marker for harness commands, so the experiment's
/// teardown also kills any daemon the command leaves behind.
pub async fn run_marked(
    argv: &[String],
    cwd: &Path,
    limit: Duration,
    experiment: Option<&str>,
) -> Result<CommandOutput, StartError> {
    let program = resolve_program(&argv[0], cwd);
    let mut command = tokio::process::Command::new(&program);
    if let Some(experiment) = experiment {
        command.env(
            tree::MARKER_VAR,
            format!("{experiment}{}", tree::COMMANDS_SUFFIX),
        );
    }
    command
        .args(&argv[1..])
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = command.spawn().map_err(|source| StartError {
        program: argv[0].clone(),
        source,
    })?;
    let pgid = child.id().unwrap_or_default();
    crate::supervisor::managed::insert(pgid);
    let stdout = tokio::spawn(read_limited(child.stdout.take()));
    let stderr = tokio::spawn(read_limited(child.stderr.take()));

    let status = match tokio::time::timeout(limit, child.wait()).await {
        Ok(status) => status.ok().map(ExitStatus::from_std),
        Err(_) => None,
    };
    // Also after a normal exit: a background process the command left in
    // its group would keep the output pipes open.
    if !process::group_members(pgid).is_empty() {
        let _ = process::signal_group(pgid, Signal::SIGKILL);
        process::wait_until_gone(pgid, Duration::from_secs(2));
    }
    if status.is_none() {
        let _ = child.wait().await;
    }
    crate::supervisor::managed::remove(pgid);
    let stdout = stdout.await.unwrap_or_default();
    let stderr = stderr.await.unwrap_or_default();
    Ok(CommandOutput {
        status,
        stdout,
        stderr,
        elapsed: started.elapsed(),
    })
}

async fn read_limited<R: tokio::io::AsyncRead + Unpin>(reader: Option<R>) -> String {
    let Some(mut reader) = reader else {
        return String::new();
    };
    // Keeps the last OUTPUT_LIMIT bytes and reads on to the end: closing
    // the pipe early would kill a chatty command with SIGPIPE.
    let mut kept: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 8192];
    while let Ok(read) = reader.read(&mut chunk).await {
        if read == 0 {
            break;
        }
        kept.extend_from_slice(&chunk[..read]);
        if kept.len() > 2 * OUTPUT_LIMIT {
            kept.drain(..kept.len() - OUTPUT_LIMIT);
        }
    }
    if kept.len() > OUTPUT_LIMIT {
        kept.drain(..kept.len() - OUTPUT_LIMIT);
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// Resolves a relative program path that contains a `/` against `cwd`;
/// a bare name is left for the `PATH` lookup. The result is absolute
/// when `cwd` is relative too, because the program runs in `cwd` and
/// exec would resolve a relative path from there a second time.
pub fn resolve_program(program: &str, cwd: &Path) -> PathBuf {
    let path = Path::new(program);
    if path.is_relative() && program.contains('/') {
        let joined = cwd.join(path);
        std::path::absolute(&joined).unwrap_or(joined)
    } else {
        path.to_owned()
    }
}

/// Finds `program` the way the kernel's exec would: a path is used as
/// is, a bare name is searched on `PATH`. Returns `None` when it is not
/// an executable file.
pub fn find_program(program: &str, cwd: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let is_executable = |path: &Path| {
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = resolve_program(program, cwd);
        return is_executable(&path).then_some(path);
    }
    let path_var = std::env::var_os("PATH")?;
    std::env::split_paths(&path_var)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn run_survives_large_output() {
        // 100000 lines are about 590 KB, far past the kept tail.
        let argv = ["sh", "-c", "seq 1 100000"].map(String::from);
        let output = run(&argv, Path::new("."), Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(output.status, Some(ExitStatus::Code(0)));
        assert!(
            output.stdout.ends_with("100000\n"),
            "{}",
            &output.stdout[output.stdout.len() - 20..]
        );
        assert!(output.stdout.len() <= OUTPUT_LIMIT);
    }

    #[tokio::test]
    async fn run_captures_output_and_status() {
        let argv = ["sh", "-c", "echo out; echo err >&2; exit 3"].map(String::from);
        let output = run(&argv, Path::new("."), Duration::from_secs(10))
            .await
            .unwrap();
        assert_eq!(output.status, Some(ExitStatus::Code(3)));
        assert_eq!(output.stdout, "out\n");
        assert_eq!(output.stderr, "err\n");
    }

    #[tokio::test]
    async fn run_kills_group_at_limit() {
        let marker = tempfile::tempdir().unwrap();
        let pid_file = marker.path().join("pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pid_file.display());
        let argv = ["sh".to_owned(), "-c".to_owned(), script];
        let output = run(&argv, Path::new("."), Duration::from_millis(300))
            .await
            .unwrap();
        assert!(output.status.is_none());
        let background: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The background sleep was in the command's group, so it is gone
        // (or a zombie awaiting its reaper).
        let state = std::fs::read_to_string(format!("/proc/{background}/stat")).unwrap_or_default();
        let alive = state
            .rsplit(')')
            .next()
            .is_some_and(|rest| !rest.trim_start().starts_with(['Z', 'X']));
        assert!(
            !alive,
            "background process {background} still alive: {state}"
        );
    }

    #[test]
    fn find_program_on_path() {
        assert!(find_program("sh", Path::new(".")).is_some());
        assert!(find_program("no-such-program-roulette", Path::new(".")).is_none());
    }
}
