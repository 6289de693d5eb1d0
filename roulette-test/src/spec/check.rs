//! The checks that serde cannot express: exactly-one-of choices,
//! placeholders, loopback-only probe addresses and schedules.

use std::collections::BTreeSet;
use std::path::Path;

use regex::Regex;
use serde_saphyr::Spanned;

use super::load::{Context, SpecError};
use super::location::is_key;
use super::placeholder::{self, Placeholder, Segment};
use super::{
    API_VERSION, Check, Command, Document, ExecStep, Experiment, Fault, FaultAction, FaultSpec,
    FaultTarget, FaultTargetSpec, Hypothesis, HypothesisSpec, KIND, LoadConfig, LoadSpec,
    ProbeKind, Program, Readiness, ReadySpec, ScheduleSpec, TargetConfig, TtrSpec,
};

/// Turns a parsed [`Document`] into a checked [`Experiment`].
pub(super) struct Checker<'a> {
    pub(super) context: &'a Context<'a>,
    cargo_bins: BTreeSet<String>,
}

impl<'a> Checker<'a> {
    pub(super) fn new(context: &'a Context<'a>) -> Self {
        Checker {
            context,
            cargo_bins: BTreeSet::new(),
        }
    }

    pub(super) fn check(
        mut self,
        document: Document,
        file: Option<&Path>,
        base_dir: &Path,
    ) -> Result<Experiment, SpecError> {
        let cx = self.context;
        if document.api_version.value != API_VERSION {
            return Err(cx.at(
                &document.api_version,
                "apiVersion",
                format!("unsupported apiVersion `{}`; this version of roulette-test reads `{API_VERSION}`", document.api_version.value),
            ));
        }
        if document.kind.value != KIND {
            return Err(cx.at(
                &document.kind,
                "kind",
                format!(
                    "unsupported kind `{}`; write `kind: {KIND}`",
                    document.kind.value
                ),
            ));
        }
        if document.metadata.name.trim().is_empty() {
            return Err(cx.at(
                &document.api_version,
                "metadata.name",
                "the experiment name is empty; give it a name",
            ));
        }

        let spec = document.spec;
        let target = self.check_target(&spec.target)?;
        let deny = check_deny(cx, &spec.target, &spec.policy.deny)?;
        let metrics = self.check_metrics(&spec.target, &target.ports)?;
        if let Some(max) = spec
            .policy
            .max_concurrent
            .as_ref()
            .filter(|max| max.value != 1)
        {
            return Err(cx.at(
                max,
                "spec.policy.max_concurrent",
                format!("max_concurrent {} is not supported: this version injects one fault at a time; set it to 1 or remove it", max.value),
            ));
        }
        if spec.policy.abort.failed_recoveries == Some(0) {
            return Err(cx.at(
                &spec.target,
                "spec.policy.abort.failed_recoveries",
                "`failed_recoveries` is 0, which would abort before any fault; set it to 1 or more",
            ));
        }
        let setup = spec
            .setup
            .iter()
            .enumerate()
            .map(|(i, step)| {
                self.check_command(
                    step,
                    &step.value,
                    &format!("spec.setup[{i}].exec"),
                    &target.ports,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;

        let mut names = BTreeSet::new();
        let mut faults = Vec::new();
        for (i, fault) in spec.faults.iter().enumerate() {
            let checked = self.check_fault(fault, i, &deny)?;
            if !names.insert(checked.name.clone()) {
                return Err(cx.at(
                    fault,
                    format!("spec.faults[{i}].name"),
                    format!(
                        "duplicate fault name `{}`; give each fault its own name",
                        checked.name
                    ),
                ));
            }
            faults.push(checked);
        }

        let writes = match &spec.writes {
            Some(writes) => Some(self.check_writes(writes, &target.ports)?),
            None => None,
        };
        let load = spec
            .load
            .as_ref()
            .map(|load| self.check_load(load, &target.ports))
            .transpose()?;

        let mut names = BTreeSet::new();
        let mut hypotheses = Vec::new();
        for (i, hypothesis) in spec.hypothesis.iter().enumerate() {
            let checked = self.check_hypothesis(
                hypothesis,
                i,
                &target.ports,
                &faults,
                writes.is_some(),
                load.is_some(),
            )?;
            if !names.insert(checked.name.clone()) {
                return Err(cx.at(
                    hypothesis,
                    format!("spec.hypothesis[{i}].name"),
                    format!(
                        "duplicate hypothesis name `{}`; give each hypothesis its own name",
                        checked.name
                    ),
                ));
            }
            hypotheses.push(checked);
        }

        if spec.policy.timeout.0.is_zero() {
            return Err(cx.at(
                &spec.target,
                "spec.policy.timeout",
                "the experiment timeout is zero; set it above zero, such as `2m`",
            ));
        }

        Ok(Experiment {
            name: document.metadata.name,
            description: document.metadata.description,
            labels: document.metadata.labels,
            source: file.map(Path::to_owned),
            base_dir: base_dir.to_owned(),
            target,
            setup,
            faults,
            seed: spec.seed,
            settle: spec.settle,
            timeout: spec.policy.timeout,
            hypotheses,
            abort: spec.policy.abort,
            metrics,
            writes,
            deny,
            cargo_bins: self.cargo_bins,
            load,
        })
    }

    fn check_load(
        &mut self,
        load: &Spanned<LoadSpec>,
        ports: &[String],
    ) -> Result<LoadConfig, SpecError> {
        let cx = self.context;
        let http = &load.value.http;
        let spec = &http.value;
        self.check_templates(
            http,
            "spec.load.http.url",
            std::slice::from_ref(&spec.url),
            ports,
        )?;
        check_loopback_url_as(&spec.url, "load URL", LOAD_REACH)
            .map_err(|message| cx.at(http, "spec.load.http.url", message))?;
        if let Some(body) = &spec.body {
            self.check_templates(
                http,
                "spec.load.http.body",
                std::slice::from_ref(body),
                ports,
            )?;
        }
        let header_values: Vec<String> = spec.headers.values().cloned().collect();
        self.check_templates(http, "spec.load.http.headers", &header_values, ports)?;
        super::traffic::check_http_load(spec).map_err(|(field, message)| {
            let field = format!("spec.load.http.{field}");
            if field.ends_with(".rate") {
                cx.at(&spec.rate, field, message)
            } else {
                cx.at(http, field, message)
            }
        })?;
        Ok(LoadConfig {
            url: spec.url.clone(),
            method: spec.method.clone(),
            body: spec.body.clone(),
            headers: spec.headers.clone(),
            status: spec.status,
            rate: spec.rate.value,
            timeout: spec.timeout,
            max_in_flight: spec.max_in_flight,
        })
    }

    fn check_target(&mut self, target: &Spanned<super::Target>) -> Result<TargetConfig, SpecError> {
        let cx = self.context;
        let program = match (&target.value.command, &target.value.cargo_bin) {
            (Some(command), None) => {
                self.check_templates(
                    command,
                    "spec.target.command",
                    std::slice::from_ref(&command.value),
                    &target.value.ports,
                )?;
                Program::Command(command.value.clone())
            }
            (None, Some(bin)) => Program::CargoBin(bin.value.clone()),
            (Some(command), Some(_)) => {
                return Err(cx.at(
                    command,
                    "spec.target",
                    "both `command` and `cargo_bin` are set; keep exactly one of them",
                ));
            }
            (None, None) => {
                return Err(cx.at(target, "spec.target", "no program to run; set `command` (a path or a name on PATH) or `cargo_bin` (a binary of this cargo workspace)"));
            }
        };

        let mut seen = BTreeSet::new();
        for port in &target.value.ports {
            if !is_key(port) || port.contains('-') {
                return Err(cx.at(
                    target,
                    "spec.target.ports",
                    format!("invalid port name `{port}`; use letters, digits and `_`"),
                ));
            }
            if !seen.insert(port) {
                return Err(cx.at(
                    target,
                    "spec.target.ports",
                    format!("duplicate port name `{port}`"),
                ));
            }
        }

        let ports = &target.value.ports;
        self.check_templates(target, "spec.target.args", &target.value.args, ports)?;
        let env_values: Vec<String> = target.value.env.values().cloned().collect();
        self.check_templates(target, "spec.target.env", &env_values, ports)?;

        let backoff = target.value.supervisor.backoff;
        if !(backoff.factor.is_finite() && backoff.factor >= 1.0) {
            return Err(cx.at(
                target,
                "spec.target.supervisor.backoff.factor",
                format!(
                    "backoff factor {} is below 1; use 1 for a constant delay or more to grow it",
                    backoff.factor
                ),
            ));
        }
        if backoff.initial > backoff.max {
            return Err(cx.at(
                target,
                "spec.target.supervisor.backoff",
                format!(
                    "backoff initial {} is above max {}; lower initial or raise max",
                    backoff.initial, backoff.max
                ),
            ));
        }

        let ready = self.check_ready(&target.value.ready, ports)?;
        if let Some(user) = &target.value.user
            && (user.value.trim().is_empty() || user.value.contains(['/', ':', '\n']))
        {
            return Err(cx.at(
                user,
                "spec.target.user",
                format!(
                    "invalid user name `{}`; give the name of a user of this machine, such as `postgres`",
                    user.value
                ),
            ));
        }
        let stop_signal = target
            .value
            .stop_signal
            .unwrap_or(super::SignalName(nix::sys::signal::Signal::SIGTERM));
        if stop_signal.0 == nix::sys::signal::Signal::SIGKILL {
            return Err(cx.at(
                target,
                "spec.target.stop_signal",
                "SIGKILL gives the target no chance to stop cleanly, and teardown sends it anyway after its grace period; choose a signal that asks for a stop, such as SIGTERM or SIGINT",
            ));
        }
        Ok(TargetConfig {
            program,
            args: target.value.args.clone(),
            env: target.value.env.clone(),
            ports: ports.clone(),
            restart: target.value.supervisor.restart,
            backoff,
            intensity: target.value.supervisor.intensity,
            ready,
            user: target.value.user.as_ref().map(|user| user.value.clone()),
            stop_signal,
        })
    }

    fn check_metrics(
        &mut self,
        target: &Spanned<super::Target>,
        ports: &[String],
    ) -> Result<super::MetricsConfig, SpecError> {
        let cx = self.context;
        let Some(spanned) = &target.value.metrics else {
            let defaults = super::MetricsConfig {
                endpoints: Vec::new(),
                interval: super::Dur::from_millis(250),
                timeout: super::Dur::from_millis(500),
            };
            return Ok(defaults);
        };
        let spec = &spanned.value;
        let endpoints: Vec<String> = spec.url.iter().chain(&spec.urls).cloned().collect();
        if endpoints.is_empty() {
            return Err(cx.at(spanned, "spec.target.metrics.url", "no endpoint; set `url` (or `urls` for several), such as `http://127.0.0.1:${port.http}/metrics`"));
        }
        self.check_templates(spanned, "spec.target.metrics.url", &endpoints, ports)?;
        for endpoint in &endpoints {
            check_loopback_url(endpoint)
                .map_err(|message| cx.at(spanned, "spec.target.metrics.url", message))?;
        }
        for (name, value) in [("interval", spec.interval), ("timeout", spec.timeout)] {
            if value.0.is_zero() {
                return Err(cx.at(
                    spanned,
                    format!("spec.target.metrics.{name}"),
                    format!("`{name}` is zero; set it above zero"),
                ));
            }
        }
        Ok(super::MetricsConfig {
            endpoints,
            interval: spec.interval,
            timeout: spec.timeout,
        })
    }

    fn check_ready(
        &mut self,
        ready: &Spanned<ReadySpec>,
        ports: &[String],
    ) -> Result<Readiness, SpecError> {
        let cx = self.context;
        let spec = &ready.value;
        let count = [
            spec.http.is_some(),
            spec.tcp.is_some(),
            spec.log.is_some(),
            spec.exec.is_some(),
        ]
        .iter()
        .filter(|set| **set)
        .count();
        if count != 1 {
            return Err(cx.at(
                ready,
                "spec.target.ready",
                format!(
                    "{count} probes are set; set exactly one of `http`, `tcp`, `log` or `exec`"
                ),
            ));
        }
        let probe = if let Some(http) = &spec.http {
            self.check_templates(
                ready,
                "spec.target.ready.http.url",
                std::slice::from_ref(&http.url),
                ports,
            )?;
            check_loopback_url(&http.url)
                .map_err(|message| cx.at(ready, "spec.target.ready.http.url", message))?;
            ProbeKind::Http {
                url: http.url.clone(),
                status: http.status,
            }
        } else if let Some(address) = &spec.tcp {
            self.check_templates(
                ready,
                "spec.target.ready.tcp",
                std::slice::from_ref(address),
                ports,
            )?;
            check_loopback_host(
                address
                    .rsplit_once(':')
                    .map_or(address.as_str(), |(host, _)| host),
            )
            .map_err(|message| cx.at(ready, "spec.target.ready.tcp", message))?;
            ProbeKind::Tcp(address.clone())
        } else if let Some(pattern) = &spec.log {
            let regex = Regex::new(pattern)
                .map_err(|err| cx.at(ready, "spec.target.ready.log", regex_error(pattern, &err)))?;
            ProbeKind::Log(regex)
        } else {
            let argv = spec.exec.clone().unwrap_or_default();
            if argv.is_empty() {
                return Err(cx.at(
                    ready,
                    "spec.target.ready.exec",
                    "the command is empty; give a program and its arguments",
                ));
            }
            self.check_templates(ready, "spec.target.ready.exec", &argv, ports)?;
            ProbeKind::Exec(argv)
        };
        for (field, value) in [
            ("interval", spec.interval),
            ("attempt_timeout", spec.attempt_timeout),
            ("timeout", spec.timeout),
        ] {
            if value.0.is_zero() {
                return Err(cx.at(
                    ready,
                    format!("spec.target.ready.{field}"),
                    format!("`{field}` is zero; set it above zero"),
                ));
            }
        }
        Ok(Readiness {
            probe,
            interval: spec.interval,
            attempt_timeout: spec.attempt_timeout,
            timeout: spec.timeout,
        })
    }

    fn check_command<T>(
        &mut self,
        at: &Spanned<T>,
        step: &ExecStep,
        field: &str,
        ports: &[String],
    ) -> Result<Command, SpecError> {
        if step.exec.is_empty() {
            return Err(self.context.at(
                at,
                field,
                "the command is empty; give a program and its arguments",
            ));
        }
        self.check_templates(at, field, &step.exec, ports)?;
        Ok(Command {
            argv: step.exec.clone(),
            timeout: step.timeout,
        })
    }

    /// Checks placeholder syntax and port names, and records the
    /// `${cargo_bin.NAME}` binaries that the run must resolve.
    pub(super) fn check_templates<T>(
        &mut self,
        at: &Spanned<T>,
        field: &str,
        templates: &[String],
        ports: &[String],
    ) -> Result<(), SpecError> {
        for template in templates {
            let segments = placeholder::parse(template)
                .map_err(|err| self.context.at(at, field, err.to_string()))?;
            for segment in segments {
                match segment {
                    Segment::Placeholder(Placeholder::Port(name)) if !ports.contains(&name) => {
                        let err = super::PlaceholderError::UndeclaredPort { name };
                        return Err(self.context.at(at, field, err.to_string()));
                    }
                    Segment::Placeholder(Placeholder::CargoBin(name)) => {
                        self.cargo_bins.insert(name);
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn check_fault(
        &mut self,
        spanned: &Spanned<FaultSpec>,
        index: usize,
        deny: &[Regex],
    ) -> Result<Fault, SpecError> {
        let cx = self.context;
        let fault = &spanned.value;
        let field = format!("spec.faults[{index}]");
        if fault.name.trim().is_empty() {
            return Err(cx.at(
                spanned,
                format!("{field}.name"),
                "the fault name is empty; give it a name",
            ));
        }
        let action = match (fault.signal, fault.freeze) {
            (Some(signal), None) => {
                if signal.0 == nix::sys::signal::Signal::SIGKILL
                    && let Some(grace) = &fault.grace
                {
                    return Err(cx.at(
                        grace,
                        format!("{field}.grace"),
                        "SIGKILL cannot be caught, so a grace period has no effect; remove `grace`",
                    ));
                }
                FaultAction::Signal {
                    signal,
                    grace: fault.grace.as_ref().map(|grace| grace.value),
                }
            }
            (None, Some(duration)) => {
                if let Some(grace) = &fault.grace {
                    return Err(cx.at(
                        grace,
                        format!("{field}.grace"),
                        "`grace` applies to `signal` faults only; remove it from this freeze",
                    ));
                }
                FaultAction::Freeze(duration)
            }
            (Some(_), Some(_)) => {
                return Err(cx.at(spanned, field, "both `signal` and `freeze` are set; a fault does one of them, so split it into two faults"));
            }
            (None, None) => {
                return Err(cx.at(
                    spanned,
                    field,
                    "no fault action; set `signal: SIGTERM` (or another signal) or `freeze: 1s`",
                ));
            }
        };
        let target = match fault.target.as_ref().map(|t| &t.value) {
            None | Some(FaultTargetSpec::Main) => FaultTarget::Main,
            Some(FaultTargetSpec::Group) => FaultTarget::Group,
            Some(FaultTargetSpec::Process(selector)) => {
                let at = fault.target.as_ref().expect("a process target is set");
                let field = format!("{field}.target.process");
                let regex = Regex::new(&selector.process)
                    .map_err(|err| cx.at(at, &field, regex_error(&selector.process, &err)))?;
                // A pattern that a deny rule matches names a denied
                // process, such as `sshd`: reject it before anything runs.
                if let Some(rule) = deny.iter().find(|rule| rule.is_match(&selector.process)) {
                    return Err(cx.at(
                        at,
                        &field,
                        format!(
                            "the target `{}` matches the deny rule `{}`; faults never reach such processes, so target a process of your own service",
                            selector.process,
                            rule.as_str()
                        ),
                    ));
                }
                if matches!(action, FaultAction::Freeze(_)) {
                    return Err(cx.at(at, &field, "a freeze reaches `main` or `group` only; use a signal fault for a process target"));
                }
                FaultTarget::Processes(super::ProcessSelector {
                    regex,
                    pick: selector.pick,
                })
            }
        };
        let random = fault.schedule.value.random;
        let offsets = match random {
            Some(random) => {
                check_random(cx, &fault.schedule, &format!("{field}.schedule"), random)?;
                Vec::new()
            }
            None => check_schedule(cx, &fault.schedule, &format!("{field}.schedule"))?,
        };
        Ok(Fault {
            name: fault.name.clone(),
            action,
            target,
            offsets,
            random,
        })
    }

    fn check_hypothesis(
        &mut self,
        spanned: &Spanned<HypothesisSpec>,
        index: usize,
        ports: &[String],
        faults: &[Fault],
        has_writes: bool,
        has_load: bool,
    ) -> Result<Hypothesis, SpecError> {
        let cx = self.context;
        let spec = &spanned.value;
        let field = format!("spec.hypothesis[{index}]");
        if spec.name.trim().is_empty() {
            return Err(cx.at(
                spanned,
                format!("{field}.name"),
                "the hypothesis name is empty; give it a name",
            ));
        }
        let count = [
            spec.ttr.is_some(),
            spec.restarts.is_some(),
            spec.exit.is_some(),
            spec.exec.is_some(),
            spec.metric.is_some(),
            spec.writes.is_some(),
            spec.error_rate.is_some(),
            spec.latency.is_some(),
        ]
        .iter()
        .filter(|set| **set)
        .count();
        if count != 1 {
            return Err(cx.at(
                spanned,
                field,
                format!("{count} checks are set; set exactly one of `ttr`, `restarts`, `exit`, `exec`, `metric`, `writes`, `error_rate` or `latency`"),
            ));
        }
        let load_check = spec.error_rate.is_some() || spec.latency.is_some();
        if load_check && !has_load {
            let check = if spec.error_rate.is_some() {
                "error_rate"
            } else {
                "latency"
            };
            return Err(cx.at(
                spanned,
                format!("{field}.{check}"),
                format!("`{check}` measures the requests of the `load` block, and this spec has none; add `spec.load`, such as `load: {{http: {{url: \"http://127.0.0.1:${{port.http}}/\", rate: 50/s}}}}`, or remove this hypothesis"),
            ));
        }
        if spec.phase.is_some() && !load_check {
            return Err(cx.at(
                spanned,
                format!("{field}.phase"),
                "`phase` applies to `error_rate` and `latency` checks only; remove it",
            ));
        }
        if spec.metric.is_some() != spec.threshold.is_some() {
            let (missing, present) = if spec.metric.is_some() {
                ("threshold", "metric")
            } else {
                ("metric", "threshold")
            };
            return Err(cx.at(
                spanned,
                format!("{field}.{missing}"),
                format!("`{present}` needs `{missing}`: a metric check is a PromQL expression and a threshold such as \"== 0\""),
            ));
        }
        if spec.during.is_some() && spec.metric.is_none() {
            return Err(cx.at(
                spanned,
                format!("{field}.during"),
                "`during` applies to `metric` checks only; remove it",
            ));
        }
        if spec.timeout.is_some() && spec.exec.is_none() {
            return Err(cx.at(
                spanned,
                format!("{field}.timeout"),
                "`timeout` applies to `exec` checks only; remove it",
            ));
        }

        let check = if let Some(ttr) = &spec.ttr {
            match ttr {
                TtrSpec::Each(threshold) => Check::TtrEach(*threshold),
                TtrSpec::Percentiles(p) => {
                    if p.p50.is_none() && p.p95.is_none() && p.max.is_none() {
                        return Err(cx.at(
                            spanned,
                            format!("{field}.ttr"),
                            "no percentile is set; set at least one of `p50`, `p95` or `max`",
                        ));
                    }
                    Check::TtrPercentiles {
                        p50: p.p50,
                        p95: p.p95,
                        max: p.max,
                    }
                }
            }
        } else if let Some(threshold) = spec.error_rate {
            if !(0.0..=1.0).contains(&threshold.value) {
                return Err(cx.at(
                    spanned,
                    format!("{field}.error_rate"),
                    format!("error rate {threshold} is not a share of requests; write a percentage from 0% to 100%, such as \"< 0.5%\""),
                ));
            }
            Check::ErrorRate {
                threshold,
                phase: spec.phase.unwrap_or_default(),
            }
        } else if let Some(latency) = &spec.latency {
            if latency.p50.is_none()
                && latency.p95.is_none()
                && latency.p99.is_none()
                && latency.max.is_none()
            {
                return Err(cx.at(
                    spanned,
                    format!("{field}.latency"),
                    "no percentile is set; set at least one of `p50`, `p95`, `p99` or `max`",
                ));
            }
            Check::Latency {
                p50: latency.p50,
                p95: latency.p95,
                p99: latency.p99,
                max: latency.max,
                phase: spec.phase.unwrap_or_default(),
            }
        } else if let Some(threshold) = spec.restarts {
            Check::Restarts(threshold)
        } else if let Some(exit) = &spec.exit {
            let graceful_faults = faults
                .iter()
                .any(|f| matches!(f.action, FaultAction::Signal { grace: Some(_), .. }));
            if !graceful_faults {
                return Err(cx.at(
                    spanned,
                    format!("{field}.exit"),
                    "an `exit` check needs a fault with a signal and a grace period, such as `signal: SIGTERM` with `grace: 5s`",
                ));
            }
            Check::Exit(exit.clone())
        } else if let Some(writes) = &spec.writes {
            if !has_writes {
                return Err(cx.at(
                    spanned,
                    format!("{field}.writes"),
                    "a `writes` check needs a `spec.writes` block that says where the writes go",
                ));
            }
            if writes.lost.is_none() && writes.duplicates.is_none() && writes.acknowledged.is_none()
            {
                return Err(cx.at(
                    spanned,
                    format!("{field}.writes"),
                    "no threshold is set; set at least one of `lost`, `duplicates` or `acknowledged`, such as `{lost: \"== 0\"}`",
                ));
            }
            Check::Writes {
                lost: writes.lost,
                duplicates: writes.duplicates,
                acknowledged: writes.acknowledged,
            }
        } else if let (Some(metric), Some(threshold)) = (&spec.metric, spec.threshold) {
            let expr = crate::metrics::promql::Expr::parse(metric)
                .map_err(|err| cx.at(spanned, format!("{field}.metric"), err.to_string()))?;
            Check::Metric {
                expr,
                threshold,
                continuous: spec.during == Some(super::During::Continuous),
            }
        } else {
            let step = ExecStep {
                exec: spec.exec.clone().unwrap_or_default(),
                timeout: spec.timeout.unwrap_or(super::Dur::from_secs(60)),
            };
            Check::Exec(self.check_command(spanned, &step, &format!("{field}.exec"), ports)?)
        };
        Ok(Hypothesis {
            name: spec.name.clone(),
            check,
        })
    }
}

fn check_random(
    cx: &Context<'_>,
    spanned: &Spanned<ScheduleSpec>,
    field: &str,
    random: super::RandomSpec,
) -> Result<(), SpecError> {
    let schedule = &spanned.value;
    if schedule.at.is_some() || schedule.every.is_some() || schedule.count.is_some() {
        return Err(cx.at(
            spanned,
            field.to_owned(),
            "`random` cannot be combined with `at`, `every` or `count`; keep one form",
        ));
    }
    if random.count == 0 {
        return Err(cx.at(
            spanned,
            format!("{field}.random.count"),
            "`count` is zero; set how many times the fault fires",
        ));
    }
    if random.within.0 < std::time::Duration::from_millis(10) {
        return Err(cx.at(
            spanned,
            format!("{field}.random.within"),
            "`within` is below 10ms; give the window the offsets are drawn from, such as `10s`",
        ));
    }
    Ok(())
}

fn check_schedule(
    cx: &Context<'_>,
    spanned: &Spanned<ScheduleSpec>,
    field: &str,
) -> Result<Vec<super::Dur>, SpecError> {
    let schedule = &spanned.value;
    match (&schedule.at, schedule.every, schedule.count) {
        (Some(at), None, None) => {
            if at.is_empty() {
                return Err(cx.at(
                    spanned,
                    format!("{field}.at"),
                    "the list of offsets is empty; give at least one, such as `at: [1s]`",
                ));
            }
            let mut offsets = at.clone();
            offsets.sort();
            Ok(offsets)
        }
        (None, Some(every), Some(count)) => {
            if every.0.is_zero() {
                return Err(cx.at(
                    spanned,
                    format!("{field}.every"),
                    "`every` is zero; set the period above zero, such as `2s`",
                ));
            }
            if count == 0 {
                return Err(cx.at(
                    spanned,
                    format!("{field}.count"),
                    "`count` is zero; set how many times the fault fires",
                ));
            }
            Ok((1..=count).map(|n| super::Dur(every.0 * n)).collect())
        }
        (None, Some(_), None) => Err(cx.at(
            spanned,
            format!("{field}.count"),
            "`every` needs `count`, the number of times the fault fires",
        )),
        (None, None, Some(_)) => Err(cx.at(
            spanned,
            format!("{field}.every"),
            "`count` needs `every`, the period between faults",
        )),
        (None, None, None) => Err(cx.at(
            spanned,
            field.to_owned(),
            "no schedule; set `at: [1s, 4s]`, `every: 2s` with `count: 3`, or `random: {count: 3, within: 10s}`",
        )),
        (Some(_), _, _) => Err(cx.at(
            spanned,
            field.to_owned(),
            "`at` cannot be combined with `every` or `count`; keep one form",
        )),
    }
}

/// Compiles the built-in deny rules and the spec's `policy.deny`, and
/// rejects a target program that a rule names.
fn check_deny(
    cx: &Context<'_>,
    target: &Spanned<super::Target>,
    patterns: &[String],
) -> Result<Vec<Regex>, SpecError> {
    let mut rules = Vec::new();
    for pattern in super::BUILTIN_DENY
        .iter()
        .copied()
        .chain(patterns.iter().map(String::as_str))
    {
        let rule = Regex::new(pattern)
            .map_err(|err| cx.at(target, "spec.policy.deny", regex_error(pattern, &err)))?;
        rules.push(rule);
    }
    let program = target
        .value
        .command
        .as_ref()
        .or(target.value.cargo_bin.as_ref());
    if let Some(program) = program {
        let name = Path::new(&program.value)
            .file_name()
            .map_or(program.value.clone(), |n| n.to_string_lossy().into_owned());
        if let Some(rule) = rules.iter().find(|rule| rule.is_match(&name)) {
            return Err(cx.at(
                program,
                "spec.target",
                format!("the target program `{name}` matches the deny rule `{}`; the harness does not run faults against it", rule.as_str()),
            ));
        }
    }
    Ok(rules)
}

/// Describes an invalid regular expression on one line. The regex crate
/// prints the pattern with a caret over several lines, which the error's
/// own snippet would repeat; its last line is the reason.
fn regex_error(pattern: &str, err: &regex::Error) -> String {
    let text = err.to_string();
    let reason = text
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or_default()
        .trim_start_matches("error: ");
    format!("invalid regular expression `{pattern}`: {reason}")
}

/// The reason a probe must reach a loopback host, for error messages.
const PROBE_REACH: &str = "probes only reach this machine";

/// The reason a load URL must name a loopback host, for error messages.
const LOAD_REACH: &str = "load requests only go to this machine";

/// The reason a write store must be on a loopback host, for error messages.
const WRITES_REACH: &str = "writes only go to this machine";

/// Accepts only `http://` URLs of a write store whose host is a loopback
/// address or placeholder-free `localhost`.
pub(crate) fn check_writes_url(url: &str) -> Result<(), String> {
    check_loopback_url_as(url, "writes URL", WRITES_REACH)
}

/// Accepts only a loopback host for a write store.
pub(crate) fn check_writes_host(host: &str) -> Result<(), String> {
    check_loopback_host_as(host, WRITES_REACH)
}

/// Accepts only `http://` URLs whose host is a loopback address or
/// placeholder-free `localhost`: probes never leave the machine.
pub(crate) fn check_loopback_url(url: &str) -> Result<(), String> {
    check_loopback_url_as(url, "probe URL", PROBE_REACH)
}

/// Accepts only `http://` URLs whose host is a loopback address or
/// placeholder-free `localhost`. Error messages name the URL with
/// `subject` and give `reach` as the reason.
fn check_loopback_url_as(url: &str, subject: &str, reach: &str) -> Result<(), String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(format!("{subject} `{url}` must start with `http://`"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // `http://localhost:1@host/` names `host`: whatever precedes `@` is
    // user information, so such URLs are rejected outright.
    if authority.contains('@') || authority.contains('\\') {
        return Err(format!(
            "{subject} `{url}` has user information (`@`) or a backslash in its host part; write the loopback host alone, such as `http://127.0.0.1:PORT/`"
        ));
    }
    let host = if let Some(bracketed) = authority.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host)
    };
    check_loopback_host_as(host, reach)
}

pub(crate) fn check_loopback_host(host: &str) -> Result<(), String> {
    check_loopback_host_as(host, PROBE_REACH)
}

fn check_loopback_host_as(host: &str, reach: &str) -> Result<(), String> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let is_loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if is_loopback {
        Ok(())
    } else {
        Err(format!(
            "host `{host}` is not a loopback address; {reach}, so use 127.0.0.1, ::1 or localhost"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_error_on_one_line() {
        // Built at run time: clippy rejects an invalid literal pattern.
        let pattern = String::from("listening (on");
        let err = Regex::new(&pattern).unwrap_err();
        assert_eq!(
            regex_error(&pattern, &err),
            "invalid regular expression `listening (on`: unclosed group"
        );
    }

    #[test]
    fn loopback_urls_only() {
        assert!(check_loopback_url("http://127.0.0.1:${port.http}/healthz").is_ok());
        assert!(check_loopback_url("http://[::1]:80/").is_ok());
        assert!(check_loopback_url("http://localhost/").is_ok());
        assert!(check_loopback_url("http://example.com/").is_err());
        assert!(check_loopback_url("https://127.0.0.1/").is_err());
        assert!(check_loopback_url("http://localhost:1@host.invalid/healthz").is_err());
        assert!(check_loopback_url("http://127.0.0.1@host.invalid/").is_err());
        assert!(check_loopback_url("http://127.0.0.1\\@host.invalid/").is_err());
    }
}
