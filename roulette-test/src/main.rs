//! The `roulette` command: run and validate experiment files.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use clap::{Parser, Subcommand};
use roulette_test::report::audit::{self, AuditEntry, SpecFile};
use roulette_test::report::{
    Outcome, Report, render_html, render_junit, render_markdown, render_text, render_timeline_svg,
    replay,
};
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
        /// experiment file, an array for several.
        #[arg(long, value_name = "PATH")]
        json: Option<PathBuf>,
        /// Also write the reports as JUnit XML to this file: one
        /// <testsuite> per experiment, one <testcase> per hypothesis.
        #[arg(long, value_name = "PATH")]
        junit: Option<PathBuf>,
        /// Also write the reports as Markdown to this file, with each
        /// experiment's timeline picture as an SVG file beside it. When
        /// GITHUB_STEP_SUMMARY is set, the Markdown (without pictures) is
        /// also appended to the file it names.
        #[arg(long, value_name = "PATH")]
        markdown: Option<PathBuf>,
        /// Also write the reports as one self-contained HTML page, with
        /// each experiment's timeline picture, to this file.
        #[arg(long, value_name = "PATH")]
        html: Option<PathBuf>,
        /// Use this seed for every random choice instead of each spec's
        /// `seed`, as the replay command of a failed run does.
        #[arg(long, value_name = "N")]
        seed: Option<u64>,
        /// Append one line per experiment to this audit log instead of
        /// roulette-audit.jsonl in $CARGO_TARGET_DIR (default ./target).
        #[arg(long, value_name = "PATH", conflicts_with = "no_audit")]
        audit: Option<PathBuf>,
        /// Do not write the audit log.
        #[arg(long)]
        no_audit: bool,
        /// Print each experiment's plan (target, faults, times, seed)
        /// without starting anything; no report file is written.
        #[arg(long, conflicts_with_all = ["json", "junit", "markdown", "html", "audit"])]
        dry_run: bool,
    },
    /// Work with the audit log of `roulette run`.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Check experiment files without running them. Exits 0 when all are
    /// valid, 2 otherwise.
    Validate {
        /// Experiment files (YAML).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of an audit log. Exits 0 when it is intact, 1
    /// naming the first edited, deleted or reordered entry, 2 when the
    /// file cannot be read.
    Verify {
        /// The audit log (JSON lines).
        path: PathBuf,
    },
}

/// Where `roulette run` writes its reports besides the terminal.
struct Outputs {
    json: Option<PathBuf>,
    junit: Option<PathBuf>,
    markdown: Option<PathBuf>,
    html: Option<PathBuf>,
    /// `$GITHUB_STEP_SUMMARY`, which the Markdown is appended to.
    step_summary: Option<PathBuf>,
    audit: Option<PathBuf>,
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
            seed,
            dry_run: true,
            ..
        } => dry_run(&files, seed),
        Command::Run {
            files,
            json,
            junit,
            markdown,
            html,
            seed,
            audit,
            no_audit,
            dry_run: false,
        } => {
            let outputs = Outputs {
                json,
                junit,
                markdown,
                html,
                step_summary: std::env::var_os("GITHUB_STEP_SUMMARY")
                    .filter(|path| !path.is_empty())
                    .map(PathBuf::from),
                audit: (!no_audit).then(|| audit.unwrap_or_else(audit::default_path)),
            };
            run(&files, seed, &outputs)
        }
        Command::Audit {
            command: AuditCommand::Verify { path },
        } => verify_audit(&path),
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

fn dry_run(files: &[PathBuf], seed: Option<u64>) -> ExitCode {
    let mut invalid = false;
    for file in files {
        match spec::load_file(file) {
            Ok(mut experiment) => {
                experiment.seed = seed.or(experiment.seed);
                println!("{}", plan::render(&experiment));
            }
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

fn verify_audit(path: &Path) -> ExitCode {
    match audit::verify(path) {
        Ok(verified) => {
            println!("{} entries, chain intact", verified.entries);
            println!("head: {}", verified.head);
            ExitCode::SUCCESS
        }
        Err(err @ audit::AuditError::Broken { .. }) => {
            println!("{err}");
            ExitCode::from(EXIT_FAILED)
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn run(files: &[PathBuf], seed: Option<u64>, outputs: &Outputs) -> ExitCode {
    // Validate everything first, so a typo in the last file does not
    // surface after minutes of running the others.
    let mut experiments = Vec::new();
    let mut invalid = false;
    for file in files {
        match spec::load_file(file) {
            Ok(mut experiment) => {
                experiment.seed = seed.or(experiment.seed);
                // The hash is of the bytes the run loaded, before any
                // experiment starts.
                let spec_file = match SpecFile::read(file) {
                    Ok(spec_file) => Some(spec_file),
                    Err(err) => {
                        eprintln!(
                            "warning: failed to read {} again to hash it for the audit log: {err}",
                            file.display()
                        );
                        None
                    }
                };
                experiments.push((experiment, spec_file));
            }
            Err(err) => {
                eprintln!("error: {err}");
                invalid = true;
            }
        }
    }
    if invalid {
        return ExitCode::from(EXIT_ERROR);
    }

    // A report path in a missing directory fails now, not after minutes
    // of running. The audit log creates its directory itself.
    let report_paths = [
        &outputs.json,
        &outputs.junit,
        &outputs.markdown,
        &outputs.html,
    ];
    for path in report_paths.into_iter().flatten() {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if !parent.is_dir() {
            eprintln!(
                "error: cannot write {}: directory {} does not exist",
                path.display(),
                parent.display()
            );
            return ExitCode::from(EXIT_ERROR);
        }
    }

    if let Some(path) = &outputs.audit
        && let Err(message) = audit::check_path(path)
    {
        eprintln!("error: {message}");
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
    let mut output_failed = false;
    for (experiment, spec_file) in &experiments {
        eprintln!(
            "running {} ({} fault firing(s))...",
            experiment.name,
            experiment.faults.iter().map(|f| f.firings()).sum::<usize>()
        );
        let started = SystemTime::now();
        let (mut report, signal_exit) = runtime.block_on(run_until_signal(experiment));
        let ended = SystemTime::now();
        if let (Some(seed), Some(file)) = (report.seed, &experiment.source) {
            report.replay = Some(replay::cli_replay(seed, file));
        }
        println!("{}", render_text(&report, color));
        if let Some(path) = &outputs.audit {
            let entry = AuditEntry::new(&report, spec_file.as_ref(), started, ended);
            if let Err(err) = audit::append(path, entry) {
                eprintln!("error: {err}");
                output_failed = true;
            }
        }
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

    if !write_outputs(&reports, files.len(), outputs) {
        output_failed = true;
    }

    if let Some(code) = interrupted {
        ExitCode::from(code)
    } else if output_failed || reports.iter().any(|r| r.outcome == Outcome::Error) {
        ExitCode::from(EXIT_ERROR)
    } else if reports.iter().any(|r| r.outcome == Outcome::Failed) {
        ExitCode::from(EXIT_FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

/// Writes the JSON, JUnit and Markdown files that `outputs` names and
/// appends the Markdown to the step summary. The JSON is one object when
/// one file was given, else an array, even when an interrupted run wrote
/// fewer reports. Returns false when one of them failed, after printing
/// why.
fn write_outputs(reports: &[Report], files_given: usize, outputs: &Outputs) -> bool {
    let mut written = true;
    let mut write = |path: &Path, what: &str, text: &str| {
        if let Err(err) = std::fs::write(path, text) {
            eprintln!(
                "error: failed to write the {what} report to {}: {err}",
                path.display()
            );
            written = false;
        }
    };
    if let Some(path) = &outputs.json {
        let text = match reports {
            [single] if files_given == 1 => single.to_json(),
            many => serde_json::to_string_pretty(many).expect("reports serialize"),
        };
        write(path, "JSON", &text);
    }
    if let Some(path) = &outputs.junit {
        write(path, "JUnit XML", &render_junit(reports));
    }
    if let Some(path) = &outputs.html {
        write(path, "HTML", &render_html(reports));
    }
    if let Some(path) = &outputs.markdown {
        let mut sections = Vec::new();
        for (index, report) in reports.iter().enumerate() {
            let picture = timeline_picture_path(path, index, reports.len());
            write(&picture, "timeline picture", &render_timeline_svg(report));
            let name = picture.file_name().map(|name| name.to_string_lossy());
            sections.push(render_markdown(report, name.as_deref()));
        }
        write(path, "Markdown", &sections.join("\n"));
    }
    // The step summary is a file of its own, which no relative picture
    // path can reach.
    let markdown: Vec<String> = reports
        .iter()
        .map(|report| render_markdown(report, None))
        .collect();
    let markdown = markdown.join("\n");
    if let Some(path) = &outputs.step_summary {
        let appended = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .and_then(|mut file| file.write_all(format!("{markdown}\n").as_bytes()));
        if let Err(err) = appended {
            eprintln!(
                "error: failed to append the Markdown report to GITHUB_STEP_SUMMARY ({}): {err}",
                path.display()
            );
            written = false;
        }
    }
    written
}

/// Returns the path of the timeline picture of report `index` of `count`
/// beside the Markdown file `markdown`: `summary.md` gets
/// `summary.timeline.svg`, or `summary.timeline-1.svg` and so on for
/// several reports.
fn timeline_picture_path(markdown: &Path, index: usize, count: usize) -> PathBuf {
    let stem = markdown.file_stem().map_or_else(
        || String::from("report"),
        |s| s.to_string_lossy().into_owned(),
    );
    let name = if count == 1 {
        format!("{stem}.timeline.svg")
    } else {
        format!("{stem}.timeline-{}.svg", index + 1)
    };
    markdown.with_file_name(name)
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
