//! roulette-test turns "kill the service and see what happens" into
//! ordinary `cargo test` results.

pub mod command;
pub mod fault;
pub mod harness;
pub mod hypothesis;
pub mod load;
pub mod metrics;
pub mod probe;
pub mod report;
pub mod runner;
pub mod schedule;
pub mod spec;
pub mod supervisor;
