//! Runs every experiment of `tests/cases/` as a test. Some cases show a
//! failure that the harness must report, so they must fail with their
//! cause in the report.
//!
//! The report lists one line per failed hypothesis, in the order of the
//! case, and then a blank line and the `timeline:` header. Each expected
//! text ends with that blank line and header, and each case lists its
//! failing hypothesis first, so a match also shows that every other
//! hypothesis holds. A case with `spec.writes` prints its writes between
//! the hypotheses and the timeline, so its expected text stops earlier.

/// The `exit` hypothesis of `ignored-sigterm.yaml`, which is its only
/// failure: the worker ignores SIGTERM and needs SIGKILL.
const IGNORED_SIGTERM: &str =
    "was still alive when its grace period of 300ms ended and needed SIGKILL\n\ntimeline:";

/// The `ttr` hypothesis of `on-failure.yaml`, which is its only failure:
/// a clean exit is not restarted under `restart: on-failure`.
const ON_FAILURE: &str = "the supervisor stopped restarting the target: restart policy `on-failure`; incarnation #1 exited successfully\n\ntimeline:";

/// The `writes` hypothesis of `writes-exec-lost.yaml`: its store empties
/// itself at each start and stores some ids twice. The lost count
/// depends on timing, so the match starts after it.
const WRITES_EXEC_LOST: &str =
    "acknowledged write(s) lost, which does not meet lost == 0; first lost: ";

fn main() {
    roulette_test::harness::Harness::new(concat!(env!("CARGO_MANIFEST_DIR"), "/cases"))
        .expect_failure("ignored-sigterm.yaml", IGNORED_SIGTERM)
        .expect_failure("on-failure.yaml", ON_FAILURE)
        .expect_failure(
            "crash-loop.yaml",
            "the supervisor stopped restarting a crash-looping target: incarnation #4 ended after 3 restart(s) within 30s",
        )
        .expect_failure("writes-exec-lost.yaml", WRITES_EXEC_LOST)
        .expect_failure(
            "ledger-double-kill.yaml",
            "journal lost records: 0 of 100 left",
        )
        .expect_failure(
            "unmatched-process-target.yaml",
            "the fault reached no process: no descendant of the target matches `^slep`",
        )
        .run()
}
