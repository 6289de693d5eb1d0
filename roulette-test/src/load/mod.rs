//! Traffic during an experiment: HTTP requests at a fixed rate, from the
//! end of `setup` to the end of the settle period, with every request's
//! outcome and latency.
//!
//! The load is open-loop: request `i` is due at `start + i / rate`
//! whatever happened to the earlier ones, and its latency runs from that
//! intended send time to its end (see [`generator`]). Requests in flight
//! are bounded by `max_in_flight`; a request that finds no free slot
//! before its timeout ends as [`RequestOutcome::NotSent`]. After the run,
//! [`summary`] splits the requests into phases (before the first fault,
//! during recoveries, between them, after the last one), and sums them
//! up in HDR histograms. A request that was in flight during a recovery
//! belongs to `recovery`; any other belongs to the phase of its intended
//! send time.
//!
//! The requests run on a thread of their own with its own Tokio runtime,
//! so that the load and the harness's probes do not delay each other.

pub mod generator;
mod http;
pub mod summary;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

pub use http::HttpLoad;

/// The outcome of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestOutcome {
    /// A response with the expected status.
    Ok { status: u16 },
    /// A response with another status.
    Status(u16),
    /// Nothing listened on the port.
    ConnectionRefused,
    /// The connection was reset or closed before the response was
    /// complete.
    ConnectionClosed,
    /// No complete response before the timeout.
    Timeout,
    /// No slot of `max_in_flight` was free before the timeout, so the
    /// request was never sent.
    NotSent,
    /// Any other error.
    Other,
}

impl RequestOutcome {
    /// Returns whether the request succeeded.
    pub fn is_success(self) -> bool {
        matches!(self, RequestOutcome::Ok { .. })
    }
}

/// One request, with its times as offsets from the start of the load,
/// kept in microseconds so that a long load stays small in memory.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RequestRecord {
    /// When the schedule meant to send it.
    intended_micros: u64,
    /// From then to the moment it was sent; [`NOT_SENT`] when it was
    /// never sent.
    send_lag_micros: u32,
    /// From then to the moment its response, error or timeout ended it.
    latency_micros: u32,
    pub outcome: RequestOutcome,
}

/// The `send_lag_micros` of a request that was never sent.
const NOT_SENT: u32 = u32::MAX;

fn micros_u32(duration: Duration) -> u32 {
    u32::try_from(duration.as_micros()).unwrap_or(u32::MAX - 1)
}

impl RequestRecord {
    /// Creates a record from offsets since the start of the load. Lags
    /// and latencies above 71 minutes are clamped.
    pub fn new(
        intended: Duration,
        sent: Option<Duration>,
        ended: Duration,
        outcome: RequestOutcome,
    ) -> RequestRecord {
        RequestRecord {
            intended_micros: u64::try_from(intended.as_micros()).unwrap_or(u64::MAX),
            send_lag_micros: sent.map_or(NOT_SENT, |sent| {
                micros_u32(sent.saturating_sub(intended)).min(NOT_SENT - 1)
            }),
            latency_micros: micros_u32(ended.saturating_sub(intended)),
            outcome,
        }
    }

    /// Returns when the schedule meant to send it.
    pub fn intended(&self) -> Duration {
        Duration::from_micros(self.intended_micros)
    }

    /// Returns when it was sent, or `None` when it was never sent.
    pub fn sent(&self) -> Option<Duration> {
        (self.send_lag_micros != NOT_SENT)
            .then(|| self.intended() + Duration::from_micros(u64::from(self.send_lag_micros)))
    }

    /// Returns when its response, error or timeout ended it.
    pub fn ended(&self) -> Duration {
        self.intended() + self.latency()
    }

    /// Returns the latency, from the intended send time to the end.
    pub fn latency(&self) -> Duration {
        Duration::from_micros(u64::from(self.latency_micros))
    }
}

/// The requests of a finished load.
#[derive(Clone, Debug, Default)]
pub struct Generated {
    /// Every request, sorted by intended send time.
    // NOTE: every request is kept until the end, so that phases can be
    // assigned once the recoveries are known. A record takes 24 bytes, so
    // 10000/s for the default 5 minute timeout keeps about 72 MB.
    pub records: Vec<RequestRecord>,
    /// The first distinct messages of `other` errors.
    pub other_messages: Vec<String>,
}

/// A load running on its own thread. Dropping it stops the load.
pub struct RunningLoad {
    stop: Option<oneshot::Sender<()>>,
    done: oneshot::Receiver<Generated>,
    /// When the schedule started.
    pub started: std::time::Instant,
}

/// The result of a finished load.
pub struct FinishedLoad {
    pub generated: Generated,
    pub started: std::time::Instant,
    pub stopped: std::time::Instant,
}

impl RunningLoad {
    /// Starts sending requests at once. The load stops when
    /// [`RunningLoad::finish`] is called, when this value is dropped, or
    /// after `max_duration`, whichever comes first.
    pub fn start(load: HttpLoad, max_duration: Duration) -> std::io::Result<RunningLoad> {
        let (stop, stop_receiver) = oneshot::channel();
        let (done_sender, done) = oneshot::channel();
        let (started_sender, started_receiver) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(String::from("roulette-load"))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = started_sender.send(Err(err));
                        return;
                    }
                };
                let plan = load.plan(max_duration);
                let transport = Arc::new(load);
                let generated = runtime.block_on(async move {
                    let start = tokio::time::Instant::now();
                    let _ = started_sender.send(Ok(start.into_std()));
                    generator::generate(transport, plan, start, stop_receiver).await
                });
                let _ = done_sender.send(generated);
            })?;
        let started = started_receiver
            .recv()
            .map_err(|_| std::io::Error::other("the load thread ended before it started"))??;
        Ok(RunningLoad {
            stop: Some(stop),
            done,
            started,
        })
    }

    /// Stops sending, waits for the requests in flight (each ends within
    /// its timeout) and returns every request.
    pub async fn finish(mut self) -> FinishedLoad {
        let stopped = std::time::Instant::now();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let generated = (&mut self.done).await.unwrap_or_default();
        FinishedLoad {
            generated,
            started: self.started,
            stopped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_fits_24_bytes() {
        assert_eq!(std::mem::size_of::<RequestRecord>(), 24);
    }

    #[test]
    fn record_keeps_times() {
        let millis = Duration::from_millis;
        let record = RequestRecord::new(
            millis(1500),
            Some(millis(1502)),
            millis(1510),
            RequestOutcome::Ok { status: 200 },
        );
        assert_eq!(record.intended(), millis(1500));
        assert_eq!(record.sent(), Some(millis(1502)));
        assert_eq!(record.ended(), millis(1510));
        assert_eq!(record.latency(), millis(10));

        let unsent = RequestRecord::new(millis(7), None, millis(2007), RequestOutcome::NotSent);
        assert_eq!(unsent.sent(), None);
        assert_eq!(unsent.latency(), millis(2000));
    }
}
