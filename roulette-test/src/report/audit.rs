//! The audit log: one JSON line per experiment that `roulette run` carried
//! out, chained by SHA-256 so that an edited, deleted or reordered entry
//! is found by [`verify`].
//!
//! Each entry's `prev` is the SHA-256 of the previous line's bytes, without
//! its line feed, in lowercase hex. The first entry's `prev` is 64 zeros.
//! Entries also carry `seq`, their 1-based position, so that [`verify`] can
//! distinguish a deleted entry from an edited one.
//!
//! NOTE: the chain cannot show an edit of the last entry, or the removal of
//! entries from the end, because no later entry records their hash. Keep
//! the `head` hash that [`verify`] returns somewhere else to catch those.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Outcome, Report, StopPath};

/// The audit log's file name inside the cargo target directory.
pub const DEFAULT_FILE_NAME: &str = "roulette-audit.jsonl";

/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One line of the audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// 1-based position in the log.
    pub seq: u64,
    /// The experiment name and the wall-clock start in nanoseconds since
    /// the Unix epoch, such as `quickstart-1717236000123456789`.
    pub id: String,
    pub experiment: String,
    /// The real user's name from the user database, or `uid N` when the
    /// uid has no entry.
    pub user: String,
    /// The host name as `uname -n` prints it.
    pub host: String,
    /// Wall-clock start, RFC 3339 in UTC.
    pub started_at: String,
    /// Wall-clock end, RFC 3339 in UTC.
    pub ended_at: String,
    /// The spec file as the command received it.
    pub spec: Option<String>,
    /// SHA-256 of the spec file's bytes when the run read it, in hex.
    pub spec_sha256: Option<String>,
    pub seed: Option<u64>,
    /// Firings that sent a signal, over all faults.
    pub faults_injected: usize,
    /// Each fault that sent a signal, with its number of firings that did.
    pub faults: Vec<FaultCount>,
    /// `passed`, `failed` or `error`, as in the JSON report.
    pub outcome: String,
    /// SHA-256 of the previous line, or [`GENESIS`].
    pub prev: String,
}

/// How many firings of one fault sent a signal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultCount {
    pub name: String,
    pub count: usize,
}

/// The spec file an experiment was read from.
#[derive(Clone, Debug)]
pub struct SpecFile {
    pub path: String,
    pub sha256: String,
}

impl SpecFile {
    /// Reads `path` and hashes its bytes. The path is kept absolute, so
    /// the entry names the file whatever directory the run started in.
    pub fn read(path: &Path) -> io::Result<Self> {
        let bytes = std::fs::read(path)?;
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        Ok(SpecFile {
            path: path.display().to_string(),
            sha256: sha256_hex(&bytes),
        })
    }
}

impl AuditEntry {
    /// Builds the entry of one run. `seq` and `prev` stay empty until
    /// [`append`] fills them in.
    pub fn new(
        report: &Report,
        spec: Option<&SpecFile>,
        started: SystemTime,
        ended: SystemTime,
    ) -> Self {
        let start_nanos = started
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        let mut faults: Vec<FaultCount> = Vec::new();
        for fault in report.faults.iter().filter(|fault| injected(&fault.stop)) {
            match faults.iter_mut().find(|count| count.name == fault.fault) {
                Some(count) => count.count += 1,
                None => faults.push(FaultCount {
                    name: fault.fault.clone(),
                    count: 1,
                }),
            }
        }
        AuditEntry {
            seq: 0,
            id: format!("{}-{start_nanos}", report.experiment),
            experiment: report.experiment.clone(),
            user: current_user(),
            host: host_name(),
            started_at: format_rfc3339(started),
            ended_at: format_rfc3339(ended),
            spec: spec.map(|spec| spec.path.clone()),
            spec_sha256: spec.map(|spec| spec.sha256.clone()),
            seed: report.seed,
            faults_injected: faults.iter().map(|count| count.count).sum(),
            faults,
            outcome: outcome_name(report.outcome).to_owned(),
            prev: String::new(),
        }
    }
}

fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Passed => "passed",
        Outcome::Failed => "failed",
        Outcome::Error => "error",
    }
}

/// Returns whether a firing with this stop path sent its signal.
fn injected(stop: &StopPath) -> bool {
    !matches!(stop, StopPath::NotRunning | StopPath::SignalFailed { .. })
}

/// Returns the default audit log path: `roulette-audit.jsonl` in
/// `$CARGO_TARGET_DIR` when it is set, else in `./target`.
pub fn default_path() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| PathBuf::from("target"), PathBuf::from);
    target.join(DEFAULT_FILE_NAME)
}

/// Errors of [`append`] and [`verify`].
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("failed to {action} the audit log {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(
        "the audit log {} ends in an incomplete or invalid line, so no entry can be chained to it; run `roulette audit verify {}`",
        path.display(),
        path.display()
    )]
    InvalidTail { path: PathBuf },
    #[error("audit log {}: {broken}", path.display())]
    Broken { path: PathBuf, broken: Broken },
}

/// The first place where the chain of a log does not hold.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {kind}: {detail}")]
pub struct Broken {
    /// 1-based line number of the entry that was edited, or of the first
    /// entry after a deletion or out of order.
    pub line: usize,
    pub kind: BreakKind,
    pub detail: String,
}

/// How a log was changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakKind {
    Edited,
    Deleted,
    Reordered,
}

impl std::fmt::Display for BreakKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BreakKind::Edited => "edited",
            BreakKind::Deleted => "entry deleted",
            BreakKind::Reordered => "entries reordered",
        })
    }
}

/// Checks, before any experiment runs, that `path` can name an audit log:
/// not a folder, and not inside something that is a file. Returns the
/// error message with the fix.
pub fn check_path(path: &Path) -> Result<(), String> {
    let names_folder = path.as_os_str().as_encoded_bytes().ends_with(b"/") || path.is_dir();
    if names_folder {
        return Err(format!(
            "the audit log {} is a folder; name a file, such as {}",
            path.display(),
            path.join(DEFAULT_FILE_NAME).display()
        ));
    }
    let blocked = path
        .ancestors()
        .skip(1)
        .find(|ancestor| !ancestor.as_os_str().is_empty() && ancestor.exists());
    match blocked {
        Some(ancestor) if !ancestor.is_dir() => Err(format!(
            "the audit log {} cannot be created: {} is not a folder",
            path.display(),
            ancestor.display()
        )),
        _ => Ok(()),
    }
}

/// Appends `entry` to the log at `path` and returns it with `seq` and
/// `prev` filled in. Creates the file and its parent directories when
/// missing.
///
/// Safe across processes: the file is opened with `O_APPEND` and held
/// under an exclusive `flock` while the last line is read and the new
/// line is written with a single `write_all`, so concurrent runs neither
/// interleave nor fork the chain. Every writer must take the lock, so an
/// editor that appends by hand can still break the chain.
pub fn append(path: &Path, mut entry: AuditEntry) -> Result<AuditEntry, AuditError> {
    let io_error = |action: &'static str| {
        move |source: io::Error| AuditError::Io {
            action,
            path: path.to_owned(),
            source,
        }
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io_error("create the directory of"))?;
    }
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)
        .map_err(io_error("open"))?;
    let mut file = lock_exclusive(file).map_err(io_error("lock"))?;

    match read_last_line(&file).map_err(io_error("read"))? {
        None => {
            entry.seq = 1;
            entry.prev = String::from(GENESIS);
        }
        Some(last) => {
            let previous: AuditEntry =
                parse_line(&last).ok_or_else(|| AuditError::InvalidTail {
                    path: path.to_owned(),
                })?;
            entry.seq = previous.seq + 1;
            entry.prev = sha256_hex(&last);
        }
    }

    let mut line = serde_json::to_vec(&entry).expect("an audit entry serializes");
    line.push(b'\n');
    file.write_all(&line).map_err(io_error("write"))?;
    file.sync_data().map_err(io_error("sync"))?;
    Ok(entry)
}

/// Takes an exclusive `flock` on `file`, waiting for other holders and
/// retrying when a signal interrupts the wait.
fn lock_exclusive(mut file: File) -> io::Result<Flock<File>> {
    const MAX_INTERRUPTIONS: u32 = 100;
    for _ in 0..MAX_INTERRUPTIONS {
        match Flock::lock(file, FlockArg::LockExclusive) {
            Ok(locked) => return Ok(locked),
            Err((returned, Errno::EINTR)) => file = returned,
            Err((_, errno)) => return Err(errno.into()),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::Interrupted,
        format!("flock was interrupted {MAX_INTERRUPTIONS} times in a row"),
    ))
}

/// Reads the last line of `file` without its line feed, reading backwards
/// from the end. Returns `None` for an empty file, and an empty line when
/// the file does not end in a line feed, which [`append`] rejects.
fn read_last_line(file: &File) -> io::Result<Option<Vec<u8>>> {
    const CHUNK: u64 = 4096;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, len - 1)?;
    if last[0] != b'\n' {
        return Ok(Some(Vec::new()));
    }
    // Bytes before the final line feed, gathered from the end.
    let end = len - 1;
    let mut start = end;
    let mut tail: Vec<u8> = Vec::new();
    while start > 0 {
        let size = CHUNK.min(start);
        let mut chunk = vec![0u8; size as usize];
        file.read_exact_at(&mut chunk, start - size)?;
        if let Some(newline) = chunk.iter().rposition(|&b| b == b'\n') {
            chunk.drain(..=newline);
            chunk.extend_from_slice(&tail);
            return Ok(Some(chunk));
        }
        chunk.extend_from_slice(&tail);
        tail = chunk;
        start -= size;
    }
    Ok(Some(tail))
}

fn parse_line(line: &[u8]) -> Option<AuditEntry> {
    serde_json::from_slice(line).ok()
}

/// The result of a successful [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub entries: usize,
    /// SHA-256 of the last line, or [`GENESIS`] for an empty log.
    pub head: String,
}

/// Checks the chain of the log at `path` and returns the number of entries
/// and the hash of the last one, or the first place where it breaks.
pub fn verify(path: &Path) -> Result<Verified, AuditError> {
    let bytes = std::fs::read(path).map_err(|source| AuditError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    verify_bytes(&bytes).map_err(|broken| AuditError::Broken {
        path: path.to_owned(),
        broken,
    })
}

/// Checks the chain of a whole log's bytes.
pub fn verify_bytes(bytes: &[u8]) -> Result<Verified, Broken> {
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    // A complete log ends in a line feed, which leaves one empty piece.
    let complete = lines.last().is_some_and(|last| last.is_empty());
    if complete {
        lines.pop();
    }
    if !complete {
        return Err(Broken {
            line: lines.len(),
            kind: BreakKind::Edited,
            detail: String::from(
                "the last line has no line feed: a write was cut short or the file was edited",
            ),
        });
    }

    let mut entries = Vec::with_capacity(lines.len());
    for (index, line) in lines.iter().enumerate() {
        let Some(entry) = parse_line(line) else {
            return Err(Broken {
                line: index + 1,
                kind: BreakKind::Edited,
                detail: String::from("not a valid audit entry"),
            });
        };
        entries.push(entry);
    }

    let mut previous_hash = String::from(GENESIS);
    for (index, entry) in entries.iter().enumerate() {
        let expected_seq = index as u64 + 1;
        if entry.seq == expected_seq && entry.prev == previous_hash {
            previous_hash = sha256_hex(lines[index]);
            continue;
        }
        return Err(classify(&entries, index, &previous_hash));
    }
    Ok(Verified {
        entries: entries.len(),
        head: previous_hash,
    })
}

/// Explains why the entry at `index` does not follow the one before it,
/// whose line hashes to `previous_hash`.
fn classify(entries: &[AuditEntry], index: usize, previous_hash: &str) -> Broken {
    let line = index + 1;
    let entry = &entries[index];
    let expected_seq = index as u64 + 1;

    if entry.seq > expected_seq {
        let later = entries[index + 1..]
            .iter()
            .position(|other| other.seq == expected_seq);
        return match later {
            Some(offset) => Broken {
                line,
                kind: BreakKind::Reordered,
                detail: format!(
                    "entry {} is here, but entry {expected_seq} comes later, on line {}",
                    entry.seq,
                    line + 1 + offset
                ),
            },
            None => {
                let missing = entry.seq - expected_seq;
                Broken {
                    line,
                    kind: BreakKind::Deleted,
                    detail: format!(
                        "{missing} entr{} missing before this line: expected entry {expected_seq}, found entry {}",
                        if missing == 1 { "y is" } else { "ies are" },
                        entry.seq
                    ),
                }
            }
        };
    }
    if entry.seq < expected_seq {
        return Broken {
            line,
            kind: BreakKind::Reordered,
            detail: format!(
                "entry {} comes after entry {}: moved or duplicated",
                entry.seq,
                expected_seq - 1
            ),
        };
    }
    // The position is right, so the bytes changed: this entry's `prev`, or
    // the line before it, whose hash `prev` records.
    if index == 0 {
        Broken {
            line,
            kind: BreakKind::Edited,
            detail: String::from("the first entry's prev is not 64 zeros"),
        }
    } else {
        Broken {
            line: line - 1,
            kind: BreakKind::Edited,
            detail: format!(
                "its SHA-256 {previous_hash} differs from the prev {} that line {line} recorded",
                entry.prev
            ),
        }
    }
}

/// Returns the SHA-256 of `bytes` in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

/// Formats `time` as RFC 3339 in UTC with millisecond precision, such as
/// `2024-06-01T09:30:00.123Z`. Times before 1970 print as the epoch.
pub fn format_rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = (secs / 86_400) as i64;
    let of_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        since.subsec_millis()
    )
}

/// Converts days since 1970-01-01 to a proleptic Gregorian date, after
/// Howard Hinnant's `civil_from_days` ("chrono-Compatible Low-Level Date
/// Algorithms").
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Returns `$USER`, or the numeric uid when it is unset or empty.
/// Returns the name of the process's real user from the user database,
/// or `uid N` when it has no entry. `$USER` is not read: any process can
/// set it.
fn current_user() -> String {
    let uid = nix::unistd::getuid();
    match nix::unistd::User::from_uid(uid) {
        Ok(Some(user)) => user.name,
        _ => format!("uid {uid}"),
    }
}

/// Returns the host name from `uname`, or `unknown` if the call fails.
fn host_name() -> String {
    nix::sys::utsname::uname().map_or_else(
        |_| String::from("unknown"),
        |name| name.nodename().to_string_lossy().into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::report::sample::failed_report;

    fn entry(name: &str) -> AuditEntry {
        let mut report = failed_report();
        report.experiment = String::from(name);
        let started = UNIX_EPOCH + Duration::from_secs(1_717_234_200);
        AuditEntry::new(&report, None, started, started + Duration::from_secs(9))
    }

    /// Writes a log of `count` entries and returns its lines.
    fn log_lines(dir: &Path, count: usize) -> (PathBuf, Vec<String>) {
        let path = dir.join("audit.jsonl");
        for index in 0..count {
            append(&path, entry(&format!("run-{index}"))).expect("append");
        }
        let text = std::fs::read_to_string(&path).unwrap();
        (path, text.lines().map(str::to_owned).collect())
    }

    fn join(lines: &[String]) -> Vec<u8> {
        let mut text = lines.join("\n");
        text.push('\n');
        text.into_bytes()
    }

    #[test]
    fn rfc3339_known_instants() {
        let cases = [
            (0, 0, "1970-01-01T00:00:00.000Z"),
            (951_782_400, 5, "2000-02-29T00:00:00.005Z"),
            (1_717_234_200, 123, "2024-06-01T09:30:00.123Z"),
            (4_102_444_799, 999, "2099-12-31T23:59:59.999Z"),
        ];
        for (secs, millis, expected) in cases {
            let time = UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis);
            assert_eq!(format_rfc3339(time), expected, "{secs} s");
        }
    }

    #[test]
    fn entry_fields_from_report() {
        let entry = entry("quickstart");

        assert_eq!(entry.id, "quickstart-1717234200000000000");
        assert_eq!(entry.started_at, "2024-06-01T09:30:00.000Z");
        assert_eq!(entry.ended_at, "2024-06-01T09:30:09.000Z");
        assert_eq!(entry.seed, Some(42));
        assert_eq!(entry.faults_injected, 2);
        assert_eq!(
            entry.faults,
            [FaultCount {
                name: String::from("kill-worker"),
                count: 2
            }]
        );
        assert_eq!(entry.outcome, "failed");
        assert!(!entry.user.is_empty());
        assert!(!entry.host.is_empty());
    }

    #[test]
    fn sha256_of_abc() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn chain_links_each_line() {
        let dir = tempfile::tempdir().unwrap();
        let (path, lines) = log_lines(dir.path(), 3);

        let entries: Vec<AuditEntry> = lines
            .iter()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(entries[0].prev, GENESIS);
        assert_eq!(entries[0].seq, 1);
        assert_eq!(entries[1].prev, sha256_hex(lines[0].as_bytes()));
        assert_eq!(entries[2].prev, sha256_hex(lines[1].as_bytes()));
        assert_eq!(entries[2].seq, 3);

        let verified = verify(&path).expect("an intact chain");
        assert_eq!(verified.entries, 3);
        assert_eq!(verified.head, sha256_hex(lines[2].as_bytes()));
    }

    #[test]
    fn verify_empty_log() {
        let verified = verify_bytes(b"").expect("an empty log is intact");
        assert_eq!(verified.entries, 0);
    }

    #[test]
    fn verify_finds_edited_middle_line() {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut lines) = log_lines(dir.path(), 5);
        lines[2] = lines[2].replace("\"outcome\":\"failed\"", "\"outcome\":\"passed\"");

        let broken = verify_bytes(&join(&lines)).unwrap_err();
        assert_eq!(broken.kind, BreakKind::Edited);
        assert_eq!(broken.line, 3, "{broken}");
    }

    #[test]
    fn verify_finds_edited_first_prev() {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut lines) = log_lines(dir.path(), 2);
        lines[0] = lines[0].replace(GENESIS, &"1".repeat(64));

        let broken = verify_bytes(&join(&lines)).unwrap_err();
        assert_eq!(broken.kind, BreakKind::Edited);
        assert_eq!(broken.line, 1, "{broken}");
    }

    #[test]
    fn verify_finds_invalid_line() {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut lines) = log_lines(dir.path(), 4);
        lines[1].truncate(10);

        let broken = verify_bytes(&join(&lines)).unwrap_err();
        assert_eq!(broken.kind, BreakKind::Edited);
        assert_eq!(broken.line, 2, "{broken}");
    }

    #[test]
    fn verify_finds_deleted_line() {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut lines) = log_lines(dir.path(), 5);
        lines.remove(3);

        let broken = verify_bytes(&join(&lines)).unwrap_err();
        assert_eq!(broken.kind, BreakKind::Deleted);
        assert_eq!(broken.line, 4, "{broken}");
    }

    #[test]
    fn verify_finds_deleted_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut lines) = log_lines(dir.path(), 3);
        lines.remove(0);

        let broken = verify_bytes(&join(&lines)).unwrap_err();
        assert_eq!(broken.kind, BreakKind::Deleted);
        assert_eq!(broken.line, 1, "{broken}");
    }

    #[test]
    fn verify_finds_swapped_lines() {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut lines) = log_lines(dir.path(), 5);
        lines.swap(1, 2);

        let broken = verify_bytes(&join(&lines)).unwrap_err();
        assert_eq!(broken.kind, BreakKind::Reordered);
        assert_eq!(broken.line, 2, "{broken}");
    }

    #[test]
    fn verify_finds_duplicated_line() {
        let dir = tempfile::tempdir().unwrap();
        let (_, mut lines) = log_lines(dir.path(), 3);
        let copy = lines[0].clone();
        lines.insert(1, copy);

        let broken = verify_bytes(&join(&lines)).unwrap_err();
        assert_eq!(broken.kind, BreakKind::Reordered);
        assert_eq!(broken.line, 2, "{broken}");
    }

    #[test]
    fn verify_finds_cut_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let (_, lines) = log_lines(dir.path(), 3);
        let mut bytes = join(&lines);
        bytes.truncate(bytes.len() - 5);

        let broken = verify_bytes(&bytes).unwrap_err();
        assert_eq!(broken.line, 3, "{broken}");
    }

    #[test]
    fn user_is_name_that_id_prints() {
        let output = std::process::Command::new("id")
            .arg("-un")
            .output()
            .expect("id runs");
        let name = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        assert!(!name.is_empty());
        assert_eq!(current_user(), name);
    }

    #[test]
    fn spec_file_path_is_absolute() {
        // cargo runs unit tests in the package's folder.
        let spec = SpecFile::read(Path::new("Cargo.toml")).unwrap();
        assert!(Path::new(&spec.path).is_absolute(), "{}", spec.path);
        assert!(
            spec.path.ends_with("/roulette-test/Cargo.toml"),
            "{}",
            spec.path
        );
    }

    #[test]
    fn check_path_rejects_folders_and_files_as_folders() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(check_path(&dir.path().join("new/audit.jsonl")), Ok(()));

        let err = check_path(dir.path()).unwrap_err();
        assert!(err.contains("is a folder; name a file"), "{err}");
        let err = check_path(Path::new("missing-dir/")).unwrap_err();
        assert!(err.contains("is a folder; name a file"), "{err}");

        let file = dir.path().join("plain");
        std::fs::write(&file, "x").unwrap();
        let err = check_path(&file.join("audit.jsonl")).unwrap_err();
        assert!(err.contains("is not a folder"), "{err}");
    }

    #[test]
    fn append_rejects_invalid_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = log_lines(dir.path(), 1);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"half\":")
            .unwrap();

        let err = append(&path, entry("late")).unwrap_err();
        assert!(matches!(err, AuditError::InvalidTail { .. }), "{err}");
    }

    #[test]
    fn last_line_spans_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.jsonl");
        let long = "x".repeat(10_000);
        std::fs::write(&path, format!("first\n{long}\n")).unwrap();

        let file = File::open(&path).unwrap();
        let last = read_last_line(&file).unwrap().unwrap();
        assert_eq!(last, long.as_bytes());
    }

    #[test]
    fn default_path_in_target() {
        // Only reads the variable, so the test does not depend on it.
        let expected = match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir).join(DEFAULT_FILE_NAME),
            None => PathBuf::from("target").join(DEFAULT_FILE_NAME),
        };
        assert_eq!(default_path(), expected);
    }
}
