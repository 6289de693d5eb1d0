//! The audit log across processes, and the `roulette` command's report
//! files: the audit chain, JUnit XML and Markdown.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use roulette_test::report::audit::{self, AuditEntry};
use roulette_test::report::{Outcome, ProbeInfo, REPORT_VERSION, Report, TeardownReport};

/// Names the log a re-executed copy of this test binary appends to.
const WRITER_LOG_VAR: &str = "ROULETTE_AUDIT_WRITER_LOG";
const WRITERS: usize = 8;
const ENTRIES_PER_WRITER: usize = 50;

/// Time limit of one writer process or one `roulette` command.
const LIMIT: Duration = Duration::from_secs(60);

fn empty_report(name: &str) -> Report {
    Report {
        report_version: REPORT_VERSION,
        experiment: name.to_owned(),
        description: None,
        source: None,
        seed: Some(1),
        replay: None,
        provenance: Default::default(),
        outcome: Outcome::Passed,
        aborted: None,
        scrape_problems: Vec::new(),
        error: None,
        probe: ProbeInfo {
            description: String::from("none"),
            interval: Duration::from_millis(5),
            attempt_timeout: Duration::from_millis(500),
        },
        faults: Vec::new(),
        verdicts: Vec::new(),
        writes: None,
        restarts: 0,
        halted: None,
        load: None,
        teardown: TeardownReport::default(),
        timeline: Vec::new(),
        log_tail: Vec::new(),
        duration: Duration::ZERO,
    }
}

/// Waits for `child` up to [`LIMIT`]. Past it, kills that child and fails.
fn wait_bounded(mut child: Child, what: &str) -> Output {
    let deadline = Instant::now() + LIMIT;
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("collect output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} ran longer than {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The body of one writer process: appends its share of entries to the
/// log named by [`WRITER_LOG_VAR`]. Does nothing when the variable is
/// unset, which is how it runs as an ordinary test.
#[test]
fn audit_writer_child() {
    let Some(path) = std::env::var_os(WRITER_LOG_VAR) else {
        return;
    };
    let path = PathBuf::from(path);
    let report = empty_report(&format!("writer-{}", std::process::id()));
    for _ in 0..ENTRIES_PER_WRITER {
        let now = SystemTime::now();
        audit::append(&path, AuditEntry::new(&report, None, now, now)).expect("append");
    }
}

#[test]
fn parallel_writers_keep_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let exe = std::env::current_exe().unwrap();

    let children: Vec<Child> = (0..WRITERS)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "audit_writer_child", "--test-threads", "1"])
                .env(WRITER_LOG_VAR, &path)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn a writer")
        })
        .collect();
    for child in children {
        let output = wait_bounded(child, "a writer process");
        assert!(
            output.status.success(),
            "writer failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    let verified = audit::verify(&path).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(verified.entries, WRITERS * ENTRIES_PER_WRITER);

    let text = std::fs::read_to_string(&path).unwrap();
    let mut per_writer = std::collections::BTreeMap::new();
    for line in text.lines() {
        let entry: AuditEntry = serde_json::from_str(line).expect("a whole entry per line");
        *per_writer.entry(entry.experiment).or_insert(0usize) += 1;
    }
    assert_eq!(per_writer.len(), WRITERS, "one experiment name per writer");
    for (writer, count) in per_writer {
        assert_eq!(count, ENTRIES_PER_WRITER, "entries of {writer}");
    }
}

fn roulette(args: &[&str], dir: &Path, envs: &[(&str, &Path)]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_roulette"))
        .args(args)
        .current_dir(dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("GITHUB_STEP_SUMMARY")
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn roulette");
    wait_bounded(child, "roulette")
}

#[test]
fn audit_verify_command_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    for index in 0..4 {
        let report = empty_report(&format!("run-{index}"));
        let now = SystemTime::now();
        audit::append(&path, AuditEntry::new(&report, None, now, now)).unwrap();
    }

    let intact = roulette(&["audit", "verify", "audit.jsonl"], dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&intact.stdout);
    assert_eq!(intact.status.code(), Some(0), "{stdout}");
    assert!(stdout.starts_with("4 entries, chain intact\n"), "{stdout}");

    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(1);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let broken = roulette(&["audit", "verify", "audit.jsonl"], dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("line 2: entry deleted"), "{stdout}");

    let missing = roulette(&["audit", "verify", "missing.jsonl"], dir.path(), &[]);
    assert_eq!(missing.status.code(), Some(2));
}

/// A target that prints `ready` and sleeps; every kill restarts it.
const SPEC: &str = r#"apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata:
  name: sh-sleep
spec:
  target:
    command: sh
    args: ["-c", "echo ready; exec sleep 30"]
    ready:
      log: "ready"
      interval: 5ms
      timeout: 3s
  faults:
    - name: kill-sh
      signal: SIGKILL
      schedule: {every: 200ms, count: 2}
  settle: 100ms
  hypothesis:
    - name: recovers-fast
      ttr: "< 2s"
    - name: restarts-seven-times
      restarts: "== 7"
"#;

#[test]
fn run_writes_report_files_and_audit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("sh.yaml"), SPEC).unwrap();
    let summary = dir.path().join("summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();

    let run = roulette(
        &["run", "sh.yaml", "--junit", "j.xml", "--markdown", "m.md"],
        dir.path(),
        &[("GITHUB_STEP_SUMMARY", &summary)],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "one hypothesis fails: {stderr}");

    let junit = std::fs::read_to_string(dir.path().join("j.xml")).expect("JUnit file");
    assert!(junit.contains("<testsuite name=\"sh-sleep\" tests=\"2\" failures=\"1\" errors=\"0\""));
    assert!(junit.contains("<testcase classname=\"sh-sleep\" name=\"restarts-seven-times\""));

    let markdown = std::fs::read_to_string(dir.path().join("m.md")).expect("Markdown file");
    assert!(
        markdown.starts_with("### ❌ FAILED: experiment sh-sleep\n"),
        "{markdown}"
    );
    let picture_link = "![Timeline of experiment sh-sleep](m.timeline.svg)\n\n";
    assert!(markdown.contains(picture_link), "{markdown}");
    let svg = std::fs::read_to_string(dir.path().join("m.timeline.svg")).expect("SVG file");
    assert!(svg.starts_with("<svg "), "{svg}");
    // The step summary is the same Markdown without the picture, which it
    // cannot reach.
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert_eq!(
        summary,
        format!("earlier step\n{}\n", markdown.replace(picture_link, ""))
    );

    let log = dir.path().join("target").join(audit::DEFAULT_FILE_NAME);
    let verified = audit::verify(&log).unwrap_or_else(|err| panic!("{err}"));
    assert_eq!(verified.entries, 1);
    let text = std::fs::read_to_string(&log).unwrap();
    let entry: AuditEntry = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(entry.experiment, "sh-sleep");
    assert_eq!(entry.outcome, "failed");
    assert_eq!(entry.faults_injected, 2);
    // Given as `sh.yaml` in the run's folder, kept absolute.
    let spec_path = std::fs::canonicalize(dir.path().join("sh.yaml")).unwrap();
    assert_eq!(entry.spec, Some(spec_path.display().to_string()));
    assert_eq!(
        entry.spec_sha256.as_deref(),
        Some(audit::sha256_hex(SPEC.as_bytes()).as_str())
    );

    let other = dir.path().join("other.jsonl");
    let again = roulette(
        &["run", "sh.yaml", "--audit", "other.jsonl"],
        dir.path(),
        &[],
    );
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(audit::verify(&other).unwrap().entries, 1);
    assert_eq!(
        audit::verify(&log).unwrap().entries,
        1,
        "default log untouched"
    );

    let skipped = roulette(&["run", "sh.yaml", "--no-audit"], dir.path(), &[]);
    assert_eq!(skipped.status.code(), Some(1));
    assert_eq!(
        audit::verify(&log).unwrap().entries,
        1,
        "--no-audit writes nothing"
    );
    assert_eq!(audit::verify(&other).unwrap().entries, 1);
}
