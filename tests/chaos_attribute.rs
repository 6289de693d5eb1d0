//! `#[chaos_test]` and the step-by-step session against the fixture
//! worker: a YAML file run as a test, an experiment driven from Rust, the
//! timeout, and teardown when a session is dropped.

use std::time::Duration;

use roulette_test::ChaosContext;
use roulette_test::builder::{ExperimentBuilder, FaultBuilder, Ready};
use roulette_test::report::Outcome;
use roulette_test::supervisor::timeline::EventKind;

fn worker() -> ExperimentBuilder {
    ExperimentBuilder::new("step-by-step")
        .base_dir(env!("CARGO_MANIFEST_DIR"))
        .cargo_bin("fixture-worker")
        .args(["--port", "${port.http}", "--state", "${tmp}/jobs.log"])
        .port("http")
        .ready(Ready::http("http://127.0.0.1:${port.http}/healthz").interval("5ms"))
}

#[roulette_test::chaos_test(spec = "../examples/metrics-restarts.yaml", timeout = "120s", seed = 7)]
async fn yaml_spec_runs_as_a_test(ctx: ChaosContext) {
    let report = ctx.report().expect("the spec ran before the body");
    assert_eq!(report.outcome, Outcome::Passed);
    assert_eq!(report.restarts, 3);
    assert_eq!(
        report.seed,
        Some(7),
        "the attribute's seed replaces the spec's"
    );
    assert_eq!(
        ctx.experiment().map(|e| e.name.as_str()),
        Some("metrics-restarts")
    );
    assert!(ctx.name().ends_with("yaml_spec_runs_as_a_test"));
    assert_eq!(
        report.replay.as_deref(),
        Some(
            "ROULETTE_SEED=7 cargo test -p roulette-tests --test chaos_attribute -- --exact yaml_spec_runs_as_a_test"
        ),
        "the replay command names this test exactly"
    );
}

#[roulette_test::chaos_test(spec = "../examples/metrics-restarts-missed.yaml", timeout = "120s")]
#[should_panic(expected = "restarted-three-times failed")]
async fn failing_spec_fails_the_test(_ctx: ChaosContext) {
    unreachable!("the body runs only after the spec passed");
}

#[roulette_test::chaos_test(flavor = "multi_thread", timeout = "120s", seed = 11)]
async fn step_by_step_kill_and_recover(ctx: ChaosContext) {
    let experiment = worker()
        .fault(FaultBuilder::signal("kill", "SIGKILL").at(["0s"]))
        .build()
        .expect("a valid experiment");
    let mut session = ctx.start(&experiment).await.expect("the target starts");
    assert_eq!(session.seed(), 11);
    session
        .wait_ready(Duration::from_secs(20))
        .await
        .expect("the worker becomes ready");
    let first = session.state().running.expect("a running incarnation");
    let injection = session.inject("kill").await.expect("the kill lands");
    assert_eq!(injection.hit.map(|(incarnation, _)| incarnation), Some(1));
    let ttr = session
        .wait_recovered(&injection, Duration::from_secs(20))
        .await
        .expect("the worker recovers");
    assert!(ttr < Duration::from_secs(20));
    let second = session.state().running.expect("a running incarnation");
    assert_ne!(first.pid, second.pid);
    assert_eq!(session.restarts(), 1);
    let metrics = session
        .scrape("http://127.0.0.1:${port.http}/metrics")
        .await
        .expect("the worker serves metrics");
    assert!(metrics.contains("fixture_jobs"), "{metrics}");
    assert!(session.port("http").is_some());
    let events = session.timeline();
    assert!(
        events
            .iter()
            .any(|e| matches!(e.kind, EventKind::FaultStarted { .. }))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Ready { incarnation: 2 }))
    );
    let stopped = session.stop().await;
    assert!(stopped.survivors.is_empty());
    assert!(
        gone_soon(second.pid),
        "the teardown stopped pid {}",
        second.pid
    );
}

#[roulette_test::chaos_test(timeout = "60s")]
async fn dropping_a_session_kills_its_target(ctx: ChaosContext) {
    let experiment = worker().build().expect("a valid experiment");
    let session = ctx.start(&experiment).await.expect("the target starts");
    session
        .wait_ready(Duration::from_secs(20))
        .await
        .expect("the worker becomes ready");
    let pid = session.state().running.expect("running").pid;
    assert!(alive(pid));
    drop(session);
    assert!(gone_soon(pid), "pid {pid} outlived its session");
}

#[roulette_test::chaos_test(timeout = "300ms")]
#[should_panic(expected = "ran longer than its timeout of 300ms")]
async fn the_timeout_fails_a_test_that_never_ends(_ctx: ChaosContext) {
    std::future::pending::<()>().await;
}

#[roulette_test::chaos_test]
async fn an_error_result_fails_the_test(_ctx: ChaosContext) -> Result<(), String> {
    let returned = std::panic::catch_unwind(|| {
        roulette_test::chaos::ChaosTestResult::finish(Err::<(), _>("broken"))
    });
    assert!(returned.is_err());
    Ok(())
}

/// Whether `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Whether `pid` is gone within two seconds: SIGKILL is delivered
/// asynchronously, so the process may still be listed for a moment.
fn gone_soon(pid: u32) -> bool {
    (0..200).any(|_| {
        let gone = !alive(pid);
        if !gone {
            std::thread::sleep(Duration::from_millis(10));
        }
        gone
    })
}
