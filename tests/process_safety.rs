//! The harness reaches every process of the target's tree, including the
//! ones that leave its process group, and nothing else. The targets are
//! small shell services in `tests/services/`, each printing the pids of
//! the processes it starts.

use std::path::Path;

use roulette_test::report::{Outcome, Report, StopPath, render_text};
use roulette_test::runner::run_blocking;
use roulette_test::spec::{self, Experiment};
use roulette_test::supervisor::timeline::EventKind;

const TESTS_DIR: &str = env!("CARGO_MANIFEST_DIR");

fn load(yaml: &str) -> Experiment {
    spec::load_str(yaml, None, Path::new(TESTS_DIR))
        .unwrap_or_else(|err| panic!("invalid test spec: {err}"))
}

/// A spec running `script` with a log readiness probe on `ready` and the
/// given faults block.
fn service_spec(name: &str, script: &str, faults: &str) -> String {
    format!(
        r#"
apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata: {{name: {name}}}
spec:
  target:
    command: sh
    args: ["services/{script}"]
    ready:
      log: "^ready$"
      interval: 10ms
      timeout: 5s
  faults:
{faults}
  settle: 100ms
  hypothesis:
    - name: recovers
      ttr: "< 5s"
"#
    )
}

/// Returns whether `pid` names a live process; a zombie counts as gone.
fn is_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rfind(')')
        .and_then(|end| stat[end + 1..].split_whitespace().next());
    !matches!(state, Some("Z" | "X"))
}

/// The pids printed as `LABEL pid=N` by `incarnation`.
fn printed_pids(report: &Report, label: &str, incarnation: u32) -> Vec<u32> {
    let prefix = format!("{label} pid=");
    report
        .log_tail
        .iter()
        .filter(|line| line.incarnation == incarnation)
        .filter_map(|line| line.text.strip_prefix(&prefix)?.trim().parse().ok())
        .collect()
}

/// The pids of every `LeftoversKilled` event of `incarnation`.
fn leftovers_killed(report: &Report, incarnation: u32) -> Vec<u32> {
    report
        .timeline
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::LeftoversKilled {
                incarnation: i,
                pids,
            } if *i == incarnation => Some(pids.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn assert_passed(report: &Report) {
    assert_eq!(
        report.outcome,
        Outcome::Passed,
        "{}",
        render_text(report, false)
    );
}

fn assert_all_gone(pids: &[u32], report: &Report) {
    let alive: Vec<&u32> = pids.iter().filter(|pid| is_alive(**pid)).collect();
    assert!(
        alive.is_empty(),
        "processes outlived the experiment: {alive:?}\n{}",
        render_text(report, false)
    );
}

#[test]
fn escaped_processes_killed_before_restart() {
    let faults = "    - {name: kill, signal: SIGKILL, schedule: {at: [300ms]}}";
    let report = run_blocking(&load(&service_spec("escapers", "escaper.sh", faults)));
    assert_passed(&report);

    let escaped = printed_pids(&report, "escaped", 1);
    let daemon = printed_pids(&report, "daemon", 1);
    assert_eq!(escaped.len(), 1, "{}", render_text(&report, false));
    assert_eq!(daemon.len(), 1, "{}", render_text(&report, false));

    // Both left the group of incarnation #1, and both were killed before
    // incarnation #2 started.
    let killed = leftovers_killed(&report, 1);
    assert!(
        killed.contains(&escaped[0]),
        "setsid helper not killed before restart: {killed:?}"
    );
    assert!(
        killed.contains(&daemon[0]),
        "daemon not killed before restart: {killed:?}"
    );

    let mut all = escaped;
    all.extend(daemon);
    all.extend(printed_pids(&report, "escaped", 2));
    all.extend(printed_pids(&report, "daemon", 2));
    assert_eq!(all.len(), 4, "{}", render_text(&report, false));
    assert_all_gone(&all, &report);
}

#[test]
fn wrapper_worker_killed_as_leftover() {
    let faults = "    - {name: stop, signal: SIGTERM, grace: 2s, schedule: {at: [300ms]}}";
    let report = run_blocking(&load(&service_spec("wrapper", "wrapper.sh", faults)));
    assert_passed(&report);

    // The wrapper died on SIGTERM by itself; its worker did not.
    assert!(
        matches!(report.faults[0].stop, StopPath::ExitedWithinGrace { .. }),
        "{}",
        render_text(&report, false)
    );
    let worker = printed_pids(&report, "worker", 1);
    assert_eq!(worker.len(), 1);
    assert_eq!(leftovers_killed(&report, 1), worker);
    let mut all = worker;
    all.extend(printed_pids(&report, "worker", 2));
    assert_all_gone(&all, &report);
}

#[test]
fn stubborn_tree_escalated() {
    let faults =
        "    - {name: stop, signal: SIGTERM, grace: 300ms, target: group, schedule: {at: [300ms]}}";
    let report = run_blocking(&load(&service_spec("stubborn", "stubborn.sh", faults)));
    assert_passed(&report);
    assert!(
        matches!(report.faults[0].stop, StopPath::Escalated { .. }),
        "{}",
        render_text(&report, false)
    );
    let mut all = printed_pids(&report, "child", 1);
    all.extend(printed_pids(&report, "child", 2));
    assert_eq!(all.len(), 2, "{}", render_text(&report, false));
    // Teardown needed SIGKILL too, since the target ignores SIGTERM.
    assert!(report.teardown.killed_after_grace);
    assert_all_gone(&all, &report);
}

#[test]
fn instant_exit_never_ready() {
    let experiment = load(
        r#"
apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata: {name: instant-exit}
spec:
  target:
    command: sh
    args: ["-c", "exit 0"]
    supervisor: {restart: always, intensity: {restarts: 3, within: 10s}}
    ready:
      log: "never printed"
      interval: 10ms
      timeout: 5s
"#,
    );
    let report = run_blocking(&experiment);
    assert_eq!(
        report.outcome,
        Outcome::Error,
        "{}",
        render_text(&report, false)
    );
    let error = report.error.as_ref().expect("an experiment error");
    assert!(
        error.message.contains("exited before it became ready"),
        "{}",
        error.message
    );
    assert_eq!(report.restarts, 3, "{}", render_text(&report, false));
    assert!(report.teardown.survivors.is_empty());
}

#[test]
fn harness_not_in_tree() {
    // Teardown kills every member of the tree. The orphaned daemon is
    // reparented to the harness, so if the tree ever took in its parent,
    // this test process would die here.
    let faults = "    - {name: kill, signal: SIGKILL, target: group, schedule: {at: [200ms]}}";
    let report = run_blocking(&load(&service_spec("harness-spared", "escaper.sh", faults)));
    assert_passed(&report);
    assert!(is_alive(std::process::id()));
    assert!(std::env::var_os("ROULETTE_EXPERIMENT_ID").is_none());
}

/// The variable that makes `victim_experiment` run, naming the directory
/// where its target records its pids.
const VICTIM_DIR: &str = "ROULETTE_VICTIM_DIR";

/// Runs only in a child process started by `sigkilled_harness_leaves_nothing`,
/// which kills this process with SIGKILL while the experiment runs.
#[test]
#[ignore = "run in a child process by sigkilled_harness_leaves_nothing"]
fn victim_experiment() {
    if std::env::var_os(VICTIM_DIR).is_none() {
        return;
    }
    let experiment = load(
        r#"
apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata: {name: victim}
spec:
  target:
    command: sh
    args: ["services/recorder.sh", "${env.ROULETTE_VICTIM_DIR}"]
    ready:
      log: "^ready$"
      interval: 10ms
  setup:
    - exec: ["sh", "-c", "printf %s \"$1\" > \"$2/tmp_path\"", "sh", "${tmp}", "${env.ROULETTE_VICTIM_DIR}"]
  settle: 60s
"#,
    );
    run_blocking(&experiment);
}

/// Runs `victim_experiment` in a child test process in a process group of
/// its own, waits until its target's four processes run, sends `signal` to
/// that whole group (as nextest does on a test timeout), and asserts that
/// no process of the target survives and its temp dir is removed.
fn harness_killed_leaves_nothing(signal: nix::sys::signal::Signal) {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().expect("a temp dir");
    let pids_file = dir.path().join("pids");
    let mut victim = Command::new(std::env::current_exe().expect("the test binary's path"))
        .args(["--exact", "victim_experiment", "--ignored", "--nocapture"])
        .env(VICTIM_DIR, dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("the victim test process starts");

    // The target records four pids once all its processes run.
    let deadline = Instant::now() + Duration::from_secs(60);
    let pids: Vec<u32> = loop {
        let pids: Vec<u32> = std::fs::read_to_string(&pids_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect();
        if pids.len() == 4 {
            break pids;
        }
        if Instant::now() > deadline {
            let _ = victim.kill();
            let _ = victim.wait();
            panic!("the victim's target recorded {pids:?} within 60s, expected 4 pids");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // The harness scans the tree every 100ms; give it two scans to tell
    // the watchdog about every member.
    std::thread::sleep(Duration::from_millis(300));

    let group = nix::unistd::Pid::from_raw(victim.id() as i32);
    nix::sys::signal::killpg(group, signal).expect("the signal reaches the victim's group");
    victim.wait().expect("the victim is reaped");

    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|pid| is_alive(*pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let alive: Vec<&u32> = pids.iter().filter(|pid| is_alive(**pid)).collect();
    assert!(
        alive.is_empty(),
        "processes outlived the {signal}ed harness: {alive:?} of {pids:?}"
    );

    // The watchdog removes the experiment's temp dir after the kills.
    let tmp = std::fs::read_to_string(dir.path().join("tmp_path"))
        .expect("the victim's setup recorded its temp dir");
    let tmp = std::path::Path::new(&tmp);
    assert!(tmp.is_absolute(), "{}", tmp.display());
    let deadline = Instant::now() + Duration::from_secs(5);
    while tmp.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !tmp.exists(),
        "the temp dir {} outlived the {signal}ed harness",
        tmp.display()
    );
}

#[test]
fn sigkilled_harness_leaves_nothing() {
    harness_killed_leaves_nothing(nix::sys::signal::Signal::SIGKILL);
}

#[test]
fn sigtermed_harness_leaves_nothing() {
    harness_killed_leaves_nothing(nix::sys::signal::Signal::SIGTERM);
}

#[test]
fn catch_all_regex_stays_in_tree() {
    // `.` matches every command line, the harness's own and cargo's
    // included; only descendants of the target may be picked.
    let faults = "    - {name: kill-all, signal: SIGKILL, target: {process: \".\", pick: all}, schedule: {at: [200ms]}}";
    let spec = service_spec("catch-all", "escaper.sh", faults)
        .replace("ttr: \"< 5s\"", "restarts: \"== 0\"");
    let report = run_blocking(&load(&spec));
    assert_passed(&report);
    assert!(is_alive(std::process::id()));

    // The fault reached the two helpers that left the group, and no
    // process outside the target's tree.
    let mut expected = printed_pids(&report, "escaped", 1);
    expected.extend(printed_pids(&report, "daemon", 1));
    expected.sort_unstable();
    let StopPath::DescendantsExited { pids, .. } = &report.faults[0].stop else {
        panic!(
            "expected the descendants to exit: {}",
            render_text(&report, false)
        );
    };
    let mut reached = pids.clone();
    reached.sort_unstable();
    assert_eq!(reached, expected, "{}", render_text(&report, false));
}

#[test]
fn setup_daemon_killed_at_teardown() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let pid_file = dir.path().join("daemon.pid");
    let yaml = format!(
        r#"
apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata: {{name: setup-daemon}}
spec:
  target:
    command: sh
    args: ["services/escaper.sh"]
    ready:
      log: "^ready$"
      interval: 10ms
  setup:
    - exec: ["sh", "-c", "setsid sh -c 'exec sleep 127' > /dev/null 2>&1 & echo $! > {}"]
  faults:
    - {{name: kill, signal: SIGKILL, schedule: {{at: [100ms]}}}}
  settle: 100ms
"#,
        pid_file.display()
    );
    let report = run_blocking(&load(&yaml));
    assert_passed(&report);
    let pid: u32 = std::fs::read_to_string(&pid_file)
        .expect("the setup command wrote its daemon's pid")
        .trim()
        .parse()
        .expect("a pid");
    assert!(
        !is_alive(pid),
        "the daemon {pid} that setup started outlived the experiment"
    );
}
