//! `error_rate` and `latency` checks over the requests of the `load`
//! block, in one phase of the experiment.

use std::time::Duration;

use crate::report::{LatencySummary, LoadReport, PhaseLoad, Verdict, format_percent};
use crate::spec::{Dur, LoadPhase, Threshold, format_duration};

/// Finds the phase a check looks at, or the verdict that it cannot be
/// judged: no load ran, or no request was due in the phase.
fn phase_of(load: Option<&LoadReport>, phase: LoadPhase) -> Result<&PhaseLoad, (String, String)> {
    let Some(load) = load else {
        return Err((
            String::from("no load"),
            String::from("the load did not run to its end, so no request was measured"),
        ));
    };
    match load.phase(phase) {
        Some(entry) if entry.requests > 0 => Ok(entry),
        _ => Err((
            String::from("no requests"),
            format!(
                "no request was due in phase `{phase}`, so there is nothing to judge; choose another phase or a higher rate"
            ),
        )),
    }
}

/// Suffixes a threshold with its phase, unless the phase is `all`.
fn with_phase(threshold: String, phase: LoadPhase) -> String {
    match phase {
        LoadPhase::All => threshold,
        _ => format!("{threshold} ({phase})"),
    }
}

/// Judges the share of failed requests in `phase`.
pub fn error_rate(
    name: String,
    threshold: &Threshold<f64>,
    phase: LoadPhase,
    load: Option<&LoadReport>,
) -> Verdict {
    let written = with_phase(
        format!(
            "{} {}",
            threshold.op.symbol(),
            format_percent(threshold.value)
        ),
        phase,
    );
    let entry = match phase_of(load, phase) {
        Ok(entry) => entry,
        Err((measured, reason)) => {
            return Verdict {
                name,
                check: "error_rate".into(),
                holds: false,
                measured,
                threshold: written,
                reason,
            };
        }
    };
    let rate = entry.error_rate.unwrap_or_default();
    let holds = threshold.holds(rate);
    let errors = entry.outcomes.errors();
    let measured = format!(
        "{} ({errors} of {} requests)",
        format_percent(rate),
        entry.requests
    );
    let verb = if holds { "meets" } else { "does not meet" };
    let reason = format!(
        "{} of {} requests in phase `{phase}` failed ({}): {} {verb} {written}",
        errors,
        entry.requests,
        entry.outcomes.describe_errors(),
        format_percent(rate)
    );
    Verdict {
        name,
        check: "error_rate".into(),
        holds,
        measured,
        threshold: written,
        reason,
    }
}

/// Judges latency percentiles of the requests in `phase`.
pub fn latency(
    name: String,
    thresholds: [(&str, &Option<Threshold<Dur>>); 4],
    phase: LoadPhase,
    load: Option<&LoadReport>,
) -> Verdict {
    let written: Vec<String> = thresholds
        .iter()
        .filter_map(|(label, threshold)| threshold.map(|t| format!("{label} {t}")))
        .collect();
    let written = with_phase(written.join(", "), phase);
    let entry = match phase_of(load, phase) {
        Ok(entry) => entry,
        Err((measured, reason)) => {
            return Verdict {
                name,
                check: "latency".into(),
                holds: false,
                measured,
                threshold: written,
                reason,
            };
        }
    };
    let summary = entry.latency.expect("a phase with requests has latencies");
    let mut measured = Vec::new();
    let mut misses = Vec::new();
    for (label, threshold) in thresholds {
        let Some(threshold) = threshold else { continue };
        let value = pick(&summary, label);
        measured.push(format!("{label} {}", format_duration(value)));
        if !threshold.holds(Dur(value)) {
            misses.push(format!(
                "{label} {} does not meet {threshold}",
                format_duration(value)
            ));
        }
    }
    let holds = misses.is_empty();
    let reason = if holds {
        format!(
            "over {} requests in phase `{phase}`: {}",
            entry.requests,
            measured.join(", ")
        )
    } else {
        format!(
            "over {} requests in phase `{phase}`: {}",
            entry.requests,
            misses.join("; ")
        )
    };
    Verdict {
        name,
        check: "latency".into(),
        holds,
        measured: measured.join(", "),
        threshold: written,
        reason,
    }
}

fn pick(summary: &LatencySummary, label: &str) -> Duration {
    match label {
        "p50" => summary.p50,
        "p95" => summary.p95,
        "p99" => summary.p99,
        _ => summary.max,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::OutcomeCounts;

    fn load(requests: u64, refused: u64, p99_ms: u64) -> LoadReport {
        let latency = LatencySummary {
            p50: Duration::from_millis(1),
            p95: Duration::from_millis(2),
            p99: Duration::from_millis(p99_ms),
            max: Duration::from_millis(p99_ms * 2),
        };
        let entry = |phase| PhaseLoad {
            phase,
            duration: Duration::from_secs(1),
            requests,
            outcomes: OutcomeCounts {
                ok: requests - refused,
                connection_refused: refused,
                ..OutcomeCounts::default()
            },
            error_rate: (requests > 0).then(|| refused as f64 / requests as f64),
            latency: (requests > 0).then_some(latency),
        };
        LoadReport {
            request: String::from("GET http://127.0.0.1:1/"),
            target_rate: 100.0,
            achieved_rate: 100.0,
            started_at: Duration::ZERO,
            duration: Duration::from_secs(1),
            scheduled: requests,
            sent: requests,
            timeout: Duration::from_secs(2),
            max_in_flight: 256,
            send_lag_p99: Duration::ZERO,
            send_lag_max: Duration::ZERO,
            phases: vec![entry(LoadPhase::All), entry(LoadPhase::Recovery)],
            incarnations: Vec::new(),
            other_errors: Vec::new(),
        }
    }

    #[test]
    fn error_rate_compares_share() {
        let threshold: Threshold<f64> = "< 0.5%".parse().unwrap();
        let report = load(1000, 4, 10);
        let verdict = error_rate("few".into(), &threshold, LoadPhase::All, Some(&report));
        assert!(verdict.holds, "{}", verdict.reason);
        assert_eq!(verdict.measured, "0.40% (4 of 1000 requests)");

        let report = load(1000, 5, 10);
        let verdict = error_rate("few".into(), &threshold, LoadPhase::Recovery, Some(&report));
        assert!(!verdict.holds);
        assert!(
            verdict.reason.contains("5 connection refused"),
            "{}",
            verdict.reason
        );
        assert_eq!(verdict.threshold, "< 0.50% (recovery)");
    }

    #[test]
    fn empty_phase_fails() {
        let threshold: Threshold<f64> = "< 1%".parse().unwrap();
        let report = load(1000, 0, 10);
        let verdict = error_rate("few".into(), &threshold, LoadPhase::After, Some(&report));
        assert!(!verdict.holds);
        assert!(
            verdict.reason.contains("phase `after`"),
            "{}",
            verdict.reason
        );
        let verdict = error_rate("few".into(), &threshold, LoadPhase::All, None);
        assert!(!verdict.holds);
    }

    #[test]
    fn latency_checks_each_percentile() {
        let p99: Option<Threshold<Dur>> = Some("< 50ms".parse().unwrap());
        let max: Option<Threshold<Dur>> = Some("< 50ms".parse().unwrap());
        let report = load(1000, 0, 30);
        let verdict = latency(
            "fast".into(),
            [("p50", &None), ("p95", &None), ("p99", &p99), ("max", &max)],
            LoadPhase::All,
            Some(&report),
        );
        assert!(!verdict.holds);
        assert_eq!(verdict.measured, "p99 30ms, max 60ms");
        assert!(
            verdict.reason.contains("max 60ms does not meet < 50ms"),
            "{}",
            verdict.reason
        );
        assert!(!verdict.reason.contains("p99 30ms does not"));
    }
}
