//! The cells of the fault and verdict tables, shared by the Markdown and
//! HTML reports. Cells are plain text; each renderer escapes them.

use std::time::Duration;

use super::{FaultReport, Recovery, Verdict};
use crate::spec::format_duration as d;

/// Column headers of the fault table.
pub(crate) const FAULT_HEADERS: [&str; 8] = [
    "fault",
    "at",
    "action",
    "main process",
    "TTR",
    "to exit",
    "to restart",
    "to ready",
];

/// Column headers of the verdict table.
pub(crate) const VERDICT_HEADERS: [&str; 6] = [
    "result",
    "hypothesis",
    "check",
    "measured",
    "threshold",
    "reason",
];

/// Returns one row of the fault table: the firing, its offset, what was
/// sent, how the main process stopped, and the TTR with its split.
pub(crate) fn fault_cells(fault: &FaultReport) -> [String; 8] {
    let optional = |value: Option<Duration>| value.map_or_else(|| String::from("-"), d);
    let none = || String::from("-");
    let (ttr, to_exit, to_restart, to_ready) = match &fault.recovery {
        Recovery::Recovered {
            ttr,
            to_exit,
            to_restart,
            to_ready,
            ..
        } => (
            d(*ttr),
            optional(*to_exit),
            optional(*to_restart),
            d(*to_ready),
        ),
        Recovery::NotRecovered { reason } => {
            (format!("not recovered: {reason}"), none(), none(), none())
        }
        Recovery::Interrupted { by } => (format!("interrupted by {by}"), none(), none(), none()),
        Recovery::NotApplicable => (none(), none(), none(), none()),
    };
    [
        format!("{} #{}", fault.fault, fault.occurrence),
        format!("+{}", d(fault.at)),
        fault.action.clone(),
        fault.stop.to_string(),
        ttr,
        to_exit,
        to_restart,
        to_ready,
    ]
}

/// Returns one row of the verdict table, with `pass` or `fail` first.
pub(crate) fn verdict_cells(verdict: &Verdict) -> [String; 6] {
    let result = if verdict.holds { "pass" } else { "fail" };
    [
        result.to_owned(),
        verdict.name.clone(),
        verdict.check.clone(),
        verdict.measured.clone(),
        verdict.threshold.clone(),
        verdict.reason.clone(),
    ]
}
