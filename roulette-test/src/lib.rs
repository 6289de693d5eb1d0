//! roulette-test turns "kill the service and see what happens" into
//! ordinary `cargo test` results.

pub mod builder;
pub mod chaos;
pub mod command;
pub mod fault;
pub mod harness;
pub mod hypothesis;
pub mod kill_schedule;
pub mod load;
pub mod metrics;
pub mod probe;
pub mod report;
pub mod runner;
pub mod schedule;
pub mod spec;
pub mod supervisor;
pub mod writes;

pub use chaos::ChaosContext;
/// Turns `async fn NAME(ctx: ChaosContext)` into an ordinary `#[test] fn
/// NAME()`, so name filters, `--exact`, IDE run buttons and
/// `cargo nextest` treat it as any other test.
///
/// Arguments, all optional:
///
/// | argument | meaning |
/// | --- | --- |
/// | `spec = "chaos/kill.yaml"` | run that experiment file (relative to the package's `Cargo.toml`) first; it must pass, and [`ChaosContext::report`] holds its report |
/// | `timeout = "30s"` | fail the test when it runs longer |
/// | `seed = 42` | the seed of every random choice, for the spec and [`ChaosContext::run`] |
/// | `flavor = "current_thread"` or `"multi_thread"` | the tokio runtime of the test (`current_thread` by default) |
///
/// A wrong argument is a compile error at that argument. See
/// [`chaos`] for examples.
pub use roulette_macros::chaos_test;
