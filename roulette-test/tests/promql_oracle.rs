//! Differential test of the PromQL evaluator against Prometheus's own
//! engine, run through `promtool test rules` (Prometheus 2.42).
//!
//! A seeded generator writes test groups of series with counter resets,
//! gaps (`_`), staleness markers (`stale`), NaN values and a different
//! sample interval per group, plus expressions over every supported
//! function and operator at varied evaluation times. This evaluator's
//! result for each case becomes the case's `exp_samples`, and promtool
//! reports every case where Prometheus gets something else. A reported
//! case still agrees if all values match within 1e-9 relative error (or
//! are both NaN), because promtool compares floats exactly. A case where
//! this evaluator fails must fail in promtool as well.
//!
//! promtool must be installed (Debian package `prometheus`). Set
//! `PROMQL_ORACLE_SEED` to replay another seed, and `PROMQL_ORACLE_KEEP_DIR`
//! to an existing directory to keep the generated promtool test files.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::process::Command;

use regex::Regex;
use roulette_test::metrics::labels::{Labels, METRIC_NAME};
use roulette_test::metrics::promql::{Expr, Value, evaluate};
use roulette_test::metrics::store::{Point, Store, stale_nan};

mod oracle_cases;

use oracle_cases::{Rng, SeriesSpec, generate_expressions, generate_series};

const DEFAULT_SEED: u64 = 0x5eed_2042;
const GROUPS: usize = 12;
const CASES_PER_GROUP: usize = 60;
const MAX_RELATIVE_ERROR: f64 = 1e-9;

/// One expression evaluated at one time, with this evaluator's result.
struct Case {
    expr: String,
    at_ms: i64,
    ours: Result<Vec<(Labels, f64)>, String>,
}

#[test]
fn promql_matches_promtool() {
    let promtool = which_promtool();
    let seed = std::env::var("PROMQL_ORACLE_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let dir_path = match std::env::var("PROMQL_ORACLE_KEEP_DIR") {
        Ok(path) => std::path::PathBuf::from(path),
        Err(_) => dir.path().to_owned(),
    };

    let mut total = 0;
    let mut non_empty = 0;
    let mut errors = 0;
    let mut disagreements = Vec::new();
    let mut covered = BTreeSet::new();
    for group in 0..GROUPS {
        let interval_s = [5, 10, 15, 20, 30, 60][group % 6];
        let steps = 30 + rng.below(20) as usize;
        let series = generate_series(&mut rng, steps);
        let store = build_store(&series, interval_s);
        let span_ms = (steps as i64 - 1) * interval_s * 1000;
        let cases = build_cases(&mut rng, &store, span_ms);
        for case in &cases {
            covered.extend(oracle_cases::covered_names(&case.expr));
            match &case.ours {
                Ok(samples) if !samples.is_empty() => non_empty += 1,
                Ok(_) => {}
                Err(_) => errors += 1,
            }
        }
        total += cases.len();

        let path = dir_path.join(format!("group-{group}.yml"));
        std::fs::write(&path, write_test_file(&series, interval_s, &cases)).unwrap();
        let output = Command::new(&promtool)
            .arg("test")
            .arg("rules")
            .arg(&path)
            .output()
            .expect("failed to run promtool");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr);
        let report = format!("{stdout}\n{stderr}");
        if !output.status.success() && !report.contains("FAILED:") {
            panic!(
                "promtool failed on {} without test results:\n{report}",
                path.display()
            );
        }
        disagreements.extend(compare(&cases, &report, group));
    }

    println!(
        "promql oracle: seed {seed:#x}, {total} cases ({non_empty} non-empty, {errors} errors in both engines)"
    );
    println!(
        "covered: {}",
        covered.iter().cloned().collect::<Vec<_>>().join(", ")
    );
    assert!(total >= 500, "only {total} cases");
    assert!(
        non_empty * 2 > total,
        "only {non_empty} of {total} cases returned samples; the generator is too weak"
    );
    let missing: Vec<&&str> = oracle_cases::REQUIRED_NAMES
        .iter()
        .filter(|name| !covered.contains(**name))
        .collect();
    assert!(missing.is_empty(), "not covered: {missing:?}");
    assert!(
        disagreements.is_empty(),
        "{} of {total} cases disagree with promtool:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

fn which_promtool() -> String {
    let candidate = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into());
    match Command::new(&candidate).arg("--version").output() {
        Ok(output) if output.status.success() => candidate,
        _ => panic!(
            "promtool not found (tried {candidate:?}); install Prometheus 2.42 with `apt-get install prometheus` or set PROMTOOL to its path"
        ),
    }
}

fn build_store(series: &[SeriesSpec], interval_s: i64) -> Store {
    let mut store = Store::new();
    for spec in series {
        for (index, value) in spec.values.iter().enumerate() {
            let v = match value.as_str() {
                "_" => continue,
                "stale" => stale_nan(),
                number => number.parse().unwrap(),
            };
            let point = Point {
                t: index as i64 * interval_s * 1000,
                v,
            };
            store.append(spec.labels.clone(), point).unwrap();
        }
    }
    store
}

fn build_cases(rng: &mut Rng, store: &Store, span_ms: i64) -> Vec<Case> {
    let mut seen = BTreeSet::new();
    let mut cases = Vec::new();
    for expr in generate_expressions(rng, CASES_PER_GROUP) {
        // Mostly inside the data, sometimes up to 6 minutes past its end
        // to exercise the lookback delta, and sometimes off the sample grid.
        let mut at_ms = rng.below(span_ms as u64 + 360_000) as i64;
        if rng.below(3) > 0 {
            at_ms -= at_ms % 5000;
        }
        if !seen.insert((expr.clone(), at_ms)) {
            continue;
        }
        let parsed = Expr::parse(&expr).unwrap_or_else(|error| panic!("{error}"));
        let ours = match evaluate(&parsed, store, at_ms) {
            Ok(Value::Scalar(value)) => Ok(vec![(Labels::new(), value)]),
            Ok(Value::Vector(samples)) => {
                Ok(samples.into_iter().map(|s| (s.labels, s.value)).collect())
            }
            Ok(other) => {
                panic!("{expr} returned {other:?}; the generator must produce scalars or vectors")
            }
            Err(error) => Err(error.to_string()),
        };
        cases.push(Case { expr, at_ms, ours });
    }
    cases
}

fn write_test_file(series: &[SeriesSpec], interval_s: i64, cases: &[Case]) -> String {
    // evaluation_interval must be small: promtool loads input samples only
    // up to the last rule evaluation tick before the latest eval_time.
    let mut yaml = String::from("rule_files: []\nevaluation_interval: 1s\ntests:\n");
    writeln!(yaml, "  - interval: {interval_s}s\n    input_series:").unwrap();
    for spec in series {
        writeln!(yaml, "      - series: '{}'", promql_labels(&spec.labels)).unwrap();
        writeln!(yaml, "        values: '{}'", spec.values.join(" ")).unwrap();
    }
    yaml.push_str("    promql_expr_test:\n");
    for case in cases {
        writeln!(yaml, "      - expr: '{}'", case.expr.replace('\'', "''")).unwrap();
        writeln!(yaml, "        eval_time: {}ms", case.at_ms).unwrap();
        yaml.push_str("        exp_samples:\n");
        for (labels, value) in case.ours.as_ref().map(Vec::as_slice).unwrap_or_default() {
            writeln!(yaml, "          - labels: '{}'", promql_labels(labels)).unwrap();
            writeln!(yaml, "            value: {}", yaml_float(*value)).unwrap();
        }
    }
    yaml
}

/// Formats labels as `{__name__="x", a="1"}`, which promtool parses.
fn promql_labels(labels: &Labels) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|label| format!("{}=\"{}\"", label.name, label.value))
        .collect();
    format!("{{{}}}", pairs.join(", "))
}

fn yaml_float(value: f64) -> String {
    if value.is_nan() {
        ".nan".into()
    } else if value == f64::INFINITY {
        ".inf".into()
    } else if value == f64::NEG_INFINITY {
        "-.inf".into()
    } else {
        format!("{value:e}")
    }
}

/// Formats milliseconds as Prometheus's model.Duration does, as promtool
/// prints evaluation times: "0s", "5m", "1m15s500ms", "1d2h". Years and
/// weeks appear only when they divide the duration exactly.
fn prometheus_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut rest = ms;
    let mut text = String::new();
    let units: [(&str, i64, bool); 7] = [
        ("y", 365 * 24 * 3_600_000, true),
        ("w", 7 * 24 * 3_600_000, true),
        ("d", 24 * 3_600_000, false),
        ("h", 3_600_000, false),
        ("m", 60_000, false),
        ("s", 1000, false),
        ("ms", 1, false),
    ];
    for (unit, size, exact) in units {
        if exact && rest % size != 0 {
            continue;
        }
        let count = rest / size;
        if count > 0 {
            write!(text, "{count}{unit}").unwrap();
            rest -= count * size;
        }
    }
    text
}

/// Quotes as Go's %q does for ASCII text.
fn go_quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// What promtool reported for one case.
enum Reported {
    Error(String),
    Got(Vec<(Labels, f64)>),
}

fn parse_report(report: &str) -> HashMap<String, Reported> {
    let header =
        Regex::new(r#"^\s*expr: ("(?:[^"\\]|\\.)*"), time: ([0-9ywdhms]+),(?: err: (.*))?$"#)
            .unwrap();
    let sample = Regex::new(r"(\{[^}]*\}) (\S+?)(?:,|$)").unwrap();
    let label = Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)""#).unwrap();
    let mut reported = HashMap::new();
    let mut current: Option<String> = None;
    for line in report.lines() {
        if let Some(captures) = header.captures(line) {
            let key = format!("{}@{}", &captures[1], &captures[2]);
            if let Some(message) = captures.get(3) {
                reported.insert(key, Reported::Error(message.as_str().to_owned()));
                current = None;
            } else {
                current = Some(key);
            }
            continue;
        }
        let Some(got) = line.trim_start().strip_prefix("got:") else {
            continue;
        };
        let Some(key) = current.take() else {
            continue;
        };
        let samples = sample
            .captures_iter(got)
            .map(|captures| {
                let labels = Labels::from_pairs(
                    label
                        .captures_iter(&captures[1])
                        .map(|pair| (pair[1].to_owned(), pair[2].to_owned())),
                );
                let value: f64 = captures[2]
                    .parse()
                    .unwrap_or_else(|_| panic!("value in {line}"));
                (labels, value)
            })
            .collect();
        reported.insert(key, Reported::Got(samples));
    }
    reported
}

fn values_agree(ours: f64, theirs: f64) -> bool {
    if ours.is_nan() || theirs.is_nan() {
        return ours.is_nan() && theirs.is_nan();
    }
    if ours == theirs {
        return true;
    }
    (ours - theirs).abs() <= MAX_RELATIVE_ERROR * ours.abs().max(theirs.abs())
}

fn samples_agree(ours: &[(Labels, f64)], theirs: &[(Labels, f64)]) -> bool {
    if ours.len() != theirs.len() {
        return false;
    }
    let by_labels: HashMap<&Labels, f64> = theirs.iter().map(|(l, v)| (l, *v)).collect();
    ours.iter().all(|(labels, value)| {
        by_labels
            .get(labels)
            .is_some_and(|theirs| values_agree(*value, *theirs))
    })
}

fn case_key(case: &Case) -> String {
    format!(
        "{}@{}",
        go_quote(&case.expr),
        prometheus_duration(case.at_ms)
    )
}

fn compare(cases: &[Case], report: &str, group: usize) -> Vec<String> {
    let reported = parse_report(report);
    let mut disagreements = Vec::new();
    let keys: BTreeSet<String> = cases.iter().map(case_key).collect();
    for key in reported.keys().filter(|key| !keys.contains(*key)) {
        disagreements.push(format!(
            "group {group}: promtool reported {key}, which matches no case; the report parser is out of date"
        ));
    }
    for case in cases {
        let key = format!(
            "{}@{}",
            go_quote(&case.expr),
            prometheus_duration(case.at_ms)
        );
        let describe = |theirs: &str| {
            format!(
                "group {group}: {} at {} ms\n  ours:     {}\n  promtool: {theirs}",
                case.expr,
                case.at_ms,
                match &case.ours {
                    Ok(samples) => format!("{samples:?}"),
                    Err(error) => format!("error: {error}"),
                }
            )
        };
        match (&case.ours, reported.get(&key)) {
            (Ok(_), None) => {}
            (Err(_), Some(Reported::Error(_))) => {}
            (Err(_), None) => disagreements.push(describe("no error")),
            (Ok(_), Some(Reported::Error(message))) => {
                disagreements.push(describe(&format!("error: {message}")));
            }
            (Err(_), Some(Reported::Got(samples))) => {
                disagreements.push(describe(&format!("{samples:?}")));
            }
            (Ok(ours), Some(Reported::Got(theirs))) => {
                if !samples_agree(ours, theirs) {
                    disagreements.push(describe(&format!("{theirs:?}")));
                }
            }
        }
    }
    disagreements
}

#[test]
fn prometheus_duration_format() {
    let cases = [
        (0, "0s"),
        (500, "500ms"),
        (15_000, "15s"),
        (300_000, "5m"),
        (75_500, "1m15s500ms"),
        (3_600_000, "1h"),
        (3_723_250, "1h2m3s250ms"),
        (8 * 24 * 3_600_000, "8d"),
        (7 * 24 * 3_600_000, "1w"),
    ];
    for (ms, expected) in cases {
        assert_eq!(prometheus_duration(ms), expected, "{ms}");
    }
}

#[test]
fn metric_name_label_is_first() {
    let labels = Labels::from_pairs([("a", "1"), (METRIC_NAME, "x")]);
    assert_eq!(promql_labels(&labels), "{__name__=\"x\", a=\"1\"}");
}
