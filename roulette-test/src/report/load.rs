//! The load part of a report: the target and achieved rates, the outcome
//! of every request counted by kind, and the error rate and latency
//! percentiles of each phase.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;

use super::millis;
use crate::spec::LoadPhase;
use crate::spec::format_duration as d;

/// The measurements of an experiment's load.
#[derive(Clone, Debug, Serialize)]
pub struct LoadReport {
    /// The method and URL, such as `GET http://127.0.0.1:41234/work`.
    pub request: String,
    /// The rate the spec sets, per second.
    pub target_rate: f64,
    /// Requests sent per second over the load window.
    pub achieved_rate: f64,
    /// When the load started, as an offset from the experiment start.
    #[serde(serialize_with = "millis", rename = "started_at_ms")]
    pub started_at: Duration,
    /// From the start of the load to its stop at the end of the settle
    /// period.
    #[serde(serialize_with = "millis", rename = "duration_ms")]
    pub duration: Duration,
    /// Requests the schedule made due.
    pub scheduled: u64,
    /// Requests that were sent; the rest found no free slot in time.
    pub sent: u64,
    #[serde(serialize_with = "millis", rename = "timeout_ms")]
    pub timeout: Duration,
    pub max_in_flight: u32,
    /// How late the harness sent requests after their intended time, at
    /// the 99th percentile and at most. A large lag means the harness
    /// could not keep up; it counts in the latencies.
    #[serde(serialize_with = "millis", rename = "send_lag_p99_ms")]
    pub send_lag_p99: Duration,
    #[serde(serialize_with = "millis", rename = "send_lag_max_ms")]
    pub send_lag_max: Duration,
    /// One entry per phase, `all` first.
    pub phases: Vec<PhaseLoad>,
    /// Responses by the incarnation that was running when they arrived.
    pub incarnations: Vec<IncarnationLoad>,
    /// The first distinct messages of errors of kind `other`.
    pub other_errors: Vec<String>,
}

impl LoadReport {
    /// Returns the entry of `phase`.
    pub fn phase(&self, phase: LoadPhase) -> Option<&PhaseLoad> {
        self.phases.iter().find(|entry| entry.phase == phase)
    }
}

/// The requests whose intended send time falls in one phase.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseLoad {
    pub phase: LoadPhase,
    /// The time the phase covers within the load window.
    #[serde(serialize_with = "millis", rename = "duration_ms")]
    pub duration: Duration,
    pub requests: u64,
    pub outcomes: OutcomeCounts,
    /// Failed requests divided by requests; `None` without requests.
    pub error_rate: Option<f64>,
    /// Latency percentiles of every request of the phase; `None`
    /// without requests.
    pub latency: Option<LatencySummary>,
}

/// Requests counted by outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OutcomeCounts {
    /// Responses with the expected status.
    pub ok: u64,
    /// Responses with another status, counted by status in `statuses`.
    pub http_status: u64,
    pub connection_refused: u64,
    /// Connections reset or closed before the response was complete.
    pub connection_closed: u64,
    pub timeout: u64,
    /// Requests never sent because no slot of `max_in_flight` was free
    /// before their timeout.
    pub not_sent: u64,
    pub other: u64,
    /// Unexpected statuses and their counts.
    pub statuses: BTreeMap<u16, u64>,
}

impl OutcomeCounts {
    /// Counts every request that did not succeed.
    pub fn errors(&self) -> u64 {
        self.http_status
            + self.connection_refused
            + self.connection_closed
            + self.timeout
            + self.not_sent
            + self.other
    }

    /// Describes the errors by kind, such as `3 connection refused, 1 HTTP 503`, or
    /// `no errors`.
    pub fn describe_errors(&self) -> String {
        let mut parts = Vec::new();
        for (status, count) in &self.statuses {
            parts.push(format!("{count} HTTP {status}"));
        }
        for (count, kind) in [
            (self.connection_refused, "connection refused"),
            (self.connection_closed, "connection closed"),
            (self.timeout, "timeout"),
            (self.not_sent, "not sent (max_in_flight)"),
            (self.other, "other"),
        ] {
            if count > 0 {
                parts.push(format!("{count} {kind}"));
            }
        }
        if parts.is_empty() {
            String::from("no errors")
        } else {
            parts.join(", ")
        }
    }
}

/// Latency percentiles from an HDR histogram with three significant
/// digits, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct LatencySummary {
    #[serde(serialize_with = "millis", rename = "p50_ms")]
    pub p50: Duration,
    #[serde(serialize_with = "millis", rename = "p95_ms")]
    pub p95: Duration,
    #[serde(serialize_with = "millis", rename = "p99_ms")]
    pub p99: Duration,
    #[serde(serialize_with = "millis", rename = "max_ms")]
    pub max: Duration,
}

/// Responses that one incarnation served.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IncarnationLoad {
    pub incarnation: u32,
    pub responses: u64,
    /// Of them, responses with the expected status.
    pub ok: u64,
}

/// Formats a share as a percentage with two decimals.
pub fn format_percent(share: f64) -> String {
    format!("{:.2}%", share * 100.0)
}

fn rate(per_second: f64) -> String {
    if per_second >= 100.0 {
        format!("{per_second:.0}/s")
    } else {
        format!("{per_second:.1}/s")
    }
}

/// Formats the summary line of the load.
fn headline(load: &LoadReport) -> String {
    format!(
        "{}, target {}, achieved {} ({} sent of {} scheduled in {}), send lag p99 {}, max {}",
        load.request,
        rate(load.target_rate),
        rate(load.achieved_rate),
        load.sent,
        load.scheduled,
        d(load.duration),
        d(load.send_lag_p99),
        d(load.send_lag_max)
    )
}

/// Formats one row per phase: phase, time, requests, errors, error rate, p50,
/// p95, p99, max.
fn phase_rows(load: &LoadReport) -> Vec<[String; 9]> {
    load.phases
        .iter()
        .map(|phase| {
            let latency = |pick: fn(&LatencySummary) -> Duration| {
                phase
                    .latency
                    .as_ref()
                    .map_or_else(|| String::from("-"), |l| d(pick(l)))
            };
            [
                phase.phase.to_string(),
                d(phase.duration),
                phase.requests.to_string(),
                phase.outcomes.errors().to_string(),
                phase
                    .error_rate
                    .map_or_else(|| String::from("-"), format_percent),
                latency(|l| l.p50),
                latency(|l| l.p95),
                latency(|l| l.p99),
                latency(|l| l.max),
            ]
        })
        .collect()
}

const HEADER: [&str; 9] = [
    "phase",
    "time",
    "requests",
    "errors",
    "error rate",
    "p50",
    "p95",
    "p99",
    "max",
];

/// Writes the load section of the terminal report.
pub(super) fn write_text(load: &LoadReport, out: &mut String) {
    let _ = writeln!(out, "\nload: {}", headline(load));
    let mut rows = vec![HEADER.map(String::from)];
    rows.extend(phase_rows(load));
    super::terminal::write_table(out, &rows);
    for phase in &load.phases {
        if phase.outcomes.errors() > 0 {
            let _ = writeln!(
                out,
                "  {} errors: {}",
                phase.phase,
                phase.outcomes.describe_errors()
            );
        }
    }
    if !load.incarnations.is_empty() {
        let served: Vec<String> = load
            .incarnations
            .iter()
            .map(|i| format!("#{} {}", i.incarnation, i.responses))
            .collect();
        let _ = writeln!(out, "  responses by incarnation: {}", served.join(", "));
    }
    for message in &load.other_errors {
        let _ = writeln!(out, "  other error: {message}");
    }
    let _ = writeln!(
        out,
        "  latency runs from each request's intended send time; timeout {}, max_in_flight {}",
        d(load.timeout),
        load.max_in_flight
    );
}

/// Writes the load section of the Markdown report.
pub(super) fn write_markdown(load: &LoadReport, out: &mut String, inline: fn(&str) -> String) {
    let _ = writeln!(out, "**Load:** {}\n", inline(&headline(load)));
    let _ = writeln!(out, "| {} |", HEADER.join(" | "));
    out.push_str("| --- | --: | --: | --: | --: | --: | --: | --: | --: |\n");
    for row in phase_rows(load) {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out.push('\n');
    let errors: Vec<String> = load
        .phases
        .iter()
        .filter(|phase| phase.outcomes.errors() > 0)
        .map(|phase| {
            format!(
                "- {}: {}",
                phase.phase,
                inline(&phase.outcomes.describe_errors())
            )
        })
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(out, "Errors by kind:\n\n{}\n", errors.join("\n"));
    }
}

/// Returns a load of three phases, one of them with refused connections
/// and HTTP 503s, for the renderers' unit tests.
#[cfg(test)]
pub(crate) fn sample_load() -> LoadReport {
    let millis = Duration::from_millis;
    let phase = |phase, requests: u64, refused: u64| PhaseLoad {
        phase,
        duration: millis(1000),
        requests,
        outcomes: OutcomeCounts {
            ok: requests - refused - 2 * u64::from(refused > 0),
            http_status: 2 * u64::from(refused > 0),
            connection_refused: refused,
            statuses: if refused > 0 {
                BTreeMap::from([(503, 2)])
            } else {
                BTreeMap::new()
            },
            ..OutcomeCounts::default()
        },
        error_rate: (requests > 0)
            .then(|| (refused + 2 * u64::from(refused > 0)) as f64 / requests as f64),
        latency: (requests > 0).then_some(LatencySummary {
            p50: millis(2),
            p95: millis(5),
            p99: millis(9),
            max: millis(30),
        }),
    };
    LoadReport {
        request: String::from("GET http://127.0.0.1:4000/work"),
        target_rate: 200.0,
        achieved_rate: 199.6,
        started_at: millis(130),
        duration: millis(5000),
        scheduled: 1000,
        sent: 998,
        timeout: millis(1000),
        max_in_flight: 256,
        send_lag_p99: millis(3),
        send_lag_max: millis(7),
        phases: vec![
            phase(LoadPhase::All, 1000, 10),
            phase(LoadPhase::Before, 300, 0),
            phase(LoadPhase::Recovery, 100, 10),
            phase(LoadPhase::Between, 0, 0),
            phase(LoadPhase::After, 600, 0),
        ],
        incarnations: vec![IncarnationLoad {
            incarnation: 1,
            responses: 290,
            ok: 290,
        }],
        other_errors: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lists_phases_and_errors() {
        let mut out = String::new();
        write_text(&sample_load(), &mut out);
        assert!(
            out.contains("load: GET http://127.0.0.1:4000/work, target 200/s, achieved 200/s (998 sent of 1000 scheduled in 5s)"),
            "{out}"
        );
        let recovery = out
            .lines()
            .find(|line| line.trim_start().starts_with("recovery "))
            .unwrap();
        let cells: Vec<&str> = recovery.split_whitespace().collect();
        assert_eq!(
            cells,
            [
                "recovery", "1s", "100", "12", "12.00%", "2ms", "5ms", "9ms", "30ms"
            ]
        );
        assert!(
            out.contains("  recovery errors: 2 HTTP 503, 10 connection refused"),
            "{out}"
        );
        assert!(out.contains("between   1s    0"), "{out}");
        assert!(out.contains("responses by incarnation: #1 290"), "{out}");
    }

    #[test]
    fn markdown_has_phase_table() {
        let mut out = String::new();
        write_markdown(&sample_load(), &mut out, |text| text.to_owned());
        assert!(
            out.contains("| recovery | 1s | 100 | 12 | 12.00% | 2ms | 5ms | 9ms | 30ms |"),
            "{out}"
        );
        assert!(
            out.contains("| between | 1s | 0 | 0 | - | - | - | - | - |"),
            "{out}"
        );
        assert!(
            out.contains("- recovery: 2 HTTP 503, 10 connection refused"),
            "{out}"
        );
    }

    #[test]
    fn errors_described_by_kind() {
        let counts = OutcomeCounts {
            timeout: 3,
            not_sent: 1,
            ..OutcomeCounts::default()
        };
        assert_eq!(counts.errors(), 4);
        assert_eq!(
            counts.describe_errors(),
            "3 timeout, 1 not sent (max_in_flight)"
        );
        assert_eq!(OutcomeCounts::default().describe_errors(), "no errors");
    }
}
