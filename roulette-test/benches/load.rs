//! Load benchmark: the request rate that the `load` block achieves
//! against `fixture-worker` on this machine, next to the target rate, with
//! the harness's send lag and the latencies it measured.
//!
//! `cargo bench -p roulette-test --bench load` runs each rate for 10 s.
//! Without `--bench`, as under `cargo test --benches`, it runs each for
//! 1 s to check that the code works. Arguments that do not start with `-`
//! replace the rates, as in `cargo bench -p roulette-test --bench load --
//! 200 1000`.
//!
//! Each run is a whole experiment without faults: the harness spawns the
//! worker, waits for its readiness probe and sends `GET /work` from then
//! to the end of the settle period. The process exits with 1 when an
//! experiment does not pass.

use std::path::Path;
use std::process::ExitCode;

use roulette_test::report::{Outcome, render_text};
use roulette_test::runner::{resolve_cargo_bin, run_blocking};
use roulette_test::spec::{LoadPhase, format_duration, load_str};

/// Rates per second run when none are given.
const RATES: &[u32] = &[200, 1000, 5000, 10000];

fn main() -> ExitCode {
    let mut full = false;
    let mut rates = Vec::new();
    for arg in std::env::args().skip(1) {
        if arg == "--bench" {
            full = true;
        } else if !arg.starts_with('-') {
            match arg.parse::<u32>() {
                Ok(rate) => rates.push(rate),
                Err(_) => {
                    eprintln!("error: `{arg}` is not a rate; give whole requests per second");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    if rates.is_empty() {
        rates = RATES.to_vec();
    }
    let seconds = if full { 10 } else { 1 };

    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let worker = match resolve_cargo_bin("fixture-worker", &workspace) {
        Ok(path) => path,
        Err(err) => {
            eprintln!("error: {}", err.message);
            return ExitCode::FAILURE;
        }
    };

    println!(
        "| target | achieved | sent / scheduled | send lag p99 | send lag max | p50 | p99 | max | errors |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    let mut failed = false;
    for rate in rates {
        let spec = format!(
            r#"
apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata:
  name: load-{rate}
spec:
  target:
    command: "{worker}"
    args: ["--port", "${{port.http}}", "--state", "${{tmp}}/jobs.log"]
    ports: [http]
    ready:
      http: {{url: "http://127.0.0.1:${{port.http}}/healthz"}}
  settle: {seconds}s
  load:
    http:
      url: "http://127.0.0.1:${{port.http}}/work"
      rate: {rate}/s
"#,
            worker = worker.display()
        );
        let experiment = match load_str(&spec, None, &workspace) {
            Ok(experiment) => experiment,
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::FAILURE;
            }
        };
        let report = run_blocking(&experiment);
        let (Outcome::Passed, Some(load)) = (report.outcome, &report.load) else {
            eprintln!("{}", render_text(&report, false));
            failed = true;
            continue;
        };
        let all = load.phase(LoadPhase::All).expect("the all phase exists");
        let latency = |pick: fn(&roulette_test::report::LatencySummary) -> std::time::Duration| {
            all.latency
                .as_ref()
                .map_or_else(|| String::from("-"), |l| format_duration(pick(l)))
        };
        println!(
            "| {rate}/s | {:.0}/s | {} / {} | {} | {} | {} | {} | {} | {} |",
            load.achieved_rate,
            load.sent,
            load.scheduled,
            format_duration(load.send_lag_p99),
            format_duration(load.send_lag_max),
            latency(|l| l.p50),
            latency(|l| l.p99),
            latency(|l| l.max),
            all.outcomes.describe_errors(),
        );
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
