//! `netfence verify`: a live scope checked against its plan (with compose input) or its
//! labels, under the platform's policy; exit 1 naming each difference.

use netfence::engine::verify::{self, Platform};
use netfence::engine::{self, fences::ensure, Engine};
use netfence::Target;

use crate::args::PlanFormat;
use crate::exit::ExitStatus;
use crate::settings::VerifySettings;

pub fn run(s: VerifySettings) -> anyhow::Result<ExitStatus> {
    let (plan, platform) = if s.input.spec.files.is_named() {
        let project = s.input.load()?;
        let opts = s.input.options(&project, Target::Compose);
        let plan = project.plan(&opts)?;
        let platform = Platform::of(&project.policy.policy, &plan);
        (Some(plan), platform)
    } else {
        // The policy alone: whether the scope is a tenant's, what it grants, and the
        // real names of its shared networks with the services each takes.
        let mut project = ensure::policy_alone(&s.input.spec, Some(&s.scope))?;
        crate::settings::warn_notes(&project);
        let policy = project.policy.policy.clone();
        ensure::without_services(&mut project.policy.policy);
        let opts = s.input.options(&project, Target::Compose);
        (None, Platform::of(&policy, &project.plan(&opts)?))
    };
    let report = engine::block_on(async {
        let engine = Engine::connect().await?;
        let probe = s.probe_image.as_deref();
        Ok(verify::verify(&engine, &s.scope, plan.as_ref(), &platform, probe).await?)
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
