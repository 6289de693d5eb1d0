//! Hypotheses evaluated into verdicts, each with the measured value, the
//! threshold and the reason.

use std::path::Path;
use std::time::Duration;

mod load;
mod metric;
mod writes;

pub use metric::MetricSamples;

use crate::command;
use crate::report::{FaultReport, Recovery, StopPath, Verdict, WritesReport};
use crate::spec::{Check, Command, Dur, ExitSpec, Hypothesis, Threshold, format_duration};
use crate::supervisor::timeline::ExitStatus;

/// What the hypotheses are judged on.
pub struct Evidence<'a> {
    pub faults: &'a [FaultReport],
    pub restarts: u32,
    /// The experiment's marker, given to `exec` checks so that teardown
    /// kills what they leave running.
    pub marker: Option<&'a str>,
    /// The collected series, for `metric` checks.
    pub metrics: Option<&'a MetricSamples<'a>>,
    /// The writes and what the store kept, for `writes` checks.
    pub writes: Option<&'a WritesReport>,
    /// What the `load` block measured, for `error_rate` and `latency`
    /// checks.
    pub load: Option<&'a crate::report::LoadReport>,
}

/// Evaluates one hypothesis. `exec` checks run their command now, in
/// `cwd`, with `argv` already expanded by the caller.
pub async fn evaluate(
    hypothesis: &Hypothesis,
    evidence: &Evidence<'_>,
    exec: Option<&Command>,
    cwd: &Path,
) -> Verdict {
    let name = hypothesis.name.clone();
    match &hypothesis.check {
        Check::TtrEach(threshold) => ttr_each(name, threshold, evidence.faults),
        Check::TtrPercentiles { p50, p95, max } => ttr_percentiles(
            name,
            [("p50", p50), ("p95", p95), ("max", max)],
            evidence.faults,
        ),
        Check::Restarts(threshold) => {
            let holds = threshold.holds(u64::from(evidence.restarts));
            let reason = if holds {
                format!("{} restarts meet {threshold}", evidence.restarts)
            } else {
                format!("{} restarts do not meet {threshold}", evidence.restarts)
            };
            Verdict {
                name,
                check: "restarts".into(),
                holds,
                measured: evidence.restarts.to_string(),
                threshold: threshold.to_string(),
                reason,
            }
        }
        Check::Exit(spec) => exit(name, spec, evidence.faults),
        Check::Metric {
            expr,
            threshold,
            continuous,
        } => metric::check(name, expr, threshold, *continuous, evidence.metrics),
        Check::ErrorRate { threshold, phase } => {
            load::error_rate(name, threshold, *phase, evidence.load)
        }
        Check::Latency {
            p50,
            p95,
            p99,
            max,
            phase,
        } => load::latency(
            name,
            [("p50", p50), ("p95", p95), ("p99", p99), ("max", max)],
            *phase,
            evidence.load,
        ),
        Check::Exec(spec) => exec_check(name, exec.unwrap_or(spec), cwd, evidence.marker).await,
        Check::Writes {
            lost,
            duplicates,
            acknowledged,
        } => writes::check(
            name,
            writes::Thresholds {
                lost: *lost,
                duplicates: *duplicates,
                acknowledged: *acknowledged,
            },
            evidence.writes,
        ),
    }
}

/// Recovery times of every fault that was due a recovery, or the reasons
/// for the ones that did not recover.
fn recoveries(faults: &[FaultReport]) -> (Vec<(String, Duration)>, Vec<String>) {
    let mut times = Vec::new();
    let mut missing = Vec::new();
    for fault in faults {
        let label = format!("{} #{}", fault.fault, fault.occurrence);
        match &fault.recovery {
            Recovery::Recovered { ttr, .. } => times.push((label, *ttr)),
            Recovery::NotRecovered { reason } => {
                missing.push(format!("{label} did not recover: {reason}"))
            }
            Recovery::Interrupted { by } => {
                missing.push(format!("{label} was still recovering when {by} fired"))
            }
            Recovery::NotApplicable => {}
        }
    }
    (times, missing)
}

/// Returns `1 recovery` or `N recoveries`.
fn recovery_count(count: usize) -> String {
    if count == 1 {
        String::from("1 recovery")
    } else {
        format!("{count} recoveries")
    }
}

/// Returns `, N not recovered` for the measured value of a `ttr` check,
/// or nothing when every fault recovered. Without it, a value that meets
/// the threshold looks like a pass although other faults did not recover.
fn not_recovered_suffix(missing: usize) -> String {
    if missing == 0 {
        String::new()
    } else {
        format!(", {missing} not recovered")
    }
}

fn ttr_each(name: String, threshold: &Threshold<Dur>, faults: &[FaultReport]) -> Verdict {
    let (times, missing) = recoveries(faults);
    let over: Vec<String> = times
        .iter()
        .filter(|(_, ttr)| !threshold.holds(Dur(*ttr)))
        .map(|(label, ttr)| format!("{label} took {}", format_duration(*ttr)))
        .collect();
    let measured = match times.iter().map(|(_, ttr)| *ttr).max() {
        Some(max) => format!(
            "max {} over {}{}",
            format_duration(max),
            recovery_count(times.len()),
            not_recovered_suffix(missing.len())
        ),
        None if !missing.is_empty() => String::from("not recovered"),
        None => String::from("no recovery measured"),
    };
    let (holds, reason) = if !missing.is_empty() {
        (false, missing.join("; "))
    } else if times.is_empty() {
        (
            false,
            String::from("no fault was injected, so no recovery was measured; check the schedule"),
        )
    } else if !over.is_empty() {
        (
            false,
            format!(
                "{} of {} recoveries missed {threshold}: {}",
                over.len(),
                times.len(),
                over.join(", ")
            ),
        )
    } else {
        (
            true,
            format!("all {} recoveries met {threshold}", times.len()),
        )
    };
    Verdict {
        name,
        check: "ttr".into(),
        holds,
        measured,
        threshold: threshold.to_string(),
        reason,
    }
}

fn ttr_percentiles(
    name: String,
    thresholds: [(&str, &Option<Threshold<Dur>>); 3],
    faults: &[FaultReport],
) -> Verdict {
    let (times, missing) = recoveries(faults);
    let mut sorted: Vec<Duration> = times.iter().map(|(_, ttr)| *ttr).collect();
    sorted.sort();

    let mut measured = Vec::new();
    let mut written = Vec::new();
    let mut misses = Vec::new();
    for (label, threshold) in thresholds {
        let Some(threshold) = threshold else { continue };
        written.push(format!("{label} {threshold}"));
        let value = match label {
            "p50" => percentile(&sorted, 50.0),
            "p95" => percentile(&sorted, 95.0),
            _ => sorted.last().copied(),
        };
        if let Some(value) = value {
            measured.push(format!("{label} {}", format_duration(value)));
            if !threshold.holds(Dur(value)) {
                misses.push(format!(
                    "{label} {} does not meet {threshold}",
                    format_duration(value)
                ));
            }
        }
    }
    let (holds, reason) = if !missing.is_empty() {
        (false, missing.join("; "))
    } else if sorted.is_empty() {
        (
            false,
            String::from("no fault was injected, so no recovery was measured; check the schedule"),
        )
    } else if !misses.is_empty() {
        (false, misses.join("; "))
    } else {
        (
            true,
            format!("over {} recoveries: {}", sorted.len(), measured.join(", ")),
        )
    };
    let measured = match (measured.is_empty(), missing.is_empty()) {
        (false, _) => measured.join(", ") + &not_recovered_suffix(missing.len()),
        (true, false) => String::from("not recovered"),
        (true, true) => String::from("no recovery measured"),
    };
    Verdict {
        name,
        check: "ttr".into(),
        holds,
        measured,
        threshold: written.join(", "),
        reason,
    }
}

/// The nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[Duration], percent: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((percent / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

fn exit(name: String, spec: &ExitSpec, faults: &[FaultReport]) -> Verdict {
    let mut threshold = String::from(if spec.graceful {
        "exits by itself within grace"
    } else {
        "exits"
    });
    if let Some(code) = spec.code {
        threshold.push_str(&format!(" with code {code}"));
    }
    let mut observed = Vec::new();
    let mut failures = Vec::new();
    for fault in faults {
        let label = format!("{} #{}", fault.fault, fault.occurrence);
        match &fault.stop {
            StopPath::ExitedWithinGrace { status, after } => {
                observed.push(format!(
                    "{label}: {status} after {}",
                    format_duration(*after)
                ));
                if let Some(code) = spec.code
                    && *status != ExitStatus::Code(code)
                {
                    failures.push(format!(
                        "{label} ended with {status}, expected exit code {code}"
                    ));
                }
            }
            StopPath::DescendantsExited { after, .. } => {
                observed.push(format!(
                    "{label}: descendants exited after {}",
                    format_duration(*after)
                ));
                if spec.code.is_some() {
                    failures.push(format!("{label} reached descendants of the target, whose exit codes the harness cannot see"));
                }
            }
            StopPath::Escalated { grace, .. } | StopPath::DescendantsEscalated { grace, .. } => {
                observed.push(format!("{label}: escalated"));
                if spec.graceful {
                    failures.push(format!("{label} was still alive when its grace period of {} ended and needed SIGKILL", format_duration(*grace)));
                }
            }
            _ => {}
        }
    }
    let (holds, reason) = if observed.is_empty() {
        (
            false,
            String::from(
                "no signal with a grace period reached the target, so no exit was observed",
            ),
        )
    } else if failures.is_empty() {
        (
            true,
            format!("{} stop(s) observed, each as expected", observed.len()),
        )
    } else {
        (false, failures.join("; "))
    };
    Verdict {
        name,
        check: "exit".into(),
        holds,
        measured: observed.join("; "),
        threshold,
        reason,
    }
}

async fn exec_check(name: String, command: &Command, cwd: &Path, marker: Option<&str>) -> Verdict {
    let threshold = String::from("exit code 0");
    match command::run_marked(&command.argv, cwd, command.timeout.0, marker).await {
        Ok(output) => {
            let holds = output.success();
            let outcome = output.describe(command.timeout.0);
            let tail = output.tail(5);
            let mut reason = format!("`{}` ended with {outcome}", command.argv.join(" "));
            if !tail.is_empty() {
                reason.push_str(": ");
                reason.push_str(&tail.join(" | "));
            }
            Verdict {
                name,
                check: "exec".into(),
                holds,
                measured: outcome,
                threshold,
                reason,
            }
        }
        Err(err) => Verdict {
            name,
            check: "exec".into(),
            holds: false,
            measured: String::from("not started"),
            threshold,
            reason: err.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn percentile_nearest_rank() {
        let sorted = ms(&[10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
        assert_eq!(percentile(&sorted, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&sorted, 95.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&ms(&[7]), 50.0), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    fn fault(recovery: Recovery) -> FaultReport {
        FaultReport {
            fault: "kill".into(),
            occurrence: 1,
            action: "SIGKILL to main process".into(),
            at: Duration::ZERO,
            incarnation: Some(1),
            pid: Some(1),
            stop: StopPath::NotAwaited,
            recovery,
        }
    }

    fn recovered(ttr_ms: u64) -> Recovery {
        let ttr = Duration::from_millis(ttr_ms);
        Recovery::Recovered {
            incarnation: 2,
            ttr,
            to_exit: None,
            to_restart: None,
            to_ready: ttr,
        }
    }

    #[test]
    fn ttr_each_fails_on_slow_recovery() {
        let threshold: Threshold<Dur> = "< 1s".parse().unwrap();
        let verdict = ttr_each(
            "fast".into(),
            &threshold,
            &[fault(recovered(200)), fault(recovered(1500))],
        );
        assert!(!verdict.holds);
        assert!(
            verdict.reason.contains("1 of 2 recoveries missed < 1s"),
            "{}",
            verdict.reason
        );
        assert_eq!(verdict.measured, "max 1.500s over 2 recoveries");
    }

    #[test]
    fn ttr_each_fails_without_recovery() {
        let threshold: Threshold<Dur> = "< 1s".parse().unwrap();
        let verdict = ttr_each(
            "fast".into(),
            &threshold,
            &[fault(Recovery::NotRecovered {
                reason: "never ready".into(),
            })],
        );
        assert!(!verdict.holds);
        assert!(verdict.reason.contains("never ready"), "{}", verdict.reason);
        let verdict = ttr_each("fast".into(), &threshold, &[]);
        assert!(!verdict.holds);
    }

    #[test]
    fn ttr_measured_counts_unrecovered() {
        let threshold: Threshold<Dur> = "< 2s".parse().unwrap();
        let faults = [
            fault(recovered(716)),
            fault(Recovery::NotRecovered {
                reason: "never ready".into(),
            }),
            fault(Recovery::Interrupted {
                by: "`kill` #3".into(),
            }),
        ];
        let verdict = ttr_each("fast".into(), &threshold, &faults);
        assert!(!verdict.holds);
        assert_eq!(
            verdict.measured,
            "max 716ms over 1 recovery, 2 not recovered"
        );

        let p50: Option<Threshold<Dur>> = Some("< 1s".parse().unwrap());
        let verdict = ttr_percentiles(
            "p50".into(),
            [("p50", &p50), ("p95", &None), ("max", &None)],
            &faults,
        );
        assert!(!verdict.holds);
        assert_eq!(verdict.measured, "p50 716ms, 2 not recovered");
    }

    #[test]
    fn ttr_each_holds_when_all_fast() {
        let threshold: Threshold<Dur> = "< 1s".parse().unwrap();
        let verdict = ttr_each(
            "fast".into(),
            &threshold,
            &[fault(recovered(200)), fault(recovered(300))],
        );
        assert!(verdict.holds, "{}", verdict.reason);
    }

    #[test]
    fn exit_fails_on_escalation() {
        let mut escalated = fault(recovered(100));
        escalated.stop = StopPath::Escalated {
            grace: Duration::from_secs(1),
            status: None,
        };
        let verdict = exit(
            "stops".into(),
            &ExitSpec {
                graceful: true,
                code: Some(0),
            },
            &[escalated],
        );
        assert!(!verdict.holds);
        assert!(
            verdict.reason.contains("needed SIGKILL"),
            "{}",
            verdict.reason
        );
    }

    #[test]
    fn exit_checks_code() {
        let mut graceful = fault(recovered(100));
        graceful.stop = StopPath::ExitedWithinGrace {
            status: ExitStatus::Code(1),
            after: Duration::from_millis(5),
        };
        let verdict = exit(
            "stops".into(),
            &ExitSpec {
                graceful: true,
                code: Some(0),
            },
            &[graceful],
        );
        assert!(!verdict.holds);
        assert!(
            verdict.reason.contains("expected exit code 0"),
            "{}",
            verdict.reason
        );
    }
}
