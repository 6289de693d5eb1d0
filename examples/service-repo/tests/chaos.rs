//! Every experiment in `chaos/` is one test, named by its file.

fn main() {
    roulette_test::harness::Harness::new(concat!(env!("CARGO_MANIFEST_DIR"), "/chaos")).run()
}
