//! The plan of an experiment as `roulette run --dry-run` prints it: what
//! would run, which faults fire when and at whom, and with which seed,
//! before anything starts.

use std::fmt::Write;

use roulette_test::fault;
use roulette_test::schedule;
use roulette_test::spec::{Experiment, Program, RestartPolicy, format_duration};

/// Renders the plan of `experiment`.
pub fn render(experiment: &Experiment) -> String {
    let mut out = String::new();
    let source = experiment
        .source
        .as_ref()
        .map(|p| format!(" ({})", p.display()))
        .unwrap_or_default();
    let _ = writeln!(out, "plan of experiment {}{source}", experiment.name);

    let target = &experiment.target;
    let program = match &target.program {
        Program::Command(command) => command.clone(),
        Program::CargoBin(name) => format!("cargo_bin {name}"),
    };
    let _ = writeln!(out, "  target: {program} {}", command_line(&target.args));
    let _ = writeln!(
        out,
        "  working directory: {}",
        experiment.base_dir.display()
    );
    if !target.ports.is_empty() {
        let _ = writeln!(
            out,
            "  ports (allocated on 127.0.0.1 at run time): {}",
            target.ports.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "  restart: {}, backoff {} to {} x{}, intensity {} restarts within {}",
        match target.restart {
            RestartPolicy::Always => "always",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::Never => "never",
        },
        target.backoff.initial,
        target.backoff.max,
        target.backoff.factor,
        target.intensity.restarts,
        target.intensity.within
    );
    let ready = &target.ready;
    let _ = writeln!(
        out,
        "  readiness: {} every {}, attempt timeout {}, timeout {}",
        ready.probe.describe(),
        ready.interval,
        ready.attempt_timeout,
        ready.timeout
    );
    for step in &experiment.setup {
        let _ = writeln!(out, "  setup: {}", command_line(&step.argv));
    }

    let seed = experiment.seed.map_or_else(
        || String::from("chosen at run time and printed in the report"),
        |s| s.to_string(),
    );
    let _ = writeln!(out, "  seed: {seed}");
    // Random offsets are drawn from the seed, so they are known only when
    // the file or `--seed` sets it.
    let resolved = experiment
        .seed
        .and_then(|seed| schedule::resolve_random(experiment, seed));
    let experiment = resolved.as_ref().unwrap_or(experiment);
    for fault in &experiment.faults {
        if let (Some(random), None) = (fault.random, experiment.seed) {
            let _ = writeln!(
                out,
                "  fault {}: {} random firing(s) within {}; the offsets depend on the seed, so set `seed` or `--seed` to see them",
                fault.name, random.count, random.within
            );
        }
    }
    let firings = schedule::plan(&experiment.faults);
    let _ = writeln!(
        out,
        "  faults ({} firings, offsets from the end of setup):",
        firings.len()
    );
    for firing in &firings {
        let fault = &experiment.faults[firing.fault];
        let _ = writeln!(
            out,
            "    +{:>8}  {} #{}: {}",
            format_duration(firing.offset),
            fault.name,
            firing.occurrence,
            fault::describe(fault)
        );
    }
    if let Some(load) = &experiment.load {
        let _ = writeln!(
            out,
            "  load from the end of setup to the end of settle: {}",
            load.describe()
        );
    }
    let _ = writeln!(
        out,
        "  settle: {}, timeout: {}",
        experiment.settle, experiment.timeout
    );
    let rules: Vec<&str> = experiment.deny.iter().map(|rule| rule.as_str()).collect();
    let _ = writeln!(out, "  deny: {}", rules.join(", "));
    for hypothesis in &experiment.hypotheses {
        let _ = writeln!(
            out,
            "  hypothesis {}: {}",
            hypothesis.name,
            hypothesis.check.describe()
        );
    }
    out
}

/// Joins `words` with spaces, quoting a word as a POSIX shell would need
/// it when it is empty or contains whitespace, quotes or a backslash, so
/// `sh -c 'echo a' x` shows where each argument ends. Placeholders such
/// as `${tmp}` stay as written.
fn command_line(words: &[String]) -> String {
    let quoted: Vec<String> = words
        .iter()
        .map(|word| {
            let needs_quotes = word.is_empty()
                || word
                    .chars()
                    .any(|c| c.is_whitespace() || "'\"\\;&|<>()`*?".contains(c));
            if needs_quotes {
                format!("'{}'", word.replace('\'', r"'\''"))
            } else {
                word.clone()
            }
        })
        .collect();
    quoted.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_quotes_words_with_spaces() {
        let words: Vec<String> = ["sh", "-c", "echo $1 > out", "sh", "${tmp}", "", "it's"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            command_line(&words),
            r"sh -c 'echo $1 > out' sh ${tmp} '' 'it'\''s'"
        );
    }
}
