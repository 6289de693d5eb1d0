//! Unit tests. The expected numbers marked "promtool" come from
//! `promtool test rules` of Prometheus 2.42 on the same input.

use super::*;
use crate::metrics::labels::{Labels, METRIC_NAME};
use crate::metrics::store::{Point, stale_nan};

/// Builds a store from `(series, interval_s, values)` where values are
/// space-separated numbers, `_` for no sample or `stale`, at t = 0, 1, 2
/// intervals.
fn store(series: &[(&str, i64, &str)]) -> Store {
    let mut store = Store::new();
    for (selector, interval_s, values) in series {
        let labels = parse_series(selector);
        for (index, value) in values.split_whitespace().enumerate() {
            let v = match value {
                "_" => continue,
                "stale" => stale_nan(),
                number => number.parse().unwrap(),
            };
            let t = index as i64 * interval_s * 1000;
            store.append(labels.clone(), Point { t, v }).unwrap();
        }
    }
    store
}

fn parse_series(selector: &str) -> Labels {
    let (name, rest) = selector.split_once('{').unwrap_or((selector, "}"));
    let pairs = rest
        .trim_end_matches('}')
        .split(',')
        .filter(|p| !p.is_empty());
    let mut labels = Labels::from_pairs(pairs.map(|pair| {
        let (name, value) = pair.split_once('=').unwrap();
        (name.to_owned(), value.trim_matches('"').to_owned())
    }));
    labels.set(METRIC_NAME.into(), name.to_owned());
    labels
}

fn eval_at(store: &Store, expr: &str, at_s: i64) -> Value {
    let expr = Expr::parse(expr).unwrap_or_else(|error| panic!("{error}"));
    evaluate(&expr, store, at_s * 1000).unwrap_or_else(|error| panic!("{expr}: {error}"))
}

/// Returns the only sample's value, or panics.
fn single(value: Value) -> f64 {
    match value {
        Value::Vector(samples) if samples.len() == 1 => samples[0].value,
        Value::Scalar(value) => value,
        other => panic!("expected one sample, got {other:?}"),
    }
}

fn is_empty(value: &Value) -> bool {
    matches!(value, Value::Vector(samples) if samples.is_empty())
}

#[test]
fn compensated_sums_match_promtool() {
    let store = store(&[
        ("k", 10, "1 1e100 1 -1e100"),
        ("c{a=\"1\"}", 10, "1 1e100 1 -1e100"),
        ("c{a=\"2\"}", 10, "1 1 1 1"),
        ("c{a=\"3\"}", 10, "1 1 1 1"),
    ]);
    let cases = [
        ("sum_over_time(k[1m])", 2.0),
        ("avg_over_time(k[1m])", -2.428_336_115_282_161_3e83),
        ("deriv(k[1m])", -4e98),
        ("stddev_over_time(k[1m])", 7.071_067_811_865_476e99),
        ("sum(c)", -1e100),
    ];
    for (expr, expected) in cases {
        assert_eq!(single(eval_at(&store, expr, 30)), expected, "{expr}");
    }
}

#[test]
fn lookback_includes_left_boundary() {
    let store = store(&[("k", 30, "1 2")]);
    assert_eq!(single(eval_at(&store, "k", 330)), 2.0);
    assert!(is_empty(&eval_at(&store, "k", 331)));
}

#[test]
fn stale_marker_hides_series() {
    let store = store(&[("k", 10, "1 stale _ 4")]);
    assert!(is_empty(&eval_at(&store, "k", 15)));
    assert_eq!(single(eval_at(&store, "k", 5)), 1.0);
    assert_eq!(single(eval_at(&store, "count_over_time(k[1m])", 30)), 2.0);
}

#[test]
fn rate_with_counter_reset() {
    // Points 0:0, 15:10, 30:20, 45:5 (reset), 60:15. Increase 35 over 60 s
    // of samples, extrapolated to the 60 s range boundaries.
    let store = store(&[("c", 15, "0 10 20 5 15")]);
    assert_eq!(single(eval_at(&store, "increase(c[1m])", 60)), 35.0);
    assert_eq!(single(eval_at(&store, "rate(c[1m])", 60)), 35.0 / 60.0);
    assert_eq!(single(eval_at(&store, "resets(c[1m])", 60)), 1.0);
    assert_eq!(single(eval_at(&store, "irate(c[1m])", 60)), 10.0 / 15.0);
    assert_eq!(single(eval_at(&store, "delta(c[1m])", 60)), 15.0);
}

#[test]
fn range_includes_left_boundary() {
    let store = store(&[("g", 10, "1 2 3 4 5 6 7")]);
    assert_eq!(single(eval_at(&store, "count_over_time(g[1m])", 60)), 7.0);
    assert_eq!(
        single(eval_at(&store, "sum_over_time(g[30s] offset 30s)", 60)),
        10.0
    );
}

#[test]
fn aggregation_and_matching() {
    let store = store(&[
        ("req{job=\"a\",code=\"200\"}", 10, "10"),
        ("req{job=\"a\",code=\"500\"}", 10, "2"),
        ("req{job=\"b\",code=\"200\"}", 10, "5"),
        ("limit{job=\"a\"}", 10, "4"),
        ("limit{job=\"b\"}", 10, "8"),
    ]);
    assert_eq!(single(eval_at(&store, "sum(req)", 0)), 17.0);
    assert_eq!(
        single(eval_at(&store, "max by (job) (req{job=\"b\"})", 0)),
        5.0
    );
    assert_eq!(
        single(eval_at(&store, "count without (code) (req{job=~\"a\"})", 0)),
        2.0
    );
    let Value::Vector(ratios) = eval_at(&store, "req / on(job) group_left limit", 0) else {
        panic!("not a vector");
    };
    assert_eq!(ratios.len(), 3);
    let Value::Vector(over) = eval_at(&store, "req > on(job) group_left limit", 0) else {
        panic!("not a vector");
    };
    assert_eq!(over.len(), 1);
    assert_eq!(over[0].labels.metric_name(), Some("req"));
    assert_eq!(over[0].value, 10.0);
}

#[test]
fn many_to_many_is_error() {
    let store = store(&[
        ("a{x=\"1\",y=\"1\"}", 10, "1"),
        ("a{x=\"1\",y=\"2\"}", 10, "1"),
        ("b{x=\"1\"}", 10, "1"),
    ]);
    let expr = Expr::parse("b + on(x) a").unwrap();
    let error = evaluate(&expr, &store, 0).unwrap_err();
    assert!(
        matches!(error, EvalError::ManyToMany { side: "right", .. }),
        "{error}"
    );
    let expr = Expr::parse("a + on(x) b").unwrap();
    let error = evaluate(&expr, &store, 0).unwrap_err();
    assert!(
        matches!(error, EvalError::ManyToOneImplicit { .. }),
        "{error}"
    );
}

#[test]
fn dropped_names_collide() {
    let store = store(&[("a", 10, "1"), ("b", 10, "2")]);
    let expr = Expr::parse("abs({__name__=~\"a|b\"})").unwrap();
    let error = evaluate(&expr, &store, 0).unwrap_err();
    assert!(
        matches!(error, EvalError::DuplicateLabelset { .. }),
        "{error}"
    );
}

#[test]
fn histogram_quantile_interpolates() {
    let store = store(&[
        ("h_bucket{le=\"0.1\"}", 10, "10"),
        ("h_bucket{le=\"0.5\"}", 10, "30"),
        ("h_bucket{le=\"+Inf\"}", 10, "40"),
    ]);
    // 0.1 + (0.5 - 0.1) * (10 / 20), with float rounding.
    assert_eq!(
        single(eval_at(&store, "histogram_quantile(0.5, h_bucket)", 0)),
        0.300_000_000_000_000_04
    );
    assert_eq!(
        single(eval_at(&store, "histogram_quantile(0.9, h_bucket)", 0)),
        0.5
    );
    assert_eq!(
        single(eval_at(&store, "histogram_quantile(2, h_bucket)", 0)),
        f64::INFINITY
    );
}

#[test]
fn scalar_functions() {
    let store = store(&[("a", 10, "3 4")]);
    assert_eq!(single(eval_at(&store, "time()", 42)), 42.0);
    assert_eq!(single(eval_at(&store, "scalar(a) * 2", 10)), 8.0);
    assert!(single(eval_at(&store, "scalar(nothing)", 10)).is_nan());
    assert_eq!(single(eval_at(&store, "vector(2) + 1", 10)), 3.0);
    assert_eq!(single(eval_at(&store, "2 > bool 1", 10)), 1.0);
}

#[test]
fn syntax_error_names_expression_and_position() {
    let error = Expr::parse("rate(foo[5m]) + $").unwrap_err();
    let message = error.to_string();
    assert!(message.contains("\"rate(foo[5m]) + $\""), "{message}");
    assert!(message.ends_with("(at character 17)"), "{message}");
    let error = Expr::parse("sum(").unwrap_err();
    assert!(matches!(error, PromqlError::Syntax { .. }), "{error}");
}

#[test]
fn unsupported_constructs_rejected_at_parse() {
    let cases = [
        ("predict_linear(x[5m], 60)", "the function predict_linear()"),
        ("rate(x[5m:1m])", "a subquery"),
        ("x @ 100", "the @ modifier"),
        ("count_values(\"v\", x)", "the aggregation count_values"),
    ];
    for (text, construct) in cases {
        match Expr::parse(text) {
            Err(PromqlError::Unsupported {
                construct: found, ..
            }) => {
                assert_eq!(found, construct, "{text}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn evaluate_at_scrapes_uses_scrape_times() {
    use crate::metrics::store::ScrapeBody;
    let mut store = Store::new();
    for (at_ms, value) in [(1000, "1"), (2000, "5"), (3000, "9")] {
        let text = format!("g {value}\n");
        let body = ScrapeBody {
            text: &text,
            content_type: "",
        };
        store.ingest_scrape("e", at_ms, Ok(body)).unwrap();
    }
    let expr = Expr::parse("g > 2").unwrap();
    let evaluations = evaluate_at_scrapes(&expr, &store, 1500, 3000).unwrap();
    let times: Vec<i64> = evaluations.iter().map(|e| e.at_ms).collect();
    assert_eq!(times, [2000, 3000]);
    assert!(evaluations.iter().all(|e| !is_empty(&e.value)));
}
