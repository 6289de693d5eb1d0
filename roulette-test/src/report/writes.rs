//! The counts of the acknowledged-writes check, as the report carries
//! them, and their text for the terminal and Markdown renderings.

use serde::Serialize;

/// The most ids a report lists for lost writes and for duplicates.
pub const FIRST_IDS: usize = 10;

/// What the writer issued during the experiment and what the store still
/// had when it was listed afterwards.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct WritesReport {
    /// The store in a few words, such as `redis 127.0.0.1:6379 list roulette:writes`.
    pub driver: String,
    /// The rate the spec asked for, in writes per second.
    pub target_rate: f64,
    /// Writes issued per second, from the first write to the writer's stop.
    pub achieved_rate: f64,
    /// Writes issued.
    pub attempted: u64,
    /// Writes that the store confirmed.
    pub acknowledged: u64,
    /// Writes that failed, timed out or were still in flight when the
    /// writer stopped. Each may or may not have been stored.
    pub unacknowledged: u64,
    /// Unacknowledged writes by kind of failure, most frequent first.
    pub errors: Vec<WriteErrorCount>,
    /// Distinct ids of this run that the list returned.
    pub present: u64,
    /// Unacknowledged writes that the list returned all the same.
    pub unacknowledged_present: u64,
    /// Acknowledged writes that the list did not return.
    pub lost: u64,
    /// The first lost ids, in the order they were written.
    pub first_lost: Vec<String>,
    /// Ids that the list returned more than once.
    pub duplicates: u64,
    /// The first duplicated ids.
    pub first_duplicates: Vec<String>,
    /// Ids with this run's prefix that the writer never issued.
    pub unknown: u64,
    /// Acknowledged and lost writes between consecutive fault firings.
    pub intervals: Vec<WritesInterval>,
    /// Why the ids could not be listed, if they could not; the counts of
    /// present, lost and duplicated writes are then zero and mean nothing.
    pub list_error: Option<String>,
}

/// One kind of write failure and how often it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WriteErrorCount {
    /// A short kind, such as `connection refused` or `timed out`.
    pub kind: String,
    pub count: u64,
    /// The first message of this kind.
    pub example: String,
}

/// Writes acknowledged in one stretch of the experiment: before the first
/// fault, between two faults, or after the last one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WritesInterval {
    /// Such as `before kill-redis #1` or `after kill-redis #3`.
    pub label: String,
    pub acknowledged: u64,
    pub lost: u64,
}

impl WritesReport {
    /// Formats the headline counts in one line, such as `attempted 200,
    /// acknowledged 190, unacknowledged 10, present 192, lost 0,
    /// duplicates 0`.
    pub fn counts(&self) -> String {
        let mut text = format!(
            "attempted {}, acknowledged {}, unacknowledged {}",
            self.attempted, self.acknowledged, self.unacknowledged
        );
        if self.list_error.is_none() {
            text.push_str(&format!(
                ", present {} ({} of them unacknowledged), lost {}, duplicates {}",
                self.present, self.unacknowledged_present, self.lost, self.duplicates
            ));
        }
        text
    }

    /// Formats the rates, such as `20/s target, 19.6/s achieved`.
    pub fn rates(&self) -> String {
        format!(
            "{}/s target, {:.1}/s achieved",
            self.target_rate, self.achieved_rate
        )
    }

    /// Formats the failure kinds, such as `connection refused 12, timed out 1`.
    pub fn error_summary(&self) -> String {
        self.errors
            .iter()
            .map(|error| format!("{} {}", error.kind, error.count))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Formats the intervals, such as `before kill #1: 40 acknowledged, 40 lost`.
    pub fn interval_lines(&self) -> Vec<String> {
        self.intervals
            .iter()
            .map(|interval| {
                format!(
                    "{}: {} acknowledged, {} lost",
                    interval.label, interval.acknowledged, interval.lost
                )
            })
            .collect()
    }
}
