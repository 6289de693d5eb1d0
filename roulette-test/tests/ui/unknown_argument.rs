use roulette_test::ChaosContext;

#[roulette_test::chaos_test(seed = 1, retries = 3)]
async fn kills_the_worker(_ctx: ChaosContext) {}

fn main() {}
