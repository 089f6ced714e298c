//! `netfence validate`: the policy against its schema and, when there is compose input,
//! against the compose file; every problem with its JSON pointer.

use netfence::{Error, Source, Target};

use super::emit;
use crate::args::PlanFormat;
use crate::exit::ExitStatus;
use crate::settings::ValidateSettings;

pub fn run(s: ValidateSettings) -> anyhow::Result<ExitStatus> {
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut source = String::from("<built-in policy>");
    if let Some(path) = &s.input.spec.policy {
        source = path.display().to_string();
        problems = policy_problems(path)?;
    }
    if problems.is_empty() && (s.input.spec.files.is_some() || s.input.spec.policy.is_none()) {
        let project = s.input.load()?;
        source = project.policy.source.to_string();
        let opts = s.input.options(&project, Target::Compose);
        if let Err(e) = project.plan(&opts) {
            problems.push(pointer_of(&e));
        }
    }
    match s.format {
        PlanFormat::Json => emit(&serde_json::to_string_pretty(
            &problems
                .iter()
                .map(|(p, m)| serde_json::json!({"pointer": p, "message": m}))
                .collect::<Vec<_>>(),
        )?)?,
        PlanFormat::Table => {
            for (p, m) in &problems {
                eprintln!("{source}: {p}: {m}");
            }
            if problems.is_empty() {
                eprintln!("{source}: valid");
            }
        }
    }
    Ok(if problems.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Invalid
    })
}

/// Every schema violation of the policy file; when there is none, the first problem
/// the policy's own checks find (CIDRs, templates).
fn policy_problems(path: &std::path::Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = netfence::load::read_file(path)?;
    let src = Source::File(path.to_path_buf());
    let value = netfence::yaml::parse(&src, &text)?;
    let mut problems: Vec<(String, String)> = netfence::policy::validate_value(&value)
        .into_iter()
        .map(|v| {
            let pointer = if v.pointer.is_empty() {
                "/".into()
            } else {
                v.pointer
            };
            (pointer, v.message)
        })
        .collect();
    if problems.is_empty() {
        if let Err(e) = netfence::Policy::from_value(&src, &value) {
            problems.push(pointer_of(&e));
        }
    }
    Ok(problems)
}

fn pointer_of(e: &Error) -> (String, String) {
    match e {
        Error::Policy {
            pointer, message, ..
        } => (pointer.clone(), message.clone()),
        other => ("".into(), other.to_string()),
    }
}
