//! The snapshot view of a report must not change between runs of the same
//! experiment, or snapshot review would flag every run, and it must change
//! when the experiment's behaviour does.

use std::path::Path;

use roulette_test::report::snapshot_view;
use roulette_test::{runner, spec};

const RUNS: usize = 20;

#[test]
fn quickstart_view_is_stable() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart.yaml");
    let experiment = spec::load_file(&file).expect("examples/quickstart.yaml loads");

    let mut first: Option<String> = None;
    for run in 1..=RUNS {
        let report = runner::run_blocking(&experiment);
        let view = serde_json::to_string_pretty(&snapshot_view(&report, &experiment))
            .expect("a snapshot view serializes");
        match &first {
            None => first = Some(view),
            Some(first) => assert_eq!(
                &view, first,
                "run {run} of {RUNS} produced a different snapshot view than run 1"
            ),
        }
    }
}

#[test]
fn view_changes_with_fault_count() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/quickstart.yaml");
    let experiment = spec::load_file(&file).expect("examples/quickstart.yaml loads");
    let mut fewer = experiment.clone();
    let dropped = fewer.faults[0].offsets.pop();
    assert!(
        dropped.is_some(),
        "the quickstart fires its fault at least once"
    );

    let view_of = |experiment: &spec::Experiment| {
        let report = runner::run_blocking(experiment);
        snapshot_view(&report, experiment)
    };
    let full = view_of(&experiment);
    let reduced = view_of(&fewer);

    assert_eq!(full.faults.len(), 5);
    assert_eq!(reduced.faults.len(), 4);
    assert_ne!(
        serde_json::to_string_pretty(&full).unwrap(),
        serde_json::to_string_pretty(&reduced).unwrap(),
        "one fault firing fewer must change the snapshot view"
    );
}
