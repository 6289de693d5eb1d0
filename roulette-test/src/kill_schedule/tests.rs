use super::*;

fn config() -> ScheduleConfig {
    ScheduleConfig::new(1..=4, Duration::from_secs(3))
        .actions([
            ActionChoice::Freeze,
            ActionChoice::Signal(SignalName(Signal::SIGTERM)),
            ActionChoice::Signal(SignalName(Signal::SIGKILL)),
        ])
        .targets([TargetChoice::Main, TargetChoice::Group])
}

#[test]
fn generate_replays_from_seed() {
    let config = config();
    for seed in 0..50 {
        let schedule = KillSchedule::generate(&config, seed);
        assert_eq!(schedule, KillSchedule::generate(&config, seed));
        assert!((1..=4).contains(&(schedule.faults.len() as u32)));
        assert!(schedule.faults.windows(2).all(|w| w[0].at <= w[1].at));
        for fault in &schedule.faults {
            assert!(fault.at < Duration::from_secs(3));
            assert_eq!(fault.at.as_millis() % 10, 0);
            assert!(fault.action < 3);
            assert!(fault.target < 2);
            assert!(!fault.freeze.is_zero());
            assert!(fault.freeze <= Duration::from_secs(1));
        }
    }
    let distinct: std::collections::BTreeSet<String> = (0..50)
        .map(|seed| KillSchedule::generate(&config, seed).to_yaml())
        .collect();
    assert!(distinct.len() > 40, "seeds give varied schedules");
}

#[test]
fn yaml_block_reads_back_as_the_same_faults() {
    let schedule = KillSchedule::generate(&config(), 7);
    let yaml = format!(
        "apiVersion: roulette-test/v1alpha1\nkind: ProcessKillExperiment\nmetadata: {{name: replay}}\nspec:\n  target:\n    command: sleep\n    ready: {{log: started}}\n{}",
        schedule
            .to_yaml()
            .lines()
            .map(|line| format!("  {line}\n"))
            .collect::<String>()
    );
    let experiment = crate::spec::load_str(&yaml, None, std::path::Path::new("."))
        .unwrap_or_else(|err| panic!("{err}\n{yaml}"));
    assert_eq!(experiment.faults, schedule.to_faults());
    let debug = format!("{schedule:?}");
    assert!(debug.contains("seed 7"), "{debug}");
    assert!(debug.contains("ROULETTE_SCHEDULE_SEED=7"), "{debug}");
    assert!(debug.contains("faults:\n  - name: fault-1"));
}

/// Shrinks `schedule` against `fails`, the way proptest drives a value
/// tree, and returns the minimal failing schedule and the number of
/// tests.
fn shrink(schedule: KillSchedule, fails: impl Fn(&KillSchedule) -> bool) -> (KillSchedule, u32) {
    assert!(fails(&schedule));
    let mut shrinker = Shrinker::new(schedule.clone());
    let mut minimal = schedule;
    let mut tests = 0;
    if shrinker.simplify() {
        for _ in 0..10_000 {
            tests += 1;
            if fails(shrinker.current()) {
                minimal = shrinker.current().clone();
                if !shrinker.simplify() {
                    break;
                }
            } else if !shrinker.complicate() {
                break;
            }
        }
    }
    (minimal, tests)
}

#[test]
fn shrinking_removes_faults_softens_and_rounds() {
    // Fails when some SIGKILL lands at 700 ms or later.
    let config = config();
    let kill = 2;
    let fails = |s: &KillSchedule| {
        s.faults
            .iter()
            .any(|f| f.action == kill && f.at >= Duration::from_millis(700))
    };
    let start = (0..1000)
        .map(|seed| KillSchedule::generate(&config, seed))
        .find(|s| s.faults.len() == 4 && fails(s))
        .expect("a failing four-fault schedule");
    let (minimal, tests) = shrink(start, fails);
    assert_eq!(minimal.faults.len(), 1, "{minimal:?}");
    let fault = minimal.faults[0];
    assert_eq!(fault.action, kill);
    assert_eq!(fault.target, 0, "the mildest target");
    let at = fault.at.as_millis();
    assert!(
        at >= 700 && at % 100 == 0 && at < 1400,
        "earlier and round: {minimal:?}"
    );
    assert!(tests < 60, "{tests} tests");
}

#[test]
fn shrinking_keeps_what_the_failure_needs() {
    // Fails when two signals land less than 300 ms apart: two faults stay.
    let config = config();
    let fails = |s: &KillSchedule| {
        s.faults.windows(2).any(|w| {
            w[0].action > 0 && w[1].action > 0 && w[1].at - w[0].at < Duration::from_millis(300)
        })
    };
    let start = (0..1000)
        .map(|seed| KillSchedule::generate(&config, seed))
        .find(|s| s.faults.len() >= 3 && fails(s))
        .expect("a failing schedule");
    let seed = start.seed;
    let (minimal, _) = shrink(start, fails);
    assert_eq!(minimal.faults.len(), 2, "{minimal:?}");
    assert!(
        minimal.faults.iter().all(|f| f.action == 1),
        "SIGTERM is milder: {minimal:?}"
    );
    assert_eq!(minimal.faults[0].at, Duration::ZERO);
    assert_eq!(
        minimal.seed, seed,
        "the seed replays the schedule it came from"
    );
}

#[test]
fn random_offsets_follow_the_seed() {
    let offsets = random_offsets(3, Duration::from_secs(10), 99);
    assert_eq!(offsets.len(), 3);
    assert_eq!(offsets, random_offsets(3, Duration::from_secs(10), 99));
    assert_ne!(offsets, random_offsets(3, Duration::from_secs(10), 100));
    assert!(offsets.iter().all(|d| d.0 < Duration::from_secs(10)));
}
