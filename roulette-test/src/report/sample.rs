//! Reports built by hand for the renderers' unit tests.

use std::time::Duration;

use super::{
    ErrorKind, ExperimentError, FaultReport, Outcome, ProbeInfo, REPORT_VERSION, Recovery, Report,
    StopPath, TeardownReport, Verdict,
};
use crate::supervisor::logs::{LogLine, Stream};
use crate::supervisor::timeline::{Event, EventKind, ExitStatus};

/// Returns a run with two firings and two verdicts. The second verdict
/// fails with a reason full of characters that XML and Markdown escape.
pub(crate) fn failed_report() -> Report {
    let millis = Duration::from_millis;
    Report {
        report_version: REPORT_VERSION,
        experiment: String::from("kill <worker> & \"wait\""),
        description: Some(String::from("The worker restarts.")),
        source: Some(String::from("examples/quickstart.yaml")),
        seed: Some(42),
        replay: Some(String::from(
            "ROULETTE_SEED=42 cargo test --test chaos -- --exact kill.yaml",
        )),
        provenance: Default::default(),
        outcome: Outcome::Failed,
        aborted: None,
        scrape_problems: Vec::new(),
        error: None,
        probe: ProbeInfo {
            description: String::from("http GET http://127.0.0.1:1/healthz == 200"),
            interval: millis(5),
            attempt_timeout: millis(500),
        },
        faults: vec![
            FaultReport {
                fault: String::from("kill-worker"),
                occurrence: 1,
                action: String::from("SIGKILL to main process"),
                at: millis(1868),
                incarnation: Some(1),
                pid: Some(8954),
                stop: StopPath::Exited {
                    status: ExitStatus::Signal {
                        signal: 9,
                        core_dumped: false,
                    },
                    after: Duration::from_micros(100),
                },
                recovery: Recovery::Recovered {
                    incarnation: 2,
                    ttr: millis(110),
                    to_exit: Some(Duration::from_micros(100)),
                    to_restart: Some(millis(3)),
                    to_ready: millis(106),
                },
            },
            FaultReport {
                fault: String::from("kill-worker"),
                occurrence: 2,
                action: String::from("SIGKILL to main process"),
                at: millis(3369),
                incarnation: Some(2),
                pid: Some(9091),
                stop: StopPath::Exited {
                    status: ExitStatus::Signal {
                        signal: 9,
                        core_dumped: false,
                    },
                    after: Duration::from_micros(100),
                },
                recovery: Recovery::NotRecovered {
                    reason: String::from("no probe passed within 2s | stale lock"),
                },
            },
        ],
        verdicts: vec![
            Verdict {
                name: String::from("restarted-once"),
                check: String::from("restarts"),
                holds: true,
                measured: String::from("2"),
                threshold: String::from("== 2"),
                reason: String::from("2 restarts, as expected"),
            },
            Verdict {
                name: String::from("recovers-fast"),
                check: String::from("ttr"),
                holds: false,
                measured: String::from("max 2s over 1 recovery"),
                threshold: String::from("< 2s"),
                reason: String::from("TTR <2s> & 'late' | \"stale\"\u{1b}[31m"),
            },
        ],
        writes: None,
        restarts: 2,
        halted: None,
        load: None,
        teardown: TeardownReport::default(),
        timeline: vec![
            Event {
                at: millis(217),
                kind: EventKind::Spawned {
                    incarnation: 1,
                    pid: 8954,
                },
            },
            Event {
                at: millis(325),
                kind: EventKind::Ready { incarnation: 1 },
            },
        ],
        log_tail: vec![LogLine {
            at: millis(323),
            incarnation: 1,
            stream: Stream::Stdout,
            text: String::from("listening ``` on <127.0.0.1:1>"),
        }],
        duration: millis(8984),
    }
}

/// Returns [`failed_report`] with the whole timeline of its two firings:
/// incarnation 1 is killed and replaced by 2, which is killed in turn and
/// replaced by 3, which never becomes ready.
pub(crate) fn timeline_report() -> Report {
    let millis = Duration::from_millis;
    let killed = ExitStatus::Signal {
        signal: 9,
        core_dumped: false,
    };
    let events = [
        (
            217,
            EventKind::Spawned {
                incarnation: 1,
                pid: 8954,
            },
        ),
        (325, EventKind::Ready { incarnation: 1 }),
        (326, EventKind::SetupDone),
        (
            1868,
            EventKind::FaultStarted {
                fault: String::from("kill-worker"),
                occurrence: 1,
            },
        ),
        (
            1868,
            EventKind::SignalSent {
                signal: String::from("SIGKILL"),
                to: String::from("main"),
                pid: 8954,
            },
        ),
        (
            1868,
            EventKind::Exited {
                incarnation: 1,
                pid: 8954,
                status: killed,
            },
        ),
        (
            1871,
            EventKind::Spawned {
                incarnation: 2,
                pid: 9091,
            },
        ),
        (1978, EventKind::Ready { incarnation: 2 }),
        (
            1978,
            EventKind::Recovered {
                fault: String::from("kill-worker"),
                occurrence: 1,
                ttr_ms: 110.0,
            },
        ),
        (
            3369,
            EventKind::FaultStarted {
                fault: String::from("kill-worker"),
                occurrence: 2,
            },
        ),
        (
            3369,
            EventKind::SignalSent {
                signal: String::from("SIGKILL"),
                to: String::from("main"),
                pid: 9091,
            },
        ),
        (
            3369,
            EventKind::Exited {
                incarnation: 2,
                pid: 9091,
                status: killed,
            },
        ),
        (
            3372,
            EventKind::Spawned {
                incarnation: 3,
                pid: 9230,
            },
        ),
        (
            5372,
            EventKind::NotRecovered {
                fault: String::from("kill-worker"),
                occurrence: 2,
                reason: String::from("no probe passed within 2s"),
            },
        ),
        (8900, EventKind::TeardownStarted),
        (
            8984,
            EventKind::Exited {
                incarnation: 3,
                pid: 9230,
                status: killed,
            },
        ),
        (8984, EventKind::TeardownDone),
    ];
    Report {
        timeline: events
            .into_iter()
            .map(|(at, kind)| Event {
                at: millis(at),
                kind,
            })
            .collect(),
        ..failed_report()
    }
}

/// Returns a run that timed out, with an error and no verdicts.
pub(crate) fn error_report() -> Report {
    Report {
        outcome: Outcome::Error,
        error: Some(ExperimentError {
            kind: ErrorKind::Timeout,
            message: String::from("the experiment ran longer than its timeout of 30s"),
        }),
        experiment: String::from("slow"),
        verdicts: Vec::new(),
        ..failed_report()
    }
}
