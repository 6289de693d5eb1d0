//! A proptest search over kill schedules: whatever SIGTERMs and SIGKILLs
//! land within 1.5 s, tally keeps every acknowledged addition. On a
//! failure, proptest prints the minimal schedule as a YAML `faults:`
//! block with its seed; `ROULETTE_SCHEDULE_SEED=SEED cargo test` replays
//! it.

use std::time::Duration;

use proptest::prelude::*;
use roulette_test::builder::{ExperimentBuilder, Ready, Verify};
use roulette_test::kill_schedule::{KillSchedule, ScheduleConfig, schedules};
use roulette_test::report::Outcome;
use roulette_test::spec::Experiment;

fn tally() -> Experiment {
    ExperimentBuilder::new("tally-schedules")
        .base_dir(env!("CARGO_MANIFEST_DIR"))
        .cargo_bin("tally")
        .args(["--port", "${port.http}", "--state", "${tmp}/count"])
        .port("http")
        .ready(Ready::http("http://127.0.0.1:${port.http}/healthz").interval("5ms"))
        .setup(["${cargo_bin.tally}", "add", "${port.http}", "10"])
        .settle("100ms")
        .hypothesis(
            "count-kept",
            Verify::exec(["${cargo_bin.tally}", "check", "${tmp}/count", "10"]),
        )
        .build()
        .expect("a valid experiment")
}

fn cases() -> u32 {
    // Each case is a whole experiment, so the default is small. Set
    // `PROPTEST_CASES` to run more.
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn any_kill_schedule_keeps_the_count(
        schedule in schedules(ScheduleConfig::new(1..=3, Duration::from_millis(1500)))
    ) {
        let report = schedule.run(&tally());
        prop_assert_eq!(report.outcome, Outcome::Passed, "{}", report_text(&schedule, &report));
    }
}

fn report_text(schedule: &KillSchedule, report: &roulette_test::report::Report) -> String {
    format!(
        "{schedule:?}\n{}",
        roulette_test::report::render_text(report, false)
    )
}
