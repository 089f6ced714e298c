//! `netfence plan`: the plan as a table, or as JSON.

use super::{emit, plan_with_engine_view};
use crate::args::PlanFormat;
use crate::exit::ExitStatus;
use crate::settings::PlanSettings;

pub fn run(s: PlanSettings) -> anyhow::Result<ExitStatus> {
    let project = s.input.load()?;
    let mut opts = s.input.options(&project, s.target);
    opts.managed_external = s.for_run;
    let plan = plan_with_engine_view(&project, &mut opts)?;
    match s.format {
        PlanFormat::Table => emit(&netfence::render::table(&plan))?,
        PlanFormat::Json => emit(&serde_json::to_string_pretty(&plan)?)?,
    }
    Ok(ExitStatus::Success)
}
