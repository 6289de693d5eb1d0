//! The circuit breaker of `policy.abort`: once the target fails to
//! recover as configured, no further fault fires, the run tears down and
//! fails with the reason.

use std::path::Path;

use roulette_test::report::{Outcome, Recovery, Report, render_text};
use roulette_test::runner::run_blocking;
use roulette_test::spec;
use roulette_test::supervisor::timeline::EventKind;

const WORKSPACE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Runs the stale-lock fixture, which never becomes ready after its first
/// SIGKILL, with five faults scheduled and the given `abort` block.
fn run_stale_lock(abort: &str, ready_timeout: &str) -> Report {
    let yaml = format!(
        r#"
apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata: {{name: abort}}
spec:
  target:
    cargo_bin: fixture-worker
    args: ["--port", "${{port.http}}", "--state", "${{tmp}}/jobs.log", "--stale-lock"]
    ports: [http]
    ready:
      http: {{url: "http://127.0.0.1:${{port.http}}/healthz"}}
      interval: 10ms
      timeout: {ready_timeout}
  faults:
    - {{name: kill, signal: SIGKILL, schedule: {{every: 1s, count: 5}}}}
  settle: 0s
  policy:
    abort: {abort}
  hypothesis:
    - name: restarted
      restarts: ">= 1"
"#
    );
    let experiment = spec::load_str(&yaml, None, Path::new(WORKSPACE_DIR))
        .unwrap_or_else(|err| panic!("invalid test spec: {err}"));
    run_blocking(&experiment)
}

fn faults_started(report: &Report) -> usize {
    report
        .timeline
        .iter()
        .filter(|event| matches!(event.kind, EventKind::FaultStarted { .. }))
        .count()
}

#[test]
fn not_ready_for_aborts_after_first_fault() {
    let report = run_stale_lock("{not_ready_for: 400ms}", "5s");
    let text = render_text(&report, false);
    assert_eq!(report.outcome, Outcome::Failed, "{text}");
    assert_eq!(faults_started(&report), 1, "{text}");
    let reason = report.aborted.as_deref().unwrap_or_default();
    assert!(
        reason.contains("did not recover within `not_ready_for` (400ms)"),
        "{text}"
    );
    assert!(
        matches!(report.faults[0].recovery, Recovery::NotRecovered { .. }),
        "{text}"
    );
    // The only hypothesis holds, yet the aborted run fails.
    assert!(
        report.verdicts.iter().all(|verdict| verdict.holds),
        "{text}"
    );
}

#[test]
fn failed_recoveries_abort_at_limit() {
    let report = run_stale_lock("{failed_recoveries: 2}", "300ms");
    let text = render_text(&report, false);
    assert_eq!(report.outcome, Outcome::Failed, "{text}");
    assert_eq!(faults_started(&report), 2, "{text}");
    let reason = report.aborted.as_deref().unwrap_or_default();
    assert!(reason.contains("2 recoveries failed"), "{text}");
}

/// Runs a worker that crashes by itself 200ms after each start, with kills
/// at 100ms, 3s and 4s. It recovers from the first kill. Its supervisor
/// then gives up at the intensity limit of 3 restarts, before the second
/// kill is due.
#[test]
fn crash_loop_aborts_and_fails() {
    let yaml = r#"
apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata: {name: crash-loop}
spec:
  target:
    cargo_bin: fixture-worker
    args: ["--port", "${port.http}", "--state", "${tmp}/jobs.log", "--exit-after", "200ms"]
    ports: [http]
    supervisor:
      intensity: {restarts: 3, within: 30s}
    ready:
      http: {url: "http://127.0.0.1:${port.http}/healthz"}
      interval: 5ms
  faults:
    - {name: kill, signal: SIGKILL, schedule: {at: [100ms, 3s, 4s]}}
  settle: 0s
  hypothesis:
    - name: fast
      ttr: "< 2s"
"#;
    let experiment = spec::load_str(yaml, None, Path::new(WORKSPACE_DIR))
        .unwrap_or_else(|err| panic!("invalid test spec: {err}"));
    let report = run_blocking(&experiment);
    let text = render_text(&report, false);
    assert_eq!(report.outcome, Outcome::Failed, "{text}");
    let reason = report.aborted.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with("the supervisor stopped restarting a crash-looping target"),
        "{text}"
    );
    assert_eq!(faults_started(&report), 1, "{text}");
    assert!(
        matches!(report.faults[0].recovery, Recovery::Recovered { .. }),
        "{text}"
    );
    // The recovery before the crash loop was fast, yet the run fails.
    assert!(
        report.verdicts.iter().all(|verdict| verdict.holds),
        "{text}"
    );
}
