//! Everything that talks to a live Docker engine: `run`, `up`, `down`, `gc`, `ensure`,
//! `reconcile` and `verify`.
//!
//! The engine is reached through one facade, [`docker`] (bollard underneath), at the
//! endpoint the docker CLI would use ([`context`]: `DOCKER_HOST`, else the Docker
//! context); Compose is invoked as a program (`docker compose`, else `docker-compose`),
//! told the same context.
//! The plan stays the single source: this module only applies it and cleans up after it,
//! always by ownership labels (SPEC §2), never by name patterns.

pub mod address_space;
pub mod bring_up;
pub mod claim;
pub mod compose;
pub mod context;
pub mod dev;
mod dial_stdio;
pub mod docker;
pub mod down;
pub mod ensure;
pub mod gc;
pub mod info;
pub mod inventory;
pub mod log_dir;
pub mod logs;
pub mod name_order;
pub mod netfilter;
pub mod network;
pub mod owner;
pub mod port_probe;
pub mod probe;
pub mod project_files;
pub mod reconcile;
pub mod run;
pub mod second_opinion;
pub mod session;
pub mod signals;
pub mod stack;
pub mod state_dir;
pub mod sweep;
pub mod tear_down;
pub mod verify;
pub mod wait;
pub mod watch;

pub use docker::Engine;

// The error lives with the core's (`crate::error`): the core names it for exit code 3
// without importing the engine.
pub use crate::error::EngineError;

pub type EngineResult<T> = std::result::Result<T, EngineError>;

/// The engine `docker` itself would talk to now (SPEC §7): `DOCKER_HOST`, else the
/// Docker context selected by `DOCKER_CONTEXT` or `docker context use`.
pub fn endpoint() -> Result<context::Endpoint, context::ContextError> {
    context::resolve(&context::DockerEnv::from_process())
}

/// Where netfence looks for the engine, for messages: the context and where it points.
pub fn engine_location() -> String {
    match endpoint() {
        Ok(e) => e.describe(),
        Err(e) => e.to_string(),
    }
}

/// Is the engine on this host (a unix socket)? Then its containers' process ids, and
/// the host's routes, are this machine's.
pub fn is_local() -> bool {
    endpoint().is_ok_and(|e| e.is_local())
}

/// The label filter that selects a scope's objects.
pub fn scope_filter(scope: &crate::Scope) -> Vec<String> {
    vec![
        format!("{}=true", crate::labels::MANAGED),
        format!("{}={scope}", crate::labels::SCOPE),
    ]
}

/// A multi-threaded runtime for one engine command (2 workers: these are I/O waits).
pub fn runtime() -> EngineResult<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| EngineError(format!("starting the async runtime: {e}")))
}

/// Runs one engine operation to completion on a fresh runtime: the command layer's
/// way into the async engine API.
pub fn block_on<T>(f: impl std::future::Future<Output = crate::Result<T>>) -> crate::Result<T> {
    runtime()?.block_on(f)
}

/// Current time as RFC 3339 (UTC, seconds): the `io.netfence.created` label.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}
