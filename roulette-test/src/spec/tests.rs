//! Loading and checking whole specs: each invalid case names its field.

use super::test_support::{invalid_change, load};
use super::*;

const VALID: &str = r#"
apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata:
  name: t
spec:
  target:
    command: sleep
    args: ["${port.http}"]
    ports: [http]
    ready:
      http: {url: "http://127.0.0.1:${port.http}/healthz"}
  faults:
    - name: kill
      signal: SIGTERM
      grace: 1s
      schedule: {every: 2s, count: 3}
  hypothesis:
    - name: fast
      ttr: "< 2s"
    - name: clean
      exit: {code: 0}
"#;

/// Replaces `from` in the valid spec and returns the error.
fn invalid(from: &str, to: &str) -> InvalidSpecSummary {
    let invalid = invalid_change(VALID, from, to);
    InvalidSpecSummary {
        line: invalid.line,
        field: invalid.field,
        message: invalid.message,
    }
}

#[derive(Debug)]
struct InvalidSpecSummary {
    line: u64,
    field: String,
    message: String,
}

#[test]
fn valid_spec_loads() {
    let experiment = load(VALID).unwrap();
    assert_eq!(
        experiment.faults[0].offsets,
        [Dur::from_secs(2), Dur::from_secs(4), Dur::from_secs(6)]
    );
    assert_eq!(experiment.settle, Dur::from_secs(2));
    assert!(matches!(experiment.target.program, Program::Command(ref c) if c == "sleep"));
    assert!(matches!(
        experiment.hypotheses[1].check,
        Check::Exit(ExitSpec {
            graceful: true,
            code: Some(0)
        })
    ));
}

#[test]
fn misspelt_field_located() {
    let err = invalid("      grace: 1s", "      grcae: 1s");
    assert_eq!(err.line, 16);
    assert_eq!(err.field, "spec.faults[0].grcae");
    assert!(
        err.message.contains("unknown field `grcae`"),
        "{}",
        err.message
    );
}

#[test]
fn unclosed_flow_list_located_at_its_bracket() {
    // The parser notices the missing `]` only on a later line.
    let err = invalid(
        "    args: [\"${port.http}\"]",
        "    args: [\"${port.http}\"",
    );
    assert_eq!(err.line, 9);
    assert_eq!(err.field, "spec.target.args");
    assert!(
        err.message
            .starts_with("`[` is never closed; add `]` where the list ends"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("the YAML parser noticed at line 10"),
        "{}",
        err.message
    );
}

#[test]
fn unquoted_threshold_gets_quoting_hint() {
    let err = invalid("      ttr: \"< 2s\"", "      restarts: > 1");
    assert_eq!(err.field, "spec.hypothesis[0].restarts");
    assert!(
        err.message.ends_with(
            "YAML reads a value that starts with `>` as a block of text; quote the value: \"> 1\""
        ),
        "{}",
        err.message
    );

    let err = invalid("      ttr: \"< 2s\"", "      restarts: != 3");
    assert_eq!(err.field, "spec.hypothesis[0].restarts");
    assert!(
        err.message.contains("invalid threshold `3`"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .ends_with("YAML reads `!=` at the start of a value as a tag and drops it; quote the value: \"!= 3\""),
        "{}",
        err.message
    );
}

#[test]
fn duplicate_key_named_without_parser_options() {
    let err = invalid("    ports: [http]", "    ports: [http]\n    ports: [http]");
    assert_eq!(err.field, "spec.target.ports");
    assert_eq!(
        err.message,
        "duplicate key `ports`: a key may appear once in a map; remove one of them or merge their values"
    );
}

#[test]
fn misspelt_field_in_flow_list_has_index() {
    let err = invalid(
        "  hypothesis:\n    - name: fast\n      ttr: \"< 2s\"\n    - name: clean\n      exit: {code: 0}",
        "  hypothesis: [{name: fast, ttr: \"< 2s\"}, {name: clean, exti: {code: 0}}]",
    );
    assert_eq!(err.field, "spec.hypothesis[1].exti");
    assert!(
        err.message.contains("unknown field `exti`"),
        "{}",
        err.message
    );
}

#[test]
fn bare_number_duration_rejected() {
    let err = invalid("grace: 1s", "grace: 1");
    assert_eq!(err.field, "spec.faults[0].grace");
    assert!(err.message.contains("bare number"), "{}", err.message);
}

#[test]
fn process_target_parsed() {
    let text = VALID.replacen(
        "      grace: 1s\n",
        "      grace: 1s\n      target: {process: \"worker\", pick: oldest}\n",
        1,
    );
    let experiment = load(&text).unwrap();
    let FaultTarget::Processes(selector) = &experiment.faults[0].target else {
        panic!(
            "expected a process target, got {:?}",
            experiment.faults[0].target
        );
    };
    assert_eq!(selector.regex.as_str(), "worker");
    assert_eq!(selector.pick, Pick::Oldest);
}

#[test]
fn denied_process_target_rejected() {
    let err = invalid(
        "      grace: 1s\n",
        "      grace: 1s\n      target: {process: sshd}\n",
    );
    assert_eq!(err.field, "spec.faults[0].target.process");
    assert!(err.message.contains("deny rule `^sshd`"), "{}", err.message);
}

#[test]
fn spec_deny_rule_applies() {
    let text = VALID
        .replacen(
            "      grace: 1s\n",
            "      grace: 1s\n      target: {process: worker}\n",
            1,
        )
        .replacen(
            "  hypothesis:",
            "  policy: {deny: [\"^work\"]}\n  hypothesis:",
            1,
        );
    let err = load(&text).expect_err("the deny rule rejects the target");
    let invalid = err.invalid().unwrap();
    assert!(
        invalid.message.contains("deny rule `^work`"),
        "{}",
        invalid.message
    );
}

#[test]
fn unknown_target_word_rejected() {
    let err = invalid(
        "      grace: 1s\n",
        "      grace: 1s\n      target: everything\n",
    );
    assert!(
        err.message.contains("unknown target `everything`"),
        "{}",
        err.message
    );
}

#[test]
fn freeze_of_process_target_rejected() {
    let err = invalid(
        "      signal: SIGTERM\n      grace: 1s\n",
        "      freeze: 1s\n      target: {process: worker}\n",
    );
    assert!(
        err.message
            .contains("a freeze reaches `main` or `group` only"),
        "{}",
        err.message
    );
}

#[test]
fn max_concurrent_above_one_rejected() {
    let err = invalid(
        "  hypothesis:",
        "  policy: {max_concurrent: 2}\n  hypothesis:",
    );
    assert_eq!(err.field, "spec.policy.max_concurrent");
    assert!(
        err.message.contains("one fault at a time"),
        "{}",
        err.message
    );
    let text = VALID.replacen(
        "  hypothesis:",
        "  policy: {max_concurrent: 1, abort: {not_ready_for: 30s}}\n  hypothesis:",
        1,
    );
    let experiment = load(&text).unwrap();
    assert_eq!(experiment.abort.not_ready_for, Some(Dur::from_secs(30)));
}

#[test]
fn metric_check_parsed() {
    let text = VALID.replacen(
        "    - name: fast\n      ttr: \"< 2s\"",
        "    - name: fast\n      metric: increase(roulette_process_restarts_total[5m])\n      threshold: \"== 3\"\n      during: continuous",
        1,
    );
    let experiment = load(&text).unwrap();
    let Check::Metric {
        expr,
        threshold,
        continuous,
    } = &experiment.hypotheses[0].check
    else {
        panic!(
            "expected a metric check, got {:?}",
            experiment.hypotheses[0].check
        );
    };
    assert_eq!(expr.text(), "increase(roulette_process_restarts_total[5m])");
    assert_eq!(threshold.value, 3.0);
    assert!(continuous);
}

#[test]
fn invalid_promql_located() {
    let err = invalid(
        "      ttr: \"< 2s\"",
        "      metric: rate(x[5m]\n      threshold: \"> 0\"",
    );
    assert_eq!(err.field, "spec.hypothesis[0].metric");
    assert!(
        err.message.contains("invalid PromQL expression"),
        "{}",
        err.message
    );
}

#[test]
fn metric_needs_threshold() {
    let err = invalid("      ttr: \"< 2s\"", "      metric: up");
    assert_eq!(err.field, "spec.hypothesis[0].threshold");
}

#[test]
fn metrics_endpoint_must_be_loopback() {
    let err = invalid(
        "    ports: [http]",
        "    ports: [http]\n    metrics: {url: \"http://192.0.2.1/metrics\"}",
    );
    assert_eq!(err.field, "spec.target.metrics.url");
}

#[test]
fn undeclared_port_rejected() {
    let err = invalid("ports: [http]", "ports: [web]");
    assert_eq!(err.field, "spec.target.args");
    assert!(err.message.contains("`${port.http}`"), "{}", err.message);
}

#[test]
fn non_loopback_probe_rejected() {
    let err = invalid(
        "http://127.0.0.1:${port.http}/healthz",
        "http://192.0.2.1/healthz",
    );
    assert_eq!(err.field, "spec.target.ready.http.url");
    assert!(
        err.message.contains("not a loopback address"),
        "{}",
        err.message
    );
}

#[test]
fn exactly_one_action() {
    let err = invalid("      signal: SIGTERM\n", "");
    assert!(err.message.contains("no fault action"), "{}", err.message);
    let err = invalid("      grace: 1s", "      grace: 1s\n      freeze: 1s");
    assert!(
        err.message.contains("both `signal` and `freeze`"),
        "{}",
        err.message
    );
}

#[test]
fn sigkill_grace_rejected() {
    let err = invalid("signal: SIGTERM", "signal: SIGKILL");
    assert_eq!(err.field, "spec.faults[0].grace");
    // The line of `grace`, not the `- name:` line of its fault.
    assert_eq!(err.line, 16);
}

#[test]
fn schedule_needs_count() {
    let err = invalid("{every: 2s, count: 3}", "{every: 2s}");
    assert_eq!(err.field, "spec.faults[0].schedule.count");
}

#[test]
fn exit_needs_graceful_fault() {
    let err = invalid("      grace: 1s\n", "");
    assert_eq!(err.field, "spec.hypothesis[1].exit");
}

#[test]
fn wrong_api_version_rejected() {
    let err = invalid("roulette-test/v1alpha1", "roulette-test/v2");
    assert_eq!(err.field, "apiVersion");
    assert_eq!(err.line, 2);
}

#[test]
fn missing_ready_named() {
    let err = invalid(
        "    ready:\n      http: {url: \"http://127.0.0.1:${port.http}/healthz\"}\n",
        "",
    );
    assert_eq!(err.field, "spec.target.ready");
    assert!(
        err.message.contains("missing field `ready`"),
        "{}",
        err.message
    );
}

#[test]
fn random_schedule_checks() {
    let schedule = "every: 2s, count: 3";
    let err = invalid(schedule, "random: {count: 0, within: 5s}");
    assert!(
        err.field.ends_with("schedule.random.count"),
        "{}",
        err.field
    );
    let err = invalid(schedule, "random: {count: 2, within: 5s}, at: [1s]");
    assert!(
        err.message.contains("cannot be combined"),
        "{}",
        err.message
    );
    let err = invalid(schedule, "random: {count: 2, within: 5s, seed: 3}");
    assert!(err.message.contains("unknown field"), "{}", err.message);
}
