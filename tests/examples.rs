//! Runs every experiment of `examples/` as a test. Two of them demonstrate
//! bugs that the harness catches, so they must fail, with their cause in
//! the report.

fn main() {
    roulette_test::harness::Harness::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples"))
        .expect_failure("stale-lock.yaml", "found stale lock")
        .expect_failure("redis-no-persistence.yaml", "lost: 200")
        .expect_failure(
            "metrics-restarts-missed.yaml",
            "restarted-three-times failed: 1 of 1 series do not meet == 3: 2",
        )
        .run()
}
