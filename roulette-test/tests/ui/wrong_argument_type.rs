use roulette_test::ChaosContext;

#[roulette_test::chaos_test(timeout = 30, seed = "42")]
async fn kills_the_worker(_ctx: ChaosContext) {}

fn main() {}
