//! `netfence verify`: a live scope checked against its plan (with compose input) or its
//! labels; exit 1 naming each difference.

use netfence::engine::verify;
use netfence::engine::{self, Engine};
use netfence::Target;

use crate::args::PlanFormat;
use crate::exit::ExitStatus;
use crate::settings::VerifySettings;

pub fn run(s: VerifySettings) -> anyhow::Result<ExitStatus> {
    let plan = if s.input.spec.files.is_named() {
        let project = s.input.load()?;
        let mut opts = s.input.options(&project, Target::Compose);
        opts.scope = Some(s.scope.clone());
        Some(project.plan(&opts)?)
    } else {
        None
    };
    let report = engine::block_on(async {
        let engine = Engine::connect().await?;
        Ok(verify::verify(&engine, &s.scope, plan.as_ref(), s.probe_image.as_deref()).await?)
    })?;
    match s.format {
        PlanFormat::Table => print!("{}", verify::table(&report)),
        PlanFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    if report.ok {
        eprintln!("netfence: verify {}: as planned", report.scope);
        return Ok(ExitStatus::Success);
    }
    eprintln!(
        "netfence: verify {}: {} difference(s):",
        report.scope,
        report.differences.len()
    );
    for d in &report.differences {
        eprintln!("  {d}");
    }
    Ok(ExitStatus::Found)
}
