//! One file per `netfence` subcommand: settings in, calls of the core or the engine,
//! output rendered, an exit status out.

pub mod audit;
pub mod completions;
pub mod down;
pub mod ensure;
pub mod gc;
pub mod graph;
pub mod plan;
pub mod reconcile;
pub mod rewrite;
pub mod run;
pub mod schema;
pub mod validate;
pub mod verify;

use std::io::Write;
use std::path::Path;

use netfence::{Options, Plan, Project};

/// Writes data to stdout, ending it with a newline.
pub fn emit(text: &str) -> anyhow::Result<()> {
    emit_bytes(text.as_bytes())?;
    if !text.ends_with('\n') {
        emit_bytes(b"\n")?;
    }
    Ok(())
}

pub fn emit_bytes(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)?;
    out.flush()?;
    Ok(())
}

/// Temp file in the same directory, then rename: a reader never sees half a file.
pub fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
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

/// With a subnet pool, SPEC §3 rule 4 wants subnets that no network on the engine has:
/// ask the engine when one answers (briefly; none is not an error). The plan's own
/// networks, already deployed, are not in the way of themselves: that keeps a second
/// rewrite of a running stack identical.
pub fn plan_avoiding_live_subnets(project: &Project, opts: &mut Options) -> anyhow::Result<Plan> {
    let plan = project.plan(opts)?;
    if project.policy.policy.subnets.is_none() {
        return Ok(plan);
    }
    let Some(live) = netfence::engine::network::subnets_if_reachable() else {
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
