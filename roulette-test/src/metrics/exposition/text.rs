//! The Prometheus text format, version 0.0.4.
//!
//! Lines are samples (`name{labels} value [timestamp_ms]`), `# HELP name
//! text`, `# TYPE name type`, other comments starting with `#`, or empty.
//! Tokens may be separated by any run of blanks and tabs.

use super::cursor::{Cursor, Spacing, parse_float, snippet, unescape_help};
use super::error::{ParseError, ParseErrorKind};
use super::family::Families;
use super::{Exposition, MetricType, Sample, numbered_lines};

pub(super) fn parse(text: &str) -> Result<Exposition, ParseError> {
    let mut families = Families::new(false);
    let mut samples = Vec::new();
    for (line_number, line) in numbered_lines(text) {
        let at_line = |kind| ParseError {
            line: line_number,
            kind,
        };
        if line.ends_with('\r') {
            return Err(at_line(ParseErrorKind::CarriageReturn));
        }
        let mut cursor = Cursor::new(line, Spacing::Lenient);
        cursor.skip_blanks();
        match cursor.peek() {
            None => {}
            Some('#') => parse_comment(&mut cursor, &mut families).map_err(at_line)?,
            Some(_) => samples.push(parse_sample(&mut cursor, &mut families).map_err(at_line)?),
        }
    }
    Ok(Exposition {
        samples,
        metadata: families.into_metadata(),
    })
}

/// Parses `# HELP`, `# TYPE` or a plain comment, which is ignored. As in
/// Prometheus 2.42, `#` must be followed by a blank for HELP or TYPE to
/// count, so `#HELP` is a plain comment.
fn parse_comment(cursor: &mut Cursor<'_>, families: &mut Families) -> Result<(), ParseErrorKind> {
    cursor.expect('#', "to start a comment")?;
    if cursor.skip_blanks() == 0 {
        return Ok(());
    }
    let keyword = cursor.token();
    if keyword != "HELP" && keyword != "TYPE" {
        return Ok(());
    }
    cursor.separator("before the metric name")?;
    let family = cursor.metric_name()?;
    if keyword == "HELP" {
        let help = if cursor.is_at_end() {
            String::new()
        } else {
            cursor.separator("before the help text")?;
            unescape_help(cursor.rest(), false)?
        };
        return families.set_help(family, help);
    }
    cursor.separator("before the metric type")?;
    let metric_type = match cursor.token() {
        "counter" => MetricType::Counter,
        "gauge" => MetricType::Gauge,
        "histogram" => MetricType::Histogram,
        "summary" => MetricType::Summary,
        "untyped" => MetricType::Unknown,
        other => {
            return Err(ParseErrorKind::InvalidType {
                found: other.to_owned(),
                allowed: "counter, gauge, histogram, summary, untyped",
            });
        }
    };
    cursor.skip_blanks();
    expect_end(cursor, "metric type")?;
    families.set_type(family, metric_type)
}

fn parse_sample(
    cursor: &mut Cursor<'_>,
    families: &mut Families,
) -> Result<Sample, ParseErrorKind> {
    let name = cursor.metric_name()?;
    let labels = cursor.series_labels(name)?;
    cursor.separator("before the sample value")?;
    let value_text = cursor.token();
    let value = parse_float(value_text).ok_or_else(|| ParseErrorKind::InvalidValue {
        found: value_text.to_owned(),
    })?;
    cursor.skip_blanks();
    let timestamp_ms = if cursor.is_at_end() {
        None
    } else {
        let found = cursor.token();
        let timestamp = found
            .parse::<i64>()
            .map_err(|_| ParseErrorKind::InvalidTimestamp {
                found: found.to_owned(),
                expected: "an integer number of milliseconds since the Unix epoch",
            })?;
        cursor.skip_blanks();
        expect_end(cursor, "timestamp")?;
        Some(timestamp)
    };
    let family = families.resolve(name);
    families.add_sample(&family, &labels)?;
    Ok(Sample {
        labels,
        value,
        timestamp_ms,
        exemplar: None,
    })
}

fn expect_end(cursor: &Cursor<'_>, after: &'static str) -> Result<(), ParseErrorKind> {
    if cursor.is_at_end() {
        Ok(())
    } else {
        Err(ParseErrorKind::TrailingText {
            found: snippet(cursor.rest()),
            after,
        })
    }
}
