//! Report files that the test harness writes for each case: JSON,
//! Markdown with its timeline picture, and HTML, plus the audit log entry
//! and the GitHub Actions step summary.
//!
//! Environment variables:
//!
//! - `ROULETTE_REPORT_DIR`: the folder for report files. Default:
//!   `roulette/<test target>` in the cargo target directory.
//! - `ROULETTE_AUDIT_LOG`: the audit log, or `off`. Default:
//!   `roulette-audit.jsonl` in the cargo target directory.
//! - `GITHUB_STEP_SUMMARY`: when set, each case's Markdown is appended to
//!   the file it names.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::audit::{self, AuditEntry, SpecFile};
use super::{Report, render_html, render_markdown, render_timeline_svg};

/// The variable that names the folder for report files.
pub const REPORT_DIR_VARIABLE: &str = "ROULETTE_REPORT_DIR";
/// The variable that names the audit log, or turns it `off`.
pub const AUDIT_LOG_VARIABLE: &str = "ROULETTE_AUDIT_LOG";

/// The locations of the report files that the harness writes for its cases.
#[derive(Clone, Debug)]
pub struct ReportFiles {
    /// The folder of JSON, Markdown, SVG and HTML files.
    pub dir: PathBuf,
    /// The audit log, unless it is off.
    pub audit_log: Option<PathBuf>,
    /// `$GITHUB_STEP_SUMMARY`.
    pub step_summary: Option<PathBuf>,
}

/// The files written for one case.
#[derive(Clone, Debug)]
pub struct WrittenFiles {
    pub html: PathBuf,
    pub json: PathBuf,
    pub markdown: PathBuf,
}

impl ReportFiles {
    /// Reads the locations from the environment, with defaults inside the
    /// cargo target directory of the running test binary.
    pub fn from_env(test_target: &str) -> Self {
        let target_dir = cargo_target_dir();
        let variable = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
        let dir = variable(REPORT_DIR_VARIABLE).map_or_else(
            || target_dir.join("roulette").join(test_target),
            PathBuf::from,
        );
        ReportFiles {
            dir,
            audit_log: audit_log_from_env(&target_dir),
            step_summary: variable("GITHUB_STEP_SUMMARY").map(PathBuf::from),
        }
    }

    /// Writes the report files of case `case`, appends its audit entry and
    /// its step summary. Returns the files written, or an error message
    /// naming the file that failed.
    pub fn write(
        &self,
        case: &str,
        report: &Report,
        spec: Option<&SpecFile>,
        started: SystemTime,
        ended: SystemTime,
    ) -> Result<WrittenFiles, String> {
        let stem = file_stem(case);
        let written = WrittenFiles {
            html: self.dir.join(format!("{stem}.html")),
            json: self.dir.join(format!("{stem}.json")),
            markdown: self.dir.join(format!("{stem}.md")),
        };
        let picture = self.dir.join(format!("{stem}.timeline.svg"));
        let picture_name = format!("{stem}.timeline.svg");

        std::fs::create_dir_all(&self.dir).map_err(|err| {
            format!(
                "failed to create the report folder {}: {err}",
                self.dir.display()
            )
        })?;
        let files = [
            (&written.json, report.to_json()),
            (&picture, render_timeline_svg(report)),
            (
                &written.markdown,
                render_markdown(report, Some(&picture_name)),
            ),
            (&written.html, render_html(std::slice::from_ref(report))),
        ];
        for (path, text) in files {
            std::fs::write(path, text)
                .map_err(|err| format!("failed to write {}: {err}", path.display()))?;
        }

        if let Some(path) = &self.audit_log {
            let entry = AuditEntry::new(report, spec, started, ended);
            audit::append(path, entry).map_err(|err| err.to_string())?;
        }
        if let Some(path) = &self.step_summary {
            let markdown = render_markdown(report, None);
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
                .and_then(|mut file| file.write_all(format!("{markdown}\n").as_bytes()))
                .map_err(|err| {
                    format!(
                        "failed to append to GITHUB_STEP_SUMMARY ({}): {err}",
                        path.display()
                    )
                })?;
        }
        Ok(written)
    }
}

/// Returns a file name stem for case `case`: its path with `/` as `__`
/// and every character outside `[A-Za-z0-9._-]` as `_`.
pub fn file_stem(case: &str) -> String {
    case.replace('/', "__")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Returns the audit log that `ROULETTE_AUDIT_LOG` names, `None` when it
/// is `off`, and by default `roulette-audit.jsonl` in `target_dir`.
pub fn audit_log_from_env(target_dir: &Path) -> Option<PathBuf> {
    match std::env::var_os(AUDIT_LOG_VARIABLE).filter(|value| !value.is_empty()) {
        Some(value) if value == "off" => None,
        Some(path) => Some(PathBuf::from(path)),
        None => Some(target_dir.join(audit::DEFAULT_FILE_NAME)),
    }
}

/// Files that cargo writes at the root of a target directory. Cargo 1.95
/// writes `CACHEDIR.TAG` only when it creates the directory itself, so a
/// target directory that a script made first (say, for a downloaded file)
/// has only `.rustc_info.json`.
const TARGET_DIR_MARKERS: [&str; 2] = ["CACHEDIR.TAG", ".rustc_info.json"];

/// Returns the cargo target directory of the running binary: the nearest
/// ancestor of the executable that contains one of the files cargo writes at
/// the root of every target directory. Falls back to `$CARGO_TARGET_DIR`,
/// then to `./target`.
pub fn cargo_target_dir() -> PathBuf {
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        exe.ancestors()
            .skip(1)
            .find(|dir| is_target_dir(dir))
            .map(Path::to_path_buf)
    });
    from_exe.unwrap_or_else(|| {
        std::env::var_os("CARGO_TARGET_DIR")
            .filter(|dir| !dir.is_empty())
            .map_or_else(|| PathBuf::from("target"), PathBuf::from)
    })
}

fn is_target_dir(dir: &Path) -> bool {
    TARGET_DIR_MARKERS
        .iter()
        .any(|marker| dir.join(marker).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample::timeline_report;

    #[test]
    fn file_stem_flattens_case_path() {
        assert_eq!(file_stem("workers/sigkill.yaml"), "workers__sigkill.yaml");
        assert_eq!(file_stem("a b/c$d.yml"), "a_b__c_d.yml");
    }

    #[test]
    fn target_dir_without_cachedir_tag_recognised() {
        // A target dir that a script created before cargo ran.
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_target_dir(dir.path()));
        std::fs::write(dir.path().join(".rustc_info.json"), "{}").unwrap();
        assert!(is_target_dir(dir.path()));
    }

    #[test]
    fn target_dir_found_from_test_binary() {
        // Test binaries live in <target>/debug/deps.
        let dir = cargo_target_dir();
        assert!(is_target_dir(&dir), "{}", dir.display());
        assert!(
            !is_target_dir(&dir.join("debug")),
            "found {}/debug, not the target dir",
            dir.display()
        );
        let exe = std::env::current_exe().unwrap();
        assert!(
            exe.starts_with(&dir),
            "{} is not under {}",
            exe.display(),
            dir.display()
        );
    }

    #[test]
    fn write_creates_every_file() {
        let scratch = tempfile::tempdir().unwrap();
        let files = ReportFiles {
            dir: scratch.path().join("reports"),
            audit_log: Some(scratch.path().join("audit.jsonl")),
            step_summary: Some(scratch.path().join("summary.md")),
        };
        let now = SystemTime::now();
        let report = timeline_report();
        let written = files
            .write("workers/kill.yaml", &report, None, now, now)
            .expect("files are written");

        let markdown = std::fs::read_to_string(&written.markdown).unwrap();
        assert!(
            markdown.contains("](workers__kill.yaml.timeline.svg)"),
            "{markdown}"
        );
        let picture = scratch
            .path()
            .join("reports/workers__kill.yaml.timeline.svg");
        assert!(
            std::fs::read_to_string(picture)
                .unwrap()
                .starts_with("<svg ")
        );
        let html = std::fs::read_to_string(&written.html).unwrap();
        assert!(html.contains("<svg "));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&written.json).unwrap()).unwrap();
        assert_eq!(json["seed"], 42);

        let summary = std::fs::read_to_string(scratch.path().join("summary.md")).unwrap();
        assert!(summary.contains("FAILED"));
        assert!(!summary.contains("!["), "the step summary links no picture");
        let verified = audit::verify(&scratch.path().join("audit.jsonl")).unwrap();
        assert_eq!(verified.entries, 1);
    }

    #[test]
    fn write_names_unwritable_folder() {
        let scratch = tempfile::tempdir().unwrap();
        let blocker = scratch.path().join("file");
        std::fs::write(&blocker, "").unwrap();
        let files = ReportFiles {
            dir: blocker.join("reports"),
            audit_log: None,
            step_summary: None,
        };
        let now = SystemTime::now();
        let err = files
            .write("a.yaml", &timeline_report(), None, now, now)
            .unwrap_err();
        assert!(err.contains("failed to create the report folder"), "{err}");
        assert!(err.contains(&blocker.display().to_string()), "{err}");
    }
}
