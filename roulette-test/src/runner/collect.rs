//! Collecting series during an experiment: scrapes of the `target.metrics`
//! endpoints, and the supervisor-made series that need no instrumentation
//! in the target, on one clock and one interval.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::metrics::labels::Labels;
use crate::metrics::store::{IngestError, Point, ScrapeBody, ScrapeError, Store};
use crate::supervisor::SupervisorState;
use crate::supervisor::timeline::{EventKind, Timeline};

/// Upper bounds of `roulette_recovery_seconds`, in seconds.
const RECOVERY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Invalid expositions kept for the report; more are counted, not kept.
const MAX_PROBLEMS: usize = 10;

/// What the collector gathered.
#[derive(Default)]
struct Collected {
    store: Store,
    /// Every collection time, in ms on the experiment's clock.
    ticks: Vec<i64>,
    /// Invalid expositions, with the endpoint and the line.
    problems: Vec<String>,
}

/// A running collection. Dropping it stops the collection.
pub(super) struct Collector {
    collected: Arc<Mutex<Collected>>,
    task: JoinHandle<()>,
}

/// The result of a collection.
pub(super) struct Collection {
    pub store: Store,
    pub ticks: Vec<i64>,
    pub problems: Vec<String>,
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Collector {
    /// Starts collecting every `interval` from `endpoints` (expanded URLs)
    /// and from the supervisor's state. `signals` names the signal of each
    /// fault, for the `signal` label of `roulette_faults_injected_total`.
    pub(super) fn start(
        endpoints: Vec<String>,
        interval: Duration,
        timeout: Duration,
        state: watch::Receiver<SupervisorState>,
        timeline: Arc<Timeline>,
        signals: BTreeMap<String, String>,
    ) -> Collector {
        let collected = Arc::new(Mutex::new(Collected::default()));
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_max_idle_per_host(0)
            .no_proxy()
            // A redirect could lead the scrape off this machine.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client without TLS or proxies builds");
        let shared = collected.clone();
        let task = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let at_ms = timeline.offset(Instant::now()).as_millis() as i64;
                let mut scrapes = Vec::new();
                for endpoint in &endpoints {
                    scrapes.push((
                        instance_of(endpoint),
                        scrape(&http, endpoint, timeout).await,
                    ));
                }
                let events = timeline.events();
                let state = state.borrow().clone();
                let mut collected = shared
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                for (endpoint, result) in scrapes {
                    let ingested = match &result {
                        Ok((text, content_type)) => collected.store.ingest_scrape(
                            &endpoint,
                            at_ms,
                            Ok(ScrapeBody { text, content_type }),
                        ),
                        Err(err) => {
                            collected
                                .store
                                .ingest_scrape(&endpoint, at_ms, Err(err.clone()))
                        }
                    };
                    if let Err(
                        err @ (IngestError::Parse { .. } | IngestError::DuplicateSeries { .. }),
                    ) = ingested
                    {
                        tracing::warn!(%endpoint, %err, "invalid exposition");
                        if collected.problems.len() < MAX_PROBLEMS
                            && !collected.problems.contains(&err.to_string())
                        {
                            collected.problems.push(err.to_string());
                        }
                    }
                }
                append_supervisor_series(&mut collected.store, at_ms, &state, &events, &signals);
                collected.ticks.push(at_ms);
            }
        });
        Collector { collected, task }
    }

    /// Stops collecting and returns what was gathered.
    pub(super) async fn finish(self) -> Collection {
        self.task.abort();
        let collected = std::mem::take(
            &mut *self
                .collected
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        Collection {
            store: collected.store,
            ticks: collected.ticks,
            problems: collected.problems,
        }
    }
}

/// The `instance` label of an endpoint, `host:port` as Prometheus sets it.
fn instance_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => match (parsed.host_str(), parsed.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            _ => url.to_owned(),
        },
        Err(_) => url.to_owned(),
    }
}

/// Fetches one exposition: its text and `Content-Type`.
async fn scrape(
    http: &reqwest::Client,
    url: &str,
    timeout: Duration,
) -> Result<(String, String), ScrapeError> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|err| request_error(err, timeout))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(ScrapeError::Status { status });
    }
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response
        .text()
        .await
        .map_err(|err| request_error(err, timeout))?;
    Ok((text, content_type))
}

fn request_error(err: reqwest::Error, timeout: Duration) -> ScrapeError {
    if err.is_timeout() {
        ScrapeError::TimedOut {
            after_ms: timeout.as_millis() as u64,
        }
    } else {
        ScrapeError::Request {
            message: err.to_string(),
        }
    }
}

fn append(store: &mut Store, name: &str, labels: &[(&str, &str)], at_ms: i64, value: f64) {
    let pairs = std::iter::once(("__name__", name)).chain(labels.iter().copied());
    // Collection times increase, so an out-of-order append cannot happen.
    let _ = store.append(Labels::from_pairs(pairs), Point { t: at_ms, v: value });
}

/// Appends the series the supervisor knows without asking the target.
fn append_supervisor_series(
    store: &mut Store,
    at_ms: i64,
    state: &SupervisorState,
    events: &[crate::supervisor::timeline::Event],
    signals: &BTreeMap<String, String>,
) {
    append(
        store,
        "roulette_process_restarts_total",
        &[],
        at_ms,
        f64::from(state.restarts()),
    );
    append(
        store,
        "roulette_process_up",
        &[],
        at_ms,
        if state.running.is_some() { 1.0 } else { 0.0 },
    );
    if let Some(running) = state.running {
        append(
            store,
            "roulette_process_uptime_seconds",
            &[],
            at_ms,
            running.at.elapsed().as_secs_f64(),
        );
        if let Some((resident, cpu)) = process_usage(running.pid) {
            append(
                store,
                "roulette_process_resident_memory_bytes",
                &[],
                at_ms,
                resident,
            );
            append(store, "roulette_process_cpu_seconds_total", &[], at_ms, cpu);
        }
    }

    let mut injected: BTreeMap<&str, u32> = signals.keys().map(|name| (name.as_str(), 0)).collect();
    let mut recoveries = Vec::new();
    for event in events {
        match &event.kind {
            EventKind::FaultStarted { fault, .. } => {
                *injected.entry(fault.as_str()).or_default() += 1
            }
            EventKind::Recovered { ttr_ms, .. } => recoveries.push(ttr_ms / 1000.0),
            _ => {}
        }
    }
    for (fault, count) in injected {
        let signal = signals.get(fault).map_or("", String::as_str);
        append(
            store,
            "roulette_faults_injected_total",
            &[("fault", fault), ("signal", signal)],
            at_ms,
            f64::from(count),
        );
    }

    for bound in RECOVERY_BUCKETS {
        let count = recoveries
            .iter()
            .filter(|seconds| *seconds <= bound)
            .count();
        append(
            store,
            "roulette_recovery_seconds_bucket",
            &[("le", &bound.to_string())],
            at_ms,
            count as f64,
        );
    }
    append(
        store,
        "roulette_recovery_seconds_bucket",
        &[("le", "+Inf")],
        at_ms,
        recoveries.len() as f64,
    );
    append(
        store,
        "roulette_recovery_seconds_sum",
        &[],
        at_ms,
        recoveries.iter().sum(),
    );
    append(
        store,
        "roulette_recovery_seconds_count",
        &[],
        at_ms,
        recoveries.len() as f64,
    );
}

/// Resident memory in bytes and CPU time in seconds of `pid`, from
/// `/proc/PID/statm` and `/proc/PID/stat`.
fn process_usage(pid: u32) -> Option<(f64, f64)> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let resident_pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // utime and stime are fields 14 and 15 of proc_pid_stat(5); after the
    // command name they sit at indexes 11 and 12.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let page_size = rustix::param::page_size() as f64;
    let ticks_per_second = rustix::param::clock_ticks_per_second() as f64;
    Some((resident_pages * page_size, ticks / ticks_per_second))
}
