//! `netfence reconcile --watch`: fences each container of the selected projects as it is
//! created or started, one JSON line per step on stdout, until SIGINT or SIGTERM.

use std::io::Write;

use netfence::engine::client::docker::ContainerSummary;
use netfence::engine::fences::watch::{self, Ended, ProjectRef, Record, Selection};
use netfence::engine::{self, fences::project_files, stacks::signals};
use netfence::input::{ComposeFiles, InputSpec};
use netfence::labels::compose;
use netfence::policy::{self, Discovery};
use netfence::{Error, Options, Plan, Scope};

use crate::exit::ExitStatus;
use crate::settings::WatchSettings;

pub fn run(s: WatchSettings) -> anyhow::Result<ExitStatus> {
    let (platform, _) = policy::discover(Discovery {
        explicit: s.policy.as_deref(),
        embedded: None,
        working_dir: s.working_dir.clone(),
        scope: s.scope.as_ref(),
    })?;
    let selection = Selection {
        projects: s.projects.iter().cloned().collect(),
        label: platform
            .policy
            .watch
            .label
            .as_deref()
            .map(Selection::parse_label),
    };
    if selection.is_empty() {
        return Err(Error::Usage(format!(
            "--watch needs the projects to follow: -p NAME (repeatable), or watch.label in the policy ({})",
            platform.source
        ))
        .into());
    }
    let opts = watch::Options {
        strict: s.strict,
        flat: platform.policy.flat_networks.clone(),
        limit: platform.policy.max_networks(),
        ..watch::Options::new(selection)
    };
    let mut planner = |p: &ProjectRef| plan(&s, p);
    let mut sink = |r: &Record| -> std::io::Result<()> {
        let line = serde_json::to_string(r).map_err(std::io::Error::other)?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")?;
        out.flush()
    };
    let stopped = engine::runtime()?.block_on(async {
        let mut interrupts = signals::install()?;
        tokio::select! {
            ended = watch::watch(&opts, &mut planner, &mut sink) => Ok::<_, std::io::Error>(Err(ended)),
            signal = signals::next(&mut interrupts) => Ok(Ok(signal)),
        }
    })?;
    match stopped {
        Ok(signal) => {
            eprintln!("netfence: {}: watch stopped", signal.name());
            Ok(ExitStatus::Success)
        }
        Err(Ended::Output(e)) => Err(e.into()),
    }
}

/// One project's plan, as `reconcile` makes it: from `-f`, else from the files Compose's
/// labels name; the scope given, else the input's record, else a run scope named after
/// the project (its own networks are found by Compose's labels anyway).
fn plan(s: &WatchSettings, p: &ProjectRef) -> netfence::Result<Plan> {
    let files = match &s.files {
        Some(files) => ComposeFiles::Given(files.clone()),
        None => recorded(p)?,
    };
    let spec = InputSpec {
        files,
        policy: s.policy.clone(),
        working_dir: s.working_dir.clone(),
    };
    let project = spec.load(s.scope.as_ref())?;
    crate::settings::warn_notes(&project);
    let scope = project.choose_scope(s.scope.clone(), || {
        Scope::Run(netfence::naming::project_name(&p.name))
    });
    let opts = Options {
        scope: Some(scope.into_scope()),
        project: Some(p.name.clone()),
        environ: s.environ.clone(),
        ..Options::default()
    };
    project.plan(&opts)
}

/// The files the project was started from, as Compose recorded them on the container
/// the watcher met: judged as `reconcile` without `-f` judges them (absolute, still
/// there), with its messages.
fn recorded(p: &ProjectRef) -> netfence::Result<ComposeFiles> {
    let mut labels = std::collections::HashMap::new();
    if !p.config_files.is_empty() {
        let files: Vec<String> = p
            .config_files
            .iter()
            .map(|f| f.display().to_string())
            .collect();
        labels.insert(compose::CONFIG_FILES.to_owned(), files.join(","));
    }
    if let Some(dir) = &p.working_dir {
        labels.insert(compose::WORKING_DIR.to_owned(), dir.display().to_string());
    }
    let container = ContainerSummary {
        name: p.name.clone(),
        labels,
        ..Default::default()
    };
    let found = project_files::select(&p.name, &[container], &|f| f.is_file())?;
    Ok(ComposeFiles::Recorded {
        files: found.files,
        project_dir: found.working_dir,
    })
}
