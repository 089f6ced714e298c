//! Everything that talks to a live Docker engine: `run`, `up`, `down`, `gc`, `ensure`,
//! `reconcile` and `verify`.
//!
//! The engine is reached through one facade, [`client::docker`] (bollard underneath), at
//! the endpoint the docker CLI would use ([`client::context`]: `DOCKER_HOST`, else the
//! Docker context); Compose is invoked as a program (`docker compose`, else
//! `docker-compose`), told the same context. The folders say what each part does:
//! [`client`] (the engine and Compose), [`host`] (this host around the engine),
//! [`stacks`] (`run`, `up`, `down`), [`fences`] (`ensure`, `reconcile`), [`verify`].
//! The plan stays the single source: this module only applies it and cleans up after it,
//! always by ownership labels, never by name patterns.

pub mod client;
pub mod fences;
pub mod host;
pub mod stacks;
pub mod verify;

pub use client::docker::{self, Engine};
pub use stacks::stack::{Stack, StackOptions};

// The error lives with the core's (`crate::error`): the core's `Error` carries it, and
// says it is the engine's side, without importing the engine.
pub use crate::error::EngineError;

pub type EngineResult<T> = std::result::Result<T, EngineError>;

/// The engine `docker` itself would talk to now: `DOCKER_HOST`, else the
/// Docker context selected by `DOCKER_CONTEXT` or `docker context use`.
pub fn endpoint() -> Result<client::context::Endpoint, client::context::ContextError> {
    client::context::resolve(&client::context::DockerEnv::from_process())
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
        .map_err(|e| EngineError::other(format!("starting the async runtime: {e}")))
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
