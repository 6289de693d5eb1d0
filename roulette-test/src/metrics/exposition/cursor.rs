//! Reads the tokens shared by both exposition formats from one line.

use super::error::ParseErrorKind;
use crate::metrics::labels::{Labels, METRIC_NAME};

/// The two text formats differ in whitespace rules: the Prometheus text
/// format allows any run of blanks and tabs between tokens (and inside label
/// sets), while OpenMetrics requires exactly one space and none inside
/// label sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Spacing {
    Lenient,
    Strict,
}

pub(super) struct Cursor<'a> {
    line: &'a str,
    pos: usize,
    spacing: Spacing,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(line: &'a str, spacing: Spacing) -> Self {
        Self {
            line,
            pos: 0,
            spacing,
        }
    }

    pub(super) fn rest(&self) -> &'a str {
        &self.line[self.pos..]
    }

    pub(super) fn is_at_end(&self) -> bool {
        self.pos >= self.line.len()
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self, c: char) {
        self.pos += c.len_utf8();
    }

    /// Skips blanks and tabs and returns how many were skipped.
    pub(super) fn skip_blanks(&mut self) -> usize {
        let start = self.pos;
        while let Some(c @ (' ' | '\t')) = self.peek() {
            self.bump(c);
        }
        self.pos - start
    }

    /// Consumes the separator between two tokens: one or more blanks or
    /// tabs in the text format, exactly one space in OpenMetrics.
    pub(super) fn separator(&mut self, before: &'static str) -> Result<(), ParseErrorKind> {
        match self.spacing {
            Spacing::Lenient => {
                if self.skip_blanks() == 0 {
                    return Err(self.expected("a blank", before));
                }
            }
            Spacing::Strict => {
                if self.peek() != Some(' ') {
                    return Err(self.expected("a single space", before));
                }
                self.pos += 1;
                if matches!(self.peek(), Some(' ' | '\t')) {
                    return Err(ParseErrorKind::ExtraWhitespace);
                }
            }
        }
        Ok(())
    }

    fn skip_inner_blanks(&mut self) {
        if self.spacing == Spacing::Lenient {
            self.skip_blanks();
        }
    }

    /// Reads a maximal run of characters up to a blank, a tab or the end.
    pub(super) fn token(&mut self) -> &'a str {
        let rest = self.rest();
        let end = rest.find([' ', '\t']).unwrap_or(rest.len());
        self.pos += end;
        &rest[..end]
    }

    /// Reads a metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    pub(super) fn metric_name(&mut self) -> Result<&'a str, ParseErrorKind> {
        let rest = self.rest();
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(ParseErrorKind::InvalidMetricName {
                found: snippet(rest),
            });
        }
        self.pos += end;
        Ok(name)
    }

    /// Reads a label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
    fn label_name(&mut self) -> Result<&'a str, ParseErrorKind> {
        let rest = self.rest();
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = &rest[..end];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(ParseErrorKind::InvalidLabelName {
                found: snippet(rest),
            });
        }
        self.pos += end;
        Ok(name)
    }

    /// Consumes `expected` or fails naming what came instead.
    pub(super) fn expect(
        &mut self,
        expected: char,
        context: &'static str,
    ) -> Result<(), ParseErrorKind> {
        if self.peek() == Some(expected) {
            self.bump(expected);
            Ok(())
        } else {
            Err(ParseErrorKind::Expected {
                expected: format!("'{expected}'"),
                context,
                found: self.found(),
            })
        }
    }

    /// Reads a double-quoted label value. Both formats allow exactly the
    /// escapes `\\`, `\"` and `\n` (text format 0.0.4 and OpenMetrics 1.0).
    fn quoted_value(&mut self) -> Result<String, ParseErrorKind> {
        self.expect('"', "to open a label value")?;
        let mut value = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((offset, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += offset + 1;
                    return Ok(value);
                }
                '\\' => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, other)) => {
                        return Err(ParseErrorKind::InvalidEscape {
                            sequence: format!("\\{other}"),
                            allowed: r#"\\, \" and \n"#,
                        });
                    }
                    None => break,
                },
                other => value.push(other),
            }
        }
        Err(ParseErrorKind::UnterminatedLabelValue)
    }

    /// Reads `{name="value",...}` and returns the pairs in input order,
    /// rejecting duplicate names. The text format allows blanks between
    /// tokens and a trailing comma; OpenMetrics allows neither.
    pub(super) fn label_set(&mut self) -> Result<Vec<(String, String)>, ParseErrorKind> {
        self.expect('{', "to open a label set")?;
        let mut pairs: Vec<(String, String)> = Vec::new();
        loop {
            self.skip_inner_blanks();
            if self.peek() == Some('}') {
                if !pairs.is_empty() && self.spacing == Spacing::Strict {
                    return Err(ParseErrorKind::TrailingComma);
                }
                self.pos += 1;
                return Ok(pairs);
            }
            let name = self.label_name()?;
            self.skip_inner_blanks();
            self.expect('=', "after a label name")?;
            self.skip_inner_blanks();
            let value = self.quoted_value()?;
            if pairs.iter().any(|(existing, _)| existing == name) {
                return Err(ParseErrorKind::DuplicateLabel {
                    name: name.to_owned(),
                });
            }
            pairs.push((name.to_owned(), value));
            self.skip_inner_blanks();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {
                    self.pos += 1;
                    return Ok(pairs);
                }
                _ => {
                    return Err(ParseErrorKind::Expected {
                        expected: "',' or '}'".into(),
                        context: "after a label value",
                        found: self.found(),
                    });
                }
            }
        }
    }

    /// Reads an optional label set after a metric name and returns the full
    /// label set including `__name__`.
    pub(super) fn series_labels(&mut self, name: &str) -> Result<Labels, ParseErrorKind> {
        if self.spacing == Spacing::Lenient {
            let before = self.pos;
            self.skip_blanks();
            if self.peek() != Some('{') {
                self.pos = before;
            }
        }
        let pairs = if self.peek() == Some('{') {
            self.label_set()?
        } else {
            Vec::new()
        };
        if pairs.iter().any(|(label, _)| label == METRIC_NAME) {
            return Err(ParseErrorKind::DuplicateLabel {
                name: METRIC_NAME.into(),
            });
        }
        Ok(Labels::from_pairs(
            std::iter::once((METRIC_NAME.to_owned(), name.to_owned())).chain(pairs),
        ))
    }

    fn found(&self) -> String {
        if self.is_at_end() {
            "the end of the line".into()
        } else {
            format!("{:?}", snippet(self.rest()))
        }
    }

    fn expected(&self, what: &str, before: &'static str) -> ParseErrorKind {
        ParseErrorKind::Expected {
            expected: what.into(),
            context: before,
            found: self.found(),
        }
    }
}

/// Returns at most the first 40 characters of `text`, for error messages.
pub(super) fn snippet(text: &str) -> String {
    const MAX_CHARS: usize = 40;
    match text.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text.to_owned(),
    }
}

/// Unescapes HELP text. The text format allows `\\` and `\n`; OpenMetrics
/// also allows `\"`.
pub(super) fn unescape_help(text: &str, allow_quote: bool) -> Result<String, ParseErrorKind> {
    let mut help = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            help.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => help.push('\\'),
            Some('n') => help.push('\n'),
            Some('"') if allow_quote => help.push('"'),
            Some(other) => {
                return Err(ParseErrorKind::InvalidEscape {
                    sequence: format!("\\{other}"),
                    allowed: if allow_quote {
                        r#"\\, \" and \n"#
                    } else {
                        r"\\ and \n"
                    },
                });
            }
            None => {
                return Err(ParseErrorKind::InvalidEscape {
                    sequence: "\\".into(),
                    allowed: r"\\ and \n",
                });
            }
        }
    }
    Ok(help)
}

/// Parses a sample value as Go's `strconv.ParseFloat` does for decimal
/// input: decimal floats with optional exponent, and `NaN`, `Inf`, `+Inf`,
/// `-Inf` in any letter case (Go rejects a signed `NaN`). Hexadecimal
/// floats are rejected.
pub(crate) fn parse_float(text: &str) -> Option<f64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    let has_sign = digits.len() < text.len();
    let is_word = digits.eq_ignore_ascii_case("inf")
        || digits.eq_ignore_ascii_case("infinity")
        || (digits.eq_ignore_ascii_case("nan") && !has_sign);
    let is_decimal = digits.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && digits
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if !(is_word || is_decimal) {
        return None;
    }
    text.parse().ok()
}
