//! Output of the target, captured line by line into a bounded buffer and
//! tagged with the incarnation that printed it.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use regex::Regex;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::timeline::Timeline;

/// Lines kept per experiment; older lines are dropped and counted.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Bytes kept of one line; the rest is cut off.
const MAX_LINE_BYTES: usize = 4096;

/// The stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One line printed by the target.
#[derive(Clone, Debug, Serialize)]
pub struct LogLine {
    #[serde(serialize_with = "serialize_millis", rename = "at_ms")]
    pub at: Duration,
    pub incarnation: u32,
    pub stream: Stream,
    pub text: String,
}

fn serialize_millis<S: serde::Serializer>(
    duration: &Duration,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64() * 1000.0)
}

/// The captured lines of every incarnation.
#[derive(Debug)]
pub struct LogBuffer {
    capacity: usize,
    inner: Mutex<Inner>,
    /// Woken on every new line, so a log probe need not poll.
    appended: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Inner {
    lines: VecDeque<LogLine>,
    dropped: u64,
}

impl LogBuffer {
    pub fn new(capacity: usize) -> Self {
        LogBuffer {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
            appended: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn push(&self, line: LogLine) {
        let mut inner = self.lock();
        if inner.lines.len() == self.capacity {
            inner.lines.pop_front();
            inner.dropped += 1;
        }
        inner.lines.push_back(line);
        drop(inner);
        self.appended.notify_waiters();
    }

    /// Completes when a line is appended after this call. Create the
    /// future before checking the buffer, so a line in between is not
    /// missed.
    pub fn appended(&self) -> tokio::sync::futures::Notified<'_> {
        self.appended.notified()
    }

    /// Returns whether a line printed by `incarnation` matches `regex`.
    pub fn contains_match(&self, incarnation: u32, regex: &Regex) -> bool {
        self.lock()
            .lines
            .iter()
            .any(|line| line.incarnation == incarnation && regex.is_match(&line.text))
    }

    /// The last `count` lines, oldest first.
    pub fn tail(&self, count: usize) -> Vec<LogLine> {
        let inner = self.lock();
        let skip = inner.lines.len().saturating_sub(count);
        inner.lines.iter().skip(skip).cloned().collect()
    }

    /// The number of lines dropped because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.lock().dropped
    }
}

/// Reads `reader` line by line into `buffer` until end of file.
pub(crate) async fn capture<R: AsyncRead + Unpin>(
    reader: R,
    stream: Stream,
    incarnation: u32,
    buffer: std::sync::Arc<LogBuffer>,
    timeline: std::sync::Arc<Timeline>,
) {
    let mut reader = BufReader::new(reader);
    let mut bytes = Vec::new();
    loop {
        bytes.clear();
        match reader.read_until(b'\n', &mut bytes).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let at = timeline.offset(std::time::Instant::now());
        while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            bytes.pop();
        }
        bytes.truncate(MAX_LINE_BYTES);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        buffer.push(LogLine {
            at,
            incarnation,
            stream,
            text,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(incarnation: u32, text: &str) -> LogLine {
        LogLine {
            at: Duration::ZERO,
            incarnation,
            stream: Stream::Stdout,
            text: text.to_owned(),
        }
    }

    #[test]
    fn buffer_drops_oldest_when_full() {
        let buffer = LogBuffer::new(2);
        buffer.push(line(1, "a"));
        buffer.push(line(1, "b"));
        buffer.push(line(1, "c"));
        let texts: Vec<String> = buffer.tail(10).into_iter().map(|l| l.text).collect();
        assert_eq!(texts, ["b", "c"]);
        assert_eq!(buffer.dropped(), 1);
    }

    #[test]
    fn match_only_in_given_incarnation() {
        let buffer = LogBuffer::new(10);
        buffer.push(line(1, "listening on 127.0.0.1:80"));
        let regex = Regex::new("listening on").unwrap();
        assert!(buffer.contains_match(1, &regex));
        assert!(!buffer.contains_match(2, &regex));
    }
}
