//! Errors for malformed exposition text.

/// A malformed exposition: the 1-based line number and what is wrong.
/// The caller adds the endpoint that served the text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {kind}")]
pub struct ParseError {
    pub line: usize,
    pub kind: ParseErrorKind,
}

/// What is wrong with one line of an exposition.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseErrorKind {
    #[error("invalid metric name at {found:?}; a metric name must match [a-zA-Z_:][a-zA-Z0-9_:]*")]
    InvalidMetricName { found: String },

    #[error("invalid label name at {found:?}; a label name must match [a-zA-Z_][a-zA-Z0-9_]*")]
    InvalidLabelName { found: String },

    #[error("expected {expected} {context}, found {found}")]
    Expected {
        expected: String,
        context: &'static str,
        found: String,
    },

    #[error("invalid escape sequence {sequence:?}; only {allowed} are allowed")]
    InvalidEscape {
        sequence: String,
        allowed: &'static str,
    },

    #[error("label value has no closing '\"'")]
    UnterminatedLabelValue,

    #[error("label {name:?} appears twice in one label set")]
    DuplicateLabel { name: String },

    #[error("OpenMetrics does not allow a ',' before '}}' in a label set")]
    TrailingComma,

    #[error("OpenMetrics requires exactly one space between tokens, found more")]
    ExtraWhitespace,

    #[error(
        "invalid sample value {found:?}; expected a float such as 1.5, 2e-3, NaN, +Inf or -Inf"
    )]
    InvalidValue { found: String },

    #[error("invalid timestamp {found:?}; expected {expected}")]
    InvalidTimestamp {
        found: String,
        expected: &'static str,
    },

    #[error("unexpected text {found:?} after the {after}")]
    TrailingText { found: String, after: &'static str },

    #[error("invalid metric type {found:?}; expected one of {allowed}")]
    InvalidType {
        found: String,
        allowed: &'static str,
    },

    #[error("second {keyword} line for metric family {family:?}; each family may have one")]
    DuplicateMetadata {
        keyword: &'static str,
        family: String,
    },

    #[error(
        "{keyword} line for metric family {family:?} comes after its samples; metadata must come first"
    )]
    MetadataAfterSamples {
        keyword: &'static str,
        family: String,
    },

    #[error(
        "metric family {family:?} continues after other families; OpenMetrics requires each family's lines to be contiguous"
    )]
    InterleavedFamily { family: String },

    #[error(
        "unit {unit:?} is not a suffix of metric family {family:?}; OpenMetrics requires the name to end with _{unit}"
    )]
    UnitNotSuffix { unit: String, family: String },

    #[error(
        "{family_type} sample {name:?} needs a {label:?} label with a float value, found {found}"
    )]
    InvalidBucketLabel {
        family_type: &'static str,
        name: String,
        label: &'static str,
        found: String,
    },

    #[error(
        "counter {family:?} has sample {name:?}; OpenMetrics counter samples end with _total or _created"
    )]
    CounterWithoutTotal { family: String, name: String },

    #[error(
        "exemplar on sample {name:?}; OpenMetrics allows exemplars only on counter _total and histogram _bucket samples"
    )]
    ExemplarNotAllowed { name: String },

    #[error("exemplar label set has {chars} characters; OpenMetrics allows at most 128")]
    ExemplarTooLong { chars: usize },

    #[error("comment line {found:?}; OpenMetrics allows only # HELP, # TYPE, # UNIT and # EOF")]
    InvalidComment { found: String },

    #[error("empty line; OpenMetrics does not allow empty lines")]
    EmptyLine,

    #[error("line ends with a carriage return; the exposition formats require \\n line endings")]
    CarriageReturn,

    #[error(
        "missing \"# EOF\" line; an OpenMetrics exposition must end with it (the response may be truncated)"
    )]
    MissingEof,

    #[error("text after the \"# EOF\" line")]
    TextAfterEof,

    #[error("invalid UTF-8; the exposition formats require UTF-8 text")]
    InvalidUtf8,
}
