//! The `writes` check: the counts of lost, duplicated and acknowledged
//! writes against their thresholds.

use crate::report::{Verdict, WritesReport};
use crate::spec::Threshold;

/// The thresholds of one `writes` hypothesis; at least one is set.
pub struct Thresholds {
    pub lost: Option<Threshold<u64>>,
    pub duplicates: Option<Threshold<u64>>,
    pub acknowledged: Option<Threshold<u64>>,
}

/// Judges `writes` against `thresholds`.
pub fn check(name: String, thresholds: Thresholds, writes: Option<&WritesReport>) -> Verdict {
    let written: Vec<String> = [
        ("lost", &thresholds.lost),
        ("duplicates", &thresholds.duplicates),
        ("acknowledged", &thresholds.acknowledged),
    ]
    .iter()
    .filter_map(|(label, threshold)| threshold.map(|t| format!("{label} {t}")))
    .collect();
    let verdict = |holds: bool, measured: String, reason: String| Verdict {
        name: name.clone(),
        check: String::from("writes"),
        holds,
        measured,
        threshold: written.join(", "),
        reason,
    };

    let Some(writes) = writes else {
        return verdict(
            false,
            String::from("no writes"),
            String::from("the writer did not run, so no write could be checked"),
        );
    };
    if let Some(error) = &writes.list_error {
        return verdict(
            false,
            String::from("not listed"),
            format!("the stored ids could not be listed after settle, so loss is unknown: {error}"),
        );
    }
    // With nothing acknowledged, "nothing lost" would hold by default.
    if writes.acknowledged == 0 && thresholds.lost.is_some() {
        let first = writes
            .errors
            .first()
            .map(|error| {
                format!(
                    "; the most frequent failure was {}: {}",
                    error.kind, error.example
                )
            })
            .unwrap_or_default();
        return verdict(
            false,
            format!("0 of {} acknowledged", writes.attempted),
            format!(
                "no write was acknowledged, so loss cannot be judged; check that the store is reachable at {}{first}",
                writes.driver
            ),
        );
    }

    let measured = format!(
        "lost {} of {} acknowledged, {} duplicate(s)",
        writes.lost, writes.acknowledged, writes.duplicates
    );
    let mut misses = Vec::new();
    if let Some(threshold) = thresholds.lost
        && !threshold.holds(writes.lost)
    {
        let mut miss = format!(
            "{} of {} acknowledged write(s) lost, which does not meet lost {threshold}",
            writes.lost, writes.acknowledged
        );
        if !writes.first_lost.is_empty() {
            miss.push_str(&format!("; first lost: {}", writes.first_lost.join(", ")));
        }
        let intervals = writes.interval_lines();
        if intervals.len() > 1 {
            miss.push_str(&format!("; {}", intervals.join("; ")));
        }
        misses.push(miss);
    }
    if let Some(threshold) = thresholds.duplicates
        && !threshold.holds(writes.duplicates)
    {
        let mut miss = format!(
            "{} write(s) listed more than once, which does not meet duplicates {threshold}",
            writes.duplicates
        );
        if !writes.first_duplicates.is_empty() {
            miss.push_str(&format!(
                "; first duplicates: {}",
                writes.first_duplicates.join(", ")
            ));
        }
        misses.push(miss);
    }
    if let Some(threshold) = thresholds.acknowledged
        && !threshold.holds(writes.acknowledged)
    {
        misses.push(format!(
            "{} of {} write(s) acknowledged, which does not meet acknowledged {threshold}",
            writes.acknowledged, writes.attempted
        ));
    }

    if misses.is_empty() {
        verdict(
            true,
            measured,
            format!(
                "all {} acknowledged writes present, {} duplicate(s); {} unacknowledged, {} of them present",
                writes.acknowledged,
                writes.duplicates,
                writes.unacknowledged,
                writes.unacknowledged_present
            ),
        )
    } else {
        verdict(false, measured, misses.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::writes::WritesInterval;

    fn report(acknowledged: u64, lost: u64, duplicates: u64) -> WritesReport {
        WritesReport {
            driver: String::from("redis 127.0.0.1:1 list `k`"),
            attempted: acknowledged + 2,
            acknowledged,
            unacknowledged: 2,
            present: acknowledged - lost,
            lost,
            first_lost: (0..lost.min(3)).map(|n| format!("w-{n:06}")).collect(),
            duplicates,
            first_duplicates: (0..duplicates).map(|n| format!("w-{n:06}")).collect(),
            intervals: vec![
                WritesInterval {
                    label: String::from("before kill #1"),
                    acknowledged: lost,
                    lost,
                },
                WritesInterval {
                    label: String::from("after kill #1"),
                    acknowledged: acknowledged - lost,
                    lost: 0,
                },
            ],
            ..WritesReport::default()
        }
    }

    fn none_lost() -> Thresholds {
        Thresholds {
            lost: Some("== 0".parse().unwrap()),
            duplicates: None,
            acknowledged: None,
        }
    }

    #[test]
    fn holds_without_loss() {
        let verdict = check("no-loss".into(), none_lost(), Some(&report(50, 0, 0)));
        assert!(verdict.holds, "{}", verdict.reason);
        assert_eq!(
            verdict.measured,
            "lost 0 of 50 acknowledged, 0 duplicate(s)"
        );
        assert_eq!(verdict.threshold, "lost == 0");
    }

    #[test]
    fn loss_fails_with_count_and_ids() {
        let verdict = check("no-loss".into(), none_lost(), Some(&report(50, 3, 0)));
        assert!(!verdict.holds);
        assert!(
            verdict
                .reason
                .starts_with("3 of 50 acknowledged write(s) lost"),
            "{}",
            verdict.reason
        );
        assert!(
            verdict
                .reason
                .contains("first lost: w-000000, w-000001, w-000002"),
            "{}",
            verdict.reason
        );
        assert!(
            verdict
                .reason
                .contains("before kill #1: 3 acknowledged, 3 lost"),
            "{}",
            verdict.reason
        );
    }

    #[test]
    fn duplicates_fail_when_asked() {
        let thresholds = Thresholds {
            lost: Some("== 0".parse().unwrap()),
            duplicates: Some("== 0".parse().unwrap()),
            acknowledged: None,
        };
        let verdict = check("exact".into(), thresholds, Some(&report(50, 0, 2)));
        assert!(!verdict.holds);
        assert!(
            verdict.reason.contains("2 write(s) listed more than once"),
            "{}",
            verdict.reason
        );
        let verdict = check("no-loss".into(), none_lost(), Some(&report(50, 0, 2)));
        assert!(verdict.holds, "duplicates alone do not fail a loss check");
    }

    #[test]
    fn nothing_acknowledged_fails() {
        let verdict = check("no-loss".into(), none_lost(), Some(&report(0, 0, 0)));
        assert!(!verdict.holds);
        assert!(
            verdict.reason.contains("no write was acknowledged"),
            "{}",
            verdict.reason
        );
    }

    #[test]
    fn list_error_fails() {
        let mut listed = report(10, 0, 0);
        listed.list_error = Some(String::from("connection refused"));
        let verdict = check("no-loss".into(), none_lost(), Some(&listed));
        assert!(!verdict.holds);
        assert!(
            verdict.reason.contains("connection refused"),
            "{}",
            verdict.reason
        );
        let verdict = check("no-loss".into(), none_lost(), None);
        assert!(!verdict.holds);
    }

    #[test]
    fn acknowledged_threshold() {
        let thresholds = Thresholds {
            lost: None,
            duplicates: None,
            acknowledged: Some(">= 100".parse().unwrap()),
        };
        let verdict = check("enough".into(), thresholds, Some(&report(50, 0, 0)));
        assert!(!verdict.holds);
        assert!(
            verdict.reason.contains("50 of 52 write(s) acknowledged"),
            "{}",
            verdict.reason
        );
    }
}
