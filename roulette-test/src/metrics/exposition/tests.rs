use super::*;

const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn parse_text(text: &str) -> Vec<Sample> {
    parse_exposition(text, TEXT).unwrap_or_else(|error| panic!("{error}\n{text}"))
}

fn parse_om(text: &str) -> Vec<Sample> {
    parse_exposition(text, OPENMETRICS).unwrap_or_else(|error| panic!("{error}\n{text}"))
}

fn one_sample(samples: Vec<Sample>) -> Sample {
    assert_eq!(samples.len(), 1, "{samples:?}");
    samples.into_iter().next().unwrap()
}

fn text_error(text: &str) -> ParseError {
    parse_exposition(text, TEXT).expect_err(text)
}

fn om_error(text: &str) -> ParseError {
    parse_exposition(text, OPENMETRICS).expect_err(text)
}

#[test]
fn format_from_content_type() {
    let cases = [
        ("", Format::PrometheusText),
        ("text/plain; version=0.0.4", Format::PrometheusText),
        (
            "application/openmetrics-text; version=1.0.0",
            Format::OpenMetrics,
        ),
        (
            "Application/OpenMetrics-Text;version=0.0.1",
            Format::OpenMetrics,
        ),
        ("application/json", Format::PrometheusText),
    ];
    for (content_type, expected) in cases {
        assert_eq!(
            Format::from_content_type(content_type),
            expected,
            "{content_type}"
        );
    }
}

#[test]
fn metric_name_with_colons() {
    let sample = one_sample(parse_text("job:http_requests:rate5m 3\n"));
    assert_eq!(
        sample.labels.metric_name(),
        Some("job:http_requests:rate5m")
    );
    assert_eq!(sample.value, 3.0);
}

#[test]
fn label_value_escapes() {
    let cases = [
        (r#"m{a="x\"y"} 1"#, "x\"y"),
        (r#"m{a="x\\y"} 1"#, "x\\y"),
        (r#"m{a="x\ny"} 1"#, "x\ny"),
        (r#"m{a="\\n"} 1"#, "\\n"),
    ];
    for (line, expected) in cases {
        assert_eq!(
            one_sample(parse_text(line)).labels.get("a"),
            Some(expected),
            "{line}"
        );
        let om = format!("{line}\n# EOF\n");
        assert_eq!(
            one_sample(parse_om(&om)).labels.get("a"),
            Some(expected),
            "{line}"
        );
    }
}

#[test]
fn label_value_with_separators_inside() {
    let sample = one_sample(parse_text(r#"m{path="/a,b=c}",x="}{"} 1"#));
    assert_eq!(sample.labels.get("path"), Some("/a,b=c}"));
    assert_eq!(sample.labels.get("x"), Some("}{"));
}

#[test]
fn label_value_invalid_escape_rejected() {
    let error = text_error(r#"m{a="x\ty"} 1"#);
    assert_eq!(error.line, 1);
    assert!(
        matches!(error.kind, ParseErrorKind::InvalidEscape { ref sequence, .. } if sequence == "\\t")
    );
}

#[test]
fn label_set_whitespace_and_trailing_comma() {
    let sample = one_sample(parse_text("m { a = \"1\" , b=\"2\", } 7"));
    assert_eq!(sample.labels.get("a"), Some("1"));
    assert_eq!(sample.labels.get("b"), Some("2"));
    assert!(matches!(
        om_error("m{a=\"1\",} 1\n# EOF\n").kind,
        ParseErrorKind::TrailingComma
    ));
    assert!(matches!(
        om_error("m{a=\"1\", b=\"2\"} 1\n# EOF\n").kind,
        ParseErrorKind::InvalidLabelName { .. }
    ));
}

#[test]
fn empty_label_set() {
    let sample = one_sample(parse_text("m{} 1"));
    assert_eq!(sample.labels.len(), 1);
}

#[test]
fn special_values() {
    let cases = [
        ("NaN", f64::NAN),
        ("+Inf", f64::INFINITY),
        ("-Inf", f64::NEG_INFINITY),
        ("Inf", f64::INFINITY),
        ("1e3", 1000.0),
        ("-0.5", -0.5),
        (".5", 0.5),
        ("+7", 7.0),
    ];
    for (text, expected) in cases {
        let value = one_sample(parse_text(&format!("m {text}"))).value;
        if expected.is_nan() {
            assert!(value.is_nan(), "{text}");
        } else {
            assert_eq!(value, expected, "{text}");
        }
    }
}

#[test]
fn invalid_values_rejected() {
    for text in ["abc", "1,5", "0x10", "+NaN", "1_000", "--1"] {
        let error = text_error(&format!("m {text}"));
        assert!(
            matches!(error.kind, ParseErrorKind::InvalidValue { ref found } if found == text),
            "{text}: {error}"
        );
    }
}

#[test]
fn text_timestamps_in_milliseconds() {
    let sample = one_sample(parse_text("m 1 1700000000123"));
    assert_eq!(sample.timestamp_ms, Some(1_700_000_000_123));
    let sample = one_sample(parse_text("m 1 -5  "));
    assert_eq!(sample.timestamp_ms, Some(-5));
    assert!(matches!(
        text_error("m 1 1.5").kind,
        ParseErrorKind::InvalidTimestamp { .. }
    ));
    assert!(matches!(
        text_error("m 1 2 3").kind,
        ParseErrorKind::TrailingText { .. }
    ));
}

#[test]
fn openmetrics_timestamps_in_seconds() {
    let cases = [
        ("1700000000", 1_700_000_000_000),
        ("1700000000.123", 1_700_000_000_123),
        ("1520879607.789", 1_520_879_607_789),
        ("1.5", 1500),
        ("1.0009", 1000),
        ("1.5e3", 1_500_000),
        ("-1.25", -1250),
    ];
    for (text, expected) in cases {
        let sample = one_sample(parse_om(&format!("m 1 {text}\n# EOF\n")));
        assert_eq!(sample.timestamp_ms, Some(expected), "{text}");
    }
    assert!(matches!(
        om_error("m 1 NaN\n# EOF\n").kind,
        ParseErrorKind::InvalidTimestamp { .. }
    ));
}

#[test]
fn help_text_escapes() {
    let text = "# HELP m A \\\\ backslash,\\na newline and \"quotes\".\n# TYPE m gauge\nm 1\n";
    let exposition = parse_exposition_with_metadata(text, Format::PrometheusText).unwrap();
    let help = exposition.metadata[0].help.as_deref();
    assert_eq!(help, Some("A \\ backslash,\na newline and \"quotes\"."));
    assert!(matches!(
        text_error("# HELP m bad \\\" escape\n").kind,
        ParseErrorKind::InvalidEscape { .. }
    ));
    let om = "# HELP m say \\\"hi\\\"\n# EOF\n";
    let exposition = parse_exposition_with_metadata(om, Format::OpenMetrics).unwrap();
    assert_eq!(exposition.metadata[0].help.as_deref(), Some("say \"hi\""));
}

#[test]
fn comments_and_blank_lines_in_text_format() {
    let text = "\n# a comment\n#HELP m not metadata\n   \n  m 1\n";
    assert_eq!(parse_text(text).len(), 1);
}

#[test]
fn histogram_family() {
    let text = "# TYPE h histogram\n\
        h_bucket{le=\"0.1\"} 1\n\
        h_bucket{le=\"+Inf\"} 3\n\
        h_sum 0.7\n\
        h_count 3\n\
        h_created 1700000000\n";
    let samples = parse_text(text);
    let values: Vec<(&str, Option<&str>, f64)> = samples
        .iter()
        .map(|s| (s.labels.metric_name().unwrap(), s.labels.get("le"), s.value))
        .collect();
    assert_eq!(
        values,
        [
            ("h_bucket", Some("0.1"), 1.0),
            ("h_bucket", Some("+Inf"), 3.0),
            ("h_sum", None, 0.7),
            ("h_count", None, 3.0),
            ("h_created", None, 1.7e9),
        ]
    );
    let error = text_error("# TYPE h histogram\nh_bucket{le=\"x\"} 1\n");
    assert_eq!(error.line, 2);
    assert!(matches!(
        error.kind,
        ParseErrorKind::InvalidBucketLabel { .. }
    ));
    let error = text_error("# TYPE h histogram\nh_bucket 1\n");
    assert!(matches!(
        error.kind,
        ParseErrorKind::InvalidBucketLabel { .. }
    ));
}

#[test]
fn summary_family() {
    let text = "# TYPE s summary\ns{quantile=\"0.99\"} NaN\ns_sum 2\ns_count 4\n";
    let samples = parse_text(text);
    assert_eq!(samples.len(), 3);
    assert!(samples[0].value.is_nan());
    assert_eq!(samples[0].labels.get("quantile"), Some("0.99"));
    let error = text_error("# TYPE s summary\ns 1\n");
    assert!(matches!(
        error.kind,
        ParseErrorKind::InvalidBucketLabel { .. }
    ));
}

#[test]
fn metadata_rules() {
    let cases = [
        "# TYPE m gauge\n# TYPE m counter\n",
        "# HELP m a\n# HELP m b\n",
        "m 1\n# TYPE m gauge\n",
        "# TYPE m gauges\n",
        "# TYPE m\n",
        "# TYPE 1m gauge\n",
    ];
    for text in cases {
        let error = text_error(text);
        assert!(error.line >= 1, "{text}");
    }
}

#[test]
fn errors_name_the_line() {
    let error = text_error("a 1\nb 2\nc{x=\"1\" 3\n");
    assert_eq!(error.line, 3);
    assert!(
        error.to_string().starts_with("line 3: expected ',' or '}'"),
        "{error}"
    );
    let error = text_error("a 1\r\n");
    assert_eq!(error.kind, ParseErrorKind::CarriageReturn);
    let error = text_error("m{a=\"unterminated} 1\n");
    assert_eq!(error.kind, ParseErrorKind::UnterminatedLabelValue);
    let error = text_error("m{a=\"1\",a=\"2\"} 1\n");
    assert!(matches!(error.kind, ParseErrorKind::DuplicateLabel { .. }));
    let error = text_error("m\n");
    assert!(matches!(error.kind, ParseErrorKind::Expected { .. }));
}

#[test]
fn openmetrics_counter_total_created() {
    let text = "# TYPE c counter\n# HELP c Requests.\nc_total{a=\"1\"} 5\nc_created{a=\"1\"} 1700000000.5\n# EOF\n";
    let samples = parse_om(text);
    assert_eq!(samples[0].labels.metric_name(), Some("c_total"));
    assert_eq!(samples[0].value, 5.0);
    assert_eq!(samples[1].labels.metric_name(), Some("c_created"));
    assert_eq!(samples[1].value, 1_700_000_000.5);
    let error = om_error("# TYPE c counter\nc 5\n# EOF\n");
    assert!(matches!(
        error.kind,
        ParseErrorKind::CounterWithoutTotal { .. }
    ));
}

#[test]
fn openmetrics_unit() {
    let text = "# TYPE d_seconds gauge\n# UNIT d_seconds seconds\nd_seconds 1\n# EOF\n";
    let exposition = parse_exposition_with_metadata(text, Format::OpenMetrics).unwrap();
    assert_eq!(exposition.metadata[0].unit.as_deref(), Some("seconds"));
    let error = om_error("# UNIT d_bytes seconds\n# EOF\n");
    assert!(matches!(error.kind, ParseErrorKind::UnitNotSuffix { .. }));
}

#[test]
fn openmetrics_exemplars() {
    let text = "# TYPE h histogram\n\
        h_bucket{le=\"1\"} 2 # {trace_id=\"abc\"} 0.5 1700000000.25\n\
        h_bucket{le=\"+Inf\"} 3 1700000001 # {} 7\n\
        h_count 3\nh_sum 9\n\
        # TYPE c counter\n\
        c_total 1 # {span=\"x\"} 1\n\
        # EOF\n";
    let samples = parse_om(text);
    let exemplar = samples[0].exemplar.as_ref().unwrap();
    assert_eq!(exemplar.labels.get("trace_id"), Some("abc"));
    assert_eq!(exemplar.value, 0.5);
    assert_eq!(exemplar.timestamp_ms, Some(1_700_000_000_250));
    assert_eq!(samples[1].timestamp_ms, Some(1_700_000_001_000));
    let exemplar = samples[1].exemplar.as_ref().unwrap();
    assert!(exemplar.labels.is_empty());
    assert_eq!(exemplar.value, 7.0);
    assert_eq!(samples[4].exemplar.as_ref().unwrap().value, 1.0);

    let error = om_error("# TYPE g gauge\ng 1 # {a=\"b\"} 1\n# EOF\n");
    assert!(matches!(
        error.kind,
        ParseErrorKind::ExemplarNotAllowed { .. }
    ));
    let long = "x".repeat(130);
    let error = om_error(&format!(
        "# TYPE c counter\nc_total 1 # {{a=\"{long}\"}} 1\n# EOF\n"
    ));
    assert!(matches!(
        error.kind,
        ParseErrorKind::ExemplarTooLong { chars: 131 }
    ));
    let error = parse_exposition("m 1 # {a=\"b\"} 1\n", TEXT).unwrap_err();
    assert!(matches!(
        error.kind,
        ParseErrorKind::InvalidTimestamp { .. }
    ));
}

#[test]
fn openmetrics_eof_rules() {
    assert_eq!(parse_om("m 1\n# EOF").len(), 1);
    assert!(parse_om("# EOF\n").is_empty());
    let error = om_error("m 1\n");
    assert_eq!(
        error,
        ParseError {
            line: 2,
            kind: ParseErrorKind::MissingEof
        }
    );
    let error = om_error("m 1\n# EOF\nm 2\n");
    assert_eq!(error.kind, ParseErrorKind::TextAfterEof);
    let error = om_error("m 1\n# EOF\n\n");
    assert_eq!(error.kind, ParseErrorKind::TextAfterEof);
    assert_eq!(om_error("").kind, ParseErrorKind::MissingEof);
}

#[test]
fn openmetrics_strict_lines() {
    let cases = [
        ("m 1\n\n# EOF\n", 2),
        ("# a comment\n# EOF\n", 1),
        ("m  1\n# EOF\n", 1),
        ("m 1 \n# EOF\n", 1),
        (" m 1\n# EOF\n", 1),
        ("# TYPE m gauge\nm 1\n# TYPE n gauge\nn 1\nm 2\n# EOF\n", 5),
        ("m 1\n# TYPE m gauge\n# EOF\n", 2),
        ("# TYPE m untyped\n# EOF\n", 1),
    ];
    for (text, line) in cases {
        assert_eq!(om_error(text).line, line, "{text:?}");
    }
}

#[test]
fn openmetrics_other_families() {
    let text = "# TYPE i info\ni_info{version=\"1\"} 1\n\
        # TYPE s stateset\ns{s=\"a\"} 1\ns{s=\"b\"} 0\n\
        # TYPE g gaugehistogram\ng_bucket{le=\"+Inf\"} 2\ng_gcount 2\ng_gsum 1\n\
        # TYPE u unknown\nu 1\n# EOF\n";
    assert_eq!(parse_om(text).len(), 7);
}

#[test]
fn invalid_utf8_names_the_line() {
    let error = parse_exposition_bytes(b"a 1\nb{x=\"\xff\"} 1\n", TEXT).unwrap_err();
    assert_eq!(
        error,
        ParseError {
            line: 2,
            kind: ParseErrorKind::InvalidUtf8
        }
    );
}
