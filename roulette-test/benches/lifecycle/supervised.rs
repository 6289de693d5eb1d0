//! Measurements of roulette-test's own supervisor and probes.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use regex::Regex;
use roulette_test::probe::{Probe, ProbeTarget, ReadyOutcome};
use roulette_test::spec::{Backoff, Dur, Intensity, RestartPolicy};
use roulette_test::supervisor::logs::{DEFAULT_CAPACITY, LogBuffer};
use roulette_test::supervisor::timeline::Timeline;
use roulette_test::supervisor::tree::{ProcFs, Tree};
use roulette_test::supervisor::{Exit, Recipient, Spawn, Supervisor, SupervisorConfig};

use crate::clock::MonotonicClock;
use crate::stamps::StampReader;
use crate::stats::{millis, nanos_to_millis};
use crate::usage;

/// Upper bound of every single wait: a spawn, an exit, a stamp, a probe.
const WAIT_LIMIT: Duration = Duration::from_secs(10);

/// Pause between a spawn and the kill in the exit detection runs, so that
/// `sh` has exec'd `sleep` and the supervisor has finished its spawn work.
const SETTLE: Duration = Duration::from_millis(5);

/// Kills at the start of a run that are not counted: the first ones pay
/// for page faults and lazily initialised state.
pub const WARMUP: u32 = 2;

/// The probe interval of the TTR runs.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(5);

/// The fixture's startup delay in the TTR runs.
pub const STARTUP_DELAY: Duration = Duration::from_millis(200);

/// A supervisor over one program, restarted at once after every exit.
struct Supervised {
    supervisor: Supervisor,
    logs: Arc<LogBuffer>,
}

impl Supervised {
    fn start(program: &Path, args: Vec<String>, cwd: &Path, name: &str) -> Supervised {
        let config = SupervisorConfig {
            program: program.to_owned(),
            args,
            env: BTreeMap::new(),
            cwd: cwd.to_owned(),
            restart: RestartPolicy::Always,
            backoff: Backoff {
                initial: Dur::from_millis(0),
                max: Dur::from_millis(0),
                factor: 1.0,
            },
            // Every run restarts hundreds of times within seconds, which
            // the default limit of 10 restarts in 30 s would stop.
            intensity: Intensity {
                restarts: u32::MAX,
                within: Dur::from_secs(1),
            },
            marker: format!("lifecycle-bench-{}-{name}", std::process::id()),
            user: None,
            stop_signal: nix::sys::signal::Signal::SIGTERM,
        };
        let logs = Arc::new(LogBuffer::new(DEFAULT_CAPACITY));
        let supervisor = Supervisor::start(config, Arc::new(Timeline::new()), logs.clone());
        Supervised { supervisor, logs }
    }

    /// Waits until `incarnation` has been spawned.
    async fn spawn_of(&self, incarnation: u32) -> Result<Spawn, String> {
        let mut state = self.supervisor.subscribe();
        let found = tokio::time::timeout(
            WAIT_LIMIT,
            state.wait_for(|s| s.spawn_of(incarnation).is_some() || s.halted.is_some()),
        )
        .await;
        let spawn = match found {
            Ok(Ok(state)) => state.spawn_of(incarnation),
            _ => None,
        };
        spawn.ok_or_else(|| {
            format!(
                "incarnation #{incarnation} was not spawned within {WAIT_LIMIT:?}; supervisor halted: {:?}",
                self.supervisor.state().halted
            )
        })
    }

    /// Sends SIGKILL to `incarnation`'s main process and waits for its exit.
    /// Returns when the signal was sent and the exit the supervisor saw.
    async fn kill(&self, incarnation: u32) -> Result<(Instant, Exit), String> {
        let delivery = self
            .supervisor
            .signal(Signal::SIGKILL, Recipient::Main)
            .await
            .map_err(|err| format!("SIGKILL to incarnation #{incarnation} failed: {err}"))?;
        if delivery.incarnation != incarnation {
            return Err(format!(
                "SIGKILL reached incarnation #{}, expected #{incarnation}",
                delivery.incarnation
            ));
        }
        let exit = self
            .supervisor
            .wait_for_exit(incarnation, WAIT_LIMIT)
            .await
            .ok_or_else(|| format!("incarnation #{incarnation} did not exit after SIGKILL"))?;
        Ok((delivery.at, exit))
    }

    /// Stops the supervisor and fails if a process of the run survived.
    async fn stop(mut self) -> Result<(), String> {
        let outcome = self.supervisor.stop(Duration::from_secs(2)).await;
        if outcome.survivors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "processes survived the supervisor's teardown: {:?}",
                outcome.survivors
            ))
        }
    }
}

/// Runs `body` with a supervisor and stops the supervisor on every path.
async fn with_supervisor<T>(
    supervised: Supervised,
    body: impl AsyncFnOnce(&Supervised) -> Result<T, String>,
) -> Result<T, String> {
    let result = body(&supervised).await;
    let stopped = supervised.stop().await;
    let value = result?;
    stopped?;
    Ok(value)
}

/// Measures the time from SIGKILL sent to the exit recorded by the
/// supervisor, in ms, for `sh -c 'exec sleep 60'`.
pub async fn exit_detection(count: u32, cwd: &Path) -> Result<Vec<f64>, String> {
    let supervised = Supervised::start(
        Path::new("sh"),
        vec!["-c".into(), "exec sleep 60".into()],
        cwd,
        "exit",
    );
    with_supervisor(supervised, async |run| {
        let mut samples = Vec::new();
        for incarnation in 1..=count + WARMUP {
            run.spawn_of(incarnation).await?;
            tokio::time::sleep(SETTLE).await;
            let (sent, exit) = run.kill(incarnation).await?;
            if incarnation > WARMUP {
                samples.push(millis(exit.at.saturating_duration_since(sent)));
            }
        }
        Ok(samples)
    })
    .await
}

/// Samples of the restart path, in ms, each split at the supervisor's own
/// records.
#[derive(Default)]
pub struct Respawns {
    /// SIGKILL sent to the new incarnation's first instruction of `main`.
    pub kill_to_main: Vec<f64>,
    /// SIGKILL sent to the exit recorded by the supervisor.
    pub kill_to_exit: Vec<f64>,
    /// The exit recorded to the new incarnation's spawn recorded.
    pub exit_to_spawn: Vec<f64>,
    /// The spawn recorded to the first instruction of `main`.
    pub spawn_to_main: Vec<f64>,
}

/// Builds the fixture's arguments, with its state and stamp files in `dir`.
fn fixture_args(dir: &Path, port: u16, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--port".to_owned(),
        port.to_string(),
        "--state".to_owned(),
        dir.join("jobs.log").display().to_string(),
        "--stamp-file".to_owned(),
        stamp_path(dir).display().to_string(),
    ];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    args
}

fn stamp_path(dir: &Path) -> PathBuf {
    dir.join("stamps")
}

/// Kills the ready fixture `count` times with zero backoff and times each
/// restart up to the new process's `main`.
pub async fn kill_to_respawn(
    count: u32,
    fixture: &Path,
    dir: &Path,
    clock: &MonotonicClock,
) -> Result<Respawns, String> {
    let supervised = Supervised::start(fixture, fixture_args(dir, 0, &[]), dir, "respawn");
    let mut stamps = StampReader::new(&stamp_path(dir));
    with_supervisor(supervised, async |run| {
        let mut samples = Respawns::default();
        let mut current = run.spawn_of(1).await?;
        for incarnation in 1..=count + WARMUP {
            stamps
                .wait(0, WAIT_LIMIT, |s| {
                    s.event == "ready" && s.pid == current.pid
                })
                .await?;
            let since = stamps.len();
            let (sent, exit) = run.kill(incarnation).await?;
            let next = run.spawn_of(incarnation + 1).await?;
            let main = stamps
                .wait(since, WAIT_LIMIT, |s| {
                    s.event == "start" && s.pid == next.pid
                })
                .await?;
            if incarnation > WARMUP {
                samples
                    .kill_to_main
                    .push(nanos_to_millis(main.nanos - clock.nanos_at(sent)));
                samples.kill_to_exit.push(millis(exit.at - sent));
                samples.exit_to_spawn.push(millis(next.at - exit.at));
                samples
                    .spawn_to_main
                    .push(nanos_to_millis(main.nanos - clock.nanos_at(next.at)));
            }
            current = next;
        }
        Ok(samples)
    })
    .await
}

/// Measures one refresh of a process tree from `/proc`, in ms. This is the
/// supervisor's own scan, which it runs every 100 ms while the target runs,
/// once after each exit (the leftover check) and once after each spawn.
/// The tree's marker matches no process, so nothing is ever reaped.
pub fn tree_scan(count: u32) -> Vec<f64> {
    let harness = std::process::id();
    let mut tree = Tree::new(&format!("lifecycle-bench-scan-{harness}"), harness);
    let mut samples = Vec::new();
    for run in 0..count + WARMUP {
        let started = Instant::now();
        tree.scan(&ProcFs, &|_| true);
        if run >= WARMUP {
            samples.push(millis(started.elapsed()));
        }
    }
    samples
}

/// TTR samples of one probe, in ms.
#[derive(Default)]
pub struct TtrSamples {
    /// The TTR as the runner reports it: SIGKILL sent to the end of the
    /// passing probe attempt.
    pub reported: Vec<f64>,
    /// SIGKILL sent to the fixture's own `ready` stamp.
    pub actual: Vec<f64>,
    /// `reported` minus `actual`.
    pub error: Vec<f64>,
}

/// Returns a TCP port on 127.0.0.1 that was free a moment ago.
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|err| format!("failed to find a free port on 127.0.0.1: {err}"))
}

/// Kills a fixture that is ready [`STARTUP_DELAY`] after it starts, times
/// each recovery with a log probe and an HTTP probe in turn, both polling
/// every [`PROBE_INTERVAL`], and compares the TTR they report with the
/// fixture's own `ready` stamp. Returns the log probe's samples first.
pub async fn ttr_error(
    count: u32,
    fixture: &Path,
    dir: &Path,
    clock: &MonotonicClock,
) -> Result<(TtrSamples, TtrSamples), String> {
    let port = free_port()?;
    let delay = format!("{}ms", STARTUP_DELAY.as_millis());
    let args = fixture_args(dir, port, &["--startup-delay", &delay]);
    let supervised = Supervised::start(fixture, args, dir, "ttr");
    let mut stamps = StampReader::new(&stamp_path(dir));
    let attempt_timeout = Duration::from_millis(500);
    let log_probe = Probe::new(
        ProbeTarget::Log(Regex::new("^listening on ").expect("the pattern is valid")),
        PROBE_INTERVAL,
        attempt_timeout,
        supervised.logs.clone(),
        dir.to_owned(),
    );
    let http_probe = Probe::new(
        ProbeTarget::Http {
            url: format!("http://127.0.0.1:{port}/healthz"),
            status: 200,
        },
        PROBE_INTERVAL,
        attempt_timeout,
        supervised.logs.clone(),
        dir.to_owned(),
    );

    with_supervisor(supervised, async |run| {
        let mut log_samples = TtrSamples::default();
        let mut http_samples = TtrSamples::default();
        let mut incarnation = wait_ready(&log_probe, run, 1).await?.0;
        // Alternating the probes spreads any drift of the machine over both.
        for round in 0..2 * (count + WARMUP) {
            let (probe, samples) = if round % 2 == 0 {
                (&log_probe, &mut log_samples)
            } else {
                (&http_probe, &mut http_samples)
            };
            let (sent, _) = run.kill(incarnation).await?;
            let (ready_incarnation, ready_at) = wait_ready(probe, run, incarnation + 1).await?;
            let spawn = run.spawn_of(ready_incarnation).await?;
            let ready = stamps
                .wait(0, WAIT_LIMIT, |s| s.event == "ready" && s.pid == spawn.pid)
                .await?;
            if round >= 2 * WARMUP {
                let reported = millis(ready_at - sent);
                let actual = nanos_to_millis(ready.nanos - clock.nanos_at(sent));
                samples.reported.push(reported);
                samples.actual.push(actual);
                samples.error.push(reported - actual);
            }
            incarnation = ready_incarnation;
        }
        Ok((log_samples, http_samples))
    })
    .await
}

/// Polls `probe` until an incarnation from `min_incarnation` on passes, as
/// the runner does after a fault, and returns it with the time it passed.
async fn wait_ready(
    probe: &Probe,
    run: &Supervised,
    min_incarnation: u32,
) -> Result<(u32, Instant), String> {
    match probe
        .wait_ready(
            &run.supervisor,
            min_incarnation,
            Instant::now() + WAIT_LIMIT,
        )
        .await
    {
        ReadyOutcome::Ready { incarnation, at } => Ok((incarnation, at)),
        other => Err(format!(
            "the probe ({}) did not pass: {other:?}",
            probe.describe()
        )),
    }
}

/// The harness's resource use while the fixture idles.
pub struct Idle {
    pub duration: Duration,
    /// CPU time of this process as a percentage of one core.
    pub cpu_percent: f64,
    /// One clock tick as a percentage of one core over `duration`.
    pub resolution_percent: f64,
    /// Peak resident set size in KiB during the idle time, or over the
    /// whole run if the peak could not be reset.
    pub peak_rss_kib: Option<u64>,
    pub peak_was_reset: bool,
}

/// Supervises the ready fixture for `duration` without any fault or probe
/// and measures this process's CPU time and peak memory meanwhile.
pub async fn idle(duration: Duration, fixture: &Path, dir: &Path) -> Result<Idle, String> {
    let supervised = Supervised::start(fixture, fixture_args(dir, 0, &[]), dir, "idle");
    let mut stamps = StampReader::new(&stamp_path(dir));
    with_supervisor(supervised, async |run| {
        let spawn = run.spawn_of(1).await?;
        stamps
            .wait(0, WAIT_LIMIT, |s| s.event == "ready" && s.pid == spawn.pid)
            .await?;

        let peak_was_reset = usage::reset_peak_rss();
        let ticks_before = usage::cpu_ticks()?;
        let started = Instant::now();
        tokio::time::sleep(duration).await;
        let ticks_after = usage::cpu_ticks()?;
        let elapsed = started.elapsed();
        let peak_rss_kib = usage::peak_rss_kib();

        let state = run.supervisor.state();
        if state.spawns.len() != 1 {
            return Err(format!(
                "the fixture restarted while idle: {} spawns",
                state.spawns.len()
            ));
        }
        let tick = 1.0 / usage::ticks_per_second() as f64;
        let percent_of = |ticks: f64| ticks * tick / elapsed.as_secs_f64() * 100.0;
        Ok(Idle {
            duration: elapsed,
            cpu_percent: percent_of((ticks_after - ticks_before) as f64),
            resolution_percent: percent_of(1.0),
            peak_rss_kib,
            peak_was_reset,
        })
    })
    .await
}
