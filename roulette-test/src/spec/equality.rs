//! Equality of checked experiments. Regular expressions and PromQL
//! expressions compare by their source text, so a YAML file and the
//! equivalent builder calls give equal experiments.

use super::{Check, Experiment, ProbeKind, ProcessSelector};

impl PartialEq for Experiment {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.description == other.description
            && self.labels == other.labels
            && self.source == other.source
            && self.base_dir == other.base_dir
            && self.target == other.target
            && self.setup == other.setup
            && self.faults == other.faults
            && self.seed == other.seed
            && self.settle == other.settle
            && self.timeout == other.timeout
            && self.hypotheses == other.hypotheses
            && self.metrics == other.metrics
            && self.abort == other.abort
            && self.deny.len() == other.deny.len()
            && self
                .deny
                .iter()
                .zip(&other.deny)
                .all(|(a, b)| a.as_str() == b.as_str())
            && self.cargo_bins == other.cargo_bins
    }
}

impl PartialEq for ProbeKind {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                ProbeKind::Http { url, status },
                ProbeKind::Http {
                    url: other_url,
                    status: other_status,
                },
            ) => url == other_url && status == other_status,
            (ProbeKind::Tcp(a), ProbeKind::Tcp(b)) => a == b,
            (ProbeKind::Log(a), ProbeKind::Log(b)) => a.as_str() == b.as_str(),
            (ProbeKind::Exec(a), ProbeKind::Exec(b)) => a == b,
            _ => false,
        }
    }
}

impl PartialEq for ProcessSelector {
    fn eq(&self, other: &Self) -> bool {
        self.regex.as_str() == other.regex.as_str() && self.pick == other.pick
    }
}

impl PartialEq for Check {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Check::TtrEach(a), Check::TtrEach(b)) => a == b,
            (
                Check::TtrPercentiles { p50, p95, max },
                Check::TtrPercentiles {
                    p50: other_p50,
                    p95: other_p95,
                    max: other_max,
                },
            ) => p50 == other_p50 && p95 == other_p95 && max == other_max,
            (Check::Restarts(a), Check::Restarts(b)) => a == b,
            (Check::Exit(a), Check::Exit(b)) => a == b,
            (Check::Exec(a), Check::Exec(b)) => a == b,
            (
                Check::Metric {
                    expr,
                    threshold,
                    continuous,
                },
                Check::Metric {
                    expr: other_expr,
                    threshold: other_threshold,
                    continuous: other_continuous,
                },
            ) => {
                expr.text() == other_expr.text()
                    && threshold == other_threshold
                    && continuous == other_continuous
            }
            _ => false,
        }
    }
}
