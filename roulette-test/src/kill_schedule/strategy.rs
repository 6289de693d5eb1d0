//! Kill schedules as a proptest `Strategy`.

use proptest::prelude::RngCore as _;
use proptest::strategy::{NewTree, Strategy, ValueTree};
use proptest::test_runner::TestRunner;

use super::{KillSchedule, SEED_VARIABLE, ScheduleConfig, Shrinker};

/// Draws kill schedules: each case takes a seed from proptest's RNG and
/// generates the schedule of that seed, so a seed printed with a failure
/// replays it. With `ROULETTE_SCHEDULE_SEED` set, every case is the
/// schedule of that seed.
///
/// ```
/// use std::time::Duration;
/// use proptest::strategy::{Strategy, ValueTree};
/// use proptest::test_runner::TestRunner;
/// use roulette_test::kill_schedule::{ScheduleConfig, schedules};
///
/// let strategy = schedules(ScheduleConfig::new(1..=4, Duration::from_secs(3)));
/// let mut runner = TestRunner::deterministic();
/// let schedule = strategy.new_tree(&mut runner).unwrap().current();
/// assert!((1..=4).contains(&schedule.faults.len()));
/// ```
#[derive(Clone, Debug)]
pub struct ScheduleStrategy {
    config: ScheduleConfig,
}

/// The strategy of schedules drawn from `config`.
pub fn schedules(config: ScheduleConfig) -> ScheduleStrategy {
    ScheduleStrategy { config }
}

impl Strategy for ScheduleStrategy {
    type Tree = ScheduleTree;
    type Value = KillSchedule;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        let seed = match std::env::var(SEED_VARIABLE) {
            Ok(text) => text.trim().parse().map_err(|_| {
                format!("{SEED_VARIABLE}={text:?} is not a seed; give the whole number a failure printed")
            })?,
            // 53 bits, so that JSON readers print the seed exactly.
            Err(_) => runner.rng().next_u64() & ((1 << 53) - 1),
        };
        Ok(ScheduleTree(Shrinker::new(KillSchedule::generate(
            &self.config,
            seed,
        ))))
    }
}

/// The value tree of [`ScheduleStrategy`]: a [`Shrinker`].
#[derive(Clone, Debug)]
pub struct ScheduleTree(Shrinker);

impl ValueTree for ScheduleTree {
    type Value = KillSchedule;

    fn current(&self) -> KillSchedule {
        self.0.current().clone()
    }

    fn simplify(&mut self) -> bool {
        self.0.simplify()
    }

    fn complicate(&mut self) -> bool {
        self.0.complicate()
    }
}
