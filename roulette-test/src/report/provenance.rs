//! The provenance of a report: the spec file's and the target binary's
//! SHA-256, the git commit of the spec's repository, and the versions of
//! the harness and the kernel. With them a reviewer can tell which code
//! and which build a verdict is about.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The inputs and tools behind one report. A value that could not be
/// determined is `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// `metadata.labels` of the experiment.
    pub labels: BTreeMap<String, String>,
    /// SHA-256 of the spec file's bytes, in lowercase hex.
    pub spec_sha256: Option<String>,
    /// `git rev-parse HEAD` in the spec file's directory, with `-dirty`
    /// appended when tracked files have uncommitted changes.
    pub git_commit: Option<String>,
    /// The target program as the supervisor ran it.
    pub target_program: Option<String>,
    /// SHA-256 of the target program's bytes, in lowercase hex.
    pub target_sha256: Option<String>,
    /// The version of roulette-test that ran the experiment.
    pub harness_version: String,
    /// The operating system and kernel release, such as `Linux 6.1.0`.
    pub kernel: Option<String>,
}

impl Provenance {
    /// Gathers the provenance of an experiment read from `source` (when it
    /// was read from a file) whose commands run in `base_dir`, with target
    /// program `program` when it was resolved. Blocks while it hashes
    /// files and runs `git`, so call it off the async runtime.
    pub fn gather(
        labels: BTreeMap<String, String>,
        source: Option<&Path>,
        base_dir: &Path,
        program: Option<&Path>,
    ) -> Self {
        Provenance {
            labels,
            spec_sha256: source.and_then(|path| sha256_file(path).ok()),
            git_commit: git_commit(source.and_then(Path::parent).unwrap_or(base_dir)),
            target_program: program.map(|path| path.display().to_string()),
            target_sha256: program.and_then(|path| sha256_file(path).ok()),
            harness_version: env!("CARGO_PKG_VERSION").to_owned(),
            kernel: nix::sys::utsname::uname().ok().map(|uname| {
                format!(
                    "{} {}",
                    uname.sysname().to_string_lossy(),
                    uname.release().to_string_lossy()
                )
            }),
        }
    }
}

impl Provenance {
    /// Returns the known facts as `(name, value)` pairs, for the reports.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let mut facts = vec![("roulette-test", self.harness_version.clone())];
        let optional = [
            ("git commit", &self.git_commit),
            ("spec SHA-256", &self.spec_sha256),
            ("target", &self.target_program),
            ("target SHA-256", &self.target_sha256),
            ("kernel", &self.kernel),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                facts.push((name, value.clone()));
            }
        }
        if !self.labels.is_empty() {
            let labels: Vec<String> = self
                .labels
                .iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect();
            facts.push(("labels", labels.join(", ")));
        }
        facts
    }
}

/// Returns the SHA-256 of the file at `path` in lowercase hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Returns the commit checked out in the repository around `dir`, or
/// `None` when git is missing or `dir` is in no repository.
fn git_commit(dir: &Path) -> Option<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "HEAD"]).filter(|commit| !commit.is_empty())?;
    // `--quiet` makes diff exit 1 when tracked files differ from HEAD.
    let clean = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["diff", "--quiet", "HEAD", "--"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    Some(if clean {
        commit
    } else {
        format!("{commit}-dirty")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_file_matches_known_digest() {
        let scratch = tempfile::tempdir().unwrap();
        let path = scratch.path().join("abc");
        std::fs::write(&path, "abc").unwrap();
        assert_eq!(
            sha256_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn gather_outside_repository() {
        let scratch = tempfile::tempdir().unwrap();
        let spec = scratch.path().join("case.yaml");
        std::fs::write(&spec, "abc").unwrap();
        let program = Path::new("/bin/sh");
        let labels = BTreeMap::from([(String::from("team"), String::from("payments"))]);

        let provenance =
            Provenance::gather(labels.clone(), Some(&spec), scratch.path(), Some(program));

        assert_eq!(provenance.labels, labels);
        assert_eq!(
            provenance.spec_sha256.as_deref(),
            Some("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        );
        assert_eq!(
            provenance.git_commit, None,
            "a temp dir is in no repository"
        );
        assert_eq!(provenance.target_sha256, sha256_file(program).ok());
        assert_eq!(provenance.harness_version, env!("CARGO_PKG_VERSION"));
        assert!(
            provenance
                .kernel
                .is_some_and(|kernel| kernel.starts_with("Linux "))
        );
    }

    #[test]
    fn facts_skip_unknown_values() {
        let provenance = Provenance {
            labels: BTreeMap::from([
                (String::from("team"), String::from("payments")),
                (String::from("tier"), String::from("web")),
            ]),
            git_commit: Some(String::from("abc123")),
            harness_version: String::from("0.1.0"),
            ..Provenance::default()
        };
        assert_eq!(
            provenance.facts(),
            vec![
                ("roulette-test", String::from("0.1.0")),
                ("git commit", String::from("abc123")),
                ("labels", String::from("team=payments, tier=web")),
            ]
        );
    }

    #[test]
    fn gather_inside_repository() {
        // This crate's sources are in a git checkout when its tests run
        // from one; a source tarball has no `.git`.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let in_checkout = dir.ancestors().any(|dir| dir.join(".git").exists());
        let provenance = Provenance::gather(BTreeMap::new(), None, dir, None);
        if in_checkout && Command::new("git").arg("--version").output().is_ok() {
            let commit = provenance.git_commit.expect("a commit inside a checkout");
            assert!(commit.len() >= 40, "{commit}");
            assert!(
                commit[..40].chars().all(|c| c.is_ascii_hexdigit()),
                "{commit}"
            );
        }
        assert_eq!(provenance.spec_sha256, None);
        assert_eq!(provenance.target_sha256, None);
    }
}
