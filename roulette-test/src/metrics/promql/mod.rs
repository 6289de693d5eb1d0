//! PromQL instant evaluation over a [`Store`], following Prometheus 2.42.
//!
//! Expressions are parsed with the `promql-parser` crate. [`Expr::parse`]
//! also rejects every function and construct that [`evaluate`] does not
//! implement, so an unsupported hypothesis fails when it is loaded, never
//! with a wrong number.

mod aggregate;
mod binary;
mod eval;
mod functions;
mod quantile;
mod range_functions;
mod support;
mod value;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use promql_parser::parser;

use crate::metrics::store::Store;
pub use value::{EvalError, RangeSeries, Sample, Value};

/// How far back an instant selector looks for the latest sample: 5
/// minutes, Prometheus's default `--query.lookback-delta`.
pub const LOOKBACK_DELTA_MS: i64 = 5 * 60 * 1000;

/// A parsed PromQL expression that uses only supported functions and
/// constructs.
#[derive(Debug, Clone)]
pub struct Expr {
    text: String,
    ast: parser::Expr,
}

/// Errors from parsing a PromQL expression.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PromqlError {
    #[error("invalid PromQL expression {expr:?}: {message}{}", position_suffix(*.position))]
    Syntax {
        expr: String,
        message: String,
        /// Character offset (0-based) of the error, when the lexer reports
        /// one. The parser's grammar errors carry no position.
        position: Option<usize>,
    },
    #[error(
        "PromQL expression {expr:?} uses {construct}, which this evaluator does not support; {hint}"
    )]
    Unsupported {
        expr: String,
        construct: String,
        hint: &'static str,
    },
}

fn position_suffix(position: Option<usize>) -> String {
    match position {
        Some(position) => format!(" (at character {})", position + 1),
        None => String::new(),
    }
}

impl Expr {
    /// Parses `text` and checks that every construct in it is supported.
    pub fn parse(text: &str) -> Result<Self, PromqlError> {
        let ast = parser::parse(text).map_err(|message| PromqlError::Syntax {
            expr: text.to_owned(),
            position: lexer_error_position(text, &message),
            message,
        })?;
        support::check(&ast).map_err(|unsupported| PromqlError::Unsupported {
            expr: text.to_owned(),
            construct: unsupported.construct,
            hint: unsupported.hint,
        })?;
        Ok(Self {
            text: text.to_owned(),
            ast,
        })
    }

    /// Returns the expression as written.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl FromStr for Expr {
    type Err = PromqlError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Finds where a lexer error starts: the end of the shortest prefix of
/// `text` that fails with the same message. Returns `None` for parser
/// errors, which no prefix reproduces.
fn lexer_error_position(text: &str, message: &str) -> Option<usize> {
    if parser::lexer(text).is_ok() {
        return None;
    }
    let boundaries = text.char_indices().map(|(offset, c)| offset + c.len_utf8());
    for (index, end) in boundaries.enumerate() {
        if parser::lexer(&text[..end]).err().as_deref() == Some(message) {
            return Some(index);
        }
    }
    None
}

/// Evaluates `expr` at `at_ms` on the store's clock, as a Prometheus 2.42
/// instant query with a 5 minute lookback delta.
pub fn evaluate(expr: &Expr, store: &Store, at_ms: i64) -> Result<Value, EvalError> {
    eval::Evaluator::new(store, at_ms).eval(&expr.ast)
}

/// The value of an expression at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub at_ms: i64,
    pub value: Value,
}

/// Evaluates `expr` at every scrape time recorded in the store between
/// `start_ms` and `end_ms` inclusive, for checks that must hold throughout
/// a window. Stops at the first evaluation error.
pub fn evaluate_at_scrapes(
    expr: &Expr,
    store: &Store,
    start_ms: i64,
    end_ms: i64,
) -> Result<Vec<Evaluation>, EvalError> {
    store
        .scrape_times(start_ms, end_ms)
        .into_iter()
        .map(|at_ms| {
            let value = evaluate(expr, store, at_ms)?;
            Ok(Evaluation { at_ms, value })
        })
        .collect()
}
