//! The `roulette` command: run and validate experiment files.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use roulette_test::report::{Outcome, Report, render_text};
use roulette_test::{runner, spec};

mod plan;

/// Chaos experiments as ordinary test results: kill the system under test,
/// time its recovery and check a written hypothesis.
#[derive(Parser)]
#[command(name = "roulette", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run experiments and print a report for each. Exits 0 when every
    /// hypothesis holds, 1 when one fails, 2 on a setup or usage error.
    Run {
        /// Experiment files (YAML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Also write the reports as JSON to this file: one object for one
        /// experiment, an array for several.
        #[arg(long, value_name = "PATH")]
        json: Option<PathBuf>,
        /// Print each experiment's plan (target, faults, times, seed)
        /// without starting anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check experiment files without running them. Exits 0 when all are
    /// valid, 2 otherwise.
    Validate {
        /// Experiment files (YAML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

const EXIT_FAILED: u8 = 1;
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(EXIT_ERROR)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Validate { files } => validate(&files),
        Command::Run {
            files,
            dry_run: true,
            ..
        } => dry_run(&files),
        Command::Run {
            files,
            json,
            dry_run: false,
        } => run(&files, json.as_deref()),
    }
}

fn validate(files: &[PathBuf]) -> ExitCode {
    let mut invalid = 0;
    for file in files {
        match spec::load_file(file) {
            Ok(experiment) => println!(
                "{}: valid ({} fault(s), {} hypothesis(es))",
                file.display(),
                experiment.faults.len(),
                experiment.hypotheses.len()
            ),
            Err(err) => {
                invalid += 1;
                eprintln!("error: {err}");
            }
        }
    }
    if invalid == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_ERROR)
    }
}

fn dry_run(files: &[PathBuf]) -> ExitCode {
    let mut invalid = false;
    for file in files {
        match spec::load_file(file) {
            Ok(experiment) => println!("{}", plan::render(&experiment)),
            Err(err) => {
                eprintln!("error: {err}");
                invalid = true;
            }
        }
    }
    if invalid {
        ExitCode::from(EXIT_ERROR)
    } else {
        ExitCode::SUCCESS
    }
}

fn run(files: &[PathBuf], json: Option<&std::path::Path>) -> ExitCode {
    // Validate everything first, so a typo in the last file does not
    // surface after minutes of running the others.
    let mut experiments = Vec::new();
    let mut invalid = false;
    for file in files {
        match spec::load_file(file) {
            Ok(experiment) => experiments.push(experiment),
            Err(err) => {
                eprintln!("error: {err}");
                invalid = true;
            }
        }
    }
    if invalid {
        return ExitCode::from(EXIT_ERROR);
    }

    let color = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    let mut reports: Vec<Report> = Vec::new();
    let mut interrupted = None;
    for experiment in &experiments {
        eprintln!(
            "running {} ({} fault firing(s))...",
            experiment.name,
            experiment
                .faults
                .iter()
                .map(|f| f.offsets.len())
                .sum::<usize>()
        );
        let (report, signal_exit) = runtime.block_on(run_until_signal(experiment));
        println!("{}", render_text(&report, color));
        reports.push(report);
        if let Some(code) = signal_exit {
            // The remaining experiments do not start, but the reports so
            // far are still written.
            eprintln!(
                "interrupted: {} was stopped and its processes are gone",
                experiment.name
            );
            interrupted = Some(code);
            break;
        }
    }

    if let Some(path) = json {
        let text = match reports.as_slice() {
            [single] => single.to_json(),
            many => serde_json::to_string_pretty(many).expect("reports serialize"),
        };
        if let Err(err) = std::fs::write(path, text) {
            eprintln!(
                "error: failed to write the JSON report to {}: {err}",
                path.display()
            );
            return ExitCode::from(EXIT_ERROR);
        }
    }

    if let Some(code) = interrupted {
        ExitCode::from(code)
    } else if reports.iter().any(|r| r.outcome == Outcome::Error) {
        ExitCode::from(EXIT_ERROR)
    } else if reports.iter().any(|r| r.outcome == Outcome::Failed) {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs one experiment. SIGINT or SIGTERM interrupts it: the experiment
/// tears down as usual (SIGTERM to the target, the teardown grace period,
/// then SIGKILL to its whole tree). Returns the report and, when a signal
/// interrupted it, the exit code a shell gives a process ended by that
/// signal: 130 or 143.
async fn run_until_signal(experiment: &spec::Experiment) -> (Report, Option<u8>) {
    use std::sync::atomic::{AtomicU8, Ordering};
    use tokio::signal::unix::{SignalKind, signal};

    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return (runner::run(experiment).await, None);
    };
    let exit_code = AtomicU8::new(0);
    let received = async {
        tokio::select! {
            _ = interrupt.recv() => {
                exit_code.store(130, Ordering::Relaxed);
                String::from("SIGINT")
            }
            _ = terminate.recv() => {
                exit_code.store(143, Ordering::Relaxed);
                String::from("SIGTERM")
            }
        }
    };
    let report = runner::run_until(experiment, received).await;
    let code = exit_code.load(Ordering::Relaxed);
    (report, (code != 0).then_some(code))
}
