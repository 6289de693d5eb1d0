//! The `load` block against the real fixture worker over HTTP on
//! 127.0.0.1: a freeze shows in the latency of the requests due during
//! it, and the JSON report carries the load's results.

use std::path::Path;
use std::time::Duration;

use roulette_test::report::{Outcome, Report, render_markdown, render_text};
use roulette_test::runner::run_blocking;
use roulette_test::spec::{self, Experiment, LoadPhase};
use roulette_test::supervisor::timeline::EventKind;

/// The workspace root, where `cargo_bin` finds `fixture-worker`.
const WORKSPACE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The fixture worker frozen (SIGSTOP, then SIGCONT) for one second,
/// 500 ms after the load starts, while a client sends 200 requests a
/// second.
const FROZEN_WORKER: &str = r#"
apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata:
  name: load-freeze
spec:
  target:
    cargo_bin: fixture-worker
    args: ["--port", "${port.http}", "--state", "${tmp}/jobs.log"]
    ports: [http]
    ready:
      http: {url: "http://127.0.0.1:${port.http}/healthz"}
      interval: 5ms
      attempt_timeout: 200ms
      timeout: 5s
  faults:
    - name: freeze-worker
      freeze: 1s
      schedule: {at: [500ms]}
  settle: 500ms
  load:
    http:
      url: "http://127.0.0.1:${port.http}/work"
      rate: 200/s
      timeout: 3s
  hypothesis:
    - name: stall-visible
      latency: {max: ">= 800ms"}
      phase: recovery
"#;

fn load(yaml: &str) -> Experiment {
    spec::load_str(yaml, None, Path::new(WORKSPACE_DIR))
        .unwrap_or_else(|err| panic!("invalid test spec: {err}"))
}

/// Asserts that no incarnation of the run is alive any more.
fn assert_no_process_left(report: &Report) {
    assert!(
        report.teardown.survivors.is_empty(),
        "{:?}",
        report.teardown
    );
    for event in &report.timeline {
        if let EventKind::Spawned { pid, .. } = event.kind {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat
                .rfind(')')
                .and_then(|end| stat[end + 1..].split_whitespace().next())
                .unwrap_or("X");
            assert!(
                state == "Z" || state == "X",
                "pid {pid} of the experiment is still alive: {stat}"
            );
        }
    }
}

#[test]
fn freeze_shows_in_latency() {
    let experiment = load(FROZEN_WORKER);
    let report = run_blocking(&experiment);
    let text = render_text(&report, false);
    assert_no_process_left(&report);
    assert_eq!(report.outcome, Outcome::Passed, "{text}");

    let load = report.load.as_ref().expect("the load ran");
    let all = load.phase(LoadPhase::All).unwrap();
    let recovery = load.phase(LoadPhase::Recovery).unwrap();
    let all_latency = all.latency.unwrap();
    let recovery_latency = recovery.latency.unwrap();

    // The freeze lasts 1 s. The first request due in it waits all of it,
    // and about half of the requests of the whole run were due in it.
    assert!(
        all_latency.max >= Duration::from_millis(900),
        "max {:?}\n{text}",
        all_latency.max
    );
    assert!(
        all_latency.p99 >= Duration::from_millis(800),
        "p99 {:?}\n{text}",
        all_latency.p99
    );
    assert!(
        recovery_latency.p50 >= Duration::from_millis(200),
        "p50 during the recovery {:?}\n{text}",
        recovery_latency.p50
    );
    // Nothing fails, because the frozen worker responds to every request late.
    assert_eq!(all.outcomes.errors(), 0, "{text}");
    assert!(
        recovery.requests >= 150,
        "{} requests\n{text}",
        recovery.requests
    );
    assert!(text.contains("load: GET http://127.0.0.1:"), "{text}");
}

#[test]
fn load_results_in_json_and_markdown() {
    let experiment = load(FROZEN_WORKER);
    let report = run_blocking(&experiment);
    assert_no_process_left(&report);

    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    let load = &json["load"];
    assert_eq!(load["target_rate"], 200.0);
    let achieved = load["achieved_rate"].as_f64().unwrap();
    assert!((150.0..=210.0).contains(&achieved), "achieved {achieved}/s");
    let phases = load["phases"].as_array().unwrap();
    let names: Vec<&str> = phases
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["all", "before", "recovery", "between", "after"]);
    assert!(phases[0]["latency"]["p99_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(load["incarnations"][0]["incarnation"], 1);

    let markdown = render_markdown(&report, None);
    assert!(
        markdown.contains("**Load:** GET http://127.0.0.1:"),
        "{markdown}"
    );
    assert!(markdown.contains("| recovery |"), "{markdown}");
}
