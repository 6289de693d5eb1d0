//! Chaos tests written as Rust functions with `#[chaos_test]`.

use std::time::Duration;

use roulette_test::ChaosContext;
use roulette_test::builder::{ExperimentBuilder, FaultBuilder, Ready, Verify};

/// The YAML case run as an ordinary test, with a check of its report.
#[roulette_test::chaos_test(spec = "chaos/sigkill.yaml", timeout = "60s", seed = 1)]
async fn sigkill_keeps_the_count(ctx: ChaosContext) {
    let report = ctx.report().expect("the spec ran");
    assert_eq!(report.restarts, 3);
}

/// A step-by-step test: add, kill, and read the count back.
#[roulette_test::chaos_test(timeout = "60s")]
async fn count_survives_a_kill_between_additions(ctx: ChaosContext) {
    let experiment = ExperimentBuilder::new("tally-step-by-step")
        .base_dir(env!("CARGO_MANIFEST_DIR"))
        .cargo_bin("tally")
        .args(["--port", "${port.http}", "--state", "${tmp}/count"])
        .port("http")
        .ready(Ready::http("http://127.0.0.1:${port.http}/healthz").interval("5ms"))
        .fault(FaultBuilder::signal("kill", "SIGKILL").at(["0s"]))
        .hypothesis("restarted", Verify::restarts("== 1"))
        .build()
        .expect("a valid experiment");
    let mut session = ctx.start(&experiment).await.expect("tally starts");
    session
        .wait_ready(Duration::from_secs(10))
        .await
        .expect("tally is ready");
    let port = session.port("http").expect("the port");
    for _ in 0..5 {
        request(port, "POST /add");
    }
    let injection = session.inject("kill").await.expect("the kill lands");
    session
        .wait_recovered(&injection, Duration::from_secs(10))
        .await
        .expect("tally recovers");
    assert_eq!(request(port, "GET /count"), "5");
    session.stop().await;
}

/// Sends one request to tally and returns the body of the response.
fn request(port: u16, line: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("tally accepts");
    write!(stream, "{line} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").expect("the request is sent");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("tally answers");
    answer
        .split("\r\n\r\n")
        .nth(1)
        .unwrap_or_default()
        .trim()
        .to_owned()
}
