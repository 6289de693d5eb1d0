//! Runs the real `roulette` command: its exit codes, its spec errors and
//! its reports, as a user or a CI job gets them.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use roulette_test::runner::resolve_cargo_bin;

/// The workspace root: the directory the command runs in, so that paths
/// such as `examples/quickstart.yaml` resolve.
const WORKSPACE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Time limit of a command that only reads files.
const SHORT_LIMIT: Duration = Duration::from_secs(30);

/// Time limit of a command that runs experiments, cargo builds included.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// Returns the path of the `roulette` binary, built once per test process.
fn roulette() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        resolve_cargo_bin("roulette", Path::new(WORKSPACE_DIR))
            .unwrap_or_else(|err| panic!("failed to build roulette: {}", err.message))
    })
}

/// The exit status and the output of one command.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Both streams, for failure messages.
    fn output(&self) -> String {
        format!("stdout:\n{}\nstderr:\n{}", self.stdout, self.stderr)
    }
}

/// Runs `roulette ARGS` in the workspace root with `envs` added to its
/// environment. A command still running after `limit` gets SIGTERM, which
/// makes it kill the processes of its experiment, and the test fails.
fn roulette_with_env(args: &[&str], envs: &[(&str, &Path)], limit: Duration) -> Run {
    let mut child = Command::new(roulette())
        .args(args)
        .envs(envs.iter().copied())
        .current_dir(WORKSPACE_DIR)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("roulette starts");
    let stdout = read_in_thread(child.stdout.take());
    let stderr = read_in_thread(child.stderr.take());

    let status = match wait_with_limit(&mut child, limit) {
        Some(status) => status,
        None => {
            let pid = Pid::from_raw(child.id() as i32);
            let _ = kill(pid, Signal::SIGTERM);
            if wait_with_limit(&mut child, Duration::from_secs(10)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
            panic!(
                "`roulette {}` timed out after {limit:?}, and its stderr was:\n{}",
                args.join(" "),
                stderr.join().unwrap_or_default()
            );
        }
    };
    Run {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

fn roulette_run(args: &[&str], limit: Duration) -> Run {
    roulette_with_env(args, &[], limit)
}

fn read_in_thread<R: Read + Send + 'static>(stream: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stream) = stream {
            let _ = stream.read_to_string(&mut text);
        }
        text
    })
}

/// Waits for `child` to exit, for at most `limit`, polling every 20ms.
fn wait_with_limit(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let step = Duration::from_millis(20);
    let polls = limit.as_millis() / step.as_millis() + 1;
    for _ in 0..polls {
        if let Some(status) = child.try_wait().expect("waitpid on our own child") {
            return Some(status);
        }
        std::thread::sleep(step);
    }
    None
}

/// Writes `text` as `spec.yaml` into a new temp dir, which the caller
/// keeps alive.
fn write_spec(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("spec.yaml");
    std::fs::write(&path, text).expect("the spec is written");
    (dir, path)
}

/// The first lines of a valid spec: `spec.target` at line 6, ready for
/// more fields at the indentation of `command`.
const HEAD: &str = "\
apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata:
  name: cli-test
spec:
  target:
    command: sh
    ready:
      exec: [\"true\"]
";

#[test]
fn validate_names_misspelt_field() {
    // Line 10, column 7: the misspelt key under `ready`.
    let (_dir, path) = write_spec(&format!("{HEAD}      intervl: 5ms\n"));
    let run = roulette_run(&["validate", path.to_str().unwrap()], SHORT_LIMIT);

    assert_eq!(run.code(), Some(2), "{}", run.output());
    let location = format!("{}:10:7:", path.display());
    assert!(run.stderr.contains(&location), "{}", run.output());
    assert!(
        run.stderr.contains("field `spec.target.ready.intervl`"),
        "{}",
        run.output()
    );
    assert!(
        run.stderr.contains("unknown field `intervl`"),
        "{}",
        run.output()
    );
}

#[test]
fn validate_rejects_bare_duration() {
    // Line 13, column 14: the value of `grace`.
    let spec = format!(
        "{HEAD}  faults:\n    - name: stop\n      signal: SIGTERM\n      grace: 5\n      schedule: {{at: [1s]}}\n"
    );
    let (_dir, path) = write_spec(&spec);
    let run = roulette_run(&["validate", path.to_str().unwrap()], SHORT_LIMIT);

    assert_eq!(run.code(), Some(2), "{}", run.output());
    let location = format!("{}:13:14:", path.display());
    assert!(run.stderr.contains(&location), "{}", run.output());
    assert!(
        run.stderr.contains("field `spec.faults[0].grace`"),
        "{}",
        run.output()
    );
    assert!(run.stderr.contains("bare number"), "{}", run.output());
    assert!(run.stderr.contains("`5s`"), "{}", run.output());
}

#[test]
fn validate_rejects_load_rate_over_limit() {
    // Line 12, column 13: the value of `rate`.
    let spec = format!(
        "{HEAD}  load:\n    http:\n      rate: 50000/s\n      url: \"http://127.0.0.1:1/work\"\n"
    );
    let (_dir, path) = write_spec(&spec);
    let run = roulette_run(&["validate", path.to_str().unwrap()], SHORT_LIMIT);

    assert_eq!(run.code(), Some(2), "{}", run.output());
    let location = format!("{}:12:13:", path.display());
    assert!(run.stderr.contains(&location), "{}", run.output());
    assert!(
        run.stderr.contains("field `spec.load.http.rate`"),
        "{}",
        run.output()
    );
    assert!(
        run.stderr.contains("above the limit of 10000/s"),
        "{}",
        run.output()
    );
}

#[test]
fn validate_accepts_examples() {
    let examples = [
        "examples/quickstart.yaml",
        "examples/stale-lock.yaml",
        "examples/redis-aof.yaml",
        "examples/redis-no-persistence.yaml",
        "examples/load-recovery.yaml",
    ];
    let mut args = vec!["validate"];
    args.extend(examples);
    let run = roulette_run(&args, SHORT_LIMIT);

    assert_eq!(run.code(), Some(0), "{}", run.output());
    for example in examples {
        assert!(
            run.stdout.contains(&format!("{example}: valid")),
            "{}",
            run.output()
        );
    }
}

#[test]
fn run_names_missing_binary() {
    let spec = HEAD.replace("command: sh", "command: no-such-binary-xyz");
    let (_dir, path) = write_spec(&spec);
    let run = roulette_run(&["run", path.to_str().unwrap()], RUN_LIMIT);

    assert_eq!(run.code(), Some(2), "{}", run.output());
    assert!(
        run.stdout
            .contains("binary `no-such-binary-xyz` used by `spec.target.command` was not found"),
        "{}",
        run.output()
    );
    assert!(run.stdout.contains("ERROR"), "{}", run.output());
}

#[test]
fn run_reports_stale_lock() {
    let run = roulette_run(&["run", "examples/stale-lock.yaml"], RUN_LIMIT);

    assert_eq!(run.code(), Some(1), "{}", run.output());
    assert!(
        run.stdout.contains("recovers-fast failed:"),
        "{}",
        run.output()
    );
    assert!(run.stdout.contains("found stale lock"), "{}", run.output());
    assert!(run.stdout.contains("FAILED"), "{}", run.output());
}

#[test]
fn run_writes_json_report() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let json_path = dir.path().join("report.json");
    let run = roulette_run(
        &[
            "run",
            "examples/quickstart.yaml",
            "--json",
            json_path.to_str().unwrap(),
        ],
        RUN_LIMIT,
    );
    assert_eq!(run.code(), Some(0), "{}", run.output());

    let text = std::fs::read_to_string(&json_path).expect("the JSON report is written");
    let report: serde_json::Value = serde_json::from_str(&text).expect("the report is JSON");
    assert_eq!(report["outcome"], "passed", "{text}");
    assert_eq!(report["restarts"], 5, "{text}");

    let faults = report["faults"].as_array().expect("`faults` is an array");
    assert_eq!(faults.len(), 5, "{text}");
    for fault in faults {
        let recovery = &fault["recovery"];
        assert_eq!(recovery["result"], "recovered", "{fault}");
        for field in ["ttr_ms", "to_exit_ms", "to_restart_ms", "to_ready_ms"] {
            assert!(
                recovery[field].as_f64().is_some_and(|ms| ms >= 0.0),
                "`{field}` must be a number of milliseconds: {fault}"
            );
        }
    }
}

#[test]
fn no_arguments_is_usage_error() {
    let run = roulette_run(&[], SHORT_LIMIT);

    assert_eq!(run.code(), Some(2), "{}", run.output());
    assert!(run.stderr.contains("Usage: roulette"), "{}", run.output());
}

#[test]
fn timeout_excludes_cargo_build() {
    // A `cargo` that takes 3s before it builds, as a cold build would. The
    // spec lies in a temp dir, so the wrapper builds in the workspace.
    let dir = tempfile::tempdir().expect("a temp dir");
    let slow_cargo = dir.path().join("slow-cargo");
    std::fs::write(
        &slow_cargo,
        "#!/bin/sh\nsleep 3\ncd \"$ROULETTE_WORKSPACE\" && exec \"$ROULETTE_CARGO\" \"$@\"\n",
    )
    .expect("the wrapper is written");
    std::fs::set_permissions(&slow_cargo, std::fs::Permissions::from_mode(0o755))
        .expect("the wrapper is executable");
    let real_cargo = PathBuf::from(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));

    // Without the wrapper this experiment takes about 0.5s.
    let spec = "\
apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata:
  name: slow-prepare
spec:
  target:
    cargo_bin: fixture-worker
    args: [\"--port\", \"${port.http}\", \"--state\", \"${tmp}/jobs.log\"]
    ports: [http]
    ready:
      http: {url: \"http://127.0.0.1:${port.http}/healthz\"}
      interval: 10ms
      timeout: 2s
  faults:
    - {name: kill-worker, signal: SIGKILL, schedule: {at: [200ms]}}
  settle: 0s
  policy:
    timeout: 2s
  hypothesis:
    - {name: recovers-fast, ttr: \"< 1s\"}
";
    let spec_path = dir.path().join("spec.yaml");
    std::fs::write(&spec_path, spec).expect("the spec is written");

    let run = roulette_with_env(
        &["run", spec_path.to_str().unwrap()],
        &[
            ("CARGO", &slow_cargo),
            ("ROULETTE_CARGO", &real_cargo),
            ("ROULETTE_WORKSPACE", Path::new(WORKSPACE_DIR)),
        ],
        RUN_LIMIT,
    );
    assert_eq!(run.code(), Some(0), "{}", run.output());
}

/// Starts `roulette run` on a target that records its pids in a temp
/// dir, given `copies` times, sends `signal` to the command once all four
/// processes of the first run, and returns the command's result and those
/// pids.
fn interrupt_run(signal: Signal, copies: usize) -> (Run, Vec<u32>) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let spec = format!(
        r#"
apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata: {{name: interrupted}}
spec:
  target:
    command: sh
    args: ["{}/tests/services/recorder.sh", "{}"]
    ready:
      log: "^ready$"
      interval: 10ms
  settle: 60s
"#,
        WORKSPACE_DIR,
        dir.path().display()
    );
    let spec_path = dir.path().join("spec.yaml");
    std::fs::write(&spec_path, spec).expect("the spec is written");
    let json_path = dir.path().join("report.json");

    let spec_arg = spec_path.to_str().expect("a UTF-8 temp path");
    let mut child = Command::new(roulette())
        .arg("run")
        .args(std::iter::repeat_n(spec_arg, copies))
        .args(["--json", json_path.to_str().expect("a UTF-8 temp path")])
        .current_dir(WORKSPACE_DIR)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("roulette starts");
    let stdout = read_in_thread(child.stdout.take());
    let stderr = read_in_thread(child.stderr.take());

    let pids_file = dir.path().join("pids");
    let mut pids = Vec::new();
    for _ in 0..3000 {
        pids = std::fs::read_to_string(&pids_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect();
        if pids.len() == 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(Pid::from_raw(child.id() as i32), signal).expect("the signal is sent to roulette");
    let Some(status) = wait_with_limit(&mut child, Duration::from_secs(30)) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("roulette did not exit within 30s after {signal}");
    };
    let run = Run {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    };
    assert_eq!(
        pids.len(),
        4,
        "the target recorded {pids:?}\n{}",
        run.output()
    );
    let json = std::fs::read_to_string(&json_path).unwrap_or_default();
    let written: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    // Several files give an array, even when only the first one ran.
    let report = if copies == 1 {
        written
    } else {
        assert_eq!(
            written.as_array().map(Vec::len),
            Some(1),
            "JSON report: {json}\n{}",
            run.output()
        );
        written[0].clone()
    };
    assert_eq!(
        report["error"]["kind"],
        "interrupted",
        "JSON report: {json}\n{}",
        run.output()
    );
    (run, pids)
}

fn is_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rfind(')')
        .and_then(|end| stat[end + 1..].split_whitespace().next());
    !matches!(state, Some("Z" | "X"))
}

#[test]
fn sigterm_stops_run_with_143() {
    let (run, pids) = interrupt_run(Signal::SIGTERM, 1);
    assert_eq!(run.code(), Some(143), "{}", run.output());
    assert!(
        run.stdout.contains("interrupted by SIGTERM"),
        "{}",
        run.output()
    );
    let alive: Vec<&u32> = pids.iter().filter(|pid| is_alive(**pid)).collect();
    assert!(
        alive.is_empty(),
        "processes outlived the interrupted run: {alive:?}\n{}",
        run.output()
    );
}

#[test]
fn sigint_stops_run_with_130() {
    let (run, pids) = interrupt_run(Signal::SIGINT, 2);
    assert_eq!(run.code(), Some(130), "{}", run.output());
    assert!(
        run.stdout.contains("interrupted by SIGINT"),
        "{}",
        run.output()
    );
    let alive: Vec<&u32> = pids.iter().filter(|pid| is_alive(**pid)).collect();
    assert!(
        alive.is_empty(),
        "processes outlived the interrupted run: {alive:?}\n{}",
        run.output()
    );
}

#[test]
fn dry_run_starts_nothing() {
    let marker_dir = tempfile::tempdir().expect("a temp dir");
    let marker = marker_dir.path().join("started");
    let (_dir, path) = write_spec(&format!(
        r#"apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata: {{name: dry}}
spec:
  target:
    command: sh
    args: ["-c", "touch {}; exec sleep 60"]
    ready:
      log: "never"
  faults:
    - {{name: kill, signal: SIGKILL, schedule: {{every: 2s, count: 2}}}}
  seed: 11
"#,
        marker.display()
    ));
    let run = roulette_run(
        &["run", "--dry-run", path.to_str().expect("a UTF-8 path")],
        SHORT_LIMIT,
    );
    assert_eq!(run.code(), Some(0), "{}", run.output());
    assert!(
        run.stdout.contains("plan of experiment dry"),
        "{}",
        run.output()
    );
    assert!(
        run.stdout
            .contains("+      4s  kill #2: SIGKILL to main process"),
        "{}",
        run.output()
    );
    assert!(run.stdout.contains("seed: 11"), "{}", run.output());
    assert!(!marker.exists(), "--dry-run started the target");
}

/// Returns the JUnit XML schema that `.ci/junit-xsd` downloads: the one of
/// Jenkins's xUnit plugin, which GitLab, GitHub test reporters and pytest
/// also accept.
fn junit_schema() -> PathBuf {
    let path = std::env::var_os("JUNIT_XSD").unwrap_or_else(|| {
        panic!("JUNIT_XSD is not set; run `export JUNIT_XSD=$(.ci/junit-xsd)`, which downloads the JUnit schema, and install xmllint (`apt-get install libxml2-utils`)")
    });
    PathBuf::from(path)
}

#[test]
fn run_writes_reports_for_review() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = |name: &str| dir.path().join(name);
    let run = roulette_run(
        &[
            "run",
            "examples/quickstart.yaml",
            "examples/stale-lock.yaml",
            "--no-audit",
            "--junit",
            path("junit.xml").to_str().unwrap(),
            "--markdown",
            path("summary.md").to_str().unwrap(),
            "--html",
            path("report.html").to_str().unwrap(),
        ],
        RUN_LIMIT,
    );
    assert_eq!(run.code(), Some(1), "{}", run.output());

    let schema = junit_schema();
    let xmllint = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(path("junit.xml"))
        .output()
        .expect("xmllint runs; install it with `apt-get install libxml2-utils`");
    assert!(
        xmllint.status.success(),
        "the JUnit file does not validate against {}:\n{}",
        schema.display(),
        String::from_utf8_lossy(&xmllint.stderr)
    );

    let markdown = std::fs::read_to_string(path("summary.md")).expect("the Markdown is written");
    for (index, experiment) in [(1, "quickstart"), (2, "stale-lock")] {
        let picture = format!("summary.timeline-{index}.svg");
        assert!(
            markdown.contains(&format!(
                "![Timeline of experiment {experiment}]({picture})"
            )),
            "no link to {picture} in\n{markdown}"
        );
        let svg = std::fs::read_to_string(path(&picture)).expect("the picture is written");
        assert!(svg.starts_with("<svg "), "{picture}: {svg}");
        assert!(
            svg.contains("incarnation #2"),
            "{picture} has no second incarnation"
        );
    }

    let html = std::fs::read_to_string(path("report.html")).expect("the HTML is written");
    assert_eq!(html.matches("<svg ").count(), 2);
    assert!(html.contains("1 of 2 experiment(s) passed"));
    assert!(html.contains("roulette run --seed "));
}

#[test]
fn replay_command_repeats_seed() {
    let run = roulette_run(
        &["run", "examples/stale-lock.yaml", "--no-audit"],
        RUN_LIMIT,
    );
    assert_eq!(run.code(), Some(1), "{}", run.output());

    let replay = run
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix("replay with the same seed: "))
        .unwrap_or_else(|| panic!("no replay command in\n{}", run.output()));
    let seed = replay
        .strip_prefix("roulette run --seed ")
        .and_then(|rest| rest.strip_suffix(" examples/stale-lock.yaml"))
        .unwrap_or_else(|| panic!("unexpected replay command `{replay}`"));
    assert!(
        run.stdout.contains(&format!("seed: {seed}\n")),
        "the report's seed differs from the replay's {seed}:\n{}",
        run.output()
    );

    // The printed command, as a dry run, plans with that seed.
    let mut words: Vec<&str> = replay.split(' ').skip(1).collect();
    words.insert(1, "--dry-run");
    let dry = roulette_run(&words, SHORT_LIMIT);
    assert_eq!(dry.code(), Some(0), "{}", dry.output());
    assert!(
        dry.stdout.contains(&format!("seed: {seed}")),
        "{}",
        dry.output()
    );
}

#[test]
fn dry_run_describes_hypotheses() {
    let run = roulette_run(
        &["run", "--dry-run", "examples/quickstart.yaml"],
        SHORT_LIMIT,
    );
    assert_eq!(run.code(), Some(0), "{}", run.output());
    for line in [
        "  hypothesis recovers-fast: ttr < 2s on every recovery\n",
        "  hypothesis recovery-distribution: ttr p50 < 1s, max < 2s\n",
        "  hypothesis restarted-once-per-kill: restarts == 5\n",
    ] {
        assert!(
            run.stdout.contains(line),
            "no {line:?} in\n{}",
            run.output()
        );
    }
    assert!(
        run.stdout
            .contains("  hypothesis acknowledged-jobs-kept: exec "),
        "{}",
        run.output()
    );
}

#[test]
fn dry_run_shows_error_rate_as_percent() {
    let run = roulette_run(
        &["run", "--dry-run", "examples/load-recovery.yaml"],
        SHORT_LIMIT,
    );
    assert_eq!(run.code(), Some(0), "{}", run.output());
    assert!(
        run.stdout
            .contains("load error rate < 1.00% in phase before\n"),
        "{}",
        run.output()
    );
}

#[test]
fn dry_run_draws_random_offsets() {
    let file = "tests/cases/random-schedule.yaml";
    let with_seed = roulette_run(&["run", "--dry-run", file], SHORT_LIMIT);
    assert_eq!(with_seed.code(), Some(0), "{}", with_seed.output());
    assert!(
        with_seed.stdout.contains("faults (3 firings"),
        "{}",
        with_seed.output()
    );
    let again = roulette_run(&["run", "--dry-run", file], SHORT_LIMIT);
    assert_eq!(
        again.stdout, with_seed.stdout,
        "the seed draws the same offsets"
    );

    let other = roulette_run(&["run", "--dry-run", "--seed", "12", file], SHORT_LIMIT);
    assert!(
        other.stdout.contains("faults (3 firings"),
        "{}",
        other.output()
    );
    assert_ne!(
        other.stdout, with_seed.stdout,
        "another seed draws other offsets"
    );
}
