//! `netfence reconcile -p PROJECT`: a running project's containers connected to and
//! disconnected from networks until they match the plan; the steps printed. Without
//! `-f` the project's files are the ones it was started from, read from its labels.

use netfence::engine::fences::reconcile;
use netfence::engine::{self, fences::project_files, Engine};
use netfence::input::ComposeFiles;
use netfence::{Options, Project, Scope};

use crate::args::PlanFormat;
use crate::exit::ExitStatus;
use crate::settings::{InputSettings, ReconcileSettings};

pub fn run(s: ReconcileSettings) -> anyhow::Result<ExitStatus> {
    let input = if s.files_from_labels {
        labelled_input(&s)?
    } else {
        s.input.clone()
    };
    let project = input.load()?;
    let plan = project.plan(&options(&s, &project))?;
    let flat = project.policy.policy.flat_networks.clone();
    let limit = project.policy.policy.max_networks();
    let steps = engine::block_on(async {
        let engine = Engine::connect().await?;
        let steps = reconcile::compute(&engine, &plan, s.strict, &flat).await?;
        print_steps(&s, &plan.project, &steps)?;
        if !s.dry_run {
            reconcile::apply(&engine, &steps, limit).await?;
        }
        Ok(steps)
    })?;
    if !s.dry_run && !steps.is_empty() && s.format == PlanFormat::Table {
        eprintln!("netfence: applied {} step(s)", steps.len());
    }
    Ok(ExitStatus::Success)
}

/// The input with the files the running project was started from (Compose's labels on
/// its containers) and its project directory: the same whichever directory this runs in.
fn labelled_input(s: &ReconcileSettings) -> netfence::Result<InputSettings> {
    let found = engine::block_on(async {
        let engine = Engine::connect().await?;
        project_files::of_project(&engine, &s.project_name).await
    })?;
    let shown: Vec<String> = found
        .files
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    eprintln!(
        "netfence: project {}: reading {} (from its containers' labels)",
        s.project_name,
        shown.join(", ")
    );
    let mut input = s.input.clone();
    input.spec.files = ComposeFiles::Recorded {
        files: found.files,
        project_dir: found.working_dir,
    };
    Ok(input)
}

fn options(s: &ReconcileSettings, project: &Project) -> Options {
    // With no scope given or recorded: the project's own networks are matched by
    // Compose's labels, so the scope only names networks that must be created; the
    // project name will do.
    let scope = project.choose_scope(s.input.scope.clone(), || {
        Scope::Run(netfence::naming::project_name(&s.project_name))
    });
    Options {
        scope: Some(scope.into_scope()),
        project: Some(s.project_name.clone()),
        environ: s.input.environ.clone(),
        ..Options::default()
    }
}

fn print_steps(
    s: &ReconcileSettings,
    project: &str,
    steps: &[reconcile::Step],
) -> netfence::Result<()> {
    match s.format {
        PlanFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(steps)
                .map_err(|e| netfence::Error::Usage(e.to_string()))?
        ),
        PlanFormat::Table => {
            for step in steps {
                println!("{}", reconcile::describe(step));
            }
            if steps.is_empty() {
                eprintln!("netfence: project {project} matches the plan: nothing to do");
            }
        }
    }
    Ok(())
}
