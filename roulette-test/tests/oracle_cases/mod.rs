//! Seeded generators of input series and PromQL expressions for the
//! promtool differential test.

use regex::Regex;
use roulette_test::metrics::labels::{Labels, METRIC_NAME};

/// Functions, aggregations, modifiers and operators that the generated
/// expressions must cover in every run.
pub const REQUIRED_NAMES: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "idelta",
    "resets",
    "changes",
    "deriv",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "sum_over_time",
    "count_over_time",
    "last_over_time",
    "quantile_over_time",
    "histogram_quantile",
    "abs",
    "clamp_min",
    "clamp_max",
    "scalar",
    "vector",
    "time",
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "topk",
    "bottomk",
    "quantile",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "==",
    "!=",
    ">",
    "<",
    ">=",
    "<=",
    "and",
    "or",
    "unless",
    "=~",
    "!~",
];

const EXTRA_NAMES: &[&str] = &[
    "stddev_over_time",
    "stdvar_over_time",
    "present_over_time",
    "ceil",
    "floor",
    "exp",
    "ln",
    "log2",
    "log10",
    "sqrt",
    "sgn",
    "round",
    "clamp",
    "group",
    "stddev",
    "stdvar",
    "atan2",
];

/// Small deterministic generator (SplitMix64), so a seed replays a run.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Returns a number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

/// One input series: labels and one value per step (`_` for no sample,
/// `stale` for a staleness marker).
pub struct SeriesSpec {
    pub labels: Labels,
    pub values: Vec<String>,
}

const TARGETS: &[(&str, &str)] = &[("a", "0"), ("a", "1"), ("b", "0"), ("b", "2")];
const BUCKETS: &[&str] = &["0.1", "0.5", "1", "+Inf"];

fn labels(name: &str, pairs: &[(&str, &str)]) -> Labels {
    let mut labels = Labels::from_pairs(pairs.iter().copied());
    labels.set(METRIC_NAME.into(), name.into());
    labels
}

/// Replaces some values with gaps and staleness markers.
fn punch_holes(rng: &mut Rng, values: &mut [String]) {
    for value in values.iter_mut().skip(1) {
        if rng.chance(7) {
            *value = "_".into();
        } else if rng.chance(3) {
            *value = "stale".into();
        }
    }
}

/// Generates counters `ctr` and gauges `gauge` for each (job, inst) and
/// cumulative histogram buckets `lat_bucket` for each job.
pub fn generate_series(rng: &mut Rng, steps: usize) -> Vec<SeriesSpec> {
    let mut series = Vec::new();
    for (job, inst) in TARGETS {
        let mut counter = rng.below(100) as f64;
        let mut values = Vec::with_capacity(steps);
        for _ in 0..steps {
            if rng.chance(5) {
                counter = rng.below(5) as f64;
            } else {
                counter += rng.below(200) as f64 / 10.0;
            }
            values.push(format!("{counter:.1}"));
        }
        punch_holes(rng, &mut values);
        series.push(SeriesSpec {
            labels: labels("ctr", &[("job", job), ("inst", inst)]),
            values,
        });

        let mut values: Vec<String> = (0..steps)
            .map(|_| {
                if rng.chance(2) {
                    "NaN".to_owned()
                } else {
                    format!("{:.2}", rng.below(10_000) as f64 / 100.0 - 50.0)
                }
            })
            .collect();
        punch_holes(rng, &mut values);
        series.push(SeriesSpec {
            labels: labels("gauge", &[("job", job), ("inst", inst)]),
            values,
        });
    }
    for job in ["a", "b"] {
        let mut counts = [0u64; 4];
        let mut columns: Vec<Vec<String>> = vec![Vec::new(); BUCKETS.len()];
        for _ in 0..steps {
            if rng.chance(4) {
                counts = [0; 4];
            }
            let mut cumulative = 0;
            for (bucket, count) in counts.iter_mut().enumerate() {
                cumulative += rng.below(6);
                *count += cumulative;
                columns[bucket].push(count.to_string());
            }
            let missing = rng.chance(6);
            for column in &mut columns {
                if missing {
                    *column.last_mut().unwrap() = "_".into();
                }
            }
        }
        for (le, values) in BUCKETS.iter().zip(columns) {
            series.push(SeriesSpec {
                labels: labels("lat_bucket", &[("job", job), ("le", le)]),
                values,
            });
        }
    }
    series
}

fn selector(rng: &mut Rng, metric: &str) -> String {
    let matcher = rng.pick(&[
        "",
        "",
        "{job=\"a\"}",
        "{job!=\"a\"}",
        "{inst=~\"0|1\"}",
        "{inst!~\"1\"}",
        "{job=~\"b.*\"}",
    ]);
    format!("{metric}{matcher}")
}

fn offset(rng: &mut Rng) -> &'static str {
    if rng.chance(15) {
        rng.pick(&[" offset 30s", " offset 1m", " offset 2m"])
    } else {
        ""
    }
}

fn range(rng: &mut Rng, metric: &str) -> String {
    let duration = rng.pick(&["30s", "1m", "90s", "2m", "5m", "10m"]);
    format!("{}[{duration}]{}", selector(rng, metric), offset(rng))
}

fn instant(rng: &mut Rng, metric: &str) -> String {
    format!("{}{}", selector(rng, metric), offset(rng))
}

fn phi(rng: &mut Rng) -> &'static str {
    rng.pick(&["0", "0.25", "0.5", "0.9", "0.99", "1", "-0.5", "1.5"])
}

fn grouping(rng: &mut Rng) -> &'static str {
    rng.pick(&[
        "",
        " by (job)",
        " without (inst)",
        " by (job, inst)",
        " without (job)",
        " by ()",
    ])
}

fn number(rng: &mut Rng) -> &'static str {
    rng.pick(&["0", "2", "-3", "0.5", "10", "25"])
}

fn comparison(rng: &mut Rng) -> String {
    let op = rng.pick(&["==", "!=", ">", "<", ">=", "<="]);
    if rng.chance(40) {
        format!("{op} bool")
    } else {
        op.to_owned()
    }
}

/// Generates `count` expressions over the series of [`generate_series`].
pub fn generate_expressions(rng: &mut Rng, count: usize) -> Vec<String> {
    (0..count).map(|_| expression(rng)).collect()
}

fn expression(rng: &mut Rng) -> String {
    match rng.below(16) {
        0 => {
            let function = rng.pick(&["rate", "irate", "increase", "resets", "changes"]);
            format!("{function}({})", range(rng, "ctr"))
        }
        1 | 2 => {
            let function = rng.pick(&[
                "delta",
                "idelta",
                "deriv",
                "min_over_time",
                "max_over_time",
                "avg_over_time",
                "sum_over_time",
                "count_over_time",
                "last_over_time",
                "stddev_over_time",
                "stdvar_over_time",
                "present_over_time",
                "changes",
                "resets",
            ]);
            let metric = rng.pick(&["gauge", "gauge", "ctr"]);
            format!("{function}({})", range(rng, metric))
        }
        3 => format!("quantile_over_time({}, {})", phi(rng), range(rng, "gauge")),
        4 => {
            let inner = match rng.below(4) {
                0 => format!("rate({})", range(rng, "lat_bucket")),
                1 => instant(rng, "lat_bucket"),
                2 => format!("sum by (le) (increase({}))", range(rng, "lat_bucket")),
                _ => format!("sum without (job) ({})", instant(rng, "lat_bucket")),
            };
            format!("histogram_quantile({}, {inner})", phi(rng))
        }
        5 => {
            let gauge = instant(rng, "gauge");
            match rng.below(6) {
                0 => format!("clamp_min({gauge}, {})", number(rng)),
                1 => format!("clamp_max({gauge}, {})", number(rng)),
                2 => format!("clamp({gauge}, {}, {})", number(rng), number(rng)),
                3 => format!("round({gauge}, {})", rng.pick(&["0.5", "3", "1"])),
                _ => {
                    let function = rng.pick(&[
                        "abs", "ceil", "floor", "sqrt", "exp", "ln", "log2", "log10", "sgn",
                        "round",
                    ]);
                    format!("{function}({gauge})")
                }
            }
        }
        6 => match rng.below(5) {
            0 => format!("scalar({})", instant(rng, "gauge")),
            1 => "vector(time())".into(),
            2 => "time()".into(),
            3 => format!("scalar(sum({})) * 2", instant(rng, "ctr")),
            _ => format!(
                "vector(scalar({}{{job=\"a\",inst=\"0\"}}))",
                rng.pick(&["ctr", "gauge"])
            ),
        },
        7 | 8 => {
            let aggregation = rng.pick(&[
                "sum", "min", "max", "avg", "count", "group", "stddev", "stdvar",
            ]);
            let inner = match rng.below(3) {
                0 => instant(rng, "gauge"),
                1 => instant(rng, "ctr"),
                _ => format!("rate({})", range(rng, "ctr")),
            };
            format!("{aggregation}{} ({inner})", grouping(rng))
        }
        9 => {
            let metric = rng.pick(&["gauge", "ctr"]);
            let inner = instant(rng, metric);
            match rng.below(3) {
                0 => format!(
                    "topk{} ({}, {inner})",
                    grouping(rng),
                    rng.pick(&["1", "2", "3", "10", "0", "1.5"])
                ),
                1 => format!(
                    "bottomk{} ({}, {inner})",
                    grouping(rng),
                    rng.pick(&["1", "2", "3", "10"])
                ),
                _ => format!("quantile{} ({}, {inner})", grouping(rng), phi(rng)),
            }
        }
        10 => {
            let gauge = instant(rng, "gauge");
            let number = number(rng);
            if rng.chance(50) {
                let op = rng.pick(&["+", "-", "*", "/", "%", "^", "atan2"]);
                if rng.chance(50) {
                    format!("{gauge} {op} {number}")
                } else {
                    format!("{number} {op} {gauge}")
                }
            } else if rng.chance(50) {
                format!("{gauge} {} {number}", comparison(rng))
            } else {
                format!("{number} {} {gauge}", comparison(rng))
            }
        }
        11 | 12 => {
            let lhs = instant(rng, "gauge");
            let rhs = instant(rng, "ctr");
            let op = if rng.chance(50) {
                rng.pick(&["+", "-", "*", "/", "%", "atan2"]).to_owned()
            } else {
                comparison(rng)
            };
            let matching = rng.pick(&["", "", " on(job, inst)", " ignoring(inst)", " on(job)"]);
            format!("{lhs} {op}{matching} {rhs}")
        }
        13 => match rng.below(5) {
            0 => format!(
                "{} / ignoring(inst) group_left sum by (job) ({})",
                instant(rng, "ctr"),
                instant(rng, "gauge")
            ),
            1 => format!(
                "sum by (job) ({}) {} on(job) group_right {}",
                instant(rng, "ctr"),
                rng.pick(&["-", "/", ">", "< bool"]),
                instant(rng, "gauge")
            ),
            2 => format!(
                "{} * on(job) group_left(le) {}",
                instant(rng, "ctr"),
                "lat_bucket{le=\"+Inf\"}"
            ),
            3 => format!(
                "{} > ignoring(inst) group_left max by (job) ({})",
                instant(rng, "gauge"),
                instant(rng, "gauge")
            ),
            _ => format!(
                "sum by (job) (rate({})) / on(job) group_left count by (job) ({})",
                range(rng, "ctr"),
                instant(rng, "gauge")
            ),
        },
        14 => match rng.below(5) {
            0 => format!("{} and {} > 50", instant(rng, "gauge"), instant(rng, "ctr")),
            1 => format!("{} or vector(0)", instant(rng, "gauge")),
            2 => format!(
                "{} unless {} < 0",
                instant(rng, "gauge"),
                instant(rng, "gauge")
            ),
            3 => format!(
                "{} > 0 and on(job) {} > 100",
                instant(rng, "gauge"),
                instant(rng, "ctr")
            ),
            _ => format!(
                "{} or on(inst) {}",
                instant(rng, "ctr"),
                instant(rng, "gauge")
            ),
        },
        _ => match rng.below(6) {
            0 => rng
                .pick(&[
                    "1 + 2 * 3",
                    "2 ^ 3 ^ 2",
                    "5 % 3",
                    "(1 > bool 2) + 1",
                    "time() / 60 - 3",
                ])
                .into(),
            1 => format!("-{}", instant(rng, "gauge")),
            2 => format!("-rate({})", range(rng, "ctr")),
            3 => format!("max_over_time({0}) - min_over_time({0})", range(rng, "ctr")),
            4 => format!("abs(delta({}))", range(rng, "gauge")),
            _ => format!("avg(rate({}) > 0.5)", range(rng, "ctr")),
        },
    }
}

/// Returns the names from [`REQUIRED_NAMES`] and the extra list that
/// `expr` uses.
pub fn covered_names(expr: &str) -> Vec<&'static str> {
    let mut names = Vec::new();
    for &name in REQUIRED_NAMES.iter().chain(EXTRA_NAMES) {
        let pattern = if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            format!(r"\b{name}\b")
        } else if name == "=~" || name == "!~" {
            regex::escape(name)
        } else {
            format!(r"\s{}\s", regex::escape(name))
        };
        if Regex::new(&pattern).unwrap().is_match(expr) {
            names.push(name);
        }
    }
    // The unary minus and time() of a leading "-" or "time()" count too.
    if expr.starts_with('-') {
        names.push("-");
    }
    names
}
