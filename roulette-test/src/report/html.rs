//! Reports as one self-contained HTML page: no scripts, no external
//! styles or images, so a CI artifact opens the same in any browser.

use std::fmt::Write;

use super::svg::{escape, render_timeline_svg};
use super::table::{FAULT_HEADERS, VERDICT_HEADERS, fault_cells, verdict_cells};
use super::{Outcome, Report};
use crate::spec::format_duration as d;

const STYLE: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 2rem; color: #212529; }
section { margin-bottom: 3rem; }
h1 { font-size: 1.4rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid #dee2e6; padding-bottom: .3rem; }
.passed { color: #2f9e44; } .failed { color: #c92a2a; } .error { color: #e67700; }
.facts { color: #495057; }
.note { border-left: 4px solid #c92a2a; background: #fff5f5; padding: .5rem 1rem; }
table { border-collapse: collapse; margin: 1rem 0; font-size: .9rem; }
th, td { border: 1px solid #dee2e6; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f1f3f5; }
td.pass { color: #2f9e44; font-weight: bold; } td.fail { color: #c92a2a; font-weight: bold; }
pre { background: #f8f9fa; padding: .8rem; overflow-x: auto; font-size: .85rem; }
code { background: #f1f3f5; padding: .1rem .3rem; }
.timeline { overflow-x: auto; }
";

/// Renders `reports` as one HTML page, a section per experiment, each with
/// its timeline picture, its faults and verdicts, the load and writes
/// results, the replay command when it did not pass, and the timeline,
/// provenance and last output lines as text.
pub fn render_html(reports: &[Report]) -> String {
    let mut out = String::new();
    let passed = reports
        .iter()
        .filter(|report| report.outcome == Outcome::Passed)
        .count();
    let title = format!(
        "roulette-test: {passed} of {} experiment(s) passed",
        reports.len()
    );
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    for report in reports {
        write_section(&mut out, report);
    }
    out.push_str("</body>\n</html>\n");
    out
}

fn write_section(out: &mut String, report: &Report) {
    let (class, outcome) = match report.outcome {
        Outcome::Passed => ("passed", "PASSED"),
        Outcome::Failed => ("failed", "FAILED"),
        Outcome::Error => ("error", "ERROR"),
    };
    let _ = writeln!(
        out,
        "<section>\n<h2><span class=\"{class}\">{outcome}</span>: experiment {}</h2>",
        escape(&report.experiment)
    );

    let mut facts = Vec::new();
    if let Some(source) = &report.source {
        facts.push(format!("spec <code>{}</code>", escape(source)));
    }
    if let Some(seed) = report.seed {
        facts.push(format!("seed {seed}"));
    }
    facts.push(format!(
        "{} fault firing(s), {} restart(s), {} of {} hypotheses hold, in {}",
        report.faults.len(),
        report.restarts,
        report.verdicts.iter().filter(|v| v.holds).count(),
        report.verdicts.len(),
        d(report.duration)
    ));
    let _ = writeln!(out, "<p class=\"facts\">{}</p>", facts.join(" · "));
    if let Some(description) = &report.description {
        let _ = writeln!(out, "<p>{}</p>", escape(description));
    }

    let notes = [
        ("Error", report.error.as_ref().map(|e| e.message.clone())),
        ("Aborted", report.aborted.clone()),
        ("Supervisor stopped restarting", report.halted.clone()),
    ];
    for (label, text) in notes {
        if let Some(text) = text {
            let _ = writeln!(
                out,
                "<p class=\"note\"><strong>{label}:</strong> {}</p>",
                escape(&text)
            );
        }
    }
    for problem in &report.scrape_problems {
        let _ = writeln!(
            out,
            "<p class=\"note\"><strong>Metrics:</strong> {}</p>",
            escape(problem)
        );
    }
    if report.outcome != Outcome::Passed
        && let Some(command) = &report.replay
    {
        let _ = writeln!(
            out,
            "<p>Replay with the same seed:</p>\n<pre>{}</pre>",
            escape(command)
        );
    }

    let _ = writeln!(
        out,
        "<div class=\"timeline\">\n{}</div>",
        render_timeline_svg(report)
    );

    if !report.faults.is_empty() {
        let rows: Vec<Vec<String>> = report
            .faults
            .iter()
            .map(|fault| fault_cells(fault).to_vec())
            .collect();
        write_table(out, &FAULT_HEADERS, &rows, |_, _| None);
        let _ = writeln!(
            out,
            "<p class=\"facts\">Readiness probe: {}, every {}; each TTR is late by up to one interval plus one attempt.</p>",
            escape(&report.probe.description),
            d(report.probe.interval)
        );
    }
    if !report.verdicts.is_empty() {
        let rows: Vec<Vec<String>> = report
            .verdicts
            .iter()
            .map(|verdict| verdict_cells(verdict).to_vec())
            .collect();
        write_table(out, &VERDICT_HEADERS, &rows, |row, column| {
            (column == 0).then_some(row[0].as_str())
        });
    }

    // The load and writes results as the text report lays them out, so
    // their tables line up in a monospace block.
    let mut traffic = String::new();
    if let Some(load) = &report.load {
        super::load::write_text(load, &mut traffic);
    }
    super::terminal::render_writes(report, &mut traffic);
    if !traffic.trim().is_empty() {
        let _ = writeln!(out, "<pre>{}</pre>", escape(traffic.trim_matches('\n')));
    }

    let timeline: Vec<String> = report
        .timeline
        .iter()
        .map(|event| format!("+{:>9}  {}", d(event.at), event.kind))
        .collect();
    write_details(out, "Timeline", &timeline);
    let provenance: Vec<String> = report
        .provenance
        .facts()
        .into_iter()
        .map(|(name, value)| format!("{name}: {value}"))
        .collect();
    write_details(out, "Provenance", &provenance);
    let logs: Vec<String> = report
        .log_tail
        .iter()
        .map(|line| format!("+{:>9} #{} | {}", d(line.at), line.incarnation, line.text))
        .collect();
    write_details(
        out,
        &format!("Last {} line(s) of the target's output", logs.len()),
        &logs,
    );
    out.push_str("</section>\n");
}

/// Writes a table; `class` returns the CSS class of a cell, by its row and
/// column index.
fn write_table(
    out: &mut String,
    headers: &[&str],
    rows: &[Vec<String>],
    class: impl Fn(&[String], usize) -> Option<&str>,
) {
    out.push_str("<table>\n<tr>");
    for header in headers {
        let _ = write!(out, "<th>{}</th>", escape(header));
    }
    out.push_str("</tr>\n");
    for row in rows {
        out.push_str("<tr>");
        for (column, cell) in row.iter().enumerate() {
            match class(row, column) {
                Some(class) => {
                    let _ = write!(out, "<td class=\"{class}\">{}</td>", escape(cell));
                }
                None => {
                    let _ = write!(out, "<td>{}</td>", escape(cell));
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

fn write_details(out: &mut String, summary: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<details><summary>{}</summary>\n<pre>{}</pre>\n</details>",
        escape(summary),
        escape(&lines.join("\n"))
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::{error_report, timeline_report};

    #[test]
    fn html_has_section_per_report() {
        let html = render_html(&[timeline_report(), error_report()]);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert_eq!(html.matches("<section>").count(), 2);
        assert_eq!(html.matches("<svg ").count(), 2);
        assert!(html.contains("<title>roulette-test: 0 of 2 experiment(s) passed</title>"));
        assert!(html.contains("<span class=\"failed\">FAILED</span>"));
        assert!(html.contains("<span class=\"error\">ERROR</span>"));
    }

    #[test]
    fn html_escapes_report_text() {
        let html = render_html(&[timeline_report()]);
        assert!(html.contains("experiment kill &lt;worker&gt; &amp; &quot;wait&quot;</h2>"));
        assert!(html.contains("TTR &lt;2s&gt; &amp; &apos;late&apos;"));
        assert!(!html.contains("<worker>"));
        assert!(!html.contains('\u{1b}'), "control characters are replaced");
    }

    #[test]
    fn html_shows_replay_unless_passed() {
        let failed = timeline_report();
        let html = render_html(std::slice::from_ref(&failed));
        assert!(
            html.contains(
                "<pre>ROULETTE_SEED=42 cargo test --test chaos -- --exact kill.yaml</pre>"
            )
        );

        let passed = Report {
            outcome: Outcome::Passed,
            ..failed
        };
        let html = render_html(&[passed]);
        assert!(!html.contains("Replay with the same seed"));
    }

    #[test]
    fn html_marks_verdict_results() {
        let html = render_html(&[timeline_report()]);
        assert!(html.contains("<td class=\"pass\">pass</td><td>restarted-once</td>"));
        assert!(html.contains("<td class=\"fail\">fail</td><td>recovers-fast</td>"));
    }

    #[test]
    fn html_shows_load_results() {
        let report = Report {
            load: Some(crate::report::load::sample_load()),
            ..timeline_report()
        };
        let html = render_html(&[report]);
        assert!(html.contains("<pre>load: "), "no load block in\n{html}");
        assert!(html.contains("connection refused"), "{html}");
    }
}
