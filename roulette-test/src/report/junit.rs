//! The reports as JUnit XML, the format CI systems read test results from.
//!
//! Each experiment is a `<testsuite>`, each hypothesis verdict a
//! `<testcase>`. An experiment that could not be carried out gets one more
//! test case named `experiment` with an `<error>`, and one whose circuit
//! breaker stopped the faults gets that test case with a `<failure>`.

use std::fmt::Write;

use super::{Outcome, Report, render_text};

/// The name of the test case that carries an experiment's error or abort.
pub const EXPERIMENT_CASE: &str = "experiment";

/// Renders `reports` as one JUnit XML document with a `<testsuite>` per
/// report. The text report of each experiment, without colours, is the
/// suite's `<system-out>`.
pub fn render_junit(reports: &[Report]) -> String {
    let suites: Vec<Suite> = reports.iter().map(Suite::new).collect();
    let tests: usize = suites.iter().map(|suite| suite.tests).sum();
    let failures: usize = suites.iter().map(|suite| suite.failures).sum();
    let errors: usize = suites.iter().map(|suite| suite.errors).sum();
    let seconds: f64 = reports.iter().map(|r| r.duration.as_secs_f64()).sum();

    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"roulette\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{seconds:.3}\">"
    );
    for (report, suite) in reports.iter().zip(&suites) {
        write_suite(&mut out, report, suite);
    }
    out.push_str("</testsuites>\n");
    out
}

/// The counts of one `<testsuite>`.
struct Suite {
    tests: usize,
    failures: usize,
    errors: usize,
}

impl Suite {
    fn new(report: &Report) -> Self {
        let experiment_case = report.error.is_some() || report.aborted.is_some();
        Suite {
            tests: report.verdicts.len() + usize::from(experiment_case),
            failures: report.failures().count()
                + usize::from(report.error.is_none() && report.aborted.is_some()),
            errors: usize::from(report.error.is_some()),
        }
    }
}

fn write_suite(out: &mut String, report: &Report, suite: &Suite) {
    let name = escape_attribute(&report.experiment);
    let _ = writeln!(
        out,
        "  <testsuite name=\"{name}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"{:.3}\">",
        suite.tests,
        suite.failures,
        suite.errors,
        report.duration.as_secs_f64()
    );

    out.push_str("    <properties>\n");
    let outcome = match report.outcome {
        Outcome::Passed => "passed",
        Outcome::Failed => "failed",
        Outcome::Error => "error",
    };
    write_property(out, "outcome", outcome);
    if let Some(source) = &report.source {
        write_property(out, "source", source);
    }
    if let Some(seed) = report.seed {
        write_property(out, "seed", &seed.to_string());
    }
    write_property(out, "faults", &report.faults.len().to_string());
    write_property(out, "restarts", &report.restarts.to_string());
    out.push_str("    </properties>\n");

    for verdict in &report.verdicts {
        let _ = write!(
            out,
            "    <testcase classname=\"{name}\" name=\"{}\" time=\"0\"",
            escape_attribute(&verdict.name)
        );
        if verdict.holds {
            out.push_str("/>\n");
            continue;
        }
        let body = format!(
            "check: {}\nmeasured: {}\nthreshold: {}\n{}",
            verdict.check, verdict.measured, verdict.threshold, verdict.reason
        );
        let _ = writeln!(
            out,
            ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
            escape_attribute(&verdict.reason),
            escape_attribute(&verdict.check),
            escape_text(&body)
        );
    }

    if let Some(error) = &report.error {
        let kind = serde_json::to_value(error.kind)
            .ok()
            .and_then(|value| value.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "    <testcase classname=\"{name}\" name=\"{EXPERIMENT_CASE}\" time=\"{:.3}\">\n      <error message=\"{}\" type=\"{}\">{}</error>\n    </testcase>",
            report.duration.as_secs_f64(),
            escape_attribute(&error.message),
            escape_attribute(&kind),
            escape_text(&error.message)
        );
    } else if let Some(reason) = &report.aborted {
        let _ = writeln!(
            out,
            "    <testcase classname=\"{name}\" name=\"{EXPERIMENT_CASE}\" time=\"{:.3}\">\n      <failure message=\"{}\" type=\"aborted\">{}</failure>\n    </testcase>",
            report.duration.as_secs_f64(),
            escape_attribute(reason),
            escape_text(reason)
        );
    }

    let _ = writeln!(
        out,
        "    <system-out>{}</system-out>",
        escape_text(&render_text(report, false))
    );
    out.push_str("  </testsuite>\n");
}

fn write_property(out: &mut String, name: &str, value: &str) {
    let _ = writeln!(
        out,
        "      <property name=\"{}\" value=\"{}\"/>",
        escape_attribute(name),
        escape_attribute(value)
    );
}

/// Escapes `text` for an element's content.
fn escape_text(text: &str) -> String {
    escape(text, false)
}

/// Escapes `text` for a double- or single-quoted attribute value. Tabs and
/// line breaks become character references, because a parser turns the
/// literal characters into spaces there.
fn escape_attribute(text: &str) -> String {
    escape(text, true)
}

fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // A literal carriage return would be normalised to a line feed.
            '\r' => out.push_str("&#13;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' | '\t' => out.push(c),
            // XML 1.0 allows no other C0 control character, not even as a
            // character reference, nor U+FFFE and U+FFFF. Those and the
            // C1 controls are written as visible Rust escapes like `\u{1b}`.
            c if c.is_control() || c == '\u{fffe}' || c == '\u{ffff}' => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use quick_xml::events::Event;
    use quick_xml::reader::Reader;

    use super::*;
    use crate::report::sample::{error_report, failed_report};

    /// One element of the parsed document: its name, its attributes with
    /// their unescaped values, and its unescaped text.
    #[derive(Debug)]
    struct Element {
        name: String,
        attributes: Vec<(String, String)>,
        text: String,
        depth: usize,
    }

    impl Element {
        fn attribute(&self, key: &str) -> Option<&str> {
            self.attributes
                .iter()
                .find(|(name, _)| name == key)
                .map(|(_, value)| value.as_str())
        }
    }

    /// Parses `xml` with a conforming parser and returns its elements in
    /// document order; panics on malformed XML or mismatched tags.
    fn parse(xml: &str) -> Vec<Element> {
        let mut reader = Reader::from_str(xml);
        reader.config_mut().check_end_names = true;
        let mut elements: Vec<Element> = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        loop {
            let event = reader
                .read_event()
                .unwrap_or_else(|err| panic!("invalid XML: {err}\n{xml}"));
            let empty = matches!(event, Event::Empty(_));
            match event {
                Event::Start(start) | Event::Empty(start) => {
                    let attributes = start
                        .attributes()
                        .map(|attribute| {
                            let attribute = attribute.expect("a well-formed attribute");
                            let key = String::from_utf8(attribute.key.as_ref().to_vec()).unwrap();
                            let value = attribute
                                .decode_and_unescape_value(reader.decoder())
                                .expect("an attribute value that unescapes")
                                .into_owned();
                            (key, value)
                        })
                        .collect();
                    elements.push(Element {
                        name: String::from_utf8(start.name().as_ref().to_vec()).unwrap(),
                        attributes,
                        text: String::new(),
                        depth: open.len(),
                    });
                    if !empty {
                        open.push(elements.len() - 1);
                    }
                }
                Event::End(_) => {
                    open.pop().expect("an end tag with a start tag");
                }
                Event::Text(text) => {
                    if let Some(&index) = open.last() {
                        let text = text.decode().expect("UTF-8 text");
                        let text = quick_xml::escape::unescape(&text).expect("text that unescapes");
                        elements[index].text.push_str(&text);
                    }
                }
                Event::GeneralRef(reference) => {
                    if let Some(&index) = open.last() {
                        let name = reference.decode().expect("UTF-8 reference");
                        let reference = format!("&{name};");
                        let text = quick_xml::escape::unescape(&reference).expect("a known entity");
                        elements[index].text.push_str(&text);
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert!(open.is_empty(), "unclosed elements in\n{xml}");
        elements
    }

    #[test]
    fn junit_failed_verdict_parses_back() {
        let report = failed_report();
        let xml = render_junit(std::slice::from_ref(&report));
        let elements = parse(&xml);

        let root = &elements[0];
        assert_eq!(root.name, "testsuites");
        assert_eq!(root.attribute("tests"), Some("2"));
        assert_eq!(root.attribute("failures"), Some("1"));
        assert_eq!(root.attribute("errors"), Some("0"));

        let suites: Vec<&Element> = elements.iter().filter(|e| e.name == "testsuite").collect();
        assert_eq!(suites.len(), 1);
        assert_eq!(
            suites[0].attribute("name"),
            Some(report.experiment.as_str())
        );
        assert_eq!(suites[0].attribute("tests"), Some("2"));
        assert_eq!(suites[0].attribute("failures"), Some("1"));
        assert_eq!(suites[0].attribute("errors"), Some("0"));
        assert_eq!(suites[0].attribute("time"), Some("8.984"));

        let cases: Vec<&Element> = elements.iter().filter(|e| e.name == "testcase").collect();
        let names: Vec<&str> = cases.iter().filter_map(|c| c.attribute("name")).collect();
        assert_eq!(names, ["restarted-once", "recovers-fast"]);
        for case in &cases {
            assert_eq!(
                case.attribute("classname"),
                Some(report.experiment.as_str())
            );
        }

        let failures: Vec<&Element> = elements.iter().filter(|e| e.name == "failure").collect();
        assert_eq!(failures.len(), 1, "one failure element in\n{xml}");
        assert_eq!(
            failures[0].attribute("message"),
            Some("TTR <2s> & 'late' | \"stale\"\\u{1b}[31m"),
            "the reason survives escaping, its control character made visible"
        );
        assert_eq!(failures[0].attribute("type"), Some("ttr"));
        assert!(
            failures[0]
                .text
                .contains("measured: max 2s over 1 recovery")
        );
        assert!(failures[0].text.contains("threshold: < 2s"));
        assert!(
            !elements.iter().any(|e| e.name == "error"),
            "no error element in\n{xml}"
        );

        let output: Vec<&Element> = elements.iter().filter(|e| e.name == "system-out").collect();
        assert_eq!(output.len(), 1);
        assert_eq!(output[0].depth, 2, "system-out belongs to the testsuite");
        assert!(output[0].text.contains("timeline:"));
        assert!(output[0].text.contains("spawned incarnation #1 (pid 8954)"));
        assert!(output[0].text.contains("listening ``` on <127.0.0.1:1>"));
    }

    #[test]
    fn junit_error_gets_experiment_case() {
        let reports = [failed_report(), error_report()];
        let xml = render_junit(&reports);
        let elements = parse(&xml);

        let root = &elements[0];
        assert_eq!(root.attribute("tests"), Some("3"));
        assert_eq!(root.attribute("failures"), Some("1"));
        assert_eq!(root.attribute("errors"), Some("1"));

        let suites: Vec<&Element> = elements.iter().filter(|e| e.name == "testsuite").collect();
        assert_eq!(suites.len(), 2);
        assert_eq!(suites[1].attribute("name"), Some("slow"));
        assert_eq!(suites[1].attribute("tests"), Some("1"));
        assert_eq!(suites[1].attribute("failures"), Some("0"));
        assert_eq!(suites[1].attribute("errors"), Some("1"));

        let errors: Vec<&Element> = elements.iter().filter(|e| e.name == "error").collect();
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].attribute("message"),
            Some("the experiment ran longer than its timeout of 30s")
        );
        assert_eq!(errors[0].attribute("type"), Some("timeout"));
        let case = elements
            .iter()
            .rfind(|e| e.name == "testcase")
            .expect("a testcase");
        assert_eq!(case.attribute("name"), Some(EXPERIMENT_CASE));
        assert_eq!(case.attribute("classname"), Some("slow"));
    }

    #[test]
    fn junit_aborted_run_fails_experiment_case() {
        let mut report = failed_report();
        report.verdicts.retain(|verdict| verdict.holds);
        report.aborted = Some(String::from("3 faults did not recover"));
        let xml = render_junit(std::slice::from_ref(&report));
        let elements = parse(&xml);

        assert_eq!(elements[0].attribute("tests"), Some("2"));
        assert_eq!(elements[0].attribute("failures"), Some("1"));
        let failures: Vec<&Element> = elements.iter().filter(|e| e.name == "failure").collect();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].attribute("type"), Some("aborted"));
        assert_eq!(
            failures[0].attribute("message"),
            Some("3 faults did not recover")
        );
    }

    #[test]
    fn escape_covers_markup_and_controls() {
        let cases = [
            ("a & b", "a &amp; b", "a &amp; b"),
            ("<x>", "&lt;x&gt;", "&lt;x&gt;"),
            (
                "\"q\" 'a'",
                "&quot;q&quot; &apos;a&apos;",
                "&quot;q&quot; &apos;a&apos;",
            ),
            ("l1\nl2\tt", "l1\nl2\tt", "l1&#10;l2&#9;t"),
            ("cr\r", "cr&#13;", "cr&#13;"),
            (
                "bell\u{7}nul\u{0}",
                "bell\\u{7}nul\\u{0}",
                "bell\\u{7}nul\\u{0}",
            ),
            ("c1\u{85}", "c1\\u{85}", "c1\\u{85}"),
            ("nc\u{ffff}", "nc\\u{ffff}", "nc\\u{ffff}"),
            ("é ✓", "é ✓", "é ✓"),
        ];
        for (input, text, attribute) in cases {
            assert_eq!(escape_text(input), text, "text escape of {input:?}");
            assert_eq!(
                escape_attribute(input),
                attribute,
                "attribute escape of {input:?}"
            );
        }
    }
}
