//! The `load` block: HTTP requests at a fixed rate from the end of `setup`
//! to the end of the settle period, and the values it needs (rates,
//! phases). The checked form is [`LoadConfig`].

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_saphyr::Spanned;

use super::Dur;

/// The highest request rate a `load` block may ask for, per second. The
/// harness and the target share one machine, so a rate far above what it
/// can serve only measures the harness.
pub const MAX_RATE: f64 = 10_000.0;

/// The highest `max_in_flight`, because each request in flight uses a socket.
pub const MAX_IN_FLIGHT: u32 = 1024;

/// The maximum per-request `timeout`.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// HTTP methods a load block may send.
const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/// The `load` block as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    pub http: Spanned<HttpLoadSpec>,
}

/// HTTP requests at a fixed rate, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpLoadSpec {
    pub url: String,
    #[serde(default = "HttpLoadSpec::default_method")]
    pub method: String,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The expected status; without it, any 2xx status is a success.
    #[serde(default)]
    pub status: Option<u16>,
    pub rate: Spanned<Rate>,
    #[serde(default = "HttpLoadSpec::default_timeout")]
    pub timeout: Dur,
    #[serde(default = "HttpLoadSpec::default_max_in_flight")]
    pub max_in_flight: u32,
}

impl HttpLoadSpec {
    fn default_method() -> String {
        String::from("GET")
    }
    fn default_timeout() -> Dur {
        Dur::from_secs(2)
    }
    fn default_max_in_flight() -> u32 {
        256
    }
}

/// The checked `load` block, with placeholders not yet expanded.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    pub url: String,
    pub method: String,
    pub body: Option<String>,
    pub headers: BTreeMap<String, String>,
    /// The expected status; `None` accepts any 2xx status.
    pub status: Option<u16>,
    pub rate: Rate,
    /// The time limit of one request, counted from its intended send time.
    pub timeout: Dur,
    /// Requests in flight at once. A request that finds no free slot
    /// within its timeout is counted as not sent.
    pub max_in_flight: u32,
}

impl LoadConfig {
    /// Describes the load in a few words, for reports and plans.
    pub fn describe(&self) -> String {
        format!("http {} {} at {}", self.method, self.url, self.rate)
    }
}

/// Checks the values of a `load` block that serde cannot check. An error
/// returns the field name under `spec.load.http` and the message.
pub(super) fn check_http_load(spec: &HttpLoadSpec) -> Result<(), (&'static str, String)> {
    if spec.rate.value.per_second > MAX_RATE {
        return Err((
            "rate",
            format!(
                "rate {} is above the limit of {}/s; the harness and the target share this machine, so lower the rate",
                spec.rate.value, MAX_RATE
            ),
        ));
    }
    if !METHODS.contains(&spec.method.as_str()) {
        return Err((
            "method",
            format!(
                "unknown method `{}`; write one of {} in upper case",
                spec.method,
                METHODS.join(", ")
            ),
        ));
    }
    if let Some(status) = spec.status
        && !(100..=599).contains(&status)
    {
        return Err((
            "status",
            format!("status {status} is not an HTTP status; write a code from 100 to 599"),
        ));
    }
    if spec.timeout.0.is_zero() || spec.timeout.0 > MAX_TIMEOUT {
        return Err((
            "timeout",
            format!(
                "timeout {} is out of range; set it above zero and at most {}",
                spec.timeout,
                Dur(MAX_TIMEOUT)
            ),
        ));
    }
    if spec.max_in_flight == 0 || spec.max_in_flight > MAX_IN_FLIGHT {
        return Err((
            "max_in_flight",
            format!(
                "max_in_flight {} is out of range; set it from 1 to {MAX_IN_FLIGHT}",
                spec.max_in_flight
            ),
        ));
    }
    for (name, value) in &spec.headers {
        if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err((
                "headers",
                format!("`{name}` is not a valid header name; use letters, digits and `-`"),
            ));
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            return Err((
                "headers",
                format!(
                    "the value of header `{name}` is not valid; use visible ASCII characters and no line breaks"
                ),
            ));
        }
    }
    Ok(())
}

/// A request rate written as `N/s`, such as `50/s` or `0.5/s`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub per_second: f64,
}

impl Rate {
    /// Parses `text`, such as `50/s` or `0.5/s`. Errors show `example` as
    /// the form to write, so each block can use a rate that fits it.
    pub fn parse_with_example(text: &str, example: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let Some(number) = trimmed.strip_suffix("/s") else {
            return Err(format!(
                "invalid rate `{trimmed}`: write a number per second with the `/s` unit, such as `{example}`"
            ));
        };
        let per_second: f64 = number.trim().parse().map_err(|_| {
            format!(
                "invalid rate `{trimmed}`: `{number}` is not a number; write it like `{example}`"
            )
        })?;
        if !(per_second.is_finite() && per_second > 0.0) {
            return Err(format!(
                "invalid rate `{trimmed}`: the rate must be above zero, such as `{example}`"
            ));
        }
        Ok(Rate { per_second })
    }

    /// Returns the time between two requests.
    pub fn interval(self) -> Duration {
        Duration::from_secs_f64(1.0 / self.per_second)
    }
}

impl FromStr for Rate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Rate::parse_with_example(text, "50/s")
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s", self.per_second)
    }
}

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RateVisitor;

        impl de::Visitor<'_> for RateVisitor {
            type Value = Rate;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a rate such as `50/s`")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Rate, E> {
                value.parse().map_err(E::custom)
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Rate, E> {
                Err(E::custom(format!(
                    "invalid rate `{value}`: a bare number has no unit; write `{value}/s`"
                )))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Rate, E> {
                Err(E::custom(format!(
                    "invalid rate `{value}`: a bare number has no unit; write `{value}/s`"
                )))
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Rate, E> {
                Err(E::custom(format!(
                    "invalid rate `{value}`: a bare number has no unit; write `{value}/s`"
                )))
            }
        }

        deserializer.deserialize_any(RateVisitor)
    }
}

impl Serialize for Rate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The part of the load window that an `error_rate` or `latency` check
/// looks at. A request that was in flight during a recovery belongs to
/// `recovery`; any other belongs to the phase of its intended send time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadPhase {
    /// The whole load window.
    #[default]
    All,
    /// From the start of the load to the first fault.
    Before,
    /// From a fault's first signal until the target is ready again.
    Recovery,
    /// After a recovery and before the next fault.
    Between,
    /// After the last recovery, to the end of the settle period.
    After,
}

impl LoadPhase {
    /// Every phase, `all` first.
    pub const EVERY: [LoadPhase; 5] = [
        LoadPhase::All,
        LoadPhase::Before,
        LoadPhase::Recovery,
        LoadPhase::Between,
        LoadPhase::After,
    ];

    /// Returns the phase as written in a spec.
    pub fn as_str(self) -> &'static str {
        match self {
            LoadPhase::All => "all",
            LoadPhase::Before => "before",
            LoadPhase::Recovery => "recovery",
            LoadPhase::Between => "between",
            LoadPhase::After => "after",
        }
    }
}

impl fmt::Display for LoadPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Thresholds on latency percentiles of the load, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySpec {
    #[serde(default)]
    pub p50: Option<super::Threshold<Dur>>,
    #[serde(default)]
    pub p95: Option<super::Threshold<Dur>>,
    #[serde(default)]
    pub p99: Option<super::Threshold<Dur>>,
    #[serde(default)]
    pub max: Option<super::Threshold<Dur>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_parses_per_second() {
        assert_eq!("50/s".parse::<Rate>().unwrap().per_second, 50.0);
        assert_eq!("0.5/s".parse::<Rate>().unwrap().per_second, 0.5);
        assert_eq!(
            "50/s".parse::<Rate>().unwrap().interval(),
            Duration::from_millis(20)
        );
    }

    #[test]
    fn rate_without_unit_rejected() {
        let err = "50".parse::<Rate>().unwrap_err();
        assert!(err.contains("`50/s`"), "{err}");
        let err = "50/m".parse::<Rate>().unwrap_err();
        assert!(err.contains("`/s` unit"), "{err}");
        let err = "fast/s".parse::<Rate>().unwrap_err();
        assert!(err.contains("not a number"), "{err}");
        let err = "0/s".parse::<Rate>().unwrap_err();
        assert!(err.contains("above zero"), "{err}");
    }
}

#[cfg(test)]
mod spec_tests {
    use crate::spec::test_support::{invalid_change, load};
    use crate::spec::{Check, LoadPhase};

    const WITH_LOAD: &str = r#"
apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata:
  name: t
spec:
  target:
    command: sleep
    args: ["${port.http}"]
    ports: [http]
    ready:
      http: {url: "http://127.0.0.1:${port.http}/healthz"}
  faults:
    - name: kill
      signal: SIGKILL
      schedule: {every: 2s, count: 3}
  load:
    http:
      url: "http://127.0.0.1:${port.http}/work"
      rate: 50/s
  hypothesis:
    - name: few-errors
      error_rate: "< 0.5%"
    - name: tail
      latency: {p99: "< 200ms", max: "< 1s"}
      phase: recovery
"#;

    /// Replaces `from` in the spec with load and returns the field and
    /// message of the error.
    fn invalid(from: &str, to: &str) -> (String, String) {
        let invalid = invalid_change(WITH_LOAD, from, to);
        (invalid.field, invalid.message)
    }

    #[test]
    fn load_block_loads() {
        let experiment = load(WITH_LOAD).unwrap();
        let config = experiment.load.unwrap();
        assert_eq!(config.rate.per_second, 50.0);
        assert_eq!(config.method, "GET");
        assert_eq!(config.status, None);
        assert_eq!(config.timeout, super::Dur::from_secs(2));
        assert!(matches!(
            experiment.hypotheses[0].check,
            Check::ErrorRate {
                phase: LoadPhase::All,
                ..
            }
        ));
        assert!(matches!(
            experiment.hypotheses[1].check,
            Check::Latency {
                phase: LoadPhase::Recovery,
                p50: None,
                ..
            }
        ));
    }

    #[test]
    fn rate_above_ceiling_rejected() {
        let (field, message) = invalid("rate: 50/s", "rate: 20000/s");
        assert_eq!(field, "spec.load.http.rate");
        assert!(message.contains("above the limit of 10000/s"), "{message}");
    }

    #[test]
    fn bad_rate_syntax_rejected() {
        let (field, message) = invalid("rate: 50/s", "rate: 50");
        assert_eq!(field, "spec.load.http.rate");
        assert!(message.contains("write `50/s`"), "{message}");
        let (field, message) = invalid("rate: 50/s", "rate: 50 per second");
        assert_eq!(field, "spec.load.http.rate");
        assert!(message.contains("`/s` unit"), "{message}");
    }

    #[test]
    fn non_loopback_load_url_rejected() {
        let (field, message) = invalid(
            "http://127.0.0.1:${port.http}/work",
            "http://host.invalid/work",
        );
        assert_eq!(field, "spec.load.http.url");
        assert!(message.contains("not a loopback address"), "{message}");
        assert!(message.contains("127.0.0.1, ::1 or localhost"), "{message}");
        let (field, message) = invalid(
            "http://127.0.0.1:${port.http}/work",
            "http://127.0.0.1@host.invalid/work",
        );
        assert_eq!(field, "spec.load.http.url");
        assert!(message.contains("load URL"), "{message}");
    }

    #[test]
    fn error_rate_without_load_rejected() {
        let text = WITH_LOAD.replacen(
            "  load:\n    http:\n      url: \"http://127.0.0.1:${port.http}/work\"\n      rate: 50/s\n",
            "",
            1,
        );
        let err = load(&text).expect_err("no load block");
        let invalid = err.invalid().unwrap();
        assert_eq!(invalid.field, "spec.hypothesis[0].error_rate");
        assert!(
            invalid.message.contains("add `spec.load`"),
            "{}",
            invalid.message
        );
    }

    #[test]
    fn phase_needs_load_check() {
        let (field, message) = invalid(
            "      error_rate: \"< 0.5%\"",
            "      ttr: \"< 1s\"\n      phase: before",
        );
        assert_eq!(field, "spec.hypothesis[0].phase");
        assert!(message.contains("remove it"), "{message}");
    }

    #[test]
    fn unknown_phase_rejected() {
        let (field, message) = invalid("phase: recovery", "phase: during");
        assert_eq!(field, "spec.hypothesis[1].phase");
        assert!(message.contains("recovery"), "{message}");
    }

    #[test]
    fn load_values_checked() {
        let (field, _) = invalid("rate: 50/s", "rate: 50/s\n      method: FETCH");
        assert_eq!(field, "spec.load.http.method");
        let (field, _) = invalid("rate: 50/s", "rate: 50/s\n      max_in_flight: 0");
        assert_eq!(field, "spec.load.http.max_in_flight");
        let (field, _) = invalid("rate: 50/s", "rate: 50/s\n      timeout: 0ms");
        assert_eq!(field, "spec.load.http.timeout");
        let (field, _) = invalid("rate: 50/s", "rate: 50/s\n      rat: 1/s");
        assert_eq!(field, "spec.load.http.rat");
        let (field, message) = invalid("error_rate: \"< 0.5%\"", "error_rate: \"< 5\"");
        assert_eq!(field, "spec.hypothesis[0].error_rate");
        assert!(message.contains("percentage"), "{message}");
    }
}
