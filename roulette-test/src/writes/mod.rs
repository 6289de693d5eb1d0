//! The acknowledged-writes check: a writer issues uniquely identified
//! writes at a fixed rate while the faults fire, and once the target is
//! ready again a reader lists what the store kept.
//!
//! Every acknowledged write must be present. A write that failed, timed
//! out or was cut off may or may not be present, because a kill can land
//! after the store applied it and before the acknowledgement reached the
//! writer. An id listed twice is a duplicate.
//!
//! # Caveats
//!
//! SIGKILL ends a process, not the machine: data that the process handed
//! to the kernel (the page cache) survives it whether or not it was
//! synced to disk. Process faults therefore cannot tell an fsync setting
//! from a weaker one; only a power loss or a kernel crash can.

mod resp;
mod store;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use store::{Store, WriteError};

use crate::report::writes::{FIRST_IDS, WriteErrorCount, WritesInterval, WritesReport};

/// The outcome of one write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The store acknowledged it; the offset of the acknowledgement from
    /// the experiment start.
    Acknowledged(Duration),
    /// It failed, timed out, or was in flight when the writer stopped.
    Unacknowledged(WriteError),
}

/// One write: its id and outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteRecord {
    pub id: String,
    pub outcome: WriteOutcome,
}

/// Every write the writer issued, in order.
#[derive(Debug, Default)]
pub struct WriteLog {
    pub records: Vec<WriteRecord>,
    /// From the first write to the writer's stop.
    pub elapsed: Duration,
}

/// The writer's settings besides its store.
#[derive(Clone, Debug)]
pub struct WriterSettings {
    /// Writes per second.
    pub rate: f64,
    /// The maximum number of writes.
    pub count: u64,
    /// The time limit of one write.
    pub timeout: Duration,
    /// The prefix of every id, unique to this run.
    pub prefix: String,
    /// The experiment start, which acknowledgement offsets count from.
    pub start: Instant,
}

/// A running writer. Dropping it stops the writer at once.
pub struct Writer {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<(WriteLog, Store)>>,
}

impl Writer {
    /// Starts writing to `store` on a task of its own.
    pub fn start(store: Store, settings: WriterSettings) -> Self {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(write_loop(store, settings, stopped));
        Writer {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the writer and returns its log and store. A write in flight
    /// is cut off and counts as unacknowledged.
    pub async fn stop(mut self) -> Result<(WriteLog, Store), String> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().expect("a writer is stopped once");
        task.await
            .map_err(|err| format!("the writer task failed: {err}"))
    }
}

#[cfg(test)]
impl Writer {
    /// Waits until the writer has issued `count` writes.
    async fn finish(mut self) -> (WriteLog, Store) {
        let task = self.task.take().expect("a writer is finished once");
        task.await.expect("the writer task does not panic")
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn write_loop(
    mut store: Store,
    settings: WriterSettings,
    mut stopped: oneshot::Receiver<()>,
) -> (WriteLog, Store) {
    let period = Duration::from_secs_f64(1.0 / settings.rate);
    let mut ticks = tokio::time::interval(period);
    // One write at a time: after a slow write the next one starts at the
    // next tick, with no burst to catch up.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut log = WriteLog::default();
    let first = Instant::now();
    'writes: for sequence in 0..settings.count {
        tokio::select! {
            biased;
            _ = &mut stopped => break 'writes,
            _ = ticks.tick() => {}
        }
        let id = format!("{}-{sequence:06}", settings.prefix);
        let write = tokio::time::timeout(settings.timeout, store.write(&id));
        let outcome = tokio::select! {
            biased;
            _ = &mut stopped => {
                log.records.push(WriteRecord {
                    id,
                    outcome: WriteOutcome::Unacknowledged(WriteError {
                        kind: String::from("cut off"),
                        message: String::from("in flight when the writer stopped"),
                    }),
                });
                break 'writes;
            }
            result = write => match result {
                Ok(Ok(())) => WriteOutcome::Acknowledged(settings.start.elapsed()),
                Ok(Err(error)) => WriteOutcome::Unacknowledged(error),
                Err(_) => WriteOutcome::Unacknowledged(WriteError {
                    kind: String::from("timed out"),
                    message: format!(
                        "no acknowledgement within {}",
                        crate::spec::format_duration(settings.timeout)
                    ),
                }),
            },
        };
        log.records.push(WriteRecord { id, outcome });
    }
    log.elapsed = first.elapsed();
    (log, store)
}

/// A fault firing that splits the writes into intervals: its label, such
/// as `kill-redis #2`, and its offset from the experiment start.
pub struct Boundary {
    pub label: String,
    pub at: Duration,
}

/// Compares the writer's log with the listed ids. `listed` is the list
/// result; `prefix` marks the ids of this run.
pub fn analyse(
    driver: String,
    target_rate: f64,
    log: &WriteLog,
    listed: Result<Vec<String>, String>,
    prefix: &str,
    boundaries: &[Boundary],
) -> WritesReport {
    let attempted = log.records.len() as u64;
    let acknowledged = log
        .records
        .iter()
        .filter(|record| matches!(record.outcome, WriteOutcome::Acknowledged(_)))
        .count() as u64;
    let achieved_rate = if log.elapsed.is_zero() {
        0.0
    } else {
        attempted as f64 / log.elapsed.as_secs_f64()
    };

    let mut errors: Vec<WriteErrorCount> = Vec::new();
    for record in &log.records {
        if let WriteOutcome::Unacknowledged(error) = &record.outcome {
            match errors.iter_mut().find(|known| known.kind == error.kind) {
                Some(known) => known.count += 1,
                None => errors.push(WriteErrorCount {
                    kind: error.kind.clone(),
                    count: 1,
                    example: error.message.clone(),
                }),
            }
        }
    }
    errors.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.kind.cmp(&b.kind)));

    let mut report = WritesReport {
        driver,
        target_rate,
        achieved_rate,
        attempted,
        acknowledged,
        unacknowledged: attempted - acknowledged,
        errors,
        ..WritesReport::default()
    };
    let listed = match listed {
        Ok(listed) => listed,
        Err(error) => {
            report.list_error = Some(error);
            return report;
        }
    };

    // Occurrences of each id of this run, in the order first listed.
    let own = format!("{prefix}-");
    let mut occurrences: HashMap<&str, u64> = HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for id in listed.iter().filter(|id| id.starts_with(&own)) {
        let count = occurrences.entry(id.as_str()).or_insert(0);
        if *count == 0 {
            order.push(id);
        }
        *count += 1;
    }
    let attempted_ids: HashMap<&str, &WriteOutcome> = log
        .records
        .iter()
        .map(|record| (record.id.as_str(), &record.outcome))
        .collect();

    report.present = occurrences.len() as u64;
    let duplicated: Vec<&str> = order
        .iter()
        .copied()
        .filter(|id| occurrences[id] > 1)
        .collect();
    report.duplicates = duplicated.len() as u64;
    report.first_duplicates = duplicated
        .iter()
        .take(FIRST_IDS)
        .map(|id| (*id).to_owned())
        .collect();
    report.unknown = order
        .iter()
        .filter(|id| !attempted_ids.contains_key(*id))
        .count() as u64;

    let mut intervals: Vec<WritesInterval> = boundaries
        .iter()
        .map(|boundary| WritesInterval {
            label: format!("before {}", boundary.label),
            acknowledged: 0,
            lost: 0,
        })
        .collect();
    intervals.push(WritesInterval {
        label: boundaries.last().map_or_else(
            || String::from("whole run"),
            |last| format!("after {}", last.label),
        ),
        acknowledged: 0,
        lost: 0,
    });

    let mut lost_ids = Vec::new();
    for record in &log.records {
        let present = occurrences.contains_key(record.id.as_str());
        match record.outcome {
            WriteOutcome::Acknowledged(at) => {
                let slot = boundaries
                    .iter()
                    .position(|boundary| at < boundary.at)
                    .unwrap_or(boundaries.len());
                intervals[slot].acknowledged += 1;
                if !present {
                    intervals[slot].lost += 1;
                    lost_ids.push(record.id.as_str());
                }
            }
            WriteOutcome::Unacknowledged(_) => {
                if present {
                    report.unacknowledged_present += 1;
                }
            }
        }
    }
    report.lost = lost_ids.len() as u64;
    report.first_lost = lost_ids
        .iter()
        .take(FIRST_IDS)
        .map(|id| (*id).to_owned())
        .collect();
    report.intervals = intervals;
    report
}

/// Builds the id prefix of one run from its experiment id, so that ids
/// of two runs against one store never collide.
pub fn id_prefix(experiment_id: &str) -> String {
    // FNV-1a: a stable, dependency-free hash; collisions only matter
    // between runs that share a store.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in experiment_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("w{:08x}", hash as u32)
}

#[cfg(test)]
mod tests;
