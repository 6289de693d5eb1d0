use roulette_test::ChaosContext;

#[roulette_test::chaos_test]
fn kills_the_worker(_ctx: ChaosContext) {}

fn main() {}
