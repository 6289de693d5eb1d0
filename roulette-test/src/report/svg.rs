//! The experiment's timeline as an SVG picture: faults, down windows,
//! restarts and readiness on one time axis, one row per process.
//!
//! The top row shows the faults. Below it, each incarnation of the
//! target's main process gets a bar from spawn to exit: amber while
//! starting, green once ready, blue while frozen. The last row shows
//! whether the target was serving (ready) or down. Every row shares the
//! time axis at the bottom, in offsets from the experiment start.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use super::Report;
use crate::spec::format_duration as d;
use crate::supervisor::timeline::{EventKind, ExitStatus};

const WIDTH: f64 = 960.0;
const LABEL_WIDTH: f64 = 190.0;
const RIGHT_MARGIN: f64 = 56.0;
const TOP_MARGIN: f64 = 34.0;
const ROW_HEIGHT: f64 = 26.0;
const BAR_HEIGHT: f64 = 14.0;
const AXIS_HEIGHT: f64 = 40.0;
const LEGEND_HEIGHT: f64 = 26.0;

const STARTING: &str = "#f0b429";
const READY: &str = "#2f9e44";
const FROZEN: &str = "#4c6ef5";
const DOWN: &str = "#e03131";
const FAULT: &str = "#c92a2a";
const GRID: &str = "#dee2e6";
const TEXT: &str = "#212529";
const MUTED: &str = "#868e96";
const TEARDOWN: &str = "#adb5bd";

/// One incarnation of the main process, as the timeline recorded it.
#[derive(Debug, Default)]
struct Incarnation {
    pid: Option<u32>,
    spawned: Option<Duration>,
    ready: Option<Duration>,
    exited: Option<(Duration, ExitStatus)>,
    spawn_failed: Option<Duration>,
}

/// A signal or escalation drawn on a process row.
struct Mark {
    at: Duration,
    label: String,
    incarnation: u32,
}

/// Renders the timeline of `report` as a standalone SVG document.
pub fn render_timeline_svg(report: &Report) -> String {
    let model = TimelineModel::from_report(report);
    let rows = model.incarnations.len() + 2;
    let height = TOP_MARGIN + rows as f64 * ROW_HEIGHT + AXIS_HEIGHT + LEGEND_HEIGHT + 8.0;
    let scale = Scale::new(model.end);

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        svg,
        "<title>Timeline of experiment {}</title>",
        escape(&report.experiment)
    );
    let _ = writeln!(
        svg,
        r#"<rect width="{WIDTH}" height="{height}" fill="white"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="8" y="20" font-size="13" font-weight="bold" fill="{TEXT}">{}</text>"#,
        escape(&format!(
            "{}: {} fault firing(s), {} restart(s), {}",
            report.experiment,
            report.faults.len(),
            report.restarts,
            d(report.duration)
        ))
    );

    let plot_bottom = TOP_MARGIN + rows as f64 * ROW_HEIGHT;
    draw_grid(&mut svg, &scale, plot_bottom);
    draw_down_windows(&mut svg, &scale, &model, plot_bottom);
    draw_teardown(&mut svg, &scale, &model, plot_bottom);
    draw_fault_row(&mut svg, &scale, &model);
    for (index, (number, incarnation)) in model.incarnations.iter().enumerate() {
        let y = TOP_MARGIN + (index + 1) as f64 * ROW_HEIGHT;
        draw_incarnation(&mut svg, &scale, &model, *number, incarnation, y);
    }
    let serving_y = TOP_MARGIN + (rows - 1) as f64 * ROW_HEIGHT;
    draw_serving_row(&mut svg, &scale, &model, serving_y);
    draw_axis(&mut svg, &scale, plot_bottom);
    draw_legend(&mut svg, plot_bottom + AXIS_HEIGHT);
    svg.push_str("</svg>\n");
    svg
}

/// The picture's content, gathered from the report's timeline.
struct TimelineModel {
    end: Duration,
    incarnations: BTreeMap<u32, Incarnation>,
    /// Fault starts: offset and `name #occurrence`.
    faults: Vec<(Duration, String)>,
    marks: Vec<Mark>,
    /// SIGSTOP to SIGCONT windows; the end is `None` until SIGCONT.
    frozen: Vec<(Duration, Option<Duration>)>,
    gave_up: Option<Duration>,
    /// When teardown began: exits after it are the harness's doing, so no
    /// down window extends past it.
    teardown: Option<Duration>,
    /// Recoveries that did not end, with the fault and occurrence.
    not_recovered: Vec<(Duration, String)>,
}

impl TimelineModel {
    fn from_report(report: &Report) -> Self {
        let mut model = TimelineModel {
            end: report.duration,
            incarnations: BTreeMap::new(),
            faults: Vec::new(),
            marks: Vec::new(),
            frozen: Vec::new(),
            gave_up: None,
            teardown: None,
            not_recovered: Vec::new(),
        };
        let mut pids: BTreeMap<u32, u32> = BTreeMap::new();
        for event in &report.timeline {
            model.end = model.end.max(event.at);
            match &event.kind {
                EventKind::Spawned { incarnation, pid } => {
                    let entry = model.incarnations.entry(*incarnation).or_default();
                    entry.pid = Some(*pid);
                    entry.spawned = Some(event.at);
                    pids.insert(*pid, *incarnation);
                }
                EventKind::SpawnFailed { incarnation, .. } => {
                    let entry = model.incarnations.entry(*incarnation).or_default();
                    entry.spawn_failed = Some(event.at);
                }
                EventKind::Ready { incarnation } => {
                    let entry = model.incarnations.entry(*incarnation).or_default();
                    entry.ready.get_or_insert(event.at);
                }
                EventKind::Exited {
                    incarnation,
                    status,
                    ..
                } => {
                    let entry = model.incarnations.entry(*incarnation).or_default();
                    entry.exited = Some((event.at, *status));
                }
                EventKind::FaultStarted { fault, occurrence } => {
                    model
                        .faults
                        .push((event.at, format!("{fault} #{occurrence}")));
                }
                EventKind::SignalSent { signal, pid, .. } => {
                    if let Some(incarnation) = pids.get(pid) {
                        model.marks.push(Mark {
                            at: event.at,
                            label: signal.clone(),
                            incarnation: *incarnation,
                        });
                    }
                }
                EventKind::Escalated { .. } => {
                    if let Some((number, _)) = model.alive_at(event.at) {
                        model.marks.push(Mark {
                            at: event.at,
                            label: String::from("SIGKILL (grace over)"),
                            incarnation: number,
                        });
                    }
                }
                EventKind::Frozen { .. } => model.frozen.push((event.at, None)),
                EventKind::Thawed { .. } => {
                    if let Some(window) = model.frozen.iter_mut().rev().find(|w| w.1.is_none()) {
                        window.1 = Some(event.at);
                    }
                }
                EventKind::GaveUp { .. } => model.gave_up = Some(event.at),
                EventKind::TeardownStarted => model.teardown = Some(event.at),
                EventKind::NotRecovered {
                    fault, occurrence, ..
                } => model
                    .not_recovered
                    .push((event.at, format!("{fault} #{occurrence} not recovered"))),
                _ => {}
            }
        }
        model
    }

    /// The incarnation whose main process was running at `at`.
    fn alive_at(&self, at: Duration) -> Option<(u32, &Incarnation)> {
        self.incarnations
            .iter()
            .rev()
            .find(|(_, incarnation)| {
                incarnation.spawned.is_some_and(|spawned| spawned <= at)
                    && incarnation.exited.is_none_or(|(exited, _)| exited >= at)
            })
            .map(|(number, incarnation)| (*number, incarnation))
    }

    /// The end of the observed run: teardown's start, or the end.
    fn observed_end(&self) -> Duration {
        self.teardown.unwrap_or(self.end)
    }

    /// Windows in which no incarnation was ready, after the first ready:
    /// from an exit of a ready incarnation to the next ready, or to the
    /// start of teardown.
    fn down_windows(&self) -> Vec<(Duration, Duration)> {
        let mut windows = Vec::new();
        let mut down_since: Option<Duration> = None;
        let mut edges: Vec<(Duration, bool)> = Vec::new();
        let observed_end = self.observed_end();
        for incarnation in self.incarnations.values() {
            if let Some(ready) = incarnation.ready {
                edges.push((ready, true));
                if let Some((exited, _)) = incarnation.exited
                    && exited < observed_end
                {
                    edges.push((exited, false));
                }
            }
        }
        // At equal offsets an exit sorts before a ready, so a zero-length
        // gap still closes.
        edges.sort_by_key(|&(at, up)| (at, up));
        for (at, up) in edges {
            match (up, down_since) {
                (true, Some(since)) => {
                    windows.push((since, at));
                    down_since = None;
                }
                (false, None) => down_since = Some(at),
                _ => {}
            }
        }
        if let Some(since) = down_since {
            windows.push((since, observed_end));
        }
        windows
    }
}

/// Maps offsets to x coordinates and picks round tick steps.
struct Scale {
    end_ms: f64,
    step_ms: f64,
}

impl Scale {
    fn new(end: Duration) -> Self {
        let end_ms = (end.as_secs_f64() * 1000.0).max(1.0);
        Scale {
            end_ms,
            step_ms: tick_step(end_ms),
        }
    }

    fn x(&self, at: Duration) -> f64 {
        let plot = WIDTH - LABEL_WIDTH - RIGHT_MARGIN;
        LABEL_WIDTH + (at.as_secs_f64() * 1000.0 / self.end_ms).min(1.0) * plot
    }
}

/// Returns a step of 1, 2 or 5 times a power of ten that splits `end_ms`
/// into at most ten ticks.
fn tick_step(end_ms: f64) -> f64 {
    let mut magnitude = 1.0;
    loop {
        for factor in [1.0, 2.0, 5.0] {
            let step = factor * magnitude;
            if end_ms / step <= 10.0 {
                return step;
            }
        }
        magnitude *= 10.0;
    }
}

/// Formats a tick at `ms` milliseconds: `250ms` below a second, else
/// seconds without trailing zeros, such as `1.5s`.
fn tick_label(ms: f64) -> String {
    if ms < 1000.0 {
        return format!("{ms:.0}ms");
    }
    let seconds = format!("{:.3}", ms / 1000.0);
    let seconds = seconds.trim_end_matches('0').trim_end_matches('.');
    format!("{seconds}s")
}

fn draw_grid(svg: &mut String, scale: &Scale, bottom: f64) {
    let mut tick = 0.0;
    while tick <= scale.end_ms + 1e-9 {
        let x = scale.x(Duration::from_secs_f64(tick / 1000.0));
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{TOP_MARGIN}" x2="{x:.1}" y2="{bottom}" stroke="{GRID}"/>"#
        );
        tick += scale.step_ms;
    }
}

fn draw_axis(svg: &mut String, scale: &Scale, y: f64) {
    let right = WIDTH - RIGHT_MARGIN;
    let _ = writeln!(
        svg,
        r#"<line x1="{LABEL_WIDTH}" y1="{y}" x2="{right}" y2="{y}" stroke="{TEXT}"/>"#
    );
    let mut tick = 0.0;
    while tick <= scale.end_ms + 1e-9 {
        let at = Duration::from_secs_f64(tick / 1000.0);
        let x = scale.x(at);
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{y}" x2="{x:.1}" y2="{}" stroke="{TEXT}"/>"#,
            y + 5.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{x:.1}" y="{}" text-anchor="middle" fill="{TEXT}">{}</text>"#,
            y + 17.0,
            tick_label(tick)
        );
        tick += scale.step_ms;
    }
    let _ = writeln!(
        svg,
        r#"<text x="{right}" y="{}" text-anchor="end" fill="{MUTED}">time since the experiment started</text>"#,
        y + 32.0
    );
}

fn draw_down_windows(svg: &mut String, scale: &Scale, model: &TimelineModel, bottom: f64) {
    for (from, to) in model.down_windows() {
        let x = scale.x(from);
        let width = (scale.x(to) - x).max(1.0);
        let _ = writeln!(
            svg,
            r#"<rect x="{x:.1}" y="{TOP_MARGIN}" width="{width:.1}" height="{}" fill="{DOWN}" fill-opacity="0.10"><title>down for {} (from {} to {})</title></rect>"#,
            bottom - TOP_MARGIN,
            d(to.saturating_sub(from)),
            d(from),
            d(to)
        );
    }
}

fn draw_teardown(svg: &mut String, scale: &Scale, model: &TimelineModel, bottom: f64) {
    let Some(at) = model.teardown else {
        return;
    };
    let x = scale.x(at);
    let width = (scale.x(model.end) - x).max(1.0);
    let _ = writeln!(
        svg,
        r#"<rect x="{x:.1}" y="{TOP_MARGIN}" width="{width:.1}" height="{}" fill="{TEARDOWN}" fill-opacity="0.25"><title>teardown from {}</title></rect>"#,
        bottom - TOP_MARGIN,
        d(at)
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{}" fill="{MUTED}">teardown</text>"#,
        x + 3.0,
        TOP_MARGIN + 24.0
    );
}

fn draw_fault_row(svg: &mut String, scale: &Scale, model: &TimelineModel) {
    let y = TOP_MARGIN;
    row_label(svg, y, "faults", None);
    let bottom = TOP_MARGIN + (model.incarnations.len() + 2) as f64 * ROW_HEIGHT;
    for (at, label) in &model.faults {
        let x = scale.x(*at);
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{bottom}" stroke="{FAULT}" stroke-dasharray="4 3"/>"#,
            y + 4.0
        );
        let _ = writeln!(
            svg,
            r#"<path d="M{:.1},{} l5,-8 l-10,0 z" fill="{FAULT}"><title>{} at {}</title></path>"#,
            x,
            y + 14.0,
            escape(label),
            d(*at)
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}" fill="{FAULT}">{}</text>"#,
            x + 6.0,
            y + 14.0,
            escape(label)
        );
    }
    for (from, to) in &model.frozen {
        let x = scale.x(*from);
        let end = to.unwrap_or(model.end);
        let width = (scale.x(end) - x).max(1.0);
        let _ = writeln!(
            svg,
            r#"<rect x="{x:.1}" y="{}" width="{width:.1}" height="4" fill="{FROZEN}"><title>frozen from {} to {}</title></rect>"#,
            y + 18.0,
            d(*from),
            d(end)
        );
    }
}

fn draw_incarnation(
    svg: &mut String,
    scale: &Scale,
    model: &TimelineModel,
    number: u32,
    incarnation: &Incarnation,
    y: f64,
) {
    let label = match incarnation.pid {
        Some(pid) => format!("incarnation #{number} (pid {pid})"),
        None => format!("incarnation #{number}"),
    };
    row_label(svg, y, &label, None);
    let bar_y = y + (ROW_HEIGHT - BAR_HEIGHT) / 2.0;

    if let Some(at) = incarnation.spawn_failed {
        let x = scale.x(at);
        let _ = writeln!(
            svg,
            r#"<text x="{x:.1}" y="{}" fill="{DOWN}">✗ failed to spawn</text>"#,
            bar_y + 11.0
        );
    }
    let Some(spawned) = incarnation.spawned else {
        return;
    };
    let exited = incarnation.exited.map(|(at, _)| at);
    let end = exited.unwrap_or(model.end);
    let ready = incarnation.ready.filter(|ready| *ready <= end);

    let starting_end = ready.unwrap_or(end);
    segment(
        svg,
        scale,
        spawned,
        starting_end,
        bar_y,
        STARTING,
        "starting",
    );
    if let Some(ready) = ready {
        segment(svg, scale, ready, end, bar_y, READY, "ready");
        let x = scale.x(ready);
        let _ = writeln!(
            svg,
            r#"<circle cx="{x:.1}" cy="{}" r="3.5" fill="white" stroke="{READY}" stroke-width="2"><title>ready at {}</title></circle>"#,
            bar_y + BAR_HEIGHT / 2.0,
            d(ready)
        );
    }
    for (from, to) in &model.frozen {
        let to = to.unwrap_or(model.end).min(end);
        if *from >= spawned && *from < end {
            segment(svg, scale, *from, to, bar_y, FROZEN, "frozen");
        }
    }
    for mark in model.marks.iter().filter(|mark| mark.incarnation == number) {
        let x = scale.x(mark.at);
        let _ = writeln!(
            svg,
            r#"<path d="M{x:.1},{} l4,-7 l-8,0 z" fill="{FAULT}"><title>{} at {}</title></path>"#,
            bar_y - 1.0,
            escape(&mark.label),
            d(mark.at)
        );
    }
    if let Some((at, status)) = incarnation.exited {
        let x = scale.x(at);
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="{TEXT}" stroke-width="2"><title>exited at {}: {status}</title></line>"#,
            bar_y - 2.0,
            bar_y + BAR_HEIGHT + 2.0,
            d(at)
        );
        let text = match status {
            ExitStatus::Code(code) => format!("exit {code}"),
            ExitStatus::Signal { signal, .. } => nix::sys::signal::Signal::try_from(signal)
                .map_or_else(|_| format!("signal {signal}"), |s| s.as_str().to_owned()),
        };
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}" fill="{MUTED}">{}</text>"#,
            x + 3.0,
            bar_y + BAR_HEIGHT + 9.0,
            escape(&text)
        );
    }
}

fn draw_serving_row(svg: &mut String, scale: &Scale, model: &TimelineModel, y: f64) {
    row_label(svg, y, "serving", Some("ready probe passing"));
    let bar_y = y + (ROW_HEIGHT - BAR_HEIGHT) / 2.0;
    let first_ready = model
        .incarnations
        .values()
        .filter_map(|incarnation| incarnation.ready)
        .min();
    let Some(first_ready) = first_ready else {
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" fill="{DOWN}">never ready</text>"#,
            LABEL_WIDTH + 4.0,
            bar_y + 11.0
        );
        return;
    };
    let windows = model.down_windows();
    let mut cursor = first_ready;
    for (from, to) in &windows {
        segment(svg, scale, cursor, *from, bar_y, READY, "serving");
        let label = format!("down {}", d(to.saturating_sub(*from)));
        segment(svg, scale, *from, *to, bar_y, DOWN, &label);
        cursor = *to;
    }
    segment(
        svg,
        scale,
        cursor,
        model.observed_end(),
        bar_y,
        READY,
        "serving",
    );
    // A frozen target accepts connections and answers nothing, so it is
    // not serving while frozen.
    for (from, to) in &model.frozen {
        let to = to.unwrap_or(model.end).min(model.observed_end());
        segment(svg, scale, *from, to, bar_y, FROZEN, "frozen, not serving");
    }
    for (at, label) in &model.not_recovered {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="end" fill="{DOWN}">✗ {}</text>"#,
            scale.x(*at) - 3.0,
            bar_y - 2.0,
            escape(label)
        );
    }
    if let Some(at) = model.gave_up {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}" fill="{DOWN}">supervisor gave up</text>"#,
            scale.x(at) + 3.0,
            bar_y - 2.0
        );
    }
}

fn draw_legend(svg: &mut String, y: f64) {
    let items = [
        (STARTING, "starting"),
        (READY, "ready / serving"),
        (FROZEN, "frozen (SIGSTOP)"),
        (DOWN, "down"),
    ];
    let mut x = LABEL_WIDTH;
    for (color, label) in items {
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="{}" width="12" height="10" fill="{color}"/><text x="{}" y="{}" fill="{TEXT}">{label}</text>"#,
            y + 6.0,
            x + 16.0,
            y + 15.0
        );
        x += 24.0 + 7.0 * label.len() as f64;
    }
    let _ = writeln!(
        svg,
        r#"<path d="M{},{} l5,-8 l-10,0 z" fill="{FAULT}"/><text x="{}" y="{}" fill="{TEXT}">fault / signal</text>"#,
        x + 5.0,
        y + 16.0,
        x + 14.0,
        y + 15.0
    );
}

fn row_label(svg: &mut String, y: f64, label: &str, hint: Option<&str>) {
    let title = hint.map(|hint| format!("<title>{}</title>", escape(hint)));
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="end" fill="{TEXT}">{}{}</text>"#,
        LABEL_WIDTH - 8.0,
        y + ROW_HEIGHT / 2.0 + 4.0,
        escape(label),
        title.unwrap_or_default()
    );
}

fn segment(
    svg: &mut String,
    scale: &Scale,
    from: Duration,
    to: Duration,
    y: f64,
    color: &str,
    label: &str,
) {
    if to <= from {
        return;
    }
    let x = scale.x(from);
    let width = (scale.x(to) - x).max(1.0);
    let _ = writeln!(
        svg,
        r#"<rect x="{x:.1}" y="{y:.1}" width="{width:.1}" height="{BAR_HEIGHT}" fill="{color}"><title>{}: {} to {}</title></rect>"#,
        escape(label),
        d(from),
        d(to)
    );
}

/// Escapes text for XML character data and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 allows no other control characters.
            c if c.is_control() && !matches!(c, '\n' | '\t' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use quick_xml::Reader;
    use quick_xml::events::Event as XmlEvent;

    use super::*;
    use crate::report::sample::timeline_report;

    /// Returns the number of elements named `name` whose `fill` attribute
    /// is `fill`, after checking that `svg` is well-formed XML.
    fn count_filled(svg: &str, name: &str, fill: &str) -> usize {
        let mut reader = Reader::from_str(svg);
        let mut count = 0;
        loop {
            match reader.read_event().expect("the SVG is well-formed XML") {
                XmlEvent::Eof => return count,
                XmlEvent::Start(element) | XmlEvent::Empty(element)
                    if element.name().as_ref() == name.as_bytes() =>
                {
                    let matches = element.attributes().flatten().any(|attribute| {
                        attribute.key.as_ref() == b"fill"
                            && attribute.value.as_ref() == fill.as_bytes()
                    });
                    count += usize::from(matches);
                }
                _ => {}
            }
        }
    }

    #[test]
    fn svg_has_one_row_per_incarnation() {
        let report = timeline_report();
        let svg = render_timeline_svg(&report);
        let incarnations = report
            .timeline
            .iter()
            .filter(|event| matches!(event.kind, EventKind::Spawned { .. }))
            .count();
        assert!(
            incarnations >= 2,
            "the sample report restarts at least once"
        );
        for number in 1..=incarnations {
            assert!(
                svg.contains(&format!("incarnation #{number} (pid ")),
                "row of incarnation #{number} missing:\n{svg}"
            );
        }
        assert!(!svg.contains(&format!("incarnation #{}", incarnations + 1)));
    }

    #[test]
    fn svg_marks_each_fault_firing() {
        let report = timeline_report();
        let svg = render_timeline_svg(&report);
        let firings = report
            .timeline
            .iter()
            .filter(|event| matches!(event.kind, EventKind::FaultStarted { .. }))
            .count();
        // One dashed line per fault firing, in the fault colour.
        let dashed = svg.matches("stroke-dasharray=\"4 3\"").count();
        assert_eq!(dashed, firings);
        assert!(count_filled(&svg, "path", FAULT) >= firings);
    }

    #[test]
    fn svg_shades_down_windows() {
        let report = timeline_report();
        let model = TimelineModel::from_report(&report);
        let windows = model.down_windows();
        let exits_after_ready = model
            .incarnations
            .values()
            .filter(|incarnation| incarnation.ready.is_some() && incarnation.exited.is_some())
            .count();
        assert_eq!(windows.len(), exits_after_ready);
        for (from, to) in &windows {
            assert!(from <= to, "window {from:?}..{to:?} runs backwards");
        }
        let svg = render_timeline_svg(&report);
        // Each window is shaded over all rows and drawn in the serving
        // row, and the legend has one swatch.
        assert_eq!(count_filled(&svg, "rect", DOWN), 2 * windows.len() + 1);
    }

    #[test]
    fn svg_escapes_experiment_name() {
        let report = timeline_report();
        let svg = render_timeline_svg(&report);
        assert!(svg.contains("kill &lt;worker&gt; &amp; &quot;wait&quot;"));
        assert!(!svg.contains("kill <worker>"));
    }

    #[test]
    fn svg_freeze_not_serving() {
        let mut report = timeline_report();
        report.timeline.push(crate::supervisor::timeline::Event {
            at: Duration::from_millis(2500),
            kind: EventKind::Frozen {
                fault: String::from("freeze"),
            },
        });
        report.timeline.push(crate::supervisor::timeline::Event {
            at: Duration::from_millis(2800),
            kind: EventKind::Thawed {
                fault: String::from("freeze"),
            },
        });
        report.timeline.sort_by_key(|event| event.at);
        let svg = render_timeline_svg(&report);
        assert!(
            svg.contains("<title>frozen, not serving: 2.500s to 2.800s</title>"),
            "{svg}"
        );
    }

    #[test]
    fn tick_label_trims_zeros() {
        assert_eq!(tick_label(0.0), "0ms");
        assert_eq!(tick_label(250.0), "250ms");
        assert_eq!(tick_label(1000.0), "1s");
        assert_eq!(tick_label(1500.0), "1.5s");
        assert_eq!(tick_label(60_000.0), "60s");
    }

    #[test]
    fn svg_down_windows_stop_at_teardown() {
        let report = timeline_report();
        let model = TimelineModel::from_report(&report);
        let teardown = model.teardown.expect("the sample tears down");
        for (_, to) in model.down_windows() {
            assert!(
                to <= teardown,
                "a down window ends at {to:?}, after teardown"
            );
        }
        let svg = render_timeline_svg(&report);
        assert!(svg.contains(">teardown</text>"));
        assert!(svg.contains("✗ kill-worker #2 not recovered"));
    }

    #[test]
    fn tick_step_is_round_and_bounded() {
        for (end_ms, step) in [
            (1.0, 1.0),
            (95.0, 10.0),
            (1_800.0, 200.0),
            (7_300.0, 1_000.0),
            (45_000.0, 5_000.0),
        ] {
            assert_eq!(tick_step(end_ms), step, "end {end_ms} ms");
        }
    }
}
