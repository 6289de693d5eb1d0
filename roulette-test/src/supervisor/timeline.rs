//! The experiment's lifecycle timeline: typed events stamped with the
//! monotonic clock, as offsets from the experiment start. Every
//! measurement in a report is derived from these events.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::spec::format_duration;

/// How a process ended, as the kernel reported it to `waitpid`. In JSON:
/// `{"code": 3}` or `{"signal": "SIGKILL", "core_dumped": false}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Exited by itself with this code.
    Code(i32),
    /// Killed by this signal number.
    Signal { signal: i32, core_dumped: bool },
}

impl ExitStatus {
    pub fn from_std(status: std::process::ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => ExitStatus::Code(code),
            (None, Some(signal)) => ExitStatus::Signal {
                signal,
                core_dumped: status.core_dumped(),
            },
            // Neither a code nor a signal: only a stopped or continued
            // status looks like this, and wait() never returns those.
            (None, None) => ExitStatus::Code(-1),
        }
    }

    /// Returns whether this is exit code 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }
}

impl Serialize for ExitStatus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match *self {
            ExitStatus::Code(code) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("code", &code)?;
                map.end()
            }
            ExitStatus::Signal {
                signal,
                core_dumped,
            } => {
                let name = nix::sys::signal::Signal::try_from(signal)
                    .map_or_else(|_| signal.to_string(), |s| s.as_str().to_owned());
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("signal", &name)?;
                map.serialize_entry("core_dumped", &core_dumped)?;
                map.end()
            }
        }
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            ExitStatus::Code(code) => write!(f, "exit code {code}"),
            ExitStatus::Signal {
                signal,
                core_dumped,
            } => {
                let name = nix::sys::signal::Signal::try_from(signal)
                    .map_or_else(|_| format!("signal {signal}"), |s| s.as_str().to_owned());
                write!(f, "killed by {name}")?;
                if core_dumped {
                    f.write_str(" (core dumped)")?;
                }
                Ok(())
            }
        }
    }
}

/// One thing that happened during an experiment.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// The supervisor started incarnation `incarnation` of the target.
    Spawned { incarnation: u32, pid: u32 },
    /// The target could not be started.
    SpawnFailed { incarnation: u32, error: String },
    /// The main process of an incarnation exited.
    Exited {
        incarnation: u32,
        pid: u32,
        status: ExitStatus,
    },
    /// Processes of an earlier incarnation outlived its main process and
    /// were killed before the restart.
    LeftoversKilled { incarnation: u32, pids: Vec<u32> },
    /// The supervisor waits `delay` before the next incarnation.
    RestartScheduled { incarnation: u32, delay_ms: u64 },
    /// The supervisor stopped restarting the target.
    GaveUp { reason: String },
    /// A readiness probe passed for this incarnation.
    Ready { incarnation: u32 },
    /// The `setup` commands ran.
    SetupDone,
    /// A fault began.
    FaultStarted { fault: String, occurrence: u32 },
    /// A signal was sent.
    SignalSent {
        signal: String,
        to: String,
        pid: u32,
    },
    /// The grace period ended with the main process alive, so SIGKILL went
    /// to the whole process group.
    Escalated { fault: String, pgid: u32 },
    /// SIGSTOP was sent.
    Frozen { fault: String },
    /// SIGCONT was sent.
    Thawed { fault: String },
    /// A fault's recovery ended with a passing readiness probe.
    Recovered {
        fault: String,
        occurrence: u32,
        ttr_ms: f64,
    },
    /// A fault's recovery did not end.
    NotRecovered {
        fault: String,
        occurrence: u32,
        reason: String,
    },
    /// The circuit breaker stopped injecting faults.
    Aborted { reason: String },
    /// The `load` block began sending requests.
    LoadStarted { load: String },
    /// The `load` block stopped sending; `requests` were due.
    LoadStopped { requests: u64 },
    /// The settle period began.
    Settling,
    /// Teardown began.
    TeardownStarted,
    /// Teardown ended with no process of the experiment left.
    TeardownDone,
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventKind::Spawned { incarnation, pid } => {
                write!(f, "spawned incarnation #{incarnation} (pid {pid})")
            }
            EventKind::SpawnFailed { incarnation, error } => {
                write!(f, "failed to spawn incarnation #{incarnation}: {error}")
            }
            EventKind::Exited {
                incarnation,
                pid,
                status,
            } => write!(f, "incarnation #{incarnation} (pid {pid}) ended: {status}"),
            EventKind::LeftoversKilled { incarnation, pids } => {
                write!(
                    f,
                    "killed {} leftover process(es) of incarnation #{incarnation}: {pids:?}",
                    pids.len()
                )
            }
            EventKind::RestartScheduled {
                incarnation,
                delay_ms,
            } => {
                write!(
                    f,
                    "restart as incarnation #{incarnation} after {delay_ms}ms backoff"
                )
            }
            EventKind::GaveUp { reason } => write!(f, "supervisor gave up: {reason}"),
            EventKind::Ready { incarnation } => write!(f, "incarnation #{incarnation} ready"),
            EventKind::SetupDone => f.write_str("setup commands done"),
            EventKind::FaultStarted { fault, occurrence } => {
                write!(f, "fault `{fault}` #{occurrence}")
            }
            EventKind::SignalSent { signal, to, pid } => {
                write!(f, "sent {signal} to {to} (pid {pid})")
            }
            EventKind::Escalated { fault, pgid } => write!(
                f,
                "grace of `{fault}` ended: SIGKILL to every process of the tree (group {pgid})"
            ),
            EventKind::Frozen { fault } => write!(f, "`{fault}`: SIGSTOP"),
            EventKind::Thawed { fault } => write!(f, "`{fault}`: SIGCONT"),
            EventKind::Recovered {
                fault,
                occurrence,
                ttr_ms,
            } => {
                write!(
                    f,
                    "recovered from `{fault}` #{occurrence} in {}",
                    format_duration(Duration::from_secs_f64(ttr_ms / 1000.0))
                )
            }
            EventKind::NotRecovered {
                fault,
                occurrence,
                reason,
            } => write!(f, "no recovery from `{fault}` #{occurrence}: {reason}"),
            EventKind::Aborted { reason } => write!(f, "aborted: {reason}; no further faults"),
            EventKind::LoadStarted { load } => write!(f, "load started: {load}"),
            EventKind::LoadStopped { requests } => {
                write!(f, "load stopped after {requests} request(s)")
            }
            EventKind::Settling => f.write_str("settle period"),
            EventKind::TeardownStarted => f.write_str("teardown"),
            EventKind::TeardownDone => f.write_str("teardown done"),
        }
    }
}

/// An event and its offset from the experiment start.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    #[serde(serialize_with = "serialize_millis", rename = "at_ms")]
    pub at: Duration,
    #[serde(flatten)]
    pub kind: EventKind,
}

fn serialize_millis<S: serde::Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64() * 1000.0)
}

/// The events of one experiment, in the order they were recorded.
#[derive(Debug)]
pub struct Timeline {
    start: Instant,
    events: Mutex<Vec<Event>>,
}

impl Timeline {
    /// Starts a timeline whose offsets count from now.
    pub fn new() -> Self {
        Timeline {
            start: Instant::now(),
            events: Mutex::new(Vec::new()),
        }
    }

    /// The instant that offsets count from.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// The offset of `instant` from the start.
    pub fn offset(&self, instant: Instant) -> Duration {
        instant.saturating_duration_since(self.start)
    }

    /// Records an event that happened now and returns its offset.
    pub fn record(&self, kind: EventKind) -> Duration {
        self.record_at(Instant::now(), kind)
    }

    /// Records an event that happened at `instant`.
    pub fn record_at(&self, instant: Instant, kind: EventKind) -> Duration {
        let at = self.offset(instant);
        tracing::debug!(at = ?at, "{kind}");
        let mut events = self
            .events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // Events may be recorded slightly out of order by concurrent tasks;
        // keep the list sorted by time.
        let position = events.partition_point(|event| event.at <= at);
        events.insert(position, Event { at, kind });
        at
    }

    /// A copy of every event so far.
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl Default for Timeline {
    fn default() -> Self {
        Self::new()
    }
}
