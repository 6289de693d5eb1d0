//! roulette-test turns "kill the service and see what happens" into
//! ordinary `cargo test` results.

pub mod spec;
