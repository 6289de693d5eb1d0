//! Tracks metric families while parsing: metadata, which family a sample
//! belongs to, and the structural rules on families.

use std::collections::{HashMap, HashSet};

use super::cursor::parse_float;
use super::error::ParseErrorKind;
use super::{Metadata, MetricType};
use crate::metrics::labels::Labels;

/// Sample name suffixes that each family type allows, besides the bare
/// family name for gauges, unknown, stateset and summary quantiles.
fn allowed_suffixes(metric_type: MetricType, openmetrics: bool) -> &'static [&'static str] {
    match metric_type {
        MetricType::Counter if openmetrics => &["_total", "_created"],
        MetricType::Histogram => &["_bucket", "_sum", "_count", "_created"],
        MetricType::GaugeHistogram => &["_bucket", "_gsum", "_gcount"],
        MetricType::Summary => &["_sum", "_count", "_created"],
        MetricType::Info => &["_info"],
        _ => &[],
    }
}

/// The family a sample belongs to.
pub(super) struct SampleFamily<'a> {
    pub(super) name: &'a str,
    pub(super) metric_type: Option<MetricType>,
    pub(super) suffix: &'a str,
}

#[derive(Default)]
pub(super) struct Families {
    metadata: Vec<Metadata>,
    index: HashMap<String, usize>,
    with_samples: HashSet<String>,
    current: Option<String>,
    closed: HashSet<String>,
    openmetrics: bool,
}

impl Families {
    pub(super) fn new(openmetrics: bool) -> Self {
        Self {
            openmetrics,
            ..Self::default()
        }
    }

    pub(super) fn into_metadata(self) -> Vec<Metadata> {
        self.metadata
    }

    fn entry(&mut self, family: &str) -> &mut Metadata {
        let index = *self.index.entry(family.to_owned()).or_insert_with(|| {
            self.metadata.push(Metadata {
                family: family.to_owned(),
                metric_type: None,
                help: None,
                unit: None,
            });
            self.metadata.len() - 1
        });
        &mut self.metadata[index]
    }

    /// Records that the lines that follow belong to `family`. OpenMetrics
    /// requires each family's lines to be contiguous.
    fn enter(&mut self, family: &str) -> Result<(), ParseErrorKind> {
        if !self.openmetrics || self.current.as_deref() == Some(family) {
            return Ok(());
        }
        if self.closed.contains(family) {
            return Err(ParseErrorKind::InterleavedFamily {
                family: family.to_owned(),
            });
        }
        if let Some(previous) = self.current.replace(family.to_owned()) {
            self.closed.insert(previous);
        }
        Ok(())
    }

    fn check_before_samples(
        &self,
        keyword: &'static str,
        family: &str,
    ) -> Result<(), ParseErrorKind> {
        if self.with_samples.contains(family) {
            return Err(ParseErrorKind::MetadataAfterSamples {
                keyword,
                family: family.to_owned(),
            });
        }
        Ok(())
    }

    pub(super) fn set_type(
        &mut self,
        family: &str,
        metric_type: MetricType,
    ) -> Result<(), ParseErrorKind> {
        self.enter(family)?;
        self.check_before_samples("TYPE", family)?;
        let entry = self.entry(family);
        if entry.metric_type.is_some() {
            return Err(ParseErrorKind::DuplicateMetadata {
                keyword: "TYPE",
                family: family.to_owned(),
            });
        }
        entry.metric_type = Some(metric_type);
        Ok(())
    }

    pub(super) fn set_help(&mut self, family: &str, help: String) -> Result<(), ParseErrorKind> {
        self.enter(family)?;
        if self.openmetrics {
            self.check_before_samples("HELP", family)?;
        }
        let entry = self.entry(family);
        if entry.help.is_some() {
            return Err(ParseErrorKind::DuplicateMetadata {
                keyword: "HELP",
                family: family.to_owned(),
            });
        }
        entry.help = Some(help);
        Ok(())
    }

    pub(super) fn set_unit(&mut self, family: &str, unit: String) -> Result<(), ParseErrorKind> {
        self.enter(family)?;
        self.check_before_samples("UNIT", family)?;
        if !unit.is_empty() && !family.ends_with(&format!("_{unit}")) {
            return Err(ParseErrorKind::UnitNotSuffix {
                unit,
                family: family.to_owned(),
            });
        }
        let entry = self.entry(family);
        if entry.unit.is_some() {
            return Err(ParseErrorKind::DuplicateMetadata {
                keyword: "UNIT",
                family: family.to_owned(),
            });
        }
        entry.unit = Some(unit);
        Ok(())
    }

    fn metric_type(&self, family: &str) -> Option<MetricType> {
        let index = self.index.get(family)?;
        self.metadata[*index].metric_type
    }

    /// Finds the family of a sample name: a family declared with exactly
    /// that name, or one whose type allows the name's suffix.
    pub(super) fn resolve<'a>(&self, name: &'a str) -> SampleFamily<'a> {
        if let Some(metric_type) = self.metric_type(name) {
            return SampleFamily {
                name,
                metric_type: Some(metric_type),
                suffix: "",
            };
        }
        for suffix in [
            "_total", "_created", "_bucket", "_sum", "_count", "_gsum", "_gcount", "_info",
        ] {
            let Some(family) = name.strip_suffix(suffix) else {
                continue;
            };
            let Some(metric_type) = self.metric_type(family) else {
                continue;
            };
            if allowed_suffixes(metric_type, self.openmetrics).contains(&suffix) {
                return SampleFamily {
                    name: family,
                    metric_type: Some(metric_type),
                    suffix,
                };
            }
        }
        SampleFamily {
            name,
            metric_type: None,
            suffix: "",
        }
    }

    /// Checks a sample against its family's type and records it.
    pub(super) fn add_sample(
        &mut self,
        family: &SampleFamily<'_>,
        labels: &Labels,
    ) -> Result<(), ParseErrorKind> {
        self.enter(family.name)?;
        self.with_samples.insert(family.name.to_owned());
        let name = labels.metric_name().unwrap_or_default();
        match (family.metric_type, family.suffix) {
            (Some(MetricType::Counter), "") if self.openmetrics => {
                Err(ParseErrorKind::CounterWithoutTotal {
                    family: family.name.to_owned(),
                    name: name.to_owned(),
                })
            }
            (Some(MetricType::Histogram | MetricType::GaugeHistogram), "_bucket") => {
                require_float_label("histogram", labels, "le")
            }
            (Some(MetricType::Summary), "") => require_float_label("summary", labels, "quantile"),
            _ => Ok(()),
        }
    }
}

fn require_float_label(
    family_type: &'static str,
    labels: &Labels,
    label: &'static str,
) -> Result<(), ParseErrorKind> {
    let value = labels.get(label);
    if value.and_then(parse_float).is_some() {
        return Ok(());
    }
    Err(ParseErrorKind::InvalidBucketLabel {
        family_type,
        name: labels.metric_name().unwrap_or_default().to_owned(),
        label,
        found: match value {
            Some(value) => format!("{value:?}"),
            None => "none".into(),
        },
    })
}
