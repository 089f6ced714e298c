//! One file per `netfence` subcommand: settings in, calls of the core or the engine,
//! output rendered, an exit status out.

pub mod audit;
pub mod completions;
pub mod down;
pub mod ensure;
pub mod gc;
pub mod graph;
pub mod ls;
pub mod plan;
pub mod plugin;
pub mod port;
pub mod reconcile;
pub mod rewrite;
pub mod run;
pub mod schema;
pub mod tenant;
pub mod up;
pub mod validate;
pub mod verify;
pub mod watch;

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

/// Plans once, with what a reachable engine shows when that matters: with a subnet pool,
/// or when netfence creates the networks (`plan --for-run`), rule 4 wants subnets no
/// network on the engine has; in tenant mode, another scope's network is known by its
/// labels. No engine is not an error. The plan tells its own networks, already deployed,
/// apart from the rest (a second rewrite of a running stack stays identical).
pub fn plan_with_engine_view(project: &Project, opts: &mut Options) -> netfence::Result<Plan> {
    let pooled = project.policy.policy.subnets.is_some() || opts.managed_external;
    let tenant = opts
        .scope
        .as_ref()
        .is_some_and(|s| project.policy.policy.tenant_mode(s));
    if pooled || tenant {
        if let Some(view) = netfence::engine::client::network::view_if_reachable() {
            if pooled {
                opts.occupied = view.avoid();
            }
            opts.known_networks = view.known;
        }
    }
    project.plan(opts)
}
