//! A stable view of a report for snapshot review. It keeps what a reviewer
//! compares between two runs of the same experiment and drops the values
//! that change on every run: PIDs, ports, temporary paths, offsets, raw
//! durations and seeds chosen at run time.

use std::time::Duration;

use serde::Serialize;

use super::{ErrorKind, Outcome, Recovery, Report, StopPath};
use crate::spec::{Check, Comparison, Dur, Experiment, Threshold, parse_duration};
use crate::supervisor::timeline::ExitStatus;

/// The stable parts of a [`Report`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnapshotReport {
    pub experiment: String,
    pub outcome: Outcome,
    /// The seed the spec sets. A seed chosen at run time is left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<SnapshotError>,
    /// The circuit breaker's reason for stopping the faults, redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aborted: Option<String>,
    /// The TTR budget that the buckets are relative to, from
    /// [`ttr_budget`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttr_budget: Option<String>,
    pub faults: Vec<SnapshotFault>,
    pub restarts: u32,
    /// The load's request and rate. Its counts and latencies vary with
    /// timing and are left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<SnapshotLoad>,
    pub verdicts: Vec<SnapshotVerdict>,
    /// The writes of `spec.writes`, as classes rather than counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writes: Option<SnapshotWrites>,
    /// Timeline event kinds in order of first appearance, each with its
    /// count when it occurred more than once, such as `spawned x6`.
    pub timeline: Vec<String>,
}

/// An experiment error: its kind and its message with paths, durations
/// and long numbers replaced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnapshotError {
    pub kind: ErrorKind,
    pub message: String,
}

/// One firing of one fault, without its offset, PID or raw durations.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnapshotFault {
    pub fault: String,
    pub occurrence: u32,
    pub action: String,
    /// The [`StopPath`] variant in snake case, such as `exited` or
    /// `escalated`.
    pub stop: String,
    /// The exit status of the main process, when the stop path has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The [`Recovery`] variant in snake case, such as `recovered`.
    pub recovery: String,
    /// The TTR bucket, for a recovered fault only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttr: Option<&'static str>,
}

/// One verdict. `measured` is kept only for `restarts` and `exit` checks,
/// whose measured values do not depend on timing once durations are
/// redacted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnapshotVerdict {
    pub name: String,
    pub check: String,
    pub holds: bool,
    pub threshold: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured: Option<String>,
}

/// The writes of a run without their counts, which depend on timing: how
/// many writes fit between two faults varies from run to run, while
/// whether any was lost does not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnapshotWrites {
    /// The driver's kind: `http`, `redis`, `postgres` or `exec`.
    pub driver: String,
    /// `none` or `some`.
    pub acknowledged: &'static str,
    /// `none`, `some` or `all` of the acknowledged writes.
    pub lost: &'static str,
    /// `none` or `some`.
    pub duplicates: &'static str,
    /// The redacted reason why the ids could not be listed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_error: Option<String>,
}

/// Classifies a count as `none` or `some`.
fn none_or_some(count: u64) -> &'static str {
    if count == 0 { "none" } else { "some" }
}

fn snapshot_writes(writes: &super::WritesReport) -> SnapshotWrites {
    let lost = match writes.lost {
        0 => "none",
        lost if lost == writes.acknowledged => "all",
        _ => "some",
    };
    SnapshotWrites {
        driver: writes
            .driver
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned(),
        acknowledged: none_or_some(writes.acknowledged),
        lost,
        duplicates: none_or_some(writes.duplicates),
        list_error: writes.list_error.as_deref().map(redact),
    }
}

/// The load of an experiment, without the host and port of its URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SnapshotLoad {
    /// The method and the path, such as `GET /work`.
    pub request: String,
    /// The target rate, such as `50/s`.
    pub rate: String,
}

/// Bucket of a TTR below a quarter of the budget.
pub const BUCKET_QUARTER: &str = "< 25% of budget";
/// Bucket of a TTR from a quarter to half of the budget.
pub const BUCKET_HALF: &str = "25-50% of budget";
/// Bucket of a TTR from half of the budget to the budget itself.
pub const BUCKET_FULL: &str = "50-100% of budget";
/// Bucket of a TTR above the budget.
pub const BUCKET_OVER: &str = "over budget";
/// Bucket of every TTR when no hypothesis sets an upper `ttr` threshold.
pub const BUCKET_NO_BUDGET: &str = "no budget";

/// Builds the stable view of `report`, which `experiment` produced.
pub fn snapshot_view(report: &Report, experiment: &Experiment) -> SnapshotReport {
    let budget = ttr_budget(experiment);
    SnapshotReport {
        experiment: report.experiment.clone(),
        outcome: report.outcome,
        seed: experiment.seed,
        error: report.error.as_ref().map(|error| SnapshotError {
            kind: error.kind,
            message: redact(&error.message),
        }),
        aborted: report.aborted.as_deref().map(redact),
        ttr_budget: budget.map(|budget| Dur(budget).to_string()),
        faults: report
            .faults
            .iter()
            .map(|fault| {
                let (stop, status) = describe_stop(&fault.stop);
                SnapshotFault {
                    fault: fault.fault.clone(),
                    occurrence: fault.occurrence,
                    action: fault.action.clone(),
                    stop: stop.to_owned(),
                    status: status.map(|status| status.to_string()),
                    recovery: recovery_kind(&fault.recovery).to_owned(),
                    ttr: fault.recovery.ttr().map(|ttr| ttr_bucket(ttr, budget)),
                }
            })
            .collect(),
        restarts: report.restarts,
        load: experiment.load.as_ref().map(snapshot_load),
        verdicts: report
            .verdicts
            .iter()
            .map(|verdict| SnapshotVerdict {
                name: verdict.name.clone(),
                check: verdict.check.clone(),
                holds: verdict.holds,
                threshold: verdict.threshold.clone(),
                measured: matches!(verdict.check.as_str(), "restarts" | "exit")
                    .then(|| redact(&verdict.measured)),
            })
            .collect(),
        writes: report.writes.as_ref().map(snapshot_writes),
        timeline: count_event_kinds(report),
    }
}

fn snapshot_load(load: &crate::spec::LoadConfig) -> SnapshotLoad {
    let path = load
        .url
        .strip_prefix("http://")
        .and_then(|rest| rest.find('/').map(|slash| &rest[slash..]))
        .unwrap_or("/");
    SnapshotLoad {
        request: format!("{} {path}", load.method),
        rate: load.rate.to_string(),
    }
}

/// Returns the budget of one recovery: the smallest upper bound (`<` or
/// `<=`) that a `ttr` hypothesis sets on every recovery or on the `max`.
/// Only when no hypothesis bounds every recovery does it fall back to the
/// smallest `p95` or `p50` bound, because those bound the distribution and
/// a single recovery may exceed them. Lower bounds are not budgets.
pub fn ttr_budget(experiment: &Experiment) -> Option<Duration> {
    let upper = |threshold: &Option<Threshold<Dur>>| {
        threshold.as_ref().and_then(|threshold| {
            matches!(threshold.op, Comparison::Less | Comparison::LessOrEqual)
                .then_some(threshold.value.0)
        })
    };
    let mut every_recovery = Vec::new();
    let mut distribution = Vec::new();
    for hypothesis in &experiment.hypotheses {
        match &hypothesis.check {
            Check::TtrEach(threshold) => every_recovery.push(upper(&Some(*threshold))),
            Check::TtrPercentiles { p50, p95, max } => {
                every_recovery.push(upper(max));
                distribution.extend([upper(p50), upper(p95)]);
            }
            _ => {}
        }
    }
    let smallest = |bounds: Vec<Option<Duration>>| bounds.into_iter().flatten().min();
    smallest(every_recovery).or_else(|| smallest(distribution))
}

/// Returns the bucket of `ttr` relative to `budget`. A TTR equal to the
/// budget is in the `50-100%` bucket.
pub fn ttr_bucket(ttr: Duration, budget: Option<Duration>) -> &'static str {
    let Some(budget) = budget else {
        return BUCKET_NO_BUDGET;
    };
    if ttr < budget / 4 {
        BUCKET_QUARTER
    } else if ttr < budget / 2 {
        BUCKET_HALF
    } else if ttr <= budget {
        BUCKET_FULL
    } else {
        BUCKET_OVER
    }
}

fn describe_stop(stop: &StopPath) -> (&'static str, Option<ExitStatus>) {
    match stop {
        StopPath::ExitedWithinGrace { status, .. } => ("exited_within_grace", Some(*status)),
        StopPath::Escalated { status, .. } => ("escalated", *status),
        StopPath::Exited { status, .. } => ("exited", Some(*status)),
        StopPath::NotAwaited => ("not_awaited", None),
        StopPath::Frozen { .. } => ("frozen", None),
        StopPath::DidNotExit => ("did_not_exit", None),
        StopPath::DescendantsExited { .. } => ("descendants_exited", None),
        StopPath::DescendantsEscalated { .. } => ("descendants_escalated", None),
        StopPath::DescendantsSignalled { .. } => ("descendants_signalled", None),
        StopPath::NotRunning => ("not_running", None),
        StopPath::SignalFailed { .. } => ("signal_failed", None),
    }
}

fn recovery_kind(recovery: &Recovery) -> &'static str {
    match recovery {
        Recovery::Recovered { .. } => "recovered",
        Recovery::NotRecovered { .. } => "not_recovered",
        Recovery::Interrupted { .. } => "interrupted",
        Recovery::NotApplicable => "not_applicable",
    }
}

/// Counts the timeline's event kinds, in order of first appearance. The
/// order of first appearances is stable across runs, while the
/// interleaving of later events (a probe's `ready` and the supervisor's
/// `restart_scheduled`, say) may vary.
fn count_event_kinds(report: &Report) -> Vec<String> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    for event in &report.timeline {
        let value = serde_json::to_value(&event.kind).expect("an event always serializes");
        let kind = value["event"].as_str().unwrap_or("unknown").to_owned();
        match counts.iter_mut().find(|(known, _)| *known == kind) {
            Some((_, count)) => *count += 1,
            None => counts.push((kind, 1)),
        }
    }
    counts
        .into_iter()
        .map(|(kind, count)| match count {
            1 => kind,
            _ => format!("{kind} x{count}"),
        })
        .collect()
}

/// Replaces the volatile words of a message: a word with a `/` becomes
/// `[path]`, a duration such as `1.874s` becomes `[duration]`, and a word
/// with a run of three or more digits (a PID, a port) becomes `[number]`.
/// Whitespace is collapsed to single spaces.
pub fn redact(message: &str) -> String {
    message
        .split_whitespace()
        .map(|word| {
            let bare = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '/' && c != '.');
            let bare = bare.trim_end_matches('.');
            if word.contains('/') {
                "[path]".to_owned()
            } else if !bare.is_empty()
                && bare.starts_with(|c: char| c.is_ascii_digit())
                && parse_duration(bare).is_ok()
            {
                word.replace(bare, "[duration]")
            } else if has_digit_run(word, 3) {
                "[number]".to_owned()
            } else {
                word.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn has_digit_run(word: &str, length: usize) -> bool {
    let mut run = 0;
    for c in word.chars() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        if run >= length {
            return true;
        }
    }
    false
}

/// Asserts that the snapshot view of `report` matches the accepted
/// snapshot `name` in the `snapshots` folder beside the spec file.
#[cfg(feature = "snapshots")]
pub fn assert_report_snapshot(name: &str, report: &Report, experiment: &Experiment) {
    assert_report_snapshot_in(
        &experiment.base_dir.join("snapshots"),
        name,
        report,
        experiment,
    );
}

/// Asserts that the snapshot view of `report` matches the accepted
/// snapshot `name` in `folder`, which insta creates when needed. A
/// mismatch or a missing snapshot panics, and outside CI insta writes the
/// new view beside it as `NAME.snap.new` for `cargo insta review`.
#[cfg(feature = "snapshots")]
pub fn assert_report_snapshot_in(
    folder: &std::path::Path,
    name: &str,
    report: &Report,
    experiment: &Experiment,
) {
    let view = snapshot_view(report, experiment);
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(folder);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_yaml_snapshot!(name, view));
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn bucket_edges() {
        let budget = Some(SECOND);
        let millis = Duration::from_millis;
        assert_eq!(ttr_bucket(millis(0), budget), BUCKET_QUARTER);
        assert_eq!(ttr_bucket(millis(249), budget), BUCKET_QUARTER);
        assert_eq!(ttr_bucket(millis(250), budget), BUCKET_HALF);
        assert_eq!(ttr_bucket(millis(499), budget), BUCKET_HALF);
        assert_eq!(ttr_bucket(millis(500), budget), BUCKET_FULL);
        assert_eq!(ttr_bucket(millis(1000), budget), BUCKET_FULL);
        assert_eq!(ttr_bucket(millis(1001), budget), BUCKET_OVER);
    }

    #[test]
    fn bucket_without_budget() {
        assert_eq!(ttr_bucket(SECOND, None), BUCKET_NO_BUDGET);
        assert_eq!(ttr_bucket(Duration::ZERO, None), BUCKET_NO_BUDGET);
    }

    #[test]
    fn budget_is_smallest_per_recovery_bound() {
        let experiment = load(&spec_with_hypotheses(
            r#"
    - name: each
      ttr: "< 2s"
    - name: distribution
      ttr: {p50: "< 800ms", p95: "<= 1500ms", max: "< 3s"}
    - name: not-a-budget
      ttr: "> 10ms"
    - name: restarts
      restarts: "== 1""#,
        ))
        .unwrap();
        assert_eq!(ttr_budget(&experiment), Some(2 * SECOND));
    }

    #[test]
    fn budget_falls_back_to_percentiles() {
        let experiment = load(&spec_with_hypotheses(
            r#"
    - name: distribution
      ttr: {p50: "< 800ms", p95: "<= 1500ms"}"#,
        ))
        .unwrap();
        assert_eq!(ttr_budget(&experiment), Some(Duration::from_millis(800)));
    }

    #[test]
    fn budget_missing_without_ttr() {
        let experiment = load(&spec_with_hypotheses(
            r#"
    - name: restarts
      restarts: "== 1""#,
        ))
        .unwrap();
        assert_eq!(ttr_budget(&experiment), None);
    }

    #[test]
    fn view_drops_volatile_values() {
        let report = super::super::sample::failed_report();
        let experiment = load(&spec_with_hypotheses(
            r#"
    - name: fast
      ttr: "< 1s""#,
        ))
        .unwrap();
        let view = snapshot_view(&report, &experiment);
        let json = serde_json::to_string(&view).unwrap();

        assert_eq!(view.seed, None, "the sample's seed was not set by the spec");
        assert!(!json.contains("8954"), "a PID is left: {json}");
        assert!(
            !json.contains("127.0.0.1"),
            "a probe address is left: {json}"
        );
        assert_eq!(view.faults[0].stop, "exited");
        assert_eq!(view.faults[0].status.as_deref(), Some("killed by SIGKILL"));
        assert_eq!(view.faults[0].ttr, Some(BUCKET_QUARTER));
    }

    #[test]
    fn writes_become_classes() {
        let mut report = super::super::sample::failed_report();
        report.writes = Some(super::super::WritesReport {
            driver: String::from("redis 127.0.0.1:41234 list `roulette:writes`"),
            attempted: 212,
            acknowledged: 200,
            unacknowledged: 12,
            present: 150,
            lost: 50,
            ..Default::default()
        });
        let experiment = load(&spec_with_hypotheses(
            r#"
    - name: fast
      ttr: "< 1s""#,
        ))
        .unwrap();
        let view = snapshot_view(&report, &experiment);
        let writes = view.writes.expect("a writes view");
        assert_eq!(writes.driver, "redis");
        assert_eq!(writes.acknowledged, "some");
        assert_eq!(writes.lost, "some");
        assert_eq!(writes.duplicates, "none");
        let json = serde_json::to_string(&writes).unwrap();
        assert!(!json.contains("212"), "a count is left: {json}");
        assert!(!json.contains("41234"), "a port is left: {json}");

        let writes = report.writes.as_mut().unwrap();
        writes.lost = 200;
        assert_eq!(
            snapshot_view(&report, &experiment).writes.unwrap().lost,
            "all"
        );
        report.writes = None;
        assert_eq!(snapshot_view(&report, &experiment).writes, None);
    }

    #[test]
    fn redact_replaces_volatile_words() {
        assert_eq!(
            redact("`/tmp/roulette-quickstart-x1/jobs.log` is missing"),
            "[path] is missing"
        );
        assert_eq!(
            redact("pid 12345 ran past 1.874s."),
            "pid [number] ran past [duration]."
        );
        assert_eq!(
            redact("exited after 5ms (exit code 0)"),
            "exited after [duration] (exit code 0)"
        );
        assert_eq!(redact("port 8080 in use"), "port [number] in use");
    }

    fn load(text: &str) -> Result<Experiment, crate::spec::SpecError> {
        crate::spec::load_str(text, None, std::path::Path::new("."))
    }

    fn spec_with_hypotheses(hypotheses: &str) -> String {
        format!(
            r#"apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata:
  name: sample
spec:
  target:
    command: sleep
    args: ["${{port.http}}"]
    ports: [http]
    ready:
      http: {{url: "http://127.0.0.1:${{port.http}}/healthz"}}
  faults:
    - name: kill
      signal: SIGKILL
      schedule: {{every: 2s, count: 3}}
  hypothesis:{hypotheses}
"#
        )
    }
}
