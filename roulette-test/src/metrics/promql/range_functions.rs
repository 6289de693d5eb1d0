//! Functions over range vectors, computed as in Prometheus 2.42's
//! promql/functions.go, including its float summation order.

use super::eval::RangeInput;
use super::quantile::quantile;
use super::value::Sample;
use crate::metrics::store::Point;

/// Applies the range function `name` to each series of `input`. `param`
/// is the φ of `quantile_over_time`. Series for which the function has no
/// value (too few points) are left out.
pub(super) fn apply(name: &str, input: &RangeInput, param: f64) -> Vec<Sample> {
    let mut out = Vec::with_capacity(input.series.len());
    for series in &input.series {
        let points = series.points.as_slice();
        let value = match name {
            "rate" => extrapolated_rate(input, points, true, true),
            "increase" => extrapolated_rate(input, points, true, false),
            "delta" => extrapolated_rate(input, points, false, false),
            "irate" => instant_value(points, true),
            "idelta" => instant_value(points, false),
            "resets" => Some(resets(points)),
            "changes" => Some(changes(points)),
            "deriv" => deriv(points),
            "min_over_time" => Some(min_over_time(points)),
            "max_over_time" => Some(max_over_time(points)),
            "avg_over_time" => Some(avg_over_time(points)),
            "sum_over_time" => Some(sum_over_time(points)),
            "count_over_time" => Some(points.len() as f64),
            "last_over_time" => points.last().map(|point| point.v),
            "present_over_time" => Some(1.0),
            "quantile_over_time" => Some(quantile(param, points.iter().map(|p| p.v).collect())),
            "stddev_over_time" => Some(stdvar_over_time(points).sqrt()),
            "stdvar_over_time" => Some(stdvar_over_time(points)),
            _ => None,
        };
        let Some(value) = value else {
            continue;
        };
        // last_over_time is the only range function that keeps the metric
        // name in Prometheus 2.42.
        let labels = if name == "last_over_time" {
            series.labels.clone()
        } else {
            series.labels.without_metric_name()
        };
        out.push(Sample { labels, value });
    }
    out
}

/// Computes `rate`, `increase` and `delta` as Prometheus 2.42's
/// `extrapolatedRate` does:
///
/// - Needs at least two points.
/// - For counters, each decrease is a reset: the value before the reset is
///   added to the difference between the last and the first point.
/// - The result is extrapolated from the first and last points to the range
///   boundaries when the gap to a boundary is under 1.1 times the average
///   interval between points. A larger gap is extrapolated by half an
///   average interval only.
/// - For counters, extrapolation towards the start stops where the counter
///   would reach zero.
/// - `rate` divides by the range in seconds.
fn extrapolated_rate(
    input: &RangeInput,
    points: &[Point],
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let first = points[0];
    let last = points[points.len() - 1];
    let mut result = last.v - first.v;
    if is_counter {
        for pair in points.windows(2) {
            if pair[1].v < pair[0].v {
                result += pair[0].v;
            }
        }
    }

    let mut duration_to_start = (first.t - input.start_ms) as f64 / 1000.0;
    let duration_to_end = (input.end_ms - last.t) as f64 / 1000.0;
    let sampled_interval = (last.t - first.t) as f64 / 1000.0;
    let average_interval = sampled_interval / (points.len() - 1) as f64;

    if is_counter && result > 0.0 && first.v >= 0.0 {
        let duration_to_zero = sampled_interval * (first.v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }

    let threshold = average_interval * 1.1;
    let mut extrapolate_to = sampled_interval;
    extrapolate_to += if duration_to_start < threshold {
        duration_to_start
    } else {
        average_interval / 2.0
    };
    extrapolate_to += if duration_to_end < threshold {
        duration_to_end
    } else {
        average_interval / 2.0
    };
    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= input.range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

/// Computes `irate` and `idelta` from the last two points. For `irate` a
/// decrease is a counter reset, so the last value is the increase.
fn instant_value(points: &[Point], is_rate: bool) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let last = points[points.len() - 1];
    let previous = points[points.len() - 2];
    let mut result = if is_rate && last.v < previous.v {
        last.v
    } else {
        last.v - previous.v
    };
    let interval_ms = last.t - previous.t;
    if interval_ms == 0 {
        return None;
    }
    if is_rate {
        result /= interval_ms as f64 / 1000.0;
    }
    Some(result)
}

fn resets(points: &[Point]) -> f64 {
    points
        .windows(2)
        .filter(|pair| pair[1].v < pair[0].v)
        .count() as f64
}

/// Counts value changes. Two consecutive NaNs are not a change.
fn changes(points: &[Point]) -> f64 {
    points
        .windows(2)
        .filter(|pair| {
            let (previous, current) = (pair[0].v, pair[1].v);
            current != previous && !(current.is_nan() && previous.is_nan())
        })
        .count() as f64
}

/// Computes the slope in units per second of a least-squares line
/// through the points, with time measured from the first point.
fn deriv(points: &[Point]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    Some(linear_regression_slope(points, points[0].t))
}

fn linear_regression_slope(points: &[Point], intercept_ms: i64) -> f64 {
    let first = points[0].v;
    if points.iter().all(|point| point.v == first) {
        // A constant series has slope 0, unless it is infinite.
        return if first.is_infinite() { f64::NAN } else { 0.0 };
    }
    let n = points.len() as f64;
    let (mut sum_x, mut c_x) = (0.0, 0.0);
    let (mut sum_y, mut c_y) = (0.0, 0.0);
    let (mut sum_xy, mut c_xy) = (0.0, 0.0);
    let (mut sum_x2, mut c_x2) = (0.0, 0.0);
    for point in points {
        let x = (point.t - intercept_ms) as f64 / 1000.0;
        (sum_x, c_x) = kahan_sum_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_sum_inc(point.v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_sum_inc(x * point.v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_sum_inc(x * x, sum_x2, c_x2);
    }
    let sum_x = sum_x + c_x;
    let sum_y = sum_y + c_y;
    let sum_xy = sum_xy + c_xy;
    let sum_x2 = sum_x2 + c_x2;
    let covariance = sum_xy - sum_x * sum_y / n;
    let variance = sum_x2 - sum_x * sum_x / n;
    covariance / variance
}

/// Adds `increment` to a Kahan-Neumaier compensated sum and returns the new
/// sum and compensation.
fn kahan_sum_inc(increment: f64, sum: f64, compensation: f64) -> (f64, f64) {
    let total = sum + increment;
    let compensation = if sum.abs() >= increment.abs() {
        compensation + ((sum - total) + increment)
    } else {
        compensation + ((increment - total) + sum)
    };
    (total, compensation)
}

/// Returns the minimum. A NaN is replaced by any later value, so the
/// result is NaN only if the last points are all NaN.
fn min_over_time(points: &[Point]) -> f64 {
    let mut min = points[0].v;
    for point in points {
        if point.v < min || min.is_nan() {
            min = point.v;
        }
    }
    min
}

fn max_over_time(points: &[Point]) -> f64 {
    let mut max = points[0].v;
    for point in points {
        if point.v > max || max.is_nan() {
            max = point.v;
        }
    }
    max
}

fn sum_over_time(points: &[Point]) -> f64 {
    let (mut sum, mut compensation) = (0.0, 0.0);
    for point in points {
        (sum, compensation) = kahan_sum_inc(point.v, sum, compensation);
    }
    if sum.is_infinite() {
        sum
    } else {
        sum + compensation
    }
}

/// Computes a compensated running mean, which keeps an infinite mean when
/// finite values or infinities of the same sign follow.
fn avg_over_time(points: &[Point]) -> f64 {
    let (mut mean, mut count, mut compensation) = (0.0_f64, 0.0, 0.0);
    for point in points {
        count += 1.0;
        let v = point.v;
        if mean.is_infinite() {
            let same_infinity = v.is_infinite() && (mean > 0.0) == (v > 0.0);
            if same_infinity || v.is_finite() {
                continue;
            }
        }
        (mean, compensation) = kahan_sum_inc(v / count - mean / count, mean, compensation);
    }
    if mean.is_infinite() {
        mean
    } else {
        mean + compensation
    }
}

fn stdvar_over_time(points: &[Point]) -> f64 {
    let mut count = 0.0;
    let (mut mean, mut c_mean) = (0.0, 0.0);
    let (mut aux, mut c_aux) = (0.0, 0.0);
    for point in points {
        count += 1.0;
        let delta = point.v - (mean + c_mean);
        (mean, c_mean) = kahan_sum_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_sum_inc(delta * (point.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}
