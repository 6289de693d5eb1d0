//! When faults fire: every fault's offsets merged into one ordered plan.

use std::time::Duration;

use crate::spec::{Experiment, Fault};

/// A seeded pseudo-random generator (SplitMix64): the same seed gives the
/// same choices, so a run replays from the seed its report prints.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Draws the offsets of every fault with a random schedule from `seed`:
/// fault number `i` (from 0) takes the offsets of the kill schedule of
/// seed `seed + i`, as [`crate::kill_schedule::random_offsets`] draws
/// them. Returns `None` when no fault has a random schedule.
pub fn resolve_random(experiment: &Experiment, seed: u64) -> Option<Experiment> {
    if experiment.faults.iter().all(|fault| fault.random.is_none()) {
        return None;
    }
    let mut experiment = experiment.clone();
    for (index, fault) in experiment.faults.iter_mut().enumerate() {
        if let Some(random) = fault.random {
            fault.offsets = crate::kill_schedule::random_offsets(
                random.count,
                random.within.0,
                seed.wrapping_add(index as u64),
            );
        }
    }
    Some(experiment)
}

/// One planned firing of one fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Firing {
    /// Offset from the start of the schedule (the end of `setup`).
    pub offset: Duration,
    /// Index into the experiment's faults.
    pub fault: usize,
    /// 1 for the fault's first firing, 2 for its second, and so on.
    pub occurrence: u32,
}

/// Merges the offsets of every fault into firings ordered by offset. Two
/// firings at the same offset keep the order of the faults in the spec.
pub fn plan(faults: &[Fault]) -> Vec<Firing> {
    let mut firings: Vec<Firing> = faults
        .iter()
        .enumerate()
        .flat_map(|(index, fault)| {
            fault
                .offsets
                .iter()
                .enumerate()
                .map(move |(n, offset)| Firing {
                    offset: offset.0,
                    fault: index,
                    occurrence: n as u32 + 1,
                })
        })
        .collect();
    firings.sort_by_key(|firing| (firing.offset, firing.fault));
    firings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Dur, FaultAction, FaultTarget, SignalName};

    fn fault(name: &str, offsets_ms: &[u64]) -> Fault {
        Fault {
            name: name.into(),
            action: FaultAction::Signal {
                signal: SignalName(nix::sys::signal::Signal::SIGKILL),
                grace: None,
            },
            target: FaultTarget::Main,
            offsets: offsets_ms.iter().map(|ms| Dur::from_millis(*ms)).collect(),
            random: None,
        }
    }

    #[test]
    fn rng_replays_from_seed() {
        let first: Vec<u64> = (0..4)
            .map({
                let mut rng = Rng::new(42);
                move |_| rng.next_u64()
            })
            .collect();
        let second: Vec<u64> = (0..4)
            .map({
                let mut rng = Rng::new(42);
                move |_| rng.next_u64()
            })
            .collect();
        assert_eq!(first, second);
        assert_ne!(first[0], first[1]);
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }

    #[test]
    fn random_schedules_are_drawn_from_the_seed() {
        let yaml = "apiVersion: roulette-test/v1alpha1\nkind: ProcessKillExperiment\nmetadata: {name: random}\nspec:\n  target: {command: sleep, ready: {log: started}}\n  faults:\n    - {name: a, signal: SIGKILL, schedule: {at: [1s]}}\n    - {name: b, signal: SIGKILL, schedule: {random: {count: 4, within: 5s}}}\n";
        let experiment = crate::spec::load_str(yaml, None, std::path::Path::new("."))
            .unwrap_or_else(|err| panic!("{err}"));
        assert!(experiment.faults[1].offsets.is_empty());
        assert_eq!(experiment.faults[1].firings(), 4);
        assert!(resolve_random(&load_fixed(), 1).is_none());

        let resolved = resolve_random(&experiment, 77).expect("a random schedule");
        assert_eq!(resolved.faults[0].offsets, experiment.faults[0].offsets);
        let offsets = &resolved.faults[1].offsets;
        assert_eq!(offsets.len(), 4);
        assert!(offsets.windows(2).all(|w| w[0] <= w[1]));
        assert!(offsets.iter().all(|d| d.0 < Duration::from_secs(5)));
        assert_eq!(
            offsets,
            &crate::kill_schedule::random_offsets(4, Duration::from_secs(5), 78),
            "fault 1 draws with seed + 1"
        );
        let again = resolve_random(&experiment, 77).expect("a random schedule");
        assert_eq!(
            again.faults, resolved.faults,
            "the seed replays the schedule"
        );
        let other = resolve_random(&experiment, 78).expect("a random schedule");
        assert_ne!(other.faults[1].offsets, resolved.faults[1].offsets);
    }

    fn load_fixed() -> Experiment {
        let yaml = "apiVersion: roulette-test/v1alpha1\nkind: ProcessKillExperiment\nmetadata: {name: fixed}\nspec:\n  target: {command: sleep, ready: {log: started}}\n  faults:\n    - {name: a, signal: SIGKILL, schedule: {at: [1s]}}\n";
        crate::spec::load_str(yaml, None, std::path::Path::new(".")).expect("valid")
    }

    #[test]
    fn plan_interleaves_faults_by_offset() {
        let firings = plan(&[fault("a", &[1000, 3000]), fault("b", &[2000, 3000])]);
        let order: Vec<(u64, usize, u32)> = firings
            .iter()
            .map(|f| (f.offset.as_millis() as u64, f.fault, f.occurrence))
            .collect();
        assert_eq!(
            order,
            [(1000, 0, 1), (2000, 1, 1), (3000, 0, 2), (3000, 1, 2)]
        );
    }
}
