//! No process that an experiment started may outlive it: not the target's
//! main process, and not a helper that the target forked into its process
//! group. Each test runs `fixture-worker --spawn-helper`, which starts a
//! helper that outlives the worker by design, and checks both pids after
//! the experiment ended: after a pass, a failure, a timeout and a panic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use roulette_test::report::{ErrorKind, Outcome, Report, render_text};
use roulette_test::runner::{resolve_cargo_bin, run_blocking};
use roulette_test::spec::{self, Backoff, Experiment, Intensity, RestartPolicy};
use roulette_test::supervisor::logs::LogBuffer;
use roulette_test::supervisor::timeline::{EventKind, Timeline};
use roulette_test::supervisor::{Supervisor, SupervisorConfig};

/// The workspace root. `cargo_bin` runs `cargo build --bin NAME` in the
/// spec's base directory, and inside the package of these tests (which
/// has no binaries) cargo finds no `fixture-worker`.
const WORKSPACE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The line that `fixture-worker --spawn-helper` prints with its helper's pid.
const HELPER_PREFIX: &str = "helper pid=";

/// Returns the path of the `fixture-worker` binary, built once per test
/// process.
fn fixture_worker() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        resolve_cargo_bin("fixture-worker", Path::new(WORKSPACE_DIR))
            .unwrap_or_else(|err| panic!("failed to build fixture-worker: {}", err.message))
    })
}

fn load(yaml: &str) -> Experiment {
    spec::load_str(yaml, None, Path::new(WORKSPACE_DIR))
        .unwrap_or_else(|err| panic!("invalid test spec: {err}"))
}

/// Returns the state letter and the process group of `pid` from
/// `/proc/PID/stat`, or `None` when there is no such process.
fn proc_stat(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces, so the
    // fields are counted from the last `)`.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _parent = fields.next()?;
    let group = fields.next()?.parse().ok()?;
    Some((state, group))
}

/// Returns whether `pid` names a live process. A zombie (`Z`) or a dead
/// process (`X`) counts as gone: a reparented zombie only waits for its
/// reaper.
fn is_alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|(state, _)| state != 'Z' && state != 'X')
}

/// Describes a live process for a failure message.
fn describe(pid: u32) -> String {
    let command = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
        .unwrap_or_default();
    format!("pid {pid} {:?}: {}", proc_stat(pid), command.trim_end())
}

/// Parses the helper pid out of a `helper pid=N` line.
fn helper_pid(line: &str) -> Option<u32> {
    line.strip_prefix(HELPER_PREFIX)?.trim().parse().ok()
}

/// The processes of one experiment, by incarnation.
#[derive(Debug, Default)]
struct Processes {
    main: BTreeMap<u32, u32>,
    helpers: BTreeMap<u32, u32>,
}

impl Processes {
    /// Collects the main pids from the report's `Spawned` events and the
    /// helper pids from the `helper pid=N` lines of its log tail.
    fn from_report(report: &Report) -> Self {
        let mut processes = Processes::default();
        for event in &report.timeline {
            if let EventKind::Spawned { incarnation, pid } = event.kind {
                processes.main.insert(incarnation, pid);
            }
        }
        for line in &report.log_tail {
            if let Some(pid) = helper_pid(&line.text) {
                processes.helpers.insert(line.incarnation, pid);
            }
        }
        processes
    }

    /// Asserts that every incarnation printed its helper's pid, so the
    /// check below covers both processes of each.
    fn assert_complete(&self, incarnations: usize, report: &Report) {
        assert_eq!(
            self.main.len(),
            incarnations,
            "spawned incarnations: {self:?}\n{}",
            render_text(report, false)
        );
        assert_eq!(
            self.helpers.keys().collect::<Vec<_>>(),
            self.main.keys().collect::<Vec<_>>(),
            "every incarnation must report its helper pid: {self:?}\n{}",
            render_text(report, false)
        );
    }

    /// Asserts that no process of the experiment is alive.
    fn assert_gone(&self) {
        let alive: Vec<String> = self
            .main
            .values()
            .chain(self.helpers.values())
            .filter(|pid| is_alive(**pid))
            .map(|pid| describe(*pid))
            .collect();
        assert!(
            alive.is_empty(),
            "processes outlived the experiment: {alive:?}"
        );
    }
}

#[test]
fn passing_experiment_leaves_nothing() {
    let experiment = load(
        r#"
apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata: {name: cleanup-after-pass}
spec:
  target:
    cargo_bin: fixture-worker
    args: ["--port", "${port.http}", "--state", "${tmp}/jobs.log", "--spawn-helper"]
    ports: [http]
    ready:
      http: {url: "http://127.0.0.1:${port.http}/healthz"}
      interval: 10ms
      timeout: 3s
  faults:
    - {name: kill-worker, signal: SIGKILL, schedule: {at: [300ms]}}
  settle: 100ms
  hypothesis:
    - {name: recovers-fast, ttr: "< 2s"}
"#,
    );
    let report = run_blocking(&experiment);
    assert_eq!(
        report.outcome,
        Outcome::Passed,
        "{}",
        render_text(&report, false)
    );

    let processes = Processes::from_report(&report);
    processes.assert_complete(2, &report);

    // The helper of the killed incarnation is killed before the restart,
    // not only at teardown.
    let first_helper = processes.helpers[&1];
    let killed_before_restart = report.timeline.iter().any(|event| {
        matches!(&event.kind, EventKind::LeftoversKilled { incarnation: 1, pids } if pids.contains(&first_helper))
    });
    assert!(
        killed_before_restart,
        "no LeftoversKilled event for helper {first_helper} of incarnation #1\n{}",
        render_text(&report, false)
    );

    assert!(
        report.teardown.survivors.is_empty(),
        "{:?}",
        report.teardown
    );
    processes.assert_gone();
}

#[test]
fn failing_experiment_leaves_nothing() {
    // The stale lock that SIGKILL leaves behind keeps the restarted worker
    // unready, so the recovery fails while incarnation #2 and its helper
    // are running.
    let experiment = load(
        r#"
apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata: {name: cleanup-after-failure}
spec:
  target:
    cargo_bin: fixture-worker
    args: ["--port", "${port.http}", "--state", "${tmp}/jobs.log", "--spawn-helper", "--stale-lock"]
    ports: [http]
    ready:
      http: {url: "http://127.0.0.1:${port.http}/healthz"}
      interval: 10ms
      timeout: 1s
  faults:
    - {name: kill-worker, signal: SIGKILL, schedule: {at: [300ms]}}
  settle: 0s
  hypothesis:
    - {name: recovers-fast, ttr: "< 2s"}
"#,
    );
    let report = run_blocking(&experiment);
    let text = render_text(&report, false);
    assert_eq!(report.outcome, Outcome::Failed, "{text}");
    assert!(text.contains("found stale lock"), "{text}");

    let processes = Processes::from_report(&report);
    processes.assert_complete(2, &report);
    assert!(
        report.teardown.survivors.is_empty(),
        "{:?}",
        report.teardown
    );
    processes.assert_gone();
}

#[test]
fn timed_out_experiment_leaves_nothing() {
    // The program is given by path, not `cargo_bin`: the experiment
    // timeout also counts the time that `cargo build` takes to resolve a
    // `cargo_bin`, and other tests may hold cargo's build lock.
    let yaml = format!(
        r#"
apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata: {{name: cleanup-after-timeout}}
spec:
  target:
    command: "{}"
    args: ["--port", "${{port.http}}", "--state", "${{tmp}}/jobs.log", "--spawn-helper"]
    ports: [http]
    ready:
      http: {{url: "http://127.0.0.1:${{port.http}}/healthz"}}
      interval: 10ms
      timeout: 1s
  faults:
    - {{name: kill-late, signal: SIGKILL, schedule: {{at: [30s]}}}}
  policy:
    timeout: 2s
  hypothesis:
    - {{name: recovers-fast, ttr: "< 2s"}}
"#,
        fixture_worker().display()
    );
    let experiment = load(&yaml);
    let report = run_blocking(&experiment);
    let text = render_text(&report, false);

    assert_eq!(report.outcome, Outcome::Error, "{text}");
    let error = report
        .error
        .as_ref()
        .expect("an error outcome has an error");
    assert_eq!(error.kind, ErrorKind::Timeout, "{text}");
    assert!(report.faults.is_empty(), "no fault may fire: {text}");
    assert!(
        report.duration >= Duration::from_secs(2),
        "the timeout fired early: {text}"
    );
    // Teardown of a worker that stops on SIGTERM takes well under its 5s
    // grace period.
    assert!(
        report.duration < Duration::from_secs(7),
        "teardown took too long: {text}"
    );

    let processes = Processes::from_report(&report);
    processes.assert_complete(1, &report);
    assert!(
        report.teardown.survivors.is_empty(),
        "{:?}",
        report.teardown
    );
    processes.assert_gone();
}

/// Runs an experiment whose timeout of 1s fires while the target and its
/// helper are stopped by a 10s freeze.
fn run_frozen_timeout() -> Report {
    let yaml = format!(
        r#"
apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata: {{name: cleanup-frozen-timeout}}
spec:
  target:
    command: "{}"
    args: ["--port", "${{port.http}}", "--state", "${{tmp}}/jobs.log", "--spawn-helper"]
    ports: [http]
    ready:
      http: {{url: "http://127.0.0.1:${{port.http}}/healthz"}}
      interval: 10ms
      timeout: 1s
  faults:
    - {{name: freeze-long, freeze: 10s, target: group, schedule: {{at: [200ms]}}}}
  policy:
    timeout: 1s
  hypothesis:
    - {{name: recovers-fast, ttr: "< 2s"}}
"#,
        fixture_worker().display()
    );
    run_blocking(&load(&yaml))
}

#[test]
fn frozen_timeout_leaves_nothing() {
    let report = run_frozen_timeout();
    let text = render_text(&report, false);

    assert_eq!(report.outcome, Outcome::Error, "{text}");
    let error = report
        .error
        .as_ref()
        .expect("an error outcome has an error");
    assert_eq!(error.kind, ErrorKind::Timeout, "{text}");
    let frozen = report
        .timeline
        .iter()
        .any(|event| matches!(event.kind, EventKind::Frozen { .. }));
    assert!(frozen, "the timeout must fire during the freeze: {text}");

    let processes = Processes::from_report(&report);
    processes.assert_complete(1, &report);
    assert!(
        report.teardown.survivors.is_empty(),
        "{:?}",
        report.teardown
    );
    processes.assert_gone();
}

#[test]
fn frozen_timeout_stops_gracefully() {
    let report = run_frozen_timeout();
    let text = render_text(&report, false);

    // The worker stops at once on SIGTERM once it runs again.
    assert!(!report.teardown.killed_after_grace, "{text}");
    assert!(report.duration < Duration::from_secs(4), "{text}");
}

/// What the supervising thread saw before it panicked.
#[derive(Debug)]
struct Started {
    main: u32,
    helper: u32,
    main_alive: bool,
    helper_alive: bool,
}

/// Polls the supervisor until the running incarnation has printed its
/// helper's pid, for at most 10s.
async fn wait_for_helper(supervisor: &Supervisor) -> Option<Started> {
    let deadline = Instant::now() + Duration::from_secs(10);
    for _ in 0..1000 {
        if let Some(running) = supervisor.state().running {
            let helper = supervisor
                .logs()
                .tail(100)
                .iter()
                .filter(|line| line.incarnation == running.incarnation)
                .find_map(|line| helper_pid(&line.text));
            if let Some(helper) = helper {
                return Some(Started {
                    main: running.pid,
                    helper,
                    main_alive: is_alive(running.pid),
                    helper_alive: is_alive(helper),
                });
            }
        }
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

#[test]
fn panic_leaves_nothing() {
    let state_dir = tempfile::tempdir().expect("a temp dir");
    let config = SupervisorConfig {
        program: fixture_worker().to_owned(),
        args: vec![
            "--port".into(),
            "0".into(),
            "--state".into(),
            state_dir.path().join("jobs.log").display().to_string(),
            "--spawn-helper".into(),
        ],
        env: BTreeMap::new(),
        cwd: PathBuf::from(WORKSPACE_DIR),
        restart: RestartPolicy::Always,
        backoff: Backoff::default(),
        intensity: Intensity::default(),
        marker: format!("cleanup-panic-{}", std::process::id()),
        user: None,
        stop_signal: nix::sys::signal::Signal::SIGTERM,
    };

    let (sender, receiver) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime starts");
        runtime.block_on(async move {
            let supervisor = Supervisor::start(
                config,
                Arc::new(Timeline::new()),
                Arc::new(LogBuffer::new(1000)),
            );
            let started = wait_for_helper(&supervisor).await;
            let _ = sender.send(started);
            panic!("a test panics while its supervisor runs");
        })
    });

    let joined = thread.join();
    assert!(joined.is_err(), "the supervising thread must have panicked");
    let started = receiver
        .recv_timeout(Duration::from_secs(1))
        .expect("the thread sends what it saw before it panics")
        .expect("the worker printed its helper pid within 10s");
    // Both were alive before the panic, so the check below can fail.
    assert!(started.main_alive, "{started:?}");
    assert!(started.helper_alive, "{started:?}");

    let alive: Vec<String> = [started.main, started.helper]
        .into_iter()
        .filter(|pid| is_alive(*pid))
        .map(describe)
        .collect();
    assert!(alive.is_empty(), "processes outlived the panic: {alive:?}");
}
