//! In-memory series store fed by scrapes, with Prometheus staleness.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::metrics::exposition::{ParseError, parse_exposition};
use crate::metrics::labels::{Labels, METRIC_NAME};

/// Bit pattern of the NaN that Prometheus writes as a staleness marker
/// (`value.StaleNaN` in Prometheus 2.42). Any other NaN is an ordinary value.
const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Returns the staleness marker value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// Returns whether `value` is a staleness marker rather than a sample.
pub fn is_stale_nan(value: f64) -> bool {
    value.to_bits() == STALE_NAN_BITS
}

/// One sample of a stored series: a timestamp in milliseconds on the
/// experiment's clock and a value, which may be a staleness marker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub t: i64,
    pub v: f64,
}

/// A successful scrape response body.
#[derive(Debug, Clone, Copy)]
pub struct ScrapeBody<'a> {
    pub text: &'a str,
    /// The response's `Content-Type` header, or "" when it had none.
    pub content_type: &'a str,
}

/// Failure of a scrape request, reported by the scraper.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScrapeError {
    #[error("request failed: {message}")]
    Request { message: String },
    #[error("endpoint returned HTTP status {status}, expected 200")]
    Status { status: u16 },
    #[error("scrape timed out after {after_ms} ms")]
    TimedOut { after_ms: u64 },
}

/// Errors from recording a scrape.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IngestError {
    #[error(
        "scrape of {endpoint} at {at_ms} ms is not after its previous scrape at {previous_ms} ms; scrape times must increase"
    )]
    OutOfOrder {
        endpoint: String,
        at_ms: i64,
        previous_ms: i64,
    },
    #[error("invalid exposition from {endpoint}: {source}")]
    Parse {
        endpoint: String,
        #[source]
        source: ParseError,
    },
    #[error("{endpoint} exposed series {labels} twice in one scrape")]
    DuplicateSeries { endpoint: String, labels: String },
}

/// Error from appending a point directly.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("point at {t} ms for {labels} is not after the series' last point at {last} ms")]
pub struct OutOfOrderPoint {
    pub labels: String,
    pub t: i64,
    pub last: i64,
}

/// Summary of one recorded scrape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScrapeOutcome {
    /// Whether the scrape succeeded, which is also the value of `up`.
    pub up: bool,
    pub samples: usize,
    pub stale_markers: usize,
    /// Samples with an exporter timestamp not after their series' last
    /// point, which Prometheus also drops (only with `honor_timestamps`).
    pub out_of_order: usize,
}

/// Settings that mirror Prometheus scrape options.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreOptions {
    /// Use timestamps from the exposition instead of the scrape time, as
    /// Prometheus's `honor_timestamps: true` does. Off by default because
    /// exporter timestamps are Unix milliseconds, which only make sense if
    /// the experiment's clock is too. Series with exporter timestamps get no
    /// staleness markers, as in Prometheus 2.42.
    pub honor_timestamps: bool,
}

#[derive(Debug, Default)]
struct TargetState {
    last_scrape_ms: Option<i64>,
    /// Series of the previous scrape that get a staleness marker when a
    /// later scrape lacks them.
    tracked: HashSet<Labels>,
}

/// Scraped series keyed by label set, each with points in time order.
///
/// Every scraped sample gets the target label `instance="<endpoint>"`. As
/// with Prometheus's default `honor_labels: false`, a label of the same
/// name in the exposition is kept as `exported_instance`.
#[derive(Debug, Default)]
pub struct Store {
    series: BTreeMap<Labels, Vec<Point>>,
    targets: HashMap<String, TargetState>,
    scrape_times: BTreeSet<i64>,
    options: StoreOptions,
}

impl Store {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_options(options: StoreOptions) -> Self {
        Self {
            options,
            ..Self::default()
        }
    }

    /// Records one scrape of `endpoint` at `at_ms`, as Prometheus 2.42 does:
    ///
    /// - `up{instance="<endpoint>"}` is 1 after a successful scrape and 0
    ///   after a failed one, including one whose exposition is invalid.
    /// - A series that the previous scrape had and this one lacks gets a
    ///   staleness marker at `at_ms`. A failed scrape marks every series of
    ///   the previous scrape stale.
    ///
    /// Returns an error for an invalid exposition or a series exposed twice,
    /// after recording `up` 0 and the staleness markers, and for a scrape
    /// time that is not after the endpoint's previous one, without
    /// recording anything.
    pub fn ingest_scrape(
        &mut self,
        endpoint: &str,
        at_ms: i64,
        result: Result<ScrapeBody<'_>, ScrapeError>,
    ) -> Result<ScrapeOutcome, IngestError> {
        let target = self.targets.entry(endpoint.to_owned()).or_default();
        let previous = target
            .last_scrape_ms
            .filter(|previous_ms| at_ms <= *previous_ms);
        if let Some(previous_ms) = previous {
            return Err(IngestError::OutOfOrder {
                endpoint: endpoint.to_owned(),
                at_ms,
                previous_ms,
            });
        }
        target.last_scrape_ms = Some(at_ms);
        self.scrape_times.insert(at_ms);

        let scrape_failed = result.is_err();
        let parsed = match result {
            Ok(body) => parse_exposition(body.text, body.content_type).map_err(|source| {
                IngestError::Parse {
                    endpoint: endpoint.to_owned(),
                    source,
                }
            }),
            Err(_) => Ok(Vec::new()),
        };
        let samples = match parsed.and_then(|samples| self.label_samples(endpoint, samples)) {
            Ok(samples) => samples,
            Err(error) => {
                self.record_failed_scrape(endpoint, at_ms);
                return Err(error);
            }
        };
        if scrape_failed {
            return Ok(self.record_failed_scrape(endpoint, at_ms));
        }

        let mut outcome = ScrapeOutcome {
            up: true,
            ..ScrapeOutcome::default()
        };
        let mut tracked = HashSet::new();
        for (labels, timestamp_ms, value) in samples {
            let t = match timestamp_ms {
                Some(t) if self.options.honor_timestamps => t,
                _ => {
                    tracked.insert(labels.clone());
                    at_ms
                }
            };
            match self.append(labels, Point { t, v: value }) {
                Ok(()) => outcome.samples += 1,
                Err(_) => outcome.out_of_order += 1,
            }
        }
        outcome.stale_markers = self.mark_stale(endpoint, &tracked, at_ms);
        self.targets
            .get_mut(endpoint)
            .expect("target exists")
            .tracked = tracked;
        self.append_up(endpoint, at_ms, 1.0);
        Ok(outcome)
    }

    /// Marks every series of the endpoint's last scrape, and its `up`
    /// series, stale at `at_ms`, as Prometheus does when a target goes away.
    /// Call it when the experiment stops scraping an endpoint.
    pub fn end_target(&mut self, endpoint: &str, at_ms: i64) -> usize {
        let markers = self.mark_stale(endpoint, &HashSet::new(), at_ms);
        if let Some(target) = self.targets.get_mut(endpoint) {
            target.tracked.clear();
            // Later scrapes must come after the markers.
            target.last_scrape_ms = target.last_scrape_ms.max(Some(at_ms));
        }
        let up = up_labels(endpoint);
        let up_is_live = self
            .series
            .get(&up)
            .and_then(|points| points.last())
            .is_some_and(|last| last.t < at_ms && !is_stale_nan(last.v));
        if up_is_live {
            self.append_up(endpoint, at_ms, stale_nan());
            return markers + 1;
        }
        markers
    }

    /// Appends one point to a series. Points must come in time order.
    pub fn append(&mut self, labels: Labels, point: Point) -> Result<(), OutOfOrderPoint> {
        let last = self.series.get(&labels).and_then(|points| points.last());
        if let Some(last) = last.filter(|last| point.t <= last.t) {
            return Err(OutOfOrderPoint {
                labels: labels.to_string(),
                t: point.t,
                last: last.t,
            });
        }
        self.series.entry(labels).or_default().push(point);
        Ok(())
    }

    /// Iterates over all series in label order.
    pub fn series(&self) -> impl Iterator<Item = (&Labels, &[Point])> {
        self.series
            .iter()
            .map(|(labels, points)| (labels, points.as_slice()))
    }

    /// Returns the points of one series, or `None` if it was never seen.
    pub fn points(&self, labels: &Labels) -> Option<&[Point]> {
        self.series.get(labels).map(Vec::as_slice)
    }

    /// Returns the times of all recorded scrapes, of any endpoint, between
    /// `start_ms` and `end_ms` inclusive.
    pub fn scrape_times(&self, start_ms: i64, end_ms: i64) -> Vec<i64> {
        if start_ms > end_ms {
            return Vec::new();
        }
        self.scrape_times
            .range(start_ms..=end_ms)
            .copied()
            .collect()
    }

    /// Adds the target labels to parsed samples and rejects duplicates.
    fn label_samples(
        &self,
        endpoint: &str,
        samples: Vec<crate::metrics::exposition::Sample>,
    ) -> Result<Vec<(Labels, Option<i64>, f64)>, IngestError> {
        let mut seen = HashSet::with_capacity(samples.len());
        let mut labelled = Vec::with_capacity(samples.len());
        for sample in samples {
            let mut labels = sample.labels;
            if let Some(exported) = labels.remove("instance") {
                labels.set("exported_instance".into(), exported);
            }
            labels.set("instance".into(), endpoint.to_owned());
            if !seen.insert(labels.clone()) {
                return Err(IngestError::DuplicateSeries {
                    endpoint: endpoint.to_owned(),
                    labels: labels.to_string(),
                });
            }
            labelled.push((labels, sample.timestamp_ms, sample.value));
        }
        Ok(labelled)
    }

    fn record_failed_scrape(&mut self, endpoint: &str, at_ms: i64) -> ScrapeOutcome {
        let stale_markers = self.mark_stale(endpoint, &HashSet::new(), at_ms);
        if let Some(target) = self.targets.get_mut(endpoint) {
            target.tracked.clear();
        }
        self.append_up(endpoint, at_ms, 0.0);
        ScrapeOutcome {
            up: false,
            stale_markers,
            ..ScrapeOutcome::default()
        }
    }

    /// Writes a staleness marker for each series of the previous scrape
    /// that is not in `current`, and returns how many it wrote.
    fn mark_stale(&mut self, endpoint: &str, current: &HashSet<Labels>, at_ms: i64) -> usize {
        let Some(target) = self.targets.get(endpoint) else {
            return 0;
        };
        let gone: Vec<Labels> = target.tracked.difference(current).cloned().collect();
        let mut written = 0;
        for labels in gone {
            let point = Point {
                t: at_ms,
                v: stale_nan(),
            };
            if self.append(labels, point).is_ok() {
                written += 1;
            }
        }
        written
    }

    fn append_up(&mut self, endpoint: &str, at_ms: i64, value: f64) {
        // ingest_scrape and end_target keep each endpoint's times
        // increasing, so this append cannot fail.
        let _ = self.append(up_labels(endpoint), Point { t: at_ms, v: value });
    }
}

fn up_labels(endpoint: &str) -> Labels {
    Labels::from_pairs([(METRIC_NAME, "up"), ("instance", endpoint)])
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
