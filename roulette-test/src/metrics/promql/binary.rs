//! Binary operators, with vector matching as in Prometheus 2.42
//! (`VectorBinop`, `VectorAnd`, `VectorOr`, `VectorUnless`).

use std::collections::{HashMap, HashSet};

use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::eval::{Evaluator, check_unique_labels, wrong_type};
use super::value::{EvalError, Sample, Value};
use crate::metrics::labels::{Labels, METRIC_NAME};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl Op {
    fn parse(token: &str) -> Result<Self, EvalError> {
        Ok(match token {
            "+" => Op::Add,
            "-" => Op::Sub,
            "*" => Op::Mul,
            "/" => Op::Div,
            "%" => Op::Mod,
            "^" => Op::Pow,
            "atan2" => Op::Atan2,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            "<" => Op::Lt,
            ">=" => Op::Ge,
            "<=" => Op::Le,
            "and" => Op::And,
            "or" => Op::Or,
            "unless" => Op::Unless,
            other => {
                return Err(EvalError::Unsupported {
                    construct: format!("the operator {other}"),
                });
            }
        })
    }

    fn is_comparison(self) -> bool {
        matches!(self, Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le)
    }

    /// Arithmetic drops the metric name. Comparisons keep it unless `bool`
    /// is given, and so does `atan2` in Prometheus 2.42.
    fn drops_metric_name(self) -> bool {
        matches!(
            self,
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod | Op::Pow
        )
    }

    /// Applies the operator to two values. Returns the result and whether a
    /// comparison holds. A comparison's result is its left operand.
    fn apply(self, lhs: f64, rhs: f64) -> (f64, bool) {
        match self {
            Op::Add => (lhs + rhs, true),
            Op::Sub => (lhs - rhs, true),
            Op::Mul => (lhs * rhs, true),
            Op::Div => (lhs / rhs, true),
            // Rust's `%` on floats truncates like Go's math.Mod.
            Op::Mod => (lhs % rhs, true),
            Op::Pow => (lhs.powf(rhs), true),
            Op::Atan2 => (lhs.atan2(rhs), true),
            Op::Eq => (lhs, lhs == rhs),
            Op::Ne => (lhs, lhs != rhs),
            Op::Gt => (lhs, lhs > rhs),
            Op::Lt => (lhs, lhs < rhs),
            Op::Ge => (lhs, lhs >= rhs),
            Op::Le => (lhs, lhs <= rhs),
            Op::And | Op::Or | Op::Unless => (lhs, true),
        }
    }
}

fn bool_value(holds: bool) -> f64 {
    if holds { 1.0 } else { 0.0 }
}

pub(super) fn eval(evaluator: &Evaluator<'_>, expr: &BinaryExpr) -> Result<Value, EvalError> {
    let op = Op::parse(&expr.op.to_string())?;
    let return_bool = expr.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lhs = evaluator.eval(&expr.lhs)?;
    let rhs = evaluator.eval(&expr.rhs)?;
    let samples = match (lhs, rhs) {
        (Value::Scalar(lhs), Value::Scalar(rhs)) => {
            let (value, holds) = op.apply(lhs, rhs);
            let value = if op.is_comparison() {
                bool_value(holds)
            } else {
                value
            };
            return Ok(Value::Scalar(value));
        }
        (Value::Vector(lhs), Value::Scalar(rhs)) => vector_scalar(op, lhs, rhs, false, return_bool),
        (Value::Scalar(lhs), Value::Vector(rhs)) => vector_scalar(op, rhs, lhs, true, return_bool),
        (Value::Vector(lhs), Value::Vector(rhs)) => {
            let matching = Matching::from_expr(expr);
            match op {
                Op::And => vector_and(lhs, rhs, &matching),
                Op::Or => vector_or(lhs, rhs, &matching),
                Op::Unless => vector_unless(lhs, rhs, &matching),
                _ => vector_vector(op, lhs, rhs, &matching, return_bool)?,
            }
        }
        (lhs, rhs) => {
            let found = if matches!(lhs, Value::Scalar(_) | Value::Vector(_)) {
                rhs
            } else {
                lhs
            };
            return Err(wrong_type(
                "scalar or instant vector",
                &format!("operator {}", expr.op),
                &found,
            ));
        }
    };
    check_unique_labels(&samples)?;
    Ok(Value::Vector(samples))
}

/// Applies `op` between each vector element and a scalar. `swapped` means
/// the scalar was the left operand. A filtering comparison keeps the
/// vector element's value even when the vector is on the right.
fn vector_scalar(
    op: Op,
    vector: Vec<Sample>,
    scalar: f64,
    swapped: bool,
    return_bool: bool,
) -> Vec<Sample> {
    let mut out = Vec::with_capacity(vector.len());
    for sample in vector {
        let (lhs, rhs) = if swapped {
            (scalar, sample.value)
        } else {
            (sample.value, scalar)
        };
        let (mut value, mut keep) = op.apply(lhs, rhs);
        if op.is_comparison() && swapped {
            value = rhs;
        }
        if return_bool {
            value = bool_value(keep);
            keep = true;
        }
        if !keep {
            continue;
        }
        let labels = if op.drops_metric_name() || return_bool {
            sample.labels.without_metric_name()
        } else {
            sample.labels
        };
        out.push(Sample { labels, value });
    }
    out
}

/// The `on`/`ignoring` and `group_left`/`group_right` modifiers.
struct Matching {
    on: bool,
    labels: Vec<String>,
    cardinality: Cardinality,
    include: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cardinality {
    OneToOne,
    ManyToOne,
    OneToMany,
}

impl Matching {
    fn from_expr(expr: &BinaryExpr) -> Self {
        let modifier = expr.modifier.as_ref();
        let (on, labels) = match modifier.and_then(|m| m.matching.as_ref()) {
            Some(LabelModifier::Include(labels)) => (true, labels.labels.clone()),
            Some(LabelModifier::Exclude(labels)) => (false, labels.labels.clone()),
            None => (false, Vec::new()),
        };
        let (cardinality, include) = match modifier.map(|m| &m.card) {
            Some(VectorMatchCardinality::ManyToOne(labels)) => {
                (Cardinality::ManyToOne, labels.labels.clone())
            }
            Some(VectorMatchCardinality::OneToMany(labels)) => {
                (Cardinality::OneToMany, labels.labels.clone())
            }
            _ => (Cardinality::OneToOne, Vec::new()),
        };
        Self {
            on,
            labels,
            cardinality,
            include,
        }
    }

    /// The labels two samples must share to match. Without `on`, the
    /// metric name never takes part.
    fn signature(&self, labels: &Labels) -> Labels {
        if self.on {
            labels.keep(&self.labels)
        } else {
            let mut ignored = self.labels.clone();
            ignored.push(METRIC_NAME.to_owned());
            labels.without(&ignored)
        }
    }

    fn result_labels(&self, op: Op, many: &Labels, one: &Labels) -> Labels {
        let mut labels = if op.drops_metric_name() {
            many.without_metric_name()
        } else {
            many.clone()
        };
        if self.cardinality == Cardinality::OneToOne {
            labels = if self.on {
                labels.keep(&self.labels)
            } else {
                labels.without(&self.labels)
            };
        }
        for name in &self.include {
            match one.get(name) {
                Some(value) => labels.set(name.clone(), value.to_owned()),
                None => {
                    labels.remove(name);
                }
            }
        }
        labels
    }
}

fn vector_vector(
    op: Op,
    lhs: Vec<Sample>,
    rhs: Vec<Sample>,
    matching: &Matching,
    return_bool: bool,
) -> Result<Vec<Sample>, EvalError> {
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    // For group_right, the right side is the "many" side: swap the sides
    // for matching and swap the operands back when computing values.
    let (many, one) = if matching.cardinality == Cardinality::OneToMany {
        (rhs, lhs)
    } else {
        (lhs, rhs)
    };
    let mut one_by_signature: HashMap<Labels, &Sample> = HashMap::with_capacity(one.len());
    for sample in &one {
        let signature = matching.signature(&sample.labels);
        if let Some(duplicate) = one_by_signature.insert(signature.clone(), sample) {
            return Err(EvalError::ManyToMany {
                group: signature.to_string(),
                side: if matching.cardinality == Cardinality::OneToMany {
                    "left"
                } else {
                    "right"
                },
                series: format!("{}, {}", sample.labels, duplicate.labels),
            });
        }
    }
    let mut matched_signatures = HashSet::new();
    let mut inserted = HashSet::new();
    let mut out = Vec::new();
    for many_sample in &many {
        let signature = matching.signature(&many_sample.labels);
        let Some(one_sample) = one_by_signature.get(&signature) else {
            continue;
        };
        let (lhs_value, rhs_value) = if matching.cardinality == Cardinality::OneToMany {
            (one_sample.value, many_sample.value)
        } else {
            (many_sample.value, one_sample.value)
        };
        let (mut value, keep) = op.apply(lhs_value, rhs_value);
        if return_bool {
            value = bool_value(keep);
        } else if !keep {
            continue;
        }
        let mut labels = matching.result_labels(op, &many_sample.labels, &one_sample.labels);
        if return_bool {
            labels.remove(METRIC_NAME);
        }
        if matching.cardinality == Cardinality::OneToOne {
            if !matched_signatures.insert(signature.clone()) {
                return Err(EvalError::ManyToOneImplicit {
                    group: signature.to_string(),
                });
            }
        } else if !inserted.insert(labels.clone()) {
            return Err(EvalError::GroupingNotUnique {
                labels: labels.to_string(),
            });
        }
        out.push(Sample { labels, value });
    }
    Ok(out)
}

fn signatures(samples: &[Sample], matching: &Matching) -> HashSet<Labels> {
    samples
        .iter()
        .map(|s| matching.signature(&s.labels))
        .collect()
}

fn vector_and(lhs: Vec<Sample>, rhs: Vec<Sample>, matching: &Matching) -> Vec<Sample> {
    if lhs.is_empty() || rhs.is_empty() {
        return Vec::new();
    }
    let right = signatures(&rhs, matching);
    lhs.into_iter()
        .filter(|s| right.contains(&matching.signature(&s.labels)))
        .collect()
}

fn vector_or(lhs: Vec<Sample>, rhs: Vec<Sample>, matching: &Matching) -> Vec<Sample> {
    let left = signatures(&lhs, matching);
    let mut out = lhs;
    out.extend(
        rhs.into_iter()
            .filter(|s| !left.contains(&matching.signature(&s.labels))),
    );
    out
}

fn vector_unless(lhs: Vec<Sample>, rhs: Vec<Sample>, matching: &Matching) -> Vec<Sample> {
    let right = signatures(&rhs, matching);
    lhs.into_iter()
        .filter(|s| !right.contains(&matching.signature(&s.labels)))
        .collect()
}
