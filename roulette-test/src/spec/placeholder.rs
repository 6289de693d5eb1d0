//! `${...}` placeholders in commands, arguments, environment values and
//! probe addresses.
//!
//! | placeholder | value |
//! | --- | --- |
//! | `${port.NAME}` | a free 127.0.0.1 port allocated for the experiment |
//! | `${tmp}` | the experiment's own temporary directory |
//! | `${env.NAME}` | the harness's environment variable `NAME` |
//! | `${experiment.id}` | a unique id of this run of the experiment |
//! | `${cargo_bin.NAME}` | the path of binary `NAME` of the cargo workspace |
//!
//! `$$` stands for a literal `$`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use thiserror::Error;

/// One placeholder reference, as parsed from a template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Placeholder {
    Port(String),
    Tmp,
    Env(String),
    ExperimentId,
    CargoBin(String),
}

/// A placeholder that cannot be parsed or has no value.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum PlaceholderError {
    #[error("unclosed placeholder in `{template}`; write `${{NAME}}`, or `$$` for a literal `$`")]
    Unclosed { template: String },
    #[error(
        "unknown placeholder `${{{name}}}` in `{template}`; known placeholders are ${{port.NAME}}, ${{tmp}}, ${{env.NAME}}, ${{experiment.id}} and ${{cargo_bin.NAME}}"
    )]
    Unknown { name: String, template: String },
    #[error(
        "placeholder `${{port.{name}}}` names a port that is not listed in `target.ports`; add `{name}` to `target.ports`"
    )]
    UndeclaredPort { name: String },
    #[error("environment variable `{name}` used by `${{env.{name}}}` is not set")]
    MissingEnv { name: String },
    #[error("binary `{name}` used by `${{cargo_bin.{name}}}` was not resolved")]
    MissingBin { name: String },
}

/// Splits a template into literal text and placeholders.
pub(crate) fn parse(template: &str) -> Result<Vec<Segment>, PlaceholderError> {
    let mut segments = Vec::new();
    let mut literal = String::new();
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        literal.push_str(&rest[..pos]);
        rest = &rest[pos..];
        if let Some(after) = rest.strip_prefix("$$") {
            literal.push('$');
            rest = after;
            continue;
        }
        let Some(body) = rest.strip_prefix("${") else {
            // A lone `$` (as in a shell snippet's `$i`) stays literal.
            literal.push('$');
            rest = &rest[1..];
            continue;
        };
        let end = body.find('}').ok_or_else(|| PlaceholderError::Unclosed {
            template: template.to_owned(),
        })?;
        let name = &body[..end];
        let placeholder = match name.split_once('.') {
            None if name == "tmp" => Placeholder::Tmp,
            Some(("experiment", "id")) => Placeholder::ExperimentId,
            Some(("port", port)) if !port.is_empty() => Placeholder::Port(port.to_owned()),
            Some(("env", var)) if !var.is_empty() => Placeholder::Env(var.to_owned()),
            Some(("cargo_bin", bin)) if !bin.is_empty() => Placeholder::CargoBin(bin.to_owned()),
            _ => {
                return Err(PlaceholderError::Unknown {
                    name: name.to_owned(),
                    template: template.to_owned(),
                });
            }
        };
        if !literal.is_empty() {
            segments.push(Segment::Literal(std::mem::take(&mut literal)));
        }
        segments.push(Segment::Placeholder(placeholder));
        rest = &body[end + 1..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        segments.push(Segment::Literal(literal));
    }
    Ok(segments)
}

/// A piece of a parsed template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    Literal(String),
    Placeholder(Placeholder),
}

/// The values that placeholders expand to in one run of an experiment.
#[derive(Clone, Debug, Default)]
pub struct Placeholders {
    pub ports: BTreeMap<String, u16>,
    pub tmp: PathBuf,
    pub experiment_id: String,
    pub cargo_bins: BTreeMap<String, PathBuf>,
}

impl Placeholders {
    /// Expands every placeholder of `template`.
    pub fn expand(&self, template: &str) -> Result<String, PlaceholderError> {
        let mut out = String::with_capacity(template.len());
        for segment in parse(template)? {
            match segment {
                Segment::Literal(text) => out.push_str(&text),
                Segment::Placeholder(Placeholder::Tmp) => out.push_str(&self.tmp.to_string_lossy()),
                Segment::Placeholder(Placeholder::ExperimentId) => {
                    out.push_str(&self.experiment_id)
                }
                Segment::Placeholder(Placeholder::Port(name)) => {
                    let port = self
                        .ports
                        .get(&name)
                        .ok_or(PlaceholderError::UndeclaredPort { name })?;
                    out.push_str(&port.to_string());
                }
                Segment::Placeholder(Placeholder::Env(name)) => {
                    let value =
                        std::env::var(&name).map_err(|_| PlaceholderError::MissingEnv { name })?;
                    out.push_str(&value);
                }
                Segment::Placeholder(Placeholder::CargoBin(name)) => {
                    let path = self
                        .cargo_bins
                        .get(&name)
                        .ok_or(PlaceholderError::MissingBin { name })?;
                    out.push_str(&path.to_string_lossy());
                }
            }
        }
        Ok(out)
    }

    /// Expands every element of an argument list.
    pub fn expand_all(&self, templates: &[String]) -> Result<Vec<String>, PlaceholderError> {
        templates
            .iter()
            .map(|template| self.expand(template))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Placeholders {
        Placeholders {
            ports: BTreeMap::from([("http".to_owned(), 4242)]),
            tmp: PathBuf::from("/tmp/x"),
            experiment_id: "exp-1".to_owned(),
            cargo_bins: BTreeMap::from([("worker".to_owned(), PathBuf::from("/t/worker"))]),
        }
    }

    #[test]
    fn expand_replaces_each_kind() {
        let expanded = values()
            .expand("http://127.0.0.1:${port.http}/ ${tmp}/s ${experiment.id} ${cargo_bin.worker}")
            .unwrap();
        assert_eq!(expanded, "http://127.0.0.1:4242/ /tmp/x/s exp-1 /t/worker");
    }

    #[test]
    fn expand_keeps_shell_dollars() {
        assert_eq!(
            values().expand("for i in 1 2; do echo $i; done").unwrap(),
            "for i in 1 2; do echo $i; done"
        );
        assert_eq!(values().expand("$${tmp}").unwrap(), "${tmp}");
    }

    #[test]
    fn expand_rejects_unknown_names() {
        let err = values().expand("${prot.http}").unwrap_err();
        assert!(
            matches!(err, PlaceholderError::Unknown { ref name, .. } if name == "prot.http"),
            "{err}"
        );
        let err = values().expand("${port.grpc}").unwrap_err();
        assert_eq!(
            err,
            PlaceholderError::UndeclaredPort {
                name: "grpc".into()
            }
        );
        let err = values().expand("${tmp").unwrap_err();
        assert!(matches!(err, PlaceholderError::Unclosed { .. }));
    }
}
