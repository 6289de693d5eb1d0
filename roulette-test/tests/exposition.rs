//! Exposition parsing against text captured from real exporters, and a
//! property test that no input makes the parser panic.
//!
//! The fixtures in tests/data were captured on 127.0.0.1 from
//! prometheus-pushgateway 1.5.1 (text format), Prometheus 2.42 (its own
//! /metrics) and the Python prometheus_client 0.16 (both formats).
//! prometheus-2.42-scraped.json holds the series that Prometheus 2.42
//! stored when it scraped that pushgateway (honor_labels, job "roulette")
//! and that Python exporter (OpenMetrics, job "python").

use std::path::PathBuf;

use proptest::prelude::*;
use roulette_test::metrics::exposition::{
    Format, Sample, parse_exposition, parse_exposition_bytes, parse_exposition_with_metadata,
};
use roulette_test::metrics::labels::Labels;

const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
const OPENMETRICS: &str = "application/openmetrics-text; version=0.0.1; charset=utf-8";

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn parse_fixture(name: &str, content_type: &str) -> Vec<Sample> {
    parse_exposition(&fixture(name), content_type).unwrap_or_else(|error| panic!("{name}: {error}"))
}

fn find<'a>(samples: &'a [Sample], labels: &Labels) -> Option<&'a Sample> {
    samples.iter().find(|sample| &sample.labels == labels)
}

#[test]
fn pushgateway_fixture_parses() {
    let samples = parse_fixture("pushgateway-1.5.1.txt", TEXT);
    assert!(samples.len() > 50, "{} samples", samples.len());
    let quantile = Labels::from_pairs([
        ("__name__", "rpc_latency_seconds"),
        ("instance", "sut-1"),
        ("job", "roulette"),
        ("method", "say \"hi\"\\n"),
        ("quantile", "0.99"),
    ]);
    assert!(find(&samples, &quantile).unwrap().value.is_nan());
    let bucket = Labels::from_pairs([
        ("__name__", "request_duration_seconds_bucket"),
        ("instance", "sut-1"),
        ("job", "roulette"),
        ("le", "+Inf"),
        ("path", "/a,b=c}"),
    ]);
    assert_eq!(find(&samples, &bucket).unwrap().value, 9.0);
}

#[test]
fn prometheus_fixture_parses() {
    let text = fixture("prometheus-2.42.txt");
    let exposition = parse_exposition_with_metadata(&text, Format::PrometheusText).unwrap();
    assert!(
        exposition.samples.len() > 300,
        "{}",
        exposition.samples.len()
    );
    assert!(
        exposition.metadata.len() > 100,
        "{}",
        exposition.metadata.len()
    );
}

#[test]
fn python_client_fixtures_parse() {
    let samples = parse_fixture("python-client-0.16.txt", TEXT);
    assert!(samples.len() > 10);
    let samples = parse_fixture("python-client-0.16-openmetrics.txt", OPENMETRICS);
    let with_exemplars: Vec<&Sample> = samples.iter().filter(|s| s.exemplar.is_some()).collect();
    assert_eq!(with_exemplars.len(), 3);
    let exemplar = with_exemplars[0].exemplar.as_ref().unwrap();
    assert_eq!(exemplar.labels.get("trace_id"), Some("abc123"));
    assert_eq!(exemplar.value, 1.5);
}

/// Every series Prometheus 2.42 stored from the captured expositions has
/// the same labels and value in this parser's output.
#[test]
fn parse_matches_prometheus_scrape() {
    let stored: serde_json::Value =
        serde_json::from_str(&fixture("prometheus-2.42-scraped.json")).unwrap();
    let pushgateway = parse_fixture("pushgateway-1.5.1.txt", TEXT);
    let python = parse_fixture("python-client-0.16-openmetrics.txt", OPENMETRICS);
    let series = stored["result"].as_array().unwrap();
    assert!(series.len() > 30);
    for entry in series {
        let metric = entry["metric"].as_object().unwrap();
        let labels = Labels::from_pairs(
            metric
                .iter()
                .map(|(name, value)| (name.clone(), value.as_str().unwrap().to_owned())),
        );
        let expected: f64 = entry["value"].as_str().unwrap().parse().unwrap();
        let sample = if labels.get("job") == Some("python") {
            let unlabelled = labels.without(&["job", "instance"]);
            find(&python, &unlabelled)
        } else {
            find(&pushgateway, &labels)
        };
        let sample = sample.unwrap_or_else(|| panic!("{labels} not parsed"));
        if expected.is_nan() {
            assert!(sample.value.is_nan(), "{labels}");
        } else {
            assert_eq!(sample.value, expected, "{labels}");
        }
    }
}

fn exposition_line() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "m",
        "x_1:y",
        "{",
        "}",
        "=",
        "\"",
        ",",
        " ",
        "\t",
        "\\",
        "\\n",
        "\\\"",
        "le",
        "\"+Inf\"",
        "1",
        "-2.5e3",
        "NaN",
        "+Inf",
        "-Inf",
        "#",
        "# ",
        "HELP",
        "TYPE",
        "UNIT",
        "EOF",
        "counter",
        "histogram",
        "_total",
        "_bucket",
        "{}",
        "é",
        "\r",
    ]);
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_exposition_bytes(&bytes, TEXT);
        let _ = parse_exposition_bytes(&bytes, OPENMETRICS);
    }

    #[test]
    fn arbitrary_lines_never_panic(lines in prop::collection::vec(exposition_line(), 0..8)) {
        let text = lines.join("\n");
        let _ = parse_exposition(&text, TEXT);
        let _ = parse_exposition(&text, OPENMETRICS);
        let _ = parse_exposition(&format!("{text}\n# EOF\n"), OPENMETRICS);
    }
}
