//! `metric` checks: a PromQL expression over the scraped series against a
//! threshold.

use crate::metrics::labels::Labels;
use crate::metrics::promql::{Expr, Value, evaluate};
use crate::metrics::store::Store;
use crate::report::Verdict;
use crate::spec::Threshold;

/// The series a run collected, and the times to judge them at.
pub struct MetricSamples<'a> {
    pub store: &'a Store,
    /// The end of the run, in ms on the experiment's clock.
    pub now_ms: i64,
    /// Every collection time, for `during: continuous`.
    pub ticks: &'a [i64],
    /// The first fault, where `during: continuous` starts.
    pub from_ms: i64,
}

/// Judges `expr` against `threshold`, at the end of the run or, when
/// `continuous`, at every collection from the first fault on.
pub fn check(
    name: String,
    expr: &Expr,
    threshold: &Threshold<f64>,
    continuous: bool,
    samples: Option<&MetricSamples<'_>>,
) -> Verdict {
    let verdict = |holds: bool, measured: String, reason: String| Verdict {
        name: name.clone(),
        check: String::from("metric"),
        holds,
        measured,
        threshold: format!("{} {threshold}", expr.text()),
        reason,
    };
    let Some(samples) = samples else {
        return verdict(
            false,
            String::from("no samples"),
            String::from(
                "no series were collected, because the experiment ended before its first fault",
            ),
        );
    };

    let times: Vec<i64> = if continuous {
        samples
            .ticks
            .iter()
            .copied()
            .filter(|t| *t >= samples.from_ms)
            .chain([samples.now_ms])
            .collect()
    } else {
        vec![samples.now_ms]
    };
    let mut last_measured = String::new();
    for at_ms in times {
        match judge(expr, threshold, samples.store, at_ms) {
            Ok(measured) => last_measured = measured,
            Err((measured, reason)) => {
                let when = if continuous {
                    format!(" at +{:.3}s", at_ms as f64 / 1000.0)
                } else {
                    String::new()
                };
                return verdict(false, measured, format!("{reason}{when}"));
            }
        }
    }
    let reason = if continuous {
        String::from("holds at every collection from the first fault on")
    } else {
        format!("holds: {last_measured}")
    };
    verdict(true, last_measured, reason)
}

/// Evaluates once. Returns the measured value, or it and why it fails.
fn judge(
    expr: &Expr,
    threshold: &Threshold<f64>,
    store: &Store,
    at_ms: i64,
) -> Result<String, (String, String)> {
    let value = evaluate(expr, store, at_ms)
        .map_err(|err| (String::from("evaluation failed"), err.to_string()))?;
    match value {
        Value::Scalar(v) => {
            let measured = format_value(v);
            if threshold.holds(v) {
                Ok(measured)
            } else {
                Err((
                    measured.clone(),
                    format!("{measured} does not meet {threshold}"),
                ))
            }
        }
        Value::Vector(elements) if elements.is_empty() => {
            let existing = series_names(store);
            Err((
                String::from("empty result"),
                format!(
                    "`{}` returned no series, so the selector matched nothing; series that exist: {}",
                    expr.text(),
                    if existing.is_empty() {
                        String::from("none")
                    } else {
                        existing.join(", ")
                    }
                ),
            ))
        }
        Value::Vector(elements) => {
            let describe = |labels: &Labels, value: f64| {
                if labels.is_empty() {
                    format_value(value)
                } else {
                    format!("{labels} = {}", format_value(value))
                }
            };
            let measured: Vec<String> = elements
                .iter()
                .take(5)
                .map(|e| describe(&e.labels, e.value))
                .collect();
            let mut measured = measured.join(", ");
            if elements.len() > 5 {
                measured.push_str(&format!(" and {} more", elements.len() - 5));
            }
            let failing: Vec<String> = elements
                .iter()
                .filter(|e| !threshold.holds(e.value))
                .map(|e| describe(&e.labels, e.value))
                .collect();
            if failing.is_empty() {
                Ok(measured)
            } else {
                Err((
                    measured,
                    format!(
                        "{} of {} series do not meet {threshold}: {}",
                        failing.len(),
                        elements.len(),
                        failing.join(", ")
                    ),
                ))
            }
        }
        other => Err((
            String::from(other.type_name()),
            format!(
                "`{}` returns a {}, not a number; wrap a range selector in a function such as rate()",
                expr.text(),
                other.type_name()
            ),
        )),
    }
}

fn format_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    if !value.is_finite() || value == 0.0 {
        return format!("{value}");
    }
    // Twelve significant digits hide binary rounding noise, such as
    // 0.024849999999999997 for 0.02485, and keep every digit a threshold
    // is likely to use.
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = 11 - magnitude;
    if !(0..=17).contains(&decimals) {
        return format!("{value}");
    }
    let text = format!("{value:.*}", decimals as usize);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The metric names in the store, sorted, at most 20.
fn series_names(store: &Store) -> Vec<String> {
    let mut names: Vec<String> = store
        .series()
        .filter_map(|(labels, _)| labels.metric_name().map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    names.truncate(20);
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::store::Point;

    #[test]
    fn format_value_hides_rounding_noise() {
        assert_eq!(format_value(0.024849999999999997), "0.02485");
        assert_eq!(format_value(3.0), "3");
        assert_eq!(format_value(0.1 + 0.2), "0.3");
        assert_eq!(format_value(1234.5678), "1234.5678");
        assert_eq!(format_value(1.5e-20), "0.000000000000000000015");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "inf");
    }

    fn store() -> Store {
        let mut store = Store::new();
        for (t, v) in [(0, 0.0), (1000, 1.0), (2000, 3.0)] {
            store
                .append(
                    Labels::from_pairs([("__name__", "restarts_total")]),
                    Point { t, v },
                )
                .unwrap();
        }
        store
    }

    fn run(expr: &str, threshold: &str, continuous: bool) -> Verdict {
        let store = store();
        let ticks = [0, 1000, 2000];
        let samples = MetricSamples {
            store: &store,
            now_ms: 2000,
            ticks: &ticks,
            from_ms: 1000,
        };
        check(
            "h".into(),
            &Expr::parse(expr).unwrap(),
            &threshold.parse().unwrap(),
            continuous,
            Some(&samples),
        )
    }

    #[test]
    fn metric_holds_on_value() {
        let verdict = run("restarts_total", "== 3", false);
        assert!(verdict.holds, "{}", verdict.reason);
        assert_eq!(verdict.measured, "restarts_total = 3");
    }

    #[test]
    fn metric_fails_with_value() {
        let verdict = run("restarts_total", "< 3", false);
        assert!(!verdict.holds);
        assert!(
            verdict
                .reason
                .contains("1 of 1 series do not meet < 3: restarts_total = 3"),
            "{}",
            verdict.reason
        );
    }

    #[test]
    fn empty_result_names_existing_series() {
        let verdict = run("restart_total", "== 3", false);
        assert!(!verdict.holds);
        assert!(
            verdict.reason.contains("matched nothing"),
            "{}",
            verdict.reason
        );
        assert!(
            verdict.reason.contains("series that exist: restarts_total"),
            "{}",
            verdict.reason
        );
    }

    #[test]
    fn continuous_fails_at_first_bad_time() {
        // At +1s the counter is 1, which misses `>= 2`; at the end it is 3.
        let verdict = run("restarts_total", ">= 2", true);
        assert!(!verdict.holds);
        assert!(verdict.reason.ends_with("at +1.000s"), "{}", verdict.reason);
        assert!(run("restarts_total", ">= 2", false).holds);
    }
}
