//! `netfence rewrite`: the fenced compose file, to stdout or atomically to a file;
//! `--check` exits 1 when the input is not fenced this way already.

use std::io::Write;

use anyhow::Context;

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
    let text = match s.format {
        DataFormat::Yaml => netfence::yaml::to_string(&fenced),
        DataFormat::Json => serde_json::to_string_pretty(&fenced)?,
    };
    std::mem::forget(fenced);
    match &s.output {
        Some(path) => {
            write_atomically(path, &text).with_context(|| format!("writing {}", path.display()))?
        }
        None => emit(&text)?,
    }
    Ok(ExitStatus::Success)
}
