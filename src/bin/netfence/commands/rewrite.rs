//! `netfence rewrite`: the fenced compose file, to stdout or atomically to a file;
//! `--check` exits 1 when the input is not fenced this way already; `--overlay` prints
//! the fence as an override file for the input files instead.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use netfence::engine::client::second_opinion::{self, SecondOpinion};

use super::{emit, plan_with_engine_view, write_atomically};
use crate::args::DataFormat;
use crate::exit::ExitStatus;
use crate::settings::RewriteSettings;

pub fn run(s: RewriteSettings) -> anyhow::Result<ExitStatus> {
    let project = s.input.load()?;
    let mut opts = s.input.options(&project, s.target);
    opts.no_project_name = s.no_project_name;
    let plan = match plan_with_engine_view(&project, &mut opts) {
        // A check answers whether the file is fenced: one tenant mode refuses is not.
        Err(e @ netfence::Error::Tenant { .. }) if s.check => {
            eprintln!(
                "netfence: {} is not fenced, and fencing it is refused: {e:#}",
                project.input.first_source()
            );
            return Ok(ExitStatus::Found);
        }
        other => other?,
    };
    if !s.check {
        if let Some(w) = netfence::engine::stacks::caveats::caveat_if_reachable(&plan) {
            eprintln!("netfence: warning: {w}");
        }
        note_profiles(&plan.profiles, !s.input.profiles.is_empty());
    }
    if s.overlay {
        return overlay(&s, &project, &plan);
    }
    if s.check {
        if project.record.is_some() && project.rewrite(&plan) == *project.original() {
            return Ok(ExitStatus::Success);
        }
        eprintln!(
            "netfence: {} is not fenced for scope {} ({} change(s); `netfence plan` lists them)",
            project.input.first_source(),
            plan.scope,
            plan.changes.len().max(1)
        );
        return Ok(ExitStatus::Found);
    }
    // A tenant's output is judged before anyone sees it, so it is made whole first.
    if s.compose_check && second_opinion::applies(&plan) {
        let text = text_of(&s.format, &project.rewrite(&plan))?;
        judge_with_compose(&text, &plan, &project, &opts)?;
        return write(&s, &text);
    }
    let fenced = project.into_rewrite(&plan);
    // The process ends right after writing: freeing large trees first is wasted work.
    std::mem::forget(plan);
    if let (DataFormat::Yaml, None) = (&s.format, &s.output) {
        // Straight to stdout as it is made: no copy of a large output is held.
        let mut out = std::io::stdout().lock();
        netfence::yaml::to_writer(&fenced, &mut out)?;
        out.flush()?;
        std::mem::forget(fenced);
        return Ok(ExitStatus::Success);
    }
    let text = text_of(&s.format, &fenced)?;
    std::mem::forget(fenced);
    write(&s, &text)
}

/// The output fences every service whatever the profiles: says which ones the active
/// profiles start, out loud when `--profile` was given (else only with `-v`).
fn note_profiles(p: &netfence::profiles::ProfilePlan, asked: bool) {
    if p.is_empty() {
        return;
    }
    let active = match p.describe_active() {
        Some(a) => format!("active profiles {a}"),
        None => "no profile is active".to_owned(),
    };
    let left_out = if p.inactive_services.is_empty() {
        "every service starts".to_owned()
    } else {
        format!(
            "Compose leaves out {} unless given their profiles",
            p.inactive_services.join(", ")
        )
    };
    let note = format!("{active}: every service is fenced; {left_out}");
    if asked {
        eprintln!("netfence: {note}");
    } else {
        tracing::info!("{note}");
    }
}

fn text_of(format: &DataFormat, fenced: &netfence::yaml::Value) -> anyhow::Result<String> {
    Ok(match format {
        DataFormat::Yaml => netfence::yaml::to_string(fenced),
        DataFormat::Json => serde_json::to_string_pretty(fenced)?,
    })
}

fn write(s: &RewriteSettings, text: &str) -> anyhow::Result<ExitStatus> {
    match &s.output {
        Some(path) => {
            write_atomically(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => emit(text)?,
    }
    Ok(ExitStatus::Success)
}

/// The second opinion in tenant mode: Compose's reading of the output, judged again. A check that
/// could not run is said out loud, never passed in silence.
fn judge_with_compose(
    text: &str,
    plan: &netfence::Plan,
    project: &netfence::Project,
    opts: &netfence::Options,
) -> anyhow::Result<()> {
    if second_opinion::judge_with_compose(text, plan, project, opts)?
        == SecondOpinion::ComposeNotFound
    {
        eprintln!(
            "netfence: warning: the second opinion was skipped: Docker Compose was not found (neither `docker compose` nor `docker-compose` runs), so Compose's reading of this tenant's output was not judged; --no-compose-check skips it on hosts without Compose"
        );
    }
    Ok(())
}

/// The override file, after a header saying where it goes. It never replaces a file it
/// was made from: the point of an overlay is that the user's file stays as it is.
fn overlay(
    s: &RewriteSettings,
    project: &netfence::Project,
    plan: &netfence::Plan,
) -> anyhow::Result<ExitStatus> {
    let fence = project.overlay(plan)?;
    if let Some(out) = &s.output {
        if let Some(input) = read_from(project).find(|f| same_file(f, out)) {
            return Err(netfence::Error::Usage(format!(
                "-o {}: that is {}, which the overlay fences; the user's files are never written with --overlay: write it to another file (e.g. -o fence.yml)",
                out.display(),
                input.display()
            ))
            .into());
        }
    }
    let text = format!(
        "{}{}",
        header(project, plan),
        netfence::yaml::to_string(&fence)
    );
    match &s.output {
        Some(path) => {
            write_atomically(path, &text).with_context(|| format!("writing {}", path.display()))?
        }
        None => emit(&text)?,
    }
    Ok(ExitStatus::Success)
}

/// Every file the input was read from: the compose files, and those they include or
/// extend.
fn read_from(project: &netfence::Project) -> impl Iterator<Item = &Path> {
    let given = project.input.sources.iter().filter_map(|s| match s {
        netfence::Source::File(p) => Some(p.as_path()),
        _ => None,
    });
    given.chain(project.input.references.iter().map(|r| r.path.as_path()))
}

/// Do two paths name one file? Through symbolic links, and for an output that does not
/// exist yet (then it is none of the inputs).
fn same_file(a: &Path, b: &Path) -> bool {
    let real = |p: &Path| -> Option<PathBuf> { std::fs::canonicalize(p).ok() };
    matches!((real(a), real(b)), (Some(x), Some(y)) if x == y)
}

/// How to use the overlay, for whoever opens it. Found files are named as from the
/// working directory, as the user would type them.
fn header(project: &netfence::Project, plan: &netfence::Plan) -> String {
    let cwd = std::env::current_dir().unwrap_or_default();
    let files: Vec<String> = project
        .input
        .sources
        .iter()
        .map(|s| match s {
            netfence::Source::File(p) => {
                format!("-f {}", p.strip_prefix(&cwd).unwrap_or(p).display())
            }
            _ => "-f -".to_owned(),
        })
        .collect();
    format!(
        "# netfence overlay (scope {}): give it after the compose files it fences, e.g.\n\
         #   docker compose {} -f <this file> up -d\n",
        plan.scope,
        files.join(" ")
    )
}
