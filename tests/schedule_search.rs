//! The schedule search finds a timing-dependent bug: `fixture-ledger`
//! loses its journal when a kill lands during the replay that follows a
//! restart. No single fault shows it, so the search must find a schedule
//! with a second kill in a window of 300 ms, then shrink it to the two
//! faults that matter. The seed it prints replays the schedule.

use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, Instant};

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestError, TestRng, TestRunner};
use roulette_test::builder::{ExperimentBuilder, Ready, Verify};
use roulette_test::kill_schedule::{KillSchedule, ScheduleConfig, schedules};
use roulette_test::report::{Outcome, Report};
use roulette_test::spec::Experiment;

const CHECK: &str = "journal-intact";

fn ledger() -> Experiment {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Resolved once, so no case waits for cargo.
    let binary = roulette_test::runner::resolve_cargo_bin("fixture-ledger", dir)
        .unwrap_or_else(|err| panic!("{}", err.message));
    let binary = binary.display().to_string();
    ExperimentBuilder::new("ledger-replay")
        .base_dir(dir)
        .command(binary.as_str())
        .args(["--state", "${tmp}/ledger.state", "--replay", "300ms"])
        .ready(Ready::log("^ready$").interval("5ms"))
        .settle("50ms")
        .timeout("60s")
        .hypothesis(
            CHECK,
            Verify::exec([binary.as_str(), "--check", "${tmp}/ledger.state"]),
        )
        .build()
        .expect("a valid experiment")
}

fn config() -> ScheduleConfig {
    ScheduleConfig::new(1..=4, Duration::from_millis(1500))
}

/// Whether the journal check failed; an experiment error is a failure of
/// the test itself.
fn journal_lost(report: &Report) -> Result<bool, String> {
    match report.outcome {
        Outcome::Error => Err(format!(
            "the experiment did not run: {}",
            report.error.as_ref().map_or("", |e| e.message.as_str())
        )),
        _ => Ok(report.verdicts.iter().any(|v| v.name == CHECK && !v.holds)),
    }
}

#[test]
fn search_shrinks_replay_bug_to_two_kills() {
    let experiment = ledger();
    let config = config();
    let cases = Cell::new(0u32);
    let runs = Cell::new(0u32);
    let first_failure: Cell<Option<(u32, Instant, u64)>> = Cell::new(None);
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 256,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let started = Instant::now();
    let result = runner.run(&schedules(config.clone()), |schedule| {
        runs.set(runs.get() + 1);
        if first_failure.get().is_none() {
            cases.set(cases.get() + 1);
        }
        let report = schedule.run(&experiment);
        match journal_lost(&report) {
            Ok(false) => Ok(()),
            Ok(true) => {
                if first_failure.get().is_none() {
                    first_failure.set(Some((runs.get(), Instant::now(), schedule.seed)));
                }
                Err(TestCaseError::fail(format!("{CHECK} failed")))
            }
            Err(message) => Err(TestCaseError::fail(message)),
        }
    });
    let finished = Instant::now();
    let error = result.expect_err("the search found no failing schedule in 256 cases");
    // What proptest prints for the failure: the YAML block and the seed.
    let printed = error.to_string();
    assert!(
        printed.contains("faults:\n  - name: fault-1\n"),
        "{printed}"
    );
    assert!(printed.contains("ROULETTE_SCHEDULE_SEED="), "{printed}");
    let TestError::Fail(reason, minimal) = error else {
        panic!("the search was aborted: {printed}");
    };
    assert_eq!(reason.message(), format!("{CHECK} failed"));
    let (found_at, found_when, seed) = first_failure.get().expect("a failure was seen");
    eprintln!(
        "search: failing schedule found at case {} of 256 after {:.1?}; shrinking took {} runs in {:.1?}",
        cases.get(),
        found_when - started,
        runs.get() - found_at,
        finished - found_when,
    );
    eprintln!("minimal failing schedule:\n{minimal:?}");

    assert_eq!(minimal.faults.len(), 2, "{minimal:?}");
    assert_eq!(minimal.seed, seed, "the minimal schedule keeps its seed");
    assert!(
        minimal.to_yaml().matches("signal: SIGKILL").count() >= 1,
        "{minimal:?}"
    );

    // The printed seed replays the schedule the search found, and it
    // fails the same way.
    let replayed = schedules(config.clone())
        .replay(seed)
        .new_tree(&mut runner)
        .expect("a schedule")
        .current();
    assert_eq!(replayed, KillSchedule::generate(&config, seed));
    assert!(replayed.faults.len() >= 2);
    let report = replayed.run(&experiment);
    assert_eq!(report.seed, Some(seed));
    assert_eq!(
        journal_lost(&report),
        Ok(true),
        "replay of seed {seed}:\n{replayed:?}"
    );
}

#[test]
fn schedule_run_appends_audit_entry() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let log = dir.path().join("audit.jsonl");
    let config = ScheduleConfig::new(1..=1, Duration::from_millis(100));
    let schedule = KillSchedule::generate(&config, 7);
    let report = schedule.run_audited(&ledger(), Some(&log));
    assert_ne!(report.outcome, Outcome::Error, "{:?}", report.error);

    let verified = roulette_test::report::audit::verify(&log).expect("an intact audit log");
    assert_eq!(verified.entries, 1);
    let text = std::fs::read_to_string(&log).expect("the audit log is written");
    let entry: serde_json::Value = serde_json::from_str(text.trim()).expect("one JSON line");
    assert_eq!(entry["experiment"], "ledger-replay");
    assert_eq!(entry["seed"], 7);
    assert_eq!(entry["faults_injected"], 1);
}
