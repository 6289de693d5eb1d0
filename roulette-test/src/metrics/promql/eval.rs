//! The evaluator: expression dispatch and series selection.

use std::collections::HashSet;
use std::time::Duration;

use promql_parser::label::Matchers;
use promql_parser::parser::{Expr, MatrixSelector, Offset, VectorSelector};

use super::value::{EvalError, RangeSeries, Sample, Value};
use super::{LOOKBACK_DELTA_MS, aggregate, binary, functions};
use crate::metrics::labels::Labels;
use crate::metrics::store::{Store, is_stale_nan};

/// A range vector argument with the bounds of its range.
pub(super) struct RangeInput {
    pub(super) series: Vec<RangeSeries>,
    pub(super) start_ms: i64,
    pub(super) end_ms: i64,
    pub(super) range_ms: i64,
}

pub(super) struct Evaluator<'a> {
    store: &'a Store,
    at_ms: i64,
}

impl<'a> Evaluator<'a> {
    pub(super) fn new(store: &'a Store, at_ms: i64) -> Self {
        Self { store, at_ms }
    }

    /// Returns the evaluation time in milliseconds.
    pub(super) fn at_ms(&self) -> i64 {
        self.at_ms
    }

    pub(super) fn eval(&self, expr: &Expr) -> Result<Value, EvalError> {
        match expr {
            Expr::NumberLiteral(number) => Ok(Value::Scalar(number.val)),
            Expr::StringLiteral(string) => Ok(Value::String(string.val.clone())),
            Expr::Paren(paren) => self.eval(&paren.expr),
            Expr::Unary(unary) => match self.eval(&unary.expr)? {
                Value::Scalar(value) => Ok(Value::Scalar(-value)),
                Value::Vector(samples) => {
                    // Negation drops the metric name, as every arithmetic
                    // operation does.
                    let negated: Vec<Sample> = samples
                        .into_iter()
                        .map(|sample| Sample {
                            labels: sample.labels.without_metric_name(),
                            value: -sample.value,
                        })
                        .collect();
                    check_unique_labels(&negated)?;
                    Ok(Value::Vector(negated))
                }
                other => Err(wrong_type("scalar or instant vector", "unary -", &other)),
            },
            Expr::VectorSelector(selector) => Ok(Value::Vector(self.instant_selector(selector))),
            Expr::MatrixSelector(selector) => Ok(Value::Matrix(self.range_selector(selector))),
            Expr::Binary(binary) => binary::eval(self, binary),
            Expr::Aggregate(aggregate) => aggregate::eval(self, aggregate),
            Expr::Call(call) => functions::eval(self, call),
            Expr::Subquery(_) => Err(EvalError::Unsupported {
                construct: "a subquery".into(),
            }),
            Expr::Extension(_) => Err(EvalError::Unsupported {
                construct: "an extension expression".into(),
            }),
        }
    }

    pub(super) fn eval_scalar(&self, expr: &Expr, context: &str) -> Result<f64, EvalError> {
        match self.eval(expr)? {
            Value::Scalar(value) => Ok(value),
            other => Err(wrong_type("scalar", context, &other)),
        }
    }

    pub(super) fn eval_vector(&self, expr: &Expr, context: &str) -> Result<Vec<Sample>, EvalError> {
        match self.eval(expr)? {
            Value::Vector(samples) => Ok(samples),
            other => Err(wrong_type("instant vector", context, &other)),
        }
    }

    /// Evaluates the range vector argument of a function. Only range
    /// selectors produce range vectors, because subqueries are unsupported.
    pub(super) fn eval_range(&self, expr: &Expr, context: &str) -> Result<RangeInput, EvalError> {
        match expr {
            Expr::MatrixSelector(selector) => {
                let end_ms = self.at_ms - offset_ms(&selector.vs.offset);
                let range_ms = duration_ms(selector.range);
                Ok(RangeInput {
                    series: self.range_selector(selector),
                    start_ms: end_ms - range_ms,
                    end_ms,
                    range_ms,
                })
            }
            Expr::Paren(paren) => self.eval_range(&paren.expr, context),
            other => Err(EvalError::WrongType {
                expected: "range vector selector",
                context: context.to_owned(),
                found: match other {
                    Expr::Subquery(_) => "subquery",
                    _ => "an expression of another type",
                },
            }),
        }
    }

    /// Selects the latest sample of each matching series at or before the
    /// evaluation time minus the offset. In Prometheus 2.42 a sample exactly
    /// [`LOOKBACK_DELTA_MS`] old still counts, and a series whose latest
    /// sample is a staleness marker is absent.
    fn instant_selector(&self, selector: &VectorSelector) -> Vec<Sample> {
        let reference = self.at_ms - offset_ms(&selector.offset);
        let mut samples = Vec::new();
        for (labels, points) in self.store.series() {
            if !matches(selector, labels) {
                continue;
            }
            let end = points.partition_point(|point| point.t <= reference);
            let Some(latest) = end.checked_sub(1).map(|index| points[index]) else {
                continue;
            };
            if latest.t < reference - LOOKBACK_DELTA_MS || is_stale_nan(latest.v) {
                continue;
            }
            samples.push(Sample {
                labels: labels.clone(),
                value: latest.v,
            });
        }
        samples
    }

    /// Selects the points of each matching series in the closed interval
    /// `[t - offset - range, t - offset]`. Prometheus 2.x includes the left
    /// boundary (3.0 excludes it). Staleness markers are left out, and
    /// series with no points in the range are dropped.
    pub(super) fn range_selector(&self, selector: &MatrixSelector) -> Vec<RangeSeries> {
        let end_ms = self.at_ms - offset_ms(&selector.vs.offset);
        let start_ms = end_ms - duration_ms(selector.range);
        let mut series = Vec::new();
        for (labels, points) in self.store.series() {
            if !matches(&selector.vs, labels) {
                continue;
            }
            let first = points.partition_point(|point| point.t < start_ms);
            let last = points.partition_point(|point| point.t <= end_ms);
            let in_range: Vec<_> = points[first..last]
                .iter()
                .filter(|point| !is_stale_nan(point.v))
                .copied()
                .collect();
            if !in_range.is_empty() {
                series.push(RangeSeries {
                    labels: labels.clone(),
                    points: in_range,
                });
            }
        }
        series
    }
}

fn matches(selector: &VectorSelector, labels: &Labels) -> bool {
    let name_differs = selector
        .name
        .as_deref()
        .is_some_and(|name| labels.metric_name() != Some(name));
    if name_differs {
        return false;
    }
    matchers_match(&selector.matchers, labels)
}

/// Applies each matcher to the label's value, or to "" when the label is
/// absent, so `{a=""}` selects series without `a`. Regular expressions are
/// fully anchored, as the parser compiles them.
fn matchers_match(matchers: &Matchers, labels: &Labels) -> bool {
    matchers
        .matchers
        .iter()
        .all(|matcher| matcher.is_match(labels.get(&matcher.name).unwrap_or("")))
}

pub(super) fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(duration)) => duration_ms(*duration),
        Some(Offset::Neg(duration)) => -duration_ms(*duration),
    }
}

pub(super) fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// Fails when two samples have the same labels, as Prometheus 2.42 does
/// after each function, operator and aggregation step.
pub(super) fn check_unique_labels(samples: &[Sample]) -> Result<(), EvalError> {
    let mut seen = HashSet::with_capacity(samples.len());
    for sample in samples {
        if !seen.insert(&sample.labels) {
            return Err(EvalError::DuplicateLabelset {
                labels: sample.labels.to_string(),
            });
        }
    }
    Ok(())
}

pub(super) fn wrong_type(expected: &'static str, context: &str, found: &Value) -> EvalError {
    EvalError::WrongType {
        expected,
        context: context.to_owned(),
        found: found.type_name(),
    }
}
