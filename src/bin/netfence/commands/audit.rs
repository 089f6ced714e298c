//! `netfence audit`: read, plan, judge, print; exit 1 under `--deny` when findings at
//! that level exist, 2 on bad input.

use netfence::audit::{Report, Severity};
use netfence::{Options, Project, Scope};

use super::emit;
use crate::args::{AuditFormat, DenyLevel};
use crate::exit::ExitStatus;
use crate::settings::{AuditSettings, InputSettings};

pub fn run(s: AuditSettings) -> anyhow::Result<ExitStatus> {
    let mut occupied = s.occupied.clone();
    if s.ask_engine {
        match netfence::engine::client::network::subnets_if_reachable() {
            Some(live) => {
                tracing::info!("{} subnet(s) in use on the engine", live.len());
                occupied.extend(live);
            }
            None => tracing::info!("no engine reachable: NF007 checks --occupied-subnet only"),
        }
    }
    let paths = s.input.spec.files.paths()?;
    let (input, texts) = netfence::audit::read_inputs(&paths)?;
    let project = Project::for_scope(
        input,
        s.input.spec.policy.as_deref(),
        &s.input.spec.working_dir,
        s.input.scope.as_ref(),
    )?;
    crate::settings::warn_notes(&project);
    note_other_policy(&project);
    let opts = options(&s.input, &project);
    let report = netfence::audit::audit(&project, &opts, &texts, &occupied)?;
    let text = match s.format {
        AuditFormat::Human => netfence::audit::human::render(&report, s.colour),
        AuditFormat::Json => {
            serde_json::to_string_pretty(&netfence::audit::human::json(&report))? + "\n"
        }
        AuditFormat::Sarif => {
            serde_json::to_string_pretty(&netfence::sarif::render(&report))? + "\n"
        }
    };
    emit(&text)?;
    Ok(ExitStatus::found_if(denied(&report, s.deny)))
}

/// Judging netfence's output by another policy reports what that policy would change,
/// not what is wrong with the file: say so.
fn note_other_policy(project: &Project) {
    let Some(record) = &project.record else {
        return;
    };
    let digest = project.policy.policy.digest();
    if record.policy != digest {
        eprintln!(
            "netfence: note: the input was fenced with policy {}, audit uses {} ({}); pass the same --policy to judge it as it was made",
            record.policy, digest, project.policy.source
        );
    }
}

/// With `--deny`: is there a finding at that level or above?
fn denied(report: &Report, deny: Option<DenyLevel>) -> bool {
    let floor = match deny {
        None => return false,
        Some(DenyLevel::Warn) => Severity::Warning,
        Some(DenyLevel::Error) => Severity::Error,
    };
    report.count(floor) > 0
}

/// The scope to judge with. Audit prints nothing about scopes: with none chosen (flags,
/// `$NETFENCE_RUN_ID`, or the record of already fenced input) it uses `run:audit`, which
/// only shows in network names the findings do not depend on.
fn options(input: &InputSettings, project: &Project) -> Options {
    let scope = project.choose_scope(input.scope.clone(), || Scope::Run("audit".into()));
    Options {
        scope: Some(scope.into_scope()),
        project: input.project_name.clone(),
        environ: input.environ.clone(),
        ..Options::default()
    }
}
