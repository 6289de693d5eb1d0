//! Reading a spec file: YAML parsing through serde-saphyr, then the checks
//! that serde cannot express, each error located at file, line and column.

use std::fmt;
use std::path::{Path, PathBuf};

use serde_saphyr::Spanned;

use super::Document;
use super::Experiment;
use super::check::Checker;
use super::location::{field_path, snippet, strip_location_prefix, unclosed_flow};

/// A spec that cannot be read or is invalid.
#[derive(Debug)]
pub enum SpecError {
    /// The file could not be read.
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file was read but is not a valid experiment.
    Invalid(Box<InvalidSpec>),
}

/// The location and reason of an invalid spec.
#[derive(Debug, Clone)]
pub struct InvalidSpec {
    /// The file, or `None` for a spec read from a string.
    pub file: Option<PathBuf>,
    /// 1-based line.
    pub line: u64,
    /// 1-based column, counted in characters.
    pub column: u64,
    /// Dotted path of the field, such as `spec.faults[0].grace`.
    pub field: String,
    /// What is wrong and how to fix it.
    pub message: String,
    /// The source line with a caret under the column.
    pub snippet: String,
}

impl SpecError {
    /// Returns the invalid-spec details, when the file was read.
    pub fn invalid(&self) -> Option<&InvalidSpec> {
        match self {
            SpecError::Invalid(invalid) => Some(invalid),
            SpecError::Read { .. } => None,
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecError::Read { path, source } => {
                write!(f, "failed to read spec {}: {source}", path.display())
            }
            SpecError::Invalid(invalid) => {
                let file = invalid
                    .file
                    .as_deref()
                    .map_or_else(|| "<spec>".to_owned(), |p| p.display().to_string());
                write!(
                    f,
                    "{file}:{}:{}: field `{}`: {}",
                    invalid.line, invalid.column, invalid.field, invalid.message
                )?;
                if !invalid.snippet.is_empty() {
                    write!(f, "\n{}", invalid.snippet)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for SpecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpecError::Read { source, .. } => Some(source),
            SpecError::Invalid(_) => None,
        }
    }
}

/// Reads and checks the experiment in `path`.
pub fn load_file(path: &Path) -> Result<Experiment, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
        path: path.to_owned(),
        source,
    })?;
    let base_dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    load_str(&text, Some(path), &base_dir)
}

/// Reads and checks an experiment from YAML text. `file` names the source
/// in errors; commands run in `base_dir`.
pub fn load_str(text: &str, file: Option<&Path>, base_dir: &Path) -> Result<Experiment, SpecError> {
    let context = Context { text, file };
    let document: Document =
        serde_saphyr::from_str(text).map_err(|err| context.yaml_error(&err))?;
    Checker::new(&context).check(document, file, base_dir)
}

/// The source text, for locating errors.
pub(super) struct Context<'a> {
    text: &'a str,
    file: Option<&'a Path>,
}

impl Context<'_> {
    fn error(
        &self,
        line: u64,
        column: u64,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> SpecError {
        let mut message = message.into();
        if let Some(hint) = self.yaml_pitfall(line, column) {
            message.push_str("; ");
            message.push_str(&hint);
        }
        SpecError::Invalid(Box::new(InvalidSpec {
            file: self.file.map(Path::to_owned),
            line,
            column,
            field: field.into(),
            message,
            snippet: snippet(self.text, line, column),
        }))
    }

    /// Explains a plain value that YAML reads differently than it looks:
    /// `> 1` and `| x` start block scalars, and `!= 3` reads as the tag
    /// `!=` on the value `3`.
    fn yaml_pitfall(&self, line: u64, column: u64) -> Option<String> {
        let source = self.text.lines().nth(line.checked_sub(1)? as usize)?;
        let after_colon = source.find(": ")? + 2;
        let rest = &source[after_colon..];
        let value_start = after_colon + (rest.len() - rest.trim_start().len());
        // Only an error at or after the value's first character.
        if (column as usize) <= source[..value_start].chars().count() {
            return None;
        }
        let value = source[value_start..].trim_end();
        let quoted = format!("\"{}\"", value.replace('"', "\\\""));
        if value.starts_with('!') {
            let tag = value.split_whitespace().next().unwrap_or(value);
            Some(format!(
                "YAML reads `{tag}` at the start of a value as a tag and drops it; quote the value: {quoted}"
            ))
        } else if value.starts_with(['>', '|']) && value.len() > 1 {
            Some(format!(
                "YAML reads a value that starts with `{}` as a block of text; quote the value: {quoted}",
                &value[..1]
            ))
        } else {
            None
        }
    }

    pub(super) fn at<T>(
        &self,
        spanned: &Spanned<T>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> SpecError {
        self.error(
            spanned.referenced.line(),
            spanned.referenced.column(),
            field,
            message,
        )
    }

    fn yaml_error(&self, err: &serde_saphyr::Error) -> SpecError {
        let (line, column) = err
            .location()
            .map_or((1, 1), |loc| (loc.line(), loc.column()));
        let message = strip_location_prefix(&err.without_snippet().to_string());
        let syntax_error = matches!(
            err.without_snippet(),
            serde_saphyr::Error::ExternalMessage { .. } | serde_saphyr::Error::Eof { .. }
        );
        if syntax_error
            && let Some(unclosed) = unclosed_flow(self.text, line as usize, column as usize)
        {
            // The parser stops where the text stops making sense, which
            // can be lines after the bracket that was left open.
            let closer = unclosed.closer();
            let collection = if unclosed.opener == '[' {
                "list"
            } else {
                "map"
            };
            return self.error(
                unclosed.line,
                unclosed.column,
                field_path(self.text, unclosed.line as usize, unclosed.column as usize),
                format!(
                    "`{}` is never closed; add `{closer}` where the {collection} ends \
                     (the YAML parser noticed at line {line}, column {column}: {message})",
                    unclosed.opener
                ),
            );
        }
        let mut field = field_path(self.text, line as usize, column as usize);
        if let Some(key) = message.strip_prefix("duplicate mapping key: ") {
            let key = key.split(',').next().unwrap_or(key);
            let message = format!(
                "duplicate key `{key}`: a key may appear once in a map; remove one of them or merge their values"
            );
            return self.error(line, column, field, message);
        }
        if let Some(missing) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
        {
            // serde reports a missing field at the first key of its map, so
            // the path found there names a sibling; swap in the missing one.
            field = match field.rsplit_once('.') {
                Some((parent, _)) => format!("{parent}.{missing}"),
                None => missing.to_owned(),
            };
        }
        self.error(line, column, field, message)
    }
}
