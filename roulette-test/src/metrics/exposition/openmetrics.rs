//! OpenMetrics 1.0 text format.
//!
//! Lines are samples (`name{labels} value [timestamp_s] [# {labels} value
//! [timestamp_s]]`), `# HELP`, `# TYPE` or `# UNIT` metadata, and a final
//! `# EOF`. Tokens are separated by exactly one space, and empty lines and
//! other comments are errors.

use super::cursor::{Cursor, Spacing, parse_float, snippet, unescape_help};
use super::error::{ParseError, ParseErrorKind};
use super::family::Families;
use super::{Exemplar, Exposition, MetricType, Sample, numbered_lines};
use crate::metrics::labels::Labels;

/// Maximum combined length in characters of an exemplar's label names and
/// values (OpenMetrics 1.0).
const MAX_EXEMPLAR_LABEL_CHARS: usize = 128;

pub(super) fn parse(text: &str) -> Result<Exposition, ParseError> {
    let mut families = Families::new(true);
    let mut samples = Vec::new();
    let mut last_line = 0;
    for (line_number, line) in numbered_lines(text) {
        last_line = line_number;
        let at_line = |kind| ParseError {
            line: line_number,
            kind,
        };
        if line == "# EOF" {
            if text.len() > text_end_after_eof(text) {
                return Err(ParseError {
                    line: line_number + 1,
                    kind: ParseErrorKind::TextAfterEof,
                });
            }
            return Ok(Exposition {
                samples,
                metadata: families.into_metadata(),
            });
        }
        if line.ends_with('\r') {
            return Err(at_line(ParseErrorKind::CarriageReturn));
        }
        if line.is_empty() {
            return Err(at_line(ParseErrorKind::EmptyLine));
        }
        let mut cursor = Cursor::new(line, Spacing::Strict);
        if line.starts_with('#') {
            parse_metadata(&mut cursor, &mut families).map_err(at_line)?;
        } else {
            samples.push(parse_sample(&mut cursor, &mut families).map_err(at_line)?);
        }
    }
    Err(ParseError {
        line: last_line + 1,
        kind: ParseErrorKind::MissingEof,
    })
}

/// Returns the byte offset just past the first `# EOF` line and its
/// optional line feed.
fn text_end_after_eof(text: &str) -> usize {
    let start = if text.starts_with("# EOF") {
        0
    } else {
        text.find("\n# EOF").map_or(0, |offset| offset + 1)
    };
    let end = start + "# EOF".len();
    if text[end..].starts_with('\n') {
        end + 1
    } else {
        end
    }
}

fn parse_metadata(cursor: &mut Cursor<'_>, families: &mut Families) -> Result<(), ParseErrorKind> {
    let invalid = || ParseErrorKind::InvalidComment {
        found: snippet(cursor.rest()),
    };
    let keyword = cursor
        .rest()
        .strip_prefix("# ")
        .and_then(|rest| rest.split(' ').next())
        .filter(|keyword| matches!(*keyword, "HELP" | "TYPE" | "UNIT"))
        .ok_or_else(invalid)?;
    cursor.expect('#', "to start metadata")?;
    cursor.separator("after '#'")?;
    cursor.token();
    cursor.separator("before the metric family name")?;
    let family = cursor.metric_name()?;
    let argument = if cursor.is_at_end() {
        ""
    } else {
        cursor.expect(' ', "after the metric family name")?;
        cursor.rest()
    };
    match keyword {
        "HELP" => families.set_help(family, unescape_help(argument, true)?),
        "UNIT" => {
            if !argument
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(ParseErrorKind::TrailingText {
                    found: snippet(argument),
                    after: "unit name, which may contain only [a-zA-Z0-9_]",
                });
            }
            families.set_unit(family, argument.to_owned())
        }
        _ => families.set_type(family, parse_type(argument)?),
    }
}

fn parse_type(text: &str) -> Result<MetricType, ParseErrorKind> {
    Ok(match text {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "gaugehistogram" => MetricType::GaugeHistogram,
        "summary" => MetricType::Summary,
        "stateset" => MetricType::StateSet,
        "info" => MetricType::Info,
        "unknown" => MetricType::Unknown,
        other => {
            return Err(ParseErrorKind::InvalidType {
                found: other.to_owned(),
                allowed: "counter, gauge, histogram, gaugehistogram, summary, stateset, info, unknown",
            });
        }
    })
}

fn parse_sample(
    cursor: &mut Cursor<'_>,
    families: &mut Families,
) -> Result<Sample, ParseErrorKind> {
    let name = cursor.metric_name()?;
    let labels = cursor.series_labels(name)?;
    cursor.separator("before the sample value")?;
    let value = parse_value(cursor)?;
    let mut timestamp_ms = None;
    let mut exemplar = None;
    if !cursor.is_at_end() {
        cursor.separator("before the timestamp or exemplar")?;
        if cursor.peek() != Some('#') {
            timestamp_ms = Some(parse_timestamp(cursor)?);
            if !cursor.is_at_end() {
                cursor.separator("before the exemplar")?;
            }
        }
        if !cursor.is_at_end() {
            exemplar = Some(parse_exemplar(cursor)?);
        }
    }
    let family = families.resolve(name);
    if exemplar.is_some() {
        let allowed = matches!(
            (family.metric_type, family.suffix),
            (Some(MetricType::Counter), "_total")
                | (
                    Some(MetricType::Histogram | MetricType::GaugeHistogram),
                    "_bucket"
                )
        );
        if !allowed {
            return Err(ParseErrorKind::ExemplarNotAllowed {
                name: name.to_owned(),
            });
        }
    }
    families.add_sample(&family, &labels)?;
    Ok(Sample {
        labels,
        value,
        timestamp_ms,
        exemplar,
    })
}

fn parse_value(cursor: &mut Cursor<'_>) -> Result<f64, ParseErrorKind> {
    let text = cursor.token();
    parse_float(text).ok_or_else(|| ParseErrorKind::InvalidValue {
        found: text.to_owned(),
    })
}

/// Parses an OpenMetrics timestamp (seconds since the Unix epoch, with an
/// optional fraction) into milliseconds. Plain decimals are converted
/// exactly, truncating below one millisecond, where Prometheus 2.42
/// computes `int64(seconds * 1000)` in floating point and can land one
/// millisecond low.
fn parse_timestamp(cursor: &mut Cursor<'_>) -> Result<i64, ParseErrorKind> {
    let text = cursor.token();
    let invalid = || ParseErrorKind::InvalidTimestamp {
        found: text.to_owned(),
        expected: "seconds since the Unix epoch, such as 1700000000.123",
    };
    if let Some(milliseconds) = decimal_seconds_to_ms(text) {
        return Ok(milliseconds);
    }
    let seconds = parse_float(text).ok_or_else(invalid)?;
    if !seconds.is_finite() || (seconds * 1000.0).abs() >= i64::MAX as f64 {
        return Err(invalid());
    }
    Ok((seconds * 1000.0) as i64)
}

fn decimal_seconds_to_ms(text: &str) -> Option<i64> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |part: &str| part.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let mut fraction_ms = 0;
    for (place, c) in fraction.chars().take(3).enumerate() {
        fraction_ms += i64::from(c as u8 - b'0') * 10_i64.pow(2 - place as u32);
    }
    let milliseconds = whole
        .parse::<i64>()
        .ok()?
        .checked_mul(1000)?
        .checked_add(fraction_ms)?;
    Some(if negative {
        -milliseconds
    } else {
        milliseconds
    })
}

fn parse_exemplar(cursor: &mut Cursor<'_>) -> Result<Exemplar, ParseErrorKind> {
    cursor.expect('#', "to start an exemplar")?;
    cursor.separator("after '#' of the exemplar")?;
    let pairs = cursor.label_set()?;
    let chars: usize = pairs
        .iter()
        .map(|(name, value)| name.chars().count() + value.chars().count())
        .sum();
    if chars > MAX_EXEMPLAR_LABEL_CHARS {
        return Err(ParseErrorKind::ExemplarTooLong { chars });
    }
    cursor.separator("before the exemplar value")?;
    let value = parse_value(cursor)?;
    let timestamp_ms = if cursor.is_at_end() {
        None
    } else {
        cursor.separator("before the exemplar timestamp")?;
        let timestamp = parse_timestamp(cursor)?;
        if !cursor.is_at_end() {
            return Err(ParseErrorKind::TrailingText {
                found: snippet(cursor.rest()),
                after: "exemplar timestamp",
            });
        }
        Some(timestamp)
    };
    Ok(Exemplar {
        labels: Labels::from_pairs(pairs),
        value,
        timestamp_ms,
    })
}
