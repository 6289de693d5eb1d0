//! Quantiles: the `quantile` aggregation and `quantile_over_time` share
//! one estimator, and `histogram_quantile` interpolates within buckets, as
//! in Prometheus 2.42's promql/quantile.go.

use std::collections::HashMap;

use super::value::Sample;
use crate::metrics::exposition::parse_float;
use crate::metrics::labels::{Labels, METRIC_NAME};

/// Estimates the φ-quantile of `values` by linear interpolation between
/// the two nearest ranks. Returns NaN for no values, -Inf for φ < 0 and
/// +Inf for φ > 1. NaN values sort first, as in Prometheus.
pub(super) fn quantile(phi: f64, mut values: Vec<f64>) -> f64 {
    if values.is_empty() || phi.is_nan() {
        return f64::NAN;
    }
    if phi < 0.0 {
        return f64::NEG_INFINITY;
    }
    if phi > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        (false, false) => a.total_cmp(b),
    });
    let n = values.len() as f64;
    let rank = phi * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    upper_bound: f64,
    count: f64,
}

/// Computes `histogram_quantile(phi, buckets)`: groups the samples by all
/// labels except `le`, and returns one sample per group without `le` and
/// the metric name. Samples without a float `le` label are ignored.
pub(super) fn histogram_quantile(phi: f64, samples: Vec<Sample>) -> Vec<Sample> {
    let mut order: Vec<Labels> = Vec::new();
    let mut groups: HashMap<Labels, Vec<Bucket>> = HashMap::new();
    for sample in samples {
        let Some(upper_bound) = sample.labels.get("le").and_then(parse_float) else {
            continue;
        };
        let key = sample.labels.without(&["le"]);
        let buckets = groups.entry(key.clone()).or_insert_with(|| {
            order.push(key);
            Vec::new()
        });
        buckets.push(Bucket {
            upper_bound,
            count: sample.value,
        });
    }
    order
        .into_iter()
        .map(|key| {
            let buckets = groups.remove(&key).unwrap_or_default();
            Sample {
                labels: key.without(&[METRIC_NAME]),
                value: bucket_quantile(phi, buckets),
            }
        })
        .collect()
}

/// Interpolates the φ-quantile from cumulative bucket counts. The buckets
/// need a `+Inf` bucket, otherwise the result is NaN. Buckets with the same
/// upper bound are summed, and counts are forced to be monotonic because
/// buckets scraped at slightly different times can decrease.
fn bucket_quantile(phi: f64, mut buckets: Vec<Bucket>) -> f64 {
    if phi.is_nan() {
        return f64::NAN;
    }
    if phi < 0.0 {
        return f64::NEG_INFINITY;
    }
    if phi > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.upper_bound.total_cmp(&b.upper_bound));
    let Some(last) = buckets.last() else {
        return f64::NAN;
    };
    if last.upper_bound != f64::INFINITY {
        return f64::NAN;
    }
    let mut buckets = coalesce(buckets);
    ensure_monotonic(&mut buckets);
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = phi * observations;
    // The first bucket whose count reaches the rank, searching all but the
    // +Inf bucket.
    let index = go_sort_search(buckets.len() - 1, |i| buckets[i].count >= rank);
    if index == buckets.len() - 1 {
        return buckets[buckets.len() - 2].upper_bound;
    }
    if index == 0 && buckets[0].upper_bound <= 0.0 {
        return buckets[0].upper_bound;
    }
    let mut start = 0.0;
    let end = buckets[index].upper_bound;
    let mut count = buckets[index].count;
    if index > 0 {
        start = buckets[index - 1].upper_bound;
        count -= buckets[index - 1].count;
        rank -= buckets[index - 1].count;
    }
    start + (end - start) * (rank / count)
}

fn coalesce(buckets: Vec<Bucket>) -> Vec<Bucket> {
    let mut merged: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for bucket in buckets {
        match merged.last_mut() {
            Some(last) if last.upper_bound == bucket.upper_bound => last.count += bucket.count,
            _ => merged.push(bucket),
        }
    }
    merged
}

fn ensure_monotonic(buckets: &mut [Bucket]) {
    let mut max = f64::NEG_INFINITY;
    for bucket in buckets {
        if bucket.count > max {
            max = bucket.count;
        } else if bucket.count < max {
            bucket.count = max;
        }
    }
}

/// Binary search for the smallest `i` in `0..n` where `predicate(i)` holds,
/// step for step as Go's `sort.Search`, so that a NaN count leads to the
/// same bucket as in Prometheus.
fn go_sort_search(n: usize, predicate: impl Fn(usize) -> bool) -> usize {
    let (mut low, mut high) = (0, n);
    while low < high {
        let middle = low + (high - low) / 2;
        if predicate(middle) {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    low
}
