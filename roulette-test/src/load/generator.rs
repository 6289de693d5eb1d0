//! The open-loop schedule: request `i` is due at `start + i / rate`,
//! whether or not earlier requests have completed, and its latency
//! runs from that intended time. A server that stalls therefore shows
//! the stall in the latency of every request that was due during it,
//! not only in the few that were already in flight (the coordinated
//! omission of closed-loop load tools).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{Generated, RequestOutcome, RequestRecord};

/// Distinct messages of `other` errors kept for the report.
const MAX_OTHER_MESSAGES: usize = 5;

/// Sends one request. The HTTP client implements it; unit tests use a
/// simulated server.
pub trait Transport: Send + Sync + 'static {
    /// Sends one request and returns its outcome, with the message of an
    /// `other` error. The caller applies the time limit.
    fn send(&self) -> impl Future<Output = (RequestOutcome, Option<String>)> + Send;
}

/// The timing of a load.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub per_second: f64,
    /// The limit of one request, counted from its intended send time.
    pub timeout: Duration,
    /// Requests in flight at once.
    pub max_in_flight: usize,
    /// The maximum time the load runs when no stop arrives.
    pub max_duration: Duration,
}

impl Plan {
    /// Returns the intended send time of request `index`, as an offset
    /// from the start. It is computed from the index rather than summed,
    /// so that rounding does not drift over a long run.
    fn offset_of(&self, index: u64) -> Duration {
        Duration::from_secs_f64(index as f64 / self.per_second)
    }
}

/// Sends requests on `plan` from `start` until `stop` resolves (or its
/// sender is dropped) or `plan.max_duration` passes, then waits for the
/// requests in flight, which each end within `plan.timeout`.
pub async fn generate<T: Transport>(
    transport: Arc<T>,
    plan: Plan,
    start: Instant,
    mut stop: oneshot::Receiver<()>,
) -> Generated {
    let slots = Arc::new(Semaphore::new(plan.max_in_flight));
    let mut tasks = JoinSet::new();
    let mut generated = Generated::default();
    let end = start + plan.max_duration;
    let mut index: u64 = 0;

    loop {
        let next = start + plan.offset_of(index);
        if next >= end {
            break;
        }
        tokio::select! {
            biased;
            _ = &mut stop => break,
            () = tokio::time::sleep_until(next) => {}
        }

        // The timer wakes at millisecond granularity, so at high rates
        // several requests are due at each wake-up: send them all now.
        let now = Instant::now();
        while start + plan.offset_of(index) <= now && start + plan.offset_of(index) < end {
            let intended = plan.offset_of(index);
            tasks.spawn(request(
                transport.clone(),
                slots.clone(),
                start,
                intended,
                plan.timeout,
            ));
            index += 1;
        }
        while let Some(finished) = tasks.try_join_next() {
            collect(&mut generated, finished);
        }
    }

    // Every task ends by its intended time plus the timeout; the margin
    // covers scheduling delays. What is left after it is aborted.
    let drain_until = Instant::now() + plan.timeout + Duration::from_secs(1);
    while let Ok(Some(finished)) = tokio::time::timeout_at(drain_until, tasks.join_next()).await {
        collect(&mut generated, finished);
    }
    tasks.abort_all();
    generated.records.sort_by_key(RequestRecord::intended);
    generated
}

fn collect(
    generated: &mut Generated,
    finished: Result<(RequestRecord, Option<String>), tokio::task::JoinError>,
) {
    let Ok((record, message)) = finished else {
        return;
    };
    generated.records.push(record);
    if let Some(message) = message
        && generated.other_messages.len() < MAX_OTHER_MESSAGES
        && !generated.other_messages.contains(&message)
    {
        generated.other_messages.push(message);
    }
}

/// Sends one request: waits for a free slot, sends, and records the
/// outcome. Both the wait and the request count against the timeout,
/// from the intended send time.
async fn request<T: Transport>(
    transport: Arc<T>,
    slots: Arc<Semaphore>,
    start: Instant,
    intended: Duration,
    timeout: Duration,
) -> (RequestRecord, Option<String>) {
    let deadline = start + intended + timeout;
    let permit = match tokio::time::timeout_at(deadline, slots.acquire_owned()).await {
        // A slot that frees at the deadline leaves no time to send.
        Ok(Ok(permit)) if Instant::now() < deadline => permit,
        _ => {
            let ended = Instant::now().saturating_duration_since(start);
            let record = RequestRecord::new(intended, None, ended, RequestOutcome::NotSent);
            return (record, None);
        }
    };
    let sent = Instant::now().saturating_duration_since(start);
    let (outcome, message) = match tokio::time::timeout_at(deadline, transport.send()).await {
        Ok(result) => result,
        Err(_) => (RequestOutcome::Timeout, None),
    };
    let ended = Instant::now().saturating_duration_since(start);
    drop(permit);
    let record = RequestRecord::new(intended, Some(sent), ended, outcome);
    (record, message)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::load::summary::latency_summary;

    /// A server on one connection that stalls from 1 s to 2 s after the
    /// start. A request that arrives during the stall completes when the
    /// stall ends, and the server handles one request at a time.
    struct StallingServer {
        start: Instant,
        busy_until: Mutex<Instant>,
    }

    impl Transport for StallingServer {
        async fn send(&self) -> (RequestOutcome, Option<String>) {
            let service = Duration::from_millis(1);
            let now = Instant::now();
            let stall = (
                self.start + Duration::from_secs(1),
                self.start + Duration::from_secs(2),
            );
            let done = {
                let mut busy = self.busy_until.lock().unwrap();
                let mut begin = (*busy).max(now);
                if begin >= stall.0 && begin < stall.1 {
                    begin = stall.1;
                }
                *busy = begin + service;
                *busy
            };
            tokio::time::sleep_until(done).await;
            (RequestOutcome::Ok { status: 200 }, None)
        }
    }

    async fn run_against_stall(max_in_flight: usize) -> Generated {
        let start = Instant::now();
        let server = Arc::new(StallingServer {
            start,
            busy_until: Mutex::new(start),
        });
        let plan = Plan {
            per_second: 100.0,
            timeout: Duration::from_secs(5),
            max_in_flight,
            max_duration: Duration::from_secs(3),
        };
        let (_stop, stop_receiver) = oneshot::channel();
        generate(server, plan, start, stop_receiver).await
    }

    #[tokio::test(start_paused = true)]
    async fn open_loop_sends_on_schedule() {
        let generated = run_against_stall(1024).await;
        assert_eq!(generated.records.len(), 300);
        for (index, record) in generated.records.iter().enumerate() {
            assert_eq!(record.intended(), Duration::from_millis(10 * index as u64));
            let lag = record.sent().unwrap() - record.intended();
            assert!(
                lag < Duration::from_millis(2),
                "request {index} sent {lag:?} late"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stall_shows_in_intended_latency() {
        // One slot: like a client on one keep-alive connection, requests
        // due during the stall wait for the one in flight.
        let generated = run_against_stall(1).await;
        assert!(generated.records.iter().all(|r| r.outcome.is_success()));

        let from_intended = latency_summary(generated.records.iter().map(|r| r.latency())).unwrap();
        let from_sent = latency_summary(
            generated
                .records
                .iter()
                .map(|r| r.ended() - r.sent().unwrap()),
        )
        .unwrap();

        // A third of the requests were due during the 1 s stall.
        assert!(
            from_intended.p95 >= Duration::from_millis(500),
            "p95 from the intended send time: {:?}",
            from_intended.p95
        );
        assert!(from_intended.max >= Duration::from_millis(990));
        // Measured from the moment each was sent, only the request caught
        // in the stall is slow: the stall hides below p99.
        assert!(
            from_sent.p99 < Duration::from_millis(20),
            "p99 from the actual send time: {:?}",
            from_sent.p99
        );
        assert!(from_sent.max >= Duration::from_millis(990));
    }

    /// Counts the sends in progress and the most at once.
    struct CountingServer {
        inner: StallingServer,
        current: std::sync::atomic::AtomicUsize,
        most: std::sync::atomic::AtomicUsize,
    }

    impl Transport for CountingServer {
        async fn send(&self) -> (RequestOutcome, Option<String>) {
            use std::sync::atomic::Ordering;
            let now = self.current.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            // Decremented on drop, because a timeout drops this future.
            struct Leave<'a>(&'a std::sync::atomic::AtomicUsize);
            impl Drop for Leave<'_> {
                fn drop(&mut self) {
                    self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
            let _leave = Leave(&self.current);
            self.inner.send().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn slots_bound_requests_in_flight() {
        let start = Instant::now();
        let server = Arc::new(CountingServer {
            inner: StallingServer {
                start,
                busy_until: Mutex::new(start),
            },
            current: Default::default(),
            most: Default::default(),
        });
        let plan = Plan {
            per_second: 100.0,
            timeout: Duration::from_millis(200),
            max_in_flight: 2,
            max_duration: Duration::from_secs(3),
        };
        let (_stop, stop_receiver) = oneshot::channel();
        let generated = generate(server.clone(), plan, start, stop_receiver).await;

        let most = server.most.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(most, 2, "requests in flight at once");
        let timeouts = generated
            .records
            .iter()
            .filter(|r| r.outcome == RequestOutcome::Timeout)
            .count();
        // Requests due during the stall wait for a slot and then time
        // out, all within the timeout of their intended send time.
        assert!(timeouts > 50, "{timeouts} timeouts");
        for record in &generated.records {
            assert!(record.latency() <= Duration::from_millis(201), "{record:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn stop_ends_the_load() {
        let start = Instant::now();
        let server = Arc::new(StallingServer {
            start,
            busy_until: Mutex::new(start),
        });
        let plan = Plan {
            per_second: 100.0,
            timeout: Duration::from_secs(1),
            max_in_flight: 16,
            max_duration: Duration::from_secs(60),
        };
        let (stop, stop_receiver) = oneshot::channel();
        let load = tokio::spawn(generate(server, plan, start, stop_receiver));
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.send(()).unwrap();
        let generated = load.await.unwrap();
        let count = generated.records.len();
        assert!((49..=52).contains(&count), "{count} requests");
    }
}
