//! The `netfence` binary: parse the command line, run one mode, map the outcome to an
//! exit code (0 success, 1 a check found something, 2 bad input, 3 engine or compose).

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use netfence::cli::{Cli, Command, DataFormat, PlanArgs, PlanFormat, RewriteArgs, ValidateArgs};

/// What a mode returns when it did not fail: the exit code it wants.
type Outcome = anyhow::Result<u8>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Rewrite(a) => rewrite(a),
        Command::Plan(a) => plan(a),
        Command::Validate(a) => validate(a),
        Command::Schema => emit(netfence::policy::SCHEMA).map(|_| 0),
        Command::Audit(a) => netfence::audit::command::run(&a),
        Command::Graph(a) => netfence::graph::command(&a),
        Command::Run(a) => netfence::engine::run::command(a),
        Command::Down(a) => netfence::engine::down::command(&a),
        Command::Gc(a) => netfence::engine::gc::command(&a),
        Command::Ensure(a) => netfence::engine::ensure::command(&a),
        Command::Reconcile(a) => netfence::engine::reconcile::command(&a),
        Command::Verify(a) => netfence::engine::verify::command(&a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("netfence: error: {e:#}");
            ExitCode::from(exit_code(&e))
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("NETFENCE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("netfence={level}")));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}

fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<netfence::engine::EngineError>().is_some() {
        return 3;
    }
    match e.downcast_ref::<netfence::Error>() {
        Some(inner) => inner.exit_code() as u8,
        None => 2,
    }
}

/// A reader that went away (`netfence rewrite | head`) ends the program quietly.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

/// With a subnet pool, SPEC §3 rule 4 wants subnets that no network on the engine has:
/// ask the engine when one answers (briefly; none is not an error). The plan's own
/// networks, already deployed, are not in the way of themselves: that keeps a second
/// rewrite of a running stack identical.
fn plan_avoiding_engine_subnets(
    project: &netfence::Project,
    opts: &mut netfence::Options,
) -> anyhow::Result<netfence::Plan> {
    let plan = project.plan(opts)?;
    if project.policy.policy.subnets.is_none() {
        return Ok(plan);
    }
    let Some(live) = netfence::audit::command::live_engine_subnets() else {
        return Ok(plan);
    };
    let own: std::collections::BTreeSet<&str> =
        plan.networks.iter().map(|n| n.name.as_str()).collect();
    opts.occupied = live
        .into_iter()
        .filter(|o| !own.contains(o.network.as_str()))
        .map(|o| o.subnet)
        .collect();
    if opts.occupied.is_empty() {
        return Ok(plan);
    }
    // The same scope again, so a random run id stays the one already announced.
    opts.scope = Some(plan.scope.clone());
    Ok(project.plan(opts)?)
}

fn rewrite(a: RewriteArgs) -> Outcome {
    let project = a.input.load()?;
    let mut opts = a.input.options(&project, a.target)?;
    opts.no_project_name = a.no_project_name;
    let plan = plan_avoiding_engine_subnets(&project, &mut opts)?;
    if a.check {
        if project.record.is_some() && project.rewrite(&plan) == *project.original() {
            return Ok(0);
        }
        eprintln!(
            "netfence: {} is not fenced for scope {} ({} change(s); `netfence plan` lists them)",
            project.input.first_source(),
            plan.scope,
            plan.changes.len().max(1)
        );
        return Ok(1);
    }
    let fenced = project.into_rewrite(&plan);
    let text = match a.format {
        DataFormat::Yaml => netfence::yaml::to_string(&fenced),
        DataFormat::Json => serde_json::to_string_pretty(&fenced)?,
    };
    // The process ends right after writing: freeing a large tree first is wasted work.
    std::mem::forget(fenced);
    match &a.output {
        Some(path) => {
            write_atomically(path, &text).with_context(|| format!("writing {}", path.display()))?
        }
        None => emit(&text)?,
    }
    Ok(0)
}

/// Temp file in the same directory, then rename: a reader never sees half a file.
fn write_atomically(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn plan(a: PlanArgs) -> Outcome {
    let project = a.input.load()?;
    let mut opts = a.input.options(&project, a.target)?;
    let plan = plan_avoiding_engine_subnets(&project, &mut opts)?;
    match a.format {
        PlanFormat::Table => emit(&netfence::render::table(&plan))?,
        PlanFormat::Json => emit(&serde_json::to_string_pretty(&plan)?)?,
    }
    Ok(0)
}

fn validate(a: ValidateArgs) -> Outcome {
    let mut problems: Vec<(String, String)> = Vec::new();
    let mut source = String::from("<built-in policy>");
    if let Some(path) = &a.input.policy {
        source = path.display().to_string();
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let src = netfence::Source::File(path.clone());
        let value = netfence::yaml::parse(&src, &text)?;
        for v in netfence::policy::validate_value(&value) {
            problems.push((
                if v.pointer.is_empty() {
                    "/".into()
                } else {
                    v.pointer
                },
                v.message,
            ));
        }
        if problems.is_empty() {
            if let Err(e) = netfence::Policy::from_value(&src, &value) {
                problems.push(pointer_of(&e));
            }
        }
    }
    if problems.is_empty() && (a.input.has_compose_input() || a.input.policy.is_none()) {
        let project = a.input.load()?;
        source = project.policy.source.to_string();
        let opts = a
            .input
            .options(&project, netfence::cli::TargetArg::Compose)?;
        if let Err(e) = project.plan(&opts) {
            problems.push(pointer_of(&e));
        }
    }
    match a.format {
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
    Ok(if problems.is_empty() { 0 } else { 2 })
}

fn pointer_of(e: &netfence::Error) -> (String, String) {
    match e {
        netfence::Error::Policy {
            pointer, message, ..
        } => (pointer.clone(), message.clone()),
        other => ("".into(), other.to_string()),
    }
}
