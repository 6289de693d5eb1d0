//! Everything an experiment needs before its target starts: a temp dir,
//! free ports, resolved binaries and expanded placeholders.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::command;
use crate::load::HttpLoad;
use crate::probe::ProbeTarget;
use crate::report::{ErrorKind, ExperimentError};
use crate::spec::{Check, Command, Experiment, Placeholders, ProbeKind, Program, WriteDriver};
use crate::supervisor::{RunAs, SupervisorConfig, watchdog};

/// An experiment with every placeholder expanded.
pub struct Prepared {
    /// The experiment's temp dir, `${tmp}`; removed when this is dropped.
    pub tmp_dir: ExperimentDir,
    pub supervisor: SupervisorConfig,
    pub probe: ProbeTarget,
    pub setup: Vec<Command>,
    /// Expanded metrics endpoint URLs.
    pub metrics_endpoints: Vec<String>,
    /// Expanded `exec` checks, by hypothesis index.
    pub checks: BTreeMap<usize, Command>,
    /// The values the placeholders were expanded with.
    pub placeholders: Placeholders,
    /// The store of `spec.writes`, with placeholders expanded.
    pub writes: Option<PreparedWrites>,
    /// The `load` block, expanded.
    pub load: Option<HttpLoad>,
}

/// `spec.writes` with placeholders expanded, and the id prefix of this run.
pub struct PreparedWrites {
    pub driver: WriteDriver,
    pub config: crate::spec::WritesConfig,
    pub prefix: String,
}

/// An experiment's temp dir, `${tmp}`, removed on drop. The watchdog
/// removes it if the harness dies first, so a test killed by SIGKILL or a
/// timeout does not leave it behind.
pub struct ExperimentDir {
    /// The dir, present until drop.
    dir: Option<tempfile::TempDir>,
}

impl ExperimentDir {
    fn create() -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("roulette-").tempdir()?;
        watchdog::register_dir(dir.path());
        Ok(ExperimentDir { dir: Some(dir) })
    }

    /// Returns the dir's path.
    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("the dir exists until drop").path()
    }
}

impl Drop for ExperimentDir {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        let path = dir.path().to_owned();
        if let Err(err) = dir.close() {
            tracing::warn!(%err, dir = %path.display(), "failed to remove the experiment's temp dir");
        }
        watchdog::unregister_dir(&path);
    }
}

fn error(kind: ErrorKind, message: impl Into<String>) -> ExperimentError {
    ExperimentError {
        kind,
        message: message.into(),
    }
}

/// Prepares `experiment` for one run.
pub fn prepare(experiment: &Experiment, experiment_id: &str) -> Result<Prepared, ExperimentError> {
    let tmp = ExperimentDir::create().map_err(|err| {
        error(
            ErrorKind::Prepare,
            format!("failed to create a temp dir: {err}"),
        )
    })?;

    let mut cargo_bins = BTreeMap::new();
    let mut wanted: Vec<&String> = experiment.cargo_bins.iter().collect();
    if let Program::CargoBin(name) = &experiment.target.program {
        wanted.push(name);
    }
    for name in wanted {
        if !cargo_bins.contains_key(name) {
            cargo_bins.insert(name.clone(), resolve_cargo_bin(name, &experiment.base_dir)?);
        }
    }

    let values = Placeholders {
        ports: allocate_ports(&experiment.target.ports)?,
        tmp: tmp.path().to_owned(),
        experiment_id: experiment_id.to_owned(),
        cargo_bins,
    };
    let expand_error =
        |err: crate::spec::PlaceholderError| error(ErrorKind::Prepare, err.to_string());
    let base_dir = &experiment.base_dir;

    let target = &experiment.target;
    let program = match &target.program {
        Program::Command(command) => {
            let expanded = values.expand(command).map_err(expand_error)?;
            command::find_program(&expanded, base_dir)
                .ok_or_else(|| missing_binary(&expanded, "`spec.target.command`"))?
        }
        Program::CargoBin(name) => values.cargo_bins[name].clone(),
    };
    let mut env = BTreeMap::new();
    for (key, value) in &target.env {
        env.insert(key.clone(), values.expand(value).map_err(expand_error)?);
    }
    let user = match &target.user {
        Some(name) => Some(resolve_user(name, tmp.path())?),
        None => None,
    };
    let supervisor = SupervisorConfig {
        user,
        stop_signal: target.stop_signal.0,
        program,
        args: values.expand_all(&target.args).map_err(expand_error)?,
        env,
        cwd: base_dir.clone(),
        restart: target.restart,
        backoff: target.backoff,
        intensity: target.intensity,
        marker: experiment_id.to_owned(),
    };

    let probe = match &target.ready.probe {
        ProbeKind::Http { url, status } => {
            let url = values.expand(url).map_err(expand_error)?;
            check_expanded_url(&url)?;
            ProbeTarget::Http {
                url,
                status: *status,
            }
        }
        ProbeKind::Tcp(address) => ProbeTarget::Tcp(values.expand(address).map_err(expand_error)?),
        ProbeKind::Log(regex) => ProbeTarget::Log(regex.clone()),
        ProbeKind::Exec(argv) => ProbeTarget::Exec(expand_command(
            &values,
            argv,
            base_dir,
            "`spec.target.ready.exec`",
        )?),
    };

    let mut metrics_endpoints = Vec::new();
    for endpoint in &experiment.metrics.endpoints {
        let url = values.expand(endpoint).map_err(expand_error)?;
        check_expanded_url(&url)?;
        metrics_endpoints.push(url);
    }

    let mut setup = Vec::new();
    for step in &experiment.setup {
        setup.push(Command {
            argv: expand_command(&values, &step.argv, base_dir, "`spec.setup`")?,
            timeout: step.timeout,
        });
    }
    let mut checks = BTreeMap::new();
    for (index, hypothesis) in experiment.hypotheses.iter().enumerate() {
        if let Check::Exec(check) = &hypothesis.check {
            let argv = expand_command(
                &values,
                &check.argv,
                base_dir,
                &format!("hypothesis `{}`", hypothesis.name),
            )?;
            checks.insert(
                index,
                Command {
                    argv,
                    timeout: check.timeout,
                },
            );
        }
    }
    let writes = match &experiment.writes {
        Some(config) => Some(PreparedWrites {
            driver: expand_writes(&values, &config.driver, base_dir)?,
            config: config.clone(),
            prefix: crate::writes::id_prefix(experiment_id),
        }),
        None => None,
    };
    let load = match &experiment.load {
        Some(load) => Some(prepare_load(load, &values)?),
        None => None,
    };
    Ok(Prepared {
        tmp_dir: tmp,
        supervisor,
        probe,
        setup,
        metrics_endpoints,
        checks,
        placeholders: values,
        writes,
        load,
    })
}

/// Expands the placeholders of a writes driver and checks that its
/// addresses are loopback and its programs exist.
fn expand_writes(
    values: &Placeholders,
    driver: &WriteDriver,
    base_dir: &Path,
) -> Result<WriteDriver, ExperimentError> {
    let expand = |text: &str| {
        values
            .expand(text)
            .map_err(|err| error(ErrorKind::Prepare, err.to_string()))
    };
    Ok(match driver {
        WriteDriver::Http { url, list_url } => {
            let url = expand(url)?;
            let list_url = expand(list_url)?;
            check_expanded_url(&url)?;
            check_expanded_url(&list_url)?;
            WriteDriver::Http { url, list_url }
        }
        WriteDriver::Redis { address, key } => WriteDriver::Redis {
            address: expand(address)?,
            key: key.clone(),
        },
        WriteDriver::Postgres {
            address,
            user,
            password,
            database,
            table,
        } => WriteDriver::Postgres {
            address: expand(address)?,
            user: user.clone(),
            password: password.clone(),
            database: database.clone(),
            table: table.clone(),
        },
        WriteDriver::Exec { write, list } => WriteDriver::Exec {
            write: expand_command(values, write, base_dir, "`spec.writes.exec.write`")?,
            list: expand_command(values, list, base_dir, "`spec.writes.exec.list`")?,
        },
    })
}

/// Looks up `name` for `spec.target.user`, and hands the experiment's
/// temp dir to that user so the target can write there. Only root can
/// switch users.
fn resolve_user(name: &str, tmp: &Path) -> Result<RunAs, ExperimentError> {
    use nix::unistd::{Uid, User, chown, getgrouplist};

    let euid = Uid::effective();
    if !euid.is_root() {
        return Err(error(
            ErrorKind::Prepare,
            format!(
                "`spec.target.user` is `{name}`, but only root can run the target as another user, and the harness runs as uid {euid}; run the harness as root or remove `user`"
            ),
        ));
    }
    let user = User::from_name(name)
        .map_err(|err| {
            error(
                ErrorKind::Prepare,
                format!("`spec.target.user`: failed to look up user `{name}`: {err}"),
            )
        })?
        .ok_or_else(|| {
            error(
                ErrorKind::Prepare,
                format!(
                    "`spec.target.user`: user `{name}` does not exist on this machine; create it or name an existing user"
                ),
            )
        })?;
    let c_name = std::ffi::CString::new(name).map_err(|_| {
        error(
            ErrorKind::Prepare,
            format!("`spec.target.user`: invalid user name `{name}`"),
        )
    })?;
    let groups = getgrouplist(&c_name, user.gid).map_err(|err| {
        error(
            ErrorKind::Prepare,
            format!("`spec.target.user`: failed to list the groups of `{name}`: {err}"),
        )
    })?;
    chown(tmp, Some(user.uid), Some(user.gid)).map_err(|err| {
        error(
            ErrorKind::Prepare,
            format!(
                "failed to hand the temp dir {} to user `{name}` for `spec.target.user`: {err}",
                tmp.display()
            ),
        )
    })?;
    Ok(RunAs {
        name: name.to_owned(),
        uid: user.uid,
        gid: user.gid,
        groups,
        home: user.dir,
    })
}

/// Expands the placeholders of the `load` block and checks its URL again.
fn prepare_load(
    load: &crate::spec::LoadConfig,
    values: &Placeholders,
) -> Result<HttpLoad, ExperimentError> {
    let expand_error =
        |err: crate::spec::PlaceholderError| error(ErrorKind::Prepare, err.to_string());
    let url = values.expand(&load.url).map_err(expand_error)?;
    check_expanded_url_as(&url, "load URL")?;
    let body = match &load.body {
        Some(body) => Some(values.expand(body).map_err(expand_error)?),
        None => None,
    };
    let mut headers = Vec::new();
    for (name, value) in &load.headers {
        headers.push((name.clone(), values.expand(value).map_err(expand_error)?));
    }
    HttpLoad::new(
        &load.method,
        &url,
        &headers,
        body,
        load.status,
        load.rate.per_second,
        load.timeout.0,
        load.max_in_flight,
    )
    .map_err(|message| error(ErrorKind::Prepare, message))
}

/// Checks a probe URL once its placeholders are expanded, with a real URL
/// parser: its host must be a loopback address or `localhost`, with no
/// user information, because probes never leave the machine.
pub(super) fn check_expanded_url(url: &str) -> Result<(), ExperimentError> {
    check_expanded_url_as(url, "probe URL")
}

/// Checks an expanded URL like [`check_expanded_url`]. The error names
/// the URL with `subject`.
fn check_expanded_url_as(url: &str, subject: &str) -> Result<(), ExperimentError> {
    let invalid = |reason: String| error(ErrorKind::Prepare, format!("{subject} `{url}` {reason}"));
    let parsed = reqwest::Url::parse(url).map_err(|err| invalid(format!("is invalid: {err}")))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(String::from(
            "has user information; write the loopback host alone",
        )));
    }
    let host = parsed.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(invalid(String::from(
            "does not name a loopback host; the harness only sends to 127.0.0.1, ::1 or localhost",
        )))
    }
}

/// Expands a command and checks that its program exists.
fn expand_command(
    values: &Placeholders,
    argv: &[String],
    base_dir: &Path,
    used_by: &str,
) -> Result<Vec<String>, ExperimentError> {
    let expanded = values
        .expand_all(argv)
        .map_err(|err| error(ErrorKind::Prepare, err.to_string()))?;
    if command::find_program(&expanded[0], base_dir).is_none() {
        return Err(missing_binary(&expanded[0], used_by));
    }
    Ok(expanded)
}

fn missing_binary(program: &str, used_by: &str) -> ExperimentError {
    let hint = if program.contains('/') {
        "check the path; relative paths resolve against the spec file's directory"
    } else {
        "install it or add its directory to PATH"
    };
    error(
        ErrorKind::MissingBinary,
        format!("binary `{program}` used by {used_by} was not found or is not executable; {hint}"),
    )
}

/// Binds one 127.0.0.1 port per name. All listeners stay open until every
/// port is chosen, so no two names get the same port.
fn allocate_ports(names: &[String]) -> Result<BTreeMap<String, u16>, ExperimentError> {
    let mut listeners = Vec::new();
    let mut ports = BTreeMap::new();
    for name in names {
        let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|err| {
            error(
                ErrorKind::Prepare,
                format!("failed to allocate port `{name}` on 127.0.0.1: {err}"),
            )
        })?;
        let port = listener
            .local_addr()
            .map_err(|err| error(ErrorKind::Prepare, err.to_string()))?
            .port();
        ports.insert(name.clone(), port);
        listeners.push(listener);
    }
    // NOTE: the ports are free again once the listeners close here, and
    // another process could take one before the target binds it. The
    // kernel hands out ephemeral ports in sequence, so that needs a port
    // collision within the moments before the spawn.
    Ok(ports)
}

/// Finds the binary `name` of the cargo workspace that contains
/// `base_dir`. Under `cargo test` of the binary's own package,
/// `CARGO_BIN_EXE_<name>` names it; otherwise `cargo build` builds it (a
/// no-op when it is up to date) and reports its path.
pub fn resolve_cargo_bin(name: &str, base_dir: &Path) -> Result<PathBuf, ExperimentError> {
    if let Some(path) = std::env::var_os(format!("CARGO_BIN_EXE_{name}")) {
        return Ok(PathBuf::from(path));
    }
    // A first build can take minutes, which would look like a hang.
    eprintln!(
        "building cargo_bin `{name}` with `cargo build` in {}...",
        base_dir.display()
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = std::process::Command::new(&cargo);
    command
        .args([
            "build",
            "--quiet",
            // From a member package that lacks the binary, a plain
            // `--bin` finds nothing; the workspace has it.
            "--workspace",
            "--message-format=json-render-diagnostics",
            "--bin",
            name,
        ])
        .current_dir(base_dir);
    if built_in_release() {
        command.arg("--release");
    }
    let output = command.stderr(std::process::Stdio::piped()).output().map_err(|err| {
        error(ErrorKind::MissingBinary, format!("cargo_bin `{name}` needs cargo to build it, and cargo could not be started: {err}"))
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .find(|line| line.starts_with("error"))
            .or_else(|| stderr.lines().rfind(|line| !line.trim().is_empty()))
            .unwrap_or_default();
        return Err(error(
            ErrorKind::MissingBinary,
            format!(
                "cargo_bin `{name}` could not be built in {}: {last}; `cargo_bin` needs the spec inside a cargo workspace that has a binary named `{name}`; outside one, use `command:` with the binary's path",
                base_dir
                    .canonicalize()
                    .unwrap_or_else(|_| base_dir.to_owned())
                    .display()
            ),
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| {
            message["reason"] == "compiler-artifact" && message["target"]["name"] == name
        })
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| {
            error(
                ErrorKind::MissingBinary,
                format!("cargo built no executable named `{name}`"),
            )
        })
}

/// Returns whether this process is itself an optimised build, so that a
/// `cargo run --release` of the harness runs the target in release too.
fn built_in_release() -> bool {
    !cfg!(debug_assertions)
}

/// The time that the teardown waits after SIGTERM before it sends SIGKILL.
pub const TEARDOWN_GRACE: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expanded_url_must_be_loopback() {
        assert!(check_expanded_url("http://127.0.0.1:8080/healthz").is_ok());
        assert!(check_expanded_url("http://[::1]:8080/").is_ok());
        assert!(check_expanded_url("http://localhost:8080/").is_ok());
        assert!(check_expanded_url("http://localhost:1@host.invalid/").is_err());
        assert!(check_expanded_url("http://host.invalid/").is_err());
        assert!(check_expanded_url("http://127.0.0.2.host.invalid/").is_err());
    }
}
