//! Turns the requests of a load into a [`LoadReport`]. Each request is
//! placed in a phase: `recovery` when it was in flight during a recovery,
//! otherwise the phase of its intended send time. It is counted by
//! outcome, and its latency goes into the HDR histogram of its phase.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::{FinishedLoad, HttpLoad, RequestOutcome, RequestRecord};
use crate::report::{
    FaultReport, IncarnationLoad, LatencySummary, LoadReport, OutcomeCounts, PhaseLoad, Recovery,
};
use crate::spec::LoadPhase;
use crate::supervisor::timeline::{Event, EventKind};

/// The largest latency a histogram records, in microseconds (one hour);
/// larger values are clamped to it.
const HISTOGRAM_MAX_MICROS: u64 = 3_600_000_000;

/// The phases of an experiment on its clock (offsets from its start).
#[derive(Clone, Debug, PartialEq)]
pub struct Phases {
    /// When the first fault fired; `None` when none fired.
    first_fault: Option<Duration>,
    /// From each fault's first signal to the end of its recovery, sorted.
    /// A fault that did not recover keeps its window open to the end.
    recoveries: Vec<(Duration, Duration)>,
}

impl Phases {
    /// Derives the phases from the faults of a run.
    pub fn from_faults(faults: &[FaultReport]) -> Phases {
        let mut recoveries = Vec::new();
        for (index, fault) in faults.iter().enumerate() {
            let end = match &fault.recovery {
                Recovery::Recovered { ttr, .. } => fault.at + *ttr,
                // The next firing cut this recovery short and starts a
                // window of its own.
                Recovery::Interrupted { .. } => faults
                    .get(index + 1)
                    .map_or(Duration::MAX, |next| next.at.max(fault.at)),
                Recovery::NotRecovered { .. } => Duration::MAX,
                Recovery::NotApplicable => continue,
            };
            recoveries.push((fault.at, end));
        }
        recoveries.sort();
        Phases {
            first_fault: faults.iter().map(|fault| fault.at).min(),
            recoveries,
        }
    }

    /// Returns the phase of a request that was due at `intended` and
    /// ended at `ended`. That is `recovery` when it was in flight during
    /// any part of a recovery, so a request cut off by a fault counts
    /// there. Otherwise it is the phase of its intended send time.
    pub fn phase_of(&self, intended: Duration, ended: Duration) -> LoadPhase {
        let overlaps = self
            .recoveries
            .iter()
            .any(|(start, end)| *start <= ended && intended < *end);
        if overlaps {
            LoadPhase::Recovery
        } else {
            self.phase_at(intended)
        }
    }

    /// Returns the phase of the instant `at`.
    pub fn phase_at(&self, at: Duration) -> LoadPhase {
        let Some(first) = self.first_fault else {
            return LoadPhase::Before;
        };
        if at < first {
            return LoadPhase::Before;
        }
        if self
            .recoveries
            .iter()
            .any(|(start, end)| *start <= at && at < *end)
        {
            return LoadPhase::Recovery;
        }
        match self.recoveries.iter().map(|(_, end)| *end).max() {
            Some(last) if at >= last => LoadPhase::After,
            None => LoadPhase::After,
            Some(_) => LoadPhase::Between,
        }
    }

    /// Returns the time each phase covers within `[from, to)`.
    fn durations(&self, from: Duration, to: Duration) -> BTreeMap<LoadPhase, Duration> {
        let clip = |at: Duration| at.clamp(from, to);
        let mut covered = BTreeMap::new();
        covered.insert(LoadPhase::All, to.saturating_sub(from));

        let before_end = self.first_fault.map_or(to, clip);
        covered.insert(LoadPhase::Before, before_end.saturating_sub(from));

        // The union of the recovery windows, merged where they overlap.
        let mut recovery = Duration::ZERO;
        let mut cursor = from;
        for (start, end) in &self.recoveries {
            let start = clip(*start).max(cursor);
            let end = clip(*end);
            if end > start {
                recovery += end - start;
                cursor = end;
            }
        }
        covered.insert(LoadPhase::Recovery, recovery);

        let after = match (
            self.first_fault,
            self.recoveries.iter().map(|(_, end)| *end).max(),
        ) {
            (None, _) => Duration::ZERO,
            (Some(first), None) => to.saturating_sub(clip(first)),
            (Some(_), Some(last)) => to.saturating_sub(clip(last)),
        };
        covered.insert(LoadPhase::After, after);

        let total = to.saturating_sub(from);
        let between = total
            .saturating_sub(covered[&LoadPhase::Before])
            .saturating_sub(recovery)
            .saturating_sub(after);
        covered.insert(LoadPhase::Between, between);
        covered
    }
}

/// Sums up a finished load. `started_at` and `stopped_at` are the load's
/// start and stop as offsets from the experiment start, the clock of
/// `faults` and `events`.
pub fn summarize(
    finished: &FinishedLoad,
    load: &HttpLoad,
    started_at: Duration,
    stopped_at: Duration,
    faults: &[FaultReport],
    events: &[Event],
) -> LoadReport {
    let records = &finished.generated.records;
    let phases = Phases::from_faults(faults);

    let mut by_phase: BTreeMap<LoadPhase, Vec<&RequestRecord>> = BTreeMap::new();
    for record in records {
        by_phase.entry(LoadPhase::All).or_default().push(record);
        let phase = phases.phase_of(started_at + record.intended(), started_at + record.ended());
        by_phase.entry(phase).or_default().push(record);
    }
    let covered = phases.durations(started_at, stopped_at);
    let phase_reports = LoadPhase::EVERY
        .iter()
        .map(|phase| {
            let requests = by_phase.get(phase).map_or(&[][..], Vec::as_slice);
            phase_load(*phase, covered[phase], requests)
        })
        .collect();

    let sent = records.iter().filter(|r| r.sent().is_some()).count() as u64;
    let duration = stopped_at.saturating_sub(started_at);
    let lags = latency_summary(
        records
            .iter()
            .filter_map(|r| r.sent().map(|sent| sent.saturating_sub(r.intended()))),
    );
    LoadReport {
        request: format!("{} {}", load.method, load.url),
        target_rate: load.per_second,
        achieved_rate: if duration.is_zero() {
            0.0
        } else {
            sent as f64 / duration.as_secs_f64()
        },
        started_at,
        duration,
        scheduled: records.len() as u64,
        sent,
        timeout: load.timeout,
        max_in_flight: load.max_in_flight,
        send_lag_p99: lags.map_or(Duration::ZERO, |lag| lag.p99),
        send_lag_max: lags.map_or(Duration::ZERO, |lag| lag.max),
        phases: phase_reports,
        incarnations: by_incarnation(records, started_at, events),
        other_errors: finished.generated.other_messages.clone(),
    }
}

fn phase_load(phase: LoadPhase, duration: Duration, requests: &[&RequestRecord]) -> PhaseLoad {
    let mut outcomes = OutcomeCounts::default();
    for record in requests {
        match record.outcome {
            RequestOutcome::Ok { .. } => outcomes.ok += 1,
            RequestOutcome::Status(status) => {
                outcomes.http_status += 1;
                *outcomes.statuses.entry(status).or_default() += 1;
            }
            RequestOutcome::ConnectionRefused => outcomes.connection_refused += 1,
            RequestOutcome::ConnectionClosed => outcomes.connection_closed += 1,
            RequestOutcome::Timeout => outcomes.timeout += 1,
            RequestOutcome::NotSent => outcomes.not_sent += 1,
            RequestOutcome::Other => outcomes.other += 1,
        }
    }
    let count = requests.len() as u64;
    PhaseLoad {
        phase,
        duration,
        requests: count,
        error_rate: (count > 0).then(|| outcomes.errors() as f64 / count as f64),
        outcomes,
        latency: latency_summary(requests.iter().map(|record| record.latency())),
    }
}

/// Records `latencies` in an HDR histogram of microseconds with three
/// significant digits and reads its p50, p95, p99 and maximum. Returns
/// `None` for no latencies.
pub fn latency_summary(latencies: impl Iterator<Item = Duration>) -> Option<LatencySummary> {
    let mut histogram = Histogram::<u64>::new_with_bounds(1, HISTOGRAM_MAX_MICROS, 3)
        .expect("the histogram bounds are valid");
    for latency in latencies {
        let micros = (latency.as_micros() as u64).clamp(1, HISTOGRAM_MAX_MICROS);
        histogram.saturating_record(micros);
    }
    if histogram.is_empty() {
        return None;
    }
    let at = |quantile: f64| Duration::from_micros(histogram.value_at_quantile(quantile));
    Some(LatencySummary {
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
        max: Duration::from_micros(histogram.max()),
    })
}

/// Counts the responses by the incarnation that was running when each
/// arrived, from the spawns and exits of the timeline. A response that
/// arrived while no incarnation ran is left out.
fn by_incarnation(
    records: &[RequestRecord],
    started_at: Duration,
    events: &[Event],
) -> Vec<IncarnationLoad> {
    let mut spans: Vec<(u32, Duration, Duration)> = Vec::new();
    for event in events {
        match &event.kind {
            EventKind::Spawned { incarnation, .. } => {
                spans.push((*incarnation, event.at, Duration::MAX));
            }
            EventKind::Exited { incarnation, .. } => {
                if let Some(span) = spans.iter_mut().find(|span| span.0 == *incarnation) {
                    span.2 = event.at;
                }
            }
            _ => {}
        }
    }
    let mut counts: BTreeMap<u32, IncarnationLoad> = BTreeMap::new();
    for record in records {
        let ok = match record.outcome {
            RequestOutcome::Ok { .. } => true,
            RequestOutcome::Status(_) => false,
            _ => continue,
        };
        let at = started_at + record.ended();
        let Some((incarnation, _, _)) = spans
            .iter()
            .rev()
            .find(|(_, spawned, exited)| *spawned <= at && at <= *exited)
        else {
            continue;
        };
        let entry = counts.entry(*incarnation).or_insert(IncarnationLoad {
            incarnation: *incarnation,
            responses: 0,
            ok: 0,
        });
        entry.responses += 1;
        entry.ok += u64::from(ok);
    }
    counts.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::StopPath;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn fault(at: u64, recovery: Recovery) -> FaultReport {
        FaultReport {
            fault: String::from("kill"),
            occurrence: 1,
            action: String::from("SIGKILL to main process"),
            at: ms(at),
            incarnation: Some(1),
            pid: Some(1),
            stop: StopPath::NotAwaited,
            recovery,
        }
    }

    fn recovered(ttr: u64) -> Recovery {
        Recovery::Recovered {
            incarnation: 2,
            ttr: ms(ttr),
            to_exit: None,
            to_restart: None,
            to_ready: ms(ttr),
        }
    }

    #[test]
    fn phases_split_the_window() {
        let phases =
            Phases::from_faults(&[fault(1000, recovered(200)), fault(2000, recovered(100))]);
        assert_eq!(phases.phase_at(ms(999)), LoadPhase::Before);
        assert_eq!(phases.phase_at(ms(1000)), LoadPhase::Recovery);
        assert_eq!(phases.phase_at(ms(1199)), LoadPhase::Recovery);
        assert_eq!(phases.phase_at(ms(1200)), LoadPhase::Between);
        assert_eq!(phases.phase_at(ms(2050)), LoadPhase::Recovery);
        assert_eq!(phases.phase_at(ms(2100)), LoadPhase::After);

        // A request in flight when a fault fires counts in its recovery.
        assert_eq!(phases.phase_of(ms(990), ms(1001)), LoadPhase::Recovery);
        assert_eq!(phases.phase_of(ms(990), ms(999)), LoadPhase::Before);
        assert_eq!(phases.phase_of(ms(1199), ms(1300)), LoadPhase::Recovery);
        assert_eq!(phases.phase_of(ms(1200), ms(1300)), LoadPhase::Between);

        let covered = phases.durations(ms(500), ms(3000));
        assert_eq!(covered[&LoadPhase::All], ms(2500));
        assert_eq!(covered[&LoadPhase::Before], ms(500));
        assert_eq!(covered[&LoadPhase::Recovery], ms(300));
        assert_eq!(covered[&LoadPhase::Between], ms(800));
        assert_eq!(covered[&LoadPhase::After], ms(900));
    }

    #[test]
    fn unrecovered_fault_has_no_after() {
        let phases = Phases::from_faults(&[fault(
            1000,
            Recovery::NotRecovered {
                reason: String::from("never ready"),
            },
        )]);
        assert_eq!(phases.phase_at(ms(50_000)), LoadPhase::Recovery);
        let covered = phases.durations(ms(0), ms(3000));
        assert_eq!(covered[&LoadPhase::Recovery], ms(2000));
        assert_eq!(covered[&LoadPhase::After], Duration::ZERO);
    }

    #[test]
    fn interrupted_recovery_ends_at_next_fault() {
        let phases = Phases::from_faults(&[
            fault(
                1000,
                Recovery::Interrupted {
                    by: String::from("`kill` #2"),
                },
            ),
            fault(1500, recovered(100)),
        ]);
        assert_eq!(phases.phase_at(ms(1400)), LoadPhase::Recovery);
        assert_eq!(phases.phase_at(ms(1550)), LoadPhase::Recovery);
        assert_eq!(phases.phase_at(ms(1600)), LoadPhase::After);
    }

    #[test]
    fn no_fault_means_all_before() {
        let phases = Phases::from_faults(&[]);
        assert_eq!(phases.phase_at(ms(5000)), LoadPhase::Before);
        let covered = phases.durations(ms(0), ms(1000));
        assert_eq!(covered[&LoadPhase::Before], ms(1000));
        assert_eq!(covered[&LoadPhase::After], Duration::ZERO);
    }

    #[test]
    fn latency_percentiles_from_histogram() {
        let latencies = (1..=1000).map(ms);
        let summary = latency_summary(latencies).unwrap();
        // Three significant digits: within 0.1% of the exact rank.
        let near = |value: Duration, expected: u64| {
            let diff = value.as_secs_f64() * 1000.0 - expected as f64;
            diff.abs() <= expected as f64 / 1000.0 + 0.001
        };
        assert!(near(summary.p50, 500), "{:?}", summary.p50);
        assert!(near(summary.p95, 950), "{:?}", summary.p95);
        assert!(near(summary.p99, 990), "{:?}", summary.p99);
        assert!(near(summary.max, 1000), "{:?}", summary.max);
        assert_eq!(latency_summary(std::iter::empty()), None);
    }
}
