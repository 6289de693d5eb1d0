//! The report as text for a terminal or a test failure message.

use std::fmt::Write;

use super::{Outcome, Recovery, Report};
use crate::spec::format_duration as d;

const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Renders `report` as text. `color` adds ANSI colours; pass it only when
/// the output is a terminal and `NO_COLOR` is not set.
pub fn render_text(report: &Report, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();

    let source = report
        .source
        .as_deref()
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{}{source}",
        paint(BOLD, &format!("experiment {}", report.experiment))
    );
    if let Some(description) = &report.description {
        let _ = writeln!(out, "  {description}");
    }
    if let Some(seed) = report.seed {
        let _ = writeln!(out, "  seed: {seed}");
    }

    for problem in &report.scrape_problems {
        let _ = writeln!(out, "\n{}: {problem}", paint(YELLOW, "metrics"));
    }
    if let Some(reason) = &report.aborted {
        let _ = writeln!(out, "\n{}: {reason}", paint(RED, "aborted"));
    }
    if let Some(error) = &report.error {
        let _ = writeln!(out, "\n{}: {}", paint(RED, "error"), error.message);
    }

    render_faults(report, &mut out);
    render_supervisor(report, &mut out);
    if let Some(load) = &report.load {
        super::load::write_text(load, &mut out);
    }
    render_verdicts(report, &paint, &mut out);
    render_writes(report, &mut out);
    render_timeline(report, &mut out);
    render_logs(report, &mut out);

    let summary = match report.outcome {
        Outcome::Passed => paint(GREEN, "PASSED"),
        Outcome::Failed => paint(RED, "FAILED"),
        Outcome::Error => paint(YELLOW, "ERROR"),
    };
    let holding = report.verdicts.iter().filter(|v| v.holds).count();
    let recovered = report
        .faults
        .iter()
        .filter(|f| f.recovery.ttr().is_some())
        .count();
    // An experiment error judges no hypothesis, so their count says
    // nothing then.
    let judged = if report.error.is_some() {
        String::new()
    } else {
        format!(", {holding} of {} hypotheses hold", report.verdicts.len())
    };
    let _ = writeln!(
        out,
        "\nresult: {summary}: {} fault(s), {recovered} recovered, {} restart(s){judged}, in {}",
        report.faults.len(),
        report.restarts,
        d(report.duration)
    );
    if report.outcome != Outcome::Passed
        && let Some(command) = &report.replay
    {
        let _ = writeln!(out, "replay with the same seed: {command}");
    }
    out
}

fn render_faults(report: &Report, out: &mut String) {
    if report.faults.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nfaults:");
    let mut rows = vec![
        [
            "fault",
            "at",
            "action",
            "hit",
            "main process",
            "TTR",
            "to exit",
            "to restart",
            "to ready",
        ]
        .map(String::from),
    ];
    for fault in &report.faults {
        let hit = match (fault.incarnation, fault.pid) {
            (Some(incarnation), Some(pid)) => format!("#{incarnation} pid {pid}"),
            _ => String::from("-"),
        };
        let mut row = [
            format!("{} #{}", fault.fault, fault.occurrence),
            format!("+{}", d(fault.at)),
            fault.action.clone(),
            hit,
            fault.stop.to_string(),
            String::from("-"),
            String::from("-"),
            String::from("-"),
            String::from("-"),
        ];
        let optional =
            |value: Option<std::time::Duration>| value.map_or_else(|| String::from("-"), d);
        match &fault.recovery {
            Recovery::Recovered {
                ttr,
                to_exit,
                to_restart,
                to_ready,
                ..
            } => {
                row[5] = d(*ttr);
                row[6] = optional(*to_exit);
                row[7] = optional(*to_restart);
                row[8] = d(*to_ready);
            }
            Recovery::NotRecovered { .. } => row[5] = String::from("not recovered"),
            Recovery::Interrupted { .. } => row[5] = String::from("interrupted"),
            Recovery::NotApplicable => {}
        }
        rows.push(row);
    }
    write_table(out, &rows);
    for fault in &report.faults {
        match &fault.recovery {
            Recovery::NotRecovered { reason } => {
                let _ = writeln!(out, "  {} #{}: {reason}", fault.fault, fault.occurrence);
            }
            Recovery::Interrupted { by } => {
                let _ = writeln!(
                    out,
                    "  {} #{}: still recovering when {by} fired",
                    fault.fault, fault.occurrence
                );
            }
            _ => {}
        }
    }
    let _ = writeln!(
        out,
        "  readiness probe: {}, every {} (each TTR is late by up to one interval plus one attempt), attempt timeout {}",
        report.probe.description,
        d(report.probe.interval),
        d(report.probe.attempt_timeout)
    );
}

fn render_supervisor(report: &Report, out: &mut String) {
    let _ = writeln!(out, "\nrestarts: {}", report.restarts);
    if let Some(halted) = &report.halted {
        let _ = writeln!(out, "supervisor stopped restarting: {halted}");
    }
    if report.teardown.killed_after_grace {
        let _ = writeln!(
            out,
            "teardown: the target ignored SIGTERM and was killed with SIGKILL"
        );
    }
}

fn render_verdicts(report: &Report, paint: &dyn Fn(&str, &str) -> String, out: &mut String) {
    if report.verdicts.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nhypotheses:");
    let mut rows = vec![["", "hypothesis", "check", "measured", "threshold"].map(String::from)];
    for verdict in &report.verdicts {
        let mark = if verdict.holds { "PASS" } else { "FAIL" };
        rows.push([
            mark.to_owned(),
            verdict.name.clone(),
            verdict.check.clone(),
            verdict.measured.clone(),
            verdict.threshold.clone(),
        ]);
    }
    let mut table = String::new();
    write_table(&mut table, &rows);
    for line in table.lines() {
        let line = if let Some(rest) = line.strip_prefix("  PASS") {
            format!("  {}{rest}", paint(GREEN, "PASS"))
        } else if let Some(rest) = line.strip_prefix("  FAIL") {
            format!("  {}{rest}", paint(RED, "FAIL"))
        } else {
            line.to_owned()
        };
        let _ = writeln!(out, "{line}");
    }
    for verdict in report.failures() {
        let _ = writeln!(out, "  {} failed: {}", verdict.name, verdict.reason);
    }
}

pub(super) fn render_writes(report: &Report, out: &mut String) {
    let Some(writes) = &report.writes else {
        return;
    };
    let _ = writeln!(out, "\nwrites: {}, {}", writes.driver, writes.rates());
    let _ = writeln!(out, "  {}", writes.counts());
    if let Some(error) = &writes.list_error {
        let _ = writeln!(out, "  not listed: {error}");
    }
    if !writes.errors.is_empty() {
        let _ = writeln!(out, "  unacknowledged: {}", writes.error_summary());
        for error in &writes.errors {
            let _ = writeln!(out, "    {}: {}", error.kind, error.example);
        }
    }
    if !writes.first_lost.is_empty() {
        let _ = writeln!(out, "  first lost: {}", writes.first_lost.join(", "));
    }
    if !writes.first_duplicates.is_empty() {
        let _ = writeln!(
            out,
            "  first duplicates: {}",
            writes.first_duplicates.join(", ")
        );
    }
    for line in writes.interval_lines() {
        let _ = writeln!(out, "  {line}");
    }
}

fn render_timeline(report: &Report, out: &mut String) {
    if report.timeline.is_empty() {
        return;
    }
    let _ = writeln!(out, "\ntimeline:");
    for event in &report.timeline {
        let _ = writeln!(out, "  +{:>9}  {}", d(event.at), event.kind);
    }
}

fn render_logs(report: &Report, out: &mut String) {
    if report.log_tail.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nlast {} line(s) of the target's output:",
        report.log_tail.len()
    );
    for line in &report.log_tail {
        let stream = match line.stream {
            crate::supervisor::logs::Stream::Stdout => "out",
            crate::supervisor::logs::Stream::Stderr => "err",
        };
        let _ = writeln!(
            out,
            "  +{:>9} #{} {stream}| {}",
            d(line.at),
            line.incarnation,
            line.text
        );
    }
}

/// Writes rows as left-aligned columns, two spaces apart.
pub(super) fn write_table<const N: usize>(out: &mut String, rows: &[[String; N]]) {
    let mut widths = [0usize; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::from(" ");
        for (width, cell) in widths.iter().zip(row) {
            let _ = write!(line, " {cell:<width$} ");
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}
