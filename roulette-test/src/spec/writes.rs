//! The `spec.writes` block: uniquely identified writes issued while the
//! faults fire, and the store they go to. The checked form is
//! [`WritesConfig`]; the `writes` hypothesis judges what the store kept.

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::Dur;
use super::check::{Checker, check_writes_host, check_writes_url};
use super::load::SpecError;

/// The highest write rate accepted, in writes per second. The writer
/// issues one write at a time, so a store this fast is rare anyway.
pub const MAX_WRITE_RATE: f64 = 1000.0;

/// The highest `count` accepted: the writer keeps every id in memory.
pub const MAX_WRITE_COUNT: u64 = 100_000;

/// `spec.writes` as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WritesSpec {
    #[serde(default)]
    pub http: Option<HttpWritesSpec>,
    #[serde(default)]
    pub redis: Option<RedisWritesSpec>,
    #[serde(default)]
    pub postgres: Option<PostgresWritesSpec>,
    #[serde(default)]
    pub exec: Option<ExecWritesSpec>,
    /// Writes per second, such as `20/s`.
    #[serde(default)]
    pub rate: Option<String>,
    /// The maximum number of writes.
    #[serde(default = "WritesSpec::default_count")]
    pub count: u64,
    /// The time limit of one write.
    #[serde(default = "WritesSpec::default_timeout")]
    pub timeout: Dur,
    /// The time limit of the list that reads the ids back.
    #[serde(default = "WritesSpec::default_list_timeout")]
    pub list_timeout: Dur,
}

impl WritesSpec {
    fn default_count() -> u64 {
        10_000
    }
    fn default_timeout() -> Dur {
        Dur::from_secs(1)
    }
    fn default_list_timeout() -> Dur {
        Dur::from_secs(30)
    }
}

/// A POST of the id per write, a GET that lists ids one a line.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpWritesSpec {
    pub url: String,
    /// Where the GET goes; `url` when not set.
    #[serde(default)]
    pub list_url: Option<String>,
}

/// An `RPUSH` of the id per write, an `LRANGE` that lists them.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisWritesSpec {
    pub address: String,
    #[serde(default = "RedisWritesSpec::default_key")]
    pub key: String,
}

impl RedisWritesSpec {
    fn default_key() -> String {
        String::from("roulette:writes")
    }
}

/// An `INSERT` of the id per write, a `SELECT` that lists them.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresWritesSpec {
    pub address: String,
    #[serde(default = "PostgresWritesSpec::default_name")]
    pub user: String,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default = "PostgresWritesSpec::default_name")]
    pub database: String,
    #[serde(default = "PostgresWritesSpec::default_table")]
    pub table: String,
}

impl PostgresWritesSpec {
    fn default_name() -> String {
        String::from("postgres")
    }
    fn default_table() -> String {
        String::from("roulette_writes")
    }
}

/// A command per write, with the id as its last argument, and a command
/// that prints the stored ids one a line.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecWritesSpec {
    pub write: Vec<String>,
    pub list: Vec<String>,
}

/// The checked `spec.writes`, with placeholders not yet expanded.
#[derive(Clone, Debug)]
pub struct WritesConfig {
    pub driver: WriteDriver,
    /// Writes per second.
    pub rate: f64,
    pub count: u64,
    pub timeout: Dur,
    pub list_timeout: Dur,
}

/// Where the writes go and how they are listed.
#[derive(Clone, Debug)]
pub enum WriteDriver {
    Http {
        url: String,
        list_url: String,
    },
    Redis {
        address: String,
        key: String,
    },
    Postgres {
        address: String,
        user: String,
        password: Option<String>,
        database: String,
        table: String,
    },
    Exec {
        write: Vec<String>,
        list: Vec<String>,
    },
}

/// Thresholds of a `writes` hypothesis, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WritesCheckSpec {
    #[serde(default)]
    pub lost: Option<super::Threshold<u64>>,
    #[serde(default)]
    pub duplicates: Option<super::Threshold<u64>>,
    #[serde(default)]
    pub acknowledged: Option<super::Threshold<u64>>,
}

/// Parses a rate such as `20/s` or `0.5/s` into writes per second.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    let rate = super::Rate::parse_with_example(text, "20/s")?.per_second;
    if rate > MAX_WRITE_RATE {
        return Err(format!(
            "rate `{text}` is above the limit of {MAX_WRITE_RATE}/s; lower it"
        ));
    }
    Ok(rate)
}

/// Returns whether `name` is a plain SQL identifier, which needs no quoting.
fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 63
}

/// Checks that `address` is `HOST:PORT` with a loopback host.
fn check_address(address: &str) -> Result<(), String> {
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err(format!(
            "address `{address}` has no port; write `127.0.0.1:PORT`, such as `127.0.0.1:${{port.redis}}`"
        ));
    };
    if port.is_empty() {
        return Err(format!("address `{address}` has an empty port"));
    }
    check_writes_host(host)
}

impl Checker<'_> {
    /// Checks `spec.writes`.
    pub(super) fn check_writes(
        &mut self,
        spanned: &Spanned<WritesSpec>,
        ports: &[String],
    ) -> Result<WritesConfig, SpecError> {
        let cx = self.context;
        let spec = &spanned.value;
        let set = [
            spec.http.is_some(),
            spec.redis.is_some(),
            spec.postgres.is_some(),
            spec.exec.is_some(),
        ]
        .iter()
        .filter(|set| **set)
        .count();
        if set != 1 {
            return Err(cx.at(
                spanned,
                "spec.writes",
                format!(
                    "{set} drivers are set; set exactly one of `http`, `redis`, `postgres` or `exec`"
                ),
            ));
        }

        let driver = if let Some(http) = &spec.http {
            let list_url = http.list_url.clone().unwrap_or_else(|| http.url.clone());
            for (field, url) in [("url", &http.url), ("list_url", &list_url)] {
                let field = format!("spec.writes.http.{field}");
                self.check_templates(spanned, &field, std::slice::from_ref(url), ports)?;
                check_writes_url(url).map_err(|message| cx.at(spanned, &field, message))?;
            }
            WriteDriver::Http {
                url: http.url.clone(),
                list_url,
            }
        } else if let Some(redis) = &spec.redis {
            let field = "spec.writes.redis.address";
            self.check_templates(spanned, field, std::slice::from_ref(&redis.address), ports)?;
            check_address(&redis.address).map_err(|message| cx.at(spanned, field, message))?;
            if redis.key.is_empty() {
                return Err(cx.at(
                    spanned,
                    "spec.writes.redis.key",
                    "the key is empty; name the redis list that receives the ids",
                ));
            }
            WriteDriver::Redis {
                address: redis.address.clone(),
                key: redis.key.clone(),
            }
        } else if let Some(postgres) = &spec.postgres {
            let field = "spec.writes.postgres.address";
            self.check_templates(
                spanned,
                field,
                std::slice::from_ref(&postgres.address),
                ports,
            )?;
            check_address(&postgres.address).map_err(|message| cx.at(spanned, field, message))?;
            if !is_identifier(&postgres.table) {
                return Err(cx.at(
                    spanned,
                    "spec.writes.postgres.table",
                    format!(
                        "invalid table name `{}`; use letters, digits and `_`, starting with a letter or `_`",
                        postgres.table
                    ),
                ));
            }
            WriteDriver::Postgres {
                address: postgres.address.clone(),
                user: postgres.user.clone(),
                password: postgres.password.clone(),
                database: postgres.database.clone(),
                table: postgres.table.clone(),
            }
        } else {
            let exec = spec.exec.as_ref().expect("one driver is set");
            for (field, argv) in [("write", &exec.write), ("list", &exec.list)] {
                let field = format!("spec.writes.exec.{field}");
                if argv.is_empty() {
                    return Err(cx.at(
                        spanned,
                        &field,
                        "the command is empty; give a program and its arguments",
                    ));
                }
                self.check_templates(spanned, &field, argv, ports)?;
            }
            WriteDriver::Exec {
                write: exec.write.clone(),
                list: exec.list.clone(),
            }
        };

        let rate = match &spec.rate {
            Some(text) => {
                parse_rate(text).map_err(|message| cx.at(spanned, "spec.writes.rate", message))?
            }
            None => 20.0,
        };
        if spec.count == 0 || spec.count > MAX_WRITE_COUNT {
            return Err(cx.at(
                spanned,
                "spec.writes.count",
                format!(
                    "count {} is out of range; set it from 1 to {MAX_WRITE_COUNT}",
                    spec.count
                ),
            ));
        }
        for (field, value) in [
            ("timeout", spec.timeout),
            ("list_timeout", spec.list_timeout),
        ] {
            if value.0.is_zero() {
                return Err(cx.at(
                    spanned,
                    format!("spec.writes.{field}"),
                    format!("`{field}` is zero; set it above zero"),
                ));
            }
        }
        Ok(WritesConfig {
            driver,
            rate,
            count: spec.count,
            timeout: spec.timeout,
            list_timeout: spec.list_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::test_support::{invalid_change, load};

    #[test]
    fn rate_parses() {
        assert_eq!(parse_rate("20/s"), Ok(20.0));
        assert_eq!(parse_rate("0.5/s"), Ok(0.5));
        assert!(parse_rate("20").unwrap_err().contains("such as `20/s`"));
        assert!(parse_rate("0/s").unwrap_err().contains("above zero"));
        assert!(parse_rate("5000/s").unwrap_err().contains("limit"));
        assert!(parse_rate("x/s").unwrap_err().contains("not a number"));
    }

    #[test]
    fn identifiers() {
        assert!(is_identifier("roulette_writes"));
        assert!(is_identifier("_t1"));
        assert!(!is_identifier("1t"));
        assert!(!is_identifier("t; DROP TABLE x"));
        assert!(!is_identifier(""));
    }

    const BASE: &str = r#"
apiVersion: roulette-test/v1alpha1
kind: ProcessKillExperiment
metadata:
  name: t
spec:
  target:
    command: redis-server
    ports: [redis]
    ready:
      tcp: "127.0.0.1:${port.redis}"
  writes:
    redis: {address: "127.0.0.1:${port.redis}"}
    rate: 50/s
  faults:
    - name: kill
      signal: SIGKILL
      schedule: {every: 1s, count: 3}
  hypothesis:
    - name: no-loss
      writes: {lost: "== 0"}
"#;

    /// Replaces `from` in [`BASE`] and returns the field and message of
    /// the error.
    fn invalid(from: &str, to: &str) -> (String, String) {
        let invalid = invalid_change(BASE, from, to);
        (invalid.field, invalid.message)
    }

    #[test]
    fn writes_block_loads() {
        let experiment = load(BASE).unwrap();
        let writes = experiment.writes.expect("a writes block");
        assert_eq!(writes.rate, 50.0);
        assert_eq!(writes.count, 10_000);
        assert_eq!(writes.timeout, Dur::from_secs(1));
        assert!(matches!(
            writes.driver,
            WriteDriver::Redis { ref key, .. } if key == "roulette:writes"
        ));
        assert!(matches!(
            experiment.hypotheses[0].check,
            crate::spec::Check::Writes {
                lost: Some(_),
                duplicates: None,
                acknowledged: None
            }
        ));
    }

    #[test]
    fn non_loopback_address_rejected() {
        let (field, message) = invalid("127.0.0.1:${port.redis}\"}", "192.0.2.7:6379\"}");
        assert_eq!(field, "spec.writes.redis.address");
        assert!(message.contains("not a loopback address"), "{message}");
        let (field, message) = invalid(
            "redis: {address: \"127.0.0.1:${port.redis}\"}",
            "http: {url: \"http://192.0.2.7/jobs\"}",
        );
        assert_eq!(field, "spec.writes.http.url");
        assert!(message.contains("not a loopback address"), "{message}");
    }

    #[test]
    fn one_driver_required() {
        let (field, message) = invalid(
            "    rate: 50/s\n",
            "    rate: 50/s\n    exec: {write: [\"true\"], list: [\"true\"]}\n",
        );
        assert_eq!(field, "spec.writes");
        assert!(message.contains("2 drivers are set"), "{message}");
    }

    #[test]
    fn unknown_writes_field_rejected() {
        let (field, message) = invalid("    rate: 50/s", "    rtae: 50/s");
        assert_eq!(field, "spec.writes.rtae");
        assert!(message.contains("unknown field `rtae`"), "{message}");
    }

    #[test]
    fn bad_rate_and_count_rejected() {
        let (field, message) = invalid("rate: 50/s", "rate: 50");
        assert_eq!(field, "spec.writes.rate");
        assert!(message.contains("such as `20/s`"), "{message}");
        let (field, message) = invalid("rate: 50/s", "rate: 50/s\n    count: 0");
        assert_eq!(field, "spec.writes.count");
        assert!(message.contains("out of range"), "{message}");
    }

    #[test]
    fn writes_check_needs_block() {
        let text = BASE.replacen(
            "  writes:\n    redis: {address: \"127.0.0.1:${port.redis}\"}\n    rate: 50/s\n",
            "",
            1,
        );
        let err = load(&text).expect_err("a writes check without spec.writes");
        let invalid = err.invalid().unwrap();
        assert_eq!(invalid.field, "spec.hypothesis[0].writes");
        assert!(
            invalid.message.contains("needs a `spec.writes` block"),
            "{}",
            invalid.message
        );
    }

    #[test]
    fn writes_check_needs_threshold() {
        let (field, message) = invalid("writes: {lost: \"== 0\"}", "writes: {}");
        assert_eq!(field, "spec.hypothesis[0].writes");
        assert!(message.contains("no threshold is set"), "{message}");
    }

    #[test]
    fn bad_table_rejected() {
        let (field, message) = invalid(
            "redis: {address: \"127.0.0.1:${port.redis}\"}",
            "postgres: {address: \"127.0.0.1:${port.redis}\", table: \"x; DROP\"}",
        );
        assert_eq!(field, "spec.writes.postgres.table");
        assert!(message.contains("invalid table name"), "{message}");
    }

    #[test]
    fn user_and_stop_signal_load() {
        let text = BASE.replacen(
            "    ports: [redis]\n",
            "    ports: [redis]\n    user: postgres\n    stop_signal: SIGINT\n",
            1,
        );
        let experiment = load(&text).unwrap();
        assert_eq!(experiment.target.user.as_deref(), Some("postgres"));
        assert_eq!(experiment.target.stop_signal.as_str(), "SIGINT");
        assert_eq!(load(BASE).unwrap().target.stop_signal.as_str(), "SIGTERM");
    }

    #[test]
    fn bad_user_and_stop_signal_rejected() {
        let (field, message) = invalid(
            "    ports: [redis]\n",
            "    ports: [redis]\n    user: \"\"\n",
        );
        assert_eq!(field, "spec.target.user");
        assert!(message.contains("invalid user name"), "{message}");
        let (field, message) = invalid(
            "    ports: [redis]\n",
            "    ports: [redis]\n    stop_signal: SIGKILL\n",
        );
        assert_eq!(field, "spec.target.stop_signal");
        assert!(message.contains("SIGINT"), "{message}");
    }

    #[test]
    fn addresses_are_loopback() {
        assert!(check_address("127.0.0.1:${port.redis}").is_ok());
        assert!(check_address("[::1]:5432").is_ok());
        assert!(check_address("localhost:5432").is_ok());
        assert!(check_address("192.0.2.1:6379").is_err());
        assert!(check_address("127.0.0.1").is_err());
        assert!(check_address("127.0.0.1:").is_err());
    }
}
