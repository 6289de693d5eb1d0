//! Function calls: dispatch and the functions over scalars and instant
//! vectors.

use promql_parser::parser::Call;

use super::eval::{Evaluator, check_unique_labels};
use super::quantile::histogram_quantile;
use super::range_functions;
use super::support::RANGE_FUNCTIONS;
use super::value::{EvalError, Sample, Value};

pub(super) fn eval(evaluator: &Evaluator<'_>, call: &Call) -> Result<Value, EvalError> {
    let name = call.func.name;
    let args = &call.args.args;
    let context = |index: usize| format!("argument {} of {name}()", index + 1);

    if RANGE_FUNCTIONS.contains(&name) {
        let (param, range_arg) = if name == "quantile_over_time" {
            (evaluator.eval_scalar(&args[0], &context(0))?, &args[1])
        } else {
            (f64::NAN, &args[0])
        };
        let input = evaluator.eval_range(range_arg, &context(args.len() - 1))?;
        let samples = range_functions::apply(name, &input, param);
        check_unique_labels(&samples)?;
        return Ok(Value::Vector(samples));
    }

    let samples = match name {
        "time" => return Ok(Value::Scalar(evaluator.at_ms() as f64 / 1000.0)),
        "scalar" => {
            let samples = evaluator.eval_vector(&args[0], &context(0))?;
            let value = match samples.as_slice() {
                [only] => only.value,
                _ => f64::NAN,
            };
            return Ok(Value::Scalar(value));
        }
        "vector" => {
            let value = evaluator.eval_scalar(&args[0], &context(0))?;
            return Ok(Value::Vector(vec![Sample {
                labels: Default::default(),
                value,
            }]));
        }
        "histogram_quantile" => {
            let phi = evaluator.eval_scalar(&args[0], &context(0))?;
            let buckets = evaluator.eval_vector(&args[1], &context(1))?;
            histogram_quantile(phi, buckets)
        }
        "clamp" => {
            let samples = evaluator.eval_vector(&args[0], &context(0))?;
            let min = evaluator.eval_scalar(&args[1], &context(1))?;
            let max = evaluator.eval_scalar(&args[2], &context(2))?;
            // Prometheus returns nothing when the bounds are inverted.
            if max < min {
                Vec::new()
            } else {
                map_values(samples, |v| go_max(min, go_min(max, v)))
            }
        }
        "clamp_min" | "clamp_max" => {
            let samples = evaluator.eval_vector(&args[0], &context(0))?;
            let bound = evaluator.eval_scalar(&args[1], &context(1))?;
            if name == "clamp_min" {
                map_values(samples, |v| go_max(v, bound))
            } else {
                map_values(samples, |v| go_min(v, bound))
            }
        }
        "round" => {
            let samples = evaluator.eval_vector(&args[0], &context(0))?;
            let to_nearest = match args.get(1) {
                Some(arg) => evaluator.eval_scalar(arg, &context(1))?,
                None => 1.0,
            };
            // Rounds half up, as Prometheus's math.Floor(v*inverse + 0.5).
            let inverse = 1.0 / to_nearest;
            map_values(samples, |v| (v * inverse + 0.5).floor() / inverse)
        }
        "sort" | "sort_desc" => {
            let mut samples = evaluator.eval_vector(&args[0], &context(0))?;
            // NaN sorts first in both directions, as in Prometheus 2.42.
            samples.sort_by(|a, b| match (a.value.is_nan(), b.value.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Less,
                (false, true) => std::cmp::Ordering::Greater,
                (false, false) if name == "sort" => a.value.total_cmp(&b.value),
                (false, false) => b.value.total_cmp(&a.value),
            });
            return Ok(Value::Vector(samples));
        }
        _ => {
            let samples = evaluator.eval_vector(&args[0], &context(0))?;
            let Some(function) = math_function(name) else {
                return Err(EvalError::Unsupported {
                    construct: format!("the function {name}()"),
                });
            };
            map_values(samples, function)
        }
    };
    check_unique_labels(&samples)?;
    Ok(Value::Vector(samples))
}

/// Applies `function` to each value and drops the metric name, as every
/// value-changing function does.
fn map_values(samples: Vec<Sample>, function: impl Fn(f64) -> f64) -> Vec<Sample> {
    samples
        .into_iter()
        .map(|sample| Sample {
            labels: sample.labels.without_metric_name(),
            value: function(sample.value),
        })
        .collect()
}

fn math_function(name: &str) -> Option<fn(f64) -> f64> {
    Some(match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sqrt" => f64::sqrt,
        "sgn" => |v: f64| {
            if v < 0.0 {
                -1.0
            } else if v > 0.0 {
                1.0
            } else {
                v
            }
        },
        _ => return None,
    })
}

/// Returns the larger value as Go's math.Max does: NaN if either is NaN.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// Returns the smaller value as Go's math.Min does: NaN if either is NaN.
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}
