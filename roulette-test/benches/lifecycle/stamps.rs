//! Reading the file that `fixture-worker --stamp-file PATH` appends to.
//!
//! Each line is `EVENT PID NANOS`, where EVENT is `start` (the first
//! instruction of `main`) or `ready` (`/healthz` turned to 200), and NANOS
//! is CLOCK_MONOTONIC in nanoseconds. `fixtures::stamp` writes the lines.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How often a wait rereads the file.
const POLL_INTERVAL: Duration = Duration::from_millis(1);

/// One line of the stamp file.
#[derive(Clone, Debug)]
pub struct Stamp {
    pub event: String,
    pub pid: u32,
    pub nanos: i128,
}

impl Stamp {
    fn parse(line: &str) -> Option<Stamp> {
        let mut fields = line.split_whitespace();
        let event = fields.next()?.to_owned();
        let pid = fields.next()?.parse().ok()?;
        let nanos = fields.next()?.parse().ok()?;
        Some(Stamp { event, pid, nanos })
    }
}

/// The stamps read so far from one file, which grows as processes start.
pub struct StampReader {
    path: PathBuf,
    offset: u64,
    partial: String,
    stamps: Vec<Stamp>,
}

impl StampReader {
    pub fn new(path: &Path) -> StampReader {
        StampReader {
            path: path.to_owned(),
            offset: 0,
            partial: String::new(),
            stamps: Vec::new(),
        }
    }

    /// Returns the number of stamps read so far, to pass as `since` to a
    /// later wait.
    pub fn len(&self) -> usize {
        self.stamps.len()
    }

    /// Reads the lines appended since the last call. A missing file counts
    /// as empty, because the first process may not have started yet.
    fn refresh(&mut self) -> Result<(), String> {
        let mut file = match File::open(&self.path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(format!("failed to open {}: {err}", self.path.display())),
        };
        let mut appended = String::new();
        file.seek(SeekFrom::Start(self.offset))
            .and_then(|_| file.read_to_string(&mut appended))
            .map_err(|err| format!("failed to read {}: {err}", self.path.display()))?;
        self.offset += appended.len() as u64;
        self.partial.push_str(&appended);
        // A line without its newline is still being written.
        while let Some(end) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=end).collect();
            if let Some(stamp) = Stamp::parse(&line) {
                self.stamps.push(stamp);
            }
        }
        Ok(())
    }

    /// Returns the first stamp from index `since` on for which `matches`
    /// returns true, reading the file as it grows, for at most `limit`.
    pub fn wait_blocking(
        &mut self,
        since: usize,
        limit: Duration,
        matches: impl Fn(&Stamp) -> bool,
    ) -> Result<Stamp, String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(stamp) = self.find(since, &matches)? {
                return Ok(stamp);
            }
            if Instant::now() >= deadline {
                return Err(self.timed_out(limit));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits like [`StampReader::wait_blocking`], but sleeps on the tokio
    /// timer so that the supervisor task keeps running meanwhile.
    pub async fn wait(
        &mut self,
        since: usize,
        limit: Duration,
        matches: impl Fn(&Stamp) -> bool,
    ) -> Result<Stamp, String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(stamp) = self.find(since, &matches)? {
                return Ok(stamp);
            }
            if Instant::now() >= deadline {
                return Err(self.timed_out(limit));
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    fn find(
        &mut self,
        since: usize,
        matches: &impl Fn(&Stamp) -> bool,
    ) -> Result<Option<Stamp>, String> {
        self.refresh()?;
        Ok(self.stamps.iter().skip(since).find(|s| matches(s)).cloned())
    }

    fn timed_out(&self, limit: Duration) -> String {
        let last = self
            .stamps
            .last()
            .map(|s| format!("{} {} {}", s.event, s.pid, s.nanos))
            .unwrap_or_else(|| String::from("none"));
        format!(
            "the expected stamp did not appear in {} within {limit:?}; last stamp: {last}",
            self.path.display()
        )
    }
}
