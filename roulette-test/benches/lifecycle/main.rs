//! Lifecycle benchmark: how fast and how precisely roulette-test detects an
//! exit, restarts the target and times its recovery, and what it costs
//! while the target idles. Each measurement is compared with a baseline
//! measured in the same run.
//!
//! `cargo bench -p roulette-test --bench lifecycle` runs the full set,
//! about a minute on 2 cores. Without `--bench`, as under
//! `cargo test --benches`, it runs a few samples of each to check that the
//! code works. Any other argument that does not start with `-` selects
//! the measurements whose names contain it: `exit`, `respawn`, `ttr`,
//! `idle` and `supervisord`.
//!
//! Times of the fixture's own events come from `fixture-worker
//! --stamp-file`, which writes CLOCK_MONOTONIC nanoseconds, and are
//! compared with the harness's `Instant`s through [`clock`].
//!
//! The process exits with 1 when a measurement failed to run. A missed
//! target is printed but does not change the exit code, because the
//! numbers depend on the machine.

mod clock;
mod direct;
mod polling;
mod stamps;
mod stats;
mod supervised;
mod supervisord;
mod usage;

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use roulette_test::runner::resolve_cargo_bin;

use clock::MonotonicClock;
use stats::{millis, print_ratio, print_row, print_section};

/// Sample counts and durations of one run.
struct Plan {
    exit_kills: u32,
    respawn_kills: u32,
    /// Kills per probe kind.
    ttr_kills: u32,
    idle: Duration,
    supervisord_kills: u32,
}

const FULL: Plan = Plan {
    exit_kills: 200,
    respawn_kills: 200,
    ttr_kills: 40,
    idle: Duration::from_secs(10),
    // Each sample takes one or two seconds, because supervisord restarts
    // a program only after its poll of up to 1 s.
    supervisord_kills: 10,
};

const QUICK: Plan = Plan {
    exit_kills: 10,
    respawn_kills: 10,
    ttr_kills: 3,
    idle: Duration::from_secs(1),
    supervisord_kills: 2,
};

/// The targets, in ms or percent of one core.
const EXIT_P99_TARGET_MS: f64 = 1.0;
const RESPAWN_MEDIAN_TARGET_MS: f64 = 2.0;
const IDLE_CPU_TARGET_PERCENT: f64 = 1.0;

/// The command line: `--bench` for the full run and optional names of
/// measurements to run.
struct Options {
    full: bool,
    filters: Vec<String>,
}

impl Options {
    fn parse() -> Options {
        let mut options = Options {
            full: false,
            filters: Vec::new(),
        };
        for arg in std::env::args().skip(1) {
            if arg == "--bench" {
                options.full = true;
            } else if !arg.starts_with('-') {
                options.filters.push(arg);
            }
        }
        options
    }

    fn selects(&self, name: &str) -> bool {
        self.filters.is_empty()
            || self
                .filters
                .iter()
                .any(|filter| name.contains(filter.as_str()))
    }
}

/// Targets met and missed, and measurements that failed, for the closing
/// summary.
#[derive(Default)]
struct Outcome {
    targets: Vec<(String, bool)>,
    errors: Vec<String>,
}

impl Outcome {
    fn target(&mut self, description: String, met: bool) {
        println!(
            "  target {description}: {}",
            if met { "met" } else { "MISSED" }
        );
        self.targets.push((description, met));
    }

    fn error(&mut self, measurement: &str, message: String) {
        println!("  error: {message}");
        self.errors.push(format!("{measurement}: {message}"));
    }
}

fn main() -> ExitCode {
    let options = Options::parse();
    let plan = if options.full { FULL } else { QUICK };
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");

    println!(
        "roulette-test lifecycle benchmark ({} run)",
        if options.full { "full" } else { "quick" }
    );
    print_machine();
    let fixture = match resolve_cargo_bin("fixture-worker", &workspace) {
        Ok(path) => path,
        Err(err) => {
            eprintln!("error: {}", err.message);
            return ExitCode::FAILURE;
        }
    };
    println!("fixture: {}", fixture.display());
    let clock = MonotonicClock::calibrate();
    println!(
        "Instant to CLOCK_MONOTONIC mapping: within {} ns",
        clock.uncertainty.as_nanos()
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    let mut outcome = Outcome::default();
    let mut respawn_summary = None;

    if options.selects("exit") {
        exit_detection(&plan, &runtime, &mut outcome);
    }
    if options.selects("respawn") {
        respawn_summary = kill_to_respawn(&plan, &runtime, &fixture, &clock, &mut outcome);
    }
    if options.selects("ttr") {
        ttr_error(&plan, &runtime, &fixture, &clock, &mut outcome);
    }
    if options.selects("idle") {
        idle(&plan, &runtime, &fixture, &mut outcome);
    }
    if options.selects("supervisord") {
        supervisord(&plan, &fixture, &clock, respawn_summary, &mut outcome);
    }

    println!();
    println!("load average at the end: {}", usage::load_average());
    let met = outcome.targets.iter().filter(|(_, met)| *met).count();
    println!("targets met: {met} of {}", outcome.targets.len());
    for (description, _) in outcome.targets.iter().filter(|(_, met)| !*met) {
        println!("  missed: {description}");
    }
    if outcome.errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("measurements that failed: {}", outcome.errors.len());
        for error in &outcome.errors {
            println!("  {error}");
        }
        ExitCode::FAILURE
    }
}

fn print_machine() {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    println!(
        "machine: {cores} cores, Linux {}, {} processes, load average {}",
        kernel.trim(),
        usage::process_count(),
        usage::load_average()
    );
}

/// Makes a temp dir for one measurement's state and stamp files.
fn temp_dir(name: &str) -> Result<tempfile::TempDir, String> {
    tempfile::Builder::new()
        .prefix(&format!("lifecycle-{name}-"))
        .tempdir()
        .map_err(|err| format!("failed to create a temp dir: {err}"))
}

fn exit_detection(plan: &Plan, runtime: &tokio::runtime::Runtime, outcome: &mut Outcome) {
    print_section("1. Exit detection: SIGKILL sent to exit detected, `sh -c 'exec sleep 60'`");
    let cwd = std::env::temp_dir();
    let harness = match runtime.block_on(supervised::exit_detection(plan.exit_kills, &cwd)) {
        Ok(samples) => samples,
        Err(err) => return outcome.error("exit detection", err),
    };
    let ours = print_row("roulette-test supervisor (child wait)", &harness);
    for (label, interval) in [
        ("sysinfo poll, no pause", Duration::ZERO),
        ("sysinfo poll every 10 ms", Duration::from_millis(10)),
    ] {
        match polling::exit_detection(plan.exit_kills, interval) {
            Ok(samples) => {
                if let (Some(ours), Some(theirs)) = (ours, print_row(label, &samples)) {
                    print_ratio("roulette-test", &ours, label, &theirs);
                }
            }
            Err(err) => outcome.error("exit detection baseline", err),
        }
    }
    if let Some(ours) = ours {
        outcome.target(
            format!(
                "exit detection p99 < {EXIT_P99_TARGET_MS} ms ({:.3} ms)",
                ours.p99
            ),
            ours.p99 < EXIT_P99_TARGET_MS,
        );
    }
}

/// Returns the summary of the harness's kill-to-main times, which the
/// supervisord measurement compares with.
fn kill_to_respawn(
    plan: &Plan,
    runtime: &tokio::runtime::Runtime,
    fixture: &Path,
    clock: &MonotonicClock,
    outcome: &mut Outcome,
) -> Option<stats::Summary> {
    print_section(
        "2. Kill to respawn: SIGKILL sent to the new fixture-worker's main, zero backoff",
    );
    let dir = match temp_dir("respawn") {
        Ok(dir) => dir,
        Err(err) => {
            outcome.error("kill to respawn", err);
            return None;
        }
    };
    let samples = runtime.block_on(supervised::kill_to_respawn(
        plan.respawn_kills,
        fixture,
        dir.path(),
        clock,
    ));
    let samples = match samples {
        Ok(samples) => samples,
        Err(err) => {
            outcome.error("kill to respawn", err);
            return None;
        }
    };
    let total = print_row("roulette-test: kill to main", &samples.kill_to_main);
    print_row("  kill to exit recorded", &samples.kill_to_exit);
    print_row("  exit recorded to spawn returned", &samples.exit_to_spawn);
    print_row("  spawn returned to main", &samples.spawn_to_main);
    print_row(
        &format!(
            "  one /proc tree scan, {} processes",
            usage::process_count()
        ),
        &supervised::tree_scan(plan.respawn_kills),
    );
    match direct::kill_to_respawn(plan.respawn_kills, fixture, dir.path(), clock) {
        Ok(floor) => {
            print_row(
                "floor: kill, wait, spawn: kill to main",
                &floor.kill_to_main,
            );
            print_row("  kill to wait returned", &floor.kill_to_reaped);
            print_row("  wait returned to main", &floor.reaped_to_main);
        }
        Err(err) => outcome.error("kill to respawn floor", err),
    }
    if let Some(total) = total {
        outcome.target(
            format!(
                "kill to respawn median < {RESPAWN_MEDIAN_TARGET_MS} ms ({:.3} ms)",
                total.median
            ),
            total.median < RESPAWN_MEDIAN_TARGET_MS,
        );
    }
    total
}

fn ttr_error(
    plan: &Plan,
    runtime: &tokio::runtime::Runtime,
    fixture: &Path,
    clock: &MonotonicClock,
    outcome: &mut Outcome,
) {
    let interval_ms = millis(supervised::PROBE_INTERVAL);
    print_section(&format!(
        "3. TTR error: reported TTR minus the fixture's own ready time, startup delay {} ms, probe interval {interval_ms} ms",
        supervised::STARTUP_DELAY.as_millis()
    ));
    let samples = temp_dir("ttr").and_then(|dir| {
        runtime.block_on(supervised::ttr_error(
            plan.ttr_kills,
            fixture,
            dir.path(),
            clock,
        ))
    });
    let (log, http) = match samples {
        Ok(samples) => samples,
        Err(err) => return outcome.error("TTR error", err),
    };
    let limit = interval_ms + 1.0;
    for (name, samples) in [("log probe", log), ("HTTP probe", http)] {
        print_row(&format!("{name}: reported TTR"), &samples.reported);
        print_row(&format!("{name}: actual TTR"), &samples.actual);
        if let Some(error) = print_row(&format!("{name}: error"), &samples.error) {
            outcome.target(
                format!(
                    "{name} error within 0..{limit} ms ({:.3}..{:.3} ms)",
                    error.min, error.max
                ),
                error.min >= 0.0 && error.max <= limit,
            );
        }
    }
}

fn idle(plan: &Plan, runtime: &tokio::runtime::Runtime, fixture: &Path, outcome: &mut Outcome) {
    println!();
    println!(
        "4. Harness resources while the fixture idles for {} s, supervisor only",
        plan.idle.as_secs()
    );
    let measured = temp_dir("idle")
        .and_then(|dir| runtime.block_on(supervised::idle(plan.idle, fixture, dir.path())));
    let idle = match measured {
        Ok(idle) => idle,
        Err(err) => return outcome.error("idle", err),
    };
    println!(
        "  CPU: {:.2} % of one core over {:.1} s (one clock tick is {:.2} %), {} processes on the machine",
        idle.cpu_percent,
        idle.duration.as_secs_f64(),
        idle.resolution_percent,
        usage::process_count()
    );
    match idle.peak_rss_kib {
        Some(kib) if idle.peak_was_reset => {
            println!(
                "  peak resident memory while idle (VmHWM): {:.1} MiB",
                kib as f64 / 1024.0
            )
        }
        Some(kib) => println!(
            "  peak resident memory of the run so far (VmHWM, which could not be reset): {:.1} MiB",
            kib as f64 / 1024.0
        ),
        None => println!("  peak resident memory: VmHWM is missing from /proc/self/status"),
    }
    outcome.target(
        format!(
            "idle CPU < {IDLE_CPU_TARGET_PERCENT} % of one core ({:.2} %)",
            idle.cpu_percent
        ),
        idle.cpu_percent < IDLE_CPU_TARGET_PERCENT,
    );
}

fn supervisord(
    plan: &Plan,
    fixture: &Path,
    clock: &MonotonicClock,
    ours: Option<stats::Summary>,
    outcome: &mut Outcome,
) {
    print_section("5. supervisord kill to respawn: SIGKILL sent to the new fixture-worker's main");
    let Some(supervisord) = supervisord::find() else {
        println!("  skipped: supervisord is not on PATH (Debian package `supervisor`)");
        return;
    };
    println!(
        "  {} {}",
        supervisord.display(),
        supervisord::version(&supervisord)
    );
    match supervisord::kill_to_respawn(&supervisord, plan.supervisord_kills, fixture, clock) {
        Ok(samples) => {
            let theirs = print_row("supervisord: kill to main", &samples);
            if let (Some(ours), Some(theirs)) = (ours, theirs) {
                print_ratio("roulette-test", &ours, "supervisord", &theirs);
            }
        }
        Err(err) => outcome.error("supervisord", err),
    }
}
