//! Label sets: the identity of a series.

use std::fmt;

/// Name of the label that holds the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One label pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    pub name: String,
    pub value: String,
}

/// A set of labels sorted by name, with unique names and no empty values.
///
/// As in Prometheus, a label with an empty value is the same as an absent
/// label, so constructors drop empty values.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Creates an empty label set.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// Builds a label set from pairs. A later pair with the same name
    /// replaces an earlier one, and pairs with empty values are dropped.
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: Into<String>,
        V: Into<String>,
    {
        let mut labels = Self::new();
        for (name, value) in pairs {
            labels.set(name.into(), value.into());
        }
        labels
    }

    /// Returns the value of `name`, or `None` when the label is absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.position(name)
            .ok()
            .map(|index| self.0[index].value.as_str())
    }

    /// Returns the metric name (the `__name__` label).
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Sets `name` to `value`, or removes the label when `value` is empty.
    pub fn set(&mut self, name: String, value: String) {
        match self.position(&name) {
            Ok(index) if value.is_empty() => {
                self.0.remove(index);
            }
            Ok(index) => self.0[index].value = value,
            Err(_) if value.is_empty() => {}
            Err(index) => self.0.insert(index, Label { name, value }),
        }
    }

    /// Removes `name` and returns its value, if it was present.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let index = self.position(name).ok()?;
        Some(self.0.remove(index).value)
    }

    /// Returns a copy without the metric name.
    pub fn without_metric_name(&self) -> Self {
        self.without(&[METRIC_NAME])
    }

    /// Returns a copy without the listed labels.
    pub fn without<S: AsRef<str>>(&self, names: &[S]) -> Self {
        Self(
            self.0
                .iter()
                .filter(|label| !names.iter().any(|name| name.as_ref() == label.name))
                .cloned()
                .collect(),
        )
    }

    /// Returns a copy with only the listed labels.
    pub fn keep<S: AsRef<str>>(&self, names: &[S]) -> Self {
        Self(
            self.0
                .iter()
                .filter(|label| names.iter().any(|name| name.as_ref() == label.name))
                .cloned()
                .collect(),
        )
    }

    /// Iterates over the labels in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0
            .binary_search_by(|label| label.name.as_str().cmp(name))
    }
}

/// Formats as PromQL does: `name{a="1", b="2"}`, with `\\`, `\"` and `\n`
/// escaped in values, and `{}` for an empty set.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name();
        if let Some(name) = name {
            f.write_str(name)?;
        }
        let others: Vec<&Label> = self.0.iter().filter(|l| l.name != METRIC_NAME).collect();
        if name.is_some() && others.is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (index, label) in others.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}=\"{}\"", label.name, escape_label_value(&label.value))?;
        }
        f.write_str("}")
    }
}

/// Escapes `\`, `"` and line feeds as the exposition formats and PromQL
/// string literals do.
pub fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Returns whether `name` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Returns whether `name` is a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_sorted_and_deduplicated() {
        let labels = Labels::from_pairs([("b", "2"), ("a", "1"), ("b", "3")]);
        let names: Vec<&str> = labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(labels.get("b"), Some("3"));
    }

    #[test]
    fn labels_empty_value_is_absent() {
        let mut labels = Labels::from_pairs([("a", ""), ("b", "1")]);
        assert_eq!(labels.len(), 1);
        labels.set("b".into(), String::new());
        assert!(labels.is_empty());
    }

    #[test]
    fn labels_display_cases() {
        let cases = [
            (Labels::new(), "{}"),
            (Labels::from_pairs([(METRIC_NAME, "up")]), "up"),
            (
                Labels::from_pairs([(METRIC_NAME, "up"), ("job", "a\"b\\c\nd")]),
                r#"up{job="a\"b\\c\nd"}"#,
            ),
            (
                Labels::from_pairs([("a", "1"), ("b", "2")]),
                r#"{a="1", b="2"}"#,
            ),
        ];
        for (labels, expected) in cases {
            assert_eq!(labels.to_string(), expected);
        }
    }

    #[test]
    fn name_validation_cases() {
        assert!(is_valid_metric_name("job:rate:sum_5m"));
        assert!(is_valid_metric_name("_x"));
        assert!(!is_valid_metric_name("1x"));
        assert!(!is_valid_metric_name(""));
        assert!(!is_valid_metric_name("a-b"));
        assert!(is_valid_label_name("le"));
        assert!(!is_valid_label_name("a:b"));
        assert!(!is_valid_label_name("9"));
    }
}
