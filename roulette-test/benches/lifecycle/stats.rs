//! Sample summaries and the printed table.

use std::time::Duration;

/// Count, minimum, median, 99th percentile and maximum of samples in
/// milliseconds. Percentiles use the nearest-rank method, so with fewer
/// than 100 samples the p99 is the maximum.
#[derive(Clone, Copy, Debug)]
pub struct Summary {
    pub count: usize,
    pub min: f64,
    pub median: f64,
    pub p99: f64,
    pub max: f64,
}

impl Summary {
    /// Summarizes `samples`, or returns `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Some(Summary {
            count: sorted.len(),
            min: sorted[0],
            median: nearest_rank(&sorted, 0.50),
            p99: nearest_rank(&sorted, 0.99),
            max: sorted[sorted.len() - 1],
        })
    }
}

/// Returns the smallest sample with at least `fraction` of the samples at
/// or below it. `sorted` must be sorted and non-empty.
fn nearest_rank(sorted: &[f64], fraction: f64) -> f64 {
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Converts a duration to milliseconds.
pub fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Converts signed nanoseconds to milliseconds.
pub fn nanos_to_millis(nanos: i128) -> f64 {
    nanos as f64 / 1_000_000.0
}

const LABEL_WIDTH: usize = 48;

/// Prints a section title and the column header.
pub fn print_section(title: &str) {
    println!();
    println!("{title}");
    println!(
        "  {:<LABEL_WIDTH$} {:>5} {:>9} {:>9} {:>9} {:>9}",
        "", "n", "min ms", "median", "p99", "max"
    );
}

/// Prints one row of the table, or a note when there are no samples.
pub fn print_row(label: &str, samples: &[f64]) -> Option<Summary> {
    let Some(summary) = Summary::of(samples) else {
        println!("  {label:<LABEL_WIDTH$} no samples");
        return None;
    };
    println!(
        "  {label:<LABEL_WIDTH$} {:>5} {:>9.3} {:>9.3} {:>9.3} {:>9.3}",
        summary.count, summary.min, summary.median, summary.p99, summary.max
    );
    Some(summary)
}

/// Prints how many times larger the baseline's median is than the
/// harness's.
pub fn print_ratio(harness: &str, ours: &Summary, baseline: &str, theirs: &Summary) {
    if ours.median > 0.0 {
        println!(
            "  median: {baseline} takes {:.0}x as long as {harness}",
            theirs.median / ours.median
        );
    }
}
