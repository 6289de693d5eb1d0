//! Readiness probes: HTTP, TCP, log line and command.
//!
//! A probe is polled: one attempt every `interval`, each attempt with its
//! own time limit, because a frozen server accepts TCP connections and
//! never answers. The interval therefore bounds how precisely a recovery
//! can be timed, and reports state it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use regex::Regex;

use crate::command;
use crate::supervisor::logs::LogBuffer;
use crate::supervisor::{Halt, Supervisor};

/// A probe with every placeholder expanded.
#[derive(Clone, Debug)]
pub enum ProbeTarget {
    Http { url: String, status: u16 },
    Tcp(String),
    Log(Regex),
    Exec(Vec<String>),
}

impl ProbeTarget {
    /// The probe in a few words, for reports.
    pub fn describe(&self) -> String {
        match self {
            ProbeTarget::Http { url, status } => format!("http GET {url} == {status}"),
            ProbeTarget::Tcp(address) => format!("tcp connect {address}"),
            ProbeTarget::Log(regex) => format!("log line matching /{}/", regex.as_str()),
            ProbeTarget::Exec(argv) => format!("exec {}", argv.join(" ")),
        }
    }
}

/// The result of one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    Pass,
    Fail(String),
}

/// A readiness probe bound to one experiment.
pub struct Probe {
    /// The experiment's marker for `exec` probes; see [`command::run_marked`].
    marker: Option<String>,
    target: ProbeTarget,
    attempt_timeout: Duration,
    interval: Duration,
    http: reqwest::Client,
    logs: Arc<LogBuffer>,
    cwd: PathBuf,
}

/// How a wait for readiness ended.
#[derive(Clone, Debug)]
pub enum ReadyOutcome {
    /// A probe passed against `incarnation`, at the end of that attempt.
    Ready { incarnation: u32, at: Instant },
    /// The deadline passed first. `last_failure` is the last failed
    /// attempt's reason, if any attempt ran.
    TimedOut { last_failure: Option<String> },
    /// The supervisor will start no new incarnation.
    Halted(Halt),
}

impl Probe {
    pub fn new(
        target: ProbeTarget,
        interval: Duration,
        attempt_timeout: Duration,
        logs: Arc<LogBuffer>,
        cwd: PathBuf,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(attempt_timeout)
            // Each attempt opens a new connection, as a new client would:
            // a pooled connection to a killed incarnation proves nothing.
            .pool_max_idle_per_host(0)
            .no_proxy()
            // A redirect could lead the probe off this machine, and a 3xx
            // is not the status the spec asks for.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client without TLS or proxies builds");
        Probe {
            marker: None,
            target,
            attempt_timeout,
            interval,
            http,
            logs,
            cwd,
        }
    }

    /// Gives `exec` probes the experiment's marker, so that teardown kills
    /// anything they leave running.
    pub fn with_marker(mut self, marker: &str) -> Self {
        self.marker = Some(marker.to_owned());
        self
    }

    /// The probe in a few words, for reports.
    pub fn describe(&self) -> String {
        self.target.describe()
    }

    /// The polling interval, which bounds the precision of recovery times.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Makes one attempt against `incarnation`.
    pub async fn attempt(&self, incarnation: u32) -> Attempt {
        match &self.target {
            ProbeTarget::Http { url, status } => match self.http.get(url).send().await {
                Ok(response) if response.status().as_u16() == *status => Attempt::Pass,
                Ok(response) => Attempt::Fail(format!(
                    "GET {url} answered {}, expected {status}",
                    response.status().as_u16()
                )),
                Err(err) if err.is_timeout() => Attempt::Fail(format!(
                    "GET {url} timed out after {}",
                    crate::spec::format_duration(self.attempt_timeout)
                )),
                Err(err) => Attempt::Fail(format!("GET {url} failed: {}", error_chain(&err))),
            },
            ProbeTarget::Tcp(address) => match tokio::time::timeout(
                self.attempt_timeout,
                tokio::net::TcpStream::connect(address),
            )
            .await
            {
                Ok(Ok(_)) => Attempt::Pass,
                Ok(Err(err)) => Attempt::Fail(format!("connect to {address} failed: {err}")),
                Err(_) => Attempt::Fail(format!("connect to {address} timed out")),
            },
            ProbeTarget::Log(regex) => {
                if self.logs.contains_match(incarnation, regex) {
                    Attempt::Pass
                } else {
                    Attempt::Fail(format!(
                        "incarnation #{incarnation} printed no line matching /{}/",
                        regex.as_str()
                    ))
                }
            }
            ProbeTarget::Exec(argv) => {
                match command::run_marked(
                    argv,
                    &self.cwd,
                    self.attempt_timeout,
                    self.marker.as_deref(),
                )
                .await
                {
                    Ok(output) if output.success() => Attempt::Pass,
                    Ok(output) => {
                        let last = output.tail(1).pop().unwrap_or_default();
                        Attempt::Fail(
                            format!(
                                "`{}`: {} {last}",
                                argv.join(" "),
                                output.describe(self.attempt_timeout)
                            )
                            .trim_end()
                            .to_owned(),
                        )
                    }
                    Err(err) => Attempt::Fail(err.to_string()),
                }
            }
        }
    }

    /// Polls until a probe passes against an incarnation numbered
    /// `min_incarnation` or later that is still running when the attempt
    /// ends, or until `deadline`.
    pub async fn wait_ready(
        &self,
        supervisor: &Supervisor,
        min_incarnation: u32,
        deadline: Instant,
    ) -> ReadyOutcome {
        let mut last_failure = None;
        let mut changes = supervisor.subscribe();
        let is_log_probe = matches!(self.target, ProbeTarget::Log(_));
        loop {
            let round = Instant::now();
            changes.mark_unchanged();
            // Registered before the attempt reads the buffer, so a line
            // printed during the attempt still wakes the next one.
            let appended = self.logs.appended();
            tokio::pin!(appended);
            appended.as_mut().enable();
            let state = supervisor.state();
            let waiting_for_spawn =
                !matches!(state.running, Some(spawn) if spawn.incarnation >= min_incarnation);
            match state.running {
                Some(spawn) if spawn.incarnation >= min_incarnation => {
                    let attempt = self.attempt(spawn.incarnation).await;
                    let at = Instant::now();
                    // A pass counts only if the same incarnation is still
                    // running: an answer from a process that died during
                    // the attempt is no recovery.
                    let still_running = supervisor
                        .state()
                        .running
                        .is_some_and(|now| now.incarnation == spawn.incarnation);
                    match attempt {
                        Attempt::Pass if still_running => {
                            return ReadyOutcome::Ready {
                                incarnation: spawn.incarnation,
                                at,
                            };
                        }
                        Attempt::Pass => {
                            last_failure = Some(format!(
                                "incarnation #{} exited during the probe",
                                spawn.incarnation
                            ))
                        }
                        Attempt::Fail(reason) => last_failure = Some(reason),
                    }
                }
                _ => {
                    if let Some(halt) = state.halted {
                        return ReadyOutcome::Halted(halt);
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return ReadyOutcome::TimedOut { last_failure };
            }
            // Attempts start at a fixed rate, one `interval` after the
            // previous start, so a slow attempt does not stretch the gap.
            // While no incarnation to probe runs, a spawn wakes the loop
            // at once instead of at the next interval.
            // A log probe is woken by the next line instead, since only a
            // new line can make it pass.
            let next = (round + self.interval).min(deadline);
            if waiting_for_spawn {
                let _ = tokio::time::timeout_at(next.into(), changes.changed()).await;
            } else if is_log_probe {
                let _ = tokio::time::timeout_at(next.into(), appended).await;
            } else {
                sleep_until_precisely(next).await;
            }
        }
    }
}

/// Sleeps until `at` to within a few tens of microseconds. tokio's timers
/// fire on whole milliseconds, which would start each attempt up to 1 ms
/// late and widen the bound on a recovery time by as much. The last
/// millisecond is slept on a blocking-pool thread instead.
async fn sleep_until_precisely(at: Instant) {
    if let Some(coarse) = at.checked_sub(Duration::from_millis(1)) {
        tokio::time::sleep_until(coarse.into()).await;
    }
    let remaining = at.saturating_duration_since(Instant::now());
    if !remaining.is_zero() {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(remaining)).await;
    }
}

/// Joins an error and its sources into one line, as `a: b: c`.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves one connection on 127.0.0.1 with `response` and returns the
    /// URL.
    async fn serve_once(response: &'static [u8]) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0; 1024];
            let _ = stream.read(&mut request).await;
            stream.write_all(response).await.unwrap();
        });
        format!("http://{address}/healthz")
    }

    fn http_probe(url: String) -> Probe {
        Probe::new(
            ProbeTarget::Http { url, status: 200 },
            Duration::from_millis(5),
            Duration::from_secs(5),
            Arc::new(LogBuffer::new(16)),
            PathBuf::from("."),
        )
    }

    #[tokio::test]
    async fn http_probe_passes_on_status() {
        let url = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        assert_eq!(http_probe(url).attempt(1).await, Attempt::Pass);
    }

    #[tokio::test]
    async fn http_probe_does_not_follow_redirect() {
        // The target of the redirect answers 200, so following it would pass.
        let target = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        let response =
            format!("HTTP/1.1 302 Found\r\nlocation: {target}\r\ncontent-length: 0\r\n\r\n");
        let url = serve_once(Box::leak(response.into_bytes().into_boxed_slice())).await;
        let attempt = http_probe(url.clone()).attempt(1).await;
        assert_eq!(
            attempt,
            Attempt::Fail(format!("GET {url} answered 302, expected 200"))
        );
    }
}
