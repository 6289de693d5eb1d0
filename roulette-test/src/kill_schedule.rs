//! Kill schedules: lists of faults at offsets within a window, generated
//! from a seed and shrunk toward the simplest schedule that still breaks
//! the target.
//!
//! [`KillSchedule::generate`] draws a schedule from a [`ScheduleConfig`]
//! and a seed; the same seed always gives the same schedule. [`Shrinker`]
//! walks from a failing schedule toward fewer faults, earlier and rounder
//! offsets, milder signals and shorter freezes. With the `proptest`
//! feature, [`ScheduleStrategy`] wraps both as a proptest `Strategy`, so a
//! `proptest!` test searches for a failing schedule and prints the minimal
//! one as a YAML `faults:` block with its seed.
//!
//! ```
//! use std::time::Duration;
//! use roulette_test::kill_schedule::{KillSchedule, ScheduleConfig};
//!
//! let config = ScheduleConfig::new(1..=3, Duration::from_secs(2));
//! let schedule = KillSchedule::generate(&config, 42);
//! assert_eq!(schedule, KillSchedule::generate(&config, 42));
//! assert!((1..=3).contains(&schedule.faults.len()));
//! assert!(schedule.to_yaml().starts_with("faults:\n"));
//! ```

use std::fmt;
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;

use crate::report::Report;
use crate::report::audit::{self, AuditEntry, SpecFile};
use crate::report::files;
use crate::schedule::Rng;
use crate::spec::{Dur, Experiment, Fault, FaultAction, FaultTarget, SignalName, format_duration};

#[cfg(feature = "proptest")]
mod strategy;
#[cfg(feature = "proptest")]
pub use strategy::{ScheduleStrategy, ScheduleTree, schedules};

/// The environment variable that makes every generated schedule the one
/// of its seed, to replay a failure: `ROULETTE_SCHEDULE_SEED=1234`.
pub const SEED_VARIABLE: &str = "ROULETTE_SCHEDULE_SEED";

/// Offsets and freeze durations are multiples of this.
const STEP_MS: u64 = 10;

/// What a fault of a schedule does, from the mildest choice to the
/// harshest in [`ScheduleConfig::actions`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionChoice {
    /// Send this signal.
    Signal(SignalName),
    /// SIGSTOP, a duration drawn up to [`ScheduleConfig::max_freeze`],
    /// SIGCONT.
    Freeze,
}

/// Which processes a fault of a schedule reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TargetChoice {
    /// The main process.
    Main,
    /// Its whole process group.
    Group,
}

/// What schedules to draw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleConfig {
    /// How many faults a schedule has.
    pub count: RangeInclusive<u32>,
    /// Offsets are drawn from `[0, within)`.
    pub within: Duration,
    /// The choices of action, mildest first: shrinking moves toward the
    /// front.
    pub actions: Vec<ActionChoice>,
    /// The choices of target, mildest first.
    pub targets: Vec<TargetChoice>,
    /// The maximum freeze duration.
    pub max_freeze: Duration,
}

impl ScheduleConfig {
    /// Creates a configuration of `count` faults within `within`, each
    /// SIGTERM or SIGKILL to the main process.
    pub fn new(count: RangeInclusive<u32>, within: Duration) -> Self {
        ScheduleConfig {
            count,
            within,
            actions: vec![
                ActionChoice::Signal(SignalName(Signal::SIGTERM)),
                ActionChoice::Signal(SignalName(Signal::SIGKILL)),
            ],
            targets: vec![TargetChoice::Main],
            max_freeze: Duration::from_secs(1),
        }
    }

    /// Replaces the choices of action, mildest first.
    pub fn actions(mut self, actions: impl IntoIterator<Item = ActionChoice>) -> Self {
        self.actions = actions.into_iter().collect();
        self
    }

    /// Replaces the choices of target, mildest first.
    pub fn targets(mut self, targets: impl IntoIterator<Item = TargetChoice>) -> Self {
        self.targets = targets.into_iter().collect();
        self
    }

    /// Sets the maximum freeze duration.
    pub fn max_freeze(mut self, max: Duration) -> Self {
        self.max_freeze = max;
        self
    }
}

/// One fault of a schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScheduledFault {
    /// Offset from the end of `setup`.
    pub at: Duration,
    /// Index into [`ScheduleConfig::actions`].
    pub action: usize,
    /// The freeze duration, for a freeze.
    pub freeze: Duration,
    /// Index into [`ScheduleConfig::targets`].
    pub target: usize,
}

/// A list of faults ordered by offset, with the seed it was drawn from.
#[derive(Clone, PartialEq, Eq)]
pub struct KillSchedule {
    /// The seed of the schedule this one was drawn as (before any
    /// shrinking); [`KillSchedule::generate`] with it gives that schedule
    /// again.
    pub seed: u64,
    pub faults: Vec<ScheduledFault>,
    config: ScheduleConfig,
}

impl KillSchedule {
    /// Draws the schedule of `seed`.
    pub fn generate(config: &ScheduleConfig, seed: u64) -> KillSchedule {
        let mut rng = Rng::new(seed);
        let (low, high) = (
            *config.count.start(),
            *config.count.end().max(config.count.start()),
        );
        let count = low + below(&mut rng, u64::from(high - low) + 1) as u32;
        let steps = (config.within.as_millis() as u64 / STEP_MS).max(1);
        let freeze_steps = (config.max_freeze.as_millis() as u64 / STEP_MS).max(1);
        let mut faults: Vec<ScheduledFault> = (0..count)
            .map(|_| {
                let at = Duration::from_millis(below(&mut rng, steps) * STEP_MS);
                let action = below(&mut rng, config.actions.len().max(1) as u64) as usize;
                let freeze = Duration::from_millis((1 + below(&mut rng, freeze_steps)) * STEP_MS);
                let target = below(&mut rng, config.targets.len().max(1) as u64) as usize;
                ScheduledFault {
                    at,
                    action,
                    freeze,
                    target,
                }
            })
            .collect();
        faults.sort_by_key(|fault| fault.at);
        KillSchedule {
            seed,
            faults,
            config: config.clone(),
        }
    }

    /// Returns the configuration it was drawn with.
    pub fn config(&self) -> &ScheduleConfig {
        &self.config
    }

    /// Converts the schedule to the experiment format's faults, named
    /// `fault-1`, `fault-2`, ... in order of offset.
    pub fn to_faults(&self) -> Vec<Fault> {
        self.faults
            .iter()
            .enumerate()
            .map(|(index, fault)| Fault {
                name: format!("fault-{}", index + 1),
                action: match self.config.actions.get(fault.action) {
                    Some(ActionChoice::Freeze) => FaultAction::Freeze(Dur(fault.freeze)),
                    Some(ActionChoice::Signal(signal)) => FaultAction::Signal {
                        signal: *signal,
                        grace: None,
                    },
                    None => FaultAction::Signal {
                        signal: SignalName(Signal::SIGKILL),
                        grace: None,
                    },
                },
                target: match self.config.targets.get(fault.target) {
                    Some(TargetChoice::Group) => FaultTarget::Group,
                    _ => FaultTarget::Main,
                },
                offsets: vec![Dur(fault.at)],
                random: None,
            })
            .collect()
    }

    /// Returns `experiment` with its faults replaced by this schedule's and
    /// its seed set to the schedule's seed.
    pub fn apply(&self, experiment: &Experiment) -> Experiment {
        let mut experiment = experiment.clone();
        experiment.faults = self.to_faults();
        experiment.seed = Some(self.seed);
        experiment
    }

    /// Runs `experiment` with this schedule on a runtime, ports and temp
    /// dir of its own, appends its entry to the audit log that
    /// `ROULETTE_AUDIT_LOG` names (by default in the cargo target
    /// directory), and returns the report. A failed append is printed as a
    /// warning, because the report is what the caller judges.
    pub fn run(&self, experiment: &Experiment) -> Report {
        let audit_log = files::audit_log_from_env(&files::cargo_target_dir());
        self.run_audited(experiment, audit_log.as_deref())
    }

    /// Runs `experiment` with this schedule like [`KillSchedule::run`], with
    /// its audit entry appended to `audit_log`, or to none.
    pub fn run_audited(&self, experiment: &Experiment, audit_log: Option<&Path>) -> Report {
        let experiment = self.apply(experiment);
        let started = SystemTime::now();
        let report = crate::runner::run_blocking(&experiment);
        let ended = SystemTime::now();
        if let Some(path) = audit_log {
            let spec = experiment
                .source
                .as_deref()
                .and_then(|source| SpecFile::read(source).ok());
            let entry = AuditEntry::new(&report, spec.as_ref(), started, ended);
            if let Err(err) = audit::append(path, entry) {
                eprintln!("warning: {err}");
            }
        }
        report
    }

    /// Renders the schedule as a YAML `faults:` block, ready to paste into
    /// an experiment file.
    pub fn to_yaml(&self) -> String {
        let mut out = String::from("faults:\n");
        if self.faults.is_empty() {
            return String::from("faults: []\n");
        }
        for fault in self.to_faults() {
            out.push_str(&format!("  - name: {}\n", fault.name));
            match fault.action {
                FaultAction::Signal { signal, .. } => {
                    out.push_str(&format!("    signal: {signal}\n"));
                }
                FaultAction::Freeze(duration) => {
                    out.push_str(&format!("    freeze: {duration}\n"));
                }
            }
            let target = match fault.target {
                FaultTarget::Group => "group",
                _ => "main",
            };
            out.push_str(&format!("    target: {target}\n"));
            let at = fault.offsets.first().map_or(Duration::ZERO, |d| d.0);
            out.push_str(&format!(
                "    schedule: {{at: [{}]}}\n",
                format_duration(at)
            ));
        }
        out
    }
}

impl fmt::Debug for KillSchedule {
    /// Writes the YAML block and the seed: what proptest prints for a
    /// minimal failing case.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kill schedule of seed {seed} ({count} fault(s); replay with {SEED_VARIABLE}={seed})\n{yaml}",
            seed = self.seed,
            count = self.faults.len(),
            yaml = self.to_yaml()
        )
    }
}

/// Draws a number in `[0, bound)`.
fn below(rng: &mut Rng, bound: u64) -> u64 {
    if bound <= 1 {
        return 0;
    }
    rng.next_u64() % bound
}

/// Draws the offsets for the format's `schedule: {random: {count,
/// within}}`: those of the schedule of `seed` with exactly `count` faults.
pub fn random_offsets(count: u32, within: Duration, seed: u64) -> Vec<Dur> {
    let config = ScheduleConfig::new(count..=count, within);
    KillSchedule::generate(&config, seed)
        .faults
        .iter()
        .map(|fault| Dur(fault.at))
        .collect()
}

/// Shrinks a failing schedule one candidate at a time, as proptest's
/// `ValueTree` does: [`Shrinker::simplify`] after a failure,
/// [`Shrinker::complicate`] after a pass.
///
/// Candidates, tried in this order from the simplest schedule known to
/// fail: without one fault; every fault moved earlier so the first fires
/// at 0; then for each fault a milder action; a milder target; an earlier,
/// rounder offset (0, then rounded down to 1 s, 500 ms, 100 ms, then
/// halved); a shorter freeze. After a candidate is accepted the search
/// goes on from the same position, and ends with one full pass that
/// accepts nothing. Each accepted candidate is strictly simpler, so
/// shrinking ends.
#[derive(Clone, Debug)]
pub struct Shrinker {
    accepted: KillSchedule,
    current: KillSchedule,
    /// Candidates of `accepted` not yet tried, the next one last.
    candidates: Vec<KillSchedule>,
    /// Position of `current` in the candidates of `accepted`.
    position: usize,
    /// Whether a candidate was accepted since the last pass that began at
    /// the first candidate.
    accepted_since_full_pass: bool,
}

impl Shrinker {
    /// Starts from `schedule`, the one that failed.
    pub fn new(schedule: KillSchedule) -> Self {
        let mut shrinker = Shrinker {
            candidates: Vec::new(),
            accepted: schedule.clone(),
            current: schedule,
            position: 0,
            accepted_since_full_pass: false,
        };
        shrinker.restart(0);
        shrinker
    }

    /// Returns the schedule to test now.
    pub fn current(&self) -> &KillSchedule {
        &self.current
    }

    /// Records that the current schedule failed: it becomes the simplest
    /// known, and the next candidate is derived from it. Returns false when
    /// no simpler candidate remains.
    pub fn simplify(&mut self) -> bool {
        if self.current != self.accepted {
            // The candidates before this one were tried on a schedule
            // that differs by one change; go on from here rather than
            // test them all again. A last full pass catches what that
            // change made possible.
            self.accepted = self.current.clone();
            self.accepted_since_full_pass = true;
            self.restart(self.position);
        }
        self.next()
    }

    /// Records that the current schedule passed, so the next candidate of
    /// the simplest known failing schedule is tried. Returns false when
    /// none remains.
    pub fn complicate(&mut self) -> bool {
        self.next()
    }

    fn restart(&mut self, skip: usize) {
        let mut candidates = candidates(&self.accepted);
        let skip = skip.min(candidates.len());
        candidates.drain(..skip);
        // Popped from the back: keep the simplest first in line.
        candidates.reverse();
        self.candidates = candidates;
        self.position = skip;
    }

    fn next(&mut self) -> bool {
        if self.candidates.is_empty() && self.accepted_since_full_pass {
            self.accepted_since_full_pass = false;
            self.restart(0);
        }
        match self.candidates.pop() {
            Some(candidate) => {
                self.current = candidate;
                self.position += 1;
                true
            }
            None => {
                self.current = self.accepted.clone();
                false
            }
        }
    }
}

fn candidates(schedule: &KillSchedule) -> Vec<KillSchedule> {
    let mut out = Vec::new();
    let mut push = |faults: Vec<ScheduledFault>| {
        let mut faults = faults;
        faults.sort_by_key(|fault| fault.at);
        if faults != schedule.faults {
            out.push(KillSchedule {
                seed: schedule.seed,
                faults,
                config: schedule.config.clone(),
            });
        }
    };
    let faults = &schedule.faults;
    if faults.len() as u32 > *schedule.config.count.start() {
        for index in 0..faults.len() {
            let mut fewer = faults.clone();
            fewer.remove(index);
            push(fewer);
        }
    }
    // The whole schedule moved earlier, so the first fault fires at once:
    // the gaps between faults stay, which a timing bug may need.
    if let Some(first) = faults
        .first()
        .map(|fault| fault.at)
        .filter(|at| !at.is_zero())
    {
        push(
            faults
                .iter()
                .map(|fault| ScheduledFault {
                    at: fault.at - first,
                    ..*fault
                })
                .collect(),
        );
    }
    for index in 0..faults.len() {
        for action in 0..faults[index].action {
            let mut milder = faults.clone();
            milder[index].action = action;
            push(milder);
        }
        for target in 0..faults[index].target {
            let mut milder = faults.clone();
            milder[index].target = target;
            push(milder);
        }
        for at in simpler_durations(faults[index].at) {
            let mut earlier = faults.clone();
            earlier[index].at = at;
            push(earlier);
        }
        let is_freeze = matches!(
            schedule.config.actions.get(faults[index].action),
            Some(ActionChoice::Freeze)
        );
        if is_freeze {
            for freeze in simpler_durations(faults[index].freeze) {
                if !freeze.is_zero() {
                    let mut shorter = faults.clone();
                    shorter[index].freeze = freeze;
                    push(shorter);
                }
            }
        }
    }
    out
}

/// Lists durations below `value`, simplest first: zero, `value` rounded
/// down to 1 s, 500 ms and 100 ms, and half of it rounded down to 10 ms.
fn simpler_durations(value: Duration) -> Vec<Duration> {
    let ms = value.as_millis() as u64;
    let mut out: Vec<Duration> = Vec::new();
    let options = [
        0,
        ms / 1000 * 1000,
        ms / 500 * 500,
        ms / 100 * 100,
        ms / 2 / STEP_MS * STEP_MS,
    ];
    for option in options {
        let option = Duration::from_millis(option);
        if option < value && !out.contains(&option) {
            out.push(option);
        }
    }
    out
}

#[cfg(test)]
mod tests;
