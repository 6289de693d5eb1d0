//! Results of PromQL evaluation and evaluation errors.

use crate::metrics::labels::Labels;
use crate::metrics::store::Point;

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Labels,
    pub value: f64,
}

/// One series of a range vector, with the points inside the range.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub points: Vec<Point>,
}

/// The value of an expression at one evaluation time.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(f64),
    Vector(Vec<Sample>),
    /// A range vector, which only a bare range selector such as
    /// `up[5m]` returns at the top level.
    Matrix(Vec<RangeSeries>),
    String(String),
}

impl Value {
    /// Returns the name of the value's type as PromQL error messages use it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::Vector(_) => "instant vector",
            Value::Matrix(_) => "range vector",
            Value::String(_) => "string",
        }
    }
}

/// Errors that Prometheus 2.42 also raises while evaluating, plus
/// unsupported constructs. The messages follow Prometheus's wording.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    #[error(
        "vector cannot contain metrics with the same labelset {labels}; add a label that tells the series apart, or aggregate them"
    )]
    DuplicateLabelset { labels: String },

    #[error(
        "found duplicate series for the match group {group} on the {side} hand-side of the operation: [{series}]; many-to-many matching not allowed: matching labels must be unique on one side"
    )]
    ManyToMany {
        group: String,
        side: &'static str,
        series: String,
    },

    #[error(
        "multiple matches for labels {group}: many-to-one matching must be explicit (group_left/group_right)"
    )]
    ManyToOneImplicit { group: String },

    #[error("multiple matches for labels {labels}: grouping labels must ensure unique matches")]
    GroupingNotUnique { labels: String },

    #[error("parameter of {aggregation} is {value}, which does not fit in a 64-bit integer")]
    ParameterOverflow {
        aggregation: &'static str,
        value: f64,
    },

    #[error("expected {expected} for {context}, got {found}")]
    WrongType {
        expected: &'static str,
        context: String,
        found: &'static str,
    },

    #[error("{construct} is not supported by this evaluator")]
    Unsupported { construct: String },
}
