//! Strict parsers for the Prometheus text format 0.0.4 and OpenMetrics 1.0.
//!
//! Every line must parse. A malformed line is a [`ParseError`] with its
//! line number, never skipped. The parsers check syntax (names, label sets,
//! escapes, values, timestamps, exemplars) and the structure each format
//! requires: one TYPE/HELP/UNIT per family and before its samples, a float
//! `le` label on histogram buckets and `quantile` label on summaries, and
//! for OpenMetrics the `# EOF` terminator, contiguous families, `_total`
//! counter samples and exemplars only on counters and buckets.

mod cursor;
mod error;
mod family;
mod openmetrics;
mod text;

#[cfg(test)]
mod tests;

pub(crate) use cursor::parse_float;
pub use error::{ParseError, ParseErrorKind};

use crate::metrics::labels::Labels;

/// One sample of an exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// All labels, including the metric name as `__name__`.
    pub labels: Labels,
    pub value: f64,
    /// The timestamp the exporter gave, in milliseconds since the Unix
    /// epoch. OpenMetrics timestamps (seconds) are converted.
    pub timestamp_ms: Option<i64>,
    /// OpenMetrics exemplar attached to this sample.
    pub exemplar: Option<Exemplar>,
}

/// An OpenMetrics exemplar: ` # {labels} value [timestamp]` after a sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    pub labels: Labels,
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: Option<i64>,
}

/// The declared type of a metric family. The text format's `untyped`
/// is [`MetricType::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    StateSet,
    Info,
    Unknown,
}

/// HELP, TYPE and UNIT of one metric family.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata {
    pub family: String,
    pub metric_type: Option<MetricType>,
    pub help: Option<String>,
    pub unit: Option<String>,
}

/// A parsed exposition: samples in input order and the metadata of each
/// family that had any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    pub samples: Vec<Sample>,
    pub metadata: Vec<Metadata>,
}

/// The text format of a scrape response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`.
    PrometheusText,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    /// Picks the format from a `Content-Type` header value. As Prometheus
    /// 2.42 does, anything other than `application/openmetrics-text`
    /// (including an empty or missing header) is read as the text format.
    pub fn from_content_type(content_type: &str) -> Self {
        let media_type = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if media_type == "application/openmetrics-text" {
            Self::OpenMetrics
        } else {
            Self::PrometheusText
        }
    }
}

/// Parses an exposition served with `content_type` and returns its samples.
pub fn parse_exposition(text: &str, content_type: &str) -> Result<Vec<Sample>, ParseError> {
    Ok(parse_exposition_with_metadata(text, Format::from_content_type(content_type))?.samples)
}

/// Parses an exposition in `format` and returns its samples and metadata.
pub fn parse_exposition_with_metadata(
    text: &str,
    format: Format,
) -> Result<Exposition, ParseError> {
    match format {
        Format::PrometheusText => text::parse(text),
        Format::OpenMetrics => openmetrics::parse(text),
    }
}

/// Parses a response body given as bytes. Invalid UTF-8 is an error on the
/// line that contains it.
pub fn parse_exposition_bytes(body: &[u8], content_type: &str) -> Result<Vec<Sample>, ParseError> {
    match std::str::from_utf8(body) {
        Ok(text) => parse_exposition(text, content_type),
        Err(error) => {
            let valid = &body[..error.valid_up_to()];
            let line = valid.iter().filter(|&&byte| byte == b'\n').count() + 1;
            Err(ParseError {
                line,
                kind: ParseErrorKind::InvalidUtf8,
            })
        }
    }
}

/// Splits text into numbered lines. A final `\n` ends the last line and
/// does not start an empty one.
fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let lines = if text.is_empty() { None } else { Some(body) };
    lines
        .into_iter()
        .flat_map(|body| body.split('\n'))
        .enumerate()
        .map(|(index, line)| (index + 1, line))
}
