//! The report as GitHub-flavoured Markdown, for pull request comments and
//! the job summary of a GitHub Actions step.

use std::fmt::Write;

use super::{Outcome, Report};
use crate::spec::format_duration as d;

/// Renders `report` as Markdown: a heading with the outcome, the error or
/// abort reason, the replay command when it did not pass, the timeline
/// picture when `timeline_image` gives its address, a table of faults
/// with the TTR and its split, a table of verdicts, and the timeline and
/// the target's last output in collapsed `<details>` blocks.
///
/// `timeline_image` is a URL or a path relative to the Markdown file of
/// the SVG from [`render_timeline_svg`](super::render_timeline_svg).
/// Markdown cannot embed the picture itself: GitHub removes inline `<svg>`
/// and `data:` images from Markdown.
pub fn render_markdown(report: &Report, timeline_image: Option<&str>) -> String {
    let mut out = String::new();
    let outcome = match report.outcome {
        Outcome::Passed => "✅ PASSED",
        Outcome::Failed => "❌ FAILED",
        Outcome::Error => "⚠️ ERROR",
    };
    let _ = writeln!(
        out,
        "### {outcome}: experiment {}\n",
        inline(&report.experiment)
    );

    let mut facts = Vec::new();
    if let Some(source) = &report.source {
        facts.push(format!("spec `{}`", source.replace('`', "'")));
    }
    if let Some(seed) = report.seed {
        facts.push(format!("seed {seed}"));
    }
    let holding = report.verdicts.iter().filter(|v| v.holds).count();
    let recovered = report
        .faults
        .iter()
        .filter(|f| f.recovery.ttr().is_some())
        .count();
    facts.push(format!(
        "{} fault(s), {recovered} recovered, {} restart(s), {holding} of {} hypotheses hold, in {}",
        report.faults.len(),
        report.restarts,
        report.verdicts.len(),
        d(report.duration)
    ));
    let _ = writeln!(out, "{}\n", facts.join(" · "));
    if let Some(description) = &report.description {
        let _ = writeln!(out, "{}\n", inline(description));
    }

    if let Some(error) = &report.error {
        let _ = writeln!(out, "> **Error:** {}\n", inline(&error.message));
    }
    if let Some(reason) = &report.aborted {
        let _ = writeln!(out, "> **Aborted:** {}\n", inline(reason));
    }
    if let Some(halted) = &report.halted {
        let _ = writeln!(
            out,
            "> **Supervisor stopped restarting:** {}\n",
            inline(halted)
        );
    }
    for problem in &report.scrape_problems {
        let _ = writeln!(out, "> **Metrics:** {}\n", inline(problem));
    }
    if report.outcome != Outcome::Passed
        && let Some(command) = &report.replay
    {
        let _ = writeln!(out, "Replay with the same seed:\n");
        write_code_block(&mut out, "sh", command);
    }
    if let Some(image) = timeline_image {
        let _ = writeln!(
            out,
            "![Timeline of experiment {}]({})\n",
            inline(&report.experiment),
            image.replace(' ', "%20").replace(')', "%29")
        );
    }

    write_faults(report, &mut out);
    if let Some(load) = &report.load {
        super::load::write_markdown(load, &mut out, inline);
    }
    write_verdicts(report, &mut out);
    write_writes(report, &mut out);
    write_details(
        &mut out,
        "Timeline",
        report
            .timeline
            .iter()
            .map(|event| format!("+{:>9}  {}", d(event.at), event.kind)),
    );
    write_details(
        &mut out,
        "Provenance",
        report
            .provenance
            .facts()
            .into_iter()
            .map(|(name, value)| format!("{name}: {value}")),
    );
    write_details(
        &mut out,
        &format!(
            "Last {} line(s) of the target's output",
            report.log_tail.len()
        ),
        report.log_tail.iter().map(|line| {
            let stream = match line.stream {
                crate::supervisor::logs::Stream::Stdout => "out",
                crate::supervisor::logs::Stream::Stderr => "err",
            };
            format!(
                "+{:>9} #{} {stream}| {}",
                d(line.at),
                line.incarnation,
                line.text
            )
        }),
    );
    out
}

fn write_faults(report: &Report, out: &mut String) {
    if report.faults.is_empty() {
        return;
    }
    out.push('|');
    for header in super::table::FAULT_HEADERS {
        let _ = write!(out, " {header} |");
    }
    out.push_str("\n| --- | --: | --- | --- | --: | --: | --: | --: |\n");
    for fault in &report.faults {
        let cells = super::table::fault_cells(fault);
        write_row(out, &cells);
    }
    let _ = writeln!(
        out,
        "\nReadiness probe: {}, every {}; each TTR is late by up to one interval plus one attempt.\n",
        inline(&report.probe.description),
        d(report.probe.interval)
    );
}

fn write_verdicts(report: &Report, out: &mut String) {
    if report.verdicts.is_empty() {
        return;
    }
    out.push('|');
    for header in super::table::VERDICT_HEADERS {
        let _ = write!(out, " {header} |");
    }
    out.push_str("\n| --- | --- | --- | --- | --- | --- |\n");
    for verdict in &report.verdicts {
        let mark = if verdict.holds {
            "✅ pass"
        } else {
            "❌ fail"
        };
        let mut cells = super::table::verdict_cells(verdict);
        cells[0] = mark.to_owned();
        write_row(out, &cells);
    }
    out.push('\n');
}

/// Writes the counts of `spec.writes` as a table of one row, followed by
/// the failure kinds, the lost and duplicated ids and the intervals.
fn write_writes(report: &Report, out: &mut String) {
    let Some(writes) = &report.writes else {
        return;
    };

    let _ = writeln!(
        out,
        "**Writes** to {} ({})\n",
        inline(&writes.driver),
        inline(&writes.rates())
    );
    out.push_str("| attempted | acknowledged | unacknowledged | present | lost | duplicates |\n");
    out.push_str("| --- | --- | --- | --- | --- | --- |\n");
    let listed = |count: u64| {
        if writes.list_error.is_some() {
            String::from("-")
        } else {
            count.to_string()
        }
    };
    let cells = [
        writes.attempted.to_string(),
        writes.acknowledged.to_string(),
        writes.unacknowledged.to_string(),
        listed(writes.present),
        listed(writes.lost),
        listed(writes.duplicates),
    ];
    write_row(out, &cells);
    out.push('\n');

    let mut notes = Vec::new();
    if let Some(error) = &writes.list_error {
        notes.push(format!("not listed: {error}"));
    }
    if !writes.errors.is_empty() {
        notes.push(format!("unacknowledged: {}", writes.error_summary()));
    }
    if !writes.first_lost.is_empty() {
        notes.push(format!("first lost: {}", writes.first_lost.join(", ")));
    }
    if !writes.first_duplicates.is_empty() {
        notes.push(format!(
            "first duplicates: {}",
            writes.first_duplicates.join(", ")
        ));
    }
    notes.extend(writes.interval_lines());
    for note in notes {
        let _ = writeln!(out, "- {}", inline(&note));
    }
    out.push('\n');
}

fn write_row(out: &mut String, cells: &[String]) {
    out.push('|');
    for cell in cells {
        let _ = write!(out, " {} |", inline(cell));
    }
    out.push('\n');
}

/// Writes `lines` as a code block inside a collapsed `<details>` block,
/// or nothing when there are no lines.
fn write_details(out: &mut String, summary: &str, lines: impl Iterator<Item = String>) {
    let body: Vec<String> = lines.collect();
    if body.is_empty() {
        return;
    }
    let _ = writeln!(out, "<details><summary>{}</summary>\n", inline(summary));
    write_code_block(out, "text", &body.join("\n"));
    out.push_str("</details>\n\n");
}

/// Writes `body` as a fenced code block followed by a blank line.
fn write_code_block(out: &mut String, language: &str, body: &str) {
    // A fence longer than any run of backticks in the body cannot be
    // closed by the body.
    let longest_run = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat((longest_run + 1).max(3));
    let _ = writeln!(out, "{fence}{language}\n{body}\n{fence}\n");
}

/// Escapes `text` for one line of Markdown, such as a table cell, and
/// shows the parts it quotes in backticks, as in ``unknown field `x` ``,
/// as code. An odd number of backticks quotes nothing, so then each one is
/// escaped.
fn inline(text: &str) -> String {
    let parts: Vec<&str> = text.split('`').collect();
    if parts.len() < 3 || parts.len().is_multiple_of(2) {
        return escape(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (index, part) in parts.iter().enumerate() {
        if index % 2 == 1 {
            // An HTML element, unlike a Markdown code span, keeps a `\|`
            // escape working inside a table cell.
            let _ = write!(out, "<code>{}</code>", escape(part));
        } else {
            out.push_str(&escape(part));
        }
    }
    out
}

/// Escapes `text` for one line of Markdown. HTML special characters become
/// entities, so a reason like `<2s>` is not read as a tag. Markdown
/// punctuation gets a backslash, so a `|` does not end a cell. Line breaks
/// become `<br>`.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' => out.push_str("<br>"),
            '\r' => {}
            '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::{error_report, failed_report};

    /// Returns the rows of the Markdown table whose header starts with
    /// `header`, each split into cells at the pipes without a backslash.
    fn table(markdown: &str, header: &str) -> Vec<Vec<String>> {
        let lines: Vec<&str> = markdown.lines().collect();
        let start = lines
            .iter()
            .position(|line| line.starts_with(header))
            .unwrap_or_else(|| panic!("no table starting with {header:?} in\n{markdown}"));
        lines[start..]
            .iter()
            .take_while(|line| line.starts_with('|'))
            .map(|line| split_row(line))
            .collect()
    }

    fn split_row(line: &str) -> Vec<String> {
        let mut cells = Vec::new();
        let mut cell = String::new();
        let mut escaped = false;
        for c in line.trim().trim_start_matches('|').chars() {
            if escaped {
                cell.push(c);
                escaped = false;
            } else if c == '\\' {
                cell.push(c);
                escaped = true;
            } else if c == '|' {
                cells.push(cell.trim().to_owned());
                cell.clear();
            } else {
                cell.push(c);
            }
        }
        cells
    }

    #[test]
    fn markdown_failed_report_sections() {
        let markdown = render_markdown(&failed_report(), None);

        assert!(
            markdown.starts_with("### ❌ FAILED: experiment kill &lt;worker&gt; &amp; \"wait\"\n"),
            "heading in\n{markdown}"
        );
        assert!(markdown.contains("seed 42"));
        assert!(markdown.contains("2 fault(s), 1 recovered, 2 restart(s), 1 of 2 hypotheses hold"));

        let faults = table(&markdown, "| fault |");
        assert_eq!(faults.len(), 4, "header, rule and two rows in\n{markdown}");
        for row in &faults {
            assert_eq!(row.len(), 8, "eight cells in {row:?}");
        }
        assert_eq!(faults[2][0], "kill-worker #1");
        assert_eq!(faults[2][4], "110ms");
        assert_eq!(faults[2][5], "0.1ms");
        assert_eq!(faults[2][6], "3ms");
        assert_eq!(faults[2][7], "106ms");
        assert_eq!(
            faults[3][4],
            "not recovered: no probe passed within 2s \\| stale lock"
        );

        let verdicts = table(&markdown, "| result |");
        assert_eq!(verdicts.len(), 4);
        for row in &verdicts {
            assert_eq!(row.len(), 6, "six cells in {row:?}");
        }
        assert_eq!(verdicts[2][0], "✅ pass");
        assert_eq!(verdicts[3][0], "❌ fail");
        assert_eq!(verdicts[3][1], "recovers-fast");
        assert_eq!(
            verdicts[3][5],
            "TTR &lt;2s&gt; &amp; 'late' \\| \"stale\"\\u{1b}\\[31m"
        );

        assert!(markdown.contains("<details><summary>Timeline</summary>"));
        assert!(markdown.contains("spawned incarnation #1 (pid 8954)"));
        // The log line contains three backticks, so its fence has four.
        assert!(
            markdown
                .contains("\n````text\n+    323ms #1 out| listening ``` on <127.0.0.1:1>\n````\n")
        );
        assert!(!markdown.contains("Error:"));
        assert!(markdown.contains(
            "Replay with the same seed:\n\n```sh\nROULETTE_SEED=42 cargo test --test chaos -- --exact kill.yaml\n```\n"
        ));
        assert!(!markdown.contains("!["), "no picture without an address");
    }

    #[test]
    fn inline_shows_quoted_parts_as_code() {
        assert_eq!(
            inline("redis 127.0.0.1:1 list `roulette:writes`"),
            "redis 127.0.0.1:1 list <code>roulette:writes</code>"
        );
        assert_eq!(
            inline("exec `a | b` ID, list `ls *`"),
            "exec <code>a \\| b</code> ID, list <code>ls \\*</code>"
        );
        // An unmatched backtick quotes nothing.
        assert_eq!(inline("one ` tick"), "one \\` tick");
        assert_eq!(inline("``"), "<code></code>");
    }

    #[test]
    fn markdown_links_timeline_picture() {
        let markdown = render_markdown(&failed_report(), Some("reports/kill worker.svg"));
        assert!(
            markdown.contains(
                "![Timeline of experiment kill &lt;worker&gt; &amp; \"wait\"](reports/kill%20worker.svg)\n"
            ),
            "picture in\n{markdown}"
        );
    }

    #[test]
    fn markdown_error_report_names_error() {
        let markdown = render_markdown(&error_report(), None);

        assert!(markdown.starts_with("### ⚠️ ERROR: experiment slow\n"));
        assert!(
            markdown.contains("> **Error:** the experiment ran longer than its timeout of 30s\n")
        );
        assert!(
            !markdown.contains("| result |"),
            "no verdict table in\n{markdown}"
        );
    }

    #[test]
    fn markdown_aborted_report_names_reason() {
        let mut report = failed_report();
        report.aborted = Some(String::from("2 faults did not recover"));
        let markdown = render_markdown(&report, None);

        assert!(markdown.contains("> **Aborted:** 2 faults did not recover\n"));
    }
}
