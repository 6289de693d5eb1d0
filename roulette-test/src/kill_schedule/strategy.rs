//! Kill schedules as a proptest `Strategy`.

use proptest::prelude::RngCore as _;
use proptest::strategy::{NewTree, Strategy, ValueTree};
use proptest::test_runner::TestRunner;

use super::{KillSchedule, SEED_VARIABLE, ScheduleConfig, Shrinker};

/// Draws kill schedules: each case takes a seed from proptest's RNG and
/// generates the schedule of that seed, so a seed printed with a failure
/// replays it. With [`ScheduleStrategy::replay`], or with
/// `ROULETTE_SCHEDULE_SEED` set when [`schedules`] is called, every case
/// is the schedule of that one seed.
///
/// ```
/// use std::time::Duration;
/// use proptest::strategy::{Strategy, ValueTree};
/// use proptest::test_runner::TestRunner;
/// use roulette_test::kill_schedule::{KillSchedule, ScheduleConfig, schedules};
///
/// let config = ScheduleConfig::new(1..=4, Duration::from_secs(3));
/// let mut runner = TestRunner::deterministic();
/// let schedule = schedules(config.clone()).new_tree(&mut runner).unwrap().current();
/// assert!((1..=4).contains(&schedule.faults.len()));
///
/// let replayed = schedules(config.clone()).replay(schedule.seed);
/// let again = replayed.new_tree(&mut runner).unwrap().current();
/// assert_eq!(again, KillSchedule::generate(&config, schedule.seed));
/// ```
#[derive(Clone, Debug)]
pub struct ScheduleStrategy {
    config: ScheduleConfig,
    replay: Option<u64>,
}

/// The strategy of schedules drawn from `config`.
///
/// # Panics
///
/// When `ROULETTE_SCHEDULE_SEED` is set but is not a whole number.
pub fn schedules(config: ScheduleConfig) -> ScheduleStrategy {
    let replay = std::env::var(SEED_VARIABLE).ok().map(|text| {
        text.trim().parse().unwrap_or_else(|_| {
            panic!("{SEED_VARIABLE}={text:?} is not a seed; set it to the whole number that a failure printed, or unset it")
        })
    });
    ScheduleStrategy { config, replay }
}

impl ScheduleStrategy {
    /// Makes every case the schedule of `seed`.
    pub fn replay(mut self, seed: u64) -> Self {
        self.replay = Some(seed);
        self
    }
}

impl Strategy for ScheduleStrategy {
    type Tree = ScheduleTree;
    type Value = KillSchedule;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        // 53 bits, so that JSON readers print the seed exactly.
        let seed = self
            .replay
            .unwrap_or_else(|| runner.rng().next_u64() & ((1 << 53) - 1));
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
