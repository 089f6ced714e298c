//! Tearing one copy down: `docker compose down`, then everything still labelled with
//! its scope, then its private directory. By labels, so it also catches what a
//! cancelled `up` left. `netfence run` and the library's `Stack` share it.

use crate::engine::host::sweep::{describe, Kind, Object};
use crate::engine::stacks::bring_up::Footprint;
use crate::engine::stacks::session::Session;
use crate::engine::{scope_filter, Engine};
use crate::engine::{EngineError, EngineResult};
use crate::Scope;

/// Tears the copy down; what is still on the engine afterwards is the error.
pub async fn tear_down(session: &Session, scope: &Scope, fp: &Footprint) -> EngineResult<()> {
    if !fp.compose_files.is_empty() {
        let mut down = session.compose.command(
            &fp.compose_files,
            &session.project.input.project_dir,
            &fp.project_name,
            &fp.profiles,
        );
        down.args(["down", "-v", "--remove-orphans"]);
        match session.compose.run(down, "down").await {
            Ok(o) if !o.success => tracing::warn!("compose down: {}", o.text.trim_end()),
            Err(e) => tracing::warn!("{e}"),
            _ => {}
        }
    }
    tracing::debug!("compose down done");
    // What Compose did not remove (our networks, what a cancelled `up` still created).
    let left = session
        .engine
        .sweep_scope(&scope_filter(scope), |o| o.is_persistent())
        .await?;
    if let Some(d) = &fp.dir {
        d.remove();
    }
    let real = not_phantoms(&session.engine, left).await;
    if real.is_empty() {
        return Ok(());
    }
    Err(EngineError::incomplete(format!(
        "still on the engine: {}; retry with `netfence down --run-id {}`",
        describe(&real),
        scope.id()
    )))
}

/// What is really left of `left`. Docker 20.10 sometimes keeps a phantom endpoint on a
/// network whose containers are all gone, and refuses to remove it until dockerd
/// restarts. That is the engine's defect, not the run's: say so loudly, leave the
/// (labelled, empty) network for `gc`, and do not turn CMD's status into a failure.
async fn not_phantoms(engine: &Engine, left: Vec<Object>) -> Vec<Object> {
    let mut real = Vec::new();
    for o in left {
        let state = if o.kind == Kind::Network {
            network_state(engine, &o.id).await
        } else {
            NetworkState::Other
        };
        match state {
            NetworkState::Gone => {}
            NetworkState::Phantom => eprintln!(
                "netfence: warning: network {} has no containers, yet the engine refuses to remove it (\"active endpoints\": a Docker 20.10 defect that a dockerd restart clears); it is left, labelled, for `netfence gc`",
                o.name
            ),
            NetworkState::Other => real.push(o),
        }
    }
    real
}

#[derive(PartialEq, Eq)]
enum NetworkState {
    /// Removed by this last try, or already gone.
    Gone,
    /// Empty yet unremovable: the engine's phantom-endpoint defect.
    Phantom,
    Other,
}

async fn network_state(engine: &Engine, id: &str) -> NetworkState {
    let n = match engine.inspect_network(id).await {
        Ok(n) => n,
        Err(e) if e.is_not_found() => return NetworkState::Gone,
        Err(_) => return NetworkState::Other,
    };
    if !n.containers.is_empty() {
        return NetworkState::Other;
    }
    match engine.remove_network(id).await {
        Ok(()) => NetworkState::Gone,
        Err(e) if e.is_not_found() => NetworkState::Gone,
        Err(e) if e.has_active_endpoints() => NetworkState::Phantom,
        Err(_) => NetworkState::Other,
    }
}
