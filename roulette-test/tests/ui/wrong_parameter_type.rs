#[roulette_test::chaos_test]
async fn kills_the_worker(_ctx: String) {}

fn main() {}
