//! Aggregation operators, computed as Prometheus 2.42's `aggregation`
//! does, including its running mean for `avg` and NaN handling for `min`
//! and `max`.

use std::cmp::Ordering;
use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, LabelModifier};

use super::eval::Evaluator;
use super::quantile::quantile;
use super::value::{EvalError, Sample, Value};
use crate::metrics::labels::{Labels, METRIC_NAME};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregation {
    Sum,
    Min,
    Max,
    Avg,
    Count,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Quantile,
}

impl Aggregation {
    fn parse(name: &str) -> Result<Self, EvalError> {
        Ok(match name {
            "sum" => Self::Sum,
            "min" => Self::Min,
            "max" => Self::Max,
            "avg" => Self::Avg,
            "count" => Self::Count,
            "group" => Self::Group,
            "stddev" => Self::Stddev,
            "stdvar" => Self::Stdvar,
            "topk" => Self::Topk,
            "bottomk" => Self::Bottomk,
            "quantile" => Self::Quantile,
            other => {
                return Err(EvalError::Unsupported {
                    construct: format!("the aggregation {other}"),
                });
            }
        })
    }
}

/// Running state of one output group.
struct Group {
    labels: Labels,
    value: f64,
    mean: f64,
    count: usize,
    members: Vec<Sample>,
}

impl Group {
    fn new(labels: Labels, first: &Sample, aggregation: Aggregation) -> Self {
        let value = match aggregation {
            Aggregation::Stddev | Aggregation::Stdvar => 0.0,
            Aggregation::Group => 1.0,
            _ => first.value,
        };
        Self {
            labels,
            value,
            mean: first.value,
            count: 1,
            members: vec![first.clone()],
        }
    }

    fn add(&mut self, aggregation: Aggregation, sample: &Sample) {
        let v = sample.value;
        match aggregation {
            Aggregation::Sum => self.value += v,
            Aggregation::Avg => {
                self.count += 1;
                let count = self.count as f64;
                if self.mean.is_infinite() {
                    // An infinite mean stays as it is unless the new value
                    // is an infinity of the other sign or NaN, because the
                    // update below would compute Inf - Inf = NaN.
                    let same_infinity = v.is_infinite() && (self.mean > 0.0) == (v > 0.0);
                    if same_infinity || v.is_finite() {
                        return;
                    }
                }
                self.mean += v / count - self.mean / count;
            }
            Aggregation::Max => {
                if self.value < v || self.value.is_nan() {
                    self.value = v;
                }
            }
            Aggregation::Min => {
                if self.value > v || self.value.is_nan() {
                    self.value = v;
                }
            }
            Aggregation::Count => self.count += 1,
            Aggregation::Group => {}
            Aggregation::Stddev | Aggregation::Stdvar => {
                self.count += 1;
                let delta = v - self.mean;
                self.mean += delta / self.count as f64;
                self.value += delta * (v - self.mean);
            }
            Aggregation::Topk | Aggregation::Bottomk | Aggregation::Quantile => {
                self.members.push(sample.clone());
            }
        }
    }
}

pub(super) fn eval(evaluator: &Evaluator<'_>, expr: &AggregateExpr) -> Result<Value, EvalError> {
    let aggregation = Aggregation::parse(&expr.op.to_string())?;
    let param = match &expr.param {
        Some(param) => {
            Some(evaluator.eval_scalar(param, &format!("the parameter of {}", expr.op))?)
        }
        None => None,
    };
    let input = evaluator.eval_vector(&expr.expr, &format!("{}", expr.op))?;

    let k = match aggregation {
        Aggregation::Topk | Aggregation::Bottomk => {
            let value = param.unwrap_or(f64::NAN);
            if !(value >= i64::MIN as f64 && value <= i64::MAX as f64) {
                return Err(EvalError::ParameterOverflow {
                    aggregation: if aggregation == Aggregation::Topk {
                        "topk"
                    } else {
                        "bottomk"
                    },
                    value,
                });
            }
            let k = value as i64;
            if k < 1 {
                return Ok(Value::Vector(Vec::new()));
            }
            usize::try_from(k).unwrap_or(usize::MAX)
        }
        _ => 0,
    };

    let mut groups: Vec<Group> = Vec::new();
    let mut index_by_key: HashMap<Labels, usize> = HashMap::new();
    for sample in &input {
        let key = group_labels(&sample.labels, expr.modifier.as_ref());
        match index_by_key.get(&key) {
            Some(&index) => groups[index].add(aggregation, sample),
            None => {
                index_by_key.insert(key.clone(), groups.len());
                groups.push(Group::new(key, sample, aggregation));
            }
        }
    }

    let mut out = Vec::with_capacity(groups.len());
    for group in groups {
        let value = match aggregation {
            Aggregation::Avg => group.mean,
            Aggregation::Count => group.count as f64,
            Aggregation::Stdvar => group.value / group.count as f64,
            Aggregation::Stddev => (group.value / group.count as f64).sqrt(),
            Aggregation::Quantile => {
                let values: Vec<f64> = group.members.iter().map(|s| s.value).collect();
                quantile(param.unwrap_or(f64::NAN), values)
            }
            Aggregation::Topk | Aggregation::Bottomk => {
                out.extend(select_k(group.members, k, aggregation == Aggregation::Topk));
                continue;
            }
            _ => group.value,
        };
        out.push(Sample {
            labels: group.labels,
            value,
        });
    }
    Ok(Value::Vector(out))
}

/// Returns the output labels of a sample's group: only the `by` labels,
/// or all labels except the `without` labels and the metric name.
fn group_labels(labels: &Labels, modifier: Option<&LabelModifier>) -> Labels {
    match modifier {
        Some(LabelModifier::Include(by)) => labels.keep(&by.labels),
        Some(LabelModifier::Exclude(without)) => {
            let mut dropped = without.labels.clone();
            dropped.push(METRIC_NAME.to_owned());
            labels.without(&dropped)
        }
        None => Labels::new(),
    }
}

/// Returns the `k` largest (`largest`) or smallest samples, with their
/// original labels. NaN ranks below every number in both directions, as in
/// Prometheus. NOTE: among equal values Prometheus's heap picks an order
/// that depends on series order in its index; this picks input order.
fn select_k(mut members: Vec<Sample>, k: usize, largest: bool) -> Vec<Sample> {
    members.sort_by(|a, b| match (a.value.is_nan(), b.value.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) if largest => b.value.total_cmp(&a.value),
        (false, false) => a.value.total_cmp(&b.value),
    });
    members.truncate(k);
    members
}
