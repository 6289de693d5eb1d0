//! Scalar value types of the experiment format: durations, thresholds and
//! signal names, each parsed from a string with an error that says how to
//! write it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::de::{self, Deserialize, Deserializer};
use serde::{Serialize, Serializer};

/// A duration written with units, such as `250ms`, `2s` or `1m30s`.
///
/// A bare number is rejected because it cannot say whether it means
/// seconds or milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub Duration);

impl Dur {
    /// Creates a duration from milliseconds.
    pub const fn from_millis(millis: u64) -> Self {
        Dur(Duration::from_millis(millis))
    }

    /// Creates a duration from whole seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Dur(Duration::from_secs(secs))
    }
}

impl From<Duration> for Dur {
    fn from(duration: Duration) -> Self {
        Dur(duration)
    }
}

impl FromStr for Dur {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        parse_duration(text).map(Dur)
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = scalar_string(deserializer, "a duration such as `250ms`, `2s` or `1m30s`")?;
        text.parse().map_err(de::Error::custom)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Parses `250ms`, `2s`, `1m30s`, `1h`, `1.5s` into a [`Duration`].
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(
            "invalid duration: the value is empty; write it with a unit, such as `2s` or `250ms`"
                .into(),
        );
    }
    if trimmed.parse::<f64>().is_ok() {
        return Err(format!(
            "invalid duration `{trimmed}`: a bare number has no unit; write `{trimmed}s` or `{trimmed}ms`"
        ));
    }

    let mut total = Duration::ZERO;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| {
                format!(
                    "invalid duration `{trimmed}`: `{rest}` has no unit; units are ms, s, m and h"
                )
            })?;
        if number_len == 0 {
            return Err(format!(
                "invalid duration `{trimmed}`: expected a number before `{rest}`; write it like `1m30s` or `250ms`"
            ));
        }
        let number: f64 = rest[..number_len].parse().map_err(|_| {
            format!(
                "invalid duration `{trimmed}`: `{}` is not a number",
                &rest[..number_len]
            )
        })?;
        rest = &rest[number_len..];

        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit_secs = match unit {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other if other.contains(char::is_whitespace) => {
                let joined: String = trimmed.split_whitespace().collect();
                return Err(format!(
                    "invalid duration `{trimmed}`: spaces are not allowed inside a duration; write `{joined}`"
                ));
            }
            other => {
                return Err(format!(
                    "invalid duration `{trimmed}`: unknown unit `{other}`; units are ms, s, m and h"
                ));
            }
        };
        total += Duration::from_secs_f64(number * unit_secs);
    }
    Ok(total)
}

/// Formats a duration the way a person reads it: `0ms`, `750ms`, `1.250s`,
/// `2m5s`.
pub fn format_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    if millis < 1000 {
        if !duration.subsec_nanos().is_multiple_of(1_000_000) && millis < 10 {
            return format!("{:.1}ms", duration.as_secs_f64() * 1000.0);
        }
        return format!("{millis}ms");
    }
    let secs = duration.as_secs();
    if secs < 60 {
        let frac = duration.subsec_millis();
        return if frac == 0 {
            format!("{secs}s")
        } else {
            format!("{secs}.{frac:03}s")
        };
    }
    let (minutes, secs) = (secs / 60, secs % 60);
    if secs == 0 {
        format!("{minutes}m")
    } else {
        format!("{minutes}m{secs}s")
    }
}

/// A comparison operator of a threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Comparison {
    #[serde(rename = "<")]
    Less,
    #[serde(rename = "<=")]
    LessOrEqual,
    #[serde(rename = "==")]
    Equal,
    #[serde(rename = "!=")]
    NotEqual,
    #[serde(rename = ">=")]
    GreaterOrEqual,
    #[serde(rename = ">")]
    Greater,
}

impl Comparison {
    /// Returns whether `measured OP threshold` is true.
    pub fn holds<T: PartialOrd>(self, measured: T, threshold: T) -> bool {
        match self {
            Comparison::Less => measured < threshold,
            Comparison::LessOrEqual => measured <= threshold,
            Comparison::Equal => measured == threshold,
            Comparison::NotEqual => measured != threshold,
            Comparison::GreaterOrEqual => measured >= threshold,
            Comparison::Greater => measured > threshold,
        }
    }

    /// The operator as written in a spec.
    pub fn symbol(self) -> &'static str {
        match self {
            Comparison::Less => "<",
            Comparison::LessOrEqual => "<=",
            Comparison::Equal => "==",
            Comparison::NotEqual => "!=",
            Comparison::GreaterOrEqual => ">=",
            Comparison::Greater => ">",
        }
    }

    /// Splits `"< 2s"` into the operator and the rest.
    fn split(text: &str) -> Option<(Comparison, &str)> {
        let text = text.trim_start();
        // Two-character operators first, so `<=` is not read as `<` and `=`.
        let table = [
            ("<=", Comparison::LessOrEqual),
            (">=", Comparison::GreaterOrEqual),
            ("==", Comparison::Equal),
            ("!=", Comparison::NotEqual),
            ("<", Comparison::Less),
            (">", Comparison::Greater),
        ];
        table
            .iter()
            .find_map(|(symbol, op)| text.strip_prefix(symbol).map(|rest| (*op, rest.trim())))
    }
}

/// A threshold: one comparison operator and a value, such as `< 2s` or
/// `== 5`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Threshold<V> {
    pub op: Comparison,
    pub value: V,
}

impl<V: PartialOrd + Copy> Threshold<V> {
    /// Returns whether the measured value meets this threshold.
    pub fn holds(&self, measured: V) -> bool {
        self.op.holds(measured, self.value)
    }
}

/// Parses the value part of a threshold.
pub trait ThresholdValue: Sized + fmt::Display {
    /// Describes the expected value for an error message.
    const EXPECTED: &'static str;
    /// A whole threshold with this kind of value, for error messages.
    const EXAMPLE: &'static str;
    fn parse_value(text: &str) -> Result<Self, String>;
}

impl ThresholdValue for Dur {
    const EXPECTED: &'static str = "a duration such as `2s`";
    const EXAMPLE: &'static str = "< 2s";
    fn parse_value(text: &str) -> Result<Self, String> {
        text.parse()
    }
}

impl ThresholdValue for u64 {
    const EXPECTED: &'static str = "a whole number such as `3`";
    const EXAMPLE: &'static str = "== 3";
    fn parse_value(text: &str) -> Result<Self, String> {
        text.parse()
            .map_err(|_| format!("`{text}` is not a whole number"))
    }
}

/// A metric threshold value: a number, a percentage (`0.5%` is 0.005) or a
/// duration, which counts in seconds as Prometheus's `_seconds` metrics do.
impl ThresholdValue for f64 {
    const EXPECTED: &'static str =
        "a number such as `0.5`, a percentage such as `0.5%`, or a duration such as `2s`";
    const EXAMPLE: &'static str = "== 0";
    fn parse_value(text: &str) -> Result<Self, String> {
        if let Some(percent) = text.strip_suffix('%') {
            return percent
                .trim()
                .parse::<f64>()
                .map(|p| p / 100.0)
                .map_err(|_| format!("`{text}` is not a percentage"));
        }
        if let Ok(number) = text.parse::<f64>() {
            return Ok(number);
        }
        parse_duration(text)
            .map(|d| d.as_secs_f64())
            .map_err(|_| format!("`{text}` is not a number, a percentage or a duration"))
    }
}

impl<V: ThresholdValue> FromStr for Threshold<V> {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let Some((op, rest)) = Comparison::split(text) else {
            return Err(format!(
                "invalid threshold `{text}`: it must start with one of <, <=, ==, !=, >=, >, followed by {}, as in \"{}\"",
                V::EXPECTED,
                V::EXAMPLE
            ));
        };
        let value =
            V::parse_value(rest).map_err(|err| format!("invalid threshold `{text}`: {err}"))?;
        Ok(Threshold { op, value })
    }
}

impl<V: fmt::Display> fmt::Display for Threshold<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.symbol(), self.value)
    }
}

impl<'de, V: ThresholdValue> Deserialize<'de> for Threshold<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = scalar_string(deserializer, "a threshold such as \"< 2s\" or \"== 3\"")?;
        text.parse().map_err(de::Error::custom)
    }
}

impl<V: fmt::Display> Serialize for Threshold<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A signal named the way `kill -l` and signal(7) name it, with the `SIG`
/// prefix: `SIGTERM`, `SIGKILL`, `SIGUSR1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignalName(pub Signal);

impl SignalName {
    pub fn as_str(self) -> &'static str {
        self.0.as_str()
    }
}

/// Returns the signal name one edit away from `text`, such as `SIGKILL`
/// for `SIGKIL`. Every name starts with `SIG`, so two edits would already
/// turn `SIGNOPE` into `SIGFPE`.
fn closest_signal(text: &str) -> Option<&'static str> {
    Signal::iterator()
        .map(|signal| (edit_distance(text, signal.as_str()), signal.as_str()))
        .filter(|(distance, _)| *distance <= 1)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// Returns the edit distance between `a` and `b` in characters, where an
/// insertion, a deletion, a substitution and a swap of two neighbours
/// each count 1 (the optimal string alignment distance).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut table = vec![vec![0; b.len() + 1]; a.len() + 1];
    for (i, row) in table.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in table[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (table[i - 1][j] + 1)
                .min(table[i][j - 1] + 1)
                .min(table[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(table[i - 2][j - 2] + 1);
            }
            table[i][j] = best;
        }
    }
    table[a.len()][b.len()]
}

impl FromStr for SignalName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let signal = Signal::from_str(text).map_err(|_| {
            let number = text.parse::<i32>().ok().and_then(|n| Signal::try_from(n).ok());
            let hint = if let Some(named) = number {
                format!("; signals are written by name: signal {text} is `{}`", named.as_str())
            } else if !text.starts_with("SIG") {
                format!("; write it with the SIG prefix, such as `SIG{}`", text.to_ascii_uppercase())
            } else if let Some(close) = closest_signal(text) {
                format!("; did you mean `{close}`?")
            } else {
                String::from("; known names include SIGTERM, SIGKILL, SIGINT, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGUSR1, SIGUSR2")
            };
            format!("unknown signal `{text}`{hint}")
        })?;
        match signal {
            Signal::SIGSTOP | Signal::SIGTSTP | Signal::SIGCONT => Err(format!(
                "`{text}` cannot be sent as a fault signal; use `freeze: DURATION`, which sends SIGSTOP and then SIGCONT"
            )),
            _ => Ok(SignalName(signal)),
        }
    }
}

impl fmt::Display for SignalName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SignalName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = scalar_string(deserializer, "a signal name such as `SIGTERM`")?;
        text.parse().map_err(de::Error::custom)
    }
}

impl Serialize for SignalName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Reads a scalar as a string, and reports a number or a sequence where a
/// string was expected with `expected` in the message.
fn scalar_string<'de, D: Deserializer<'de>>(
    deserializer: D,
    expected: &'static str,
) -> Result<String, D::Error> {
    struct ScalarVisitor(&'static str);

    impl de::Visitor<'_> for ScalarVisitor {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
            Ok(value.to_owned())
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<String, E> {
            Ok(value.to_string())
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<String, E> {
            Ok(value.to_string())
        }

        fn visit_f64<E: de::Error>(self, value: f64) -> Result<String, E> {
            Ok(value.to_string())
        }
    }

    deserializer.deserialize_any(ScalarVisitor(expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_units_parse() {
        let cases = [
            ("250ms", Duration::from_millis(250)),
            ("2s", Duration::from_secs(2)),
            ("1m30s", Duration::from_secs(90)),
            ("1h", Duration::from_secs(3600)),
            ("1.5s", Duration::from_millis(1500)),
            ("0ms", Duration::ZERO),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn duration_bare_number_rejected() {
        let err = parse_duration("5").unwrap_err();
        assert!(err.contains("bare number"), "{err}");
        assert!(err.contains("`5s`"), "{err}");
    }

    #[test]
    fn duration_with_space_rejected() {
        let err = parse_duration("1m 30s").unwrap_err();
        assert!(err.contains("spaces are not allowed"), "{err}");
        assert!(err.contains("`1m30s`"), "{err}");
    }

    #[test]
    fn duration_unknown_unit_rejected() {
        let err = parse_duration("5sec").unwrap_err();
        assert!(err.contains("unknown unit `sec`"), "{err}");
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn duration_formats_readably() {
        assert_eq!(format_duration(Duration::from_millis(750)), "750ms");
        assert_eq!(format_duration(Duration::from_millis(1250)), "1.250s");
        assert_eq!(format_duration(Duration::from_secs(125)), "2m5s");
        assert_eq!(format_duration(Duration::from_micros(1500)), "1.5ms");
    }

    #[test]
    fn threshold_parses_every_operator() {
        let cases = [
            ("< 2s", Comparison::Less),
            ("<= 2s", Comparison::LessOrEqual),
            ("== 2s", Comparison::Equal),
            ("!= 2s", Comparison::NotEqual),
            (">= 2s", Comparison::GreaterOrEqual),
            (">2s", Comparison::Greater),
        ];
        for (text, op) in cases {
            let threshold: Threshold<Dur> = text.parse().unwrap();
            assert_eq!(threshold.op, op, "{text}");
            assert_eq!(threshold.value, Dur::from_secs(2), "{text}");
        }
    }

    #[test]
    fn threshold_holds_compares() {
        let threshold: Threshold<u64> = "<= 3".parse().unwrap();
        assert!(threshold.holds(3));
        assert!(!threshold.holds(4));
        let err = "3".parse::<Threshold<u64>>().unwrap_err();
        assert!(err.contains("must start with one of"), "{err}");
    }

    #[test]
    fn metric_threshold_values() {
        let cases = [
            ("== 0", 0.0),
            ("< 0.5%", 0.005),
            ("<= 2s", 2.0),
            ("> 1e3", 1000.0),
            ("< 250ms", 0.25),
        ];
        for (text, value) in cases {
            let threshold: Threshold<f64> = text.parse().unwrap();
            assert_eq!(threshold.value, value, "{text}");
        }
        assert!("< fast".parse::<Threshold<f64>>().is_err());
    }

    #[test]
    fn signal_names_need_prefix() {
        assert_eq!("SIGKILL".parse::<SignalName>().unwrap().0, Signal::SIGKILL);
        let err = "term".parse::<SignalName>().unwrap_err();
        assert!(err.contains("`SIGTERM`"), "{err}");
        let err = "9".parse::<SignalName>().unwrap_err();
        assert!(err.contains("signal 9 is `SIGKILL`"), "{err}");
        let err = "SIGSTOP".parse::<SignalName>().unwrap_err();
        assert!(err.contains("freeze"), "{err}");
    }

    #[test]
    fn misspelt_signal_gets_suggestion() {
        let err = "SIGKIL".parse::<SignalName>().unwrap_err();
        assert!(err.ends_with("; did you mean `SIGKILL`?"), "{err}");
        let err = "SIGTREM".parse::<SignalName>().unwrap_err();
        assert!(err.ends_with("; did you mean `SIGTERM`?"), "{err}");
        let err = "SIGNOPE".parse::<SignalName>().unwrap_err();
        assert!(err.contains("known names include"), "{err}");
        assert_eq!(edit_distance("SIGKIL", "SIGKILL"), 1);
        assert_eq!(edit_distance("SIGTREM", "SIGTERM"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
