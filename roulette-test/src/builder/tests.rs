use std::path::{Path, PathBuf};

use super::*;
use crate::spec::{Pick, RestartPolicy, load_file, load_str};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Loads an example file as if it were read from a string in its folder,
/// so only the builder's lack of a source file differs.
fn example(name: &str) -> Experiment {
    let mut experiment = load_file(&examples().join(name)).expect("the example loads");
    experiment.source = None;
    experiment
}

#[test]
fn quickstart_example_equals_its_builder() {
    let built = ExperimentBuilder::new("quickstart")
        .description("The fixture worker restarts after SIGKILL and keeps every acknowledged job.")
        .label("example", "quickstart")
        .base_dir(examples())
        .cargo_bin("fixture-worker")
        .args(["--port", "${port.http}", "--state", "${tmp}/jobs.log"])
        .args(["--startup-delay", "100ms"])
        .port("http")
        .restart(RestartPolicy::Always)
        .backoff("0ms", Duration::from_secs(1), 2.0)
        .intensity(10, "30s")
        .ready(
            Ready::http_status("http://127.0.0.1:${port.http}/healthz", 200)
                .interval("5ms")
                .attempt_timeout("500ms")
                .timeout(Duration::from_secs(10)),
        )
        .setup([
            "${cargo_bin.fixture-jobs}",
            "submit",
            "--url",
            "http://127.0.0.1:${port.http}",
            "--count",
            "50",
            "--acked",
            "${tmp}/acked.txt",
        ])
        .fault(
            FaultBuilder::signal("kill-worker", "SIGKILL")
                .main()
                .every(Duration::from_millis(1500), 5),
        )
        .settle("1s")
        .hypothesis("recovers-fast", Verify::ttr("< 2s"))
        .hypothesis(
            "recovery-distribution",
            Verify::ttr_percentiles(Some("< 1s"), None, Some("< 2s")),
        )
        .hypothesis("restarted-once-per-kill", Verify::restarts("== 5"))
        .hypothesis(
            "acknowledged-jobs-kept",
            Verify::exec([
                "${cargo_bin.fixture-jobs}",
                "verify",
                "--state",
                "${tmp}/jobs.log",
                "--acked",
                "${tmp}/acked.txt",
            ]),
        )
        .build()
        .expect("the builder's experiment is valid");
    assert_eq!(built, example("quickstart.yaml"));
}

#[test]
fn metrics_example_equals_its_builder() {
    let built = ExperimentBuilder::new("metrics-restarts")
        .description("Metric hypotheses in PromQL over the series scraped during the experiment.")
        .label("example", "metrics")
        .base_dir(examples())
        .cargo_bin("fixture-worker")
        .args(["--port", "${port.http}", "--state", "${tmp}/jobs.log"])
        .port("http")
        .ready(Ready::http("http://127.0.0.1:${port.http}/healthz").interval("5ms"))
        .metrics("http://127.0.0.1:${port.http}/metrics")
        .metrics_interval("100ms")
        .fault(FaultBuilder::signal("kill-worker", "SIGKILL").every("700ms", 3))
        .settle("500ms")
        .hypothesis(
            "restarted-three-times",
            Verify::metric("increase(roulette_process_restarts_total[5m])", "== 3"),
        )
        .hypothesis(
            "no-failed-jobs",
            Verify::metric("sum(fixture_jobs_failed_total)", "== 0"),
        )
        .hypothesis(
            "worker-scraped-after-recovery",
            Verify::metric("up", "== 1"),
        )
        .build()
        .expect("the builder's experiment is valid");
    assert_eq!(built, example("metrics-restarts.yaml"));
}

const EVERY_FIELD: &str = r#"
apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata: {name: every-field}
spec:
  target:
    command: ./server.sh
    env: {MODE: chaos}
    ports: [admin]
    supervisor:
      restart: on-failure
    ready:
      tcp: "127.0.0.1:${port.admin}"
  faults:
    - name: pause
      freeze: 300ms
      target: group
      schedule: {at: [1s, 2500ms]}
    - name: term-workers
      signal: SIGTERM
      grace: 2s
      target: {process: "^worker", pick: oldest}
      schedule: {at: [4s]}
    - name: random-kills
      signal: SIGKILL
      schedule: {random: {count: 3, within: 10s}}
  seed: 42
  policy:
    timeout: 1m
    deny: ["^postgres$"]
  hypothesis:
    - name: exits-cleanly
      exit: {graceful: true, code: 0}
    - name: data-intact
      exec: ["./verify.sh", "${tmp}"]
      timeout: 5s
    - name: no-errors
      metric: "sum(errors_total)"
      threshold: "== 0"
      during: continuous
"#;

#[test]
fn every_field_kind_equals_its_builder() {
    let from_yaml = load_str(EVERY_FIELD, None, Path::new("/srv")).expect("the YAML is valid");
    let builder = ExperimentBuilder::new("every-field")
        .base_dir("/srv")
        .command("./server.sh")
        .env("MODE", "chaos")
        .port("admin")
        .restart(RestartPolicy::OnFailure)
        .ready(Ready::tcp("127.0.0.1:${port.admin}"))
        .fault(
            FaultBuilder::freeze("pause", "300ms")
                .group()
                .at(["1s", "2500ms"]),
        )
        .fault(
            FaultBuilder::signal("term-workers", "SIGTERM")
                .grace("2s")
                .process("^worker", Pick::Oldest)
                .at(["4s"]),
        )
        .fault(FaultBuilder::signal("random-kills", "SIGKILL").random(3, "10s"))
        .seed(42)
        .timeout("1m")
        .deny("^postgres$")
        .hypothesis("exits-cleanly", Verify::exit(Some(0)))
        .hypothesis(
            "data-intact",
            Verify::exec(["./verify.sh", "${tmp}"]).timeout("5s"),
        )
        .hypothesis(
            "no-errors",
            Verify::metric("sum(errors_total)", "== 0").continuous(),
        );
    assert_eq!(builder.build().expect("the builder is valid"), from_yaml);
    // Its YAML form reads back to the same experiment.
    let again = load_str(&builder.to_yaml(), None, Path::new("/srv")).expect("valid YAML");
    assert_eq!(again, from_yaml);
}

#[test]
fn a_difference_makes_experiments_unequal() {
    let base = || {
        ExperimentBuilder::new("differs")
            .command("sleep")
            .ready(Ready::log("^started$"))
            .fault(FaultBuilder::signal("kill", "SIGKILL").at(["1s"]))
    };
    let one = base().build().expect("valid");
    assert_eq!(one, base().build().expect("valid"));
    assert_ne!(one, base().seed(1).build().expect("valid"));
    assert_ne!(
        one,
        base().ready(Ready::log("^begun$")).build().expect("valid")
    );
    assert_ne!(
        one,
        base()
            .fault(FaultBuilder::signal("term", "SIGTERM").at(["2s"]))
            .build()
            .expect("valid")
    );
}

#[test]
fn builder_errors_name_the_field_and_the_fix() {
    let err = ExperimentBuilder::new("no-program")
        .ready(Ready::log("started"))
        .build()
        .unwrap_err();
    let invalid = err.invalid().expect("an invalid spec");
    assert_eq!(invalid.field, "spec.target");
    assert!(
        invalid.message.contains("set `command`"),
        "{}",
        invalid.message
    );

    let err = ExperimentBuilder::new("bad-threshold")
        .command("sleep")
        .ready(Ready::log("started"))
        .hypothesis("fast", Verify::ttr("about 2s"))
        .build()
        .unwrap_err();
    let invalid = err.invalid().expect("an invalid spec");
    assert!(
        invalid.field.starts_with("spec.hypothesis[0]"),
        "{}",
        invalid.field
    );
    assert!(
        invalid.message.contains("invalid threshold"),
        "{}",
        invalid.message
    );
}
